//! Proof files as `GET /api/v1/predictions/{ref}/proof` exports them, built here from core types
//! for a small log of v1 and v2 (salted) records, checked by both offline verifiers:
//! [`verify_exported_proof`] (`ml-audit verify --proof`) and the auditor's standard-library
//! Python script, `docs/verify_record.py`, which must agree with the Rust side on every byte of
//! RFC 8785 (numbers above all) to recompute a v1 leaf or a v2 commitment.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use time::macros::datetime;
use uuid::Uuid;

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::{LeafHashes, inclusion_proof, root_from_leaves};
use ml_audit_core::ledger::record::LedgerRecord;
use ml_audit_core::model::{ActorType, Explanation, ModelVersion, PredictionEvent, RequestingActor, Status};
use ml_audit_ledger::key::{LedgerKey, LedgerVerifier};
use ml_audit_ledger::verify::verify_exported_proof;

const SALT: [u8; 32] = [7; 32];

/// Numbers whose RFC 8785 spelling differs from `serde_json`'s, or is easy to get wrong, and a
/// deterministic spread of arbitrary doubles.
fn awkward_numbers() -> Value {
    let mut numbers = vec![
        json!(1.0),
        json!(-0.0),
        json!(0.1 + 0.2),
        json!(1e21),
        json!(1e20),
        json!(123_456_789.125),
        json!(1e-7),
        json!(1.5e-6),
        json!(5e-324),
        json!(f64::MAX),
        json!(-1.7976931348623157e308),
        json!(9_007_199_254_740_993u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0.000_001),
        json!(4.35),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    while numbers.len() < 600 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let double = f64::from_bits(state);
        if double.is_finite() {
            numbers.push(json!(double));
        }
    }
    Value::Array(numbers)
}

fn model() -> ModelVersion {
    ModelVersion {
        id: Uuid::from_u128(1),
        model_name: "credit_risk".into(),
        version: "3.1.0".into(),
        framework: "lightgbm".into(),
        build_id: "b-17".into(),
        commit_hash: "abc123".into(),
        config_snapshot: Some(json!({"learning_rate": 0.05, "num_leaves": 31.0, "seed": 9_007_199_254_740_993u64})),
        is_active: true,
        created_at: datetime!(2026-01-02 03:04:05.123456 UTC),
    }
}

fn prediction(n: u128, salt: Option<[u8; 32]>, with_actor: bool) -> PredictionEvent {
    PredictionEvent {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
        prediction_id: format!("loan-{n}"),
        timestamp: datetime!(2026-11-27 08:00:00 UTC),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        environment: "prod".into(),
        model: model(),
        actor: with_actor.then(|| RequestingActor {
            id: Uuid::from_u128(2),
            actor_type: ActorType::ApiKey,
            actor_id: "key-7".into(),
            tenant_id: "acme".into(),
            ip_address: None,
            user_agent: "underwriting/2.0".into(),
            auth_context: Some(json!({"scopes": ["read", "write"]})),
            created_at: datetime!(2026-01-02 00:00:00 UTC),
        }),
        tenant_id: if with_actor { "acme".into() } else { String::new() },
        features: json!({
            "income": 52_000, "ratio": 0.3333333333333333, "numbers": awkward_numbers(),
            "note": "line\nbreak\t\"quoted\" \\ \u{1} \u{7f} € \u{1f600}", "email": "[REDACTED]",
            // Sorted by UTF-16 code units: U+10000 (D800 DC00) before U+E000.
            "\u{e000}": 1, "\u{10000}": 2, "é": 3, "Z": 4, "": 5,
        }),
        redactions: vec!["$.email".into()],
        input_fingerprint: "sha256:00ff".into(),
        output: json!({"score": 0.87, "label": "approve"}),
        confidence: Some(1.0),
        decision_outcome: "approved".into(),
        status: Status::Success,
        latency_ms: Some(12.5),
        metadata: json!({"region": "eu-west-1"}),
        metadata_redactions: vec![],
        redaction_log: vec![],
        explanation: None,
        ledger: None,
        created_at: datetime!(2026-11-27 08:00:00.5 UTC),
        salt,
        erased: None,
        outcome: None,
        reviews: vec![],
        decision: ml_audit_core::model::Decision::unreviewed(""),
    }
}

