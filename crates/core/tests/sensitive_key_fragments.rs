//! The Python client reads its default sensitive key fragments from a data file shipped in its
//! package instead of writing the list out again; this keeps that file equal to the server's.

use ml_audit_core::redaction::SENSITIVE_KEY_FRAGMENTS;
use serde_json::Value;

#[test]
fn the_python_client_ships_the_server_default_fragments() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../clients/python/src/ml_audit/sensitive_key_fragments.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the fragments file exists"))
        .expect("the fragments file is JSON");
    let fragments: Vec<&str> = file["fragments"]
        .as_array()
        .expect("`fragments` is an array")
        .iter()
        .map(|item| item.as_str().expect("fragments are strings"))
        .collect();
    assert_eq!(fragments, SENSITIVE_KEY_FRAGMENTS, "{path} and SENSITIVE_KEY_FRAGMENTS differ");
}
