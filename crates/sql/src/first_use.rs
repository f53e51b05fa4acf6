//! Model version and actor rows, created on first use inside a write transaction, the same way on
//! both backends: looked up first, as they almost always exist; inserted with `ON CONFLICT DO
//! NOTHING` otherwise, so that when two transactions create one at once the second waits for the
//! first and does nothing; then read back, which sees the winner's row (the first event's
//! metadata wins).

use ml_audit_core::event::{NewActor, NewModelVersion};
use ml_audit_core::ledger::canonical::column_text;
use ml_audit_core::model::ModelVersion;
use ml_audit_storage::{Result, StorageError};
use sqlx::QueryBuilder;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect, bind_optional_text, collect};
use crate::row::{self, Columns, MODEL_COLUMNS};

/// The model version row for `model`, created at `now` if it does not exist.
pub async fn model_row<D: Dialect>(
    conn: &mut Conn<D>,
    model: &NewModelVersion,
    now: OffsetDateTime,
) -> Result<ModelVersion> {
    let find = || {
        let mut query = QueryBuilder::new(format!("SELECT {MODEL_COLUMNS} FROM model_versions WHERE model_name = "));
        D::bind_text(&mut query, &model.model_name);
        query.push(" AND version = ");
        D::bind_text(&mut query, &model.version);
        query
    };
    if let Some(found) = collect::<D, _>(conn, find(), |row| row::model(row)).await?.pop() {
        return Ok(found);
    }
    let mut insert = QueryBuilder::new(
        "INSERT INTO model_versions (id, model_name, version, framework, build_id, commit_hash, config_snapshot, \
         is_active, created_at) VALUES (",
    );
    D::bind_uuid(&mut insert, Uuid::now_v7());
    for text in [&model.model_name, &model.version, &model.framework, &model.build_id, &model.commit_hash] {
        insert.push(", ");
        D::bind_text(&mut insert, text);
    }
    insert.push(", ");
    bind_optional_text::<D>(&mut insert, model.config_snapshot.as_ref().map(column_text));
    insert.push(", TRUE, ");
    D::bind_time(&mut insert, now);
    insert.push(") ON CONFLICT (model_name, version) DO NOTHING");
    collect::<D, _>(conn, insert, |_| Ok(())).await?;
    let found = collect::<D, _>(conn, find(), |row| row::model(row)).await?.pop();
    found.ok_or_else(|| StorageError::Integrity(format!("model version {:?} vanished", model.model_name)))
}

/// The id and creation time of the actor row for `actor`, created at `now` if it does not exist.
pub async fn actor_row<D: Dialect>(
    conn: &mut Conn<D>,
    actor: &NewActor,
    now: OffsetDateTime,
) -> Result<(Uuid, OffsetDateTime)> {
    let find = || {
        let mut query = QueryBuilder::new("SELECT id, created_at FROM actors WHERE actor_type = ");
        D::bind_text(&mut query, actor.actor_type.as_str());
        query.push(" AND actor_id = ");
        D::bind_text(&mut query, &actor.actor_id);
        query.push(" AND tenant_id = ");
        D::bind_text(&mut query, &actor.tenant_id);
        query
    };
    let read = |row: &D::Row<'_>| {
        let mut c = Columns::new(row);
        Ok((c.uuid()?, c.time()?))
    };
    if let Some(found) = collect::<D, _>(conn, find(), read).await?.pop() {
        return Ok(found);
    }
    let mut insert = QueryBuilder::new(
        "INSERT INTO actors (id, actor_type, actor_id, tenant_id, ip_address, user_agent, auth_context, created_at) \
         VALUES (",
    );
    D::bind_uuid(&mut insert, Uuid::now_v7());
    for text in [actor.actor_type.as_str(), &actor.actor_id, &actor.tenant_id] {
        insert.push(", ");
        D::bind_text(&mut insert, text);
    }
    // The request context (IP, user agent, auth context) is kept on each prediction only, where
    // an erasure can reach it: the actor row holds the identity (migration 0008).
    insert.push(", NULL, '', NULL, ");
    D::bind_time(&mut insert, now);
    insert.push(") ON CONFLICT (actor_type, actor_id, tenant_id) DO NOTHING");
    collect::<D, _>(conn, insert, |_| Ok(())).await?;
    let found = collect::<D, _>(conn, find(), read).await?.pop();
    found.ok_or_else(|| StorageError::Integrity(format!("actor {:?} vanished", actor.actor_id)))
}
