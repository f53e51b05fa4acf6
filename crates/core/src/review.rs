//! Human review and override: parse a review strictly, redact it into [`PreparedReview`], and
//! fold a prediction's reviews into its decision ([`ReviewFold`]), the two-person rule included.

use std::collections::BTreeSet;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldError;
use crate::event::{Fields, MAX_LONG_TEXT, MAX_SHORT_TEXT, check_text, kind};
use crate::ledger::record::{Salt, new_salt};
use crate::model::{Decision, Review, ReviewAction, ReviewState};
use crate::outcome::fingerprint;
use crate::redaction::RedactionPolicy;
use crate::timestamp;

/// The final decision a `reverse` leaves.
pub const REVERSED: &str = "reversed";

/// Most reason codes one review may carry.
pub const MAX_REASON_CODES: usize = 64;

/// A validated review whose comment is still raw; [`ReviewInput::prepare`] redacts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewInput {
    pub review_id: Option<String>,
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub action: ReviewAction,
    pub final_decision: String,
    pub reason_codes: Vec<String>,
    pub comment: String,
    pub reviewed_at: Option<OffsetDateTime>,
}

/// What a backend stores; only [`ReviewInput::prepare`] builds one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PreparedReview {
    pub id: Uuid,
    pub review_id: String,
    pub reviewer_id: String,
    pub reviewer_name: String,
    pub action: ReviewAction,
    pub final_decision: String,
    pub reason_codes: Vec<String>,
    pub comment: String,
    pub reviewed_at: OffsetDateTime,
    /// SHA-256 (hex) of the review as sent, after redaction; equal for an identical retry.
    pub content_hash: String,
    pub created_at: OffsetDateTime,
    pub salt: Salt,
}

impl ReviewInput {
    pub fn parse(body: Value) -> Result<Self, FieldError> {
        let mut obj = Fields::new(body)?;
        let (reviewer_id, reviewer_name) = match obj.take("reviewer") {
            None => return Err(FieldError::new("reviewer", "is required and must be a JSON object")),
            Some(reviewer) => parse_reviewer(reviewer).map_err(|e| e.within("reviewer"))?,
        };
        let action = obj
            .optional_enum("action", ReviewAction::parse)?
            .ok_or_else(|| FieldError::new("action", "is required"))?;
        let input = ReviewInput {
            review_id: obj.optional_nonempty_text("review_id", MAX_SHORT_TEXT)?,
            reviewer_id,
            reviewer_name,
            action,
            final_decision: obj.optional_text("final_decision", MAX_SHORT_TEXT)?,
            reason_codes: parse_reason_codes(obj.take("reason_codes"))?,
            comment: obj.optional_text("comment", MAX_LONG_TEXT)?,
            reviewed_at: obj.optional_timestamp("reviewed_at")?,
        };
        obj.reject_unknown()?;
        if action == ReviewAction::Override && input.final_decision.trim().is_empty() {
            return Err(FieldError::new("final_decision", "is required for an override"));
        }
        Ok(input)
    }

    /// Redacts the comment (the value detectors, as for metadata) and fills in what the server
    /// assigns.
    pub fn prepare(self, policy: &RedactionPolicy) -> PreparedReview {
        let comment = match policy.redact_values(Value::String(self.comment)).value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        let id = Uuid::now_v7();
        #[derive(serde::Serialize)]
        struct Content<'a> {
            action: &'a str,
            comment: &'a str,
            final_decision: &'a str,
            reason_codes: &'a [String],
            review_id_sent: bool,
            reviewed_at: Option<String>,
            reviewer_id: &'a str,
            reviewer_name: &'a str,
        }
        let content_hash = fingerprint(&Content {
            action: self.action.as_str(),
            comment: &comment,
            final_decision: &self.final_decision,
            reason_codes: &self.reason_codes,
            review_id_sent: self.review_id.is_some(),
            reviewed_at: self.reviewed_at.map(timestamp::format_rfc3339),
            reviewer_id: &self.reviewer_id,
            reviewer_name: &self.reviewer_name,
        });
        PreparedReview {
            id,
            review_id: self.review_id.unwrap_or_else(|| id.to_string()),
            reviewer_id: self.reviewer_id,
            reviewer_name: self.reviewer_name,
            action: self.action,
            final_decision: self.final_decision,
            reason_codes: self.reason_codes,
            comment,
            reviewed_at: self.reviewed_at.unwrap_or_else(timestamp::now),
            content_hash,
            created_at: timestamp::now(),
            salt: new_salt(),
        }
    }
}

