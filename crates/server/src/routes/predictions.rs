//! `/api/v1/predictions`: record, attach explanations, list and show.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ml_audit_core::FieldError;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::{PredictionInput, PreparedPrediction, parse_attached_explanation};
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::PredictionFilter;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::timestamp;
use ml_audit_storage::RecordOutcome;

use crate::admission::{BatchSlot, WriteSlot};
use crate::auth::{Authorized, Ingest, Read};
use crate::batch_body::{BatchBody, BatchEvent, Events};
use crate::body::{JsonBody, PredictionPath};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::EventOutcome;
use crate::query::{ListQuery, QueryParams};
use crate::state::AppState;
use crate::wire::{
    ActorTypeParam, BatchItemResult, BatchResults, BoolParam, ExplanationList, ExplanationOut, PredictionOut,
    PredictionPage, ResultsParam, ReviewStateParam, StatusParam,
};

/// Most events in one batch request.
pub const MAX_BATCH: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/predictions", post(record_prediction).get(list_predictions))
        .route("/predictions/batch", post(record_batch))
        .route("/predictions/{reference}", get(get_prediction))
        .route("/predictions/{reference}/explanation", post(attach_explanation))
        .route("/predictions/{reference}/explanations", get(list_explanations))
}

/// Record one prediction.
#[utoipa::path(post, path = "/api/v1/predictions", tag = "predictions",
    request_body = ref("#/components/schemas/PredictionIn"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = PredictionOut),
        (status = 200, description = "Identical retry of a recorded prediction_id", body = PredictionOut),
        (status = 409, description = "prediction_id recorded with different content", body = ErrorBody),
        (status = 422, description = "Not a valid event; `field` names the culprit", body = ErrorBody),
        (status = 403, description = "Wrong scope, or an actor.tenant_id other than the key's tenant", body = ErrorBody),
    ))]
async fn record_prediction(
    _slot: WriteSlot,
    caller: Authorized<Ingest>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<PredictionOut>), ApiError> {
    let event = prepare(&state.redaction, &caller.visibility, PredictionInput::parse(body))
        .inspect_err(|_| state.metrics.record_event(EventOutcome::Rejected))?;
    let outcome = state.committer.record(event).await?;
    respond(&state, outcome)
}

/// Record up to 1000 predictions; each succeeds or fails on its own.
#[utoipa::path(post, path = "/api/v1/predictions/batch", tag = "predictions",
    request_body = ref("#/components/schemas/BatchIn"),
    params(("results" = inline(Option<ResultsParam>), Query,
        description = "`all` (the default): one result per event. `failures`: only the events that \
            were not stored, with the counts `created` and `replayed` of the others")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per event (or per failed event), in order", body = BatchResults),
        (status = 422, description = "Not an object with `events` alone, or not 1 to 1000 events; \
            `field` names it", body = ErrorBody),
    ))]
async fn record_batch(
    _slot: BatchSlot,
    caller: Authorized<Ingest, ResultsShown>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Json<BatchResults>, ApiError> {
    let events = batch_events(body).map_err(ApiError::Invalid)?;
    // Validation and redaction take milliseconds for a batch: off the async workers, which must
    // stay free to drive the writers' transactions between statements.
    let (policy, visibility) = (state.redaction.clone(), caller.visibility.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        events.into_iter().map(|event| prepare(&policy, &visibility, parse_event(event))).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("validating a batch failed: {e}")))?;
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(prepared.len());
    let (mut indexes, mut valid) = (Vec::with_capacity(prepared.len()), Vec::with_capacity(prepared.len()));
    for (index, outcome) in prepared.into_iter().enumerate() {
        results.push(match outcome {
            Ok(event) => {
                indexes.push(index);
                valid.push(event);
                None
            }
            Err(error) => {
                state.metrics.record_event(EventOutcome::Rejected);
                Some(failed(index, &error))
            }
        });
    }
    // The valid events go to the writers together: one transaction unless the committer groups
    // them with other requests' events.
    if !valid.is_empty() {
        match state.committer.submit(valid).await?.outcomes().await {
            Ok(outcomes) => {
                for (index, outcome) in indexes.into_iter().zip(outcomes) {
                    results[index] = Some(stored(&state, index, outcome));
                }
            }
            // Nothing of the batch was stored: each valid event says so (a client retries them;
            // their prediction_ids make the retry safe).
            Err(error) => {
                for index in indexes {
                    results[index] = Some(failed(index, &error));
                }
            }
        }
    }
    let results = results.into_iter().map(|r| r.expect("every index has a result"));
    Ok(Json(match caller.query {
        ResultsShown::All => BatchResults { results: results.collect(), created: None, replayed: None },
        ResultsShown::Failures => {
            let (mut created, mut replayed, mut failures) = (0, 0, Vec::new());
            for result in results {
                match result.status {
                    201 => created += 1,
                    200 => replayed += 1,
                    _ => failures.push(result),
                }
            }
            BatchResults { results: failures, created: Some(created), replayed: Some(replayed) }
        }
    }))
}

