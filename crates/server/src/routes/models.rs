//! `/api/v1/models`: model versions, shared metadata visible to every read key.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use uuid::Uuid;

use crate::auth::{Authorized, Read};
use crate::body::PathParam;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::wire::{ModelList, ModelOut};

pub fn router() -> Router<AppState> {
    Router::new().route("/models", get(list_models)).route("/models/{id}", get(get_model))
}

/// Every model version, by name then age.
#[utoipa::path(get, path = "/api/v1/models", tag = "models", security(("bearer" = [])),
    responses((status = 200, description = "All model versions", body = ModelList)))]
async fn list_models(_caller: Authorized<Read>, State(state): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let models = state.predictions.list_models().await?;
    Ok(Json(ModelList { items: models.into_iter().map(Into::into).collect() }))
}

/// One model version.
#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "models", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The model version", body = ModelOut),
        (status = 404, description = "No such model version", body = ErrorBody),
    ))]
async fn get_model(
    _caller: Authorized<Read>,
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<ModelOut>, ApiError> {
    let id = Uuid::try_parse(&id).map_err(|_| ApiError::NotFound("model version"))?;
    let model = state.predictions.get_model(id).await?;
    Ok(Json(model.into()))
}
