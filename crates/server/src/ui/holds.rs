//! `/holds`: the legal holds this session's key sees, newest first: what each covers, until when,
//! why, and whether it stands (active, released, lapsed). Read-only: holds are placed and
//! released through the API or the CLI. Admin keys only, as `GET /api/v1/holds`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::lifecycle::{Hold, HoldRelease, HoldScope};
use ml_audit_core::timestamp;
use time::OffsetDateTime;

use super::Column::{Num, Text};
use super::format;
use super::{Section, Session, UiError, forbidden, layout, list_table};
use crate::state::AppState;

pub async fn page(session: Session, State(state): State<AppState>) -> Result<Response, UiError> {
    if !session.is_admin() {
        return Ok(forbidden(&session, "Legal holds"));
    }
    let holds = state.lifecycle.list_holds(&session.visibility).await?;
    let now = timestamp::now();
    let standing = holds.iter().filter(|h| state_of(&h.hold, h.release.as_ref(), now) == HoldState::Active).count();
    Ok(layout(
        "Legal holds",
        Some(Section::Holds),
        Some(&session),
        html! {
            h1 { "Legal holds" }
            p.hint {
                "While a hold stands, nothing it covers is erased or purged: an erasure that selects a held record "
                "is refused whole. A hold covers the records that match every scope it names. Holds and their "
                "releases are ledger leaves. Newest first; "
                strong #holds-active { (standing) } " active."
                @if let Some(tenant) = &session.key.tenant_id { " This key sees the holds scoped to tenant " strong { (tenant) } "." }
            }
            @if holds.is_empty() {
                p.empty { "No legal hold has been placed." }
            } @else {
                div.table-wrap {
                    (list_table("holds", "Legal holds, newest first", &[
                        Text("Hold"), Text("Placed (UTC)"), Text("Scope"), Text("Until (UTC)"), Text("Reason"),
                        Text("State"), Num("Ledger seq"),
                    ], html! {
                        @for h in &holds {
                            @let held = state_of(&h.hold, h.release.as_ref(), now);
                            tr id=(format!("hold-{}", h.hold.id)) data-hold=(h.hold.id) data-state=(held.name()) {
                                td { code { (h.hold.id) } }
                                td { (format::timestamp(h.hold.created_at)) }
                                td { (scope(&h.hold.scope)) }
                                td { @match h.hold.until { Some(until) => (format::timestamp(until)), None => span.no { "until released" } } }
                                td.reason { (h.hold.reason) }
                                td.state { (shown_state(&held)) }
                                td.num { @match &h.ledger { Some(entry) => (entry.seq), None => "—" } }
                            }
                        }
                    }))
                }
            }
            (how_to())
        },
    )
    .into_response())
}

/// Where a hold stands at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HoldState<'a> {
    Active,
    Released {
        at: OffsetDateTime,
        reason: &'a str,
    },
    /// Its `until` has passed.
    Lapsed {
        at: OffsetDateTime,
    },
}

impl HoldState<'_> {
    fn name(&self) -> &'static str {
        match self {
            HoldState::Active => "active",
            HoldState::Released { .. } => "released",
            HoldState::Lapsed { .. } => "lapsed",
        }
    }
}

/// A hold's state at `now`: released once released (as the API's `released` and `ml-audit holds
/// list` say), else lapsed once its `until` has passed, else active.
fn state_of<'a>(hold: &Hold, release: Option<&'a HoldRelease>, now: OffsetDateTime) -> HoldState<'a> {
    match (release, hold.until) {
        (Some(r), _) => HoldState::Released { at: r.created_at, reason: &r.reason },
        (None, Some(until)) if until <= now => HoldState::Lapsed { at: until },
        (None, _) => HoldState::Active,
    }
}

fn shown_state(state: &HoldState<'_>) -> Markup {
    html! {
        @match state {
            HoldState::Active => span.badge.hold-active { "active" },
            HoldState::Released { at, reason } => {
                span.badge { "released" } " " (format::timestamp(*at)) ": " span.release-reason { (reason) }
            }
            HoldState::Lapsed { at } => { span.badge { "lapsed" } " " (format::timestamp(*at)) }
        }
    }
}

