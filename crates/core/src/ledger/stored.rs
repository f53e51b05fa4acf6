//! A sealed record as the database holds it now, read back for `verify`: every column as stored,
//! JSON columns as their text. Its leaf is recomputed two ways:
//!
//! * [`StoredRecord::write_spliced`], the fast path: the stored JSON text is checked to be JSON
//!   and spliced into the canonical document as it is ([`JsonText`]). ml-audit stores JSON
//!   columns in their RFC 8785 form ([`super::canonical::column_text`]), so for the rows it wrote
//!   this is the canonical document, without a parse and re-serialisation per record.
//! * [`StoredRecord::decode`], the full path: every column decoded into the domain types, as the
//!   API would show them, and written canonically. `verify` takes it when the fast path's hash
//!   differs (rows stored before JSON columns were canonical, integers beyond 2^53 kept exact) —
//!   the record is intact if either path gives its sealed leaf, and altered if neither does.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::canonical::{Canonical, JsonText};
use super::merkle::{Hash, leaf_hash};
use super::record::{
    ActorLayout, ExplanationLayout, ExplanationSeal, FollowUpSeal, LeafKind, LedgerRecord, PredictionLayout,
    PredictionSeal, RECORD_VERSION, SALTED_RECORD_VERSION, Salt, commitment,
};
use crate::access::{AccessAction, AccessEntry, Channel, Reader};
use crate::model::{
    ActorType, Decision, Explanation, ModelVersion, Outcome, PredictionEvent, RequestingActor, Review, ReviewAction,
    Status,
};

/// Why a stored record cannot be read as the record it was: each names the column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoredRecordError {
    #[error("its {column} is not JSON ({reason})")]
    NotJson { column: &'static str, reason: String },
    #[error("its {column} {value:?} is not valid: {reason}")]
    BadValue { column: &'static str, value: String, reason: String },
    #[error("its model version {0} is missing (deleted)")]
    MissingModel(Uuid),
    #[error("its actor {0} is missing (deleted)")]
    MissingActor(Uuid),
}

type Result<T> = std::result::Result<T, StoredRecordError>;

#[derive(Debug, Clone, PartialEq)]
pub enum StoredRecord {
    Prediction(Box<StoredPrediction>),
    Explanation(Box<StoredExplanation>),
    Outcome(Box<StoredOutcome>),
    Review(Box<StoredReview>),
    Access(Box<StoredAccess>),
}

/// An `outcomes` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOutcome {
    pub id: Uuid,
    pub prediction_ref: Uuid,
    pub outcome_id: String,
    pub position: i64,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub source: String,
    pub observed_at: OffsetDateTime,
    pub metadata: String,
    pub metadata_redactions: String,
    pub created_at: OffsetDateTime,
    pub salt: Option<Vec<u8>>,
    pub erasure: Option<StoredErasure>,
}

/// An `access_entries` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAccess {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub channel: String,
    pub action: String,
    pub route: String,
    pub key_id: Option<Uuid>,
    pub key_name: String,
    pub scope: String,
    pub tenant_id: Option<String>,
    pub operator: String,
    /// JSON object text.
    pub filters: String,
    pub target: String,
    /// JSON array text of prediction ids.
    pub predictions: String,
}

/// A `reviews` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReview {
    pub id: Uuid,
    pub prediction_ref: Uuid,
    pub review_id: String,
    pub position: i64,
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub action: String,
    pub final_decision: String,
    pub reason_codes: String,
    pub comment: String,
    pub reviewed_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub salt: Option<Vec<u8>>,
    pub erasure: Option<StoredErasure>,
}

/// A `predictions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrediction {
    pub id: Uuid,
    pub prediction_id: String,
    pub timestamp: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub trace_id: String,
    pub environment: String,
    pub model_ref: Uuid,
    pub actor_ref: Option<Uuid>,
    pub tenant_id: String,
    pub actor_ip: Option<String>,
    pub actor_user_agent: String,
    pub actor_auth_context: Option<String>,
    pub features: String,
    pub redactions: String,
    pub metadata: String,
    pub metadata_redactions: String,
    pub input_fingerprint: String,
    pub output: String,
    pub confidence: Option<f64>,
    pub decision_outcome: String,
    pub status: String,
    pub latency_ms: Option<f64>,
    /// The v2 salt (`None`: a v1 record, or an erased one).
    pub salt: Option<Vec<u8>>,
    pub erasure: Option<StoredErasure>,
}

/// The `erased_records` row of an erased record: the erasure that names it, and the commitment
/// its v2 seal keeps (`None` for a v1 record, whose leaf committed to the content itself).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredErasure {
    pub erasure_ref: Uuid,
    pub commitment: Option<Vec<u8>>,
}

