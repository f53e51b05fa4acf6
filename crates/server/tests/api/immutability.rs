use ml_audit_core::redaction::{Action, HashKey, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_server::ServerSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::helpers::{Backend, TestApp, event, with};

on_both_backends!(
    the_database_refuses_to_update_or_delete_recorded_history,
    no_http_route_updates_or_deletes_a_prediction,
);

/// Statements that would rewrite history if the database allowed them.
const REWRITES: [&str; 16] = [
    "UPDATE predictions SET decision_outcome = 'x'",
    "DELETE FROM predictions",
    "UPDATE explanations SET summary_text = 'x'",
    "DELETE FROM explanations",
    "UPDATE actors SET actor_id = 'x'",
    "DELETE FROM actors",
    "UPDATE model_versions SET version = 'x'",
    "DELETE FROM model_versions",
    "UPDATE predictions SET features = '{}' WHERE decision_outcome = 'approve'",
    "UPDATE explanations SET revision = revision + 1",
    "UPDATE prediction_subjects SET token = 'x'",
    "DELETE FROM prediction_subjects",
    "UPDATE outcomes SET label = 'x'",
    "DELETE FROM outcomes",
    "UPDATE reviews SET final_decision = 'x'",
    "DELETE FROM reviews",
];

/// PostgreSQL's TRUNCATE skips row triggers; it must be refused as well.
/// (Every table that references `predictions` is named with it: otherwise its foreign keys, not
/// its triggers, are what refuse.)
const POSTGRES_REWRITES: [&str; 4] = [
    "TRUNCATE explanations",
    "TRUNCATE outcomes, reviews",
    "TRUNCATE predictions, explanations, outcomes, reviews, prediction_state, actors, model_versions, \
     prediction_subjects",
    "TRUNCATE predictions CASCADE",
];

const TABLES: [&str; 7] =
    ["predictions", "explanations", "actors", "model_versions", "prediction_subjects", "outcomes", "reviews"];

/// What [`run_raw`] does on one connection: a macro, because sqlx's connection types differ per
/// database.
macro_rules! run_on {
    ($conn:expr, $statements:expr) => {{
        let mut conn = $conn;
        for table in TABLES {
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert!(count > 0, "{table} has rows, so the statements below have something to change");
        }
        let mut outcomes = Vec::new();
        for sql in $statements {
            let result = sqlx::query(*sql).execute(&mut conn).await;
            outcomes.push(result.map(|done| done.rows_affected()).map_err(|e| e.to_string()));
        }
        conn.close().await.unwrap();
        outcomes
    }};
}

/// Runs each statement on its own raw connection to the database, bypassing the server, and
/// returns what the database said: rows affected, or the error message.
async fn run_raw(app: &TestApp, backend: Backend, statements: &[&'static str]) -> Vec<Result<u64, String>> {
    match backend {
        Backend::Sqlite => {
            run_on!(sqlx::SqliteConnection::connect(&app.db_url).await.expect("raw SQLite connection"), statements)
        }
        Backend::Postgres => {
            run_on!(sqlx::PgConnection::connect(&app.db_url).await.expect("raw PostgreSQL connection"), statements)
        }
    }
}

async fn the_database_refuses_to_update_or_delete_recorded_history(backend: Backend) {
    // A `hash` rule, so that the prediction has a subject row too.
    let policy = RedactionPolicy::build(
        PolicyConfig { rules: vec![RuleConfig::new("customer_id", Action::Hash)], ..PolicyConfig::default() },
        Some(HashKey::new("immutability-test-key-0123456789").unwrap()),
    )
    .unwrap();
    let app = TestApp::spawn_with(
        backend,
        ServerSettings { redaction: policy, ledger_schedule: crate::helpers::ON_DEMAND_SEALING, ..Default::default() },
    )
    .await;
    let body = json!({
        "model_name": "fraud", "model_version": "1.0.0", "features": {"age": 42, "customer_id": "c-1"},
        "output": {"score": 0.9},
        "decision_outcome": "approve", "prediction_id": "p-1",
        "actor": {"actor_type": "user", "actor_id": "42", "tenant_id": "acme"},
        "explanation": {"method": "shap", "payload": {"age": 0.3}, "summary_text": "age mattered"},
    });
    app.record(&body).await;
    let second = app
        .post("/api/v1/predictions/p-1/explanation", &app.admin_key, &json!({"method": "lime", "payload": {}}))
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let outcome = json!({"label": "fraud", "source": "chargeback"});
    assert_eq!(
        app.post("/api/v1/predictions/p-1/outcomes", &app.admin_key, &outcome).await.status(),
        StatusCode::CREATED
    );
    let review = json!({"reviewer": {"reviewer_id": "u-1"}, "action": "override", "final_decision": "decline"});
    assert_eq!(
        app.post("/api/v1/predictions/p-1/reviews", &app.admin_key, &review).await.status(),
        StatusCode::CREATED
    );
    let original: Value = app.get("/api/v1/predictions/p-1", &app.admin_key).await.json().await.unwrap();
    let original_revisions: Value =
        app.get("/api/v1/predictions/p-1/explanations", &app.admin_key).await.json().await.unwrap();
    let original_models: Value = app.get("/api/v1/models", &app.admin_key).await.json().await.unwrap();

    let mut statements: Vec<&'static str> = REWRITES.to_vec();
    if let Backend::Postgres = backend {
        statements.extend(POSTGRES_REWRITES);
    }
    let outcomes = run_raw(&app, backend, &statements).await;
    for (sql, outcome) in statements.iter().zip(outcomes) {
        match outcome {
            Ok(rows) => panic!("{sql:?} was allowed and changed {rows} rows"),
            Err(message) => assert!(
                message.to_lowercase().contains("append-only"),
                "{sql:?} failed, but not as append-only: {message}"
            ),
        }
    }

    let after: Value = app.get("/api/v1/predictions/p-1", &app.admin_key).await.json().await.unwrap();
    assert_eq!(after, original);
    assert_eq!(after["decision_outcome"], "approve");
    let revisions: Value = app.get("/api/v1/predictions/p-1/explanations", &app.admin_key).await.json().await.unwrap();
    assert_eq!(revisions, original_revisions);
    let models: Value = app.get("/api/v1/models", &app.admin_key).await.json().await.unwrap();
    assert_eq!(models, original_models);
    // The store still writes after the refusals.
    app.record(&event("after")).await;
    assert_eq!(app.all_predictions().await.len(), 2);
}

async fn no_http_route_updates_or_deletes_a_prediction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored =
        app.record(&with(with(event("m"), "prediction_id", json!("p-1")), "decision_outcome", json!("approve"))).await;
    let id = stored["id"].as_str().unwrap();
    let model = stored["model"]["id"].as_str().unwrap();
    let changed = with(with(event("m"), "prediction_id", json!("p-1")), "decision_outcome", json!("deny"));
    let paths = [
        format!("/api/v1/predictions/{id}"),
        "/api/v1/predictions/p-1".to_owned(),
        "/api/v1/predictions".to_owned(),
        "/api/v1/predictions/batch".to_owned(),
        format!("/api/v1/predictions/{id}/explanation"),
        format!("/api/v1/predictions/{id}/explanations"),
        format!("/api/v1/models/{model}"),
        "/api/v1/models".to_owned(),
    ];
    for path in &paths {
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .bearer_auth(&app.admin_key)
                .json(&changed)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let body: Value =
                response.json().await.unwrap_or_else(|e| panic!("{method} {path}: the error is not JSON: {e}"));
            assert!(
                body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                "{method} {path}: {body}"
            );
        }
    }
    // POSTing a changed event under the same prediction_id is a conflict, not an update.
    let conflict = app.post("/api/v1/predictions", &app.admin_key, &changed).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let after: Value = app.get(&format!("/api/v1/predictions/{id}"), &app.admin_key).await.json().await.unwrap();
    assert_eq!(after, stored);
    assert_eq!(app.all_predictions().await, vec![stored]);
}
