use ml_audit_core::auth::KeyScope;
use ml_audit_core::redaction::{RedactionConfig, RedactionPolicy};
use ml_audit_server::ServerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error, with};

on_both_backends!(
    a_minimal_event_is_stored_with_the_documented_defaults,
    a_full_event_reads_back_exactly_as_recorded,
    the_default_mask_hides_an_email_and_lists_its_path,
    a_custom_mask_and_allowlist_keep_the_allowed_keys,
    redaction_reaches_nested_objects_and_arrays,
    replaying_a_prediction_id_with_the_same_content_returns_the_stored_prediction,
    replaying_a_prediction_id_with_different_content_is_a_conflict_that_changes_nothing,
    models_and_actors_are_created_once_and_reused,
    concurrent_first_events_of_one_actor_create_one_actor,
    a_batch_records_each_event_on_its_own,
    a_batch_event_is_read_as_its_object_whatever_its_form,
    a_batch_can_answer_with_its_failures_only,
    a_full_batch_is_answered_in_order_with_its_rejects_and_replays,
    an_empty_or_oversized_batch_stores_nothing,
    a_batch_whose_transaction_fails_stores_nothing_and_says_so_for_each_event,
    a_tenant_key_writes_only_its_own_tenant,
);

async fn a_minimal_event_is_stored_with_the_documented_defaults(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&event("fraud_detector")).await;
    for text in ["trace_id", "environment", "decision_outcome", "input_fingerprint"] {
        assert_eq!(stored[text], "", "{text}");
    }
    for absent in ["confidence", "latency_ms", "actor", "explanation"] {
        assert!(stored[absent].is_null(), "{absent}");
    }
    match backend.seals_at_commit() {
        true => assert_eq!(stored["ledger"]["seq"], 0, "sealed in its own transaction"),
        false => assert!(stored["ledger"].is_null(), "queued for the sealer"),
    }
    assert_eq!(stored["metadata"], json!({}));
    assert_eq!(stored["status"], "success");
    assert_eq!(stored["model"]["build_id"], "");
    assert!(stored["model"]["config_snapshot"].is_null());
    // A generated prediction_id is the UUID of the prediction.
    assert_eq!(stored["prediction_id"], stored["id"]);
    assert!(stored["timestamp"].as_str().unwrap().ends_with('Z'));
}

async fn a_full_event_reads_back_exactly_as_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "model_name": "fraud_detector", "model_version": "1.0.0",
        "features": {"age": 42, "income": 100000}, "output": {"score": 0.87, "is_fraud": true},
        "decision_outcome": "flagged", "confidence": 0.87, "status": "partial",
        "actor": {"actor_type": "user", "actor_id": "42", "tenant_id": "acme", "ip_address": "203.0.113.7",
                  "user_agent": "curl/8", "auth_context": {"method": "oauth"}},
        "environment": "prod", "trace_id": "trace-1", "latency_ms": 12.3, "metadata": {"region": "eu"},
        "input_fingerprint": "fp-1", "framework": "sklearn", "build_id": "b-7", "commit_hash": "abc123",
        "config_snapshot": {"threshold": 0.8}, "prediction_id": "ext-123",
        "timestamp": "2026-11-27T10:00:00.5+02:00",
        "explanation": {"method": "shap", "payload": {"age": 0.3}, "summary_text": "age mattered"}
    });
    let stored = app.record(&body).await;
    assert_eq!(stored["timestamp"], "2026-11-27T08:00:00.5Z");
    assert_eq!(stored["actor"]["ip_address"], "203.0.113.7");
    assert_eq!(stored["actor"]["auth_context"], json!({"method": "oauth"}));
    assert_eq!(stored["model"]["framework"], "sklearn");
    assert_eq!(stored["model"]["config_snapshot"], json!({"threshold": 0.8}));
    assert_eq!(stored["explanation"]["revision"], 1);
    assert_eq!(stored["explanation"]["prediction_id"], stored["id"]);
    assert_eq!(stored["output"], body["output"]);
    assert_eq!(stored["status"], "partial");
    for key in
        ["decision_outcome", "confidence", "environment", "trace_id", "latency_ms", "metadata", "input_fingerprint"]
    {
        assert_eq!(stored[key], body[key], "{key}");
    }
    let by_id: Value = app
        .get(&format!("/api/v1/predictions/{}", stored["id"].as_str().unwrap()), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    let by_external: Value = app.get("/api/v1/predictions/ext-123", &app.admin_key).await.json().await.unwrap();
    assert_eq!(by_id, stored);
    assert_eq!(by_external, stored);
}

