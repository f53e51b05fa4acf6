//! `/login` and `/logout`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ml_audit_core::auth::KeyHash;
use time::OffsetDateTime;

use super::session::{SESSION_TTL, SessionSigner, cleared_cookie, may_use_ui, session_cookie};
use super::{UiError, layout};
use crate::query::query_pairs;
use crate::state::AppState;

/// Where to go after logging in: a path on this site only, never another origin.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/",
    }
}

fn form_page(next: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        None,
        html! {
            section.login {
                h1 { "Log in" }
                p { "Use an " strong { "admin" } " or " strong { "read" } " API key. A key bound to a tenant sees only that tenant." }
                @if let Some(error) = error {
                    p.error role="alert" { (error) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="off" required autofocus placeholder="mla_…";
                    button type="submit" { "Log in" }
                }
                p.hint { "The key is checked on every request; your browser keeps only a signed session cookie for "
                    (SESSION_TTL.whole_hours()) " hours." }
            }
        },
    )
}

pub async fn form(RawQuery(query): RawQuery) -> Markup {
    let pairs = query_pairs(query).unwrap_or_default();
    let next = pairs.iter().find(|(name, _)| name == "next").map(|(_, value)| value.as_str());
    form_page(safe_next(next), None)
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(signer): Extension<Arc<SessionSigner>>,
    body: Bytes,
) -> Result<Response, UiError> {
    let pairs = query_pairs(Some(String::from_utf8_lossy(&body).into_owned())).unwrap_or_default();
    let field = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned());
    let next = field("next");
    let next = safe_next(next.as_deref());
    let secret = field("key").unwrap_or_default();
    let refuse = |message: &str| (StatusCode::UNAUTHORIZED, form_page(next, Some(message))).into_response();
    if secret.is_empty() {
        return Ok(refuse("Enter an API key."));
    }
    let Some(key) = state.keys.find_active_api_key(&KeyHash::of(&secret)).await? else {
        return Ok(refuse("That key is unknown or revoked."));
    };
    if !may_use_ui(key.scope) {
        return Ok((
            StatusCode::FORBIDDEN,
            form_page(next, Some("That is an ingest key; the UI needs an admin or read key.")),
        )
            .into_response());
    }
    let token = signer.token(key.id, OffsetDateTime::now_utc() + SESSION_TTL);
    Ok((StatusCode::SEE_OTHER, [(LOCATION, next.to_owned())], [(SET_COOKIE, session_cookie(&token))]).into_response())
}

pub async fn logout() -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, "/login")], [(SET_COOKIE, cleared_cookie())]).into_response()
}
