//! The JSON shapes of the API. Only this crate knows them: the core's domain types say nothing
//! about the wire. Field names follow django-ml-audit's serializers.

use ml_audit_core::event::{MAX_LONG_TEXT, MAX_SHORT_TEXT};
use ml_audit_core::lifecycle::MAX_REFS;
use ml_audit_core::model::{Explanation, LedgerEntry, ModelVersion, Outcome, PredictionEvent, RequestingActor, Review};
use ml_audit_core::quality::QualityReport;
use ml_audit_core::redaction::{Action, RedactionEntry};
use ml_audit_core::timestamp::format_rfc3339;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorDetail;
use crate::routes::predictions::MAX_BATCH;

#[derive(Serialize, ToSchema)]
pub struct ModelOut {
    pub id: Uuid,
    pub model_name: String,
    pub version: String,
    pub framework: String,
    pub build_id: String,
    pub commit_hash: String,
    pub config_snapshot: Option<Value>,
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActorOut {
    pub id: Uuid,
    /// `user`, `service`, `api_key`, `job` or `other`.
    pub actor_type: String,
    pub actor_id: String,
    pub tenant_id: String,
    /// As sent with this prediction.
    pub ip_address: Option<String>,
    /// As sent with this prediction.
    pub user_agent: String,
    /// As sent with this prediction.
    pub auth_context: Option<Value>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExplanationOut {
    pub id: Uuid,
    /// The `id` (UUID) of the prediction it explains.
    pub prediction_id: Uuid,
    pub method: String,
    pub method_version: String,
    pub payload: Value,
    pub summary_text: String,
    /// `success`, `failed` or `partial`.
    pub status: String,
    #[schema(format = DateTime)]
    pub generated_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// 1 for the first explanation of a prediction, n + 1 for each one attached after.
    pub revision: u32,
    /// The client's id of an attach (null when none was given).
    pub explanation_id: Option<String>,
}

/// Ground truth for a prediction.
#[derive(Serialize, ToSchema)]
pub struct OutcomeOut {
    pub id: Uuid,
    /// The client's id (generated when absent).
    pub outcome_id: String,
    /// The `id` (UUID) of the prediction it is the outcome of.
    pub prediction_id: Uuid,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub source: String,
    #[schema(format = DateTime)]
    pub observed_at: String,
    /// Redacted like features.
    pub metadata: Value,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewerOut {
    pub reviewer_id: String,
    pub name: String,
}

/// One human review of a prediction.
#[derive(Serialize, ToSchema)]
pub struct ReviewOut {
    pub id: Uuid,
    /// The client's id (generated when absent).
    pub review_id: String,
    /// The `id` (UUID) of the prediction reviewed.
    pub prediction_id: Uuid,
    pub reviewer: ReviewerOut,
    /// `confirm`, `override`, `reverse` or `escalate`.
    pub action: String,
    /// The decision an override sets (`""` otherwise).
    pub final_decision: String,
    pub reason_codes: Vec<String>,
    /// Redacted like metadata.
    pub comment: String,
    #[schema(format = DateTime)]
    pub reviewed_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OutcomeList {
    pub items: Vec<OutcomeOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    pub items: Vec<ReviewOut>,
}

/// One outcome's result in a batch, in request order.
#[derive(Serialize, ToSchema)]
pub struct OutcomeBatchItem {
    pub index: usize,
    /// 201 created, 200 identical replay, 404 unknown prediction_id, 409 conflict or erased, 422 invalid.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct OutcomeBatchResults {
    pub results: Vec<OutcomeBatchItem>,
}

#[derive(Serialize, ToSchema)]
pub struct LabelQualityOut {
    /// Null when the model never decided this label.
    pub precision: Option<f64>,
    /// Null when no outcome had this label.
    pub recall: Option<f64>,
    pub support: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ConfusionOut {
    pub predicted: String,
    pub actual: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ClassificationOut {
    pub accuracy: f64,
    pub labels: std::collections::BTreeMap<String, LabelQualityOut>,
    pub confusion: Vec<ConfusionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct RegressionOut {
    pub mae: f64,
    pub rmse: f64,
    pub count: i64,
}

/// A model version's quality over a window (`docs/outcomes.md`).
#[derive(Serialize, ToSchema)]
pub struct QualityOut {
    pub predictions: i64,
    pub with_outcome: i64,
    /// The decision (`decision_outcome`) against the current outcome's label; null without such pairs.
    pub classification: Option<ClassificationOut>,
    /// The numeric output (or `output.score` / `output.value`) against the outcome's value.
    pub regression: Option<RegressionOut>,
    pub reviewed: i64,
    pub overridden: i64,
}

/// The prediction's place in the tamper-evident ledger, once sealed.
#[derive(Serialize, ToSchema)]
pub struct LedgerOut {
    /// 0-based leaf index in the log.
    pub seq: u64,
    /// SHA-256(0x00 ‖ canonical record), hex.
    pub leaf_hash: String,
}

impl From<LedgerEntry> for LedgerOut {
    fn from(entry: LedgerEntry) -> Self {
        Self { seq: entry.seq, leaf_hash: hex::encode(entry.leaf_hash) }
    }
}

/// A signed tree head.
#[derive(Serialize, ToSchema)]
pub struct CheckpointOut {
    pub tree_size: u64,
    /// Hex.
    pub root_hash: String,
    /// The C2SP signed note, exactly as signed.
    pub note: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicKeyOut {
    pub key_name: String,
    /// C2SP verifier key: `<name>+<hex key id>+<base64(0x01 ‖ Ed25519 public key)>`.
    pub vkey: String,
}

/// Everything needed to check one prediction offline (see docs/ledger.md).
#[derive(Serialize, ToSchema)]
pub struct InclusionProofOut {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Hex of SHA-256(0x00 ‖ leaf_data).
    pub leaf_hash: String,
    /// Base64 of the exact bytes the leaf hashes: the record's RFC 8785 canonical JSON (v1), or
    /// its seal (v2; docs/ledger.md).
    pub leaf_data: String,
    /// The record, as JSON.
    pub record: Value,
    /// Hex of the record's secret salt (v2), null for a v1 record. With it, anyone holding the
    /// record recomputes the seal's commitment.
    pub salt: Option<String>,
    /// Hex sibling hashes, leaf to root (RFC 9162 §2.1.3).
    pub inclusion_path: Vec<String>,
    /// The signed checkpoint of `tree_size`, when one exists.
    pub checkpoint: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProofOut {
    pub from: u64,
    pub to: u64,
    /// Hex hashes (RFC 9162 §2.1.4).
    pub proof: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PredictionOut {
    pub id: Uuid,
    /// Null once erased (the erased prediction no longer answers to it).
    pub prediction_id: Option<String>,
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Null once erased.
    pub trace_id: Option<String>,
    /// Null once erased.
    pub environment: Option<String>,
    /// The actor's tenant (`""` without an actor); kept by an erasure.
    pub tenant_id: String,
    pub model: ModelOut,
    /// Null without an actor, and once erased.
    pub actor: Option<ActorOut>,
    /// The features after redaction; null once erased.
    pub features: Value,
    /// JSON paths (`$.customer.email`) of the feature values that were masked; null once erased.
    pub redactions: Option<Vec<String>>,
    /// JSON paths of the metadata values that were masked; null once erased.
    pub metadata_redactions: Option<Vec<String>>,
    /// Every redacted location: the part, the path, the rule that fired and the action. Never
    /// the value. Null once erased.
    pub redaction_log: Option<Vec<RedactionEntryOut>>,
    /// Null once erased.
    pub input_fingerprint: Option<String>,
    /// Null once erased.
    pub output: Value,
    pub confidence: Option<f64>,
    pub decision_outcome: String,
    /// `success`, `failed` or `partial`.
    pub status: String,
    pub latency_ms: Option<f64>,
    pub metadata: Value,
    /// The current (latest) explanation revision; null once erased.
    pub explanation: Option<ExplanationOut>,
    /// Null until the ledger has sealed this prediction.
    pub ledger: Option<LedgerOut>,
    /// Set once an erasure destroyed this prediction's personal content (`docs/lifecycle.md`).
    pub erased: Option<ErasedOut>,
    /// The current outcome (latest by `observed_at`, then by arrival); null without one.
    pub outcome: Option<OutcomeOut>,
    /// Every review, oldest first.
    pub reviews: Vec<ReviewOut>,
    /// The decision in force: the latest effective override's, `reversed`, or the model's.
    pub final_decision: String,
    /// `none`, `pending_second` or `final`.
    pub review_state: String,
}

/// When, by which erasure and why a prediction was erased.
#[derive(Serialize, ToSchema)]
pub struct ErasedOut {
    #[schema(format = DateTime)]
    pub at: String,
    pub erasure_id: Uuid,
    pub reason: String,
}

/// One redacted location of a prediction.
#[derive(Serialize, ToSchema)]
pub struct RedactionEntryOut {
    /// `features`, `metadata`, `output` or `actor.user_agent`.
    pub part: String,
    /// JSON path relative to the part (`$.customer.email`).
    pub path: String,
    /// `key:<fragment>`, `denylist:<name>`, `rule:<pattern>` or `detector:<name>`.
    pub rule: String,
    /// `mask`, `drop`, `hash` or `partial`.
    pub action: String,
    /// Trailing characters kept, for `partial` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
}

impl From<RedactionEntry> for RedactionEntryOut {
    fn from(entry: RedactionEntry) -> Self {
        let keep_last = match entry.action {
            Action::Partial { keep_last } => Some(keep_last),
            _ => None,
        };
        Self {
            part: entry.part.as_str().to_owned(),
            path: entry.path,
            rule: entry.rule.into_owned(),
            action: entry.action.as_str().to_owned(),
            keep_last,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PredictionPage {
    pub items: Vec<PredictionOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of the access log: who was shown (or exported, erased, held) what, and how.
#[derive(Serialize, ToSchema)]
pub struct AccessEntryOut {
    pub id: Uuid,
    #[schema(format = DateTime)]
    pub at: String,
    /// `api`, `ui` or `cli`.
    pub channel: String,
    /// `read`, `export`, `erase`, `hold`, `hold_release`, `key_create` or `key_revoke`.
    pub action: String,
    /// The method and route as routed (`GET /api/v1/predictions/{reference}`), or the command.
    pub route: String,
    /// The key used (null at the command line).
    pub key_id: Option<Uuid>,
    pub key_name: String,
    /// The key's scope, or `operator` at the command line.
    pub scope: String,
    /// The tenant the key is bound to, if any.
    pub tenant_id: Option<String>,
    /// The command line's `user@host`; empty for a key.
    pub operator: String,
    /// The query parameters as sent (a `subject` by its pseudonym token, never in clear).
    pub filters: std::collections::BTreeMap<String, String>,
    /// The prediction, erasure, hold or key the action named, if any.
    pub target: String,
    /// The ids of the predictions shown, in the order shown.
    pub predictions: Vec<Uuid>,
}

impl From<ml_audit_core::access::AccessEntry> for AccessEntryOut {
    fn from(entry: ml_audit_core::access::AccessEntry) -> Self {
        Self {
            id: entry.id,
            at: format_rfc3339(entry.at),
            channel: entry.channel.to_string(),
            action: entry.action.to_string(),
            route: entry.route,
            key_id: entry.reader.key_id,
            key_name: entry.reader.key_name,
            scope: entry.reader.scope,
            tenant_id: entry.reader.tenant_id,
            operator: entry.reader.operator,
            filters: entry.filters,
            target: entry.target,
            predictions: entry.predictions,
        }
    }
}

/// One feature's part in a decision: one of the (at most four) largest attributions of the
/// current explanation by absolute value.
#[derive(Serialize, ToSchema)]
pub struct ReasonOut {
    pub feature: String,
    pub attribution: f64,
    /// `increased` (pushed the score up) or `decreased`.
    pub direction: String,
}

/// The model version of a reported prediction.
#[derive(Serialize, ToSchema)]
pub struct ReportedModelOut {
    pub model_name: String,
    pub version: String,
}

/// One prediction of a subject report.
#[derive(Serialize, ToSchema)]
pub struct ReportedPredictionOut {
    pub id: Uuid,
    /// Null once erased.
    pub prediction_id: Option<String>,
    #[schema(format = DateTime)]
    pub timestamp: String,
    pub tenant_id: String,
    pub model: ReportedModelOut,
    pub status: String,
    /// The model's decision.
    pub decision_outcome: String,
    pub confidence: Option<f64>,
    /// The decision in force after human review.
    pub final_decision: String,
    pub review_state: String,
    /// The principal reasons, largest first (empty without an explanation with attributions).
    pub principal_reasons: Vec<ReasonOut>,
    /// The method of the explanation the reasons come from.
    pub explanation_method: Option<String>,
    pub outcomes: Vec<OutcomeOut>,
    pub reviews: Vec<ReviewOut>,
    /// Who has seen it: access entries that showed it, newest first (at most 50).
    pub seen_by: Vec<AccessEntryOut>,
    /// Set once an erasure destroyed its personal content.
    pub erased: Option<ErasedOut>,
}

/// Everything recorded about one person (`GET /api/v1/subjects/report`).
#[derive(Serialize, ToSchema)]
pub struct SubjectReportOut {
    /// `subject` (by pseudonym token) or `actor_id` (as the requesting user).
    pub by: String,
    /// The subject's pseudonym token (never the raw value), or the actor id.
    pub subject: String,
    #[schema(format = DateTime)]
    pub generated_at: String,
    pub count: usize,
    /// More than 1,000 predictions matched: the newest 1,000 are listed.
    pub truncated: bool,
    /// Newest first.
    pub predictions: Vec<ReportedPredictionOut>,
}

impl SubjectReportOut {
    pub fn of(person: &crate::subjects::Person, report: crate::subjects::SubjectReport) -> Self {
        let (by, subject) = match person {
            crate::subjects::Person::Subject { token } => ("subject", token.clone()),
            crate::subjects::Person::User { actor_id } => ("actor_id", actor_id.clone()),
        };
        Self {
            by: by.into(),
            subject,
            generated_at: format_rfc3339(ml_audit_core::timestamp::now()),
            count: report.predictions.len(),
            truncated: report.truncated,
            predictions: report.predictions.into_iter().map(ReportedPredictionOut::from).collect(),
        }
    }
}

impl From<crate::subjects::ReportedPrediction> for ReportedPredictionOut {
    fn from(reported: crate::subjects::ReportedPrediction) -> Self {
        let event = reported.event;
        let kept = event.erased.is_none();
        Self {
            id: event.id,
            prediction_id: kept.then(|| event.prediction_id.clone()),
            timestamp: format_rfc3339(event.timestamp),
            tenant_id: event.tenant_id().to_owned(),
            model: ReportedModelOut { model_name: event.model.model_name, version: event.model.version },
            status: event.status.to_string(),
            decision_outcome: event.decision_outcome,
            confidence: event.confidence,
            final_decision: event.decision.final_decision,
            review_state: event.decision.state.to_string(),
            principal_reasons: reported
                .reasons
                .into_iter()
                .map(|r| ReasonOut {
                    feature: r.feature,
                    attribution: r.attribution,
                    direction: r.direction.to_string(),
                })
                .collect(),
            explanation_method: event.explanation.filter(|_| kept).map(|e| e.method),
            outcomes: reported.outcomes.into_iter().map(Into::into).collect(),
            reviews: event.reviews.into_iter().map(Into::into).collect(),
            seen_by: reported.seen.into_iter().map(Into::into).collect(),
            erased: event.erased.map(|mark| ErasedOut {
                at: format_rfc3339(mark.at),
                erasure_id: mark.erasure_id,
                reason: mark.reason,
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessPage {
    pub items: Vec<AccessEntryOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub items: Vec<ModelOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ExplanationList {
    pub items: Vec<ExplanationOut>,
}

/// One event's result in a batch, in request order.
#[derive(Serialize, ToSchema)]
pub struct BatchItemResult {
    pub index: usize,
    /// 201 created, 200 identical replay, 409 conflict, 403 wrong tenant, 422 invalid.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    /// Every event's result, or with `?results=failures` only those of the events not stored.
    pub results: Vec<BatchItemResult>,
    /// With `?results=failures`: how many events were stored (201) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<usize>,
    /// ... and how many were identical replays (200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub backend: &'static str,
    pub version: &'static str,
}

/// Whether the server can take a write now, and why not.
#[derive(Serialize, ToSchema)]
pub struct ReadinessOut {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// What failed, one sentence per failed check; empty when ready.
    pub reasons: Vec<String>,
    pub checks: ReadinessChecks,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// The database answers a query within a second.
    pub database: CheckOut,
    /// No write has failed for lack of space since the last one that succeeded (within 5 s).
    pub storage: CheckOut,
    /// The ledger's sealer is not behind by more than the configured bound.
    pub sealer: CheckOut,
    /// The writers' queue (informational: a full queue refuses writes for milliseconds).
    pub queue: CheckOut,
}

#[derive(Serialize, ToSchema)]
pub struct CheckOut {
    pub ok: bool,
    pub detail: String,
}

impl CheckOut {
    pub fn ok(detail: String) -> Self {
        Self { ok: true, detail }
    }

    pub fn failed(detail: String) -> Self {
        Self { ok: false, detail }
    }
}

impl ReadinessOut {
    pub fn new(database: CheckOut, storage: CheckOut, sealer: CheckOut, queue: CheckOut) -> Self {
        let checks = ReadinessChecks { database, storage, sealer, queue };
        let reasons: Vec<String> = [
            ("database", &checks.database),
            ("storage", &checks.storage),
            ("sealer", &checks.sealer),
            ("queue", &checks.queue),
        ]
        .into_iter()
        .filter(|(_, check)| !check.ok)
        .map(|(name, check)| format!("{name}: {}", check.detail))
        .collect();
        Self { status: if reasons.is_empty() { "ready" } else { "not_ready" }, reasons, checks }
    }

    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }
}

impl From<ModelVersion> for ModelOut {
    fn from(model: ModelVersion) -> Self {
        Self {
            id: model.id,
            model_name: model.model_name,
            version: model.version,
            framework: model.framework,
            build_id: model.build_id,
            commit_hash: model.commit_hash,
            config_snapshot: model.config_snapshot,
            is_active: model.is_active,
            created_at: format_rfc3339(model.created_at),
        }
    }
}

impl From<RequestingActor> for ActorOut {
    fn from(actor: RequestingActor) -> Self {
        Self {
            id: actor.id,
            actor_type: actor.actor_type.to_string(),
            actor_id: actor.actor_id,
            tenant_id: actor.tenant_id,
            ip_address: actor.ip_address,
            user_agent: actor.user_agent,
            auth_context: actor.auth_context,
            created_at: format_rfc3339(actor.created_at),
        }
    }
}

impl From<Explanation> for ExplanationOut {
    fn from(explanation: Explanation) -> Self {
        Self {
            id: explanation.id,
            prediction_id: explanation.prediction_ref,
            method: explanation.method,
            method_version: explanation.method_version,
            payload: explanation.payload,
            summary_text: explanation.summary_text,
            status: explanation.status.to_string(),
            generated_at: format_rfc3339(explanation.generated_at),
            created_at: format_rfc3339(explanation.created_at),
            revision: explanation.revision,
            explanation_id: explanation.explanation_id,
        }
    }
}

impl From<Outcome> for OutcomeOut {
    fn from(outcome: Outcome) -> Self {
        Self {
            id: outcome.id,
            outcome_id: outcome.outcome_id,
            prediction_id: outcome.prediction_ref,
            label: outcome.label,
            value: outcome.value,
            source: outcome.source,
            observed_at: format_rfc3339(outcome.observed_at),
            metadata: outcome.metadata,
            created_at: format_rfc3339(outcome.created_at),
        }
    }
}

impl From<Review> for ReviewOut {
    fn from(review: Review) -> Self {
        Self {
            id: review.id,
            review_id: review.review_id,
            prediction_id: review.prediction_ref,
            reviewer: ReviewerOut { reviewer_id: review.reviewer_id, name: review.reviewer_name },
            action: review.action.to_string(),
            final_decision: review.final_decision,
            reason_codes: review.reason_codes,
            comment: review.comment,
            reviewed_at: format_rfc3339(review.reviewed_at),
            created_at: format_rfc3339(review.created_at),
        }
    }
}

impl From<QualityReport> for QualityOut {
    fn from(report: QualityReport) -> Self {
        Self {
            predictions: report.predictions,
            with_outcome: report.with_outcome,
            classification: report.classification.map(|c| ClassificationOut {
                accuracy: c.accuracy,
                labels: c
                    .labels
                    .into_iter()
                    .map(|(label, q)| {
                        (label, LabelQualityOut { precision: q.precision, recall: q.recall, support: q.support })
                    })
                    .collect(),
                confusion: c
                    .confusion
                    .into_iter()
                    .map(|(predicted, actual, count)| ConfusionOut { predicted, actual, count })
                    .collect(),
            }),
            regression: report.regression.map(|r| RegressionOut { mae: r.mae, rmse: r.rmse, count: r.count }),
            reviewed: report.reviewed,
            overridden: report.overridden,
        }
    }
}

impl From<PredictionEvent> for PredictionOut {
    fn from(event: PredictionEvent) -> Self {
        // What an erasure destroyed reads as null (its columns hold blanks, not values).
        let kept = event.erased.is_none();
        let unless_erased = |text: String| kept.then_some(text);
        Self {
            id: event.id,
            tenant_id: event.tenant_id().to_owned(),
            prediction_id: unless_erased(event.prediction_id),
            timestamp: format_rfc3339(event.timestamp),
            trace_id: unless_erased(event.trace_id),
            environment: unless_erased(event.environment),
            model: event.model.into(),
            actor: event.actor.filter(|_| kept).map(Into::into),
            features: event.features,
            redactions: kept.then_some(event.redactions),
            metadata_redactions: kept.then_some(event.metadata_redactions),
            redaction_log: kept.then(|| event.redaction_log.into_iter().map(Into::into).collect()),
            input_fingerprint: unless_erased(event.input_fingerprint),
            output: event.output,
            confidence: event.confidence,
            decision_outcome: event.decision_outcome,
            status: event.status.to_string(),
            latency_ms: event.latency_ms,
            metadata: event.metadata,
            explanation: event.explanation.filter(|_| kept).map(Into::into),
            ledger: event.ledger.map(LedgerOut::from),
            erased: event.erased.map(|mark| ErasedOut {
                at: format_rfc3339(mark.at),
                erasure_id: mark.erasure_id,
                reason: mark.reason,
            }),
            outcome: event.outcome.map(Into::into),
            reviews: event.reviews.into_iter().map(Into::into).collect(),
            final_decision: event.decision.final_decision,
            review_state: event.decision.state.to_string(),
        }
    }
}

// Query parameter values, for the OpenAPI document only: the core parses them.

/// `user`, `service`, `api_key`, `job` or `other`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ActorTypeParam {
    User,
    Service,
    ApiKey,
    Job,
    Other,
}

/// `none`, `pending_second` or `final`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ReviewStateParam {
    None,
    PendingSecond,
    Final,
}

/// `success`, `failed` or `partial`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum StatusParam {
    Success,
    Failed,
    Partial,
}

/// The spellings of a boolean filter the server reads.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum BoolParam {
    #[schema(rename = "true")]
    True,
    #[schema(rename = "True")]
    TrueTitle,
    #[schema(rename = "1")]
    One,
    #[schema(rename = "false")]
    False,
    #[schema(rename = "False")]
    FalseTitle,
    #[schema(rename = "0")]
    Zero,
}

/// `all` (the default) or `failures`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ResultsParam {
    All,
    Failures,
}

// Request bodies, for the OpenAPI document only: parsing is the core's (`PredictionInput::parse`),
// which reports the field at fault, something serde's derive cannot do as precisely. The schemas
// are written out as JSON Schema so that they state exactly the limits the core enforces (a
// schema-driven fuzzer, scripts/test-contract, holds the two to each other): text is at most 255
// characters (summary_text and user_agent 8192) without NUL, required text is not blank (the
// whitespace below is Rust's `char::is_whitespace`), `null` counts as absent, and unknown
// members are errors.

/// Characters `str::trim` removes: a required text must hold one character outside this set.
const WHITESPACE: &str = r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Optional text of at most `max` characters.
fn text(max: usize, description: &str) -> Value {
    json!({"type": ["string", "null"], "maxLength": max, "pattern": r"^[^\u0000]*$", "description": description})
}

/// Required text: 1 to `max` characters, not only whitespace.
fn required_text(max: usize, description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
        "pattern": format!(r"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"), "description": description})
}

fn nullable_object(description: &str) -> Value {
    json!({"type": ["object", "null"], "description": description})
}

fn status(description: &str) -> Value {
    json!({"type": ["string", "null"], "enum": ["success", "failed", "partial", null], "description": description})
}

fn timestamp(description: &str) -> Value {
    json!({"type": ["string", "null"], "format": "date-time", "description": description})
}

fn nullable_ref(name: &str) -> Value {
    json!({"anyOf": [{"$ref": format!("#/components/schemas/{name}")}, {"type": "null"}]})
}

/// The request bodies' schemas, by component name: `PredictionIn`, `ActorIn`, `ExplanationIn`,
/// `BatchIn`.
pub fn request_schemas() -> Vec<(&'static str, Value)> {
    let short = MAX_SHORT_TEXT;
    let long = MAX_LONG_TEXT;
    let actor = json!({
        "type": "object",
        "description": "Who asked for the prediction. Created on first use (actor_type + actor_id + tenant_id).",
        "required": ["actor_type", "actor_id"],
        "additionalProperties": false,
        "properties": {
            "actor_type": {"type": "string", "enum": ["user", "service", "api_key", "job", "other"]},
            "actor_id": required_text(short, "The actor's id in its system"),
            "tenant_id": text(short, "A key bound to a tenant may only write its own tenant_id"),
            "ip_address": {
                "description": "An IPv4 or IPv6 address (\"\" or null: none)",
                "anyOf": [
                    {"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"},
                    {"const": ""}, {"type": "null"},
                ],
            },
            "user_agent": text(long, "Redacted like features"),
            "auth_context": nullable_object("Free-form context of the caller's authentication"),
        },
    });
    let explanation = json!({
        "type": "object",
        "required": ["method", "payload"],
        "additionalProperties": false,
        "properties": {
            "method": required_text(short, "shap, lime, reason_codes, ..."),
            "method_version": text(short, ""),
            "payload": {"type": "object", "description": "The explanation itself, e.g. feature attributions"},
            "summary_text": text(long, "For people"),
            "status": status("`success` (the default), `failed` or `partial`"),
            "generated_at": timestamp("RFC 3339 with a time zone; defaults to the time of receipt"),
        },
    });
    let prediction = json!({
        "type": "object",
        "required": ["model_name", "model_version", "features", "output"],
        "additionalProperties": false,
        "properties": {
            "model_name": required_text(short, "With model_version, the model version (created on first use)"),
            "model_version": required_text(short, ""),
            "features": {"type": "object", "description": "Redacted before anything is stored"},
            "output": {"description": "Any JSON value, null included"},
            "decision_outcome": text(short, ""),
            "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "status": status("`success` (the default), `failed` or `partial`"),
            "actor": nullable_ref("ActorIn"),
            "environment": text(short, ""),
            "trace_id": text(short, ""),
            "latency_ms": {"type": ["number", "null"], "minimum": 0},
            "metadata": nullable_object("Free-form; values that look like personal data are redacted"),
            "input_fingerprint": text(short, ""),
            "framework": text(short, "sklearn, xgboost, lightgbm, pytorch, onnx, ..."),
            "build_id": text(short, ""),
            "commit_hash": text(short, ""),
            "config_snapshot": nullable_object(""),
            "prediction_id": {
                "type": ["string", "null"], "maxLength": short,
                "pattern": format!(r"^([^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*)?$"),
                "description": "Stable external id, unique across the store; a UUID is generated when \
                    absent (or \"\"). Resending it with the same content answers 200, with other content 409",
            },
            "timestamp": timestamp("RFC 3339 with a time zone; defaults to the time of receipt"),
            "explanation": nullable_ref("ExplanationIn"),
        },
    });
    let batch = json!({
        "type": "object",
        "required": ["events"],
        "additionalProperties": false,
        "properties": {
            "events": {
                "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                "description": "1 to 1000 events, each a PredictionIn. Each is recorded or rejected on its \
                    own: one that is not a valid event (not even an object) gets its 422 in `results` and \
                    does not fail the batch, so the batch itself accepts any item",
                "items": {"anyOf": [{"$ref": "#/components/schemas/PredictionIn"}, {}]},
            },
        },
    });
    let mut attached_explanation = explanation.clone();
    attached_explanation["properties"]["explanation_id"] = json!({
        "type": ["string", "null"], "maxLength": short,
        "pattern": format!(r"^([^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*)?$"),
        "description": "The client's id: resending it with the same content answers 200 (no new revision), \
            with other content 409",
    });
    let client_id = |what: &str| {
        json!({
            "type": ["string", "null"], "maxLength": short,
            "pattern": format!(r"^([^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*)?$"),
            "description": format!("The client's id of the {what}, unique across the store; generated when absent. \
                Resending it with the same content answers 200, with other content 409"),
        })
    };
    let outcome_properties = json!({
        "outcome_id": client_id("outcome"),
        "label": {"type": ["string", "null"], "maxLength": short, "pattern": r"^[^\u0000]*$",
                  "description": "The actual class (at least one of label and value)"},
        "value": {"type": ["number", "null"], "description": "The actual value (at least one of label and value)"},
        "source": required_text(short, "Where the outcome came from (chargeback, repayment, appeal, ...)"),
        "observed_at": timestamp("RFC 3339 with a time zone; defaults to the time of receipt"),
        "metadata": nullable_object("Redacted like features"),
    });
    let outcome = json!({
        "type": "object",
        "required": ["source"],
        "additionalProperties": false,
        "anyOf": [
            {"required": ["label"], "properties": {"label": {"type": "string", "minLength": 1}}},
            {"required": ["value"], "properties": {"value": {"type": "number"}}},
        ],
        "properties": outcome_properties.clone(),
    });
    let mut batch_outcome = outcome.clone();
    batch_outcome["required"] = json!(["source", "prediction_id"]);
    batch_outcome["properties"]["prediction_id"] = required_text(short, "The prediction's external prediction_id");
    let outcome_batch = json!({
        "type": "object",
        "required": ["outcomes"],
        "additionalProperties": false,
        "properties": {
            "outcomes": {
                "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                "description": "1 to 1000 outcomes, each joined to its prediction by prediction_id and stored \
                    or rejected on its own (an invalid one gets its 422 in `results`)",
                "items": {"anyOf": [batch_outcome, {}]},
            },
        },
    });
    let review = json!({
        "type": "object",
        "required": ["reviewer", "action"],
        "additionalProperties": false,
        "properties": {
            "review_id": client_id("review"),
            "reviewer": {
                "type": "object", "required": ["reviewer_id"], "additionalProperties": false,
                "properties": {"reviewer_id": required_text(short, ""), "name": text(short, "")},
            },
            "action": {"type": "string", "enum": ["confirm", "override", "reverse", "escalate"]},
            "final_decision": text(short, "Required (non-blank) for override"),
            "reason_codes": {
                "type": ["array", "null"], "maxItems": ml_audit_core::review::MAX_REASON_CODES,
                "items": required_text(short, ""),
            },
            "comment": text(long, "Redacted like metadata"),
            "reviewed_at": timestamp("RFC 3339 with a time zone; defaults to the time of receipt"),
        },
        "if": {"properties": {"action": {"const": "override"}}},
        "then": {"required": ["final_decision"], "properties": {"final_decision": {"type": "string", "pattern": r"\S"}}},
    });
    let actor_key = json!({
        "type": "object",
        "description": "An actor by its identity",
        "required": ["actor_type", "actor_id"],
        "additionalProperties": false,
        "properties": {
            "actor_type": {"type": "string", "enum": ["user", "service", "api_key", "job", "other"]},
            "actor_id": required_text(short, ""),
            "tenant_id": text(short, "A tenant-bound key may only name its own tenant"),
        },
    });
    let refs = json!({
        "type": ["array", "null"], "maxItems": MAX_REFS,
        "items": required_text(short, "A prediction's id or prediction_id"),
    });
    let erasure = json!({
        "type": "object",
        "description": "At least one selector (subject, actor, predictions); the records of any are erased",
        "required": ["reason"],
        "additionalProperties": false,
        "anyOf": [
            {"required": ["subject"], "properties": {"subject": {"type": "string", "minLength": 1}}},
            {"required": ["actor"], "properties": {"actor": {"type": "object"}}},
            {"required": ["predictions"], "properties": {"predictions": {"type": "array", "minItems": 1}}},
        ],
        "properties": {
            "subject": text(short, "The raw value, found through its pseudonyms as `?subject=` does; never stored"),
            "actor": {"anyOf": [actor_key.clone(), {"type": "null"}]},
            "predictions": refs.clone(),
            "reason": required_text(long, "Why (a request's reference); stored and sealed"),
            "dry_run": {"type": ["boolean", "null"], "description": "Count only; change nothing"},
        },
    });
    let hold = json!({
        "type": "object",
        "description": "At least one scope; the hold covers the records matching every scope given",
        "required": ["reason"],
        "additionalProperties": false,
        "anyOf": [
            {"required": ["tenant_id"], "properties": {"tenant_id": {"type": "string", "minLength": 1}}},
            {"required": ["model_name"], "properties": {"model_name": {"type": "string", "minLength": 1}}},
            {"required": ["subject"], "properties": {"subject": {"type": "string", "minLength": 1}}},
            {"required": ["actor"], "properties": {"actor": {"type": "object"}}},
            {"required": ["predictions"], "properties": {"predictions": {"type": "array", "minItems": 1}}},
        ],
        "properties": {
            "reason": required_text(long, "Why (a case reference)"),
            "tenant_id": text(short, ""),
            "model_name": text(short, ""),
            "subject": text(short, "The raw value; stored as its pseudonym token"),
            "actor": {"anyOf": [actor_key, {"type": "null"}]},
            "predictions": refs,
            "until": timestamp("RFC 3339, in the future: the hold lapses then"),
        },
    });
    let release = json!({
        "type": "object",
        "required": ["reason"],
        "additionalProperties": false,
        "properties": {"reason": required_text(long, "Why the hold ends")},
    });
    vec![
        ("ActorIn", actor),
        ("ExplanationIn", explanation),
        ("ExplanationAttachIn", attached_explanation),
        ("OutcomeIn", outcome),
        ("OutcomeBatchIn", outcome_batch),
        ("ReviewIn", review),
        ("PredictionIn", prediction),
        ("BatchIn", batch),
        ("ErasureIn", erasure),
        ("HoldIn", hold),
        ("ReleaseIn", release),
    ]
}
