//! SQLite's side of the shared SQL (`ml-audit-sql`): how values are bound (timestamps as
//! microseconds since the epoch), how rows are read, how failures are classified.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use ml_audit_core::timestamp;
use ml_audit_sql::dialect::{push_in_list, push_values};
use ml_audit_sql::{Column, Conn, Dialect, Rows, SqlRow, classify};
use ml_audit_storage::{Result, StorageError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Lite;

/// A row read through sqlx.
pub struct LiteRow<'r>(pub &'r SqliteRow);

impl LiteRow<'_> {
    fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(&'r self, column: usize) -> Result<T> {
        self.0.try_get(column).map_err(db_err)
    }
}

impl SqlRow for LiteRow<'_> {
    fn text(&self, column: usize) -> Result<Option<String>> {
        self.get(column)
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.get(column)
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        self.get(column)
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        self.get(column)
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        self.get(column)
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        self.get(column)
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        self.get::<Option<i64>>(column)?.map(micros).transpose()
    }
}

/// A stored timestamp (microseconds since the epoch).
pub fn micros(value: i64) -> Result<OffsetDateTime> {
    timestamp::from_unix_micros(value)
        .ok_or_else(|| StorageError::Integrity(format!("timestamp {value} is out of range")))
}

/// Classifies a failure of SQLite (result codes: <https://www.sqlite.org/rescode.html>).
pub fn db_err(error: sqlx::Error) -> StorageError {
    classify(error, |db| {
        let code = db.code()?;
        // The primary result code is the low byte of an extended one.
        let primary = code.parse::<i32>().ok()? & 0xff;
        match primary {
            // SQLITE_FULL
            13 => Some(StorageError::Full(db.message().into())),
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN
            5 | 6 | 10 | 14 => Some(StorageError::Unavailable(db.message().into())),
            // SQLITE_CORRUPT, SQLITE_NOTADB
            11 | 26 => Some(StorageError::Integrity(db.message().to_owned())),
            _ => None,
        }
    })
}

#[async_trait]
impl Dialect for Lite {
    type Db = Sqlite;
    type Row<'r> = LiteRow<'r>;

    fn row(row: &SqliteRow) -> LiteRow<'_> {
        LiteRow(row)
    }

    fn bind_text(query: &mut QueryBuilder<Sqlite>, value: &str) {
        query.push_bind(value.to_owned());
    }

    fn bind_uuid(query: &mut QueryBuilder<Sqlite>, value: Uuid) {
        query.push_bind(value);
    }

    fn bind_int(query: &mut QueryBuilder<Sqlite>, value: i64) {
        query.push_bind(value);
    }

    fn bind_float(query: &mut QueryBuilder<Sqlite>, value: f64) {
        query.push_bind(value);
    }

    fn bind_time(query: &mut QueryBuilder<Sqlite>, value: OffsetDateTime) {
        query.push_bind(timestamp::to_unix_micros(value));
    }

    fn bind_bytes(query: &mut QueryBuilder<Sqlite>, value: &[u8]) {
        query.push_bind(value.to_vec());
    }

    /// SQLite plans by shape: an equality on an indexed column can win over a narrower one.
    const NOT_AN_INDEX: &'static str = "+";

    /// One bind per value.
    fn push_in(query: &mut QueryBuilder<Sqlite>, column: &str, values: Column) {
        push_in_list::<Self>(query, column, &values);
    }

    /// `VALUES (…), (…)`: SQLite binds each value anyway, and parses a statement in microseconds.
    fn push_rows(query: &mut QueryBuilder<Sqlite>, rows: Rows) {
        push_values::<Self>(query, rows);
    }

    async fn fetch_all(pool: &SqlitePool, mut query: QueryBuilder<Sqlite>) -> Result<Vec<SqliteRow>> {
        query.build().fetch_all(pool).await.map_err(db_err)
    }

    async fn fetch_optional(pool: &SqlitePool, mut query: QueryBuilder<Sqlite>) -> Result<Option<SqliteRow>> {
        query.build().fetch_optional(pool).await.map_err(db_err)
    }

    async fn execute(pool: &SqlitePool, mut query: QueryBuilder<Sqlite>) -> Result<u64> {
        Ok(query.build().execute(pool).await.map_err(db_err)?.rows_affected())
    }

    async fn for_each(
        conn: &mut Conn<Self>,
        mut query: QueryBuilder<Sqlite>,
        each: &mut (dyn for<'r> FnMut(&'r SqliteRow) -> Result<()> + Send),
    ) -> Result<()> {
        // Not kept in the statement cache: such texts vary with their number of ids.
        let mut rows = query.build().persistent(false).fetch(conn);
        while let Some(row) = rows.try_next().await.map_err(db_err)? {
            each(&row)?;
        }
        Ok(())
    }

    fn classify(error: sqlx::Error) -> StorageError {
        db_err(error)
    }
}
