//! SQLite backend: the embedded default.
//!
//! One write connection (SQLite has a single writer anyway) and a pool of read-only
//! connections, in WAL mode so readers never block the writer. `synchronous = FULL`: an
//! acknowledged write survives power loss, not only a process crash. The transaction that
//! writes a record also appends its ledger leaf and folds it into the UI's totals: with one
//! writer the next seq is never contended, and a queue would cost a second write and a second
//! transaction per record (the queue is read only for entries older versions left in it).
//!
//! Reads, keys, checkpoints and insights are `ml_audit_sql`'s, over [`Lite`]'s dialect
//! (`dialect.rs`); this crate keeps the write path (`write.rs`), the ledger's appends
//! (`ledger.rs`) and the log reader (`log_reader.rs`).

mod dialect;
mod export;
mod ledger;
mod log_reader;
mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::PreparedPrediction;
use ml_audit_core::query::PredictionFilter;
use ml_audit_sql::{Backend, SqlStore};
use ml_audit_storage::{
    ExportSender, NewLeaf, RecordLeaf, RecordOutcome, Result, RollupDelta, SealedLeaf, StorageError, StoredLeaves,
    StoredPending,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Sqlite, SqliteConnection, Transaction};

pub use crate::dialect::LiteRow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite store: `ml_audit_sql`'s store over SQLite.
pub type SqliteStore = SqlStore<Lite>;

/// SQLite as an `ml_audit_sql` backend, with what only it keeps: where its file is.
pub struct Lite {
    /// The database file (`None` in memory), for the log reader's own connection.
    path: Option<PathBuf>,
}

fn create_folder(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| StorageError::Config(format!("cannot create the folder {}: {e}", path.display())))
}

#[async_trait]
impl Backend for Lite {
    const NAME: &'static str = "sqlite";
    /// One writer connection: two groups, so that one is made ready while the other holds it.
    const WRITER_TASKS: usize = 2;
    /// No `ANALYZE`: without statistics SQLite plans by the query's shape, which the list's
    /// queries are written for and the plan tests check; statistics sampled on a growing table
    /// would make the choice depend on when they were taken.
    const REFRESH_STATISTICS: Option<&'static str> = None;

    /// Opens (creating the file and its folders if needed) `sqlite://PATH` or `sqlite::memory:`.
    async fn open(url: &str) -> Result<SqlStore<Lite>> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Config(format!("{url:?} is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // A larger page cache than SQLite's 2 MiB default keeps the upper levels of the
        // predictions indexes in memory at millions of rows (bounded: 16 + 4 × 4 MiB). A WAL
        // checkpoint every 40 MiB instead of 4 writes a hot index page once for many commits.
        //
        // The writer overwrites erased content with zeros where it stood rather than leaving
        // it in free space (`docs/lifecycle.md`). The space erasures free is reused by later
        // writes (the file stops growing); no auto_vacuum, with which a write failed for lack
        // of space kept failing after space was freed (`crates/cli/tests/faults.rs`).
        let writer_options = options
            .clone()
            .pragma("cache_size", "-16384")
            .pragma("wal_autocheckpoint", "10000")
            .pragma("secure_delete", "ON");
        let reader_options = options.clone().read_only(true).pragma("cache_size", "-4096");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory && let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
            create_folder(parent)?;
        }
        // An in-memory database lives as long as its one connection: share it for both roles.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // SQLite rolls a transaction back by itself on a full disk or an I/O error; sqlx
            // still counts it as open, its own ROLLBACK fails, and every later BEGIN on that
            // connection would fail until a restart. Such a connection is replaced by a fresh
            // one when the writer is next taken (not in memory: that would lose the database).
            .before_acquire(move |conn, _| Box::pin(async move { Ok(in_memory || !conn.is_in_transaction()) }))
            .connect_with(writer_options)
            .await
            .map_err(|e| StorageError::Config(format!("cannot open {url:?}: {e}")))?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(reader_options)
                .await
                .map_err(|e| StorageError::Config(format!("cannot open {url:?} for reading: {e}")))?
        };
        let path = (!in_memory).then(|| options.get_filename().to_owned());
        Ok(SqlStore { reader, writer, known: Default::default(), backend: Lite { path } })
    }

    async fn migrate(store: &SqlStore<Lite>) -> Result<()> {
        MIGRATOR.run(&store.writer).await.map_err(|e| StorageError::Migration(e.to_string()))
    }

    /// `BEGIN IMMEDIATE` already holds the database's one write lock.
    const LOCK_PREDICTION: &'static str = "";
    /// One writer: nothing to lock.
    const LOCK_PREDICTION_ROWS: &'static str = "";
    const LOCK_KEYS: Option<&'static str> = None;

    /// Takes the write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads first
    /// and then writes fails at once with "database is locked" when another process (a second
    /// `serve`, `keys create`) wrote in between, instead of waiting its turn.
    async fn begin_write(store: &SqlStore<Lite>) -> Result<Transaction<'static, Sqlite>> {
        store.writer.begin_with("BEGIN IMMEDIATE").await.map_err(dialect::db_err)
    }

    async fn record_predictions(store: &SqlStore<Lite>, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
        write::record_predictions(store, events).await
    }

    async fn seal_records(conn: &mut SqliteConnection, leaves: Vec<RecordLeaf>) -> Result<()> {
        write::seal_records(conn, leaves).await
    }

    /// A deferred transaction on a read-only connection: its first read fixes the snapshot.
    async fn begin_snapshot(store: &SqlStore<Lite>) -> Result<Transaction<'static, Sqlite>> {
        store.reader.begin().await.map_err(dialect::db_err)
    }

    /// From the file through rusqlite (see `log_reader.rs`); in memory through the pool.
    async fn ledger_pending(store: &SqlStore<Lite>, limit: u32) -> Result<StoredPending> {
        match &store.backend.path {
            Some(path) => log_reader::pending_from_file(path, limit).await,
            None => ml_audit_sql::ledger::pending_in_snapshot(store, limit).await,
        }
    }

    async fn ledger_append(store: &SqlStore<Lite>, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
        ledger::append(store, leaves).await
    }

    /// The single writer: records are sealed as they are written, so every committed one has
    /// its seq already.
    async fn begin_ledger_write(store: &SqlStore<Lite>) -> Result<Transaction<'static, Sqlite>> {
        Self::begin_write(store).await
    }

    async fn append_leaves(conn: &mut SqliteConnection, leaves: Vec<RecordLeaf>) -> Result<Vec<SealedLeaf>> {
        ledger::seal_in_transaction(conn, leaves, &RollupDelta::default()).await
    }

    /// The WAL, which still holds the pages as they were before an erasure, is folded into the
    /// file and emptied (freed space in the file is reused by later writes).
    const RECLAIM_SPACE: &'static [&'static str] = &["PRAGMA wal_checkpoint(TRUNCATE)"];
    /// A blanked row frees most of its page, which new rows (appended in time order) never
    /// fill: only rewriting the file gives that space back.
    const COMPACT: &'static [&'static str] = &["VACUUM"];

    /// From the file through rusqlite (see `log_reader.rs`); in memory through the pool.
    async fn ledger_records(store: &SqlStore<Lite>, from: u64, to: u64) -> Result<StoredLeaves> {
        match &store.backend.path {
            Some(path) => log_reader::ledger_records(path, from, to).await,
            None => ml_audit_sql::ledger::records_in_snapshot(store, from, to).await,
        }
    }

    /// From the file through rusqlite, in one snapshot (see `export.rs`); in memory through the
    /// pool, by the list's pages.
    async fn export_predictions(
        store: &SqlStore<Lite>,
        visibility: &Visibility,
        filter: &PredictionFilter,
        page_rows: u32,
        pages: ExportSender,
    ) {
        match &store.backend.path {
            Some(path) => export::export_from_file(store, path, visibility, filter, page_rows, pages).await,
            None => ml_audit_storage::export_in_pages(store, visibility, filter, page_rows, pages).await,
        }
    }
}

