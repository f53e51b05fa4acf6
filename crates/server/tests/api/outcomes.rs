//! Outcomes (ground truth), human reviews and model quality over HTTP: recording, replays and
//! conflicts, the current outcome, batches, the two-person rule, the list filters, idempotent
//! explanation attaches, tenant binding, erasure, the ledger, and `GET /models/{id}/quality`
//! checked against the same numbers computed independently here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ml_audit_core::auth::KeyScope;
use ml_audit_core::review::ReviewPolicy;
use ml_audit_core::timestamp;
use ml_audit_ledger::verify::{Report, verify_derived, verify_log};
use ml_audit_server::ServerSettings;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, event, expect_error, with};

on_both_backends!(
    an_outcome_is_recorded_and_shown_on_its_prediction,
    a_replayed_outcome_is_200_and_a_changed_one_409,
    invalid_outcomes_are_422_naming_the_field_and_store_nothing,
    outcomes_and_reviews_of_an_unknown_prediction_are_not_found,
    the_current_outcome_is_the_latest_observed_then_the_latest_arrived,
    a_batch_stores_each_outcome_on_its_own,
    a_malformed_batch_is_422_and_stores_nothing,
    reviews_without_the_two_person_rule_take_effect_at_once,
    invalid_reviews_are_422_naming_the_field_and_store_nothing,
    a_replayed_review_is_200_and_a_changed_one_409,
    the_two_person_rule_needs_a_second_reviewer,
    list_filters_agree_with_outcomes_and_reviews,
    bad_filter_values_are_400_naming_the_parameter,
    an_explanation_id_makes_an_attach_idempotent,
    keys_write_and_read_only_their_tenant_and_scope,
    erasure_blanks_outcomes_and_reviews_and_refuses_new_ones,
    outcomes_and_reviews_are_sealed_into_the_ledger,
    quality_matches_an_independent_computation,
    quality_of_an_unknown_model_is_not_found,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn two_person(models: &[&str]) -> ServerSettings {
    ServerSettings {
        review: ReviewPolicy { two_person_models: models.iter().map(|m| (*m).to_owned()).collect() },
        ledger_schedule: ON_DEMAND_SEALING,
        ..ServerSettings::default()
    }
}

async fn json_of(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// A prediction of `model` with this external id and model decision.
fn decided(model: &str, prediction_id: &str, decision: &str) -> Value {
    with(with(event(model), "prediction_id", json!(prediction_id)), "decision_outcome", json!(decision))
}

async fn post_outcome(app: &TestApp, key: &str, reference: &str, body: &Value) -> Response {
    app.post(&format!("/api/v1/predictions/{reference}/outcomes"), key, body).await
}

/// Records an outcome with the admin key, expecting 201; returns it.
async fn outcome_created(app: &TestApp, reference: &str, body: &Value) -> Value {
    let response = post_outcome(app, &app.admin_key, reference, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "outcome {body} for {reference}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn post_review(app: &TestApp, key: &str, reference: &str, body: &Value) -> Response {
    app.post(&format!("/api/v1/predictions/{reference}/reviews"), key, body).await
}

/// Records a review with the admin key, expecting 201; returns it.
async fn review_created(app: &TestApp, reference: &str, body: &Value) -> Value {
    let response = post_review(app, &app.admin_key, reference, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "review {body} of {reference}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn review(reviewer: &str, action: &str) -> Value {
    json!({"reviewer": {"reviewer_id": reviewer}, "action": action})
}

fn override_to(reviewer: &str, decision: &str) -> Value {
    json!({"reviewer": {"reviewer_id": reviewer}, "action": "override", "final_decision": decision})
}

/// `GET path` with the admin key; asserts 200.
async fn get_ok(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, &app.admin_key).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn prediction(app: &TestApp, reference: &str) -> Value {
    get_ok(app, &format!("/api/v1/predictions/{reference}")).await
}

async fn outcomes(app: &TestApp, reference: &str) -> Vec<Value> {
    get_ok(app, &format!("/api/v1/predictions/{reference}/outcomes")).await["items"].as_array().unwrap().clone()
}

async fn reviews(app: &TestApp, reference: &str) -> Vec<Value> {
    get_ok(app, &format!("/api/v1/predictions/{reference}/reviews")).await["items"].as_array().unwrap().clone()
}

/// The external ids of the predictions a list query finds, sorted.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let page = get_ok(app, &format!("/api/v1/predictions?limit=1000&{query}")).await;
    let mut ids: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[track_caller]
fn same_instant(got: &Value, sent: &str) {
    let got_text = got.as_str().unwrap_or_else(|| panic!("not a timestamp: {got}"));
    let got_time = timestamp::parse_rfc3339(got_text).unwrap_or_else(|e| panic!("{got_text}: {e}"));
    assert_eq!(got_time, timestamp::parse_rfc3339(sent).unwrap(), "{got_text} is not {sent}");
}

async fn checkpoint(app: &TestApp) {
    let response = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// `verify` as the CLI runs it: the log, then the data derived from outcomes and reviews (under
/// the default review settings, which every test that verifies runs with).
async fn verify(app: &TestApp) -> Report {
    let verifier = app.sealer.key().verifier().clone();
    let mut report = verify_log(app.store.clone(), &verifier, None, &mut |_, _| {}).await.expect("verify runs");
    verify_derived(app.store.as_ref(), &ReviewPolicy::default(), &mut report).await.expect("verify runs");
    report
}

async fn ledger_size(app: &TestApp) -> u64 {
    app.store.ledger_size().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Outcomes

async fn an_outcome_is_recorded_and_shown_on_its_prediction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&decided("m", "p-1", "approve")).await;
    let other = app.record(&decided("m", "p-2", "approve")).await;
    assert!(stored["outcome"].is_null(), "no outcome yet: {stored}");
    let body = json!({
        "outcome_id": "o-1", "label": "fraud", "value": 120.5, "source": "chargeback",
        "observed_at": "2026-11-27T10:00:00.25+02:00",
        "metadata": {"contact": "jane@example.com", "case": "C-77"},
    });
    let before = timestamp::now();
    let outcome = outcome_created(&app, "p-1", &body).await;
    assert!(uuid::Uuid::try_parse(outcome["id"].as_str().unwrap()).is_ok(), "{outcome}");
    assert_eq!(outcome["outcome_id"], "o-1");
    assert_eq!(outcome["prediction_id"], stored["id"], "the prediction's UUID id: {outcome}");
    assert_eq!(outcome["label"], "fraud");
    assert_eq!(outcome["value"], 120.5);
    assert_eq!(outcome["source"], "chargeback");
    same_instant(&outcome["observed_at"], "2026-11-27T08:00:00.25Z");
    assert_eq!(outcome["metadata"]["contact"], "*****", "an email in metadata is masked: {outcome}");
    assert_eq!(outcome["metadata"]["case"], "C-77");
    assert!(!outcome.to_string().contains("jane@example.com"), "{outcome}");
    let created = timestamp::parse_rfc3339(outcome["created_at"].as_str().unwrap()).unwrap();
    assert!(created >= before - Duration::from_secs(1), "{outcome}");

    let shown = prediction(&app, "p-1").await;
    assert_eq!(shown["outcome"], outcome, "the outcome is the prediction's current one");
    assert_eq!(prediction(&app, &id_of(&stored)).await["outcome"], outcome, "by UUID id too");
    assert_eq!(outcomes(&app, "p-1").await, vec![outcome.clone()]);
    assert_eq!(outcomes(&app, &id_of(&stored)).await, vec![outcome.clone()]);
    // Only the named prediction has it.
    assert!(prediction(&app, &id_of(&other)).await["outcome"].is_null());
    assert!(outcomes(&app, "p-2").await.is_empty());

    // Posting by the UUID id works as well; without an outcome_id one is generated; a value
    // alone is an outcome.
    let second = outcome_created(&app, &id_of(&other), &json!({"value": 3, "source": "ledger"})).await;
    assert_eq!(second["prediction_id"], other["id"]);
    assert!(second["outcome_id"].as_str().is_some_and(|id| !id.is_empty()), "{second}");
    assert!(second["label"].is_null(), "{second}");
    assert_eq!(second["value"].as_f64(), Some(3.0));
    let observed = timestamp::parse_rfc3339(second["observed_at"].as_str().unwrap()).unwrap();
    assert!(observed >= before - Duration::from_secs(1), "observed_at defaults to the time of receipt: {second}");
    assert_eq!(prediction(&app, "p-2").await["outcome"], second);
    // p-1 is unchanged.
    assert_eq!(prediction(&app, "p-1").await["outcome"], outcome);
}

async fn a_replayed_outcome_is_200_and_a_changed_one_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    app.record(&decided("m", "p-2", "approve")).await;
    let body = json!({"outcome_id": "o-1", "label": "fraud", "source": "chargeback",
                      "observed_at": "2026-11-27T08:00:00Z", "metadata": {"k": "v"}});
    let first = outcome_created(&app, "p-1", &body).await;
    let replay = post_outcome(&app, &app.admin_key, "p-1", &body).await;
    assert_eq!(replay.status(), StatusCode::OK, "an identical replay is 200");
    assert_eq!(json_of(replay).await, first, "the replay answers the stored outcome");
    assert_eq!(outcomes(&app, "p-1").await, vec![first.clone()], "a replay stores nothing");

    for (key, changed) in [
        ("label", json!("legit")),
        ("source", json!("bank")),
        ("observed_at", json!("2026-11-27T09:00:00Z")),
        ("metadata", json!({"k": "w"})),
        ("value", json!(1.5)),
    ] {
        let response = post_outcome(&app, &app.admin_key, "p-1", &with(body.clone(), key, changed.clone())).await;
        let (code, _) = expect_error(response, StatusCode::CONFLICT).await;
        assert_eq!(code, "conflict", "o-1 with {key} = {changed}");
    }
    assert_eq!(outcomes(&app, "p-1").await, vec![first.clone()], "a conflict stores nothing");
    assert_eq!(prediction(&app, "p-1").await["outcome"], first);

    // In a batch, the same replay is 200 and the changed one 409.
    let item = |label: &str| {
        json!({"prediction_id": "p-1", "outcome_id": "o-1", "label": label, "source": "chargeback",
               "observed_at": "2026-11-27T08:00:00Z", "metadata": {"k": "v"}})
    };
    let results = json_of(
        app.post("/api/v1/outcomes/batch", &app.admin_key, &json!({"outcomes": [item("fraud"), item("legit")]})).await,
    )
    .await;
    assert_eq!(results["results"][0]["status"], 200, "{results}");
    assert_eq!(results["results"][0]["id"], first["id"], "{results}");
    assert_eq!(results["results"][1]["status"], 409, "{results}");
    assert_eq!(results["results"][1]["error"]["code"], "conflict", "{results}");
    assert_eq!(outcomes(&app, "p-1").await.len(), 1);
}

async fn invalid_outcomes_are_422_naming_the_field_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    for (body, field) in [
        (json!({"source": "chargeback"}), "label"),
        (json!({"source": "chargeback", "metadata": {"a": 1}}), "label"),
        (json!({"source": "chargeback", "value": "12"}), "value"),
        (json!({"label": "fraud", "source": "x", "observed_at": "2026-11-27T08:00:00"}), "observed_at"),
        (json!({"label": "fraud", "source": "x", "observed_at": "yesterday"}), "observed_at"),
        (json!({"label": "fraud", "source": "x", "colour": "red"}), "colour"),
        (json!({"label": "fraud", "source": "x", "prediction_id": "p-1"}), "prediction_id"),
        (json!({"label": "fraud"}), "source"),
        (json!({"label": 7, "source": "x"}), "label"),
        (json!({"label": "fraud", "source": "x", "metadata": "not an object"}), "metadata"),
    ] {
        let (_, named) =
            expect_error(post_outcome(&app, &app.admin_key, "p-1", &body).await, StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        assert_eq!(named.as_deref(), Some(field), "{body}");
    }
    let not_json = app.post_bytes("/api/v1/predictions/p-1/outcomes", &app.admin_key, "{label: fraud").await;
    expect_error(not_json, StatusCode::BAD_REQUEST).await;
    assert!(outcomes(&app, "p-1").await.is_empty(), "nothing rejected is stored");
    assert!(prediction(&app, "p-1").await["outcome"].is_null());
    assert_eq!(listed(&app, "has_outcome=true").await, Vec::<String>::new());
}

async fn outcomes_and_reviews_of_an_unknown_prediction_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let unknown_uuid = uuid::Uuid::new_v4().to_string();
    for reference in ["p-2", "P-1", unknown_uuid.as_str()] {
        let body = json!({"label": "fraud", "source": "x"});
        let (code, _) =
            expect_error(post_outcome(&app, &app.admin_key, reference, &body).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "outcome for {reference}");
        let (code, _) = expect_error(
            post_review(&app, &app.admin_key, reference, &review("u-1", "confirm")).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "not_found", "review of {reference}");
        for list in ["outcomes", "reviews"] {
            let response = app.get(&format!("/api/v1/predictions/{reference}/{list}"), &app.admin_key).await;
            expect_error(response, StatusCode::NOT_FOUND).await;
        }
    }
    assert!(outcomes(&app, "p-1").await.is_empty());
    assert!(reviews(&app, "p-1").await.is_empty());
}

async fn the_current_outcome_is_the_latest_observed_then_the_latest_arrived(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let at = |label: &str, observed: &str| json!({"outcome_id": format!("o-{label}"), "label": label, "source": "s", "observed_at": observed});
    let a = outcome_created(&app, "p-1", &at("a", "2026-11-27T10:00:00Z")).await;
    assert_eq!(prediction(&app, "p-1").await["outcome"], a);
    let b = outcome_created(&app, "p-1", &at("b", "2026-11-27T12:00:00Z")).await;
    assert_eq!(prediction(&app, "p-1").await["outcome"], b, "a later observation supersedes");
    assert_eq!(listed(&app, "outcome_label=b").await, vec!["p-1"]);
    assert_eq!(listed(&app, "outcome_label=a").await, Vec::<String>::new());
    // Observed earlier, arriving later: does not supersede.
    let c = outcome_created(&app, "p-1", &at("c", "2026-11-27T11:00:00Z")).await;
    assert_eq!(prediction(&app, "p-1").await["outcome"], b, "an earlier observation arriving late does not supersede");
    assert_eq!(listed(&app, "outcome_label=b").await, vec!["p-1"]);
    assert_eq!(listed(&app, "outcome_label=c").await, Vec::<String>::new());
    // The same observation time (in another offset), arriving later: supersedes.
    let d = outcome_created(&app, "p-1", &at("d", "2026-11-27T13:00:00+01:00")).await;
    assert_eq!(prediction(&app, "p-1").await["outcome"], d, "at the same observed_at the later arrival wins");
    assert_eq!(listed(&app, "outcome_label=d").await, vec!["p-1"]);
    assert_eq!(listed(&app, "outcome_label=b").await, Vec::<String>::new());
    // Every outcome is kept, in arrival order.
    assert_eq!(outcomes(&app, "p-1").await, vec![a, b, c, d]);
}

async fn a_batch_stores_each_outcome_on_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let one = app.record(&decided("m", "p-1", "approve")).await;
    let two = app.record(&decided("m", "p-2", "decline")).await;
    let batch = json!({"outcomes": [
        {"prediction_id": "p-1", "outcome_id": "b-0", "label": "fraud", "source": "chargeback"},
        {"prediction_id": "no-such-prediction", "label": "fraud", "source": "chargeback"},
        {"prediction_id": "p-2", "source": "chargeback"},
        {"prediction_id": "p-2", "value": "12", "source": "chargeback"},
        {"prediction_id": "p-2", "outcome_id": "b-4", "value": 12.5, "source": "ledger",
         "metadata": {"contact": "jane@example.com"}},
        {"label": "fraud", "source": "chargeback"},
        {"prediction_id": "p-1", "label": "fraud", "source": "x", "observed_at": "2026-11-27T08:00:00"},
    ]});
    let response = app.post("/api/v1/outcomes/batch", &app.admin_key, &batch).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response).await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 7, "{body}");
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["index"], index, "{body}");
    }
    let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![201, 404, 422, 422, 201, 422, 422], "{body}");
    assert_eq!(results[1]["error"]["code"], "not_found", "{body}");
    assert_eq!(results[2]["error"]["field"], "outcomes[2].label", "{body}");
    assert_eq!(results[3]["error"]["field"], "outcomes[3].value", "{body}");
    assert_eq!(results[5]["error"]["field"], "outcomes[5].prediction_id", "{body}");
    assert_eq!(results[6]["error"]["field"], "outcomes[6].observed_at", "{body}");
    for failed in [1, 2, 3, 5, 6] {
        assert!(results[failed]["id"].is_null(), "a failed item has no id: {body}");
        assert!(results[failed]["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert_eq!(results[0]["outcome_id"], "b-0");
    assert_eq!(results[4]["outcome_id"], "b-4");

    let of_one = outcomes(&app, "p-1").await;
    assert_eq!(of_one.len(), 1, "{of_one:?}");
    assert_eq!(of_one[0]["id"], results[0]["id"]);
    assert_eq!(of_one[0]["prediction_id"], one["id"]);
    assert_eq!(of_one[0]["label"], "fraud");
    let of_two = outcomes(&app, "p-2").await;
    assert_eq!(of_two.len(), 1, "{of_two:?}");
    assert_eq!(of_two[0]["id"], results[4]["id"]);
    assert_eq!(of_two[0]["prediction_id"], two["id"]);
    assert_eq!(of_two[0]["value"], 12.5);
    assert_eq!(of_two[0]["metadata"]["contact"], "*****", "a batch redacts too: {}", of_two[0]);
    assert_eq!(prediction(&app, "p-2").await["outcome"], of_two[0]);
    assert_eq!(listed(&app, "has_outcome=true").await, vec!["p-1", "p-2"]);
}

async fn a_malformed_batch_is_422_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let item = json!({"prediction_id": "p-1", "label": "fraud", "source": "s"});
    let too_many: Vec<Value> = (0..1001).map(|_| item.clone()).collect();
    for (body, field) in [
        (json!({"outcomes": []}), "outcomes"),
        (json!({}), "outcomes"),
        (json!({"outcomes": item.clone()}), "outcomes"),
        (json!({"outcomes": too_many}), "outcomes"),
        (json!({"outcomes": [item.clone()], "extra": 1}), "extra"),
    ] {
        let response = app.post("/api/v1/outcomes/batch", &app.admin_key, &body).await;
        let (_, named) = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(named.as_deref(), Some(field), "{}", &body.to_string()[..body.to_string().len().min(200)]);
    }
    assert!(outcomes(&app, "p-1").await.is_empty(), "nothing of a rejected batch is stored");
}

// ---------------------------------------------------------------------------------------------
// Reviews

async fn reviews_without_the_two_person_rule_take_effect_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&decided("credit", "p-1", "approve")).await;
    let shown = prediction(&app, "p-1").await;
    assert_eq!(shown["reviews"], json!([]), "{shown}");
    assert_eq!(shown["final_decision"], "approve", "the model's decision is in force: {shown}");
    assert_eq!(shown["review_state"], "none");

    let confirm = review_created(
        &app,
        "p-1",
        &json!({"reviewer": {"reviewer_id": "u-1", "name": "Ann"},
                                                       "action": "confirm"}),
    )
    .await;
    assert_eq!(confirm["prediction_id"], stored["id"]);
    assert_eq!(confirm["reviewer"]["reviewer_id"], "u-1");
    assert_eq!(confirm["reviewer"]["name"], "Ann");
    assert_eq!(confirm["action"], "confirm");
    assert!(confirm["review_id"].as_str().is_some_and(|id| !id.is_empty()), "{confirm}");
    let shown = prediction(&app, "p-1").await;
    assert_eq!((shown["final_decision"].as_str(), shown["review_state"].as_str()), (Some("approve"), Some("final")));

    let comment = "called the customer on +44 20 7946 0958";
    let body = json!({"review_id": "r-2", "reviewer": {"reviewer_id": "u-2"}, "action": "override",
                      "final_decision": "decline", "reason_codes": ["R1", "R7"], "comment": comment,
                      "reviewed_at": "2026-11-27T10:00:00+02:00"});
    let overridden = review_created(&app, &id_of(&stored), &body).await;
    assert_eq!(overridden["review_id"], "r-2");
    assert_eq!(overridden["action"], "override");
    assert_eq!(overridden["final_decision"], "decline");
    assert_eq!(overridden["reason_codes"], json!(["R1", "R7"]));
    let redacted = overridden["comment"].as_str().unwrap();
    assert!(!redacted.contains("7946") && !redacted.contains("0958"), "the phone number is masked: {redacted}");
    assert!(redacted.starts_with("called the customer"), "the rest of the comment is kept: {redacted}");
    same_instant(&overridden["reviewed_at"], "2026-11-27T08:00:00Z");
    let shown = prediction(&app, "p-1").await;
    assert_eq!(shown["final_decision"], "decline", "an override takes effect at once: {shown}");
    assert_eq!(shown["review_state"], "final");
    assert_eq!(shown["decision_outcome"], "approve", "the model's decision is kept as recorded");

    let reversed = review_created(&app, "p-1", &review("u-3", "reverse")).await;
    let shown = prediction(&app, "p-1").await;
    assert_eq!(shown["final_decision"], "reversed", "{shown}");
    assert_eq!(shown["review_state"], "final");

    let escalated = review_created(&app, "p-1", &review("u-4", "escalate")).await;
    let shown = prediction(&app, "p-1").await;
    assert_eq!(shown["final_decision"], "reversed", "an escalation changes no decision: {shown}");

    let all = vec![confirm, overridden, reversed, escalated];
    assert_eq!(reviews(&app, "p-1").await, all, "every review, oldest first");
    assert_eq!(shown["reviews"], json!(all), "the prediction shows them oldest first");
}

