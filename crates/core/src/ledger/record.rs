//! What a ledger leaf commits to: the canonical bytes of a stored record.
//!
//! A leaf is `SHA-256(0x00 ‖ bytes)` where `bytes` is the RFC 8785 (JCS) serialisation of the
//! record exactly as stored and shown by the API — after redaction, with the model version and
//! actor it depends on — so anyone holding the record can recompute its leaf. Changing any
//! stored field of the record, of its model row or of its actor row changes the leaf.
//!
//! The `"v"` member versions this layout; a change to it is a new version, never an edit.
//!
//! **v1** (records written before erasure existed): the leaf data is the record itself.
//! **v2** (every prediction and explanation written since): the record carries a per-record secret
//! salt, and the leaf data is a small *seal* — the fields an erasure keeps, in clear, and
//! `commitment = SHA-256(salt ‖ record bytes)`. While the salt is kept beside the record anyone
//! holding both recomputes the leaf; once an erasure destroys the record's personal content and
//! its salt, the seal still proves the fields that stay, and the commitment reveals nothing (a
//! guessed record cannot be checked against it without the salt). See `docs/ledger.md`.

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::canonical::{Canonical, ColumnText, JsonText, ObjectWriter, Rfc3339, canonical_text};
use super::merkle::{Hash, leaf_hash};
use crate::event::PreparedPrediction;
use crate::model::{Explanation, ModelVersion, Outcome, PredictionEvent, Review};
use crate::timestamp::format_rfc3339;

/// The layout version of records without a salt (written before v2).
pub const RECORD_VERSION: u32 = 1;
/// The layout version of salted records, whose leaf is their seal.
pub const SALTED_RECORD_VERSION: u32 = 2;

/// A record's secret salt: 32 random bytes, kept beside the record, destroyed by its erasure.
pub type Salt = [u8; 32];

/// A fresh salt from the operating system's random source.
pub fn new_salt() -> Salt {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).expect("the operating system's random source is available");
    salt
}

/// `SHA-256(salt ‖ record)`: what a v2 seal commits to instead of the record.
pub fn commitment(salt: &[u8], record: &[u8]) -> Hash {
    use sha2::{Digest as _, Sha256};
    Sha256::new().chain_update(salt).chain_update(record).finalize().into()
}

fn layout_version(salted: bool) -> u32 {
    if salted { SALTED_RECORD_VERSION } else { RECORD_VERSION }
}

/// The kinds of leaf: the records (predictions, explanation revisions) and the life events of
/// records (erasures, legal holds and their releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafKind {
    Prediction,
    Explanation,
    Outcome,
    Review,
    Erasure,
    Hold,
    HoldRelease,
    /// An access log entry (`access.rs`).
    Access,
}

crate::model::text_enum_impls!(LeafKind {
    Prediction => "prediction",
    Explanation => "explanation",
    Outcome => "outcome",
    Review => "review",
    Erasure => "erasure",
    Hold => "hold",
    HoldRelease => "hold_release",
    Access => "access",
});

/// A stored record as the ledger sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerRecord {
    /// The prediction without its explanation (each explanation revision is a leaf of its own)
    /// and without its ledger entry (which is derived from this).
    Prediction(Box<PredictionEvent>),
    Explanation(Explanation),
    Outcome(Outcome),
    Review(Review),
    /// An access log entry (no salt: it holds no personal content).
    Access(Box<crate::access::AccessEntry>),
}

impl LedgerRecord {
    pub fn kind(&self) -> LeafKind {
        match self {
            LedgerRecord::Prediction(_) => LeafKind::Prediction,
            LedgerRecord::Explanation(_) => LeafKind::Explanation,
            LedgerRecord::Outcome(_) => LeafKind::Outcome,
            LedgerRecord::Review(_) => LeafKind::Review,
            LedgerRecord::Access(_) => LeafKind::Access,
        }
    }

    pub fn record_id(&self) -> Uuid {
        match self {
            LedgerRecord::Prediction(event) => event.id,
            LedgerRecord::Explanation(explanation) => explanation.id,
            LedgerRecord::Outcome(outcome) => outcome.id,
            LedgerRecord::Review(review) => review.id,
            LedgerRecord::Access(entry) => entry.id,
        }
    }

