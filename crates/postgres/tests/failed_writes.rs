//! A write whose COMMIT fails is answered as a failure, stores nothing, and leaves every writer
//! usable: the next write succeeds without a restart (issue #17).

mod common;

use common::{TestDb, count, event};
use ml_audit_storage::prelude::*;
use serde_json::json;

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

    let body = |id: &str| {
        json!({"prediction_id": id, "model_name": "m", "model_version": "1",
                                 "features": {"age": 42}, "output": {"score": 0.5}})
    };
    store.record_predictions(vec![event(body("kept-0"))]).await.expect("a first write");
    let failed = store.record_predictions(vec![event(body("doomed-1")), event(body("doomed-2"))]).await;
    assert!(failed.is_err(), "the commit failed: {failed:?}");

    // The next writes run on the pool the failed one left behind: the connection it used is
    // back among the idle ones, and no write finds it inside the failed transaction.
    for n in 0..8 {
        store.record_predictions(vec![event(body(&format!("kept-{}", n + 1)))]).await.expect("the next writes succeed");
    }
    assert_eq!(count(&mut conn, "predictions").await, 9, "the kept ones, nothing of the failed write");
    assert_eq!(count(&mut conn, "ledger_queue").await, 9, "nor its ledger entries");
}
