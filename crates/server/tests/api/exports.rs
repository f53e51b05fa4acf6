//! `GET /api/v1/exports/predictions`: every match in the list's shape and order, as JSON Lines
//! or CSV, read in several internal pages; the list's 400s; tenant binding; a client that goes
//! away midway.

use ml_audit_core::auth::KeyScope;
use ml_audit_server::{Limits, ServerSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, expect_error};

on_both_backends!(
    jsonl_and_csv_exports_hold_exactly_what_the_list_pages_hold,
    a_tenant_bound_key_exports_only_its_tenant,
    format_paging_and_filter_mistakes_are_the_lists_400s,
    an_export_needs_a_read_key,
    nothing_matching_is_an_empty_jsonl_file_or_a_csv_header,
    a_client_that_goes_away_midway_leaves_the_server_working,
    filter_values_with_quotes_and_any_characters_match_exactly,
);

/// Rows per internal page in these tests: every export below spans several pages.
const PAGE_ROWS: u32 = 7;

async fn spawn(backend: Backend, page_rows: u32) -> TestApp {
    let limits = Limits { export_page_rows: page_rows, ..Limits::default() };
    TestApp::spawn_with(backend, ServerSettings { limits, ledger_schedule: ON_DEMAND_SEALING, ..Default::default() })
        .await
}

/// Event `i` of a varied set: three models, three tenants (one without an actor), confidences,
/// decisions, explanations, traces and timestamps (some shared) spread out.
fn varied_event(i: usize, padding: usize) -> Value {
    let (model, version) = (["fraud", "churn", "credit"][i % 3], ["1.0.0", "2.0.0"][i % 2]);
    let (decision, status) = (["approve", "deny", ""][i % 3], ["success", "failed", "partial"][i % 3]);
    let mut event = json!({
        "model_name": model,
        "model_version": version,
        "features": {"i": i, "note": "a,\"quoted\"\nline", "pad": "x".repeat(padding)},
        "output": {"score": (i % 10) as f64 / 10.0},
        "decision_outcome": decision,
        "status": status,
        "environment": if i.is_multiple_of(2) { "prod" } else { "staging" },
        "trace_id": format!("t-{}", i % 4),
        "prediction_id": format!("x-{i}"),
        "timestamp": format!("2026-11-{:02}T{:02}:00:00Z", 1 + (i / 24) % 28, i % 24),
    });
    if !i.is_multiple_of(5) {
        event["confidence"] = json!((i % 11) as f64 / 10.0);
    }
    if !i.is_multiple_of(7) {
        let (tenant, actor_type) = (["acme", "globex"][i % 2], ["user", "service"][i % 2]);
        event["actor"] = json!({"actor_type": actor_type, "actor_id": format!("a{}", i % 3), "tenant_id": tenant});
    }
    if i.is_multiple_of(4) {
        event["explanation"] = json!({"method": "shap", "payload": {"i": i}});
    }
    if i.is_multiple_of(6) {
        event["latency_ms"] = json!(12.5);
    }
    event
}

