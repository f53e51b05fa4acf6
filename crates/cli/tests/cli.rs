//! The `ml-audit` binary as an operator uses it: a real `serve` process, and `keys` commands
//! run beside it on the same database.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Server, ml_audit};

use serde_json::json;

fn last_line(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned()
}

/// `ml-audit verify --proof … --checkpoint … --public-key …`.
fn verify_offline(
    dir: &std::path::Path,
    proof: &std::path::Path,
    note: &std::path::Path,
    key: &std::path::Path,
) -> std::process::Output {
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let args = ["verify", "--proof", &path(proof), "--checkpoint", &path(note), "--public-key", &path(key)];
    ml_audit(&args, dir)
}

#[tokio::test]
async fn serve_prints_one_admin_key_on_a_new_database_and_keys_work_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("nested/folder/audit.db").display());
    let server = Server::start(dir.path(), &db);
    let admin = server.first_admin_key().expect("a first admin key is printed");
    let client = reqwest::Client::new();

    let created = ml_audit(
        &["keys", "create", "--scope", "read", "--tenant", "acme", "--name", "auditor", "--db", &db],
        dir.path(),
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let reader = last_line(&created);
    assert!(reader.starts_with("mla_"));

    let event = json!({"model_name": "m", "model_version": "1", "features": {}, "output": 1,
                       "actor": {"actor_type": "user", "actor_id": "7", "tenant_id": "acme"}});
    assert_eq!(server.record(&client, &admin, &event).await, 201);
    let listed = client.get(format!("{}/api/v1/predictions", server.url)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let page: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let listing = ml_audit(&["keys", "list", "--db", &db], dir.path());
    let listing_text = String::from_utf8_lossy(&listing.stdout);
    assert!(listing_text.contains("auditor") && listing_text.contains("acme"));
    assert!(!listing_text.contains(&reader), "keys list must never show a secret");
    let reader_id =
        listing_text.lines().find(|l| l.contains("auditor")).unwrap().split_whitespace().next().unwrap().to_owned();

    let revoked = ml_audit(&["keys", "revoke", &reader_id, "--db", &db], dir.path());
    assert!(revoked.status.success());
    let refused = client.get(format!("{}/api/v1/predictions", server.url)).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(!ml_audit(&["keys", "revoke", &reader_id, "--db", &db], dir.path()).status.success());
    assert!(server.terminate().success(), "SIGTERM stops the server cleanly");

    let again = Server::start(dir.path(), &db);
    assert_eq!(again.first_admin_key(), None, "the first key is created only once");
}

#[test]
fn migrate_creates_the_schema_and_bad_urls_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let migrated = ml_audit(&["migrate", "--db", &db], dir.path());
    assert!(migrated.status.success());
    assert!(dir.path().join("m.db").exists());
    let bad = ml_audit(&["migrate", "--db", "mysql://localhost/x"], dir.path());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported database URL"));
}

#[test]
fn settings_come_from_the_config_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ml-audit.toml"), "[redaction]\nmask_value = \"[redacted]\"\n").unwrap();
    let output = Command::new(BIN)
        .arg("config")
        .current_dir(dir.path())
        .env("ML_AUDIT_REDACTION_ALLOWLIST", "age,income")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("mask_value = \"[redacted]\""), "{printed}");
    assert!(printed.contains("\"age\"") && printed.contains("\"income\""), "{printed}");
}

/// `ml-audit redact` shows what the configured policy would store, with the pseudonym key from
/// the environment; a bad event is exit 1 naming the field, a `hash` rule without a key a clear
/// error, and `ml-audit config` never prints the key.
#[test]
fn redact_previews_the_configured_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ml-audit.toml"),
        "[redaction]\napply_to = [\"features\", \"metadata\"]\n\n[redaction.detectors]\nip = false\n\
         card = { action = \"partial\", keep_last = 4 }\n\n[[redaction.rules]]\nmatch = \"customer.email\"\n\
         action = \"hash\"\n",
    )
    .unwrap();
    let key = "a-test-pseudonym-key-0123456789";
    let redact = |event: &str, with_key: bool| {
        let mut command = Command::new(BIN);
        command
            .arg("redact")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if with_key {
            command.env("ML_AUDIT_REDACTION_HASH_KEY", key);
        } else {
            command.env_remove("ML_AUDIT_REDACTION_HASH_KEY");
        }
        let mut child = command.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), event.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let event = json!({
        "model_name": "credit_risk", "model_version": "1.0.0",
        "features": {"customer": {"email": "Ann@Example.com"}, "card": "4111 1111 1111 1111", "host": "10.1.2.3"},
        "metadata": {"note": "call +44 20 7946 0958"},
        "output": {"score": 0.5},
    });
    let output = redact(&event.to_string(), true);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let token = shown["features"]["customer"]["email"].as_str().unwrap();
    assert!(token.starts_with("pii_"), "{shown}");
    assert_eq!(shown["subjects"], json!([token]));
    assert_eq!(shown["features"]["card"], "*****1111");
    assert_eq!(shown["features"]["host"], "10.1.2.3", "the ip detector is off");
    assert_eq!(shown["metadata"]["note"], "call *****");
    let log = shown["redaction_log"].as_array().unwrap();
    assert!(
        log.contains(
            &json!({"part": "features", "path": "$.customer.email", "rule": "rule:customer.email", "action": "hash"})
        ),
        "{shown}"
    );
    assert!(
        log.contains(
            &json!({"part": "features", "path": "$.card", "rule": "detector:card", "action": "partial", "keep_last": 4})
        ),
        "{shown}"
    );

    let bad = redact(&json!({"model_name": "m", "model_version": "1", "features": [], "output": 1}).to_string(), true);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("features"), "{}", String::from_utf8_lossy(&bad.stderr));

    let keyless = redact(&event.to_string(), false);
    assert!(!keyless.status.success());
    let message = String::from_utf8_lossy(&keyless.stderr);
    assert!(message.contains("ML_AUDIT_REDACTION_HASH_KEY") && message.contains("customer.email"), "{message}");

    let config = Command::new(BIN)
        .arg("config")
        .current_dir(dir.path())
        .env("ML_AUDIT_REDACTION_HASH_KEY", key)
        .output()
        .unwrap();
    assert!(config.status.success());
    let printed = String::from_utf8_lossy(&config.stdout);
    assert!(printed.contains("customer.email") && !printed.contains(key), "{printed}");
}