async fn invalid_reviews_are_422_naming_the_field_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let reviewer = json!({"reviewer_id": "u-1"});
    for (body, field) in [
        (json!({"reviewer": reviewer, "action": "override"}), "final_decision"),
        (json!({"reviewer": reviewer, "action": "override", "final_decision": ""}), "final_decision"),
        (json!({"reviewer": reviewer, "action": "approve"}), "action"),
        (json!({"reviewer": reviewer}), "action"),
        (json!({"action": "confirm"}), "reviewer"),
        (json!({"reviewer": {}, "action": "confirm"}), "reviewer.reviewer_id"),
        (json!({"reviewer": reviewer, "action": "confirm", "reviewed_at": "2026-11-27T08:00:00"}), "reviewed_at"),
        (json!({"reviewer": reviewer, "action": "confirm", "reason_codes": ["a", 1]}), "reason_codes[1]"),
        (json!({"reviewer": reviewer, "action": "confirm", "mood": "grumpy"}), "mood"),
    ] {
        let (_, named) =
            expect_error(post_review(&app, &app.admin_key, "p-1", &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(named.as_deref(), Some(field), "{body}");
    }
    assert!(reviews(&app, "p-1").await.is_empty());
    let shown = prediction(&app, "p-1").await;
    assert_eq!((shown["final_decision"].as_str(), shown["review_state"].as_str()), (Some("approve"), Some("none")));
}

async fn a_replayed_review_is_200_and_a_changed_one_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let body = json!({"review_id": "r-1", "reviewer": {"reviewer_id": "u-1", "name": "Ann"}, "action": "override",
                      "final_decision": "decline", "reason_codes": ["R1"], "comment": "looks wrong",
                      "reviewed_at": "2026-11-27T08:00:00Z"});
    let first = review_created(&app, "p-1", &body).await;
    let replay = post_review(&app, &app.admin_key, "p-1", &body).await;
    assert_eq!(replay.status(), StatusCode::OK, "an identical replay is 200");
    assert_eq!(json_of(replay).await, first);
    for (key, changed) in [
        ("final_decision", json!("refer")),
        ("comment", json!("looks right")),
        ("reason_codes", json!(["R2"])),
        ("action", json!("reverse")),
    ] {
        let response = post_review(&app, &app.admin_key, "p-1", &with(body.clone(), key, changed.clone())).await;
        let (code, _) = expect_error(response, StatusCode::CONFLICT).await;
        assert_eq!(code, "conflict", "r-1 with {key} = {changed}");
    }
    assert_eq!(reviews(&app, "p-1").await, vec![first]);
    assert_eq!(prediction(&app, "p-1").await["final_decision"], "decline");
}

