//! The storage interface of ml-audit, by capability: [`PredictionWriter`], [`PredictionReader`],
//! [`KeyStore`], [`LedgerStore`], [`InsightReader`] and [`StoreInfo`], all over the core's domain
//! types; [`Store`] is all of them. The SQL that implements them once for both backends is in
//! `ml-audit-sql`; the server holds an `Arc<dyn Store>`, hands each part of itself only the
//! capability it uses, and never sees SQL.
//!
//! Contract every backend keeps (and `tests` check on both):
//! - Predictions and explanations are append-only: no method updates or deletes them, and the
//!   schema refuses it with triggers.
//! - Every read takes a [`Visibility`] and applies it in its SQL: a tenant-bound caller can
//!   neither see nor attach to another tenant's prediction.
//! - [`PredictionWriter::record_predictions`] is one transaction; its result is returned only after commit.

use async_trait::async_trait;
use ml_audit_core::auth::{ApiKey, IssuedKey, KeyHash, Visibility};
use ml_audit_core::event::{NewExplanation, PreparedPrediction};
use ml_audit_core::ledger::record::{LeafKind, LedgerRecord, PredictionColumns, explanation_leaf_hash};
use ml_audit_core::model::{Decision, Explanation, ModelVersion, PredictionEvent, RequestingActor};
use ml_audit_core::query::{Page, PageRequest, PredictionFilter};
use ml_audit_core::redaction::{Action, Part, RedactionEntry};
use uuid::Uuid;

pub mod access;
pub mod insights;
pub mod known;
pub mod lifecycle;
pub mod outcomes;
pub mod stored_log;

pub use crate::access::AccessLogStore;
pub use crate::insights::{
    ActorPage, ActorPageRequest, ActorPosition, ActorSummary, HourlyCount, ModelVersionStats, RollupDelta,
    TenantSummary, TimeWindow,
};
pub use crate::lifecycle::{
    ErasurePlan, ErasureResult, LifecycleStore, PurgeSummary, StoredHold, StoredLifecycle, purge,
};
pub use crate::outcomes::{OutcomeStore, QualityWindow, Recorded};
pub use crate::stored_log::{
    Queued, QueuedRecord, StoredLeaf, StoredLeaves, StoredPending, StoredRows, referenced_rows,
};

/// How a recorded event went, per event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// A new prediction was stored.
    Created(PredictionEvent),
    /// The `prediction_id` was already stored with the same content: the stored one.
    Replayed(PredictionEvent),
    /// The `prediction_id` was already stored with different content; nothing was written.
    Conflict { prediction_id: String },
    /// The `prediction_id` belongs to an erased prediction, which a retry must not recreate;
    /// nothing was written.
    Erased { prediction_id: String },
}

impl RecordOutcome {
    /// What an event whose `prediction_id` is already stored with `stored_hash` becomes:
    /// `None` for a replay of the same content (answer with the stored prediction), else the
    /// refusal — the record was erased (its content hash blanked), or the content differs.
    pub fn refusal(stored_hash: &str, content_hash: &str, prediction_id: &str) -> Option<RecordOutcome> {
        let prediction_id = prediction_id.to_owned();
        if stored_hash == content_hash {
            None
        } else if stored_hash == ERASED_CONTENT_HASH {
            Some(RecordOutcome::Erased { prediction_id })
        } else {
            Some(RecordOutcome::Conflict { prediction_id })
        }
    }
}

/// The content hash an erasure leaves (a real one is 64 hex digits).
pub const ERASED_CONTENT_HASH: &str = "";

/// How a prediction is referred to in a URL: its `id`, else its external `prediction_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionRef(pub String);

impl PredictionRef {
    /// A UUID-shaped reference is tried as `id` first, then as `prediction_id` (which may be
    /// UUID-shaped too, when the server generated it).
    pub fn as_uuid(&self) -> Option<Uuid> {
        Uuid::try_parse(&self.0).ok()
    }
}

