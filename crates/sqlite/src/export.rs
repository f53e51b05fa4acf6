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

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::{Cursor, PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_sql::dialect::{push_in_list, push_values};
use ml_audit_sql::predictions::NamedRows;
use ml_audit_sql::{Column, Conn, Dialect, Rows, SqlRow, SqlStore, outcomes, predictions, row};
use ml_audit_storage::{ExportSender, Result, StorageError};
use rusqlite::OpenFlags;
use rusqlite::types::{Value, ValueRef};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use uuid::Uuid;

use crate::Lite;
use crate::dialect::LiteRow;
use crate::log_reader::sqlite_err;

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
    // Two threads of the blocking pool's kind: the reader here, the mapper it starts.
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

/// A page as read: its prediction rows (the page's, without the one after it) and its state
/// rows, their values owned, for the mapping thread.
struct ReadPage {
    predictions: Vec<OwnedRow>,
    states: Vec<OwnedRow>,
}

/// Reads the pages on this thread and maps them ([`row::prediction`], with the JSON columns'
/// decoding, about as costly as the reading) on a second one, which sends them on: the two
/// run side by side, a page apart. Stops after the last page, or when nobody receives them.
fn read_pages(
    path: &Path,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page_rows: u32,
    pages: &ExportSender,
) -> Result<()> {
    let (read, to_map) = std::sync::mpsc::sync_channel::<ReadPage>(1);
    let mapper_pages = pages.clone();
    let mapper = std::thread::Builder::new()
        .name("export-mapper".into())
        .spawn(move || {
            for page in to_map {
                let mapped = map_page(page);
                let failed = mapped.is_err();
                if mapper_pages.blocking_send(mapped).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| StorageError::database(format!("cannot start the export's mapping thread: {e}")))?;
    let outcome = read_rows(path, visibility, filter, named, page_rows, &read);
    drop(read);
    let _ = mapper.join();
    outcome
}

fn read_rows(
    path: &Path,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page_rows: u32,
    read: &std::sync::mpsc::SyncSender<ReadPage>,
) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_err)?;
    // No memory map (unlike the log reader's): its pages would count in the process's resident
    // memory, which an export over the whole file would grow to the file's size.
    // One snapshot for the whole export: every page is of the same state of the database.
    let snapshot = conn.transaction().map_err(sqlite_err)?;
    let mut page = PageRequest { limit: page_rows.max(1), after: None };
    loop {
        let query = predictions::list::<Literal>(QueryBuilder::new(""), visibility, filter, named, &page);
        let mut predictions = owned_rows(&snapshot, query)?;
        let next = match predictions.len() > page.limit as usize {
            true => {
                predictions.truncate(page.limit as usize);
                let last = predictions.last().expect("a page of at least one row");
                // The page order's columns: `p.id` first, `p.ts` third (`row::prediction`).
                let cursor = match (last.uuid(0)?, last.time(2)?) {
                    (Some(id), Some(timestamp)) => Cursor { timestamp, id },
                    _ => return Err(StorageError::Integrity("a listed prediction has no id or timestamp".into())),
                };
                Some(cursor)
            }
            false => None,
        };
        let ids = predictions.iter().map(|row| row.uuid(0)).collect::<Result<Option<Vec<Uuid>>>>()?;
        let states = match ids {
            Some(ids) if !ids.is_empty() => owned_rows(&snapshot, outcomes::state_query::<Literal>(ids))?,
            _ => Vec::new(),
        };
        if read.send(ReadPage { predictions, states }).is_err() {
            return Ok(());
        }
        match next {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(()),
        }
    }
}

/// The rows of `query`, each value copied out of SQLite (no decoding).
fn owned_rows(conn: &rusqlite::Connection, query: QueryBuilder<Sqlite>) -> Result<Vec<OwnedRow>> {
    let mut statement = conn.prepare(&query.into_string()).map_err(sqlite_err)?;
    let columns = statement.column_count();
    let mut rows = statement.query([]).map_err(sqlite_err)?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        let values =
            (0..columns).map(|column| owned(row.get_ref(column).map_err(sqlite_err)?)).collect::<Result<Vec<_>>>()?;
        found.push(OwnedRow(RefCell::new(values)));
    }
    Ok(found)
}

/// A value copied out of its row; text checked to be UTF-8 here, once.
fn owned(value: ValueRef<'_>) -> Result<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => Value::Integer(integer),
        ValueRef::Real(real) => Value::Real(real),
        ValueRef::Text(text) => Value::Text(
            std::str::from_utf8(text)
                .map_err(|_| StorageError::Integrity("a text column holds bytes that are not UTF-8".into()))?
                .to_owned(),
        ),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    })
}

/// A page's predictions as the list maps them, with their states applied.
fn map_page(page: ReadPage) -> Result<Vec<PredictionEvent>> {
    let mut events = page.predictions.iter().map(row::prediction).collect::<Result<Vec<_>>>()?;
    let states = page.states.iter().map(row::state).collect::<Result<Vec<_>>>()?;
    outcomes::apply_states(&mut events, states);
    Ok(events)
}

/// A row whose values were copied out of SQLite. Mapping reads each text or blob column once,
/// so those are moved out rather than copied a second time.
struct OwnedRow(RefCell<Vec<Value>>);

impl OwnedRow {
    fn read<T>(&self, column: usize, expected: &str, map: impl FnOnce(&mut Value) -> Option<T>) -> Result<Option<T>> {
        let mut values = self.0.borrow_mut();
        let value =
            values.get_mut(column).ok_or_else(|| StorageError::Integrity(format!("a row has no column {column}")))?;
        if matches!(value, Value::Null) {
            return Ok(None);
        }
        let kind = value.data_type();
        map(value)
            .map(Some)
            .ok_or_else(|| StorageError::Integrity(format!("column {column} holds {kind:?} where {expected} belongs")))
    }
}

impl SqlRow for OwnedRow {
    fn text(&self, column: usize) -> Result<Option<String>> {
        self.read(column, "UTF-8 text", |value| match value {
            Value::Text(text) => Some(std::mem::take(text)),
            _ => None,
        })
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.read(column, "a UUID", |value| match value {
            Value::Blob(bytes) => Uuid::from_slice(bytes).ok(),
            _ => None,
        })
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        self.read(column, "a blob", |value| match value {
            Value::Blob(bytes) => Some(std::mem::take(bytes)),
            _ => None,
        })
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        self.read(column, "an integer", |value| match value {
            Value::Integer(integer) => Some(*integer),
            _ => None,
        })
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        self.read(column, "a number", |value| match value {
            Value::Real(real) => Some(*real),
            // A REAL column keeps an integral value written as an integer as one.
            Value::Integer(integer) => Some(*integer as f64),
            _ => None,
        })
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        Ok(self.integer(column)?.map(|value| value != 0))
    }

    fn time(&self, column: usize) -> Result<Option<time::OffsetDateTime>> {
        self.integer(column)?.map(crate::dialect::micros).transpose()
    }
}

/// SQLite's dialect with values written as literals (see the module documentation). Only the
/// text of a query is taken from it; running one goes through [`Lite`].
pub struct Literal;

fn push_blob(query: &mut QueryBuilder<Sqlite>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(3 + 2 * bytes.len());
    text.push_str("X'");
    for byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xF)]));
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
