//! The storage conformance suite on PostgreSQL: each check on a database of its own, created
//! through `ML_AUDIT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! dropped afterwards. Every check fails, never skips, when that server is unreachable.

use async_trait::async_trait;
use ml_audit_conformance::TestDatabase;
use ml_audit_postgres::PgStore;
use ml_audit_storage::Store;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use uuid::Uuid;

/// The server's database that test databases are created from.
fn admin_url() -> String {
    std::env::var("ML_AUDIT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with its database (the path) replaced, keeping any `?parameters`.
fn with_database(url: &str, database: &str) -> String {
    let (base, parameters) = url.split_once('?').map_or((url, None), |(base, parameters)| (base, Some(parameters)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = base[authority..].find('/').map_or(base, |slash| &base[..authority + slash]);
    match parameters {
        Some(parameters) => format!("{server}/{database}?{parameters}"),
        None => format!("{server}/{database}"),
    }
}

async fn admin_execute(sql: String) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(&admin_url()).await?;
    admin.execute(AssertSqlSafe(sql)).await?;
    admin.close().await
}

/// A newly created, empty database, dropped with this value.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let name = format!("mla_conf_{}", Uuid::new_v4().simple());
        admin_execute(format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database through ML_AUDIT_TEST_POSTGRES_URL: {e}"));
        PgDatabase { name }
    }
}

#[async_trait]
impl TestDatabase for PgDatabase {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&with_database(&admin_url(), &self.name)).await.expect("the test database opens"))
    }
}

impl Drop for PgDatabase {
    /// Runs on a failed check too; FORCE ends the connections a store still holds.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(admin_execute(sql)).map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

ml_audit_conformance::conformance_tests!(PgDatabase::create());