/// The columns of an `actors` row that a prediction's record includes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredActor {
    pub id: Uuid,
    pub actor_type: String,
    pub actor_id: String,
    pub created_at: OffsetDateTime,
}

/// An `explanations` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExplanation {
    pub id: Uuid,
    pub explanation_id: Option<String>,
    pub prediction_ref: Uuid,
    pub revision: i64,
    pub method: String,
    pub method_version: String,
    pub payload: String,
    pub summary_text: String,
    pub status: String,
    pub generated_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub salt: Option<Vec<u8>>,
    pub erasure: Option<StoredErasure>,
}

/// A `model_versions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub id: Uuid,
    pub model_name: String,
    pub version: String,
    pub framework: String,
    pub build_id: String,
    pub commit_hash: String,
    pub config_snapshot: Option<String>,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
}

/// The model versions and actors that a run of records references, looked up by id. Each model
/// is decoded and written canonically once, then spliced into every prediction that names it.
#[derive(Debug, Default)]
pub struct RowCatalog {
    models: HashMap<Uuid, Result<(ModelVersion, Vec<u8>)>>,
    actors: HashMap<Uuid, StoredActor>,
}

impl RowCatalog {
    pub fn new(models: impl IntoIterator<Item = StoredModel>, actors: impl IntoIterator<Item = StoredActor>) -> Self {
        let models = models
            .into_iter()
            .map(|row| {
                let decoded = row.decode().map(|model| {
                    let mut canonical = Vec::with_capacity(256);
                    model.write_canonical(&mut canonical);
                    (model, canonical)
                });
                (row.id, decoded)
            })
            .collect();
        Self { models, actors: actors.into_iter().map(|actor| (actor.id, actor)).collect() }
    }

    /// The name of the model version `id`, if it was read and decodes.
    pub fn model_name(&self, id: Uuid) -> Option<&str> {
        self.model(id).ok().map(|(model, _)| model.model_name.as_str())
    }

    fn model(&self, id: Uuid) -> Result<&(ModelVersion, Vec<u8>)> {
        match self.models.get(&id) {
            None => Err(StoredRecordError::MissingModel(id)),
            Some(found) => found.as_ref().map_err(Clone::clone),
        }
    }

    fn actor(&self, id: Option<Uuid>) -> Result<Option<&StoredActor>> {
        id.map(|id| self.actors.get(&id).ok_or(StoredRecordError::MissingActor(id))).transpose()
    }
}

impl StoredRecord {
    pub fn kind(&self) -> LeafKind {
        match self {
            StoredRecord::Prediction(_) => LeafKind::Prediction,
            StoredRecord::Explanation(_) => LeafKind::Explanation,
            StoredRecord::Outcome(_) => LeafKind::Outcome,
            StoredRecord::Review(_) => LeafKind::Review,
            StoredRecord::Access(_) => LeafKind::Access,
        }
    }

    pub fn record_id(&self) -> Uuid {
        match self {
            StoredRecord::Prediction(row) => row.id,
            StoredRecord::Explanation(row) => row.id,
            StoredRecord::Outcome(row) => row.id,
            StoredRecord::Review(row) => row.id,
            StoredRecord::Access(row) => row.id,
        }
    }

    pub fn salt(&self) -> Option<&[u8]> {
        match self {
            StoredRecord::Prediction(row) => row.salt.as_deref(),
            StoredRecord::Explanation(row) => row.salt.as_deref(),
            StoredRecord::Outcome(row) => row.salt.as_deref(),
            StoredRecord::Review(row) => row.salt.as_deref(),
            StoredRecord::Access(_) => None,
        }
    }

    pub fn erasure(&self) -> Option<&StoredErasure> {
        match self {
            StoredRecord::Prediction(row) => row.erasure.as_ref(),
            StoredRecord::Explanation(row) => row.erasure.as_ref(),
            StoredRecord::Outcome(row) => row.erasure.as_ref(),
            StoredRecord::Review(row) => row.erasure.as_ref(),
            StoredRecord::Access(_) => None,
        }
    }

