//! `/api/v1/erasures` and `/api/v1/holds`: erasure on request and legal holds (admin scope).
//! Retention runs inside `serve` and `ml-audit purge`, not over HTTP. See `docs/lifecycle.md`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use ml_audit_core::FieldError;
use ml_audit_core::access::AccessAction;
use ml_audit_core::auth::Visibility;
use ml_audit_core::lifecycle::{ErasureRequest, HoldRequest, HoldScope, Selection, parse_release};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::timestamp::{self, format_rfc3339};
use ml_audit_storage::{ErasurePlan, ErasureResult, PredictionRef, StoredHold};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Authorized};
use crate::body::{JsonBody, PathParam};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::wire::LedgerOut;

/// Most erasures `GET /api/v1/erasures` lists (the newest).
const LISTED_ERASURES: u32 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/erasures", post(erase).get(list_erasures))
        .route("/holds", post(create_hold).get(list_holds))
        .route("/holds/{id}/release", post(release_hold))
}

/// How many records of each kind an erasure destroyed (or, in a dry run, would).
#[derive(Serialize, ToSchema)]
pub struct ErasureCountsOut {
    pub predictions: u64,
    pub explanations: u64,
    pub outcomes: u64,
    pub reviews: u64,
}

/// An erasure: what it erased (counts and, in the ledger, the seqs), never what they held.
#[derive(Serialize, ToSchema)]
pub struct ErasureOut {
    /// Null for a dry run (nothing was stored).
    pub id: Option<Uuid>,
    pub reason: String,
    pub dry_run: bool,
    pub erased: ErasureCountsOut,
    /// The tenant of the key that asked; null for an unbound key, the operator or retention.
    pub tenant_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The erasure's own leaf; null for a dry run.
    pub ledger: Option<LedgerOut>,
}