async fn the_default_mask_hides_an_email_and_lists_its_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = with(event("m"), "features", json!({"age": 42, "email": "user@example.com", "password": "hunter2"}));
    let stored = app.record(&body).await;
    assert_eq!(stored["features"], json!({"age": 42, "email": "*****", "password": "*****"}));
    assert_eq!(stored["redactions"], json!(["$.email", "$.password"]));
}

async fn a_custom_mask_and_allowlist_keep_the_allowed_keys(backend: Backend) {
    let settings = ServerSettings {
        redaction: RedactionPolicy::new(RedactionConfig {
            allowlist: vec!["amount".into(), "email".into()],
            denylist: vec!["national_id".into()],
            mask_value: "[redacted]".into(),
        }),
        ..ServerSettings::default()
    };
    let app = TestApp::spawn_with(backend, settings).await;
    let body = with(
        event("m"),
        "features",
        json!({"amount": 120.5, "email": "kept@example.com", "national_id": "X1", "token": "t"}),
    );
    let stored = app.record(&body).await;
    assert_eq!(
        stored["features"],
        json!({"amount": 120.5, "email": "kept@example.com", "national_id": "[redacted]", "token": "[redacted]"})
    );
}

async fn redaction_reaches_nested_objects_and_arrays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let features = json!({
        "customer": {"email": "a@example.com", "age": 30},
        "items": [{"card_number": "4111111111111111", "qty": 1}],
        "note": "reach me at b@example.org",
    });
    let stored = app.record(&with(event("m"), "features", features)).await;
    assert_eq!(stored["features"]["customer"], json!({"email": "*****", "age": 30}));
    assert_eq!(stored["features"]["items"][0]["card_number"], "*****");
    assert_eq!(stored["features"]["items"][0]["qty"], 1);
    assert!(!stored["features"]["note"].as_str().unwrap().contains("b@example.org"));
    let paths: Vec<&str> = stored["redactions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for path in ["$.customer.email", "$.items[0].card_number", "$.note"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
}

async fn replaying_a_prediction_id_with_the_same_content_returns_the_stored_prediction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = with(event("m"), "prediction_id", json!("retry-1"));
    let first = app.record(&body).await;
    let again = app.post("/api/v1/predictions", &app.admin_key, &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "a replay returns the stored prediction, server-filled timestamp included");
    assert_eq!(app.all_predictions().await.len(), 1);
}

async fn replaying_a_prediction_id_with_different_content_is_a_conflict_that_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = with(event("m"), "prediction_id", json!("retry-2"));
    let first = app.record(&body).await;
    let changed = with(body, "decision_outcome", json!("flagged"));
    let (code, field) =
        expect_error(app.post("/api/v1/predictions", &app.admin_key, &changed).await, StatusCode::CONFLICT).await;
    assert_eq!((code.as_str(), field.as_deref()), ("conflict", Some("prediction_id")));
    let stored: Value = app.get("/api/v1/predictions/retry-2", &app.admin_key).await.json().await.unwrap();
    assert_eq!(stored, first);
}

async fn models_and_actors_are_created_once_and_reused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let actor = json!({"actor_type": "service", "actor_id": "scorer", "tenant_id": "acme", "ip_address": "10.0.0.1"});
    let first = app.record(&with(event("m"), "actor", actor.clone())).await;
    let mut moved = actor.clone();
    moved["ip_address"] = json!("10.0.0.2");
    let second = app.record(&with(event("m"), "actor", moved)).await;
    assert_eq!(first["actor"]["id"], second["actor"]["id"]);
    assert_eq!(first["model"]["id"], second["model"]["id"]);
    // The request context is kept per prediction: each shows the address it came from.
    assert_eq!(second["actor"]["ip_address"], "10.0.0.2");
    let other_tenant = app.record(&with(event("m"), "actor", with(actor, "tenant_id", json!("globex")))).await;
    assert_ne!(other_tenant["actor"]["id"], first["actor"]["id"]);
    let models: Value = app.get("/api/v1/models", &app.admin_key).await.json().await.unwrap();
    assert_eq!(models["items"].as_array().unwrap().len(), 1);
}