async fn the_two_person_rule_needs_a_second_reviewer(backend: Backend) {
    let app = TestApp::spawn_with(backend, two_person(&["credit"])).await;
    app.record(&decided("credit", "c-1", "approve")).await;
    app.record(&decided("other", "o-1", "approve")).await;

    let proposal = review_created(&app, "c-1", &override_to("u-1", "decline")).await;
    let shown = prediction(&app, "c-1").await;
    assert_eq!(shown["review_state"], "pending_second", "{shown}");
    assert_eq!(shown["final_decision"], "approve", "a proposal changes nothing yet: {shown}");
    assert_eq!(listed(&app, "review_state=pending_second").await, vec!["c-1"]);
    assert_eq!(listed(&app, "overridden=true").await, Vec::<String>::new());

    // The proposer cannot confirm their own change.
    let (code, _) =
        expect_error(post_review(&app, &app.admin_key, "c-1", &review("u-1", "confirm")).await, StatusCode::CONFLICT)
            .await;
    assert_eq!(code, "conflict");
    assert_eq!(reviews(&app, "c-1").await, vec![proposal.clone()], "the refused confirm is not stored");
    let shown = prediction(&app, "c-1").await;
    assert_eq!(
        (shown["final_decision"].as_str(), shown["review_state"].as_str()),
        (Some("approve"), Some("pending_second"))
    );

    // Another reviewer's confirm makes it final.
    let second = review_created(&app, "c-1", &review("u-2", "confirm")).await;
    let shown = prediction(&app, "c-1").await;
    assert_eq!(shown["final_decision"], "decline", "{shown}");
    assert_eq!(shown["review_state"], "final");
    assert_eq!(reviews(&app, "c-1").await, vec![proposal, second]);
    assert_eq!(listed(&app, "overridden=true").await, vec!["c-1"]);
    assert_eq!(listed(&app, "review_state=pending_second").await, Vec::<String>::new());

    // A model not listed: one reviewer is enough.
    review_created(&app, "o-1", &override_to("u-1", "decline")).await;
    let shown = prediction(&app, "o-1").await;
    assert_eq!((shown["final_decision"].as_str(), shown["review_state"].as_str()), (Some("decline"), Some("final")));
}

