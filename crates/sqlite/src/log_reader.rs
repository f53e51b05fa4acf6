//! Reads records back for the ledger with the queries both backends share
//! (`ml_audit_sql::ledger`). `verify` reads the whole log through rusqlite rather than
//! sqlx: sqlx copies every value of every row and hands each row across a thread, which at
//! millions of leaves costs more than recomputing them; rusqlite reads rows in place, on a
//! blocking thread, with a read-only connection of its own (one snapshot per call). The sealer
//! reads its queue the same way. An in-memory database (which no second connection can open)
//! is read through the store's sqlx pool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ml_audit_core::ledger::stored::StoredRecord;
use ml_audit_sql::SqlRow;
use ml_audit_sql::ledger::{
    LEDGER_ACTOR_COLUMNS, LEDGER_PENDING_SQL, LEDGER_RECORDS_SQL, queued_record, stored_actor, stored_leaf,
    stored_model,
};
use ml_audit_sql::row::MODEL_COLUMNS;
use ml_audit_storage::{QueuedRecord, Result, StorageError, StoredLeaves, StoredRows, encode_seq, referenced_rows};
use rusqlite::types::ValueRef;
use rusqlite::{OpenFlags, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::micros;

/// `verify`'s read of the leaves of `seq` in `[from, to)`, from the database file.
pub async fn ledger_records(path: &Path, from: u64, to: u64) -> Result<StoredLeaves> {
    let path: PathBuf = path.to_owned();
    let range = (encode_seq(from), encode_seq(to));
    read_off_thread(move || {
        read_rows(&path, LEDGER_RECORDS_SQL, range, |row| stored_leaf(row), |leaf| leaf.record.as_ref())
    })
    .await
}

/// The sealer's read of the oldest `limit` queued records, from the database file.
pub async fn pending_from_file(path: &Path, limit: u32) -> Result<StoredRows<QueuedRecord>> {
    let path: PathBuf = path.to_owned();
    read_off_thread(move || {
        read_rows(&path, LEDGER_PENDING_SQL, (i64::from(limit),), |row| queued_record(row), QueuedRecord::row)
    })
    .await
}

async fn read_off_thread<T: Send + 'static>(read: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StorageError::database(format!("the ledger reader stopped: {e}")))?
}

/// The rows of `sql`, each mapped in place, and the model versions and actors their records
/// reference, in one snapshot of the file.
fn read_rows<T>(
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&RusqliteRow<'_, '_>) -> Result<T>,
    record: impl Fn(&T) -> Option<&StoredRecord>,
) -> Result<StoredRows<T>> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_err)?;
    // Pages are read straight from the mapped file instead of copied in by read(2).
    conn.pragma_update(None, "mmap_size", 1i64 << 31).map_err(sqlite_err)?;
    let snapshot = conn.transaction().map_err(sqlite_err)?;
    let mut found = Vec::new();
    let mut statement = snapshot.prepare(sql).map_err(sqlite_err)?;
    let mut rows = statement.query(params).map_err(sqlite_err)?;
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        found.push(map(&RusqliteRow(row))?);
    }
    let (model_ids, actor_ids) = referenced_rows(found.iter().filter_map(record));
    Ok(StoredRows {
        rows: found,
        models: read_by_ids(&snapshot, MODEL_COLUMNS, "model_versions", &model_ids, |row| stored_model(row))?,
        actors: read_by_ids(&snapshot, LEDGER_ACTOR_COLUMNS, "actors", &actor_ids, |row| stored_actor(row))?,
    })
}

fn read_by_ids<T>(
    conn: &rusqlite::Connection,
    columns: &str,
    table: &str,
    ids: &[Uuid],
    map: impl Fn(&RusqliteRow<'_, '_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare(&by_ids_sql(columns, table, ids.len())).map_err(sqlite_err)?;
    let mut rows =
        statement.query(rusqlite::params_from_iter(ids.iter().map(|id| id.as_bytes()))).map_err(sqlite_err)?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        found.push(map(&RusqliteRow(row))?);
    }
    Ok(found)
}

/// `SELECT columns FROM table WHERE id IN (?1, …, ?count)`; a chunk references at most as many
/// rows as it has leaves, well below SQLite's 32,766 parameters.
fn by_ids_sql(columns: &str, table: &str, count: usize) -> String {
    let placeholders: Vec<String> = (1..=count).map(|n| format!("?{n}")).collect();
    format!("SELECT {columns} FROM {table} WHERE id IN ({})", placeholders.join(", "))
}

