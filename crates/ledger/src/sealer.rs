//! Sealing: queued records become leaves, and checkpoints are signed over the tree.
//!
//! Any number of sealers (one per `serve` replica) may run against one database: the store
//! appends leaves in one transaction under its lock, so the order is gap-free; each sealer keeps
//! a compact range of the tree and catches up with leaves others appended before it signs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::CompactRange;
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::timestamp::{self, to_unix_micros};
use ml_audit_storage::{LedgerStore, NewLeaf, Queued, StoredCheckpoint};
use tokio::sync::Mutex;

use crate::key::LedgerKey;
use crate::{LedgerError, Result};

/// Records hashed and appended per store transaction at first. A batch that comes back full
/// means a backlog: the next one is twice as large, up to [`MAX_SEAL_BATCH`]. Small batches keep
/// each append short (writers wait for it on SQLite); large ones let the sealer catch up while
/// writers hold the database most of the time, since it gets one turn among theirs.
const SEAL_BATCH: u32 = 500;
/// The largest batch. It bounds how long one append holds SQLite's writer, and the stored rows
/// held in memory for entries queued without a hash (~3 KB each; decoded one at a time). With 8,000 a SQLite server
/// under a maximum-rate bulk load peaked at 305 MB; 4,000 is the measured middle ground.
const MAX_SEAL_BATCH: u32 = 4_000;
/// Leaf hashes read per query when catching up with the log.
const CATCH_UP_CHUNK: u64 = 50_000;

pub struct Sealer {
    store: Arc<dyn LedgerStore>,
    key: Arc<LedgerKey>,
    /// Where the latest signed checkpoint is also written, outside the database, so that a log
    /// truncated together with its checkpoint table is still caught.
    witness: Option<PathBuf>,
    tree: Mutex<CompactRange>,
    /// When (Unix µs) the last round that sealed everything queued before it started began:
    /// how far behind the sealer is, for readiness and metrics.
    caught_up_at: AtomicI64,
    /// When (Unix µs) the latest checkpoint this sealer knows of was signed; 0 for none.
    checkpoint_at: AtomicI64,
}

/// How often the background task seals and signs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub seal_every: Duration,
    pub checkpoint_every: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { seal_every: Duration::from_millis(200), checkpoint_every: Duration::from_secs(60) }
    }
}

impl Sealer {
    /// Resumes from the latest checkpoint's compact range, after checking it against the
    /// checkpoint's signed root.
    pub async fn new(store: Arc<dyn LedgerStore>, key: Arc<LedgerKey>, witness: Option<PathBuf>) -> Result<Self> {
        let latest = store.latest_checkpoint().await?;
        let checkpoint_at = latest.as_ref().map_or(0, |latest| to_unix_micros(latest.created_at));
        let tree = match latest {
            None => CompactRange::new(),
            Some(stored) => {
                let signed = key.verify(&stored.note)?;
                let tree = CompactRange::from_bytes(&stored.frontier)
                    .map_err(|e| LedgerError::Integrity(format!("stored tree state is unreadable: {e}")))?;
                if tree.size() != signed.tree_size || tree.root() != signed.root {
                    return Err(LedgerError::Integrity(format!(
                        "the stored tree state does not match the signed checkpoint at size {}; run `ml-audit verify`",
                        signed.tree_size
                    )));
                }
                tree
            }
        };
        Ok(Self {
            store,
            key,
            witness,
            tree: Mutex::new(tree),
            caught_up_at: AtomicI64::new(to_unix_micros(timestamp::now())),
            checkpoint_at: AtomicI64::new(checkpoint_at),
        })
    }

    /// How long ago the sealer last had nothing older left to seal: about its interval when it
    /// keeps up; growing while it is behind or cannot reach the database.
    pub fn lag(&self) -> Duration {
        since(self.caught_up_at.load(Ordering::Relaxed))
    }

    /// How long ago the latest checkpoint was signed, if there is one.
    pub fn checkpoint_age(&self) -> Option<Duration> {
        let at = self.checkpoint_at.load(Ordering::Relaxed);
        (at != 0).then(|| since(at))
    }

    pub fn key(&self) -> &LedgerKey {
        &self.key
    }