    /// The leaf recomputed from the stored text (the fast path): the record's canonical bytes,
    /// or for a v2 record its seal over their commitment, or for an erased v2 record its seal
    /// over the kept commitment. `None` for an erased v1 record, whose leaf hashed content that
    /// is gone. `scratch` is reused between calls.
    pub fn spliced_leaf_hash(&self, rows: &RowCatalog, scratch: &mut Vec<u8>) -> Result<Option<Hash>> {
        scratch.clear();
        if let Some(erasure) = self.erasure() {
            let Some(commitment) = &erasure.commitment else { return Ok(None) };
            let commitment = hash_column("commitment", commitment)?;
            self.write_seal(scratch, rows, &commitment)?;
            return Ok(Some(leaf_hash(scratch)));
        }
        self.write_spliced(scratch, rows)?;
        if let Some(salt) = self.salt() {
            let commitment = commitment(salt, scratch);
            scratch.clear();
            self.write_seal(scratch, rows, &commitment)?;
        }
        Ok(Some(leaf_hash(scratch)))
    }

    /// The commitment of an intact v2 record whose sealed leaf is `leaf` (what its erasure
    /// keeps): from the stored text, or where that does not give `leaf`, from the decoded record
    /// (see the module's two paths). `None` for a v1 record. A record altered since it was
    /// sealed gives neither; its spliced commitment is returned, and `verify` reports it.
    pub fn commitment_for(&self, rows: &RowCatalog, leaf: &Hash) -> Result<Option<Hash>> {
        let Some(salt) = self.salt() else { return Ok(None) };
        let mut record = Vec::with_capacity(2048);
        self.write_spliced(&mut record, rows)?;
        let spliced = commitment(salt, &record);
        let mut seal = Vec::with_capacity(512);
        self.write_seal(&mut seal, rows, &spliced)?;
        if leaf_hash(&seal) == *leaf {
            return Ok(Some(spliced));
        }
        match self.decode(rows) {
            Ok(decoded) => Ok(Some(commitment(salt, &decoded.canonical_bytes()))),
            Err(_) => Ok(Some(spliced)),
        }
    }

    /// Appends the canonical bytes assembled from the stored text (the fast path). For a row
    /// ml-audit wrote, they equal [`LedgerRecord::canonical_bytes`] of [`Self::decode`].
    pub fn write_spliced(&self, out: &mut Vec<u8>, rows: &RowCatalog) -> Result<()> {
        let version = if self.salt().is_some() { SALTED_RECORD_VERSION } else { RECORD_VERSION };
        match self {
            StoredRecord::Prediction(row) => {
                let (_, model) = rows.model(row.model_ref)?;
                let auth_context = row.actor_auth_context.as_deref().map(|t| json("auth_context", t)).transpose()?;
                let actor = row.actor_layout(rows, &auth_context as &dyn Canonical)?;
                PredictionLayout {
                    version,
                    id: row.id,
                    prediction_id: &row.prediction_id,
                    timestamp: row.timestamp,
                    created_at: row.created_at,
                    trace_id: &row.trace_id,
                    environment: &row.environment,
                    model: &JsonText::canonical(model),
                    actor,
                    features: &json("features", &row.features)?,
                    redactions: &json("redactions", &row.redactions)?,
                    metadata: &json("metadata", &row.metadata)?,
                    metadata_redactions: &json("metadata_redactions", &row.metadata_redactions)?,
                    input_fingerprint: &row.input_fingerprint,
                    output: &json("output", &row.output)?,
                    confidence: row.confidence,
                    decision_outcome: &row.decision_outcome,
                    status: &row.status,
                    latency_ms: row.latency_ms,
                }
                .write(out);
            }
            StoredRecord::Explanation(row) => ExplanationLayout {
                version,
                id: row.id,
                explanation_id: row.explanation_id.as_deref(),
                prediction: row.prediction_ref,
                revision: row.revision,
                method: &row.method,
                method_version: &row.method_version,
                payload: &json("payload", &row.payload)?,
                summary_text: &row.summary_text,
                status: &row.status,
                generated_at: row.generated_at,
                created_at: row.created_at,
            }
            .write(out),
            // Small records without a spliced layout: decoded and written canonically.
            StoredRecord::Outcome(_) | StoredRecord::Review(_) | StoredRecord::Access(_) => {
                self.decode(rows)?.write_canonical(out)
            }
        }
        Ok(())
    }

