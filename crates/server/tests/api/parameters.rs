//! Query parameters are strict on every route: an unknown or repeated one is a 400
//! `invalid_parameter` naming it, POSTs included, and nothing is stored. The routes are taken
//! from the server's own OpenAPI document, so a new route is covered without being listed here.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error};

on_both_backends!(
    every_documented_operation_rejects_an_unknown_or_repeated_parameter_and_stores_nothing,
    every_documented_parameter_is_one_the_server_knows,
    the_routes_once_accepting_anything_reject_unknown_parameters,
);

/// One operation of the OpenAPI document, ready to send: the path with real ids, and a body
/// that would be accepted without a bad query.
struct Operation {
    method: Method,
    path: String,
    body: Option<Value>,
    parameters: Vec<String>,
}

async fn documented_operations(app: &TestApp, prediction: &Value) -> Vec<Operation> {
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().expect("the document has paths") {
        for (method, operation) in item.as_object().unwrap() {
            let path = template
                .replace("{reference}", prediction["prediction_id"].as_str().unwrap())
                .replace("{id}", prediction["model"]["id"].as_str().unwrap());
            assert!(!path.contains('{'), "a path parameter this test does not fill: {template}");
            let body = operation.get("requestBody").map(|_| match template.as_str() {
                "/api/v1/predictions" => event("m"),
                "/api/v1/predictions/batch" => json!({"events": [event("m")]}),
                "/api/v1/predictions/{reference}/explanation" => json!({"method": "shap", "payload": {"a": 1}}),
                "/api/v1/erasures" => {
                    json!({"predictions": [prediction["prediction_id"]], "reason": "a test", "dry_run": true})
                }
                "/api/v1/holds" => json!({"predictions": [prediction["prediction_id"]], "reason": "a test"}),
                "/api/v1/holds/{id}/release" => json!({"reason": "a test"}),
                "/api/v1/predictions/{reference}/outcomes" => json!({"label": "fraud", "source": "a test"}),
                "/api/v1/outcomes/batch" => {
                    json!({"outcomes": [{"prediction_id": prediction["prediction_id"], "label": "x", "source": "t"}]})
                }
                "/api/v1/predictions/{reference}/reviews" => {
                    json!({"reviewer": {"reviewer_id": "u-1"}, "action": "confirm"})
                }
                other => panic!("a request body this test does not know: {other}"),
            });
            let parameters = operation["parameters"]
                .as_array()
                .map(|all| {
                    all.iter().filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap().to_owned()).collect()
                })
                .unwrap_or_default();
            operations.push(Operation { method: method.to_uppercase().parse().unwrap(), path, body, parameters });
        }
    }
    assert!(operations.len() >= 15, "the document lists every operation: {}", operations.len());
    operations
}

async fn send(app: &TestApp, operation: &Operation, query: &str) -> reqwest::Response {
    let url = format!("{}?{query}", app.url(&operation.path));
    let mut request = app.client.request(operation.method.clone(), url).bearer_auth(&app.admin_key);
    if let Some(body) = &operation.body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// What the store holds that a request could have added to.
async fn stored(app: &TestApp) -> (usize, usize, StatusCode) {
    let predictions = app.all_predictions().await.len();
    let mut explanations = 0;
    for prediction in app.all_predictions().await {
        let path = format!("/api/v1/predictions/{}/explanations", prediction["id"].as_str().unwrap());
        let list: Value = app.get(&path, &app.admin_key).await.json().await.unwrap();
        explanations += list["items"].as_array().unwrap().len();
    }
    let checkpoint = app.get("/api/v1/ledger/checkpoint", &app.admin_key).await.status();
    (predictions, explanations, checkpoint)
}

async fn every_documented_operation_rejects_an_unknown_or_repeated_parameter_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let prediction = app.record(&event("m")).await;
    let before = stored(&app).await;
    assert_eq!(before.2, StatusCode::NOT_FOUND, "no checkpoint is signed until asked");
    for operation in documented_operations(&app, &prediction).await {
        let what = format!("{} {}", operation.method, operation.path);
        let mut queries = vec!["zz_unknown=1".to_owned(), "zz_unknown".to_owned()];
        // After a known parameter too (names are checked before any value is read).
        queries.extend(operation.parameters.first().map(|known| format!("{known}=1&zz_unknown=1")));
        for query in queries {
            let (code, field) = expect_error(send(&app, &operation, &query).await, StatusCode::BAD_REQUEST).await;
            assert_eq!((code.as_str(), field.as_deref()), ("invalid_parameter", Some("zz_unknown")), "{what}?{query}");
        }
        for name in &operation.parameters {
            let response = send(&app, &operation, &format!("{name}=1&{name}=1")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}?{name}=1&{name}=1");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["field"], name.as_str(), "{what}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("more than once"), "{what}: {body}");
        }
    }
    assert_eq!(stored(&app).await, before, "a request with a bad query changed what is stored");
}

async fn every_documented_parameter_is_one_the_server_knows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let prediction = app.record(&event("m")).await;
    for operation in documented_operations(&app, &prediction).await {
        for name in &operation.parameters {
            let response = send(&app, &operation, &format!("{name}=%00")).await;
            let body: Value = response.json().await.unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains("not a known"),
                "{} {} documents {name}: {body}",
                operation.method,
                operation.path
            );
        }
    }
}

/// These answered 2xx with any query before every route declared its parameters.
async fn the_routes_once_accepting_anything_reject_unknown_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&event("m")).await;
    let id = stored["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::POST, "/api/v1/predictions?anything".to_owned(), Some(event("other"))),
        (Method::POST, format!("/api/v1/predictions/{id}/explanation?x"), Some(json!({"method": "m", "payload": {}}))),
        (Method::GET, "/api/v1/ledger/public-key?x".to_owned(), None),
        (Method::POST, "/api/v1/ledger/checkpoint?x=1".to_owned(), None),
        (Method::GET, "/metrics?x=1".to_owned(), None),
        (Method::GET, "/healthz?x=1".to_owned(), None),
    ] {
        let name = path.split_once('?').unwrap().1.split('=').next().unwrap().to_owned();
        let mut request = app.client.request(method.clone(), app.url(&path)).bearer_auth(&app.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (code, field) = expect_error(request.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!((code.as_str(), field.as_deref()), ("invalid_parameter", Some(name.as_str())), "{method} {path}");
    }
    assert_eq!(app.all_predictions().await.len(), 1, "nothing was stored");
    let explanations: Value =
        app.get(&format!("/api/v1/predictions/{id}/explanations"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(explanations["items"], json!([]));
    assert_eq!(app.get("/api/v1/ledger/checkpoint", &app.admin_key).await.status(), StatusCode::NOT_FOUND);
}
