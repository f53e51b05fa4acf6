//! Property tests of the guarantee: on any JSON the engine never panics and never emits a value
//! a detector detects, and personal data planted anywhere (at any depth, in arrays, inside free
//! text, under keys of odd case, as key names) never survives, whatever the actions.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use super::*;

// Generated personal data, valid by construction: Luhn, mod 97, issued SSN blocks.

fn email() -> impl Strategy<Value = String> {
    ("[a-z0-9][a-z0-9._%+-]{0,11}", "[A-Za-z0-9][a-z0-9-]{0,9}", "(com|org|io|example|co\\.uk|de)")
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
}

fn luhn_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(at, &digit)| {
            let digit = u32::from(digit);
            if at % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn card() -> impl Strategy<Value = String> {
    (13usize..=19, 1u8..=9, prop::collection::vec(0u8..=9, 18), select(vec!["", " ", "-"])).prop_map(
        |(length, first, rest, separator)| {
            let mut digits = vec![first];
            digits.extend(&rest[..length - 2]);
            digits.push(luhn_check_digit(&digits));
            let text: String = digits.iter().map(|digit| char::from(b'0' + digit)).collect();
            let groups: Vec<&str> =
                text.as_bytes().chunks(4).map(|chunk| std::str::from_utf8(chunk).expect("ASCII")).collect();
            groups.join(separator)
        },
    )
}

fn iban() -> impl Strategy<Value = String> {
    ("[A-Z]{2}", "[A-Z0-9]{11,30}", any::<bool>()).prop_map(|(country, bban, grouped)| {
        let rearranged = format!("{bban}{country}00");
        let remainder = rearranged.bytes().fold(0u32, |remainder, byte| {
            if byte.is_ascii_digit() {
                (remainder * 10 + u32::from(byte - b'0')) % 97
            } else {
                (remainder * 100 + u32::from(byte - b'A') + 10) % 97
            }
        });
        let compact = format!("{country}{:02}{bban}", 98 - remainder);
        if grouped {
            let groups: Vec<&str> =
                compact.as_bytes().chunks(4).map(|chunk| std::str::from_utf8(chunk).expect("ASCII")).collect();
            groups.join(" ")
        } else {
            compact
        }
    })
}

fn ssn() -> impl Strategy<Value = String> {
    (1u32..900, 1u32..100, 1u32..10_000).prop_filter_map("666 is never issued", |(area, group, serial)| {
        (area != 666).then(|| format!("{area:03}-{group:02}-{serial:04}"))
    })
}

fn phone() -> impl Strategy<Value = String> {
    let international = (1u32..=999, prop::collection::vec("[0-9]{2,4}", 2..=4), select(vec![" ", "-", ""]))
        .prop_filter_map("7 to 15 digits", |(country, groups, separator)| {
            let digits = country.to_string().len() + groups.iter().map(String::len).sum::<usize>();
            (7..=15).contains(&digits).then(|| format!("+{country} {}", groups.join(separator)))
        });
    let national = ("[0-9]{3}", "[0-9]{3}", "[0-9]{4}", select(vec![" ", "-", "."]), 0..3).prop_map(
        |(area, exchange, line, separator, style)| match style {
            0 => format!("({area}) {exchange}-{line}"),
            1 => format!("{area}{separator}{exchange}{separator}{line}"),
            _ => format!("1-{area}-{exchange}-{line}"),
        },
    );
    prop_oneof![international, national]
}

fn ip() -> impl Strategy<Value = String> {
    let v4 = any::<[u8; 4]>().prop_map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}"));
    let v6 = (1u128..).prop_map(|bits| std::net::Ipv6Addr::from(bits).to_string());
    prop_oneof![v4, v6]
}

fn personal_data() -> impl Strategy<Value = String> {
    prop_oneof![email(), card(), iban(), ssn(), phone(), ip()]
}

/// Personal data alone, or inside free text (with separators a reader would use).
fn planted_text() -> impl Strategy<Value = (String, String)> {
    let prefixes = vec!["", "note: ", "call ", "(", "[", "\"", "→ ", "a, ", "id= ", "\n", "Contact: ", "x\t"];
    let suffixes = vec!["", " ", ".", ", thanks", ")", "]", "\"", ";", "\t!", " and more text", "\n"];
    (personal_data(), select(prefixes), select(suffixes))
        .prop_map(|(planted, prefix, suffix)| (format!("{prefix}{planted}{suffix}"), planted))
}

/// Keys of odd case, sensitive-looking or innocent.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec!["note", "NOTE", "Note", "cOmMeNt", "info", "data", "x", "contact", "Customer", "items", "PAN"])
            .prop_map(str::to_owned),
        "[a-zA-Z_][a-zA-Z0-9_ ]{0,10}",
    ]
}

/// Arbitrary JSON: any strings (Unicode, control characters), numbers, nesting, odd keys.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[0-9 .:@+()\\-a-fA-F]{0,40}".prop_map(Value::String),
        planted_text().prop_map(|(text, _)| Value::String(text)),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![key(), any::<String>()], inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Where a planted value goes: a chain of keys and array positions from the root.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    /// The planted value is put at this position among generated siblings.
    Index(usize, Vec<Value>),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        key().prop_map(Step::Key),
        (0usize..3, prop::collection::vec(arbitrary_json(), 0..3)).prop_map(|(at, siblings)| Step::Index(at, siblings)),
    ];
    prop::collection::vec(step, 0..5)
}

