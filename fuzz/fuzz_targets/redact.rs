//! Arbitrary bytes, read as JSON (and, when they are not JSON, as one string), through the
//! default policy and through one that uses every action: the engine must not panic, and no
//! string, key name or path it emits may hold anything a detector detects.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ml_audit_core::redaction::{
    Action, HashKey, Part, PolicyConfig, RedactionPolicy, RuleConfig, contains_personal_data,
};
use serde_json::Value;

/// The default policy, and one with every action and every part in use.
static POLICIES: LazyLock<[(RedactionPolicy, &[Part]); 2]> = LazyLock::new(|| {
    let mut config = PolicyConfig {
        apply_to: Part::ALL.to_vec(),
        rules: vec![
            RuleConfig::new("contact", Action::Hash),
            RuleConfig::new("*.note", Action::Partial { keep_last: 12 }),
            RuleConfig::new("items[]", Action::Partial { keep_last: 6 }).in_parts(&[Part::Features, Part::Output]),
            RuleConfig::new("drop_me", Action::Drop),
        ],
        ..PolicyConfig::default()
    };
    config.detectors.email.action = Action::Hash;
    config.detectors.card.action = Action::Partial { keep_last: 4 };
    config.detectors.phone.action = Action::Partial { keep_last: 2 };
    config.detectors.ip.action = Action::Hash;
    let key = HashKey::new("fuzzing-key-0123456789abcdef").expect("long enough");
    let configured = RedactionPolicy::build(config, Some(key)).expect("a valid policy");
    // The default policy leaves output alone, so only the configured one is checked there.
    [
        (RedactionPolicy::default(), &[Part::Features, Part::Metadata]),
        (configured, &[Part::Features, Part::Metadata, Part::Output]),
    ]
});

fuzz_target!(|data: &[u8]| {
    let value = match serde_json::from_slice::<Value>(data) {
        Ok(value) => value,
        Err(_) => Value::String(String::from_utf8_lossy(data).into_owned()),
    };
    for (policy, parts) in POLICIES.iter() {
        let mut redaction = policy.for_model("fuzz");
        for &part in *parts {
            let redacted = redaction.redact(part, value.clone());
            assert_clean(&redacted.value);
            for path in &redacted.paths {
                assert!(!contains_personal_data(path), "a path holds personal data: {path:?}");
            }
        }
        if let Value::String(text) = &value {
            let user_agent = redaction.redact_user_agent(text.clone());
            if policy.has_hash_key() {
                assert!(!contains_personal_data(&user_agent), "survived in the user agent: {user_agent:?}");
            }
        }
        for entry in redaction.finish().log {
            assert!(!contains_personal_data(&entry.path), "a logged path holds personal data: {:?}", entry.path);
        }
    }
});

fn assert_clean(value: &Value) {
    match value {
        Value::String(text) => assert!(!contains_personal_data(text), "survived: {text:?}"),
        Value::Array(items) => items.iter().for_each(assert_clean),
        Value::Object(map) => {
            for (key, child) in map {
                assert!(!contains_personal_data(key), "a key survived: {key:?}");
                assert_clean(child);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}
