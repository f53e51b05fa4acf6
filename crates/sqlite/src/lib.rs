//! SQLite backend: the embedded default.
//!
//! One write connection (SQLite has a single writer anyway) and a pool of read-only
//! connections, in WAL mode so readers never block the writer. `synchronous = FULL`: an
//! acknowledged write survives power loss, not only a process crash. The transaction that
//! writes a record also appends its ledger leaf and folds it into the UI's totals: with one
//! writer the next seq is never contended, and a queue would cost a second write and a second
//! transaction per record (the queue is read only for entries older versions left in it).

mod insights;
mod log_reader;
mod rows;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::auth::{ApiKey, IssuedKey, KeyHash, Visibility};
use ml_audit_core::event::{NewActor, NewExplanation, NewModelVersion, PreparedPrediction};
use ml_audit_core::ledger::canonical::{ColumnText, column_text};
use ml_audit_core::ledger::record::{LeafKind, PredictionColumns};
use ml_audit_core::model::{Explanation, LedgerEntry, ModelVersion, PredictionEvent};
use ml_audit_core::query::{Cursor, Page, PageRequest, PredictionFilter};
use ml_audit_core::timestamp::{self, to_unix_micros};
use ml_audit_storage::known::{KnownRows, RowSet, actor_key, model_key};
use ml_audit_storage::{
    ActorPage, ActorPageRequest, HourlyCount, ModelVersionStats, NewLeaf, PredictionRef, RecordLeaf, RecordOutcome,
    Result, RollupDelta, SealedLeaf, StorageError, Store, StoredCheckpoint, StoredLeaves, StoredPending, TenantSummary,
    TimeWindow, decode_enum, decode_hash, decode_seq, encode_redaction_log, encode_seq, number_claimed_leaves,
    number_leaves, recorded_event, split_page, stored_explanation,
};
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Arguments as _, Encode, QueryBuilder, Row as _, Sqlite, SqliteConnection, SqlitePool, Type};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::{
    SELECT_PREDICTION, checkpoint_from_row, db_err, explanation_from_row, key_from_row, model_from_row,
    prediction_from_row,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The database file (`None` in memory), for the log reader's own connection.
    path: Option<PathBuf>,
    /// Model and actor rows already committed (saves two or three queries per event).
    known: Arc<KnownRows>,
}

impl SqliteStore {
    /// Opens (creating the file and its folders if needed) `sqlite://PATH` or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Config(format!("{url:?} is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // A larger page cache than SQLite's 2 MiB default keeps the upper levels of the
        // predictions indexes in memory at millions of rows (bounded: 16 + 4 × 4 MiB). A WAL
        // checkpoint every 40 MiB instead of 4 writes a hot index page once for many commits.
        let writer_options = options.clone().pragma("cache_size", "-16384").pragma("wal_autocheckpoint", "10000");
        let reader_options = options.clone().read_only(true).pragma("cache_size", "-4096");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory && let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            create_folder(parent)?;
        }
        // An in-memory database lives as long as its one connection: share it for both roles.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_options)
            .await
            .map_err(|e| StorageError::Config(format!("cannot open {url:?}: {e}")))?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(reader_options)
                .await
                .map_err(|e| StorageError::Config(format!("cannot open {url:?} for reading: {e}")))?
        };
        let path = (!in_memory).then(|| options.get_filename().to_owned());
        Ok(Self { writer, reader, path, known: Arc::default() })
    }
}

fn create_folder(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| StorageError::Config(format!("cannot create the folder {}: {e}", path.display())))
}

impl SqliteStore {
    /// Write transactions take the write lock up front (`BEGIN IMMEDIATE`): a deferred one that
    /// reads first and then writes fails at once with "database is locked" when another process
    /// (a second `serve`, `keys create`) wrote in between, instead of waiting its turn.
    async fn write_transaction(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await.map_err(|e| StorageError::Migration(e.to_string()))
    }