/// Records events `from..to` in batches of at most 1000.
async fn record_varied(app: &TestApp, range: std::ops::Range<usize>, padding: usize) {
    let events: Vec<Value> = range.map(|i| varied_event(i, padding)).collect();
    for batch in events.chunks(1000) {
        let response =
            app.post("/api/v1/predictions/batch?results=failures", &app.admin_key, &json!({"events": batch})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let results: Value = response.json().await.unwrap();
        assert_eq!(results["results"], json!([]), "every event stored");
    }
}

/// Every item the list shows for `query`, following its cursor in small pages.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/predictions?limit=9&{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let response = app.get(&path, key).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let page: Value = response.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// The export's body and its headers (content type, disposition), asserting 200.
async fn exported(app: &TestApp, key: &str, query: &str) -> (String, String, String) {
    let response = app.get(&format!("/api/v1/exports/predictions?{query}"), key).await;
    assert_eq!(response.status(), StatusCode::OK, "export ?{query}");
    let header = |name| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    (response.text().await.unwrap(), content_type, disposition)
}

fn jsonl_items(body: &str) -> Vec<Value> {
    assert!(body.is_empty() || body.ends_with('\n'), "every line is whole");
    body.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON object")).collect()
}

/// The CSV rows as JSON objects: a cell of a string field is its text, any other cell the JSON
/// text of its value.
fn csv_items(body: &str, like: &[Value]) -> Vec<Value> {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let mut items = Vec::new();
    for (at, record) in reader.records().enumerate() {
        let record = record.expect("RFC 4180 rows");
        let mut item = serde_json::Map::new();
        for (column, cell) in headers.iter().zip(record.iter()) {
            let value = match like.get(at).map(|item| &item[column]) {
                Some(Value::String(_)) => Value::String(cell.to_owned()),
                _ => serde_json::from_str(cell).unwrap_or_else(|e| panic!("{column}: {cell:?} is not JSON: {e}")),
            };
            item.insert(column.clone(), value);
        }
        items.push(item.into());
    }
    items
}

async fn jsonl_and_csv_exports_hold_exactly_what_the_list_pages_hold(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    record_varied(&app, 0..60, 0).await;
    // An outcome, a review and an erasure: their fields are in the GET shape too.
    let outcome = json!({"label": "fraud", "source": "chargebacks"});
    assert_eq!(app.post("/api/v1/predictions/x-3/outcomes", &app.admin_key, &outcome).await.status(), 201);
    let review = json!({"reviewer": {"reviewer_id": "u-1"}, "action": "override", "final_decision": "deny",
                        "reason_codes": ["r1"]});
    assert_eq!(app.post("/api/v1/predictions/x-6/reviews", &app.admin_key, &review).await.status(), 201);
    let erasure = json!({"predictions": ["x-9"], "reason": "a subject asked"});
    assert_eq!(app.post("/api/v1/erasures", &app.admin_key, &erasure).await.status(), 201);
    app.seal().await;

    for query in [
        "",
        "model_name=fraud",
        "model_name=fraud&model_version=1.0.0",
        "tenant_id=acme&min_confidence=0.3",
        "time_from=2026-11-02T00:00:00Z&time_to=2026-11-02T12:00:00Z",
        "has_explanation=true&environment=prod",
        "actor_type=service&status=success",
        "trace_id=t-1",
        "decision_outcome=deny",
        "has_outcome=true",
        "final_decision=deny",
        "reviewed=false&max_confidence=0.5",
    ] {
        let expected = listed(&app, &app.admin_key, query).await;
        assert!(!expected.is_empty(), "?{query} matches something");
        let (jsonl, content_type, disposition) = exported(&app, &app.admin_key, query).await;
        assert_eq!(content_type, "application/x-ndjson");
        assert_eq!(disposition, "attachment; filename=\"predictions.jsonl\"");
        assert_eq!(jsonl_items(&jsonl), expected, "JSONL ?{query}");
        let (same, _, _) = exported(&app, &app.admin_key, &format!("format=jsonl&{query}")).await;
        assert_eq!(same, jsonl, "format=jsonl is the default");

        let (csv, content_type, disposition) = exported(&app, &app.admin_key, &format!("format=csv&{query}")).await;
        assert!(content_type.starts_with("text/csv"), "{content_type}");
        assert_eq!(disposition, "attachment; filename=\"predictions.csv\"");
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        if let Some(first) = expected.first() {
            let fields: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
            let mut sorted = header.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, fields, "one column per top-level field");
        }
        assert_eq!(csv_items(&csv, &expected), expected, "CSV ?{query}");
    }
    let all = listed(&app, &app.admin_key, "").await;
    assert_eq!(all.len(), 60);
    assert!(all.iter().any(|p| !p["erased"].is_null()) && all.iter().any(|p| !p["outcome"].is_null()));
}

async fn a_tenant_bound_key_exports_only_its_tenant(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    record_varied(&app, 0..40, 0).await;
    let acme = app.key(KeyScope::Read, Some("acme")).await;
    let (body, _, _) = exported(&app, &acme, "").await;
    let items = jsonl_items(&body);
    assert!(!items.is_empty());
    assert!(items.iter().all(|p| p["tenant_id"] == "acme"), "only acme's predictions");
    assert_eq!(items, listed(&app, &acme, "").await);
    let everyone = jsonl_items(&exported(&app, &app.admin_key, "").await.0);
    assert!(everyone.len() > items.len());
    assert_eq!(exported(&app, &acme, "tenant_id=globex").await.0, "", "another tenant's are not shown");
    assert_eq!(jsonl_items(&exported(&app, &acme, "tenant_id=acme&model_name=fraud").await.0), {
        listed(&app, &acme, "model_name=fraud").await
    });
}

async fn format_paging_and_filter_mistakes_are_the_lists_400s(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    record_varied(&app, 0..3, 0).await;
    let app = &app;
    let export = |query: &str| {
        let path = format!("/api/v1/exports/predictions?{query}");
        async move { app.get(&path, &app.admin_key).await }
    };
    for (query, field) in [
        ("format=xml", "format"),
        ("format=parquet", "format"),
        ("format=", "format"),
        ("format=csv&format=jsonl", "format"),
        ("limit=10", "limit"),
        ("cursor=abc", "cursor"),
        ("format=csv&limit=1000", "limit"),
    ] {
        let (code, named) = expect_error(export(query).await, StatusCode::BAD_REQUEST).await;
        assert_eq!((code.as_str(), named.as_deref()), ("invalid_parameter", Some(field)), "?{query}");
    }
    for query in [
        "time_from=yesterday",
        "time_to=2026-11-01T00:00:00",
        "min_confidence=2",
        "max_confidence=NaN",
        "status=ok",
        "actor_type=robot",
        "has_explanation=maybe",
        "review_state=done",
        "time_from=2026-11-02T00:00:00Z&time_to=2026-11-01T00:00:00Z",
        "min_confidence=0.9&max_confidence=0.1",
        "trace_id=a%00b",
        "subject=someone@example.com",
        "model_name=a&model_name=b",
        "zz_unknown=1",
    ] {
        let list = app.get(&format!("/api/v1/predictions?{query}"), &app.admin_key).await;
        let (list_status, list_body) = (list.status(), list.json::<Value>().await.unwrap());
        let exported = export(query).await;
        assert_eq!(exported.status(), StatusCode::BAD_REQUEST, "?{query}");
        assert_eq!(list_status, StatusCode::BAD_REQUEST, "?{query}");
        let body: Value = exported.json().await.unwrap();
        if query == "zz_unknown=1" {
            // The list names the parameters it takes, the export its own.
            assert_eq!(body["error"]["field"], list_body["error"]["field"]);
        } else {
            assert_eq!(body, list_body, "?{query}: the list's error, word for word");
        }
    }
}

