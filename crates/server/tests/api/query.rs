use std::collections::BTreeSet;

use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, expect_error, with};

on_both_backends!(
    each_filter_returns_exactly_the_matching_predictions,
    filters_combine_as_and,
    time_bounds_are_inclusive_to_the_microsecond,
    confidence_bounds_are_inclusive_and_skip_unknown_confidence,
    predictions_are_listed_newest_timestamp_first_with_ties_in_a_stable_order,
    paging_by_three_walks_every_prediction_once,
    the_last_page_has_no_cursor_even_when_it_is_full,
    a_cursor_keeps_working_with_filters,
    a_cursor_that_the_api_did_not_issue_is_a_bad_request,
    the_default_page_is_fifty_predictions,
    a_listed_prediction_is_the_same_as_the_one_shown_alone,
    each_model_version_is_listed_once_and_shown_by_id,
    an_unknown_or_malformed_model_id_is_not_found,
    timestamps_far_in_the_past_or_future_sort_filter_and_page,
);

/// One prediction of the data set.
struct Row {
    prediction_id: &'static str,
    model: (&'static str, &'static str),
    /// (actor_type, actor_id, tenant_id); tenant "" is left out.
    actor: Option<(&'static str, &'static str, &'static str)>,
    decision_outcome: &'static str,
    environment: &'static str,
    status: &'static str,
    confidence: Option<f64>,
    trace_id: &'static str,
    timestamp: &'static str,
    explained: bool,
}

/// Eight predictions, spread over seven days, in an order unlike their timestamps'.
/// q7 and q8 share a timestamp; q4's is given with an offset (08:00Z).
const ROWS: [Row; 8] = [
    Row {
        prediction_id: "q3",
        model: ("fraud", "2.0.0"),
        actor: Some(("user", "u2", "globex")),
        decision_outcome: "approve",
        environment: "staging",
        status: "failed",
        confidence: None,
        trace_id: "t-1",
        timestamp: "2026-11-22T08:00:00Z",
        explained: false,
    },
    Row {
        prediction_id: "q1",
        model: ("fraud", "1.0.0"),
        actor: Some(("user", "u1", "acme")),
        decision_outcome: "approve",
        environment: "prod",
        status: "success",
        confidence: Some(0.1),
        trace_id: "t-1",
        timestamp: "2026-11-20T08:00:00Z",
        explained: false,
    },
    Row {
        prediction_id: "q8",
        model: ("churn", "2.0.0"),
        actor: Some(("other", "u1", "")),
        decision_outcome: "review",
        environment: "prod",
        status: "success",
        confidence: Some(0.5),
        trace_id: "t-4",
        timestamp: "2026-11-26T08:00:00Z",
        explained: false,
    },
    Row {
        prediction_id: "q5",
        model: ("churn", "1.0.0"),
        actor: None,
        decision_outcome: "",
        environment: "",
        status: "success",
        confidence: Some(1.0),
        trace_id: "",
        timestamp: "2026-11-24T08:00:00Z",
        explained: true,
    },
    Row {
        prediction_id: "q2",
        model: ("fraud", "1.0.0"),
        actor: Some(("service", "scorer", "acme")),
        decision_outcome: "flagged",
        environment: "prod",
        status: "success",
        confidence: Some(0.5),
        trace_id: "t-2",
        timestamp: "2026-11-21T08:00:00Z",
        explained: true,
    },
    Row {
        prediction_id: "q7",
        model: ("fraud", "2.0.0"),
        actor: Some(("user", "u1", "acme")),
        decision_outcome: "flagged",
        environment: "prod",
        status: "failed",
        confidence: Some(0.75),
        trace_id: "t-4",
        timestamp: "2026-11-26T08:00:00Z",
        explained: true,
    },
    Row {
        prediction_id: "q4",
        model: ("churn", "1.0.0"),
        actor: Some(("job", "nightly", "globex")),
        decision_outcome: "flagged",
        environment: "prod",
        status: "partial",
        confidence: Some(0.9),
        trace_id: "t-3",
        timestamp: "2026-11-23T10:00:00+02:00",
        explained: false,
    },
    Row {
        prediction_id: "q6",
        model: ("fraud", "1.0.0"),
        actor: Some(("api_key", "k1", "acme")),
        decision_outcome: "approve",
        environment: "dev",
        status: "success",
        confidence: Some(0.0),
        trace_id: "t-2",
        timestamp: "2026-11-25T08:00:00.5Z",
        explained: false,
    },
];

const ALL: [&str; 8] = ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"];

fn body(row: &Row) -> Value {
    let mut body = json!({
        "prediction_id": row.prediction_id, "model_name": row.model.0, "model_version": row.model.1,
        "features": {"age": 40}, "output": {"label": row.decision_outcome}, "status": row.status,
        "timestamp": row.timestamp, "confidence": row.confidence,
    });
    for (key, value) in
        [("decision_outcome", row.decision_outcome), ("environment", row.environment), ("trace_id", row.trace_id)]
    {
        if !value.is_empty() {
            body[key] = json!(value);
        }
    }
    if let Some((actor_type, actor_id, tenant_id)) = row.actor {
        body["actor"] = json!({"actor_type": actor_type, "actor_id": actor_id});
        if !tenant_id.is_empty() {
            body["actor"]["tenant_id"] = json!(tenant_id);
        }
    }
    if row.explained {
        body["explanation"] = json!({"method": "shap", "payload": {"age": 0.1}});
    }
    body
}

async fn spawn_with_rows(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    for row in &ROWS {
        app.record(&body(row)).await;
    }
    app
}

async fn page(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let url = Url::parse_with_params(&app.url("/api/v1/predictions"), params).unwrap();
    let response = app.client.get(url).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{params:?}");
    response.json().await.unwrap()
}

fn prediction_ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()).collect()
}

