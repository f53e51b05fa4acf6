//! Real packages from real records: predictions as the core builds them (salted v2, unsalted
//! v1, erased), their leaves in a log among other leaves, a checkpoint signed over it, and the
//! data rows in the shape of `GET /api/v1/predictions/{ref}`.

use std::path::Path;
use std::process::Command;

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::ledger::record::{LedgerRecord, commitment, prediction_leaf_data};
use ml_audit_core::model::{
    ActorType, Decision, ErasureMark, LedgerEntry, ModelVersion, PredictionEvent, RequestingActor, Status,
};
use ml_audit_core::timestamp::format_rfc3339;
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::package::{DataFormat, LeafTree, LedgerInfo, PackageSummary, PackageWriter, RecordLine};
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const ORIGIN: &str = "ml-audit.test/log";

/// A log holding the exported predictions' leaves among others, and its signed checkpoint.
pub struct Log {
    pub key: LedgerKey,
    pub leaves: Vec<Hash>,
    /// In export order (newest first): the GET-shape row and the ledger line.
    pub rows: Vec<(Value, RecordLine)>,
    pub checkpoint: Checkpoint,
    pub note: String,
}

impl Log {
    pub fn vkey(&self) -> String {
        self.key.verifier().vkey()
    }

    pub fn ledger_info(&self) -> LedgerInfo {
        LedgerInfo { origin: ORIGIN.into(), vkey: self.vkey() }
    }
}

fn model() -> ModelVersion {
    ModelVersion {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        model_name: "fraud_detector".into(),
        version: "2.0.3".into(),
        framework: "xgboost".into(),
        build_id: "build-77".into(),
        commit_hash: "abc123".into(),
        config_snapshot: Some(json!({"max_depth": 6, "eta": 0.3, "features": ["amount", "velocity"]})),
        is_active: true,
        created_at: datetime!(2026-01-02 03:04:05.123456 UTC),
    }
}

fn actor(i: usize) -> Option<RequestingActor> {
    (i % 4 != 3).then(|| RequestingActor {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0001_0000 + i as u128),
        actor_type: ActorType::ApiKey,
        actor_id: format!("key-{}", i % 7),
        tenant_id: "acme".into(),
        ip_address: Some("198.51.100.7".into()),
        user_agent: "checkout-service/4.2 \"quoted\", with commas".into(),
        auth_context: (i.is_multiple_of(2)).then(|| json!({"scopes": ["read", "write"], "session": i})),
        created_at: datetime!(2026-01-02 00:00:00 UTC),
    })
}

/// Prediction `i`: salted (v2) unless `i % 3 == 1` (v1), with varied content: about 1.5 KB as a
/// JSON row.
pub fn event(i: usize) -> PredictionEvent {
    let at = datetime!(2026-11-27 08:00:00 UTC) + Duration::milliseconds(i as i64 * 1_250);
    let actor = actor(i);
    PredictionEvent {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + 0x1000 + i as u128),
        prediction_id: format!("pred-{i:06}"),
        timestamp: at,
        trace_id: if i.is_multiple_of(5) { String::new() } else { format!("4bf92f3577b34da6a3ce929d0e0e{i:04x}") },
        environment: "prod".into(),
        model: model(),
        tenant_id: actor.as_ref().map(|a| a.tenant_id.clone()).unwrap_or_default(),
        actor,
        features: json!({
            "amount": 1234.5 + i as f64, "currency": "EUR", "age": 42, "email": "[REDACTED]",
            "billing": {"city": "Berlin", "postcode": "10115", "street": "Unter den Linden 1"},
            "recent_merchants": [5411, 5812, 5999, 4111], "velocity_score": 0.123456789 * i as f64,
            "note": "line\nbreak \"quoted\" €, a comma", "big": 1e300, "tiny": 1e-7, "flag": i.is_multiple_of(2),
            "history": (0..if lean() { 1 } else { 8 }).map(|k| json!({"day": k, "count": (i * k) % 13, "sum": k as f64 * 10.25})).collect::<Vec<_>>(),
        }),
        redactions: vec!["$.email".into()],
        input_fingerprint: format!("sha256:{:064x}", i),
        output: if i.is_multiple_of(6) { json!("approve") } else { json!({"score": 0.87, "label": "ok", "rank": i}) },
        confidence: if i % 10 == 9 { None } else { Some(0.5 + (i % 50) as f64 / 100.0) },
        decision_outcome: if i.is_multiple_of(7) { String::new() } else { "approved".into() },
        status: Status::Success,
        latency_ms: if i.is_multiple_of(8) { None } else { Some(12.0 + i as f64 / 8.0) },
        metadata: json!({"region": "eu-central-1", "request": {"id": format!("req-{i}"), "retries": 0}}),
        metadata_redactions: vec![],
        redaction_log: vec![],
        explanation: None,
        ledger: None,
        created_at: at + Duration::microseconds(500_123),
        salt: (i % 3 != 1).then(|| {
            let mut salt = [0u8; 32];
            salt[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            salt
        }),
        erased: None,
        outcome: None,
        reviews: Vec::new(),
        decision: Decision::unreviewed("approved"),
    }
}