impl ErasureOut {
    fn of(result: ErasureResult, dry_run: bool) -> Self {
        let ErasureResult { erasure, ledger } = result;
        Self {
            id: (!dry_run).then_some(erasure.id),
            reason: erasure.reason,
            dry_run,
            erased: ErasureCountsOut {
                predictions: erasure.counts.predictions,
                explanations: erasure.counts.explanations,
                outcomes: erasure.counts.outcomes,
                reviews: erasure.counts.reviews,
            },
            tenant_id: erasure.tenant_id,
            created_at: format_rfc3339(erasure.created_at),
            ledger: ledger.map(LedgerOut::from),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErasureList {
    pub items: Vec<ErasureOut>,
}

/// An actor named by its identity.
#[derive(Serialize, ToSchema)]
pub struct ActorKeyOut {
    pub actor_type: String,
    pub actor_id: String,
    pub tenant_id: String,
}

/// A hold's release.
#[derive(Serialize, ToSchema)]
pub struct ReleaseOut {
    #[schema(format = DateTime)]
    pub at: String,
    pub reason: String,
}

/// A legal hold: while it stands, nothing it covers is erased or purged.
#[derive(Serialize, ToSchema)]
pub struct HoldOut {
    pub id: Uuid,
    pub reason: String,
    pub tenant_id: Option<String>,
    pub model_name: Option<String>,
    /// The subject's pseudonym token (`pii_…`), never the raw value.
    pub subject: Option<String>,
    pub actor: Option<ActorKeyOut>,
    /// Prediction ids.
    pub predictions: Vec<Uuid>,
    #[schema(format = DateTime)]
    pub until: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub released: Option<ReleaseOut>,
    /// Whether it stands now (not released, not lapsed).
    pub active: bool,
    pub ledger: Option<LedgerOut>,
}

impl From<StoredHold> for HoldOut {
    fn from(stored: StoredHold) -> Self {
        let StoredHold { hold, release, ledger } = stored;
        let active = hold.stands_at(timestamp::now(), release.as_ref().map(|r| r.created_at));
        let HoldScope { tenant_id, model_name, subject, actor, predictions } = hold.scope;
        Self {
            id: hold.id,
            reason: hold.reason,
            tenant_id,
            model_name,
            subject,
            actor: actor.map(|a| ActorKeyOut {
                actor_type: a.actor_type.to_string(),
                actor_id: a.actor_id,
                tenant_id: a.tenant_id,
            }),
            predictions,
            until: hold.until.map(format_rfc3339),
            created_at: format_rfc3339(hold.created_at),
            released: release.map(|r| ReleaseOut { at: format_rfc3339(r.created_at), reason: r.reason }),
            active,
            ledger: ledger.map(LedgerOut::from),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HoldList {
    pub items: Vec<HoldOut>,
}

/// Erase a data subject's records (GDPR Art. 17), an actor's, or listed predictions.
#[utoipa::path(post, path = "/api/v1/erasures", tag = "lifecycle",
    request_body = ref("#/components/schemas/ErasureIn"), security(("bearer" = [])),
    responses(
        (status = 201, description = "Erased; the erasure is a ledger leaf", body = ErasureOut),
        (status = 200, description = "Dry run: the counts, nothing changed", body = ErasureOut),
        (status = 404, description = "A listed prediction is not visible to this key", body = ErrorBody),
        (status = 409, description = "`held`: a legal hold covers a selected record; nothing was erased", body = ErrorBody),
        (status = 422, description = "No selector, no reason, or a malformed field", body = ErrorBody),
    ))]
async fn erase(
    caller: Authorized<Admin>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ErasureOut>), ApiError> {
    let request = ErasureRequest::parse(body).map_err(ApiError::Invalid)?;
    if let Some(actor) = &request.actor {
        within_tenant(&caller.visibility, &actor.tenant_id, "actor.tenant_id")?;
    }
    let subject = request.subject.as_deref().map(|raw| subject_token(&state.redaction, raw)).transpose()?;
    let selection = Selection { subject, actor: request.actor, predictions: request.predictions };
    let dry_run = request.dry_run;
    let plan = ErasurePlan { selection, reason: request.reason, dry_run };
    let result = state.lifecycle.erase(&caller.visibility, plan).await?;
    let entry = caller.access.entry(AccessAction::Erase, Vec::new()).with_target(result.erasure.id.to_string());
    state.access.record(if dry_run { entry.with_filters([("dry_run".into(), "true".into())].into()) } else { entry });
    if !dry_run {
        // The erased values may still sit in the database's own files (SQLite's WAL): give the
        // space back now rather than at the next restart. The erasure is committed either way.
        if let Err(error) = state.lifecycle.reclaim_space().await {
            tracing::warn!(%error, "could not reclaim the space of an erasure yet");
        }
    }
    let status = if dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(ErasureOut::of(result, dry_run))))
}

/// The erasures this key sees (a tenant-bound key: those it asked for), newest first (at most 1000).
#[utoipa::path(get, path = "/api/v1/erasures", tag = "lifecycle", security(("bearer" = [])),
    responses((status = 200, description = "Newest first", body = ErasureList)))]
async fn list_erasures(
    caller: Authorized<Admin>,
    State(state): State<AppState>,
) -> Result<Json<ErasureList>, ApiError> {
    let erasures = state.lifecycle.list_erasures(&caller.visibility, LISTED_ERASURES).await?;
    Ok(Json(ErasureList { items: erasures.into_iter().map(|e| ErasureOut::of(e, false)).collect() }))
}

/// Place a legal hold: nothing it covers is erased or purged while it stands.
#[utoipa::path(post, path = "/api/v1/holds", tag = "lifecycle",
    request_body = ref("#/components/schemas/HoldIn"), security(("bearer" = [])),
    responses(
        (status = 201, description = "Placed; the hold is a ledger leaf", body = HoldOut),
        (status = 404, description = "A listed prediction is not visible to this key", body = ErrorBody),
        (status = 422, description = "No scope, no reason, an `until` in the past, or a malformed field", body = ErrorBody),
    ))]
