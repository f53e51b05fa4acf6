//! A throwaway database per test, created through `ML_AUDIT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as in `scripts/test`). Tests fail, never skip,
//! when that server is unreachable.
#![allow(dead_code, reason = "each test file uses some of these helpers")]

use std::sync::Arc;

use ml_audit_conformance::postgres::TempDatabase;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::{PredictionInput, PreparedPrediction};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_postgres::PgStore;
use ml_audit_storage::prelude::*;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tokio::sync::Barrier;

/// A throwaway database of the tests' PostgreSQL server.
pub struct TestDb(TempDatabase);

impl TestDb {
    /// A new empty database (no migrations applied).
    pub async fn create() -> Self {
        TestDb(TempDatabase::create("mla_t_").await)
    }

    pub fn url(&self) -> String {
        self.0.url()
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
