//! Incoming events: parse a JSON body into validated values, then redact it into the only form
//! a backend accepts ([`PreparedPrediction`]).
//!
//! Parsing is strict: unknown fields, wrong types, out-of-range numbers and text with NUL bytes
//! are errors naming the field, so nothing ambiguous is ever recorded.

use std::net::IpAddr;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::Visibility;
use crate::error::FieldError;
use crate::ledger::record::{Salt, new_salt};
use crate::model::{ActorType, Status};
use crate::redaction::{Part, Redacted, RedactionEntry, RedactionPolicy, RedactionReport};
use crate::timestamp;

/// Longest accepted identifier-like text (names, versions, ids, outcomes).
pub const MAX_SHORT_TEXT: usize = 255;
/// Longest accepted free text (user agents, summaries, fingerprints).
pub const MAX_LONG_TEXT: usize = 8192;

/// A model version as an event names it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewModelVersion {
    pub model_name: String,
    pub version: String,
    pub framework: String,
    pub build_id: String,
    pub commit_hash: String,
    pub config_snapshot: Option<Value>,
}

/// An actor as an event names it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewActor {
    pub actor_type: ActorType,
    pub actor_id: String,
    pub tenant_id: String,
    pub ip_address: Option<String>,
    pub user_agent: String,
    pub auth_context: Option<Value>,
}

/// An explanation to attach, inline in an event or on its own.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewExplanation {
    pub id: Uuid,
    /// The client's id, on an attach only (an inline explanation is its prediction's).
    pub explanation_id: Option<String>,
    /// SHA-256 (hex) of the explanation as sent; equal for an identical retry.
    pub content_hash: String,
    /// The secret its ledger leaf commits through.
    pub salt: Salt,
    pub method: String,
    pub method_version: String,
    pub payload: Value,
    pub summary_text: String,
    pub status: Status,
    pub generated_at: OffsetDateTime,
}

/// A validated event whose features are still raw. It only lives in memory: the sole way to
/// storage is [`PredictionInput::prepare`], which redacts.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionInput {
    pub model: NewModelVersion,
    pub actor: Option<NewActor>,
    pub features: Map<String, Value>,
    pub output: Value,
    pub decision_outcome: String,
    pub confidence: Option<f64>,
    pub status: Status,
    pub environment: String,
    pub trace_id: String,
    pub latency_ms: Option<f64>,
    pub metadata: Map<String, Value>,
    pub input_fingerprint: String,
    pub prediction_id: Option<String>,
    pub timestamp: Option<OffsetDateTime>,
    pub explanation: Option<NewExplanation>,
}

/// What a backend stores: redacted, with server-assigned ids and times filled in, and the
/// fingerprint of the content as sent that decides whether a replay is identical. Only
/// [`PredictionInput::prepare`] builds one (`#[non_exhaustive]`: other crates read and move its
/// fields but cannot construct it), so nothing reaches a store unredacted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PreparedPrediction {
    pub id: Uuid,
    pub prediction_id: String,
    pub timestamp: OffsetDateTime,
    pub model: NewModelVersion,
    pub actor: Option<NewActor>,
    pub features: Value,
    pub redactions: Vec<String>,
    pub metadata: Value,
    pub metadata_redactions: Vec<String>,
    pub output: Value,
    pub decision_outcome: String,
    pub confidence: Option<f64>,
    pub status: Status,
    pub environment: String,
    pub trace_id: String,
    pub latency_ms: Option<f64>,
    pub input_fingerprint: String,
    pub explanation: Option<NewExplanation>,
    /// SHA-256 (hex) of the event as sent, after redaction; equal for an identical retry.
    pub content_hash: String,
    pub created_at: OffsetDateTime,
    /// Every redacted location of every part (features, metadata, output, user agent) with the
    /// rule that fired and its action; never a value.
    pub redaction_log: Vec<RedactionEntry>,
    /// The `hash` pseudonyms (`pii_…`) the event's values became, sorted, each once: what the
    /// store indexes so that a subject's predictions can be found.
    pub subjects: Vec<String>,
    /// The secret its ledger leaf commits through (see [`crate::ledger::record`]).
    pub salt: Salt,
}