/// The ledger end to end, as an operator and an auditor use it: a real server, `ml-audit verify`
/// on the database, and the standard-library Python verifier on an exported proof.
#[tokio::test]
async fn verify_passes_on_an_intact_ledger_and_names_the_first_altered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("audit.db").display());
    let server = Server::start(dir.path(), &db);
    let admin = server.first_admin_key().unwrap();
    let client = reqwest::Client::new();
    for i in 0..5 {
        let event = json!({"model_name": "m", "model_version": "1", "features": {"n": i}, "output": i,
                           "prediction_id": format!("r-{i}")});
        assert_eq!(server.record(&client, &admin, &event).await, 201);
    }
    let checkpoint =
        client.post(format!("{}/api/v1/ledger/checkpoint", server.url)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(checkpoint.status(), 201);
    let proof = server.get_json(&client, &admin, "/api/v1/predictions/r-3/proof").await;
    let public = server.get_json(&client, &admin, "/api/v1/ledger/public-key").await;
    let proof_file = dir.path().join("proof.json");
    let note_file = dir.path().join("checkpoint.txt");
    let key_file = dir.path().join("ledger.vkey");
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    std::fs::write(&note_file, proof["checkpoint"].as_str().unwrap()).unwrap();
    std::fs::write(&key_file, public["vkey"].as_str().unwrap()).unwrap();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify_record.py");
    let python = |proof: &std::path::Path| {
        Command::new("python3").arg(&script).arg(proof).arg(&note_file).arg(&key_file).output().expect("python3 runs")
    };
    let checked = python(&proof_file);
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("record verified"));
    let offline = verify_offline(dir.path(), &proof_file, &note_file, &key_file);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stdout));

    // An altered record fails both verifiers.
    let mut altered = proof.clone();
    altered["leaf_index"] = json!(proof["leaf_index"].as_u64().unwrap() ^ 1);
    let altered_file = dir.path().join("altered.json");
    std::fs::write(&altered_file, altered.to_string()).unwrap();
    assert_eq!(python(&altered_file).status.code(), Some(1));
    let refused = verify_offline(dir.path(), &altered_file, &note_file, &key_file);
    assert_eq!(refused.status.code(), Some(1));

    // The whole database, while the server runs; the key comes from the default key file.
    let intact = ml_audit(&["verify", "--db", &db], dir.path());
    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stdout));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("(5 records intact, 0 erased"));
    drop(server);
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query("DROP TRIGGER predictions_are_append_only_update").execute(&pool).await.unwrap();
    sqlx::query("UPDATE predictions SET decision_outcome = 'approved' WHERE prediction_id = 'r-2'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let broken = ml_audit(&["verify", "--db", &db], dir.path());
    assert_eq!(broken.status.code(), Some(1));
    let report = String::from_utf8_lossy(&broken.stdout);
    assert!(
        report.contains("LEDGER NOT INTACT: entry 2: the prediction") && report.contains("was altered"),
        "{report}"
    );
}

/// Personal data must not reach the server's logs either: not from recorded events, not from
/// rejected ones, not from query strings. The server runs with debug logging to make it likely.
#[tokio::test]
async fn planted_personal_data_never_reaches_the_server_logs() {
    let planted = [
        "Ann.Smith@Example.com",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
        "GB82 WEST 1234 5698 7654 32",
        "078-05-1120",
        "203.0.113.77",
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("audit.db").display());
    let log_path = dir.path().join("server.log");
    let server = Server::start_logging(dir.path(), &db, "debug", std::fs::File::create(&log_path).unwrap().into());
    let (url, admin) = (server.url.clone(), server.first_admin_key().unwrap());
    let client = reqwest::Client::new();
    for (i, value) in planted.iter().enumerate() {
        let good = json!({"model_name": "m", "model_version": "1", "prediction_id": format!("p{i}"),
                          "features": {"contact": value, "note": format!("call {value}")}, "output": 1,
                          "metadata": {"source": value}});
        assert_eq!(server.record(&client, &admin, &good).await, 201);
        // Rejected events carry the value in fields that fail validation.
        let bad = json!({"model_name": "m", "model_version": "1", "features": {"contact": value}, "output": 1,
                         "timestamp": value, "actor": {"actor_type": "user", "actor_id": value, "ip_address": value}});
        assert_eq!(server.record(&client, &admin, &bad).await, 422);
        for (name, filter) in [("trace_id", *value), ("subject", *value), ("actor_id", *value)] {
            let query =
                reqwest::Url::parse_with_params(&format!("{url}/api/v1/predictions"), [(name, filter)]).unwrap();
            let response = client.get(query).bearer_auth(&admin).send().await.unwrap();
            assert!(response.status().is_success() || response.status() == 400);
        }
        let missing = client.get(format!("{url}/api/v1/predictions/{value}")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
    assert!(server.terminate().success());
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("request"), "debug logging was on: {logged:.200}");
    for value in planted {
        let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        for spelling in [value.to_owned(), value.to_lowercase(), compact] {
            assert!(!logged.contains(&spelling), "{spelling:?} is in the server log");
        }
    }
}
