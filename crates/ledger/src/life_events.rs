//! `verify`'s view of the life events of records: erasures, legal holds and their releases.
//! Each is a leaf recomputed from its row; every erased record must be named by a sealed
//! erasure; no erasure may take a record a standing hold covered.

use std::collections::{HashMap, HashSet};

use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::{RowCatalog, StoredRecord};
use ml_audit_core::lifecycle::{Erasure, Hold, HoldRelease};
use ml_audit_storage::{StoredLeaf, StoredLifecycle};
use uuid::Uuid;

use crate::verify::Problem;

/// What an erased prediction kept that a hold's scope can be checked against.
struct ErasedPrediction {
    erasure: Uuid,
    id: Uuid,
    tenant_id: String,
    model_name: Option<String>,
}

pub(crate) struct LifeEvents {
    erasures: HashMap<Uuid, Erasure>,
    holds: HashMap<Uuid, Hold>,
    releases: HashMap<Uuid, HoldRelease>,
    /// The seq of each life event's leaf, as found in the log.
    sealed_at: HashMap<Uuid, u64>,
    /// Kept only while there are holds to check erasures against.
    erased: Vec<ErasedPrediction>,
}

impl LifeEvents {
    pub(crate) fn new(stored: StoredLifecycle) -> Self {
        Self {
            erasures: stored.erasures.into_iter().map(|e| (e.id, e)).collect(),
            holds: stored.holds.into_iter().map(|h| (h.id, h)).collect(),
            releases: stored.releases.into_iter().map(|r| (r.id, r)).collect(),
            sealed_at: HashMap::new(),
            erased: Vec::new(),
        }
    }

    /// Checks that the erasure `erasure_ref` names the erased record of `seq`; what is wrong
    /// finishes the sentence "the … was blanked …".
    pub(crate) fn check_erased(
        &mut self,
        seq: u64,
        erasure_ref: Uuid,
        record: &StoredRecord,
        rows: &RowCatalog,
    ) -> Result<(), String> {
        let Some(erasure) = self.erasures.get(&erasure_ref) else {
            return Err(format!("by an erasure {erasure_ref} that is not stored: no erasure leaf names it"));
        };
        if erasure.seqs.binary_search(&seq).is_err() {
            return Err(format!("by the erasure {erasure_ref}, which does not name it"));
        }
        // Whether its seal is recomputed hangs on the commitment the row keeps: the sealed
        // erasure says which records had none (v1), so a commitment removed later is caught.
        let kept_commitment = record.erasure().is_some_and(|e| e.commitment.is_some());
        if kept_commitment == erasure.unsalted.contains(&seq) {
            return Err(if kept_commitment {
                format!("by the erasure {erasure_ref} as a v1 record, yet it keeps a commitment")
            } else {
                format!("by the erasure {erasure_ref}, and the commitment its seal needs was removed")
            });
        }
        if let (StoredRecord::Prediction(row), false) = (record, self.holds.is_empty()) {
            self.erased.push(ErasedPrediction {
                erasure: erasure_ref,
                id: row.id,
                tenant_id: row.tenant_id.clone(),
                model_name: rows.model_name(row.model_ref).map(str::to_owned),
            });
        }
        Ok(())
    }

    /// Recomputes the leaf of an erasure, a hold or a release from its row.
    pub(crate) fn check_leaf(&mut self, stored: &StoredLeaf) -> Result<(), String> {
        let leaf = &stored.leaf;
        let (hash, named) = match leaf.kind {
            LeafKind::Erasure => match self.erasures.get(&leaf.record_id) {
                Some(erasure) => {
                    if erasure.seqs.last().is_some_and(|last| *last >= leaf.seq) {
                        return Err(format!("the erasure {} names entries after its own", leaf.record_id));
                    }
                    (Some(erasure.leaf_hash()), "erasure")
                }
                None => (None, "erasure"),
            },
            LeafKind::Hold => (self.holds.get(&leaf.record_id).map(Hold::leaf_hash), "hold"),
            LeafKind::HoldRelease => (self.releases.get(&leaf.record_id).map(HoldRelease::leaf_hash), "hold release"),
            LeafKind::Prediction | LeafKind::Explanation | LeafKind::Outcome | LeafKind::Review | LeafKind::Access => {
                unreachable!("records are checked by check_record")
            }
        };
        let Some(hash) = hash else {
            return Err(format!("the {named} {} it seals is missing (deleted)", leaf.record_id));
        };
        if hash != leaf.leaf_hash {
            return Err(format!(
                "the {named} {} was altered (forged): its row hashes to {}, its sealed leaf is {}",
                leaf.record_id,
                hex::encode(hash),
                hex::encode(leaf.leaf_hash)
            ));
        }
        self.sealed_at.insert(leaf.record_id, leaf.seq);
        Ok(())
    }

    /// What the whole log shows: life events stored but never sealed, and erasures that took a
    /// record a standing hold covered.
    pub(crate) fn finish(self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let unsealed = |kind: &str, id: &Uuid| Problem {
            seq: None,
            message: format!(
                "the {kind} {id} is in the database but not in the ledger: inserted behind ml-audit's back"
            ),
        };
        for id in self.erasures.keys().filter(|id| !self.sealed_at.contains_key(id)) {
            problems.push(unsealed("erasure", id));
        }
        for id in self.holds.keys().filter(|id| !self.sealed_at.contains_key(id)) {
            problems.push(unsealed("hold", id));
        }
        for id in self.releases.keys().filter(|id| !self.sealed_at.contains_key(id)) {
            problems.push(unsealed("hold release", id));
        }
        let released: HashMap<Uuid, &HoldRelease> = self.releases.values().map(|r| (r.hold_ref, r)).collect();
        let mut reported = HashSet::new();
        for erased in &self.erased {
            let (Some(erasure), Some(&at)) = (self.erasures.get(&erased.erasure), self.sealed_at.get(&erased.erasure))
            else {
                continue;
            };
            for hold in self.holds.values() {
                let placed_before = self.sealed_at.get(&hold.id).is_some_and(|seq| *seq < at);
                let release = released
                    .get(&hold.id)
                    .filter(|r| self.sealed_at.get(&r.id).is_some_and(|seq| *seq < at))
                    .map(|r| r.created_at);
                if placed_before
                    && hold.stands_at(erasure.created_at, release)
                    && covers(hold, erasure, erased)
                    && reported.insert((erasure.id, hold.id))
                {
                    problems.push(Problem {
                        seq: Some(at),
                        message: format!(
                            "the erasure {} erased the prediction {} while the legal hold {} covered it",
                            erasure.id, erased.id, hold.id
                        ),
                    });
                }
            }
        }
        problems
    }
}

/// Whether `hold` covered an erased prediction, judged by what erasure kept: its tenant, model
/// and id, and for a subject the erasure's own selector (the record's tokens are gone). A hold
/// on an actor cannot be judged once the link to the actor is erased: it is passed over here
/// (the server refuses such an erasure before it happens).
fn covers(hold: &Hold, erasure: &Erasure, erased: &ErasedPrediction) -> bool {
    let scope = &hold.scope;
    scope.actor.is_none()
        && scope.tenant_id.as_ref().is_none_or(|t| *t == erased.tenant_id)
        && scope.model_name.as_ref().is_none_or(|m| erased.model_name.as_ref() == Some(m))
        && (scope.predictions.is_empty() || scope.predictions.contains(&erased.id))
        && scope.subject.as_ref().is_none_or(|s| erasure.subject.as_ref() == Some(s))
}