impl PredictionInput {
    /// Parses one event body. Errors name the field as a path, e.g. `actor.actor_type`.
    pub fn parse(body: Value) -> Result<Self, FieldError> {
        Self::parse_fields(Fields::new(body)?)
    }

    /// Parses one event given as its top-level members in document order, as the batch route
    /// reads them (sparing a `BTreeMap` per event). Answers exactly as [`Self::parse`] would for
    /// the same object: a repeated name counts with its last value, as in serde_json's `Map`.
    pub fn parse_members(members: Vec<(String, Value)>) -> Result<Self, FieldError> {
        Self::parse_fields(Fields::from_members(members))
    }

    fn parse_fields(mut obj: Fields) -> Result<Self, FieldError> {
        let model_name = obj.required_text("model_name", MAX_SHORT_TEXT)?;
        let version = obj.required_text("model_version", MAX_SHORT_TEXT)?;
        let features = obj.required_object("features")?;
        let output = obj.required_any("output")?;
        let actor = match obj.take("actor") {
            None => None,
            Some(value) => Some(parse_actor(value).map_err(|e| e.within("actor"))?),
        };
        let explanation = match obj.take("explanation") {
            None => None,
            Some(value) => Some(parse_explanation(value, timestamp::now()).map_err(|e| e.within("explanation"))?),
        };
        let input = PredictionInput {
            model: NewModelVersion {
                model_name,
                version,
                framework: obj.optional_text("framework", MAX_SHORT_TEXT)?,
                build_id: obj.optional_text("build_id", MAX_SHORT_TEXT)?,
                commit_hash: obj.optional_text("commit_hash", MAX_SHORT_TEXT)?,
                config_snapshot: obj.optional_object("config_snapshot")?.map(Value::Object),
            },
            actor,
            features,
            output,
            decision_outcome: obj.optional_text("decision_outcome", MAX_SHORT_TEXT)?,
            confidence: obj.optional_number("confidence", Some((0.0, 1.0)))?,
            status: obj.optional_enum("status", Status::parse)?.unwrap_or(Status::Success),
            environment: obj.optional_text("environment", MAX_SHORT_TEXT)?,
            trace_id: obj.optional_text("trace_id", MAX_SHORT_TEXT)?,
            latency_ms: obj.optional_number("latency_ms", Some((0.0, f64::MAX)))?,
            metadata: obj.optional_object("metadata")?.unwrap_or_default(),
            input_fingerprint: obj.optional_text("input_fingerprint", MAX_SHORT_TEXT)?,
            prediction_id: obj.optional_nonempty_text("prediction_id", MAX_SHORT_TEXT)?,
            timestamp: obj.optional_timestamp("timestamp")?,
            explanation,
        };
        obj.reject_unknown()?;
        Ok(input)
    }

    /// Redacts the event and fills in what the server assigns. The tenant check lives here so
    /// that no write path can skip it: a tenant-bound key may only write its own tenant.
    pub fn prepare(self, policy: &RedactionPolicy, writer: &Visibility) -> Result<PreparedPrediction, WriteDenied> {
        let tenant = self.actor.as_ref().map_or("", |a| a.tenant_id.as_str());
        if !writer.permits_tenant(tenant) {
            return Err(WriteDenied { tenant: tenant.to_owned() });
        }
        // One redaction for the whole event, so that rules limited to this model apply and the
        // log covers every part.
        let mut redaction = policy.for_model(&self.model.model_name);
        let Redacted { value: features, paths: redactions } =
            redaction.redact(Part::Features, Value::Object(self.features));
        let Redacted { value: metadata, paths: metadata_redactions } =
            redaction.redact(Part::Metadata, Value::Object(self.metadata));
        let output = redaction.redact(Part::Output, self.output).value;
        let actor =
            self.actor.map(|actor| NewActor { user_agent: redaction.redact_user_agent(actor.user_agent), ..actor });
        let RedactionReport { log: redaction_log, subjects } = redaction.finish();
        let mut prepared = PreparedPrediction {
            id: Uuid::now_v7(),
            salt: new_salt(),
            prediction_id: String::new(),
            timestamp: self.timestamp.unwrap_or_else(timestamp::now),
            model: self.model,
            actor,
            features,
            redactions,
            metadata,
            metadata_redactions,
            output,
            decision_outcome: self.decision_outcome,
            confidence: self.confidence,
            status: self.status,
            environment: self.environment,
            trace_id: self.trace_id,
            latency_ms: self.latency_ms,
            input_fingerprint: self.input_fingerprint,
            explanation: self.explanation,
            content_hash: String::new(),
            created_at: timestamp::now(),
            redaction_log,
            subjects,
        };
        prepared.content_hash = content_hash(&prepared, self.timestamp.is_some(), self.prediction_id.is_some());
        prepared.prediction_id = self.prediction_id.unwrap_or_else(|| prepared.id.to_string());
        Ok(prepared)
    }
}