/// `value` under `steps`, in an object with `siblings` at the root.
fn plant(value: Value, steps: &[Step], root_key: &str, siblings: Map<String, Value>) -> Value {
    let nested = steps.iter().rev().fold(value, |inner, step| match step {
        Step::Key(key) => json!({ key.clone(): inner }),
        Step::Index(at, siblings) => {
            let mut items = siblings.clone();
            items.insert((*at).min(items.len()), inner);
            Value::Array(items)
        }
    });
    let mut root = siblings;
    root.insert(root_key.to_owned(), nested);
    Value::Object(root)
}

/// The policies the properties hold for: the default, and one with every action in use.
fn policies() -> Vec<RedactionPolicy> {
    let mut config = PolicyConfig::default();
    config.detectors.email.action = Action::Hash;
    config.detectors.card.action = Action::Partial { keep_last: 4 };
    config.detectors.phone.action = Action::Partial { keep_last: 2 };
    config.detectors.iban.action = Action::Hash;
    config.detectors.ip.action = Action::Partial { keep_last: 3 };
    config.rules = vec![
        RuleConfig::new("contact", Action::Hash),
        RuleConfig::new("customer.*", Action::Partial { keep_last: 6 }),
        RuleConfig::new("items[]", Action::Partial { keep_last: 8 }),
        RuleConfig::new("data", Action::Drop),
    ];
    let key = HashKey::new("property-test-key-0123456789").expect("long enough");
    vec![RedactionPolicy::default(), RedactionPolicy::build(config, Some(key)).expect("a valid policy")]
}

/// Every string and key name in `value`.
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
        Value::Object(map) => {
            for (key, child) in map {
                out.push(key.clone());
                texts(child, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Redacts `value` as features and as metadata with each policy; checks that nothing detectable
/// is left in the values, the key names, the paths or the log, and returns what was stored.
fn redact_everywhere(value: &Value) -> Result<Vec<String>, TestCaseError> {
    let mut stored = Vec::new();
    for policy in policies() {
        for part in [Part::Features, Part::Metadata] {
            let mut redaction = policy.for_model("m");
            let redacted = redaction.redact(part, value.clone());
            let report = redaction.finish();
            let mut shown = Vec::new();
            texts(&redacted.value, &mut shown);
            shown.extend(redacted.paths.iter().cloned());
            shown.extend(report.log.iter().map(|entry| entry.path.clone()));
            for text in &shown {
                prop_assert!(!contains_personal_data(text), "{part:?} left {text:?} ({:?})", detect(text));
            }
            prop_assert!(report.subjects.iter().all(|token| token.starts_with(TOKEN_PREFIX)));
            stored.push(serde_json::to_string(&redacted.value).expect("JSON"));
            stored.extend(redacted.paths);
        }
    }
    Ok(stored)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_json_is_redacted_without_panic_and_without_a_detectable_value(value in arbitrary_json()) {
        redact_everywhere(&value)?;
    }

    #[test]
    fn any_string_is_redacted_without_panic(text in any::<String>(), noisy in "[0-9 .:@+()\\-]{0,60}") {
        for text in [text, noisy] {
            redact_everywhere(&Value::String(text.clone()))?;
            redact_everywhere(&json!({ text.clone(): text }))?;
        }
    }

    #[test]
    fn planted_personal_data_never_survives(
        (text, planted) in planted_text(),
        steps in steps(),
        root_key in key(),
        siblings in prop::collection::btree_map(key(), arbitrary_json(), 0..4),
        as_key in any::<bool>(),
    ) {
        let siblings: Map<String, Value> = siblings.into_iter().filter(|(key, _)| *key != root_key).collect();
        // As a value, or as a key name holding an innocent value.
        let leaf = if as_key { json!({ text.clone(): 1 }) } else { Value::String(text.clone()) };
        let event = plant(leaf, &steps, &root_key, siblings);
        for stored in redact_everywhere(&event)? {
            prop_assert!(!stored.contains(&planted), "{planted:?} (in {text:?}) survived in {stored}");
        }
    }

    #[test]
    fn a_hashed_value_and_its_subject_token_agree(planted in personal_data(), padding in "[ ]{0,2}") {
        let mut config = PolicyConfig { rules: vec![RuleConfig::new("subject", Action::Hash)], ..PolicyConfig::default() };
        DetectorKind::ALL.into_iter().for_each(|kind| config.detectors.get_mut(kind).action = Action::Hash);
        let policy = RedactionPolicy::build(config, Some(HashKey::new("property-test-key-0123456789").unwrap())).unwrap();
        let token = policy.subject_token(&planted).expect("a key was given");
        let mut redaction = policy.for_model("m");
        let redacted = redaction.redact(
            Part::Features,
            json!({"subject": format!("{padding}{planted}{padding}"), "note": format!("about {planted} today")}),
        );
        prop_assert_eq!(&redacted.value["subject"], &json!(token.clone()));
        prop_assert_eq!(&redacted.value["note"], &json!(format!("about {token} today")));
        prop_assert_eq!(redaction.finish().subjects, vec![token]);
    }
}
