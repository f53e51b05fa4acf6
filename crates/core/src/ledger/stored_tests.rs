use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::ledger::canonical::{canonical_text, column_text};
use crate::ledger::record::tests::{arb_explanation, arb_prediction, event, explanation};

fn stored_model(model: &ModelVersion) -> StoredModel {
    StoredModel {
        id: model.id,
        model_name: model.model_name.clone(),
        version: model.version.clone(),
        framework: model.framework.clone(),
        build_id: model.build_id.clone(),
        commit_hash: model.commit_hash.clone(),
        config_snapshot: model.config_snapshot.as_ref().map(column_text),
        is_active: model.is_active,
        created_at: model.created_at,
    }
}

/// What a backend writes for a prediction: its columns, JSON in the stored form, and the rows
/// it references.
fn stored(event: &PredictionEvent) -> (StoredRecord, RowCatalog) {
    let actor = event.actor.as_ref();
    let catalog = RowCatalog::new(
        [stored_model(&event.model)],
        actor.map(|a| StoredActor {
            id: a.id,
            actor_type: a.actor_type.as_str().into(),
            actor_id: a.actor_id.clone(),
            created_at: a.created_at,
        }),
    );
    let row = StoredPrediction {
        id: event.id,
        prediction_id: event.prediction_id.clone(),
        timestamp: event.timestamp,
        created_at: event.created_at,
        trace_id: event.trace_id.clone(),
        environment: event.environment.clone(),
        model_ref: event.model.id,
        actor_ref: actor.map(|a| a.id),
        tenant_id: actor.map(|a| a.tenant_id.clone()).unwrap_or_default(),
        actor_ip: actor.and_then(|a| a.ip_address.clone()),
        actor_user_agent: actor.map(|a| a.user_agent.clone()).unwrap_or_default(),
        actor_auth_context: actor.and_then(|a| a.auth_context.as_ref()).map(column_text),
        features: column_text(&event.features),
        redactions: canonical_text(&event.redactions),
        metadata: column_text(&event.metadata),
        metadata_redactions: canonical_text(&event.metadata_redactions),
        input_fingerprint: event.input_fingerprint.clone(),
        output: column_text(&event.output),
        // A database keeps no NaN or infinity: those read back as NULL, which writes the same.
        confidence: event.confidence.filter(|c| c.is_finite()),
        decision_outcome: event.decision_outcome.clone(),
        status: event.status.as_str().into(),
        latency_ms: event.latency_ms.filter(|l| l.is_finite()),
        salt: event.salt.map(|salt| salt.to_vec()),
        erasure: None,
    };
    (StoredRecord::Prediction(Box::new(row)), catalog)
}

fn stored_explanation(explanation: &Explanation) -> StoredRecord {
    StoredRecord::Explanation(Box::new(StoredExplanation {
        id: explanation.id,
        prediction_ref: explanation.prediction_ref,
        revision: i64::from(explanation.revision),
        method: explanation.method.clone(),
        method_version: explanation.method_version.clone(),
        payload: column_text(&explanation.payload),
        summary_text: explanation.summary_text.clone(),
        status: explanation.status.as_str().into(),
        generated_at: explanation.generated_at,
        created_at: explanation.created_at,
        salt: explanation.salt.map(|salt| salt.to_vec()),
        explanation_id: explanation.explanation_id.clone(),
        erasure: None,
    }))
}

fn spliced(record: &StoredRecord, models: &RowCatalog) -> Result<String> {
    let mut out = Vec::new();
    record.write_spliced(&mut out, models)?;
    Ok(String::from_utf8(out).unwrap())
}

fn canonical(record: &LedgerRecord) -> String {
    String::from_utf8(record.canonical_bytes()).unwrap()
}

fn prediction_row(record: &mut StoredRecord) -> &mut StoredPrediction {
    match record {
        StoredRecord::Prediction(row) => row,
        _ => unreachable!("a prediction"),
    }
}

#[test]
fn rows_as_stored_splice_into_the_canonical_bytes() {
    let event = event();
    let (record, models) = stored(&event);
    let expected = canonical(&LedgerRecord::Prediction(Box::new(event)));
    assert_eq!(spliced(&record, &models).unwrap(), expected);
    assert_eq!(canonical(&record.decode(&models).unwrap()), expected);

    let explanation = explanation();
    let record = stored_explanation(&explanation);
    let expected = canonical(&LedgerRecord::Explanation(explanation));
    assert_eq!(spliced(&record, &RowCatalog::default()).unwrap(), expected);
    assert_eq!(canonical(&record.decode(&RowCatalog::default()).unwrap()), expected);
}

