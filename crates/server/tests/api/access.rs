//! The access log over HTTP (SPEC part 2, "Access log and evidence"): every response that shows
//! predictions is an entry naming who, how and which; "who has seen this"; a subject filter is
//! logged by its token; admin only and tenant-bound; entries are ledger leaves `verify` checks.

use std::time::Duration;

use ml_audit_core::access::AccessEntry;
use ml_audit_core::auth::{KeyScope, Visibility};
use ml_audit_core::query::PageRequest;
use ml_audit_core::redaction::{Action, HashKey, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_server::ServerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, event, expect_error, with};

on_both_backends!(
    every_response_that_shows_predictions_is_one_entry_naming_them,
    who_has_seen_this_lists_the_entries_that_showed_one_prediction,
    a_subject_filter_is_logged_by_its_token_never_in_clear,
    the_access_log_is_for_admins_and_a_tenant_bound_admin_sees_its_tenant,
    bad_access_log_parameters_are_400_naming_them,
    erasures_and_holds_are_logged,
    access_entries_page_newest_first,
    the_subject_report_lists_every_prediction_about_the_person_with_reasons_and_viewers,
    the_subject_report_refuses_unclear_questions_and_keeps_tenants_apart,
    an_export_over_http_is_logged_with_every_prediction_it_sent,
);

const HASH_KEY: &str = "access-test-pseudonym-key-0123456789";

async fn spawn(backend: Backend) -> TestApp {
    let config =
        PolicyConfig { rules: vec![RuleConfig::new("customer.email", Action::Hash)], ..PolicyConfig::default() };
    let redaction = RedactionPolicy::build(config, Some(HashKey::new(HASH_KEY).unwrap())).unwrap();
    TestApp::spawn_with(backend, ServerSettings { redaction, ledger_schedule: ON_DEMAND_SEALING, ..Default::default() })
        .await
}

/// Records `n` predictions of tenant `acme` (the first about ann@example.com) and returns them.
async fn filled(app: &TestApp, n: usize) -> Vec<Value> {
    let mut stored = Vec::new();
    for i in 0..n {
        let mut body = with(event("fraud"), "prediction_id", json!(format!("p-{i}")));
        body["actor"] = json!({"actor_type": "user", "actor_id": format!("u{i}"), "tenant_id": "acme"});
        if i == 0 {
            body["features"]["customer"] = json!({"email": "ann@example.com"});
        }
        stored.push(app.record(&body).await);
    }
    stored
}

