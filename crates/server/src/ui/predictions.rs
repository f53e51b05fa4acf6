//! `/predictions`: the filterable, keyset-paged list, with django-ml-audit's admin columns.

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::model::{ActorType, ErasureMark, PredictionEvent, ReviewState, Status};
use ml_audit_core::query::parse_list_query;
use ml_audit_storage::{PredictionRef, StorageError};

use super::Column::{Num, Text};
use super::format::{self, query};
use super::{Section, Session, UiError, layout, list_table};
use crate::query::query_pairs;
use crate::state::AppState;

const PAGE_SIZES: &[&str] = &["25", "50", "100", "200"];

/// The review states a filter can ask for, as (value, shown).
const REVIEW_STATES: &[(&str, &str)] =
    &[("none", "not reviewed"), ("pending_second", "pending second review"), ("final", "reviewed (final)")];

/// The form's values as given (for showing them again), without empty ones.
struct FormValues(Vec<(String, String)>);

impl FormValues {
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// The query string of these filters with another cursor (or none).
    fn with_cursor(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> =
            self.0.iter().filter(|(n, _)| n != "cursor").map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor));
        }
        format!("/predictions{}", query(pairs))
    }
}

/// `2026-11-27T08:00` from a `datetime-local` input is taken as UTC; RFC 3339 passes as is.
fn as_rfc3339(value: &str) -> String {
    let bytes = value.as_bytes();
    let local = bytes.len() >= 16 && bytes[10] == b'T' && !value.ends_with('Z') && !value[10..].contains(['+', '-']);
    match (local, value.len()) {
        (true, 16) => format!("{value}:00Z"),
        (true, _) => format!("{value}Z"),
        _ => value.to_owned(),
    }
}

