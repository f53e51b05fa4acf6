//! What the ledger reads back from a store: leaves with the records they commit to (for
//! `verify`), and the queue (for the sealer), each with the model versions and actors they
//! reference.

use std::collections::HashSet;

use ml_audit_core::ledger::merkle::Hash;
use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::{StoredActor, StoredModel, StoredRecord};
use uuid::Uuid;

use crate::SealedLeaf;

/// A leaf and the record it names, as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLeaf {
    pub leaf: SealedLeaf,
    pub record: Option<StoredRecord>,
}

/// A record in the ledger queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRecord {
    pub queue_id: i64,
    pub kind: LeafKind,
    pub record_id: Uuid,
    pub content: Queued,
}

/// What the sealer gets of a queued record.
#[derive(Debug, Clone, PartialEq)]
pub enum Queued {
    /// The leaf hash the store computed from the record it wrote, in the same transaction.
    Hashed(Hash),
    /// The stored row, for an entry queued without a hash (by a version before hashes were
    /// queued): the sealer decodes and hashes it.
    Row(StoredRecord),
}

impl QueuedRecord {
    /// The stored row, when the sealer has to hash it.
    pub fn row(&self) -> Option<&StoredRecord> {
        match &self.content {
            Queued::Row(record) => Some(record),
            Queued::Hashed(_) => None,
        }
    }
}

/// Rows of records, with every model version and actor they reference (each once; a missing one
/// is simply absent).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRows<T> {
    pub rows: Vec<T>,
    pub models: Vec<StoredModel>,
    pub actors: Vec<StoredActor>,
}

/// What [`crate::LedgerStore::ledger_records`] returns.
pub type StoredLeaves = StoredRows<StoredLeaf>;

/// What [`crate::LedgerStore::ledger_pending`] returns.
pub type StoredPending = StoredRows<QueuedRecord>;

/// The model versions and the actors that `records` reference, each once.
pub fn referenced_rows<'a>(records: impl IntoIterator<Item = &'a StoredRecord>) -> (Vec<Uuid>, Vec<Uuid>) {
    let (mut models, mut actors) = (Vec::new(), Vec::new());
    let (mut seen_models, mut seen_actors) = (HashSet::new(), HashSet::new());
    for record in records {
        if let StoredRecord::Prediction(row) = record {
            if seen_models.insert(row.model_ref) {
                models.push(row.model_ref);
            }
            if let Some(actor) = row.actor_ref.filter(|id| seen_actors.insert(*id)) {
                actors.push(actor);
            }
        }
    }
    (models, actors)
}
