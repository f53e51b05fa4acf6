//! What PostgreSQL is here for: several replicas writing one database at once. Each test races
//! tasks through a barrier so that their transactions overlap.

mod common;

use std::sync::Arc;

use common::{TestDb, count, event, race};
use ml_audit_core::auth::{KeyScope, Visibility, issue_key};
use ml_audit_core::event::{PreparedPrediction, parse_explanation};
use ml_audit_core::outcome::OutcomeInput;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::review::{ReviewInput, ReviewPolicy};
use ml_audit_core::timestamp;
use ml_audit_postgres::PgStore;
use ml_audit_storage::prelude::*;
use ml_audit_storage::{PredictionRef, RecordOutcome};
use serde_json::json;
use sqlx::{AssertSqlSafe, Executor as _};
use uuid::Uuid;

fn prediction(prediction_id: &str, model_name: &str, score: f64) -> PreparedPrediction {
    event(json!({
        "model_name": model_name, "model_version": "1.0.0", "features": {"age": 42},
        "output": {"score": score}, "prediction_id": prediction_id, "timestamp": "2026-11-27T08:00:00Z",
        "actor": {"actor_type": "service", "actor_id": "checkout", "tenant_id": "acme"},
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_first_use_creates_one_actor_and_one_model() {
    let db = TestDb::create().await;
    let store = Arc::new(db.migrated().await);
    let outcomes = race(16, |task| {
        let store = store.clone();
        let batch = (0..4).map(|n| prediction(&format!("p-{task}-{n}"), "fraud", 0.5)).collect();
        async move { store.record_predictions(batch).await }
    })
    .await;
    let mut actor_ids = Vec::new();
    for outcome in outcomes.into_iter().flat_map(|batch| batch.expect("every batch commits")) {
        let RecordOutcome::Created(event) = outcome else { panic!("expected Created, got {outcome:?}") };
        actor_ids.push(event.actor.expect("the event has an actor").id);
    }
    let mut conn = db.connect().await;
    assert_eq!(count(&mut conn, "actors").await, 1);
    assert_eq!(count(&mut conn, "model_versions").await, 1);
    assert_eq!(count(&mut conn, "predictions").await, 64);
    assert!(actor_ids.windows(2).all(|pair| pair[0] == pair[1]), "every event names the one actor row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_naming_new_rows_in_opposite_orders_do_not_deadlock() {
    let db = TestDb::create().await;
    let store = Arc::new(db.migrated().await);
    // Half the batches list the same two events in reverse. Round 0 races on creating the two
    // models; round 1, with the models stored, on the two predictions alone.
    for round in 0..2 {
        let outcomes = race(8, |task| {
            let store = store.clone();
            let mut batch = vec![
                prediction(&format!("p-a-{round}"), "model-a", 0.1),
                prediction(&format!("p-b-{round}"), "model-b", 0.2),
            ];
            if task % 2 == 1 {
                batch.reverse();
            }
            async move { store.record_predictions(batch).await }
        })
        .await;
        let mut created = 0;
        for outcome in outcomes.into_iter().flat_map(|batch| batch.expect("no batch deadlocks")) {
            match outcome {
                RecordOutcome::Created(_) => created += 1,
                RecordOutcome::Replayed(_) => {}
                RecordOutcome::Conflict { prediction_id } | RecordOutcome::Erased { prediction_id } => {
                    panic!("identical retries were refused on {prediction_id}")
                }
            }
        }
        assert_eq!(created, 2, "round {round}: each prediction is created once, then replayed");
    }
    assert_eq!(count(&mut db.connect().await, "model_versions").await, 2);
}

/// Outcome batches listing the same predictions in opposite orders, and reviews of them, racing:
/// none deadlocks, every prediction's outcomes are numbered without gaps, and its derived state
/// and the quality totals are what its records give (`check_derived` finds nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_outcomes_and_reviews_keep_the_derived_state_exact() {
    let db = TestDb::create().await;
    let store = Arc::new(db.migrated().await);
    let ids: Vec<String> = (0..6).map(|n| format!("judged-{n}")).collect();
    store.record_predictions(ids.iter().map(|id| prediction(id, "fraud", 0.5)).collect()).await.unwrap();
    let results = race(8, |task| {
        let store = store.clone();
        let mut order = ids.clone();
        if task % 2 == 1 {
            order.reverse();
        }
        async move {
            let policy = RedactionPolicy::default();
            let batch = order
                .iter()
                .map(|id| {
                    let label = if task % 3 == 0 { "fraud" } else { "legit" };
                    let body = json!({"label": label, "value": task as f64, "source": "race"});
                    (PredictionRef(id.clone()), OutcomeInput::parse(body).unwrap().prepare(&policy))
                })
                .collect();
            let recorded = store.record_outcomes(&Visibility::AllTenants, batch).await?;
            let review = json!({"reviewer": {"reviewer_id": format!("r-{task}")}, "action": "override",
                                "final_decision": format!("decision-{task}")});
            let review = ReviewInput::parse(review).unwrap().prepare(&policy);
            let target = PredictionRef(order[0].clone());
            store.record_review(&Visibility::AllTenants, &target, review, &ReviewPolicy::default()).await?;
            Ok::<_, ml_audit_storage::StorageError>(recorded)
        }
    })
    .await;
    for recorded in results {
        assert!(recorded.expect("no batch deadlocks").iter().all(Result::is_ok));
    }
    for id in &ids {
        let outcomes = store.list_outcomes(&Visibility::AllTenants, &PredictionRef(id.clone())).await.unwrap();
        assert_eq!(outcomes.iter().map(|o| o.position).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>(), "{id}");
    }
    let findings = store.check_derived(&ReviewPolicy::default(), 100).await.unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    let reviewed = store.get_prediction(&Visibility::AllTenants, &PredictionRef(ids[0].clone())).await.unwrap();
    assert_eq!(reviewed.reviews.len(), 4, "the tasks that listed it first reviewed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_attaches_get_gap_free_revisions() {
    let db = TestDb::create().await;
    let store = Arc::new(db.migrated().await);
    store.record_predictions(vec![prediction("explained", "fraud", 0.5)]).await.unwrap();
    let attached = race(8, |task| {
        let store = store.clone();
        let explanation = parse_explanation(json!({"method": "shap", "payload": {"task": task}}), timestamp::now());
        async move {
            store
                .attach_explanation(&Visibility::AllTenants, &PredictionRef("explained".into()), explanation.unwrap())
                .await
        }
    })
    .await;
    let mut revisions: Vec<u32> =
        attached.into_iter().map(|e| e.expect("every attach commits").record().revision).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=8).collect::<Vec<_>>());

    let target = PredictionRef("explained".into());
    let listed = store.list_explanations(&Visibility::AllTenants, &target).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.revision).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    let current = store.get_prediction(&Visibility::AllTenants, &target).await.unwrap().explanation;
    assert_eq!(current.as_ref(), listed.last(), "the current explanation is the highest revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_create_one_first_key() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.migrated().await), Arc::new(db.open().await)];
    let mut conn = db.connect().await;
    for round in 0..10 {
        let created = race(2, |replica| {
            let store = replicas[replica].clone();
            async move { store.create_first_api_key(&issue_key("admin", KeyScope::Admin, None)).await }
        })
        .await;
        let created: Vec<bool> = created.into_iter().map(|r| r.expect("the key check commits")).collect();
        assert_eq!(created.iter().filter(|&&c| c).count(), 1, "round {round}: {created:?}");
        assert_eq!(replicas[0].list_api_keys().await.unwrap().len(), 1, "round {round}");
        // api_keys is not append-only: empty it for the next round.
        conn.execute("DELETE FROM api_keys").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_prediction_id_sent_by_two_replicas_is_stored_once() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.migrated().await), Arc::new(db.open().await)];
    for round in 0..10 {
        let same_content = round % 2 == 0;
        let prediction_id = format!("sent-twice-{round}");
        let outcomes = race(2, |replica| {
            let store = replicas[replica].clone();
            let score = if same_content { 0.5 } else { replica as f64 };
            let batch = vec![prediction(&prediction_id, "fraud", score)];
            async move { store.record_predictions(batch).await }
        })
        .await;
        let mut outcomes: Vec<RecordOutcome> =
            outcomes.into_iter().flat_map(|batch| batch.expect("both batches commit")).collect();
        outcomes.sort_by_key(|outcome| !matches!(outcome, RecordOutcome::Created(_)));
        match (&outcomes[0], &outcomes[1], same_content) {
            (RecordOutcome::Created(created), RecordOutcome::Replayed(replayed), true) => {
                assert_eq!(created, replayed, "a replay returns the stored prediction")
            }
            (RecordOutcome::Created(_), RecordOutcome::Conflict { prediction_id: conflicting }, false) => {
                assert_eq!(conflicting, &prediction_id)
            }
            other => panic!("round {round}: unexpected outcomes {other:?}"),
        }
    }
    assert_eq!(count(&mut db.connect().await, "predictions").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.open().await), Arc::new(db.open().await), Arc::new(db.open().await)];
    let migrated = race(3, |replica| {
        let store = replicas[replica].clone();
        async move { store.migrate().await }
    })
    .await;
    for result in migrated {
        result.expect("every replica's migration succeeds");
    }
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut db.connect().await)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count();
    assert_eq!(applied, (1..=files as i64).collect::<Vec<_>>(), "each migration once, in order");
}

