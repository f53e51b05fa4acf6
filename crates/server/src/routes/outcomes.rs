//! Outcomes (ground truth), reviews (human oversight) and model quality: `POST/GET
//! /predictions/{ref}/outcomes`, `POST /outcomes/batch`, `POST/GET /predictions/{ref}/reviews`,
//! `GET /models/{id}/quality`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ml_audit_core::FieldError;
use ml_audit_core::outcome::OutcomeInput;
use ml_audit_core::review::ReviewInput;
use ml_audit_storage::{PredictionRef, Recorded};
use serde_json::Value;
use uuid::Uuid;

use crate::admission::{BatchSlot, WriteSlot};
use crate::auth::{Authorized, Ingest, Read};
use crate::body::{JsonBody, PathParam, PredictionPath};
use crate::error::{ApiError, ErrorBody};
use crate::query::QualityQuery;
use crate::routes::predictions::MAX_BATCH;
use crate::state::AppState;
use crate::wire::{OutcomeBatchItem, OutcomeBatchResults, OutcomeList, OutcomeOut, QualityOut, ReviewList, ReviewOut};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/predictions/{reference}/outcomes", post(record_outcome).get(list_outcomes))
        .route("/outcomes/batch", post(record_outcome_batch))
        .route("/predictions/{reference}/reviews", post(record_review).get(list_reviews))
        .route("/models/{id}/quality", get(model_quality))
}

/// 201 for a new record, 200 for an identical retry.
fn status_of<T>(recorded: &Recorded<T>) -> StatusCode {
    if recorded.is_created() { StatusCode::CREATED } else { StatusCode::OK }
}

/// Record an outcome (ground truth) of a prediction.
#[utoipa::path(post, path = "/api/v1/predictions/{reference}/outcomes", tag = "outcomes",
    params(PredictionPath),
    request_body = ref("#/components/schemas/OutcomeIn"), security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = OutcomeOut),
        (status = 200, description = "Identical retry of a recorded outcome_id", body = OutcomeOut),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
        (status = 409, description = "`conflict`: outcome_id recorded with other content; `erased`: the prediction was erased", body = ErrorBody),
        (status = 422, description = "Not a valid outcome; `field` names the culprit", body = ErrorBody),
    ))]
async fn record_outcome(
    _slot: WriteSlot,
    caller: Authorized<Ingest>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<OutcomeOut>), ApiError> {
    let outcome = OutcomeInput::parse(body).map_err(ApiError::Invalid)?.prepare(&state.redaction);
    let results = state.outcomes.record_outcomes(&caller.visibility, vec![(reference, outcome)]).await;
    state.metrics.record_write(&results);
    let recorded = results?.pop().ok_or_else(|| ApiError::Internal("an outcome without a result".into()))??;
    Ok((status_of(&recorded), Json(recorded.into_record().into())))
}

/// Record outcomes in bulk, each joined to its prediction by `prediction_id`.
#[utoipa::path(post, path = "/api/v1/outcomes/batch", tag = "outcomes",
    request_body = ref("#/components/schemas/OutcomeBatchIn"), security(("bearer" = [])),
    responses(
        (status = 200, description = "Each outcome's result, in request order", body = OutcomeBatchResults),
        (status = 422, description = "Not a batch (`field`: `outcomes` for an empty or oversized one); nothing stored", body = ErrorBody),
    ))]
async fn record_outcome_batch(
    _slot: BatchSlot,
    caller: Authorized<Ingest>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<OutcomeBatchResults>, ApiError> {
    let items = batch_items(body).map_err(ApiError::Invalid)?;
    let policy = state.redaction.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let input =
                    OutcomeInput::parse_batch_item(item).map_err(|e| e.within(&format!("outcomes[{index}]")))?;
                let prediction = PredictionRef(input.prediction_id.clone().unwrap_or_default());
                Ok((prediction, input.prepare(&policy)))
            })
            .collect::<Vec<Result<_, FieldError>>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("validating a batch failed: {e}")))?;
    let mut results: Vec<Option<OutcomeBatchItem>> = Vec::with_capacity(parsed.len());
    let (mut indexes, mut valid) = (Vec::new(), Vec::new());
    for (index, item) in parsed.into_iter().enumerate() {
        match item {
            Ok(item) => {
                indexes.push(index);
                valid.push(item);
                results.push(None);
            }
            Err(error) => results.push(Some(failed(index, &ApiError::Invalid(error)))),
        }
    }
    if !valid.is_empty() {
        let stored = state.outcomes.record_outcomes(&caller.visibility, valid).await;
        state.metrics.record_write(&stored);
        for (index, result) in indexes.into_iter().zip(stored?) {
            results[index] = Some(match result {
                Ok(recorded) => OutcomeBatchItem {
                    index,
                    status: status_of(&recorded).as_u16(),
                    id: Some(recorded.record().id),
                    outcome_id: Some(recorded.record().outcome_id.clone()),
                    error: None,
                },
                Err(error) => failed(index, &error.into()),
            });
        }
    }
    Ok(Json(OutcomeBatchResults { results: results.into_iter().flatten().collect() }))
}

