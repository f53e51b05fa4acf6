//! `/api/v1/ledger` and a prediction's inclusion proof: what an auditor needs to check, without
//! trusting this server, that a record is in the log the signed checkpoints commit to.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ml_audit_core::FieldError;
use ml_audit_core::ledger::record::LedgerRecord;
use ml_audit_core::timestamp::format_rfc3339;
use ml_audit_ledger::{LedgerError, proofs};
use ml_audit_storage::StoredCheckpoint;

use crate::auth::{Admin, Authorized, Read};
use crate::body::PredictionPath;
use crate::error::{ApiError, ErrorBody};
use crate::query::{QueryParams, whole_number};
use crate::state::AppState;
use crate::wire::{CheckpointOut, ConsistencyProofOut, InclusionProofOut, PublicKeyOut};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ledger/checkpoint", get(latest_checkpoint).post(create_checkpoint))
        .route("/ledger/public-key", get(public_key))
        .route("/ledger/consistency", get(consistency_proof))
        .route("/predictions/{reference}/proof", get(inclusion_proof))
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger", security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest checkpoint", body = CheckpointOut),
        (status = 404, description = "No checkpoint yet", body = ErrorBody),
    ))]
async fn latest_checkpoint(
    _caller: Authorized<Read>,
    State(state): State<AppState>,
) -> Result<Json<CheckpointOut>, ApiError> {
    let latest = state.ledger.latest_checkpoint().await?.ok_or(ApiError::NotFound("checkpoint"))?;
    Ok(Json(checkpoint_out(latest)))
}

/// Seal everything recorded so far and sign a checkpoint now (admin).
#[utoipa::path(post, path = "/api/v1/ledger/checkpoint", tag = "ledger", security(("bearer" = [])),
    responses((status = 201, description = "The checkpoint over the whole log", body = CheckpointOut)))]
async fn create_checkpoint(
    _caller: Authorized<Admin>,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<CheckpointOut>), ApiError> {
    let checkpoint = state.sealer.checkpoint().await?;
    Ok((StatusCode::CREATED, Json(checkpoint_out(checkpoint))))
}

/// The public key that signs checkpoints, as a C2SP verifier key.
#[utoipa::path(get, path = "/api/v1/ledger/public-key", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, description = "The checkpoint signing key", body = PublicKeyOut)))]
async fn public_key(_caller: Authorized<Read>, State(state): State<AppState>) -> Json<PublicKeyOut> {
    let verifier = state.sealer.key().verifier();
    Json(PublicKeyOut { key_name: verifier.name().to_owned(), vkey: verifier.vkey() })
}

/// Proof that a prediction is leaf `leaf_index` of the tree of `tree_size` leaves.
#[utoipa::path(get, path = "/api/v1/predictions/{reference}/proof", tag = "ledger",
    params(
        PredictionPath,
        ("tree_size" = Option<u64>, Query, minimum = 0,
            description = "Default: the latest checkpoint's size. Larger than the log: 400"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record, its leaf and its audit path", body = InclusionProofOut),
        (status = 404, description = "No such prediction visible to this key", body = ErrorBody),
        (status = 409, description = "Not sealed yet, or not covered by a checkpoint yet", body = ErrorBody),
    ))]
