//! `/predictions/{ref}`: one prediction, everything an investigator needs to answer "why, by
//! which model version, for whom": the model, the actor, the (redacted) features, the output,
//! the explanation as a chart, its earlier revisions, the final decision after human review, a
//! timeline of what happened to it (explanations, outcomes, reviews), and the ledger entry.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::model::{ErasureMark, Explanation, Outcome, PredictionEvent, Review, ReviewAction, ReviewState};
use ml_audit_storage::{PredictionRef, StorageError};
use serde_json::Value;
use time::OffsetDateTime;

use ml_audit_core::reasons::{attributions, by_magnitude};

use super::charts::attribution_chart;
use super::format::{self, query};
use super::{Section, Session, UiError, layout, not_found};
use crate::body::PredictionPath;
use crate::error::ApiError;
use crate::state::AppState;

/// Bars drawn in the attribution chart; the rest are summed up below it.
const MAX_BARS: usize = 15;

pub async fn page(
    session: Session,
    State(state): State<AppState>,
    reference: Result<PredictionPath, ApiError>,
) -> Result<Response, UiError> {
    let Ok(PredictionPath { reference }) = reference else {
        return Ok(not_found(&session, "prediction"));
    };
    let p = match state.predictions.get_prediction(&session.visibility, &reference).await {
        Ok(p) => p,
        Err(StorageError::NotFound(_)) => return Ok(not_found(&session, "prediction")),
        Err(other) => return Err(other.into()),
    };
    let seen = super::access::seen_panel(&session, &state, p.id).await?;
    session.shown(&state, vec![p.id]);
    if let Some(mark) = &p.erased {
        return Ok(render_erased(&session, &p, mark, seen).into_response());
    }
    let by_id = PredictionRef(p.id.to_string());
    let revisions = state.predictions.list_explanations(&session.visibility, &by_id).await?;
    let outcomes = match p.outcome {
        Some(_) => state.outcomes.list_outcomes(&session.visibility, &by_id).await?,
        None => Vec::new(),
    };
    Ok(render(&session, &p, &revisions, &outcomes, seen).into_response())
}

