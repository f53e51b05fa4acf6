//! The Python client applies django-ml-audit's key-name rules before anything leaves the
//! process; the server applies them again. Both must agree: these vectors are shared with
//! `clients/python/tests/` and checked against both engines.

use ml_audit_core::redaction::{RedactionConfig, RedactionPolicy};
use serde_json::Value;

#[test]
fn the_rust_engine_gives_the_shared_vectors_expected_features() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../clients/python/tests/vectors/redaction_key_rules.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).expect("the shared vectors exist"))
        .expect("the vectors are JSON");
    assert!(cases.len() >= 10, "too few shared vectors to mean anything");
    for case in cases {
        let config = &case["config"];
        let list = |name: &str| -> Vec<String> {
            config[name].as_array().map_or_else(Vec::new, |items| {
                items.iter().map(|item| item.as_str().expect("list entries are strings").to_owned()).collect()
            })
        };
        let policy = RedactionPolicy::new(RedactionConfig {
            allowlist: list("allowlist"),
            denylist: list("denylist"),
            mask_value: config["mask_value"].as_str().unwrap_or("*****").to_owned(),
        });
        let redacted = policy.redact_features(case["features"].clone());
        assert_eq!(redacted.value, case["expected"], "vector {:?}", case["name"]);
    }
}
