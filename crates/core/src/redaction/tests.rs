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