#[tokio::test]
async fn recorded_history_cannot_be_rewritten_over_sql() {
    let db = TestDb::create().await;
    let store: PgStore = db.migrated().await;
    let mut with_explanation = prediction("kept", "fraud", 0.5);
    with_explanation.explanation =
        Some(parse_explanation(json!({"method": "shap", "payload": {}}), timestamp::now()).unwrap());
    store.record_predictions(vec![with_explanation]).await.unwrap();
    let mut conn = db.connect().await;
    for sql in [
        "UPDATE predictions SET output = '{}'",
        "DELETE FROM predictions",
        "TRUNCATE predictions CASCADE",
        "UPDATE explanations SET payload = '{}'",
        "DELETE FROM explanations",
        "TRUNCATE explanations",
        "UPDATE model_versions SET is_active = false",
        "TRUNCATE model_versions CASCADE",
        "DELETE FROM actors",
        "TRUNCATE actors CASCADE",
    ] {
        let error = conn.execute(AssertSqlSafe(sql)).await.expect_err(sql).to_string();
        assert!(error.contains("append-only") && error.contains("is not allowed"), "{sql}: {error}");
    }
    assert_eq!(count(&mut conn, "predictions").await, 1);
    assert_eq!(count(&mut conn, "explanations").await, 1);
    let id: Uuid = sqlx::query_scalar("SELECT id FROM predictions").fetch_one(&mut conn).await.unwrap();
    assert_eq!(
        store.get_prediction(&Visibility::AllTenants, &PredictionRef(id.to_string())).await.unwrap().output,
        json!({"score": 0.5})
    );
}