fn parse_reviewer(value: Value) -> Result<(String, String), FieldError> {
    let mut obj = Fields::new(value)?;
    let reviewer = (obj.required_text("reviewer_id", MAX_SHORT_TEXT)?, obj.optional_text("name", MAX_SHORT_TEXT)?);
    obj.reject_unknown()?;
    Ok(reviewer)
}

fn parse_reason_codes(value: Option<Value>) -> Result<Vec<String>, FieldError> {
    let codes = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(codes)) => codes,
        Some(other) => return Err(FieldError::new("reason_codes", format!("must be an array, not {}", kind(&other)))),
    };
    if codes.len() > MAX_REASON_CODES {
        return Err(FieldError::new("reason_codes", format!("must hold at most {MAX_REASON_CODES} codes")));
    }
    codes
        .into_iter()
        .enumerate()
        .map(|(at, code)| {
            let field = format!("reason_codes[{at}]");
            match code {
                Value::String(text) if !text.trim().is_empty() => check_text(&field, text, MAX_SHORT_TEXT),
                Value::String(_) => Err(FieldError::new(field, "must not be blank")),
                other => Err(FieldError::new(field, format!("must be a string, not {}", kind(&other)))),
            }
        })
        .collect()
}

/// The review a prepared one becomes once stored as the prediction's `position`-th.
pub fn stored_review(prepared: PreparedReview, prediction: Uuid, position: u32) -> Review {
    Review {
        id: prepared.id,
        prediction_ref: prediction,
        review_id: prepared.review_id,
        position,
        reviewer_id: prepared.reviewer_id,
        reviewer_name: prepared.reviewer_name,
        action: prepared.action,
        final_decision: prepared.final_decision,
        reason_codes: prepared.reason_codes,
        comment: prepared.comment,
        reviewed_at: prepared.reviewed_at,
        created_at: prepared.created_at,
        salt: Some(prepared.salt),
    }
}

/// Which models need two different reviewers before a change to a decision takes effect
/// (`[review] two_person_models`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewPolicy {
    pub two_person_models: BTreeSet<String>,
}

impl ReviewPolicy {
    pub fn two_person(&self, model_name: &str) -> bool {
        self.two_person_models.contains(model_name)
    }
}

/// Why a review cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefused {
    #[error(
        "the reviewer {reviewer_id:?} proposed the pending change (or escalation) themselves: a second, different reviewer must confirm it"
    )]
    SameReviewer { reviewer_id: String },
}

/// A change a review makes to the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Override(String),
    Reverse,
}

impl Change {
    fn decision(&self) -> &str {
        match self {
            Change::Override(decision) => decision,
            Change::Reverse => REVERSED,
        }
    }
}

/// A prediction's reviews folded, in the order they arrived, into its decision.
///
/// Without the two-person rule an override or reverse takes effect at once, a confirm agrees with
/// the decision in force, and an escalation waits (`pending_second`) for another reviewer. Under
/// the rule (the prediction's model is listed) an override or reverse is only proposed: the
/// decision stays until a different reviewer confirms it, or proposes the same change; the
/// proposer's own confirm is refused. A later proposal replaces a pending one.
#[derive(Debug, Clone)]
pub struct ReviewFold {
    model_decision: String,
    two_person: bool,
    effective: Option<Change>,
    /// Who proposed what (no change: an escalation), waiting for another reviewer.
    pending: Option<(String, Option<Change>)>,
    reviewed: bool,
}

