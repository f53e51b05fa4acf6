//! A throwaway database per test, created through `ML_AUDIT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as in `scripts/test`). Tests fail, never skip,
//! when that server is unreachable.
#![allow(dead_code, reason = "each test file uses some of these helpers")]

use std::sync::Arc;

use ml_audit_core::auth::Visibility;
use ml_audit_core::event::{PredictionInput, PreparedPrediction};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_postgres::PgStore;
use ml_audit_storage::prelude::*;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tokio::sync::Barrier;
use uuid::Uuid;

/// The database that test databases are created from.
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

pub struct TestDb {
    name: String,
}

impl TestDb {
    /// A new empty database (no migrations applied).
    pub async fn create() -> Self {
        let name = format!("mla_t_{}", Uuid::new_v4().simple());
        admin_execute(format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database through ML_AUDIT_TEST_POSTGRES_URL: {e}"));
        TestDb { name }
    }

    pub fn url(&self) -> String {
        with_database(&admin_url(), &self.name)
    }

    /// A store on this database, like one server replica.
    pub async fn open(&self) -> PgStore {
        PgStore::open(&self.url()).await.expect("the test database opens")
    }

    /// A store on this database, migrated.
    pub async fn migrated(&self) -> PgStore {
        let store = self.open().await;
        store.migrate().await.expect("migrations apply");
        store
    }

    /// A direct connection, to check rows and to try what the store never does.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url()).await.expect("the test database accepts connections")
    }
}

impl Drop for TestDb {
    /// Runs on a failed test too; FORCE ends the connections the stores still hold.
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

async fn admin_execute(sql: String) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(&admin_url()).await?;
    admin.execute(AssertSqlSafe(sql)).await?;
    admin.close().await
}

/// An event as the server would store it, from a request body.
pub fn event(body: serde_json::Value) -> PreparedPrediction {
    PredictionInput::parse(body)
        .expect("a valid event")
        .prepare(&RedactionPolicy::default(), &Visibility::AllTenants)
        .expect("writable by an all-tenants key")
}

/// COUNT(*) of a table.
pub async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).fetch_one(conn).await.unwrap()
}

/// Runs `work(i)` for i in 0..n at once, each released by the same barrier; results in order.
pub async fn race<T, F, Fut>(n: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let work = work(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("the task did not panic"));
    }
    results
}