pub async fn page(
    session: Session,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let models = state.predictions.list_models().await?;
    let pairs = match query_pairs(raw) {
        Ok(pairs) => pairs,
        Err(_) => {
            let values = FormValues(Vec::new());
            let body = render(&session, &values, &models, Err("The query string is not valid UTF-8.".into()));
            return Ok((StatusCode::BAD_REQUEST, body).into_response());
        }
    };
    let values = FormValues(
        pairs
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| (name, value.trim().to_owned()))
            .collect(),
    );
    let search = values.get("q").to_owned();
    let mut api_pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in &values.0 {
        match name.as_str() {
            "q" => {}
            "time_from" | "time_to" => api_pairs.push((name.clone(), as_rfc3339(value))),
            _ => api_pairs.push((name.clone(), value.clone())),
        }
    }
    if !search.is_empty() && values.get("trace_id").is_empty() {
        api_pairs.push(("trace_id".into(), search.clone()));
    }
    let parsed = parse_list_query(api_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (mut filter, page) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let message = format!("The filter {} {}.", error.field, error.message);
            return Ok((StatusCode::BAD_REQUEST, render(&session, &values, &models, Err(message))).into_response());
        }
    };
    // A raw subject is looked up by its pseudonym token only, as in the API.
    if let Some(raw) = filter.subject.take() {
        match state.redaction.subject_token(&raw) {
            Some(token) => filter.subject = Some(token),
            None => {
                let message = "The filter subject needs a redaction hash key (none is configured).".to_owned();
                return Ok((StatusCode::BAD_REQUEST, render(&session, &values, &models, Err(message))).into_response());
            }
        }
    }
    let mut found = state.predictions.list_predictions(&session.visibility, &filter, &page).await?;
    // A search is also an exact prediction_id or id: that prediction comes first.
    if !search.is_empty() && page.after.is_none() {
        match state.predictions.get_prediction(&session.visibility, &PredictionRef(search.clone())).await {
            Ok(exact) if !found.items.iter().any(|p| p.id == exact.id) => found.items.insert(0, exact),
            Ok(_) | Err(StorageError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    session.shown(&state, found.items.iter().map(|p| p.id).collect());
    let next = found.next_cursor.map(|cursor| cursor.encode());
    Ok(render(&session, &values, &models, Ok((found.items, next))).into_response())
}

type Listing = Result<(Vec<PredictionEvent>, Option<String>), String>;

fn render(
    session: &Session,
    values: &FormValues,
    models: &[ml_audit_core::model::ModelVersion],
    listing: Listing,
) -> Markup {
    let names: BTreeSet<&str> = models.iter().map(|m| m.model_name.as_str()).collect();
    let versions: BTreeSet<&str> = models.iter().map(|m| m.version.as_str()).collect();
    let paged = !values.get("cursor").is_empty();
    layout(
        "Predictions",
        Some(Section::Predictions),
        Some(session),
        html! {
            h1 { "Predictions" }
            form.filters method="get" action="/predictions" role="search" aria-label="Filter predictions" {
                div.search {
                    label for="q" { "Search" }
                    input #q type="search" name="q" value=(values.get("q")) placeholder="prediction_id, id or trace_id";
                    button type="submit" { "Apply" }
                    a.button.secondary href="/predictions" { "Reset" }
                }
                details open[has_filters(values)] {
                    summary { "Filters" }
                    div.grid {
                        (select("model_name", "Model", values, names.iter().map(|n| (*n, *n))))
                        (select("model_version", "Version", values, versions.iter().map(|v| (*v, *v))))
                        (select("actor_type", "Actor type", values, ActorType::ALL.iter().map(|t| (t.as_str(), t.as_str()))))
                        (text("actor_id", "Actor id", values, "text"))
                        @if session.is_tenant_bound() {
                            div.field {
                                label for="tenant_id" { "Tenant" }
                                input #tenant_id type="text" value=(session.key.tenant_id.as_deref().unwrap_or("")) disabled;
                            }
                        } @else {
                            (text("tenant_id", "Tenant", values, "text"))
                        }
                        (text("time_from", "From (UTC)", values, "datetime-local"))
                        (text("time_to", "To (UTC)", values, "datetime-local"))
                        (text("decision_outcome", "Outcome", values, "text"))
                        (text("environment", "Environment", values, "text"))
                        (select("status", "Status", values, Status::ALL.iter().map(|s| (s.as_str(), s.as_str()))))
                        (select("has_explanation", "Explanation", values, [("true", "with"), ("false", "without")].into_iter()))
                        (number("min_confidence", "Min confidence", values))
                        (number("max_confidence", "Max confidence", values))
                        (text("trace_id", "Trace id", values, "text"))
                        (text("subject", "Subject (hashed identifier)", values, "text"))
                        (select("has_outcome", "Ground truth", values, [("true", "with an outcome"), ("false", "without")].into_iter()))
                        (text("outcome_label", "Outcome label", values, "text"))
                        (select("reviewed", "Reviewed", values, [("true", "yes"), ("false", "no")].into_iter()))
                        (select("overridden", "Overridden", values, [("true", "yes"), ("false", "no")].into_iter()))
                        (text("final_decision", "Final decision", values, "text"))
                        (select("review_state", "Review state", values, REVIEW_STATES.iter().copied()))
                        div.field {
                            label for="limit" { "Per page" }
                            select #limit name="limit" {
                                @for size in PAGE_SIZES {
                                    option value=(size) selected[values.get("limit") == *size || (values.get("limit").is_empty() && *size == "50")] { (size) }
                                }
                            }
                        }
                    }
                }
            }
            @match listing {
                Err(message) => p.error role="alert" { (message) },
                Ok((items, next)) => {
                    @if items.is_empty() {
                        p.empty { "No predictions match." }
                    } @else {
                        div.table-wrap {
                            (list_table("predictions", "Predictions, newest first", &[
                                Text("Prediction"), Text("Model"), Text("Version"), Text("Actor"), Text("Tenant"),
                                Text("Outcome"), Text("Final decision"), Text("Ground truth"), Num("Confidence"), Text("Status"),
                                Text("Timestamp (UTC)"), Text("Explanation"),
                            ], html! { @for p in &items { (row(p)) } }))
                        }
                    }
                    nav.pager aria-label="Pages" {
                        @if paged {
                            a href=(values.with_cursor(None)) { "↺ Newest" }
                        }
                        @if let Some(next) = next {
                            a rel="next" href=(values.with_cursor(Some(&next))) { "Older →" }
                        }
                    }
                }
            }
        },
    )
}

fn has_filters(values: &FormValues) -> bool {
    values.0.iter().any(|(name, _)| !matches!(name.as_str(), "q" | "cursor" | "limit"))
}

pub fn row(p: &PredictionEvent) -> Markup {
    if let Some(mark) = &p.erased {
        return erased_row(p, mark);
    }
    html! {
        tr {
            td { a href=(format!("/predictions/{}", p.id)) { (p.prediction_id) } }
            td { (p.model.model_name) }
            td { (p.model.version) }
            td { @if let Some(actor) = &p.actor { (actor.actor_type) ":" (actor.actor_id) } @else { "—" } }
            td { (p.tenant_id()) }
            td { @if !p.decision_outcome.is_empty() { span.badge.outcome { (p.decision_outcome) } } }
            td.decision data-review-state=(p.decision.state) {
                @if p.decision.state == ReviewState::None {
                    span.no title="Not reviewed: the model's decision stands" { "—" }
                } @else {
                    @if p.decision.final_decision.is_empty() { "—" } @else { (p.decision.final_decision) }
                    @if p.decision.overridden { " " span.badge.overridden title=(format!("Overridden: the model decided {}", p.decision_outcome)) { "overridden" } }
                    " " (format::review_state_short(p.decision.state))
                }
            }
            td { @match &p.outcome {
                Some(o) => @if let Some(label) = o.label.as_deref().filter(|l| !l.is_empty()) {
                    (label)
                    @if !p.decision_outcome.is_empty() {
                        @if label == p.decision_outcome { " " span.yes title="As the model decided" { "✓" } }
                        @else { " " span.miss title=(format!("The model decided {}", p.decision_outcome)) { "✗" } }
                    }
                } @else if let Some(value) = o.value { "value " (value) } @else { "recorded" },
                None => span.no { "—" },
            } }
            td.num { (format::confidence(p.confidence)) }
            td { span.badge.(format!("status-{}", p.status)) { (p.status) } }
            td { (format::timestamp(p.timestamp)) }
            td { @if let Some(e) = &p.explanation { span.yes title=(format!("{} (revision {})", e.method, e.revision)) { "✓ " (e.method) } } @else { span.no { "—" } } }
        }
    }
}

/// An erased prediction's row: what an erasure keeps, the rest marked erased. Its
/// `prediction_id` no longer names it (as in the API), so the link is by `id`.
fn erased_row(p: &PredictionEvent, mark: &ErasureMark) -> Markup {
    let erased = html! { span.badge.erased title=(format!("Erased by erasure {}: {}", mark.erasure_id, mark.reason)) { "erased" } };
    html! {
        tr.erased data-erasure=(mark.erasure_id) {
            td { a href=(format!("/predictions/{}", p.id)) { code { (p.id) } } " " (erased) }
            td { (p.model.model_name) }
            td { (p.model.version) }
            td { span.no { "erased" } }
            td { @if p.tenant_id().is_empty() { "—" } @else { (p.tenant_id()) } }
            td { @if !p.decision_outcome.is_empty() { span.badge.outcome { (p.decision_outcome) } } }
            td { span.no title="Its reviews were erased" { "—" } }
            td { span.no title="Its outcomes were erased" { "—" } }
            td.num { (format::confidence(p.confidence)) }
            td { span.badge.(format!("status-{}", p.status)) { (p.status) } }
            td { (format::timestamp(p.timestamp)) }
            td { @if p.explanation.is_some() { span.no { "erased" } } @else { span.no { "—" } } }
        }
    }
}

fn text(name: &str, label: &str, values: &FormValues, kind: &str) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) type=(kind) name=(name) value=(values.get(name));
        }
    }
}

fn number(name: &str, label: &str, values: &FormValues) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) type="number" name=(name) min="0" max="1" step="any" value=(values.get(name));
        }
    }
}

fn select<'a>(
    name: &str,
    label: &str,
    values: &FormValues,
    options: impl Iterator<Item = (&'a str, &'a str)>,
) -> Markup {
    let current = values.get(name);
    html! {
        div.field {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" { "any" }
                @for (value, shown) in options {
                    option value=(value) selected[current == value] { (shown) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::as_rfc3339;

    #[test]
    fn local_times_are_taken_as_utc() {
        assert_eq!(as_rfc3339("2026-11-27T08:00"), "2026-11-27T08:00:00Z");
        assert_eq!(as_rfc3339("2026-11-27T08:00:30"), "2026-11-27T08:00:30Z");
        assert_eq!(as_rfc3339("2026-11-27T08:00:00+02:00"), "2026-11-27T08:00:00+02:00");
        assert_eq!(as_rfc3339("2026-11-27T08:00:00Z"), "2026-11-27T08:00:00Z");
        assert_eq!(as_rfc3339("garbage"), "garbage");
    }
}
