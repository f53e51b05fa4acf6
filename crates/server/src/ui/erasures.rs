//! `/erasures`: the erasures this session's key sees, newest first: when, why, how many records
//! of each kind, for which tenant, and the erasure's own ledger leaf. Read-only: erasures are
//! asked for through the API or the CLI. Admin keys only, as `GET /api/v1/erasures`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::lifecycle::RETENTION_REASON;

use super::Column::{Num, Text};
use super::format;
use super::{Section, Session, UiError, forbidden, layout, list_table};
use crate::state::AppState;

/// The newest erasures shown.
const SHOWN: u32 = 500;

pub async fn page(session: Session, State(state): State<AppState>) -> Result<Response, UiError> {
    if !session.is_admin() {
        return Ok(forbidden(&session, "Erasures"));
    }
    let erasures = state.lifecycle.list_erasures(&session.visibility, SHOWN).await?;
    Ok(layout(
        "Erasures",
        Some(Section::Erasures),
        Some(&session),
        html! {
            h1 { "Erasures" }
            p.hint {
                "Each erasure destroyed the personal content of the records it names (on a data subject's request, "
                "or at the end of their retention, reason " code { (RETENTION_REASON) } "). Their ids, timestamps, "
                "model versions, statuses, outcomes and ledger leaves stay, so every proof still verifies; the "
                "erasure itself is a ledger leaf. Newest first"
                @if erasures.len() == SHOWN as usize { ", the newest " (SHOWN) " shown" } "."
                @if let Some(tenant) = &session.key.tenant_id { " This key sees the erasures that keys of tenant " strong { (tenant) } " asked for." }
            }
            @if erasures.is_empty() {
                p.empty { "No erasure has been made." }
            } @else {
                div.table-wrap {
                    (list_table("erasures", "Erasures, newest first", &[
                        Text("Erasure"), Text("Time (UTC)"), Text("Reason"), Num("Predictions"), Num("Explanations"),
                        Num("Outcomes"), Num("Reviews"), Text("Tenant"), Num("Ledger seq"),
                    ], html! {
                        @for e in &erasures {
                            @let erasure = &e.erasure;
                            tr id=(format!("erasure-{}", erasure.id)) data-erasure=(erasure.id) {
                                td { code { (erasure.id) } }
                                td { (format::timestamp(erasure.created_at)) }
                                td.reason {
                                    @if erasure.reason == RETENTION_REASON {
                                        span.badge title="Purged at the end of its retention period" { (erasure.reason) }
                                    } @else {
                                        (erasure.reason)
                                    }
                                }
                                td.num.predictions { (format::count(erasure.counts.predictions)) }
                                td.num { (format::count(erasure.counts.explanations)) }
                                td.num { (format::count(erasure.counts.outcomes)) }
                                td.num { (format::count(erasure.counts.reviews)) }
                                td { (tenant(erasure.tenant_id.as_deref())) }
                                td.num { @match &e.ledger { Some(entry) => (entry.seq), None => "—" } }
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

fn tenant(tenant: Option<&str>) -> Markup {
    html! {
        @match tenant {
            Some(tenant) => (tenant),
            None => span.no title="Asked for by a key bound to no tenant, by the operator, or by retention" { "any" },
        }
    }
}

fn how_to() -> Markup {
    html! {
        section.how-to aria-labelledby="h-how-to" {
            h2 #h-how-to { "Erasing records" }
            p.hint {
                "This page only reads. An admin key erases through the API (at least one of "
                code { "subject" } ", " code { "actor" } ", " code { "predictions" } "; "
                code { "\"dry_run\": true" } " counts without erasing; a record under a legal hold is refused, 409):"
            }
            pre { "curl -X POST -H \"Authorization: Bearer $ML_AUDIT_ADMIN_KEY\" -H 'Content-Type: application/json' \\\n  -d '{\"subject\": \"customer-4711\", \"reason\": \"GDPR Art. 17 request #123\"}' \\\n  \"$ML_AUDIT_URL/api/v1/erasures\"" }
            p.hint { "or from the shell: " code { "ml-audit erase --subject … | --actor TYPE:ID[:TENANT] | --prediction REF --reason … [--dry-run]" } "." }
        }
    }
}
