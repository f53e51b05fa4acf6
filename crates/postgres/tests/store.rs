//! The store's single-caller semantics, the same as the SQLite backend's: round trips, paging,
//! filters, tenant visibility, keys, and opening errors.

mod common;

use common::{TestDb, event};
use ml_audit_core::auth::{KeyScope, Visibility, issue_key};
use ml_audit_core::event::parse_explanation;
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_postgres::PgStore;
use ml_audit_storage::prelude::*;
use ml_audit_storage::{Entity, PredictionRef, RecordOutcome, StorageError};
use serde_json::json;

fn full_event(prediction_id: &str, tenant: &str, minute: u32) -> serde_json::Value {
    json!({
        "model_name": "fraud", "model_version": "2.1.0", "framework": "sklearn",
        "config_snapshot": {"depth": 3}, "features": {"age": 42, "email": "user@example.com"},
        "output": {"score": 0.87, "labels": ["a", "b"]}, "decision_outcome": "flagged", "confidence": 0.87,
        "status": "partial", "latency_ms": 12.5, "environment": "prod", "trace_id": format!("trace-{minute}"),
        "metadata": {"note": "x"}, "prediction_id": prediction_id,
        "timestamp": format!("2026-11-27T08:{minute:02}:00.123456Z"),
        "actor": {"actor_type": "user", "actor_id": "42", "tenant_id": tenant, "ip_address": "203.0.113.7",
                  "user_agent": "ua", "auth_context": {"role": "analyst"}},
        "explanation": {"method": "shap", "payload": {"age": 0.1}, "summary_text": "age mattered"},
    })
}

#[tokio::test]
async fn recorded_events_read_back_exactly() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let outcomes = store.record_predictions(vec![event(full_event("full", "acme", 0))]).await.unwrap();
    let [RecordOutcome::Created(created)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!(created.redactions, vec!["$.email".to_owned()]);
    for reference in [created.id.to_string(), "full".to_owned()] {
        let read = store.get_prediction(&Visibility::AllTenants, &PredictionRef(reference)).await.unwrap();
        assert_eq!(&read, created);
    }
    assert_eq!(store.list_models().await.unwrap(), vec![created.model.clone()]);
    assert_eq!(store.get_model(created.model.id).await.unwrap(), created.model);
    assert!(matches!(store.get_model(uuid::Uuid::now_v7()).await, Err(StorageError::NotFound(Entity::ModelVersion))));
}

#[tokio::test]
async fn duplicates_in_one_batch_behave_like_sequential_calls() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let first = event(full_event("dup", "acme", 0));
    let retry = event(full_event("dup", "acme", 0));
    let mut changed = full_event("dup", "acme", 0);
    changed["model_version"] = json!("9.9.9");
    let outcomes = store.record_predictions(vec![first, retry, event(changed)]).await.unwrap();
    match outcomes.as_slice() {
        [
            RecordOutcome::Created(created),
            RecordOutcome::Replayed(replayed),
            RecordOutcome::Conflict { prediction_id },
        ] => {
            assert_eq!(created, replayed);
            assert_eq!(prediction_id, "dup");
        }
        other => panic!("{other:?}"),
    }
    // The conflicting event wrote nothing, not even its new model version.
    assert_eq!(store.list_models().await.unwrap().len(), 1);
}

