//! The stored records, with django-ml-audit 0.2.0's field names.
//!
//! Text fields that were not given are empty strings, as in django-ml-audit's models, so
//! that readers never have to tell "absent" from "empty".

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ledger::record::Salt;

use crate::redaction::RedactionEntry;

/// Gives a fieldless enum its one spelling on the wire and in the database: `as_str`, `parse`
/// (whose error lists what is allowed), `ALL` and `Display`.
macro_rules! text_enum_impls {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("must be one of {}", [$($text),+].join(", "))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum_impls;

/// Who or what asked for a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorType {
    User,
    Service,
    ApiKey,
    Job,
    Other,
}

text_enum_impls!(ActorType { User => "user", Service => "service", ApiKey => "api_key", Job => "job", Other => "other" });

/// How a prediction (or an explanation) went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Success,
    Failed,
    Partial,
}

text_enum_impls!(Status { Success => "success", Failed => "failed", Partial => "partial" });

/// A logical model name and version, created on first use and shared by every tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub id: Uuid,
    pub model_name: String,
    pub version: String,
    pub framework: String,
    pub build_id: String,
    pub commit_hash: String,
    pub config_snapshot: Option<Value>,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
}

/// The user, service, key or job that asked for a prediction, identified by
/// (`actor_type`, `actor_id`, `tenant_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestingActor {
    pub id: Uuid,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub tenant_id: String,
    pub ip_address: Option<String>,
    pub user_agent: String,
    pub auth_context: Option<Value>,
    pub created_at: OffsetDateTime,
}

/// One revision of a prediction's explanation. Revisions are never overwritten: attaching
/// again adds revision n + 1, which becomes the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub id: Uuid,
    /// The client's id for an attach (`None`: not given): a retry with it is answered, not
    /// stored as a new revision.
    pub explanation_id: Option<String>,
    /// The `id` of the prediction it explains, not its external `prediction_id` (the wire keeps
    /// django-ml-audit's name, `prediction_id`, for this field).
    pub prediction_ref: Uuid,
    pub method: String,
    pub method_version: String,
    pub payload: Value,
    pub summary_text: String,
    pub status: Status,
    pub generated_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub revision: u32,
    /// The secret its ledger leaf commits through (v2); `None` for a revision written before
    /// salts, or erased.
    pub salt: Option<Salt>,
}

/// A recorded prediction, as read back: its model, its actor, and its current explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionEvent {
    pub id: Uuid,
    pub prediction_id: String,
    pub timestamp: OffsetDateTime,
    pub trace_id: String,
    pub environment: String,
    pub model: ModelVersion,
    pub actor: Option<RequestingActor>,
    /// The actor's tenant (`""` without an actor); kept when an erasure removes the actor.
    pub tenant_id: String,
    /// Already redacted: raw features are never stored.
    pub features: Value,
    /// JSON paths (`$.customer.email`) of the feature values that redaction masked.
    pub redactions: Vec<String>,
    pub input_fingerprint: String,
    pub output: Value,
    pub confidence: Option<f64>,
    pub decision_outcome: String,
    pub status: Status,
    pub latency_ms: Option<f64>,
    pub metadata: Value,
    /// JSON paths (`$.note`) of the metadata values that redaction masked.
    pub metadata_redactions: Vec<String>,
    /// Where redaction changed the event, by which rule and action (never the value).
    pub redaction_log: Vec<RedactionEntry>,
    pub explanation: Option<Explanation>,
    /// The prediction's leaf in the tamper-evident ledger, once sealed.
    pub ledger: Option<LedgerEntry>,
    pub created_at: OffsetDateTime,
    /// The secret its ledger leaf commits through (v2); `None` for a prediction written before
    /// salts, or erased.
    pub salt: Option<Salt>,
    /// Set when an erasure destroyed its personal content (which then reads as empty).
    pub erased: Option<ErasureMark>,
    /// Its current outcome (ground truth), if any has arrived.
    pub outcome: Option<Outcome>,
    /// Its reviews, oldest first (filled by reads that show them; empty in the ledger's view).
    pub reviews: Vec<Review>,
    /// Its decision after review.
    pub decision: Decision,
}

/// When, by which erasure and why a record's personal content was destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureMark {
    pub erasure_id: Uuid,
    pub at: OffsetDateTime,
    pub reason: String,
}

/// A record's place in the ledger: its 0-based leaf index and leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerEntry {
    pub seq: u64,
    pub leaf_hash: [u8; 32],
}

impl PredictionEvent {
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
}

/// Ground truth for a prediction, arriving later (a chargeback, a default, an appeal's result).
/// A prediction may get several over time; the latest by `observed_at` (then by arrival,
/// `position`) is its current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: Uuid,
    /// The `id` of the prediction it is the outcome of.
    pub prediction_ref: Uuid,
    /// The client's id (generated when absent): a retry with it is answered, not stored again.
    pub outcome_id: String,
    /// 1 for the prediction's first outcome, 2 for the next one to arrive, …
    pub position: u32,
    pub label: Option<String>,
    pub value: Option<f64>,
    pub source: String,
    pub observed_at: OffsetDateTime,
    /// Already redacted.
    pub metadata: Value,
    pub metadata_redactions: Vec<String>,
    pub created_at: OffsetDateTime,
    /// The secret its ledger leaf commits through; `None` once erased.
    pub salt: Option<Salt>,
}

/// What a human reviewer did with a prediction's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewAction {
    /// Agrees with the decision as it stands (and, under the two-person rule, with a pending
    /// change by another reviewer).
    Confirm,
    /// Replaces the decision with the review's `final_decision`.
    Override,
    /// Reverses the decision (the final decision reads `reversed`).
    Reverse,
    /// Hands the decision on to another reviewer.
    Escalate,
}

text_enum_impls!(ReviewAction {
    Confirm => "confirm",
    Override => "override",
    Reverse => "reverse",
    Escalate => "escalate",
});

/// Where a prediction's review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewState {
    /// Not reviewed.
    None,
    /// A change (or an escalation) waits for a second, different reviewer.
    PendingSecond,
    /// Reviewed, and nothing waits.
    Final,
}

text_enum_impls!(ReviewState { None => "none", PendingSecond => "pending_second", Final => "final" });

/// One human review of a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: Uuid,
    pub prediction_ref: Uuid,
    /// The client's id (generated when absent), idempotent like `outcome_id`.
    pub review_id: String,
    /// 1 for the prediction's first review, 2 for the next, …: the order the rule applies them in.
    pub position: u32,
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub action: ReviewAction,
    /// The decision an `override` sets (`""` when not given).
    pub final_decision: String,
    pub reason_codes: Vec<String>,
    /// Already redacted.
    pub comment: String,
    pub reviewed_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// The secret its ledger leaf commits through; `None` once erased.
    pub salt: Option<Salt>,
}

/// A prediction's decision after its reviews (see [`crate::review::ReviewFold`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decision in force: the latest effective override's, `reversed`, or the model's.
    pub final_decision: String,
    pub state: ReviewState,
    pub reviewed: bool,
    /// An effective override or reverse changed the model's decision.
    pub overridden: bool,
}

impl Decision {
    /// The decision of a prediction no one reviewed: the model's.
    pub fn unreviewed(decision_outcome: &str) -> Self {
        Self {
            final_decision: decision_outcome.to_owned(),
            state: ReviewState::None,
            reviewed: false,
            overridden: false,
        }
    }
}
