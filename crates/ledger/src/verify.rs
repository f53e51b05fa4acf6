//! `ml-audit verify`: recompute every leaf from the stored rows, rebuild the tree, and check it
//! against every signed checkpoint. Trusts nothing the database says about itself: leaf hashes
//! are recomputed, roots are recomputed, checkpoint signatures are checked with the public key.

use std::collections::VecDeque;
use std::sync::Arc;

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::{self, CompactRange};
use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::review::ReviewPolicy;
use ml_audit_storage::{LedgerStore, OutcomeStore, StorageError, StoredLeaf};

use crate::life_events::LifeEvents;

use crate::Result;
use crate::key::LedgerVerifier;

/// Leaves read and checked per store query.
const CHUNK: u64 = 10_000;
/// Chunks being read while one is checked.
const READ_AHEAD: usize = 2;
/// Most rows outside the ledger listed in a report.
const STRAYS_LISTED: u32 = 20;

/// One thing found wrong, with the ledger position it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub seq: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub leaves: u64,
    pub checkpoints: usize,
    /// Predictions and explanation revisions whose content is kept (and checked).
    pub intact: u64,
    /// Records an erasure emptied: their leaves checked from the fields kept (v2) or counted as
    /// erased (v1, whose leaf hashed content that is gone).
    pub erased: u64,
    /// Erasures, holds and releases: the life events of records.
    pub life_events: u64,
    /// Access log entries (`ml_audit_core::access`), each checked like a record.
    pub access: u64,
    /// In the order found: the first is the first bad entry.
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Most findings [`verify_derived`] reports: one wrong derived row is enough to act on.
const DERIVED_FINDINGS: usize = 100;

/// Checks the data derived from outcomes and reviews (each prediction's current outcome and
/// decision after review, the quality totals) against the stored records, under the review
/// `policy` in force, adding what differs to `report`: what the list's filters, a prediction's
/// `final_decision` and the quality figures show is recomputed from what the ledger proves.
pub async fn verify_derived(store: &dyn OutcomeStore, policy: &ReviewPolicy, report: &mut Report) -> Result<()> {
    let findings = store.check_derived(policy, DERIVED_FINDINGS).await?;
    report.problems.extend(findings.into_iter().map(|message| Problem { seq: None, message }));
    Ok(())
}