    /// The record's salt (v2), or `None` (v1).
    pub fn salt(&self) -> Option<&Salt> {
        match self {
            LedgerRecord::Prediction(event) => event.salt.as_ref(),
            LedgerRecord::Explanation(explanation) => explanation.salt.as_ref(),
            LedgerRecord::Outcome(outcome) => outcome.salt.as_ref(),
            LedgerRecord::Review(review) => review.salt.as_ref(),
            LedgerRecord::Access(_) => None,
        }
    }

    /// The canonical JSON document (before JCS serialisation). [`Self::canonical_bytes`] writes
    /// the same document without building it: a change to one layout is a change to both, and
    /// the tests hold them equal.
    pub fn canonical_document(&self) -> Value {
        match self {
            LedgerRecord::Prediction(event) => prediction_document(event),
            LedgerRecord::Explanation(explanation) => explanation_document(explanation),
            LedgerRecord::Outcome(outcome) => outcome_document(outcome),
            LedgerRecord::Review(review) => review_document(review),
            LedgerRecord::Access(entry) => entry.document(),
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
            // Small records: written through their document.
            LedgerRecord::Outcome(_) | LedgerRecord::Review(_) | LedgerRecord::Access(_) => {
                super::canonical::write_value(out, &self.canonical_document())
            }
        }
    }

    /// What the leaf hashes: the record's bytes (v1), or its seal (v2).
    pub fn leaf_data(&self) -> Vec<u8> {
        let mut record = self.canonical_bytes();
        if let Some(salt) = self.salt() {
            let commitment = commitment(salt, &record);
            record.clear();
            self.write_seal(&mut record, &commitment);
        }
        record
    }

    /// Writes the v2 seal of this record with `commitment`.
    fn write_seal(&self, out: &mut Vec<u8>, commitment: &Hash) {
        match self {
            LedgerRecord::Prediction(event) => PredictionSeal::of(event, commitment).write(out),
            LedgerRecord::Explanation(explanation) => ExplanationSeal::of(explanation, commitment).write(out),
            LedgerRecord::Outcome(outcome) => FollowUpSeal::of(
                LeafKind::Outcome,
                outcome.id,
                outcome.prediction_ref,
                outcome.position,
                outcome.created_at,
            )
            .write(out, commitment),
            LedgerRecord::Review(review) => {
                FollowUpSeal::of(LeafKind::Review, review.id, review.prediction_ref, review.position, review.created_at)
                    .write(out, commitment)
            }
            // Never salted, so never sealed: its leaf is its document.
            LedgerRecord::Access(entry) => super::canonical::write_value(out, &entry.document()),
        }
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf_data())
    }
}

/// The leaf hash of a record whose canonical bytes `write_record` appends: of the bytes
/// themselves (v1, no salt), else of the seal `write_seal` writes for their commitment.
fn sealed_leaf_hash(
    capacity: usize,
    salt: Option<&Salt>,
    write_record: impl FnOnce(&mut Vec<u8>),
    write_seal: impl FnOnce(&mut Vec<u8>, &Hash),
) -> Hash {
    let mut out = Vec::with_capacity(capacity);
    write_record(&mut out);
    if let Some(salt) = salt {
        let commitment = commitment(salt, &out);
        out.clear();
        write_seal(&mut out, &commitment);
    }
    leaf_hash(&out)
}

/// The leaf hash of a prediction's record, from a borrowed event. Stores get the same hash from
/// the text they write ([`PredictionColumns::leaf_hash`]); this is its reference.
pub fn prediction_leaf_hash(event: &PredictionEvent) -> Hash {
    sealed_leaf_hash(
        2048,
        event.salt.as_ref(),
        |out| write_prediction(out, event),
        |out, commitment| PredictionSeal::of(event, commitment).write(out),
    )
}

/// What a prediction's leaf hashes, from a borrowed event: its record's bytes (v1), or its seal
/// (v2). The same bytes as [`LedgerRecord::leaf_data`], without moving the event into a record.
pub fn prediction_leaf_data(event: &PredictionEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    write_prediction(&mut out, event);
    if let Some(salt) = &event.salt {
        let commitment = commitment(salt, &out);
        out.clear();
        PredictionSeal::of(event, &commitment).write(&mut out);
    }
    out
}