/// Rows written before JSON columns were stored canonically (or holding integers beyond 2^53,
/// kept exact) splice into other bytes; decoding them still gives the record's own.
#[test]
fn text_that_is_not_canonical_only_decodes_to_the_record() {
    let mut event = event();
    event.features = json!({"amount": 120.0, "account": 9_007_199_254_740_993u64});
    let expected = canonical(&LedgerRecord::Prediction(Box::new(event.clone())));
    let (mut record, models) = stored(&event);
    assert_eq!(prediction_row(&mut record).features, r#"{"account":9007199254740993,"amount":120.0}"#, "kept exact");
    assert_ne!(spliced(&record, &models).unwrap(), expected);
    assert_eq!(canonical(&record.decode(&models).unwrap()), expected);

    event.features = json!({"amount": 120.0});
    let expected = canonical(&LedgerRecord::Prediction(Box::new(event.clone())));
    let (mut record, models) = stored(&event);
    assert_eq!(prediction_row(&mut record).features, r#"{"amount":120}"#, "stored canonical");
    assert_eq!(spliced(&record, &models).unwrap(), expected);
    prediction_row(&mut record).features = event.features.to_string();
    assert_eq!(prediction_row(&mut record).features, r#"{"amount":120.0}"#, "as stored before");
    assert_ne!(spliced(&record, &models).unwrap(), expected);
    assert_eq!(canonical(&record.decode(&models).unwrap()), expected);
}

/// Text moved from one JSON column into its neighbour can splice into the very same bytes; a
/// column that is not one JSON value is therefore refused, never spliced.
#[test]
fn text_shifted_between_columns_is_refused() {
    let mut event = event();
    event.metadata = json!({"a": {"b": 1, "metadata_redactions": 2}});
    event.metadata_redactions = vec![];
    let (mut record, models) = stored(&event);
    let intact = spliced(&record, &models).unwrap();
    let row = prediction_row(&mut record);
    assert_eq!(row.metadata, r#"{"a":{"b":1,"metadata_redactions":2}}"#);
    row.metadata = r#"{"a":{"b":1"#.into();
    row.metadata_redactions = r#"2}},"metadata_redactions":[]"#.into();
    // Spliced unchecked, the shifted columns would give the intact record's bytes.
    assert!(
        intact.contains(&format!("\"metadata\":{},\"metadata_redactions\":{}", row.metadata, row.metadata_redactions))
    );
    let error = spliced(&record, &models).unwrap_err();
    assert!(matches!(error, StoredRecordError::NotJson { column: "metadata", .. }), "{error}");
    assert!(record.decode(&models).is_err());
}

#[test]
fn missing_and_malformed_rows_are_named() {
    let event = event();
    let (mut record, models) = stored(&event);
    assert_eq!(spliced(&record, &RowCatalog::default()), Err(StoredRecordError::MissingModel(event.model.id)));

    let actor = event.actor.as_ref().unwrap().id;
    let without_actor = RowCatalog::new([stored_model(&event.model)], []);
    assert_eq!(spliced(&record, &without_actor), Err(StoredRecordError::MissingActor(actor)));
    assert_eq!(record.decode(&without_actor).unwrap_err(), StoredRecordError::MissingActor(actor));

    prediction_row(&mut record).status = "maybe".into();
    let spliced_text = spliced(&record, &models).unwrap();
    assert!(spliced_text.contains(r#""status":"maybe""#), "spliced as stored, so its hash differs");
    let error = record.decode(&models).unwrap_err().to_string();
    assert!(error.starts_with("its status \"maybe\" is not valid"), "{error}");

    let bad_model = StoredModel {
        id: event.model.id,
        model_name: "m".into(),
        version: "1".into(),
        framework: String::new(),
        build_id: String::new(),
        commit_hash: String::new(),
        config_snapshot: Some("{not json".into()),
        is_active: true,
        created_at: event.model.created_at,
    };
    let broken = RowCatalog::new([bad_model], []);
    let error = spliced(&record, &broken).unwrap_err();
    assert!(matches!(error, StoredRecordError::NotJson { column: "config_snapshot", .. }), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn stored_predictions_splice_and_decode_to_their_bytes(event in arb_prediction()) {
        let (record, models) = stored(&event);
        let leaf = LedgerRecord::Prediction(Box::new(event.clone())).leaf_hash();
        let spliced_leaf = record.spliced_leaf_hash(&models, &mut Vec::new()).unwrap();
        // Text that splices differently (numbers beyond 2^53) is the decode path's to match.
        prop_assert!(spliced_leaf == Some(leaf) || record.decode(&models).unwrap().leaf_hash() == leaf);
        let expected = canonical(&LedgerRecord::Prediction(Box::new(event.clone())));
        let (record, models) = stored(&event);
        prop_assert_eq!(canonical(&record.decode(&models).unwrap()), expected.clone());
        // Splicing gives the canonical bytes unless a column had to keep an integer exact.
        let spliced = spliced(&record, &models).unwrap();
        let StoredRecord::Prediction(row) = &record else { unreachable!() };
        let kept_exact = [Some(&row.features), Some(&row.metadata), Some(&row.output), row.actor_auth_context.as_ref()]
            .into_iter()
            .flatten()
            .any(|text| {
                let value: Value = serde_json::from_str(text).unwrap();
                column_text(&value) != canonical_text(&value)
            });
        if !kept_exact {
            prop_assert_eq!(spliced, expected);
        }
    }

    #[test]
    fn stored_explanations_splice_and_decode_to_their_bytes(explanation in arb_explanation()) {
        let expected = canonical(&LedgerRecord::Explanation(explanation.clone()));
        let record = stored_explanation(&explanation);
        prop_assert_eq!(canonical(&record.decode(&RowCatalog::default()).unwrap()), expected.clone());
        if column_text(&explanation.payload) == canonical_text(&explanation.payload) {
            prop_assert_eq!(spliced(&record, &RowCatalog::default()).unwrap(), expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever a JSON column holds, its stored text passes the check — in either stored form.
    #[test]
    fn stored_json_is_one_value(value in crate::ledger::record::tests::arb_json()) {
        prop_assert!(crate::ledger::canonical::JsonText::checked(&column_text(&value)).is_ok());
        prop_assert!(crate::ledger::canonical::JsonText::checked(&value.to_string()).is_ok());
    }

    /// Cutting valid text anywhere leaves something that is not one value, or a shorter scalar
    /// (a number's prefix is a number) — never an object, array or string that ends early.
    #[test]
    fn a_cut_value_is_refused(value in crate::ledger::record::tests::arb_json(), cut in any::<prop::sample::Index>()) {
        let text = column_text(&value);
        let at = cut.index(text.len());
        if text.is_char_boundary(at) && at > 0 && matches!(text.as_bytes()[0], b'{' | b'[' | b'"') {
            prop_assert!(crate::ledger::canonical::JsonText::checked(&text[..at]).is_err(), "{}", &text[..at]);
        }
    }
}

fn erased(record: &mut StoredRecord, commitment: Option<Hash>) {
    let mark = Some(StoredErasure { erasure_ref: Uuid::from_u128(99), commitment: commitment.map(|c| c.to_vec()) });
    match record {
        StoredRecord::Prediction(row) => {
            row.salt = None;
            row.erasure = mark;
            (row.features, row.output, row.metadata) = ("null".into(), "null".into(), "null".into());
            (row.trace_id, row.input_fingerprint, row.actor_user_agent) = (String::new(), String::new(), String::new());
            row.actor_ip = None;
        }
        StoredRecord::Explanation(row) => {
            row.salt = None;
            row.erasure = mark;
            (row.payload, row.summary_text) = ("null".into(), String::new());
        }
        StoredRecord::Outcome(_) | StoredRecord::Review(_) | StoredRecord::Access(_) => {
            unreachable!("a prediction or an explanation")
        }
    }
}

/// A v2 record's leaf is its seal; once erased (content and salt gone, the commitment kept) the
/// seal still recomputes from the columns that stay, and a change to one of those is caught.
#[test]
fn an_erased_v2_record_keeps_its_leaf_and_its_kept_fields_are_still_proven() {
    let mut event = event();
    event.salt = Some([7; 32]);
    let leaf = LedgerRecord::Prediction(Box::new(event.clone())).leaf_hash();
    let (mut record, models) = stored(&event);
    let mut scratch = Vec::new();
    assert_eq!(record.spliced_leaf_hash(&models, &mut scratch).unwrap(), Some(leaf));
    let commitment = record.commitment_for(&models, &leaf).unwrap().unwrap();
    erased(&mut record, Some(commitment));
    assert_eq!(record.spliced_leaf_hash(&models, &mut scratch).unwrap(), Some(leaf));
    prediction_row(&mut record).decision_outcome = "approved-after-all".into();
    assert_ne!(record.spliced_leaf_hash(&models, &mut scratch).unwrap(), Some(leaf));

    let mut explanation = explanation();
    explanation.salt = Some([9; 32]);
    let leaf = LedgerRecord::Explanation(explanation.clone()).leaf_hash();
    let mut record = stored_explanation(&explanation);
    let commitment = record.commitment_for(&RowCatalog::default(), &leaf).unwrap().unwrap();
    erased(&mut record, Some(commitment));
    assert_eq!(record.spliced_leaf_hash(&RowCatalog::default(), &mut scratch).unwrap(), Some(leaf));
}

/// The seal shows no content, and without the salt the record cannot be confirmed from it: the
/// same record under another salt gives another commitment.
#[test]
fn a_seal_reveals_nothing_of_the_content() {
    let mut event = event();
    event.salt = Some([1; 32]);
    let seal = String::from_utf8(LedgerRecord::Prediction(Box::new(event.clone())).leaf_data()).unwrap();
    for secret in ["velocity_score", "198.51.100.7", "checkout-service", "bench-000000000042", "4bf92f35"] {
        assert!(!seal.contains(secret), "{secret} in {seal}");
    }
    assert!(seal.contains(r#""v":2"#) && seal.contains(r#""tenant_id":"acme""#), "{seal}");
    let guessed = LedgerRecord::Prediction(Box::new(PredictionEvent { salt: Some([2; 32]), ..event.clone() }));
    assert_ne!(guessed.leaf_hash(), LedgerRecord::Prediction(Box::new(event)).leaf_hash());
}

/// An erased v1 record's leaf hashed the content itself: nothing recomputes it.
#[test]
fn an_erased_v1_record_has_no_leaf_to_recompute() {
    let (mut record, models) = stored(&event());
    erased(&mut record, None);
    assert_eq!(record.spliced_leaf_hash(&models, &mut Vec::new()).unwrap(), None);
}
