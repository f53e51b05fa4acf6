//! Group commit: concurrent requests are gathered into one transaction.
//!
//! A commit costs a disk flush whatever its size, so under load many requests share one flush
//! instead of queueing for their own. A batch request hands over its valid events together.
//! Events are answered only after the transaction that holds them has committed, so an
//! acknowledged event is durable.
//!
//! The queue in front of the writers is bounded in events (a batch carries up to 1,000): a
//! submission that finds it full is refused at once (503 `overloaded`, `Retry-After`). With the
//! bound on write requests in flight (`admission.rs`), a request either waits a bounded time or
//! is told at once to come back, instead of every request waiting longer the harder the server
//! is pushed, as Envoy and Kafka shed load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ml_audit_core::event::PreparedPrediction;
use ml_audit_storage::{PredictionWriter, RecordOutcome};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Most events in one group; bounds the transaction and the latency of its first event.
const MAX_GROUP: usize = 512;
/// Events that may wait for a writer before new submissions are refused, by default: ten full
/// batches. Single events' latency is bounded by admission (few requests in flight), so this
/// bound is for batches: it keeps memory and a batch's wait bounded (a fraction of a second of
/// writing) while a few clients uploading batches back to back are never refused (256 refused
/// the benchmark's four). A submission is let in while the queue holds fewer, so a batch larger
/// than the bound still gets in when the queue is short.
pub const DEFAULT_QUEUE_EVENTS: usize = 10_000;

type Outcomes = Result<Vec<RecordOutcome>, ApiError>;

/// Events handed to the writers together, answered together once committed.
struct Submission {
    events: Vec<PreparedPrediction>,
    reply: oneshot::Sender<Outcomes>,
}

/// The answer to a submission: its events' outcomes, in order, once their transaction commits.
pub struct Committed(oneshot::Receiver<Outcomes>);

impl Committed {
    pub async fn outcomes(self) -> Outcomes {
        self.0.await.map_err(|_| ApiError::Internal("the writer stopped before answering".into()))?
    }
}

#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::UnboundedSender<Submission>,
    /// Events handed over and not yet taken by a writer: the bound's measure, and a metric.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl GroupCommitter {
    /// Starts `writers` tasks, each committing one group at a time: the store says how many
    /// (two for SQLite, which has one writer but prepares a group's rows before taking it, so one
    /// group is prepared while the other is written; a few for PostgreSQL, so that one group
    /// commits while the next is written). At most about `capacity` events wait for them.
    pub fn start(store: Arc<dyn PredictionWriter>, writers: usize, capacity: usize, metrics: Arc<Metrics>) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        for _ in 0..writers {
            tokio::spawn(write_groups(store.clone(), receiver.clone(), queued.clone(), metrics.clone()));
        }
        Self { queue, queued, capacity: capacity.max(1), metrics }
    }

    /// Events waiting for a writer now, and the bound.
    pub fn depth(&self) -> (usize, usize) {
        (self.queued.load(Ordering::Relaxed), self.capacity)
    }

    /// Records one event and waits for its transaction to commit.
    pub async fn record(&self, event: PreparedPrediction) -> Result<RecordOutcome, ApiError> {
        let outcomes = self.submit(vec![event]).await?.outcomes().await?;
        outcomes.into_iter().next().ok_or_else(|| ApiError::Internal("the writer answered nothing".into()))
    }

    /// Hands events to the writers without waiting for them to be stored; refuses them at once
    /// when the queue is full.
    pub async fn submit(&self, events: Vec<PreparedPrediction>) -> Result<Committed, ApiError> {
        let count = events.len();
        let before = self.queued.fetch_add(count, Ordering::Relaxed);
        if before >= self.capacity {
            self.queued.fetch_sub(count, Ordering::Relaxed);
            self.metrics.record_overloaded();
            return Err(ApiError::Overloaded);
        }
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Submission { events, reply }).is_err() {
            self.queued.fetch_sub(count, Ordering::Relaxed);
            return Err(ApiError::Unavailable);
        }
        Ok(Committed(answer))
    }
}

async fn write_groups(
    store: Arc<dyn PredictionWriter>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Submission>>>,
    queued: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
) {
    loop {
        let group = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return; // every sender is gone: the server is shutting down
            };
            let mut size = first.events.len();
            let mut group = vec![first];
            while size < MAX_GROUP {
                let Ok(next) = receiver.try_recv() else { break };
                size += next.events.len();
                group.push(next);
            }
            queued.fetch_sub(size, Ordering::Relaxed);
            group
        };
        let mut events = Vec::with_capacity(group.iter().map(|s| s.events.len()).sum());
        let mut replies = Vec::with_capacity(group.len());
        for submission in group {
            replies.push((submission.events.len(), submission.reply));
            events.extend(submission.events);
        }
        metrics.record_commit(events.len());
        let written = store.record_predictions(events).await;
        metrics.record_write(&written);
        match written {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (count, reply) in replies {
                    let _ = reply.send(Ok(outcomes.by_ref().take(count).collect()));
                }
            }
            Err(error) => {
                // Every request of the group gets the same answer; the error is logged once.
                let answer = ApiError::from(error);
                for (_, reply) in replies {
                    let _ = reply.send(Err(answer.clone()));
                }
            }
        }
    }
}