/// The prediction_ids a filter returns, as a set; every listing here fits one page.
async fn matching(app: &TestApp, params: &[(&str, &str)]) -> BTreeSet<String> {
    let page = page(app, params).await;
    assert!(page["next_cursor"].is_null(), "{params:?} did not fit one page");
    let ids = prediction_ids(&page);
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "{params:?} listed a prediction twice: {ids:?}");
    set
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// Query parameters, and the prediction_ids they must match exactly.
type FilterCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

async fn check(app: &TestApp, cases: &[FilterCase<'_>]) {
    for (params, expected) in cases {
        assert_eq!(matching(app, params).await, set(expected), "filter {params:?}");
    }
}

async fn each_filter_returns_exactly_the_matching_predictions(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    check(
        &app,
        &[
            (&[], &ALL),
            (&[("model_name", "fraud")], &["q1", "q2", "q3", "q6", "q7"]),
            (&[("model_name", "churn")], &["q4", "q5", "q8"]),
            (&[("model_name", "Fraud")], &[]),
            (&[("model_name", "fra")], &[]),
            (&[("model_version", "2.0.0")], &["q3", "q7", "q8"]),
            (&[("model_version", "1.0.0")], &["q1", "q2", "q4", "q5", "q6"]),
            (&[("actor_type", "user")], &["q1", "q3", "q7"]),
            (&[("actor_type", "service")], &["q2"]),
            (&[("actor_type", "job")], &["q4"]),
            (&[("actor_type", "api_key")], &["q6"]),
            (&[("actor_type", "other")], &["q8"]),
            (&[("actor_id", "u1")], &["q1", "q7", "q8"]),
            (&[("actor_id", "nightly")], &["q4"]),
            (&[("tenant_id", "acme")], &["q1", "q2", "q6", "q7"]),
            (&[("tenant_id", "globex")], &["q3", "q4"]),
            (&[("tenant_id", "initech")], &[]),
            (&[("decision_outcome", "approve")], &["q1", "q3", "q6"]),
            (&[("decision_outcome", "flagged")], &["q2", "q4", "q7"]),
            (&[("decision_outcome", "review")], &["q8"]),
            (&[("environment", "prod")], &["q1", "q2", "q4", "q7", "q8"]),
            (&[("environment", "staging")], &["q3"]),
            (&[("environment", "dev")], &["q6"]),
            (&[("has_explanation", "true")], &["q2", "q5", "q7"]),
            (&[("has_explanation", "false")], &["q1", "q3", "q4", "q6", "q8"]),
            (&[("status", "success")], &["q1", "q2", "q5", "q6", "q8"]),
            (&[("status", "failed")], &["q3", "q7"]),
            (&[("status", "partial")], &["q4"]),
            (&[("trace_id", "t-1")], &["q1", "q3"]),
            (&[("trace_id", "t-4")], &["q7", "q8"]),
            (&[("trace_id", "t-9")], &[]),
            (&[("time_from", "2026-11-24T00:00:00Z")], &["q5", "q6", "q7", "q8"]),
            (&[("time_to", "2026-11-21T23:59:59Z")], &["q1", "q2"]),
            (&[("min_confidence", "0.8")], &["q4", "q5"]),
            (&[("max_confidence", "0.2")], &["q1", "q6"]),
        ],
    )
    .await;
}

async fn filters_combine_as_and(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    check(
        &app,
        &[
            (&[("model_name", "fraud"), ("model_version", "2.0.0")], &["q3", "q7"]),
            (&[("actor_type", "user"), ("actor_id", "u1")], &["q1", "q7"]),
            (&[("actor_type", "other"), ("actor_id", "u1")], &["q8"]),
            (&[("model_name", "fraud"), ("status", "success"), ("environment", "prod")], &["q1", "q2"]),
            (&[("tenant_id", "acme"), ("has_explanation", "true"), ("min_confidence", "0.6")], &["q7"]),
            (
                &[("actor_type", "user"), ("decision_outcome", "approve"), ("time_from", "2026-11-21T00:00:00Z")],
                &["q3"],
            ),
            (&[("trace_id", "t-4"), ("model_name", "churn")], &["q8"]),
            (&[("tenant_id", "globex"), ("status", "success")], &[]),
            (&[("environment", "prod"), ("has_explanation", "false"), ("max_confidence", "0.5")], &["q1", "q8"]),
            (
                &[("model_name", "churn"), ("time_from", "2026-11-23T00:00:00Z"), ("time_to", "2026-11-24T23:00:00Z")],
                &["q4", "q5"],
            ),
        ],
    )
    .await;
}

async fn time_bounds_are_inclusive_to_the_microsecond(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    check(
        &app,
        &[
            (&[("time_from", "2026-11-22T08:00:00Z")], &["q3", "q4", "q5", "q6", "q7", "q8"]),
            (&[("time_to", "2026-11-22T08:00:00Z")], &["q1", "q2", "q3"]),
            (&[("time_from", "2026-11-22T08:00:00.000001Z")], &["q4", "q5", "q6", "q7", "q8"]),
            (&[("time_to", "2026-11-22T07:59:59.999999Z")], &["q1", "q2"]),
            // q4 was sent as 10:00+02:00; the same instant in any offset matches it exactly.
            (&[("time_from", "2026-11-23T08:00:00Z"), ("time_to", "2026-11-23T08:00:00Z")], &["q4"]),
            (&[("time_from", "2026-11-23T09:00:00+01:00"), ("time_to", "2026-11-23T03:00:00-05:00")], &["q4"]),
            (&[("time_from", "2026-11-25T08:00:00.5Z"), ("time_to", "2026-11-25T08:00:00.500000Z")], &["q6"]),
            (&[("time_from", "2026-11-25T08:00:00.500001Z")], &["q7", "q8"]),
            (&[("time_to", "2026-11-25T08:00:00.499999Z")], &["q1", "q2", "q3", "q4", "q5"]),
            (&[("time_from", "2026-11-26T08:00:00Z"), ("time_to", "2026-11-26T08:00:00Z")], &["q7", "q8"]),
            (&[("time_from", "2026-11-27T00:00:00Z")], &[]),
        ],
    )
    .await;
}

async fn confidence_bounds_are_inclusive_and_skip_unknown_confidence(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    check(
        &app,
        &[
            (&[("min_confidence", "0.5")], &["q2", "q4", "q5", "q7", "q8"]),
            (&[("max_confidence", "0.5")], &["q1", "q2", "q6", "q8"]),
            (&[("min_confidence", "0.5"), ("max_confidence", "0.5")], &["q2", "q8"]),
            (&[("min_confidence", "0.5"), ("max_confidence", "0.75")], &["q2", "q7", "q8"]),
            (&[("min_confidence", "0")], &["q1", "q2", "q4", "q5", "q6", "q7", "q8"]),
            (&[("max_confidence", "0")], &["q6"]),
            (&[("min_confidence", "1")], &["q5"]),
            (&[("max_confidence", "1.0")], &["q1", "q2", "q4", "q5", "q6", "q7", "q8"]),
            (&[("min_confidence", "0.75")], &["q4", "q5", "q7"]),
            (&[("min_confidence", "0.750001")], &["q4", "q5"]),
            // 0.1 has no exact binary form: the bound and the stored value must still compare equal.
            (&[("max_confidence", "0.1")], &["q1", "q6"]),
            (&[("min_confidence", "0.1"), ("max_confidence", "0.1")], &["q1"]),
        ],
    )
    .await;
}

async fn predictions_are_listed_newest_timestamp_first_with_ties_in_a_stable_order(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let listed = prediction_ids(&page(&app, &[]).await);
    assert_eq!(listed[2..], ["q6", "q5", "q4", "q3", "q2", "q1"]);
    let tie: BTreeSet<&str> = listed[..2].iter().map(String::as_str).collect();
    assert_eq!(tie, BTreeSet::from(["q7", "q8"]));
    for _ in 0..3 {
        assert_eq!(prediction_ids(&page(&app, &[]).await), listed, "the order is the same every time");
    }
    // One at a time, the pages agree with the full listing, ties included.
    let mut one_by_one = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("limit", "1")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor.as_str()));
        }
        let page = page(&app, &params).await;
        one_by_one.extend(prediction_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(one_by_one.len() <= ALL.len(), "paging does not end: {one_by_one:?}");
    }
    assert_eq!(one_by_one, listed);
    let timestamps: Vec<Value> =
        page(&app, &[]).await["items"].as_array().unwrap().iter().map(|p| p["timestamp"].clone()).collect();
    assert_eq!(timestamps[0], "2026-11-26T08:00:00Z");
    assert_eq!(timestamps[3], "2026-11-24T08:00:00Z");
    assert_eq!(timestamps[4], "2026-11-23T08:00:00Z", "a timestamp sent with an offset reads back in UTC");
    assert_eq!(timestamps[2], "2026-11-25T08:00:00.5Z");
}

