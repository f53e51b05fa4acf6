//! Unauthenticated liveness, readiness and API description, and the admin-only metrics. (`/` is
//! the UI.)

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::auth::{Admin, Authorized};
use crate::metrics::Gauges;
use crate::openapi::api_document;
use crate::query::{NoQuery, StrictQuery};
use crate::readiness;
use crate::state::AppState;
use crate::wire::{Health, ReadinessOut};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// Liveness: the process serves HTTP. It does not touch the database, so that an orchestrator
/// does not restart a server that is only waiting for its database (see `/readyz`).
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses(
        (status = 200, description = "The process is serving", body = Health),
    ))]
async fn healthz(_query: StrictQuery<NoQuery>, State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", backend: state.backend, version: env!("CARGO_PKG_VERSION") })
}

/// Readiness: whether a write can succeed now (database reachable, space for writes, sealer
/// not stuck behind), with the reason for each failed check. No key needed; it shows no record.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "Ready to take writes", body = ReadinessOut),
        (status = 503, description = "Not ready; `reasons` says why", body = ReadinessOut),
    ))]
async fn readyz(_query: StrictQuery<NoQuery>, State(state): State<AppState>) -> (StatusCode, Json<ReadinessOut>) {
    let readiness = readiness::check(&state).await;
    let status = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness))
}

/// Prometheus text; admin keys only.
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(_caller: Authorized<Admin>, State(state): State<AppState>) -> impl IntoResponse {
    let (queue_depth, queue_capacity) = state.committer.depth();
    let (ingest_requests, ingest_requests_limit) = state.admission.load();
    let gauges = Gauges {
        ingest_requests,
        ingest_requests_limit,
        queue_depth,
        queue_capacity,
        sealer_lag: state.sealer.lag(),
        checkpoint_age: state.sealer.checkpoint_age(),
        ready: readiness::check(&state).await.is_ready(),
    };
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(state.backend, &gauges))
}

async fn openapi() -> impl IntoResponse {
    Json(api_document())
}
