//! PostgreSQL backend: the production store, which several `ml-audit serve` replicas share.
//!
//! Whatever two replicas could race on is settled by the database, never by a check in Rust:
//! models and actors are created with `INSERT … ON CONFLICT DO NOTHING` and read back, a
//! `prediction_id` sent twice at once is decided by its unique index, explanation revisions are
//! numbered under a row lock on their prediction, and the first API key under a table lock.
//!
//! The ledger likewise: every write queues its records in its own transaction, and sealers
//! (one per replica) append leaves under one transaction-level advisory lock, so the leaves
//! get one gap-free order of committed records whichever replica seals them.

mod insights;
mod log_reader;
mod rows;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::auth::{ApiKey, IssuedKey, KeyHash, Visibility};
use ml_audit_core::event::{NewActor, NewExplanation, NewModelVersion, PreparedPrediction};
use ml_audit_core::ledger::canonical::{ColumnText, column_text};
use ml_audit_core::ledger::record::{LeafKind, PredictionColumns};
use ml_audit_core::model::{Explanation, ModelVersion, PredictionEvent};
use ml_audit_core::query::{Cursor, Page, PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_storage::known::{KnownRows, RowSet, actor_key, model_key};
use ml_audit_storage::{
    ActorPage, ActorPageRequest, HourlyCount, ModelVersionStats, NewLeaf, PredictionRef, RecordLeaf, RecordOutcome,
    Result, SealedLeaf, StorageError, Store, StoredCheckpoint, StoredLeaves, StoredPending, TenantSummary, TimeWindow,
    decode_enum, decode_hash, decode_seq, encode_redaction_log, encode_seq, number_claimed_leaves, recorded_event,
    split_page, stored_explanation,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row as _, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::{
    SELECT_PREDICTION, checkpoint_from_row, db_err, explanation_from_row, key_from_row, model_from_row,
    prediction_from_row,
};

/// How long a caller waits for a pooled connection, and `open` for the server to answer.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The key of the transaction-level advisory lock that sealers append under: "ml-audit" in
/// ASCII. Every replica must use the same one; nothing else in ml-audit takes it.
const LEDGER_LOCK: i64 = 0x6D6C_2D61_7564_6974;

pub struct PgStore {
    pool: PgPool,
    /// Model and actor rows already committed (saves two queries per new actor in a batch).
    known: KnownRows,
}

impl PgStore {
    /// Connects to `postgres://…`; fails with [`StorageError::Config`] when the URL is invalid or
    /// the server cannot be reached.
    pub async fn open(url: &str) -> Result<Self> {
        // The URL may carry a password: errors name the server, never echo the URL.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StorageError::Config("a PostgreSQL URL starts with postgres:// or postgresql://".into()));
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StorageError::Config(format!("the database URL is not a valid PostgreSQL URL: {e}")))?
            .application_name("ml-audit")
            // Listings are prepared statements whose best plan depends on the values (a rare
            // tenant + outcome walks another index than a common one). After five runs
            // PostgreSQL may switch to one generic plan for all values, which took seconds at
            // a million rows where the plan for the actual values takes milliseconds.
            .options([("plan_cache_mode", "force_custom_plan")]);
        let server = format!(
            "{}:{} (database {:?})",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                // A refused connection is retried until the timeout (the server may be
                // starting), after which sqlx reports only the timeout.
                let cause = match e {
                    sqlx::Error::PoolTimedOut => format!(
                        "no connection within {} s; is the server running and accepting connections there?",
                        ACQUIRE_TIMEOUT.as_secs()
                    ),
                    other => other.to_string(),
                };
                StorageError::Config(format!("cannot connect to PostgreSQL at {server}: {cause}"))
            })?;
        Ok(Self { pool, known: KnownRows::default() })
    }

    /// Every transaction is READ COMMITTED whatever the server's default: the read-backs after
    /// `ON CONFLICT DO NOTHING` or after waiting for a lock must see what the other transaction
    /// just committed, which REPEATABLE READ would hide (or fail on).
    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await.map_err(db_err)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx's migrator holds a session advisory lock while it runs, so replicas starting at
        // once apply each migration exactly once. It returns early on failure without releasing
        // that lock, so it runs on a connection of its own, closed afterwards, never one that
        // would go back to the shared pool still holding the lock.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(PgConnectOptions::clone(&self.pool.connect_options()))
            .await
            .map_err(db_err)?;
        let result = MIGRATOR.run(&own).await;
        own.close().await;
        result.map_err(|e| StorageError::Migration(e.to_string()))
    }

    async fn record_predictions(&self, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
        let mut tx = self.begin().await?;
        let mut fresh = RowSet::default();
        let outcomes = record_batch(&mut tx, &self.known, &mut fresh, events).await?;
        tx.commit().await.map_err(db_err)?;
        self.known.absorb(fresh);
        Ok(outcomes)
    }

    async fn attach_explanation(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        explanation: NewExplanation,
    ) -> Result<Explanation> {
        let mut tx = self.begin().await?;
        // The row lock serialises concurrent attaches to one prediction, so MAX + 1 is gap-free.
        // NO KEY UPDATE because nothing updates the row (its triggers would refuse): it only
        // has to exclude other attaches, not the foreign-key checks of explanation inserts.
        let target = resolve(&mut tx, visibility, prediction, " FOR NO KEY UPDATE").await?;
        let revision: i32 =
            sqlx::query_scalar("SELECT COALESCE(MAX(revision), 0) + 1 FROM explanations WHERE prediction_ref = $1")
                .bind(target)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let revision =
            u32::try_from(revision).map_err(|_| StorageError::Database(format!("bad revision {revision}")))?;
        let stored = stored_explanation(explanation, target, revision, timestamp::now());
        insert_explanation(&mut tx, &stored).await?;
        enqueue(&mut tx, &[RecordLeaf::explanation(&stored)]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn get_prediction(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<PredictionEvent> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let id = resolve(&mut conn, visibility, prediction, "").await?;
        fetch_prediction(&mut conn, id).await
    }

    async fn list_predictions(
        &self,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page: &PageRequest,
    ) -> Result<Page<PredictionEvent>> {
        let models = named_models(&self.pool, filter).await?;
        if models.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let mut query = QueryBuilder::<Postgres>::new(SELECT_PREDICTION);
        query.push(" WHERE 1 = 1");
        push_filters(&mut query, visibility, filter, models);
        if let Some(after) = page.after {
            query.push(" AND (p.ts, p.id) < (").push_bind(after.timestamp);
            query.push(", ").push_bind(after.id).push(")");
        }
        query.push(" ORDER BY p.ts DESC, p.id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(prediction_from_row).collect::<Result<Vec<_>>>()?;
        let (items, next_cursor) =
            split_page(items, page.limit, |last| Cursor { timestamp: last.timestamp, id: last.id });
        Ok(Page { items, next_cursor })
    }

    async fn list_explanations(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Explanation>> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let id = resolve(&mut conn, visibility, prediction, "").await?;
        let rows = sqlx::query("SELECT * FROM explanations WHERE prediction_ref = $1 ORDER BY revision")
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| explanation_from_row(row, "")).collect()
    }

    async fn list_models(&self) -> Result<Vec<ModelVersion>> {
        let rows = sqlx::query("SELECT * FROM model_versions ORDER BY model_name, created_at, version")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| model_from_row(row, "")).collect()
    }

    async fn get_model(&self, id: Uuid) -> Result<ModelVersion> {
        let row = sqlx::query("SELECT * FROM model_versions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(StorageError::NotFound)?;
        model_from_row(&row, "")
    }

    async fn create_api_key(&self, key: &IssuedKey) -> Result<()> {
        insert_key(&self.pool, key).await
    }

    async fn create_first_api_key(&self, key: &IssuedKey) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Replicas starting at once on an empty database: the second waits here until the
        // first commits, then sees its key. EXCLUSIVE still lets readers authenticate.
        sqlx::query("LOCK TABLE api_keys IN EXCLUSIVE MODE").execute(&mut *tx).await.map_err(db_err)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)").fetch_one(&mut *tx).await.map_err(db_err)?;
        if exists {
            return Ok(false);
        }
        insert_key(&mut *tx, key).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn find_active_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL")
            .bind(&hash.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(timestamp::now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn ledger_pending(&self, limit: u32) -> Result<StoredPending> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        log_reader::pending(&mut conn, limit).await
    }

    async fn ledger_append(&self, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        // One sealer at a time, whichever replica it runs on; released at commit or rollback.
        // Each later statement of this READ COMMITTED transaction takes a new snapshot, so it
        // sees everything the previous holder committed (its leaves, its emptied queue rows).
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LEDGER_LOCK).execute(&mut *tx).await.map_err(db_err)?;
        let queue_ids: Vec<i64> = leaves.iter().map(|leaf| leaf.queue_id).collect();
        let record_ids: Vec<Uuid> = leaves.iter().map(|leaf| leaf.record_id).collect();
        // Queue rows another sealer already took are gone: their leaves are skipped.
        let claimed = sqlx::query(
            "DELETE FROM ledger_queue q USING UNNEST($1::bigint[], $2::uuid[]) AS c (queue_id, record_id)
             WHERE q.queue_id = c.queue_id AND q.record_id = c.record_id
             RETURNING q.queue_id, q.record_id",
        )
        .bind(queue_ids)
        .bind(record_ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let claimed = claimed
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("queue_id")?, row.try_get::<Uuid, _>("record_id")?)))
            .collect::<Result<HashSet<_>, sqlx::Error>>()
            .map_err(db_err)?;
        if claimed.is_empty() {
            tx.rollback().await.map_err(db_err)?; // nothing to append; releases the lock now
            return Ok(Vec::new());
        }
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_entries")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let sealed = number_claimed_leaves(leaves, claimed, decode_seq(next)?);
        let seqs: Vec<i64> = sealed.iter().map(|leaf| encode_seq(leaf.seq)).collect();
        let kinds: Vec<&str> = sealed.iter().map(|leaf| leaf.kind.as_str()).collect();
        let ids: Vec<Uuid> = sealed.iter().map(|leaf| leaf.record_id).collect();
        let hashes: Vec<Vec<u8>> = sealed.iter().map(|leaf| leaf.leaf_hash.to_vec()).collect();
        sqlx::query(
            "INSERT INTO ledger_entries (seq, kind, record_id, leaf_hash, sealed_at)
             SELECT seq, kind, record_id, leaf_hash, $5
               FROM UNNEST($1::bigint[], $2::text[], $3::uuid[], $4::bytea[]) AS n (seq, kind, record_id, leaf_hash)",
        )
        .bind(seqs)
        .bind(kinds)
        .bind(ids)
        .bind(hashes)
        .bind(timestamp::now())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        fold_rollups(&mut tx, next).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(sealed)
    }

    async fn ledger_size(&self) -> Result<u64> {
        let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_entries")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        decode_seq(size)
    }

    async fn ledger_leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>> {
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT leaf_hash FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq")
                .bind(encode_seq(from))
                .bind(encode_seq(to))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        hashes.into_iter().map(decode_hash).collect()
    }

    async fn ledger_records(&self, from: u64, to: u64) -> Result<StoredLeaves> {
        // One snapshot for the leaves and the rows they reference.
        let mut snapshot =
            self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(db_err)?;
        let leaves = log_reader::ledger_records(&mut snapshot, from, to).await?;
        snapshot.commit().await.map_err(db_err)?;
        Ok(leaves)
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
             LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
            "INSERT INTO ledger_checkpoints (tree_size, root_hash, note, frontier, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(encode_seq(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_slice())
        .bind(&checkpoint.note)
        .bind(&checkpoint.frontier)
        .bind(checkpoint.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let row = sqlx::query("SELECT * FROM ledger_checkpoints ORDER BY tree_size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query("SELECT * FROM ledger_checkpoints ORDER BY tree_size")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    // Insights for the admin UI: see insights.rs.

    async fn model_version_stats(&self, visibility: &Visibility) -> Result<Vec<ModelVersionStats>> {
        insights::model_version_stats(&self.pool, visibility).await
    }

    async fn hourly_counts(&self, visibility: &Visibility, window: &TimeWindow) -> Result<Vec<HourlyCount>> {
        insights::hourly_counts(&self.pool, visibility, window).await
    }

    async fn list_actors(
        &self,
        visibility: &Visibility,
        tenant_id: Option<&str>,
        page: &ActorPageRequest,
    ) -> Result<ActorPage> {
        insights::list_actors(&self.pool, visibility, tenant_id, page).await
    }

    async fn list_tenants(&self, visibility: &Visibility) -> Result<Vec<TenantSummary>> {
        insights::list_tenants(&self.pool, visibility).await
    }

    async fn get_api_key(&self, id: Uuid) -> Result<Option<ApiKey>> {
        insights::get_api_key(&self.pool, id).await
    }
}

/// Loads the predictions and explanations with these ids, by id, in two queries; a missing row
/// is missing from the map. Like the SQLite backend, a record is looked up in both tables
/// whatever kind its queue entry or leaf names (a leaf's kind is part of what it hashes).
/// Adds the predictions sealed from `first_seq` on to the UI's running totals (see
/// `migrations/0005_rollups.sql`), in the sealer's transaction and under its lock: each is
/// counted exactly once, and no two transactions update the same totals at once.
async fn fold_rollups(conn: &mut PgConnection, first_seq: i64) -> Result<()> {
    const SEALED: &str = "FROM ledger_entries e JOIN predictions p ON p.id = e.record_id
                           WHERE e.seq >= $1 AND e.kind = 'prediction'";
    let folds = [
        format!(
            "INSERT INTO rollup_hourly (hour, model_ref, tenant_id, predictions)
             SELECT floor(extract(epoch FROM p.ts) / 3600)::bigint, p.model_ref, p.tenant_id, count(*)
             {SEALED} GROUP BY 1, 2, 3
             ON CONFLICT (hour, model_ref, tenant_id)
             DO UPDATE SET predictions = rollup_hourly.predictions + excluded.predictions"
        ),
        format!(
            "INSERT INTO rollup_mix (model_ref, tenant_id, decision_outcome, status, bin, predictions, last_ts)
             SELECT p.model_ref, p.tenant_id, p.decision_outcome, p.status,
                    coalesce((CASE WHEN p.confidence >= 1 THEN 9 ELSE floor(p.confidence * 10) END)::bigint, -1),
                    count(*), max(p.ts)
             {SEALED} GROUP BY 1, 2, 3, 4, 5
             ON CONFLICT (model_ref, tenant_id, decision_outcome, status, bin)
             DO UPDATE SET predictions = rollup_mix.predictions + excluded.predictions,
                           last_ts = greatest(rollup_mix.last_ts, excluded.last_ts)"
        ),
        format!(
            "INSERT INTO rollup_actors (actor_ref, predictions, last_ts)
             SELECT p.actor_ref, count(*), max(p.ts) {SEALED} AND p.actor_ref IS NOT NULL GROUP BY 1
             ON CONFLICT (actor_ref)
             DO UPDATE SET predictions = rollup_actors.predictions + excluded.predictions,
                           last_ts = greatest(rollup_actors.last_ts, excluded.last_ts)"
        ),
    ];
    for fold in folds {
        sqlx::query(sqlx::AssertSqlSafe(fold)).bind(first_seq).execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

async fn insert_key<'e>(executor: impl sqlx::Executor<'e, Database = Postgres>, issued: &IssuedKey) -> Result<()> {
    let key = &issued.key;
    sqlx::query(
        "INSERT INTO api_keys (id, name, scope, tenant_id, prefix, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id)
    .bind(&key.name)
    .bind(key.scope.as_str())
    .bind(&key.tenant_id)
    .bind(&key.prefix)
    .bind(&issued.hash.0)
    .bind(key.created_at)
    .execute(executor)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Finds the `id` of a visible prediction: a UUID-shaped reference as `id` first, then any
/// reference as `prediction_id`. Invisible and missing are both `NotFound`. `locking` is
/// appended to the query (a `FOR …` clause, or nothing).
async fn resolve(
    conn: &mut PgConnection,
    visibility: &Visibility,
    prediction: &PredictionRef,
    locking: &'static str,
) -> Result<Uuid> {
    if let Some(id) = prediction.as_uuid() {
        let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.id = ");
        query.push_bind(id);
        if let Some(found) = fetch_visible_id(conn, query, visibility, locking).await? {
            return Ok(found);
        }
    }
    let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.prediction_id = ");
    query.push_bind(prediction.0.clone());
    fetch_visible_id(conn, query, visibility, locking).await?.ok_or(StorageError::NotFound)
}

async fn fetch_visible_id(
    conn: &mut PgConnection,
    mut query: QueryBuilder<Postgres>,
    visibility: &Visibility,
    locking: &'static str,
) -> Result<Option<Uuid>> {
    push_visibility(&mut query, visibility);
    query.push(locking);
    query.build_query_scalar::<Uuid>().fetch_optional(conn).await.map_err(db_err)
}

async fn fetch_prediction(conn: &mut PgConnection, id: Uuid) -> Result<PredictionEvent> {
    let sql = format!("{SELECT_PREDICTION} WHERE p.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await.map_err(db_err)?;
    prediction_from_row(&row)
}

fn push_visibility(query: &mut QueryBuilder<Postgres>, visibility: &Visibility) {
    if let Some(tenant) = visibility.tenant() {
        query.push(" AND p.tenant_id = ").push_bind(tenant.to_owned());
    }
}

/// The model versions a filter names, looked up before the listing query (`None`: no model
/// filter), so that the planner sees `model_ref` values it has statistics for instead of a join
/// condition it can only guess at (it then sorted a whole time window per page).
async fn named_models(pool: &PgPool, filter: &PredictionFilter) -> Result<Option<Vec<Uuid>>> {
    if filter.model_name.is_none() && filter.model_version.is_none() {
        return Ok(None);
    }
    let mut query = QueryBuilder::<Postgres>::new("SELECT id FROM model_versions WHERE true");
    if let Some(name) = &filter.model_name {
        query.push(" AND model_name = ").push_bind(name.clone());
    }
    if let Some(version) = &filter.model_version {
        query.push(" AND version = ").push_bind(version.clone());
    }
    let ids = query.build_query_scalar::<Uuid>().fetch_all(pool).await.map_err(db_err)?;
    Ok(Some(ids))
}

fn push_filters(
    query: &mut QueryBuilder<Postgres>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    models: Option<Vec<Uuid>>,
) {
    push_visibility(query, visibility);
    if let Some(models) = models {
        query.push(" AND p.model_ref = ANY(").push_bind(models).push(")");
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
        query.push(" AND p.ts >= ").push_bind(from);
    }
    if let Some(to) = filter.time_to {
        query.push(" AND p.ts <= ").push_bind(to);
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

/// What is stored under a `prediction_id`: enough to tell a replay from a conflict.
struct Stored {
    id: Uuid,
    content_hash: String,
}

/// Records a batch with the outcomes of recording its events one after the other.
///
/// Rows that a concurrent batch may be inserting too (models, actors, predictions) are inserted
/// kind by kind, each in key order: two transactions then wait on each other's keys in the
/// same order, which rules out deadlocks however their batches are ordered.
///
/// Model and actor rows come from `known` when it has them; those the batch looks up or creates
/// go into `fresh`, for the caller to add to `known` once the transaction has committed.
async fn record_batch(
    conn: &mut PgConnection,
    known: &KnownRows,
    fresh: &mut RowSet,
    events: Vec<PreparedPrediction>,
) -> Result<Vec<RecordOutcome>> {
    let prediction_ids: Vec<&str> = events.iter().map(|e| e.prediction_id.as_str()).collect();
    let mut stored = stored_predictions(conn, &prediction_ids).await?;

    // To insert, in batch order: the first event of each prediction_id not stored yet. Later
    // ones with the same prediction_id are then replays or conflicts of it, as if sent after.
    let mut seen = HashSet::new();
    let to_insert: Vec<usize> = (0..events.len())
        .filter(|&i| !stored.contains_key(&events[i].prediction_id) && seen.insert(&events[i].prediction_id))
        .collect();

    // Models and actors only for events about to be inserted, so that a conflicting event
    // writes nothing (unless a concurrent batch stores its prediction_id first, a rare race).
    let mut models = HashMap::new();
    for (key, event) in first_by_key(to_insert.iter().map(|&i| (model_key(&events[i].model), &events[i]))) {
        let model = match known.model(&key) {
            Some(model) => model,
            None => {
                let model = model_for(conn, &event.model, event.created_at).await?;
                fresh.models.insert(key.clone(), model.clone());
                model
            }
        };
        models.insert(key, model);
    }
    let mut actors = HashMap::new();
    let new_actors = to_insert.iter().filter_map(|&i| {
        let event = &events[i];
        event.actor.as_ref().map(|actor| (actor_key(actor), (actor, event.created_at)))
    });
    for (key, (actor, now)) in first_by_key(new_actors) {
        let row = match known.actor(&key) {
            Some(row) => row,
            None => {
                let row = actor_for(conn, actor, now).await?;
                fresh.actors.insert(key.clone(), row);
                row
            }
        };
        actors.insert(key, row);
    }

    let mut insert_order = to_insert;
    insert_order.sort_by(|&a, &b| events[a].prediction_id.cmp(&events[b].prediction_id));
    // Each JSON column is serialised once, for its row and for its record's leaf.
    let mut columns: Vec<Option<PredictionColumns>> = (0..events.len()).map(|_| None).collect();
    for &i in &insert_order {
        columns[i] = Some(PredictionColumns::of(&events[i]));
    }
    let rows: Vec<_> = insert_order
        .iter()
        .map(|&i| {
            let event = &events[i];
            let row_columns = columns[i].as_ref().expect("made for every event to insert");
            let actor = event.actor.as_ref().map(|a| actors[&actor_key(a)].0);
            (event, row_columns, models[&model_key(&event.model)].id, actor)
        })
        .collect();
    let inserted = insert_predictions(conn, &rows).await?;
    let mut created = vec![false; events.len()];
    for index in insert_order {
        let event = &events[index];
        if inserted.contains(&event.prediction_id) {
            created[index] = true;
            let new = Stored { id: event.id, content_hash: event.content_hash.clone() };
            stored.insert(event.prediction_id.clone(), new);
        } else {
            // A concurrent batch committed this prediction_id since the lookup above.
            stored.extend(stored_predictions(conn, &[event.prediction_id.as_str()]).await?);
        }
    }

    // Outcomes in batch order; inline explanations go in once their prediction is in. Every
    // new record is queued for the sealer, in batch order, each prediction before its
    // explanation.
    let mut outcomes = Vec::with_capacity(events.len());
    let mut queued = Vec::new();
    for ((event, created), columns) in events.into_iter().zip(created).zip(columns) {
        if created {
            let model = models[&model_key(&event.model)].clone();
            let actor = event.actor.as_ref().map(|a| actors[&actor_key(a)]);
            let recorded = recorded_event(event, model, actor);
            let columns = columns.expect("a created prediction was to be inserted");
            queued.push(RecordLeaf::prediction(&recorded, &columns));
            if let Some(explanation) = &recorded.explanation {
                insert_explanation(conn, explanation).await?;
                queued.push(RecordLeaf::explanation(explanation));
            }
            outcomes.push(RecordOutcome::Created(recorded));
            continue;
        }
        let existing = stored.get(&event.prediction_id).ok_or_else(|| {
            StorageError::Database(format!("prediction_id {:?} was neither inserted nor found", event.prediction_id))
        })?;
        outcomes.push(if existing.content_hash == event.content_hash {
            RecordOutcome::Replayed(fetch_prediction(conn, existing.id).await?)
        } else {
            RecordOutcome::Conflict { prediction_id: event.prediction_id }
        });
    }
    enqueue(conn, &queued).await?;
    Ok(outcomes)
}

/// Queues new records for the sealer, in this order, in the transaction that writes them.
/// Every path that inserts a prediction or an explanation calls it: a record that is neither
/// queued nor sealed is a stray, which `verify` reports as slipped in.
async fn enqueue(conn: &mut PgConnection, records: &[RecordLeaf]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = records.iter().map(|entry| entry.kind.as_str()).collect();
    let ids: Vec<Uuid> = records.iter().map(|entry| entry.record_id).collect();
    let hashes: Vec<&[u8]> = records.iter().map(|entry| entry.leaf_hash.as_slice()).collect();
    // WITH ORDINALITY + ORDER BY: queue ids are drawn in the given order.
    sqlx::query(
        "INSERT INTO ledger_queue (kind, record_id, leaf_hash)
         SELECT kind, record_id, leaf_hash
           FROM UNNEST($1::text[], $2::uuid[], $3::bytea[]) WITH ORDINALITY AS r (kind, record_id, leaf_hash, n)
          ORDER BY n",
    )
    .bind(kinds)
    .bind(ids)
    .bind(hashes)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// The first value given for each key, in key order.
fn first_by_key<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut first = BTreeMap::new();
    for (key, value) in items {
        first.entry(key).or_insert(value);
    }
    first
}

async fn stored_predictions(conn: &mut PgConnection, prediction_ids: &[&str]) -> Result<HashMap<String, Stored>> {
    let rows = sqlx::query("SELECT prediction_id, id, content_hash FROM predictions WHERE prediction_id = ANY($1)")
        .bind(prediction_ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let stored = Stored { id: row.try_get("id")?, content_hash: row.try_get("content_hash")? };
            Ok((row.try_get("prediction_id")?, stored))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_err)
}

/// Inserts predictions (with their subject tokens) in one statement per kind, in the given
/// order; returns the prediction_ids inserted — one a concurrent batch stored first is not.
async fn insert_predictions(
    conn: &mut PgConnection,
    rows: &[(&PreparedPrediction, &PredictionColumns, Uuid, Option<Uuid>)],
) -> Result<HashSet<String>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let events = || rows.iter().map(|(event, _, _, _)| *event);
    let json =
        |f: &dyn Fn(&PredictionColumns) -> &str| rows.iter().map(|(_, columns, _, _)| f(columns)).collect::<Vec<_>>();
    let texts = |f: &dyn Fn(&PreparedPrediction) -> String| events().map(f).collect::<Vec<String>>();
    let tenant = |e: &PreparedPrediction| e.actor.as_ref().map_or(String::new(), |a| a.tenant_id.clone());
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO predictions (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, actor_user_agent,
            actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, features, redactions,
            metadata, metadata_redactions, output, confidence, status, latency_ms, content_hash, created_at,
            redaction_log)
         SELECT id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, actor_user_agent,
            actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, features, redactions,
            metadata, metadata_redactions, output, confidence, status, latency_ms, content_hash, created_at,
            redaction_log
           FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                       $15::text[], $16::text[], $17::text[], $18::text[], $19::float8[], $20::text[],
                       $21::float8[], $22::text[], $23::timestamptz[], $24::text[])
                WITH ORDINALITY AS r (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip,
                    actor_user_agent, actor_auth_context, trace_id, environment, decision_outcome,
                    input_fingerprint, features, redactions, metadata, metadata_redactions, output, confidence,
                    status, latency_ms, content_hash, created_at, redaction_log, n)
          ORDER BY n
         ON CONFLICT (prediction_id) DO NOTHING
         RETURNING prediction_id",
    )
    .bind(events().map(|e| e.id).collect::<Vec<_>>())
    .bind(texts(&|e| e.prediction_id.clone()))
    .bind(events().map(|e| e.timestamp).collect::<Vec<_>>())
    .bind(rows.iter().map(|&(_, _, model, _)| model).collect::<Vec<_>>())
    .bind(rows.iter().map(|&(_, _, _, actor)| actor).collect::<Vec<_>>())
    .bind(texts(&tenant))
    .bind(events().map(|e| e.actor.as_ref().and_then(|a| a.ip_address.clone())).collect::<Vec<_>>())
    .bind(texts(&|e| e.actor.as_ref().map_or(String::new(), |a| a.user_agent.clone())))
    .bind(
        rows.iter().map(|(_, columns, _, _)| columns.auth_context.as_ref().map(ColumnText::stored)).collect::<Vec<_>>(),
    )
    .bind(texts(&|e| e.trace_id.clone()))
    .bind(texts(&|e| e.environment.clone()))
    .bind(texts(&|e| e.decision_outcome.clone()))
    .bind(texts(&|e| e.input_fingerprint.clone()))
    .bind(json(&|c| c.features.stored()))
    .bind(json(&|c| &c.redactions))
    .bind(json(&|c| c.metadata.stored()))
    .bind(json(&|c| &c.metadata_redactions))
    .bind(json(&|c| c.output.stored()))
    .bind(events().map(|e| e.confidence).collect::<Vec<_>>())
    .bind(texts(&|e| e.status.as_str().to_owned()))
    .bind(events().map(|e| e.latency_ms).collect::<Vec<_>>())
    .bind(texts(&|e| e.content_hash.clone()))
    .bind(events().map(|e| e.created_at).collect::<Vec<_>>())
    .bind(texts(&|e| encode_redaction_log(&e.redaction_log)))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let inserted: HashSet<String> = inserted.into_iter().collect();

    // The pseudonyms their `hash` redactions made, for subject lookup; same transaction.
    let subjects: Vec<(&str, Uuid, OffsetDateTime, String)> = events()
        .filter(|e| inserted.contains(&e.prediction_id))
        .flat_map(|e| e.subjects.iter().map(move |token| (token.as_str(), e.id, e.timestamp, tenant(e))))
        .collect();
    if !subjects.is_empty() {
        sqlx::query(
            "INSERT INTO prediction_subjects (token, prediction_ref, ts, tenant_id)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::timestamptz[], $4::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(subjects.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.2).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.3.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(inserted)
}

async fn insert_explanation(conn: &mut PgConnection, explanation: &Explanation) -> Result<()> {
    sqlx::query(
        "INSERT INTO explanations (id, prediction_ref, revision, method, method_version, payload, summary_text,
            status, generated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(explanation.id)
    .bind(explanation.prediction_id)
    .bind(i32::try_from(explanation.revision).map_err(|_| StorageError::Database("revision overflow".into()))?)
    .bind(&explanation.method)
    .bind(&explanation.method_version)
    .bind(column_text(&explanation.payload))
    .bind(&explanation.summary_text)
    .bind(explanation.status.as_str())
    .bind(explanation.generated_at)
    .bind(explanation.created_at)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// The model version row, created on first use (the first event's metadata wins). Looked up
/// first, as it almost always exists; when two transactions create it at once, the second
/// insert waits for the first and does nothing, and the read-back sees the winner's row.
async fn model_for(conn: &mut PgConnection, model: &NewModelVersion, now: OffsetDateTime) -> Result<ModelVersion> {
    let select = "SELECT * FROM model_versions WHERE model_name = $1 AND version = $2";
    let find = || sqlx::query(select).bind(&model.model_name).bind(&model.version);
    if let Some(row) = find().fetch_optional(&mut *conn).await.map_err(db_err)? {
        return model_from_row(&row, "");
    }
    sqlx::query(
        "INSERT INTO model_versions (id, model_name, version, framework, build_id, commit_hash, config_snapshot,
            is_active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8)
         ON CONFLICT (model_name, version) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(&model.model_name)
    .bind(&model.version)
    .bind(&model.framework)
    .bind(&model.build_id)
    .bind(&model.commit_hash)
    .bind(model.config_snapshot.as_ref().map(column_text))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    model_from_row(&find().fetch_one(&mut *conn).await.map_err(db_err)?, "")
}

/// The actor row's id and creation time, created on first use like a model version.
async fn actor_for(conn: &mut PgConnection, actor: &NewActor, now: OffsetDateTime) -> Result<(Uuid, OffsetDateTime)> {
    let select = "SELECT id, created_at FROM actors WHERE actor_type = $1 AND actor_id = $2 AND tenant_id = $3";
    let find = || sqlx::query_as(select).bind(actor.actor_type.as_str()).bind(&actor.actor_id).bind(&actor.tenant_id);
    if let Some(found) = find().fetch_optional(&mut *conn).await.map_err(db_err)? {
        return Ok(found);
    }
    sqlx::query(
        "INSERT INTO actors (id, actor_type, actor_id, tenant_id, ip_address, user_agent, auth_context, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (actor_type, actor_id, tenant_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(actor.actor_type.as_str())
    .bind(&actor.actor_id)
    .bind(&actor.tenant_id)
    .bind(&actor.ip_address)
    .bind(&actor.user_agent)
    .bind(actor.auth_context.as_ref().map(column_text))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    find().fetch_one(&mut *conn).await.map_err(db_err)
}

#[cfg(test)]
mod migration_tests {
    /// A released migration never changes: a database that applied it refuses to start when the
    /// file's checksum differs (sqlx compares them). Change the schema with a new migration, and
    /// add its checksum here when it is released.
    #[test]
    fn released_migrations_are_unchanged() {
        let released = [
            (1, "9062eb533effdf5c42900ba0d2bf9196c87a26fea08a0cd6bc03c4ca1f78c5799eb295c5973528de3664a1fe72348c7c"),
            (2, "ab6d2cd2d34e111ab94b3cb14ad022145f78d0b3c7e6e53c67b9272556032bed4fa3d0c946b04fb4a419294fae2d5d51"),
            (3, "1ec3e4d8207423fbd078ab811985bfc902ae1bb8657a23d1b2742e0009239f236f9f64b574b684bcd257cc266e4149bd"),
            (4, "214a5faf33e422548b851d3ff4d1247fe1d1949df21b49a4c2afc548a6fc2446bdcea964d42099641ee9b87df98ca21f"),
            (5, "fd976701ec625ed32721e94492916abcbfa2a18612539089df47f7b085b76edbebdc9a1cd72b78bcc225da464c508942"),
            (6, "9074d7b503b324b5adab6f5525610e67a7506d551fd3167770e3ec30433a09126e241bd77cc8721c49d064e843b08884"),
        ];
        let found = super::MIGRATOR.iter().map(|m| (m.version, m.checksum.as_ref()));
        assert_eq!(
            ml_audit_storage::edited_migrations(found, &released),
            Vec::<i64>::new(),
            "released migrations were edited"
        );
    }
}