#[tokio::test]
async fn listing_pages_filters_and_respects_tenants() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let events = (0..5).map(|minute| {
        let tenant = if minute % 2 == 0 { "acme" } else { "globex" };
        event(full_event(&format!("p{minute}"), tenant, minute))
    });
    store.record_predictions(events.collect()).await.unwrap();
    let everyone = Visibility::AllTenants;
    let acme = Visibility::Tenant("acme".into());

    let mut seen = Vec::new();
    let mut page = PageRequest { limit: 2, after: None };
    loop {
        let listed = store.list_predictions(&everyone, &PredictionFilter::default(), &page).await.unwrap();
        seen.extend(listed.items.iter().map(|p| p.prediction_id.clone()));
        match listed.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ["p4", "p3", "p2", "p1", "p0"], "newest first, each once");

    let ids = |page: ml_audit_core::query::Page<ml_audit_core::model::PredictionEvent>| {
        page.items.into_iter().map(|p| p.prediction_id).collect::<Vec<_>>()
    };
    let all = PageRequest::default();
    assert_eq!(
        ids(store.list_predictions(&acme, &PredictionFilter::default(), &all).await.unwrap()),
        ["p4", "p2", "p0"]
    );
    let window = PredictionFilter {
        time_from: Some(timestamp::parse_rfc3339("2026-11-27T08:01:00.123456Z").unwrap()),
        time_to: Some(timestamp::parse_rfc3339("2026-11-27T08:03:00.123456Z").unwrap()),
        actor_type: Some(ml_audit_core::model::ActorType::User),
        min_confidence: Some(0.87),
        max_confidence: Some(0.87),
        has_explanation: Some(true),
        model_name: Some("fraud".into()),
        ..PredictionFilter::default()
    };
    assert_eq!(ids(store.list_predictions(&everyone, &window, &all).await.unwrap()), ["p3", "p2", "p1"]);
    let unexplained = PredictionFilter { has_explanation: Some(false), ..PredictionFilter::default() };
    assert!(store.list_predictions(&everyone, &unexplained, &all).await.unwrap().items.is_empty());

    // Another tenant's prediction is missing to a tenant-bound caller, for reads and attaches.
    let theirs = PredictionRef("p1".into());
    assert!(matches!(store.get_prediction(&acme, &theirs).await, Err(StorageError::NotFound(Entity::Prediction))));
    assert!(matches!(store.list_explanations(&acme, &theirs).await, Err(StorageError::NotFound(Entity::Prediction))));
    let explanation = parse_explanation(json!({"method": "lime", "payload": {}}), timestamp::now()).unwrap();
    assert!(matches!(
        store.attach_explanation(&acme, &theirs, explanation.clone()).await,
        Err(StorageError::NotFound(Entity::Prediction))
    ));
    let attached = store.attach_explanation(&everyone, &theirs, explanation).await.unwrap();
    assert_eq!(attached.record().revision, 2, "the inline explanation was revision 1");
}

#[tokio::test]
async fn api_keys_are_found_listed_and_revoked() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let first = issue_key("admin", KeyScope::Admin, None);
    assert!(store.create_first_api_key(&first).await.unwrap());
    assert!(!store.create_first_api_key(&issue_key("again", KeyScope::Admin, None)).await.unwrap());
    let reader = issue_key("reader", KeyScope::Read, Some("acme".into()));
    store.create_api_key(&reader).await.unwrap();
    assert_eq!(store.find_active_api_key(&reader.hash).await.unwrap(), Some(reader.key.clone()));
    assert_eq!(store.list_api_keys().await.unwrap(), vec![first.key.clone(), reader.key.clone()]);
    assert!(store.revoke_api_key(reader.key.id).await.unwrap());
    assert!(!store.revoke_api_key(reader.key.id).await.unwrap());
    assert_eq!(store.find_active_api_key(&reader.hash).await.unwrap(), None);
    assert!(store.list_api_keys().await.unwrap()[1].revoked_at.is_some());
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_configuration_errors() {
    for (url, expected) in [
        ("mysql://localhost/db", "starts with postgres://"),
        ("postgres://postgres:secret@[::1/test", "not a valid PostgreSQL URL"),
        ("postgres://postgres:secret@127.0.0.1:1/test", "cannot connect to PostgreSQL at 127.0.0.1:1"),
    ] {
        match PgStore::open(url).await {
            Err(StorageError::Config(message)) => {
                assert!(message.contains(expected), "{url}: {message}");
                assert!(!message.contains("secret"), "the password leaked: {message}");
            }
            Err(other) => panic!("{url}: not a Config error: {other}"),
            Ok(_) => panic!("{url} opened"),
        }
    }
}
