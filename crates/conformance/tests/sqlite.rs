//! The storage conformance suite on SQLite: each check on a fresh database file.

use async_trait::async_trait;
use ml_audit_conformance::TestDatabase;
use ml_audit_sqlite::SqliteStore;
use ml_audit_storage::Store;

/// A database file in a temporary folder, removed with it.
struct SqliteFile {
    dir: tempfile::TempDir,
}

impl SqliteFile {
    async fn create() -> Self {
        SqliteFile { dir: tempfile::tempdir().expect("a temporary folder") }
    }
}

#[async_trait]
impl TestDatabase for SqliteFile {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn open(&self) -> Box<dyn Store> {
        let url = format!("sqlite://{}", self.dir.path().join("audit.db").display());
        Box::new(SqliteStore::open(&url).await.expect("the database file opens"))
    }
}

ml_audit_conformance::conformance_tests!(SqliteFile::create());
