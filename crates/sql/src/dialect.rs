//! What differs between the databases ml-audit runs on, for the queries written once in this
//! crate: how a value is bound, how a set is matched, how a query runs and how its failures are
//! classified. Each backend implements it for a marker type of its own.

use async_trait::async_trait;
use ml_audit_storage::{Result, StorageError};
use sqlx::{Database, Pool, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::row::SqlRow;
use crate::rows::{Column, Rows};

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

    /// `{column} IN (…values)` (at least one value) in the form this database binds best.
    fn push_in(query: &mut QueryBuilder<Self::Db>, column: &str, values: Column);

    /// ` AND {column} IN (…ids)` (at least one id).
    fn push_any_uuid(query: &mut QueryBuilder<Self::Db>, column: &str, ids: &[Uuid]) {
        query.push(" AND ");
        Self::push_in(query, column, Column::uuids(ids.iter().copied()));
    }

    /// `rows` as a relation an `INSERT INTO table (columns…)` takes, in the form this database
    /// binds best (see [`crate::rows`]).
    fn push_rows(query: &mut QueryBuilder<Self::Db>, rows: Rows);

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
    push_value::<D>(query, &Column::Text(vec![value]), 0);
}

/// The `row`th value of `column`, bound, or `NULL`.
fn push_value<D: Dialect>(query: &mut QueryBuilder<D::Db>, column: &Column, row: usize) {
    let bound = match column {
        Column::Text(values) => values[row].as_deref().map(|value| D::bind_text(query, value)),
        Column::Uuid(values) => values[row].map(|value| D::bind_uuid(query, value)),
        Column::Int(values) => values[row].map(|value| D::bind_int(query, value)),
        Column::Float(values) => values[row].map(|value| D::bind_float(query, value)),
        Column::Time(values) => values[row].map(|value| D::bind_time(query, value)),
        Column::Bytes(values) => values[row].as_deref().map(|value| D::bind_bytes(query, value)),
    };
    if bound.is_none() {
        query.push("NULL");
    }
}

/// `VALUES (…), (…)`, one bind per value: [`Dialect::push_rows`] for a database without arrays.
pub fn push_values<D: Dialect>(query: &mut QueryBuilder<D::Db>, rows: Rows) {
    let len = rows.len();
    let columns = rows.into_columns();
    query.push("VALUES ");
    for row in 0..len {
        query.push(if row == 0 { "(" } else { ", (" });
        for (at, column) in columns.iter().enumerate() {
            if at > 0 {
                query.push(", ");
            }
            push_value::<D>(query, column, row);
        }
        query.push(")");
    }
}

/// `{column} IN (…)`, one bind per value: [`Dialect::push_in`] for a database without arrays.
pub fn push_in_list<D: Dialect>(query: &mut QueryBuilder<D::Db>, column: &str, values: &Column) {
    query.push(format!("{column} IN ("));
    for row in 0..values.len() {
        if row > 0 {
            query.push(", ");
        }
        push_value::<D>(query, values, row);
    }
    query.push(")");
}