async fn concurrent_first_events_of_one_actor_create_one_actor(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let actor = json!({"actor_type": "user", "actor_id": "new-user", "tenant_id": "acme"});
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let app = app.clone();
            let body = with(
                with(event(&format!("model-{}", i % 2)), "actor", actor.clone()),
                "trace_id",
                json!(i.to_string()),
            );
            tokio::spawn(async move {
                app.post("/api/v1/predictions", &app.admin_key, &body).await.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let mut actor_ids = std::collections::BTreeSet::new();
    for task in tasks {
        let stored = task.await.unwrap();
        actor_ids.insert(stored["actor"]["id"].as_str().expect("recorded").to_owned());
    }
    assert_eq!(actor_ids.len(), 1, "one actor, not {actor_ids:?}");
    assert_eq!(app.all_predictions().await.len(), 24);
}

async fn a_batch_records_each_event_on_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let events = json!({"events": [
        with(event("m"), "prediction_id", json!("b-1")),
        with(event("m"), "confidence", json!(1.5)),
        with(event("m"), "prediction_id", json!("b-1")),
        with(with(event("m"), "prediction_id", json!("b-1")), "environment", json!("dev")),
    ]});
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &events).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    let results = results["results"].as_array().unwrap();
    let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![201, 422, 200, 409]);
    assert_eq!(results[1]["error"]["field"], "confidence");
    assert_eq!(results[0]["prediction_id"], "b-1");
    assert_eq!(results[0]["id"], results[2]["id"]);
    assert_eq!(results.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(app.all_predictions().await.len(), 1);
}

/// The batch route reads each event straight into its members (not a JSON map): an event that is
/// not an object is still rejected at its index, a repeated name still counts with its last
/// value, the unknown field named is still the first by name, and what is stored is what the
/// single route stores (a retry there is an identical replay).
async fn a_batch_event_is_read_as_its_object_whatever_its_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = r#"{"events": [
        {"output": {"score": 0.5}, "environment": "first", "features": {"age": 42}, "model_version": "1.0.0",
         "model_name": "m", "prediction_id": "dup", "environment": "last"},
        "an event", 7, [{"model_name": "m"}], null, true,
        {"zeta": 1, "model_name": "m", "model_version": "1.0.0", "features": {}, "output": 1, "alpha": 2}
    ]}"#;
    let response = app.post_bytes("/api/v1/predictions/batch", &app.admin_key, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    let results = results["results"].as_array().unwrap();
    let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![201, 422, 422, 422, 422, 422, 422]);
    let kinds = ["a string", "a number", "an array", "null", "a boolean"];
    for (result, kind) in results[1..6].iter().zip(kinds) {
        assert_eq!(result["error"]["message"], format!("the event must be a JSON object, not {kind}"), "{result}");
        assert!(result["error"]["field"].is_null(), "{result}");
    }
    assert_eq!(results[6]["error"]["field"], "alpha");
    let stored = app.all_predictions().await;
    assert_eq!((stored.len(), stored[0]["environment"].as_str()), (1, Some("last")));
    let same = with(with(event("m"), "prediction_id", json!("dup")), "environment", json!("last"));
    assert_eq!(app.post("/api/v1/predictions", &app.admin_key, &same).await.status(), StatusCode::OK);
}

/// `?results=failures` lists only the events not stored (in order) and counts the others; a
/// query the route does not know is refused before anything is stored.
async fn a_batch_can_answer_with_its_failures_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let events = json!({"events": [
        with(event("m"), "prediction_id", json!("f-1")),
        with(event("m"), "confidence", json!(1.5)),
        with(event("m"), "prediction_id", json!("f-1")),
        with(with(event("m"), "prediction_id", json!("f-1")), "environment", json!("dev")),
        with(event("m"), "prediction_id", json!("f-2")),
    ]});
    for (query, field) in [("?results=some", "results"), ("?results=failures&limit=3", "limit")] {
        let response = app.post(&format!("/api/v1/predictions/batch{query}"), &app.admin_key, &events).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    assert!(app.all_predictions().await.is_empty(), "a refused query stores nothing");

    let response = app.post("/api/v1/predictions/batch?results=failures", &app.admin_key, &events).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let failures: Vec<(u64, u64)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(failures, vec![(1, 422), (3, 409)]);
    assert_eq!((answer["created"].as_u64(), answer["replayed"].as_u64()), (Some(2), Some(1)), "{answer}");
    assert_eq!(answer["results"][0]["error"]["field"], "confidence");
    assert_eq!(app.all_predictions().await.len(), 2);

    // The default lists every event and carries no counts.
    let response = app.post("/api/v1/predictions/batch?results=all", &app.admin_key, &events).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["results"].as_array().unwrap().len(), 5);
    assert!(answer.get("created").is_none() && answer.get("replayed").is_none(), "{answer}");
}

