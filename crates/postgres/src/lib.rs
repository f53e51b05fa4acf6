//! PostgreSQL backend: the production store, which several `ml-audit serve` replicas share.
//!
//! Whatever two replicas could race on is settled by the database, never by a check in Rust
//! (`write.rs`). The ledger likewise: every write queues its records in its own transaction, and
//! sealers (one per replica) append leaves under one transaction-level advisory lock
//! (`ledger.rs`), so the leaves get one gap-free order of committed records whichever replica
//! seals them.
//!
//! Reads, keys, checkpoints and insights are `ml_audit_sql`'s, over [`Pg`]'s dialect
//! (`dialect.rs`).

mod dialect;
mod ledger;
mod write;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ml_audit_core::event::PreparedPrediction;
use ml_audit_sql::{Backend, SqlStore};
use ml_audit_storage::{NewLeaf, RecordLeaf, RecordOutcome, Result, SealedLeaf, StorageError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

pub use crate::dialect::PgSqlRow;

/// How long a caller waits for a pooled connection: with the database down, a write answers
/// 503 `unavailable` after this, instead of holding the client (and a writer task) longer.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `open` keeps trying a server that may still be starting.
const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL store: `ml_audit_sql`'s store over PostgreSQL.
pub type PgStore = SqlStore<Pg>;

/// PostgreSQL as an `ml_audit_sql` backend. Its state is all in the store's pool.
pub struct Pg;

#[async_trait]
impl Backend for Pg {
    const NAME: &'static str = "postgres";
    /// Transactions run side by side (each its own connection), so more groups commit at once.
    const WRITER_TASKS: usize = 4;
    /// Autovacuum analyses as the tables grow (migration 0007); this is for right after a bulk
    /// load, before it has caught up: statistics for the list's filters (the outcome and review
    /// filters plan by `prediction_state`'s), and the ledger queue's deleted rows cleared (the
    /// sealer reads the queue five times a second; a million dead rows made each read 30 ms).
    const REFRESH_STATISTICS: Option<&'static str> = Some(
        "VACUUM (ANALYZE) predictions, explanations, actors, model_versions, prediction_subjects, prediction_state, \
         outcomes, reviews, ledger_queue",
    );

    /// Connects to `postgres://…`; fails with [`StorageError::Config`] when the URL is invalid or
    /// the server cannot be reached.
    async fn open(url: &str) -> Result<SqlStore<Pg>> {
        // The URL may carry a password: errors name the server, never echo the URL.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StorageError::Config("a PostgreSQL URL starts with postgres:// or postgresql://".into()));
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StorageError::Config(format!("the database URL is not a valid PostgreSQL URL: {e}")))?
            .application_name("ml-audit")
            // Listings are prepared statements whose best plan depends on the values (a rare
            // tenant + outcome walks another index than a common one). After five runs
            // PostgreSQL may switch to one generic plan for all values, which took seconds at
            // a million rows where the plan for the actual values takes milliseconds.
            .options([("plan_cache_mode", "force_custom_plan")]);
        let server = format!(
            "{}:{} (database {:?})",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let started = std::time::Instant::now();
        let pool = loop {
            let connected = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await;
            match connected {
                Ok(pool) => break pool,
                // A refused or timed-out connection is tried again until the patience runs out
                // (the server may be starting), after which sqlx reports only the timeout.
                Err(sqlx::Error::PoolTimedOut) if started.elapsed() < STARTUP_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let cause = match e {
                        sqlx::Error::PoolTimedOut => format!(
                            "no connection within {} s; is the server running and accepting connections there?",
                            STARTUP_PATIENCE.as_secs()
                        ),
                        other => other.to_string(),
                    };
                    return Err(StorageError::Config(format!("cannot connect to PostgreSQL at {server}: {cause}")));
                }
            }
        };
        Ok(SqlStore { reader: pool.clone(), writer: pool, known: Default::default(), backend: Pg })
    }

    async fn migrate(store: &SqlStore<Pg>) -> Result<()> {
        // sqlx's migrator holds a session advisory lock while it runs, so replicas starting at
        // once apply each migration exactly once. It returns early on failure without releasing
        // that lock, so it runs on a connection of its own, closed afterwards, never one that
        // would go back to the shared pool still holding the lock.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(PgConnectOptions::clone(&store.writer.connect_options()))
            .await
            .map_err(dialect::db_err)?;
        let result = MIGRATOR.run(&own).await;
        own.close().await;
        result.map_err(|e| StorageError::Migration(e.to_string()))?;
        // Migration 0007 tunes autovacuum to keep the planner's statistics current; with it off
        // they are never refreshed, and filters planned on a table a tenth of its size have
        // taken seconds instead of milliseconds.
        let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
            .fetch_one(&store.writer)
            .await
            .map_err(dialect::db_err)?;
        if autovacuum != "on" {
            tracing::warn!(
                "PostgreSQL's autovacuum is off: the query planner's statistics go stale as predictions \
                 are added and filtered listings slow down; turn it on, or run ANALYZE regularly"
            );
        }
        Ok(())
    }

    /// The row lock serialises concurrent attaches to one prediction, so MAX + 1 is gap-free.
    /// NO KEY UPDATE because nothing updates the row (its triggers would refuse): it only has to
    /// exclude other attaches, not the foreign-key checks of explanation inserts.
    const LOCK_PREDICTION: &'static str = " FOR NO KEY UPDATE";
    const LOCK_PREDICTION_ROWS: &'static str = " FOR NO KEY UPDATE OF p";
    /// Replicas starting at once on an empty database: the second waits until the first
    /// commits, then sees its key. EXCLUSIVE still lets readers authenticate.
    const LOCK_KEYS: Option<&'static str> = Some("LOCK TABLE api_keys IN EXCLUSIVE MODE");

    /// READ COMMITTED whatever the server's default: the read-backs after `ON CONFLICT DO
    /// NOTHING` or after waiting for a lock must see what the other transaction just committed,
    /// which REPEATABLE READ would hide (or fail on).
    async fn begin_write(store: &SqlStore<Pg>) -> Result<Transaction<'static, Postgres>> {
        store.writer.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await.map_err(dialect::db_err)
    }

    async fn record_predictions(store: &SqlStore<Pg>, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
        write::record_predictions(store, events).await
    }

    async fn seal_records(conn: &mut PgConnection, leaves: Vec<RecordLeaf>) -> Result<()> {
        ledger::enqueue(conn, &leaves).await
    }

    async fn begin_snapshot(store: &SqlStore<Pg>) -> Result<Transaction<'static, Postgres>> {
        let begin = store.reader.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        begin.await.map_err(dialect::db_err)
    }

    async fn ledger_append(store: &SqlStore<Pg>, leaves: Vec<NewLeaf>) -> Result<Vec<SealedLeaf>> {
        ledger::append(store, leaves).await
    }

    /// Holds the sealers' advisory lock, with the queue sealed first.
    async fn begin_ledger_write(store: &SqlStore<Pg>) -> Result<Transaction<'static, Postgres>> {
        let mut tx = Self::begin_write(store).await?;
        ledger::lock_and_seal_queue(&mut tx).await?;
        Ok(tx)
    }

    async fn append_leaves(conn: &mut PgConnection, leaves: Vec<RecordLeaf>) -> Result<Vec<SealedLeaf>> {
        ledger::append_in_transaction(conn, leaves).await
    }

    /// An export walks predictions in index order, a page of a thousand at a time, looking up
    /// each one's model, actor, explanation, ledger entry and erasure by key. For a thousand rows
    /// the planner prefers hash joins over whole scans of the ledger and the explanations: 40 ms
    /// a page at 100,000 predictions, growing with the tables; nested loops over the indexes
    /// take 6 ms, whatever their size. Only this read-only transaction is affected.
    const EXPORT_SETUP: &'static [&'static str] =
        &["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"];

    /// Updated rows leave dead versions that autovacuum removes; nothing to run.
    const RECLAIM_SPACE: &'static [&'static str] = &[];
    /// Dead row versions become reusable space (the files do not shrink, they stop growing).
    const COMPACT: &'static [&'static str] = &[
        "VACUUM predictions",
        "VACUUM explanations",
        "VACUUM outcomes",
        "VACUUM reviews",
        "VACUUM prediction_subjects",
        "VACUUM actors",
    ];
}

