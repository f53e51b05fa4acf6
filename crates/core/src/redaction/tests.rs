use serde_json::{Value, json};

use super::*;

fn policy_with(allowlist: &[&str], denylist: &[&str], mask_value: &str) -> RedactionPolicy {
    RedactionPolicy::new(RedactionConfig {
        allowlist: allowlist.iter().map(|key| key.to_string()).collect(),
        denylist: denylist.iter().map(|key| key.to_string()).collect(),
        mask_value: mask_value.to_owned(),
    })
}

fn redact_text(text: &str) -> String {
    match RedactionPolicy::default().redact_values(json!(text)).value {
        Value::String(redacted) => redacted,
        other => panic!("a string stays a string, got {other}"),
    }
}

#[track_caller]
fn assert_masked(texts: &[&str]) {
    for text in texts {
        assert_eq!(redact_text(text), DEFAULT_MASK, "{text:?} should be masked entirely");
    }
}

#[track_caller]
fn assert_kept(texts: &[&str]) {
    for text in texts {
        assert_eq!(redact_text(text), *text, "{text:?} should be kept");
    }
}

// Behaviours of django-ml-audit 0.2.0.

#[test]
fn email_key_gets_the_default_mask() {
    let redacted = RedactionPolicy::default().redact_features(json!({"age": 42, "email": "user@example.com"}));
    assert_eq!(redacted.value, json!({"age": 42, "email": "*****"}));
    assert_eq!(redacted.paths, ["$.email"]);
}

#[test]
fn custom_mask_and_allowlist() {
    let policy = policy_with(&["amount", "email"], &[], "[redacted]");
    let redacted = policy.redact_features(json!({"amount": 120.5, "email": "user@example.com", "password": "hunter2"}));
    assert_eq!(redacted.value, json!({"amount": 120.5, "email": "user@example.com", "password": "[redacted]"}));
    assert_eq!(redacted.paths, ["$.password"]);
    assert_eq!(policy.config().mask_value, "[redacted]");
}

#[test]
fn denylisted_key_is_masked() {
    let redacted = policy_with(&[], &["national_id"], DEFAULT_MASK)
        .redact_features(json!({"age": 42, "national_id": "AB 12 34 56 C"}));
    assert_eq!(redacted.value, json!({"age": 42, "national_id": "*****"}));
    assert_eq!(redacted.paths, ["$.national_id"]);
}

#[test]
fn ip_address_key_is_masked_by_default() {
    let redacted = RedactionPolicy::default().redact_features(json!({"ip_address": "10.0.0.1"}));
    assert_eq!(redacted.value, json!({"ip_address": "*****"}));
    assert_eq!(redacted.paths, ["$.ip_address"]);
}

#[test]
fn key_rules_ignore_case() {
    let redacted = RedactionPolicy::default().redact_features(json!({"Email": "a", "USER_PASSWORD": "b", "age": 3}));
    assert_eq!(redacted.value, json!({"Email": "*****", "USER_PASSWORD": "*****", "age": 3}));

    let policy = policy_with(&["AMOUNT", "Contact_Email"], &["National_ID"], DEFAULT_MASK);
    let redacted = policy.redact_features(json!({"amount": 1, "contact_EMAIL": "x", "NATIONAL_id": "y"}));
    assert_eq!(redacted.value, json!({"amount": 1, "contact_EMAIL": "x", "NATIONAL_id": "*****"}));
}

#[test]
fn a_key_on_both_lists_is_kept() {
    let redacted = policy_with(&["national_id"], &["national_id"], DEFAULT_MASK)
        .redact_features(json!({"national_id": "AB123456C"}));
    assert_eq!(redacted.value, json!({"national_id": "AB123456C"}));
    assert!(redacted.paths.is_empty());
}

#[test]
fn every_default_fragment_masks_a_key_containing_it() {
    for fragment in SENSITIVE_KEY_FRAGMENTS {
        let key = format!("customer_{fragment}_v2");
        let redacted = RedactionPolicy::default().redact_features(json!({ key.clone(): 7 }));
        assert_eq!(redacted.value, json!({ key: "*****" }), "{fragment}");
    }
    let redacted = RedactionPolicy::default().redact_features(json!({"age": 42, "country": "FR", "score": 0.5}));
    assert!(redacted.paths.is_empty());
}

// Nesting and paths.

#[test]
fn nested_objects_and_arrays_report_paths_in_document_order() {
    let redacted = RedactionPolicy::default().redact_features(json!({
        "customer": {"age": 42, "email": "user@example.com"},
        "items": [{"card_number": "4111 1111 1111 1111", "sku": "A-1"}, {"sku": "B-2"}],
        "note": "call me at +44 20 7946 0958 please",
        "tags": ["vip", "backup: ops@example.com"],
    }));
    assert_eq!(
        redacted.value,
        json!({
            "customer": {"age": 42, "email": "*****"},
            "items": [{"card_number": "*****", "sku": "A-1"}, {"sku": "B-2"}],
            "note": "call me at ***** please",
            "tags": ["vip", "backup: *****"],
        })
    );
    assert_eq!(redacted.paths, ["$.customer.email", "$.items[0].card_number", "$.note", "$.tags[1]"]);
}

#[test]
fn a_masked_key_holding_a_container_lists_only_its_own_path() {
    let redacted = RedactionPolicy::default().redact_features(json!({
        "customer": {"address": {"city": "Paris", "email": "a@example.com"}, "phones": ["+33 1 23 45 67 89"]},
    }));
    assert_eq!(redacted.value, json!({"customer": {"address": "*****", "phones": "*****"}}));
    assert_eq!(redacted.paths, ["$.customer.address", "$.customer.phones"]);
}

