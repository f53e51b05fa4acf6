//! Unauthenticated health and API description, and the admin-only metrics. (`/` is the UI.)

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::auth::{Admin, Authorized};
use crate::error::ApiError;
use crate::openapi::api_document;
use crate::query::{NoQuery, StrictQuery};
use crate::state::AppState;
use crate::wire::Health;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).route("/openapi.json", get(openapi))
}

/// Liveness and storage reachability; no key needed.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses(
        (status = 200, description = "Serving, database reachable", body = Health),
    ))]
async fn healthz(_query: StrictQuery<NoQuery>, State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.predictions.list_models().await?;
    Ok(Json(Health { status: "ok", backend: state.backend, version: env!("CARGO_PKG_VERSION") }))
}

/// Prometheus text; admin keys only.
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(_caller: Authorized<Admin>, State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(state.backend))
}

async fn openapi() -> impl IntoResponse {
    Json(api_document())
}
