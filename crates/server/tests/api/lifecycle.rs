//! Erasure and legal hold over HTTP (SPEC part 2, "Erasure, retention and legal hold"): what an
//! erasure takes and keeps, tenant binding, holds, an erasure racing writes of its subject, proofs
//! and checkpoints across an erasure, and `verify` against an attacker with a SQL shell who fakes,
//! forges or bends erasures.

use std::sync::Arc;
use std::time::Duration;

use ml_audit_core::auth::KeyScope;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::redaction::{Action, HashKey, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_core::timestamp;
use ml_audit_ledger::key::LedgerVerifier;
use ml_audit_ledger::verify::{Report, verify_exported_proof, verify_log};
use ml_audit_server::ServerSettings;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, expect_error};

on_both_backends!(
    erasing_a_subject_blanks_its_predictions_and_keeps_the_rest,
    an_unknown_subject_erases_nothing,
    erasing_an_actor_takes_its_predictions_only,
    erasing_listed_predictions_by_id_and_prediction_id,
    an_erased_prediction_takes_no_new_explanation,
    a_tenant_bound_admin_key_erases_only_in_its_tenant,
    a_legal_hold_refuses_an_erasure_until_released,
    malformed_erasures_and_holds_are_422_naming_the_field,
    an_erasure_racing_writes_of_its_subject_leaves_no_half_erased_prediction,
    proofs_and_checkpoints_stay_valid_across_an_erasure,
    verify_catches_a_record_blanked_without_an_erasure,
    verify_catches_an_erasure_inserted_behind_ml_audits_back,
    verify_catches_a_forged_erasure,
    verify_catches_a_kept_field_changed_after_erasure,
    verify_catches_a_kept_field_changed_after_erasure_with_its_commitment_dropped,
    verify_catches_an_erasure_of_a_held_record,
    the_database_still_refuses_careless_deletes_and_updates_after_erasures,
);

const HASH_KEY: &str = "lifecycle-test-pseudonym-key-0123456789";
const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

/// Pseudonymises `customer.email`, so that predictions have a subject.
fn hashing_policy() -> RedactionPolicy {
    let config =
        PolicyConfig { rules: vec![RuleConfig::new("customer.email", Action::Hash)], ..PolicyConfig::default() };
    RedactionPolicy::build(config, Some(HashKey::new(HASH_KEY).unwrap())).unwrap()
}

async fn spawn(backend: Backend) -> TestApp {
    // These scenarios count the ledger's leaves: reads, logged as they are answered, would add
    // theirs at times of their own (the access log has its own tests, access.rs).
    let settings = ServerSettings {
        redaction: hashing_policy(),
        ledger_schedule: ON_DEMAND_SEALING,
        access_log: false,
        ..ServerSettings::default()
    };
    TestApp::spawn_with(backend, settings).await
}

/// A full event about the person with `email`, asked for by `actor_id` of `tenant`, with an
/// inline explanation.
fn about(prediction_id: &str, email: &str, actor_id: &str, tenant: &str) -> Value {
    json!({
        "prediction_id": prediction_id,
        "model_name": "credit_risk", "model_version": "1.0.0", "framework": "sklearn",
        "features": {"customer": {"email": email, "segment": "retail"}, "age": 42, "income": 52000},
        "output": {"score": 0.73},
        "decision_outcome": "approve", "confidence": 0.73, "status": "success",
        "trace_id": format!("trace-{prediction_id}"), "environment": "prod", "latency_ms": 12.5,
        "metadata": {"channel": "web"}, "input_fingerprint": format!("fp-{prediction_id}"),
        "actor": {"actor_type": "user", "actor_id": actor_id, "tenant_id": tenant,
                  "ip_address": "203.0.113.7", "user_agent": "browser/1.0", "auth_context": {"role": "analyst"}},
        "explanation": {"method": "shap", "payload": {"income": 0.4}, "summary_text": "income mattered"},
    })
}

/// The same without an explanation.
fn unexplained(prediction_id: &str, email: &str, actor_id: &str, tenant: &str) -> Value {
    let mut body = about(prediction_id, email, actor_id, tenant);
    body.as_object_mut().unwrap().remove("explanation");
    body
}

fn by_subject(raw: &str) -> String {
    format!("/api/v1/predictions?subject={}", utf8_percent_encode(raw, NON_ALPHANUMERIC))
}

async fn json_of(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// `GET path` with the admin key; asserts 200.
async fn get_ok(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, &app.admin_key).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    json_of(response).await
}

async fn shown(app: &TestApp, id: &str) -> Value {
    get_ok(app, &format!("/api/v1/predictions/{id}")).await
}

async fn erase(app: &TestApp, key: &str, body: Value) -> Response {
    app.post("/api/v1/erasures", key, &body).await
}

/// Erases with the admin key; asserts 201 and returns the erasure.
async fn erased_by(app: &TestApp, body: Value) -> Value {
    let response = erase(app, &app.admin_key, body.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "erasing {body}");
    json_of(response).await
}

fn counts(erasure: &Value) -> (u64, u64) {
    (erasure["erased"]["predictions"].as_u64().unwrap(), erasure["erased"]["explanations"].as_u64().unwrap())
}

/// Asserts that `after` is `before` erased by `erasure` for `reason`: the personal content null,
/// what an erasure keeps unchanged.
#[track_caller]
fn assert_erased(after: &Value, before: &Value, erasure_id: &str, reason: &str) {
    let mark = &after["erased"];
    assert_eq!(mark["erasure_id"], erasure_id, "{after}");
    assert_eq!(mark["reason"], reason, "{after}");
    assert!(mark["at"].as_str().is_some_and(|at| timestamp::parse_rfc3339(at).is_ok()), "{after}");
    for field in [
        "prediction_id",
        "features",
        "output",
        "metadata",
        "trace_id",
        "environment",
        "input_fingerprint",
        "actor",
        "redactions",
        "metadata_redactions",
        "redaction_log",
        "latency_ms",
        "explanation",
    ] {
        assert!(after[field].is_null(), "{field} survived the erasure: {after}");
    }
    for field in ["id", "timestamp", "model", "tenant_id", "status", "decision_outcome", "confidence", "ledger"] {
        assert_eq!(after[field], before[field], "{field} was not kept: {after}");
    }
    assert!(!after["ledger"].is_null(), "an erased prediction keeps its leaf: {after}");
    let text = after.to_string();
    for gone in ["pii_", "203.0.113.7", "browser/1.0", "analyst", "52000", "trace-", "fp-", "web"] {
        assert!(!text.contains(gone), "{gone:?} survived the erasure: {after}");
    }
}