    /// Appends the v2 seal of the stored record over `commitment`: only the columns an erasure
    /// keeps are read.
    fn write_seal(&self, out: &mut Vec<u8>, rows: &RowCatalog, commitment: &Hash) -> Result<()> {
        match self {
            StoredRecord::Prediction(row) => {
                let (_, model) = rows.model(row.model_ref)?;
                PredictionSeal {
                    id: row.id,
                    timestamp: row.timestamp,
                    created_at: row.created_at,
                    model: &JsonText::canonical(model),
                    tenant_id: &row.tenant_id,
                    status: &row.status,
                    decision_outcome: &row.decision_outcome,
                    confidence: row.confidence,
                    commitment,
                }
                .write(out);
            }
            StoredRecord::Explanation(row) => ExplanationSeal {
                id: row.id,
                prediction: row.prediction_ref,
                revision: row.revision,
                created_at: row.created_at,
                commitment,
            }
            .write(out),
            StoredRecord::Outcome(row) => {
                let position = position_column(row.position)?;
                FollowUpSeal::of(LeafKind::Outcome, row.id, row.prediction_ref, position, row.created_at)
                    .write(out, commitment)
            }
            StoredRecord::Review(row) => {
                let position = position_column(row.position)?;
                FollowUpSeal::of(LeafKind::Review, row.id, row.prediction_ref, position, row.created_at)
                    .write(out, commitment)
            }
            // Never salted, so never sealed (nor erased): its leaf is its document.
            StoredRecord::Access(_) => self.decode(rows)?.write_canonical(out),
        }
        Ok(())
    }

    /// Every column decoded into the record the API shows (the full path).
    pub fn decode(&self, rows: &RowCatalog) -> Result<LedgerRecord> {
        Ok(match self {
            StoredRecord::Prediction(row) => LedgerRecord::Prediction(Box::new(row.decode(rows)?)),
            StoredRecord::Explanation(row) => LedgerRecord::Explanation(row.decode()?),
            StoredRecord::Outcome(row) => LedgerRecord::Outcome(row.decode()?),
            StoredRecord::Review(row) => LedgerRecord::Review(row.decode()?),
            StoredRecord::Access(row) => LedgerRecord::Access(Box::new(row.decode()?)),
        })
    }
}

impl StoredPrediction {
    fn actor_layout<'a>(
        &'a self,
        rows: &'a RowCatalog,
        auth_context: &'a dyn Canonical,
    ) -> Result<Option<ActorLayout<'a>>> {
        let Some(actor) = rows.actor(self.actor_ref)? else { return Ok(None) };
        Ok(Some(ActorLayout {
            id: actor.id,
            actor_type: &actor.actor_type,
            actor_id: &actor.actor_id,
            tenant_id: &self.tenant_id,
            ip_address: self.actor_ip.as_deref(),
            user_agent: &self.actor_user_agent,
            auth_context,
            created_at: actor.created_at,
        }))
    }

    fn decode(&self, rows: &RowCatalog) -> Result<PredictionEvent> {
        let (model, _) = rows.model(self.model_ref)?;
        let actor = match rows.actor(self.actor_ref)? {
            None => None,
            Some(actor) => Some(RequestingActor {
                id: actor.id,
                actor_type: parse_enum("actor_type", &actor.actor_type, ActorType::parse)?,
                actor_id: actor.actor_id.clone(),
                tenant_id: self.tenant_id.clone(),
                ip_address: self.actor_ip.clone(),
                user_agent: self.actor_user_agent.clone(),
                auth_context: self.actor_auth_context.as_deref().map(|t| parse("auth_context", t)).transpose()?,
                created_at: actor.created_at,
            }),
        };
        Ok(PredictionEvent {
            id: self.id,
            prediction_id: self.prediction_id.clone(),
            timestamp: self.timestamp,
            trace_id: self.trace_id.clone(),
            environment: self.environment.clone(),
            model: model.clone(),
            actor,
            tenant_id: self.tenant_id.clone(),
            features: parse("features", &self.features)?,
            redactions: parse("redactions", &self.redactions)?,
            input_fingerprint: self.input_fingerprint.clone(),
            output: parse("output", &self.output)?,
            confidence: self.confidence,
            decision_outcome: self.decision_outcome.clone(),
            status: parse_enum("status", &self.status, Status::parse)?,
            latency_ms: self.latency_ms,
            metadata: parse("metadata", &self.metadata)?,
            metadata_redactions: parse("metadata_redactions", &self.metadata_redactions)?,
            // Not part of the record a leaf commits to.
            redaction_log: Vec::new(),
            explanation: None,
            ledger: None,
            created_at: self.created_at,
            salt: salt_column(self.salt.as_deref())?,
            erased: None,
            outcome: None,
            reviews: Vec::new(),
            decision: Decision::unreviewed(&self.decision_outcome),
        })
    }
}

impl StoredExplanation {
    fn decode(&self) -> Result<Explanation> {
        Ok(Explanation {
            id: self.id,
            explanation_id: self.explanation_id.clone(),
            prediction_ref: self.prediction_ref,
            method: self.method.clone(),
            method_version: self.method_version.clone(),
            payload: parse("payload", &self.payload)?,
            summary_text: self.summary_text.clone(),
            status: parse_enum("status", &self.status, Status::parse)?,
            generated_at: self.generated_at,
            created_at: self.created_at,
            revision: u32::try_from(self.revision).map_err(|_| StoredRecordError::BadValue {
                column: "revision",
                value: self.revision.to_string(),
                reason: "a revision is a positive 32-bit number".into(),
            })?,
            salt: salt_column(self.salt.as_deref())?,
        })
    }
}

