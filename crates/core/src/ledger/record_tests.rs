use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::ledger::canonical::{column_text, to_canonical_vec};
use crate::model::{ActorType, ModelVersion, RequestingActor, Status};

/// What `canonical_bytes` was before it wrote the document directly: `serde_json_canonicalizer`
/// over the built document.
fn reference_bytes(record: &LedgerRecord) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(&record.canonical_document()).unwrap()
}

fn assert_same_bytes(record: &LedgerRecord) {
    let bytes = record.canonical_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(text, String::from_utf8(reference_bytes(record)).unwrap());
    assert_eq!(bytes, to_canonical_vec(&record.canonical_document()));
}

fn model() -> ModelVersion {
    ModelVersion {
        id: Uuid::from_u128(1),
        model_name: "fraud_detector".into(),
        version: "2.0.3".into(),
        framework: "xgboost".into(),
        build_id: String::new(),
        commit_hash: "abc123".into(),
        config_snapshot: Some(json!({"max_depth": 6, "eta": 0.3})),
        is_active: true,
        created_at: datetime!(2026-01-02 03:04:05.123456 UTC),
    }
}

fn actor() -> RequestingActor {
    RequestingActor {
        id: Uuid::from_u128(2),
        actor_type: ActorType::ApiKey,
        actor_id: "key-7".into(),
        tenant_id: "acme".into(),
        ip_address: Some("198.51.100.7".into()),
        user_agent: "checkout-service/4.2".into(),
        auth_context: None,
        created_at: datetime!(2026-01-02 00:00:00 UTC),
    }
}

pub(crate) fn event() -> PredictionEvent {
    PredictionEvent {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
        prediction_id: "bench-000000000042".into(),
        timestamp: datetime!(2026-11-27 08:00:00 UTC),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        environment: "prod".into(),
        model: model(),
        actor: Some(actor()),
        tenant_id: "acme".into(),
        features: json!({
            "amount": 1234.5, "currency": "EUR", "age": 42, "email": "[REDACTED]",
            "billing": {"city": "Berlin", "postcode": "10115"}, "recent_merchants": [5411, 5812],
            "velocity_score": 0.123456789, "note": "line\nbreak \"quoted\" €", "\u{1f600}": true, "\u{fb33}": null,
        }),
        redactions: vec!["$.email".into()],
        input_fingerprint: "sha256:00ff".into(),
        output: json!({"score": 0.87, "label": "ok"}),
        confidence: Some(0.87),
        decision_outcome: "approved".into(),
        status: Status::Success,
        latency_ms: Some(12.0),
        metadata: json!({"region": "eu-central-1"}),
        metadata_redactions: vec![],
        redaction_log: vec![],
        explanation: None,
        ledger: None,
        created_at: datetime!(2026-11-27 08:00:00.5 UTC),
        salt: None,
        erased: None,
        outcome: None,
        reviews: Vec::new(),
        decision: crate::model::Decision::unreviewed("flagged"),
    }
}

pub(crate) fn explanation() -> Explanation {
    Explanation {
        id: Uuid::from_u128(4),
        prediction_ref: Uuid::from_u128(3),
        method: "shap".into(),
        method_version: "0.46".into(),
        payload: json!({"amount": 0.25, "velocity_score": -0.125, "big": 1e300, "tiny": 1e-300}),
        summary_text: "Amount and velocity drove the score.".into(),
        status: Status::Partial,
        generated_at: datetime!(2026-11-27 08:00:01 UTC),
        created_at: datetime!(2026-11-27 08:00:02.000001 UTC),
        revision: 2,
        salt: None,
        explanation_id: None,
    }
}

/// The layout itself, pinned: a change here is a new `RECORD_VERSION`, never an edit.
#[test]
fn explanation_golden_bytes() {
    let record = LedgerRecord::Explanation(explanation());
    let expected = concat!(
        r#"{"created_at":"2026-11-27T08:00:02.000001Z","generated_at":"2026-11-27T08:00:01Z","#,
        r#""id":"00000000-0000-0000-0000-000000000004","kind":"explanation","method":"shap","#,
        r#""method_version":"0.46","payload":{"amount":0.25,"big":1e+300,"tiny":1e-300,"velocity_score":-0.125},"#,
        r#""prediction":"00000000-0000-0000-0000-000000000003","revision":2,"status":"partial","#,
        r#""summary_text":"Amount and velocity drove the score.","v":1}"#,
    );
    assert_eq!(String::from_utf8(record.canonical_bytes()).unwrap(), expected);
    assert_eq!(reference_bytes(&record), expected.as_bytes());
}