#[test]
fn allowlisted_subtree_is_untouched() {
    let contact = json!({"email": "a@example.com", "phone": "+44 20 7946 0958", "notes": ["ssn 078-05-1120"]});
    let redacted = policy_with(&["contact"], &[], DEFAULT_MASK)
        .redact_features(json!({"contact": contact.clone(), "other": "b@example.com"}));
    assert_eq!(redacted.value, json!({"contact": contact, "other": "*****"}));
    assert_eq!(redacted.paths, ["$.other"]);
}

#[test]
fn keys_that_are_not_identifiers_use_brackets() {
    let redacted = RedactionPolicy::default().redact_features(json!({
        "_ok9": ["10.0.0.1"],
        "customer data": {"1st": "a@example.com", "home phone": "x", "quote\"d": "b@example.com"},
    }));
    assert_eq!(
        redacted.paths,
        [
            "$._ok9[0]",
            r#"$["customer data"]["1st"]"#,
            r#"$["customer data"]["home phone"]"#,
            r#"$["customer data"]["quote\"d"]"#
        ]
    );
}

#[test]
fn a_string_with_several_matches_is_listed_once() {
    let redacted =
        RedactionPolicy::default().redact_features(json!({"note": "a@example.com or b@example.org, 10.0.0.1"}));
    assert_eq!(redacted.value, json!({"note": "***** or *****, *****"}));
    assert_eq!(redacted.paths, ["$.note"]);
}

#[test]
fn metadata_gets_value_detectors_but_no_key_rules() {
    let redacted = RedactionPolicy::default()
        .redact_values(json!({"password": "hunter2", "source": {"note": "from user@example.com"}}));
    assert_eq!(redacted.value, json!({"password": "hunter2", "source": {"note": "from *****"}}));
    assert_eq!(redacted.paths, ["$.source.note"]);
}

#[test]
fn numbers_and_a_bare_string_root() {
    let redacted = RedactionPolicy::default().redact_values(json!([4111111111111111u64, 5551234567u64, true, null]));
    assert!(redacted.paths.is_empty());
    let redacted = RedactionPolicy::default().redact_values(json!("user@example.com"));
    assert_eq!(redacted, Redacted { value: json!("*****"), paths: vec!["$".into()] });
}

#[test]
fn value_detectors_use_the_configured_mask() {
    let redacted = policy_with(&[], &[], "[redacted]").redact_features(json!({"note": "ping 10.0.0.1"}));
    assert_eq!(redacted.value, json!({"note": "ping [redacted]"}));
}

#[test]
fn deep_nesting_does_not_overflow() {
    let mut value = json!({"contact": "user@example.com"});
    for _ in 0..250 {
        value = json!({"a": [value]});
    }
    let redacted = RedactionPolicy::default().redact_features(value);
    assert_eq!(redacted.paths, [format!("${}.contact", ".a[0]".repeat(250))]);
}

// Value detectors.

#[test]
fn emails() {
    assert_masked(&[
        "user@example.com",
        "first.last+tag@mail.example.co.uk",
        "josé.garcía@correo.es",
        "a_b-c%d@x-y.io",
    ]);
    assert_kept(&["@handle", "user@localhost", "a@b", "me at example dot com", "2 @ 3.50"]);
    assert_eq!(redact_text("(write to ops@example.com.)"), "(write to *****.)");
}

#[test]
fn payment_cards_must_pass_luhn() {
    assert_masked(&[
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "378282246310005",
        "3782 822463 10005",
        "6011111111111117",
        "4222222222222",
        "6759649826438453177",
        "6759 6498 2643 8453 177",
    ]);
    assert_kept(&[
        "4111111111111112",
        "4111 1111 1111 1112",
        "0000000000000000",
        "0000 0000 0000 0000",
        "41111111111111111111111",
        "3.4111111111111111",
        "tx4111111111111111",
        "txn_4111111111111111",
        "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6",
        "12 34 56 78 90 12 34 56",
    ]);
    assert_eq!(redact_text("4111111111111111 2027"), "***** 2027");
    assert_eq!(redact_text("ref 12 4111 1111 1111 1111, exp 12/27"), "ref 12 *****, exp 12/27");
}

#[test]
fn phone_numbers() {
    assert_masked(&[
        "+44 20 7946 0958",
        "+1 (555) 123-4567",
        "+1-555-123-4567",
        "+33 1 23 45 67 89",
        "+44 (0)20 7946 0958",
        "+491701234567",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "555 123 4567",
        "1-800-555-0199",
    ]);
    assert_kept(&[
        "2026-11-27",
        "2026-11-27T08:00:00Z",
        "27/11/2026 08:00",
        "12:30:45",
        "1.2.3",
        "v10.20.3000",
        "0.87",
        "+1.5",
        "+0.87654321",
        "+1.23456789",
        "12345",
        "+12 34",
        "1764201600",
        "3.14159265358979",
        "555-123-4567-89",
        "12.555.123.4567",
    ]);
    assert_eq!(redact_text("call me at +44 20 7946 0958 please"), "call me at ***** please");
    assert_eq!(redact_text("+44 20 7946 0958 2026"), "***** 2026");
}

#[test]
fn ibans_must_pass_mod_97() {
    assert_masked(&[
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "NL91ABNA0417164300",
        "FR1420041010050500013M02606",
    ]);
    assert_kept(&["GB83 WEST 1234 5698 7654 32", "GB82WEST12345698765433", "XGB82WEST12345698765432", "AB12 CD"]);
    assert_eq!(redact_text("pay to GB82 WEST 1234 5698 7654 32 today"), "pay to ***** today");
    assert_eq!(redact_text("DE89 3704 0044 0532 0130 00 EURO"), "***** EURO");
}

#[test]
fn us_ssns() {
    assert_masked(&["123-45-6789", "078-05-1120"]);
    assert_kept(&[
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
        "123-45-67890",
        "1123-45-6789",
    ]);
    assert_eq!(redact_text("SSN: 123-45-6789."), "SSN: *****.");
}

