//! Redaction as stored and served: pseudonyms and subject lookup, the redaction log, tenant
//! isolation of lookups, and the planted-PII scan of the database's raw bytes.

use ml_audit_core::auth::KeyScope;
use ml_audit_core::redaction::{Action, HashKey, Part, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_server::ServerSettings;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_error};

on_both_backends!(
    predictions_about_one_subject_are_found_by_the_raw_value,
    subject_lookup_needs_a_hash_key,
    a_tenant_key_finds_only_its_tenants_subjects,
    no_planted_personal_data_reaches_the_database,
);

const HASH_KEY: &str = "test-pseudonym-key-0123456789abcdef";

fn hashing_policy() -> RedactionPolicy {
    let config =
        PolicyConfig { rules: vec![RuleConfig::new("customer.email", Action::Hash)], ..PolicyConfig::default() };
    RedactionPolicy::build(config, Some(HashKey::new(HASH_KEY).unwrap())).unwrap()
}

async fn spawn(backend: Backend, redaction: RedactionPolicy) -> TestApp {
    TestApp::spawn_with(
        backend,
        ServerSettings {
            redaction,
            ..ServerSettings { ledger_schedule: crate::helpers::ON_DEMAND_SEALING, ..Default::default() }
        },
    )
    .await
}

fn about(prediction_id: &str, email: &str, tenant: Option<&str>) -> Value {
    let mut event = json!({
        "prediction_id": prediction_id,
        "model_name": "credit_risk", "model_version": "1.0.0",
        "features": {"customer": {"email": email, "segment": "retail"}, "age": 42},
        "output": {"score": 0.5},
    });
    if let Some(tenant) = tenant {
        event["actor"] = json!({"actor_type": "user", "actor_id": "u1", "tenant_id": tenant});
    }
    event
}

fn by_subject(raw: &str) -> String {
    format!("/api/v1/predictions?subject={}", utf8_percent_encode(raw, NON_ALPHANUMERIC))
}

async fn ids(app: &TestApp, path: &str, key: &str) -> Vec<String> {
    let response = app.get(path, key).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let page: Value = response.json().await.unwrap();
    let mut ids: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

async fn predictions_about_one_subject_are_found_by_the_raw_value(backend: Backend) {
    let app = spawn(backend, hashing_policy()).await;
    let first = app.record(&about("ann-1", "Ann.Smith@Example.com", None)).await;
    app.record(&about("ann-2", "  ann.smith@EXAMPLE.com ", None)).await;
    app.record(&about("bob-1", "bob@example.com", None)).await;
    app.record(&crate::helpers::event("other")).await;

    let token = first["features"]["customer"]["email"].as_str().unwrap();
    assert!(token.starts_with("pii_") && token.len() == 36, "{first}");
    for stored in app.all_predictions().await {
        assert!(!stored.to_string().to_lowercase().contains("smith@example.com"), "raw value stored: {stored}");
    }
    assert_eq!(
        first["redaction_log"],
        json!([{"part": "features", "path": "$.customer.email", "rule": "rule:customer.email", "action": "hash"}])
    );
    // Read back, not only as recorded.
    let read: Value = app.get("/api/v1/predictions/ann-1", &app.admin_key).await.json().await.unwrap();
    assert_eq!(read["redaction_log"], first["redaction_log"]);
    assert_eq!(read["features"]["customer"]["email"], token);

    assert_eq!(ids(&app, &by_subject("ANN.SMITH@example.com"), &app.admin_key).await, vec!["ann-1", "ann-2"]);
    assert_eq!(ids(&app, &by_subject("bob@example.com"), &app.admin_key).await, vec!["bob-1"]);
    assert!(ids(&app, &by_subject("carol@example.com"), &app.admin_key).await.is_empty());
    // Combines with the other filters.
    let path = format!("{}&model_name=other", by_subject("ann.smith@example.com"));
    assert!(ids(&app, &path, &app.admin_key).await.is_empty());
    // The token itself is not a raw value that matches.
    assert!(ids(&app, &by_subject(token), &app.admin_key).await.is_empty());
}

async fn subject_lookup_needs_a_hash_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get(&by_subject("ann@example.com"), &app.admin_key).await;
    let (code, field) = expect_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_parameter");
    assert_eq!(field.as_deref(), Some("subject"));
}

