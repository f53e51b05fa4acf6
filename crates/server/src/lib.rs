//! The HTTP server of ml-audit: routes, authentication, the error format, group commit.
//!
//! Handlers are thin: they authenticate (the scope is in their signature), hand the body to the
//! core to parse and redact, and call the store. The store sees only domain types.

mod access;
mod admission;
mod auth;
mod batch_body;
mod body;
mod error;
pub mod export;
mod ingest;
mod metrics;
mod openapi;
mod query;
mod readiness;
mod retention;
mod routes;
mod serve;
mod state;
mod subjects;
mod ui;
mod wire;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use tower_http::trace::TraceLayer;

pub use crate::error::ApiError;
pub use crate::openapi::api_document;
pub use crate::retention::RetentionSchedule;
pub use crate::serve::serve;
pub use crate::state::{AppState, Limits, Resilience, ServerSettings};

/// The whole application; also what tests drive.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(routes::predictions::router())
        .merge(routes::models::router())
        .merge(routes::outcomes::router())
        .merge(routes::ledger::router())
        .merge(routes::lifecycle::router())
        .merge(routes::access::router())
        .merge(routes::subjects::router())
        .merge(routes::exports::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(routes::system::router())
        .merge(ui::router(&state))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            // Log the route template, never the URI: paths and query strings can hold
            // identifiers of people.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                    tracing::info_span!("request", method = %request.method(), route)
                })
                // A 5xx's cause is logged where it is known (`ApiError`); a line per refused
                // request would flood the log, and cost the CPU, exactly when overloaded.
                .on_failure(()),
        )
        .with_state(state)
}