#[test]
fn ip_addresses() {
    assert_masked(&[
        "192.168.1.1",
        "255.255.255.255",
        "2001:db8::8a2e:370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "fe80::1",
        "::1",
        "::ffff:192.168.1.1",
    ]);
    assert_kept(&[
        "256.1.1.1",
        "999.999.999.999",
        "1.2.3",
        "1.2.3.4.5",
        "12:30:45",
        "12:30:45.123",
        "00:1A:2B:3C:4D:5E",
        "std::fmt::Debug",
        "Foo::bar",
        "::",
    ]);
    assert_eq!(redact_text("10.0.0.1:8080"), "*****:8080");
    assert_eq!(redact_text("[::1]:8080"), "[*****]:8080");
    assert_eq!(redact_text("from 10.0.0.1 and fe80::1: refused"), "from ***** and *****: refused");
}

#[test]
fn ordinary_values_are_kept() {
    assert_kept(&[
        "",
        "flagged",
        "mobile",
        "fraud_detector",
        "1.0.0",
        "0.87",
        "2026-11-27T08:00:00.123456Z",
        "550e8400-e29b-41d4-a716-446655440000",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "Order shipped to Paris on 12 May",
        "model v2 scored 0.87 at 12:30",
    ]);
}

#[test]
fn detected_values_never_survive() {
    let personal_data = [
        "user@example.com",
        "4111 1111 1111 1111",
        "5555555555554444",
        "+44 20 7946 0958",
        "(555) 123-4567",
        "555.123.4567",
        "GB82 WEST 1234 5698 7654 32",
        "NL91ABNA0417164300",
        "078-05-1120",
        "192.168.0.42",
        "2001:db8::8a2e:370:7334",
    ];
    let prefixes = ["", " ", "note: ", "(", "\"", "→", "a, ", "id=", "\n"];
    let suffixes = ["", " ", ".", ", thanks", ")", "\"", ";", "\t!"];
    for first in personal_data {
        for second in personal_data {
            for prefix in prefixes {
                for suffix in suffixes {
                    let text = format!("{prefix}{first} / {second}{suffix}");
                    let redacted = redact_text(&text);
                    assert!(!redacted.contains(first) && !redacted.contains(second), "{text:?} gave {redacted:?}");
                    assert!(redacted.starts_with(prefix) && redacted.ends_with(suffix), "{text:?} gave {redacted:?}");
                }
            }
        }
    }
}

#[test]
fn odd_strings_do_not_panic() {
    let long_digits = "9".repeat(1000);
    let spaced_digits = "4 ".repeat(500);
    let colons = ":".repeat(100);
    let mixed = "+(1) ".repeat(100);
    let unicode = "é@é.éé 📞555-123-4567 ١٢٣-٤٥-٦٧٨٩ ＋４４";
    for text in
        ["@", "::", "+", "(", "+((((", "\u{0}", "-", ".", &long_digits, &spaced_digits, &colons, &mixed, unicode]
    {
        redact_text(text);
    }
    assert_eq!(redact_text("📞555-123-4567"), "📞*****");
}

// Policy configuration: detectors, actions, rules, models, parts.

const KEY: &str = "test-key-0123456789abcdef";

fn hash_key() -> Option<HashKey> {
    Some(HashKey::new(KEY).unwrap())
}

fn build(configure: impl FnOnce(&mut PolicyConfig)) -> RedactionPolicy {
    let mut config = PolicyConfig::default();
    configure(&mut config);
    RedactionPolicy::build(config, hash_key()).unwrap()
}

fn build_error(configure: impl FnOnce(&mut PolicyConfig)) -> String {
    let mut config = PolicyConfig::default();
    configure(&mut config);
    RedactionPolicy::build(config, hash_key()).unwrap_err().to_string()
}

fn rule(pattern: &str, action: Action) -> RuleConfig {
    RuleConfig::new(pattern, action)
}

/// `(path, rule, action)` of each log entry.
fn log_of(policy: &RedactionPolicy, model: &str, part: Part, value: Value) -> (Value, Vec<(String, String, String)>) {
    let mut redaction = policy.for_model(model);
    let redacted = redaction.redact(part, value);
    let log = redaction.finish().log;
    assert!(log.iter().all(|entry| entry.part == part));
    (redacted.value, log.into_iter().map(|e| (e.path, e.rule.into_owned(), e.action.as_str().to_owned())).collect())
}

/// Checks a log's `(path, rule, action)`s, in order.
fn assert_log(log: &[(String, String, String)], expected: &[(&str, &str, &str)]) {
    let log: Vec<_> = log.iter().map(|(path, rule, action)| (path.as_str(), rule.as_str(), action.as_str())).collect();
    assert_eq!(log, expected);
}

fn token(value: &str) -> String {
    RedactionPolicy::build(PolicyConfig::default(), hash_key()).unwrap().subject_token(value).unwrap()
}

#[test]
fn the_default_policy_is_new_with_the_default_config() {
    let built = RedactionPolicy::build(PolicyConfig::default(), None).unwrap();
    let event = json!({"email": "a@example.com", "note": "call +44 20 7946 0958", "age": 3, "ip_address": "x"});
    assert_eq!(built.redact_features(event.clone()), RedactionPolicy::default().redact_features(event));
    assert!(!built.has_hash_key());
    assert_eq!(built.subject_token("a@example.com"), None);
}

#[test]
fn the_log_names_the_rule_and_action_of_every_location_but_never_a_value() {
    let policy = policy_with(&[], &["national_id"], DEFAULT_MASK);
    let (value, log) = log_of(
        &policy,
        "m",
        Part::Features,
        json!({
            "national_id": "AB123", "User_Email": "a@example.com", "access_token": "t", "phone_number": "1",
            "note": "mail b@example.org or call 555-123-4567, from 10.0.0.1 and c@example.org",
        }),
    );
    assert_eq!(value["note"], json!("mail ***** or call *****, from ***** and *****"));
    assert_log(
        &log,
        &[
            ("$.User_Email", "key:email", "mask"),
            ("$.access_token", "key:access_token", "mask"),
            ("$.national_id", "denylist:national_id", "mask"),
            ("$.note", "detector:email", "mask"),
            ("$.note", "detector:phone", "mask"),
            ("$.note", "detector:ip", "mask"),
            ("$.phone_number", "key:phone_number", "mask"),
        ],
    );
}