/// A tenant-bound key tried to write another tenant's prediction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this key may only record predictions whose actor.tenant_id is its own tenant, not {tenant:?}")]
pub struct WriteDenied {
    pub tenant: String,
}

/// The fingerprint of what the caller sent (after redaction, so nothing derived from a raw
/// personal value is ever kept). Server-filled values are left out: a retry that again omits
/// `timestamp` must match the stored event whose timestamp the server chose.
///
/// SHA-256 of compact JSON with every object's keys in byte order, written from borrowed fields.
/// Stored hashes decide whether a replay is identical, so these bytes must never change: the
/// fields below are declared in key order, and a test holds them to the JSON document they were
/// first computed from.
fn content_hash(event: &PreparedPrediction, timestamp_sent: bool, prediction_id_sent: bool) -> String {
    let model = &event.model;
    let content = Content {
        actor: event.actor.as_ref().map(|a| ActorContent {
            actor_id: &a.actor_id,
            actor_type: a.actor_type.as_str(),
            auth_context: a.auth_context.as_ref(),
            ip_address: a.ip_address.as_deref(),
            tenant_id: &a.tenant_id,
            user_agent: &a.user_agent,
        }),
        build_id: &model.build_id,
        commit_hash: &model.commit_hash,
        confidence: event.confidence,
        config_snapshot: model.config_snapshot.as_ref(),
        decision_outcome: &event.decision_outcome,
        environment: &event.environment,
        explanation: event.explanation.as_ref().map(|e| ExplanationContent {
            method: &e.method,
            method_version: &e.method_version,
            payload: &e.payload,
            status: e.status.as_str(),
            summary_text: &e.summary_text,
        }),
        features: &event.features,
        framework: &model.framework,
        input_fingerprint: &event.input_fingerprint,
        latency_ms: event.latency_ms,
        metadata: &event.metadata,
        model_name: &model.model_name,
        model_version: &model.version,
        output: &event.output,
        prediction_id_sent,
        status: event.status.as_str(),
        timestamp: timestamp_sent.then(|| timestamp::format_rfc3339(event.timestamp)),
        trace_id: &event.trace_id,
    };
    // Written whole, then hashed: fed to the hasher token by token, most of the time went into
    // the many small updates.
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, &content).expect("writing to a Vec cannot fail and every value serializes");
    hex::encode(Sha256::digest(&bytes))
}

/// What [`content_hash`] covers, fields in the byte order of their names.
#[derive(serde::Serialize)]
struct Content<'a> {
    actor: Option<ActorContent<'a>>,
    build_id: &'a str,
    commit_hash: &'a str,
    confidence: Option<f64>,
    config_snapshot: Option<&'a Value>,
    decision_outcome: &'a str,
    environment: &'a str,
    explanation: Option<ExplanationContent<'a>>,
    features: &'a Value,
    framework: &'a str,
    input_fingerprint: &'a str,
    latency_ms: Option<f64>,
    metadata: &'a Value,
    model_name: &'a str,
    model_version: &'a str,
    output: &'a Value,
    prediction_id_sent: bool,
    status: &'a str,
    timestamp: Option<String>,
    trace_id: &'a str,
}

#[derive(serde::Serialize)]
struct ActorContent<'a> {
    actor_id: &'a str,
    actor_type: &'a str,
    auth_context: Option<&'a Value>,
    ip_address: Option<&'a str>,
    tenant_id: &'a str,
    user_agent: &'a str,
}

#[derive(serde::Serialize)]
struct ExplanationContent<'a> {
    method: &'a str,
    method_version: &'a str,
    payload: &'a Value,
    status: &'a str,
    summary_text: &'a str,
}