async fn create_hold(
    caller: Authorized<Admin>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<HoldOut>), ApiError> {
    let request = HoldRequest::parse(body, timestamp::now()).map_err(ApiError::Invalid)?;
    let tenant_id = match (caller.visibility.tenant(), request.tenant_id) {
        (Some(_), Some(asked)) => {
            within_tenant(&caller.visibility, &asked, "tenant_id")?;
            Some(asked)
        }
        (Some(own), None) => Some(own.to_owned()),
        (None, asked) => asked,
    };
    if let Some(actor) = &request.actor {
        within_tenant(&caller.visibility, &actor.tenant_id, "actor.tenant_id")?;
    }
    let subject = request.subject.as_deref().map(|raw| subject_token(&state.redaction, raw)).transpose()?;
    let mut predictions = Vec::with_capacity(request.predictions.len());
    for reference in request.predictions {
        let event = state.predictions.get_prediction(&caller.visibility, &PredictionRef(reference)).await?;
        predictions.push(event.id);
    }
    let scope = HoldScope { tenant_id, model_name: request.model_name, subject, actor: request.actor, predictions };
    let hold = state.lifecycle.create_hold(request.reason, scope, request.until).await?;
    let held = hold.hold.scope.predictions.clone();
    state.access.record(caller.access.entry(AccessAction::Hold, held).with_target(hold.hold.id.to_string()));
    Ok((StatusCode::CREATED, Json(hold.into())))
}

/// The holds this key sees (a tenant-bound key: those scoped to its tenant), newest first.
#[utoipa::path(get, path = "/api/v1/holds", tag = "lifecycle", security(("bearer" = [])),
    responses((status = 200, description = "Newest first, released ones included", body = HoldList)))]
async fn list_holds(caller: Authorized<Admin>, State(state): State<AppState>) -> Result<Json<HoldList>, ApiError> {
    let holds = state.lifecycle.list_holds(&caller.visibility).await?;
    Ok(Json(HoldList { items: holds.into_iter().map(Into::into).collect() }))
}

/// Release a standing hold, with a reason (itself a ledger leaf).
#[utoipa::path(post, path = "/api/v1/holds/{id}/release", tag = "lifecycle",
    params(("id" = Uuid, Path, description = "The hold's id")),
    request_body = ref("#/components/schemas/ReleaseIn"), security(("bearer" = [])),
    responses(
        (status = 200, description = "Released", body = HoldOut),
        (status = 404, description = "No such hold visible to this key", body = ErrorBody),
        (status = 409, description = "Already released", body = ErrorBody),
        (status = 422, description = "No reason", body = ErrorBody),
    ))]
async fn release_hold(
    caller: Authorized<Admin>,
    State(state): State<AppState>,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> Result<Json<HoldOut>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("hold"))?;
    let reason = parse_release(body).map_err(ApiError::Invalid)?;
    let hold = state.lifecycle.release_hold(&caller.visibility, id, reason).await?;
    state.access.record(caller.access.entry(AccessAction::HoldRelease, Vec::new()).with_target(id.to_string()));
    Ok(Json(hold.into()))
}

/// A tenant-bound key acts only in its own tenant.
fn within_tenant(visibility: &Visibility, tenant_id: &str, field: &str) -> Result<(), ApiError> {
    if visibility.permits_tenant(tenant_id) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!("{field} {tenant_id:?} is not this key's tenant")))
}

/// The pseudonym token of a raw subject value (never stored, never logged).
pub(crate) fn subject_token(policy: &RedactionPolicy, raw: &str) -> Result<String, ApiError> {
    policy
        .subject_token(raw)
        .ok_or_else(|| ApiError::Invalid(FieldError::new("subject", "subject lookup needs a redaction hash key")))
}
