//! Reads records back for the ledger with the queries both backends share
//! (`ml_audit_storage::ledger_rows`): the sealer's batches from the queue and `verify`'s chunks
//! of the log, each with the model versions and actors they reference, fetched once each.

use futures_util::TryStreamExt as _;
use ml_audit_core::ledger::stored::StoredRecord;
use ml_audit_storage::ledger_rows::{
    LEDGER_ACTOR_COLUMNS, LEDGER_MODEL_COLUMNS, LEDGER_PENDING_SQL, LEDGER_RECORDS_SQL, queued_record, referenced_rows,
    stored_actor, stored_leaf, stored_model,
};
use ml_audit_storage::{QueuedRecord, Result, StoredLeaf, StoredLeaves, StoredRows, encode_seq};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::rows::{PgLedgerRow, db_err};

/// The oldest `limit` queued records. A queue row is committed with its record, and a record
/// after the model and actor rows it references, so the later reads see them.
pub async fn pending(conn: &mut PgConnection, limit: u32) -> Result<StoredRows<QueuedRecord>> {
    // Each row (every value copied) is mapped as it arrives and dropped: a batch of thousands
    // is held once, as stored text, not twice.
    let mut queued = Vec::with_capacity(limit as usize);
    let mut rows = sqlx::query(LEDGER_PENDING_SQL).bind(i64::from(limit)).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await.map_err(db_err)? {
        queued.push(queued_record(&PgLedgerRow(&row))?);
    }
    drop(rows);
    with_referenced_rows(conn, queued, QueuedRecord::row).await
}

/// The leaves of `seq` in `[from, to)`; `conn` holds one snapshot for all the reads.
pub async fn ledger_records(conn: &mut PgConnection, from: u64, to: u64) -> Result<StoredLeaves> {
    let rows = sqlx::query(LEDGER_RECORDS_SQL)
        .bind(encode_seq(from))
        .bind(encode_seq(to))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let leaves = rows.iter().map(|row| stored_leaf(&PgLedgerRow(row))).collect::<Result<Vec<_>>>()?;
    with_referenced_rows(conn, leaves, |leaf: &StoredLeaf| leaf.record.as_ref()).await
}

async fn with_referenced_rows<T>(
    conn: &mut PgConnection,
    rows: Vec<T>,
    record: impl Fn(&T) -> Option<&StoredRecord>,
) -> Result<StoredRows<T>> {
    let (model_ids, actor_ids) = referenced_rows(rows.iter().filter_map(record));
    let models = by_ids(conn, LEDGER_MODEL_COLUMNS, "model_versions", model_ids).await?;
    let actors = by_ids(conn, LEDGER_ACTOR_COLUMNS, "actors", actor_ids).await?;
    Ok(StoredRows {
        rows,
        models: models.iter().map(|row| stored_model(&PgLedgerRow(row))).collect::<Result<_>>()?,
        actors: actors.iter().map(|row| stored_actor(&PgLedgerRow(row))).collect::<Result<_>>()?,
    })
}

async fn by_ids(
    conn: &mut PgConnection,
    columns: &str,
    table: &str,
    ids: Vec<Uuid>,
) -> Result<Vec<sqlx::postgres::PgRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {columns} FROM {table} WHERE id = ANY($1)");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ids).fetch_all(conn).await.map_err(db_err)
}
