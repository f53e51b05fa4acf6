//! The one error type of the HTTP API. Every failure becomes
//! `{"error": {"code", "message", "field"}}` with the status below; 5xx details are logged for
//! operators and never shown to clients.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ml_audit_core::FieldError;
use ml_audit_ledger::LedgerError;
use ml_audit_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

/// What `Retry-After` says on a 503 for a database that is gone or full: short, since a
/// client's own backoff takes over from there.
const RETRY_AFTER_SECONDS: u32 = 5;
/// What it says when the server sheds load: a queue drains in milliseconds, so soon.
const RETRY_AFTER_OVERLOADED_SECONDS: u32 = 1;

#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: the body is not JSON or not UTF-8, or a query parameter is bad (`field` names it).
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// 422: valid JSON that is not a valid event (`field` is a path such as `actor.actor_type`).
    Invalid(FieldError),
    /// 401: no key, or a key that is unknown or revoked.
    Unauthorized(&'static str),
    /// 403: the key's scope or tenant does not allow this.
    Forbidden(String),
    /// 404: no such resource, or not visible to this key.
    NotFound(&'static str),
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 409: the `prediction_id` is already recorded with different content (`conflict`) or
    /// was erased (`erased`), a legal hold stands in the way (`held`), or the ledger cannot
    /// answer yet.
    Conflict { code: &'static str, message: String, field: Option<String> },
    /// 413: the body exceeds the size or nesting limit.
    TooLarge(String),
    /// 503: the storage backend is unavailable; the request was not stored.
    Unavailable,
    /// 503: the database is out of space; the request was not stored.
    StorageFull,
    /// 503: too many write requests in flight, or the writers' queue is full; the request was
    /// refused at once, nothing was stored.
    Overloaded,
    /// 408: the client did not send its whole body in time.
    BodyTimeout(String),
    /// 500: stored evidence does not check out (a row changed or removed behind ml-audit's
    /// back, a checkpoint that does not verify). Logged loudly; never the caller's fault.
    Integrity(String),
    /// 500: a bug or a database fault; logged, not described to the client.
    Internal(String),
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `invalid_event` or `not_found`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The parameter or field at fault, as a path (`actor.actor_type`), or null.
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad_query(error: FieldError) -> Self {
        ApiError::BadRequest {
            code: "invalid_parameter",
            message: format!("query parameter {}", error),
            field: Some(error.field),
        }
    }

    /// 409 `conflict`.
    pub fn conflict(message: String, field: Option<String>) -> Self {
        ApiError::Conflict { code: "conflict", message, field }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable | ApiError::StorageFull | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Integrity(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body, also used for the per-event results of a batch.
    pub fn detail(&self) -> ErrorDetail {
        let (code, message, field) = match self {
            ApiError::BadRequest { code, message, field } => (*code, message.clone(), field.clone()),
            ApiError::Invalid(error) => {
                let message = if error.field.is_empty() {
                    format!("the event {}", error.message)
                } else {
                    format!("{} {}", error.field, error.message)
                };
                ("invalid_event", message, Some(error.field.clone()).filter(|field| !field.is_empty()))
            }
            ApiError::Unauthorized(message) => ("unauthorized", (*message).to_owned(), None),
            ApiError::Forbidden(message) => ("forbidden", message.clone(), None),
            ApiError::NotFound(what) => ("not_found", format!("{what} not found"), None),
            ApiError::MethodNotAllowed => ("method_not_allowed", "this method is not allowed here".into(), None),
            ApiError::Conflict { code, message, field } => (*code, message.clone(), field.clone()),
            ApiError::TooLarge(message) => ("too_large", message.clone(), None),
            ApiError::Unavailable => {
                ("unavailable", "the database is unavailable; nothing was stored, retry later".into(), None)
            }
            ApiError::StorageFull => {
                ("storage_full", "the database is out of space; nothing was stored, retry later".into(), None)
            }
            ApiError::Overloaded => (
                "overloaded",
                "the server is at capacity; nothing was stored, retry after the Retry-After delay".into(),
                None,
            ),
            ApiError::BodyTimeout(message) => ("body_timeout", message.clone(), None),
            ApiError::Integrity(_) => (
                "integrity_failure",
                "stored evidence does not check out; the operator has been alerted (run `ml-audit verify`)".into(),
                None,
            ),
            ApiError::Internal(_) => ("internal", "internal error; nothing was stored".into(), None),
        };
        ErrorDetail { code: code.to_owned(), message, field }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound(what) => ApiError::NotFound(what.as_str()),
            StorageError::Unavailable(source) => {
                if let Some(suppressed) = UNAVAILABLE_LOG.admit() {
                    tracing::error!(error = %source, suppressed, "database unavailable");
                }
                ApiError::Unavailable
            }
            StorageError::Full(source) => {
                if let Some(suppressed) = FULL_LOG.admit() {
                    tracing::error!(error = %source, suppressed, "database out of space");
                }
                ApiError::StorageFull
            }
            StorageError::Conflict(message) => ApiError::conflict(message, None),
            StorageError::Erased(id) => ApiError::Conflict {
                code: "erased",
                message: format!("the prediction {id} was erased; nothing more is recorded about it"),
                field: None,
            },
            StorageError::Held(hold) => ApiError::Conflict {
                code: "held",
                message: format!("the legal hold {hold} covers records this would erase; nothing was changed"),
                field: None,
            },
            StorageError::Integrity(message) => ApiError::Integrity(message),
            other @ (StorageError::Database(_) | StorageError::Config(_) | StorageError::Migration(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

/// At most one line per [`LOG_EVERY`] for a failure that every request meets while it lasts
/// (the database gone, the disk full): thousands of identical lines a second would bury
/// everything else and cost the CPU the server needs to recover.
struct LogThrottle {
    /// When the last line was written, in ms since the process started; `u64::MAX` for never.
    last: AtomicU64,
    suppressed: AtomicU64,
}

const LOG_EVERY: Duration = Duration::from_secs(5);
static UNAVAILABLE_LOG: LogThrottle = LogThrottle::new();
static FULL_LOG: LogThrottle = LogThrottle::new();

impl LogThrottle {
    const fn new() -> Self {
        Self { last: AtomicU64::new(u64::MAX), suppressed: AtomicU64::new(0) }
    }

    /// `Some(lines suppressed since the last one)` when a line may be written now.
    fn admit(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        self.admit_at(START.get_or_init(Instant::now).elapsed().as_millis() as u64)
    }

    fn admit_at(&self, now: u64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        if due && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Storage(storage) => storage.into(),
            LedgerError::OutOfRange(message) => {
                ApiError::BadRequest { code: "invalid_parameter", message, field: None }
            }
            LedgerError::Integrity(message) => ApiError::Integrity(message),
            other @ (LedgerError::Malformed(_) | LedgerError::Key { .. }) => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(message) => tracing::error!(%message, "internal error"),
            ApiError::Integrity(message) => {
                tracing::error!(%message, "INTEGRITY FAILURE: stored evidence does not check out")
            }
            _ => {}
        }
        let mut response = (self.status(), Json(ErrorBody { error: self.detail() })).into_response();
        if let Some(seconds) = self.retry_after() {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl ApiError {
    /// Seconds a client should wait before sending the same request again, for the failures
    /// that pass by themselves (the database back, space freed); nothing was stored.
    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable | ApiError::StorageFull => Some(RETRY_AFTER_SECONDS),
            ApiError::Overloaded => Some(RETRY_AFTER_OVERLOADED_SECONDS),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_logged_once_per_interval_with_the_count_it_held_back() {
        let throttle = LogThrottle::new();
        let every = LOG_EVERY.as_millis() as u64;
        assert_eq!(throttle.admit_at(1_000), Some(0), "the first one is written");
        assert_eq!(throttle.admit_at(1_001), None);
        assert_eq!(throttle.admit_at(1_000 + every - 1), None);
        assert_eq!(throttle.admit_at(1_000 + every), Some(2), "the next one says how many were held back");
        assert_eq!(throttle.admit_at(1_000 + every + 1), None);
    }
}
