use std::time::{SystemTime, UNIX_EPOCH};

use ml_audit_core::auth::KeyScope;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error, with};

on_both_backends!(
    attaching_by_uuid_id_creates_revision_one_shown_on_the_prediction,
    attaching_by_external_prediction_id_works,
    attaching_by_a_generated_prediction_id_works,
    attaching_by_a_uuid_shaped_external_prediction_id_works,
    a_uuid_shaped_reference_is_tried_as_an_id_first,
    attaching_again_supersedes_and_keeps_every_revision_intact,
    an_inline_explanation_is_revision_one_and_an_attached_one_supersedes_it,
    a_given_generated_at_is_normalised_to_utc_and_an_absent_one_is_set,
    the_explanation_status_defaults_to_success_and_rejects_unknown_values,
    an_explanation_without_method_or_payload_is_rejected_and_attaches_nothing,
    attaching_to_an_unknown_prediction_is_not_found,
    a_tenant_ingest_key_attaches_only_to_its_own_tenant,
    the_has_explanation_filter_agrees_after_attaching,
    concurrent_attaches_get_consecutive_revisions,
);

fn shap(payload: Value) -> Value {
    json!({"method": "shap", "payload": payload})
}

async fn attach(app: &TestApp, reference: &str, body: &Value) -> Response {
    app.post(&format!("/api/v1/predictions/{reference}/explanation"), &app.admin_key, body).await
}

/// Attaches with the admin key, expecting 201; returns the explanation.
async fn attached(app: &TestApp, reference: &str, body: &Value) -> Value {
    let response = attach(app, reference, body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "attaching {body} to {reference}");
    response.json().await.unwrap()
}

async fn prediction(app: &TestApp, reference: &str) -> Value {
    let response = app.get(&format!("/api/v1/predictions/{reference}"), &app.admin_key).await;
    assert_eq!(response.status(), StatusCode::OK, "{reference}");
    response.json().await.unwrap()
}

async fn revisions(app: &TestApp, reference: &str) -> Vec<Value> {
    let response = app.get(&format!("/api/v1/predictions/{reference}/explanations"), &app.admin_key).await;
    assert_eq!(response.status(), StatusCode::OK, "{reference}");
    let list: Value = response.json().await.unwrap();
    list["items"].as_array().unwrap().clone()
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp as the API writes it.
fn unix_seconds(text: &str) -> i64 {
    assert!(text.ends_with('Z') && text.len() >= 20 && &text[10..11] == "T", "{text} is not RFC 3339 UTC");
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    // Days from the civil date (H. Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + hour * 3600 + minute * 60 + second
}

fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn attaching_by_uuid_id_creates_revision_one_shown_on_the_prediction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&with(event("m"), "prediction_id", json!("ext-1"))).await;
    let id = stored["id"].as_str().unwrap();
    let body = json!({"method": "shap", "method_version": "0.45", "payload": {"age": 0.3, "income": -0.1},
                      "summary_text": "age mattered most"});
    let explanation = attached(&app, id, &body).await;
    assert_eq!(explanation["revision"], 1);
    assert_eq!(explanation["prediction_id"], stored["id"], "an explanation points at the prediction's id");
    for key in ["method", "method_version", "payload", "summary_text"] {
        assert_eq!(explanation[key], body[key], "{key}");
    }
    assert_eq!(explanation["status"], "success");
    let shown = prediction(&app, id).await;
    assert_eq!(shown["explanation"], explanation);
    // Nothing else about the prediction changed.
    let mut without_explanation = shown.clone();
    without_explanation["explanation"] = Value::Null;
    assert_eq!(without_explanation, stored);
    assert_eq!(revisions(&app, id).await, vec![explanation]);
}

async fn attaching_by_external_prediction_id_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&with(event("m"), "prediction_id", json!("order-42/score"))).await;
    app.record(&with(event("m"), "prediction_id", json!("order-43"))).await;
    let explanation = attached(&app, "order-42%2Fscore", &shap(json!({"a": 1}))).await;
    assert_eq!(explanation["prediction_id"], stored["id"]);
    assert_eq!(prediction(&app, stored["id"].as_str().unwrap()).await["explanation"], explanation);
    assert!(prediction(&app, "order-43").await["explanation"].is_null(), "only the named prediction is explained");
}

async fn attaching_by_a_generated_prediction_id_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&event("m")).await;
    let generated = stored["prediction_id"].as_str().unwrap();
    assert!(uuid::Uuid::try_parse(generated).is_ok(), "a generated prediction_id is UUID-shaped: {generated}");
    let explanation = attached(&app, generated, &shap(json!({"a": 1}))).await;
    assert_eq!(explanation["prediction_id"], stored["id"]);
    assert_eq!(prediction(&app, generated).await["explanation"]["revision"], 1);
    assert_eq!(revisions(&app, generated).await.len(), 1);
}