/// `PACKAGE_LEAN` set: rows of about 1.5 KB (without the explanation and most of the features'
/// history) instead of 2.3 KB, for `throughput`.
fn lean() -> bool {
    std::env::var_os("PACKAGE_LEAN").is_some()
}

/// Which predictions of a log are erased: a v2 one (5) and a v1 one (7).
fn is_erased(i: usize) -> bool {
    i == 5 || i == 7
}

/// The row `GET /api/v1/predictions/{ref}` gives for `event` (see `crates/server/src/wire.rs`).
pub fn get_shape(event: &PredictionEvent) -> Value {
    let kept = event.erased.is_none();
    let model = &event.model;
    json!({
        "id": event.id,
        "prediction_id": kept.then_some(&event.prediction_id),
        "timestamp": format_rfc3339(event.timestamp),
        "trace_id": kept.then_some(&event.trace_id),
        "environment": kept.then_some(&event.environment),
        "tenant_id": event.tenant_id,
        "model": {
            "id": model.id, "model_name": model.model_name, "version": model.version,
            "framework": model.framework, "build_id": model.build_id, "commit_hash": model.commit_hash,
            "config_snapshot": model.config_snapshot, "is_active": model.is_active,
            "created_at": format_rfc3339(model.created_at),
        },
        "actor": event.actor.as_ref().filter(|_| kept).map(|actor| json!({
            "id": actor.id, "actor_type": actor.actor_type.as_str(), "actor_id": actor.actor_id,
            "tenant_id": actor.tenant_id, "ip_address": actor.ip_address, "user_agent": actor.user_agent,
            "auth_context": actor.auth_context, "created_at": format_rfc3339(actor.created_at),
        })),
        "features": event.features,
        "redactions": kept.then_some(&event.redactions),
        "metadata_redactions": kept.then_some(&event.metadata_redactions),
        "redaction_log": kept.then(|| json!([{"part": "features", "path": "$.email", "rule": "key:email", "action": "mask"}])),
        "input_fingerprint": kept.then_some(&event.input_fingerprint),
        "output": event.output,
        "confidence": event.confidence,
        "decision_outcome": event.decision_outcome,
        "status": event.status.as_str(),
        "latency_ms": event.latency_ms,
        "metadata": event.metadata,
        "explanation": (kept && !lean()).then(|| json!({
            "id": Uuid::from_u128(event.id.as_u128() + 1), "prediction_id": event.id, "method": "shap",
            "method_version": "0.46", "payload": {"amount": 0.25, "velocity_score": -0.125},
            "summary_text": "Amount drove the score.", "status": "success", "revision": 1,
            "generated_at": format_rfc3339(event.timestamp), "created_at": format_rfc3339(event.created_at),
            "explanation_id": null,
        })),
        "ledger": event.ledger.map(|entry| json!({"seq": entry.seq, "leaf_hash": hex::encode(entry.leaf_hash)})),
        "erased": event.erased.as_ref().map(|mark| json!({
            "at": format_rfc3339(mark.at), "erasure_id": mark.erasure_id, "reason": mark.reason,
        })),
        "outcome": null,
        "reviews": [],
        "final_decision": event.decision.final_decision,
        "review_state": "none",
    })
}