/// The v2 seal of an erased prediction: what its leaf hashes, rebuilt from the fields an erasure
/// keeps (which `event` still holds) and the commitment it kept.
pub fn prediction_seal_data(event: &PredictionEvent, commitment: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    PredictionSeal::of(event, commitment).write(&mut out);
    out
}

/// The leaf hash of an explanation revision's record, from a borrowed explanation.
pub fn explanation_leaf_hash(explanation: &Explanation) -> Hash {
    sealed_leaf_hash(
        1024,
        explanation.salt.as_ref(),
        |out| write_explanation(out, explanation),
        |out, commitment| ExplanationSeal::of(explanation, commitment).write(out),
    )
}

fn prediction_document(event: &PredictionEvent) -> Value {
    let model = &event.model;
    json!({
        "v": layout_version(event.salt.is_some()),
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

/// The members of a prediction's canonical document, borrowed from wherever the record is: JSON
/// members are anything [`Canonical`] — parsed values for a decoded record, checked stored text
/// for `verify`'s fast path — so both write through this one layout and cannot drift apart.
pub(crate) struct PredictionLayout<'a> {
    /// [`RECORD_VERSION`] or [`SALTED_RECORD_VERSION`].
    pub version: u32,
    pub id: Uuid,
    pub prediction_id: &'a str,
    pub timestamp: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub trace_id: &'a str,
    pub environment: &'a str,
    /// The model version's object (a [`ModelVersion`] or its canonical bytes).
    pub model: &'a dyn Canonical,
    pub actor: Option<ActorLayout<'a>>,
    pub features: &'a dyn Canonical,
    pub redactions: &'a dyn Canonical,
    pub metadata: &'a dyn Canonical,
    pub metadata_redactions: &'a dyn Canonical,
    pub input_fingerprint: &'a str,
    pub output: &'a dyn Canonical,
    pub confidence: Option<f64>,
    pub decision_outcome: &'a str,
    pub status: &'a str,
    pub latency_ms: Option<f64>,
}

pub(crate) struct ActorLayout<'a> {
    pub id: Uuid,
    pub actor_type: &'a str,
    pub actor_id: &'a str,
    pub tenant_id: &'a str,
    pub ip_address: Option<&'a str>,
    pub user_agent: &'a str,
    pub auth_context: &'a dyn Canonical,
    pub created_at: OffsetDateTime,
}

pub(crate) struct ExplanationLayout<'a> {
    pub version: u32,
    pub id: Uuid,
    /// Written only when given, so that the leaves of explanations without one keep their bytes.
    pub explanation_id: Option<&'a str>,
    pub prediction: Uuid,
    pub revision: i64,
    pub method: &'a str,
    pub method_version: &'a str,
    pub payload: &'a dyn Canonical,
    pub summary_text: &'a str,
    pub status: &'a str,
    pub generated_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

impl PredictionLayout<'_> {
    /// [`prediction_document`], member by member in RFC 8785 order.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut document = ObjectWriter::new(out);
        match &self.actor {
            None => document.member("actor", &Value::Null),
            Some(actor) => document.object("actor", |a| {
                a.member("actor_id", actor.actor_id)
                    .member("actor_type", actor.actor_type)
                    .member("auth_context", actor.auth_context)
                    .member("created_at", &Rfc3339(actor.created_at))
                    .member("id", &actor.id)
                    .member("ip_address", &actor.ip_address)
                    .member("tenant_id", actor.tenant_id)
                    .member("user_agent", actor.user_agent);
            }),
        };
        document
            .member("confidence", &self.confidence)
            .member("created_at", &Rfc3339(self.created_at))
            .member("decision_outcome", self.decision_outcome)
            .member("environment", self.environment)
            .member("features", self.features)
            .member("id", &self.id)
            .member("input_fingerprint", self.input_fingerprint)
            .member("kind", LeafKind::Prediction.as_str())
            .member("latency_ms", &self.latency_ms)
            .member("metadata", self.metadata)
            .member("metadata_redactions", self.metadata_redactions)
            .member("model", self.model)
            .member("output", self.output)
            .member("prediction_id", self.prediction_id)
            .member("redactions", self.redactions)
            .member("status", self.status)
            .member("timestamp", &Rfc3339(self.timestamp))
            .member("trace_id", self.trace_id)
            .member("v", &self.version);
        document.finish();
    }
}