/// Asserts that a prediction about a subject is whole: its features, actor and explanation.
#[track_caller]
fn assert_intact(shown: &Value) {
    assert!(shown["erased"].is_null(), "{shown}");
    assert!(shown["prediction_id"].is_string(), "{shown}");
    assert_eq!(shown["features"]["age"], 42, "{shown}");
    assert_eq!(shown["features"]["income"], 52000, "{shown}");
    assert!(shown["features"]["customer"]["email"].as_str().is_some_and(|t| t.starts_with("pii_")), "{shown}");
    assert_eq!(shown["output"]["score"], 0.73, "{shown}");
    assert_eq!(shown["actor"]["ip_address"], "203.0.113.7", "{shown}");
    assert_eq!(shown["metadata"]["channel"], "web", "{shown}");
}

/// Every revision of a prediction's explanations, as the API lists them.
async fn revisions(app: &TestApp, id: &str) -> Vec<Value> {
    get_ok(app, &format!("/api/v1/predictions/{id}/explanations")).await["items"].as_array().unwrap().clone()
}

async fn checkpoint(app: &TestApp) -> Value {
    let response = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await
}

async fn verify(app: &TestApp) -> Report {
    let verifier = app.sealer.key().verifier().clone();
    verify_log(app.store.clone(), &verifier, None, &mut |_, _| {}).await.expect("verify runs")
}

/// Asserts that one of the report's problems says every one of `texts`.
#[track_caller]
fn assert_reported(report: &Report, texts: &[&str]) {
    assert!(
        report.problems.iter().any(|p| texts.iter().all(|text| p.message.contains(text))),
        "no problem says {texts:?}: {:?}",
        report.problems
    );
}

async fn ledger_size(app: &TestApp) -> u64 {
    app.store.ledger_size().await.unwrap()
}

fn id_of(prediction: &Value) -> String {
    prediction["id"].as_str().unwrap().to_owned()
}

fn hex_hash(value: &Value) -> Hash {
    hex::decode(value.as_str().unwrap()).unwrap().try_into().unwrap()
}

// ---------------------------------------------------------------------------------------------
// What an erasure takes and keeps

async fn erasing_a_subject_blanks_its_predictions_and_keeps_the_rest(backend: Backend) {
    let app = spawn(backend).await;
    let ann_1 = app.record(&about("ann-1", "Ann@Example.com", "u1", "acme")).await;
    let ann_2 = app.record(&about("ann-2", ANN, "u2", "acme")).await;
    let again = json!({"method": "lime", "payload": {"age": 0.2}, "summary_text": "age too"});
    let attached = app.post("/api/v1/predictions/ann-2/explanation", &app.admin_key, &again).await;
    assert_eq!(attached.status(), StatusCode::CREATED);
    let bob = app.record(&about("bob-1", BOB, "u1", "acme")).await;
    app.seal().await;
    let before: Vec<String> = [&ann_1, &ann_2, &bob].iter().map(|p| id_of(p)).collect();
    let mut originals = Vec::new();
    for id in &before {
        originals.push(shown(&app, id).await);
    }
    let size = ledger_size(&app).await;
    assert_eq!(size, 3 + 4, "three predictions, four explanation revisions");

    // A dry run counts (2 predictions, 3 revisions) and changes nothing.
    let reason = "GDPR Art. 17 request #1";
    let dry = erase(&app, &app.admin_key, json!({"subject": ANN, "reason": reason, "dry_run": true})).await;
    assert_eq!(dry.status(), StatusCode::OK);
    let dry = json_of(dry).await;
    assert_eq!(counts(&dry), (2, 3), "{dry}");
    assert_eq!((dry["erased"]["outcomes"].as_u64(), dry["erased"]["reviews"].as_u64()), (Some(0), Some(0)));
    assert!(dry["id"].is_null() && dry["ledger"].is_null(), "a dry run stores nothing: {dry}");
    for (id, original) in before.iter().zip(&originals) {
        assert_eq!(&shown(&app, id).await, original, "a dry run changed {id}");
    }
    assert_eq!(ledger_size(&app).await, size, "a dry run appends no leaf");
    assert_eq!(get_ok(&app, "/api/v1/erasures").await["items"], json!([]), "a dry run is not listed");
    assert_eq!(get_ok(&app, &by_subject(ANN)).await["items"].as_array().unwrap().len(), 2);

    // The real one: the same counts, and its own leaf.
    let erasure = erased_by(&app, json!({"subject": ANN, "reason": reason})).await;
    assert_eq!(counts(&erasure), (2, 3), "{erasure}");
    let erasure_id = erasure["id"].as_str().expect("an id").to_owned();
    assert_eq!(erasure["ledger"]["seq"], size, "the erasure is the next leaf: {erasure}");
    assert_eq!(erasure["ledger"]["leaf_hash"].as_str().unwrap().len(), 64);
    assert_eq!(erasure["reason"], reason);
    assert_eq!(ledger_size(&app).await, size + 1);

    for (id, original) in before.iter().zip(&originals).take(2) {
        let after = shown(&app, id).await;
        assert_erased(&after, original, &erasure_id, reason);
        // Every explanation revision is gone with it.
        for revision in revisions(&app, id).await {
            assert!(revision["payload"].is_null(), "an explanation survived: {revision}");
            assert!(!revision.to_string().contains("mattered"), "{revision}");
        }
        // Its proof is refused: its content is gone.
        let (code, _) = expect_error(
            app.get(&format!("/api/v1/predictions/{id}/proof"), &app.admin_key).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(code, "erased");
    }
    // The prediction_id no longer finds it, and a retry does not bring it back.
    for (pid, email, actor) in [("ann-1", "Ann@Example.com", "u1"), ("ann-2", ANN, "u2")] {
        let (code, _) =
            expect_error(app.get(&format!("/api/v1/predictions/{pid}"), &app.admin_key).await, StatusCode::NOT_FOUND)
                .await;
        assert_eq!(code, "not_found");
        let retry = app.post("/api/v1/predictions", &app.admin_key, &about(pid, email, actor, "acme")).await;
        let (code, _) = expect_error(retry, StatusCode::CONFLICT).await;
        assert_eq!(code, "erased", "a retry of {pid}");
        let batch = json!({"events": [about(pid, email, actor, "acme")]});
        let results = json_of(app.post("/api/v1/predictions/batch", &app.admin_key, &batch).await).await;
        assert_eq!(results["results"][0]["status"], 409, "a batched retry of {pid}: {results}");
        assert_eq!(results["results"][0]["error"]["code"], "erased", "{results}");
    }
    assert_eq!(get_ok(&app, &by_subject(ANN)).await["items"], json!([]), "the subject's tokens are gone");
    // Bob is untouched.
    assert_eq!(shown(&app, &before[2]).await, originals[2]);
    assert_intact(&originals[2]);
    assert_eq!(get_ok(&app, &by_subject(BOB)).await["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/predictions/bob-1", &app.admin_key).await.status(), StatusCode::OK);
    // Listing still counts the erased predictions (kept fields), without their content.
    let listed = app.all_predictions().await;
    assert_eq!(listed.len(), 3);
    assert!(!serde_json::to_string(&listed).unwrap().contains("\"ann-1\""));

    // It is listed, newest first.
    let listed = get_ok(&app, "/api/v1/erasures").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], erasure_id.as_str());
    assert_eq!(items[0]["erased"], erasure["erased"]);
    assert_eq!(items[0]["ledger"], erasure["ledger"]);
    assert_eq!(items[0]["reason"], reason);

    // Erasing the subject again finds nothing left to erase.
    let twice = erased_by(&app, json!({"subject": ANN, "reason": "again"})).await;
    assert_eq!(counts(&twice), (0, 0), "{twice}");

    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.erased, 2 + 3, "{report:?}");
    assert_eq!(report.intact, 1 + 1, "bob-1 and its explanation: {report:?}");
    assert_eq!(report.life_events, 2, "two erasures: {report:?}");
    assert_eq!(report.leaves, size + 2);
}

