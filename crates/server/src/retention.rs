//! The hourly purge: `serve` erases the records past their retention (`[retention]`), in
//! bounded batches, each batch one erasure leaf with the reason `retention`. With several
//! replicas each runs it; the erasure's transaction takes the ledger's lock (PostgreSQL) or
//! the one writer (SQLite), and a record already erased is not selected again.

use std::sync::Arc;
use std::time::Duration;

use ml_audit_core::lifecycle::RetentionPolicy;
use ml_audit_core::timestamp;
use ml_audit_storage::{LifecycleStore, purge};

/// When and how much `serve` purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSchedule {
    pub policy: RetentionPolicy,
    /// Time between purges (the first runs a minute after start).
    pub interval: Duration,
    /// Most predictions one erasure takes.
    pub batch: u32,
}

impl Default for RetentionSchedule {
    fn default() -> Self {
        Self { policy: RetentionPolicy::default(), interval: Duration::from_secs(3600), batch: 1000 }
    }
}

/// Starts the purge task, unless the policy keeps everything forever.
pub fn spawn(store: Arc<dyn LifecycleStore>, schedule: RetentionSchedule) {
    if schedule.policy.is_forever() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + schedule.interval.min(Duration::from_secs(60)),
            schedule.interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match purge(store.as_ref(), &schedule.policy, timestamp::now(), schedule.batch, false).await {
                Ok(done) if done.erasures > 0 => tracing::info!(
                    predictions = done.counts.predictions,
                    explanations = done.counts.explanations,
                    erasures = done.erasures,
                    "purged records past their retention"
                ),
                Ok(_) => {}
                // Retried at the next tick; nothing half-erased (each batch is one transaction).
                Err(error) => tracing::error!(%error, "the retention purge failed"),
            }
        }
    });
}
