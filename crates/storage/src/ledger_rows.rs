//! Reading records back for the ledger, the same way on both backends: the SQL, and the mapping
//! of its rows into the core's [`StoredRecord`]s. The sealer reads the queue
//! ([`LEDGER_PENDING_SQL`]: queued leaf hashes, and the rows of entries queued without one) and
//! `verify` reads the log ([`LEDGER_RECORDS_SQL`]); both get each record's row they need with the
//! text of its columns, plus the model versions and actors those rows reference, which backends
//! look up once each by id rather than join to every row.

use std::collections::HashSet;

use ml_audit_core::ledger::merkle::Hash;
use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::{StoredActor, StoredExplanation, StoredModel, StoredPrediction, StoredRecord};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Result, SealedLeaf, StorageError, decode_enum, decode_hash, decode_seq};

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

/// What [`crate::Store::ledger_records`] returns.
pub type StoredLeaves = StoredRows<StoredLeaf>;

/// What [`crate::Store::ledger_pending`] returns.
pub type StoredPending = StoredRows<QueuedRecord>;

/// The columns of a record's row, in the order [`Columns::record`] reads them, for a query that
/// joins `p` (predictions) and `e` (explanations) by `record_id`.
macro_rules! record_columns {
    () => {
        "p.id, p.prediction_id, p.ts, p.created_at, p.trace_id, p.environment, p.model_ref, p.actor_ref,
         p.tenant_id, p.actor_ip, p.actor_user_agent, p.actor_auth_context,
         p.features, p.redactions, p.metadata, p.metadata_redactions, p.input_fingerprint, p.output,
         p.confidence, p.decision_outcome, p.status, p.latency_ms,
         e.id, e.prediction_ref, CAST(e.revision AS bigint), e.method, e.method_version, e.payload,
         e.summary_text, e.status, e.generated_at, e.created_at"
    };
}

/// The joins behind [`record_columns`], from a table aliased `$from` with `kind` and `record_id`,
/// for the rows where `$when` holds.
macro_rules! record_joins {
    ($from:literal, $when:literal) => {
        concat!(
            " LEFT JOIN predictions p ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'prediction' AND p.id = ",
            $from,
            ".record_id LEFT JOIN explanations e ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'explanation' AND e.id = ",
            $from,
            ".record_id"
        )
    };
}

/// `verify`'s read, the same on both backends (SQLite reads `$1`, `$2` as parameters 1 and 2):
/// each leaf of `seq` in `[$1, $2)` with its record's row, mapped by [`stored_leaf`].
pub const LEDGER_RECORDS_SQL: &str = concat!(
    "SELECT l.seq, l.kind, l.record_id, l.leaf_hash, ",
    record_columns!(),
    " FROM ledger_entries l",
    record_joins!("l", "TRUE"),
    " WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq"
);

/// The sealer's read: the oldest `$1` queued records, mapped by [`queued_record`]. An entry
/// queued with its leaf hash is all the sealer needs; the record's row is read only for an entry
/// without one. Such an entry whose row is missing was removed behind ml-audit's back: it stays
/// queued (`verify` reports it) and is passed over, so that it cannot hold up the ones behind it.
pub const LEDGER_PENDING_SQL: &str = concat!(
    "SELECT q.queue_id, q.kind, q.record_id, q.leaf_hash, ",
    record_columns!(),
    " FROM ledger_queue q",
    record_joins!("q", "q.leaf_hash IS NULL"),
    " WHERE q.leaf_hash IS NOT NULL OR p.id IS NOT NULL OR e.id IS NOT NULL ORDER BY q.queue_id LIMIT $1"
);

/// The columns of a `model_versions` row that [`stored_model`] reads, in order.
pub const LEDGER_MODEL_COLUMNS: &str =
    "id, model_name, version, framework, build_id, commit_hash, config_snapshot, is_active, created_at";

/// The columns of an `actors` row that [`stored_actor`] reads, in order.
pub const LEDGER_ACTOR_COLUMNS: &str = "id, actor_type, actor_id, created_at";

/// One row of the ledger's queries, column by column in query order: each backend says how it
/// reads its own types, and the functions here map the columns once for both.
pub trait LedgerRow {
    fn text(&self, column: usize) -> Result<Option<String>>;
    fn uuid(&self, column: usize) -> Result<Option<Uuid>>;
    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>>;
    fn integer(&self, column: usize) -> Result<Option<i64>>;
    fn float(&self, column: usize) -> Result<Option<f64>>;
    fn flag(&self, column: usize) -> Result<Option<bool>>;
    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>>;
}

