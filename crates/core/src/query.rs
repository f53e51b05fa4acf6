//! The list query: filters and keyset paging, parsed from query-string pairs.
//!
//! Every parameter is checked: an unknown name, a repeated name or a bad value is an error that
//! names the parameter. Nothing is ever silently ignored (django-ml-audit ignored bad filters).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldError;
use crate::event::{MAX_SHORT_TEXT, check_text};
use crate::model::{ActorType, ReviewState, Status};
use crate::timestamp;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;

/// Filters of `GET /api/v1/predictions`; every one that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictionFilter {
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    pub actor_type: Option<ActorType>,
    pub actor_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Inclusive.
    pub time_from: Option<OffsetDateTime>,
    /// Inclusive.
    pub time_to: Option<OffsetDateTime>,
    pub decision_outcome: Option<String>,
    pub environment: Option<String>,
    pub has_explanation: Option<bool>,
    pub status: Option<Status>,
    /// Inclusive.
    pub min_confidence: Option<f64>,
    /// Inclusive.
    pub max_confidence: Option<f64>,
    pub trace_id: Option<String>,
    /// A subject's pseudonym token (`pii_…`): predictions whose `hash` redactions produced it.
    /// Never the raw value: `parse_list_query` reads the raw `subject` parameter into it, and
    /// the server replaces it by its token (`RedactionPolicy::subject_token`) before any query.
    pub subject: Option<String>,
    /// Whether a prediction has an outcome.
    pub has_outcome: Option<bool>,
    /// The label of the current outcome.
    pub outcome_label: Option<String>,
    pub reviewed: Option<bool>,
    /// Whether an effective override or reverse changed the decision.
    pub overridden: Option<bool>,
    /// The decision in force after review (the model's when no review changed it).
    pub final_decision: Option<String>,
    pub review_state: Option<ReviewState>,
}

impl PredictionFilter {
    /// Whether the filter names a review or outcome condition that only predictions with a
    /// state row (an outcome or a review) can meet: the list then walks that state's indexes.
    pub fn needs_state(&self) -> bool {
        self.has_outcome == Some(true)
            || self.outcome_label.is_some()
            || self.reviewed == Some(true)
            || self.overridden == Some(true)
            || self.review_state.is_some_and(|state| state != ReviewState::None)
    }
}

/// One page of a newest-first listing: at most `limit` rows strictly after `after`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, after: None }
    }
}

/// A position in the (`timestamp` desc, `id` desc) order. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", timestamp::to_unix_micros(self.timestamp), self.id.simple()))
    }

    /// The cursor in the query parameter `name`, or the error that names it.
    pub fn parse(name: &str, text: &str) -> Result<Self, FieldError> {
        Self::decode(text)
            .ok_or_else(|| FieldError::new(name, "is not a cursor returned by this API (use next_cursor as given)"))
    }

    pub fn decode(text: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (micros, id) = raw.split_once('.')?;
        Some(Cursor { timestamp: timestamp::from_unix_micros(micros.parse().ok()?)?, id: Uuid::try_parse(id).ok()? })
    }
}

/// A page of results and the cursor for the next one, if there may be more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

