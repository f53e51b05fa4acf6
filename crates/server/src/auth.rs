//! Bearer-key authentication as axum extractors. A handler states the scope it needs in its
//! signature (`Authorized<Read>`), so no route can forget to check, and gets the caller's
//! tenant [`Visibility`] to pass to the store. The same signature states the query parameters
//! the route takes (`Authorized<Read, ListQuery>`; none by default), read strictly by
//! [`StrictQuery`] once the key is accepted.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts, MatchedPath};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ml_audit_core::access::{AccessAction, Channel, Reader};
use ml_audit_core::auth::{KeyHash, KeyScope, Visibility};
use ml_audit_storage::PredictionRef;
use uuid::Uuid;

use crate::access::AccessContext;

use crate::error::ApiError;
use crate::query::{NoQuery, QueryParams, StrictQuery, query_pairs};
use crate::state::AppState;

pub trait RequiredScope {
    const SCOPE: KeyScope;
}

pub struct Read;
pub struct Ingest;
pub struct Admin;

impl RequiredScope for Read {
    const SCOPE: KeyScope = KeyScope::Read;
}
impl RequiredScope for Ingest {
    const SCOPE: KeyScope = KeyScope::Ingest;
}
impl RequiredScope for Admin {
    const SCOPE: KeyScope = KeyScope::Admin;
}

/// A caller whose key is valid and has scope `S` (or `admin`), with the route's parameters `Q`.
pub struct Authorized<S, Q = NoQuery> {
    pub visibility: Visibility,
    pub query: Q,
    /// Who is asking, on which route, with which parameters: what an access entry records.
    pub access: AccessContext,
    _scope: PhantomData<S>,
}

impl<S, Q, St> FromRequestParts<St> for Authorized<S, Q>
where
    S: RequiredScope,
    Q: QueryParams,
    St: Send + Sync,
    AppState: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let secret = bearer_token(parts)?;
        let key = state
            .keys
            .find_active_api_key(&KeyHash::of(secret))
            .await?
            .ok_or(ApiError::Unauthorized("the API key is unknown or revoked"))?;
        if !key.scope.allows(S::SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "this key has scope {}; this request needs {} (or admin)",
                key.scope,
                S::SCOPE
            )));
        }
        let StrictQuery(query) = StrictQuery::<Q>::from_request_parts(parts, &state).await?;
        let access = AccessContext {
            reader: Reader::key(&key),
            channel: Channel::Api,
            route: routed(parts),
            filters: AccessContext::filters(&state.redaction, query_pairs(parts.uri.query().map(str::to_owned))?),
        };
        Ok(Authorized { visibility: key.visibility(), query, access, _scope: PhantomData })
    }
}

impl<S, Q> Authorized<S, Q> {
    /// Records that this request showed `predictions`.
    pub fn shown(&self, state: &AppState, predictions: Vec<Uuid>) {
        state.access.record(self.access.entry(AccessAction::Read, predictions));
    }

    /// Records that this request showed what belongs to the prediction `reference` (its
    /// explanations, outcomes, reviews): named by the records' `prediction`s, and by the
    /// reference as asked (a list can be empty).
    pub fn shown_about(&self, state: &AppState, reference: &PredictionRef, mut records: impl Iterator<Item = Uuid>) {
        // Every record of such a list belongs to the one prediction.
        let predictions = records.next().into_iter().collect();
        let entry = self.access.entry(AccessAction::Read, predictions).with_target(reference.0.clone());
        state.access.record(entry);
    }
}

/// `METHOD /route/{as}/routed`: the route's pattern, never the values in its path.
pub fn routed(parts: &Parts) -> String {
    let path = parts.extensions.get::<MatchedPath>().map_or_else(|| parts.uri.path(), MatchedPath::as_str);
    format!("{} {path}", parts.method)
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("an Authorization: Bearer <key> header is required"))?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Unauthorized("the Authorization header must be \"Bearer <key>\""))
}
