use ml_audit_core::auth::KeyScope;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error, with};

on_both_backends!(
    every_api_route_refuses_a_request_without_a_key,
    a_malformed_authorization_header_is_unauthorized_everywhere,
    the_bearer_scheme_name_is_case_insensitive,
    an_unknown_key_is_unauthorized_everywhere,
    a_revoked_key_is_unauthorized_from_then_on,
    an_ingest_key_may_not_read,
    a_read_key_may_not_write_and_stores_nothing,
    health_and_the_api_description_answer_without_a_key,
    metrics_answer_only_to_an_admin_key,
    a_tenant_read_key_sees_only_its_tenant_but_every_model,
    the_key_is_checked_before_the_request_is_looked_at,
);

/// Every `/api/v1` route, as (method, path, body), aimed at a real prediction and model so that
/// a 401 or 403 cannot be a 404 in disguise.
fn api_routes(prediction: &str, model: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/predictions".into(), None),
        (Method::GET, format!("/api/v1/predictions/{prediction}"), None),
        (Method::GET, format!("/api/v1/predictions/{prediction}/explanations"), None),
        (Method::GET, "/api/v1/models".into(), None),
        (Method::GET, format!("/api/v1/models/{model}"), None),
        (Method::POST, "/api/v1/predictions".into(), Some(event("unauthorized"))),
        (Method::POST, "/api/v1/predictions/batch".into(), Some(json!({"events": [event("unauthorized")]}))),
        (
            Method::POST,
            format!("/api/v1/predictions/{prediction}/explanation"),
            Some(json!({"method": "shap", "payload": {"age": 0.1}})),
        ),
    ]
}

/// Sends a request with exactly this `Authorization` header value, or none.
async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// Records one prediction with the admin key; returns (its id, its model's id).
async fn seed(app: &TestApp) -> (String, String) {
    let stored = app.record(&with(event("seeded"), "prediction_id", json!("seed-1"))).await;
    (stored["id"].as_str().unwrap().to_owned(), stored["model"]["id"].as_str().unwrap().to_owned())
}

/// Nothing but the seeded prediction is stored, and it gained no explanation.
async fn assert_only_the_seed_is_stored(app: &TestApp) {
    let all = app.all_predictions().await;
    assert_eq!(all.len(), 1, "a refused request stored something: {all:?}");
    assert_eq!(all[0]["prediction_id"], "seed-1");
    assert!(all[0]["explanation"].is_null(), "a refused request attached an explanation");
}

async fn every_api_route_refuses_a_request_without_a_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    for (method, path, body) in api_routes(&prediction, &model) {
        let response = send(&app, &method, &path, None, body.as_ref()).await;
        let (code, field) = expect_error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!((code.as_str(), field), ("unauthorized", None), "{method} {path}");
    }
    assert_only_the_seed_is_stored(&app).await;
}

async fn a_malformed_authorization_header_is_unauthorized_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    let admin_as_basic = format!("Basic {}", app.admin_key);
    let admin_without_scheme = app.admin_key.clone();
    for header in ["Basic x", "Bearer ", "Bearer", "Bearer    ", admin_as_basic.as_str(), admin_without_scheme.as_str()]
    {
        for (method, path, body) in api_routes(&prediction, &model) {
            let response = send(&app, &method, &path, Some(header), body.as_ref()).await;
            let (code, _) = expect_error(response, StatusCode::UNAUTHORIZED).await;
            assert_eq!(code, "unauthorized", "{method} {path} with {header:?}");
        }
    }
    assert_only_the_seed_is_stored(&app).await;
}

