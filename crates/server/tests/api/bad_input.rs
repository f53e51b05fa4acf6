use ml_audit_server::{Limits, ServerSettings};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error, with};

on_both_backends!(
    a_missing_required_field_is_named,
    a_field_of_the_wrong_type_is_named,
    an_unknown_field_is_named,
    empty_or_overlong_text_is_named,
    a_confidence_outside_zero_to_one_or_not_a_number_is_rejected,
    a_literal_nan_or_infinity_is_not_json,
    an_unknown_status_or_actor_type_is_named,
    a_timestamp_without_a_time_zone_is_rejected,
    a_bad_inline_explanation_is_named_by_its_path,
    a_bad_time_filter_is_a_bad_request_naming_it,
    an_unknown_or_repeated_query_parameter_is_a_bad_request,
    a_limit_outside_one_to_a_thousand_is_a_bad_request,
    every_bad_filter_value_is_named_never_ignored,
    a_fifty_megabyte_body_is_too_large,
    deeply_nested_json_is_too_large,
    json_nested_to_the_limit_is_accepted_and_one_deeper_is_not,
    the_body_limits_are_configurable,
    a_body_that_is_not_utf8_or_not_json_is_a_bad_request,
    a_batch_of_more_than_a_thousand_events_stores_nothing,
    sql_metacharacters_in_string_filters_match_nothing_and_harm_nothing,
    sql_metacharacters_in_values_are_stored_and_found_literally,
    a_nul_byte_in_any_filter_is_a_bad_request_naming_it,
    a_nul_byte_in_a_body_text_field_is_rejected,
    a_path_reference_with_a_nul_byte_is_not_found,
    a_path_reference_that_is_not_utf8_is_answered_in_the_error_format,
    a_filter_value_that_is_not_utf8_is_a_bad_request,
);

const STRING_FILTERS: [&str; 7] =
    ["model_name", "model_version", "actor_id", "tenant_id", "decision_outcome", "environment", "trace_id"];

/// `GET /api/v1/predictions` with these parameters, percent-encoded.
fn list_url(app: &TestApp, params: &[(&str, &str)]) -> Url {
    Url::parse_with_params(&app.url("/api/v1/predictions"), params).unwrap()
}

async fn list(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.client.get(list_url(app, params)).bearer_auth(&app.admin_key).send().await.expect("request sent")
}

/// POSTs `body` as one event; asserts the status and the error format, and returns `field`.
async fn rejected(app: &TestApp, body: &Value, status: StatusCode) -> Option<String> {
    let (code, field) = expect_error(app.post("/api/v1/predictions", &app.admin_key, body).await, status).await;
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert_eq!(code, "invalid_event");
    }
    field
}

/// The same event inside a batch fails on its own with the same field.
async fn rejected_in_a_batch(app: &TestApp, body: &Value) -> Option<String> {
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({"events": [body]})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    assert_eq!(results["results"][0]["status"], 422, "{results}");
    results["results"][0]["error"]["field"].as_str().map(str::to_owned)
}

