//! Counters served at `/metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    created: AtomicU64,
    replayed: AtomicU64,
    conflicts: AtomicU64,
    rejected: AtomicU64,
    explanations: AtomicU64,
    commits: AtomicU64,
    committed_events: AtomicU64,
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

    pub fn render(&self, backend: &str) -> String {
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
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.load(Relaxed));
        }
        out
    }
}