/// Walks every page of a listing; returns (pages as prediction_ids, whether each had a cursor).
async fn walk(app: &TestApp, params: &[(&str, &str)]) -> (Vec<Vec<String>>, Vec<bool>) {
    let (mut pages, mut cursors) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let mut all_params = params.to_vec();
        if let Some(cursor) = &cursor {
            all_params.push(("cursor", cursor.as_str()));
        }
        let page = page(app, &all_params).await;
        pages.push(prediction_ids(&page));
        cursors.push(page["next_cursor"].is_string());
        assert!(page["next_cursor"].is_string() || page["next_cursor"].is_null());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() <= ALL.len() + 1, "paging does not end: {pages:?}");
    }
    (pages, cursors)
}

async fn paging_by_three_walks_every_prediction_once(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let everything = prediction_ids(&page(&app, &[]).await);
    let (pages, cursors) = walk(&app, &[("limit", "3")]).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 2]);
    assert_eq!(cursors, vec![true, true, false]);
    assert_eq!(pages.concat(), everything, "no duplicates, no gaps, same order");
    // A prediction recorded after the walk started, with the newest timestamp, does not shift
    // the pages that follow.
    let first = page(&app, &[("limit", "3")]).await;
    app.record(&with(event("late"), "timestamp", json!("2026-12-01T00:00:00Z"))).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = page(&app, &[("limit", "3"), ("cursor", cursor)]).await;
    assert_eq!(prediction_ids(&second), everything[3..6]);
}