/// Which events a batch's answer lists (`?results=`).
pub(crate) enum ResultsShown {
    All,
    /// Only the events not stored, with counts of the others: a client sending large batches
    /// mostly needs to know what to retry, and 1000 results cost both sides more than the rest.
    Failures,
}

impl QueryParams for ResultsShown {
    const NAMES: &'static [&'static str] = &["results"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        match pairs.first().map(|(_, value)| value.as_str()) {
            None | Some("all") => Ok(ResultsShown::All),
            Some("failures") => Ok(ResultsShown::Failures),
            Some(_) => Err(ApiError::bad_query(FieldError::new("results", "must be all or failures"))),
        }
    }
}

/// Attach an explanation; an earlier one stays on record as an older revision.
#[utoipa::path(post, path = "/api/v1/predictions/{reference}/explanation", tag = "predictions",
    params(PredictionPath),
    request_body = ref("#/components/schemas/ExplanationAttachIn"), security(("bearer" = [])),
    responses(
        (status = 201, description = "Attached as the new current revision", body = ExplanationOut),
        (status = 200, description = "Identical retry of a recorded explanation_id: nothing added", body = ExplanationOut),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
        (status = 409, description = "`conflict`: explanation_id recorded with other content; `erased`: the prediction was erased", body = ErrorBody),
        (status = 422, description = "Not a valid explanation", body = ErrorBody),
    ))]
async fn attach_explanation(
    _slot: WriteSlot,
    caller: Authorized<Ingest>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ExplanationOut>), ApiError> {
    let explanation = parse_attached_explanation(body, timestamp::now()).map_err(ApiError::Invalid)?;
    let stored = state.writer.attach_explanation(&caller.visibility, &reference, explanation).await;
    state.metrics.record_write(&stored);
    let stored = stored?;
    if !stored.is_created() {
        return Ok((StatusCode::OK, Json(stored.into_record().into())));
    }
    state.metrics.record_explanation();
    Ok((StatusCode::CREATED, Json(stored.into_record().into())))
}

