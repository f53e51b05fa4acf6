//! `GET /subjects/report`: everything recorded about one person (`crate::subjects`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorBody};
use crate::query::SubjectQuery;
use crate::routes::lifecycle::subject_token;
use crate::state::AppState;
use crate::subjects::{Person, gather};
use crate::wire::SubjectReportOut;

pub fn router() -> Router<AppState> {
    Router::new().route("/subjects/report", get(subject_report))
}

/// Every prediction about one person — by the pseudonym token of a raw identifier (`subject`,
/// as `GET /predictions?subject=`), or as the requesting user (`actor_id`, with
/// `actor_type=user`) — each with its model version, decision, final decision, principal
/// reasons, outcomes, reviews and who has seen it; erased ones shown as erased. What a data
/// subject's access request (GDPR Art. 15) and an adverse-action notice need.
#[utoipa::path(get, path = "/api/v1/subjects/report", tag = "subjects",
    params(
        ("subject" = Option<String>, Query, min_length = 1, max_length = 255, pattern = r"^[^\u0000]*\S[^\u0000]*$",
            description = "A raw identifier (e.g. an email address); needs a redaction hash key (else 400). \
            Never stored or logged. Give this or actor_id, not both"),
        ("actor_id" = Option<String>, Query, min_length = 1, max_length = 255, pattern = r"^[^\u0000]*\S[^\u0000]*$",
            description = "The id of a requesting actor of type user"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report, newest first", body = SubjectReportOut),
        (status = 400, description = "Neither or both of subject and actor_id, or no redaction hash key for \
            a subject; `field` names it", body = ErrorBody),
    ))]
pub(crate) async fn subject_report(
    caller: Authorized<Read, SubjectQuery>,
    State(state): State<AppState>,
) -> Result<Json<SubjectReportOut>, ApiError> {
    let person = match &caller.query {
        SubjectQuery::Subject(raw) => Person::Subject { token: subject_token(&state.redaction, raw)? },
        SubjectQuery::ActorId(actor_id) => Person::User { actor_id: actor_id.clone() },
    };
    let report = gather(&state, &caller.visibility, &person).await?;
    caller.shown(&state, report.predictions.iter().map(|p| p.event.id).collect());
    Ok(Json(SubjectReportOut::of(&person, report)))
}