fn parse_actor(value: Value) -> Result<NewActor, FieldError> {
    let mut obj = Fields::new(value)?;
    let actor = NewActor {
        actor_type: obj
            .optional_enum("actor_type", ActorType::parse)?
            .ok_or_else(|| FieldError::new("actor_type", "is required"))?,
        actor_id: obj.required_text("actor_id", MAX_SHORT_TEXT)?,
        tenant_id: obj.optional_text("tenant_id", MAX_SHORT_TEXT)?,
        ip_address: match obj.optional_text("ip_address", MAX_SHORT_TEXT)? {
            text if text.is_empty() => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| FieldError::new("ip_address", "must be an IPv4 or IPv6 address"))?
                    .to_string(),
            ),
        },
        user_agent: obj.optional_text("user_agent", MAX_LONG_TEXT)?,
        auth_context: obj.optional_object("auth_context")?.map(Value::Object),
    };
    obj.reject_unknown()?;
    Ok(actor)
}

/// Parses an explanation inline in an event; `now` fills `generated_at` when it is not given.
pub fn parse_explanation(value: Value, now: OffsetDateTime) -> Result<NewExplanation, FieldError> {
    parse_explanation_fields(Fields::new(value)?, None, now)
}

/// Parses the body of `POST /predictions/{ref}/explanation`, which may carry the client's
/// `explanation_id`.
pub fn parse_attached_explanation(value: Value, now: OffsetDateTime) -> Result<NewExplanation, FieldError> {
    let mut obj = Fields::new(value)?;
    let explanation_id = obj.optional_nonempty_text("explanation_id", MAX_SHORT_TEXT)?;
    parse_explanation_fields(obj, explanation_id, now)
}

fn parse_explanation_fields(
    mut obj: Fields,
    explanation_id: Option<String>,
    now: OffsetDateTime,
) -> Result<NewExplanation, FieldError> {
    let generated_at = obj.optional_timestamp("generated_at")?;
    let mut explanation = NewExplanation {
        id: Uuid::now_v7(),
        explanation_id,
        content_hash: String::new(),
        salt: new_salt(),
        method: obj.required_text("method", MAX_SHORT_TEXT)?,
        method_version: obj.optional_text("method_version", MAX_SHORT_TEXT)?,
        payload: Value::Object(obj.required_object("payload")?),
        summary_text: obj.optional_text("summary_text", MAX_LONG_TEXT)?,
        status: obj.optional_enum("status", Status::parse)?.unwrap_or(Status::Success),
        generated_at: generated_at.unwrap_or(now),
    };
    obj.reject_unknown()?;
    explanation.content_hash = crate::outcome::fingerprint(&(
        ExplanationContent {
            method: &explanation.method,
            method_version: &explanation.method_version,
            payload: &explanation.payload,
            status: explanation.status.as_str(),
            summary_text: &explanation.summary_text,
        },
        generated_at.map(timestamp::format_rfc3339),
    ));
    Ok(explanation)
}

/// Reads the fields of one JSON object, remembering which were consumed so that anything left
/// over can be reported as unknown. A JSON `null` counts as absent for optional fields.
pub(crate) struct Fields {
    /// The object's members in its order, each removed once read: a short list scanned by name
    /// costs far less than removing from the `BTreeMap` (which rebalances and frees nodes).
    members: Vec<(String, Value)>,
}

