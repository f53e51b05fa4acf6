//! `/subjects`: the subject report (`crate::subjects`) as a page that prints cleanly — what a
//! data subject's access request or an adverse-action notice is answered with. Any key that may
//! use the UI; a tenant-bound key sees its tenant only. Viewing it is an access entry.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::timestamp;

use super::format;
use super::{Section, Session, UiError, layout};
use crate::query::query_pairs;
use crate::state::AppState;
use crate::subjects::{MAX_REPORTED, Person, ReportedPrediction, SubjectReport, gather};

pub async fn page(
    session: Session,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let pairs = query_pairs(raw).unwrap_or_default();
    let value =
        |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (subject, actor_id) = (value("subject"), value("actor_id"));
    let person = match (&subject, &actor_id) {
        (None, None) => return Ok(render(&session, None, Ok(None)).into_response()),
        (Some(_), Some(_)) => {
            let body = render(&session, None, Err("Give a subject or an actor id, not both.".into()));
            return Ok((StatusCode::BAD_REQUEST, body).into_response());
        }
        (Some(raw), None) => match state.redaction.subject_token(raw) {
            Some(token) => Person::Subject { token },
            None => {
                let message = "A subject lookup needs a redaction hash key (none is configured).".to_owned();
                return Ok((StatusCode::BAD_REQUEST, render(&session, None, Err(message))).into_response());
            }
        },
        (None, Some(actor_id)) => Person::User { actor_id: actor_id.clone() },
    };
    let report = gather(&state, &session.visibility, &person).await?;
    session.shown(&state, report.predictions.iter().map(|p| p.event.id).collect());
    Ok(render(&session, Some(&person), Ok(Some(report))).into_response())
}

fn render(session: &Session, person: Option<&Person>, report: Result<Option<SubjectReport>, String>) -> Markup {
    layout(
        "Subject report",
        Some(Section::Subjects),
        Some(session),
        html! {
            h1 { "Subject report" }
            form.filters.no-print method="get" action="/subjects" {
                label { "Subject " input type="text" name="subject" placeholder="e.g. an email address" autocomplete="off"; }
                label { "or user actor id " input type="text" name="actor_id" autocomplete="off"; }
                button type="submit" { "Report" }
            }
            p.hint.no-print {
                "Every prediction about one person: by a raw identifier that redaction pseudonymized (looked up by its "
                "token; the raw value is neither stored nor logged), or as the requesting user. Print this page (or "
                "save it as PDF) to answer an access request."
            }
            @match report {
                Err(message) => p.error role="alert" { (message) },
                Ok(None) => {},
                Ok(Some(report)) => (report_body(person, &report)),
            }
        },
    )
}

fn report_body(person: Option<&Person>, report: &SubjectReport) -> Markup {
    html! {
        section #report aria-labelledby="h-report" {
            h2 #h-report {
                @match person {
                    Some(Person::Subject { token }) => { "Predictions about subject " code { (token) } },
                    Some(Person::User { actor_id }) => { "Predictions requested by user " code { (actor_id) } },
                    None => "Predictions",
                }
            }
            p.hint {
                "Generated " (format::timestamp(timestamp::now())) " UTC · " (report.predictions.len()) " prediction(s)"
                @if report.truncated { " — the newest " (MAX_REPORTED) " are listed; more exist" }
            }
            @if report.predictions.is_empty() {
                p.empty { "No prediction is recorded about this person." }
            }
            @for reported in &report.predictions { (prediction(reported)) }
        }
    }
}

fn prediction(reported: &ReportedPrediction) -> Markup {
    let p = &reported.event;
    html! {
        article.report-item data-prediction=(p.id) {
            @if let Some(mark) = &p.erased {
                h3 { code { (p.id) } " " span.badge.erased { "erased" } }
                p { "Erased " (format::timestamp(mark.at)) " UTC: " (mark.reason) ". Its content is gone; what an erasure keeps is shown." }
            } @else {
                h3 { a href=(format!("/predictions/{}", p.id)) { code { (p.prediction_id) } } }
            }
            dl {
                dt { "When" } dd { (format::timestamp(p.timestamp)) " UTC" }
                dt { "Model" } dd { (p.model.model_name) " " (p.model.version) }
                dt { "Decision" } dd.decision { @if p.decision_outcome.is_empty() { "—" } @else { (p.decision_outcome) } " · confidence " (format::confidence(p.confidence)) }
                dt { "Final decision" } dd.final-decision { (p.decision.final_decision) " " span.badge.(format!("review-{}", p.decision.state)) { (p.decision.state) } }
            }
            @if !reported.reasons.is_empty() {
                h4 { "Principal reasons" }
                ol.reasons {
                    @for reason in &reported.reasons {
                        li { strong { (reason.feature) } " — " (reason.direction) " the score (" (format!("{:+.4}", reason.attribution)) ")" }
                    }
                }
            } @else if p.erased.is_none() {
                p.hint { "No explanation with feature attributions is attached." }
            }
            @if !reported.outcomes.is_empty() {
                h4 { "Outcomes" }
                ul { @for o in &reported.outcomes {
                    li { (o.label.as_deref().unwrap_or("")) @if let Some(v) = o.value { " " (v) } " · " (o.source) " · observed " (format::timestamp(o.observed_at)) }
                } }
            }
            @if !p.reviews.is_empty() {
                h4 { "Reviews" }
                ul { @for r in &p.reviews {
                    li { (r.action) " by " (r.reviewer_name) " (" (r.reviewer_id) ") · " (format::timestamp(r.reviewed_at))
                        @if !r.final_decision.is_empty() { " → " strong { (r.final_decision) } }
                        @if !r.comment.is_empty() { ": " (r.comment) } }
                } }
            }
            h4 { "Seen by" }
            @if reported.seen.is_empty() {
                p.hint { "Nobody has been shown it through ml-audit." }
            } @else {
                ul.seen { @for e in &reported.seen {
                    li { (format::timestamp(e.at)) " · "
                        @match e.reader.key_id { Some(_) => { (e.reader.key_name) " (" (e.reader.scope) " key)" }, None => { (e.reader.operator) " (command line)" } }
                        " · " (e.action) " via " (e.channel) }
                } }
            }
        }
    }
}