/// Nothing is stored, the server still answers, and a valid event still records.
async fn assert_nothing_stored_and_still_healthy(app: &TestApp) {
    let stored = app.all_predictions().await;
    assert!(stored.is_empty(), "a rejected request stored {stored:?}");
    let health = app.client.get(app.url("/healthz")).send().await.expect("the server still answers");
    assert_eq!(health.status(), StatusCode::OK);
    app.record(&event("after")).await;
    assert_eq!(app.all_predictions().await.len(), 1);
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

fn valid_event_bytes() -> Vec<u8> {
    serde_json::to_vec(&event("m")).unwrap()
}

async fn a_missing_required_field_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for key in ["model_name", "model_version", "features", "output"] {
        let body = without(event("m"), key);
        assert_eq!(rejected(&app, &body, StatusCode::UNPROCESSABLE_ENTITY).await.as_deref(), Some(key));
        assert_eq!(rejected_in_a_batch(&app, &body).await.as_deref(), Some(key));
    }
    let no_actor_id = with(event("m"), "actor", json!({"actor_type": "user"}));
    assert_eq!(rejected(&app, &no_actor_id, StatusCode::UNPROCESSABLE_ENTITY).await.as_deref(), Some("actor.actor_id"));
    let no_actor_type = with(event("m"), "actor", json!({"actor_id": "1"}));
    assert_eq!(
        rejected(&app, &no_actor_type, StatusCode::UNPROCESSABLE_ENTITY).await.as_deref(),
        Some("actor.actor_type")
    );
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_field_of_the_wrong_type_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (key, value) in [
        ("features", json!([1, 2, 3])),
        ("features", json!("age=42")),
        ("model_name", json!(42)),
        ("model_version", json!(1.0)),
        ("actor", json!("user:42")),
        ("metadata", json!("region=eu")),
        ("latency_ms", json!("12")),
        ("timestamp", json!(1_764_230_400)),
        ("config_snapshot", json!([1])),
        ("explanation", json!("shap")),
    ] {
        let body = with(event("m"), key, value.clone());
        let field = rejected(&app, &body, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some(key), "{key} = {value}");
        assert_eq!(rejected_in_a_batch(&app, &body).await.as_deref(), Some(key), "{key} = {value} in a batch");
    }
    for (key, value, path) in [
        ("actor_id", json!(42), "actor.actor_id"),
        ("ip_address", json!("not an address"), "actor.ip_address"),
        ("auth_context", json!("oauth"), "actor.auth_context"),
    ] {
        let actor = with(json!({"actor_type": "user", "actor_id": "1"}), key, value);
        let field = rejected(&app, &with(event("m"), "actor", actor), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some(path));
    }
    // A body that is JSON but not an object is not an event.
    for body in [json!([event("m")]), json!("event"), json!(42)] {
        rejected(&app, &body, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn an_unknown_field_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let typo = with(event("m"), "confidance", json!(0.5));
    assert_eq!(rejected(&app, &typo, StatusCode::UNPROCESSABLE_ENTITY).await.as_deref(), Some("confidance"));
    let nested = with(event("m"), "actor", json!({"actor_type": "user", "actor_id": "1", "tenant": "acme"}));
    assert_eq!(rejected(&app, &nested, StatusCode::UNPROCESSABLE_ENTITY).await.as_deref(), Some("actor.tenant"));
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn empty_or_overlong_text_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (key, value) in [
        ("model_name", json!("")),
        ("model_name", json!("   ")),
        ("model_version", json!("")),
        ("model_name", json!("m".repeat(256))),
        ("trace_id", json!("t".repeat(256))),
        ("prediction_id", json!("   ")),
    ] {
        let field = rejected(&app, &with(event("m"), key, value), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some(key));
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_confidence_outside_zero_to_one_or_not_a_number_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for value in [json!(1.5), json!(-0.1), json!("0.5"), json!(true), json!(1.000_001)] {
        let body = with(event("m"), "confidence", value.clone());
        let field = rejected(&app, &body, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some("confidence"), "confidence {value}");
        assert_eq!(rejected_in_a_batch(&app, &body).await.as_deref(), Some("confidence"));
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_literal_nan_or_infinity_is_not_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for literal in ["NaN", "Infinity", "-Infinity"] {
        let body = format!(
            r#"{{"model_name": "m", "model_version": "1", "features": {{}}, "output": 1, "confidence": {literal}}}"#
        );
        for path in ["/api/v1/predictions", "/api/v1/predictions/batch"] {
            let body = if path.ends_with("batch") { format!(r#"{{"events": [{body}]}}"#) } else { body.clone() };
            let (code, _) =
                expect_error(app.post_bytes(path, &app.admin_key, body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(code, "invalid_json", "{literal} sent to {path}");
        }
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn an_unknown_status_or_actor_type_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for status in ["ok", "SUCCESS", "", "error"] {
        let field = rejected(&app, &with(event("m"), "status", json!(status)), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some("status"), "status {status:?}");
    }
    for actor_type in ["robot", "User", ""] {
        let actor = json!({"actor_type": actor_type, "actor_id": "1"});
        let field = rejected(&app, &with(event("m"), "actor", actor), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some("actor.actor_type"), "actor_type {actor_type:?}");
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_timestamp_without_a_time_zone_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for bad in ["2026-11-27 08:00", "2026-11-27T08:00:00", "2026-11-27", "yesterday", "2026-13-01T00:00:00Z", ""] {
        let field = rejected(&app, &with(event("m"), "timestamp", json!(bad)), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some("timestamp"), "timestamp {bad:?}");
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_bad_inline_explanation_is_named_by_its_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let explanation = |key: &str, value: Value| with(json!({"method": "shap", "payload": {"age": 0.1}}), key, value);
    for (body, path) in [
        (explanation("generated_at", json!("2026-11-27T08:00:00")), "explanation.generated_at"),
        (explanation("generated_at", json!("soon")), "explanation.generated_at"),
        (explanation("status", json!("ok")), "explanation.status"),
        (explanation("payload", json!("age")), "explanation.payload"),
        (without(explanation("summary_text", json!("s")), "method"), "explanation.method"),
    ] {
        let field =
            rejected(&app, &with(event("m"), "explanation", body.clone()), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some(path), "{body}");
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_bad_time_filter_is_a_bad_request_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    for name in ["time_from", "time_to"] {
        for bad in ["yesterday", "2026-11-27", "2026-11-27T08:00:00", "2026-11-27 08:00", "1764230400", ""] {
            let (code, field) = expect_error(list(&app, &[(name, bad)]).await, StatusCode::BAD_REQUEST).await;
            assert_eq!((code.as_str(), field.as_deref()), ("invalid_parameter", Some(name)), "{name}={bad:?}");
        }
    }
    let backwards = list(&app, &[("time_from", "2026-11-28T00:00:00Z"), ("time_to", "2026-11-27T00:00:00Z")]).await;
    let (_, field) = expect_error(backwards, StatusCode::BAD_REQUEST).await;
    assert!(matches!(field.as_deref(), Some("time_from" | "time_to")), "{field:?}");
}

async fn an_unknown_or_repeated_query_parameter_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&event("m")).await;
    let id = stored["id"].as_str().unwrap();
    for (path, name) in [
        ("/api/v1/predictions?colour=blue", "colour"),
        ("/api/v1/predictions?model=m", "model"),
        ("/api/v1/predictions?offset=10", "offset"),
        ("/api/v1/predictions?status=failed&status=success", "status"),
        ("/api/v1/predictions?model_name=m&model_name=n", "model_name"),
        (format!("/api/v1/predictions/{id}?expand=model").as_str(), "expand"),
        (format!("/api/v1/predictions/{id}/explanations?limit=5").as_str(), "limit"),
        ("/api/v1/models?model_name=m", "model_name"),
    ] {
        let (_, field) = expect_error(app.get(path, &app.admin_key).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(field.as_deref(), Some(name), "{path}");
    }
}

async fn a_limit_outside_one_to_a_thousand_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    for bad in ["0", "100000", "1001", "-1", "abc", "", "1.5", "4294967297"] {
        let (_, field) = expect_error(list(&app, &[("limit", bad)]).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(field.as_deref(), Some("limit"), "limit={bad:?}");
    }
    for good in ["1", "1000"] {
        assert_eq!(list(&app, &[("limit", good)]).await.status(), StatusCode::OK, "limit={good}");
    }
}

async fn every_bad_filter_value_is_named_never_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    for (name, bad) in [
        ("actor_type", "robot"),
        ("actor_type", "USER"),
        ("status", "ok"),
        ("has_explanation", "maybe"),
        ("has_explanation", "yes"),
        ("min_confidence", "1.5"),
        ("min_confidence", "-0.1"),
        ("min_confidence", "NaN"),
        ("max_confidence", "high"),
        ("max_confidence", "inf"),
        ("cursor", "not-a-cursor"),
    ] {
        let (_, field) = expect_error(list(&app, &[(name, bad)]).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(field.as_deref(), Some(name), "{name}={bad:?}");
    }
    let crossed = list(&app, &[("min_confidence", "0.9"), ("max_confidence", "0.1")]).await;
    expect_error(crossed, StatusCode::BAD_REQUEST).await;
}

/// POSTs `body` over a plain socket, writing on one thread while reading the answer on another,
/// so that the answer is seen even when the server stops reading the body early (which it may).
/// Returns the status code and the response body.
async fn post_on_a_socket(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(app.address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        app.address,
        app.admin_key,
        body.len()
    );
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body));
    });
    let response = tokio::task::spawn_blocking(move || {
        let (mut response, mut buffer) = (Vec::new(), [0u8; 8192]);
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
                Err(e) if response.is_empty() => panic!("no answer at all: {e}"),
                Err(_) => break, // reset after the answer, as the server closed with unread input
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
        response
    })
    .await
    .unwrap();
    let _ = sending.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn fifty_megabyte_event() -> Vec<u8> {
    let huge = with(event("m"), "output", json!({"blob": "x".repeat(50 * 1024 * 1024)}));
    let bytes = serde_json::to_vec(&huge).unwrap();
    assert!(bytes.len() > 50 * 1024 * 1024);
    bytes
}

async fn a_fifty_megabyte_body_is_too_large(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bytes = fifty_megabyte_event();
    for path in ["/api/v1/predictions", "/api/v1/predictions/batch"] {
        let (status, body) = post_on_a_socket(&app, path, bytes.clone()).await;
        assert_eq!(status, 413, "{path}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {body:?}: {e}"));
        assert_eq!(error["error"]["code"], "too_large", "{path}");
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

/// An event whose features nest `depth` objects deep (`features` itself is the first).
fn nested_event(depth: usize) -> String {
    let features = format!("{}1{}", "{\"a\": ".repeat(depth), "}".repeat(depth));
    format!(r#"{{"model_name": "m", "model_version": "1", "output": 1, "features": {features}}}"#)
}

async fn deeply_nested_json_is_too_large(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (code, _) = expect_error(
        app.post_bytes("/api/v1/predictions", &app.admin_key, nested_event(10_000)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(code, "too_large");
    let arrays = format!(
        r#"{{"model_name": "m", "model_version": "1", "features": {{}}, "output": {}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    expect_error(app.post_bytes("/api/v1/predictions", &app.admin_key, arrays).await, StatusCode::PAYLOAD_TOO_LARGE)
        .await;
    let batch = format!(r#"{{"events": [{}]}}"#, nested_event(10_000));
    expect_error(
        app.post_bytes("/api/v1/predictions/batch", &app.admin_key, batch).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn json_nested_to_the_limit_is_accepted_and_one_deeper_is_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The body object is level 1, so features nested 63 deep reach the default limit of 64.
    let at_limit = app.post_bytes("/api/v1/predictions", &app.admin_key, nested_event(63)).await;
    assert_eq!(at_limit.status(), StatusCode::CREATED);
    let stored: Value = at_limit.json().await.unwrap();
    let mut inner = &stored["features"];
    for _ in 1..63 {
        inner = &inner["a"];
    }
    assert_eq!(inner["a"], 1, "the nested features are stored whole");
    expect_error(
        app.post_bytes("/api/v1/predictions", &app.admin_key, nested_event(64)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(app.all_predictions().await.len(), 1);
}

async fn the_body_limits_are_configurable(backend: Backend) {
    let settings = ServerSettings {
        limits: Limits { max_body_bytes: 2048, max_json_depth: 4, ..Limits::default() },
        ..ServerSettings::default()
    };
    let app = TestApp::spawn_with(backend, settings).await;
    let big = with(event("m"), "output", json!("x".repeat(4096)));
    let (code, _) =
        expect_error(app.post("/api/v1/predictions", &app.admin_key, &big).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(code, "too_large");
    expect_error(
        app.post_bytes("/api/v1/predictions", &app.admin_key, nested_event(4)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(
        app.post_bytes("/api/v1/predictions", &app.admin_key, nested_event(3)).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.all_predictions().await.len(), 1);
}

async fn a_body_that_is_not_utf8_or_not_json_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut latin1 = valid_event_bytes();
    let at = latin1.iter().position(|&b| b == b'm').unwrap();
    latin1[at] = 0xE9; // "é" in Latin-1: not UTF-8
    let mut truncated = valid_event_bytes();
    truncated.truncate(truncated.len() - 1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("latin-1", latin1),
        ("lone continuation byte", b"{\"model_name\": \"\x80\"}".to_vec()),
        ("overlong encoding", b"{\"model_name\": \"\xC0\xAF\"}".to_vec()),
        ("form data", b"model_name=m&model_version=1".to_vec()),
        ("truncated", truncated),
        ("empty", Vec::new()),
        ("trailing garbage", [valid_event_bytes(), b" x".to_vec()].concat()),
        ("single quotes", b"{'model_name': 'm'}".to_vec()),
        ("two documents", [valid_event_bytes(), valid_event_bytes()].concat()),
    ];
    for path in ["/api/v1/predictions", "/api/v1/predictions/batch"] {
        for (what, bytes) in &cases {
            let (code, field) =
                expect_error(app.post_bytes(path, &app.admin_key, bytes.clone()).await, StatusCode::BAD_REQUEST).await;
            assert!(code == "invalid_utf8" || code == "invalid_json", "{what} to {path}: {code}");
            assert_eq!(field, None, "{what}");
        }
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_batch_of_more_than_a_thousand_events_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let events: Vec<Value> = (0..1001).map(|i| with(event("m"), "trace_id", json!(i.to_string()))).collect();
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({ "events": events })).await;
    let (code, field) = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!((code.as_str(), field.as_deref()), ("invalid_event", Some("events")));
    for bad in [json!({}), json!({"events": "all"}), json!({"events": [event("m")], "extra": 1}), json!([event("m")])] {
        let response = app.post("/api/v1/predictions/batch", &app.admin_key, &bad).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_nothing_stored_and_still_healthy(&app).await;
}

const SQL_METACHARACTERS: [&str; 9] = [
    "' OR 1=1 --",
    "\"; DROP TABLE predictions; --",
    "%",
    "_",
    "\\",
    "' OR ''='",
    "*",
    "1' UNION SELECT * FROM api_keys --",
    "%%",
];

async fn sql_metacharacters_in_string_filters_match_nothing_and_harm_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "model_name": "m", "model_version": "1.0.0", "features": {"age": 42}, "output": 1,
        "decision_outcome": "approve", "environment": "prod", "trace_id": "t-1",
        "actor": {"actor_type": "user", "actor_id": "u-1", "tenant_id": "acme"},
    });
    let recorded = app.record(&body).await;
    for filter in STRING_FILTERS {
        for value in SQL_METACHARACTERS {
            let response = list(&app, &[(filter, value)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{filter}={value:?}");
            let page: Value = response.json().await.unwrap();
            assert_eq!(page["items"], json!([]), "{filter}={value:?} matched something");
            assert!(page["next_cursor"].is_null());
        }
    }
    // And as path references.
    for value in SQL_METACHARACTERS {
        let mut url = Url::parse(&app.url("/api/v1/predictions")).unwrap();
        url.path_segments_mut().unwrap().push(value);
        let response = app.client.get(url).bearer_auth(&app.admin_key).send().await.unwrap();
        expect_error(response, StatusCode::NOT_FOUND).await;
    }
    let all = app.all_predictions().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], recorded);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

async fn sql_metacharacters_in_values_are_stored_and_found_literally(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, value) in SQL_METACHARACTERS.iter().enumerate() {
        let body = json!({
            "model_name": value, "model_version": value, "features": {"note": value}, "output": value,
            "decision_outcome": value, "environment": value, "trace_id": value, "prediction_id": format!("{value}#{i}"),
            "actor": {"actor_type": "user", "actor_id": value, "tenant_id": value},
        });
        let stored = app.record(&body).await;
        assert_eq!(stored["model"]["model_name"], *value);
        assert_eq!(stored["output"], *value);
    }
    app.record(&event("plain")).await;
    for filter in STRING_FILTERS {
        for value in SQL_METACHARACTERS {
            let page: Value = list(&app, &[(filter, value)]).await.json().await.unwrap();
            let items = page["items"].as_array().unwrap();
            assert_eq!(items.len(), 1, "{filter}={value:?} found {items:?}");
            assert!(
                items[0]["prediction_id"].as_str().unwrap().starts_with(&format!("{value}#")),
                "{filter}={value:?}"
            );
        }
    }
    assert_eq!(app.all_predictions().await.len(), SQL_METACHARACTERS.len() + 1);
}

async fn a_nul_byte_in_any_filter_is_a_bad_request_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    let others = [
        "actor_type",
        "status",
        "time_from",
        "time_to",
        "has_explanation",
        "min_confidence",
        "max_confidence",
        "limit",
        "cursor",
    ];
    for name in STRING_FILTERS.iter().chain(others.iter()) {
        for value in ["\0", "m\0", "a\0b"] {
            let (_, field) = expect_error(list(&app, &[(name, value)]).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(field.as_deref(), Some(*name), "{name}={value:?}");
        }
    }
    // Sent raw, as a client that builds its own query string would.
    for name in STRING_FILTERS {
        let (_, field) = expect_error(
            app.get(&format!("/api/v1/predictions?{name}=%00"), &app.admin_key).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(field.as_deref(), Some(name));
    }
    assert_eq!(app.all_predictions().await.len(), 1);
}

async fn a_nul_byte_in_a_body_text_field_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (key, value) in [
        ("trace_id", json!("trace\u{0}1")),
        ("model_name", json!("m\u{0}")),
        ("model_version", json!("\u{0}")),
        ("prediction_id", json!("p\u{0}1")),
        ("decision_outcome", json!("a\u{0}")),
        ("environment", json!("\u{0}prod")),
    ] {
        let field = rejected(&app, &with(event("m"), key, value), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field.as_deref(), Some(key));
    }
    let actor = json!({"actor_type": "user", "actor_id": "u\u{0}1"});
    let field = rejected(&app, &with(event("m"), "actor", actor), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field.as_deref(), Some("actor.actor_id"));
    // The raw escape as a client would write it.
    let raw = r#"{"model_name": "m", "model_version": "1", "features": {}, "output": 1, "trace_id": "a\u0000b"}"#;
    let (_, field) = expect_error(
        app.post_bytes("/api/v1/predictions", &app.admin_key, raw).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field.as_deref(), Some("trace_id"));
    assert_nothing_stored_and_still_healthy(&app).await;
}

async fn a_path_reference_with_a_nul_byte_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&with(event("m"), "prediction_id", json!("ext-1"))).await;
    let id = stored["id"].as_str().unwrap();
    for reference in ["%00", "ext-1%00", format!("{id}%00").as_str(), "%00ext-1"] {
        for path in
            [format!("/api/v1/predictions/{reference}"), format!("/api/v1/predictions/{reference}/explanations")]
        {
            let (code, _) = expect_error(app.get(&path, &app.admin_key).await, StatusCode::NOT_FOUND).await;
            assert_eq!(code, "not_found", "{path}");
        }
        let attach = app
            .post(
                &format!("/api/v1/predictions/{reference}/explanation"),
                &app.admin_key,
                &json!({"method": "shap", "payload": {}}),
            )
            .await;
        expect_error(attach, StatusCode::NOT_FOUND).await;
    }
    let unchanged: Value = app.get("/api/v1/predictions/ext-1", &app.admin_key).await.json().await.unwrap();
    assert_eq!(unchanged, stored, "nothing was attached");
}

async fn a_path_reference_that_is_not_utf8_is_answered_in_the_error_format(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&event("m")).await;
    let explanation = json!({"method": "shap", "payload": {}});
    let responses = vec![
        ("GET /api/v1/predictions/%FF", app.get("/api/v1/predictions/%FF", &app.admin_key).await),
        (
            "GET /api/v1/predictions/%C0%AF/explanations",
            app.get("/api/v1/predictions/%C0%AF/explanations", &app.admin_key).await,
        ),
        ("GET /api/v1/models/%FF", app.get("/api/v1/models/%FF", &app.admin_key).await),
        (
            "POST /api/v1/predictions/%FF/explanation",
            app.post("/api/v1/predictions/%FF/explanation", &app.admin_key, &explanation).await,
        ),
    ];
    for (request, response) in responses {
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST, "{request}: {status} {text:?}");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{request}: {status} {text:?} is not the JSON error format"));
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{request}: {body}");
    }
    assert!(app.all_predictions().await[0]["explanation"].is_null());
}

async fn a_filter_value_that_is_not_utf8_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Recorded with the character that a lossy decoding of %FF produces.
    app.record(&with(event("\u{FFFD}"), "trace_id", json!("\u{FFFD}"))).await;
    for name in ["model_name", "trace_id"] {
        let response = app.get(&format!("/api/v1/predictions?{name}=%FF"), &app.admin_key).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}=%FF answered {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["field"], name);
    }
}
