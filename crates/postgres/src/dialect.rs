//! PostgreSQL's side of the shared SQL (`ml-audit-sql`): binds (timestamps as `timestamptz`,
//! sets as arrays), rows, and failures classified by SQLSTATE.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use ml_audit_sql::{Column, Conn, Dialect, Rows, SqlRow, classify};
use ml_audit_storage::{Result, StorageError};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row as _};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Pg;

/// A row read through sqlx.
pub struct PgSqlRow<'r>(pub &'r PgRow);

impl PgSqlRow<'_> {
    fn at<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(&'r self, column: usize) -> Result<T> {
        self.0.try_get(column).map_err(db_err)
    }
}

impl SqlRow for PgSqlRow<'_> {
    fn text(&self, column: usize) -> Result<Option<String>> {
        self.at(column)
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.at(column)
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        self.at(column)
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        self.at(column)
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        self.at(column)
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        self.at(column)
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        self.at(column)
    }
}

/// `column` bound as one array of its type (cast, so that a column of `NULL`s is typed too).
fn push_array(query: &mut QueryBuilder<Postgres>, column: Column) {
    fn bind<'t, T: sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>>(
        query: &mut QueryBuilder<Postgres>,
        values: T,
        cast: &str,
    ) {
        query.push_bind(values).push(cast);
    }
    match column {
        Column::Text(values) => bind(query, values, "::text[]"),
        Column::Uuid(values) => bind(query, values, "::uuid[]"),
        Column::Int(values) => bind(query, values, "::bigint[]"),
        Column::Float(values) => bind(query, values, "::float8[]"),
        Column::Time(values) => bind(query, values, "::timestamptz[]"),
        Column::Bytes(values) => bind(query, values, "::bytea[]"),
    }
}

/// Classifies a failure of PostgreSQL by its SQLSTATE class
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
pub fn db_err(error: sqlx::Error) -> StorageError {
    classify(error, |db| {
        let code = db.code()?;
        match &code[..2.min(code.len())] {
            // Insufficient resources: disk full (53100), out of memory, too many connections.
            "53" if code == "53100" => Some(StorageError::Full(db.message().into())),
            // Connection exceptions, operator intervention (shutdown, cannot connect now).
            "08" | "57" | "53" => Some(StorageError::Unavailable(db.message().into())),
            // Data corrupted (XX001, XX002).
            "XX" if code != "XX000" => Some(StorageError::Integrity(db.message().to_owned())),
            _ => None,
        }
    })
}

#[async_trait]
impl Dialect for Pg {
    type Db = Postgres;
    type Row<'r> = PgSqlRow<'r>;

    fn row(row: &PgRow) -> PgSqlRow<'_> {
        PgSqlRow(row)
    }

    fn bind_text(query: &mut QueryBuilder<Postgres>, value: &str) {
        query.push_bind(value.to_owned());
    }

    fn bind_uuid(query: &mut QueryBuilder<Postgres>, value: Uuid) {
        query.push_bind(value);
    }

    fn bind_int(query: &mut QueryBuilder<Postgres>, value: i64) {
        query.push_bind(value);
    }

    fn bind_float(query: &mut QueryBuilder<Postgres>, value: f64) {
        query.push_bind(value);
    }

    fn bind_time(query: &mut QueryBuilder<Postgres>, value: OffsetDateTime) {
        query.push_bind(value);
    }

    fn bind_bytes(query: &mut QueryBuilder<Postgres>, value: &[u8]) {
        query.push_bind(value.to_vec());
    }

    /// PostgreSQL weighs indexes by statistics: no hint needed.
    const NOT_AN_INDEX: &'static str = "";

    /// One array parameter: one statement text whatever the number of values.
    fn push_in(query: &mut QueryBuilder<Postgres>, column: &str, values: Column) {
        query.push(format!("{column} = ANY("));
        push_array(query, values);
        query.push(")");
    }

    /// One array per column, unnested: a dozen parameters whatever the number of rows.
    fn push_rows(query: &mut QueryBuilder<Postgres>, rows: Rows) {
        query.push("SELECT * FROM UNNEST(");
        for (at, column) in rows.into_columns().into_iter().enumerate() {
            if at > 0 {
                query.push(", ");
            }
            push_array(query, column);
        }
        query.push(")");
    }

    async fn fetch_all(pool: &PgPool, mut query: QueryBuilder<Postgres>) -> Result<Vec<PgRow>> {
        query.build().fetch_all(pool).await.map_err(db_err)
    }

    async fn fetch_optional(pool: &PgPool, mut query: QueryBuilder<Postgres>) -> Result<Option<PgRow>> {
        query.build().fetch_optional(pool).await.map_err(db_err)
    }

    async fn execute(pool: &PgPool, mut query: QueryBuilder<Postgres>) -> Result<u64> {
        Ok(query.build().execute(pool).await.map_err(db_err)?.rows_affected())
    }

    async fn for_each(
        conn: &mut Conn<Self>,
        mut query: QueryBuilder<Postgres>,
        each: &mut (dyn for<'r> FnMut(&'r PgRow) -> Result<()> + Send),
    ) -> Result<()> {
        let mut rows = query.build().fetch(conn);
        while let Some(row) = rows.try_next().await.map_err(db_err)? {
            each(&row)?;
        }
        Ok(())
    }

    fn classify(error: sqlx::Error) -> StorageError {
        db_err(error)
    }
}