async fn an_unknown_subject_erases_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let ann = app.record(&about("ann-1", ANN, "u1", "acme")).await;
    app.seal().await;
    let original = shown(&app, &id_of(&ann)).await;
    let size = ledger_size(&app).await;
    let erasure = erased_by(&app, json!({"subject": "nobody@example.com", "reason": "a request"})).await;
    assert_eq!(counts(&erasure), (0, 0), "{erasure}");
    assert_eq!((erasure["erased"]["outcomes"].as_u64(), erasure["erased"]["reviews"].as_u64()), (Some(0), Some(0)));
    assert_eq!(erasure["ledger"]["seq"], size, "the request is on record all the same");
    assert_eq!(shown(&app, &id_of(&ann)).await, original);
    // An unknown actor or a subject that is a token, not a raw value, finds nothing either.
    let token = original["features"]["customer"]["email"].as_str().unwrap();
    let erasure = erased_by(&app, json!({"subject": token, "reason": "a token is not a raw value"})).await;
    assert_eq!(counts(&erasure), (0, 0));
    let actor = json!({"actor_type": "user", "actor_id": "nobody", "tenant_id": "acme"});
    let erasure = erased_by(&app, json!({"actor": actor, "reason": "unknown actor"})).await;
    assert_eq!(counts(&erasure), (0, 0));
    assert_eq!(shown(&app, &id_of(&ann)).await, original);
    assert!(verify(&app).await.intact());
}

async fn erasing_an_actor_takes_its_predictions_only(backend: Backend) {
    let app = spawn(backend).await;
    let mut theirs = Vec::new();
    for i in 0..3 {
        theirs.push(app.record(&unexplained(&format!("u7-{i}"), &format!("c{i}@example.com"), "u7", "acme")).await);
    }
    let other = app.record(&unexplained("u8-0", "c9@example.com", "u8", "acme")).await;
    let namesake = app.record(&unexplained("u7-globex", "c8@example.com", "u7", "globex")).await;
    app.seal().await;
    let mut originals = Vec::new();
    for p in theirs.iter().chain([&other, &namesake]) {
        originals.push(shown(&app, &id_of(p)).await);
    }
    let actor = json!({"actor_type": "user", "actor_id": "u7", "tenant_id": "acme"});
    let dry = erase(&app, &app.admin_key, json!({"actor": actor, "reason": "r", "dry_run": true})).await;
    assert_eq!(dry.status(), StatusCode::OK);
    assert_eq!(counts(&json_of(dry).await), (3, 0));
    let erasure = erased_by(&app, json!({"actor": actor, "reason": "actor left"})).await;
    assert_eq!(counts(&erasure), (3, 0), "{erasure}");
    let erasure_id = erasure["id"].as_str().unwrap();
    for (p, original) in theirs.iter().zip(&originals) {
        assert_erased(&shown(&app, &id_of(p)).await, original, erasure_id, "actor left");
    }
    // Another actor of the tenant, and an actor of the same id in another tenant, are untouched.
    assert_eq!(shown(&app, &id_of(&other)).await, originals[3]);
    assert_eq!(shown(&app, &id_of(&namesake)).await, originals[4]);
    assert_intact(&originals[4]);
    let by_actor = get_ok(&app, "/api/v1/predictions?actor_id=u7").await;
    let found: Vec<&Value> = by_actor["items"].as_array().unwrap().iter().collect();
    assert_eq!(found.len(), 1, "only the globex namesake still answers to u7: {by_actor}");
    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!((report.erased, report.intact, report.life_events), (3, 2, 1), "{report:?}");
}

