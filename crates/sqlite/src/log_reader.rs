//! Reads the sealed log back for `verify` through rusqlite rather than sqlx: sqlx copies every
//! value of every row and hands each row across a thread, which at millions of leaves costs more
//! than recomputing them. Here rows are read in place, on a blocking thread, with a connection
//! of their own (read-only, one snapshot per call).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ml_audit_storage::{
    LEDGER_ACTOR_COLUMNS, LEDGER_MODELS_SQL, LEDGER_RECORDS_SQL, LedgerRow, Result, StorageError, StoredLeaves,
    encode_seq, referenced_actors, stored_actor, stored_leaf, stored_model,
};
use rusqlite::types::ValueRef;
use rusqlite::{OpenFlags, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::micros;

pub async fn ledger_records(path: Option<&Path>, from: u64, to: u64) -> Result<StoredLeaves> {
    let path: PathBuf = path
        .ok_or_else(|| StorageError::Config("an in-memory database cannot be read back for verify".into()))?
        .to_owned();
    tokio::task::spawn_blocking(move || read(&path, from, to))
        .await
        .map_err(|e| StorageError::Database(format!("the ledger reader stopped: {e}")))?
}

fn read(path: &Path, from: u64, to: u64) -> Result<StoredLeaves> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_err)?;
    // Pages are read straight from the mapped file instead of copied in by read(2).
    conn.pragma_update(None, "mmap_size", 1i64 << 31).map_err(sqlite_err)?;
    let snapshot = conn.transaction().map_err(sqlite_err)?;
    let (from, to) = (encode_seq(from), encode_seq(to));
    let mut leaves = Vec::new();
    let mut statement = snapshot.prepare(LEDGER_RECORDS_SQL).map_err(sqlite_err)?;
    let mut rows = statement.query((from, to)).map_err(sqlite_err)?;
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        leaves.push(stored_leaf(&SqliteLedgerRow(row))?);
    }
    let mut models = Vec::new();
    let mut statement = snapshot.prepare(LEDGER_MODELS_SQL).map_err(sqlite_err)?;
    let mut rows = statement.query((from, to)).map_err(sqlite_err)?;
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        models.push(stored_model(&SqliteLedgerRow(row))?);
    }
    let mut actors = Vec::new();
    let mut statement =
        snapshot.prepare(&format!("SELECT {LEDGER_ACTOR_COLUMNS} FROM actors WHERE id = ?1")).map_err(sqlite_err)?;
    for id in referenced_actors(&leaves) {
        let mut rows = statement.query([id.as_bytes().as_slice()]).map_err(sqlite_err)?;
        if let Some(row) = rows.next().map_err(sqlite_err)? {
            actors.push(stored_actor(&SqliteLedgerRow(row))?);
        }
    }
    Ok(StoredLeaves { leaves, models, actors })
}

struct SqliteLedgerRow<'r, 's>(&'r Row<'s>);

impl SqliteLedgerRow<'_, '_> {
    fn value(&self, column: usize) -> Result<ValueRef<'_>> {
        self.0.get_ref(column).map_err(sqlite_err)
    }
}

impl LedgerRow for SqliteLedgerRow<'_, '_> {
    fn text(&self, column: usize) -> Result<Option<String>> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(text) => String::from_utf8(text.to_vec())
                .map(Some)
                .map_err(|_| StorageError::Database(format!("column {column} is not UTF-8"))),
            other => Err(wrong_type(column, "text", other)),
        }
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.bytes(column)?
            .map(|bytes| {
                Uuid::from_slice(&bytes).map_err(|_| StorageError::Database(format!("column {column} is not a UUID")))
            })
            .transpose()
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(bytes) => Ok(Some(bytes.to_vec())),
            other => Err(wrong_type(column, "blob", other)),
        }
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(value) => Ok(Some(value)),
            other => Err(wrong_type(column, "integer", other)),
        }
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Real(value) => Ok(Some(value)),
            // A REAL column keeps an integral value as an integer when it is written as one.
            ValueRef::Integer(value) => Ok(Some(value as f64)),
            other => Err(wrong_type(column, "real", other)),
        }
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        Ok(self.integer(column)?.map(|value| value != 0))
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        self.integer(column)?.map(micros).transpose()
    }
}

fn wrong_type(column: usize, expected: &str, found: ValueRef<'_>) -> StorageError {
    StorageError::Database(format!("column {column} holds {:?} where {expected} belongs", found.data_type()))
}

fn sqlite_err(error: rusqlite::Error) -> StorageError {
    StorageError::Database(error.to_string())
}