/// A row read in place by rusqlite.
pub(crate) struct RusqliteRow<'r, 's>(pub(crate) &'r Row<'s>);

impl RusqliteRow<'_, '_> {
    /// The value at `column` through `map`, which says `None` for a type that does not belong.
    fn read<T>(&self, column: usize, expected: &str, map: impl FnOnce(ValueRef<'_>) -> Option<T>) -> Result<Option<T>> {
        match self.0.get_ref(column).map_err(sqlite_err)? {
            ValueRef::Null => Ok(None),
            value => map(value).map(Some).ok_or_else(|| {
                StorageError::Integrity(format!(
                    "column {column} holds {:?} where {expected} belongs",
                    value.data_type()
                ))
            }),
        }
    }
}

impl SqlRow for RusqliteRow<'_, '_> {
    fn text(&self, column: usize) -> Result<Option<String>> {
        self.read(column, "UTF-8 text", |value| match value {
            ValueRef::Text(text) => std::str::from_utf8(text).ok().map(str::to_owned),
            _ => None,
        })
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.read(column, "a UUID", |value| match value {
            ValueRef::Blob(bytes) => Uuid::from_slice(bytes).ok(),
            _ => None,
        })
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        self.read(column, "a blob", |value| match value {
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => None,
        })
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        self.read(column, "an integer", |value| match value {
            ValueRef::Integer(integer) => Some(integer),
            _ => None,
        })
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        self.read(column, "a number", |value| match value {
            ValueRef::Real(real) => Some(real),
            // A REAL column keeps an integral value written as an integer as one.
            ValueRef::Integer(integer) => Some(integer as f64),
            _ => None,
        })
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        Ok(self.integer(column)?.map(|value| value != 0))
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        self.integer(column)?.map(micros).transpose()
    }
}

pub(crate) fn sqlite_err(error: rusqlite::Error) -> StorageError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == rusqlite::ErrorCode::CannotOpen => {
            StorageError::Unavailable(Box::new(error))
        }
        other => StorageError::Database(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use ml_audit_core::auth::Visibility;
    use ml_audit_core::event::PredictionInput;
    use ml_audit_core::ledger::stored::RowCatalog;
    use ml_audit_core::redaction::RedactionPolicy;
    use ml_audit_storage::NewLeaf;
    use ml_audit_storage::prelude::*;
    use serde_json::json;

    use crate::SqliteStore;

    /// The UI's running totals, one line a row, in a stable order.
    async fn rollups(store: &SqliteStore) -> Vec<String> {
        let query = "SELECT concat_ws('|', 'hourly', hour, hex(model_ref), tenant_id, predictions) FROM rollup_hourly
                     UNION ALL SELECT concat_ws('|', 'mix', hex(model_ref), tenant_id, decision_outcome, status, bin,
                                                predictions, last_ts) FROM rollup_mix
                     UNION ALL SELECT concat_ws('|', 'actor', hex(actor_ref), predictions, last_ts) FROM rollup_actors
                     ORDER BY 1";
        sqlx::query_scalar(query).fetch_all(&store.writer).await.unwrap()
    }

    /// Records predictions, which the store seals as it commits them (in two batches: the
    /// second one's rows are made ready before the transaction, from the model and actor rows
    /// the first committed); then makes the database look as a version before inline sealing
    /// (and before queued hashes) left it: the same records queued without hashes, nothing
    /// sealed, no totals. The sealer's read-and-hash path must rebuild the same log and totals.
    /// Returns the log as read back.
    async fn sealed_log(store: &SqliteStore) -> ml_audit_storage::StoredLeaves {
        store.migrate().await.unwrap();
        let events = (0..5)
            .map(|i| {
                let body = json!({
                    "model_name": if i % 2 == 0 { "fraud" } else { "credit" }, "model_version": "1",
                    "prediction_id": format!("p-{i}"), "timestamp": "2026-11-27T08:00:00Z",
                    "features": {"amount": 120.0 + f64::from(i), "nested": {"b": [1, "x"]}},
                    "output": {"score": 0.5}, "confidence": 0.25 * f64::from(i % 3), "metadata": {},
                    "decision_outcome": "approved",
                    "actor": if i == 4 { json!(null) } else { json!({"actor_type": "user", "actor_id": format!("u{}", i % 2)}) },
                });
                PredictionInput::parse(body).unwrap().prepare(&RedactionPolicy::default(), &Visibility::AllTenants).unwrap()
            })
            .collect::<Vec<_>>();
        let mut events = events.into_iter();
        for batch in [3, 2] {
            let outcomes = store.record_predictions(events.by_ref().take(batch).collect()).await.unwrap();
            assert!(outcomes.iter().all(|o| matches!(o, ml_audit_storage::RecordOutcome::Created(_))));
        }
        assert!(store.ledger_pending(100).await.unwrap().rows.is_empty(), "sealed at commit, nothing queued");
        let sealed_inline = store.ledger_leaf_hashes(0, 100).await.unwrap();
        let totals = rollups(store).await;
        assert_eq!(sealed_inline.len(), 5);
        let hourly: Vec<&String> = totals.iter().filter(|row| row.starts_with("hourly|")).collect();
        assert_eq!(hourly.len(), 2, "folded at commit, one hour for each model: {totals:?}");
        assert!(totals.iter().any(|row| row.starts_with("mix|") && row.contains("|approved|success|5|")), "{totals:?}");

        for rewind in [
            "DROP TRIGGER ledger_entries_are_append_only_delete",
            "INSERT INTO ledger_queue (kind, record_id) SELECT kind, record_id FROM ledger_entries ORDER BY seq",
            "DELETE FROM ledger_entries",
            "DELETE FROM rollup_hourly",
            "DELETE FROM rollup_mix",
            "DELETE FROM rollup_actors",
        ] {
            sqlx::query(rewind).execute(&store.writer).await.unwrap();
        }
        let pending = store.ledger_pending(100).await.unwrap();
        let rows = RowCatalog::new(pending.models, pending.actors);
        let leaves: Vec<NewLeaf> = pending
            .rows
            .iter()
            .map(|queued| {
                let record = queued.row().expect("no hash, so the row").decode(&rows).unwrap();
                NewLeaf {
                    queue_id: queued.queue_id,
                    kind: record.kind(),
                    record_id: record.record_id(),
                    leaf_hash: record.leaf_hash(),
                }
            })
            .collect();
        let appended = store.ledger_append(leaves).await.unwrap();
        assert_eq!(appended.iter().map(|leaf| leaf.leaf_hash).collect::<Vec<_>>(), sealed_inline);
        assert_eq!(rollups(store).await, totals, "the sealer folds what the write path folded");
        assert!(store.ledger_pending(100).await.unwrap().rows.is_empty());
        store.ledger_records(0, 100).await.unwrap()
    }

    /// The file's reader (rusqlite) and the in-memory one (sqlx) read the same rows the same way.
    #[tokio::test]
    async fn both_readers_read_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let file = SqliteStore::open(&format!("sqlite://{}", dir.path().join("log.db").display())).await.unwrap();
        let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
        let (from_file, from_memory) = (sealed_log(&file).await, sealed_log(&memory).await);
        assert_eq!(from_file.rows.len(), 5);
        assert_eq!((from_file.models.len(), from_file.actors.len()), (2, 2), "each referenced row once");
        let shape = |log: &ml_audit_storage::StoredLeaves| {
            let mut models: Vec<_> =
                log.models.iter().map(|m| (m.model_name.clone(), m.config_snapshot.clone())).collect();
            let mut actors: Vec<_> = log.actors.iter().map(|a| (a.actor_type.clone(), a.actor_id.clone())).collect();
            models.sort();
            actors.sort();
            let features: Vec<_> = log
                .rows
                .iter()
                .map(|leaf| match leaf.record.as_ref().unwrap() {
                    ml_audit_core::ledger::stored::StoredRecord::Prediction(row) => {
                        (row.prediction_id.clone(), row.features.clone(), row.actor_ref.is_some())
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            (models, actors, features)
        };
        assert_eq!(shape(&from_file), shape(&from_memory));
        let (_, _, features) = shape(&from_file);
        assert_eq!(features[0], ("p-0".into(), r#"{"amount":120,"nested":{"b":[1,"x"]}}"#.into(), true));
        assert!(!features[4].2, "p-4 has no actor");
    }
}