async fn an_export_needs_a_read_key(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    let url = app.url("/api/v1/exports/predictions");
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(expect_error(anonymous, StatusCode::UNAUTHORIZED).await.0, "unauthorized");
    let bad = app.client.get(&url).bearer_auth("mla_not_a_key").send().await.unwrap();
    expect_error(bad, StatusCode::UNAUTHORIZED).await;
    let ingest = app.key(KeyScope::Ingest, None).await;
    expect_error(app.get("/api/v1/exports/predictions?format=csv", &ingest).await, StatusCode::FORBIDDEN).await;
    let read = app.key(KeyScope::Read, None).await;
    assert_eq!(app.get("/api/v1/exports/predictions", &read).await.status(), StatusCode::OK);
}

async fn nothing_matching_is_an_empty_jsonl_file_or_a_csv_header(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    assert_eq!(exported(&app, &app.admin_key, "").await.0, "");
    record_varied(&app, 0..3, 0).await;
    assert_eq!(exported(&app, &app.admin_key, "model_name=none").await.0, "");
    let (csv, _, _) = exported(&app, &app.admin_key, "format=csv&model_name=none").await;
    assert_eq!(csv.lines().count(), 1, "the header alone: {csv:?}");
    assert!(csv.starts_with("id,prediction_id,timestamp,") && csv.ends_with("review_state\r\n"), "{csv:?}");
}

async fn a_client_that_goes_away_midway_leaves_the_server_working(backend: Backend) {
    // 2,500 rows of ~2 KB over pages of 100: far more than a socket's buffers hold.
    let app = spawn(backend, 100).await;
    record_varied(&app, 0..2500, 2000).await;
    for _ in 0..3 {
        let mut response = app.get("/api/v1/exports/predictions", &app.admin_key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let first = response.chunk().await.unwrap().expect("a first chunk");
        assert!(!first.is_empty());
        drop(response);
    }
    // Several at once, each abandoned after its first bytes.
    let abandoned: Vec<_> = (0..4)
        .map(|_| {
            let request = app.client.get(app.url("/api/v1/exports/predictions?format=csv")).bearer_auth(&app.admin_key);
            tokio::spawn(async move {
                let mut response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response.chunk().await.unwrap();
            })
        })
        .collect();
    for task in abandoned {
        task.await.unwrap();
    }
    let page = app.get("/api/v1/predictions?limit=5", &app.admin_key).await;
    assert_eq!(page.status(), StatusCode::OK, "the server still answers");
    let whole = tokio::time::timeout(std::time::Duration::from_secs(120), exported(&app, &app.admin_key, ""))
        .await
        .expect("a whole export still completes");
    assert_eq!(jsonl_items(&whole.0).len(), 2500);
}

/// Filter values reach the database as values, whatever they hold (SQLite's export writes them
/// into its query as literals: quotes must be doubled, nothing else may slip through).
async fn filter_values_with_quotes_and_any_characters_match_exactly(backend: Backend) {
    let app = spawn(backend, PAGE_ROWS).await;
    let tricky = ["it's", "a'); DROP TABLE predictions; --", "\"quoted\" \\ back", "ünïcødé 🎉", "x' OR '1'='1"];
    for (i, decision) in tricky.iter().enumerate() {
        let mut event = varied_event(i, 0);
        event["decision_outcome"] = json!(decision);
        event["environment"] = json!(decision);
        app.record(&event).await;
    }
    record_varied(&app, 10..20, 0).await;
    for decision in tricky {
        let value = percent_encoding::utf8_percent_encode(decision, percent_encoding::NON_ALPHANUMERIC);
        let query = format!("decision_outcome={value}&environment={value}");
        let items = jsonl_items(&exported(&app, &app.admin_key, &query).await.0);
        assert_eq!(items.len(), 1, "{decision:?}");
        assert_eq!(items[0]["decision_outcome"], decision);
        assert_eq!(items, listed(&app, &app.admin_key, &query).await);
    }
    assert_eq!(jsonl_items(&exported(&app, &app.admin_key, "").await.0).len(), 15, "nothing was dropped");
}