fn scope(scope: &HoldScope) -> Markup {
    html! {
        ul.scope {
            @if let Some(tenant) = &scope.tenant_id { li { "tenant " strong { (tenant) } } }
            @if let Some(model) = &scope.model_name { li { "model " strong { (model) } } }
            @if let Some(subject) = &scope.subject { li { "subject " code title="The subject's pseudonym token, never the raw value" { (subject) } } }
            @if let Some(actor) = &scope.actor {
                li {
                    "actor " strong { (actor.actor_type) ":" (actor.actor_id) }
                    @if !actor.tenant_id.is_empty() { " of tenant " (actor.tenant_id) }
                }
            }
            @if !scope.predictions.is_empty() {
                li {
                    details {
                        summary { (format::count(scope.predictions.len() as u64)) @if scope.predictions.len() == 1 { " prediction" } @else { " predictions" } }
                        ul { @for id in &scope.predictions { li { a href=(format!("/predictions/{id}")) { code { (id) } } } } }
                    }
                }
            }
        }
    }
}

fn how_to() -> Markup {
    html! {
        section.how-to aria-labelledby="h-how-to" {
            h2 #h-how-to { "Placing and releasing holds" }
            p.hint {
                "This page only reads. An admin key places a hold through the API (a reason and at least one of "
                code { "tenant_id" } ", " code { "model_name" } ", " code { "subject" } ", " code { "actor" } ", "
                code { "predictions" } "; " code { "until" } " is optional) and releases it with a reason:"
            }
            pre { "curl -X POST -H \"Authorization: Bearer $ML_AUDIT_ADMIN_KEY\" -H 'Content-Type: application/json' \\\n  -d '{\"reason\": \"Litigation 2026-17\", \"tenant_id\": \"acme-bank\", \"until\": \"2027-12-31T00:00:00Z\"}' \\\n  \"$ML_AUDIT_URL/api/v1/holds\"\ncurl -X POST -H \"Authorization: Bearer $ML_AUDIT_ADMIN_KEY\" -H 'Content-Type: application/json' \\\n  -d '{\"reason\": \"Settled\"}' \"$ML_AUDIT_URL/api/v1/holds/<id>/release\"" }
            p.hint { "or from the shell: " code { "ml-audit holds list | create | release" } "." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use uuid::Uuid;

    fn hold(until: Option<OffsetDateTime>) -> Hold {
        let created_at = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        Hold {
            id: Uuid::now_v7(),
            reason: "litigation".into(),
            scope: HoldScope { tenant_id: Some("acme".into()), ..HoldScope::default() },
            until,
            created_at,
        }
    }

    fn release(hold: &Hold, at: OffsetDateTime) -> HoldRelease {
        HoldRelease { id: Uuid::now_v7(), hold_ref: hold.id, reason: "settled".into(), created_at: at }
    }

    #[test]
    fn a_hold_is_active_until_released_or_lapsed() {
        let placed = OffsetDateTime::UNIX_EPOCH + Duration::days(1000);
        let (day, now) = (Duration::days(1), placed + Duration::days(10));
        let open = hold(None);
        assert_eq!(state_of(&open, None, now), HoldState::Active);
        let until_later = hold(Some(now + day));
        assert_eq!(state_of(&until_later, None, now), HoldState::Active);
        let lapsed = hold(Some(now - day));
        assert_eq!(state_of(&lapsed, None, now), HoldState::Lapsed { at: now - day });
        assert_eq!(state_of(&lapsed, None, now).name(), "lapsed");
        let at_until = hold(Some(now));
        assert_eq!(state_of(&at_until, None, now).name(), "lapsed", "it no longer stands at its until");

        let released = release(&open, now - day);
        assert_eq!(state_of(&open, Some(&released), now), HoldState::Released { at: now - day, reason: "settled" });
        // A release is shown as such, whether or not its `until` has passed since.
        let short = hold(Some(now - day));
        let early = release(&short, now - Duration::days(2));
        assert_eq!(state_of(&short, Some(&early), now).name(), "released");
        assert_eq!(state_of(&until_later, Some(&release(&until_later, now)), now).name(), "released");
    }
}
