//! `/access-log`: who was shown which predictions, and who exported, erased, held or changed
//! keys, newest first, with the filters of `GET /api/v1/access-log`; and the "who has seen
//! this" panel of each prediction's page. Admin keys only, as in the API; viewing either is
//! itself an access entry.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::access::{AccessEntry, AccessFilter, parse_access_query};
use ml_audit_core::query::PageRequest;
use uuid::Uuid;

use super::Column::{Num, Text};
use super::format::{self, query};
use super::{Section, Session, UiError, forbidden, layout, list_table};
use crate::query::query_pairs;
use crate::state::AppState;

/// How many entries the panel of a prediction shows.
const PANEL: u32 = 20;

pub async fn page(
    session: Session,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    if !session.is_admin() {
        return Ok(forbidden(&session, "Access log"));
    }
    let pairs: Vec<(String, String)> =
        query_pairs(raw).unwrap_or_default().into_iter().filter(|(_, value)| !value.trim().is_empty()).collect();
    let parsed = parse_access_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (filter, page) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let message = format!("The filter {} {}.", error.field, error.message);
            let body = render(&session, &pairs, Err(message));
            return Ok((StatusCode::BAD_REQUEST, body).into_response());
        }
    };
    let found = match state.access_log.list_access(&session.visibility, &filter, &page).await {
        Ok(found) => found,
        Err(ml_audit_storage::StorageError::NotFound(_)) => {
            let body = render(&session, &pairs, Err("The filter prediction names no prediction this key sees.".into()));
            return Ok((StatusCode::NOT_FOUND, body).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    session.shown(&state, Vec::new());
    let next = found.next_cursor.map(|cursor| cursor.encode());
    Ok(render(&session, &pairs, Ok((found.items, next))).into_response())
}

fn render(
    session: &Session,
    pairs: &[(String, String)],
    listing: Result<(Vec<AccessEntry>, Option<String>), String>,
) -> Markup {
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    layout(
        "Access log",
        Some(Section::Access),
        Some(session),
        html! {
            h1 { "Access log" }
            p.hint {
                "Every API response and page that showed predictions, and every export, erasure, hold and key change: "
                "who (the key, or the operator at the command line), when, through which route, with which filters "
                "(a subject by its pseudonym token), and which predictions. Entries are ledger leaves: "
                code { "ml-audit verify" } " checks them. Viewing this page is itself recorded."
            }
            form.filters method="get" action="/access-log" {
                label { "Key id " input type="text" name="key_id" value=(value("key_id")) size="36"; }
                label { "Prediction " input type="text" name="prediction" value=(value("prediction")) placeholder="id or prediction_id"; }
                label { "From " input type="text" name="time_from" value=(value("time_from")) placeholder="2026-01-01T00:00:00Z"; }
                label { "To " input type="text" name="time_to" value=(value("time_to")) placeholder="RFC 3339"; }
                button type="submit" { "Filter" }
            }
            @match listing {
                Err(message) => p.error role="alert" { (message) },
                Ok((entries, next)) => {
                    @if entries.is_empty() {
                        p.empty { "No access entry matches." }
                    } @else {
                        div.table-wrap { (entries_table("access-log", &entries)) }
                    }
                    @if let Some(next) = next {
                        p { a.next rel="next" href=(format!("/access-log{}", query(next_page(pairs, &next)))) { "Older entries →" } }
                    }
                }
            }
        },
    )
}

/// The query of the next page: the same filters, the next cursor.
fn next_page<'a>(pairs: &'a [(String, String)], cursor: &'a str) -> Vec<(&'a str, &'a str)> {
    let kept = pairs.iter().filter(|(k, _)| k != "cursor").map(|(k, v)| (k.as_str(), v.as_str()));
    kept.chain([("cursor", cursor)]).collect()
}

/// The "who has seen this" panel of a prediction's page: the newest entries that showed it, or
/// why they are not shown.
pub async fn seen_panel(session: &Session, state: &AppState, prediction: Uuid) -> Result<Markup, UiError> {
    if !session.is_admin() {
        return Ok(panel(html! { p.hint { "The access log is shown to admin keys." } }));
    }
    let filter = AccessFilter { prediction: Some(prediction.to_string()), ..AccessFilter::default() };
    let page = PageRequest { limit: PANEL, after: None };
    let found = state.access_log.list_access(&session.visibility, &filter, &page).await?;
    let more = found.next_cursor.is_some();
    Ok(panel(html! {
        @if found.items.is_empty() {
            p.empty { "Nobody else has been shown this prediction yet." }
        } @else {
            div.table-wrap { (entries_table("seen-by", &found.items)) }
        }
        p {
            a href=(format!("/access-log{}", query([("prediction", prediction.to_string().as_str())]))) {
                @if more { "Every access to this prediction →" } @else { "In the access log →" }
            }
        }
    }))
}

fn panel(content: Markup) -> Markup {
    html! {
        section #seen aria-labelledby="h-seen" {
            h2 #h-seen { "Who has seen this" }
            (content)
        }
    }
}

fn entries_table(id: &str, entries: &[AccessEntry]) -> Markup {
    list_table(
        id,
        "Access entries, newest first",
        &[
            Text("Time (UTC)"),
            Text("Who"),
            Text("Via"),
            Text("Action"),
            Text("Route"),
            Text("Filters"),
            Num("Predictions"),
        ],
        html! {
            @for entry in entries {
                tr data-entry=(entry.id) {
                    td { (format::timestamp(entry.at)) }
                    td.who { (who(entry)) }
                    td { (entry.channel) }
                    td { span.badge { (entry.action) } }
                    td { code { (entry.route) } @if !entry.target.is_empty() { " " code.target { (entry.target) } } }
                    td.filters {
                        @for (name, value) in &entry.filters { code { (name) "=" (value) } " " }
                    }
                    td.num { (format::count(entry.predictions.len() as u64)) }
                }
            }
        },
    )
}

fn who(entry: &AccessEntry) -> Markup {
    let reader = &entry.reader;
    html! {
        @match reader.key_id {
            Some(id) => {
                strong { (reader.key_name) } " "
                span.hint { (reader.scope) @if let Some(tenant) = &reader.tenant_id { " · tenant " (tenant) } }
                br; code.key title="Key id" { (id) }
            }
            None => { strong { (reader.operator) } " " span.hint { "command line" } },
        }
    }
}