/// Checks the whole log. `witness` is a checkpoint note kept outside the database (the sealer's
/// witness file), checked like the stored ones. `progress(done, total)` is called per chunk.
pub async fn verify_log(
    store: Arc<dyn LedgerStore>,
    verifier: &LedgerVerifier,
    witness: Option<&str>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Report> {
    let mut report = Report::default();
    let size = store.ledger_size().await?;
    let mut life = LifeEvents::new(store.ledger_lifecycle().await?);
    let mut checkpoints = signed_checkpoints(store.as_ref(), verifier, witness, &mut report).await?;
    checkpoints.sort_by_key(|c| c.tree_size);
    checkpoints.dedup_by(|a, b| a.tree_size == b.tree_size && a.root == b.root);
    if let Some(largest) = checkpoints.last().filter(|c| c.tree_size > size) {
        report.problems.push(Problem {
            seq: Some(size),
            message: format!(
                "the log ends after {size} entries but a signed checkpoint covers {}: entries were removed from the end",
                largest.tree_size
            ),
        });
    }
    let mut tree = CompactRange::new();
    let mut next_checkpoint = checkpoints.iter().peekable();
    // A checkpoint of size 0 commits to the empty tree.
    check_roots(&tree, &mut next_checkpoint, &mut report);
    let mut scratch = Vec::with_capacity(4096);
    // Chunks are read ahead by tasks of their own (on SQLite, each on a blocking thread of its
    // own) while the current one is checked: reading a row costs about as much as checking it.
    let mut reads = VecDeque::new();
    let mut next_read = 0;
    let mut read_ahead = |reads: &mut VecDeque<_>| {
        while reads.len() < READ_AHEAD && next_read < size {
            let (from, to, store) = (next_read, size.min(next_read + CHUNK), store.clone());
            reads.push_back(tokio::spawn(async move { store.ledger_records(from, to).await }));
            next_read = to;
        }
    };
    read_ahead(&mut reads);
    let mut checked = 0;
    while let Some(read) = reads.pop_front() {
        // A read task that panicked or was cancelled is an error of this run, not of the log.
        let stopped = |e| crate::LedgerError::Storage(StorageError::database(format!("a ledger read stopped: {e}")));
        let current = read.await.map_err(stopped)??;
        read_ahead(&mut reads);
        let rows = RowCatalog::new(current.models, current.actors);
        for stored in current.rows {
            let seq = stored.leaf.seq;
            if seq != tree.size() {
                report.problems.push(Problem {
                    seq: Some(tree.size()),
                    message: format!("missing: the next stored entry is {seq}"),
                });
            }
            let checked = match stored.leaf.kind {
                LeafKind::Prediction | LeafKind::Explanation | LeafKind::Outcome | LeafKind::Review => {
                    check_record(&stored, &rows, &mut scratch, &mut life)
                }
                LeafKind::Access => check_record(&stored, &rows, &mut scratch, &mut life).map(|_| Kept::Access),
                LeafKind::Erasure | LeafKind::Hold | LeafKind::HoldRelease => {
                    life.check_leaf(&stored).map(|()| Kept::LifeEvent)
                }
            };
            match checked {
                Ok(Kept::Intact) => report.intact += 1,
                Ok(Kept::Erased) => report.erased += 1,
                Ok(Kept::LifeEvent) => report.life_events += 1,
                Ok(Kept::Access) => report.access += 1,
                Err(problem) => report.problems.push(Problem { seq: Some(seq), message: problem }),
            }
            tree.append(stored.leaf.leaf_hash);
            check_roots(&tree, &mut next_checkpoint, &mut report);
        }
        checked = size.min(checked + CHUNK);
        progress(checked, size);
    }
    for (kind, id) in store.ledger_strays(STRAYS_LISTED).await? {
        report.problems.push(Problem {
            seq: None,
            message: format!(
                "the {kind} {id} is in the database but not in the ledger: inserted behind ml-audit's back"
            ),
        });
    }
    report.problems.extend(life.finish());
    report.leaves = tree.size();
    report.checkpoints = checkpoints.len();
    Ok(report)
}

/// What a checked leaf's record is now.
enum Kept {
    Intact,
    Erased,
    LifeEvent,
    Access,
}

/// What is wrong with a leaf's record, if anything. The leaf is recomputed from the stored text
/// first (the bytes ml-audit stores are already canonical); only when that differs is the row
/// decoded as the API shows it and written canonically — rows stored before JSON columns were
/// canonical, or holding integers kept exact, are intact that way. An erased record must be
/// named by its erasure; its v2 seal is recomputed from the fields an erasure keeps.
fn check_record(
    stored: &StoredLeaf,
    rows: &RowCatalog,
    scratch: &mut Vec<u8>,
    life: &mut LifeEvents,
) -> Result<Kept, String> {
    let leaf = &stored.leaf;
    let Some(record) = &stored.record else {
        return Err(format!("the {} {} it seals is missing (deleted)", leaf.kind, leaf.record_id));
    };
    if let Some(erasure) = record.erasure() {
        life.check_erased(leaf.seq, erasure.erasure_ref, record, rows)
            .map_err(|problem| format!("the {} {} was blanked {problem}", leaf.kind, leaf.record_id))?;
        return match record.spliced_leaf_hash(rows, scratch) {
            Ok(None) => Ok(Kept::Erased),
            Ok(Some(hash)) if hash == leaf.leaf_hash => Ok(Kept::Erased),
            Ok(Some(hash)) => Err(format!(
                "the erased {} {} was altered: the fields its erasure kept hash to {}, its sealed leaf is {}",
                leaf.kind,
                leaf.record_id,
                hex::encode(hash),
                hex::encode(leaf.leaf_hash)
            )),
            Err(error) => Err(format!("the erased {} {} was altered: {error}", leaf.kind, leaf.record_id)),
        };
    }
    if let Ok(Some(hash)) = record.spliced_leaf_hash(rows, scratch)
        && hash == leaf.leaf_hash
    {
        return Ok(Kept::Intact);
    }
    match record.decode(rows) {
        Err(error) => Err(format!("the {} {} was altered: {error}", leaf.kind, leaf.record_id)),
        Ok(decoded) if decoded.leaf_hash() == leaf.leaf_hash => Ok(Kept::Intact),
        Ok(decoded) => Err(format!(
            "the {} {} was altered: its stored content hashes to {}, its sealed leaf is {}",
            leaf.kind,
            leaf.record_id,
            hex::encode(decoded.leaf_hash()),
            hex::encode(leaf.leaf_hash)
        )),
    }
}

/// Every stored checkpoint (and the witness) whose signature verifies; the others are problems.
async fn signed_checkpoints(
    store: &dyn LedgerStore,
    verifier: &LedgerVerifier,
    witness: Option<&str>,
    report: &mut Report,
) -> Result<Vec<Checkpoint>> {
    let mut signed = Vec::new();
    for stored in store.checkpoints().await? {
        match verifier.verify(&stored.note) {
            Ok(checkpoint) if checkpoint.tree_size == stored.tree_size && checkpoint.root == stored.root_hash => {
                signed.push(checkpoint)
            }
            Ok(_) => report.problems.push(Problem {
                seq: None,
                message: format!("the checkpoint stored for size {} does not match its signed note", stored.tree_size),
            }),
            Err(error) => report.problems.push(Problem {
                seq: None,
                message: format!(
                    "the checkpoint at size {} is not signed by the ledger key (forged or re-signed): {error}",
                    stored.tree_size
                ),
            }),
        }
    }
    if let Some(note) = witness {
        match verifier.verify(note) {
            Ok(checkpoint) => signed.push(checkpoint),
            Err(error) => report
                .problems
                .push(Problem { seq: None, message: format!("the witness checkpoint does not verify: {error}") }),
        }
    }
    Ok(signed)
}

fn check_roots<'a>(
    tree: &CompactRange,
    checkpoints: &mut std::iter::Peekable<impl Iterator<Item = &'a Checkpoint>>,
    report: &mut Report,
) {
    while let Some(checkpoint) = checkpoints.next_if(|c| c.tree_size == tree.size()) {
        if checkpoint.root != tree.root() {
            report.problems.push(Problem {
                seq: Some(tree.size().saturating_sub(1)),
                message: format!(
                    "the log's first {} entries do not match the signed checkpoint of that size (root {} signed, {} now): \
                     entries were altered, removed, inserted or reordered",
                    tree.size(),
                    hex::encode(checkpoint.root),
                    hex::encode(tree.root())
                ),
            });
        }
    }
}

