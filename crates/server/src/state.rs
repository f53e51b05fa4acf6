use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use ml_audit_core::lifecycle::RetentionPolicy;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::review::ReviewPolicy;
use ml_audit_ledger::sealer::{Schedule, Sealer};
use ml_audit_storage::{
    AccessLogStore, InsightReader, KeyStore, LedgerStore, LifecycleStore, OutcomeStore, PredictionReader,
    PredictionWriter, Store,
};

use crate::access::AccessLog;
use crate::admission::Admission;
use crate::ingest::{DEFAULT_QUEUE_EVENTS, GroupCommitter};
use crate::metrics::Metrics;
use crate::retention::RetentionSchedule;

/// Request limits; bodies over them are refused with 413 before any parsing, bodies slower than
/// them with 408.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    /// The whole body must arrive within this, counted from the end of the headers.
    pub body_read_timeout: Duration,
    /// Rows an export reads per query (`GET /api/v1/exports/predictions`).
    pub export_page_rows: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_json_depth: 64,
            body_read_timeout: Duration::from_secs(30),
            export_page_rows: crate::export::DEFAULT_PAGE_ROWS,
        }
    }
}

/// How the server holds up on a bad day: its queue bound, its timeouts, its readiness bound.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    /// The most write requests handled at once; the limit adapts below it so that nine answers
    /// in ten come within `ingest_latency_target`. One more is refused with 503 `overloaded`
    /// before its key is checked or its body read.
    pub max_ingest_requests: usize,
    pub ingest_latency_target: Duration,
    /// Events that may wait for a writer before submissions are refused with 503 `overloaded`.
    pub queue_events: usize,
    /// A connection must send a request's headers within this, or it is closed.
    pub header_read_timeout: Duration,
    /// After SIGTERM, in-flight requests have this long to finish before their connections are
    /// dropped; then the ledger is sealed and a last checkpoint signed.
    pub shutdown_timeout: Duration,
    /// `/readyz` fails when the sealer is behind by more than this.
    pub max_sealer_lag: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            max_ingest_requests: 256,
            ingest_latency_target: Duration::from_millis(15),
            queue_events: DEFAULT_QUEUE_EVENTS,
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(20),
            max_sealer_lag: Duration::from_secs(120),
        }
    }
}

/// What the server needs besides a store and its ledger sealer.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub limits: Limits,
    pub resilience: Resilience,
    pub redaction: RedactionPolicy,
    pub ledger_schedule: Schedule,
    /// What `serve` purges, how often and in what batches.
    pub retention: RetentionSchedule,
    pub review: ReviewPolicy,
    /// Whether reads are recorded in the access log (`[access_log] enabled`, on by default;
    /// off only to measure what it costs, or where another system keeps such a log).
    pub access_log: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            resilience: Resilience::default(),
            redaction: RedactionPolicy::default(),
            ledger_schedule: Schedule::default(),
            retention: RetentionSchedule::default(),
            review: ReviewPolicy::default(),
            access_log: true,
        }
    }
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
    /// Erasures and legal holds.
    pub lifecycle: Arc<dyn LifecycleStore>,
    /// Outcomes, reviews and model quality.
    pub outcomes: Arc<dyn OutcomeStore>,
    /// Reads of the access log (entries are written through `access`).
    pub access_log: Arc<dyn AccessLogStore>,
    /// Where handlers record who was shown what.
    pub access: AccessLog,
    /// Which models need two reviewers for a change (`[review]`).
    pub review: Arc<ReviewPolicy>,
    /// The retention in force (`serve` purges by it; the UI shows it).
    pub retention: Arc<RetentionPolicy>,
    /// Which backend the store is (`sqlite`, `postgres`).
    pub backend: &'static str,
    pub redaction: Arc<RedactionPolicy>,
    pub limits: Limits,
    pub resilience: Resilience,
    pub committer: GroupCommitter,
    /// The adaptive bound on write requests in flight.
    pub admission: Arc<Admission>,
    pub sealer: Arc<Sealer>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Must be called inside a tokio runtime: it starts the group-commit writers and the
    /// ledger's sealing task.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>, settings: ServerSettings) -> Self {
        let metrics = Arc::new(Metrics::default());
        sealer.clone().spawn(settings.ledger_schedule);
        let retention = Arc::new(settings.retention.policy.clone());
        crate::retention::spawn(store.clone(), settings.retention);
        Self {
            committer: GroupCommitter::start(
                store.clone(),
                store.writer_tasks(),
                settings.resilience.queue_events,
                metrics.clone(),
            ),
            admission: Admission::new(
                settings.resilience.max_ingest_requests,
                settings.resilience.ingest_latency_target,
            ),
            sealer,
            predictions: store.clone(),
            writer: store.clone(),
            keys: store.clone(),
            ledger: store.clone(),
            insights: store.clone(),
            lifecycle: store.clone(),
            outcomes: store.clone(),
            access_log: store.clone(),
            access: AccessLog::start(store.clone(), metrics.clone(), settings.access_log),
            review: Arc::new(settings.review),
            retention,
            backend: store.backend(),
            redaction: Arc::new(settings.redaction),
            limits: settings.limits,
            resilience: settings.resilience,
            metrics,
        }
    }
}

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        state.limits
    }
}