// ---------------------------------------------------------------------------------------------
// List filters

async fn list_filters_agree_with_outcomes_and_reviews(backend: Backend) {
    let app = TestApp::spawn_with(backend, two_person(&["credit"])).await;
    app.record(&decided("m", "a", "approve")).await;
    app.record(&decided("m", "b", "approve")).await;
    app.record(&decided("m", "c", "approve")).await;
    app.record(&decided("m", "d", "decline")).await;
    app.record(&decided("credit", "e", "approve")).await;
    app.record(&decided("m", "f", "approve")).await;
    outcome_created(&app, "a", &json!({"label": "fraud", "source": "s"})).await;
    outcome_created(&app, "b", &json!({"label": "legit", "source": "s", "observed_at": "2026-11-27T08:00:00Z"})).await;
    // b's later outcome supersedes; its first label no longer counts.
    outcome_created(&app, "b", &json!({"label": "fraud", "source": "s", "observed_at": "2026-11-27T09:00:00Z"})).await;
    outcome_created(&app, "f", &json!({"value": 3.5, "source": "s"})).await;
    review_created(&app, "b", &review("u-1", "confirm")).await;
    review_created(&app, "c", &override_to("u-1", "decline")).await;
    review_created(&app, "e", &override_to("u-1", "decline")).await;
    review_created(&app, "f", &review("u-1", "reverse")).await;
    app.seal().await;

    let none: Vec<String> = Vec::new();
    let names = |all: &[&str]| all.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for (query, expected) in [
        ("has_outcome=true", names(&["a", "b", "f"])),
        ("has_outcome=false", names(&["c", "d", "e"])),
        ("outcome_label=fraud", names(&["a", "b"])),
        ("outcome_label=legit", none.clone()),
        ("reviewed=true", names(&["b", "c", "e", "f"])),
        ("reviewed=false", names(&["a", "d"])),
        ("overridden=true", names(&["c", "f"])),
        ("overridden=false", names(&["a", "b", "d", "e"])),
        ("final_decision=decline", names(&["c", "d"])),
        ("final_decision=approve", names(&["a", "b", "e"])),
        ("final_decision=reversed", names(&["f"])),
        ("review_state=none", names(&["a", "d"])),
        ("review_state=pending_second", names(&["e"])),
        ("review_state=final", names(&["b", "c", "f"])),
        ("has_outcome=true&reviewed=true", names(&["b", "f"])),
        ("outcome_label=fraud&review_state=none", names(&["a"])),
        ("model_name=credit&final_decision=approve", names(&["e"])),
    ] {
        assert_eq!(listed(&app, query).await, expected, "{query}");
    }
}