async fn the_bearer_scheme_name_is_case_insensitive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/api/v1/predictions"))
            .header("authorization", format!("{scheme} {}", app.admin_key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

async fn an_unknown_key_is_unauthorized_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    // Well-formed like a real key, and a near miss of the real admin key.
    let lookalike = format!("mla_{}", "0".repeat(64));
    let mut near_miss = app.admin_key.clone();
    let last = near_miss.pop().unwrap();
    near_miss.push(if last == '0' { '1' } else { '0' });
    for key in [lookalike.as_str(), near_miss.as_str(), "not-a-key"] {
        for (method, path, body) in api_routes(&prediction, &model) {
            let response = send(&app, &method, &path, Some(&format!("Bearer {key}")), body.as_ref()).await;
            expect_error(response, StatusCode::UNAUTHORIZED).await;
        }
    }
    assert_only_the_seed_is_stored(&app).await;
}

async fn a_revoked_key_is_unauthorized_from_then_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    let reader = app.key(KeyScope::Read, None).await;
    let writer = app.key(KeyScope::Ingest, None).await;
    assert_eq!(app.get("/api/v1/predictions", &reader).await.status(), StatusCode::OK);
    for secret in [&reader, &writer] {
        let keys = app.store.list_api_keys().await.unwrap();
        let stored = keys.iter().find(|k| secret.starts_with(&k.prefix)).expect("the key is listed");
        assert!(app.store.revoke_api_key(stored.id).await.unwrap(), "revoking reports success");
    }
    for (method, path, body) in api_routes(&prediction, &model) {
        let key = if method == Method::GET { &reader } else { &writer };
        let response = send(&app, &method, &path, Some(&format!("Bearer {key}")), body.as_ref()).await;
        expect_error(response, StatusCode::UNAUTHORIZED).await;
    }
    assert_only_the_seed_is_stored(&app).await;
    // Revoking one key leaves the others working.
    assert_eq!(app.get("/api/v1/predictions", &app.admin_key).await.status(), StatusCode::OK);
}

async fn an_ingest_key_may_not_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    let ingest = app.key(KeyScope::Ingest, None).await;
    for (method, path, _) in api_routes(&prediction, &model).into_iter().filter(|(m, _, _)| *m == Method::GET) {
        let (code, _) = expect_error(app.get(&path, &ingest).await, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "forbidden", "{method} {path}");
    }
    // The same key may write.
    assert_eq!(app.post("/api/v1/predictions", &ingest, &event("m")).await.status(), StatusCode::CREATED);
}

async fn a_read_key_may_not_write_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (prediction, model) = seed(&app).await;
    let read = app.key(KeyScope::Read, None).await;
    for (method, path, body) in api_routes(&prediction, &model).into_iter().filter(|(m, _, _)| *m == Method::POST) {
        let (code, _) = expect_error(app.post(&path, &read, &body.unwrap()).await, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "forbidden", "{method} {path}");
    }
    assert_only_the_seed_is_stored(&app).await;
    let explanations: Value =
        app.get(&format!("/api/v1/predictions/{prediction}/explanations"), &read).await.json().await.unwrap();
    assert_eq!(explanations["items"], json!([]));
}

async fn health_and_the_api_description_answer_without_a_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let openapi = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(openapi.status(), StatusCode::OK);
    let document: Value = openapi.json().await.expect("the API description is JSON");
    let paths = document["paths"].as_object().expect("the API description has paths");
    for path in [
        "/api/v1/predictions",
        "/api/v1/predictions/batch",
        "/api/v1/predictions/{reference}",
        "/api/v1/predictions/{reference}/explanation",
        "/api/v1/models",
    ] {
        assert!(paths.contains_key(path), "{path} is missing from /openapi.json: {:?}", paths.keys());
    }
}

async fn metrics_answer_only_to_an_admin_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED).await;
    expect_error(app.get("/metrics", "mla_unknown").await, StatusCode::UNAUTHORIZED).await;
    for scope in [KeyScope::Read, KeyScope::Ingest] {
        let key = app.key(scope, None).await;
        expect_error(app.get("/metrics", &key).await, StatusCode::FORBIDDEN).await;
    }
    let metrics = app.get("/metrics", &app.admin_key).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let content_type = metrics.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "metrics served as {content_type}");
    let text = metrics.text().await.unwrap();
    assert!(text.contains("ml_audit_events_total"), "{text}");
    assert!(text.contains("ml_audit_events_total{outcome=\"created\"} 1\n"), "the recorded event is counted: {text}");
}