async fn a_tenant_key_finds_only_its_tenants_subjects(backend: Backend) {
    let app = spawn(backend, hashing_policy()).await;
    app.record(&about("acme-1", "ann@example.com", Some("acme"))).await;
    app.record(&about("globex-1", "ann@example.com", Some("globex"))).await;
    let acme = app.key(KeyScope::Read, Some("acme")).await;
    assert_eq!(ids(&app, &by_subject("ann@example.com"), &acme).await, vec!["acme-1"]);
    assert_eq!(ids(&app, &by_subject("ann@example.com"), &app.admin_key).await, vec!["acme-1", "globex-1"]);
}

/// Personal data of every kind, each with the spellings it is planted in.
const PLANTED: &[&str] = &[
    "Ann.Smith@Example.com",
    "first.last+tag@mail.example.co.uk",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "+44 20 7946 0958",
    "(555) 123-4567",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "078-05-1120",
    "219-09-9999",
    "203.0.113.77",
    "2001:db8:85a3::8a2e:370:7334",
];

/// Every way a planted value could be written down: as planted, in either case, without its
/// separators, and (for numbers) as bare digits.
fn spellings(value: &str) -> Vec<String> {
    let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let mut all = vec![value.to_owned(), compact.clone()];
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if !value.contains(['.', ':', '@']) && digits.len() >= 9 {
        all.push(digits);
    }
    let mut cased = Vec::new();
    for spelling in &all {
        cased.push(spelling.to_lowercase());
        cased.push(spelling.to_uppercase());
    }
    all.extend(cased);
    all.sort();
    all.dedup();
    all
}

/// One event holding `value` in every position redaction covers.
fn planted_event(index: usize, value: &str) -> Value {
    json!({
        "prediction_id": format!("planted-{index}"),
        "model_name": "credit_risk", "model_version": "1.0.0",
        "features": {
            "contact": value,
            "EMAIL": value,
            "Phone_Number": value,
            "NoTe": format!("the customer gave {value} on the phone"),
            "profile": {"primary": {"value": value}, "history": [value, {"was": value}]},
            "list": ["first", value, [format!("nested: {value}!")]],
            "customer": {"email": value},
            "seen_by": {value: 3},
            "age": 42,
        },
        "metadata": {
            "Source": value,
            "notes": [format!("{value}, again")],
            "deep": {"er": {"still": format!("<{value}>")}},
        },
        "output": {"reason": format!("matched {value}"), "codes": [value]},
        "actor": {"actor_type": "user", "actor_id": "u1", "tenant_id": "acme", "user_agent": format!("agent {value}")},
    })
}

async fn no_planted_personal_data_reaches_the_database(backend: Backend) {
    let mut config = PolicyConfig {
        apply_to: Part::ALL.to_vec(),
        rules: vec![RuleConfig::new("customer.email", Action::Hash)],
        ..PolicyConfig::default()
    };
    config.detectors.email.action = Action::Hash;
    config.detectors.card.action = Action::Partial { keep_last: 4 };
    let policy = RedactionPolicy::build(config, Some(HashKey::new(HASH_KEY).unwrap())).unwrap();
    let app = spawn(backend, policy).await;

    for (index, value) in PLANTED.iter().enumerate() {
        let stored = app.record(&planted_event(index, value)).await;
        assert!(!stored["redaction_log"].as_array().unwrap().is_empty(), "{stored}");
    }
    // A batch too, and the ledger sealed, so every table that holds records is filled.
    let batch: Vec<Value> = PLANTED.iter().enumerate().map(|(i, v)| planted_event(100 + i, v)).collect();
    let response = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({"events": batch})).await;
    assert!(response.status().is_success(), "batch: {}", response.status());
    let response = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await;
    assert!(response.status().is_success(), "checkpoint: {}", response.status());
    // Planted emails were hashed: they can be looked up, though never stored.
    let found = ids(&app, &format!("{}&limit=1000", by_subject("ann.smith@example.com")), &app.admin_key).await;
    assert_eq!(found, vec!["planted-0", "planted-100"]);

    let bytes = database_bytes(&app).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("planted-0") && text.contains("pii_"), "the dump holds the records");
    for value in PLANTED {
        for spelling in spellings(value) {
            assert!(!text.contains(&spelling), "{spelling:?} (planted as {value:?}) is in the {backend:?} database");
        }
    }
}

/// Everything the database holds: the SQLite file and its write-ahead log as raw bytes, or a
/// `pg_dump` of the PostgreSQL database.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    match app.backend {
        Backend::Sqlite => {
            let path = app.db_url.strip_prefix("sqlite://").unwrap();
            let mut bytes = std::fs::read(path).expect("the database file");
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        Backend::Postgres => {
            let output = std::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg(&app.db_url)
                .output()
                .expect("pg_dump runs (installed with the PostgreSQL client)");
            assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        }
    }
}
