//! The admin web UI: server-rendered HTML at `/`, one module per page, with the charts drawn as
//! inline SVG on the server. No JavaScript and no external assets: the one stylesheet is compiled
//! into the binary. Templates are maud, which escapes every interpolated value.
//!
//! Every page takes a [`Session`], whose key's tenant binding is passed to the store exactly as
//! the API passes a bearer key's, so a tenant-bound key sees only its tenant here too.

mod access;
mod actors;
mod charts;
mod erasures;
mod format;
mod holds;
mod login;
mod models;
mod overview;
mod prediction;
mod predictions;
mod session;
mod subjects;
mod tenants;

use axum::Extension;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use ml_audit_storage::StorageError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use crate::state::AppState;
pub use session::Session;
use session::SessionSigner;

/// Characters escaped in a query-string value we build.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

const STYLESHEET: &str = include_str!("style.css");

/// Names the session-signing secret derived from the ledger key.
const SESSION_SECRET_PURPOSE: &str = "ml-audit ui session cookies v1";

/// The UI's routes, with the session signer of this server.
pub fn router(state: &AppState) -> Router<AppState> {
    let signer = SessionSigner::new(state.sealer.key().derive_secret(SESSION_SECRET_PURPOSE));
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/predictions", get(predictions::page))
        .route("/predictions/{reference}", get(prediction::page))
        .route("/models", get(models::page))
        .route("/actors", get(actors::page))
        .route("/tenants", get(tenants::page))
        .route("/erasures", get(erasures::page))
        .route("/holds", get(holds::page))
        .route("/access-log", get(access::page))
        .route("/subjects", get(subjects::page))
        .route("/ui/style.css", get(stylesheet))
        .layer(map_response(security_headers))
        .layer(Extension(signer))
}

async fn stylesheet() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
}

/// Pages show audit data: never cached, never framed, nothing loaded from elsewhere, and no
/// referrer (URLs carry prediction and actor ids).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    };
    set(
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    );
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "no-referrer");
    set("x-frame-options", "DENY");
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The sections of the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Predictions,
    Models,
    Actors,
    Tenants,
    Erasures,
    Holds,
    Subjects,
    Access,
}

/// Each section with its path, its label, and whether only admin keys see it (as in the API).
const SECTIONS: &[(Section, &str, &str, bool)] = &[
    (Section::Overview, "/", "Overview", false),
    (Section::Predictions, "/predictions", "Predictions", false),
    (Section::Models, "/models", "Models", false),
    (Section::Actors, "/actors", "Actors", false),
    (Section::Tenants, "/tenants", "Tenants", false),
    (Section::Erasures, "/erasures", "Erasures", true),
    (Section::Holds, "/holds", "Holds", true),
    (Section::Subjects, "/subjects", "Subjects", false),
    (Section::Access, "/access-log", "Access log", true),
];

/// On every page of totals: they come from running totals that the ledger's sealer keeps.
pub const SEALED_TOTALS: &str = "Totals count sealed predictions; the ledger seals new ones within a second.";

/// The frame of every page behind the login.
pub fn layout(title: &str, section: Option<Section>, session: Option<&Session>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ml-audit" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" { "◆" } " ml-audit" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (item, href, label, admin_only) in SECTIONS {
                                    @if !admin_only || session.is_admin() { li {
                                        @if section == Some(*item) {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    } }
                                }
                            }
                        }
                        div.who {
                            span.key title="The API key this session uses" {
                                (if session.key.name.is_empty() { session.key.prefix.as_str() } else { session.key.name.as_str() })
                                " · " (session.key.scope)
                                @if let Some(tenant) = &session.key.tenant_id {
                                    " · tenant " strong.tenant-badge { (tenant) }
                                }
                            }
                            form method="post" action="/logout" {
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main { (content) }
                footer.bottom { "ml-audit " (env!("CARGO_PKG_VERSION")) " · every record is append-only and sealed in a tamper-evident ledger" }
            }
        }
    }
}

/// A column heading of a [`list_table`]: numbers are right-aligned.
pub enum Column {
    Text(&'static str),
    Num(&'static str),
}

/// A `table.list` with a caption for screen readers, a row of `columns` headings, and `rows`.
pub fn list_table(id: &str, caption: &str, columns: &[Column], rows: Markup) -> Markup {
    html! {
        table.list #(id) {
            caption.visually-hidden { (caption) }
            thead { tr {
                @for column in columns {
                    @match column {
                        Column::Text(heading) => th scope="col" { (heading) },
                        Column::Num(heading) => th scope="col" .num { (heading) },
                    }
                }
            } }
            tbody { (rows) }
        }
    }
}

/// What a page can fail with; rendered as an HTML page with the matching status.
#[derive(Debug)]
pub enum UiError {
    NotFound(&'static str),
    Unavailable,
    Internal(String),
}

impl From<StorageError> for UiError {
    fn from(error: StorageError) -> Self {
        match crate::error::ApiError::from(error) {
            crate::error::ApiError::NotFound(what) => UiError::NotFound(what),
            crate::error::ApiError::Unavailable => UiError::Unavailable,
            other => UiError::Internal(format!("{other:?}")),
        }
    }
}

/// A 404 page inside the session's frame, so the navigation stays at hand.
pub fn not_found(session: &Session, what: &str) -> Response {
    let body = layout(
        "Not found",
        None,
        Some(session),
        html! {
            h1 { "Not found" }
            p { "No " (what) " here, or none that this key may see." }
            p { a href="/predictions" { "Back to the predictions" } }
        },
    );
    (StatusCode::NOT_FOUND, body).into_response()
}

/// A 403 page inside the session's frame: the page needs an admin key, as its API does.
pub fn forbidden(session: &Session, title: &str) -> Response {
    let body = layout(
        title,
        None,
        Some(session),
        html! {
            h1 { (title) }
            p.error role="alert" { "This page needs an admin key; this session's key is a " (session.key.scope) " key." }
            p { a href="/" { "Back to the overview" } }
        },
    );
    (StatusCode::FORBIDDEN, body).into_response()
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            UiError::NotFound(what) => {
                (StatusCode::NOT_FOUND, "Not found", format!("No {what} here, or none that this key may see."))
            }
            UiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The database did not answer in time; try again shortly.".to_owned(),
            ),
            UiError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the UI");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "Something went wrong; it has been logged.".into(),
                )
            }
        };
        let body = layout(
            title,
            None,
            None,
            html! {
                h1 { (title) }
                p { (message) }
                p { a href="/" { "Back to the overview" } }
            },
        );
        (status, body).into_response()
    }
}
