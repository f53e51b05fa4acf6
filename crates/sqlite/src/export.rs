//! An export's reads on SQLite: the list's own queries (`ml_audit_sql::predictions::list` and
//! the page's state lookup, `ml_audit_sql::outcomes::state_query`, mapped by the same
//! `ml_audit_sql::row` functions), run through rusqlite on a blocking thread, in one snapshot,
//! page after page. sqlx would copy every value of every row and hand each row across a
//! thread, which costs more than everything else an export does (see `log_reader.rs`).
//!
//! rusqlite takes no sqlx binds, so these queries are built with [`Literal`], the SQLite
//! dialect with every value written into the text as a literal of its type: integers and
//! floats as numbers, UUIDs and bytes as blobs (`X'…'`), text quoted with its quotes doubled.
//! Nothing else reaches the text, and text values are the filters', which never hold NUL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::{Cursor, PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_sql::dialect::{push_in_list, push_values};
use ml_audit_sql::predictions::NamedRows;
use ml_audit_sql::{Column, Conn, Dialect, Rows, SqlStore, outcomes, predictions, row};
use ml_audit_storage::{ExportSender, Result, StorageError, split_page};
use rusqlite::OpenFlags;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use uuid::Uuid;

use crate::Lite;
use crate::dialect::LiteRow;
use crate::log_reader::{RusqliteRow, sqlite_err};

/// An export from the database file at `path` (see the module documentation).
pub async fn export_from_file(
    store: &SqlStore<Lite>,
    path: &Path,
    visibility: &Visibility,
    filter: &PredictionFilter,
    page_rows: u32,
    pages: ExportSender,
) {
    let named = match store.named_rows(visibility, filter).await {
        Ok(Some(named)) => named,
        // Nothing can match: one empty page.
        Ok(None) => {
            let _ = pages.send(Ok(Vec::new())).await;
            return;
        }
        Err(error) => {
            let _ = pages.send(Err(error)).await;
            return;
        }
    };
    let (path, visibility, filter): (PathBuf, _, _) = (path.to_owned(), visibility.clone(), filter.clone());
    let reading = tokio::task::spawn_blocking(move || {
        if let Err(error) = read_pages(&path, &visibility, &filter, &named, page_rows, &pages) {
            let _ = pages.blocking_send(Err(error));
        }
    });
    // A panic is a bug; the export's receiver then sees its pages end early, with no error, so
    // say so here.
    if let Err(error) = reading.await {
        tracing::error!(%error, "the export's reader stopped");
    }
}

