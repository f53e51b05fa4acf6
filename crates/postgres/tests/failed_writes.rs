//! A write whose COMMIT fails is answered as a failure, stores nothing, and leaves every writer
//! usable: the next write succeeds without a restart (issue #17).

mod common;

use std::sync::Arc;

use common::{TestDb, count, race};
use ml_audit_conformance::fixtures::Spec;
use ml_audit_storage::prelude::*;

#[tokio::test]
async fn a_failed_commit_stores_nothing_and_the_next_write_succeeds() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let mut conn = db.connect().await;
    // A check PostgreSQL runs at COMMIT (a deferred constraint trigger), as a commit that fails
    // for any reason would: it refuses a prediction whose id starts with `doomed`.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.prediction_id LIKE 'doomed%' THEN RAISE EXCEPTION 'refused at commit'; END IF;
           RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER refuse_doomed AFTER INSERT ON predictions
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_doomed();",
    )
    .execute(&mut conn)
    .await
    .expect("the test trigger is created");

    let prediction = |id: &str, minute: i64| vec![Spec::new(id, minute).prepare()];
    store.record_predictions(prediction("kept-0", 0)).await.expect("a first write");
    let doomed = vec![Spec::new("doomed-1", 1).prepare(), Spec::new("doomed-2", 2).prepare()];
    let failed = store.record_predictions(doomed).await;
    assert!(failed.is_err(), "the commit failed: {failed:?}");

    // Eight writes at once take the pool's idle connections, the one the failed commit ran on
    // among them: none is left inside the failed transaction.
    let store = Arc::new(store);
    let written = race(8, |n| {
        let store = store.clone();
        async move { store.record_predictions(prediction(&format!("kept-{}", n + 1), n as i64 + 3)).await }
    })
    .await;
    assert!(written.iter().all(Result::is_ok), "the next writes succeed: {written:?}");
    assert_eq!(count(&mut conn, "predictions").await, 9, "the kept ones, nothing of the failed write");
    assert_eq!(count(&mut conn, "ledger_queue").await, 9, "nor its ledger entries");
}
