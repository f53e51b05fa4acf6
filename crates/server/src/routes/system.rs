//! Unauthenticated health and API description, and the admin-only metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::auth::{Admin, Authorized};
use crate::error::ApiError;
use crate::openapi::api_document;
use crate::state::AppState;
use crate::wire::Health;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// Liveness and storage reachability; no key needed.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses(
        (status = 200, description = "Serving, database reachable", body = Health),
        (status = 503, description = "Database unreachable"),
    ))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.list_models().await?;
    Ok(Json(Health { status: "ok", backend: state.store.backend(), version: env!("CARGO_PKG_VERSION") }))
}

/// Prometheus text; admin keys only.
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(_caller: Authorized<Admin>, State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(state.store.backend()))
}

async fn openapi() -> impl IntoResponse {
    Json(api_document())
}

async fn home() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>ml-audit</title>",
        "<h1>ml-audit</h1><p>The audit trail for ML predictions is running.</p>",
        "<p>API: <a href=\"/openapi.json\">/openapi.json</a> · health: <a href=\"/healthz\">/healthz</a></p>"
    ))
}