async fn attaching_by_a_uuid_shaped_external_prediction_id_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // django-ml-audit looked UUID-shaped refs up only as ids; here the prediction_id is tried next.
    let external = uuid::Uuid::new_v4().to_string();
    let stored = app.record(&with(event("m"), "prediction_id", json!(external))).await;
    assert_ne!(stored["id"], stored["prediction_id"]);
    let explanation = attached(&app, &external, &shap(json!({"a": 1}))).await;
    assert_eq!(explanation["prediction_id"], stored["id"]);
    assert_eq!(prediction(&app, &external).await["explanation"], explanation);
    assert_eq!(revisions(&app, &external).await, vec![explanation]);
}

async fn a_uuid_shaped_reference_is_tried_as_an_id_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.record(&with(event("m"), "prediction_id", json!("first"))).await;
    let first_id = first["id"].as_str().unwrap();
    // A second prediction whose external id is the first one's UUID.
    let second = app.record(&with(event("m"), "prediction_id", json!(first_id))).await;
    assert_eq!(prediction(&app, first_id).await["prediction_id"], "first");
    let explanation = attached(&app, first_id, &shap(json!({"a": 1}))).await;
    assert_eq!(explanation["prediction_id"], first["id"]);
    assert!(prediction(&app, second["id"].as_str().unwrap()).await["explanation"].is_null());
}

