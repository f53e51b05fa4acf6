use proptest::prelude::*;
use serde_json::json;

use super::*;

fn canonical(value: &Value) -> String {
    to_canonical_string(value)
}

fn oracle(value: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).expect("a Value always canonicalises")
}

fn needs_utf16_sort(map: &Map<String, Value>) -> bool {
    NameKinds::of(map.keys()).need_utf16_sort()
}

fn f64_string(value: f64) -> String {
    let mut out = Vec::new();
    write_f64(&mut out, value);
    String::from_utf8(out).unwrap()
}

/// RFC 8785 Appendix B, "Number Serialization Samples": IEEE-754 bits → JCS text.
const APPENDIX_B: [(u64, &str); 23] = [
    (0x0000000000000000, "0"),                        // zero
    (0x8000000000000000, "0"),                        // minus zero
    (0x0000000000000001, "5e-324"),                   // min pos number
    (0x8000000000000001, "-5e-324"),                  // min neg number
    (0x7fefffffffffffff, "1.7976931348623157e+308"),  // max pos number
    (0xffefffffffffffff, "-1.7976931348623157e+308"), // max neg number
    (0x4340000000000000, "9007199254740992"),         // max pos int
    (0xc340000000000000, "-9007199254740992"),        // max neg int
    (0x4430000000000000, "295147905179352830000"),    // ~2**68
    (0x44b52d02c7e14af5, "9.999999999999997e+22"),
    (0x44b52d02c7e14af6, "1e+23"),
    (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
    (0x444b1ae4d6e2ef4e, "999999999999999700000"),
    (0x444b1ae4d6e2ef4f, "999999999999999900000"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
    (0x3eb0c6f7a0b5ed8d, "0.000001"),
    (0x41b3de4355555553, "333333333.3333332"),
    (0x41b3de4355555554, "333333333.33333325"),
    (0x41b3de4355555555, "333333333.3333333"),
    (0x41b3de4355555556, "333333333.3333334"),
    (0x41b3de4355555557, "333333333.33333343"),
    (0xbecbf647612f3696, "-0.0000033333333333333333"),
];

#[test]
fn rfc_8785_appendix_b_numbers() {
    for (bits, expected) in APPENDIX_B {
        let value = f64::from_bits(bits);
        assert_eq!(f64_string(value), expected, "{bits:016x}");
        // The same through a Value, and as the oracle has it.
        let value = Value::from(value);
        assert_eq!(canonical(&value), expected, "{bits:016x}");
        assert_eq!(oracle(&value), expected.as_bytes(), "{bits:016x}");
    }
}

#[test]
fn more_numbers() {
    for (value, expected) in [
        // cyberphone/json-canonicalization testdata/README.md sample lines.
        (f64::from_bits(0x4340000000000001), "9007199254740994"),
        (f64::from_bits(0x4340000000000002), "9007199254740996"),
        // Round half to even between two shortest candidates.
        (f64::from_bits(0x43143ff3c1cb0959), "1424953923781206.2"),
        // Either side of each switch between notations.
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1.25e-6, "0.00000125"),
        (123e-20, "1.23e-18"),
        (0.1, "0.1"),
        (0.5, "0.5"),
        (-0.5, "-0.5"),
        (4.5, "4.5"),
        (56.0, "56"),
        (-56.0, "-56"),
        (1e16, "10000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (2f64.powi(53) + 2.0, "9007199254740994"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (f64::EPSILON, "2.220446049250313e-16"),
        (f64::NAN, "null"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
    ] {
        assert_eq!(f64_string(value), expected, "{value:e}");
        if value.is_finite() {
            assert_eq!(oracle(&Value::from(value)), expected.as_bytes(), "{value:e}");
        }
    }
}

/// Integers are doubles to JCS: beyond 2^53 they are rounded as `as f64` does, like
/// `serde_json_canonicalizer` (whose number tests list the same expectations, after V8).
#[test]
fn large_integers_are_rounded_to_doubles() {
    for (value, expected) in [
        (json!(0u64), "0"),
        (json!(9007199254740991u64), "9007199254740991"),
        (json!(9007199254740992u64), "9007199254740992"),
        (json!(9007199254740993u64), "9007199254740992"),
        (json!(9007199254740995u64), "9007199254740996"),
        (json!(-9007199254740993i64), "-9007199254740992"),
        (json!(u64::MAX), "18446744073709552000"),
        (json!(i64::MAX), "9223372036854776000"),
        (json!(i64::MIN), "-9223372036854776000"),
        (json!(-1i64), "-1"),
        (json!(u32::MAX), "4294967295"),
    ] {
        assert_eq!(canonical(&value), expected, "{value}");
        assert_eq!(oracle(&value), expected.as_bytes(), "{value}");
    }
}

/// RFC 8785 §3.2.2 (the same document as cyberphone/json-canonicalization
/// `testdata/input/values.json`): the input text, its canonical form, and that form's bytes.
#[test]
fn rfc_8785_sample_object() {
    let input = r#"{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
    }"#;
    let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
    let hex = "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 6c 73 65 5d 2c 22
               6e 75 6d 62 65 72 73 22 3a 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 65 2b
               33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2
               82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d";
    let bytes: Vec<u8> = hex.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(canonical(&value), expected);
    assert_eq!(to_canonical_vec(&value), bytes);
    assert_eq!(oracle(&value), bytes);
}

/// RFC 8785 §3.2.3: the sorting example. UTF-8 order (the map's) would put U+FB33 before the
/// emoji; UTF-16 order puts the emoji's surrogates (0xD83D…) first.
#[test]
fn rfc_8785_sorting_example() {
    let input = r#"{
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(canonical(&value), expected);
    assert_eq!(oracle(&value), expected.as_bytes());
    let Value::Object(map) = &value else { unreachable!() };
    assert!(needs_utf16_sort(map));
}

/// The other documents of cyberphone/json-canonicalization `testdata/` (input → output).
#[test]
fn reference_testdata() {
    for (input, expected) in [
        (r#"[56, {"d": true, "10": null, "1": [ ]}]"#, r#"[56,{"1":[],"10":null,"d":true}]"#),
        (
            r#"{"peach": "This sorting order", "péché": "is wrong according to French",
                "pêche": "but canonicalization MUST", "sin": "ignore locale"}"#,
            r#"{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ignore locale"}"#,
        ),
        (
            r#"{"1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty", "a": { },
                "111": [ {"e": "yes","E": "no" } ], "A": { }}"#,
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#,
        ),
        (r#"{"Unnormalized Unicode":"A\u030a"}"#, "{\"Unnormalized Unicode\":\"A\u{30a}\"}"),
        (
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\u000a": "Newline", "1": "One",
                "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley",
                "\u00f6": "Latin Small Letter O With Diaeresis",
                "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}"#,
            "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\"</script>\":\"Browser Challenge\",\
             \"\u{80}\":\"Control\u{7f}\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        ),
    ] {
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(canonical(&value), expected);
        assert_eq!(oracle(&value), expected.as_bytes());
    }
}

#[test]
fn every_control_character_and_nothing_else_is_escaped() {
    let all: String = (0u8..0x80).map(char::from).chain(['\u{80}', '\u{2028}', '\u{fffd}', '\u{1f600}']).collect();
    let value = Value::String(all.clone());
    let mut expected = String::from("\"");
    for c in all.chars() {
        match c {
            '"' => expected.push_str("\\\""),
            '\\' => expected.push_str("\\\\"),
            '\u{8}' => expected.push_str("\\b"),
            '\t' => expected.push_str("\\t"),
            '\n' => expected.push_str("\\n"),
            '\u{c}' => expected.push_str("\\f"),
            '\r' => expected.push_str("\\r"),
            c if c < ' ' => expected.push_str(&format!("\\u{:04x}", c as u32)),
            c => expected.push(c),
        }
    }
    expected.push('"');
    assert!(expected.contains("\\u001f") && expected.contains("\\u000b") && expected.contains('/'));
    assert_eq!(canonical(&value), expected);
    assert_eq!(oracle(&value), expected.as_bytes());
}

#[test]
fn escapes_are_found_at_every_offset_of_a_long_string() {
    for special in ['"', '\\', '\0', '\n', '\u{1f}'] {
        for len in 0..40 {
            for at in 0..len {
                let text: String = (0..len).map(|i| if i == at { special } else { 'x' }).collect();
                let value = Value::String(text);
                assert_eq!(to_canonical_vec(&value), oracle(&value), "{special:?} at {at} of {len}");
            }
        }
    }
}

#[test]
fn private_use_and_supplementary_names_are_resorted_only_together() {
    // U+E000 < U+10000 as code points and in UTF-8, but 0xE000 > 0xD800 in UTF-16.
    let both = json!({"\u{e000}": 1, "\u{10000}": 2, "a": 3});
    assert_eq!(canonical(&both), "{\"a\":3,\"\u{10000}\":2,\"\u{e000}\":1}");
    assert_eq!(oracle(&both), canonical(&both).as_bytes());
    let Value::Object(map) = &both else { unreachable!() };
    assert!(needs_utf16_sort(map));

    for one_kind in [json!({"\u{e000}": 1, "\u{ff01}": 2, "a": 3}), json!({"\u{10000}": 1, "\u{1f600}": 2, "a": 3})] {
        let Value::Object(map) = &one_kind else { unreachable!() };
        assert!(!needs_utf16_sort(map));
        assert_eq!(oracle(&one_kind), canonical(&one_kind).as_bytes());
    }
    // Nested objects are sorted on their own.
    let nested = json!([{"x": {"\u{ffff}": null, "\u{10ffff}": true}}]);
    assert_eq!(canonical(&nested), "[{\"x\":{\"\u{10ffff}\":true,\"\u{ffff}\":null}}]");
}

/// Objects that need re-sorting, nested 120 deep (serde_json's parser allows 128): linear work.
#[test]
fn deeply_nested_objects_that_need_resorting_stay_linear() {
    let mut value = json!(0);
    for _ in 0..120 {
        value = json!({"\u{e000}": value, "\u{10000}": 1, "a": [1.5]});
    }
    let started = std::time::Instant::now();
    let bytes = to_canonical_vec(&value);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(bytes.starts_with("{\"a\":[1.5],\"\u{10000}\":1,\"\u{e000}\":{\"a\"".as_bytes()));
    assert_eq!(bytes, oracle(&value));
}

#[test]
fn map_is_a_btree_map_in_this_build() {
    // If this fails, `preserve_order` got switched on: still correct (every object is sorted),
    // but slower.
    assert!(map_iterates_in_byte_order());
}

#[test]
fn object_writer_matches_the_value_path() {
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let payload = json!({"z": [1, 2.5], "a": "\u{1f600}"});
    let mut out = Vec::new();
    let mut object = ObjectWriter::new(&mut out);
    object
        .member("a", &1.0f64)
        .member("b", &f64::NAN)
        .member("c", &Some(id))
        .member("d", &None::<String>)
        .object("e", |nested| {
            nested.member("x", "quote\"d").member("y", &vec!["p".to_owned(), "q".to_owned()]);
        })
        .member("f", &payload)
        .member("g", &7u32)
        .member("h", &true)
        .member("i", &u64::MAX)
        .member("j", &i64::MIN);
    object.finish();
    let value = json!({
        "a": 1.0, "b": f64::NAN, "c": Some(id), "d": None::<String>,
        "e": {"x": "quote\"d", "y": ["p", "q"]}, "f": payload, "g": 7u32, "h": true,
        "i": u64::MAX, "j": i64::MIN,
    });
    assert_eq!(String::from_utf8(out).unwrap(), canonical(&value));
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "written after")]
fn object_writer_refuses_members_out_of_order() {
    let mut out = Vec::new();
    ObjectWriter::new(&mut out).member("b", &1u32).member("a", &2u32);
}

fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::char::range('\0', '\u{7f}'),
        1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', '\u{e000}', '\u{ffff}', '\u{fb33}', '\u{10000}', '\u{1f600}', '\u{10ffff}']),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..8).prop_map(|chars| chars.into_iter().collect())
}

fn arb_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        // Short decimals around every notation switch (1e-7, 1e21, 2^53 …).
        (1u64..100_000_000, -30i32..30).prop_map(|(m, e)| m as f64 * 10f64.powi(e)),
        (-1_000_000_000i64..1_000_000_000).prop_map(|i| i as f64 / 1000.0),
        any::<i64>().prop_map(|i| i as f64),
    ]
    .prop_map(|f| if f.is_finite() { f } else { 0.0 })
    .prop_map(|f| f * if f.to_bits() & 1 == 1 { -1.0 } else { 1.0 })
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_f64().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..1 << 54).prop_map(Value::from),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_serde_json_canonicalizer(value in arb_value()) {
        prop_assert_eq!(String::from_utf8(to_canonical_vec(&value)).unwrap(), String::from_utf8(oracle(&value)).unwrap());
    }

    #[test]
    fn every_double_matches_serde_json_canonicalizer(bits in any::<u64>()) {
        let value = f64::from_bits(bits);
        prop_assume!(value.is_finite());
        let value = Value::from(value);
        prop_assert_eq!(to_canonical_vec(&value), oracle(&value));
    }

    #[test]
    fn doubles_round_trip(value in arb_f64()) {
        let text = f64_string(value);
        let parsed: f64 = text.parse().unwrap();
        prop_assert_eq!(parsed, if value == 0.0 { 0.0 } else { value });
    }
}

#[test]
fn json_text_accepts_exactly_one_value() {
    for text in [
        r#"{}"#,
        r#"[]"#,
        r#"{"a":[1,{"b":"}]"}],"c":"\"{"}"#,
        r#""a \"quoted\" [string], {with} :colons\\""#,
        "0.87",
        "-1e+21",
        "true",
        "null",
    ] {
        assert!(JsonText::checked(text).is_ok(), "{text}");
    }
    for (text, why) in [
        ("", "it is empty"),
        (r#"{"a":{"b":1"#, "a bracket is not closed"),
        (r#"{"a":1},"metadata_redactions":[]"#, "text follows the value"),
        (r#"[1]]"#, "text follows the value"),
        (r#""abc","x":1"#, "text follows the string"),
        (r#""abc\""#, "a string is not closed"),
        (r#"{"a":"}"#, "a string is not closed"),
        (r#"2,"metadata_redactions":[]"#, "it is not one value"),
        ("1:2", "it is not one value"),
    ] {
        assert_eq!(JsonText::checked(text).unwrap_err().to_string(), why, "{text}");
    }
}
