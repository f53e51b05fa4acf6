//! Outcomes, reviews and the quality they give: [`OutcomeStore`].

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::model::{Outcome, Review};
use ml_audit_core::outcome::PreparedOutcome;
use ml_audit_core::quality::QualityReport;
use ml_audit_core::review::{PreparedReview, ReviewPolicy};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PredictionRef, Result};

/// A write that may be an idempotent retry.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded<T> {
    /// Stored now.
    Created(T),
    /// Already stored with the same content (same client id): the stored one.
    Replayed(T),
}

impl<T> Recorded<T> {
    pub fn record(&self) -> &T {
        match self {
            Recorded::Created(record) | Recorded::Replayed(record) => record,
        }
    }

    pub fn into_record(self) -> T {
        match self {
            Recorded::Created(record) | Recorded::Replayed(record) => record,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Recorded::Created(_))
    }
}

/// The window and tenant of a quality report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityWindow {
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Inclusive.
    pub to: Option<OffsetDateTime>,
    pub tenant_id: Option<String>,
}

/// Outcomes and reviews of visible predictions, and the quality of a model version.
///
/// Each write is one transaction that stores the record, seals it (SQLite) or queues its leaf
/// (PostgreSQL), and updates the prediction's derived state and its model version's quality
/// totals. A record's client id (`outcome_id`, `review_id`) is unique across the store: sent again
/// with the same content for the same prediction it answers [`Recorded::Replayed`], otherwise
/// `StorageError::Conflict`.
#[async_trait]
pub trait OutcomeStore: Send + Sync + 'static {
    /// Records outcomes in one transaction, each for the prediction its reference names, each
    /// with its own result: `NotFound(Prediction)`, `Erased`, `Conflict` fail that item only.
    async fn record_outcomes(
        &self,
        visibility: &Visibility,
        outcomes: Vec<(PredictionRef, PreparedOutcome)>,
    ) -> Result<Vec<Result<Recorded<Outcome>>>>;

    /// Every outcome of a visible prediction, in arrival order.
    async fn list_outcomes(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Outcome>>;

    /// Records a review under `policy`'s two-person rule: `Conflict` when the reviewer would
    /// confirm their own pending change.
    async fn record_review(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        review: PreparedReview,
        policy: &ReviewPolicy,
    ) -> Result<Recorded<Review>>;

    /// Every review of a visible prediction, oldest first.
    async fn list_reviews(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Review>>;

    /// A model version's quality over the visible predictions in `window`, from running totals
    /// (whole hours) and the rows of the hours the window cuts.
    async fn model_quality(
        &self,
        visibility: &Visibility,
        model: Uuid,
        window: &QualityWindow,
    ) -> Result<QualityReport>;

    /// Recomputes every prediction's derived state (its current outcome, its decision after its
    /// reviews under `policy`) and the quality totals from the stored outcomes and reviews, and
    /// says where what is stored differs, at most `limit` findings. For `verify`: the derived
    /// data is what the list's filters, a prediction's `final_decision` and the quality figures
    /// show.
    async fn check_derived(&self, policy: &ReviewPolicy, limit: usize) -> Result<Vec<String>>;
}