/// What kind of record a [`StorageError::NotFound`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Prediction,
    ModelVersion,
    ApiKey,
    Hold,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Prediction => "prediction",
            Entity::ModelVersion => "model version",
            Entity::ApiKey => "API key",
            Entity::Hold => "hold",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database failure's own error, kept for operators' logs (never shown to clients).
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a store, classified by the backend where it happened: callers match on the
/// kind, never on a message.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The referenced record does not exist or is not visible to the caller.
    #[error("{0} not found")]
    NotFound(Entity),
    /// The database cannot be reached or gave no connection in time; nothing was written.
    /// Retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] Source),
    /// The database has no room left (disk or quota full); nothing was written.
    #[error("the database is out of space: {0}")]
    Full(#[source] Source),
    /// A write collided with a stored record that a retry cannot resolve.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A legal hold covers a record the operation would erase; nothing was changed.
    #[error("the hold {0} covers records this would erase")]
    Held(Uuid),
    /// The prediction was erased: nothing more is recorded about it; nothing was changed.
    #[error("the prediction {0} was erased")]
    Erased(Uuid),
    /// What is stored is not what ml-audit wrote (a row changed or removed behind its back, a
    /// value that cannot be decoded): evidence may have been tampered with.
    #[error("integrity failure: {0}")]
    Integrity(String),
    /// Any other failure of the database.
    #[error("database error: {0}")]
    Database(#[source] Source),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The URL or settings cannot open a store.
    #[error("invalid database configuration: {0}")]
    Config(String),
}

impl StorageError {
    /// A failure of the database that fits no other kind.
    pub fn database(error: impl Into<Source>) -> Self {
        StorageError::Database(error.into())
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Every capability trait, for code that calls a store's methods on a concrete store or an
/// `Arc<dyn Store>` (`use ml_audit_storage::prelude::*`).
pub mod prelude {
    pub use crate::{
        AccessLogStore, InsightReader, KeyStore, LedgerStore, LifecycleStore, OutcomeStore, PredictionReader,
        PredictionWriter, Store, StoreInfo,
    };
}

/// Which store this is and what it needs around it.
#[async_trait]
pub trait StoreInfo: Send + Sync + 'static {
    /// Which backend this is (`sqlite`, `postgres`), for logs, health and metrics.
    fn backend(&self) -> &'static str;

    /// How many write groups the server should commit at once: more only help a backend whose
    /// transactions can run side by side.
    fn writer_tasks(&self) -> usize;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Brings the query planner's statistics up to date, after a bulk load: the list's filters
    /// are planned by them where the backend keeps any.
    async fn refresh_statistics(&self) -> Result<()>;
}

/// Writing predictions and their explanations.
#[async_trait]
pub trait PredictionWriter: Send + Sync + 'static {
    /// Stores a batch of events in one transaction, each with its own outcome. Models and
    /// actors are created on first use. Returns after commit, with every new record either
    /// sealed or queued for the sealer in that transaction.
    async fn record_predictions(&self, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>>;

    /// Adds an explanation revision to a visible prediction; it becomes the current one. An
    /// `explanation_id` already stored with the same content for that prediction answers
    /// [`Recorded::Replayed`] (nothing added), with other content `Conflict`.
    async fn attach_explanation(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        explanation: NewExplanation,
    ) -> Result<Recorded<Explanation>>;
}

/// Reading predictions, their explanations and the model versions.
#[async_trait]
pub trait PredictionReader: Send + Sync + 'static {
    async fn get_prediction(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<PredictionEvent>;

    /// Newest `timestamp` first, then `id`, strictly after the page's cursor.
    async fn list_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page: &PageRequest,
    ) -> Result<Page<PredictionEvent>>;

    /// Every visible prediction `filter` matches, newest first (the list's order, filters and
    /// visibility), sent to `pages` a page of at most `page_rows` at a time as it is read; an
    /// empty page when nothing matches. Returns once every page is sent, after sending the first
    /// error, or as soon as `pages` is closed (nobody reads on: the reads stop). The default reads
    /// the list's keyset pages ([`export_in_pages`]); a backend may read them faster its own way.
    async fn export_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page_rows: u32,
        pages: ExportSender,
    ) {
        export_in_pages(self, visibility, filter, page_rows, pages).await
    }

    /// Every explanation revision of a visible prediction, oldest first.
    async fn list_explanations(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Explanation>>;

    /// Model versions are shared metadata, visible to every reader.
    async fn list_models(&self) -> Result<Vec<ModelVersion>>;
    async fn get_model(&self, id: Uuid) -> Result<ModelVersion>;
}

/// Where [`PredictionReader::export_predictions`] sends its pages.
pub type ExportSender = tokio::sync::mpsc::Sender<Result<Vec<PredictionEvent>>>;

/// [`PredictionReader::export_predictions`] by the list's keyset pages.
pub async fn export_in_pages<R: PredictionReader + ?Sized>(
    reader: &R,
    visibility: &Visibility,
    filter: &PredictionFilter,
    page_rows: u32,
    pages: ExportSender,
) {
    let mut page = PageRequest { limit: page_rows.max(1), after: None };
    loop {
        let (items, next) = match reader.list_predictions(visibility, filter, &page).await {
            Ok(found) => (found.items, found.next_cursor),
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        if pages.send(Ok(items)).await.is_err() {
            return;
        }
        match next {
            Some(cursor) => page.after = Some(cursor),
            None => return,
        }
    }
}

/// API keys: the one mutable table (revocation). Keys are not tenant data, so no visibility
/// applies.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn create_api_key(&self, key: &IssuedKey) -> Result<()>;
    /// Creates `key` only when no key exists at all (first start); false when one did.
    async fn create_first_api_key(&self, key: &IssuedKey) -> Result<bool>;
    /// An active (not revoked) key by the hash of its secret.
    async fn find_active_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKey>>;
    /// A key by id, revoked or not (the UI's sessions name their key by id and check on every
    /// request that it is still active).
    async fn get_api_key(&self, id: Uuid) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>>;
    /// Revokes a key; false when no active key has that id.
    async fn revoke_api_key(&self, id: Uuid) -> Result<bool>;
}

/// The ledger. Backends compute each record's leaf ([`RecordLeaf`]) as they write it, and
/// either queue it for the sealer (PostgreSQL, whose concurrent writers would otherwise
/// serialise on the ledger's next seq) or append it in the same transaction (SQLite).
#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// Records written but not yet sealed, oldest first, at most `limit`: their queued leaf
    /// hashes, or for entries queued without one, their stored rows, which the sealer decodes and
    /// hashes one at a time.
    async fn ledger_pending(&self, limit: u32) -> Result<StoredPending>;
    /// Appends leaves in the given order after the current last one, in one transaction that
    /// also removes them from the pending queue. Leaves whose queue entry another sealer has
    /// already taken are skipped. Returns the entries written. Gap-free under concurrency.
    async fn ledger_append(&self, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>>;
    /// Number of leaves (the tree size).
    async fn ledger_size(&self) -> Result<u64>;
    /// Leaf hashes of `seq` in `[from, to)`, in order.
    async fn ledger_leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>>;
    /// Leaves of `seq` in `[from, to)` with the rows of the records they commit to, as stored
    /// now (a record is `None` when its row is missing), and the model versions and actors those
    /// records reference, read in one snapshot. For `verify`, which reads the whole log.
    async fn ledger_records(&self, from: u64, to: u64) -> Result<StoredLeaves>;
    /// Records that are neither sealed nor waiting to be: rows that did not come through
    /// ml-audit's write path. At most `limit` of them.
    async fn ledger_strays(&self, limit: u32) -> Result<Vec<(LeafKind, Uuid)>>;
    /// Stores a signed checkpoint; one per tree size (a second for the same size is ignored).
    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<()>;
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>>;
    /// Every erasure, hold and release stored, for `verify` (few rows: one per erasure batch
    /// or hold, however many records they name).
    async fn ledger_lifecycle(&self) -> Result<StoredLifecycle>;
    /// Every stored checkpoint, by tree size.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>>;
}

/// Read-only aggregations for the admin UI (types in [`insights`]). Each one that touches
/// predictions or actors takes the caller's [`Visibility`] and applies it in its SQL, like every
/// other read; each is served by an index and stays bounded (a time window, a page, or the small
/// number of model versions and tenants), so a page costs milliseconds at a million predictions.
#[async_trait]
pub trait InsightReader: Send + Sync + 'static {
    /// Per model version with visible predictions: count, outcome and status mix, confidence
    /// histogram. Model versions without visible predictions are absent.
    async fn model_version_stats(&self, visibility: &Visibility) -> Result<Vec<ModelVersionStats>>;
    /// Visible predictions per hour and model version whose `timestamp` is in `window`; hours
    /// without predictions are absent. Ordered by hour, then model version id.
    async fn hourly_counts(&self, visibility: &Visibility, window: &TimeWindow) -> Result<Vec<HourlyCount>>;
    /// Visible actors ordered by (`tenant_id`, `actor_type`, `actor_id`), strictly after `page.after`,
    /// with their prediction counts; `tenant_id` narrows to one tenant.
    async fn list_actors(
        &self,
        visibility: &Visibility,
        tenant_id: Option<&str>,
        page: &ActorPageRequest,
    ) -> Result<ActorPage>;
    /// Visible tenants (the `tenant_id` of predictions; `""` for predictions without one) with
    /// their prediction and actor counts, by tenant id.
    async fn list_tenants(&self, visibility: &Visibility) -> Result<Vec<TenantSummary>>;
}

