//! `/readyz`: can this server take a write now? Each check says why not, in words an operator
//! acts on, and never with a value from a record.

use std::time::{Duration, Instant};

use ml_audit_storage::StorageError;

use crate::state::AppState;
use crate::wire::{CheckOut, ReadinessOut};

/// How long the database may take to answer the readiness query.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long after a write failed for lack of space the server says it is full, unless a write
/// has succeeded since. It then says ready again, so that a balancer that stopped sending
/// writes sends one, and that write finds out: a probe cannot see a PostgreSQL volume.
const STORAGE_FULL_HOLD: Duration = Duration::from_secs(5);

/// The answer of `/readyz`, and `ml_audit_ready` in `/metrics`.
pub async fn check(state: &AppState) -> ReadinessOut {
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, state.ledger.ledger_size()).await {
        Ok(Ok(_)) => CheckOut::ok("reachable".into()),
        Ok(Err(StorageError::Unavailable(_))) => CheckOut::failed("the database is unreachable".into()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the readiness query failed");
            CheckOut::failed("the database answered the readiness query with an error (see the log)".into())
        }
        Err(_) => CheckOut::failed(format!("the database did not answer within {DATABASE_TIMEOUT:?}")),
    };
    let storage = match state.metrics.storage_full_since(Instant::now(), STORAGE_FULL_HOLD) {
        None => CheckOut::ok("the last write found space".into()),
        Some(ago) => CheckOut::failed(format!(
            "a write failed for lack of space {:.1} s ago and none has succeeded since",
            ago.as_secs_f64()
        )),
    };
    let lag = state.sealer.lag();
    let sealer = if lag <= state.resilience.max_sealer_lag {
        CheckOut::ok(format!("{:.1} s behind", lag.as_secs_f64()))
    } else {
        CheckOut::failed(format!(
            "{:.1} s behind, more than the bound of {} s",
            lag.as_secs_f64(),
            state.resilience.max_sealer_lag.as_secs()
        ))
    };
    let (depth, capacity) = state.committer.depth();
    // Informational: a full queue refuses writes for milliseconds, too briefly to take the
    // server out of a balancer.
    let queue = CheckOut::ok(format!("{depth} of {capacity} events waiting"));
    ReadinessOut::new(database, storage, sealer, queue)
}
