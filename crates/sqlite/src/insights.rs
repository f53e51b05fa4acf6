//! The insight queries of the admin UI on SQLite. They read the running totals of
//! `migrations/0005_rollups.sql`, folded in by the transaction that seals each prediction: a
//! page costs the size of those small tables, not of the predictions. The tenant of a
//! tenant-bound reader is a condition in the same SQL, like in every other read.

use std::collections::HashMap;

use ml_audit_core::auth::{ApiKey, Visibility};
use ml_audit_core::model::{ActorType, Status};
use ml_audit_storage::insights::{MAX_TENANTS, MICROS_PER_HOUR, StatsRow, fold_model_stats};
use ml_audit_storage::{
    ActorPage, ActorPageRequest, ActorSummary, HourlyCount, ModelVersionStats, Result, TenantSummary, TimeWindow,
    decode_enum, split_page,
};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};
use uuid::Uuid;

use crate::rows::{db_err, key_from_row, micros};

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn push_tenant(query: &mut QueryBuilder<Sqlite>, column: &str, visibility: &Visibility) {
    if let Some(tenant) = visibility.tenant() {
        query.push(format!(" AND {column} = ")).push_bind(tenant.to_owned());
    }
}

pub async fn model_version_stats(pool: &SqlitePool, visibility: &Visibility) -> Result<Vec<ModelVersionStats>> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT model_ref, decision_outcome, status, bin, sum(predictions) AS n FROM rollup_mix WHERE 1 = 1",
    );
    push_tenant(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY model_ref, decision_outcome, status, bin");
    let rows = query.build().fetch_all(pool).await.map_err(db_err)?;
    let rows = rows
        .iter()
        .map(|row| {
            let bin: i64 = row.try_get("bin").map_err(db_err)?;
            Ok(StatsRow {
                model_id: row.try_get("model_ref").map_err(db_err)?,
                decision_outcome: row.try_get("decision_outcome").map_err(db_err)?,
                status: decode_enum("status", &row.try_get::<String, _>("status").map_err(db_err)?, Status::parse)?,
                bin: (bin >= 0).then_some(bin),
                count: count(row.try_get("n").map_err(db_err)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(fold_model_stats(rows))
}

pub async fn hourly_counts(
    pool: &SqlitePool,
    visibility: &Visibility,
    window: &TimeWindow,
) -> Result<Vec<HourlyCount>> {
    let (from, to) = window.hour_range();
    let mut query =
        QueryBuilder::<Sqlite>::new("SELECT hour, model_ref, sum(predictions) AS n FROM rollup_hourly WHERE hour >= ");
    query.push_bind(from).push(" AND hour < ").push_bind(to);
    push_tenant(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY hour, model_ref ORDER BY hour, model_ref");
    let rows = query.build().fetch_all(pool).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let hour: i64 = row.try_get("hour").map_err(db_err)?;
            Ok(HourlyCount {
                hour: micros(hour.saturating_mul(MICROS_PER_HOUR))?,
                model_id: row.try_get("model_ref").map_err(db_err)?,
                count: count(row.try_get("n").map_err(db_err)?),
            })
        })
        .collect()
}

pub async fn list_actors(
    pool: &SqlitePool,
    visibility: &Visibility,
    tenant_id: Option<&str>,
    page: &ActorPageRequest,
) -> Result<ActorPage> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT a.id, a.actor_type, a.actor_id, a.tenant_id, a.created_at, r.predictions AS n, r.last_ts
           FROM actors a LEFT JOIN rollup_actors r ON r.actor_ref = a.id WHERE 1 = 1",
    );
    push_tenant(&mut query, "a.tenant_id", visibility);
    if let Some(tenant) = tenant_id {
        query.push(" AND a.tenant_id = ").push_bind(tenant.to_owned());
    }
    if let Some(after) = &page.after {
        query.push(" AND (a.tenant_id, a.actor_type, a.actor_id) > (").push_bind(after.tenant_id.clone());
        query.push(", ").push_bind(after.actor_type.as_str()).push(", ").push_bind(after.actor_id.clone()).push(")");
    }
    query.push(" ORDER BY a.tenant_id, a.actor_type, a.actor_id LIMIT ").push_bind(i64::from(page.limit) + 1);
    let rows = query.build().fetch_all(pool).await.map_err(db_err)?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(ActorSummary {
                id: row.try_get("id").map_err(db_err)?,
                actor_type: decode_enum(
                    "actor_type",
                    &row.try_get::<String, _>("actor_type").map_err(db_err)?,
                    ActorType::parse,
                )?,
                actor_id: row.try_get("actor_id").map_err(db_err)?,
                tenant_id: row.try_get("tenant_id").map_err(db_err)?,
                created_at: micros(row.try_get("created_at").map_err(db_err)?)?,
                predictions: count(row.try_get::<Option<i64>, _>("n").map_err(db_err)?.unwrap_or(0)),
                last_prediction: row.try_get::<Option<i64>, _>("last_ts").map_err(db_err)?.map(micros).transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (items, next) = split_page(items, page.limit, ActorSummary::position);
    Ok(ActorPage { items, next })
}

pub async fn list_tenants(pool: &SqlitePool, visibility: &Visibility) -> Result<Vec<TenantSummary>> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT tenant_id, sum(predictions) AS n, max(last_ts) AS last_ts FROM rollup_mix WHERE 1 = 1",
    );
    push_tenant(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY tenant_id ORDER BY tenant_id LIMIT ").push_bind(i64::from(MAX_TENANTS));
    let predictions = query.build().fetch_all(pool).await.map_err(db_err)?;
    let mut query = QueryBuilder::<Sqlite>::new("SELECT tenant_id, count(*) AS n FROM actors WHERE 1 = 1");
    push_tenant(&mut query, "tenant_id", visibility);
    query.push(" GROUP BY tenant_id");
    let actors = query.build().fetch_all(pool).await.map_err(db_err)?;
    let mut actors = actors
        .iter()
        .map(|row| Ok((row.try_get::<String, _>("tenant_id")?, count(row.try_get("n")?))))
        .collect::<Result<HashMap<_, _>, sqlx::Error>>()
        .map_err(db_err)?;
    predictions
        .iter()
        .map(|row| {
            let tenant_id: String = row.try_get("tenant_id").map_err(db_err)?;
            Ok(TenantSummary {
                actors: actors.remove(&tenant_id).unwrap_or(0),
                predictions: count(row.try_get("n").map_err(db_err)?),
                last_prediction: row.try_get::<Option<i64>, _>("last_ts").map_err(db_err)?.map(micros).transpose()?,
                tenant_id,
            })
        })
        .collect()
}

pub async fn get_api_key(pool: &SqlitePool, id: Uuid) -> Result<Option<ApiKey>> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE id = ?").bind(id).fetch_optional(pool).await.map_err(db_err)?;
    row.as_ref().map(key_from_row).transpose()
}