/// Every capability at once: what a backend implements and what `serve` opens. Code that needs
/// only one capability takes that trait (an `Arc<dyn Store>` upcasts to any of them).
pub trait Store:
    StoreInfo
    + PredictionWriter
    + PredictionReader
    + KeyStore
    + LedgerStore
    + InsightReader
    + LifecycleStore
    + OutcomeStore
    + AccessLogStore
{
}

impl<T> Store for T where
    T: StoreInfo
        + PredictionWriter
        + PredictionReader
        + KeyStore
        + LedgerStore
        + InsightReader
        + LifecycleStore
        + OutcomeStore
        + AccessLogStore
{
}

/// A record's ledger leaf, computed by the store from the record as it writes it. PostgreSQL
/// queues it in that transaction for the sealer; SQLite, which has one writer, appends it to the
/// ledger in that same transaction. Either way nothing reads the record back to hash it; `verify`
/// recomputes every leaf from the stored rows, so a record not kept exactly as hashed is caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLeaf {
    pub kind: LeafKind,
    pub record_id: Uuid,
    pub leaf_hash: [u8; 32],
}

impl RecordLeaf {
    /// A prediction's leaf, from the text of the JSON columns written for it (its values are
    /// not serialised a second time).
    pub fn prediction(event: &PredictionEvent, columns: &PredictionColumns) -> Self {
        Self { kind: LeafKind::Prediction, record_id: event.id, leaf_hash: columns.leaf_hash(event) }
    }

