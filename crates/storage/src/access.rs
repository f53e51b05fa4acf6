//! The access log's storage: entries appended in groups, read newest first.

use async_trait::async_trait;
use ml_audit_core::access::{AccessEntry, AccessFilter};
use ml_audit_core::auth::Visibility;
use ml_audit_core::query::{Page, PageRequest};
use uuid::Uuid;

use crate::Result;

/// Who was shown what (`ml_audit_core::access`). Entries are append-only ledger leaves; each
/// `record_access` is one transaction that also seals them (SQLite) or queues their leaves
/// (PostgreSQL), like every record.
#[async_trait]
pub trait AccessLogStore: Send + Sync + 'static {
    /// Appends `entries` (each already split to at most
    /// [`MAX_PREDICTIONS_PER_ENTRY`](ml_audit_core::access::MAX_PREDICTIONS_PER_ENTRY)
    /// predictions) in one transaction, with the index of which entry showed which prediction.
    async fn record_access(&self, entries: &[AccessEntry]) -> Result<()>;

    /// The log, newest first. A tenant-bound caller sees the entries of keys bound to its
    /// tenant, and, when `filter.prediction` names one of its tenant's predictions, every entry
    /// that showed it (another tenant's prediction is not found).
    async fn list_access(
        &self,
        visibility: &Visibility,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>>;

    /// For each of `predictions` (internal ids, visible to the caller already), the newest
    /// `per_prediction` entries that showed it: `(prediction, entry)` pairs.
    async fn access_to_predictions(
        &self,
        predictions: &[Uuid],
        per_prediction: u32,
    ) -> Result<Vec<(Uuid, AccessEntry)>>;
}
