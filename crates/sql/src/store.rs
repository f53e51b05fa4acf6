//! [`SqlStore`]: the one implementation of every storage capability over a SQL backend. Reads,
//! keys, checkpoints and insights are written here once; what truly differs per backend (how it
//! connects and migrates, its write path, how it appends to the ledger and reads it in one
//! snapshot) comes from its [`Backend`].

use std::sync::Arc;

use async_trait::async_trait;
use ml_audit_core::auth::{ApiKey, IssuedKey, KeyHash, Visibility};
use ml_audit_core::event::{NewExplanation, PreparedPrediction};
use ml_audit_core::ledger::canonical::column_text;
use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::model::{Explanation, ModelVersion, PredictionEvent};
use ml_audit_core::query::{Cursor, Page, PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_storage::known::KnownRows;
use ml_audit_storage::{
    ActorPage, ActorPageRequest, Entity, ExportSender, HourlyCount, InsightReader, KeyStore, LedgerStore,
    ModelVersionStats, NewLeaf, PredictionReader, PredictionRef, PredictionWriter, RecordLeaf, RecordOutcome, Recorded,
    Result, SealedLeaf, StorageError, StoreInfo, StoredCheckpoint, StoredLeaves, StoredLifecycle, StoredPending,
    TenantSummary, TimeWindow, decode_enum, decode_hash, decode_seq, encode_seq, split_page, stored_explanation,
};
use sqlx::{Pool, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::dialect::{Conn, Dialect, collect};
use crate::predictions::NamedRows;
use crate::row::{self, CHECKPOINT_COLUMNS, Columns, EXPLANATION_COLUMNS, KEY_COLUMNS, MODEL_COLUMNS, SqlRow};
use crate::rows::Rows;
use crate::{insights, ledger, outcomes, predictions};

/// A store over one SQL database: the pool reads go through, the pool writes go through (the
/// same pool on PostgreSQL; SQLite's single writer connection), the cache of committed model and
/// actor rows both write paths consult, and the backend's own state.
pub struct SqlStore<B: Backend> {
    pub reader: Pool<B::Db>,
    pub writer: Pool<B::Db>,
    /// Model and actor rows already committed (saves two or three queries per event).
    pub known: Arc<KnownRows>,
    pub backend: B,
}

impl<B: Backend> SqlStore<B> {
    /// Opens the database at `url` (see each backend for the URLs it takes).
    pub async fn open(url: &str) -> Result<Self> {
        B::open(url).await
    }
}

/// What one backend does its own way. The methods take the whole store, whose pools and cache
/// they use.
#[async_trait]
pub trait Backend: Dialect {
    /// The backend's name, for logs, health and metrics (`sqlite`, `postgres`).
    const NAME: &'static str;
    /// How many write groups the server commits at once (see [`StoreInfo::writer_tasks`]).
    const WRITER_TASKS: usize;

    /// The statement that refreshes the planner's statistics (`None`: the backend plans the
    /// list's queries by their shape alone).
    const REFRESH_STATISTICS: Option<&'static str>;

    async fn open(url: &str) -> Result<SqlStore<Self>>;
    async fn migrate(store: &SqlStore<Self>) -> Result<()>;

    /// Appended to the query that finds the prediction an explanation is attached to: concurrent
    /// attaches to one prediction then number their revisions one after the other.
    const LOCK_PREDICTION: &'static str;
    /// Ends a query that reads predictions (`p`) joined to other tables, locking only the
    /// predictions' rows: concurrent outcomes and reviews of one prediction then apply one after
    /// the other.
    const LOCK_PREDICTION_ROWS: &'static str;
    /// Run first in the transaction that creates the first API key, so that two first starts
    /// cannot both find no key and insert one.
    const LOCK_KEYS: Option<&'static str>;

    /// A transaction for writing (see each backend for its isolation and locking).
    async fn begin_write(store: &SqlStore<Self>) -> Result<Transaction<'static, Self::Db>>;
    async fn record_predictions(store: &SqlStore<Self>, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>>;
    /// Seals records written in this transaction (SQLite: appends their leaves) or queues their
    /// leaves for the sealer (PostgreSQL).
    async fn seal_records(conn: &mut Conn<Self>, leaves: Vec<RecordLeaf>) -> Result<()>;

    /// A read-only transaction whose reads all see one snapshot.
    async fn begin_snapshot(store: &SqlStore<Self>) -> Result<Transaction<'static, Self::Db>>;
    async fn ledger_append(store: &SqlStore<Self>, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>>;

    /// A write transaction that may append leaves itself ([`Self::append_leaves`]), with every
    /// committed record sealed first, so that it sees each record's seq (see each backend).
    async fn begin_ledger_write(store: &SqlStore<Self>) -> Result<Transaction<'static, Self::Db>>;
    /// Appends leaves after the last one, in a transaction [`Self::begin_ledger_write`] opened.
    async fn append_leaves(conn: &mut Conn<Self>, leaves: Vec<RecordLeaf>) -> Result<Vec<SealedLeaf>>;
    /// The statements that empty what still holds erased values outside the tables (run
    /// outside a transaction, after every erasure).
    const RECLAIM_SPACE: &'static [&'static str];
    /// The statements that return the space of blanked records (see `LifecycleStore::compact`).
    const COMPACT: &'static [&'static str];

    /// The sealer's read of the queue, in one snapshot.
    async fn ledger_pending(store: &SqlStore<Self>, limit: u32) -> Result<StoredPending> {
        ledger::pending_in_snapshot(store, limit).await
    }

    /// The leaves and their records, read in one snapshot.
    async fn ledger_records(store: &SqlStore<Self>, from: u64, to: u64) -> Result<StoredLeaves> {
        ledger::records_in_snapshot(store, from, to).await
    }

    /// Run first in the snapshot an export reads its pages in ([`export_in_snapshot`]):
    /// settings for a long walk in index order that looks up a few rows by key for each.
    const EXPORT_SETUP: &'static [&'static str] = &[];

    /// An export's pages (see [`PredictionReader::export_predictions`]): the list's keyset
    /// pages, in one snapshot.
    async fn export_predictions(
        store: &SqlStore<Self>,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page_rows: u32,
        pages: ExportSender,
    ) {
        if let Err(error) = export_in_snapshot(store, visibility, filter, page_rows, &pages).await {
            let _ = pages.send(Err(error)).await;
        }
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) async fn all<T>(&self, query: QueryBuilder<B::Db>, map: fn(&B::Row<'_>) -> Result<T>) -> Result<Vec<T>> {
        let rows = B::fetch_all(&self.reader, query).await?;
        rows.iter().map(|row| map(&B::row(row))).collect()
    }

    async fn optional<T>(&self, query: QueryBuilder<B::Db>, map: fn(&B::Row<'_>) -> Result<T>) -> Result<Option<T>> {
        let row = B::fetch_optional(&self.reader, query).await?;
        row.as_ref().map(|row| map(&B::row(row))).transpose()
    }

    /// The query [`PredictionReader::list_predictions`] runs, after `start` (empty, or an
    /// `EXPLAIN` for the plan tests), once the model and actor names in `filter` are resolved;
    /// `None` when one names nothing that exists, or a tenant-bound caller asks for another
    /// tenant (which no query needs to tell: it sees none of its predictions).
    pub async fn list_query(
        &self,
        start: QueryBuilder<B::Db>,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page: &PageRequest,
    ) -> Result<Option<QueryBuilder<B::Db>>> {
        let named = self.named_rows(visibility, filter).await?;
        Ok(named.map(|named| predictions::list::<B>(start, visibility, filter, &named, page)))
    }

    /// The model and actor rows `filter` names, looked up for the list query
    /// ([`predictions::list`]); `None` when one names nothing that exists, or a tenant-bound
    /// caller asks for another tenant: nothing can match.
    pub async fn named_rows(&self, visibility: &Visibility, filter: &PredictionFilter) -> Result<Option<NamedRows>> {
        if let (Some(own), Some(asked)) = (visibility.tenant(), filter.tenant_id.as_deref())
            && own != asked
        {
            return Ok(None);
        }
        let models = self.ids(predictions::named_models::<B>(filter)).await?;
        // A model that does not exist matches nothing, whatever the actor: no second lookup.
        let actors = match &models {
            Some(ids) if ids.is_empty() => None,
            _ => self.ids(predictions::named_actors::<B>(filter)).await?,
        };
        let named = NamedRows { models, actors };
        Ok((!named.match_nothing()).then_some(named))
    }

    /// The ids a lookup finds (`None`: no lookup).
    async fn ids(&self, query: Option<QueryBuilder<B::Db>>) -> Result<Option<Vec<Uuid>>> {
        match query {
            Some(query) => Ok(Some(self.all(query, |row| Columns::new(row).uuid()).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn resolve(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Uuid> {
        let mut conn = self.reader.acquire().await.map_err(B::classify)?;
        predictions::resolve::<B>(&mut conn, visibility, prediction, "").await
    }

    /// `SELECT {columns} FROM {table} {rest}`: `rest` may end where a value is bound next.
    fn select(columns: &str, table: &str, rest: &str) -> QueryBuilder<B::Db> {
        QueryBuilder::new(format!("SELECT {columns} FROM {table} {rest}"))
    }
}

#[async_trait]
impl<B: Backend> StoreInfo for SqlStore<B> {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    fn writer_tasks(&self) -> usize {
        B::WRITER_TASKS
    }

    async fn migrate(&self) -> Result<()> {
        B::migrate(self).await
    }

    async fn refresh_statistics(&self) -> Result<()> {
        match B::REFRESH_STATISTICS {
            Some(statement) => B::execute(&self.writer, QueryBuilder::new(statement)).await.map(drop),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl<B: Backend> PredictionWriter for SqlStore<B> {
    async fn record_predictions(&self, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
        B::record_predictions(self, events).await
    }

    async fn attach_explanation(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        explanation: NewExplanation,
    ) -> Result<Recorded<Explanation>> {
        let mut tx = B::begin_write(self).await?;
        let target = predictions::resolve::<B>(&mut tx, visibility, prediction, B::LOCK_PREDICTION).await?;
        predictions::refuse_erased::<B>(&mut tx, target).await?;
        if let Some(explanation_id) = &explanation.explanation_id {
            let mut query = Self::select(
                &format!("{EXPLANATION_COLUMNS}, content_hash"),
                "explanations",
                "WHERE explanation_id = ",
            );
            B::bind_text(&mut query, explanation_id);
            let stored = collect::<B, _>(&mut tx, query, |row| {
                let mut c = Columns::new(row);
                Ok((row::explanation_at(&mut c)?, c.take(SqlRow::text)?.unwrap_or_default()))
            })
            .await?;
            if let Some((stored, hash)) = stored.into_iter().next() {
                if stored.prediction_ref == target && hash == explanation.content_hash {
                    return Ok(Recorded::Replayed(stored));
                }
                return Err(StorageError::Conflict(format!(
                    "explanation_id {explanation_id:?} is already stored with other content or for another prediction"
                )));
            }
        }
        let mut query = QueryBuilder::new(
            "SELECT CAST(COALESCE(MAX(revision), 0) + 1 AS bigint) FROM explanations WHERE prediction_ref = ",
        );
        B::bind_uuid(&mut query, target);
        let next = collect::<B, _>(&mut tx, query, |row| Columns::new(row).integer()).await?;
        let revision = next.first().copied().unwrap_or(1);
        let revision =
            u32::try_from(revision).map_err(|_| StorageError::Integrity(format!("bad revision {revision}")))?;
        let content_hash = explanation.content_hash.clone();
        let stored = stored_explanation(explanation, target, revision, timestamp::now());
        collect::<B, _>(&mut tx, insert_explanation::<B>(&stored, Some(&content_hash)), |_| Ok(())).await?;
        B::seal_records(&mut tx, vec![RecordLeaf::explanation(&stored)]).await?;
        tx.commit().await.map_err(B::classify)?;
        Ok(Recorded::Created(stored))
    }
}

#[async_trait]
impl<B: Backend> PredictionReader for SqlStore<B> {
    async fn get_prediction(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<PredictionEvent> {
        let mut conn = self.reader.acquire().await.map_err(B::classify)?;
        let id = predictions::resolve::<B>(&mut conn, visibility, prediction, "").await?;
        let mut event = predictions::fetch::<B>(&mut conn, id).await?;
        outcomes::complete::<B>(&mut conn, std::slice::from_mut(&mut event)).await?;
        Ok(event)
    }

    async fn list_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page: &PageRequest,
    ) -> Result<Page<PredictionEvent>> {
        let Some(query) = self.list_query(QueryBuilder::new(""), visibility, filter, page).await? else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        let items = self.all(query, |row| row::prediction(row)).await?;
        let (mut items, next_cursor) =
            split_page(items, page.limit, |last| Cursor { timestamp: last.timestamp, id: last.id });
        if !items.is_empty() {
            let mut conn = self.reader.acquire().await.map_err(B::classify)?;
            outcomes::complete::<B>(&mut conn, &mut items).await?;
        }
        Ok(Page { items, next_cursor })
    }

    async fn export_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page_rows: u32,
        pages: ExportSender,
    ) {
        B::export_predictions(self, visibility, filter, page_rows, pages).await
    }

    async fn list_explanations(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Explanation>> {
        let id = self.resolve(visibility, prediction).await?;
        let mut query = Self::select(EXPLANATION_COLUMNS, "explanations", "WHERE prediction_ref = ");
        B::bind_uuid(&mut query, id);
        query.push(" ORDER BY revision");
        self.all(query, |row| row::explanation(row)).await
    }

    async fn list_models(&self) -> Result<Vec<ModelVersion>> {
        let query = Self::select(MODEL_COLUMNS, "model_versions", "ORDER BY model_name, created_at, version");
        self.all(query, |row| row::model(row)).await
    }

    async fn get_model(&self, id: Uuid) -> Result<ModelVersion> {
        let mut query = Self::select(MODEL_COLUMNS, "model_versions", "WHERE id = ");
        B::bind_uuid(&mut query, id);
        self.optional(query, |row| row::model(row)).await?.ok_or(StorageError::NotFound(Entity::ModelVersion))
    }
}

/// An export's pages: the list's queries ([`predictions::list`], then the page's states) page
/// after page on one connection, in one snapshot begun with [`Backend::EXPORT_SETUP`], each page
/// sent as it is read. Stops quietly when nobody receives the pages.
pub async fn export_in_snapshot<B: Backend>(
    store: &SqlStore<B>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    page_rows: u32,
    pages: &ExportSender,
) -> Result<()> {
    let Some(named) = store.named_rows(visibility, filter).await? else {
        let _ = pages.send(Ok(Vec::new())).await;
        return Ok(());
    };
    let mut snapshot = B::begin_snapshot(store).await?;
    for statement in B::EXPORT_SETUP {
        B::for_each(&mut snapshot, QueryBuilder::new(*statement), &mut |_| Ok(())).await?;
    }
    let mut page = PageRequest { limit: page_rows.max(1), after: None };
    loop {
        let query = predictions::list::<B>(QueryBuilder::new(""), visibility, filter, &named, &page);
        let events = collect::<B, _>(&mut snapshot, query, |row| row::prediction(row)).await?;
        let (mut events, next) =
            split_page(events, page.limit, |last| Cursor { timestamp: last.timestamp, id: last.id });
        outcomes::complete::<B>(&mut snapshot, &mut events).await?;
        if pages.send(Ok(events)).await.is_err() {
            return Ok(());
        }
        match next {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// `INSERT INTO explanations …` for one revision (without sealing it); `content_hash` is the
/// fingerprint an attach with an `explanation_id` is replayed by (`None` inline in an event).
pub fn insert_explanation<D: Dialect>(explanation: &Explanation, content_hash: Option<&str>) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new(
        "INSERT INTO explanations (id, prediction_ref, revision, method, method_version, payload, summary_text, \
         status, generated_at, created_at, explanation_id, content_hash, salt) ",
    );
    let mut rows = Rows::new();
    rows.row()
        .uuid(explanation.id)
        .uuid(explanation.prediction_ref)
        .int(i64::from(explanation.revision))
        .text(explanation.method.as_str())
        .text(explanation.method_version.as_str())
        .text(column_text(&explanation.payload).as_str())
        .text(explanation.summary_text.as_str())
        .text(explanation.status.as_str())
        .time(explanation.generated_at)
        .time(explanation.created_at)
        .text(explanation.explanation_id.as_deref())
        .text(content_hash)
        .bytes(explanation.salt.as_ref().map(|s| s.as_slice()));
    D::push_rows(&mut query, rows);
    query
}

/// `INSERT INTO api_keys …` for `issued`.
pub fn insert_key<D: Dialect>(issued: &IssuedKey) -> QueryBuilder<D::Db> {
    let key = &issued.key;
    let mut query =
        QueryBuilder::new("INSERT INTO api_keys (id, name, scope, tenant_id, prefix, secret_hash, created_at) ");
    let mut rows = Rows::new();
    rows.row()
        .uuid(key.id)
        .text(key.name.as_str())
        .text(key.scope.as_str())
        .text(key.tenant_id.as_deref())
        .text(key.prefix.as_str())
        .text(issued.hash.0.as_str())
        .time(key.created_at);
    D::push_rows(&mut query, rows);
    query
}

#[async_trait]
impl<B: Backend> KeyStore for SqlStore<B> {
    async fn create_api_key(&self, key: &IssuedKey) -> Result<()> {
        B::execute(&self.writer, insert_key::<B>(key)).await.map(drop)
    }

    async fn create_first_api_key(&self, key: &IssuedKey) -> Result<bool> {
        let mut tx = B::begin_write(self).await?;
        if let Some(lock) = B::LOCK_KEYS {
            collect::<B, _>(&mut tx, QueryBuilder::new(lock), |_| Ok(())).await?;
        }
        let count = QueryBuilder::new("SELECT CAST(COUNT(*) AS bigint) FROM api_keys");
        let existing = collect::<B, _>(&mut tx, count, |row| Columns::new(row).integer()).await?;
        if existing.first().is_some_and(|n| *n > 0) {
            return Ok(false);
        }
        collect::<B, _>(&mut tx, insert_key::<B>(key), |_| Ok(())).await?;
        tx.commit().await.map_err(B::classify)?;
        Ok(true)
    }

    async fn find_active_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        let mut query = Self::select(KEY_COLUMNS, "api_keys", "WHERE secret_hash = ");
        B::bind_text(&mut query, &hash.0);
        query.push(" AND revoked_at IS NULL");
        self.optional(query, |row| row::api_key(row)).await
    }

    async fn get_api_key(&self, id: Uuid) -> Result<Option<ApiKey>> {
        let mut query = Self::select(KEY_COLUMNS, "api_keys", "WHERE id = ");
        B::bind_uuid(&mut query, id);
        self.optional(query, |row| row::api_key(row)).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.all(Self::select(KEY_COLUMNS, "api_keys", "ORDER BY created_at, id"), |row| row::api_key(row)).await
    }

    async fn revoke_api_key(&self, id: Uuid) -> Result<bool> {
        let mut query = QueryBuilder::new("UPDATE api_keys SET revoked_at = ");
        B::bind_time(&mut query, timestamp::now());
        query.push(" WHERE id = ");
        B::bind_uuid(&mut query, id);
        query.push(" AND revoked_at IS NULL");
        Ok(B::execute(&self.writer, query).await? == 1)
    }
}

#[async_trait]
impl<B: Backend> LedgerStore for SqlStore<B> {
    async fn ledger_pending(&self, limit: u32) -> Result<StoredPending> {
        B::ledger_pending(self, limit).await
    }

    async fn ledger_append(&self, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        B::ledger_append(self, leaves).await
    }

    async fn ledger_size(&self) -> Result<u64> {
        let size = self.all(QueryBuilder::new(ledger::NEXT_SEQ_SQL), |row| Columns::new(row).integer()).await?;
        decode_seq(size.first().copied().unwrap_or(0))
    }

    async fn ledger_leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>> {
        let mut query = QueryBuilder::new("SELECT leaf_hash FROM ledger_entries WHERE seq >= ");
        B::bind_int(&mut query, encode_seq(from));
        query.push(" AND seq < ");
        B::bind_int(&mut query, encode_seq(to));
        query.push(" ORDER BY seq");
        self.all(query, |row| decode_hash(Columns::new(row).required(SqlRow::bytes)?)).await
    }

    async fn ledger_records(&self, from: u64, to: u64) -> Result<StoredLeaves> {
        B::ledger_records(self, from, to).await
    }

    async fn ledger_strays(&self, limit: u32) -> Result<Vec<(LeafKind, Uuid)>> {
        let mut query = QueryBuilder::new(ledger::STRAYS_SQL);
        B::bind_int(&mut query, i64::from(limit));
        self.all(query, |row| {
            let mut c = Columns::new(row);
            Ok((decode_enum("kind", &c.text()?, LeafKind::parse)?, c.uuid()?))
        })
        .await
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<()> {
        let mut query = QueryBuilder::new(format!("INSERT INTO ledger_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ("));
        B::bind_int(&mut query, encode_seq(checkpoint.tree_size));
        query.push(", ");
        B::bind_bytes(&mut query, &checkpoint.root_hash);
        query.push(", ");
        B::bind_text(&mut query, &checkpoint.note);
        query.push(", ");
        B::bind_bytes(&mut query, &checkpoint.frontier);
        query.push(", ");
        B::bind_time(&mut query, checkpoint.created_at);
        query.push(") ON CONFLICT (tree_size) DO NOTHING");
        B::execute(&self.writer, query).await.map(drop)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let query = Self::select(CHECKPOINT_COLUMNS, "ledger_checkpoints", "ORDER BY tree_size DESC LIMIT 1");
        self.optional(query, |row| row::checkpoint(row)).await
    }

    async fn ledger_lifecycle(&self) -> Result<StoredLifecycle> {
        crate::lifecycle::ledger_lifecycle(self).await
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        self.all(Self::select(CHECKPOINT_COLUMNS, "ledger_checkpoints", "ORDER BY tree_size"), |row| {
            row::checkpoint(row)
        })
        .await
    }
}

#[async_trait]
impl<B: Backend> InsightReader for SqlStore<B> {
    async fn model_version_stats(&self, visibility: &Visibility) -> Result<Vec<ModelVersionStats>> {
        insights::model_version_stats::<B>(&self.reader, visibility).await
    }

    async fn hourly_counts(&self, visibility: &Visibility, window: &TimeWindow) -> Result<Vec<HourlyCount>> {
        insights::hourly_counts::<B>(&self.reader, visibility, window).await
    }

    async fn list_actors(
        &self,
        visibility: &Visibility,
        tenant_id: Option<&str>,
        page: &ActorPageRequest,
    ) -> Result<ActorPage> {
        insights::list_actors::<B>(&self.reader, visibility, tenant_id, page).await
    }

    async fn list_tenants(&self, visibility: &Visibility) -> Result<Vec<TenantSummary>> {
        insights::list_tenants::<B>(&self.reader, visibility).await
    }
}