async fn a_tenant_read_key_sees_only_its_tenant_but_every_model(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let actor = |tenant: &str| json!({"actor_type": "user", "actor_id": "7", "tenant_id": tenant});
    let record = |model: &'static str, prediction_id: &'static str, tenant: &'static str| {
        with(with(event(model), "prediction_id", json!(prediction_id)), "actor", actor(tenant))
    };
    let acme_1 = app.record(&record("acme-model", "acme-1", "acme")).await;
    app.record(&record("acme-model", "acme-2", "acme")).await;
    let globex = app.record(&record("globex-model", "globex-1", "globex")).await;
    app.record(&event("tenantless")).await;
    let reader = app.key(KeyScope::Read, Some("acme")).await;

    let page: Value = app.get("/api/v1/predictions", &reader).await.json().await.unwrap();
    let mut seen: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|p| p["prediction_id"].as_str().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, vec!["acme-1", "acme-2"]);

    let globex_id = globex["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/predictions/{globex_id}"),
        "/api/v1/predictions/globex-1".to_owned(),
        format!("/api/v1/predictions/{globex_id}/explanations"),
        "/api/v1/predictions/globex-1/explanations".to_owned(),
    ] {
        let (code, _) = expect_error(app.get(&path, &reader).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{path}");
    }
    let own: Value = app.get("/api/v1/predictions/acme-1", &reader).await.json().await.unwrap();
    assert_eq!(own, acme_1);

    let filtered = app.get("/api/v1/predictions?tenant_id=globex", &reader).await;
    assert_eq!(filtered.status(), StatusCode::OK);
    let filtered: Value = filtered.json().await.unwrap();
    assert_eq!(filtered["items"], json!([]));
    assert!(filtered["next_cursor"].is_null());

    let models: Value = app.get("/api/v1/models", &reader).await.json().await.unwrap();
    let mut names: Vec<&str> =
        models["items"].as_array().unwrap().iter().map(|m| m["model_name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["acme-model", "globex-model", "tenantless"]);
    let globex_model = app.get(&format!("/api/v1/models/{}", globex["model"]["id"].as_str().unwrap()), &reader).await;
    assert_eq!(globex_model.status(), StatusCode::OK);

    // An unbound read key sees every tenant.
    let everyone = app.key(KeyScope::Read, None).await;
    let page: Value = app.get("/api/v1/predictions", &everyone).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
}

async fn the_key_is_checked_before_the_request_is_looked_at(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let read = app.key(KeyScope::Read, None).await;
    let ingest = app.key(KeyScope::Ingest, None).await;
    // Bad parameters, unknown references and bad bodies: the caller learns nothing without a key.
    for (method, path, body) in [
        (Method::GET, "/api/v1/predictions?colour=blue&limit=0", None),
        (Method::GET, "/api/v1/predictions/no-such-prediction", None),
        (Method::GET, "/api/v1/models/not-a-uuid", None),
        (Method::POST, "/api/v1/predictions", Some(json!({"model_name": 42}))),
        (Method::POST, "/api/v1/predictions/batch", Some(json!({"events": []}))),
        (Method::POST, "/api/v1/predictions/no-such-prediction/explanation", Some(json!({}))),
    ] {
        expect_error(send(&app, &method, path, None, body.as_ref()).await, StatusCode::UNAUTHORIZED).await;
        // And with the wrong scope, the answer is 403, not a validation error or a 404.
        let wrong = if method == Method::GET { &ingest } else { &read };
        let response = send(&app, &method, path, Some(&format!("Bearer {wrong}")), body.as_ref()).await;
        expect_error(response, StatusCode::FORBIDDEN).await;
    }
    assert!(app.all_predictions().await.is_empty());
}