async fn the_last_page_has_no_cursor_even_when_it_is_full(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let (pages, cursors) = walk(&app, &[("limit", "4")]).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4]);
    assert_eq!(cursors, vec![true, false]);
    let (pages, cursors) = walk(&app, &[("limit", "8")]).await;
    assert_eq!((pages.len(), cursors), (1, vec![false]));
    let empty = page(&app, &[("model_name", "nope")]).await;
    assert_eq!((empty["items"].clone(), empty["next_cursor"].clone()), (json!([]), Value::Null));
}

async fn a_cursor_keeps_working_with_filters(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    for filter in [
        vec![("model_name", "fraud")],
        vec![("environment", "prod"), ("status", "success")],
        vec![("time_from", "2026-11-21T00:00:00Z"), ("has_explanation", "false")],
        vec![("min_confidence", "0.5")],
    ] {
        let everything = prediction_ids(&page(&app, &filter).await);
        let mut params = filter.clone();
        params.push(("limit", "2"));
        let (pages, cursors) = walk(&app, &params).await;
        assert_eq!(pages.concat(), everything, "{filter:?}");
        assert!(pages.iter().all(|p| p.len() <= 2));
        assert_eq!(cursors.last(), Some(&false));
        assert_eq!(pages.len(), everything.len().div_ceil(2).max(1), "{filter:?}");
    }
}

