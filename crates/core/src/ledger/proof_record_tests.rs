use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::ledger::record::LedgerRecord;
use crate::ledger::record::tests::{arb_explanation, arb_prediction, event, explanation};

const SALT: [u8; 32] = [7; 32];

/// The `record`, `salt` and decoded `leaf_data` of the proof file of `record`, the record read
/// back from JSON text as a verifier reads it.
fn proof_of(record: &LedgerRecord) -> (Value, Option<String>, Vec<u8>) {
    let document = serde_json::from_str(&record.canonical_document().to_string()).unwrap();
    (document, record.salt().map(hex::encode), record.leaf_data())
}

fn check(record: &Value, salt: Option<&str>, leaf_data: &[u8]) -> Result<(), String> {
    check_record_against_leaf(record, salt, leaf_data)
}

fn salted_prediction() -> LedgerRecord {
    let mut event = event();
    event.salt = Some(SALT);
    LedgerRecord::Prediction(Box::new(event))
}

fn salted_explanation() -> LedgerRecord {
    let mut explanation = explanation();
    explanation.salt = Some(SALT);
    LedgerRecord::Explanation(explanation)
}

fn assert_error(result: Result<(), String>, expected: &str) {
    let error = result.expect_err("the record must not match its leaf");
    assert!(error.contains(expected), "{error:?} does not say {expected:?}");
}

#[test]
fn v1_records_are_their_leaf_data() {
    for record in [LedgerRecord::Prediction(Box::new(event())), LedgerRecord::Explanation(explanation())] {
        let (document, salt, leaf_data) = proof_of(&record);
        assert_eq!(salt, None);
        assert_eq!(check(&document, None, &leaf_data), Ok(()));
    }
}

#[test]
fn v2_records_match_their_seal() {
    let mut anonymous = event();
    anonymous.salt = Some(SALT);
    anonymous.actor = None;
    anonymous.tenant_id = String::new();
    // Held as a float in the record, written `1` in the seal: the same number to RFC 8785.
    anonymous.confidence = Some(1.0);
    anonymous.model.config_snapshot = Some(json!({"eta": 2.0, "id": 9_007_199_254_740_993u64}));
    for record in [salted_prediction(), salted_explanation(), LedgerRecord::Prediction(Box::new(anonymous))] {
        let (document, salt, leaf_data) = proof_of(&record);
        let seal: Value = serde_json::from_slice(&leaf_data).unwrap();
        assert_eq!(seal["v"], 2, "{seal}");
        assert_eq!(check(&document, salt.as_deref(), &leaf_data), Ok(()), "{seal}");
    }
}

#[test]
fn a_changed_record_field_is_named_or_breaks_the_commitment() {
    let (document, salt, leaf_data) = proof_of(&salted_prediction());
    let mut changed = document.clone();
    changed["decision_outcome"] = json!("declined");
    assert_error(
        check(&changed, salt.as_deref(), &leaf_data),
        "the record's decision_outcome differs from the sealed one",
    );
    let mut changed = document.clone();
    changed["actor"]["tenant_id"] = json!("globex");
    assert_error(check(&changed, salt.as_deref(), &leaf_data), "the record's tenant_id differs from the sealed one");
    let mut changed = document.clone();
    changed["features"]["amount"] = json!(1234.6);
    assert_error(check(&changed, salt.as_deref(), &leaf_data), "the record does not hash to the sealed commitment");

    let (document, salt, leaf_data) = proof_of(&salted_explanation());
    let mut changed = document;
    changed["summary_text"] = json!("Nothing to see.");
    assert_error(check(&changed, salt.as_deref(), &leaf_data), "the record does not hash to the sealed commitment");

    let (document, _, leaf_data) = proof_of(&LedgerRecord::Prediction(Box::new(event())));
    let mut changed = document;
    changed["decision_outcome"] = json!("declined");
    assert_error(check(&changed, None, &leaf_data), "the record's canonical bytes are not the leaf data");
}

#[test]
fn a_wrong_salt_breaks_the_commitment() {
    let (document, _, leaf_data) = proof_of(&salted_prediction());
    let wrong = hex::encode([8u8; 32]);
    assert_error(check(&document, Some(&wrong), &leaf_data), "the record does not hash to the sealed commitment");
    for malformed in ["07", &"0".repeat(63), &"z".repeat(64), &hex::encode([7u8; 33])] {
        assert_error(check(&document, Some(malformed), &leaf_data), "the salt is not 64 hex digits");
    }
}

#[test]
fn a_changed_seal_member_is_named() {
    let (document, salt, leaf_data) = proof_of(&salted_prediction());
    let reseal = |name: &str, value: Value| {
        let mut seal: Value = serde_json::from_slice(&leaf_data).unwrap();
        seal[name] = value;
        to_canonical_vec(&seal)
    };
    let salt = salt.as_deref();
    assert_error(check(&document, salt, &reseal("status", json!("failed"))), "the record's status differs");
    assert_error(check(&document, salt, &reseal("tenant_id", json!(""))), "the record's tenant_id differs");
    assert_error(check(&document, salt, &reseal("model", json!({}))), "the record's model differs");
    assert_error(check(&document, salt, &reseal("extra", json!(1))), "the record's extra differs");
    assert_error(check(&document, salt, &reseal("commitment", json!("00"))), "does not hash to the sealed commitment");
    assert_error(check(&document, salt, &reseal("v", json!(1))), "the leaf is not a v2 seal");

    let (document, salt, leaf_data) = proof_of(&salted_explanation());
    let mut seal: Value = serde_json::from_slice(&leaf_data).unwrap();
    seal["revision"] = json!(3);
    assert_error(check(&document, salt.as_deref(), &to_canonical_vec(&seal)), "the record's revision differs");
}

#[test]
fn a_v2_leaf_needs_its_salt() {
    for record in [salted_prediction(), salted_explanation()] {
        let (document, _, leaf_data) = proof_of(&record);
        assert_error(check(&document, None, &leaf_data), "but the proof gives no salt");
        // Nor does the seal itself pass for the record.
        let seal: Value = serde_json::from_slice(&leaf_data).unwrap();
        assert_error(check(&seal, None, &leaf_data), "but the proof gives no salt");
    }
}

#[test]
fn a_salt_needs_a_v2_leaf_and_record() {
    let (document, _, leaf_data) = proof_of(&LedgerRecord::Prediction(Box::new(event())));
    let salt = hex::encode(SALT);
    assert_error(check(&document, Some(&salt), &leaf_data), "the leaf is not a v2 seal");
    assert_error(check(&document, Some(&salt), b"not json"), "the leaf data is not a JSON seal");

    let (mut document, salt, leaf_data) = proof_of(&salted_prediction());
    document["v"] = json!(1);
    assert_error(check(&document, salt.as_deref(), &leaf_data), "the record is not a v2 record");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever a record holds (numbers RFC 8785 rewrites, any text, with or without a salt), its
    /// proof file's record matches its leaf.
    #[test]
    fn every_record_matches_its_own_leaf(event in arb_prediction(), explanation in arb_explanation()) {
        for record in [LedgerRecord::Prediction(Box::new(event)), LedgerRecord::Explanation(explanation)] {
            let (document, salt, leaf_data) = proof_of(&record);
            prop_assert_eq!(check(&document, salt.as_deref(), &leaf_data), Ok(()));
        }
    }
}