    async fn record_predictions(&self, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
        // Hashing and serialising need no lock: done before taking the writer (on the blocking
        // pool), so that one group is made ready while another holds the writer.
        let known = self.known.clone();
        let staging = move || events.into_iter().map(|event| stage(event, &known)).collect::<Vec<_>>();
        let events = tokio::task::spawn_blocking(staging)
            .await
            .map_err(|e| StorageError::Database(format!("preparing the rows failed: {e}")))?;
        let mut tx = self.write_transaction().await?;
        let mut batch = Batch {
            stored: stored_predictions(&mut tx, &events).await?,
            known: &self.known,
            fresh: RowSet::default(),
            unwritten: Vec::new(),
            explanations: Vec::new(),
            leaves: Vec::new(),
            totals: RollupDelta::default(),
            subjects: Vec::new(),
        };
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            record_one(&mut tx, &mut batch, &mut outcomes, event).await?;
        }
        batch.flush(&mut tx, &mut outcomes).await?;
        tx.commit().await.map_err(db_err)?;
        // Only committed rows may be cached: a rolled-back model row would not exist.
        self.known.absorb(batch.fresh);
        Ok(outcomes)
    }

    async fn attach_explanation(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        explanation: NewExplanation,
    ) -> Result<Explanation> {
        let mut tx = self.write_transaction().await?;
        let target = resolve(&mut tx, visibility, prediction).await?;
        let revision: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(revision), 0) + 1 FROM explanations WHERE prediction_ref = ?")
                .bind(target)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let stored = stored_explanation(explanation, target, revision as u32, timestamp::now());
        insert_explanation(&mut tx, &stored).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn get_prediction(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<PredictionEvent> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        let id = resolve(&mut conn, visibility, prediction).await?;
        fetch_prediction(&mut conn, id).await
    }

    async fn list_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page: &PageRequest,
    ) -> Result<Page<PredictionEvent>> {
        let models = named_models(&self.reader, filter).await?;
        if models.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let mut query = QueryBuilder::<Sqlite>::new(SELECT_PREDICTION);
        query.push(" WHERE 1 = 1");
        push_filters(&mut query, visibility, filter, models.as_deref());
        if let Some(after) = page.after {
            query.push(" AND (p.ts, p.id) < (").push_bind(to_unix_micros(after.timestamp));
            query.push(", ").push_bind(after.id).push(")");
        }
        query.push(" ORDER BY p.ts DESC, p.id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&self.reader).await.map_err(db_err)?;
        let items = rows.iter().map(prediction_from_row).collect::<Result<Vec<_>>>()?;
        let (items, next_cursor) =
            split_page(items, page.limit, |last| Cursor { timestamp: last.timestamp, id: last.id });
        Ok(Page { items, next_cursor })
    }

    async fn list_explanations(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Explanation>> {
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        let id = resolve(&mut conn, visibility, prediction).await?;
        let rows = sqlx::query("SELECT * FROM explanations WHERE prediction_ref = ? ORDER BY revision")
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| explanation_from_row(row, "")).collect()
    }

    async fn list_models(&self) -> Result<Vec<ModelVersion>> {
        let rows = sqlx::query("SELECT * FROM model_versions ORDER BY model_name, created_at, version")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| model_from_row(row, "")).collect()
    }

    async fn get_model(&self, id: Uuid) -> Result<ModelVersion> {
        let row = sqlx::query("SELECT * FROM model_versions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .ok_or(StorageError::NotFound)?;
        model_from_row(&row, "")
    }

    async fn create_api_key(&self, key: &IssuedKey) -> Result<()> {
        insert_key(&self.writer, key).await
    }

    async fn create_first_api_key(&self, key: &IssuedKey) -> Result<bool> {
        // The single writer connection serialises this check-then-insert.
        let mut tx = self.write_transaction().await?;
        let existing: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *tx).await.map_err(db_err)?;
        if existing > 0 {
            return Ok(false);
        }
        insert_key(&mut *tx, key).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn find_active_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL")
            .bind(&hash.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(to_unix_micros(timestamp::now()))
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn ledger_pending(&self, limit: u32) -> Result<StoredPending> {
        if let Some(path) = &self.path {
            return log_reader::pending_from_file(path, limit).await;
        }
        let mut snapshot = self.reader.begin().await.map_err(db_err)?;
        let queued = log_reader::pending(&mut snapshot, limit).await?;
        snapshot.commit().await.map_err(db_err)?;
        Ok(queued)
    }

    async fn ledger_append(&self, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        // The single writer connection serialises sealers; no other lock is needed.
        let mut tx = self.write_transaction().await?;
        let next = next_seq(&mut tx).await?;
        // Queue rows another sealer already took are gone: their leaves are skipped.
        let mut claimed = HashSet::new();
        for chunk in leaves.chunks(LEAVES_PER_STATEMENT) {
            // The queue_id list lets SQLite find the rows by rowid; the pairs alone would have
            // it scan the whole queue once per statement (quadratic in a backlog).
            let mut query = QueryBuilder::<Sqlite>::new("DELETE FROM ledger_queue WHERE queue_id IN (");
            let mut queue_ids = query.separated(", ");
            for leaf in chunk {
                queue_ids.push_bind(leaf.queue_id);
            }
            query.push(") AND (queue_id, record_id) IN (");
            query.push_values(chunk, |mut row, leaf| {
                row.push_bind(leaf.queue_id).push_bind(leaf.record_id);
            });
            query.push(") RETURNING queue_id, record_id");
            for row in query.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                claimed.insert((row.try_get("queue_id").map_err(db_err)?, row.try_get("record_id").map_err(db_err)?));
            }
        }
        let sealed = number_claimed_leaves(leaves, claimed, next);
        insert_entries(&mut tx, &sealed).await?;
        if let Some(first) = sealed.iter().find(|leaf| leaf.kind == LeafKind::Prediction) {
            fold_rollups(&mut tx, first.seq).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(sealed)
    }

    async fn ledger_size(&self) -> Result<u64> {
        let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_entries")
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        decode_seq(size)
    }

    async fn ledger_leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>> {
        let rows = sqlx::query("SELECT leaf_hash FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq")
            .bind(encode_seq(from))
            .bind(encode_seq(to))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| decode_hash(row.try_get("leaf_hash").map_err(db_err)?)).collect()
    }

    async fn ledger_records(&self, from: u64, to: u64) -> Result<StoredLeaves> {
        match &self.path {
            Some(path) => log_reader::ledger_records(path, from, to).await,
            None => {
                let mut snapshot = self.reader.begin().await.map_err(db_err)?;
                let leaves = log_reader::ledger_records_in(&mut snapshot, from, to).await?;
                snapshot.commit().await.map_err(db_err)?;
                Ok(leaves)
            }
        }
    }

    async fn ledger_strays(&self, limit: u32) -> Result<Vec<(LeafKind, Uuid)>> {
        let rows = sqlx::query(
            "SELECT 'prediction' AS kind, id FROM predictions r
               WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
                 AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
             UNION ALL
             SELECT 'explanation' AS kind, id FROM explanations r
               WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
                 AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
             LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(db_err)?;
                Ok((decode_enum("kind", &kind, LeafKind::parse)?, row.try_get("id").map_err(db_err)?))
            })
            .collect()
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO ledger_checkpoints (tree_size, root_hash, note, frontier, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(encode_seq(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_slice())
        .bind(&checkpoint.note)
        .bind(&checkpoint.frontier)
        .bind(to_unix_micros(checkpoint.created_at))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let row = sqlx::query("SELECT * FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query("SELECT * FROM ledger_checkpoints ORDER BY tree_size")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    // Insights for the admin UI: see insights.rs.

    async fn model_version_stats(&self, visibility: &Visibility) -> Result<Vec<ModelVersionStats>> {
        insights::model_version_stats(&self.reader, visibility).await
    }

    async fn hourly_counts(&self, visibility: &Visibility, window: &TimeWindow) -> Result<Vec<HourlyCount>> {
        insights::hourly_counts(&self.reader, visibility, window).await
    }

    async fn list_actors(
        &self,
        visibility: &Visibility,
        tenant_id: Option<&str>,
        page: &ActorPageRequest,
    ) -> Result<ActorPage> {
        insights::list_actors(&self.reader, visibility, tenant_id, page).await
    }

    async fn list_tenants(&self, visibility: &Visibility) -> Result<Vec<TenantSummary>> {
        insights::list_tenants(&self.reader, visibility).await
    }

    async fn get_api_key(&self, id: Uuid) -> Result<Option<ApiKey>> {
        insights::get_api_key(&self.reader, id).await
    }
}

/// Predictions per multi-row INSERT: 24 values each, well under SQLite's 32,766 variables.
const PREDICTIONS_PER_STATEMENT: usize = 250;

/// Leaves per multi-row statement: one statement costs far more than a row.
const LEAVES_PER_STATEMENT: usize = 500;

/// The seq the next leaf gets. Only the writer connection appends, so it stays valid until its
/// transaction ends.
async fn next_seq(conn: &mut SqliteConnection) -> Result<u64> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_entries")
        .fetch_one(conn)
        .await
        .map_err(db_err)?;
    decode_seq(next)
}

/// Appends records' leaves to the ledger in the transaction that writes the records, numbered
/// after the last entry, and adds the predictions among them (`totals`) to the UI's totals: on
/// SQLite a record is sealed when it commits (see `Store`).
async fn seal_in_transaction(
    conn: &mut SqliteConnection,
    leaves: Vec<RecordLeaf>,
    totals: &RollupDelta,
) -> Result<Vec<SealedLeaf>> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let sealed = number_leaves(leaves, next_seq(conn).await?);
    insert_entries(conn, &sealed).await?;
    add_to_rollups(conn, totals).await?;
    Ok(sealed)
}

/// Writes numbered leaves (consecutive, in order), in the caller's transaction.
async fn insert_entries(conn: &mut SqliteConnection, sealed: &[SealedLeaf]) -> Result<()> {
    let sealed_at = to_unix_micros(timestamp::now());
    for chunk in sealed.chunks(LEAVES_PER_STATEMENT) {
        let mut values = Values::new("INSERT INTO ledger_entries (seq, kind, record_id, leaf_hash, sealed_at) ", 5);
        for leaf in chunk {
            values
                .row()
                .bind(encode_seq(leaf.seq))
                .bind(leaf.kind.as_str())
                .bind(leaf.record_id)
                .bind(leaf.leaf_hash.to_vec())
                .bind(sealed_at);
        }
        values.execute(conn).await?;
    }
    Ok(())
}

/// How each rollup table adds a new row to an existing one (`excluded` is the new row).
const ADD_HOURLY: &str = "ON CONFLICT DO UPDATE SET predictions = predictions + excluded.predictions";
const ADD_WITH_LAST_TS: &str = "ON CONFLICT DO UPDATE SET predictions = predictions + excluded.predictions,
                                                          last_ts = max(last_ts, excluded.last_ts)";

/// Adds predictions the write path has in hand to the UI's running totals (see
/// `migrations/0005_rollups.sql`): a few grouped rows, nothing read back.
async fn add_to_rollups(conn: &mut SqliteConnection, totals: &RollupDelta) -> Result<()> {
    if totals.is_empty() {
        return Ok(());
    }
    let mut hourly =
        QueryBuilder::<Sqlite>::new("INSERT INTO rollup_hourly (hour, model_ref, tenant_id, predictions) ");
    hourly.push_values(&totals.hourly, |mut row, ((hour, model, tenant), n)| {
        row.push_bind(*hour).push_bind(*model).push_bind(tenant.clone()).push_bind(count_column(*n));
    });
    hourly.push(" ").push(ADD_HOURLY).build().execute(&mut *conn).await.map_err(db_err)?;
    let mut mix = QueryBuilder::<Sqlite>::new(
        "INSERT INTO rollup_mix (model_ref, tenant_id, decision_outcome, status, bin, predictions, last_ts) ",
    );
    mix.push_values(&totals.mix, |mut row, ((model, tenant, outcome, status, bin), (n, last_ts))| {
        row.push_bind(*model)
            .push_bind(tenant.clone())
            .push_bind(outcome.clone())
            .push_bind(*status)
            .push_bind(*bin)
            .push_bind(count_column(*n))
            .push_bind(*last_ts);
    });
    mix.push(" ").push(ADD_WITH_LAST_TS).build().execute(&mut *conn).await.map_err(db_err)?;
    if !totals.actors.is_empty() {
        let mut actors = QueryBuilder::<Sqlite>::new("INSERT INTO rollup_actors (actor_ref, predictions, last_ts) ");
        actors.push_values(&totals.actors, |mut row, (actor, (n, last_ts))| {
            row.push_bind(*actor).push_bind(count_column(*n)).push_bind(*last_ts);
        });
        actors.push(" ").push(ADD_WITH_LAST_TS).build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// A count as a 64-bit column (a batch holds far fewer than `i64::MAX` rows).
fn count_column(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds the predictions sealed from `first_seq` on to the UI's running totals, reading them
/// back: for the sealer, which has only the queue's ids (entries older versions left).
async fn fold_rollups(conn: &mut SqliteConnection, first_seq: u64) -> Result<()> {
    const SEALED: &str = "FROM ledger_entries e JOIN predictions p ON p.id = e.record_id
                           WHERE e.seq >= ? AND e.kind = 'prediction'";
    let folds = [
        format!(
            "INSERT INTO rollup_hourly (hour, model_ref, tenant_id, predictions)
             SELECT p.ts / 3600000000, p.model_ref, p.tenant_id, count(*) {SEALED} GROUP BY 1, 2, 3 {ADD_HOURLY}"
        ),
        format!(
            "INSERT INTO rollup_mix (model_ref, tenant_id, decision_outcome, status, bin, predictions, last_ts)
             SELECT p.model_ref, p.tenant_id, p.decision_outcome, p.status,
                    coalesce(min(CAST(p.confidence * 10 AS INTEGER), 9), -1), count(*), max(p.ts)
             {SEALED} GROUP BY 1, 2, 3, 4, 5 {ADD_WITH_LAST_TS}"
        ),
        format!(
            "INSERT INTO rollup_actors (actor_ref, predictions, last_ts)
             SELECT p.actor_ref, count(*), max(p.ts) {SEALED} AND p.actor_ref IS NOT NULL GROUP BY 1 {ADD_WITH_LAST_TS}"
        ),
    ];
    for fold in folds {
        sqlx::query(sqlx::AssertSqlSafe(fold)).bind(encode_seq(first_seq)).execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// Loads the predictions and explanations whose ids `scope` (a subquery of ids, built from
/// integers only) selects, by id.
async fn insert_key<'e>(executor: impl sqlx::Executor<'e, Database = Sqlite>, issued: &IssuedKey) -> Result<()> {
    let key = &issued.key;
    sqlx::query(
        "INSERT INTO api_keys (id, name, scope, tenant_id, prefix, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.id)
    .bind(&key.name)
    .bind(key.scope.as_str())
    .bind(&key.tenant_id)
    .bind(&key.prefix)
    .bind(&issued.hash.0)
    .bind(to_unix_micros(key.created_at))
    .execute(executor)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Finds the `id` of a visible prediction: a UUID-shaped reference as `id` first, then any
/// reference as `prediction_id`. Invisible and missing are both `NotFound`.
async fn resolve(conn: &mut SqliteConnection, visibility: &Visibility, prediction: &PredictionRef) -> Result<Uuid> {
    if let Some(id) = prediction.as_uuid() {
        let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.id = ");
        query.push_bind(id);
        if let Some(found) = fetch_visible_id(conn, query, visibility).await? {
            return Ok(found);
        }
    }
    let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.prediction_id = ");
    query.push_bind(prediction.0.clone());
    fetch_visible_id(conn, query, visibility).await?.ok_or(StorageError::NotFound)
}

async fn fetch_visible_id(
    conn: &mut SqliteConnection,
    mut query: QueryBuilder<Sqlite>,
    visibility: &Visibility,
) -> Result<Option<Uuid>> {
    push_visibility(&mut query, visibility);
    query.build_query_scalar::<Uuid>().fetch_optional(conn).await.map_err(db_err)
}

async fn fetch_prediction(conn: &mut SqliteConnection, id: Uuid) -> Result<PredictionEvent> {
    let sql = format!("{SELECT_PREDICTION} WHERE p.id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await.map_err(db_err)?;
    prediction_from_row(&row)
}

fn push_visibility(query: &mut QueryBuilder<Sqlite>, visibility: &Visibility) {
    if let Some(tenant) = visibility.tenant() {
        query.push(" AND p.tenant_id = ").push_bind(tenant.to_owned());
    }
}

/// The model versions a filter names, looked up before the listing query (`None`: no model
/// filter). With one version the planner walks `predictions_by_model`, already in page order;
/// several are matched while walking `predictions_by_time`, because SQLite cannot merge several
/// index ranges in order and would sort every matching row of the window instead.
async fn named_models(reader: &SqlitePool, filter: &PredictionFilter) -> Result<Option<Vec<Uuid>>> {
    if filter.model_name.is_none() && filter.model_version.is_none() {
        return Ok(None);
    }
    let mut query = QueryBuilder::<Sqlite>::new("SELECT id FROM model_versions WHERE 1 = 1");
    if let Some(name) = &filter.model_name {
        query.push(" AND model_name = ").push_bind(name.clone());
    }
    if let Some(version) = &filter.model_version {
        query.push(" AND version = ").push_bind(version.clone());
    }
    let ids = query.build_query_scalar::<Uuid>().fetch_all(reader).await.map_err(db_err)?;
    Ok(Some(ids))
}

fn push_filters(
    query: &mut QueryBuilder<Sqlite>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    models: Option<&[Uuid]>,
) {
    push_visibility(query, visibility);
    match models {
        None => {}
        Some([one]) => {
            query.push(" AND p.model_ref = ").push_bind(*one);
        }
        Some(several) => {
            // `+` keeps the planner off predictions_by_model (see `named_models`).
            query.push(" AND +p.model_ref IN (");
            let mut ids = query.separated(", ");
            for id in several {
                ids.push_bind(*id);
            }
            query.push(")");
        }
    }
    let mut equals = |column: &str, value: Option<&str>| {
        if let Some(value) = value {
            query.push(format!(" AND {column} = ")).push_bind(value.to_owned());
        }
    };
    equals("a.actor_type", filter.actor_type.map(|t| t.as_str()));
    equals("a.actor_id", filter.actor_id.as_deref());
    equals("p.tenant_id", filter.tenant_id.as_deref());
    equals("p.decision_outcome", filter.decision_outcome.as_deref());
    equals("p.environment", filter.environment.as_deref());
    equals("p.status", filter.status.map(|s| s.as_str()));
    equals("p.trace_id", filter.trace_id.as_deref());
    if let Some(from) = filter.time_from {
        query.push(" AND p.ts >= ").push_bind(to_unix_micros(from));
    }
    if let Some(to) = filter.time_to {
        query.push(" AND p.ts <= ").push_bind(to_unix_micros(to));
    }
    if let Some(min) = filter.min_confidence {
        query.push(" AND p.confidence >= ").push_bind(min);
    }
    if let Some(max) = filter.max_confidence {
        query.push(" AND p.confidence <= ").push_bind(max);
    }
    if let Some(token) = &filter.subject {
        query
            .push(" AND EXISTS (SELECT 1 FROM prediction_subjects s WHERE s.token = ")
            .push_bind(token.clone())
            .push(" AND s.prediction_ref = p.id)");
    }
    match filter.has_explanation {
        Some(true) => query.push(" AND EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        Some(false) => query.push(" AND NOT EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        None => query,
    };
}

/// What one `record_predictions` transaction knows: the predictions already stored under the
/// batch's prediction_ids (and those it adds), and the model and actor rows it has resolved.
struct Batch<'a> {
    stored: HashMap<String, (Uuid, String)>,
    known: &'a KnownRows,
    fresh: RowSet,
    /// Rows written at the end of the batch in multi-row statements (one statement costs far
    /// more than one more row): the created predictions, explanations, their ledger leaves in
    /// write order, subjects.
    unwritten: Vec<UnwrittenPrediction>,
    explanations: Vec<Explanation>,
    leaves: Vec<RecordLeaf>,
    /// What the created predictions add to the UI's totals, folded in with their leaves.
    totals: RollupDelta,
    subjects: Vec<(String, Uuid, i64, String)>,
}

impl Batch<'_> {
    /// Writes the deferred rows; called before anything reads them back, and before commit.
    /// The created predictions are answered with the ledger entries they were sealed under.
    async fn flush(&mut self, conn: &mut SqliteConnection, outcomes: &mut [RecordOutcome]) -> Result<()> {
        let created: Vec<usize> = self.unwritten.iter().map(|row| row.index).collect();
        let mut unwritten = std::mem::take(&mut self.unwritten).into_iter().peekable();
        while unwritten.peek().is_some() {
            let mut values = Values::new(
                "INSERT INTO predictions (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, \
                 actor_user_agent, actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, \
                 features, redactions, metadata, metadata_redactions, output, confidence, status, latency_ms, \
                 content_hash, created_at, redaction_log) ",
                24,
            );
            for UnwrittenPrediction { index, content_hash, json } in unwritten.by_ref().take(PREDICTIONS_PER_STATEMENT)
            {
                let JsonColumns { columns, redaction_log } = json;
                let RecordOutcome::Created(event) = &outcomes[index] else {
                    unreachable!("only created predictions are unwritten")
                };
                let actor = event.actor.as_ref();
                values
                    .row()
                    .bind(event.id)
                    .bind(event.prediction_id.clone())
                    .bind(to_unix_micros(event.timestamp))
                    .bind(event.model.id)
                    .bind(actor.map(|a| a.id))
                    .bind(event.tenant_id().to_owned())
                    .bind(actor.and_then(|a| a.ip_address.clone()))
                    .bind(actor.map_or(String::new(), |a| a.user_agent.clone()))
                    .bind(columns.auth_context.map(ColumnText::into_stored))
                    .bind(event.trace_id.clone())
                    .bind(event.environment.clone())
                    .bind(event.decision_outcome.clone())
                    .bind(event.input_fingerprint.clone())
                    .bind(columns.features.into_stored())
                    .bind(columns.redactions)
                    .bind(columns.metadata.into_stored())
                    .bind(columns.metadata_redactions)
                    .bind(columns.output.into_stored())
                    .bind(event.confidence)
                    .bind(event.status.as_str())
                    .bind(event.latency_ms)
                    .bind(content_hash)
                    .bind(to_unix_micros(event.created_at))
                    .bind(redaction_log);
            }
            values.execute(conn).await?;
        }
        for chunk in std::mem::take(&mut self.explanations).chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO explanations (id, prediction_ref, revision, method, method_version, payload, summary_text, \
                 status, generated_at, created_at) ",
            );
            query.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.prediction_id)
                    .push_bind(i64::from(e.revision))
                    .push_bind(e.method.clone())
                    .push_bind(e.method_version.clone())
                    .push_bind(column_text(&e.payload))
                    .push_bind(e.summary_text.clone())
                    .push_bind(e.status.as_str())
                    .push_bind(to_unix_micros(e.generated_at))
                    .push_bind(to_unix_micros(e.created_at));
            });
            query.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        let totals = std::mem::take(&mut self.totals);
        let sealed = seal_in_transaction(conn, std::mem::take(&mut self.leaves), &totals).await?;
        for chunk in std::mem::take(&mut self.subjects).chunks(1000) {
            let mut query =
                QueryBuilder::<Sqlite>::new("INSERT INTO prediction_subjects (token, prediction_ref, ts, tenant_id) ");
            query.push_values(chunk, |mut row, (token, id, ts, tenant)| {
                row.push_bind(token.clone()).push_bind(*id).push_bind(*ts).push_bind(tenant.clone());
            });
            query.push(" ON CONFLICT DO NOTHING");
            query.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        let mut entries: HashMap<Uuid, LedgerEntry> = sealed
            .into_iter()
            .filter(|leaf| leaf.kind == LeafKind::Prediction)
            .map(|leaf| (leaf.record_id, LedgerEntry { seq: leaf.seq, leaf_hash: leaf.leaf_hash }))
            .collect();
        for i in created {
            if let RecordOutcome::Created(event) = &mut outcomes[i] {
                event.ledger = entries.remove(&event.id);
            }
        }
        Ok(())
    }
}

/// A multi-row `INSERT … VALUES`, for the batch's big statements: the text and arguments
/// `QueryBuilder::push_values` would make, without its formatting machinery per value (thousands
/// of values a batch).
struct Values {
    head: &'static str,
    columns: usize,
    rows: usize,
    arguments: SqliteArguments,
}

impl Values {
    fn new(head: &'static str, columns: usize) -> Self {
        Self { head, columns, rows: 0, arguments: SqliteArguments::default() }
    }

    /// Starts a row: its `columns` values follow.
    fn row(&mut self) -> &mut Self {
        self.rows += 1;
        self
    }

    fn bind<'q, T: Encode<'q, Sqlite> + Type<Sqlite>>(&mut self, value: T) -> &mut Self {
        self.arguments.add(value).expect("every value here encodes");
        self
    }

    async fn execute(self, conn: &mut SqliteConnection) -> Result<()> {
        debug_assert_eq!(self.arguments.len(), self.rows * self.columns, "each row binds every column");
        let row = format!("({})", vec!["?"; self.columns].join(", "));
        let mut sql = String::with_capacity(self.head.len() + 7 + self.rows * (row.len() + 2));
        sql.push_str(self.head);
        sql.push_str("VALUES ");
        for i in 0..self.rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row);
        }
        sqlx::query_with(sqlx::AssertSqlSafe(sql), self.arguments).execute(conn).await.map_err(db_err)?;
        Ok(())
    }
}

/// `(id, content_hash)` of the stored predictions whose prediction_id is in `events`: one query
/// per 500 ids instead of one per event.
async fn stored_predictions(conn: &mut SqliteConnection, events: &[Staged]) -> Result<HashMap<String, (Uuid, String)>> {
    let mut stored = HashMap::new();
    for chunk in events.chunks(500) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT prediction_id, id, content_hash FROM predictions WHERE prediction_id IN (",
        );
        let mut ids = query.separated(", ");
        for event in chunk {
            ids.push_bind(event.prediction_id().to_owned());
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await.map_err(db_err)? {
            let prediction_id: String = row.try_get("prediction_id").map_err(db_err)?;
            stored.insert(
                prediction_id,
                (row.try_get("id").map_err(db_err)?, row.try_get("content_hash").map_err(db_err)?),
            );
        }
    }
    Ok(stored)
}

/// An event as the transaction receives it: made ready before the writer was taken when its
/// model and actor rows were already committed, else still to be completed inside it.
enum Staged {
    Ready(Box<ReadyRow>),
    Unresolved(Box<PreparedPrediction>),
}

/// A prediction made ready to insert: the record as it will be stored and answered, its leaves
/// and its JSON columns as stored text (all CPU work, none of it needing the database).
struct ReadyRow {
    event: PredictionEvent,
    content_hash: String,
    /// The pseudonyms its `hash` redactions made, for subject lookup.
    subjects: Vec<String>,
    leaves: Vec<RecordLeaf>,
    json: JsonColumns,
}

/// A created prediction waiting for the batch's multi-row insert: its place in the outcomes
/// (which hold the record) and the columns the record does not hold as stored.
struct UnwrittenPrediction {
    index: usize,
    content_hash: String,
    json: JsonColumns,
}

/// A prediction's JSON columns as stored text: those its leaf covers (RFC 8785, written once for
/// the row and the leaf) and its redaction log (outside the leaf).
struct JsonColumns {
    columns: PredictionColumns,
    redaction_log: String,
}

impl Staged {
    fn prediction_id(&self) -> &str {
        match self {
            Staged::Ready(row) => &row.event.prediction_id,
            Staged::Unresolved(event) => &event.prediction_id,
        }
    }

    fn content_hash(&self) -> &str {
        match self {
            Staged::Ready(row) => &row.content_hash,
            Staged::Unresolved(event) => &event.content_hash,
        }
    }
}

/// Makes an event ready when the model and actor rows it needs are already committed.
fn stage(event: PreparedPrediction, known: &KnownRows) -> Staged {
    let Some(model) = known.model(&model_key(&event.model)) else {
        return Staged::Unresolved(Box::new(event));
    };
    let actor = match &event.actor {
        None => None,
        Some(actor) => match known.actor(&actor_key(actor)) {
            Some(found) => Some(found),
            None => return Staged::Unresolved(Box::new(event)),
        },
    };
    Staged::Ready(Box::new(ready_row(event, model, actor)))
}

fn ready_row(mut prepared: PreparedPrediction, model: ModelVersion, actor: Option<(Uuid, OffsetDateTime)>) -> ReadyRow {
    // The stored record has neither: moved out, not copied.
    let content_hash = std::mem::take(&mut prepared.content_hash);
    let subjects = std::mem::take(&mut prepared.subjects);
    let columns = PredictionColumns::of(&prepared);
    let event = recorded_event(prepared, model, actor);
    let mut leaves = vec![RecordLeaf::prediction(&event, &columns)];
    leaves.extend(event.explanation.as_ref().map(RecordLeaf::explanation));
    let json = JsonColumns { columns, redaction_log: encode_redaction_log(&event.redaction_log) };
    ReadyRow { event, content_hash, subjects, leaves, json }
}

/// Records one event of a batch: pushes its outcome; a created prediction is written at the
/// next flush.
async fn record_one(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    outcomes: &mut Vec<RecordOutcome>,
    event: Staged,
) -> Result<()> {
    if let Some((id, content_hash)) = batch.stored.get(event.prediction_id()) {
        if content_hash != event.content_hash() {
            outcomes.push(RecordOutcome::Conflict { prediction_id: event.prediction_id().to_owned() });
            return Ok(());
        }
        let id = *id;
        batch.flush(conn, outcomes).await?;
        outcomes.push(RecordOutcome::Replayed(fetch_prediction(conn, id).await?));
        return Ok(());
    }
    let row = match event {
        Staged::Ready(row) => *row,
        Staged::Unresolved(event) => {
            let model = model_for(conn, batch, &event.model, event.created_at).await?;
            let actor = match &event.actor {
                Some(actor) => Some(actor_for(conn, batch, actor, event.created_at).await?),
                None => None,
            };
            ready_row(*event, model, actor)
        }
    };
    let ReadyRow { event, content_hash, subjects, leaves, json } = row;
    batch.stored.insert(event.prediction_id.clone(), (event.id, content_hash.clone()));
    let ts = to_unix_micros(event.timestamp);
    let tenant = event.tenant_id();
    batch.subjects.extend(subjects.into_iter().map(|token| (token, event.id, ts, tenant.to_owned())));
    batch.leaves.extend(leaves);
    batch.totals.add(&event);
    batch.explanations.extend(event.explanation.clone());
    batch.unwritten.push(UnwrittenPrediction { index: outcomes.len(), content_hash, json });
    outcomes.push(RecordOutcome::Created(event));
    Ok(())
}

/// Inserts an explanation revision and seals it.
async fn insert_explanation(conn: &mut SqliteConnection, explanation: &Explanation) -> Result<()> {
    sqlx::query(
        "INSERT INTO explanations (id, prediction_ref, revision, method, method_version, payload, summary_text,
            status, generated_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(explanation.id)
    .bind(explanation.prediction_id)
    .bind(i64::from(explanation.revision))
    .bind(&explanation.method)
    .bind(&explanation.method_version)
    .bind(column_text(&explanation.payload))
    .bind(&explanation.summary_text)
    .bind(explanation.status.as_str())
    .bind(to_unix_micros(explanation.generated_at))
    .bind(to_unix_micros(explanation.created_at))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let no_predictions = RollupDelta::default();
    seal_in_transaction(conn, vec![RecordLeaf::explanation(explanation)], &no_predictions).await.map(drop)
}

/// The model version row, created on first use (the first event's metadata wins).
async fn model_for(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    model: &NewModelVersion,
    now: OffsetDateTime,
) -> Result<ModelVersion> {
    let key = model_key(model);
    let cached = batch.known.model(&key);
    if let Some(found) = cached.or_else(|| batch.fresh.models.get(&key).cloned()) {
        return Ok(found);
    }
    let found = model_row(conn, model, now).await?;
    batch.fresh.models.insert(key, found.clone());
    Ok(found)
}

async fn model_row(conn: &mut SqliteConnection, model: &NewModelVersion, now: OffsetDateTime) -> Result<ModelVersion> {
    let select = "SELECT * FROM model_versions WHERE model_name = ? AND version = ?";
    let found = sqlx::query(select).bind(&model.model_name).bind(&model.version).fetch_optional(&mut *conn);
    if let Some(row) = found.await.map_err(db_err)? {
        return model_from_row(&row, "");
    }
    sqlx::query(
        "INSERT INTO model_versions (id, model_name, version, framework, build_id, commit_hash, config_snapshot,
            is_active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
    )
    .bind(Uuid::now_v7())
    .bind(&model.model_name)
    .bind(&model.version)
    .bind(&model.framework)
    .bind(&model.build_id)
    .bind(&model.commit_hash)
    .bind(model.config_snapshot.as_ref().map(column_text))
    .bind(to_unix_micros(now))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let row = sqlx::query(select).bind(&model.model_name).bind(&model.version).fetch_one(&mut *conn);
    model_from_row(&row.await.map_err(db_err)?, "")
}

/// The actor row's id and creation time, created on first use.
async fn actor_for(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    actor: &NewActor,
    now: OffsetDateTime,
) -> Result<(Uuid, OffsetDateTime)> {
    let key = actor_key(actor);
    let cached = batch.known.actor(&key);
    if let Some(found) = cached.or_else(|| batch.fresh.actors.get(&key).copied()) {
        return Ok(found);
    }
    let found = actor_row(conn, actor, now).await?;
    batch.fresh.actors.insert(key, found);
    Ok(found)
}

async fn actor_row(
    conn: &mut SqliteConnection,
    actor: &NewActor,
    now: OffsetDateTime,
) -> Result<(Uuid, OffsetDateTime)> {
    let select = "SELECT id, created_at FROM actors WHERE actor_type = ? AND actor_id = ? AND tenant_id = ?";
    let find = || sqlx::query(select).bind(actor.actor_type.as_str()).bind(&actor.actor_id).bind(&actor.tenant_id);
    if find().fetch_optional(&mut *conn).await.map_err(db_err)?.is_none() {
        sqlx::query(
            "INSERT INTO actors (id, actor_type, actor_id, tenant_id, ip_address, user_agent, auth_context, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(Uuid::now_v7())
        .bind(actor.actor_type.as_str())
        .bind(&actor.actor_id)
        .bind(&actor.tenant_id)
        .bind(&actor.ip_address)
        .bind(&actor.user_agent)
        .bind(actor.auth_context.as_ref().map(column_text))
        .bind(to_unix_micros(now))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    let row = find().fetch_one(&mut *conn).await.map_err(db_err)?;
    let created_at: i64 = row.try_get("created_at").map_err(db_err)?;
    Ok((row.try_get("id").map_err(db_err)?, rows::micros(created_at)?))
}

#[cfg(test)]
mod migration_tests {
    /// A released migration never changes: a database that applied it refuses to start when the
    /// file's checksum differs (sqlx compares them). Change the schema with a new migration, and
    /// add its checksum here when it is released.
    #[test]
    fn released_migrations_are_unchanged() {
        let released = [
            (1, "259fd870d6cc46333f4c781c04a48aa5d5683148b72b047241b2a7bb6964321470322fa525ec892fa97609d06a2b04e4"),
            (2, "1c108a0b4de89fd1b5580dcd5f3f590b2e178025c0f9e577914100a430105bdcf8336d581064964796219b549de19d9f"),
            (3, "0c8b9eb7747ca600e9292b389d5dc74095bcf3c42cee216462dc501ffa4135d178a840507055cf0b0a6032bbf017be14"),
            (4, "5fff7ba9456e57c0a443b519dda823fd4adf3589788915f7e043d757b458804ebbf5a15d9baebfaf380936020e4d500a"),
            (5, "b895f1562abca7a00f3cb5de742cac0b61495c809c20094beb4f560c27cf70ee1d8f5bf548a45badd5cc5c8107c110cd"),
            (6, "21281c7edd9055b39817e6ae89beab99b40f77e8fffdea181f9e5f52ac4f5c8da7b227178418331fb35292e5e43f4a31"),
        ];
        let found = super::MIGRATOR.iter().map(|m| (m.version, m.checksum.as_ref()));
        assert_eq!(
            ml_audit_storage::edited_migrations(found, &released),
            Vec::<i64>::new(),
            "released migrations were edited"
        );
    }
}
