//! The HTTP server of ml-audit: routes, authentication, the error format, group commit.
//!
//! Handlers are thin: they authenticate (the scope is in their signature), hand the body to the
//! core to parse and redact, and call the store. The store sees only domain types.

mod auth;
mod batch_body;
mod body;
mod error;
mod ingest;
mod metrics;
mod openapi;
mod query;
mod readiness;
mod routes;
mod state;
mod ui;
mod wire;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use crate::error::ApiError;
pub use crate::openapi::api_document;
pub use crate::state::{AppState, Limits, Resilience, ServerSettings};

/// The whole application; also what tests drive.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(routes::predictions::router())
        .merge(routes::models::router())
        .merge(routes::ledger::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(routes::system::router())
        .merge(ui::router(&state))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            // Log the route template, never the URI: paths and query strings can hold
            // identifiers of people.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(state)
}

/// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests finish (each
/// is answered after its commit) for up to `shutdown_timeout`, seals what is committed and signs
/// a last checkpoint. A connection that does not send its headers within `header_read_timeout`
/// is closed, so idle or slow clients can neither hold a worker nor keep the server from exiting.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let resilience = state.resilience;
    let sealer = state.sealer.clone();
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(resilience.header_read_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, a connection reset before accept: keep serving.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    if tokio::time::timeout(resilience.shutdown_timeout, connections.shutdown()).await.is_err() {
        tracing::warn!(
            timeout = ?resilience.shutdown_timeout,
            "requests still in flight at the shutdown timeout are dropped unanswered (not acknowledged)"
        );
    }
    // Every acknowledged event is committed; seal them all and sign over them, so the log is
    // complete and signed at the moment the server stops.
    match tokio::time::timeout(resilience.shutdown_timeout, sealer.checkpoint()).await {
        Ok(Ok(checkpoint)) => tracing::info!(tree_size = checkpoint.tree_size, "sealed and signed a last checkpoint"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not seal and sign at shutdown; the next start seals what is left")
        }
        Err(_) => tracing::warn!("sealing at shutdown timed out; the next start seals what is left"),
    }
    Ok(())
}