async fn a_cursor_that_the_api_did_not_issue_is_a_bad_request(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let issued = page(&app, &[("limit", "3")]).await["next_cursor"].as_str().unwrap().to_owned();
    let truncated = &issued[..issued.len() / 2];
    let mut tampered = issued.clone();
    tampered.insert(0, '!');
    for bad in ["garbage", "", "MTIzNDU", "bm90LmEudXVpZA", truncated, tampered.as_str(), "0", "null"] {
        let url = Url::parse_with_params(&app.url("/api/v1/predictions"), &[("cursor", bad)]).unwrap();
        let response = app.client.get(url).bearer_auth(&app.admin_key).send().await.unwrap();
        let (code, field) = expect_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!((code.as_str(), field.as_deref()), ("invalid_parameter", Some("cursor")), "cursor {bad:?}");
    }
}

async fn the_default_page_is_fifty_predictions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let events: Vec<Value> = (0..51).map(|i| with(event("m"), "prediction_id", json!(format!("bulk-{i}")))).collect();
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({ "events": events })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let first = page(&app, &[]).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 50);
    let cursor = first["next_cursor"].as_str().expect("a 51st prediction remains");
    let rest = page(&app, &[("cursor", cursor)]).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let mut all: BTreeSet<String> = prediction_ids(&first).into_iter().collect();
    all.extend(prediction_ids(&rest));
    assert_eq!(all.len(), 51);
}

async fn a_listed_prediction_is_the_same_as_the_one_shown_alone(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let listed = page(&app, &[]).await;
    for item in listed["items"].as_array().unwrap() {
        let reference = item["prediction_id"].as_str().unwrap();
        let alone: Value =
            app.get(&format!("/api/v1/predictions/{reference}"), &app.admin_key).await.json().await.unwrap();
        assert_eq!(&alone, item, "{reference}");
        let explained = ROWS.iter().find(|r| r.prediction_id == reference).unwrap().explained;
        assert_eq!(!item["explanation"].is_null(), explained, "{reference}");
    }
}