fn explanation(n: u128, salt: Option<[u8; 32]>) -> Explanation {
    Explanation {
        id: Uuid::from_u128(100 + n),
        prediction_ref: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n),
        method: "shap".into(),
        method_version: "0.46".into(),
        payload: json!({"income": 0.25, "ratio": -0.125, "big": 1e300, "tiny": 1e-300}),
        summary_text: "Income drove the score.".into(),
        status: Status::Partial,
        generated_at: datetime!(2026-11-27 08:00:01 UTC),
        created_at: datetime!(2026-11-27 08:00:02.000001 UTC),
        revision: 2,
        // A client's id where the explanation is salted: the member the auditor's verifier
        // must take as it comes.
        explanation_id: salt.map(|_| format!("explanation-{n}")),
        salt,
    }
}

/// A log of these records, its signed checkpoint, and the proof file of each record.
struct Log {
    dir: PathBuf,
    verifier: LedgerVerifier,
    note: String,
    proofs: Vec<Value>,
}

impl Log {
    fn new(name: &str, records: &[LedgerRecord]) -> Log {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exported-proofs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let leaves: Vec<_> = records.iter().map(LedgerRecord::leaf_hash).collect();
        let key = LedgerKey::ephemeral("ml-audit.test/log").unwrap();
        let size = leaves.len() as u64;
        let checkpoint = Checkpoint {
            origin: key.origin().to_owned(),
            tree_size: size,
            root: root_from_leaves(&leaves),
            time: datetime!(2026-11-27 09:00:00 UTC),
        };
        let note = key.sign(&checkpoint).unwrap();
        let proofs = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let path = inclusion_proof(index as u64, size, &mut LeafHashes(&leaves)).unwrap();
                json!({
                    "leaf_index": index, "tree_size": size,
                    "leaf_hash": hex::encode(leaves[index]),
                    "leaf_data": base64::engine::general_purpose::STANDARD.encode(record.leaf_data()),
                    "record": record.canonical_document(),
                    "salt": record.salt().map(hex::encode),
                    "inclusion_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
                    "checkpoint": note,
                })
            })
            .collect();
        std::fs::write(dir.join("checkpoint.txt"), &note).unwrap();
        Log { dir, verifier: key.verifier().clone(), note, proofs }
    }

    /// Both verifiers on `proof`, as files: `Ok` when both accept it, else both their messages
    /// (a test fails when only one of them accepts it).
    fn check(&self, proof: &Value) -> Result<(), String> {
        // As an auditor gets it: JSON text, read back.
        let proof: Value = serde_json::from_str(&proof.to_string()).unwrap();
        let rust = verify_exported_proof(&proof, &self.note, &self.verifier).map(drop).map_err(|e| e.to_string());
        let file = self.dir.join("proof.json");
        std::fs::write(&file, proof.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify_record.py");
        let output = Command::new("python3")
            .arg(&script)
            .arg(&file)
            .arg(self.dir.join("checkpoint.txt"))
            .arg(self.verifier.vkey())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("python3 runs");
        let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        match (rust, output.status.code()) {
            (Ok(()), Some(0)) => {
                assert!(printed.contains("record verified"), "{printed}");
                Ok(())
            }
            (Err(rust), Some(1)) => Err(format!("rust: {rust}\npython: {printed}")),
            (rust, code) => panic!("the verifiers disagree: rust {rust:?}, python exit {code:?}: {printed}"),
        }
    }
}

