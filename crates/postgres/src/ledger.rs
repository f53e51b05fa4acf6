//! PostgreSQL's ledger writes: every write queues its records (with their leaf hashes) in its
//! own transaction, and sealers (one per replica) append leaves under one transaction-level
//! advisory lock, so the leaves get one gap-free order of committed records whichever replica
//! seals them. The UI's running totals are folded in by the same transaction.

use std::collections::HashSet;

use ml_audit_core::timestamp;
use ml_audit_sql::ledger::NEXT_SEQ_SQL;
use ml_audit_sql::{Backend as _, SqlStore};
use ml_audit_storage::{
    NewLeaf, Queued, RecordLeaf, Result, SealedLeaf, decode_seq, encode_seq, number_claimed_leaves, number_leaves,
};
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use crate::Pg;
use crate::dialect::db_err;

/// The key of the transaction-level advisory lock that sealers append under: "ml-audit" in
/// ASCII. Every replica must use the same one; nothing else in ml-audit takes it.
const LEDGER_LOCK: i64 = 0x6D6C_2D61_7564_6974;

/// Appends leaves after the last one, under the advisory lock every replica's sealer takes.
pub async fn append(store: &SqlStore<Pg>, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
    let mut tx = Pg::begin_write(store).await?;
    lock(&mut tx).await?;
    let sealed = append_claimed(&mut tx, leaves).await?;
    if sealed.is_empty() {
        tx.rollback().await.map_err(db_err)?; // nothing appended; releases the lock now
    } else {
        tx.commit().await.map_err(db_err)?;
    }
    Ok(sealed)
}

/// Takes the sealers' lock for the rest of the transaction: one appender at a time, whichever
/// replica it runs on; released at commit or rollback. Each later statement of this READ
/// COMMITTED transaction takes a new snapshot, so it sees everything the previous holder
/// committed (its leaves, its emptied queue rows).
async fn lock(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LEDGER_LOCK).execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// Takes the sealers' lock and seals every record queued with its hash, in the caller's
/// transaction: what it then reads has its seq, and it may append leaves of its own
/// ([`append_in_transaction`]). For erasures and holds.
pub async fn lock_and_seal_queue(conn: &mut PgConnection) -> Result<()> {
    lock(conn).await?;
    loop {
        let pending = ml_audit_sql::ledger::read_pending::<Pg>(conn, QUEUE_READ).await?;
        let read = pending.rows.len();
        let leaves: Vec<NewLeaf> = pending
            .rows
            .into_iter()
            .filter_map(|queued| match queued.content {
                Queued::Hashed(leaf_hash) => Some(NewLeaf {
                    queue_id: queued.queue_id,
                    kind: queued.kind,
                    record_id: queued.record_id,
                    leaf_hash,
                }),
                // Entries older versions queued without a hash are the sealer's to hash.
                Queued::Row(_) => None,
            })
            .collect();
        append_claimed(conn, leaves).await?;
        if read < QUEUE_READ as usize {
            return Ok(());
        }
    }
}

/// Queue entries read at a time by [`lock_and_seal_queue`].
const QUEUE_READ: u32 = 10_000;

/// Appends leaves of records that are not queued (an erasure, a hold, a release) after the last
/// one, in a transaction that holds the sealers' lock ([`lock_and_seal_queue`]).
pub async fn append_in_transaction(conn: &mut PgConnection, leaves: Vec<RecordLeaf>) -> Result<Vec<SealedLeaf>> {
    let next: i64 = sqlx::query_scalar(NEXT_SEQ_SQL).fetch_one(&mut *conn).await.map_err(db_err)?;
    let sealed = number_leaves(leaves, decode_seq(next)?);
    insert_entries(conn, &sealed).await?;
    Ok(sealed)
}

/// Claims the queue rows of `leaves` and appends those it claimed, with the UI's totals, under
/// the lock the caller holds. Returns the entries written (none when another sealer took them).
async fn append_claimed(tx: &mut PgConnection, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
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
        return Ok(Vec::new());
    }
    let next: i64 = sqlx::query_scalar(NEXT_SEQ_SQL).fetch_one(&mut *tx).await.map_err(db_err)?;
    let sealed = number_claimed_leaves(leaves, claimed, decode_seq(next)?);
    insert_entries(tx, &sealed).await?;
    fold_rollups(tx, next).await?;
    Ok(sealed)
}

/// Writes numbered leaves, in the caller's transaction.
async fn insert_entries(tx: &mut PgConnection, sealed: &[SealedLeaf]) -> Result<()> {
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
    Ok(())
}

/// Queues new records for the sealer, in this order, in the transaction that writes them.
/// Every path that inserts a prediction or an explanation calls it: a record that is neither
/// queued nor sealed is a stray, which `verify` reports as slipped in.
pub async fn enqueue(conn: &mut PgConnection, records: &[RecordLeaf]) -> Result<()> {
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