async fn erasing_listed_predictions_by_id_and_prediction_id(backend: Backend) {
    let app = spawn(backend).await;
    let a = app.record(&about("a", ANN, "u1", "acme")).await;
    let b = app.record(&unexplained("b", ANN, "u1", "acme")).await;
    let c = app.record(&about("c", ANN, "u1", "acme")).await;
    app.seal().await;
    let originals = [shown(&app, &id_of(&a)).await, shown(&app, &id_of(&b)).await, shown(&app, &id_of(&c)).await];
    let size = ledger_size(&app).await;

    // One unknown ref fails the whole request: nothing erased.
    let body = json!({"predictions": [id_of(&a), "no-such-prediction"], "reason": "r"});
    let (code, _) = expect_error(erase(&app, &app.admin_key, body).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    assert_eq!(shown(&app, &id_of(&a)).await, originals[0]);
    assert_eq!(ledger_size(&app).await, size);

    let erasure = erased_by(&app, json!({"predictions": [id_of(&a), "b"], "reason": "listed"})).await;
    assert_eq!(counts(&erasure), (2, 1), "a with its explanation, and b: {erasure}");
    let erasure_id = erasure["id"].as_str().unwrap();
    assert_erased(&shown(&app, &id_of(&a)).await, &originals[0], erasure_id, "listed");
    assert_erased(&shown(&app, &id_of(&b)).await, &originals[1], erasure_id, "listed");
    assert_eq!(shown(&app, &id_of(&c)).await, originals[2]);
    assert_intact(&originals[2]);
    // A listed ref that is already erased: by id it is found and erases nothing more; by its
    // old prediction_id it is not found.
    let again = erased_by(&app, json!({"predictions": [id_of(&a)], "reason": "again"})).await;
    assert_eq!(counts(&again), (0, 0));
    let (code, _) = expect_error(
        erase(&app, &app.admin_key, json!({"predictions": ["b"], "reason": "r"})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!((report.erased, report.intact, report.life_events), (3, 2, 2), "{report:?}");
}

/// An erased prediction's explanations are erased with it; a revision attached afterwards (a
/// late explanation job, a retried attach) would bring the subject's content back beside the
/// erased record, so it is refused like a retry of the prediction itself.
async fn an_erased_prediction_takes_no_new_explanation(backend: Backend) {
    let app = spawn(backend).await;
    let doomed = app.record(&about("doomed", ANN, "u1", "acme")).await;
    erased_by(&app, json!({"subject": ANN, "reason": "request"})).await;
    let late = json!({"method": "shap", "payload": {"income": 0.9}, "summary_text": "income, again"});
    let path = format!("/api/v1/predictions/{}/explanation", id_of(&doomed));
    let response = app.post(&path, &app.admin_key, &late).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "attached to an erased prediction: {body}");
    assert!(body.contains("\"erased\""), "{body}");
    for revision in revisions(&app, &id_of(&doomed)).await {
        assert!(revision["payload"].is_null(), "content is back beside the erased record: {revision}");
    }
}

async fn a_tenant_bound_admin_key_erases_only_in_its_tenant(backend: Backend) {
    let app = spawn(backend).await;
    let acme = app.record(&about("acme-1", ANN, "u1", "acme")).await;
    let globex = app.record(&about("globex-1", ANN, "u1", "globex")).await;
    app.seal().await;
    let globex_before = shown(&app, &id_of(&globex)).await;
    let acme_before = shown(&app, &id_of(&acme)).await;
    let acme_admin = app.key(KeyScope::Admin, Some("acme")).await;

    // Another tenant's prediction, by id or prediction_id: not found.
    for reference in [id_of(&globex), "globex-1".to_owned()] {
        let body = json!({"predictions": [reference], "reason": "r"});
        expect_error(erase(&app, &acme_admin, body).await, StatusCode::NOT_FOUND).await;
    }
    // Another tenant's actor: forbidden.
    let actor = json!({"actor_type": "user", "actor_id": "u1", "tenant_id": "globex"});
    expect_error(erase(&app, &acme_admin, json!({"actor": actor, "reason": "r"})).await, StatusCode::FORBIDDEN).await;
    // Read and ingest keys may not erase at all.
    for scope in [KeyScope::Read, KeyScope::Ingest] {
        let key = app.key(scope, None).await;
        let body = json!({"predictions": ["acme-1"], "reason": "r"});
        expect_error(erase(&app, &key, body).await, StatusCode::FORBIDDEN).await;
        expect_error(app.get("/api/v1/erasures", &key).await, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(shown(&app, &id_of(&globex)).await, globex_before);

    // A subject shared across tenants: the bound key erases its own tenant's only.
    let response = erase(&app, &acme_admin, json!({"subject": ANN, "reason": "acme's request"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let erasure = json_of(response).await;
    assert_eq!(counts(&erasure), (1, 1), "{erasure}");
    assert_eq!(erasure["tenant_id"], "acme");
    assert_erased(&shown(&app, &id_of(&acme)).await, &acme_before, erasure["id"].as_str().unwrap(), "acme's request");
    assert_eq!(shown(&app, &id_of(&globex)).await, globex_before);

    // Its own actor is allowed; the unbound key's erasure is not listed to the bound key.
    let own = json!({"actor_type": "user", "actor_id": "u1", "tenant_id": "acme"});
    assert_eq!(erase(&app, &acme_admin, json!({"actor": own, "reason": "r"})).await.status(), StatusCode::CREATED);
    let unbound = erased_by(&app, json!({"predictions": ["globex-1"], "reason": "globex's request"})).await;
    assert!(unbound["tenant_id"].is_null(), "{unbound}");
    let theirs = get_ok(&app, "/api/v1/erasures").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 3, "the unbound key sees every erasure: {theirs}");
    assert_eq!(theirs["items"][0]["id"], unbound["id"], "newest first: {theirs}");
    let response = app.get("/api/v1/erasures", &acme_admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = json_of(response).await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "acme's own erasures only: {listed}");
    assert!(items.iter().all(|e| e["tenant_id"] == "acme"), "{listed}");
    checkpoint(&app).await;
    assert!(verify(&app).await.intact());
}

// ---------------------------------------------------------------------------------------------
// Legal holds

async fn a_legal_hold_refuses_an_erasure_until_released(backend: Backend) {
    let app = spawn(backend).await;
    let held = app.record(&about("held", ANN, "u1", "acme")).await;
    let free = app.record(&unexplained("free", BOB, "u2", "acme")).await;
    app.seal().await;
    let held_before = shown(&app, &id_of(&held)).await;
    let free_before = shown(&app, &id_of(&free)).await;

    let response =
        app.post("/api/v1/holds", &app.admin_key, &json!({"reason": "litigation #4", "predictions": ["held"]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let hold = json_of(response).await;
    let hold_id = hold["id"].as_str().expect("an id").to_owned();
    assert_eq!(hold["predictions"], json!([id_of(&held)]), "refs are kept as ids: {hold}");
    assert_eq!(hold["active"], true);
    assert!(hold["released"].is_null());
    assert_eq!(hold["ledger"]["leaf_hash"].as_str().unwrap().len(), 64, "a hold is a leaf: {hold}");
    let size = ledger_size(&app).await;

    // Any erasure reaching the held record is refused whole, naming the hold.
    for body in [
        json!({"predictions": ["free", "held"], "reason": "r"}),
        json!({"subject": ANN, "reason": "r"}),
        json!({"actor": {"actor_type": "user", "actor_id": "u1", "tenant_id": "acme"}, "reason": "r"}),
        json!({"subject": ANN, "reason": "r", "dry_run": true}),
    ] {
        let response = erase(&app, &app.admin_key, body.clone()).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{body}");
        let error = json_of(response).await;
        assert_eq!(error["error"]["code"], "held", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(&hold_id), "names the hold: {error}");
    }
    assert_eq!(shown(&app, &id_of(&held)).await, held_before);
    assert_eq!(shown(&app, &id_of(&free)).await, free_before, "nothing was erased");
    assert_eq!(get_ok(&app, "/api/v1/erasures").await["items"], json!([]));
    assert_eq!(ledger_size(&app).await, size, "a refused erasure appends nothing");
    // What the hold does not cover is erasable.
    let erasure = erased_by(&app, json!({"predictions": ["free"], "reason": "r"})).await;
    assert_eq!(counts(&erasure), (1, 0));

    // A hold on a tenant covers its records too.
    let response = app.post("/api/v1/holds", &app.admin_key, &json!({"reason": "audit", "tenant_id": "acme"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tenant_hold = json_of(response).await;
    let listed = get_ok(&app, "/api/v1/holds").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["items"][0]["id"], tenant_hold["id"], "newest first: {listed}");

    // Released: 200, with the release; twice: 409.
    let path = format!("/api/v1/holds/{hold_id}/release");
    let response = app.post(&path, &app.admin_key, &json!({"reason": "case closed"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let released = json_of(response).await;
    assert_eq!(released["released"]["reason"], "case closed", "{released}");
    assert_eq!(released["active"], false);
    let (code, _) =
        expect_error(app.post(&path, &app.admin_key, &json!({"reason": "again"})).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "conflict");
    let unknown = format!("/api/v1/holds/{}/release", Uuid::now_v7());
    expect_error(app.post(&unknown, &app.admin_key, &json!({"reason": "r"})).await, StatusCode::NOT_FOUND).await;

    // The tenant hold still stands.
    let response = erase(&app, &app.admin_key, json!({"predictions": ["held"], "reason": "r"})).await;
    let error = json_of(response).await;
    assert_eq!(error["error"]["code"], "held", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains(tenant_hold["id"].as_str().unwrap()), "{error}");
    let path = format!("/api/v1/holds/{}/release", tenant_hold["id"].as_str().unwrap());
    assert_eq!(app.post(&path, &app.admin_key, &json!({"reason": "done"})).await.status(), StatusCode::OK);

    let erasure = erased_by(&app, json!({"predictions": ["held"], "reason": "after the case"})).await;
    assert_eq!(counts(&erasure), (1, 1));
    assert_erased(&shown(&app, &id_of(&held)).await, &held_before, erasure["id"].as_str().unwrap(), "after the case");

    // A tenant-bound key sees only its tenant's holds, and cannot hold another tenant.
    let globex_admin = app.key(KeyScope::Admin, Some("globex")).await;
    let listed = json_of(app.get("/api/v1/holds", &globex_admin).await).await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let other = json!({"reason": "r", "tenant_id": "acme"});
    expect_error(app.post("/api/v1/holds", &globex_admin, &other).await, StatusCode::FORBIDDEN).await;

    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.life_events, 2 + 2 + 2, "two holds, two releases, two erasures: {report:?}");
    assert_eq!(report.erased, 1 + 2, "{report:?}");
}

async fn malformed_erasures_and_holds_are_422_naming_the_field(backend: Backend) {
    let app = spawn(backend).await;
    app.record(&about("p", ANN, "u1", "acme")).await;
    app.seal().await;
    let size = ledger_size(&app).await;
    let cases = [
        ("/api/v1/erasures", json!({"reason": "no selector"}), "subject"),
        ("/api/v1/erasures", json!({"reason": "empty", "predictions": []}), "subject"),
        ("/api/v1/erasures", json!({"subject": ANN}), "reason"),
        ("/api/v1/erasures", json!({"subject": ANN, "reason": ""}), "reason"),
        ("/api/v1/erasures", json!({"subject": ANN, "reason": "r", "dry_run": "yes"}), "dry_run"),
        ("/api/v1/erasures", json!({"subject": ANN, "reason": "r", "surprise": 1}), "surprise"),
        ("/api/v1/erasures", json!({"predictions": [""], "reason": "r"}), "predictions[0]"),
        ("/api/v1/erasures", json!({"actor": {"actor_id": "u1"}, "reason": "r"}), "actor.actor_type"),
        ("/api/v1/holds", json!({"reason": "no scope"}), "tenant_id"),
        ("/api/v1/holds", json!({"tenant_id": "acme"}), "reason"),
        ("/api/v1/holds", json!({"reason": "r", "tenant_id": "acme", "until": "2020-01-01T00:00:00Z"}), "until"),
        ("/api/v1/holds", json!({"reason": "r", "tenant_id": "acme", "until": "2030-01-01T00:00:00"}), "until"),
    ];
    for (path, body, field) in cases {
        let response = app.post(path, &app.admin_key, &body).await;
        let (_, named) = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(named.as_deref(), Some(field), "POST {path} {body}");
    }
    let hold =
        json_of(app.post("/api/v1/holds", &app.admin_key, &json!({"reason": "r", "tenant_id": "acme"})).await).await;
    let path = format!("/api/v1/holds/{}/release", hold["id"].as_str().unwrap());
    let (_, named) =
        expect_error(app.post(&path, &app.admin_key, &json!({})).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named.as_deref(), Some("reason"));
    // A subject needs the hash key: a server without one says so.
    let plain = TestApp::spawn(backend).await;
    let response = plain.post("/api/v1/erasures", &plain.admin_key, &json!({"subject": ANN, "reason": "r"})).await;
    let (_, named) = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(named.as_deref(), Some("subject"));
    // Nothing was stored by a rejected request (the one hold is the only new leaf).
    assert_eq!(ledger_size(&app).await, size + 1);
    assert_eq!(get_ok(&app, "/api/v1/erasures").await["items"], json!([]));
    assert_eq!(get_ok(&app, "/api/v1/holds").await["items"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// An erasure racing writes

async fn an_erasure_racing_writes_of_its_subject_leaves_no_half_erased_prediction(backend: Backend) {
    let app = Arc::new(spawn(backend).await);
    let (writers, each) = (8, 12);
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..each {
                    let body = about(&format!("race-{writer}-{i}"), ANN, &format!("w{writer}"), "acme");
                    let response = app.post("/api/v1/predictions", &app.admin_key, &body).await;
                    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
                    ids.push(id_of(&json_of(response).await));
                }
                ids
            })
        })
        .collect();
    // Erasures of the subject, one after another, for as long as the writers write.
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let eraser = {
        let (app, writing) = (app.clone(), writing.clone());
        tokio::spawn(async move {
            let (mut erased, mut during, mut rounds) = (0, 0, 0);
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if !writing.load(std::sync::atomic::Ordering::SeqCst) {
                    return (erased, during, rounds);
                }
                let body = json!({"subject": ANN, "reason": format!("round {rounds}")});
                rounds += 1;
                let response = erase(&app, &app.admin_key, body).await;
                assert_eq!(response.status(), StatusCode::CREATED);
                let erasure = json_of(response).await;
                let (predictions, explanations) = counts(&erasure);
                assert_eq!(predictions, explanations, "each prediction goes with its explanation: {erasure}");
                erased += predictions;
                during += u64::from(predictions > 0);
            }
        })
    };
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    let (erased_total, erased_during, rounds) = eraser.await.unwrap();
    assert!(erased_during >= 1, "an erasure took predictions while the writers wrote");
    assert_eq!(ids.len(), writers * each);

    let (mut erased, mut intact) = (0, 0);
    for id in &ids {
        let shown = shown(&app, id).await;
        let revisions = revisions(&app, id).await;
        assert_eq!(revisions.len(), 1, "{revisions:?}");
        if shown["erased"].is_null() {
            assert_intact(&shown);
            assert_eq!(shown["explanation"]["payload"]["income"], 0.4, "{shown}");
            assert_eq!(revisions[0]["payload"]["income"], 0.4, "{revisions:?}");
            intact += 1;
        } else {
            for field in ["prediction_id", "features", "output", "metadata", "actor", "explanation", "trace_id"] {
                assert!(shown[field].is_null(), "half erased: {field} survived: {shown}");
            }
            assert!(!shown.to_string().contains("pii_"), "{shown}");
            assert!(revisions[0]["payload"].is_null(), "half erased: the explanation survived: {revisions:?}");
            erased += 1;
        }
    }
    assert_eq!(erased, erased_total, "every erased prediction was counted by one erasure");
    let listed = get_ok(&app, &format!("{}&limit=1000", by_subject(ANN))).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), intact, "the intact ones, and only they, keep the subject");
    // One more erasure takes whatever the race left.
    let last = erased_by(&app, json!({"subject": ANN, "reason": "the rest"})).await;
    assert_eq!(counts(&last).0, intact as u64);
    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.erased, 2 * ids.len() as u64, "{report:?}");
    assert_eq!(report.intact, 0);
    assert_eq!(report.life_events, rounds + 1);
}

// ---------------------------------------------------------------------------------------------
// Proofs across an erasure

async fn proofs_and_checkpoints_stay_valid_across_an_erasure(backend: Backend) {
    let app = spawn(backend).await;
    for i in 0..5 {
        let email = if i == 1 { ANN.to_owned() } else { format!("other{i}@example.com") };
        app.record(&about(&format!("p-{i}"), &email, "u1", "acme")).await;
    }
    let old = checkpoint(&app).await;
    let verifier =
        LedgerVerifier::from_vkey(get_ok(&app, "/api/v1/ledger/public-key").await["vkey"].as_str().unwrap()).unwrap();
    let old_note = old["note"].as_str().unwrap().to_owned();
    let unrelated = get_ok(&app, "/api/v1/predictions/p-3/proof").await;
    let doomed = get_ok(&app, "/api/v1/predictions/p-1/proof").await;
    assert_eq!(unrelated["tree_size"], old["tree_size"]);
    verify_exported_proof(&unrelated, &old_note, &verifier).expect("verifies before the erasure");
    let doomed_id = doomed["record"]["id"].as_str().unwrap().to_owned();

    let erasure = erased_by(&app, json!({"subject": ANN, "reason": "request"})).await;
    assert_eq!(counts(&erasure), (1, 1));
    for i in 0..3 {
        app.record(&about(&format!("after-{i}"), BOB, "u1", "acme")).await;
    }
    let new = checkpoint(&app).await;
    let new_note = new["note"].as_str().unwrap().to_owned();
    let (m, n) = (old["tree_size"].as_u64().unwrap(), new["tree_size"].as_u64().unwrap());
    assert_eq!(n, m + 1 + 3 * 2, "the erasure's leaf and three explained predictions were appended");

    // Proofs taken before the erasure still verify against the checkpoint they were taken at,
    // the erased record's own included: its leaf stays.
    verify_exported_proof(&unrelated, &old_note, &verifier).expect("the unrelated record, after the erasure");
    verify_exported_proof(&doomed, &old_note, &verifier).expect("the erased record's old proof");
    // The unrelated record is proven against the checkpoint signed after the erasure by the
    // same leaf, and its old proof is what the server gives for the old tree size.
    let fresh = get_ok(&app, "/api/v1/predictions/p-3/proof").await;
    assert_eq!(fresh["tree_size"], n);
    for field in ["leaf_index", "leaf_hash", "leaf_data", "record", "salt"] {
        assert_eq!(fresh[field], unrelated[field], "{field} changed across the erasure");
    }
    let signed = verify_exported_proof(&fresh, &new_note, &verifier).expect("verifies after the erasure");
    assert_eq!(signed.tree_size, n);
    let mut moved = unrelated.clone();
    moved["tree_size"] = json!(n);
    moved["inclusion_path"] = fresh["inclusion_path"].clone();
    verify_exported_proof(&moved, &new_note, &verifier).expect("the old record and leaf, on the new path");
    let at_old = get_ok(&app, &format!("/api/v1/predictions/p-3/proof?tree_size={m}")).await;
    assert_eq!(at_old, unrelated);
    // The erased record has no proof any more, but its leaf is where it was.
    let (code, _) = expect_error(
        app.get(&format!("/api/v1/predictions/{doomed_id}/proof"), &app.admin_key).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "erased");
    let after = shown(&app, &doomed_id).await;
    assert_eq!(after["ledger"]["seq"], doomed["leaf_index"]);
    assert_eq!(after["ledger"]["leaf_hash"], doomed["leaf_hash"]);

    // The log after the erasure extends the log before it.
    let proof = get_ok(&app, &format!("/api/v1/ledger/consistency?from={m}&to={n}")).await;
    let path: Vec<Hash> = proof["proof"].as_array().unwrap().iter().map(hex_hash).collect();
    merkle::verify_consistency(m, n, &hex_hash(&old["root_hash"]), &hex_hash(&new["root_hash"]), &path)
        .expect("the checkpoints are consistent across the erasure");

    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.checkpoints, 2);
    assert_eq!((report.intact, report.erased, report.life_events), (4 * 2 + 3 * 2, 2, 1), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// verify against a SQL shell

/// Exactly what an erasure leaves of a prediction (what the triggers of migration 0008 accept).
const BLANK: &str = "UPDATE predictions SET features = 'null', output = 'null', metadata = 'null',
    redactions = '[]', metadata_redactions = '[]', redaction_log = '[]', trace_id = '', environment = '',
    input_fingerprint = '', content_hash = '', actor_ref = NULL, actor_ip = NULL, actor_user_agent = '',
    actor_auth_context = NULL, latency_ms = NULL, salt = NULL";

/// Five predictions (`p-0` … `p-4`, the even ones explained; `p-1` about Ann), sealed and
/// checkpointed.
async fn filled(backend: Backend) -> (TestApp, Vec<Value>) {
    let app = spawn(backend).await;
    let mut stored = Vec::new();
    for i in 0..5 {
        let pid = format!("p-{i}");
        let email = if i == 1 { ANN.to_owned() } else { format!("c{i}@example.com") };
        let body = if i % 2 == 0 { about(&pid, &email, "u1", "acme") } else { unexplained(&pid, &email, "u1", "acme") };
        app.record(&body).await;
    }
    checkpoint(&app).await;
    for i in 0..5 {
        stored.push(shown(&app, &format!("p-{i}")).await);
    }
    (app, stored)
}

/// Builds and runs the same query on whichever pool the shell holds.
macro_rules! on_pool {
    ($shell:expr, |$pool:ident| $query:expr) => {
        match $shell {
            Shell::Sqlite($pool) => $query,
            Shell::Postgres($pool) => $query,
        }
    };
}

/// A SQL shell on the database, beside the server.
enum Shell {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Shell {
    async fn connect(app: &TestApp) -> Shell {
        match app.backend {
            Backend::Sqlite => {
                // Foreign keys off, as a shell of one's own may have them.
                let options = app.db_url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().foreign_keys(false);
                Shell::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap())
            }
            Backend::Postgres => Shell::Postgres(sqlx::PgPool::connect(&app.db_url).await.unwrap()),
        }
    }

    /// Takes the append-only triggers out of the way (SQLite: drops them; PostgreSQL: disables
    /// them).
    async fn unlock(&self) {
        match self {
            Shell::Sqlite(pool) => {
                let triggers: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for trigger in triggers {
                    self.run(&format!("DROP TRIGGER {trigger}")).await;
                }
            }
            Shell::Postgres(_) => {
                for table in [
                    "predictions",
                    "explanations",
                    "prediction_subjects",
                    "erasures",
                    "erased_records",
                    "holds",
                    "hold_releases",
                    "ledger_entries",
                ] {
                    self.run(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
                }
                self.run("ALTER TABLE erased_records DROP CONSTRAINT erased_records_erasure_ref_fkey").await;
            }
        }
    }

    async fn try_run(&self, sql: &str) -> Result<u64, String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_pool!(self, |pool| sqlx::query(sql).execute(pool).await.map(|done| done.rows_affected()))
            .map_err(|e| e.to_string())
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_all(pool).await).unwrap()
    }

    async fn run(&self, sql: &str) {
        let changed = self.try_run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(changed > 0 || sql.starts_with("DROP") || sql.starts_with("ALTER"), "{sql} changed nothing");
    }

    /// A UUID as a literal of this database.
    fn uuid(&self, id: &str) -> String {
        let id = Uuid::parse_str(id).unwrap();
        match self {
            Shell::Sqlite(_) => format!("X'{}'", id.simple()),
            Shell::Postgres(_) => format!("'{id}'::uuid"),
        }
    }

    /// The time now as a literal of this database.
    fn now(&self) -> String {
        let now = timestamp::now();
        match self {
            Shell::Sqlite(_) => timestamp::to_unix_micros(now).to_string(),
            Shell::Postgres(_) => format!("'{}'::timestamptz", timestamp::format_rfc3339(now)),
        }
    }
}

async fn verify_catches_a_record_blanked_without_an_erasure(backend: Backend) {
    let (app, stored) = filled(backend).await;
    let shell = Shell::connect(&app).await;
    shell.unlock().await;
    let (features_only, blanked) = (id_of(&stored[3]), id_of(&stored[4]));
    shell.run(&format!("UPDATE predictions SET features = 'null' WHERE id = {}", shell.uuid(&features_only))).await;
    shell.run(&format!("{BLANK} WHERE id = {}", shell.uuid(&blanked))).await;
    let report = verify(&app).await;
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert_reported(&report, &[&features_only, "altered"]);
    assert_reported(&report, &[&blanked, "altered"]);
}

async fn verify_catches_an_erasure_inserted_behind_ml_audits_back(backend: Backend) {
    let (app, stored) = filled(backend).await;
    let victim = &stored[3];
    let seq = victim["ledger"]["seq"].as_u64().unwrap();
    // An erasure row and an `erased_records` row can be inserted by hand, but the triggers let a
    // record be blanked only when the erasure's leaf is in the ledger: with them in place the
    // blanking is refused; with them dropped, verify catches it.
    let shell = Shell::connect(&app).await;
    let forged = Uuid::now_v7().to_string();
    shell
        .run(&format!(
            "INSERT INTO erasures (id, reason, subject, actor_ref, tenant_id, seqs, unsalted, predictions, \
             explanations, outcomes, reviews, created_at) \
             VALUES ({}, 'quietly', NULL, NULL, NULL, '[{seq}]', '[]', 1, 0, 0, 0, {})",
            shell.uuid(&forged),
            shell.now()
        ))
        .await;
    shell
        .run(&format!(
            "INSERT INTO erased_records (record_id, erasure_ref, commitment) VALUES ({}, {}, NULL)",
            shell.uuid(&id_of(victim)),
            shell.uuid(&forged)
        ))
        .await;
    let refused = shell.try_run(&format!("{BLANK} WHERE id = {}", shell.uuid(&id_of(victim)))).await;
    assert!(refused.is_err_and(|e| e.contains("append-only")), "blanked without a sealed erasure");
    shell.unlock().await;
    shell.run(&format!("{BLANK} WHERE id = {}", shell.uuid(&id_of(victim)))).await;
    let after = shown(&app, &id_of(victim)).await;
    assert!(after["features"].is_null() && after["erased"]["erasure_id"] == forged.as_str(), "{after}");

    let report = verify(&app).await;
    assert!(!report.intact());
    assert_reported(&report, &["erasure", &forged, "not in the ledger"]);

    // The same with an erased_records row naming an erasure that is not stored at all.
    let (app, stored) = filled(backend).await;
    let victim = &stored[2];
    let shell = Shell::connect(&app).await;
    shell.unlock().await;
    let ghost = Uuid::now_v7().to_string();
    shell
        .run(&format!(
            "INSERT INTO erased_records (record_id, erasure_ref, commitment) VALUES ({}, {}, NULL)",
            shell.uuid(&id_of(victim)),
            shell.uuid(&ghost)
        ))
        .await;
    shell.run(&format!("{BLANK} WHERE id = {}", shell.uuid(&id_of(victim)))).await;
    let report = verify(&app).await;
    assert_reported(&report, &[&id_of(victim), &ghost, "not stored"]);
}

async fn verify_catches_a_forged_erasure(backend: Backend) {
    let (app, stored) = filled(backend).await;
    let first = erased_by(&app, json!({"predictions": ["p-0", "p-1"], "reason": "request A"})).await;
    let second = erased_by(&app, json!({"predictions": ["p-2", "p-3"], "reason": "request B"})).await;
    assert_eq!(counts(&first), (2, 1));
    checkpoint(&app).await;
    assert!(verify(&app).await.intact());
    let (first_id, second_id) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());
    let shell = Shell::connect(&app).await;
    shell.unlock().await;
    // The first erasure's reason rewritten; the second made to look as if it spared p-3.
    shell.run(&format!("UPDATE erasures SET reason = 'routine' WHERE id = {}", shell.uuid(first_id))).await;
    let seqs = shell.texts(&format!("SELECT seqs FROM erasures WHERE id = {}", shell.uuid(second_id))).await;
    let mut seqs: Vec<u64> = serde_json::from_str(&seqs[0]).unwrap();
    assert_eq!(seqs.len(), 3, "p-2, its explanation and p-3: {seqs:?}");
    let spared = stored[3]["ledger"]["seq"].as_u64().unwrap();
    seqs.retain(|seq| *seq != spared);
    let seqs = serde_json::to_string(&seqs).unwrap();
    shell.run(&format!("UPDATE erasures SET seqs = '{seqs}' WHERE id = {}", shell.uuid(second_id))).await;
    let report = verify(&app).await;
    assert_reported(&report, &["erasure", first_id, "altered"]);
    assert_reported(&report, &["erasure", second_id, "altered"]);
    assert_reported(&report, &[&id_of(&stored[3]), second_id, "does not name it"]);
}

async fn verify_catches_a_kept_field_changed_after_erasure(backend: Backend) {
    let (app, stored) = filled(backend).await;
    let erasure = erased_by(&app, json!({"subject": ANN, "reason": "request"})).await;
    assert_eq!(counts(&erasure), (1, 0));
    checkpoint(&app).await;
    assert!(verify(&app).await.intact());
    let shell = Shell::connect(&app).await;
    // With the triggers in place, a kept field of an erased record cannot be changed.
    let change =
        format!("UPDATE predictions SET decision_outcome = 'deny' WHERE id = {}", shell.uuid(&id_of(&stored[1])));
    let refused = shell.try_run(&change).await.expect_err("the trigger refuses");
    assert!(refused.contains("append-only"), "{refused}");
    shell.unlock().await;
    shell.run(&change).await;
    let report = verify(&app).await;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_reported(&report, &["erased prediction", &id_of(&stored[1]), "altered"]);
}

/// The commitment an erasure keeps is what lets `verify` check an erased v2 record's kept
/// fields; dropping it (setting it NULL, as for a v1 record) must not make a change to them
/// invisible.
async fn verify_catches_a_kept_field_changed_after_erasure_with_its_commitment_dropped(backend: Backend) {
    let (app, stored) = filled(backend).await;
    erased_by(&app, json!({"subject": ANN, "reason": "request"})).await;
    checkpoint(&app).await;
    let shell = Shell::connect(&app).await;
    shell.unlock().await;
    let victim = shell.uuid(&id_of(&stored[1]));
    shell.run(&format!("UPDATE predictions SET decision_outcome = 'deny' WHERE id = {victim}")).await;
    shell.run(&format!("UPDATE erased_records SET commitment = NULL WHERE record_id = {victim}")).await;
    let report = verify(&app).await;
    assert!(!report.intact(), "a changed decision of an erased prediction went unnoticed: {report:?}");
    assert_reported(&report, &[&id_of(&stored[1])]);
}

async fn verify_catches_an_erasure_of_a_held_record(backend: Backend) {
    let (app, stored) = filled(backend).await;
    let response =
        app.post("/api/v1/holds", &app.admin_key, &json!({"reason": "litigation", "predictions": ["p-2"]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let hold = json_of(response).await;
    let hold_id = hold["id"].as_str().unwrap();
    // A release written behind ml-audit's back (no leaf): the server now takes the hold as released.
    let shell = Shell::connect(&app).await;
    let release = Uuid::now_v7().to_string();
    shell
        .run(&format!(
            "INSERT INTO hold_releases (id, hold_ref, reason, created_at) VALUES ({}, {}, 'nobody will know', {})",
            shell.uuid(&release),
            shell.uuid(hold_id),
            shell.now()
        ))
        .await;
    let erasure = erased_by(&app, json!({"predictions": ["p-2"], "reason": "request"})).await;
    assert_eq!(counts(&erasure), (1, 1));
    checkpoint(&app).await;
    let report = verify(&app).await;
    let erasure_id = erasure["id"].as_str().unwrap();
    assert_reported(&report, &["erasure", erasure_id, &id_of(&stored[2]), "legal hold", hold_id]);
    assert_reported(&report, &["hold release", &release, "not in the ledger"]);
}

async fn the_database_still_refuses_careless_deletes_and_updates_after_erasures(backend: Backend) {
    let (app, stored) = filled(backend).await;
    erased_by(&app, json!({"predictions": ["p-0", "p-1"], "reason": "request"})).await;
    let held = app.post("/api/v1/holds", &app.admin_key, &json!({"reason": "r", "tenant_id": "acme"})).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let shell = Shell::connect(&app).await;
    let erased = shell.uuid(&id_of(&stored[0]));
    let mut statements = vec![
        "DELETE FROM predictions".to_owned(),
        "UPDATE predictions SET features = '{}'".to_owned(),
        format!("UPDATE predictions SET features = '{{}}' WHERE id = {erased}"),
        format!("DELETE FROM predictions WHERE id = {erased}"),
        format!("UPDATE predictions SET decision_outcome = 'deny' WHERE id = {erased}"),
        format!("UPDATE predictions SET features = 'null' WHERE id = {}", shell.uuid(&id_of(&stored[2]))),
        "DELETE FROM explanations".to_owned(),
        "UPDATE explanations SET payload = '{}'".to_owned(),
        "DELETE FROM erasures".to_owned(),
        "UPDATE erasures SET reason = 'x'".to_owned(),
        "DELETE FROM erased_records".to_owned(),
        "UPDATE erased_records SET commitment = NULL".to_owned(),
        "DELETE FROM holds".to_owned(),
        "UPDATE holds SET reason = 'x'".to_owned(),
        "DELETE FROM prediction_subjects".to_owned(),
    ];
    if let Backend::Postgres = backend {
        statements.extend(
            ["TRUNCATE predictions CASCADE", "TRUNCATE erasures CASCADE", "TRUNCATE holds CASCADE"].map(str::to_owned),
        );
    }
    for sql in &statements {
        match shell.try_run(sql).await {
            Ok(rows) => panic!("{sql:?} was allowed and changed {rows} rows"),
            Err(message) => {
                assert!(message.contains("append-only"), "{sql:?} failed, but not as append-only: {message}")
            }
        }
    }
    checkpoint(&app).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(app.all_predictions().await.len(), 5);
}