#[test]
fn log_entries_round_trip_through_json() {
    let entries = [
        RedactionEntry { part: Part::Features, path: "$.a".into(), rule: "key:email".into(), action: Action::Mask },
        RedactionEntry {
            part: Part::UserAgent,
            path: "$".into(),
            rule: "detector:card".into(),
            action: Action::Partial { keep_last: 4 },
        },
        RedactionEntry { part: Part::Output, path: "$[0]".into(), rule: "rule:[]".into(), action: Action::Hash },
    ];
    for entry in entries {
        assert_eq!(RedactionEntry::from_json(&entry.to_json()), Some(entry));
    }
    assert_eq!(
        entries_json(),
        json!({"part": "actor.user_agent", "path": "$", "rule": "detector:card", "action": "partial", "keep_last": 4})
    );
    assert_eq!(RedactionEntry::from_json(&json!({"part": "nope", "path": "$", "rule": "r", "action": "mask"})), None);
}

fn entries_json() -> Value {
    RedactionEntry {
        part: Part::UserAgent,
        path: "$".into(),
        rule: "detector:card".into(),
        action: Action::Partial { keep_last: 4 },
    }
    .to_json()
}

#[test]
fn detectors_can_be_switched_off_one_by_one() {
    let text = "a@example.com 4111 1111 1111 1111 +44 20 7946 0958 GB82 WEST 1234 5698 7654 32 078-05-1120 10.0.0.1";
    let all = RedactionPolicy::default().redact_values(json!(text)).value;
    assert_eq!(all, json!("***** ***** ***** ***** ***** *****"));
    for kind in DetectorKind::ALL {
        let policy = build(|config| config.detectors.get_mut(kind).enabled = false);
        let Value::String(kept) = policy.redact_values(json!(text)).value else { panic!() };
        assert_eq!(kept.matches("*****").count(), 5, "{kind:?}: {kept}");
        let survivors = detect(&kept);
        assert_eq!(survivors.len(), 1, "{kind:?}: {kept}");
        assert_eq!(survivors[0].kinds, [kind]);
    }
    let none =
        build(|config| DetectorKind::ALL.into_iter().for_each(|kind| config.detectors.get_mut(kind).enabled = false));
    assert_eq!(none.redact_values(json!(text)).value, json!(text));
}

#[test]
fn detector_actions_partial_and_hash() {
    let policy = build(|config| {
        config.detectors.card.action = Action::Partial { keep_last: 4 };
        config.detectors.email.action = Action::Hash;
        config.detectors.phone.action = Action::Partial { keep_last: 2 };
    });
    let mut redaction = policy.for_model("m");
    let redacted = redaction.redact(
        Part::Metadata,
        json!({"note": "card 4111 1111 1111 1111 of User@Example.com", "other": "user@example.com", "tel": "555-123-4567"}),
    );
    let report = redaction.finish();
    let email = token("user@example.com");
    assert_eq!(redacted.value, json!({"note": format!("card *****1111 of {email}"), "other": email, "tel": "*****67"}));
    assert_eq!(report.subjects, [email]);
    let actions: Vec<String> = report.log.iter().map(|e| format!("{} {} {}", e.path, e.rule, e.action)).collect();
    assert_eq!(
        actions,
        [
            "$.note detector:card partial (keep_last = 4)",
            "$.note detector:email hash",
            "$.other detector:email hash",
            "$.tel detector:phone partial (keep_last = 2)",
        ]
    );
}

#[test]
fn overlapping_detections_get_the_action_that_keeps_least() {
    // An IPv4 address inside an email: the merged region is hashed, not kept in part.
    let policy = build(|config| {
        config.detectors.email.action = Action::Hash;
        config.detectors.ip.action = Action::Partial { keep_last: 2 };
    });
    let Value::String(redacted) = policy.redact_values(json!("x 10.0.0.1@example.com y")).value else { panic!() };
    assert!(redacted.starts_with("x pii_") && redacted.ends_with(" y"), "{redacted}");
}