/// List predictions, newest first, with filters and cursor paging.
#[utoipa::path(get, path = "/api/v1/predictions", tag = "predictions",
    params(
        ("model_name" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("model_version" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("actor_type" = inline(Option<ActorTypeParam>), Query),
        ("actor_id" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("tenant_id" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("time_from" = Option<String>, Query, format = DateTime,
            description = "RFC 3339 with a time zone, inclusive; not later than time_to (else 400)"),
        ("time_to" = Option<String>, Query, format = DateTime, description = "RFC 3339 with a time zone, inclusive"),
        ("decision_outcome" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("environment" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("has_explanation" = inline(Option<BoolParam>), Query),
        ("status" = inline(Option<StatusParam>), Query),
        ("min_confidence" = Option<f64>, Query, minimum = 0, maximum = 1,
            description = "Inclusive; not greater than max_confidence (else 400)"),
        ("max_confidence" = Option<f64>, Query, minimum = 0, maximum = 1, description = "Inclusive"),
        ("trace_id" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$"),
        ("has_outcome" = inline(Option<BoolParam>), Query),
        ("outcome_label" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$",
            description = "The current outcome's label"),
        ("reviewed" = inline(Option<BoolParam>), Query),
        ("overridden" = inline(Option<BoolParam>), Query,
            description = "Whether an effective override or reverse changed the decision"),
        ("final_decision" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$",
            description = "The decision in force after review (the model's when no review changed it)"),
        ("review_state" = inline(Option<ReviewStateParam>), Query),
        ("subject" = Option<String>, Query, max_length = 255, pattern = r"^[^\u0000]*$",
            description = "A raw identifier (e.g. an email address): predictions whose `hash` redactions \
            pseudonymized it. Needs a redaction hash key (else 400); the value is never stored or logged"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$",
            description = "next_cursor of the previous page, as given (anything else is a 400)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of predictions", body = PredictionPage),
        (status = 400, description = "Unknown or repeated parameter, bad value, or time_from later than time_to \
            or min_confidence greater than max_confidence; `field` names it", body = ErrorBody),
    ))]
async fn list_predictions(
    caller: Authorized<Read, ListQuery>,
    State(state): State<AppState>,
) -> Result<Json<PredictionPage>, ApiError> {
    let mut filter = caller.query.filter.clone();
    subject_to_token(&state.redaction, &mut filter)?;
    let found = state.predictions.list_predictions(&caller.visibility, &filter, &caller.query.page).await?;
    caller.shown(&state, found.items.iter().map(|event| event.id).collect());
    Ok(Json(PredictionPage {
        items: found.items.into_iter().map(Into::into).collect(),
        next_cursor: found.next_cursor.map(|cursor| cursor.encode()),
    }))
}

/// Replaces the raw `subject` of a list query by its pseudonym token: the raw value is used for
/// this one computation and never reaches the store or a log.
pub(crate) fn subject_to_token(policy: &RedactionPolicy, filter: &mut PredictionFilter) -> Result<(), ApiError> {
    if let Some(raw) = filter.subject.take() {
        let token = policy.subject_token(&raw).ok_or_else(|| {
            ApiError::bad_query(FieldError::new("subject", "subject lookup needs a redaction hash key"))
        })?;
        filter.subject = Some(token);
    }
    Ok(())
}

/// Show one prediction with its model, actor and current explanation.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}", tag = "predictions",
    params(PredictionPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The prediction", body = PredictionOut),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
    ))]
async fn get_prediction(
    caller: Authorized<Read>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<PredictionOut>, ApiError> {
    let event = state.predictions.get_prediction(&caller.visibility, &reference).await?;
    caller.shown(&state, vec![event.id]);
    Ok(Json(event.into()))
}

/// Every explanation revision of a prediction, oldest first.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}/explanations", tag = "predictions",
    params(PredictionPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All revisions", body = ExplanationList),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
    ))]
async fn list_explanations(
    caller: Authorized<Read>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<ExplanationList>, ApiError> {
    let revisions = state.predictions.list_explanations(&caller.visibility, &reference).await?;
    caller.shown_about(&state, &reference, revisions.iter().map(|revision| revision.prediction_ref));
    Ok(Json(ExplanationList { items: revisions.into_iter().map(Into::into).collect() }))
}

fn prepare(
    policy: &RedactionPolicy,
    writer: &Visibility,
    input: Result<PredictionInput, FieldError>,
) -> Result<PreparedPrediction, ApiError> {
    let input = input.map_err(ApiError::Invalid)?;
    input.prepare(policy, writer).map_err(|denied| ApiError::Forbidden(denied.to_string()))
}

fn respond(state: &AppState, outcome: RecordOutcome) -> Result<(StatusCode, Json<PredictionOut>), ApiError> {
    accepted(state, outcome).map(|(status, event)| (status, Json(event.into())))
}

/// How a recorded event is answered (and counted): 201 created, 200 replayed, or 409.
fn accepted(state: &AppState, outcome: RecordOutcome) -> Result<(StatusCode, PredictionEvent), ApiError> {
    match outcome {
        RecordOutcome::Created(event) => {
            state.metrics.record_event(EventOutcome::Created);
            Ok((StatusCode::CREATED, event))
        }
        RecordOutcome::Replayed(event) => {
            state.metrics.record_event(EventOutcome::Replayed);
            Ok((StatusCode::OK, event))
        }
        RecordOutcome::Conflict { prediction_id } => {
            state.metrics.record_event(EventOutcome::Conflict);
            Err(ApiError::Conflict {
                code: "conflict",
                message: format!(
                    "prediction_id {prediction_id:?} is already recorded with different content; nothing was changed"
                ),
                field: Some("prediction_id".into()),
            })
        }
        RecordOutcome::Erased { prediction_id } => {
            state.metrics.record_event(EventOutcome::Conflict);
            Err(ApiError::Conflict {
                code: "erased",
                message: format!(
                    "prediction_id {prediction_id:?} belongs to an erased prediction, which is not recorded again"
                ),
                field: Some("prediction_id".into()),
            })
        }
    }
}

/// A batch event's result once its transaction committed: its ids, not the whole record.
fn stored(state: &AppState, index: usize, outcome: RecordOutcome) -> BatchItemResult {
    match accepted(state, outcome) {
        Ok((status, event)) => BatchItemResult {
            index,
            status: status.as_u16(),
            id: Some(event.id),
            prediction_id: Some(event.prediction_id),
            error: None,
        },
        Err(error) => failed(index, &error),
    }
}

fn failed(index: usize, error: &ApiError) -> BatchItemResult {
    BatchItemResult {
        index,
        status: error.status().as_u16(),
        id: None,
        prediction_id: None,
        error: Some(error.detail()),
    }
}

fn batch_events(body: BatchBody) -> Result<Vec<BatchEvent>, FieldError> {
    let BatchBody::Object { events, first_unknown } = body else {
        return Err(FieldError::new("", "must be a JSON object {\"events\": [...]}"));
    };
    let events = match events {
        Some(Events::Array(events)) => events,
        Some(Events::NotArray) => return Err(FieldError::new("events", "must be an array of events")),
        None => return Err(FieldError::new("events", "is required")),
    };
    if let Some(unknown) = first_unknown {
        return Err(FieldError::new(unknown, "is not a known field"));
    }
    match events.len() {
        0 => Err(FieldError::new("events", "must hold at least one event")),
        n if n > MAX_BATCH => Err(FieldError::new("events", format!("holds {n} events; the limit is {MAX_BATCH}"))),
        _ => Ok(events),
    }
}

fn parse_event(event: BatchEvent) -> Result<PredictionInput, FieldError> {
    match event {
        BatchEvent::Members(members) => PredictionInput::parse_members(members),
        BatchEvent::Value(body) => PredictionInput::parse(body),
    }
}

/// A reference that no backend could hold (NUL bytes, absurd length) cannot name a prediction.
#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::body::parse_json;

    /// What the batch route made of a body when it read a `Value` (its code before `BatchBody`).
    fn read_as_a_value(bytes: &[u8]) -> String {
        let outcome = parse_json::<Value>(bytes, 64).and_then(|body| {
            let Value::Object(mut object) = body else {
                return Err(ApiError::Invalid(FieldError::new("", "must be a JSON object {\"events\": [...]}")));
            };
            let events = match object.remove("events") {
                Some(Value::Array(events)) => events,
                Some(_) => return Err(ApiError::Invalid(FieldError::new("events", "must be an array of events"))),
                None => return Err(ApiError::Invalid(FieldError::new("events", "is required"))),
            };
            if let Some(unknown) = object.keys().next() {
                return Err(ApiError::Invalid(FieldError::new(unknown.clone(), "is not a known field")));
            }
            match events.len() {
                0 => Err(ApiError::Invalid(FieldError::new("events", "must hold at least one event"))),
                n if n > MAX_BATCH => Err(ApiError::Invalid(FieldError::new(
                    "events",
                    format!("holds {n} events; the limit is {MAX_BATCH}"),
                ))),
                _ => Ok(events.into_iter().map(PredictionInput::parse).collect::<Vec<_>>()),
            }
        });
        format!("{outcome:?}")
    }

    fn read_as_members(bytes: &[u8]) -> String {
        let outcome = parse_json::<BatchBody>(bytes, 64)
            .and_then(|body| batch_events(body).map_err(ApiError::Invalid))
            .map(|events| events.into_iter().map(parse_event).collect::<Vec<_>>());
        format!("{outcome:?}")
    }

    /// Reading events as members answers every body, valid or not, exactly as reading a `Value`.
    #[test]
    fn a_batch_read_as_members_is_answered_as_a_value_was() {
        let event = r#"{"model_name": "m", "model_version": "1", "features": {"a": [1, {"b": null}]}, "output": 1}"#;
        let reordered = r#"{"output": 2, "features": {}, "model_version": 3, "model_name": "m", "model_version": "1",
            "confidence": 0.25, "metadata": {"k": "v"}, "actor": {"actor_type": "user", "actor_id": "u"}}"#;
        let raw = r#""$serde_json::private::RawValue""#;
        let quoted = serde_json::to_string(event).unwrap();
        let too_many = format!(r#"{{"events": [{}]}}"#, vec![event; MAX_BATCH + 1].join(","));
        let mut bodies = vec![
            format!(r#"{{"events": [{event}, {reordered}]}}"#),
            format!(r#"{{"events": [{event}, "x", 1, -1, 1.5, 1e5, 18446744073709551615, null, true, [1], {{}}]}}"#),
            r#"{"events": [{"zeta": 1, "model_name": "m", "alpha": 2, "beta": 3}, {"confidence": 1, "confidence": 7}]}"#
                .into(),
            format!(r#"{{"b": 1, "events": [{event}], "a": 2}}"#),
            format!(r#"{{"events": [{event}], "events": 5}}"#),
            format!(r#"{{"events": 5, "events": [{event}]}}"#),
            "{}".into(),
            "[]".into(),
            r#""events""#.into(),
            "null".into(),
            "1".into(),
            r#"{"events": {}}"#.into(),
            r#"{"events": "all"}"#.into(),
            r#"{"events": null}"#.into(),
            r#"{"events": []}"#.into(),
            r#"{"events": [], "extra": 1}"#.into(),
            too_many,
            // Not JSON, wherever the fault lies (also in values an error answer never looks at).
            format!(r#"{{"events": [{event}],}}"#),
            format!(r#"{{"events": [{event}]}} x"#),
            format!(r#"{{"events": [{event}]"#),
            r#"{"events": [{"a" 1}]}"#.into(),
            r#"{"events": [{1: 2}]}"#.into(),
            r#"{"events": [01]}"#.into(),
            r#"{"events": [{"a": "\ud800"}]}"#.into(),
            r#"{"x": "\ud800", "events": []}"#.into(),
            r#"{"x": 1e400, "events": 3}"#.into(),
            r#"{"events": [{"model_name": 1e400}]}"#.into(),
            "{\"events\": [\"\u{1}\"]}".into(),
            format!("{}{}", "[".repeat(65), "]".repeat(65)),
            // serde_json's raw-value form, read by its `Value` as the JSON text it holds.
            format!(r#"{{{raw}: {}}}"#, serde_json::to_string(&format!(r#"{{"events": [{event}]}}"#)).unwrap()),
            format!(r#"{{"events": [{{{raw}: {quoted}}}, {{"b": 1, {raw}: {quoted}}}]}}"#),
            format!(r#"{{"events": {{{raw}: {}}}}}"#, serde_json::to_string(&format!("[{event}, 3]")).unwrap()),
            format!(r#"{{"events": [{{{raw}: 5}}, {{{raw}: "nope"}}]}}"#),
            format!(r#"{{"events": [{{{raw}: "[1]", "b": 2}}]}}"#),
        ];
        bodies.push(bodies[0].replace("\"m\"", "\"m\u{e9}\""));
        for body in &bodies {
            assert_eq!(read_as_members(body.as_bytes()), read_as_a_value(body.as_bytes()), "{body}");
        }
    }
}