    /// An outcome's, a review's or an access entry's leaf.
    pub fn follow_up(record: &LedgerRecord) -> Self {
        Self { kind: record.kind(), record_id: record.record_id(), leaf_hash: record.leaf_hash() }
    }

    pub fn explanation(explanation: &Explanation) -> Self {
        Self { kind: LeafKind::Explanation, record_id: explanation.id, leaf_hash: explanation_leaf_hash(explanation) }
    }
}

/// A leaf to append: the queue entry it seals and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeaf {
    pub queue_id: i64,
    pub kind: LeafKind,
    pub record_id: Uuid,
    pub leaf_hash: [u8; 32],
}

/// A leaf as appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedLeaf {
    pub seq: u64,
    pub kind: LeafKind,
    pub record_id: Uuid,
    pub leaf_hash: [u8; 32],
}

/// Splits rows fetched with `LIMIT limit + 1`: the extra row only tells that a next page
/// exists, which starts after the last row kept (`key` of that row).
pub fn split_page<T, K>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    if rows.len() <= limit as usize {
        return (rows, None);
    }
    rows.truncate(limit as usize);
    let next = rows.last().map(key);
    (rows, next)
}

/// Numbers, from `next` and in the given order, the leaves whose queue entries this sealer
/// claimed (deleted); a leaf whose entry another sealer took, or one listed twice, is skipped.
pub fn number_claimed_leaves(
    leaves: Vec<NewLeaf>,
    mut claimed: std::collections::HashSet<(i64, Uuid)>,
    next: u64,
) -> Vec<SealedLeaf> {
    let claimed = leaves.into_iter().filter(|leaf| claimed.remove(&(leaf.queue_id, leaf.record_id)));
    number_leaves(
        claimed.map(|leaf| RecordLeaf { kind: leaf.kind, record_id: leaf.record_id, leaf_hash: leaf.leaf_hash }),
        next,
    )
}