/// Maps a row of [`LEDGER_RECORDS_SQL`].
pub fn stored_leaf(row: &impl LedgerRow) -> Result<StoredLeaf> {
    let mut c = Columns { row, next: 0 };
    let seq = decode_seq(c.required(LedgerRow::integer)?)?;
    let kind = decode_enum("kind", &c.text()?, LeafKind::parse)?;
    let record_id = c.required(LedgerRow::uuid)?;
    let leaf_hash = decode_hash(c.required(LedgerRow::bytes)?)?;
    Ok(StoredLeaf { leaf: SealedLeaf { seq, kind, record_id, leaf_hash }, record: c.record()? })
}

/// Maps a row of [`LEDGER_PENDING_SQL`].
pub fn queued_record(row: &impl LedgerRow) -> Result<QueuedRecord> {
    let mut c = Columns { row, next: 0 };
    let queue_id = c.required(LedgerRow::integer)?;
    let kind = decode_enum("kind", &c.text()?, LeafKind::parse)?;
    let record_id = c.required(LedgerRow::uuid)?;
    let content = match c.take(LedgerRow::bytes)? {
        Some(hash) => Queued::Hashed(decode_hash(hash)?),
        None => Queued::Row(
            c.record()?.ok_or_else(|| StorageError::Database(format!("queued record {queue_id} has no row")))?,
        ),
    };
    Ok(QueuedRecord { queue_id, kind, record_id, content })
}

/// Maps a row of `SELECT {LEDGER_MODEL_COLUMNS} FROM model_versions …`.
pub fn stored_model(row: &impl LedgerRow) -> Result<StoredModel> {
    let mut c = Columns { row, next: 0 };
    Ok(StoredModel {
        id: c.required(LedgerRow::uuid)?,
        model_name: c.text()?,
        version: c.text()?,
        framework: c.text()?,
        build_id: c.text()?,
        commit_hash: c.text()?,
        config_snapshot: c.take(LedgerRow::text)?,
        is_active: c.required(LedgerRow::flag)?,
        created_at: c.time()?,
    })
}

/// Maps a row of `SELECT {LEDGER_ACTOR_COLUMNS} FROM actors …`.
pub fn stored_actor(row: &impl LedgerRow) -> Result<StoredActor> {
    let mut c = Columns { row, next: 0 };
    Ok(StoredActor {
        id: c.required(LedgerRow::uuid)?,
        actor_type: c.text()?,
        actor_id: c.text()?,
        created_at: c.time()?,
    })
}

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

/// Reads a [`LedgerRow`]'s columns in order.
struct Columns<'r, R: LedgerRow> {
    row: &'r R,
    next: usize,
}

impl<R: LedgerRow> Columns<'_, R> {
    fn take<T>(&mut self, read: fn(&R, usize) -> Result<Option<T>>) -> Result<Option<T>> {
        self.next += 1;
        read(self.row, self.next - 1)
    }

    fn required<T>(&mut self, read: fn(&R, usize) -> Result<Option<T>>) -> Result<T> {
        let column = self.next;
        self.take(read)?.ok_or_else(|| StorageError::Database(format!("column {column} of a ledger row is NULL")))
    }

    fn text(&mut self) -> Result<String> {
        self.required(R::text)
    }

    fn time(&mut self) -> Result<OffsetDateTime> {
        self.required(R::time)
    }

    /// The columns of [`record_columns`]: a prediction's, else an explanation's, else none.
    fn record(&mut self) -> Result<Option<StoredRecord>> {
        const PREDICTION_COLUMNS: usize = 22;
        if let Some(id) = self.take(LedgerRow::uuid)? {
            return Ok(Some(StoredRecord::Prediction(Box::new(StoredPrediction {
                id,
                prediction_id: self.text()?,
                timestamp: self.time()?,
                created_at: self.time()?,
                trace_id: self.text()?,
                environment: self.text()?,
                model_ref: self.required(LedgerRow::uuid)?,
                actor_ref: self.take(LedgerRow::uuid)?,
                tenant_id: self.text()?,
                actor_ip: self.take(LedgerRow::text)?,
                actor_user_agent: self.text()?,
                actor_auth_context: self.take(LedgerRow::text)?,
                features: self.text()?,
                redactions: self.text()?,
                metadata: self.text()?,
                metadata_redactions: self.text()?,
                input_fingerprint: self.text()?,
                output: self.text()?,
                confidence: self.take(LedgerRow::float)?,
                decision_outcome: self.text()?,
                status: self.text()?,
                latency_ms: self.take(LedgerRow::float)?,
            }))));
        }
        self.next += PREDICTION_COLUMNS - 1;
        let Some(id) = self.take(LedgerRow::uuid)? else { return Ok(None) };
        Ok(Some(StoredRecord::Explanation(StoredExplanation {
            id,
            prediction_ref: self.required(LedgerRow::uuid)?,
            revision: self.required(LedgerRow::integer)?,
            method: self.text()?,
            method_version: self.text()?,
            payload: self.text()?,
            summary_text: self.text()?,
            status: self.text()?,
            generated_at: self.time()?,
            created_at: self.time()?,
        })))
    }
}