#[test]
fn tokens_are_keyed_stable_and_canonical() {
    let policy = build(|_| {});
    let token = policy.subject_token("user@example.com").unwrap();
    assert_eq!(token.len(), TOKEN_PREFIX.len() + TOKEN_HEX_LEN);
    assert!(token.starts_with("pii_") && token[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(policy.subject_token("  User@EXAMPLE.com ").unwrap(), token);
    assert_ne!(policy.subject_token("user2@example.com").unwrap(), token);
    let other_key =
        RedactionPolicy::build(PolicyConfig::default(), Some(HashKey::new("another-key-0123456789").unwrap()));
    assert_ne!(other_key.unwrap().subject_token("user@example.com").unwrap(), token);
    // One card, one IBAN, one phone, one address however written.
    let same = |a: &str, b: &str| assert_eq!(policy.subject_token(a), policy.subject_token(b), "{a} vs {b}");
    same("4111 1111 1111 1111", "4111-1111-1111-1111");
    same("4111111111111111", "4111 1111 1111 1111");
    same("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432");
    same("+44 20 7946 0958", "+44-20-7946-0958");
    same("(555) 123-4567", "555.123.4567");
    same("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
    same("C-123", " C-123 ");
    assert_ne!(policy.subject_token("C-123"), policy.subject_token("c-123"));
}

#[test]
fn hash_without_a_key_is_a_clear_error() {
    let mut config = PolicyConfig::default();
    config.rules.push(rule("customer_id", Action::Hash));
    config.detectors.email.action = Action::Hash;
    let error = RedactionPolicy::build(config.clone(), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the `hash` action needs a pseudonym key (rule 1 `customer_id`, detector `email`): set \
         ML_AUDIT_REDACTION_HASH_KEY or redaction.hash_key_file"
    );
    // A switched-off detector needs no key.
    config.rules.clear();
    config.detectors.email.enabled = false;
    assert!(RedactionPolicy::build(config, None).is_ok());
    assert_eq!(HashKey::new("short").unwrap_err(), PolicyError::HashKeyTooShort { len: 5 });
    assert_eq!(format!("{:?}", HashKey::new(KEY).unwrap()), "HashKey(<secret>)");
    assert!(!format!("{:?}", build(|_| {})).contains(KEY));
}

#[test]
fn invalid_settings_are_named() {
    assert_eq!(
        build_error(|c| c.detectors.email.action = Action::Drop),
        "detector `email`: `drop` removes a key, and a detection sits inside a string; use mask, hash or partial"
    );
    assert_eq!(
        build_error(|c| c.detectors.card.action = Action::Partial { keep_last: 0 }),
        "detector `card`: `keep_last` must be at least 1"
    );
    assert_eq!(
        build_error(|c| c.base.mask_value = "nobody@example.com".into()),
        "mask_value \"nobody@example.com\" would itself be detected as personal data; choose a plain mask such as \"*****\""
    );
    assert_eq!(
        build_error(|c| c.rules.push(rule("items[]", Action::Drop))),
        "redaction rule 1 (`items[]`): `drop` removes a key, and this pattern matches array elements; drop the \
         array's key, or use mask, hash or partial on its elements"
    );
    assert_eq!(
        build_error(|c| c.rules.push(rule("pan", Action::Partial { keep_last: 0 }))),
        "redaction rule 1 (`pan`): `keep_last` must be at least 1"
    );
    assert_eq!(
        build_error(|c| c.rules.push(rule("pan", Action::Mask).in_parts(&[]))),
        "redaction rule 1 (`pan`): `in` lists no part; use features, metadata and/or output"
    );
    assert!(
        build_error(|c| c.rules.push(rule("pan", Action::Mask).in_parts(&[Part::UserAgent]))).contains("plain string")
    );
    assert_eq!(
        build_error(|c| {
            c.rules.push(rule("ok", Action::Mask));
            c.rules.push(rule("pan", Action::Mask).for_models(["fraud", " "]));
        }),
        "redaction rule 2 (`pan`): `models` holds a blank name \" \""
    );
    assert_eq!(
        Action::parse("scramble", None).unwrap_err().to_string(),
        "unknown action `scramble`; expected one of: mask, drop, hash, partial"
    );
    assert_eq!(
        Action::parse("mask", Some(4)).unwrap_err().to_string(),
        "`keep_last` goes with the `partial` action only, not `mask`"
    );
    assert_eq!(Action::parse("partial", None), Ok(Action::Partial { keep_last: DEFAULT_KEEP_LAST }));
    assert_eq!(Action::parse("partial", Some(2)), Ok(Action::Partial { keep_last: 2 }));
    assert_eq!(
        Part::parse("actor").unwrap_err().to_string(),
        "unknown part `actor`; expected one of: features, metadata, output, actor.user_agent"
    );
    assert_eq!(Part::parse("actor.user_agent"), Ok(Part::UserAgent));
    let mut detectors = DetectorsConfig::default();
    detectors.by_name_mut("iban").unwrap().enabled = false;
    assert!(!detectors.iban.enabled);
    assert_eq!(
        detectors.by_name_mut("passport").unwrap_err().to_string(),
        "unknown detector `passport`; expected one of: email, card, phone, iban, ssn, ip"
    );
}

#[test]
fn pattern_syntax_errors_are_precise() {
    let cases = [
        ("", "the pattern is empty"),
        ("$", "`$` alone matches nothing; write `$.key` or `$[]`"),
        ("$[]x", "unexpected `x` after `$`"),
        ("$[0]", "`[` must be followed directly by `]`"),
        ("$.", "a segment is empty"),
        ("a..b", "a segment is empty"),
        (".a", "a segment is empty"),
        ("a.", "a segment is empty"),
        ("a[0]", "`[` must be followed directly by `]`"),
        ("a[", "`[` must be followed directly by `]`"),
        ("a]", "a `]` has no `[` before it"),
        ("cust*.email", "`*` stands for one whole key and cannot be part of a name (`cust*`)"),
        ("*x", "`*` stands for one whole key and cannot be part of a name (`*x…`)"),
        ("**", "`*` stands for one whole key"),
        ("home phone", "contains whitespace; quote key names that have spaces"),
        ("a.\"b", "a `\"` has no closing quote"),
        ("a.\"\"", "a quoted name is empty"),
        ("a\"b\"", "a quote must enclose a whole key, not follow `a`"),
        ("\"a\"b", "unexpected `b`; segments are separated by `.`"),
        ("a[]x", "unexpected `x`; segments are separated by `.`"),
    ];
    for (pattern, reason) in cases {
        let error = build_error(|c| c.rules.push(rule(pattern, Action::Mask)));
        let expected = format!("redaction rule 1 (`{pattern}`): {reason}");
        assert!(error.starts_with(&expected), "{pattern:?}: {error}");
    }
    let parsed = |pattern: &str| rules::parse_for_tests(pattern).unwrap();
    assert_eq!(parsed("PAN"), r#"Key("pan")"#);
    assert_eq!(parsed("\"Home Phone\""), r#"Key("home phone")"#);
    assert_eq!(parsed("$ref"), r#"Key("$ref")"#);
    assert_eq!(parsed("$x.y"), r#"Path([Key("$x"), Key("y")])"#);
    assert_eq!(parsed("$.email"), r#"Path([Key("email")])"#);
    assert_eq!(parsed("$[]"), r#"Path([AnyIndex])"#);
    assert_eq!(parsed("$[][].x"), r#"Path([AnyIndex, AnyIndex, Key("x")])"#);
    assert_eq!(parsed("*"), r#"Path([AnyKey])"#);
    assert_eq!(parsed("Customer.*.Email"), r#"Path([Key("customer"), AnyKey, Key("email")])"#);
    assert_eq!(parsed("items[].pan"), r#"Path([Key("items"), AnyIndex, Key("pan")])"#);
    assert_eq!(parsed("grid[][]"), r#"Path([Key("grid"), AnyIndex, AnyIndex])"#);
    assert_eq!(parsed("*[].\"a.b\""), r#"Path([AnyKey, AnyIndex, Key("a.b")])"#);
    assert_eq!(parsed("ÉMAIL.x"), r#"Path([Key("émail"), Key("x")])"#);
}

#[test]
fn rules_match_key_names_at_any_depth_and_globs_from_the_root() {
    let policy = build(|c| {
        c.rules = vec![
            rule("pan", Action::Partial { keep_last: 4 }),
            rule("customer.*.email", Action::Hash),
            rule("items[].sku", Action::Drop),
            rule("$.ref", Action::Mask),
            rule("codes[]", Action::Hash),
        ];
    });
    let (value, log) = log_of(
        &policy,
        "m",
        Part::Features,
        json!({
            "PAN": "4111111111111111",
            "customer": {"home": {"EMAIL": "A@example.com", "ok": 1}, "email": "direct@example.com"},
            "items": [{"sku": "A-1", "Pan": "5555555555554444", "qty": 2}, {"sku": "B-2"}],
            "ref": "R-1",
            "nested": {"ref": "R-2", "codes": ["x"]},
            "codes": ["C-1", 42, null, {"deep": true}],
        }),
    );
    let t = token;
    assert_eq!(
        value,
        json!({
            "PAN": "*****1111",
            "customer": {"home": {"EMAIL": t("a@example.com"), "ok": 1}, "email": "*****"},
            "items": [{"Pan": "*****4444", "qty": 2}, {}],
            "ref": "*****",
            "nested": {"ref": "R-2", "codes": ["x"]},
            "codes": [t("C-1"), t("42"), null, {"deep": t("true")}],
        })
    );
    assert_log(
        &log,
        &[
            ("$.PAN", "rule:pan", "partial"),
            ("$.codes[0]", "rule:codes[]", "hash"),
            ("$.codes[1]", "rule:codes[]", "hash"),
            ("$.codes[2]", "rule:codes[]", "hash"),
            ("$.codes[3]", "rule:codes[]", "hash"),
            ("$.customer.email", "key:email", "mask"),
            ("$.customer.home.EMAIL", "rule:customer.*.email", "hash"),
            ("$.items[0].Pan", "rule:pan", "partial"),
            ("$.items[0].sku", "rule:items[].sku", "drop"),
            ("$.items[1].sku", "rule:items[].sku", "drop"),
            ("$.ref", "rule:$.ref", "mask"),
        ],
    );
}

#[test]
fn precedence_allowlist_rules_denylist_fragments_detectors() {
    let mut config = PolicyConfig::from(RedactionConfig {
        allowlist: vec!["kept".into()],
        denylist: vec!["national_id".into(), "contact".into()],
        mask_value: DEFAULT_MASK.into(),
    });
    config.rules = vec![
        // Allowlisted: never fires.
        rule("kept", Action::Drop),
        // Beats the denylist and the `email` fragment.
        rule("contact", Action::Hash),
        rule("email", Action::Partial { keep_last: 3 }),
        // Beats the detector inside the value.
        rule("note", Action::Drop),
    ];
    let policy = RedactionPolicy::build(config, hash_key()).unwrap();
    let (value, log) = log_of(
        &policy,
        "m",
        Part::Features,
        json!({
            "kept": {"email": "a@example.com"}, "contact": "b@example.com", "email": "c@example.com",
            "national_id": "X", "phone": "+44 20 7946 0958", "note": "d@example.com", "free": "e@example.com",
        }),
    );
    assert_eq!(
        value,
        json!({
            "kept": {"email": "a@example.com"}, "contact": token("b@example.com"), "email": "*****com",
            "national_id": "*****", "phone": "*****", "free": "*****",
        })
    );
    let rules: Vec<&str> = log.iter().map(|(_, rule, _)| rule.as_str()).collect();
    assert_eq!(
        rules,
        ["rule:contact", "rule:email", "detector:email", "denylist:national_id", "rule:note", "key:phone"]
    );
}

#[test]
fn the_most_specific_rule_wins_then_the_first_written() {
    let policy = build(|c| {
        c.rules = vec![
            rule("email", Action::Mask),
            rule("*.email", Action::Partial { keep_last: 3 }),
            rule("customer.email", Action::Hash),
            rule("customer.*", Action::Drop),
            rule("a.*.c", Action::Mask),
            rule("a.b.*", Action::Hash),
        ];
    });
    let (value, _) = log_of(
        &policy,
        "m",
        Part::Features,
        json!({
            "email": "x@example.com",
            "customer": {"email": "y@example.com", "name": "N"},
            "seller": {"email": "z@example.com"},
            "a": {"b": {"c": "first written of two with two names"}},
        }),
    );
    assert_eq!(
        value,
        json!({
            "email": "*****",
            "customer": {"email": token("y@example.com")},
            "seller": {"email": "*****com"},
            "a": {"b": {"c": "*****"}},
        })
    );
}

#[test]
fn rules_can_be_limited_to_models_and_the_model_specific_one_wins_a_tie() {
    let policy = build(|c| {
        c.rules = vec![
            rule("customer_id", Action::Mask),
            rule("customer_id", Action::Hash).for_models(["credit_risk"]),
            rule("segment", Action::Drop).for_models(["fraud", "credit_risk"]),
        ];
    });
    let event = json!({"customer_id": "C-1", "segment": "gold"});
    let (credit, _) = log_of(&policy, "credit_risk", Part::Features, event.clone());
    assert_eq!(credit, json!({"customer_id": token("C-1")}));
    let (fraud, _) = log_of(&policy, "fraud", Part::Features, event.clone());
    assert_eq!(fraud, json!({"customer_id": "*****"}));
    let (other, _) = log_of(&policy, "churn", Part::Features, event.clone());
    assert_eq!(other, json!({"customer_id": "*****", "segment": "gold"}));
    // Without a model, only the rules for every model apply.
    assert_eq!(policy.redact_features(event).value, json!({"customer_id": "*****", "segment": "gold"}));
}

#[test]
fn rules_apply_to_features_and_metadata_unless_told_otherwise() {
    let policy = build(|c| {
        c.rules = vec![
            rule("customer_id", Action::Hash),
            rule("internal", Action::Drop).in_parts(&[Part::Output]),
            rule("$[]", Action::Mask).in_parts(&[Part::Output]),
        ];
    });
    let mut redaction = policy.for_model("m");
    let features = redaction.redact(Part::Features, json!({"customer_id": "C-1", "internal": 1}));
    let metadata = redaction.redact(Part::Metadata, json!({"Customer_ID": "C-1", "internal": 1}));
    let output = redaction.redact(Part::Output, json!({"customer_id": "C-1", "internal": 1, "note": "a@example.com"}));
    let listed = redaction.redact(Part::Output, json!(["a", "b"]));
    let report = redaction.finish();
    assert_eq!(features.value, json!({"customer_id": token("C-1"), "internal": 1}));
    assert_eq!(metadata.value, json!({"Customer_ID": token("C-1"), "internal": 1}));
    // Output: only its own rules, and no detectors unless apply_to lists it.
    assert_eq!(output.value, json!({"customer_id": "C-1", "note": "a@example.com"}));
    assert_eq!(output.paths, ["$.internal"]);
    assert_eq!(listed.value, json!(["*****", "*****"]));
    assert_eq!(report.subjects, [token("C-1")]);
}

#[test]
fn apply_to_extends_the_detectors_to_output_and_the_user_agent() {
    let event = json!({"note": "a@example.com"});
    let ua = "bot/1.0 (+ops@example.com)".to_owned();
    let default = RedactionPolicy::default();
    let mut redaction = default.for_model("m");
    assert_eq!(redaction.redact(Part::Output, event.clone()).value, event);
    assert_eq!(redaction.redact_user_agent(ua.clone()), ua);
    assert!(redaction.finish().log.is_empty());

    let everywhere = build(|c| c.apply_to = Part::ALL.to_vec());
    let mut redaction = everywhere.for_model("m");
    assert_eq!(redaction.redact(Part::Output, event).value, json!({"note": "*****"}));
    assert_eq!(redaction.redact_user_agent(ua), "bot/1.0 (*****)");
    let parts: Vec<(Part, String)> = redaction.finish().log.into_iter().map(|e| (e.part, e.path)).collect();
    assert_eq!(parts, [(Part::Output, "$.note".to_owned()), (Part::UserAgent, "$".to_owned())]);

    let features_off = build(|c| c.apply_to = vec![Part::Metadata]);
    assert_eq!(features_off.redact_features(json!({"note": "a@example.com"})).value, json!({"note": "a@example.com"}));
    assert_eq!(features_off.redact_features(json!({"email": "x"})).value, json!({"email": "*****"}));
}

#[test]
fn partial_never_shows_half_a_value_nor_personal_data() {
    let policy = build(|c| {
        c.rules = vec![rule("pin", Action::Partial { keep_last: 4 }), rule("memo", Action::Partial { keep_last: 30 })]
    });
    let redacted = policy.redact_features(json!({
        "pin": "1234", "PIN": "12345678", "memo": "a long memo that ends with ops@example.com",
        "pin_code": 12345678, "items": [{"pin": true}],
    }));
    assert_eq!(
        redacted.value,
        json!({"pin": "*****", "PIN": "*****5678", "memo": "*****", "pin_code": 12345678, "items": [{"pin": "*****"}]})
    );
}

#[test]
fn keys_holding_personal_data_are_renamed_so_no_path_shows_them() {
    let (value, log) = log_of(
        &RedactionPolicy::default(),
        "m",
        Part::Metadata,
        json!({
            "visits": {"a@example.com": 3, "b@example.com": {"from": "10.0.0.1"}, "*****": "taken", "ok": 1},
            "by_ip": {"10.0.0.1": 1},
        }),
    );
    assert_eq!(
        value,
        json!({
            "visits": {"*****#2": 3, "*****#3": {"from": "*****"}, "*****": "taken", "ok": 1},
            "by_ip": {"*****": 1},
        })
    );
    assert_log(
        &log,
        &[
            ("$.by_ip[\"*****\"]", "detector:ip", "mask"),
            ("$.visits[\"*****#2\"]", "detector:email", "mask"),
            ("$.visits[\"*****#3\"]", "detector:email", "mask"),
            ("$.visits[\"*****#3\"].from", "detector:ip", "mask"),
        ],
    );

    // Hashed, a key becomes its pseudonym: a map keyed by email stays a map keyed by person.
    let policy = build(|c| c.detectors.email.action = Action::Hash);
    let mut redaction = policy.for_model("m");
    let redacted = redaction.redact(Part::Features, json!({"seen": {"A@example.com": 1, "a@example.com": 2}}));
    let t = token("a@example.com");
    assert_eq!(redacted.value, json!({"seen": {t.clone(): 1, format!("{t}#2"): 2}}));
    assert_eq!(redaction.finish().subjects, [t]);
}

#[test]
fn a_dropped_key_that_also_held_personal_data_is_gone() {
    let policy = build(|c| c.rules = vec![rule("*.*", Action::Drop)]);
    let redacted = policy.redact_features(json!({"seen": {"a@example.com": 1, "plain": 2}, "top": 3}));
    assert_eq!(redacted.value, json!({"seen": {}, "top": 3}));
    assert_eq!(redacted.paths, ["$.seen[\"*****\"]", "$.seen.plain"]);
}

#[test]
fn detected_values_never_survive_any_action() {
    let personal_data = [
        "user@example.com",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
        "(555) 123-4567",
        "GB82 WEST 1234 5698 7654 32",
        "078-05-1120",
        "192.168.0.42",
        "2001:db8::8a2e:370:7334",
    ];
    for action in [Action::Mask, Action::Hash, Action::Partial { keep_last: 4 }, Action::Partial { keep_last: 12 }] {
        let policy =
            build(|c| DetectorKind::ALL.into_iter().for_each(|kind| c.detectors.get_mut(kind).action = action));
        for first in personal_data {
            for second in personal_data {
                let text = format!("note: {first} / {second}.");
                let Value::String(redacted) = policy.redact_values(json!(text)).value else { panic!() };
                assert!(
                    !redacted.contains(first) && !redacted.contains(second),
                    "{action}: {text:?} gave {redacted:?}"
                );
                assert!(!contains_personal_data(&redacted), "{action}: {text:?} gave {redacted:?}");
            }
        }
    }
}

// The event: prepare and preview.

fn event_body() -> Value {
    json!({
        "model_name": "credit_risk", "model_version": "1", "output": {"score": 0.5, "reason": "mail a@example.com"},
        "features": {"customer_id": "C-1", "email": "b@example.com", "note": "call 555-123-4567"},
        "metadata": {"customer_id": "C-1", "ip": "10.0.0.1"},
        "actor": {"actor_type": "user", "actor_id": "1", "user_agent": "app (ops@example.com)"},
    })
}

#[test]
fn prepare_redacts_every_part_for_the_model_and_reports_log_and_subjects() {
    use crate::auth::Visibility;
    use crate::event::PredictionInput;

    let policy = build(|c| {
        c.apply_to = Part::ALL.to_vec();
        c.rules = vec![rule("customer_id", Action::Hash).for_models(["credit_risk"])];
    });
    let prepared = PredictionInput::parse(event_body()).unwrap().prepare(&policy, &Visibility::AllTenants).unwrap();
    let c1 = token("C-1");
    assert_eq!(prepared.features, json!({"customer_id": c1, "email": "*****", "note": "call *****"}));
    assert_eq!(prepared.redactions, ["$.customer_id", "$.email", "$.note"]);
    assert_eq!(prepared.metadata, json!({"customer_id": c1, "ip": "*****"}));
    assert_eq!(prepared.metadata_redactions, ["$.customer_id", "$.ip"]);
    assert_eq!(prepared.output, json!({"score": 0.5, "reason": "mail *****"}));
    assert_eq!(prepared.actor.as_ref().unwrap().user_agent, "app (*****)");
    assert_eq!(prepared.subjects, [c1]);
    let log: Vec<String> = prepared
        .redaction_log
        .iter()
        .map(|e| format!("{} {} {} {}", e.part.as_str(), e.path, e.rule, e.action))
        .collect();
    assert_eq!(
        log,
        [
            "features $.customer_id rule:customer_id hash",
            "features $.email key:email mask",
            "features $.note detector:phone mask",
            "metadata $.customer_id rule:customer_id hash",
            "metadata $.ip detector:ip mask",
            "output $.reason detector:email mask",
            "actor.user_agent $ detector:email mask",
        ]
    );
    // The fingerprint is of the redacted event: nothing raw goes into it.
    let again = PredictionInput::parse(event_body()).unwrap().prepare(&policy, &Visibility::AllTenants).unwrap();
    assert_eq!(prepared.content_hash, again.content_hash);

    // The default policy leaves output and the user agent alone, as before.
    let default = PredictionInput::parse(event_body())
        .unwrap()
        .prepare(&RedactionPolicy::default(), &Visibility::AllTenants)
        .unwrap();
    assert_eq!(default.output, event_body()["output"]);
    assert_eq!(default.actor.unwrap().user_agent, "app (ops@example.com)");
    assert!(default.subjects.is_empty());
}

#[test]
fn preview_shows_what_would_be_stored() {
    let policy = build(|c| c.rules = vec![rule("customer_id", Action::Hash)]);
    let shown = preview(&policy, event_body()).unwrap();
    assert_eq!(shown.features["customer_id"], json!(token("C-1")));
    assert_eq!(shown.user_agent.as_deref(), Some("app (ops@example.com)"));
    let printed = shown.to_json();
    assert_eq!(printed["redactions"], json!(["$.customer_id", "$.email", "$.note"]));
    assert_eq!(printed["subjects"], json!([token("C-1")]));
    assert_eq!(
        printed["redaction_log"][0],
        json!({"part": "features", "path": "$.customer_id", "rule": "rule:customer_id", "action": "hash"})
    );
    assert_eq!(printed["actor"], json!({"user_agent": "app (ops@example.com)"}));
    assert!(!printed.to_string().contains("b@example.com"));
    let error = preview(&policy, json!({"model_name": "m"})).unwrap_err();
    assert_eq!(error.field, "model_version");
}

#[test]
fn key_names_inside_a_hashed_or_partial_subtree_still_get_the_detectors() {
    // Found by the property tests: `hash` on an object kept a key named by an email address.
    let policy =
        build(|c| c.rules = vec![rule("contact", Action::Hash), rule("card", Action::Partial { keep_last: 4 })]);
    let (value, log) = log_of(
        &policy,
        "m",
        Part::Features,
        json!({"contact": {"note": {"0@a.com": 1}}, "card": {"10.0.0.1": "4111111111111111"}}),
    );
    assert_eq!(value, json!({"contact": {"note": {"*****": token("1")}}, "card": {"*****": "*****1111"}}));
    assert_log(
        &log,
        &[
            ("$.card", "rule:card", "partial"),
            ("$.card[\"*****\"]", "detector:ip", "mask"),
            ("$.contact", "rule:contact", "hash"),
            ("$.contact.note[\"*****\"]", "detector:email", "mask"),
        ],
    );
}
