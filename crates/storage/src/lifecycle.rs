//! Erasure, retention and legal hold: what a store does with them (see `docs/lifecycle.md`).

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::lifecycle::{
    Erasure, ErasureCounts, Hold, HoldRelease, HoldScope, PurgeStep, RetentionPolicy, Selection,
};
use ml_audit_core::model::LedgerEntry;
use uuid::Uuid;

use crate::Result;

/// An erasure to carry out: the records `selection` reaches (their union), among those the
/// caller sees, for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasurePlan {
    pub selection: Selection,
    pub reason: String,
    /// Count only; change nothing.
    pub dry_run: bool,
}

/// An erasure done (with its leaf), or counted by a dry run (`ledger` is `None`; nothing was
/// changed and `erasure` was not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureResult {
    pub erasure: Erasure,
    pub ledger: Option<LedgerEntry>,
}

/// A hold with its release, if released, and its ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHold {
    pub hold: Hold,
    pub release: Option<HoldRelease>,
    pub ledger: Option<LedgerEntry>,
}

/// The life events of records, for `verify`: every erasure, hold and release stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLifecycle {
    pub erasures: Vec<Erasure>,
    pub holds: Vec<Hold>,
    pub releases: Vec<HoldRelease>,
}

/// Erasure, retention and legal hold. Every change here is one transaction that also appends
/// its leaf (an erasure, a hold, a release) to the ledger.
#[async_trait]
pub trait LifecycleStore: Send + Sync + 'static {
    /// Erases the records the plan selects that `visibility` sees, with their explanations,
    /// outcomes and reviews: their personal content and salts are blanked, their subject tokens
    /// removed, and one erasure leaf names their seqs. Refused whole with
    /// [`crate::StorageError::Held`] if a standing hold covers any of them. A prediction ref that
    /// names nothing visible is [`crate::StorageError::NotFound`].
    async fn erase(&self, visibility: &Visibility, plan: ErasurePlan) -> Result<ErasureResult>;

    /// One batch of a purge: at most `limit` predictions past `step`'s retention that no
    /// standing hold covers, oldest first, erased as one erasure (reason `retention`). `None`
    /// when none is left. With `dry_run`, counts every such prediction and changes nothing.
    async fn purge_batch(&self, step: &PurgeStep, limit: u32, dry_run: bool) -> Result<Option<ErasureResult>>;

    /// Empties what still holds erased values outside the tables (SQLite: its WAL); cheap, run
    /// after every erasure. PostgreSQL leaves dead row versions to autovacuum.
    async fn reclaim_space(&self) -> Result<()>;

    /// Rewrites the tables so that the space blanked records gave up is returned (SQLite:
    /// `VACUUM`, which shrinks the file and holds the write lock while it runs; PostgreSQL:
    /// `VACUUM` of the record tables, which makes the space reusable). For a maintenance window
    /// (`ml-audit purge --vacuum`), not for a busy server.
    async fn compact(&self) -> Result<()>;

    /// Erasures the caller sees (a tenant-bound key: those it asked for), newest first.
    async fn list_erasures(&self, visibility: &Visibility, limit: u32) -> Result<Vec<ErasureResult>>;

    /// Places a hold; `scope` is already within the caller's tenant.
    async fn create_hold(
        &self,
        reason: String,
        scope: HoldScope,
        until: Option<time::OffsetDateTime>,
    ) -> Result<StoredHold>;

    /// Releases a standing hold the caller sees; a released one is a conflict.
    async fn release_hold(&self, visibility: &Visibility, id: Uuid, reason: String) -> Result<StoredHold>;

    /// Holds the caller sees (a tenant-bound key: those scoped to its tenant), newest first.
    async fn list_holds(&self, visibility: &Visibility) -> Result<Vec<StoredHold>>;
}

/// What a purge erased (or, in a dry run, would).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeSummary {
    pub counts: ErasureCounts,
    /// Erasures written, one a batch (none in a dry run).
    pub erasures: u64,
}

/// Erases every record past its retention that no standing hold covers, in batches of at most
/// `batch` predictions (one erasure leaf each, reason `retention`), then gives the space back.
/// With `dry_run`, counts them and changes nothing.
pub async fn purge(
    store: &dyn LifecycleStore,
    policy: &RetentionPolicy,
    now: time::OffsetDateTime,
    batch: u32,
    dry_run: bool,
) -> Result<PurgeSummary> {
    let mut summary = PurgeSummary::default();
    for step in policy.purge_steps(now) {
        while let Some(done) = store.purge_batch(&step, batch, dry_run).await? {
            summary.counts = add_counts(summary.counts, done.erasure.counts);
            if dry_run {
                break;
            }
            summary.erasures += 1;
            if done.erasure.counts.predictions < u64::from(batch) {
                break;
            }
        }
    }
    if summary.erasures > 0 {
        store.reclaim_space().await?;
    }
    Ok(summary)
}

fn add_counts(a: ErasureCounts, b: ErasureCounts) -> ErasureCounts {
    ErasureCounts {
        predictions: a.predictions + b.predictions,
        explanations: a.explanations + b.explanations,
        outcomes: a.outcomes + b.outcomes,
        reviews: a.reviews + b.reviews,
    }
}
