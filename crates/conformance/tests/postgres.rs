//! The storage conformance suite on PostgreSQL: each check on a database of its own, created
//! through `ML_AUDIT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! dropped afterwards. Every check fails, never skips, when that server is unreachable.

use async_trait::async_trait;
use ml_audit_conformance::TestDatabase;
use ml_audit_conformance::postgres::TempDatabase;
use ml_audit_postgres::PgStore;
use ml_audit_storage::Store;

/// A newly created, empty database, dropped with this value.
struct PgDatabase(TempDatabase);

impl PgDatabase {
    async fn create() -> Self {
        PgDatabase(TempDatabase::create("mla_conf_").await)
    }
}

#[async_trait]
impl TestDatabase for PgDatabase {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.0.url()).await.expect("the test database opens"))
    }
}

ml_audit_conformance::conformance_tests!(PgDatabase::create());
