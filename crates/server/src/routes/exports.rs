//! `/api/v1/exports`: every matching prediction as one streamed file (the encoders and the
//! paging are in `crate::export`, shared with `ml-audit export`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use ml_audit_core::model::PredictionEvent;
use ml_audit_storage::StorageError;
use tokio::sync::mpsc;

use ml_audit_core::access::AccessAction;

use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorBody};
use crate::export::{ExportFormat, ExportPages};
use crate::query::ExportQuery;
use crate::routes::predictions::subject_to_token;
use crate::state::AppState;
use crate::wire::{ActorTypeParam, BoolParam, ReviewStateParam, StatusParam};

/// Encoded pages waiting for the client: with the page being read and the one being encoded,
/// what an export holds is a few pages, however many rows it writes.
const CHUNKS_AHEAD: usize = 2;

pub fn router() -> Router<AppState> {
    Router::new().route("/exports/predictions", get(export_predictions))
}

/// Every matching prediction, newest first, in the GET shape, streamed in constant memory.
#[utoipa::path(get, path = "/api/v1/exports/predictions", tag = "exports",
    params(
        ("format" = inline(Option<ExportFormatParam>), Query,
            description = "`jsonl` (the default): one prediction per line. `csv`: a header row, then one row per \
            prediction with a column per top-level field; strings as their text, other values as JSON text"),
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
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every matching prediction visible to this key, newest first, as an \
            attachment (`Content-Disposition`). Streamed: a failure after the first bytes ends the transfer \
            abruptly (no last chunk), never with a short file that looks complete; each JSONL line that \
            arrives is whole",
            content(
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            ),
            headers(("Content-Disposition" = String,
                description = "`attachment; filename=\"predictions.jsonl\"` (or `.csv`)"))),
        (status = 400, description = "Unknown or repeated parameter (paging — `limit`, `cursor` — included: an \
            export has no pages), a `format` other than jsonl or csv, or a filter the list would refuse, with \
            the list's words; `field` names it", body = ErrorBody),
    ))]
async fn export_predictions(
    caller: Authorized<Read, ExportQuery>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let mut filter = caller.query.filter.clone();
    let format = caller.query.format;
    subject_to_token(&state.redaction, &mut filter)?;
    let pages = ExportPages::new(state.predictions.clone(), caller.visibility, filter, state.limits.export_page_rows);
    let mut pages = pages.prefetch();
    // The first page is read before the answer starts, so that a database that cannot answer
    // is a normal JSON error (503), not a broken download.
    let first = pages.recv().await.unwrap_or(Ok(Vec::new()))?;
    // Each page sent is an access entry naming its predictions (the first one even when empty:
    // the export itself is on record).
    let (access, context) = (state.access.clone(), caller.access);
    let logged = move |events: &[PredictionEvent]| {
        access.record(context.entry(AccessAction::Export, events.iter().map(|event| event.id).collect()));
    };
    let body = stream(format, first, pages, logged);
    let disposition = format!("attachment; filename=\"{}\"", format.file_name());
    Ok(([(CONTENT_TYPE, format.media_type().to_owned()), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

/// The response body: the pages encoded on a blocking thread (encoding is CPU work that would
/// hold up an async worker), each handed on as one chunk of whole rows through a bounded
/// channel. When the client goes away the body is dropped, the encoder's next send fails and it
/// stops, and with it the reads (see `ExportPages::prefetch`).
fn stream(
    format: ExportFormat,
    first: Vec<PredictionEvent>,
    mut pages: mpsc::Receiver<Result<Vec<PredictionEvent>, StorageError>>,
    logged: impl Fn(&[PredictionEvent]) + Send + 'static,
) -> Body {
    let (chunks, received) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        format.write_header(&mut out);
        let mut page = Some(Ok(first));
        while let Some(next) = page {
            match next {
                Ok(events) => {
                    logged(&events);
                    format.write_rows(events, &mut out)
                }
                Err(error) => {
                    tracing::error!(%error, "an export failed after it started; its transfer is cut short");
                    let _ = chunks.blocking_send(Err(std::io::Error::other("the export failed")));
                    return;
                }
            }
            if !out.is_empty() && chunks.blocking_send(Ok(Bytes::from(std::mem::take(&mut out)))).is_err() {
                return;
            }
            page = pages.blocking_recv();
        }
    });
    Body::from_stream(futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|chunk| (chunk, received))
    }))
}

/// `jsonl` or `csv`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ExportFormatParam {
    Jsonl,
    Csv,
}
