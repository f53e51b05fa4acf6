use std::sync::Arc;

use axum::extract::FromRef;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_ledger::sealer::{Schedule, Sealer};
use ml_audit_storage::{InsightReader, KeyStore, LedgerStore, PredictionReader, PredictionWriter, Store};

use crate::ingest::GroupCommitter;
use crate::metrics::Metrics;

/// Request limits; bodies over them are refused with 413 before any parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 10 * 1024 * 1024, max_json_depth: 64 }
    }
}

/// What the server needs besides a store and its ledger sealer.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    pub limits: Limits,
    pub redaction: RedactionPolicy,
    pub ledger_schedule: Schedule,
}

/// Shared by every handler; cheap to clone. The store is handed out by capability, so a
/// handler that reads holds no write method.
#[derive(Clone)]
pub struct AppState {
    pub predictions: Arc<dyn PredictionReader>,
    /// Explanations; predictions are written through the `committer`.
    pub writer: Arc<dyn PredictionWriter>,
    pub keys: Arc<dyn KeyStore>,
    pub ledger: Arc<dyn LedgerStore>,
    pub insights: Arc<dyn InsightReader>,
    /// Which backend the store is (`sqlite`, `postgres`).
    pub backend: &'static str,
    pub redaction: Arc<RedactionPolicy>,
    pub limits: Limits,
    pub committer: GroupCommitter,
    pub sealer: Arc<Sealer>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Must be called inside a tokio runtime: it starts the group-commit writers and the
    /// ledger's sealing task.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>, settings: ServerSettings) -> Self {
        let metrics = Arc::new(Metrics::default());
        sealer.clone().spawn(settings.ledger_schedule);
        Self {
            committer: GroupCommitter::start(store.clone(), store.writer_tasks(), metrics.clone()),
            sealer,
            predictions: store.clone(),
            writer: store.clone(),
            keys: store.clone(),
            ledger: store.clone(),
            insights: store.clone(),
            backend: store.backend(),
            redaction: Arc::new(settings.redaction),
            limits: settings.limits,
            metrics,
        }
    }
}

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        state.limits
    }
}
