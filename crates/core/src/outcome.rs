//! Outcomes (the ground truth that arrives later): parse a body strictly, then redact it into
//! the only form a backend accepts ([`PreparedOutcome`]).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldError;
use crate::event::{Fields, MAX_SHORT_TEXT};
use crate::ledger::record::{Salt, new_salt};
use crate::model::Outcome;
use crate::redaction::{Redacted, RedactionPolicy};
use crate::timestamp;

/// A validated outcome whose metadata is still raw; [`OutcomeInput::prepare`] redacts it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeInput {
    /// The prediction's external id: given in a batch item, absent in the per-prediction route.
    pub prediction_id: Option<String>,
    pub outcome_id: Option<String>,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub source: String,
    pub observed_at: Option<OffsetDateTime>,
    pub metadata: Map<String, Value>,
}

/// What a backend stores: redacted, ids and times filled in, with the fingerprint of the content
/// as sent that decides whether a replay is identical. Only [`OutcomeInput::prepare`] builds one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PreparedOutcome {
    pub id: Uuid,
    pub outcome_id: String,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub source: String,
    pub observed_at: OffsetDateTime,
    pub metadata: Value,
    pub metadata_redactions: Vec<String>,
    /// SHA-256 (hex) of the outcome as sent, after redaction; equal for an identical retry.
    pub content_hash: String,
    pub created_at: OffsetDateTime,
    pub salt: Salt,
}

impl OutcomeInput {
    /// Parses the body of `POST /predictions/{ref}/outcomes`.
    pub fn parse(body: Value) -> Result<Self, FieldError> {
        Self::parse_fields(Fields::new(body)?, false)
    }

    /// Parses one item of `POST /outcomes/batch`, which names its prediction by `prediction_id`.
    pub fn parse_batch_item(body: Value) -> Result<Self, FieldError> {
        Self::parse_fields(Fields::new(body)?, true)
    }

    fn parse_fields(mut obj: Fields, in_batch: bool) -> Result<Self, FieldError> {
        let prediction_id = match in_batch {
            true => Some(obj.required_text("prediction_id", MAX_SHORT_TEXT)?),
            false => None,
        };
        let input = OutcomeInput {
            prediction_id,
            outcome_id: obj.optional_nonempty_text("outcome_id", MAX_SHORT_TEXT)?,
            label: obj.optional_nonempty_text("label", MAX_SHORT_TEXT)?,
            value: obj.optional_number("value", None)?,
            source: obj.required_text("source", MAX_SHORT_TEXT)?,
            observed_at: obj.optional_timestamp("observed_at")?,
            metadata: obj.optional_object("metadata")?.unwrap_or_default(),
        };
        obj.reject_unknown()?;
        if input.label.is_none() && input.value.is_none() {
            return Err(FieldError::new("label", "an outcome needs a label (text) or a value (a finite number)"));
        }
        Ok(input)
    }

    /// Redacts the metadata (as metadata: the value detectors and the rules that list it) and
    /// fills in what the server assigns.
    pub fn prepare(self, policy: &RedactionPolicy) -> PreparedOutcome {
        let Redacted { value: metadata, paths: metadata_redactions } =
            policy.redact_values(Value::Object(self.metadata));
        let id = Uuid::now_v7();
        let observed_at_sent = self.observed_at.is_some();
        let outcome_id_sent = self.outcome_id.is_some();
        let mut prepared = PreparedOutcome {
            id,
            outcome_id: self.outcome_id.unwrap_or_else(|| id.to_string()),
            label: self.label,
            value: self.value,
            source: self.source,
            observed_at: self.observed_at.unwrap_or_else(timestamp::now),
            metadata,
            metadata_redactions,
            content_hash: String::new(),
            created_at: timestamp::now(),
            salt: new_salt(),
        };
        prepared.content_hash = content_hash(&prepared, observed_at_sent, outcome_id_sent);
        prepared
    }
}

