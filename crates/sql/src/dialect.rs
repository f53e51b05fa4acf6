//! What differs between the databases ml-audit runs on, for the queries written once in this
//! crate: how a value is bound, how a set is matched, how a query runs and how its failures are
//! classified. Each backend implements it for a marker type of its own.

use async_trait::async_trait;
use ml_audit_storage::{Result, StorageError};
use sqlx::{Database, Pool, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::row::SqlRow;

/// A database's rows as this crate reads them.
pub type DbRow<D> = <<D as Dialect>::Db as Database>::Row;

/// A connection of the dialect's database (a transaction dereferences to one).
pub type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// The SQL dialect of one backend. Every value goes through a `bind_*` method, so the shared
/// queries never name a driver type; timestamps in particular are stored differently (SQLite:
/// microseconds since the epoch; PostgreSQL: `timestamptz`).
#[async_trait]
pub trait Dialect: Send + Sync + Sized + 'static {
    type Db: Database;

    /// A row of this database, read column by column.
    type Row<'r>: SqlRow
    where
        Self: 'r;

    fn row(row: &DbRow<Self>) -> Self::Row<'_>;

    fn bind_text(query: &mut QueryBuilder<Self::Db>, value: &str);
    fn bind_uuid(query: &mut QueryBuilder<Self::Db>, value: Uuid);
    fn bind_int(query: &mut QueryBuilder<Self::Db>, value: i64);
    fn bind_float(query: &mut QueryBuilder<Self::Db>, value: f64);
    fn bind_time(query: &mut QueryBuilder<Self::Db>, value: OffsetDateTime);
    fn bind_bytes(query: &mut QueryBuilder<Self::Db>, value: &[u8]);

    /// Put before a column, keeps the planner from reading the table through an index on it
    /// (SQLite's unary `+`; empty where the planner chooses by statistics).
    const NOT_AN_INDEX: &'static str;

    /// ` AND {column} IN (…ids)` (at least one id) in the form this database binds best.
    fn push_any_uuid(query: &mut QueryBuilder<Self::Db>, column: &str, ids: &[Uuid]);

    /// Runs a query on the pool.
    async fn fetch_all(pool: &Pool<Self::Db>, query: QueryBuilder<Self::Db>) -> Result<Vec<DbRow<Self>>>;
    async fn fetch_optional(pool: &Pool<Self::Db>, query: QueryBuilder<Self::Db>) -> Result<Option<DbRow<Self>>>;
    /// Runs a statement; the number of rows it changed.
    async fn execute(pool: &Pool<Self::Db>, query: QueryBuilder<Self::Db>) -> Result<u64>;

    /// Runs a query on one connection (a transaction's, for a snapshot), handing each row to `each`
    /// as it arrives: a large result is never held twice, as rows and as what they map to.
    async fn for_each(
        conn: &mut Conn<Self>,
        query: QueryBuilder<Self::Db>,
        each: &mut (dyn for<'r> FnMut(&'r DbRow<Self>) -> Result<()> + Send),
    ) -> Result<()>;

    /// Says what a driver error is (see [`crate::classify`] for what all drivers share).
    fn classify(error: sqlx::Error) -> StorageError;
}

/// Every row of `query` on `conn`, each mapped as it arrives.
pub async fn collect<D: Dialect, T: Send>(
    conn: &mut Conn<D>,
    query: QueryBuilder<D::Db>,
    map: impl Fn(&D::Row<'_>) -> Result<T> + Send + Sync,
) -> Result<Vec<T>> {
    let mut mapped = Vec::new();
    D::for_each(conn, query, &mut |row| {
        mapped.push(map(&D::row(row))?);
        Ok(())
    })
    .await?;
    Ok(mapped)
}

/// Binds `value`, or writes `NULL`.
pub fn bind_optional_text<D: Dialect>(query: &mut QueryBuilder<D::Db>, value: Option<String>) {
    match value {
        Some(text) => D::bind_text(query, &text),
        None => {
            query.push("NULL");
        }
    }
}

/// Binds the values of one parenthesised row (`(a, b, …)`, as in `VALUES`), writing the commas:
/// an insert reads as the list of its values.
pub struct Values<'q, D: Dialect> {
    query: &'q mut QueryBuilder<D::Db>,
    started: bool,
}

impl<'q, D: Dialect> Values<'q, D> {
    /// Opens the row: `(`.
    pub fn new(query: &'q mut QueryBuilder<D::Db>) -> Self {
        query.push("(");
        Self { query, started: false }
    }

    fn next(&mut self) -> &mut QueryBuilder<D::Db> {
        if self.started {
            self.query.push(", ");
        }
        self.started = true;
        self.query
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        D::bind_text(self.next(), value);
        self
    }

    pub fn uuid(&mut self, value: Uuid) -> &mut Self {
        D::bind_uuid(self.next(), value);
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        D::bind_int(self.next(), value);
        self
    }

    pub fn float(&mut self, value: f64) -> &mut Self {
        D::bind_float(self.next(), value);
        self
    }

    pub fn time(&mut self, value: OffsetDateTime) -> &mut Self {
        D::bind_time(self.next(), value);
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        D::bind_bytes(self.next(), value);
        self
    }

    /// `value` bound by `bind`, or `NULL`.
    pub fn optional<T>(&mut self, value: Option<T>, bind: fn(&mut Self, T) -> &mut Self) -> &mut Self {
        match value {
            Some(value) => bind(self, value),
            None => {
                self.next().push("NULL");
                self
            }
        }
    }

    /// Closes the row: `)`.
    pub fn close(&mut self) {
        self.query.push(")");
    }
}