/// The server validates a whole batch, then stores its valid events together: results still
/// come in request order, an invalid event is answered on its own, and a prediction_id repeated
/// later in the batch is a replay of the earlier one.
async fn a_full_batch_is_answered_in_order_with_its_rejects_and_replays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let events: Vec<Value> = (0..1000)
        .map(|i| match i {
            // An invalid event in the middle, and the first event repeated at the end.
            600 => with(event("m"), "confidence", json!(-1)),
            999 => with(event("m"), "prediction_id", json!("p-0")),
            _ => with(event("m"), "prediction_id", json!(format!("p-{i}"))),
        })
        .collect();
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({ "events": events })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    let results = results["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), (0..1000).collect::<Vec<_>>());
    for (i, result) in results.iter().enumerate() {
        let expected = match i {
            600 => 422,
            999 => 200,
            _ => 201,
        };
        assert_eq!(result["status"], expected, "event {i}: {result}");
    }
    assert_eq!(results[999]["id"], results[0]["id"], "the repeat is the first event, replayed");
    assert_eq!(results[500]["prediction_id"], "p-500");
    assert_eq!(app.all_predictions().await.len(), 998);
}

/// The database refuses one event of a batch (a trigger, as a full disk or a constraint would):
/// the transaction holding the batch rolls back, every valid event is answered with a server
/// error to retry, the invalid one with its own 422, and nothing of the batch is stored. Sent
/// again once the database accepts it, the batch is stored whole.
async fn a_batch_whose_transaction_fails_stores_nothing_and_says_so_for_each_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let poison = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER poison BEFORE INSERT ON predictions WHEN NEW.prediction_id = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                 IF NEW.prediction_id = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                 RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON predictions FOR EACH ROW EXECUTE FUNCTION poison()",
        ],
    };
    let cure = match backend {
        Backend::Sqlite => "DROP TRIGGER poison",
        Backend::Postgres => "DROP TRIGGER poison ON predictions",
    };
    let run = |sql: &'static str| {
        let url = app.db_url.clone();
        async move {
            let done = match backend {
                Backend::Sqlite => {
                    sqlx::query(sql).execute(&sqlx::SqlitePool::connect(&url).await.unwrap()).await.map(drop)
                }
                Backend::Postgres => {
                    sqlx::query(sql).execute(&sqlx::PgPool::connect(&url).await.unwrap()).await.map(drop)
                }
            };
            done.expect("the test's own SQL runs");
        }
    };
    for sql in poison {
        run(sql).await;
    }
    let events = json!({"events": [
        with(event("m"), "prediction_id", json!("fine")),
        with(event("m"), "confidence", json!(-1)),
        with(event("m"), "prediction_id", json!("refused")),
    ]});
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &events).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    let statuses: Vec<u64> =
        results["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert!(statuses[0] >= 500 && statuses[2] >= 500, "the valid events are to be retried: {results}");
    assert_eq!(statuses[1], 422, "{results}");
    assert!(results["results"][0]["error"]["message"].is_string(), "each failure says why: {results}");
    assert!(app.all_predictions().await.is_empty(), "nothing of the failed transaction is stored");

    run(cure).await;
    let retried = app.post("/api/v1/predictions/batch", &app.admin_key, &events).await;
    let results: Value = retried.json().await.unwrap();
    let statuses: Vec<u64> =
        results["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 422, 201], "{results}");
    assert_eq!(app.all_predictions().await.len(), 2);
}

async fn an_empty_or_oversized_batch_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let empty = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({"events": []})).await;
    assert_eq!(expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY).await.1.as_deref(), Some("events"));
    let many: Vec<Value> = (0..1001).map(|_| event("m")).collect();
    let too_many = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({ "events": many })).await;
    assert_eq!(expect_error(too_many, StatusCode::UNPROCESSABLE_ENTITY).await.1.as_deref(), Some("events"));
    assert!(app.all_predictions().await.is_empty());
}

async fn a_tenant_key_writes_only_its_own_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.key(KeyScope::Ingest, Some("acme")).await;
    let foreign = with(event("m"), "actor", json!({"actor_type": "user", "actor_id": "1", "tenant_id": "globex"}));
    expect_error(app.post("/api/v1/predictions", &acme, &foreign).await, StatusCode::FORBIDDEN).await;
    expect_error(app.post("/api/v1/predictions", &acme, &event("m")).await, StatusCode::FORBIDDEN).await;
    let own = with(event("m"), "actor", json!({"actor_type": "user", "actor_id": "1", "tenant_id": "acme"}));
    assert_eq!(app.post("/api/v1/predictions", &acme, &own).await.status(), StatusCode::CREATED);
    let batch = app.post("/api/v1/predictions/batch", &acme, &json!({"events": [foreign, own]})).await;
    let results: Value = batch.json().await.unwrap();
    assert_eq!(results["results"][0]["status"], 403);
    assert_eq!(results["results"][1]["status"], 201);
    assert_eq!(app.all_predictions().await.len(), 2);
}
