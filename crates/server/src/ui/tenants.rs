//! `/tenants`: the tenants that predictions were recorded for, with their counts.

use axum::extract::State;
use maud::{Markup, html};

use super::Column::{Num, Text};
use super::format::{self, query};
use super::{SEALED_TOTALS, Section, Session, UiError, layout, list_table};
use crate::state::AppState;

pub async fn page(session: Session, State(state): State<AppState>) -> Result<Markup, UiError> {
    let tenants = state.insights.list_tenants(&session.visibility).await?;
    let total: u64 = tenants.iter().map(|t| t.predictions).sum();
    Ok(layout(
        "Tenants",
        Some(Section::Tenants),
        Some(&session),
        html! {
            h1 { "Tenants" }
            p.hint { (SEALED_TOTALS) }
            @if session.is_tenant_bound() {
                p.hint { "This key is bound to one tenant and sees only it." }
            }
            @if tenants.is_empty() {
                p.empty { "No predictions have been recorded yet." }
            } @else {
                (list_table("tenants", "Tenants", &[
                    Text("Tenant"), Num("Predictions"), Num("Share"), Num("Actors"), Text("Last prediction (UTC)"),
                ], html! {
                    @for t in &tenants {
                        tr data-tenant=(t.tenant_id) {
                            td { @if t.tenant_id.is_empty() { em { "(no tenant)" } } @else { (t.tenant_id) } }
                            td.num { a href=(format!("/predictions{}", query([("tenant_id", t.tenant_id.as_str())]))) { (format::count(t.predictions)) } }
                            td.num { (format::percent(t.predictions, total)) }
                            td.num { a href=(format!("/actors{}", query([("tenant", t.tenant_id.as_str())]))) { (format::count(t.actors)) } }
                            td { @if let Some(last) = t.last_prediction { (format::timestamp(last)) } @else { "—" } }
                        }
                    }
                }))
            }
        },
    ))
}