/// Parses the list query. Pairs are already percent-decoded.
pub fn parse_list_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(PredictionFilter, PageRequest), FieldError> {
    let mut filter = PredictionFilter::default();
    let mut page = PageRequest::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        if seen.contains(&name) {
            return Err(FieldError::new(name, "is given more than once"));
        }
        seen.push(name);
        let text = || check_text(name, value.to_owned(), MAX_SHORT_TEXT).map(Some);
        match name {
            "model_name" => filter.model_name = text()?,
            "model_version" => filter.model_version = text()?,
            "actor_type" => filter.actor_type = Some(ActorType::parse(value).map_err(|m| FieldError::new(name, m))?),
            "actor_id" => filter.actor_id = text()?,
            "tenant_id" => filter.tenant_id = text()?,
            "time_from" => filter.time_from = Some(parse_time(name, value)?),
            "time_to" => filter.time_to = Some(parse_time(name, value)?),
            "decision_outcome" => filter.decision_outcome = text()?,
            "environment" => filter.environment = text()?,
            "has_explanation" => filter.has_explanation = Some(parse_bool(name, value)?),
            "status" => filter.status = Some(Status::parse(value).map_err(|m| FieldError::new(name, m))?),
            "min_confidence" => filter.min_confidence = Some(parse_confidence(name, value)?),
            "max_confidence" => filter.max_confidence = Some(parse_confidence(name, value)?),
            "trace_id" => filter.trace_id = text()?,
            "subject" => filter.subject = text()?,
            "has_outcome" => filter.has_outcome = Some(parse_bool(name, value)?),
            "outcome_label" => filter.outcome_label = text()?,
            "reviewed" => filter.reviewed = Some(parse_bool(name, value)?),
            "overridden" => filter.overridden = Some(parse_bool(name, value)?),
            "final_decision" => filter.final_decision = text()?,
            "review_state" => {
                filter.review_state = Some(ReviewState::parse(value).map_err(|m| FieldError::new(name, m))?)
            }
            "limit" => page.limit = parse_limit(value)?,
            "cursor" => page.after = Some(Cursor::parse(name, value)?),
            _ => return Err(FieldError::new(name, "is not a known query parameter")),
        }
    }
    check_time_window(filter.time_from, filter.time_to)?;
    if let (Some(min), Some(max)) = (filter.min_confidence, filter.max_confidence)
        && min > max
    {
        return Err(FieldError::new("min_confidence", "must not be greater than max_confidence"));
    }
    Ok((filter, page))
}

/// A window given as `time_from` and `time_to` must not end before it starts.
pub(crate) fn check_time_window(from: Option<OffsetDateTime>, to: Option<OffsetDateTime>) -> Result<(), FieldError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(FieldError::new("time_from", "must not be later than time_to")),
        _ => Ok(()),
    }
}

/// Rejects every parameter: for endpoints that take none.
pub fn parse_no_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), FieldError> {
    match pairs.into_iter().next() {
        None => Ok(()),
        Some((name, _)) => Err(FieldError::new(name, "is not a known query parameter")),
    }
}

pub(crate) fn parse_time(name: &str, value: &str) -> Result<OffsetDateTime, FieldError> {
    timestamp::parse_rfc3339(value).map_err(|message| FieldError::new(name, message))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, FieldError> {
    match value {
        "true" | "True" | "1" => Ok(true),
        "false" | "False" | "0" => Ok(false),
        _ => Err(FieldError::new(name, "must be true or false")),
    }
}

fn parse_confidence(name: &str, value: &str) -> Result<f64, FieldError> {
    match value.trim().parse::<f64>() {
        Ok(number) if (0.0..=1.0).contains(&number) => Ok(number),
        _ => Err(FieldError::new(name, "must be a number from 0 to 1")),
    }
}

pub(crate) fn parse_limit(value: &str) -> Result<u32, FieldError> {
    match value.parse::<u32>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<(PredictionFilter, PageRequest), FieldError> {
        parse_list_query(pairs.iter().copied())
    }

    #[test]
    fn every_filter_is_parsed() {
        let (filter, page) = parse(&[
            ("model_name", "fraud"),
            ("actor_type", "service"),
            ("time_from", "2026-11-01T00:00:00Z"),
            ("has_explanation", "false"),
            ("status", "partial"),
            ("min_confidence", "0.2"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(filter.model_name.as_deref(), Some("fraud"));
        assert_eq!(filter.actor_type, Some(ActorType::Service));
        assert_eq!(filter.has_explanation, Some(false));
        assert_eq!(filter.status, Some(Status::Partial));
        assert_eq!(filter.min_confidence, Some(0.2));
        assert_eq!(page.limit, 10);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (name, value) in [
            ("limit", "0"),
            ("limit", "100000"),
            ("limit", "ten"),
            ("time_from", "2026-11-01"),
            ("time_to", "2026-11-01T00:00:00"),
            ("has_explanation", "maybe"),
            ("min_confidence", "1.5"),
            ("max_confidence", "NaN"),
            ("status", "ok"),
            ("actor_type", "robot"),
            ("cursor", "not-a-cursor"),
            ("trace_id", "a\0b"),
            ("colour", "blue"),
        ] {
            assert_eq!(parse(&[(name, value)]).unwrap_err().field, name, "{name}={value}");
        }
        assert_eq!(parse(&[("status", "failed"), ("status", "success")]).unwrap_err().field, "status");
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor { timestamp: timestamp::now(), id: Uuid::now_v7() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }
}