/// The fingerprint of what the caller sent, server-filled values left out (compact JSON, keys in
/// byte order). Stored: these bytes must never change.
fn content_hash(outcome: &PreparedOutcome, observed_at_sent: bool, outcome_id_sent: bool) -> String {
    #[derive(serde::Serialize)]
    struct Content<'a> {
        label: Option<&'a str>,
        metadata: &'a Value,
        observed_at: Option<String>,
        outcome_id_sent: bool,
        source: &'a str,
        value: Option<f64>,
    }
    let content = Content {
        label: outcome.label.as_deref(),
        metadata: &outcome.metadata,
        observed_at: observed_at_sent.then(|| timestamp::format_rfc3339(outcome.observed_at)),
        outcome_id_sent,
        source: &outcome.source,
        value: outcome.value,
    };
    fingerprint(&content)
}

/// SHA-256 (hex) of a value's compact JSON.
pub(crate) fn fingerprint(content: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(content).expect("every value serializes");
    hex::encode(Sha256::digest(&bytes))
}

/// The outcome a prepared one becomes once stored as the prediction's `position`-th.
pub fn stored_outcome(prepared: PreparedOutcome, prediction: Uuid, position: u32) -> Outcome {
    Outcome {
        id: prepared.id,
        prediction_ref: prediction,
        outcome_id: prepared.outcome_id,
        position,
        label: prepared.label,
        value: prepared.value,
        source: prepared.source,
        observed_at: prepared.observed_at,
        metadata: prepared.metadata,
        metadata_redactions: prepared.metadata_redactions,
        created_at: prepared.created_at,
        salt: Some(prepared.salt),
    }
}

/// Whether `candidate` supersedes `current` as a prediction's current outcome: the latest by
/// `observed_at`, then by arrival.
pub fn supersedes(candidate: (OffsetDateTime, u32), current: (OffsetDateTime, u32)) -> bool {
    candidate > current
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(body: Value) -> String {
        OutcomeInput::parse(body).unwrap_err().field
    }

    #[test]
    fn bad_outcomes_name_their_field() {
        assert_eq!(field(json!({"source": "chargeback"})), "label");
        assert_eq!(field(json!({"source": "chargeback", "value": "12"})), "value");
        assert_eq!(field(json!({"label": "fraud"})), "source");
        assert_eq!(
            field(json!({"label": "fraud", "source": "x", "observed_at": "2026-11-27T08:00:00"})),
            "observed_at"
        );
        assert_eq!(field(json!({"label": "fraud", "source": "x", "observed_at": "yesterday"})), "observed_at");
        assert_eq!(field(json!({"label": "fraud", "source": "x", "colour": 1})), "colour");
        assert_eq!(field(json!({"label": 7, "source": "x"})), "label");
        let batch = OutcomeInput::parse_batch_item(json!({"label": "fraud", "source": "x"})).unwrap_err();
        assert_eq!(batch.field, "prediction_id");
    }

    #[test]
    fn a_retry_fingerprints_alike_and_server_filled_values_do_not_count() {
        let policy = RedactionPolicy::default();
        let body = json!({"outcome_id": "o-1", "label": "fraud", "source": "chargeback",
                          "metadata": {"note": "mail jane@example.com"}});
        let first = OutcomeInput::parse(body.clone()).unwrap().prepare(&policy);
        let again = OutcomeInput::parse(body.clone()).unwrap().prepare(&policy);
        assert_eq!(first.content_hash, again.content_hash);
        assert_ne!(first.id, again.id);
        assert!(!first.metadata.to_string().contains("jane@example.com"), "{}", first.metadata);
        assert_eq!(first.metadata_redactions, vec!["$.note".to_owned()]);
        let mut changed = body;
        changed["label"] = json!("legit");
        assert_ne!(OutcomeInput::parse(changed).unwrap().prepare(&policy).content_hash, first.content_hash);
        let generated = OutcomeInput::parse(json!({"value": 3.5, "source": "ledger"})).unwrap().prepare(&policy);
        assert_eq!(generated.outcome_id, generated.id.to_string());
    }
}