fn records() -> Vec<LedgerRecord> {
    vec![
        LedgerRecord::Prediction(Box::new(prediction(1, None, true))),
        LedgerRecord::Explanation(explanation(1, None)),
        LedgerRecord::Prediction(Box::new(prediction(2, Some(SALT), true))),
        LedgerRecord::Prediction(Box::new(prediction(3, Some([0xa5; 32]), false))),
        LedgerRecord::Explanation(explanation(2, Some(SALT))),
    ]
}

fn assert_refused(log: &Log, proof: &Value, expected: &str) {
    let refused = log.check(proof).expect_err("both verifiers must refuse the proof");
    assert_eq!(refused.matches(expected).count(), 2, "both verifiers must say {expected:?}:\n{refused}");
}

#[test]
fn every_record_of_a_mixed_log_verifies_offline() {
    let log = Log::new("intact", &records());
    for proof in &log.proofs {
        log.check(proof).unwrap_or_else(|e| panic!("{e}\n{proof:.300}"));
    }
    assert_eq!(log.proofs[0]["salt"], Value::Null);
    assert_eq!(log.proofs[2]["record"]["v"], 2);
}

#[test]
fn a_record_that_is_not_what_its_leaf_commits_to_is_refused() {
    let log = Log::new("altered", &records());
    let (v1, v2, anonymous, v2_explanation) = (&log.proofs[0], &log.proofs[2], &log.proofs[3], &log.proofs[4]);
    let altered = |proof: &Value, change: &dyn Fn(&mut Value)| {
        let mut proof = proof.clone();
        change(&mut proof);
        proof
    };

    let v1_outcome = altered(v1, &|p| p["record"]["decision_outcome"] = json!("declined"));
    assert_refused(&log, &v1_outcome, "the record's canonical bytes are not the leaf data");
    let v2_outcome = altered(v2, &|p| p["record"]["decision_outcome"] = json!("declined"));
    assert_refused(&log, &v2_outcome, "the record's decision_outcome differs from the sealed one");
    let v2_tenant = altered(anonymous, &|p| p["record"]["actor"] = v2["record"]["actor"].clone());
    assert_refused(&log, &v2_tenant, "the record's tenant_id differs from the sealed one");
    let v2_features = altered(v2, &|p| p["record"]["features"]["income"] = json!(52_001));
    assert_refused(&log, &v2_features, "the record does not hash to the sealed commitment");
    let v2_summary = altered(v2_explanation, &|p| p["record"]["summary_text"] = json!("Nothing."));
    assert_refused(&log, &v2_summary, "the record does not hash to the sealed commitment");
    // Another salted record's content, shown with its own salt, is not this leaf's.
    let swapped = altered(v2, &|p| {
        p["record"] = anonymous["record"].clone();
        p["salt"] = anonymous["salt"].clone();
    });
    assert_refused(&log, &swapped, "the record does not match its leaf");

    let wrong_salt = altered(v2, &|p| p["salt"] = json!(hex::encode([8u8; 32])));
    assert_refused(&log, &wrong_salt, "the record does not hash to the sealed commitment");
    let short_salt = altered(v2, &|p| p["salt"] = json!("0707"));
    assert_refused(&log, &short_salt, "the salt is not 64 hex digits");
    let no_salt = altered(v2, &|p| p["salt"] = Value::Null);
    assert_refused(&log, &no_salt, "but the proof gives no salt");
    let absent_salt = altered(v2_explanation, &|p| drop(p.as_object_mut().unwrap().remove("salt")));
    assert_refused(&log, &absent_salt, "but the proof gives no salt");
    let salted_v1 = altered(v1, &|p| p["salt"] = json!(hex::encode(SALT)));
    assert_refused(&log, &salted_v1, "the leaf is not a v2 seal");

    // The record is always part of a proof file.
    let without_record = altered(v1, &|p| drop(p.as_object_mut().unwrap().remove("record")));
    assert!(log.check(&without_record).is_err());
}
