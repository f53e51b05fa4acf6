//! The subject report (SPEC part 2, "Access log and evidence"): every prediction about one
//! person, with what a data subject's access request and an adverse-action notice need — its
//! model version, decision and final decision, principal reasons, outcomes, reviews, and who has
//! seen it. Gathered here once for the API (`routes/subjects.rs`) and the printable UI page
//! (`ui/subjects.rs`).

use std::collections::HashMap;

use ml_audit_core::access::AccessEntry;
use ml_audit_core::auth::Visibility;
use ml_audit_core::model::{ActorType, Outcome, PredictionEvent};
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_core::reasons::{Reason, principal_reasons};
use ml_audit_storage::{PredictionRef, StorageError};
use uuid::Uuid;

use crate::state::AppState;

/// The most predictions one report lists (a report that reaches it says so).
pub const MAX_REPORTED: u32 = 1000;
/// The most access entries listed per prediction.
pub const SEEN_PER_PREDICTION: u32 = 50;

/// Whom the report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// By the pseudonym token of a raw identifier (as `?subject=`).
    Subject { token: String },
    /// As the requesting actor: `actor_type=user` with this `actor_id`.
    User { actor_id: String },
}

/// One prediction about the person, with what belongs to it.
pub struct ReportedPrediction {
    pub event: PredictionEvent,
    /// Every outcome, oldest first (none once erased).
    pub outcomes: Vec<Outcome>,
    /// From the current explanation (none once erased, or without attributions).
    pub reasons: Vec<Reason>,
    /// Newest first, at most [`SEEN_PER_PREDICTION`].
    pub seen: Vec<AccessEntry>,
}

pub struct SubjectReport {
    pub predictions: Vec<ReportedPrediction>,
    /// More predictions matched than [`MAX_REPORTED`].
    pub truncated: bool,
}

/// Gathers the report of `person` as `visibility` sees it (a tenant-bound key: its tenant only).
pub async fn gather(state: &AppState, visibility: &Visibility, person: &Person) -> Result<SubjectReport, StorageError> {
    let filter = match person {
        Person::Subject { token } => PredictionFilter { subject: Some(token.clone()), ..PredictionFilter::default() },
        Person::User { actor_id } => PredictionFilter {
            actor_type: Some(ActorType::User),
            actor_id: Some(actor_id.clone()),
            ..PredictionFilter::default()
        },
    };
    let page = PageRequest { limit: MAX_REPORTED, after: None };
    let found = state.predictions.list_predictions(visibility, &filter, &page).await?;
    let ids: Vec<_> = found.items.iter().map(|event| event.id).collect();
    let mut seen: HashMap<Uuid, Vec<AccessEntry>> = HashMap::new();
    for (prediction, entry) in state.access_log.access_to_predictions(&ids, SEEN_PER_PREDICTION).await? {
        seen.entry(prediction).or_default().push(entry);
    }
    let mut predictions = Vec::with_capacity(found.items.len());
    for event in found.items {
        let outcomes = match (&event.outcome, &event.erased) {
            (Some(_), None) => state.outcomes.list_outcomes(visibility, &PredictionRef(event.id.to_string())).await?,
            _ => Vec::new(),
        };
        let reasons = match (&event.explanation, &event.erased) {
            (Some(explanation), None) => principal_reasons(&explanation.payload),
            _ => Vec::new(),
        };
        let seen = seen.remove(&event.id).unwrap_or_default();
        predictions.push(ReportedPrediction { event, outcomes, reasons, seen });
    }
    Ok(SubjectReport { predictions, truncated: found.next_cursor.is_some() })
}