impl Fields {
    pub(crate) fn new(value: Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self { members: map.into_iter().collect() }),
            other => Err(FieldError::new("", format!("must be a JSON object, not {}", kind(&other)))),
        }
    }

    /// Members in any order, names possibly repeated, put in the form `new` gives: sorted by
    /// name (so that the unknown field reported is the first by name) and each name once with its
    /// last value. The sort is stable and O(n log n) even for a hostile event with many members.
    pub(crate) fn from_members(mut members: Vec<(String, Value)>) -> Self {
        members.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` keeps the earlier of two equal names: give it the later one's value.
        members.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Self { members }
    }

    /// The member `key`, removed (order kept, so the first one left is the map's first).
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.members.iter().position(|(name, _)| name == key)?;
        Some(self.members.remove(at).1)
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.remove(key).filter(|value| !value.is_null())
    }

    pub(crate) fn required_any(&mut self, key: &str) -> Result<Value, FieldError> {
        // `output` may legitimately be null, so presence is what is required.
        self.remove(key).ok_or_else(|| FieldError::new(key, "is required"))
    }

    pub(crate) fn required_text(&mut self, key: &str, max: usize) -> Result<String, FieldError> {
        let text = self.optional_text(key, max)?;
        if text.trim().is_empty() {
            return Err(FieldError::new(key, "is required and must be a non-empty string"));
        }
        Ok(text)
    }

    pub(crate) fn optional_nonempty_text(&mut self, key: &str, max: usize) -> Result<Option<String>, FieldError> {
        let text = self.optional_text(key, max)?;
        if text.is_empty() {
            return Ok(None);
        }
        if text.trim().is_empty() {
            return Err(FieldError::new(key, "must not be blank"));
        }
        Ok(Some(text))
    }

    pub(crate) fn optional_text(&mut self, key: &str, max: usize) -> Result<String, FieldError> {
        match self.take(key) {
            None => Ok(String::new()),
            Some(Value::String(text)) => check_text(key, text, max),
            Some(other) => Err(FieldError::new(key, format!("must be a string, not {}", kind(&other)))),
        }
    }

    pub(crate) fn required_object(&mut self, key: &str) -> Result<Map<String, Value>, FieldError> {
        self.optional_object(key)?.ok_or_else(|| FieldError::new(key, "is required and must be a JSON object"))
    }

    pub(crate) fn optional_object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, FieldError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(FieldError::new(key, format!("must be a JSON object, not {}", kind(&other)))),
        }
    }

    pub(crate) fn optional_number(&mut self, key: &str, range: Option<(f64, f64)>) -> Result<Option<f64>, FieldError> {
        let number = match self.take(key) {
            None => return Ok(None),
            Some(Value::Number(number)) => number.as_f64(),
            Some(other) => return Err(FieldError::new(key, format!("must be a number, not {}", kind(&other)))),
        };
        match (number, range) {
            (Some(n), Some((low, high))) if n.is_finite() && n >= low && n <= high => Ok(Some(n)),
            (Some(n), None) if n.is_finite() => Ok(Some(n)),
            (_, Some((low, high))) if high == f64::MAX => {
                Err(FieldError::new(key, format!("must be a finite number of at least {low}")))
            }
            (_, Some((low, high))) => {
                Err(FieldError::new(key, format!("must be a finite number from {low} to {high}")))
            }
            (_, None) => Err(FieldError::new(key, "must be a finite number")),
        }
    }

    pub(crate) fn optional_enum<T>(
        &mut self,
        key: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, FieldError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => parse(&text).map(Some).map_err(|message| FieldError::new(key, message)),
            Some(other) => Err(FieldError::new(key, format!("must be a string, not {}", kind(&other)))),
        }
    }

    pub(crate) fn optional_timestamp(&mut self, key: &str) -> Result<Option<OffsetDateTime>, FieldError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => {
                timestamp::parse_rfc3339(&text).map(Some).map_err(|message| FieldError::new(key, message))
            }
            Some(other) => Err(FieldError::new(key, format!("must be an RFC 3339 string, not {}", kind(&other)))),
        }
    }

    pub(crate) fn reject_unknown(self) -> Result<(), FieldError> {
        match self.members.into_iter().next() {
            None => Ok(()),
            Some((key, _)) => Err(FieldError::new(key, "is not a known field")),
        }
    }
}

/// Text that every backend can store and index: no NUL bytes, bounded length.
pub fn check_text(field: &str, text: String, max: usize) -> Result<String, FieldError> {
    if text.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    // A character takes at least one byte: most texts are settled by their length.
    if text.len() > max && text.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters long")));
    }
    Ok(text)
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({"model_name": "fraud", "model_version": "1.0.0", "features": {"age": 42}, "output": {"score": 0.5}})
    }

    fn with(mut body: Value, key: &str, value: Value) -> Value {
        body[key] = value;
        body
    }

    /// The content hash as first computed, from a built JSON document: the stored hashes of
    /// every recorded event come from it, so the streamed one must give the same bytes.
    fn content_hash_from_document(
        event: &PreparedPrediction,
        timestamp_sent: bool,
        prediction_id_sent: bool,
    ) -> String {
        let explanation = event.explanation.as_ref().map(|e| {
            json!({
                "method": e.method, "method_version": e.method_version, "payload": e.payload,
                "summary_text": e.summary_text, "status": e.status.as_str(),
            })
        });
        let actor = event.actor.as_ref().map(|a| {
            json!({
                "actor_type": a.actor_type.as_str(), "actor_id": a.actor_id, "tenant_id": a.tenant_id,
                "ip_address": a.ip_address, "user_agent": a.user_agent, "auth_context": a.auth_context,
            })
        });
        let content = json!({
            "model_name": event.model.model_name, "model_version": event.model.version,
            "framework": event.model.framework, "build_id": event.model.build_id,
            "commit_hash": event.model.commit_hash, "config_snapshot": event.model.config_snapshot,
            "actor": actor, "features": event.features, "metadata": event.metadata,
            "output": event.output, "decision_outcome": event.decision_outcome,
            "confidence": event.confidence, "status": event.status.as_str(),
            "environment": event.environment, "trace_id": event.trace_id,
            "latency_ms": event.latency_ms, "input_fingerprint": event.input_fingerprint,
            "timestamp": timestamp_sent.then(|| timestamp::format_rfc3339(event.timestamp)),
            "prediction_id_sent": prediction_id_sent,
            "explanation": explanation,
        });
        hex::encode(Sha256::digest(content.to_string().as_bytes()))
    }

    #[test]
    fn the_streamed_content_hash_is_the_documents() {
        let full = json!({
            "model_name": "fraud", "model_version": "1.0.0", "framework": "xgb", "build_id": "b7",
            "commit_hash": "abc", "config_snapshot": {"depth": 6, "é": [1.5, null, "\u{1}x"]},
            "features": {"zeta": 1, "alpha": {"b": [true, 2.5e-8], "a": "ü\n\"q\""}, "big": 18446744073709551615u64},
            "output": [0.1, {"label": "no"}], "metadata": {"request": "r-1"},
            "decision_outcome": "clean", "confidence": 0.7, "latency_ms": 3.25, "status": "partial",
            "environment": "prod", "trace_id": "t-1", "input_fingerprint": "fp",
            "actor": {"actor_type": "service", "actor_id": "svc", "tenant_id": "acme",
                      "ip_address": "2001:db8::1", "user_agent": "curl/8", "auth_context": {"scopes": ["a"]}},
            "explanation": {"method": "shap", "method_version": "0.4", "payload": {"age": -0.25},
                            "summary_text": "age mattered", "status": "failed"},
            "timestamp": "2026-11-27T08:00:00.123456Z", "prediction_id": "p-1",
        });
        let no_actor = with(with(minimal(), "metadata", json!({})), "actor", Value::Null);
        for body in [minimal(), full, no_actor] {
            let input = PredictionInput::parse(body).unwrap();
            let (timestamp_sent, prediction_id_sent) = (input.timestamp.is_some(), input.prediction_id.is_some());
            let prepared = input.prepare(&RedactionPolicy::default(), &Visibility::AllTenants).unwrap();
            assert_eq!(
                prepared.content_hash,
                content_hash_from_document(&prepared, timestamp_sent, prediction_id_sent)
            );
        }
    }

    fn error_field(body: Value) -> String {
        PredictionInput::parse(body).unwrap_err().field
    }

    #[test]
    fn minimal_event_gets_defaults() {
        let input = PredictionInput::parse(minimal()).unwrap();
        assert_eq!(input.status, Status::Success);
        assert_eq!(input.decision_outcome, "");
        assert!(input.actor.is_none() && input.prediction_id.is_none() && input.timestamp.is_none());
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for key in ["model_name", "model_version", "features", "output"] {
            let mut body = minimal();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(error_field(body), key);
        }
    }

    #[test]
    fn confidence_must_be_a_probability() {
        for bad in [json!(1.5), json!(-0.1), json!("0.5"), json!(true)] {
            assert_eq!(error_field(with(minimal(), "confidence", bad)), "confidence");
        }
        let ok = PredictionInput::parse(with(minimal(), "confidence", json!(1))).unwrap();
        assert_eq!(ok.confidence, Some(1.0));
    }

    #[test]
    fn nested_errors_name_the_path() {
        let body = with(minimal(), "actor", json!({"actor_type": "robot", "actor_id": "1"}));
        assert_eq!(error_field(body), "actor.actor_type");
        let body = with(minimal(), "actor", json!({"actor_type": "user", "actor_id": "1", "ip_address": "nope"}));
        assert_eq!(error_field(body), "actor.ip_address");
        let body = with(minimal(), "explanation", json!({"method": "shap"}));
        assert_eq!(error_field(body), "explanation.payload");
    }

    #[test]
    fn members_parse_as_their_object_does() {
        let members = |list: &[(&str, Value)]| list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        // Document order, not byte order; a repeated name counts with its last value, as in a `Map`.
        let unsorted = members(&[
            ("output", json!({"score": 0.5})),
            ("model_version", json!(7)),
            ("model_name", json!("fraud")),
            ("features", json!({"age": 42})),
            ("model_version", json!("1.0.0")),
        ]);
        assert_eq!(PredictionInput::parse_members(unsorted).unwrap(), PredictionInput::parse(minimal()).unwrap());
        let last_is_bad = members(&[("confidence", json!(0.5)), ("confidence", json!("high"))]);
        let error = PredictionInput::parse_members(
            [
                members(&[("model_name", json!("fraud")), ("model_version", json!("1"))]),
                members(&[("features", json!({})), ("output", json!(1))]),
                last_is_bad,
            ]
            .concat(),
        )
        .unwrap_err();
        assert_eq!(error.field, "confidence");
        // The unknown field reported is the first by name, wherever it stands.
        let mut unknown = members(&[("zeta", json!(1)), ("alpha", json!(1))]);
        unknown.extend(minimal().as_object().unwrap().clone());
        assert_eq!(PredictionInput::parse_members(unknown).unwrap_err().field, "alpha");
    }

    #[test]
    fn unknown_fields_and_nul_bytes_are_rejected() {
        assert_eq!(error_field(with(minimal(), "confidance", json!(0.5))), "confidance");
        let two_unknown = with(with(minimal(), "zeta", json!(1)), "alpha", json!(1));
        assert_eq!(error_field(two_unknown), "alpha");
        assert_eq!(error_field(with(minimal(), "trace_id", json!("a\u{0}b"))), "trace_id");
        assert_eq!(error_field(with(minimal(), "status", json!("ok"))), "status");
        assert_eq!(error_field(with(minimal(), "timestamp", json!("2026-11-27T08:00:00"))), "timestamp");
        assert_eq!(error_field(json!([1, 2])), "");
    }

    #[test]
    fn identical_content_hashes_equal_and_server_filled_values_do_not_count() {
        let policy = RedactionPolicy::default();
        let body = with(minimal(), "prediction_id", json!("ext-1"));
        let first = PredictionInput::parse(body.clone()).unwrap().prepare(&policy, &Visibility::AllTenants).unwrap();
        let again = PredictionInput::parse(body.clone()).unwrap().prepare(&policy, &Visibility::AllTenants).unwrap();
        assert_eq!(first.content_hash, again.content_hash);
        assert_ne!(first.id, again.id);
        let changed = with(body, "decision_outcome", json!("flagged"));
        let changed = PredictionInput::parse(changed).unwrap().prepare(&policy, &Visibility::AllTenants).unwrap();
        assert_ne!(first.content_hash, changed.content_hash);
    }

    #[test]
    fn tenant_keys_write_only_their_tenant() {
        let policy = RedactionPolicy::default();
        let acme = Visibility::Tenant("acme".into());
        let body = with(minimal(), "actor", json!({"actor_type": "user", "actor_id": "1", "tenant_id": "globex"}));
        let err = PredictionInput::parse(body.clone()).unwrap().prepare(&policy, &acme).unwrap_err();
        assert_eq!(err.tenant, "globex");
        assert!(PredictionInput::parse(minimal()).unwrap().prepare(&policy, &acme).is_err());
        let own = with(minimal(), "actor", json!({"actor_type": "user", "actor_id": "1", "tenant_id": "acme"}));
        assert!(PredictionInput::parse(own).unwrap().prepare(&policy, &acme).is_ok());
    }
}
