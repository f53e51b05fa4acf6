//! The access log: `GET /access-log` and `GET /predictions/{ref}/access` ("who has seen this?").
//! Reading the log is itself recorded.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ml_audit_core::access::{AccessAction, AccessEntry, AccessFilter};
use ml_audit_core::query::Page;

use crate::auth::{Admin, Authorized};
use crate::body::PredictionPath;
use crate::error::{ApiError, ErrorBody};
use crate::query::{AccessQuery, PageQuery};
use crate::state::AppState;
use crate::wire::AccessPage;

pub fn router() -> Router<AppState> {
    Router::new().route("/access-log", get(access_log)).route("/predictions/{reference}/access", get(prediction_access))
}

/// The access log, newest first: who was shown which predictions, and who exported, erased,
/// held or changed keys. A tenant-bound key sees the entries of its tenant's keys.
#[utoipa::path(get, path = "/api/v1/access-log", tag = "access",
    params(
        ("key_id" = Option<uuid::Uuid>, Query, description = "Entries made with this key"),
        ("prediction" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$",
            description = "Entries that showed this prediction (its id or prediction_id)"),
        ("time_from" = Option<String>, Query, format = DateTime,
            description = "RFC 3339 with a time zone, inclusive; not later than time_to (else 400)"),
        ("time_to" = Option<String>, Query, format = DateTime, description = "RFC 3339 with a time zone, inclusive"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$",
            description = "next_cursor of the previous page, as given (anything else is a 400)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of access entries", body = AccessPage),
        (status = 404, description = "The `prediction` is not visible to this key", body = ErrorBody),
    ))]
pub(crate) async fn access_log(
    caller: Authorized<Admin, AccessQuery>,
    State(state): State<AppState>,
) -> Result<Json<AccessPage>, ApiError> {
    let AccessQuery { filter, page } = &caller.query;
    let found = state.access_log.list_access(&caller.visibility, filter, page).await?;
    caller.shown(&state, Vec::new());
    Ok(Json(page_out(found)))
}

/// Who has seen this prediction: the access entries that showed it, newest first.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}/access", tag = "access",
    params(
        PredictionPath,
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$",
            description = "next_cursor of the previous page, as given (anything else is a 400)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of access entries", body = AccessPage),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
    ))]
pub(crate) async fn prediction_access(
    caller: Authorized<Admin, PageQuery>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<AccessPage>, ApiError> {
    let event = state.predictions.get_prediction(&caller.visibility, &reference).await?;
    let filter = AccessFilter { prediction: Some(event.id.to_string()), ..AccessFilter::default() };
    let found = state.access_log.list_access(&caller.visibility, &filter, &caller.query.0).await?;
    // The entries were shown, not the prediction: named as the target, not among those shown.
    state.access.record(caller.access.entry(AccessAction::Read, Vec::new()).with_target(reference.0));
    Ok(Json(page_out(found)))
}

fn page_out(found: Page<AccessEntry>) -> AccessPage {
    AccessPage {
        items: found.items.into_iter().map(Into::into).collect(),
        next_cursor: found.next_cursor.map(|cursor| cursor.encode()),
    }
}