/// Checks one exported record offline: the proof file that `GET /api/v1/predictions/{ref}/proof`
/// returns, against a signed checkpoint of the same tree size. Needs nothing but the files and
/// the public key. Returns the checkpoint the record is proven to be in.
pub fn verify_exported_proof(proof: &serde_json::Value, note: &str, verifier: &LedgerVerifier) -> Result<Checkpoint> {
    use base64::Engine as _;
    use ml_audit_core::ledger::proof_record::check_record_against_leaf;

    let field = |name: &str| proof.get(name).ok_or_else(|| malformed(format!("the proof has no {name:?}")));
    let number = |name: &str| field(name)?.as_u64().ok_or_else(|| malformed(format!("{name:?} is not a whole number")));
    let hash = |text: Option<&str>, what: &str| {
        text.and_then(|t| hex::decode(t).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| malformed(format!("{what} is not a hex SHA-256 hash")))
    };
    let leaf_index = number("leaf_index")?;
    let tree_size = number("tree_size")?;
    let leaf_data = base64::engine::general_purpose::STANDARD
        .decode(field("leaf_data")?.as_str().unwrap_or_default())
        .map_err(|_| malformed("\"leaf_data\" is not base64".into()))?;
    let leaf_hash = merkle::leaf_hash(&leaf_data);
    if leaf_hash != hash(field("leaf_hash")?.as_str(), "\"leaf_hash\"")? {
        return Err(invalid("leaf_data does not hash to leaf_hash: the record was altered".into()));
    }
    let salt = match proof.get("salt") {
        None | Some(serde_json::Value::Null) => None,
        Some(salt) => Some(salt.as_str().ok_or_else(|| malformed("\"salt\" is not a string".into()))?),
    };
    check_record_against_leaf(field("record")?, salt, &leaf_data)
        .map_err(|e| invalid(format!("the record does not match its leaf: {e}")))?;
    let path = field("inclusion_path")?
        .as_array()
        .ok_or_else(|| malformed("\"inclusion_path\" is not a list".into()))?
        .iter()
        .map(|h| hash(h.as_str(), "an inclusion_path entry"))
        .collect::<Result<Vec<_>>>()?;
    let checkpoint = verifier.verify(note)?;
    if checkpoint.tree_size != tree_size {
        return Err(invalid(format!(
            "the proof is for a tree of {tree_size} leaves, the checkpoint for {}",
            checkpoint.tree_size
        )));
    }
    merkle::verify_inclusion(&leaf_hash, leaf_index, tree_size, &path, &checkpoint.root)
        .map_err(|e| invalid(format!("the record is not in the checkpointed log: {e}")))?;
    Ok(checkpoint)
}

/// A proof that does not check out.
fn invalid(message: String) -> crate::LedgerError {
    crate::LedgerError::Integrity(message)
}

/// A proof file that is not of the expected form.
fn malformed(message: String) -> crate::LedgerError {
    crate::LedgerError::Malformed(message)
}
