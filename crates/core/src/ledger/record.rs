//! What a ledger leaf commits to: the canonical bytes of a stored record.
//!
//! A leaf is `SHA-256(0x00 ‖ bytes)` where `bytes` is the RFC 8785 (JCS) serialisation of the
//! record exactly as stored and shown by the API — after redaction, with the model version and
//! actor it depends on — so anyone holding the record can recompute its leaf. Changing any
//! stored field of the record, of its model row or of its actor row changes the leaf.
//!
//! The `"v"` member versions this layout; a change to it is a new version, never an edit.

use serde_json::{Value, json};
use uuid::Uuid;

use super::canonical::ObjectWriter;
use super::merkle::{Hash, leaf_hash};
use crate::model::{Explanation, PredictionEvent};
use crate::timestamp::format_rfc3339;

/// The layout version of the canonical records.
pub const RECORD_VERSION: u32 = 1;

/// The two kinds of leaf, in one total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafKind {
    Prediction,
    Explanation,
}

crate::model::text_enum_impls!(LeafKind { Prediction => "prediction", Explanation => "explanation" });

/// A stored record as the ledger sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerRecord {
    /// The prediction without its explanation (each explanation revision is a leaf of its own)
    /// and without its ledger entry (which is derived from this).
    Prediction(Box<PredictionEvent>),
    Explanation(Explanation),
}

impl LedgerRecord {
    pub fn kind(&self) -> LeafKind {
        match self {
            LedgerRecord::Prediction(_) => LeafKind::Prediction,
            LedgerRecord::Explanation(_) => LeafKind::Explanation,
        }
    }

    pub fn record_id(&self) -> Uuid {
        match self {
            LedgerRecord::Prediction(event) => event.id,
            LedgerRecord::Explanation(explanation) => explanation.id,
        }
    }

    /// The canonical JSON document (before JCS serialisation). [`Self::canonical_bytes`] writes
    /// the same document without building it: a change to one layout is a change to both, and
    /// the tests hold them equal.
    pub fn canonical_document(&self) -> Value {
        match self {
            LedgerRecord::Prediction(event) => prediction_document(event),
            LedgerRecord::Explanation(explanation) => explanation_document(explanation),
        }
    }

    /// RFC 8785 bytes of [`Self::canonical_document`], written straight from the record's fields
    /// (the same bytes as `to_canonical_vec(&self.canonical_document())`, without building and
    /// cloning into a `Value` first).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048);
        self.write_canonical(&mut out);
        out
    }

    /// Appends [`Self::canonical_bytes`] to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            LedgerRecord::Prediction(event) => write_prediction(out, event),
            LedgerRecord::Explanation(explanation) => write_explanation(out, explanation),
        }
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.canonical_bytes())
    }
}

fn prediction_document(event: &PredictionEvent) -> Value {
    let model = &event.model;
    json!({
        "v": RECORD_VERSION,
        "kind": LeafKind::Prediction.as_str(),
        "id": event.id,
        "prediction_id": event.prediction_id,
        "timestamp": format_rfc3339(event.timestamp),
        "created_at": format_rfc3339(event.created_at),
        "trace_id": event.trace_id,
        "environment": event.environment,
        "model": {
            "id": model.id, "model_name": model.model_name, "version": model.version,
            "framework": model.framework, "build_id": model.build_id, "commit_hash": model.commit_hash,
            "config_snapshot": model.config_snapshot, "is_active": model.is_active,
            "created_at": format_rfc3339(model.created_at),
        },
        "actor": event.actor.as_ref().map(|actor| json!({
            "id": actor.id, "actor_type": actor.actor_type.as_str(), "actor_id": actor.actor_id,
            "tenant_id": actor.tenant_id, "ip_address": actor.ip_address, "user_agent": actor.user_agent,
            "auth_context": actor.auth_context, "created_at": format_rfc3339(actor.created_at),
        })),
        "features": event.features,
        "redactions": event.redactions,
        "metadata": event.metadata,
        "metadata_redactions": event.metadata_redactions,
        "input_fingerprint": event.input_fingerprint,
        "output": event.output,
        "confidence": event.confidence,
        "decision_outcome": event.decision_outcome,
        "status": event.status.as_str(),
        "latency_ms": event.latency_ms,
    })
}

/// [`prediction_document`], member by member in RFC 8785 order.
fn write_prediction(out: &mut Vec<u8>, event: &PredictionEvent) {
    let model = &event.model;
    let mut document = ObjectWriter::new(out);
    match &event.actor {
        None => document.member("actor", &Value::Null),
        Some(actor) => document.object("actor", |a| {
            a.member("actor_id", &actor.actor_id)
                .member("actor_type", actor.actor_type.as_str())
                .member("auth_context", &actor.auth_context)
                .member("created_at", &format_rfc3339(actor.created_at))
                .member("id", &actor.id)
                .member("ip_address", &actor.ip_address)
                .member("tenant_id", &actor.tenant_id)
                .member("user_agent", &actor.user_agent);
        }),
    };
    document
        .member("confidence", &event.confidence)
        .member("created_at", &format_rfc3339(event.created_at))
        .member("decision_outcome", &event.decision_outcome)
        .member("environment", &event.environment)
        .member("features", &event.features)
        .member("id", &event.id)
        .member("input_fingerprint", &event.input_fingerprint)
        .member("kind", LeafKind::Prediction.as_str())
        .member("latency_ms", &event.latency_ms)
        .member("metadata", &event.metadata)
        .member("metadata_redactions", &event.metadata_redactions)
        .object("model", |m| {
            m.member("build_id", &model.build_id)
                .member("commit_hash", &model.commit_hash)
                .member("config_snapshot", &model.config_snapshot)
                .member("created_at", &format_rfc3339(model.created_at))
                .member("framework", &model.framework)
                .member("id", &model.id)
                .member("is_active", &model.is_active)
                .member("model_name", &model.model_name)
                .member("version", &model.version);
        })
        .member("output", &event.output)
        .member("prediction_id", &event.prediction_id)
        .member("redactions", &event.redactions)
        .member("status", event.status.as_str())
        .member("timestamp", &format_rfc3339(event.timestamp))
        .member("trace_id", &event.trace_id)
        .member("v", &RECORD_VERSION);
    document.finish();
}

/// [`explanation_document`], member by member in RFC 8785 order.
fn write_explanation(out: &mut Vec<u8>, explanation: &Explanation) {
    let mut document = ObjectWriter::new(out);
    document
        .member("created_at", &format_rfc3339(explanation.created_at))
        .member("generated_at", &format_rfc3339(explanation.generated_at))
        .member("id", &explanation.id)
        .member("kind", LeafKind::Explanation.as_str())
        .member("method", &explanation.method)
        .member("method_version", &explanation.method_version)
        .member("payload", &explanation.payload)
        .member("prediction", &explanation.prediction_id)
        .member("revision", &explanation.revision)
        .member("status", explanation.status.as_str())
        .member("summary_text", &explanation.summary_text)
        .member("v", &RECORD_VERSION);
    document.finish();
}

fn explanation_document(explanation: &Explanation) -> Value {
    json!({
        "v": RECORD_VERSION,
        "kind": LeafKind::Explanation.as_str(),
        "id": explanation.id,
        "prediction": explanation.prediction_id,
        "revision": explanation.revision,
        "method": explanation.method,
        "method_version": explanation.method_version,
        "payload": explanation.payload,
        "summary_text": explanation.summary_text,
        "status": explanation.status.as_str(),
        "generated_at": format_rfc3339(explanation.generated_at),
        "created_at": format_rfc3339(explanation.created_at),
    })
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
