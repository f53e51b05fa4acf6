//! `/actors`: who asked for predictions, with their counts, keyset-paged.

use axum::extract::{RawQuery, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};
use ml_audit_core::model::ActorType;
use ml_audit_storage::{ActorPageRequest, ActorPosition};

use super::Column::{Num, Text};
use super::format::{self, query};
use super::{SEALED_TOTALS, Section, Session, UiError, layout, list_table};
use crate::query::query_pairs;
use crate::state::AppState;

const PAGE: u32 = 50;
const SEPARATOR: char = '\u{1f}';

fn encode(position: &ActorPosition) -> String {
    URL_SAFE_NO_PAD
        .encode(format!("{}{SEPARATOR}{}{SEPARATOR}{}", position.tenant_id, position.actor_type, position.actor_id))
}

fn decode(text: &str) -> Option<ActorPosition> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let mut parts = raw.splitn(3, SEPARATOR);
    let tenant_id = parts.next()?.to_owned();
    let actor_type = ActorType::parse(parts.next()?).ok()?;
    let actor_id = parts.next()?.to_owned();
    Some(ActorPosition { tenant_id, actor_type, actor_id })
}

pub async fn page(session: Session, State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Markup, UiError> {
    let pairs = query_pairs(raw).unwrap_or_default();
    let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let tenant = get("tenant");
    let after = get("after").and_then(decode);
    let paged = after.is_some();
    let page =
        state.insights.list_actors(&session.visibility, tenant, &ActorPageRequest { limit: PAGE, after }).await?;
    let tenant_query = tenant.unwrap_or("");
    Ok(layout(
        "Actors",
        Some(Section::Actors),
        Some(&session),
        html! {
            h1 { "Actors" @if let Some(tenant) = tenant { " of tenant " (tenant) } }
            p.hint { "The users, services, keys and jobs that asked for predictions, by tenant. " (SEALED_TOTALS) }
            @if page.items.is_empty() {
                p.empty { "No actors." }
            } @else {
                div.table-wrap {
                    (list_table("actors", "Actors", &[
                        Text("Tenant"), Text("Type"), Text("Actor id"), Num("Predictions"),
                        Text("Last prediction (UTC)"), Text("First seen (UTC)"),
                    ], html! {
                        @for a in &page.items {
                            tr {
                                td { @if a.tenant_id.is_empty() { "—" } @else { a href=(format!("/actors{}", query([("tenant", a.tenant_id.as_str())]))) { (a.tenant_id) } } }
                                td { (a.actor_type) }
                                td { a href=(format!("/predictions{}", query([("actor_type", a.actor_type.as_str()), ("actor_id", a.actor_id.as_str()), ("tenant_id", a.tenant_id.as_str())]))) { (a.actor_id) } }
                                td.num { (format::count(a.predictions)) }
                                td { @if let Some(last) = a.last_prediction { (format::timestamp(last)) } @else { "—" } }
                                td { (format::timestamp(a.created_at)) }
                            }
                        }
                    }))
                }
            }
            nav.pager aria-label="Pages" {
                @if paged { a href=(format!("/actors{}", query([("tenant", tenant_query)]))) { "↺ First page" } }
                @if let Some(next) = &page.next {
                    a rel="next" href=(format!("/actors{}", query([("tenant", tenant_query), ("after", encode(next).as_str())]))) { "Next →" }
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let position =
            ActorPosition { tenant_id: "acme".into(), actor_type: ActorType::Service, actor_id: "a\u{1f}b".into() };
        assert_eq!(decode(&encode(&position)), Some(position));
        assert_eq!(decode("!!"), None);
    }
}
