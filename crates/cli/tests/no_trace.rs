//! After a subject's erasure and a restart, the database files hold none of what was erased: a
//! real `ml-audit serve` is given predictions carrying unique values in every place personal
//! content can sit (allowlisted features, metadata, output, explanation text, user agent), the
//! subject is erased over the API, the server is restarted, and the SQLite file and its WAL (or
//! a `pg_dump` of the PostgreSQL database) are searched for each value. The rest of the log
//! still verifies, and an inclusion proof of an unrelated record taken before the erasure
//! still holds against a checkpoint signed after it.

mod common;

use std::process::{Command, Stdio};

use common::{Server, ml_audit};
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_ledger::key::LedgerVerifier;
use ml_audit_ledger::verify::verify_exported_proof;
use serde_json::{Value, json};

const HASH_KEY: &str = "no-trace-test-pseudonym-key-0123456789";
const SUBJECT: &str = "alice.no-trace@example.com";

const CONFIG: &str = r#"
[redaction]
allowlist = ["income"]

[redaction.detectors]
email = { action = "hash" }
"#;

/// Values planted in the subject's predictions: each must be gone after the erasure.
fn planted(i: usize) -> [String; 5] {
    [
        format!("qzfeature{i}x7kq"),
        format!("qzmetadata{i}x7kq"),
        format!("qzoutput{i}x7kq"),
        format!("qzexplanation{i}x7kq"),
        format!("qzuseragent{i}x7kq"),
    ]
}

fn subject_event(i: usize) -> Value {
    let [feature, metadata, output, explanation, user_agent] = planted(i);
    json!({
        "model_name": "credit", "model_version": "1.0", "prediction_id": format!("subject-{i}"),
        "features": {"income": feature, "contact": SUBJECT},
        "metadata": {"note": metadata},
        "output": {"label": output},
        "decision_outcome": "declined", "confidence": 0.7,
        "actor": {"actor_type": "user", "actor_id": format!("u-{i}"), "tenant_id": "acme", "user_agent": user_agent},
        "explanation": {"method": "reason_codes", "payload": {"codes": ["R1"]}, "summary_text": explanation},
    })
}

fn other_event(i: usize) -> Value {
    json!({
        "model_name": "credit", "model_version": "1.0", "prediction_id": format!("other-{i}"),
        "features": {"income": format!("keptfeature{i}")}, "output": {"label": "kept"},
        "actor": {"actor_type": "user", "actor_id": "bob", "tenant_id": "acme"},
    })
}

fn hashes(values: &Value) -> Vec<Hash> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|h| <[u8; 32]>::try_from(hex::decode(h.as_str().unwrap()).unwrap()).unwrap())
        .collect()
}

/// Runs the whole story on `db`; `dump` returns every byte the database holds now.
async fn erased_values_leave_no_trace(dir: &std::path::Path, db: &str, dump: impl Fn() -> Vec<u8>) {
    std::fs::write(dir.join("ml-audit.toml"), CONFIG).unwrap();
    let env = [("ML_AUDIT_REDACTION_HASH_KEY", HASH_KEY)];
    let server = Server::start_with(dir, db, &env, Stdio::inherit());
    let key = server.first_admin_key().expect("the first start prints an admin key");
    let client = reqwest::Client::new();
    for i in 0..3 {
        assert_eq!(server.record(&client, &key, &subject_event(i)).await, 201);
        assert_eq!(server.record(&client, &key, &other_event(i)).await, 201);
    }
    let before_dump = dump();
    for value in planted(0) {
        assert!(find(&before_dump, &value), "{value} is stored before the erasure (else the search proves nothing)");
    }
    // An unrelated record's proof and the checkpoint it is proven against, before the erasure.
    assert_eq!(server.post(&client, &key, "/api/v1/ledger/checkpoint", &json!({})).await.status(), 201);
    let proof = server.get_json(&client, &key, "/api/v1/predictions/other-1/proof").await;
    let old_note = proof["checkpoint"].as_str().unwrap().to_owned();
    let vkey = server.get_json(&client, &key, "/api/v1/ledger/public-key").await["vkey"].as_str().unwrap().to_owned();
    let verifier = LedgerVerifier::from_vkey(&vkey).unwrap();

    let erasure = server
        .post(&client, &key, "/api/v1/erasures", &json!({"subject": SUBJECT, "reason": "GDPR Art. 17 request 4711"}))
        .await;
    assert_eq!(erasure.status(), 201);
    let erasure: Value = erasure.json().await.unwrap();
    assert_eq!(erasure["erased"], json!({"predictions": 3, "explanations": 3, "outcomes": 0, "reviews": 0}));
    let erased = server.get_json(&client, &key, "/api/v1/predictions?subject=alice.no-trace%40example.com").await;
    assert_eq!(erased["items"], json!([]), "the subject's tokens are gone with the records");

    assert_eq!(server.post(&client, &key, "/api/v1/ledger/checkpoint", &json!({})).await.status(), 201);
    let new = server.get_json(&client, &key, "/api/v1/ledger/checkpoint").await;
    let old = verify_exported_proof(&proof, &old_note, &verifier).expect("the proof taken before still verifies");
    let new_signed = verifier.verify(new["note"].as_str().unwrap()).unwrap();
    assert!(new_signed.tree_size > old.tree_size, "the erasure is a leaf of its own");
    let path = format!("/api/v1/ledger/consistency?from={}&to={}", old.tree_size, new_signed.tree_size);
    let consistency = server.get_json(&client, &key, &path).await;
    merkle::verify_consistency(
        old.tree_size,
        new_signed.tree_size,
        &old.root,
        &new_signed.root,
        &hashes(&consistency["proof"]),
    )
    .expect("the log after the erasure extends the log before it");
    let again = server
        .get_json(&client, &key, &format!("/api/v1/predictions/other-1/proof?tree_size={}", new_signed.tree_size))
        .await;
    assert_eq!(again["leaf_hash"], proof["leaf_hash"], "the unrelated record's leaf is unchanged");
    verify_exported_proof(&again, new["note"].as_str().unwrap(), &verifier).expect("and proven in the new tree");

    assert!(server.terminate().success());
    let restarted = Server::start_with(dir, db, &env, Stdio::inherit());
    // Answering means its signal handler is in place: SIGTERM then stops it cleanly.
    let health = client.get(format!("{}/healthz", restarted.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(restarted.terminate().success());

    let after = dump();
    for i in 0..3 {
        for value in planted(i) {
            assert!(!find(&after, &value), "{value} is still in the database files after the erasure");
        }
    }
    assert!(find(&after, "keptfeature1"), "the other records are still there");
    let verified = ml_audit(&["verify", "--db", db], dir);
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{out}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(out.contains("ledger intact"), "{out}");
}

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_files_and_wal_hold_nothing_erased() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.db");
    let db = format!("sqlite://{}", file.display());
    let dump = || {
        let mut bytes = std::fs::read(&file).unwrap_or_default();
        for suffix in ["-wal", "-journal"] {
            bytes.extend(std::fs::read(format!("{}{suffix}", file.display())).unwrap_or_default());
        }
        bytes
    };
    erased_values_leave_no_trace(dir.path(), &db, dump).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_dump_holds_nothing_erased() {
    let database = ml_audit_conformance::postgres::TempDatabase::create("mla_notrace_").await;
    let dir = tempfile::tempdir().unwrap();
    let url = database.url();
    let dump = || {
        let out = Command::new("pg_dump").arg(&url).output().expect("pg_dump (the PostgreSQL client) is installed");
        assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    erased_values_leave_no_trace(dir.path(), &url, dump).await;
}