impl StoredOutcome {
    fn decode(&self) -> Result<Outcome> {
        Ok(Outcome {
            id: self.id,
            prediction_ref: self.prediction_ref,
            outcome_id: self.outcome_id.clone(),
            position: position_column(self.position)?,
            label: self.label.clone(),
            value: self.value,
            source: self.source.clone(),
            observed_at: self.observed_at,
            metadata: parse("metadata", &self.metadata)?,
            metadata_redactions: parse("metadata_redactions", &self.metadata_redactions)?,
            created_at: self.created_at,
            salt: salt_column(self.salt.as_deref())?,
        })
    }
}

impl StoredReview {
    fn decode(&self) -> Result<Review> {
        Ok(Review {
            id: self.id,
            prediction_ref: self.prediction_ref,
            review_id: self.review_id.clone(),
            position: position_column(self.position)?,
            reviewer_id: self.reviewer_id.clone(),
            reviewer_name: self.reviewer_name.clone(),
            action: parse_enum("action", &self.action, ReviewAction::parse)?,
            final_decision: self.final_decision.clone(),
            reason_codes: parse("reason_codes", &self.reason_codes)?,
            comment: self.comment.clone(),
            reviewed_at: self.reviewed_at,
            created_at: self.created_at,
            salt: salt_column(self.salt.as_deref())?,
        })
    }
}

impl StoredAccess {
    pub fn decode(&self) -> Result<AccessEntry> {
        Ok(AccessEntry {
            id: self.id,
            at: self.at,
            reader: Reader {
                key_id: self.key_id,
                key_name: self.key_name.clone(),
                scope: self.scope.clone(),
                tenant_id: self.tenant_id.clone(),
                operator: self.operator.clone(),
            },
            channel: parse_enum("channel", &self.channel, Channel::parse)?,
            action: parse_enum("action", &self.action, AccessAction::parse)?,
            route: self.route.clone(),
            filters: parse("filters", &self.filters)?,
            target: self.target.clone(),
            predictions: parse("predictions", &self.predictions)?,
        })
    }
}

/// A record's place among its prediction's outcomes or reviews (1, 2, …).
fn position_column(position: i64) -> Result<u32> {
    u32::try_from(position).ok().filter(|p| *p > 0).ok_or_else(|| StoredRecordError::BadValue {
        column: "position",
        value: position.to_string(),
        reason: "a position is a positive 32-bit number".into(),
    })
}

impl StoredModel {
    fn decode(&self) -> Result<ModelVersion> {
        Ok(ModelVersion {
            id: self.id,
            model_name: self.model_name.clone(),
            version: self.version.clone(),
            framework: self.framework.clone(),
            build_id: self.build_id.clone(),
            commit_hash: self.commit_hash.clone(),
            config_snapshot: self.config_snapshot.as_deref().map(|t| parse("config_snapshot", t)).transpose()?,
            is_active: self.is_active,
            created_at: self.created_at,
        })
    }
}

fn salt_column(salt: Option<&[u8]>) -> Result<Option<Salt>> {
    salt.map(|bytes| {
        Salt::try_from(bytes).map_err(|_| StoredRecordError::BadValue {
            column: "salt",
            value: hex::encode(bytes),
            reason: "a salt is 32 bytes".into(),
        })
    })
    .transpose()
}

fn hash_column(column: &'static str, bytes: &[u8]) -> Result<Hash> {
    Hash::try_from(bytes).map_err(|_| StoredRecordError::BadValue {
        column,
        value: hex::encode(bytes),
        reason: "a SHA-256 hash is 32 bytes".into(),
    })
}

fn json<'a>(column: &'static str, text: &'a str) -> Result<JsonText<'a>> {
    JsonText::checked(text).map_err(|error| StoredRecordError::NotJson { column, reason: error.to_string() })
}

fn parse<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|error| not_json(column, error))
}

fn not_json(column: &'static str, error: serde_json::Error) -> StoredRecordError {
    StoredRecordError::NotJson { column, reason: error.to_string() }
}

fn parse_enum<T>(column: &'static str, text: &str, parse: fn(&str) -> std::result::Result<T, String>) -> Result<T> {
    parse(text).map_err(|reason| StoredRecordError::BadValue { column, value: text.to_owned(), reason })
}

#[cfg(test)]
#[path = "stored_tests.rs"]
mod tests;