/// What an erasure leaves of `event`: the kept fields, no salt, the mark.
fn erase(mut event: PredictionEvent) -> PredictionEvent {
    event.prediction_id = String::new();
    event.trace_id = String::new();
    event.environment = String::new();
    event.actor = None;
    event.features = Value::Null;
    event.output = Value::Null;
    event.metadata = Value::Null;
    event.input_fingerprint = String::new();
    event.salt = None;
    event.erased = Some(ErasureMark {
        erasure_id: Uuid::from_u128(0xe7a5e),
        at: datetime!(2026-12-01 00:00:00 UTC),
        reason: "data subject request".into(),
    });
    event
}

/// A log of `n` exported predictions, each after another record's leaf, with 3 more leaves at
/// the end; the checkpoint signs all of it. Rows newest first, as an export lists them.
pub fn log(n: usize) -> Log {
    let key = LedgerKey::ephemeral(ORIGIN).expect("an ephemeral key");
    let mut leaves = Vec::new();
    let mut rows = Vec::new();
    for i in 0..n {
        leaves.push(merkle::leaf_hash(format!("another record {i}").as_bytes()));
        let mut event = event(i);
        let leaf_data = prediction_leaf_data(&event);
        let leaf = merkle::leaf_hash(&leaf_data);
        let seq = leaves.len() as u64;
        leaves.push(leaf);
        event.ledger = Some(LedgerEntry { seq, leaf_hash: leaf });
        let line = if !is_erased(i) {
            RecordLine::of_prediction(&event).expect("a sealed prediction")
        } else {
            // The erasure keeps a v2 record's commitment (its seal stays the leaf); a v1 leaf's
            // bytes were the content, now gone.
            let kept = event
                .salt
                .map(|salt| commitment(&salt, &LedgerRecord::Prediction(Box::new(event.clone())).canonical_bytes()));
            event = erase(event);
            RecordLine::of_erased_prediction(&event, kept.as_ref()).expect("an erased sealed prediction")
        };
        rows.push((get_shape(&event), line));
    }
    for i in 0..3 {
        leaves.push(merkle::leaf_hash(format!("a later record {i}").as_bytes()));
    }
    rows.reverse();
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        tree_size: leaves.len() as u64,
        root: merkle::root_from_leaves(&leaves),
        time: OffsetDateTime::now_utc().replace_nanosecond(0).expect("a valid time"),
    };
    let note = key.sign(&checkpoint).expect("a signed checkpoint");
    Log { key, leaves, rows, checkpoint, note }
}

/// Writes `log` as a package in `dir`.
pub fn write(dir: &Path, log: &Log, format: DataFormat, with_proofs: bool) -> PackageSummary {
    let mut writer = PackageWriter::create(dir, format, with_proofs).expect("the package folder");
    for (row, line) in &log.rows {
        writer.push(row, line).expect("a row");
    }
    let tree = LeafTree::new(log.leaves.clone());
    let proofs: Option<&dyn ml_audit_ledger::package::InclusionPaths> = if with_proofs { Some(&tree) } else { None };
    writer
        .finish(
            proofs,
            &log.note,
            &log.ledger_info(),
            json!({"operator": "alice@host"}),
            json!({"model_name": "fraud_detector"}),
        )
        .expect("a finished package")
}

/// Runs the standard-library Python verifier: whether it passed, and what it printed.
pub fn python(dir: &Path, vkey: Option<&str>) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify_package.py");
    let mut command = Command::new("python3");
    command.arg(&script).arg(dir);
    if let Some(vkey) = vkey {
        command.arg("--vkey").arg(vkey);
    }
    let output = command.output().expect("python3 runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(matches!(output.status.code(), Some(0 | 1)), "python exited {:?}: {printed}", output.status);
    (output.status.success(), printed)
}

/// Rewrites the manifest's byte count, SHA-256 (and, for line files, row count) of each file
/// from the files as they are now: what someone altering a package would do, so that only the
/// content checks can catch them.
pub fn reseal_manifest(dir: &Path) {
    use sha2::{Digest, Sha256};
    let path = dir.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        let bytes = std::fs::read(dir.join(file["name"].as_str().unwrap())).unwrap();
        file["bytes"] = json!(bytes.len());
        file["sha256"] = json!(hex::encode(Sha256::digest(&bytes)));
    }
    let mut text = serde_json::to_vec_pretty(&manifest).unwrap();
    text.push(b'\n');
    std::fs::write(&path, text).unwrap();
}

/// The lines of a line file.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