#[test]
fn predictions_match_the_document() {
    let full = event();
    assert_same_bytes(&LedgerRecord::Prediction(Box::new(full.clone())));

    let mut sparse = event();
    sparse.actor = None;
    sparse.confidence = None;
    sparse.latency_ms = Some(f64::NAN);
    sparse.model.config_snapshot = None;
    sparse.features = json!({});
    sparse.output = Value::Null;
    sparse.redactions = vec!["$.a".into(), "$.b[0]".into()];
    sparse.metadata_redactions = vec!["$.note".into()];
    sparse.status = Status::Failed;
    assert_same_bytes(&LedgerRecord::Prediction(Box::new(sparse)));

    let mut odd = event();
    odd.confidence = Some(f64::INFINITY);
    odd.latency_ms = Some(-0.0);
    if let Some(actor) = odd.actor.as_mut() {
        actor.ip_address = None;
        actor.auth_context = Some(json!({"scopes": ["read", "write"], "\u{e000}": 1, "\u{10000}": 2}));
        actor.actor_type = ActorType::Other;
    }
    odd.prediction_id = "\u{0}\u{1f}\u{7f}\\\"/".into();
    assert_same_bytes(&LedgerRecord::Prediction(Box::new(odd)));
}

#[test]
fn explanations_match_the_document() {
    assert_same_bytes(&LedgerRecord::Explanation(explanation()));
    let mut other = explanation();
    other.payload = json!([1, "two", {"3": [4.5e-7]}]);
    other.revision = u32::MAX;
    assert_same_bytes(&LedgerRecord::Explanation(other));
}

#[test]
fn leaf_hash_covers_the_canonical_bytes() {
    let record = LedgerRecord::Prediction(Box::new(event()));
    assert_eq!(record.leaf_hash(), leaf_hash(&reference_bytes(&record)));
}

#[test]
fn borrowed_leaf_hashes_are_the_records() {
    let mut with_explanation = event();
    with_explanation.explanation = Some(explanation());
    let record = LedgerRecord::Prediction(Box::new(event()));
    assert_eq!(prediction_leaf_hash(&with_explanation), record.leaf_hash(), "the explanation is a leaf of its own");
    let mut other = event();
    other.trace_id.push('x');
    assert_ne!(prediction_leaf_hash(&other), record.leaf_hash());
    assert_eq!(explanation_leaf_hash(&explanation()), LedgerRecord::Explanation(explanation()).leaf_hash());
}

#[test]
fn borrowed_leaf_data_is_the_records() {
    let mut salted = event();
    salted.salt = Some([7; 32]);
    for event in [event(), salted] {
        let record = LedgerRecord::Prediction(Box::new(event.clone()));
        assert_eq!(prediction_leaf_data(&event), record.leaf_data());
        assert_eq!(leaf_hash(&prediction_leaf_data(&event)), prediction_leaf_hash(&event));
    }
}

#[test]
fn an_erased_predictions_seal_is_rebuilt_from_what_it_keeps() {
    let mut event = event();
    event.salt = Some([7; 32]);
    let sealed = prediction_leaf_data(&event);
    let kept = commitment(&[7; 32], &LedgerRecord::Prediction(Box::new(event.clone())).canonical_bytes());
    let mut erased = event;
    (erased.features, erased.output, erased.actor, erased.salt) = (Value::Null, Value::Null, None, None);
    assert_eq!(prediction_seal_data(&erased, &kept), sealed);
}

/// The columns a store writes for `event` (stores make them from the prepared event, whose
/// values the record takes unchanged).
fn columns_of(event: &PredictionEvent) -> PredictionColumns {
    let auth_context = event.actor.as_ref().and_then(|actor| actor.auth_context.as_ref());
    let (features, metadata, output) = (&event.features, &event.metadata, &event.output);
    PredictionColumns::written(features, &event.redactions, metadata, &event.metadata_redactions, output, auth_context)
}

#[test]
fn column_text_leaves_are_the_records_even_for_integers_kept_exactly() {
    let mut event = event();
    event.features = json!({"account": 9_007_199_254_740_993u64, "amount": 12.5});
    event.actor.as_mut().unwrap().auth_context = Some(json!({"session": -9_007_199_254_740_995i64}));
    let columns = columns_of(&event);
    assert_eq!(columns.leaf_hash(&event), prediction_leaf_hash(&event));
    assert_eq!(
        columns.features.clone().into_stored(),
        r#"{"account":9007199254740993,"amount":12.5}"#,
        "stored exactly"
    );
    let mut other = event.clone();
    other.trace_id.push('x');
    assert_ne!(columns.leaf_hash(&other), columns.leaf_hash(&event), "the other members are the event's");
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.-]{0,12}",
        prop::collection::vec(any::<char>(), 0..6).prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn arb_float() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop_oneof![
        any::<f64>(),
        (0u32..1000).prop_map(|n| f64::from(n) / 100.0),
        Just(f64::NAN),
        Just(f64::NEG_INFINITY),
    ])
}

pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn arb_time() -> impl Strategy<Value = OffsetDateTime> {
    // Years 1970–2200, microsecond precision.
    (0i64..7_258_118_400_000_000).prop_map(|micros| crate::timestamp::from_unix_micros(micros).unwrap())
}

prop_compose! {
    fn arb_actor()(
        id in any::<u128>(), actor_id in arb_text(), tenant_id in arb_text(), ip_address in prop::option::of(arb_text()),
        user_agent in arb_text(), auth_context in prop::option::of(arb_json()), created_at in arb_time(),
        actor_type in prop::sample::select(ActorType::ALL),
    ) -> RequestingActor {
        RequestingActor { id: Uuid::from_u128(id), actor_type, actor_id, tenant_id, ip_address, user_agent, auth_context, created_at }
    }
}

prop_compose! {
    pub(crate) fn arb_prediction()(
        texts in prop::collection::vec(arb_text(), 10),
        values in prop::collection::vec(arb_json(), 4),
        floats in (arb_float(), arb_float()),
        times in (arb_time(), arb_time(), arb_time()),
        actor in prop::option::of(arb_actor()),
        redactions in prop::collection::vec(arb_text(), 0..3),
        metadata_redactions in prop::collection::vec(arb_text(), 0..3),
        is_active in any::<bool>(),
        status in prop::sample::select(Status::ALL),
        salt in prop::option::of(any::<[u8; 32]>()),
    ) -> PredictionEvent {
        let mut values = values.into_iter();
        let mut texts = texts.into_iter();
        let mut text = || texts.next().unwrap();
        PredictionEvent {
            id: Uuid::from_u128(7),
            prediction_id: text(),
            timestamp: times.0,
            trace_id: text(),
            environment: text(),
            model: ModelVersion {
                id: Uuid::from_u128(8),
                model_name: text(),
                version: text(),
                framework: text(),
                build_id: text(),
                commit_hash: text(),
                config_snapshot: values.next(),
                is_active,
                created_at: times.1,
            },
            tenant_id: actor.as_ref().map(|a: &RequestingActor| a.tenant_id.clone()).unwrap_or_default(),
            actor,
            features: values.next().unwrap(),
            redactions,
            input_fingerprint: text(),
            output: values.next().unwrap(),
            confidence: floats.0,
            decision_outcome: text(),
            status,
            latency_ms: floats.1,
            metadata: values.next().unwrap(),
            metadata_redactions,
            redaction_log: vec![],
            explanation: None,
            ledger: None,
            created_at: times.2,
            salt,
            erased: None,
            outcome: None,
            reviews: Vec::new(),
            decision: crate::model::Decision::unreviewed(""),
        }
    }
}

prop_compose! {
    pub(crate) fn arb_explanation()(
        texts in prop::collection::vec(arb_text(), 3), payload in arb_json(), times in (arb_time(), arb_time()),
        revision in any::<u32>(), status in prop::sample::select(Status::ALL),
        salt in prop::option::of(any::<[u8; 32]>()), explanation_id in prop::option::of(arb_text()),
    ) -> Explanation {
        Explanation {
            id: Uuid::from_u128(9),
            prediction_ref: Uuid::from_u128(10),
            method: texts[0].clone(),
            method_version: texts[1].clone(),
            payload,
            summary_text: texts[2].clone(),
            status,
            generated_at: times.0,
            created_at: times.1,
            revision,
            salt,
            explanation_id,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn prediction_bytes_are_unchanged(event in arb_prediction()) {
        let record = LedgerRecord::Prediction(Box::new(event));
        prop_assert_eq!(String::from_utf8(record.canonical_bytes()).unwrap(), String::from_utf8(reference_bytes(&record)).unwrap());
    }

    #[test]
    fn column_text_leaves_are_the_records(event in arb_prediction()) {
        let columns = columns_of(&event);
        prop_assert_eq!(columns.leaf_hash(&event), prediction_leaf_hash(&event));
        prop_assert_eq!(columns.output.into_stored(), column_text(&event.output));
    }

    #[test]
    fn explanation_bytes_are_unchanged(explanation in arb_explanation()) {
        let record = LedgerRecord::Explanation(explanation);
        prop_assert_eq!(String::from_utf8(record.canonical_bytes()).unwrap(), String::from_utf8(reference_bytes(&record)).unwrap());
    }
}