async fn attaching_again_supersedes_and_keeps_every_revision_intact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    let first_body = json!({"method": "shap", "payload": {"age": 0.3}, "summary_text": "first look"});
    let second_body = json!({"method": "lime", "method_version": "2", "payload": {"age": 0.1, "income": 0.7},
                             "summary_text": "second look", "status": "partial"});
    let first = attached(&app, "p-1", &first_body).await;
    let second = attached(&app, stored["id"].as_str().unwrap(), &second_body).await;
    assert_eq!((first["revision"].as_u64(), second["revision"].as_u64()), (Some(1), Some(2)));
    assert_ne!(first["id"], second["id"]);
    assert_eq!(prediction(&app, "p-1").await["explanation"], second, "the latest revision is current");
    let all = revisions(&app, "p-1").await;
    assert_eq!(all.iter().map(|e| e["revision"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(all, vec![first.clone(), second.clone()], "both revisions are kept as attached");
    assert_eq!(all[0]["payload"], first_body["payload"]);
    assert_eq!(all[0]["summary_text"], "first look");
    assert_eq!(all[1]["payload"], second_body["payload"]);
    let third = attached(&app, "p-1", &shap(json!({"age": 0.2}))).await;
    assert_eq!(third["revision"], 3);
    assert_eq!(revisions(&app, "p-1").await, vec![first, second, third]);
}

async fn an_inline_explanation_is_revision_one_and_an_attached_one_supersedes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let inline = json!({"method": "shap", "payload": {"age": 0.3}, "summary_text": "inline"});
    let stored = app.record(&with(with(event("m"), "prediction_id", json!("p-1")), "explanation", inline)).await;
    assert_eq!(stored["explanation"]["revision"], 1);
    let later = attached(&app, "p-1", &shap(json!({"age": 0.4}))).await;
    assert_eq!(later["revision"], 2);
    let all = revisions(&app, "p-1").await;
    assert_eq!(all, vec![stored["explanation"].clone(), later]);
    // A replay of the original event still answers 200 and does not undo the later revision.
    let replay = app
        .post(
            "/api/v1/predictions",
            &app.admin_key,
            &with(
                with(event("m"), "prediction_id", json!("p-1")),
                "explanation",
                json!({"method": "shap", "payload": {"age": 0.3}, "summary_text": "inline"}),
            ),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(revisions(&app, "p-1").await.len(), 2);
}

async fn a_given_generated_at_is_normalised_to_utc_and_an_absent_one_is_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    let given = with(shap(json!({})), "generated_at", json!("2026-11-27T10:00:00.25+02:00"));
    let explanation = attached(&app, "p-1", &given).await;
    assert_eq!(explanation["generated_at"], "2026-11-27T08:00:00.25Z");
    assert_eq!(revisions(&app, "p-1").await[0]["generated_at"], "2026-11-27T08:00:00.25Z");
    let before = now_seconds();
    let explanation = attached(&app, "p-1", &shap(json!({}))).await;
    let after = now_seconds();
    let generated_at = explanation["generated_at"].as_str().expect("generated_at is set");
    let seconds = unix_seconds(generated_at);
    assert!(before - 1 <= seconds && seconds <= after + 1, "{generated_at} is not the time of receipt");
    assert!(unix_seconds(explanation["created_at"].as_str().unwrap()) >= before - 1);
}

async fn the_explanation_status_defaults_to_success_and_rejects_unknown_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    assert_eq!(attached(&app, "p-1", &shap(json!({}))).await["status"], "success");
    for bad in ["ok", "Success", ""] {
        let (code, field) = expect_error(
            attach(&app, "p-1", &with(shap(json!({})), "status", json!(bad))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!((code.as_str(), field.as_deref()), ("invalid_event", Some("status")), "status {bad:?}");
    }
    for good in ["failed", "partial"] {
        assert_eq!(attached(&app, "p-1", &with(shap(json!({})), "status", json!(good))).await["status"], good);
    }
    assert_eq!(revisions(&app, "p-1").await.len(), 3, "rejected explanations are not kept");
}

async fn an_explanation_without_method_or_payload_is_rejected_and_attaches_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    for (body, field) in [
        (json!({"payload": {}}), "method"),
        (json!({"method": "", "payload": {}}), "method"),
        (json!({"method": 7, "payload": {}}), "method"),
        (json!({"method": "shap"}), "payload"),
        (json!({"method": "shap", "payload": {}, "generated_at": "2026-11-27T08:00:00"}), "generated_at"),
        (json!({"method": "shap", "payload": {}, "generated_at": "last week"}), "generated_at"),
        (json!({"method": "shap", "payload": {}, "explanation": "extra"}), "explanation"),
        (json!({"method": "shap", "payload": {}, "summary_text": "a\u{0}b"}), "summary_text"),
    ] {
        let (_, named) = expect_error(attach(&app, "p-1", &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(named.as_deref(), Some(field), "{body}");
    }
    let not_json = app.post_bytes("/api/v1/predictions/p-1/explanation", &app.admin_key, "{method: shap").await;
    expect_error(not_json, StatusCode::BAD_REQUEST).await;
    assert!(revisions(&app, "p-1").await.is_empty());
    assert!(prediction(&app, "p-1").await["explanation"].is_null());
}

async fn attaching_to_an_unknown_prediction_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    let unknown_uuid = uuid::Uuid::new_v4().to_string();
    for reference in ["p-2", "P-1", unknown_uuid.as_str()] {
        let (code, _) = expect_error(attach(&app, reference, &shap(json!({}))).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{reference}");
        expect_error(
            app.get(&format!("/api/v1/predictions/{reference}/explanations"), &app.admin_key).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert!(revisions(&app, "p-1").await.is_empty());
}

async fn a_tenant_ingest_key_attaches_only_to_its_own_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let actor = |tenant: &str| json!({"actor_type": "service", "actor_id": "scorer", "tenant_id": tenant});
    let own = app.record(&with(with(event("m"), "prediction_id", json!("acme-1")), "actor", actor("acme"))).await;
    let foreign =
        app.record(&with(with(event("m"), "prediction_id", json!("globex-1")), "actor", actor("globex"))).await;
    app.record(&with(event("m"), "prediction_id", json!("nobody-1"))).await;
    let acme = app.key(KeyScope::Ingest, Some("acme")).await;
    let post = |reference: String| {
        let (app, acme) = (&app, &acme);
        async move { app.post(&format!("/api/v1/predictions/{reference}/explanation"), acme, &shap(json!({"x": 1}))).await }
    };
    for reference in ["globex-1".to_owned(), foreign["id"].as_str().unwrap().to_owned(), "nobody-1".to_owned()] {
        let (code, _) = expect_error(post(reference.clone()).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{reference}");
    }
    assert!(revisions(&app, "globex-1").await.is_empty(), "nothing was attached to another tenant's prediction");
    assert!(revisions(&app, "nobody-1").await.is_empty());
    for reference in ["acme-1".to_owned(), own["id"].as_str().unwrap().to_owned()] {
        assert_eq!(post(reference).await.status(), StatusCode::CREATED);
    }
    assert_eq!(revisions(&app, "acme-1").await.len(), 2);
}

async fn the_has_explanation_filter_agrees_after_attaching(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["a", "b", "c"] {
        app.record(&with(event("m"), "prediction_id", json!(name))).await;
    }
    let ids = |page: Value| -> Vec<String> {
        let mut ids: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    let list = |filter: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/predictions?has_explanation={filter}"), &app.admin_key)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert!(ids(list("true").await).is_empty());
    assert_eq!(ids(list("false").await), vec!["a", "b", "c"]);
    attached(&app, "b", &shap(json!({}))).await;
    attached(&app, "b", &shap(json!({}))).await;
    assert_eq!(ids(list("true").await), vec!["b"], "a prediction with two revisions is listed once");
    assert_eq!(ids(list("false").await), vec!["a", "c"]);
    attached(&app, "c", &shap(json!({}))).await;
    assert_eq!(ids(list("true").await), vec!["b", "c"]);
    assert_eq!(ids(list("false").await), vec!["a"]);
}

async fn concurrent_attaches_get_consecutive_revisions(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    app.record(&with(event("m"), "prediction_id", json!("p-1"))).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let response =
                    attach(&app, "p-1", &with(shap(json!({"attempt": i})), "summary_text", json!(i.to_string()))).await;
                (response.status(), response.text().await.unwrap())
            })
        })
        .collect();
    for task in tasks {
        let (status, text) = task.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{text}");
    }
    let all = revisions(&app, "p-1").await;
    assert_eq!(all.iter().map(|e| e["revision"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=12).collect::<Vec<u64>>());
    let mut attempts: Vec<u64> = all.iter().map(|e| e["payload"]["attempt"].as_u64().unwrap()).collect();
    attempts.sort();
    assert_eq!(attempts, (0..12).collect::<Vec<u64>>(), "every attach is kept, none overwritten");
    assert_eq!(prediction(&app, "p-1").await["explanation"], all[11]);
}
