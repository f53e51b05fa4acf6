//! The access log's writer: handlers hand entries over and answer at once; a background task
//! writes whatever has gathered as one group (one transaction, one ledger seal for all), so a
//! read costs a channel send, not a commit (reads must stay within 10% of their latency without
//! the log; `BENCHMARKS.md`).
//!
//! The price: entries of the last few tens of milliseconds before a crash can be lost (never those of
//! a clean shutdown, which [`AccessLog::flush`]es). When the database refuses a group, the
//! writer keeps it and retries with a growing pause; entries beyond [`MAX_WAITING`] are dropped
//! and counted (`ml_audit_access_entries_dropped_total`), never allowed to grow memory without
//! bound.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ml_audit_core::access::{AccessAction, AccessEntry, Channel, Reader};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_storage::AccessLogStore;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::metrics::Metrics;

/// Entries waiting for the writer, at most; more are dropped and counted.
pub const MAX_WAITING: usize = 100_000;
/// The most entries written in one transaction.
const GROUP: usize = 2_000;
/// How long the writer gathers entries after the first before it writes them.
const GATHER: Duration = Duration::from_millis(20);

enum Message {
    Entry(Box<AccessEntry>),
    /// Answered once every entry sent before it is written (or given up on).
    Flush(oneshot::Sender<()>),
}

/// The handle handlers record through; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    /// `None` when the log is switched off (`access_log.enabled = false`).
    sender: Option<mpsc::Sender<Message>>,
    metrics: Arc<Metrics>,
}

impl AccessLog {
    /// Starts the writer task (inside a tokio runtime), unless the log is switched off.
    pub fn start(store: Arc<dyn AccessLogStore>, metrics: Arc<Metrics>, enabled: bool) -> Self {
        if !enabled {
            tracing::warn!("the access log is switched off: reads of predictions are not recorded");
            return Self { sender: None, metrics };
        }
        let (sender, receiver) = mpsc::channel(MAX_WAITING);
        tokio::spawn(write_groups(store, receiver, metrics.clone()));
        Self { sender: Some(sender), metrics }
    }

    /// Hands `entry` to the writer (split to bounded entries), without waiting for it.
    pub fn record(&self, entry: AccessEntry) {
        let Some(sender) = &self.sender else { return };
        for part in entry.split() {
            if sender.try_send(Message::Entry(Box::new(part))).is_err() {
                self.metrics.access_dropped();
            }
        }
    }

    /// Waits until everything recorded so far is written (shutdown, tests).
    pub async fn flush(&self) {
        let Some(sender) = &self.sender else { return };
        let (done, written) = oneshot::channel();
        if sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_groups(store: Arc<dyn AccessLogStore>, mut receiver: mpsc::Receiver<Message>, metrics: Arc<Metrics>) {
    let mut group = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = receiver.recv().await {
        take(first, &mut group, &mut flushes);
        // Gather for a moment: one reader paging alone would otherwise cost a commit per page,
        // a commit whose flush competes with the reads for the disk and the cores.
        let deadline = tokio::time::Instant::now() + GATHER;
        while group.len() < GROUP && flushes.is_empty() {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(next)) => take(next, &mut group, &mut flushes),
                Ok(None) | Err(_) => break,
            }
        }
        let mut pause = Duration::from_millis(50);
        while !group.is_empty() {
            match store.record_access(&group).await {
                Ok(()) => {
                    metrics.access_written(group.len());
                    group.clear();
                }
                Err(error) => {
                    // Logged once per retry round, with the count: never the entries themselves.
                    tracing::warn!(%error, entries = group.len(), "could not write access entries; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    // While waiting, later entries keep arriving: the channel's bound is the
                    // backlog's bound.
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

fn take(message: Message, group: &mut Vec<AccessEntry>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Entry(entry) => group.push(*entry),
        Message::Flush(done) => flushes.push(done),
    }
}

/// Who is asking and how: the part of an access entry known before the handler runs
/// (`Authorized` and the UI's `Session` build it from the request).
#[derive(Debug, Clone)]
pub struct AccessContext {
    pub reader: Reader,
    pub channel: Channel,
    /// The method and the route as routed (`GET /api/v1/predictions/{reference}`).
    pub route: String,
    /// The query as sent, with a `subject` by its pseudonym token.
    pub filters: BTreeMap<String, String>,
}

impl AccessContext {
    /// `pairs`, with the value of `subject` replaced by its pseudonym token (or withheld when no
    /// hash key is set): a raw subject never reaches the log.
    pub fn filters(
        policy: &RedactionPolicy,
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        pairs
            .into_iter()
            .map(|(name, value)| {
                let value = if name == "subject" {
                    policy.subject_token(&value).unwrap_or_else(|| "[withheld]".to_owned())
                } else {
                    value
                };
                (name, value)
            })
            .collect()
    }

    /// The entry of an action on `predictions`.
    pub fn entry(&self, action: AccessAction, predictions: Vec<Uuid>) -> AccessEntry {
        AccessEntry::new(self.reader.clone(), self.channel, action, self.route.clone())
            .with_filters(self.filters.clone())
            .with_predictions(predictions)
    }
}