async fn bad_filter_values_are_400_naming_the_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "a", "approve")).await;
    for (parameter, bad) in [
        ("has_outcome", "yes"),
        ("reviewed", "maybe"),
        ("overridden", "2"),
        ("review_state", "done"),
        ("review_state", "pending"),
    ] {
        let response = app.get(&format!("/api/v1/predictions?{parameter}={bad}"), &app.admin_key).await;
        let (code, field) = expect_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_parameter", "{parameter}={bad}");
        assert_eq!(field.as_deref(), Some(parameter), "{parameter}={bad}");
    }
    // The good values of the same parameters are accepted.
    for good in ["has_outcome=false", "reviewed=false", "overridden=false", "review_state=none"] {
        assert_eq!(listed(&app, good).await, vec!["a"], "{good}");
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotent explanations

async fn an_explanation_id_makes_an_attach_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    let path = "/api/v1/predictions/p-1/explanation";
    let body = json!({"explanation_id": "e-1", "method": "shap", "payload": {"age": 0.3}, "summary_text": "age",
                      "generated_at": "2026-11-27T08:00:00Z"});
    let first = app.post(path, &app.admin_key, &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = json_of(first).await;
    assert_eq!(first["explanation_id"], "e-1", "{first}");
    let replay = app.post(path, &app.admin_key, &body).await;
    assert_eq!(replay.status(), StatusCode::OK, "the same explanation_id and content is a replay");
    assert_eq!(json_of(replay).await, first);
    let revisions = get_ok(&app, "/api/v1/predictions/p-1/explanations").await;
    assert_eq!(revisions["items"], json!([first.clone()]), "a replay adds no revision");

    let changed = with(body.clone(), "payload", json!({"age": 0.9}));
    let response = app.post(path, &app.admin_key, &changed).await;
    expect_error(response, StatusCode::CONFLICT).await;
    let revisions = get_ok(&app, "/api/v1/predictions/p-1/explanations").await;
    assert_eq!(revisions["items"], json!([first.clone()]), "a conflict adds no revision");
    assert_eq!(prediction(&app, "p-1").await["explanation"], first);

    // Another id is another revision.
    let other = app.post(path, &app.admin_key, &with(changed, "explanation_id", json!("e-2"))).await;
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_eq!(json_of(other).await["revision"], 2);
}

// ---------------------------------------------------------------------------------------------
// Tenants and scopes

async fn keys_write_and_read_only_their_tenant_and_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let actor = |tenant: &str| json!({"actor_type": "service", "actor_id": "scorer", "tenant_id": tenant});
    let own = app.record(&with(decided("m", "acme-1", "approve"), "actor", actor("acme"))).await;
    let foreign = app.record(&with(decided("m", "globex-1", "approve"), "actor", actor("globex"))).await;
    let acme = app.key(KeyScope::Ingest, Some("acme")).await;
    let acme_read = app.key(KeyScope::Read, Some("acme")).await;
    let outcome = json!({"label": "fraud", "source": "s"});

    for reference in ["globex-1".to_owned(), id_of(&foreign)] {
        let (code, _) =
            expect_error(post_outcome(&app, &acme, &reference, &outcome).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "outcome for {reference}");
        let (code, _) =
            expect_error(post_review(&app, &acme, &reference, &review("u-1", "confirm")).await, StatusCode::NOT_FOUND)
                .await;
        assert_eq!(code, "not_found", "review of {reference}");
        for list in ["outcomes", "reviews"] {
            let response = app.get(&format!("/api/v1/predictions/{reference}/{list}"), &acme_read).await;
            expect_error(response, StatusCode::NOT_FOUND).await;
        }
    }
    let batch = json!({"outcomes": [
        {"prediction_id": "acme-1", "label": "fraud", "source": "s"},
        {"prediction_id": "globex-1", "label": "fraud", "source": "s"},
    ]});
    let results = json_of(app.post("/api/v1/outcomes/batch", &acme, &batch).await).await;
    assert_eq!(results["results"][0]["status"], 201, "{results}");
    assert_eq!(results["results"][1]["status"], 404, "{results}");
    assert_eq!(results["results"][1]["error"]["code"], "not_found", "{results}");
    assert!(outcomes(&app, "globex-1").await.is_empty(), "nothing reached another tenant's prediction");
    assert!(reviews(&app, "globex-1").await.is_empty());

    // The own tenant's prediction: writable with the ingest key, readable with the read key.
    assert_eq!(post_outcome(&app, &acme, &id_of(&own), &outcome).await.status(), StatusCode::CREATED);
    assert_eq!(post_review(&app, &acme, "acme-1", &review("u-1", "confirm")).await.status(), StatusCode::CREATED);
    let response = app.get("/api/v1/predictions/acme-1/outcomes", &acme_read).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_of(response).await["items"].as_array().unwrap().len(), 2);

    // Scopes: a read key may not write, an ingest key may not read.
    let (code, _) = expect_error(post_outcome(&app, &acme_read, "acme-1", &outcome).await, StatusCode::FORBIDDEN).await;
    assert!(!code.is_empty());
    expect_error(post_review(&app, &acme_read, "acme-1", &review("u-1", "confirm")).await, StatusCode::FORBIDDEN).await;
    let batch = json!({"outcomes": [{"prediction_id": "acme-1", "label": "fraud", "source": "s"}]});
    expect_error(app.post("/api/v1/outcomes/batch", &acme_read, &batch).await, StatusCode::FORBIDDEN).await;
    for list in ["outcomes", "reviews"] {
        expect_error(app.get(&format!("/api/v1/predictions/acme-1/{list}"), &acme).await, StatusCode::FORBIDDEN).await;
    }
    let model = own["model"]["id"].as_str().unwrap();
    expect_error(app.get(&format!("/api/v1/models/{model}/quality"), &acme).await, StatusCode::FORBIDDEN).await;
    // No key at all.
    let response = app.client.get(app.url("/api/v1/predictions/acme-1/outcomes")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(outcomes(&app, "acme-1").await.len(), 2, "the refused writes stored nothing");
    assert_eq!(reviews(&app, "acme-1").await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Erasure and the ledger

async fn erasure_blanks_outcomes_and_reviews_and_refuses_new_ones(backend: Backend) {
    // Counts the ledger's leaves: without the access entries of its reads (access.rs tests those).
    let settings =
        ServerSettings { ledger_schedule: ON_DEMAND_SEALING, access_log: false, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    let doomed = app.record(&decided("m", "p1", "approve")).await;
    let kept = app.record(&decided("m", "p2", "approve")).await;
    let secret_outcome = json!({"outcome_id": "o-1", "label": "fraudulent-label", "value": 77.25,
                                "source": "secret-source", "metadata": {"case": "case-secret"}});
    outcome_created(&app, "p1", &secret_outcome).await;
    outcome_created(&app, "p1", &json!({"label": "second-label", "source": "secret-source"})).await;
    review_created(
        &app,
        "p1",
        &json!({"reviewer": {"reviewer_id": "reviewer-secret", "name": "Reviewer Name"},
                                        "action": "override", "final_decision": "decision-secret",
                                        "reason_codes": ["code-secret"], "comment": "comment-secret"}),
    )
    .await;
    let kept_outcome = outcome_created(&app, "p2", &json!({"label": "legit", "source": "s"})).await;
    checkpoint(&app).await;
    let size = ledger_size(&app).await;
    assert_eq!(size, 2 + 3 + 1, "two predictions, three outcomes, one review");

    let response =
        app.post("/api/v1/erasures", &app.admin_key, &json!({"predictions": ["p1"], "reason": "test"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let erasure = json_of(response).await;
    assert_eq!(erasure["erased"]["predictions"], 1, "{erasure}");
    assert_eq!(erasure["erased"]["outcomes"], 2, "{erasure}");
    assert_eq!(erasure["erased"]["reviews"], 1, "{erasure}");

    let id = id_of(&doomed);
    let blanked_outcomes = outcomes(&app, &id).await;
    assert_eq!(blanked_outcomes.len(), 2, "the outcomes are kept as blanked records: {blanked_outcomes:?}");
    for outcome in &blanked_outcomes {
        assert!(outcome["label"].is_null() && outcome["value"].is_null(), "{outcome}");
        assert!(outcome["metadata"].is_null() || outcome["metadata"] == json!({}), "{outcome}");
    }
    let blanked_reviews = reviews(&app, &id).await;
    assert_eq!(blanked_reviews.len(), 1, "{blanked_reviews:?}");
    let shown = prediction(&app, &id).await;
    assert!(!shown["erased"].is_null(), "{shown}");
    let text = format!("{} {:?} {:?}", shown, blanked_outcomes, blanked_reviews);
    for gone in [
        "fraudulent-label",
        "second-label",
        "77.25",
        "secret-source",
        "case-secret",
        "reviewer-secret",
        "Reviewer Name",
        "decision-secret",
        "code-secret",
        "comment-secret",
    ] {
        assert!(!text.contains(gone), "{gone:?} survived the erasure: {text}");
    }
    // Nothing new may be added to the erased prediction.
    let (code, _) = expect_error(
        post_outcome(&app, &app.admin_key, &id, &json!({"label": "late", "source": "s"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "erased");
    let (code, _) =
        expect_error(post_review(&app, &app.admin_key, &id, &review("u-9", "confirm")).await, StatusCode::CONFLICT)
            .await;
    assert_eq!(code, "erased");
    // A replay of the erased outcome does not bring it back either.
    let replay = post_outcome(&app, &app.admin_key, &id, &secret_outcome).await;
    assert!(replay.status().is_client_error(), "a replay of an erased outcome: {}", replay.status());
    assert_eq!(outcomes(&app, &id).await, blanked_outcomes);
    assert!(!format!("{:?}", outcomes(&app, &id).await).contains("fraudulent-label"));
    // p2 is untouched.
    assert_eq!(outcomes(&app, "p2").await, vec![kept_outcome.clone()]);
    assert_eq!(prediction(&app, &id_of(&kept)).await["outcome"], kept_outcome);

    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.leaves, size + 1, "{report:?}");
    assert_eq!(report.erased, 1 + 2 + 1, "the prediction, its two outcomes and its review: {report:?}");
    assert_eq!(report.intact, 2, "p2 and its outcome: {report:?}");
    assert_eq!(report.life_events, 1, "{report:?}");
}

async fn outcomes_and_reviews_are_sealed_into_the_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.record(&decided("m", "p-1", "approve")).await;
    checkpoint(&app).await;
    assert_eq!(ledger_size(&app).await, 1);
    let body = json!({"outcome_id": "o-1", "label": "fraud", "source": "s"});
    outcome_created(&app, "p-1", &body).await;
    let review_body = json!({"review_id": "r-1", "reviewer": {"reviewer_id": "u-1"}, "action": "confirm"});
    review_created(&app, "p-1", &review_body).await;
    checkpoint(&app).await;
    assert_eq!(ledger_size(&app).await, 3, "one leaf for the outcome, one for the review");
    // Replays, conflicts and rejected bodies add none.
    assert_eq!(post_outcome(&app, &app.admin_key, "p-1", &body).await.status(), StatusCode::OK);
    assert_eq!(post_review(&app, &app.admin_key, "p-1", &review_body).await.status(), StatusCode::OK);
    let conflicting = with(body.clone(), "label", json!("legit"));
    assert_eq!(post_outcome(&app, &app.admin_key, "p-1", &conflicting).await.status(), StatusCode::CONFLICT);
    let invalid = json!({"source": "s"});
    assert_eq!(post_outcome(&app, &app.admin_key, "p-1", &invalid).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    checkpoint(&app).await;
    assert_eq!(ledger_size(&app).await, 3);
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!((report.leaves, report.intact, report.erased, report.life_events), (3, 3, 0, 0), "{report:?}");
    // A second outcome and a second review: two more leaves, all intact.
    outcome_created(&app, "p-1", &json!({"value": 2.0, "source": "s"})).await;
    review_created(&app, "p-1", &override_to("u-2", "decline")).await;
    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!((report.leaves, report.intact), (5, 5), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// Quality

/// A small deterministic generator (a 64-bit LCG), so that the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A multiple of 2^-20 in [0, 1): exact in binary and in JSON.
    fn unit(&mut self) -> f64 {
        self.below(1 << 20) as f64 / (1u64 << 20) as f64
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const LABELS: &[&str] = &["approve", "decline", "refer"];

/// One outcome as sent: when it was observed (seconds into 2026-11-28), its label and value.
#[derive(Clone, Debug)]
struct SentOutcome {
    observed: i64,
    label: Option<String>,
    value: Option<f64>,
}

/// One prediction of the quality test, as the test knows it.
#[derive(Clone, Debug)]
struct Case {
    pid: String,
    /// Seconds into 2026-11-27 (UTC).
    at: i64,
    tenant: &'static str,
    decision: String,
    predicted: Option<f64>,
    /// In arrival order.
    outcomes: Vec<SentOutcome>,
    /// (reviewer, action, final_decision), in arrival order.
    reviews: Vec<(String, &'static str, String)>,
}

fn clock(day: &str, seconds: i64) -> String {
    format!("{day}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

impl Case {
    fn current(&self) -> Option<&SentOutcome> {
        // The latest by observed_at, then by arrival.
        self.outcomes.iter().enumerate().max_by_key(|(arrival, o)| (o.observed, *arrival)).map(|(_, o)| o)
    }

    /// The decision in force (single-reviewer rule): the latest override's or `reversed`, else
    /// the model's.
    fn final_decision(&self) -> String {
        let mut decision = self.decision.clone();
        for (_, action, final_decision) in &self.reviews {
            match *action {
                "override" => decision = final_decision.clone(),
                "reverse" => decision = "reversed".to_owned(),
                _ => {}
            }
        }
        decision
    }
}

/// What `GET /models/{id}/quality` should say about `cases`, computed from scratch.
fn expected_quality(cases: &[&Case]) -> Value {
    let with_outcome = cases.iter().filter(|c| !c.outcomes.is_empty()).count();
    let mut confusion: BTreeMap<(String, String), i64> = BTreeMap::new();
    let (mut errors, mut reviewed, mut overridden) = (Vec::new(), 0, 0);
    for case in cases {
        if let Some(current) = case.current() {
            if let Some(label) = &current.label
                && !case.decision.is_empty()
            {
                *confusion.entry((case.decision.clone(), label.clone())).or_default() += 1;
            }
            if let (Some(predicted), Some(actual)) = (case.predicted, current.value) {
                errors.push((predicted - actual).abs());
            }
        }
        if !case.reviews.is_empty() {
            reviewed += 1;
        }
        if case.final_decision() != case.decision {
            overridden += 1;
        }
    }
    let classified: i64 = confusion.values().sum();
    let classification = if classified == 0 {
        Value::Null
    } else {
        let correct: i64 = confusion.iter().filter(|((p, a), _)| p == a).map(|(_, n)| n).sum();
        let names: BTreeSet<&String> = confusion.keys().flat_map(|(p, a)| [p, a]).collect();
        let mut labels = serde_json::Map::new();
        for name in names {
            let decided: i64 = confusion.iter().filter(|((p, _), _)| p == name).map(|(_, n)| n).sum();
            let support: i64 = confusion.iter().filter(|((_, a), _)| a == name).map(|(_, n)| n).sum();
            let hits = confusion.get(&(name.clone(), name.clone())).copied().unwrap_or(0);
            let ratio = |n: i64, of: i64| if of > 0 { json!(n as f64 / of as f64) } else { Value::Null };
            labels.insert(
                name.clone(),
                json!({"precision": ratio(hits, decided), "recall": ratio(hits, support), "support": support}),
            );
        }
        let cells: Vec<Value> =
            confusion.iter().map(|((p, a), n)| json!({"predicted": p, "actual": a, "count": n})).collect();
        json!({"accuracy": correct as f64 / classified as f64, "labels": labels, "confusion": cells})
    };
    let regression = if errors.is_empty() {
        Value::Null
    } else {
        let n = errors.len() as f64;
        let mae = errors.iter().sum::<f64>() / n;
        let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
        json!({"mae": mae, "rmse": rmse, "count": errors.len()})
    };
    json!({
        "predictions": cases.len(), "with_outcome": with_outcome, "classification": classification,
        "regression": regression, "reviewed": reviewed, "overridden": overridden,
    })
}

/// Asserts that two JSON values are equal, numbers within 1e-9; the confusion cells compared
/// in any order.
#[track_caller]
fn assert_close(got: &Value, expected: &Value, path: &str) {
    match (got, expected) {
        (Value::Number(g), Value::Number(e)) => {
            let (g, e) = (g.as_f64().unwrap(), e.as_f64().unwrap());
            assert!((g - e).abs() <= 1e-9, "{path}: got {g}, expected {e}");
        }
        (Value::Object(g), Value::Object(e)) => {
            let (gk, ek): (BTreeSet<&String>, BTreeSet<&String>) = (g.keys().collect(), e.keys().collect());
            assert_eq!(gk, ek, "{path}: keys differ: got {got}, expected {expected}");
            for key in ek {
                assert_close(&g[key], &e[key], &format!("{path}.{key}"));
            }
        }
        (Value::Array(g), Value::Array(e)) if path.ends_with("confusion") => {
            let sorted = |cells: &Vec<Value>| {
                let mut cells: Vec<(String, String, i64)> = cells
                    .iter()
                    .map(|c| {
                        (
                            c["predicted"].as_str().unwrap().to_owned(),
                            c["actual"].as_str().unwrap().to_owned(),
                            c["count"].as_i64().unwrap(),
                        )
                    })
                    .collect();
                cells.sort();
                cells
            };
            assert_eq!(sorted(g), sorted(e), "{path}");
        }
        _ => assert_eq!(got, expected, "{path}"),
    }
}

/// `GET /models/{model}/quality?{query}` with `key`, polled (PostgreSQL folds the prediction
/// counts when it seals) until the number of predictions is the expected one.
async fn quality(app: &TestApp, key: &str, model: &str, query: &str, predictions: u64) -> Value {
    let path = format!("/api/v1/models/{model}/quality?{query}");
    let mut last = Value::Null;
    for _ in 0..50 {
        let response = app.get(&path, key).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        last = serde_json::from_str(&text).unwrap();
        if last["predictions"].as_u64() == Some(predictions) {
            return last;
        }
        app.seal().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("GET {path}: predictions never reached {predictions}: {last}");
}

async fn quality_matches_an_independent_computation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut rng = Rng(0x005e_ed0f_a0d1);
    let mut cases: Vec<Case> = Vec::new();
    for i in 0..42i64 {
        // From 08:00 to about 14:50, at odd seconds; two exactly on the window's bounds below.
        let at = match i {
            10 => 10 * 3600 + 30 * 60,
            30 => 13 * 3600 + 15 * 60,
            _ => 8 * 3600 + i * 587 + rng.below(300) as i64,
        };
        let decision = if i % 13 == 5 { String::new() } else { rng.pick(LABELS).to_owned() };
        let score = rng.unit();
        let (output, predicted) = match i % 9 {
            0 => (json!(score), Some(score)),
            1 => (json!({"value": score, "label": "x"}), Some(score)),
            2 => (json!({"class": "x"}), None),
            _ => (json!({"score": score, "value": 99.0}), Some(score)),
        };
        let tenant = if i % 3 == 0 { "globex" } else { "acme" };
        cases.push(Case {
            pid: format!("q-{i:02}"),
            at,
            tenant,
            decision,
            predicted,
            outcomes: Vec::new(),
            reviews: Vec::new(),
        });
        let case = cases.last().unwrap();
        let mut body = json!({
            "prediction_id": case.pid, "model_name": "scorer", "model_version": "1.0.0",
            "features": {"i": i}, "output": output, "timestamp": clock("2026-11-27", at),
            "actor": {"actor_type": "service", "actor_id": "svc", "tenant_id": tenant},
        });
        if !case.decision.is_empty() {
            body["decision_outcome"] = json!(case.decision);
        }
        app.record(&body).await;
    }
    // Another version of the same model, with outcomes and reviews of its own: never counted.
    let mut other_ids = Vec::new();
    for i in 0..4 {
        let body = json!({"prediction_id": format!("v2-{i}"), "model_name": "scorer", "model_version": "2.0.0",
                          "features": {"i": i}, "output": {"score": 0.9}, "decision_outcome": "approve",
                          "timestamp": clock("2026-11-27", 11 * 3600 + i * 60)});
        other_ids.push(app.record(&body).await);
        outcome_created(&app, &format!("v2-{i}"), &json!({"label": "decline", "value": 0.1, "source": "s"})).await;
        review_created(&app, &format!("v2-{i}"), &override_to("u-1", "decline")).await;
    }

    // Outcomes: none for some; one; a later one superseding; one observed earlier arriving
    // later (must not supersede); one at the same observed_at arriving later (supersedes).
    let mut earlier_arrivals = 0;
    for (index, case) in cases.iter_mut().enumerate() {
        let roll = rng.below(10);
        if roll < 2 {
            continue;
        }
        let mut sent = Vec::new();
        let first_observed = 3600 + rng.below(6 * 3600) as i64;
        let outcome = |rng: &mut Rng, observed: i64, decision: &str| {
            let label = match rng.below(10) {
                0 => None,
                1..=5 if !decision.is_empty() => Some(decision.to_owned()),
                _ => Some(rng.pick(LABELS).to_owned()),
            };
            let value = if label.is_none() || rng.below(4) != 0 { Some(rng.unit()) } else { None };
            SentOutcome { observed, label, value }
        };
        let decision = case.decision.clone();
        sent.push(outcome(&mut rng, first_observed, &decision));
        if roll >= 7 {
            let observed = first_observed + 1 + rng.below(3600) as i64;
            sent.push(outcome(&mut rng, observed, &decision));
        }
        if roll == 9 || (index % 7 == 3 && sent.len() == 1) {
            // Observed before the current one, arriving after it.
            let current = sent.iter().map(|o| o.observed).max().unwrap();
            let observed = current - 1 - rng.below(600) as i64;
            let mut late = outcome(&mut rng, observed, &decision);
            if late.label.is_none() {
                late.label = Some("late-label".to_owned());
            }
            sent.push(late);
            earlier_arrivals += 1;
        }
        if index % 11 == 4 {
            // The same observed_at as the current one, arriving last: it supersedes.
            let current = sent.iter().map(|o| o.observed).max().unwrap();
            sent.push(outcome(&mut rng, current, &decision));
        }
        for (n, o) in sent.iter().enumerate() {
            let mut body = json!({"outcome_id": format!("{}-o{n}", case.pid), "source": "labels-job",
                                  "observed_at": clock("2026-11-28", o.observed)});
            if let Some(label) = &o.label {
                body["label"] = json!(label);
            }
            if let Some(value) = o.value {
                body["value"] = json!(value);
            }
            outcome_created(&app, &case.pid, &body).await;
        }
        case.outcomes = sent;
    }
    assert!(earlier_arrivals >= 3, "the data has late arrivals observed earlier: {earlier_arrivals}");

    // Reviews: some confirmed, some overridden (sometimes to the model's own decision), some
    // reversed, some escalated, a few reviewed twice.
    for case in cases.iter_mut() {
        let roll = rng.below(10);
        let mut sent = Vec::new();
        match roll {
            0 | 1 => sent.push(("u-1".to_owned(), "confirm", String::new())),
            2 | 3 => sent.push(("u-2".to_owned(), "override", rng.pick(LABELS).to_owned())),
            4 => sent.push(("u-3".to_owned(), "reverse", String::new())),
            5 => sent.push(("u-1".to_owned(), "escalate", String::new())),
            6 => {
                sent.push(("u-2".to_owned(), "override", rng.pick(LABELS).to_owned()));
                sent.push(("u-3".to_owned(), "override", rng.pick(LABELS).to_owned()));
            }
            _ => {}
        }
        for (reviewer, action, final_decision) in &sent {
            let mut body = json!({"reviewer": {"reviewer_id": reviewer}, "action": action});
            if !final_decision.is_empty() {
                body["final_decision"] = json!(final_decision);
            }
            review_created(&app, &case.pid, &body).await;
        }
        case.reviews = sent;
    }

    // The test's own view of every case agrees with what the API shows for it.
    for case in &cases {
        let shown = prediction(&app, &case.pid).await;
        assert_eq!(shown["final_decision"], json!(case.final_decision()), "{}: {shown}", case.pid);
        match case.current() {
            None => assert!(shown["outcome"].is_null(), "{}: {shown}", case.pid),
            Some(current) => {
                assert_eq!(shown["outcome"]["label"], json!(current.label), "{}: {shown}", case.pid);
                assert_eq!(shown["outcome"]["value"], json!(current.value), "{}: {shown}", case.pid);
            }
        }
    }

    let model_id = prediction(&app, "q-00").await["model"]["id"].as_str().unwrap().to_owned();
    let other_model = other_ids[0]["model"]["id"].as_str().unwrap().to_owned();
    assert_ne!(model_id, other_model);
    app.seal().await;

    let everything: Vec<&Case> = cases.iter().collect();
    let in_window = |from: i64, to: i64| cases.iter().filter(move |c| from <= c.at && c.at <= to).collect::<Vec<_>>();
    let (from, to) = (10 * 3600 + 30 * 60, 13 * 3600 + 15 * 60);
    let windows: Vec<(String, Vec<&Case>)> = vec![
        (String::new(), everything.clone()),
        (format!("time_from={}&time_to={}", clock("2026-11-27", from), clock("2026-11-27", to)), in_window(from, to)),
        // The same bounds written with an offset.
        ("time_from=2026-11-27T12:30:00%2B02:00&time_to=2026-11-27T14:15:00%2B01:00".to_owned(), in_window(from, to)),
        // From 10:30 on, and up to 13:15.
        (format!("time_from={}", clock("2026-11-27", from)), in_window(from, 24 * 3600)),
        (format!("time_to={}", clock("2026-11-27", to)), in_window(0, to)),
        // Inside one hour, with no whole hour in it.
        (
            format!(
                "time_from={}&time_to={}",
                clock("2026-11-27", 11 * 3600 + 7 * 60),
                clock("2026-11-27", 11 * 3600 + 52 * 60)
            ),
            in_window(11 * 3600 + 7 * 60, 11 * 3600 + 52 * 60),
        ),
        // Just past the first bound: the prediction exactly at 10:30:00 is out.
        (format!("time_from=2026-11-27T10:30:00.000001Z&time_to={}", clock("2026-11-27", to)), in_window(from + 1, to)),
    ];
    let mut classified_somewhere = false;
    for (query, chosen) in &windows {
        let expected = expected_quality(chosen);
        assert!(!chosen.is_empty(), "{query}");
        let got = quality(&app, &app.admin_key, &model_id, query, chosen.len() as u64).await;
        assert_close(&got, &expected, &format!("quality?{query}"));
        classified_somewhere |= !expected["classification"].is_null() && !expected["regression"].is_null();
    }
    assert!(classified_somewhere, "the data exercises classification and regression");
    // The window bound just past 10:30:00 must drop exactly that prediction.
    assert_eq!(windows[6].1.len() + 1, windows[1].1.len());
    let whole = expected_quality(&everything);
    assert!(
        whole["overridden"].as_u64().unwrap() > 0
            && whole["reviewed"].as_u64().unwrap() > whole["overridden"].as_u64().unwrap(),
        "the data has overrides and reviews without one: {whole}"
    );
    assert!(whole["regression"]["count"].as_u64().unwrap() < whole["with_outcome"].as_u64().unwrap(), "{whole}");

    // By tenant: the admin's tenant_id filter, and a key bound to the tenant.
    for tenant in ["acme", "globex"] {
        let theirs: Vec<&Case> = cases.iter().filter(|c| c.tenant == tenant).collect();
        let query = format!("tenant_id={tenant}");
        let got = quality(&app, &app.admin_key, &model_id, &query, theirs.len() as u64).await;
        assert_close(&got, &expected_quality(&theirs), &format!("quality?{query}"));
        let bound = app.key(KeyScope::Read, Some(tenant)).await;
        let got = quality(&app, &bound, &model_id, "", theirs.len() as u64).await;
        assert_close(&got, &expected_quality(&theirs), &format!("quality as {tenant}"));
        let query =
            format!("tenant_id={tenant}&time_from={}&time_to={}", clock("2026-11-27", from), clock("2026-11-27", to));
        let windowed: Vec<&Case> = theirs.iter().copied().filter(|c| from <= c.at && c.at <= to).collect();
        let got = quality(&app, &app.admin_key, &model_id, &query, windowed.len() as u64).await;
        assert_close(&got, &expected_quality(&windowed), &format!("quality?{query}"));
    }

    // The other version counts only its own.
    let got = quality(&app, &app.admin_key, &other_model, "", 4).await;
    assert_eq!(got["with_outcome"], 4, "{got}");
    assert_eq!(got["classification"]["accuracy"].as_f64(), Some(0.0), "{got}");
    assert_eq!((got["reviewed"].as_u64(), got["overridden"].as_u64()), (Some(4), Some(4)), "{got}");
    assert_close(&got["regression"], &json!({"mae": 0.8, "rmse": 0.8, "count": 4}), "v2 regression");

    // A window with nothing in it.
    let got =
        quality(&app, &app.admin_key, &model_id, "time_from=2026-11-26T00:00:00Z&time_to=2026-11-26T23:59:59Z", 0)
            .await;
    assert_close(
        &got,
        &json!({"predictions": 0, "with_outcome": 0, "classification": null, "regression": null,
                "reviewed": 0, "overridden": 0}),
        "an empty window",
    );
}

async fn quality_of_an_unknown_model_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = app.record(&decided("m", "p-1", "approve")).await;
    outcome_created(&app, "p-1", &json!({"label": "approve", "source": "s"})).await;
    for model in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let response = app.get(&format!("/api/v1/models/{model}/quality"), &app.admin_key).await;
        let (code, _) = expect_error(response, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found", "{model}");
    }
    let model = stored["model"]["id"].as_str().unwrap();
    let got = quality(&app, &app.admin_key, model, "", 1).await;
    assert_eq!(got["with_outcome"], 1, "{got}");
    assert_eq!(got["classification"]["accuracy"].as_f64(), Some(1.0), "{got}");
    assert_eq!(got["classification"]["labels"]["approve"]["support"], 1, "{got}");
    assert!(got["regression"].is_null(), "no value, no regression: {got}");
    // A bad window is a 400 naming its parameter.
    for (query, parameter) in [("time_from=yesterday", "time_from"), ("time_to=2026-11-27T08:00:00", "time_to")] {
        let response = app.get(&format!("/api/v1/models/{model}/quality?{query}"), &app.admin_key).await;
        let (_, field) = expect_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(field.as_deref(), Some(parameter), "{query}");
    }
}
