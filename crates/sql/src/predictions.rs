//! The prediction queries both backends run: resolving a reference, the list with its filters
//! and keyset paging, and the model versions a filter names. Each builds a `QueryBuilder` for
//! its dialect, so the write paths (inside their own transactions) run the same SQL as the reads.

use ml_audit_core::auth::Visibility;
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_storage::{Entity, PredictionRef, Result, StorageError};
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect};
use crate::row::{self, Columns, SELECT_PREDICTION};

/// The `id` of a visible prediction: a UUID-shaped reference as `id` first, then any reference
/// as `prediction_id`. Invisible and missing are both `NotFound`. `locking` ends the query (a
/// `FOR …` clause, or nothing), for a write that must hold the row.
pub async fn resolve<D: Dialect>(
    conn: &mut Conn<D>,
    visibility: &Visibility,
    prediction: &PredictionRef,
    locking: &str,
) -> Result<Uuid> {
    if let Some(id) = prediction.as_uuid() {
        let mut query = visible_by_id::<D>(id, visibility);
        query.push(locking);
        if let Some(found) = first::<D, _>(conn, query, |row| Columns::new(row).uuid()).await? {
            return Ok(found);
        }
    }
    let mut query = visible_by_prediction_id::<D>(prediction, visibility);
    query.push(locking);
    first::<D, _>(conn, query, |row| Columns::new(row).uuid()).await?.ok_or(StorageError::NotFound(Entity::Prediction))
}

/// A stored prediction by `id` (one known to exist, e.g. a replay's answer).
pub async fn fetch<D: Dialect>(conn: &mut Conn<D>, id: Uuid) -> Result<PredictionEvent> {
    let found = first::<D, _>(conn, by_id::<D>(id), |row| row::prediction(row)).await?;
    found.ok_or(StorageError::NotFound(Entity::Prediction))
}

/// The first row of `query`, mapped.
async fn first<D: Dialect, T: Send>(
    conn: &mut Conn<D>,
    query: QueryBuilder<D::Db>,
    map: impl Fn(&D::Row<'_>) -> Result<T> + Send + Sync,
) -> Result<Option<T>> {
    let mut found = None;
    D::for_each(conn, query, &mut |db_row| {
        if found.is_none() {
            found = Some(map(&D::row(db_row))?);
        }
        Ok(())
    })
    .await?;
    Ok(found)
}

/// The visible prediction whose `id` is `id` (`SELECT p.id …`).
pub fn visible_by_id<D: Dialect>(id: Uuid, visibility: &Visibility) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.id = ");
    D::bind_uuid(&mut query, id);
    push_visibility::<D>(&mut query, visibility);
    query
}

/// The visible prediction whose external `prediction_id` is `prediction` (`SELECT p.id …`).
pub fn visible_by_prediction_id<D: Dialect>(
    prediction: &PredictionRef,
    visibility: &Visibility,
) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new("SELECT p.id FROM predictions p WHERE p.prediction_id = ");
    D::bind_text(&mut query, &prediction.0);
    push_visibility::<D>(&mut query, visibility);
    query
}

/// One prediction by `id`, mapped by [`crate::row::prediction`].
pub fn by_id<D: Dialect>(id: Uuid) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new(SELECT_PREDICTION);
    query.push(" WHERE p.id = ");
    D::bind_uuid(&mut query, id);
    query
}

/// The ids of the model versions a filter names (`None`: no model filter), looked up before the
/// list query so that it matches `model_ref`, which an index leads with.
pub fn named_models<D: Dialect>(filter: &PredictionFilter) -> Option<QueryBuilder<D::Db>> {
    if filter.model_name.is_none() && filter.model_version.is_none() {
        return None;
    }
    let mut query = QueryBuilder::new("SELECT id FROM model_versions WHERE 1 = 1");
    if let Some(name) = &filter.model_name {
        query.push(" AND model_name = ");
        D::bind_text(&mut query, name);
    }
    if let Some(version) = &filter.model_version {
        query.push(" AND version = ");
        D::bind_text(&mut query, version);
    }
    Some(query)
}

/// A page of the visible predictions that match `filter`, newest first; `models` are the ids
/// [`named_models`] found. Fetches `limit + 1` rows: the extra one only tells that a next page
/// exists (`ml_audit_storage::split_page`).
pub fn list<D: Dialect>(
    visibility: &Visibility,
    filter: &PredictionFilter,
    models: Option<&[Uuid]>,
    page: &PageRequest,
) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new(SELECT_PREDICTION);
    query.push(" WHERE 1 = 1");
    push_filters::<D>(&mut query, visibility, filter, models);
    if let Some(after) = page.after {
        query.push(" AND (p.ts, p.id) < (");
        D::bind_time(&mut query, after.timestamp);
        query.push(", ");
        D::bind_uuid(&mut query, after.id);
        query.push(")");
    }
    query.push(" ORDER BY p.ts DESC, p.id DESC LIMIT ");
    D::bind_int(&mut query, i64::from(page.limit) + 1);
    query
}

/// ` AND p.tenant_id = …` for a tenant-bound caller: every read of predictions adds it.
pub fn push_visibility<D: Dialect>(query: &mut QueryBuilder<D::Db>, visibility: &Visibility) {
    if let Some(tenant) = visibility.tenant() {
        query.push(" AND p.tenant_id = ");
        D::bind_text(query, tenant);
    }
}

fn push_filters<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    models: Option<&[Uuid]>,
) {
    push_visibility::<D>(query, visibility);
    if let Some(models) = models {
        D::push_any_uuid(query, "p.model_ref", models);
    }
    let mut equals = |column: &str, value: Option<&str>| {
        if let Some(value) = value {
            query.push(format!(" AND {column} = "));
            D::bind_text(query, value);
        }
    };
    equals("a.actor_type", filter.actor_type.map(|t| t.as_str()));
    equals("a.actor_id", filter.actor_id.as_deref());
    equals("p.tenant_id", filter.tenant_id.as_deref());
    equals("p.decision_outcome", filter.decision_outcome.as_deref());
    equals("p.environment", filter.environment.as_deref());
    equals("p.status", filter.status.map(|s| s.as_str()));
    equals("p.trace_id", filter.trace_id.as_deref());
    let mut compare = |condition: &str, bind: &dyn Fn(&mut QueryBuilder<D::Db>)| {
        query.push(condition);
        bind(query);
    };
    if let Some(from) = filter.time_from {
        compare(" AND p.ts >= ", &|q| D::bind_time(q, from));
    }
    if let Some(to) = filter.time_to {
        compare(" AND p.ts <= ", &|q| D::bind_time(q, to));
    }
    if let Some(min) = filter.min_confidence {
        compare(" AND p.confidence >= ", &|q| D::bind_float(q, min));
    }
    if let Some(max) = filter.max_confidence {
        compare(" AND p.confidence <= ", &|q| D::bind_float(q, max));
    }
    if let Some(token) = &filter.subject {
        query.push(" AND EXISTS (SELECT 1 FROM prediction_subjects s WHERE s.token = ");
        D::bind_text(query, token);
        query.push(" AND s.prediction_ref = p.id)");
    }
    match filter.has_explanation {
        Some(true) => query.push(" AND EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        Some(false) => query.push(" AND NOT EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        None => query,
    };
}
