//! The JSON body extractor: size limit, UTF-8, nesting limit, then parse — each failure a clear
//! error in the API's format (axum's own `Json` answers in plain text).

use std::time::Duration;

use axum::body::BodyDataStream;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use bytes::BytesMut;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use ml_audit_storage::PredictionRef;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::state::Limits;

/// The one path parameter of a route, as text. A segment that is not UTF-8 cannot name anything
/// stored, so it is a 404 in the API's error format rather than axum's plain-text 400.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound("resource"))?;
        Ok(PathParam(value))
    }
}

/// A prediction named in the path by its `id` or `prediction_id`: one extractor, and one
/// OpenAPI description, for every route that takes one. A reference that nothing stored could
/// match (a NUL, over 1 KiB) is a 404 before it reaches the store.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PredictionPath {
    /// The prediction's id (UUID) or prediction_id
    #[param(value_type = String)]
    pub reference: PredictionRef,
}

impl<S: Send + Sync> FromRequestParts<S> for PredictionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PathParam(reference) = PathParam::from_request_parts(parts, state).await?;
        if reference.contains('\0') || reference.len() > 1024 {
            return Err(ApiError::NotFound("prediction"));
        }
        Ok(PredictionPath { reference: PredictionRef(reference) })
    }
}

/// A request body that is a JSON document within the configured limits, read as a `Value` or as
/// a form of a route's own (see `batch_body`).
pub struct JsonBody<T = Value>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    Limits: FromRef<S>,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limits = Limits::from_ref(state);
        let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let mut body = request.into_body().into_data_stream();
        let too_large = || ApiError::TooLarge(format!("the body exceeds the limit of {} bytes", limits.max_body_bytes));
        if declared.is_some_and(|length| length > limits.max_body_bytes) {
            drain(body).await;
            return Err(too_large());
        }
        // A client that sends its body slowly or not at all cannot hold the request (and, on
        // shutdown, the server) longer than the timeout.
        let read = async {
            let mut bytes = BytesMut::with_capacity(declared.unwrap_or(0));
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest {
                    code: "invalid_body",
                    message: format!("the body could not be read: {e}"),
                    field: None,
                })?;
                if bytes.len() + chunk.len() > limits.max_body_bytes {
                    drain(body).await;
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(limits.body_read_timeout, read).await.map_err(|_| {
            ApiError::BodyTimeout(format!(
                "the body did not arrive within {} s; nothing was stored",
                limits.body_read_timeout.as_secs()
            ))
        })??;
        if bytes.len() < OFF_THREAD_PARSE_BYTES {
            return parse_json(&bytes, limits.max_json_depth).map(JsonBody);
        }
        // A large body (a batch) takes milliseconds to parse: off the async workers, which drive
        // every other request and the writers' transactions meanwhile.
        let depth = limits.max_json_depth;
        tokio::task::spawn_blocking(move || parse_json(&bytes, depth).map(JsonBody))
            .await
            .map_err(|e| ApiError::Internal(format!("parsing the body failed: {e}")))?
    }
}

/// Bodies from this size on are parsed on the blocking pool.
const OFF_THREAD_PARSE_BYTES: usize = 64 * 1024;

/// Most bytes and time spent discarding the rest of a refused body.
const DRAIN_MAX_BYTES: usize = 128 * 1024 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

/// Reads and discards what the client is still sending before answering (a "lingering close",
/// RFC 9112 §9.6): a client that writes its whole body before reading would otherwise see a
/// broken pipe instead of the 413. Bounded, so a hostile client cannot hold the task.
async fn drain(mut body: BodyDataStream) {
    let discard = async {
        let mut discarded = 0;
        while let Some(Ok(chunk)) = body.next().await {
            discarded += chunk.len();
            if discarded > DRAIN_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, discard).await;
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::BadRequest {
        code: "invalid_utf8",
        message: format!("the body is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        field: None,
    })?;
    if nesting_depth(text.as_bytes()) > max_depth {
        return Err(ApiError::TooLarge(format!("the JSON nests deeper than the limit of {max_depth} levels")));
    }
    serde_json::from_str(text).map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        message: format!("the body is not valid JSON: {e}"),
        field: None,
    })
}

/// The deepest nesting of arrays and objects, found in one pass without building anything, so
/// that a hostile body cannot exhaust the stack of the parser (or of anything after it).
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_inside_strings() {
        assert_eq!(nesting_depth(br#"{"a": "[[[{{{\"]]]"}"#), 1);
        assert_eq!(nesting_depth(br#"{"a": [{"b": [1]}]}"#), 4);
        assert_eq!(nesting_depth(b"42"), 0);
    }

    #[test]
    fn too_deep_is_rejected_before_parsing() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse_json::<Value>(deep.as_bytes(), 64), Err(ApiError::TooLarge(_))));
        assert!(parse_json::<Value>(b"[[1]]", 64).is_ok());
    }

    #[test]
    fn invalid_utf8_and_json_are_bad_requests() {
        let bad_utf8 = parse_json::<Value>(b"{\"a\": \"\xff\"}", 64);
        assert!(matches!(bad_utf8, Err(ApiError::BadRequest { code: "invalid_utf8", .. })));
        assert!(matches!(
            parse_json::<Value>(b"{not json", 64),
            Err(ApiError::BadRequest { code: "invalid_json", .. })
        ));
    }
}