/// Reads and sends the pages until the last, or until nobody receives them.
fn read_pages(
    path: &Path,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page_rows: u32,
    pages: &ExportSender,
) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_err)?;
    conn.pragma_update(None, "mmap_size", 1i64 << 31).map_err(sqlite_err)?;
    // One snapshot for the whole export: every page is of the same state of the database.
    let snapshot = conn.transaction().map_err(sqlite_err)?;
    let mut page = PageRequest { limit: page_rows.max(1), after: None };
    loop {
        let query = predictions::list::<Literal>(QueryBuilder::new(""), visibility, filter, named, &page);
        let mut statement = snapshot.prepare(&query.into_string()).map_err(sqlite_err)?;
        let mut rows = statement.query([]).map_err(sqlite_err)?;
        let mut events = Vec::with_capacity(page.limit as usize + 1);
        while let Some(found) = rows.next().map_err(sqlite_err)? {
            events.push(row::prediction(&RusqliteRow(found))?);
        }
        let (mut events, next) = split_page(events, page.limit, |last| Cursor { timestamp: last.timestamp, id: last.id });
        complete(&snapshot, &mut events)?;
        if pages.blocking_send(Ok(events)).is_err() {
            return Ok(());
        }
        match next {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// The page's decisions after review, current outcomes and reviews.
fn complete(conn: &rusqlite::Connection, events: &mut [PredictionEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let query = outcomes::state_query::<Literal>(events.iter().map(|event| event.id).collect());
    let mut statement = conn.prepare(&query.into_string()).map_err(sqlite_err)?;
    let mut rows = statement.query([]).map_err(sqlite_err)?;
    let mut states = Vec::new();
    while let Some(found) = rows.next().map_err(sqlite_err)? {
        states.push(row::state(&RusqliteRow(found))?);
    }
    outcomes::apply_states(events, states);
    Ok(())
}

/// SQLite's dialect with values written as literals (see the module documentation). Only the
/// text of a query is taken from it; running one goes through [`Lite`].
pub struct Literal;

fn push_blob(query: &mut QueryBuilder<Sqlite>, bytes: &[u8]) {
    let mut text = String::with_capacity(3 + 2 * bytes.len());
    text.push_str("X'");
    for byte in bytes {
        text.push_str(&format!("{byte:02X}"));
    }
    text.push('\'');
    query.push(text);
}

#[async_trait]
impl Dialect for Literal {
    type Db = Sqlite;
    type Row<'r> = LiteRow<'r>;

    fn row(row: &SqliteRow) -> LiteRow<'_> {
        LiteRow(row)
    }

    fn bind_text(query: &mut QueryBuilder<Sqlite>, value: &str) {
        query.push(format!("'{}'", value.replace('\'', "''")));
    }

    fn bind_uuid(query: &mut QueryBuilder<Sqlite>, value: Uuid) {
        push_blob(query, value.as_bytes());
    }

    fn bind_int(query: &mut QueryBuilder<Sqlite>, value: i64) {
        query.push(value.to_string());
    }

    fn bind_float(query: &mut QueryBuilder<Sqlite>, value: f64) {
        // `{:?}` always writes a REAL literal (`1.0`, `0.25`, `1e-7`); filters are finite.
        query.push(format!("{value:?}"));
    }

    fn bind_time(query: &mut QueryBuilder<Sqlite>, value: time::OffsetDateTime) {
        Self::bind_int(query, timestamp::to_unix_micros(value));
    }

    fn bind_bytes(query: &mut QueryBuilder<Sqlite>, value: &[u8]) {
        push_blob(query, value);
    }

    const NOT_AN_INDEX: &'static str = Lite::NOT_AN_INDEX;

    fn push_in(query: &mut QueryBuilder<Sqlite>, column: &str, values: Column) {
        push_in_list::<Self>(query, column, &values);
    }

    fn push_rows(query: &mut QueryBuilder<Sqlite>, rows: Rows) {
        push_values::<Self>(query, rows);
    }

    async fn fetch_all(pool: &SqlitePool, query: QueryBuilder<Sqlite>) -> Result<Vec<SqliteRow>> {
        Lite::fetch_all(pool, query).await
    }

    async fn fetch_optional(pool: &SqlitePool, query: QueryBuilder<Sqlite>) -> Result<Option<SqliteRow>> {
        Lite::fetch_optional(pool, query).await
    }

    async fn execute(pool: &SqlitePool, query: QueryBuilder<Sqlite>) -> Result<u64> {
        Lite::execute(pool, query).await
    }

    async fn for_each(
        conn: &mut Conn<Self>,
        query: QueryBuilder<Sqlite>,
        each: &mut (dyn for<'r> FnMut(&'r SqliteRow) -> Result<()> + Send),
    ) -> Result<()> {
        Lite::for_each(conn, query, each).await
    }

    fn classify(error: sqlx::Error) -> StorageError {
        Lite::classify(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_written_as_their_sqlite_types() {
        let mut query = QueryBuilder::<Sqlite>::new("");
        Literal::bind_text(&mut query, "it's");
        query.push(" ");
        Literal::bind_uuid(&mut query, Uuid::from_u128(0xAB));
        query.push(" ");
        Literal::bind_float(&mut query, 1.0);
        query.push(" ");
        Literal::bind_float(&mut query, 0.25);
        query.push(" ");
        Literal::bind_int(&mut query, -7);
        assert_eq!(query.into_string(), "'it''s' X'000000000000000000000000000000AB' 1.0 0.25 -7");
    }
}
