//! Counters served at `/metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ml_audit_storage::StorageError;

#[derive(Debug, Default)]
pub struct Metrics {
    created: AtomicU64,
    replayed: AtomicU64,
    conflicts: AtomicU64,
    rejected: AtomicU64,
    explanations: AtomicU64,
    commits: AtomicU64,
    committed_events: AtomicU64,
    overloaded: AtomicU64,
    access_written: AtomicU64,
    access_dropped: AtomicU64,
    write_errors: [AtomicU64; WriteErrorKind::ALL.len()],
    /// When a write last failed for lack of space, unless one has succeeded since.
    storage_full_at: Mutex<Option<Instant>>,
}

/// Why a write failed, as `/metrics` and `/readyz` tell it; its discriminant indexes the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteErrorKind {
    StorageFull,
    Unavailable,
    Other,
}

impl WriteErrorKind {
    const ALL: [WriteErrorKind; 3] = [WriteErrorKind::StorageFull, WriteErrorKind::Unavailable, WriteErrorKind::Other];

    /// None for the answers that are not failures of the database (not found, conflict).
    fn of(error: &StorageError) -> Option<Self> {
        match error {
            StorageError::NotFound(_) | StorageError::Conflict(_) => None,
            StorageError::Full(_) => Some(WriteErrorKind::StorageFull),
            StorageError::Unavailable(_) => Some(WriteErrorKind::Unavailable),
            _ => Some(WriteErrorKind::Other),
        }
    }

    fn label(self) -> &'static str {
        match self {
            WriteErrorKind::StorageFull => "storage_full",
            WriteErrorKind::Unavailable => "unavailable",
            WriteErrorKind::Other => "other",
        }
    }
}

/// What `/metrics` reads from elsewhere at the moment it is asked.
pub struct Gauges {
    pub ingest_requests: usize,
    pub ingest_requests_limit: usize,
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub sealer_lag: Duration,
    pub checkpoint_age: Option<Duration>,
    pub ready: bool,
}

/// What became of one submitted event.
#[derive(Debug, Clone, Copy)]
pub enum EventOutcome {
    Created,
    Replayed,
    Conflict,
    Rejected,
}

impl Metrics {
    pub fn record_event(&self, outcome: EventOutcome) {
        let counter = match outcome {
            EventOutcome::Created => &self.created,
            EventOutcome::Replayed => &self.replayed,
            EventOutcome::Conflict => &self.conflicts,
            EventOutcome::Rejected => &self.rejected,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn record_explanation(&self) {
        self.explanations.fetch_add(1, Relaxed);
    }

    pub fn record_commit(&self, events: usize) {
        self.commits.fetch_add(1, Relaxed);
        self.committed_events.fetch_add(events as u64, Relaxed);
    }

    /// The outcome of a write transaction (one answers every request of its group): a failure
    /// of the database is counted by kind; a commit shows there was space.
    pub fn record_write<T>(&self, outcome: &Result<T, StorageError>) {
        let error = match outcome {
            Ok(_) => {
                *self.storage_full_at.lock().expect("not poisoned") = None;
                return;
            }
            Err(error) => error,
        };
        let Some(kind) = WriteErrorKind::of(error) else { return };
        if kind == WriteErrorKind::StorageFull {
            *self.storage_full_at.lock().expect("not poisoned") = Some(Instant::now());
        }
        self.write_errors[kind as usize].fetch_add(1, Relaxed);
    }

    /// How long ago a write failed for lack of space, if none has succeeded since and it was
    /// less than `hold` before `now`.
    pub fn storage_full_since(&self, now: Instant, hold: Duration) -> Option<Duration> {
        let full_at = (*self.storage_full_at.lock().expect("not poisoned"))?;
        let ago = now.saturating_duration_since(full_at);
        (ago < hold).then_some(ago)
    }

    pub fn record_overloaded(&self) {
        self.overloaded.fetch_add(1, Relaxed);
    }

    pub fn access_written(&self, entries: usize) {
        self.access_written.fetch_add(entries as u64, Relaxed);
    }

    pub fn access_dropped(&self) {
        self.access_dropped.fetch_add(1, Relaxed);
    }

    pub fn render(&self, backend: &str, gauges: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP ml_audit_build_info Version and storage backend of this server.");
        let _ = writeln!(out, "# TYPE ml_audit_build_info gauge");
        let _ =
            writeln!(out, "ml_audit_build_info{{version=\"{}\",backend=\"{backend}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP ml_audit_events_total Submitted prediction events by outcome.");
        let _ = writeln!(out, "# TYPE ml_audit_events_total counter");
        for (outcome, counter) in [
            ("created", &self.created),
            ("replayed", &self.replayed),
            ("conflict", &self.conflicts),
            ("rejected", &self.rejected),
        ] {
            let _ = writeln!(out, "ml_audit_events_total{{outcome=\"{outcome}\"}} {}", counter.load(Relaxed));
        }
        for (name, help, counter) in [
            ("ml_audit_explanations_total", "Explanation revisions attached.", &self.explanations),
            ("ml_audit_group_commits_total", "Transactions written by the group committer.", &self.commits),
            ("ml_audit_group_committed_events_total", "Events written by the group committer.", &self.committed_events),
            (
                "ml_audit_overloaded_total",
                "Write requests refused with 503 overloaded (too many in flight, or the writers' queue full).",
                &self.overloaded,
            ),
            ("ml_audit_access_entries_total", "Access log entries written.", &self.access_written),
            (
                "ml_audit_access_entries_dropped_total",
                "Access log entries dropped because the writer's backlog was full.",
                &self.access_dropped,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP ml_audit_write_errors_total Failed write transactions by kind.");
        let _ = writeln!(out, "# TYPE ml_audit_write_errors_total counter");
        for (kind, counter) in WriteErrorKind::ALL.iter().zip(&self.write_errors) {
            let _ = writeln!(out, "ml_audit_write_errors_total{{kind=\"{}\"}} {}", kind.label(), counter.load(Relaxed));
        }
        let checkpoint_age = gauges.checkpoint_age.map_or(f64::NAN, |age| age.as_secs_f64());
        for (name, help, value) in [
            ("ml_audit_ingest_requests", "Write requests being handled.", gauges.ingest_requests as f64),
            (
                "ml_audit_ingest_requests_limit",
                "Write requests handled at once before more are refused (adapts to their latency).",
                gauges.ingest_requests_limit as f64,
            ),
            ("ml_audit_ingest_queue_events", "Events waiting for a writer.", gauges.queue_depth as f64),
            (
                "ml_audit_ingest_queue_capacity_events",
                "Events that may wait before submissions are refused.",
                gauges.queue_capacity as f64,
            ),
            (
                "ml_audit_sealer_lag_seconds",
                "Seconds since the sealer last had nothing older left to seal.",
                gauges.sealer_lag.as_secs_f64(),
            ),
            (
                "ml_audit_last_checkpoint_age_seconds",
                "Seconds since the latest signed checkpoint (NaN: none yet).",
                checkpoint_age,
            ),
            ("ml_audit_ready", "1 when /readyz answers ready.", f64::from(u8::from(gauges.ready))),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}
