//! The insight queries of the admin UI. They read the running totals of
//! `migrations/0005_rollups.sql` (folded in by the transaction that seals each prediction), so a
//! page costs the size of those small tables, not of the predictions. The tenant of a
//! tenant-bound reader is a condition in the same SQL, like in every other read.

use std::collections::HashMap;

use ml_audit_core::auth::Visibility;
use ml_audit_core::model::{ActorType, Status};
use ml_audit_core::timestamp;
use ml_audit_storage::insights::{MAX_TENANTS, MICROS_PER_HOUR, StatsRow, fold_model_stats};
use ml_audit_storage::{
    ActorPage, ActorPageRequest, ActorSummary, HourlyCount, ModelVersionStats, Result, StorageError, TenantSummary,
    TimeWindow, decode_enum, split_page,
};
use sqlx::{Pool, QueryBuilder};

use crate::dialect::Dialect;
use crate::predictions::push_tenant;
use crate::row::{Columns, SqlRow};

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Maps every row of a query with `map`.
async fn rows<D: Dialect, T>(
    pool: &Pool<D::Db>,
    query: QueryBuilder<D::Db>,
    map: impl Fn(&mut Columns<'_, D::Row<'_>>) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = D::fetch_all(pool, query).await?;
    rows.iter().map(|row| map(&mut Columns::new(&D::row(row)))).collect()
}

pub async fn model_version_stats<D: Dialect>(
    pool: &Pool<D::Db>,
    visibility: &Visibility,
) -> Result<Vec<ModelVersionStats>> {
    let mut query = QueryBuilder::new(
        "SELECT model_ref, decision_outcome, status, bin, CAST(sum(predictions) AS bigint) FROM rollup_mix WHERE 1 = 1",
    );
    push_tenant::<D>(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY model_ref, decision_outcome, status, bin");
    let rows = rows::<D, _>(pool, query, |c| {
        Ok(StatsRow {
            model_id: c.uuid()?,
            decision_outcome: c.text()?,
            status: decode_enum("status", &c.text()?, Status::parse)?,
            bin: Some(c.integer()?).filter(|bin| *bin >= 0),
            count: count(c.integer()?),
        })
    });
    Ok(fold_model_stats(rows.await?))
}

pub async fn hourly_counts<D: Dialect>(
    pool: &Pool<D::Db>,
    visibility: &Visibility,
    window: &TimeWindow,
) -> Result<Vec<HourlyCount>> {
    let (from, to) = window.hour_range();
    let mut query =
        QueryBuilder::new("SELECT hour, model_ref, CAST(sum(predictions) AS bigint) FROM rollup_hourly WHERE hour >= ");
    D::bind_int(&mut query, from);
    query.push(" AND hour < ");
    D::bind_int(&mut query, to);
    push_tenant::<D>(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY hour, model_ref ORDER BY hour, model_ref");
    rows::<D, _>(pool, query, |c| {
        let hour = c.integer()?;
        Ok(HourlyCount {
            hour: timestamp::from_unix_micros(hour.saturating_mul(MICROS_PER_HOUR))
                .ok_or_else(|| StorageError::Integrity(format!("hour {hour} is out of range")))?,
            model_id: c.uuid()?,
            count: count(c.integer()?),
        })
    })
    .await
}

pub async fn list_actors<D: Dialect>(
    pool: &Pool<D::Db>,
    visibility: &Visibility,
    tenant_id: Option<&str>,
    page: &ActorPageRequest,
) -> Result<ActorPage> {
    let mut query = QueryBuilder::new(
        "SELECT a.id, a.actor_type, a.actor_id, a.tenant_id, a.created_at, r.predictions, r.last_ts
           FROM actors a LEFT JOIN rollup_actors r ON r.actor_ref = a.id WHERE 1 = 1",
    );
    push_tenant::<D>(&mut query, "a.tenant_id", visibility);
    if let Some(tenant) = tenant_id {
        query.push(" AND a.tenant_id = ");
        D::bind_text(&mut query, tenant);
    }
    if let Some(after) = &page.after {
        query.push(" AND (a.tenant_id, a.actor_type, a.actor_id) > (");
        D::bind_text(&mut query, &after.tenant_id);
        query.push(", ");
        D::bind_text(&mut query, after.actor_type.as_str());
        query.push(", ");
        D::bind_text(&mut query, &after.actor_id);
        query.push(")");
    }
    query.push(" ORDER BY a.tenant_id, a.actor_type, a.actor_id LIMIT ");
    D::bind_int(&mut query, i64::from(page.limit) + 1);
    let items = rows::<D, _>(pool, query, |c| {
        Ok(ActorSummary {
            id: c.uuid()?,
            actor_type: decode_enum("actor_type", &c.text()?, ActorType::parse)?,
            actor_id: c.text()?,
            tenant_id: c.text()?,
            created_at: c.time()?,
            predictions: count(c.take(SqlRow::integer)?.unwrap_or(0)),
            last_prediction: c.take(SqlRow::time)?,
        })
    });
    let (items, next) = split_page(items.await?, page.limit, ActorSummary::position);
    Ok(ActorPage { items, next })
}

pub async fn list_tenants<D: Dialect>(pool: &Pool<D::Db>, visibility: &Visibility) -> Result<Vec<TenantSummary>> {
    let mut query = QueryBuilder::new(
        "SELECT tenant_id, CAST(sum(predictions) AS bigint), max(last_ts) FROM rollup_mix WHERE 1 = 1",
    );
    push_tenant::<D>(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY tenant_id ORDER BY tenant_id LIMIT ");
    D::bind_int(&mut query, i64::from(MAX_TENANTS));
    let predictions = rows::<D, _>(pool, query, |c| Ok((c.text()?, count(c.integer()?), c.take(SqlRow::time)?)));
    let predictions = predictions.await?;
    let mut query = QueryBuilder::new("SELECT tenant_id, count(*) FROM actors WHERE 1 = 1");
    push_tenant::<D>(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY tenant_id");
    let actors = rows::<D, _>(pool, query, |c| Ok((c.text()?, count(c.integer()?))));
    let mut actors: HashMap<String, u64> = actors.await?.into_iter().collect();
    Ok(predictions
        .into_iter()
        .map(|(tenant_id, predictions, last_prediction)| TenantSummary {
            actors: actors.remove(&tenant_id).unwrap_or(0),
            predictions,
            last_prediction,
            tenant_id,
        })
        .collect())
}
