//! Group commit: concurrent single-event requests are gathered into one transaction.
//!
//! A commit costs a disk flush whatever its size, so under load many requests share one flush
//! instead of queueing for their own. A request is answered only after the transaction that
//! holds its event has committed, so an acknowledged event is durable.

use std::sync::Arc;

use ml_audit_core::event::PreparedPrediction;
use ml_audit_storage::{RecordOutcome, StorageError, Store};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Most events in one group; bounds the transaction and the latency of its first event.
const MAX_GROUP: usize = 512;
/// Requests waiting for a writer before new ones wait for room (backpressure, not loss).
const QUEUE_DEPTH: usize = 4096;

type Reply = oneshot::Sender<Result<RecordOutcome, ApiError>>;

#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::Sender<(PreparedPrediction, Reply)>,
}

impl GroupCommitter {
    /// Starts the writer tasks: one for SQLite (it has one writer anyway), a few for
    /// PostgreSQL so that one group commits while the next is being written.
    pub fn start(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        let writers = if store.backend() == "sqlite" { 1 } else { 4 };
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers {
            tokio::spawn(write_groups(store.clone(), receiver.clone(), metrics.clone()));
        }
        Self { queue }
    }

    /// Records one event and waits for its transaction to commit.
    pub async fn record(&self, event: PreparedPrediction) -> Result<RecordOutcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((event, reply)).await.map_err(|_| ApiError::Unavailable)?;
        answer.await.map_err(|_| ApiError::Internal("the writer stopped before answering".into()))?
    }
}

async fn write_groups(
    store: Arc<dyn Store>,
    receiver: Arc<Mutex<mpsc::Receiver<(PreparedPrediction, Reply)>>>,
    metrics: Arc<Metrics>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut group, MAX_GROUP).await == 0 {
                return; // every sender is gone: the server is shutting down
            }
        }
        let (events, replies): (Vec<_>, Vec<_>) = group.drain(..).unzip();
        metrics.record_commit(events.len());
        match store.record_predictions(events).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(ApiError::from(StorageError::Database(message.clone()))));
                }
            }
        }
    }
}