#[cfg(test)]
mod migration_tests {
    /// A released migration never changes: a database that applied it refuses to start when the
    /// file's checksum differs (sqlx compares them). Change the schema with a new migration, and
    /// add its checksum here when it is released.
    #[test]
    fn released_migrations_are_unchanged() {
        let released = [
            (1, "259fd870d6cc46333f4c781c04a48aa5d5683148b72b047241b2a7bb6964321470322fa525ec892fa97609d06a2b04e4"),
            (2, "1c108a0b4de89fd1b5580dcd5f3f590b2e178025c0f9e577914100a430105bdcf8336d581064964796219b549de19d9f"),
            (3, "0c8b9eb7747ca600e9292b389d5dc74095bcf3c42cee216462dc501ffa4135d178a840507055cf0b0a6032bbf017be14"),
            (4, "5fff7ba9456e57c0a443b519dda823fd4adf3589788915f7e043d757b458804ebbf5a15d9baebfaf380936020e4d500a"),
            (5, "b895f1562abca7a00f3cb5de742cac0b61495c809c20094beb4f560c27cf70ee1d8f5bf548a45badd5cc5c8107c110cd"),
            (6, "21281c7edd9055b39817e6ae89beab99b40f77e8fffdea181f9e5f52ac4f5c8da7b227178418331fb35292e5e43f4a31"),
            (7, "1d4fb6e204346a7eaa14684e4de9cb2cb7991039f39fb84928694def19986e3974eec0a193667888e1d17c595972f396"),
            (8, "36f27ad12f3ddf11e8b820da8fdca9734da7e99831217e08b840703a5470fc7a426e44390957b7d47869c8865e16413c"),
            (9, "c0cbf1f0bed98147c83f59334e6961ead27b29aebe3b3adf59b178618840834d708434f1efa5d1e857b0696160ef2f01"),
            (10, "0f07a5cdd15cc4ce13ca6afe3f096229e50a3a5f528d2b822fdf639f577abf3e6c99e2a960e04f103d0fe80a962277cc"),
        ];
        let found = super::MIGRATOR.iter().map(|m| (m.version, m.checksum.as_ref()));
        assert_eq!(
            ml_audit_storage::edited_migrations(found, &released),
            Vec::<i64>::new(),
            "released migrations were edited"
        );
    }
}
