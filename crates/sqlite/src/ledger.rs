//! SQLite's ledger writes. A record is sealed in the transaction that writes it: the single
//! writer connection serialises appends, so the next seq is never contended, and the UI's
//! running totals are folded in with the leaves. The sealer only drains queue entries that
//! versions before hashes were queued left behind.

use std::collections::HashSet;

use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::timestamp::{self, to_unix_micros};
use ml_audit_sql::ledger::NEXT_SEQ_SQL;
use ml_audit_sql::{Backend as _, SqlStore};
use ml_audit_storage::{
    NewLeaf, RecordLeaf, Result, RollupDelta, SealedLeaf, decode_seq, encode_seq, number_claimed_leaves, number_leaves,
};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqliteConnection};

use crate::Lite;
use crate::dialect::db_err;
use crate::write::Values;

/// Appends leaves of queue entries (left by older versions) after the last one.
pub async fn append(store: &SqlStore<Lite>, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
    // The single writer connection serialises sealers; no other lock is needed.
    let mut tx = Lite::begin_write(store).await?;
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

/// Leaves per multi-row statement: one statement costs far more than a row.
const LEAVES_PER_STATEMENT: usize = 500;

/// The seq the next leaf gets. Only the writer connection appends, so it stays valid until its
/// transaction ends.
async fn next_seq(conn: &mut SqliteConnection) -> Result<u64> {
    let next: i64 = sqlx::query_scalar(NEXT_SEQ_SQL).fetch_one(conn).await.map_err(db_err)?;
    decode_seq(next)
}

/// Appends records' leaves to the ledger in the transaction that writes the records, numbered
/// after the last entry, and adds the predictions among them (`totals`) to the UI's totals: on
/// SQLite a record is sealed when it commits (see `Store`).
pub async fn seal_in_transaction(
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
