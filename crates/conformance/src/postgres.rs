//! A throwaway PostgreSQL database for a test, created through `ML_AUDIT_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`) and dropped afterwards: what the
//! conformance suite and the PostgreSQL backend's own tests run on. Creating one fails, never
//! skips, when that server is unreachable.

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

/// A newly created, empty database (no migrations applied), dropped with this value.
pub struct TempDatabase {
    name: String,
}

impl TempDatabase {
    /// Creates a database named `prefix` followed by a random suffix.
    pub async fn create(prefix: &str) -> Self {
        let name = format!("{prefix}{}", Uuid::new_v4().simple());
        admin_execute(format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database through ML_AUDIT_TEST_POSTGRES_URL: {e}"));
        TempDatabase { name }
    }

    pub fn url(&self) -> String {
        with_database(&admin_url(), &self.name)
    }
}

impl Drop for TempDatabase {
    /// Runs on a failed test too; FORCE ends the connections that stores still hold.
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