/// Numbers leaves from `next`, in the given order.
pub fn number_leaves(leaves: impl IntoIterator<Item = RecordLeaf>, next: u64) -> Vec<SealedLeaf> {
    leaves
        .into_iter()
        .zip(next..)
        .map(|(leaf, seq)| SealedLeaf { seq, kind: leaf.kind, record_id: leaf.record_id, leaf_hash: leaf.leaf_hash })
        .collect()
}

/// A signed checkpoint and the tree state (compact range) it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    /// The signed note, exactly as signed.
    pub note: String,
    /// The serialised compact range at `tree_size`, so a sealer can resume without re-reading
    /// the log. Not trusted by `verify`, which recomputes everything.
    pub frontier: Vec<u8>,
    pub created_at: time::OffsetDateTime,
}

/// The stored form of a freshly recorded event, built from what was written rather than read
/// back (saves a query per event). `actor` is the id and creation time of the actor row.
pub fn recorded_event(
    prepared: PreparedPrediction,
    model: ModelVersion,
    actor: Option<(Uuid, time::OffsetDateTime)>,
) -> PredictionEvent {
    let explanation = prepared.explanation.map(|new| stored_explanation(new, prepared.id, 1, prepared.created_at));
    let tenant_id = prepared.actor.as_ref().map(|actor| actor.tenant_id.clone()).unwrap_or_default();
    let decision = Decision::unreviewed(&prepared.decision_outcome);
    let actor = prepared.actor.zip(actor).map(|(new, (id, created_at))| RequestingActor {
        id,
        actor_type: new.actor_type,
        actor_id: new.actor_id,
        tenant_id: new.tenant_id,
        ip_address: new.ip_address,
        user_agent: new.user_agent,
        auth_context: new.auth_context,
        created_at,
    });
    PredictionEvent {
        id: prepared.id,
        prediction_id: prepared.prediction_id,
        timestamp: prepared.timestamp,
        trace_id: prepared.trace_id,
        environment: prepared.environment,
        model,
        actor,
        tenant_id,
        features: prepared.features,
        redactions: prepared.redactions,
        input_fingerprint: prepared.input_fingerprint,
        output: prepared.output,
        confidence: prepared.confidence,
        decision_outcome: prepared.decision_outcome,
        status: prepared.status,
        latency_ms: prepared.latency_ms,
        metadata: prepared.metadata,
        metadata_redactions: prepared.metadata_redactions,
        redaction_log: prepared.redaction_log,
        explanation,
        ledger: None,
        created_at: prepared.created_at,
        salt: Some(prepared.salt),
        erased: None,
        outcome: None,
        reviews: Vec::new(),
        decision,
    }
}

/// An explanation revision as stored.
pub fn stored_explanation(
    new: NewExplanation,
    prediction: Uuid,
    revision: u32,
    created_at: time::OffsetDateTime,
) -> Explanation {
    Explanation {
        id: new.id,
        explanation_id: new.explanation_id,
        prediction_ref: prediction,
        method: new.method,
        method_version: new.method_version,
        payload: new.payload,
        summary_text: new.summary_text,
        status: new.status,
        generated_at: new.generated_at,
        created_at,
        revision,
        salt: Some(new.salt),
    }
}

/// Decodes a JSON column; a failure means the row was written by something other than
/// ml-audit.
pub fn decode_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StorageError::Integrity(format!("column {column} holds invalid JSON: {e}")))
}

/// Decodes the `redaction_log` column: the JSON list that [`RedactionEntry::to_json`] wrote, read
/// straight into entries (every listed and exported prediction decodes one: no `Value` maps).
pub fn decode_redaction_log(text: &str) -> Result<Vec<RedactionEntry>> {
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        part: std::borrow::Cow<'a, str>,
        path: String,
        rule: String,
        #[serde(borrow)]
        action: std::borrow::Cow<'a, str>,
        keep_last: Option<u64>,
    }
    let entries: Vec<Stored<'_>> = serde_json::from_str(text)
        .map_err(|e| StorageError::Integrity(format!("column redaction_log holds invalid JSON: {e}")))?;
    entries
        .into_iter()
        .map(|entry| {
            let keep_last = entry.keep_last.and_then(|n| usize::try_from(n).ok());
            let unknown = |what: &str, name: &str| {
                StorageError::Integrity(format!("column redaction_log holds an entry with an unknown {what} {name:?}"))
            };
            Ok(RedactionEntry {
                part: Part::parse(&entry.part).map_err(|_| unknown("part", &entry.part))?,
                path: entry.path,
                rule: std::borrow::Cow::Owned(entry.rule),
                action: Action::parse(&entry.action, keep_last).map_err(|_| unknown("action", &entry.action))?,
            })
        })
        .collect()
}