fn render(
    session: &Session,
    p: &PredictionEvent,
    revisions: &[Explanation],
    outcomes: &[Outcome],
    seen: Markup,
) -> Markup {
    let current = p.explanation.as_ref().map(|e| e.revision);
    let earlier: Vec<&Explanation> = revisions.iter().rev().filter(|e| Some(e.revision) != current).collect();
    layout(
        &format!("Prediction {}", p.prediction_id),
        Some(Section::Predictions),
        Some(session),
        html! {
            nav.crumbs aria-label="Breadcrumb" { a href="/predictions" { "Predictions" } " / " }
            h1 { "Prediction " code { (p.prediction_id) } }
            p.lede {
                span.badge.(format!("status-{}", p.status)) { (p.status) }
                @if !p.decision_outcome.is_empty() { " " span.badge.outcome.big { (p.decision_outcome) } }
                " by " strong { (p.model.model_name) " " (p.model.version) }
                @if let Some(actor) = &p.actor {
                    " for " strong { (actor.actor_type) ":" (actor.actor_id) }
                    @if !actor.tenant_id.is_empty() { " of tenant " strong { (actor.tenant_id) } }
                }
                " at " (format::timestamp(p.timestamp)) " UTC"
            }
            (final_decision(p))
            div.cards {
                section.card aria-labelledby="h-decision" {
                    h2 #h-decision { "Decision" }
                    dl {
                        dt { "Outcome" } dd { @if p.decision_outcome.is_empty() { "—" } @else { (p.decision_outcome) } }
                        dt { "Confidence" } dd { (format::confidence(p.confidence)) }
                        dt { "Status" } dd { (p.status) }
                        dt { "Ground truth" } dd #current-outcome {
                            @match &p.outcome {
                                Some(o) => { (outcome_value(o)) " · " (o.source) }
                                None => span.no { "none yet" },
                            }
                        }
                        dt { "Latency" } dd { @if let Some(ms) = p.latency_ms { (format!("{ms:.1} ms")) } @else { "—" } }
                        dt { "Environment" } dd { @if p.environment.is_empty() { "—" } @else { (p.environment) } }
                        dt { "Trace id" } dd {
                            @if p.trace_id.is_empty() { "—" } @else {
                                a href=(format!("/predictions{}", query([("trace_id", p.trace_id.as_str())]))) { code { (p.trace_id) } }
                            }
                        }
                        dt { "id" } dd { code { (p.id) } }
                        dt { "Input fingerprint" } dd { @if p.input_fingerprint.is_empty() { "—" } @else { code { (p.input_fingerprint) } } }
                        dt { "Recorded" } dd { (format::timestamp(p.created_at)) }
                    }
                }
                (model_card(p))
                section.card aria-labelledby="h-actor" {
                    h2 #h-actor { "Requested by" }
                    @if let Some(actor) = &p.actor {
                        dl {
                            dt { "Actor" } dd {
                                a href=(format!("/predictions{}", query([("actor_type", actor.actor_type.as_str()), ("actor_id", actor.actor_id.as_str())]))) {
                                    (actor.actor_type) ":" (actor.actor_id)
                                }
                            }
                            dt { "Tenant" } dd { @if actor.tenant_id.is_empty() { "—" } @else { (actor.tenant_id) } }
                            dt { "IP address" } dd { (actor.ip_address.as_deref().unwrap_or("—")) }
                            dt { "User agent" } dd { @if actor.user_agent.is_empty() { "—" } @else { (actor.user_agent) } }
                        }
                        @if let Some(context) = &actor.auth_context {
                            details { summary { "Auth context" } pre { (format::pretty(context)) } }
                        }
                    } @else {
                        p.empty { "No actor was recorded." }
                    }
                }
            }
            (timeline(p, revisions, outcomes))
            section aria-labelledby="h-explanation" {
                h2 #h-explanation { "Explanation" }
                @match &p.explanation {
                    None => p.empty { "No explanation is attached to this prediction." },
                    Some(e) => (explanation(e, revisions.len())),
                }
            }
            @if !earlier.is_empty() {
                section aria-labelledby="h-revisions" {
                    h2 #h-revisions { "Earlier explanation revisions" }
                    p.hint { "Attaching an explanation again never overwrites: each earlier revision stays on record." }
                    ol.revisions reversed {
                        @for e in &earlier {
                            li value=(e.revision) {
                                strong { "Revision " (e.revision) } " · " (e.method)
                                @if !e.method_version.is_empty() { " " (e.method_version) }
                                " · " (e.status) " · generated " (format::timestamp(e.generated_at))
                                @if !e.summary_text.is_empty() { p { (e.summary_text) } }
                                details { summary { "Payload" } pre { (format::pretty(&e.payload)) } }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="h-features" {
                h2 #h-features { "Features" }
                (document_table("features", &p.features, &p.redactions, "Features as stored, after redaction"))
            }
            section aria-labelledby="h-output" {
                h2 #h-output { "Output" }
                pre.output { (format::pretty(&p.output)) }
            }
            section aria-labelledby="h-metadata" {
                h2 #h-metadata { "Metadata" }
                @if p.metadata.as_object().is_some_and(|m| m.is_empty()) {
                    p.empty { "No metadata." }
                } @else {
                    (document_table("metadata", &p.metadata, &p.metadata_redactions, "Metadata as stored, after redaction"))
                }
            }
            (ledger_section(p))
            (seen)
        },
    )
}

/// An erased prediction: the banner saying when, by which erasure and why; what the erasure
/// kept (id, timestamp, model version, status, outcome, confidence, ledger entry); the rest
/// marked erased, never shown as the blanks its columns now hold.
fn render_erased(session: &Session, p: &PredictionEvent, mark: &ErasureMark, seen: Markup) -> Markup {
    let erased = || html! { span.badge.erased title="Destroyed by an erasure" { "erased" } };
    layout(
        &format!("Prediction {} (erased)", p.id),
        Some(Section::Predictions),
        Some(session),
        html! {
            nav.crumbs aria-label="Breadcrumb" { a href="/predictions" { "Predictions" } " / " }
            h1 { "Prediction " code { (p.id) } " " span.badge.erased.big { "erased" } }
            div.erased-banner #erased role="note" data-erasure=(mark.erasure_id) {
                p.erased-line {
                    strong { "Erased " (format::timestamp(mark.at)) " UTC" } " by erasure "
                    a href=(format!("/erasures#erasure-{}", mark.erasure_id)) { code { (mark.erasure_id) } }
                    ": " span.erasure-reason { (mark.reason) }
                }
                p {
                    "Its personal content (features, output, metadata, trace id, environment, input fingerprint, "
                    "the actor's identity and request context, every explanation, outcome and review) was destroyed. "
                    "What is shown below is what an erasure keeps. Its ledger leaf stays, so every checkpoint and "
                    "proof still verifies, and the leaf reveals nothing of what was erased."
                }
            }
            p.lede {
                span.badge.(format!("status-{}", p.status)) { (p.status) }
                @if !p.decision_outcome.is_empty() { " " span.badge.outcome.big { (p.decision_outcome) } }
                " by " strong { (p.model.model_name) " " (p.model.version) }
                " at " (format::timestamp(p.timestamp)) " UTC"
            }
            div.cards {
                section.card aria-labelledby="h-decision" {
                    h2 #h-decision { "Decision" }
                    dl {
                        dt { "Outcome" } dd { @if p.decision_outcome.is_empty() { "—" } @else { (p.decision_outcome) } }
                        dt { "Confidence" } dd { (format::confidence(p.confidence)) }
                        dt { "Status" } dd { (p.status) }
                        dt { "Latency" } dd { (erased()) }
                        dt { "Environment" } dd { (erased()) }
                        dt { "Trace id" } dd { (erased()) }
                        dt { "prediction_id" } dd { (erased()) }
                        dt { "id" } dd { code { (p.id) } }
                        dt { "Input fingerprint" } dd { (erased()) }
                        dt { "Recorded" } dd { (format::timestamp(p.created_at)) }
                    }
                }
                (model_card(p))
                section.card aria-labelledby="h-actor" {
                    h2 #h-actor { "Requested by" }
                    dl {
                        dt { "Actor" } dd { (erased()) }
                        dt { "Tenant" } dd #erased-tenant {
                            @if p.tenant_id().is_empty() {
                                span title="The tenant stays on the record (its visibility is unchanged) but is not read back with an erased actor" { "—" }
                            } @else { (p.tenant_id()) }
                        }
                        dt { "IP address" } dd { (erased()) }
                        dt { "User agent" } dd { (erased()) }
                    }
                }
            }
            section aria-labelledby="h-explanation" {
                h2 #h-explanation { "Explanation" }
                p.empty { "Erased, with every earlier revision." }
            }
            section aria-labelledby="h-features" {
                h2 #h-features { "Features" }
                p.erased-part #features-erased { (erased()) " The features (after redaction) were destroyed." }
            }
            section aria-labelledby="h-output" {
                h2 #h-output { "Output" }
                p.erased-part { (erased()) " The model's output was destroyed; the outcome and confidence above stay." }
            }
            section aria-labelledby="h-metadata" {
                h2 #h-metadata { "Metadata" }
                p.erased-part { (erased()) }
            }
            (ledger_section(p))
            (seen)
        },
    )
}

/// The decision in force after human review, where the review stands, and whether a review
/// changed the model's decision.
fn final_decision(p: &PredictionEvent) -> Markup {
    let d = &p.decision;
    // What waits: the latest review, a change or an escalation (a confirm would have settled it).
    let pending = p.reviews.last().filter(|r| r.action != ReviewAction::Confirm);
    html! {
        p.final-decision #final-decision data-review-state=(d.state) data-overridden=(d.overridden) {
            "Final decision: "
            strong #final-decision-value { @if d.final_decision.is_empty() { "—" } @else { (d.final_decision) } }
            " " (format::review_state(d.state))
            @if d.overridden {
                " " span.badge.overridden title="A review changed the model's decision" { "overridden" }
                " " span.meta { "(the model decided " @if p.decision_outcome.is_empty() { "nothing" } @else { (p.decision_outcome) } ")" }
            }
            @if d.state == ReviewState::PendingSecond {
                @if let Some(r) = pending {
                    " " span.meta {
                        "(" (reviewer(r)) "'s " (r.action) @if !r.final_decision.is_empty() { " to " strong { (r.final_decision) } }
                        " waits for a second reviewer)"
                    }
                }
            }
        }
    }
}

/// One event of a prediction's history.
enum Event<'a> {
    Prediction,
    Explanation(&'a Explanation),
    Outcome(&'a Outcome),
    Review(&'a Review),
}

/// The prediction, each explanation revision, each outcome and each review, oldest first (by
/// when each happened: generated, observed, reviewed; ties in the order they were recorded).
fn timeline(p: &PredictionEvent, revisions: &[Explanation], outcomes: &[Outcome]) -> Markup {
    let mut events: Vec<(OffsetDateTime, u8, u32, Event<'_>)> = vec![(p.timestamp, 0, 0, Event::Prediction)];
    events.extend(revisions.iter().map(|e| (e.generated_at, 1, e.revision, Event::Explanation(e))));
    events.extend(outcomes.iter().map(|o| (o.observed_at, 2, o.position, Event::Outcome(o))));
    events.extend(p.reviews.iter().map(|r| (r.reviewed_at, 3, r.position, Event::Review(r))));
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let current_explanation = p.explanation.as_ref().map(|e| e.revision);
    let current_outcome = p.outcome.as_ref().map(|o| o.id);
    html! {
        section #timeline aria-labelledby="h-timeline" {
            h2 #h-timeline { "Timeline" }
            p.hint {
                (revisions.len()) @if revisions.len() == 1 { " explanation" } @else { " explanations" } ", "
                (outcomes.len()) @if outcomes.len() == 1 { " outcome" } @else { " outcomes" } ", "
                (p.reviews.len()) @if p.reviews.len() == 1 { " review" } @else { " reviews" }
                "; each is on record and sealed in the ledger, none is ever overwritten."
            }
            ol.timeline {
                @for (at, _, _, event) in &events {
                    @match event {
                        Event::Prediction => li.event.event-prediction data-kind="prediction" {
                            span.when { (format::timestamp(*at)) }
                            span.what {
                                strong { "Prediction" } " by " (p.model.model_name) " " (p.model.version)
                                @if !p.decision_outcome.is_empty() { ": " span.badge.outcome { (p.decision_outcome) } }
                                @if p.confidence.is_some() { " · confidence " (format::confidence(p.confidence)) }
                            }
                        },
                        Event::Explanation(e) => li.event.event-explanation data-kind="explanation" data-revision=(e.revision) {
                            span.when { (format::timestamp(*at)) }
                            span.what {
                                strong { "Explanation, revision " (e.revision) } " · " (e.method)
                                @if !e.method_version.is_empty() { " " (e.method_version) }
                                " · " (e.status)
                                @if current_explanation == Some(e.revision) { " " span.badge.current { "current" } }
                            }
                        },
                        Event::Outcome(o) => li.event.event-outcome data-kind="outcome" data-current=(current_outcome == Some(o.id)) {
                            span.when { (format::timestamp(*at)) }
                            span.what {
                                strong { "Outcome" } ": " (outcome_value(o)) " · source " (o.source)
                                @if current_outcome == Some(o.id) {
                                    " " span.badge.current title="The latest by when it was observed: what quality counts" { "current" }
                                } @else {
                                    " " span.badge.superseded title="A later observation replaced it" { "superseded" }
                                }
                                @if let Some(label) = o.label.as_deref().filter(|l| !l.is_empty() && !p.decision_outcome.is_empty()) {
                                    @if label == p.decision_outcome { " " span.yes { "✓ as the model decided" } }
                                    @else { " " span.miss { "✗ the model decided " (p.decision_outcome) } }
                                }
                                span.meta { " · recorded " (format::timestamp(o.created_at)) }
                                @if o.metadata.as_object().is_some_and(|m| !m.is_empty()) {
                                    details { summary { "Metadata" } pre { (format::pretty(&o.metadata)) } }
                                }
                            }
                        },
                        Event::Review(r) => li.event.event-review data-kind="review" data-action=(r.action) {
                            span.when { (format::timestamp(*at)) }
                            span.what {
                                strong { "Review" } " by " span.reviewer { (reviewer(r)) } ": "
                                span.badge.(format!("action-{}", r.action)) { (r.action) }
                                @if !r.final_decision.is_empty() { " → " strong.review-decision { (r.final_decision) } }
                                @if !r.reason_codes.is_empty() {
                                    " · reasons "
                                    @for (i, code) in r.reason_codes.iter().enumerate() {
                                        @if i > 0 { ", " } code.reason { (code) }
                                    }
                                }
                                @if !r.comment.is_empty() { blockquote.comment { (r.comment) } }
                            }
                        },
                    }
                }
            }
        }
    }
}

/// A reviewer as named, with their id: `Ana (r-ana)`, or the id alone.
fn reviewer(r: &Review) -> String {
    if r.reviewer_name.is_empty() || r.reviewer_name == r.reviewer_id {
        r.reviewer_id.clone()
    } else {
        format!("{} ({})", r.reviewer_name, r.reviewer_id)
    }
}

/// An outcome's label and value: `fraud`, `fraud (value 1)`, `value 0.5`.
fn outcome_value(o: &Outcome) -> Markup {
    html! {
        @if let Some(label) = o.label.as_deref().filter(|l| !l.is_empty()) { strong.outcome-label { (label) } }
        @if let Some(value) = o.value {
            @if o.label.as_deref().is_some_and(|l| !l.is_empty()) { " (value " span.outcome-value { (value) } ")" }
            @else { "value " span.outcome-value { (value) } }
        }
        @if o.label.as_deref().is_none_or(str::is_empty) && o.value.is_none() { "—" }
    }
}

fn model_card(p: &PredictionEvent) -> Markup {
    html! {
        section.card aria-labelledby="h-model" {
            h2 #h-model { "Model version" }
            dl {
                dt { "Model" } dd {
                    a href=(format!("/predictions{}", query([("model_name", p.model.model_name.as_str()), ("model_version", p.model.version.as_str())]))) {
                        (p.model.model_name) " " (p.model.version)
                    }
                }
                dt { "Framework" } dd { @if p.model.framework.is_empty() { "—" } @else { (p.model.framework) } }
                dt { "Build" } dd { @if p.model.build_id.is_empty() { "—" } @else { code { (p.model.build_id) } } }
                dt { "Commit" } dd { @if p.model.commit_hash.is_empty() { "—" } @else { code { (p.model.commit_hash) } } }
                dt { "First seen" } dd { (format::timestamp(p.model.created_at)) }
            }
            @if let Some(config) = &p.model.config_snapshot {
                details { summary { "Config snapshot" } pre { (format::pretty(config)) } }
            }
        }
    }
}

fn ledger_section(p: &PredictionEvent) -> Markup {
    html! {
        section aria-labelledby="h-ledger" {
            h2 #h-ledger { "Ledger" }
            @match &p.ledger {
                Some(entry) => dl.ledger {
                    dt { "Sequence number" } dd #ledger-seq { (entry.seq) }
                    dt { "Leaf hash" } dd { code #ledger-leaf { (hex::encode(entry.leaf_hash)) } }
                },
                None => p.empty { "Not sealed yet: the sealer adds new records to the ledger within seconds." },
            }
            p.hint { "An inclusion proof for this record is at " code { "GET /api/v1/predictions/" (p.id) "/proof" } "." }
        }
    }
}

fn explanation(e: &Explanation, revisions: usize) -> Markup {
    let bars = attributions(&e.payload).map(by_magnitude);
    html! {
        p.meta {
            strong { (e.method) } @if !e.method_version.is_empty() { " " (e.method_version) }
            " · revision " (e.revision) @if revisions > 1 { " of " (revisions) }
            " · " (e.status) " · generated " (format::timestamp(e.generated_at))
        }
        @if !e.summary_text.is_empty() {
            blockquote.summary { (e.summary_text) }
        }
        @if let Some(bars) = bars.filter(|b| !b.is_empty()) {
            @let shown = &bars[..bars.len().min(MAX_BARS)];
            figure.attribution {
                (attribution_chart(shown, "Feature attributions, largest first"))
                @if bars.len() > MAX_BARS {
                    @let rest: f64 = bars[MAX_BARS..].iter().map(|(_, v)| v).sum();
                    figcaption { (bars.len() - MAX_BARS) " smaller attributions not drawn (together " (format::signed(rest)) ")." }
                }
            }
            details {
                summary { "Attribution values" }
                table.list.attributions {
                    thead { tr { th scope="col" { "Feature" } th scope="col" .num { "Attribution" } } }
                    tbody { @for (name, value) in &bars { tr { td { (name) } td.num { (format::signed(*value)) } } } }
                }
            }
            @if let Some(base) = e.payload.get("base_value").and_then(Value::as_f64) {
                p.hint { "Base value " (format!("{base:.3}")) "." }
            }
        } @else {
            pre { (format::pretty(&e.payload)) }
        }
    }
}

/// A JSON document as a table of leaf paths, with the paths that redaction masked marked.
fn document_table(id: &str, document: &Value, redacted: &[String], caption: &str) -> Markup {
    let masked: HashSet<&str> = redacted.iter().map(String::as_str).collect();
    let rows = format::leaves(document);
    html! {
        @if !redacted.is_empty() {
            p.redaction-note {
                span.badge.redacted { "redacted" } " "
                (redacted.len()) @if redacted.len() == 1 { " value was" } @else { " values were" }
                " masked before anything was stored; the original is not kept anywhere."
            }
        }
        table.list.document id=(id) {
            caption.visually-hidden { (caption) }
            thead { tr { th scope="col" { "Path" } th scope="col" { "Value" } } }
            tbody {
                @for (path, value) in &rows {
                    @let is_masked = masked.contains(path.as_str());
                    tr.redacted[is_masked] data-path=(path) {
                        th scope="row" { code { (format::shown_path(path)) } }
                        td {
                            @if is_masked {
                                span.mask { (format::leaf(value)) } " " span.badge.redacted title="Masked by redaction before storage" { "redacted" }
                            } @else {
                                (format::leaf(value))
                            }
                        }
                    }
                }
            }
        }
    }
}