impl ReviewFold {
    pub fn new(model_decision: &str, two_person: bool) -> Self {
        Self { model_decision: model_decision.to_owned(), two_person, effective: None, pending: None, reviewed: false }
    }

    /// The fold of stored reviews (already accepted, so none is refused; one that would be is
    /// passed over).
    pub fn of<'a>(model_decision: &str, two_person: bool, reviews: impl IntoIterator<Item = &'a Review>) -> Self {
        let mut fold = Self::new(model_decision, two_person);
        for review in reviews {
            let _ = fold.apply(&review.reviewer_id, review.action, &review.final_decision);
        }
        fold
    }

    /// Applies the next review, or refuses it (and changes nothing).
    pub fn apply(
        &mut self,
        reviewer_id: &str,
        action: ReviewAction,
        final_decision: &str,
    ) -> Result<(), ReviewRefused> {
        let change = match action {
            ReviewAction::Override => Some(Change::Override(final_decision.to_owned())),
            ReviewAction::Reverse => Some(Change::Reverse),
            ReviewAction::Confirm | ReviewAction::Escalate => None,
        };
        let pending_by_other = self.pending.as_ref().is_some_and(|(proposer, _)| proposer != reviewer_id);
        match (action, change) {
            (ReviewAction::Confirm, _) => match self.pending.take() {
                Some((proposer, proposed)) if proposer == reviewer_id => {
                    self.pending = Some((proposer, proposed));
                    return Err(ReviewRefused::SameReviewer { reviewer_id: reviewer_id.to_owned() });
                }
                // Another reviewer agrees: a pending change takes effect; an escalation is settled.
                Some((_, Some(proposed))) => self.effective = Some(proposed),
                Some((_, None)) | None => {}
            },
            (ReviewAction::Escalate, _) => self.pending = Some((reviewer_id.to_owned(), None)),
            (_, Some(change)) => {
                let agreed = pending_by_other
                    && self.pending.as_ref().is_some_and(|(_, proposed)| proposed.as_ref() == Some(&change));
                if self.two_person && !agreed {
                    self.pending = Some((reviewer_id.to_owned(), Some(change)));
                } else {
                    self.effective = Some(change);
                    self.pending = None;
                }
            }
            (_, None) => unreachable!("override and reverse make a change"),
        }
        self.reviewed = true;
        Ok(())
    }

    pub fn decision(&self) -> Decision {
        let final_decision = self.effective.as_ref().map_or(self.model_decision.as_str(), Change::decision);
        let state = match (self.reviewed, &self.pending) {
            (false, _) => ReviewState::None,
            (true, Some(_)) => ReviewState::PendingSecond,
            (true, None) => ReviewState::Final,
        };
        Decision {
            final_decision: final_decision.to_owned(),
            state,
            reviewed: self.reviewed,
            overridden: self.effective.is_some() && final_decision != self.model_decision,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decide(two_person: bool, steps: &[(&str, ReviewAction, &str)]) -> (Decision, Vec<bool>) {
        let mut fold = ReviewFold::new("approve", two_person);
        let accepted = steps.iter().map(|(who, action, decision)| fold.apply(who, *action, decision).is_ok()).collect();
        (fold.decision(), accepted)
    }

    use ReviewAction::{Confirm, Escalate, Override, Reverse};

    #[test]
    fn one_reviewer_changes_the_decision_at_once() {
        let (d, _) = decide(false, &[]);
        assert_eq!(
            (d.final_decision.as_str(), d.state, d.reviewed, d.overridden),
            ("approve", ReviewState::None, false, false)
        );
        let (d, _) = decide(false, &[("a", Override, "decline")]);
        assert_eq!((d.final_decision.as_str(), d.state, d.overridden), ("decline", ReviewState::Final, true));
        let (d, _) = decide(false, &[("a", Override, "decline"), ("b", Reverse, "")]);
        assert_eq!((d.final_decision.as_str(), d.overridden), (REVERSED, true));
        let (d, _) = decide(false, &[("a", Confirm, "")]);
        assert_eq!((d.final_decision.as_str(), d.state, d.overridden), ("approve", ReviewState::Final, false));
        // An override to the model's own decision changes nothing.
        let (d, _) = decide(false, &[("a", Override, "approve")]);
        assert!(!d.overridden && d.reviewed);
        let (d, accepted) = decide(false, &[("a", Escalate, ""), ("a", Confirm, ""), ("b", Confirm, "")]);
        assert_eq!(accepted, [true, false, true]);
        assert_eq!(d.state, ReviewState::Final);
    }

    #[test]
    fn two_people_must_agree_on_a_change() {
        let (d, _) = decide(true, &[("a", Override, "decline")]);
        assert_eq!((d.final_decision.as_str(), d.state, d.overridden), ("approve", ReviewState::PendingSecond, false));
        let (d, accepted) = decide(true, &[("a", Override, "decline"), ("a", Confirm, "")]);
        assert_eq!(accepted, [true, false]);
        assert_eq!((d.final_decision.as_str(), d.state), ("approve", ReviewState::PendingSecond));
        let (d, _) = decide(true, &[("a", Override, "decline"), ("b", Confirm, "")]);
        assert_eq!((d.final_decision.as_str(), d.state, d.overridden), ("decline", ReviewState::Final, true));
        let (d, _) = decide(true, &[("a", Reverse, ""), ("b", Reverse, "")]);
        assert_eq!((d.final_decision.as_str(), d.state), (REVERSED, ReviewState::Final));
        // A different proposal replaces the pending one; its proposer cannot confirm it.
        let (d, accepted) = decide(true, &[("a", Override, "decline"), ("b", Override, "refer"), ("b", Confirm, "")]);
        assert_eq!(accepted, [true, true, false]);
        assert_eq!((d.final_decision.as_str(), d.state), ("approve", ReviewState::PendingSecond));
        let (d, _) = decide(true, &[("a", Override, "decline"), ("b", Override, "refer"), ("a", Confirm, "")]);
        assert_eq!(d.final_decision, "refer");
        // Confirming the model's own decision needs one reviewer.
        let (d, _) = decide(true, &[("a", Confirm, "")]);
        assert_eq!(d.state, ReviewState::Final);
    }

    #[test]
    fn bad_reviews_name_their_field() {
        let field = |body: Value| ReviewInput::parse(body).unwrap_err().field;
        let reviewer = json!({"reviewer_id": "u-1"});
        assert_eq!(field(json!({"action": "confirm"})), "reviewer");
        assert_eq!(field(json!({"reviewer": {}, "action": "confirm"})), "reviewer.reviewer_id");
        assert_eq!(field(json!({"reviewer": reviewer, "action": "approve"})), "action");
        assert_eq!(field(json!({"reviewer": reviewer})), "action");
        assert_eq!(field(json!({"reviewer": reviewer, "action": "override"})), "final_decision");
        assert_eq!(field(json!({"reviewer": reviewer, "action": "confirm", "reason_codes": "x"})), "reason_codes");
        assert_eq!(
            field(json!({"reviewer": reviewer, "action": "confirm", "reason_codes": ["a", 1]})),
            "reason_codes[1]"
        );
        assert_eq!(
            field(json!({"reviewer": reviewer, "action": "confirm", "reviewed_at": "2026-01-01 10:00"})),
            "reviewed_at"
        );
    }

    #[test]
    fn the_comment_is_redacted_and_a_retry_fingerprints_alike() {
        let body = json!({"review_id": "r-1", "reviewer": {"reviewer_id": "u-1", "name": "Ann"},
                          "action": "override", "final_decision": "decline", "reason_codes": ["R1"],
                          "comment": "called the customer on +44 20 7946 0958"});
        let policy = RedactionPolicy::default();
        let first = ReviewInput::parse(body.clone()).unwrap().prepare(&policy);
        assert!(!first.comment.contains("7946"), "{}", first.comment);
        let again = ReviewInput::parse(body).unwrap().prepare(&policy);
        assert_eq!(first.content_hash, again.content_hash);
    }
}