impl ExplanationLayout<'_> {
    /// [`explanation_document`], member by member in RFC 8785 order.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut document = ObjectWriter::new(out);
        document.member("created_at", &Rfc3339(self.created_at));
        if let Some(explanation_id) = self.explanation_id {
            document.member("explanation_id", explanation_id);
        }
        document
            .member("generated_at", &Rfc3339(self.generated_at))
            .member("id", &self.id)
            .member("kind", LeafKind::Explanation.as_str())
            .member("method", self.method)
            .member("method_version", self.method_version)
            .member("payload", self.payload)
            .member("prediction", &self.prediction)
            .member("revision", &self.revision)
            .member("status", self.status)
            .member("summary_text", self.summary_text)
            .member("v", &self.version);
        document.finish();
    }
}

/// A v2 prediction leaf: what an erasure keeps of the prediction, and the commitment to the whole
/// record. Members in RFC 8785 order.
pub(crate) struct PredictionSeal<'a> {
    pub id: Uuid,
    pub timestamp: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub model: &'a dyn Canonical,
    pub tenant_id: &'a str,
    pub status: &'a str,
    pub decision_outcome: &'a str,
    pub confidence: Option<f64>,
    pub commitment: &'a Hash,
}

impl<'a> PredictionSeal<'a> {
    fn of(event: &'a PredictionEvent, commitment: &'a Hash) -> Self {
        Self {
            id: event.id,
            timestamp: event.timestamp,
            created_at: event.created_at,
            model: &event.model,
            tenant_id: event.tenant_id(),
            status: event.status.as_str(),
            decision_outcome: &event.decision_outcome,
            confidence: event.confidence,
            commitment,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut seal = ObjectWriter::new(out);
        seal.member("commitment", &hex::encode(self.commitment))
            .member("confidence", &self.confidence)
            .member("created_at", &Rfc3339(self.created_at))
            .member("decision_outcome", self.decision_outcome)
            .member("id", &self.id)
            .member("kind", LeafKind::Prediction.as_str())
            .member("model", self.model)
            .member("status", self.status)
            .member("tenant_id", self.tenant_id)
            .member("timestamp", &Rfc3339(self.timestamp))
            .member("v", &SALTED_RECORD_VERSION);
        seal.finish();
    }
}

/// A v2 explanation leaf: which prediction and revision it was, and the commitment.
pub(crate) struct ExplanationSeal<'a> {
    pub id: Uuid,
    pub prediction: Uuid,
    pub revision: i64,
    pub created_at: OffsetDateTime,
    pub commitment: &'a Hash,
}

impl<'a> ExplanationSeal<'a> {
    fn of(explanation: &Explanation, commitment: &'a Hash) -> Self {
        Self {
            id: explanation.id,
            prediction: explanation.prediction_ref,
            revision: i64::from(explanation.revision),
            created_at: explanation.created_at,
            commitment,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut seal = ObjectWriter::new(out);
        seal.member("commitment", &hex::encode(self.commitment))
            .member("created_at", &Rfc3339(self.created_at))
            .member("id", &self.id)
            .member("kind", LeafKind::Explanation.as_str())
            .member("prediction", &self.prediction)
            .member("revision", &self.revision)
            .member("v", &SALTED_RECORD_VERSION);
        seal.finish();
    }
}

/// A v2 leaf of a record that follows a prediction (an outcome, a review): which prediction it
/// follows and in which place, when it was written, and the commitment. Members in RFC 8785
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpSeal {
    pub kind: LeafKind,
    pub id: Uuid,
    pub prediction: Uuid,
    pub position: u32,
    pub created_at: OffsetDateTime,
}

impl FollowUpSeal {
    pub fn of(kind: LeafKind, id: Uuid, prediction: Uuid, position: u32, created_at: OffsetDateTime) -> Self {
        Self { kind, id, prediction, position, created_at }
    }