/// Encodes a redaction log for the `redaction_log` column: the text `serde_json` writes for the
/// list of [`RedactionEntry::to_json`] values, written without building those maps (a test holds
/// the two equal; stored rows are hashed into leaves as this text).
pub fn encode_redaction_log(log: &[RedactionEntry]) -> String {
    /// One entry's members in the byte order of their names, as a `serde_json::Map` has them.
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        action: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        keep_last: Option<usize>,
        part: &'a str,
        path: &'a str,
        rule: &'a str,
    }
    let entries = log.iter().map(|entry| Entry {
        action: entry.action.as_str(),
        keep_last: match entry.action {
            Action::Partial { keep_last } => Some(keep_last),
            _ => None,
        },
        part: entry.part.as_str(),
        path: &entry.path,
        rule: &entry.rule,
    });
    let mut out = Vec::with_capacity(2 + 80 * log.len());
    serde::Serializer::collect_seq(&mut serde_json::Serializer::new(&mut out), entries)
        .expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The released migrations whose checksum (sqlx's, SHA-384 of the file) is no longer the one
/// released, or that are gone: a database that applied a migration refuses to start when its
/// file changed. For each backend's test that pins its released migrations.
pub fn edited_migrations<'a>(found: impl IntoIterator<Item = (i64, &'a [u8])>, released: &[(i64, &str)]) -> Vec<i64> {
    let found: std::collections::HashMap<i64, String> = found
        .into_iter()
        .map(|(version, checksum)| (version, checksum.iter().map(|byte| format!("{byte:02x}")).collect()))
        .collect();
    released
        .iter()
        .filter(|(version, checksum)| found.get(version).map(String::as_str) != Some(*checksum))
        .map(|(version, _)| *version)
        .collect()
}

/// Decodes a stored ledger `seq` or tree size (a signed 64-bit column in both databases).
pub fn decode_seq(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StorageError::Integrity(format!("negative ledger seq {value}")))
}

/// A `seq` or tree size as a signed 64-bit column; beyond `i64::MAX` (never stored) it
/// saturates, which keeps a range bound meaning "to the end".
pub fn encode_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Decodes a stored SHA-256 hash.
pub fn decode_hash(bytes: Vec<u8>) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StorageError::Integrity(format!("a stored hash has {} bytes, not 32", bytes.len())))
}

/// Decodes one of the core's text enums stored in a column.
pub fn decode_enum<T>(column: &str, text: &str, parse: fn(&str) -> Result<T, String>) -> Result<T> {
    parse(text).map_err(|e| StorageError::Integrity(format!("column {column} holds {text:?}, which {e}")))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn the_redaction_log_text_is_serde_jsons_for_the_entries_values() {
        let entry = |part, path: &str, rule: &'static str, action| RedactionEntry {
            part,
            path: path.to_owned(),
            rule: Cow::Borrowed(rule),
            action,
        };
        let log = [
            entry(Part::Features, "$.email", "key:email", Action::Mask),
            entry(Part::Metadata, "$[\"a\\\"b\"][0]", "rule:ü.*\u{1}", Action::Partial { keep_last: 4 }),
            entry(Part::Output, "$.x", "detector:email", Action::Hash),
            entry(Part::UserAgent, "$", "denylist:ssn", Action::Drop),
        ];
        for log in [&log[..], &log[..1], &[]] {
            let values = serde_json::Value::Array(log.iter().map(RedactionEntry::to_json).collect());
            assert_eq!(encode_redaction_log(log), values.to_string());
            assert_eq!(decode_redaction_log(&encode_redaction_log(log)).unwrap(), log);
        }
    }
}
