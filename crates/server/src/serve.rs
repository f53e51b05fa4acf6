//! The connection loop: HTTP/1 with header and body read timeouts, and a shutdown that waits
//! for the requests in flight (not for idle or stalled connections), then seals and signs.
//! (`axum::serve` has no header read timeout, and waits for every connection.)

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::router;
use crate::state::AppState;

/// How long answers written after the last in-flight request finished get to reach the client
/// before a stopping server closes the remaining connections.
const FLUSH_GRACE: Duration = Duration::from_millis(250);

/// Requests being handled now: shutdown waits for them, not for connections with none.
#[derive(Clone, Default)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    async fn track(State(in_flight): State<InFlight>, request: Request<Body>, next: Next) -> Response {
        in_flight.0.fetch_add(1, Ordering::Relaxed);
        let _done = scopeguard(move || {
            in_flight.0.fetch_sub(1, Ordering::Relaxed);
        });
        next.run(request).await
    }

    /// Polls: it only runs once, at shutdown, and costs the requests nothing.
    async fn none_left(&self) {
        while self.0.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Runs `f` when dropped, also when the request's future is dropped half-way.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
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
    let access = state.access.clone();
    let in_flight = InFlight::default();
    let app = router(state).layer(axum::middleware::from_fn_with_state(in_flight.clone(), InFlight::track));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(resilience.header_read_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Answers are small: send them at once rather than wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    stream
                }
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
    // Done when every connection has closed, or when no request is in flight any more and the
    // last answers have had a moment to go out: a client idle or stalled in its headers has
    // nothing in flight and does not hold the server.
    let answered = async {
        in_flight.none_left().await;
        tokio::time::sleep(FLUSH_GRACE).await;
    };
    let drained = async {
        tokio::select! {
            () = connections.shutdown() => {},
            () = answered => {},
        }
    };
    if tokio::time::timeout(resilience.shutdown_timeout, drained).await.is_err() {
        tracing::warn!(
            timeout = ?resilience.shutdown_timeout,
            "requests still in flight at the shutdown timeout are dropped unanswered (not acknowledged)"
        );
    }
    // The access entries of the requests answered are written, so no read goes unlogged.
    if tokio::time::timeout(resilience.shutdown_timeout, access.flush()).await.is_err() {
        tracing::warn!("could not write every access entry at shutdown (the database refused them)");
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
