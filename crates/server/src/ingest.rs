//! Group commit: concurrent requests are gathered into one transaction.
//!
//! A commit costs a disk flush whatever its size, so under load many requests share one flush
//! instead of queueing for their own. A batch request hands over its valid events together.
//! Events are answered only after the transaction that holds them has committed, so an
//! acknowledged event is durable.

use std::sync::Arc;

use ml_audit_core::event::PreparedPrediction;
use ml_audit_storage::{PredictionWriter, RecordOutcome};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Most events in one group; bounds the transaction and the latency of its first event.
const MAX_GROUP: usize = 512;
/// Submissions waiting for a writer before new ones wait for room (backpressure, not loss).
const QUEUE_DEPTH: usize = 4096;

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
    queue: mpsc::Sender<Submission>,
}

impl GroupCommitter {
    /// Starts the writer tasks: two for SQLite (it has one writer, but a store makes a group's
    /// rows ready before taking it, so one group is prepared while the other is written), a
    /// few for PostgreSQL so that one group commits while the next is being written.
    /// Starts `writers` tasks, each committing one group at a time.
    pub fn start(store: Arc<dyn PredictionWriter>, writers: usize, metrics: Arc<Metrics>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers {
            tokio::spawn(write_groups(store.clone(), receiver.clone(), metrics.clone()));
        }
        Self { queue }
    }

    /// Records one event and waits for its transaction to commit.
    pub async fn record(&self, event: PreparedPrediction) -> Result<RecordOutcome, ApiError> {
        let outcomes = self.submit(vec![event]).await?.outcomes().await?;
        outcomes.into_iter().next().ok_or_else(|| ApiError::Internal("the writer answered nothing".into()))
    }

    /// Hands events to the writers without waiting for them to be stored.
    pub async fn submit(&self, events: Vec<PreparedPrediction>) -> Result<Committed, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Submission { events, reply }).await.map_err(|_| ApiError::Unavailable)?;
        Ok(Committed(answer))
    }
}

async fn write_groups(
    store: Arc<dyn PredictionWriter>,
    receiver: Arc<Mutex<mpsc::Receiver<Submission>>>,
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
            group
        };
        let mut events = Vec::with_capacity(group.iter().map(|s| s.events.len()).sum());
        let mut replies = Vec::with_capacity(group.len());
        for submission in group {
            replies.push((submission.events.len(), submission.reply));
            events.extend(submission.events);
        }
        metrics.record_commit(events.len());
        match store.record_predictions(events).await {
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