fn failed(index: usize, error: &ApiError) -> OutcomeBatchItem {
    OutcomeBatchItem { index, status: error.status().as_u16(), id: None, outcome_id: None, error: Some(error.detail()) }
}

/// The items of `{"outcomes": [...]}`: 1 to [`MAX_BATCH`], each checked on its own later.
fn batch_items(body: Value) -> Result<Vec<Value>, FieldError> {
    let Value::Object(mut body) = body else {
        return Err(FieldError::new("", "must be a JSON object {\"outcomes\": [...]}"));
    };
    let items = match body.remove("outcomes") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(FieldError::new("outcomes", "must be an array of outcomes")),
        None => return Err(FieldError::new("outcomes", "is required")),
    };
    if let Some(unknown) = body.keys().next() {
        return Err(FieldError::new(unknown.clone(), "is not a known field"));
    }
    match items.len() {
        0 => Err(FieldError::new("outcomes", "must hold at least one outcome")),
        n if n > MAX_BATCH => Err(FieldError::new("outcomes", format!("holds {n} outcomes; the limit is {MAX_BATCH}"))),
        _ => Ok(items),
    }
}

/// Every outcome of a prediction, in arrival order.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}/outcomes", tag = "outcomes",
    params(PredictionPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "Every outcome, in arrival order", body = OutcomeList),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
    ))]
async fn list_outcomes(
    caller: Authorized<Read>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<OutcomeList>, ApiError> {
    let outcomes = state.outcomes.list_outcomes(&caller.visibility, &reference).await?;
    caller.shown_about(&state, &reference, outcomes.iter().map(|outcome| outcome.prediction_ref));
    Ok(Json(OutcomeList { items: outcomes.into_iter().map(Into::into).collect() }))
}

/// Record a human review: confirm, override, reverse or escalate the decision.
#[utoipa::path(post, path = "/api/v1/predictions/{reference}/reviews", tag = "outcomes",
    params(PredictionPath),
    request_body = ref("#/components/schemas/ReviewIn"), security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = ReviewOut),
        (status = 200, description = "Identical retry of a recorded review_id", body = ReviewOut),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
        (status = 409, description = "`conflict`: review_id recorded with other content, or the reviewer would confirm their own pending change (two-person rule); `erased`", body = ErrorBody),
        (status = 422, description = "Not a valid review; `field` names the culprit", body = ErrorBody),
    ))]
async fn record_review(
    _slot: WriteSlot,
    caller: Authorized<Ingest>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ReviewOut>), ApiError> {
    let review = ReviewInput::parse(body).map_err(ApiError::Invalid)?.prepare(&state.redaction);
    let recorded = state.outcomes.record_review(&caller.visibility, &reference, review, &state.review).await;
    state.metrics.record_write(&recorded);
    let recorded = recorded?;
    Ok((status_of(&recorded), Json(recorded.into_record().into())))
}

/// Every review of a prediction, oldest first.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}/reviews", tag = "outcomes",
    params(PredictionPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "Every review, oldest first", body = ReviewList),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
    ))]
async fn list_reviews(
    caller: Authorized<Read>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<ReviewList>, ApiError> {
    let reviews = state.outcomes.list_reviews(&caller.visibility, &reference).await?;
    caller.shown_about(&state, &reference, reviews.iter().map(|review| review.prediction_ref));
    Ok(Json(ReviewList { items: reviews.into_iter().map(Into::into).collect() }))
}

/// A model version's quality over its visible predictions in a window: accuracy, per-label
/// precision and recall, confusion counts, MAE and RMSE, reviewed and overridden counts.
#[utoipa::path(get, path = "/api/v1/models/{id}/quality", tag = "models",
    params(
        ("id" = Uuid, Path),
        ("time_from" = Option<String>, Query, format = DateTime,
            description = "RFC 3339 with a time zone, inclusive (the predictions' timestamp); not later than time_to"),
        ("time_to" = Option<String>, Query, format = DateTime, description = "RFC 3339 with a time zone, inclusive"),
        ("tenant_id" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The model version's quality", body = QualityOut),
        (status = 404, description = "No such model version", body = ErrorBody),
    ))]
async fn model_quality(
    caller: Authorized<Read, QualityQuery>,
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<QualityOut>, ApiError> {
    let id = Uuid::try_parse(&id).map_err(|_| ApiError::NotFound("model version"))?;
    state.predictions.get_model(id).await?;
    let QualityQuery(window) = caller.query;
    let report = state.outcomes.model_quality(&caller.visibility, id, &window).await?;
    Ok(Json(report.into()))
}