/// The entries stored once at least `n` are (entries are written just after the answer).
async fn entries(app: &TestApp, n: usize) -> Vec<AccessEntry> {
    let page = PageRequest { limit: 1000, after: None };
    for _ in 0..250 {
        let found = app.store.list_access(&Visibility::AllTenants, &Default::default(), &page).await.unwrap();
        if found.items.len() >= n {
            return found.items;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} access entries were written");
}

fn ids(predictions: &[Value]) -> Vec<String> {
    predictions.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

fn uuids(entry: &AccessEntry) -> Vec<String> {
    entry.predictions.iter().map(ToString::to_string).collect()
}

async fn every_response_that_shows_predictions_is_one_entry_naming_them(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 3).await;
    let reader = app.key(KeyScope::Read, None).await;
    let listed: Value = app.get("/api/v1/predictions?limit=2&model_name=fraud", &reader).await.json().await.unwrap();
    let shown: Vec<String> =
        listed["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(shown, vec![ids(&stored)[2].clone(), ids(&stored)[1].clone()]);
    for path in ["/api/v1/predictions/p-0", "/api/v1/predictions/p-0/explanations", "/api/v1/predictions/p-0/outcomes"]
    {
        assert_eq!(app.get(path, &reader).await.status(), StatusCode::OK, "{path}");
    }
    let logged = entries(&app, 4).await;
    assert_eq!(logged.len(), 4, "one entry per response: {logged:?}");
    // Newest first: the list is the oldest.
    let list = &logged[3];
    assert_eq!(list.route, "GET /api/v1/predictions");
    assert_eq!(uuids(list), shown, "the ids of the predictions shown, in order");
    assert_eq!(list.filters.get("model_name").map(String::as_str), Some("fraud"));
    assert_eq!(list.filters.get("limit").map(String::as_str), Some("2"));
    assert_eq!(list.reader.scope, "read");
    assert_eq!(list.reader.key_name, "test");
    assert!(list.reader.key_id.is_some() && list.reader.tenant_id.is_none());
    assert_eq!(list.channel.as_str(), "api");
    assert_eq!(list.action.as_str(), "read");
    let one = &logged[2];
    assert_eq!(one.route, "GET /api/v1/predictions/{reference}", "the route's pattern, not the value in its path");
    assert_eq!(uuids(one), vec![ids(&stored)[0].clone()]);
    let explanations = &logged[1];
    assert_eq!(explanations.route, "GET /api/v1/predictions/{reference}/explanations");
    assert_eq!(explanations.target, "p-0", "an empty list still names the prediction asked for");
    // Writing is not reading: the records above made no entry; an error shows nothing.
    assert_eq!(app.get("/api/v1/predictions/nope", &reader).await.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(entries(&app, 4).await.len(), 4);
}

async fn who_has_seen_this_lists_the_entries_that_showed_one_prediction(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 3).await;
    let reader = app.key(KeyScope::Read, None).await;
    app.get("/api/v1/predictions/p-1", &reader).await;
    app.get("/api/v1/predictions?limit=1", &reader).await; // shows p-2 only
    entries(&app, 2).await;
    let seen: Value = app.get("/api/v1/predictions/p-1/access", &app.admin_key).await.json().await.unwrap();
    let items = seen["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{seen}");
    assert_eq!(items[0]["route"], "GET /api/v1/predictions/{reference}");
    assert_eq!(items[0]["predictions"], json!([stored[1]["id"]]));
    assert_eq!(items[0]["scope"], "read");
    let seen: Value = app.get("/api/v1/predictions/p-2/access", &app.admin_key).await.json().await.unwrap();
    assert_eq!(seen["items"][0]["route"], "GET /api/v1/predictions");
    // The same through the log's filter, by id.
    let id = stored[1]["id"].as_str().unwrap();
    let filtered: Value =
        app.get(&format!("/api/v1/access-log?prediction={id}"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    // Reading the log is itself recorded.
    let logged = entries(&app, 5).await;
    assert!(logged.iter().any(|e| e.route == "GET /api/v1/access-log" && e.filters.contains_key("prediction")));
    assert!(logged.iter().any(|e| e.route == "GET /api/v1/predictions/{reference}/access"));
    expect_error(app.get("/api/v1/predictions/none/access", &app.admin_key).await, StatusCode::NOT_FOUND).await;
}

async fn a_subject_filter_is_logged_by_its_token_never_in_clear(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 2).await;
    let found: Value =
        app.get("/api/v1/predictions?subject=ann%40example.com", &app.admin_key).await.json().await.unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let logged = entries(&app, 1).await;
    let token = logged[0].filters.get("subject").unwrap();
    assert!(token.starts_with("pii_"), "{token}");
    assert_eq!(uuids(&logged[0]), vec![ids(&stored)[0].clone()]);
    let log = app.get("/api/v1/access-log", &app.admin_key).await.text().await.unwrap();
    assert!(!log.contains("ann@example.com") && !log.contains("ann%40"), "{log}");
    assert!(log.contains(token.as_str()));
}

async fn the_access_log_is_for_admins_and_a_tenant_bound_admin_sees_its_tenant(backend: Backend) {
    let app = spawn(backend).await;
    filled(&app, 2).await;
    let mut other = with(event("fraud"), "prediction_id", json!("other-1"));
    other["actor"] = json!({"actor_type": "user", "actor_id": "x", "tenant_id": "globex"});
    app.record(&other).await;
    let reader = app.key(KeyScope::Read, None).await;
    expect_error(app.get("/api/v1/access-log", &reader).await, StatusCode::FORBIDDEN).await;
    expect_error(app.get("/api/v1/predictions/p-0/access", &reader).await, StatusCode::FORBIDDEN).await;
    let response = app.client.get(app.url("/api/v1/access-log")).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    let acme_reader = app.key(KeyScope::Read, Some("acme")).await;
    app.get("/api/v1/predictions/p-0", &acme_reader).await;
    app.get("/api/v1/predictions/other-1", &app.admin_key).await;
    entries(&app, 2).await;
    let acme_admin = app.key(KeyScope::Admin, Some("acme")).await;
    let log: Value = app.get("/api/v1/access-log", &acme_admin).await.json().await.unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the entries of acme's keys: {log}");
    assert_eq!(items[0]["tenant_id"], "acme");
    // Who has seen acme's prediction: every entry, whoever read it; another tenant's is not found.
    let seen: Value = app.get("/api/v1/predictions/p-0/access", &acme_admin).await.json().await.unwrap();
    assert_eq!(seen["items"].as_array().unwrap().len(), 1);
    expect_error(app.get("/api/v1/predictions/other-1/access", &acme_admin).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get("/api/v1/access-log?prediction=other-1", &acme_admin).await, StatusCode::NOT_FOUND).await;
}

async fn bad_access_log_parameters_are_400_naming_them(backend: Backend) {
    let app = spawn(backend).await;
    for (query, field) in [
        ("key_id=nope", "key_id"),
        ("time_from=yesterday", "time_from"),
        ("time_from=2026-02-01T00:00:00Z&time_to=2026-01-01T00:00:00Z", "time_from"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=zzz", "cursor"),
        ("model_name=x", "model_name"),
        ("limit=1&limit=2", "limit"),
    ] {
        let response = app.get(&format!("/api/v1/access-log?{query}"), &app.admin_key).await;
        let (code, named) = expect_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!((code.as_str(), named.as_deref()), ("invalid_parameter", Some(field)), "{query}");
    }
    let response = app.get("/api/v1/predictions/p-0/access?key_id=x", &app.admin_key).await;
    expect_error(response, StatusCode::BAD_REQUEST).await;
}

async fn erasures_and_holds_are_logged(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 2).await;
    let hold: Value = app
        .post("/api/v1/holds", &app.admin_key, &json!({"reason": "litigation", "predictions": ["p-1"]}))
        .await
        .json()
        .await
        .unwrap();
    let erasure =
        app.post("/api/v1/erasures", &app.admin_key, &json!({"reason": "GDPR art. 17", "predictions": ["p-0"]})).await;
    assert_eq!(erasure.status(), StatusCode::CREATED);
    let erasure: Value = erasure.json().await.unwrap();
    let logged = entries(&app, 2).await;
    let held = logged.iter().find(|e| e.action.as_str() == "hold").expect("the hold is logged");
    assert_eq!(held.target, hold["id"].as_str().unwrap());
    assert_eq!(uuids(held), vec![ids(&stored)[1].clone()]);
    let erased = logged.iter().find(|e| e.action.as_str() == "erase").expect("the erasure is logged");
    assert_eq!(erased.target, erasure["id"].as_str().unwrap());
    assert_eq!(erased.route, "POST /api/v1/erasures");
}

async fn access_entries_page_newest_first(backend: Backend) {
    let app = spawn(backend).await;
    filled(&app, 1).await;
    let reader = app.key(KeyScope::Read, None).await;
    for _ in 0..5 {
        app.get("/api/v1/predictions/p-0", &reader).await;
    }
    let all = entries(&app, 5).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/access-log?limit=2".to_owned();
    loop {
        let page: Value = app.get(&path, &app.admin_key).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/access-log?limit=2&cursor={cursor}"),
            None => break,
        }
        if seen.len() > 20 {
            break;
        }
    }
    // The pages start with the five reads (the log's own reads come after, newer than `all`).
    let expected: Vec<String> = all.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(seen, expected, "every entry once, newest first");
}

async fn the_subject_report_lists_every_prediction_about_the_person_with_reasons_and_viewers(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 3).await; // p-0 is about ann
    let mut second = with(event("credit"), "prediction_id", json!("ann-2"));
    second["features"]["customer"] = json!({"email": "ann@example.com"});
    second["decision_outcome"] = json!("declined");
    second["actor"] = json!({"actor_type": "user", "actor_id": "u0", "tenant_id": "acme"});
    let second = app.record(&second).await;
    let payload = json!({"shap_values": {"income": -0.4, "age": 0.1, "debt": 0.9, "late": 0.5, "tenure": -0.05}});
    let response = app
        .post("/api/v1/predictions/ann-2/explanation", &app.admin_key, &json!({"method": "shap", "payload": payload}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post("/api/v1/predictions/ann-2/outcomes", &app.admin_key, &json!({"label": "repaid", "source": "ledger"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let review = json!({"reviewer": {"reviewer_id": "r1"}, "action": "override", "final_decision": "approved"});
    assert_eq!(
        app.post("/api/v1/predictions/ann-2/reviews", &app.admin_key, &review).await.status(),
        StatusCode::CREATED
    );
    let reader = app.key(KeyScope::Read, None).await;
    app.get("/api/v1/predictions/ann-2", &reader).await;
    entries(&app, 1).await;

    let report: Value =
        app.get("/api/v1/subjects/report?subject=ann%40example.com", &reader).await.json().await.unwrap();
    assert_eq!(report["by"], "subject", "{report}");
    assert!(report["subject"].as_str().unwrap().starts_with("pii_"));
    assert!(!report.to_string().contains("ann@example.com"), "the raw subject is never echoed");
    assert_eq!(report["count"], 2);
    let items = report["predictions"].as_array().unwrap();
    assert_eq!(items[0]["id"], second["id"], "newest first");
    assert_eq!(items[1]["id"], stored[0]["id"]);
    let newest = &items[0];
    assert_eq!(newest["model"], json!({"model_name": "credit", "version": "1.0.0"}));
    assert_eq!(newest["decision_outcome"], "declined");
    assert_eq!(newest["final_decision"], "approved");
    let reasons: Vec<(&str, &str)> = newest["principal_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["feature"].as_str().unwrap(), r["direction"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons, [("debt", "increased"), ("late", "increased"), ("income", "decreased"), ("age", "increased")]);
    assert_eq!(newest["outcomes"][0]["label"], "repaid");
    assert_eq!(newest["reviews"][0]["action"], "override");
    let seen = newest["seen_by"].as_array().unwrap();
    assert!(
        seen.iter().any(|e| e["scope"] == "read" && e["route"] == "GET /api/v1/predictions/{reference}"),
        "{seen:?}"
    );
    assert_eq!(items[1]["principal_reasons"], json!([]));
    // By the requesting user: u0 asked for p-0 and ann-2.
    let by_user: Value = app.get("/api/v1/subjects/report?actor_id=u0", &reader).await.json().await.unwrap();
    assert_eq!(by_user["count"], 2);
    // The report itself is an access entry naming what it showed.
    let logged = entries(&app, 3).await;
    let reported = logged.iter().find(|e| e.route == "GET /api/v1/subjects/report").unwrap();
    assert_eq!(reported.predictions.len(), 2);
    assert!(reported.filters.values().all(|v| !v.contains("ann@")));
    // Erased predictions are shown as erased.
    let erasure =
        app.post("/api/v1/erasures", &app.admin_key, &json!({"reason": "art. 17", "predictions": ["p-0"]})).await;
    assert_eq!(erasure.status(), StatusCode::CREATED);
    let report: Value = app.get("/api/v1/subjects/report?actor_id=u0", &reader).await.json().await.unwrap();
    let erased = report["predictions"].as_array().unwrap().iter().find(|p| p["id"] == stored[0]["id"]).cloned();
    if let Some(erased) = erased {
        assert!(erased["erased"].is_object());
        assert!(erased["prediction_id"].is_null());
    }
}

async fn the_subject_report_refuses_unclear_questions_and_keeps_tenants_apart(backend: Backend) {
    let app = spawn(backend).await;
    filled(&app, 2).await;
    for query in ["", "?subject=a&actor_id=b", "?actor_id=", "?subject=%20", "?model_name=x"] {
        let response = app.get(&format!("/api/v1/subjects/report{query}"), &app.admin_key).await;
        expect_error(response, StatusCode::BAD_REQUEST).await;
    }
    let globex = app.key(KeyScope::Read, Some("globex")).await;
    let report: Value = app.get("/api/v1/subjects/report?actor_id=u0", &globex).await.json().await.unwrap();
    assert_eq!(report["count"], 0, "another tenant's predictions are not shown");
    let ingest = app.key(KeyScope::Ingest, None).await;
    expect_error(app.get("/api/v1/subjects/report?actor_id=u0", &ingest).await, StatusCode::FORBIDDEN).await;
}

async fn an_export_over_http_is_logged_with_every_prediction_it_sent(backend: Backend) {
    let app = spawn(backend).await;
    let stored = filled(&app, 3).await;
    let reader = app.key(KeyScope::Read, None).await;
    let response = app.get("/api/v1/exports/predictions?format=jsonl&tenant_id=acme", &reader).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap().lines().count(), 3);
    let logged = entries(&app, 1).await;
    let export = logged.iter().find(|e| e.action.as_str() == "export").expect("the export is logged");
    assert_eq!(export.route, "GET /api/v1/exports/predictions");
    assert_eq!(export.filters.get("tenant_id").map(String::as_str), Some("acme"));
    let mut sent = uuids(export);
    let mut expected = ids(&stored);
    sent.sort();
    expected.sort();
    assert_eq!(sent, expected);
}