async fn inclusion_proof(
    caller: Authorized<Read, ProofQuery>,
    State(state): State<AppState>,
    PredictionPath { reference }: PredictionPath,
) -> Result<Json<InclusionProofOut>, ApiError> {
    let tree_size = caller.query.tree_size;
    let event = state.predictions.get_prediction(&caller.visibility, &reference).await?;
    caller.shown(&state, vec![event.id]);
    if let Some(erased) = &event.erased {
        return Err(ApiError::Conflict {
            code: "erased",
            message: format!(
                "this prediction was erased at {} (erasure {}): its content is gone, its leaf stays in the log",
                format_rfc3339(erased.at),
                erased.erasure_id
            ),
            field: None,
        });
    }
    let entry = event.ledger.ok_or_else(|| ApiError::Conflict {
        code: "conflict",
        message: "this prediction is not sealed yet; retry in a moment".into(),
        field: None,
    })?;
    let latest = state.ledger.latest_checkpoint().await?;
    let tree_size = tree_size.unwrap_or_else(|| latest.as_ref().map_or(0, |c| c.tree_size));
    if tree_size <= entry.seq {
        return Err(ApiError::Conflict {
            code: "conflict",
            message: format!(
                "leaf {} is not in a tree of {tree_size} leaves; ask for a larger tree_size or sign a newer checkpoint",
                entry.seq
            ),
            field: Some("tree_size".into()),
        });
    }
    let path = proofs::inclusion(state.ledger.as_ref(), entry.seq, tree_size).await.map_err(naming("tree_size"))?;
    // Usually the latest checkpoint; only an explicit older tree_size needs the others.
    let checkpoint = match latest {
        Some(latest) if latest.tree_size == tree_size => Some(latest.note),
        _ => state.ledger.checkpoints().await?.into_iter().find(|c| c.tree_size == tree_size).map(|c| c.note),
    };
    let record = LedgerRecord::Prediction(Box::new(event));
    Ok(Json(InclusionProofOut {
        leaf_index: entry.seq,
        tree_size,
        leaf_hash: hex::encode(entry.leaf_hash),
        leaf_data: STANDARD.encode(record.leaf_data()),
        salt: record.salt().map(hex::encode),
        record: record.canonical_document(),
        inclusion_path: path.iter().map(hex::encode).collect(),
        checkpoint,
    }))
}

/// Proof that the tree of `from` leaves is a prefix of the tree of `to` leaves.
#[utoipa::path(get, path = "/api/v1/ledger/consistency", tag = "ledger",
    params(
        ("from" = u64, Query, minimum = 1, description = "A tree size, from 1 to `to` (else 400)"),
        ("to" = u64, Query, minimum = 1, description = "A tree size, at most the log's (else 400)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The consistency proof", body = ConsistencyProofOut),
        (status = 400, description = "from or to missing, repeated or not a whole number, from = 0, from > to, \
            or to larger than the log; `field` names it where one is at fault", body = ErrorBody),
    ))]
async fn consistency_proof(
    caller: Authorized<Read, ConsistencyQuery>,
    State(state): State<AppState>,
) -> Result<Json<ConsistencyProofOut>, ApiError> {
    let ConsistencyQuery { from, to } = caller.query;
    let proof = proofs::consistency(state.ledger.as_ref(), from, to).await.map_err(naming("to"))?;
    Ok(Json(ConsistencyProofOut { from, to, proof: proof.iter().map(hex::encode).collect() }))
}

/// A proof the log cannot give (a tree larger than the log) names the parameter that asked for it.
fn naming(parameter: &'static str) -> impl Fn(LedgerError) -> ApiError {
    move |error| match ApiError::from(error) {
        ApiError::BadRequest { code, message, field: None } => {
            ApiError::BadRequest { code, message, field: Some(parameter.into()) }
        }
        other => other,
    }
}

fn checkpoint_out(checkpoint: StoredCheckpoint) -> CheckpointOut {
    CheckpointOut {
        tree_size: checkpoint.tree_size,
        root_hash: hex::encode(checkpoint.root_hash),
        note: checkpoint.note,
        created_at: format_rfc3339(checkpoint.created_at),
    }
}

/// `?tree_size=N` of an inclusion proof.
pub(crate) struct ProofQuery {
    tree_size: Option<u64>,
}

impl QueryParams for ProofQuery {
    const NAMES: &'static [&'static str] = &["tree_size"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let tree_size = pairs.first().map(|(name, value)| whole_number(name, value)).transpose()?;
        Ok(ProofQuery { tree_size })
    }
}

/// `?from=M&to=N` of a consistency proof: both required, 1 <= M <= N.
pub(crate) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

impl QueryParams for ConsistencyQuery {
    const NAMES: &'static [&'static str] = &["from", "to"];

    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let number = |wanted: &str| match pairs.iter().find(|(name, _)| name == wanted) {
            Some((name, value)) => whole_number(name, value),
            None => Err(ApiError::bad_query(FieldError::new(wanted, "is required"))),
        };
        let (from, to) = (number("from")?, number("to")?);
        if from == 0 || from > to {
            return Err(ApiError::bad_query(FieldError::new("from", "must be from 1 to `to`")));
        }
        Ok(ConsistencyQuery { from, to })
    }
}