async fn each_model_version_is_listed_once_and_shown_by_id(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let response = app.get("/api/v1/models", &app.admin_key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let models: Value = response.json().await.unwrap();
    let items = models["items"].as_array().unwrap();
    let versions: Vec<(String, String)> = items
        .iter()
        .map(|m| (m["model_name"].as_str().unwrap().to_owned(), m["version"].as_str().unwrap().to_owned()))
        .collect();
    let unique: BTreeSet<(String, String)> = versions.iter().cloned().collect();
    assert_eq!(versions.len(), unique.len(), "a version is listed twice: {versions:?}");
    let expected: BTreeSet<(String, String)> =
        [("churn", "1.0.0"), ("churn", "2.0.0"), ("fraud", "1.0.0"), ("fraud", "2.0.0")]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
    assert_eq!(unique, expected);
    for model in items {
        let id = model["id"].as_str().unwrap();
        let response = app.get(&format!("/api/v1/models/{id}"), &app.admin_key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let shown: Value = response.json().await.unwrap();
        assert_eq!(&shown, model);
    }
    // Each prediction points at the listed version of its model.
    for prediction in page(&app, &[]).await["items"].as_array().unwrap() {
        let listed = items.iter().find(|m| m["id"] == prediction["model"]["id"]).expect("its model is listed");
        assert_eq!(&prediction["model"], listed);
    }
    let (_, field) =
        expect_error(app.get("/api/v1/models?limit=10", &app.admin_key).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(field.as_deref(), Some("limit"));
    let id = items[0]["id"].as_str().unwrap();
    let (_, field) =
        expect_error(app.get(&format!("/api/v1/models/{id}?verbose=1"), &app.admin_key).await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(field.as_deref(), Some("verbose"));
}

async fn an_unknown_or_malformed_model_id_is_not_found(backend: Backend) {
    let app = spawn_with_rows(backend).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let prediction_uuid = page(&app, &[]).await["items"][0]["id"].as_str().unwrap().to_owned();
    for id in [unknown.as_str(), "fraud", "not-a-uuid", "1", prediction_uuid.as_str(), "%00"] {
        let (code, _) =
            expect_error(app.get(&format!("/api/v1/models/{id}"), &app.admin_key).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{id}");
    }
}

async fn timestamps_far_in_the_past_or_future_sort_filter_and_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let times = [
        ("moon", "1969-07-20T20:17:40Z"),
        ("epoch", "1970-01-01T00:00:00Z"),
        ("first", "0001-01-01T00:00:00Z"),
        ("last", "9999-12-31T23:59:59.999999Z"),
        ("before-epoch", "1969-12-31T23:59:59.999999Z"),
    ];
    for (name, timestamp) in times {
        let stored =
            app.record(&with(with(event("m"), "prediction_id", json!(name)), "timestamp", json!(timestamp))).await;
        assert_eq!(stored["timestamp"], timestamp, "{name} reads back as sent");
    }
    let newest_first = ["last", "epoch", "before-epoch", "moon", "first"];
    assert_eq!(prediction_ids(&page(&app, &[]).await), newest_first);
    let (pages, _) = walk(&app, &[("limit", "1")]).await;
    assert_eq!(pages.concat(), newest_first, "cursors work on both sides of 1970");
    check(
        &app,
        &[
            (&[("time_to", "1969-12-31T23:59:59.999999Z")], &["before-epoch", "moon", "first"]),
            (&[("time_from", "1970-01-01T00:00:00Z")], &["epoch", "last"]),
            (&[("time_from", "9999-12-31T23:59:59.999999Z")], &["last"]),
            (&[("time_to", "0001-01-01T00:00:00Z")], &["first"]),
        ],
    )
    .await;
}