    pub fn write(&self, out: &mut Vec<u8>, commitment: &Hash) {
        let mut seal = ObjectWriter::new(out);
        seal.member("commitment", &hex::encode(commitment))
            .member("created_at", &Rfc3339(self.created_at))
            .member("id", &self.id)
            .member("kind", self.kind.as_str())
            .member("position", &self.position)
            .member("prediction", &self.prediction)
            .member("v", &SALTED_RECORD_VERSION);
        seal.finish();
    }
}

fn outcome_document(outcome: &Outcome) -> Value {
    json!({
        "v": layout_version(outcome.salt.is_some()),
        "kind": LeafKind::Outcome.as_str(),
        "id": outcome.id,
        "prediction": outcome.prediction_ref,
        "position": outcome.position,
        "outcome_id": outcome.outcome_id,
        "label": outcome.label,
        "value": outcome.value,
        "source": outcome.source,
        "observed_at": format_rfc3339(outcome.observed_at),
        "metadata": outcome.metadata,
        "metadata_redactions": outcome.metadata_redactions,
        "created_at": format_rfc3339(outcome.created_at),
    })
}

fn review_document(review: &Review) -> Value {
    json!({
        "v": layout_version(review.salt.is_some()),
        "kind": LeafKind::Review.as_str(),
        "id": review.id,
        "prediction": review.prediction_ref,
        "position": review.position,
        "review_id": review.review_id,
        "reviewer": {"reviewer_id": review.reviewer_id, "name": review.reviewer_name},
        "action": review.action.as_str(),
        "final_decision": review.final_decision,
        "reason_codes": review.reason_codes,
        "comment": review.comment,
        "reviewed_at": format_rfc3339(review.reviewed_at),
        "created_at": format_rfc3339(review.created_at),
    })
}

/// A model version is written the same way wherever a record embeds it.
impl Canonical for ModelVersion {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        let mut model = ObjectWriter::new(out);
        model
            .member("build_id", &self.build_id)
            .member("commit_hash", &self.commit_hash)
            .member("config_snapshot", &self.config_snapshot)
            .member("created_at", &Rfc3339(self.created_at))
            .member("framework", &self.framework)
            .member("id", &self.id)
            .member("is_active", &self.is_active)
            .member("model_name", &self.model_name)
            .member("version", &self.version);
        model.finish();
    }
}

fn write_prediction(out: &mut Vec<u8>, event: &PredictionEvent) {
    let auth_context = event.actor.as_ref().and_then(|actor| actor.auth_context.as_ref());
    let members = JsonMembers {
        features: &event.features,
        redactions: &event.redactions,
        metadata: &event.metadata,
        metadata_redactions: &event.metadata_redactions,
        output: &event.output,
        auth_context: &auth_context,
    };
    write_prediction_with(out, event, members);
}

/// The JSON members of a prediction's document: its values, or the text of its stored columns.
struct JsonMembers<'a> {
    features: &'a dyn Canonical,
    redactions: &'a dyn Canonical,
    metadata: &'a dyn Canonical,
    metadata_redactions: &'a dyn Canonical,
    output: &'a dyn Canonical,
    /// The actor's auth context (written only when the prediction has an actor).
    auth_context: &'a dyn Canonical,
}

fn write_prediction_with(out: &mut Vec<u8>, event: &PredictionEvent, json: JsonMembers<'_>) {
    PredictionLayout {
        version: layout_version(event.salt.is_some()),
        id: event.id,
        prediction_id: &event.prediction_id,
        timestamp: event.timestamp,
        created_at: event.created_at,
        trace_id: &event.trace_id,
        environment: &event.environment,
        model: &event.model,
        actor: event.actor.as_ref().map(|actor| ActorLayout {
            id: actor.id,
            actor_type: actor.actor_type.as_str(),
            actor_id: &actor.actor_id,
            tenant_id: &actor.tenant_id,
            ip_address: actor.ip_address.as_deref(),
            user_agent: &actor.user_agent,
            auth_context: json.auth_context,
            created_at: actor.created_at,
        }),
        features: json.features,
        redactions: json.redactions,
        metadata: json.metadata,
        metadata_redactions: json.metadata_redactions,
        input_fingerprint: &event.input_fingerprint,
        output: json.output,
        confidence: event.confidence,
        decision_outcome: &event.decision_outcome,
        status: event.status.as_str(),
        latency_ms: event.latency_ms,
    }
    .write(out);
}