    /// Seals everything queued now; returns how many leaves this sealer appended.
    pub async fn seal_pending(&self) -> Result<usize> {
        let started = to_unix_micros(timestamp::now());
        let mut total = 0;
        let mut batch = SEAL_BATCH;
        loop {
            let pending = self.store.ledger_pending(batch).await?;
            let full = pending.rows.len() == batch as usize;
            batch = (batch * 2).min(MAX_SEAL_BATCH);
            if pending.rows.is_empty() {
                self.caught_up_at.fetch_max(started, Ordering::Relaxed);
                return Ok(total);
            }
            let rows = RowCatalog::new(pending.models, pending.actors);
            let mut leaves = Vec::with_capacity(pending.rows.len());
            for queued in pending.rows {
                let leaf_hash = match queued.content {
                    Queued::Hashed(hash) => hash,
                    // Queued by an earlier version: decoded one at a time, and dropped once hashed.
                    Queued::Row(row) => match row.decode(&rows) {
                        Ok(record) => record.leaf_hash(),
                        // A row edited behind ml-audit's back before it was sealed stays queued,
                        // for `verify` to report, and does not hold up the others.
                        Err(error) => {
                            let record = queued.record_id;
                            tracing::warn!(%record, %error, "a queued record cannot be read; it stays unsealed");
                            continue;
                        }
                    },
                };
                leaves.push(NewLeaf {
                    queue_id: queued.queue_id,
                    kind: queued.kind,
                    record_id: queued.record_id,
                    leaf_hash,
                });
            }
            total += self.store.ledger_append(leaves).await?.len();
            if !full {
                self.caught_up_at.fetch_max(started, Ordering::Relaxed);
                return Ok(total);
            }
        }
    }

    /// Signs a checkpoint over the whole log as it is now (after sealing what is queued), stores
    /// it and writes the witness file. Returns the latest checkpoint when the log has not grown.
    pub async fn checkpoint(&self) -> Result<StoredCheckpoint> {
        self.seal_pending().await?;
        let tree = self.caught_up_tree().await?;
        if let Some(latest) = self.store.latest_checkpoint().await?
            && latest.tree_size == tree.size()
        {
            self.checkpoint_at.fetch_max(to_unix_micros(latest.created_at), Ordering::Relaxed);
            return Ok(latest);
        }
        let checkpoint = Checkpoint {
            origin: self.key.origin().to_owned(),
            tree_size: tree.size(),
            root: tree.root(),
            time: timestamp::now(),
        };
        let stored = StoredCheckpoint {
            tree_size: checkpoint.tree_size,
            root_hash: checkpoint.root,
            note: self.key.sign(&checkpoint)?,
            frontier: tree.to_bytes(),
            created_at: checkpoint.time,
        };
        self.store.save_checkpoint(&stored).await?;
        self.checkpoint_at.fetch_max(to_unix_micros(stored.created_at), Ordering::Relaxed);
        if let Some(path) = &self.witness {
            write_witness(path, &stored.note)?;
        }
        Ok(stored)
    }

    /// The periodic checkpoint: an empty log has nothing worth signing yet.
    async fn checkpoint_if_not_empty(&self) -> Result<()> {
        self.seal_pending().await?;
        if self.store.ledger_size().await? > 0 {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// The local tree, extended with every leaf appended since (by any sealer).
    async fn caught_up_tree(&self) -> Result<tokio::sync::MutexGuard<'_, CompactRange>> {
        let mut tree = self.tree.lock().await;
        let size = self.store.ledger_size().await?;
        if tree.size() > size {
            return Err(LedgerError::Integrity(format!(
                "the log has {size} leaves but this sealer has seen {}: leaves were removed; run `ml-audit verify`",
                tree.size()
            )));
        }
        while tree.size() < size {
            let to = size.min(tree.size() + CATCH_UP_CHUNK);
            let hashes = self.store.ledger_leaf_hashes(tree.size(), to).await?;
            if hashes.len() as u64 != to - tree.size() {
                return Err(LedgerError::Integrity(format!(
                    "entries {}..{to} of the log are not all there: entries were removed; run `ml-audit verify`",
                    tree.size()
                )));
            }
            for hash in hashes {
                tree.append(hash);
            }
        }
        Ok(tree)
    }

    /// Seals and signs on `schedule` until the runtime stops. Errors are logged, never fatal:
    /// unsealed records stay queued and are sealed on the next round.
    pub fn spawn(self: Arc<Self>, schedule: Schedule) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut seal = tokio::time::interval_at(start + schedule.seal_every, schedule.seal_every);
            let mut sign = tokio::time::interval_at(start + schedule.checkpoint_every, schedule.checkpoint_every);
            seal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            sign.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let outcome = tokio::select! {
                    _ = seal.tick() => self.seal_pending().await.map(drop),
                    _ = sign.tick() => self.checkpoint_if_not_empty().await,
                };
                if let Err(error) = outcome {
                    tracing::error!(%error, "ledger sealing failed; will retry");
                }
            }
        })
    }
}

/// Time since `micros` (Unix µs); zero if the clock went back.
fn since(micros: i64) -> Duration {
    Duration::from_micros(to_unix_micros(timestamp::now()).saturating_sub(micros).max(0) as u64)
}

/// Replaces the witness file atomically, so a crash never leaves half a checkpoint.
fn write_witness(path: &std::path::Path, note: &str) -> Result<()> {
    let failed = |e: std::io::Error| LedgerError::Key { path: path.display().to_string(), message: e.to_string() };
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, note).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}
