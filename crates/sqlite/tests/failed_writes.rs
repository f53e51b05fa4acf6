//! A write that fails midway is answered as what it is and leaves the writer usable: the next
//! write succeeds without a restart, and nothing of the failed one was stored.
//!
//! SQLite rolls a transaction back by itself on a full disk or an I/O error; the connection then
//! still counted the transaction as open, and every later `BEGIN` on it failed ("attempted to
//! call begin_with at non-zero transaction depth") until the process restarted (issue #17).

use ml_audit_conformance::fixtures::Spec;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::PreparedPrediction;
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_sqlite::SqliteStore;
use ml_audit_storage::StorageError;
use ml_audit_storage::prelude::*;

async fn store_with_ten(dir: &tempfile::TempDir) -> SqliteStore {
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("audit.db").display()))
        .await
        .expect("the database file opens");
    store.migrate().await.expect("migrations apply");
    store.record_predictions(batch(0, 10)).await.expect("the first batch is stored");
    store
}

fn batch(from: usize, count: usize) -> Vec<PreparedPrediction> {
    (from..from + count).map(|i| Spec::new(&format!("p{i:05}"), i as i64).prepare()).collect()
}

async fn stored_ids(store: &SqliteStore) -> Vec<String> {
    let page = store
        .list_predictions(&Visibility::AllTenants, &PredictionFilter::default(), &PageRequest::default())
        .await
        .expect("the listing reads");
    page.items.into_iter().map(|p| p.prediction_id).collect()
}

#[tokio::test]
async fn a_transaction_the_database_rolled_back_by_itself_does_not_wedge_the_writer() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = store_with_ten(&dir).await;
    // What SQLite does on a full disk: it ends the transaction itself, under sqlx's feet (the
    // transaction's own ROLLBACK on drop then fails: no transaction is active).
    let mut tx = store.writer.begin().await.expect("a transaction");
    sqlx::query("ROLLBACK").execute(&mut *tx).await.expect("the database ends it");
    drop(tx);

    let stored = store.record_predictions(batch(10, 5)).await.expect("the next write is stored, without a restart");
    assert_eq!(stored.len(), 5);
    assert_eq!(stored_ids(&store).await.len(), 15);
}

#[tokio::test]
async fn a_write_beyond_the_disk_limit_is_full_stores_nothing_and_the_next_one_succeeds() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = store_with_ten(&dir).await;

    // The writer pool holds one connection: the limit applies to every write from here on.
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&store.writer).await.expect("page count");
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {}", pages + 2)))
        .execute(&store.writer)
        .await
        .expect("the size limit is set");
    let failed = store.record_predictions(batch(10, 500)).await;
    assert!(matches!(failed, Err(StorageError::Full(_))), "a write beyond the limit is Full: {failed:?}");

    sqlx::query("PRAGMA max_page_count = 1073741823").execute(&store.writer).await.ok();
    let stored = store.record_predictions(batch(510, 10)).await.expect("the write after the failure is stored");
    assert_eq!(stored.len(), 10);
    let ids = stored_ids(&store).await;
    assert_eq!(ids.len(), 20, "the two stored batches, nothing of the failed one: {ids:?}");
    assert!(
        ids.iter().all(|id| id.as_str() < "p00010" || id.as_str() >= "p00510"),
        "nothing of the failed batch: {ids:?}"
    );
}