#[cfg(test)]
mod migration_tests {
    /// A released migration never changes: a database that applied it refuses to start when the
    /// file's checksum differs (sqlx compares them). Change the schema with a new migration, and
    /// add its checksum here when it is released.
    #[test]
    fn released_migrations_are_unchanged() {
        let released = [
            (1, "9062eb533effdf5c42900ba0d2bf9196c87a26fea08a0cd6bc03c4ca1f78c5799eb295c5973528de3664a1fe72348c7c"),
            (2, "ab6d2cd2d34e111ab94b3cb14ad022145f78d0b3c7e6e53c67b9272556032bed4fa3d0c946b04fb4a419294fae2d5d51"),
            (3, "1ec3e4d8207423fbd078ab811985bfc902ae1bb8657a23d1b2742e0009239f236f9f64b574b684bcd257cc266e4149bd"),
            (4, "214a5faf33e422548b851d3ff4d1247fe1d1949df21b49a4c2afc548a6fc2446bdcea964d42099641ee9b87df98ca21f"),
            (5, "fd976701ec625ed32721e94492916abcbfa2a18612539089df47f7b085b76edbebdc9a1cd72b78bcc225da464c508942"),
            (6, "9074d7b503b324b5adab6f5525610e67a7506d551fd3167770e3ec30433a09126e241bd77cc8721c49d064e843b08884"),
            (7, "6a8c62c821534a0f916a68c3996581e843ed0c97fc0b01b07148b3605d5f3bdcd6904ebc9caf025086efc4998a603ac3"),
            (8, "acd3bdbd183dd9533131e17edf49cfcc221a602d52ea0258bd5618627a62fb23debf11e2f3864418c5b25cd955c6873b"),
            (9, "bb5ab781709b68d35e9fee26ab59a1e58978067d49d873fa29477549ca45e7bef91f3ef612c0afdfd15cd4199ad83565"),
            (10, "ce5532aabdc079ce0657cb2c319d525b62f85c1c83b0f1e733dc7e1b5db1fc1ff30def8dc450022909287a9d30c76e01"),
            (11, "ebac9686e6d9bbbef0c0656759a3732d914476dc30005c09bb62839e93f2937881ec12469a53c3808992844a8b668815"),
        ];
        let found = super::MIGRATOR.iter().map(|m| (m.version, m.checksum.as_ref()));
        assert_eq!(
            ml_audit_storage::edited_migrations(found, &released),
            Vec::<i64>::new(),
            "released migrations were edited"
        );
    }
}