/// A prediction's JSON columns as a store writes them (RFC 8785, see
/// [`column_text`](super::canonical::column_text)), each value serialised once: the row stores
/// this text, and the leaf splices it instead of writing the values a second time.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionColumns {
    pub features: ColumnText,
    pub redactions: String,
    pub metadata: ColumnText,
    pub metadata_redactions: String,
    pub output: ColumnText,
    pub auth_context: Option<ColumnText>,
}

impl PredictionColumns {
    /// The columns of the record that `event` becomes: a store moves these values into the
    /// record unchanged, so it can write them before it builds the record.
    pub fn of(event: &PreparedPrediction) -> Self {
        let auth_context = event.actor.as_ref().and_then(|actor| actor.auth_context.as_ref());
        Self::written(
            &event.features,
            &event.redactions,
            &event.metadata,
            &event.metadata_redactions,
            &event.output,
            auth_context,
        )
    }

    pub(crate) fn written(
        features: &Value,
        redactions: &[String],
        metadata: &Value,
        metadata_redactions: &[String],
        output: &Value,
        auth_context: Option<&Value>,
    ) -> Self {
        Self {
            features: ColumnText::of(features),
            redactions: canonical_text(redactions),
            metadata: ColumnText::of(metadata),
            metadata_redactions: canonical_text(metadata_redactions),
            output: ColumnText::of(output),
            auth_context: auth_context.map(ColumnText::of),
        }
    }

    /// The leaf hash of `event`, the record these columns were written for: the same hash as
    /// [`prediction_leaf_hash`], without serialising its JSON values again.
    pub fn leaf_hash(&self, event: &PredictionEvent) -> Hash {
        let members = JsonMembers {
            features: &self.features,
            redactions: &JsonText::canonical(self.redactions.as_bytes()),
            metadata: &self.metadata,
            metadata_redactions: &JsonText::canonical(self.metadata_redactions.as_bytes()),
            output: &self.output,
            auth_context: &self.auth_context,
        };
        sealed_leaf_hash(
            2048,
            event.salt.as_ref(),
            |out| write_prediction_with(out, event, members),
            |out, commitment| PredictionSeal::of(event, commitment).write(out),
        )
    }
}

fn write_explanation(out: &mut Vec<u8>, explanation: &Explanation) {
    ExplanationLayout {
        version: layout_version(explanation.salt.is_some()),
        id: explanation.id,
        explanation_id: explanation.explanation_id.as_deref(),
        prediction: explanation.prediction_ref,
        revision: i64::from(explanation.revision),
        method: &explanation.method,
        method_version: &explanation.method_version,
        payload: &explanation.payload,
        summary_text: &explanation.summary_text,
        status: explanation.status.as_str(),
        generated_at: explanation.generated_at,
        created_at: explanation.created_at,
    }
    .write(out);
}

fn explanation_document(explanation: &Explanation) -> Value {
    let mut document = json!({
        "v": layout_version(explanation.salt.is_some()),
        "kind": LeafKind::Explanation.as_str(),
        "id": explanation.id,
        "prediction": explanation.prediction_ref,
        "revision": explanation.revision,
        "method": explanation.method,
        "method_version": explanation.method_version,
        "payload": explanation.payload,
        "summary_text": explanation.summary_text,
        "status": explanation.status.as_str(),
        "generated_at": format_rfc3339(explanation.generated_at),
        "created_at": format_rfc3339(explanation.created_at),
    });
    if let Some(explanation_id) = &explanation.explanation_id {
        document["explanation_id"] = json!(explanation_id);
    }
    document
}

#[cfg(test)]
#[path = "record_tests.rs"]
pub(crate) mod tests;
