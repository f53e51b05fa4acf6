//! Erasure, retention and legal hold, written once for both backends (`docs/lifecycle.md`).
//!
//! An erasure runs in one transaction that the backend opens for appending to the ledger
//! ([`Backend::begin_ledger_write`]: on PostgreSQL under the sealers' lock, with the queue sealed
//! first, so every record it selects has its seq): it selects the sealed, unerased records,
//! refuses if a standing hold covers one, computes each v2 record's commitment from its row,
//! writes the erasure, its `erased_records` rows and its leaf, and only then blanks the records
//! and removes their subject tokens (the triggers allow exactly this, and only for a record a
//! sealed erasure names).

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::ledger::canonical::to_canonical_string;
use ml_audit_core::ledger::merkle::Hash;
use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::lifecycle::{
    ActorKey, Erasure, ErasureCounts, Hold, HoldRelease, HoldScope, PurgeStep, RETENTION_REASON, RetentionRule,
    Selection,
};
use ml_audit_core::model::{ActorType, LedgerEntry};
use ml_audit_core::timestamp;
use ml_audit_storage::{
    Entity, ErasurePlan, ErasureResult, LifecycleStore, PredictionRef, RecordLeaf, Result, StorageError, StoredHold,
    StoredLifecycle, decode_enum, decode_json, decode_seq,
};
use sqlx::QueryBuilder;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect, bind_optional_text, collect};
use crate::ledger::records_by_seq;
use crate::predictions::{self, push_visibility};
use crate::row::{Columns, SqlRow, ledger_entry};
use crate::store::{Backend, SqlStore};

/// Records changed per statement (SQLite binds at most 32,766 values a statement).
const CHUNK: usize = 500;

/// Which predictions an erasure reaches, as a condition on `predictions p`.
enum Target<'a> {
    /// A request's selectors (their union), within what the caller sees.
    Selected { subject: Option<&'a str>, actor_ref: Option<Uuid>, ids: Vec<Uuid>, visibility: &'a Visibility },
    /// A retention rule's expired predictions that no standing hold covers, oldest first.
    Expired { step: &'a PurgeStep, holds: &'a [Hold], limit: Option<u32> },
}

impl Target<'_> {
    /// ` WHERE …` (and the order and limit of a purge batch), after `FROM predictions p`.
    fn push<D: Dialect>(&self, query: &mut QueryBuilder<D::Db>) {
        query.push(" WHERE NOT EXISTS (SELECT 1 FROM erased_records x WHERE x.record_id = p.id)");
        match self {
            Target::Selected { subject, actor_ref, ids, visibility } => {
                query.push(" AND (1 = 0");
                if let Some(token) = subject {
                    query.push(" OR p.id IN (SELECT s.prediction_ref FROM prediction_subjects s WHERE s.token = ");
                    D::bind_text(query, token);
                    query.push(")");
                }
                if let Some(actor) = actor_ref {
                    query.push(" OR p.actor_ref = ");
                    D::bind_uuid(query, *actor);
                }
                if !ids.is_empty() {
                    query.push(" OR (1 = 1");
                    D::push_any_uuid(query, "p.id", ids);
                    query.push(")");
                }
                query.push(")");
                push_visibility::<D>(query, visibility);
            }
            Target::Expired { step, holds, limit } => {
                query.push(" AND p.ts < ");
                D::bind_time(query, step.before);
                query.push(" AND ");
                push_rule::<D>(query, &step.rule);
                for other in &step.except {
                    query.push(" AND NOT ");
                    push_rule::<D>(query, other);
                }
                for hold in holds.iter() {
                    query.push(" AND NOT ");
                    push_scope::<D>(query, &hold.scope);
                }
                if let Some(limit) = limit {
                    query.push(" ORDER BY p.ts, p.id LIMIT ");
                    D::bind_int(query, i64::from(*limit));
                }
            }
        }
    }
}

/// `(…)`: the predictions a retention rule names.
fn push_rule<D: Dialect>(query: &mut QueryBuilder<D::Db>, rule: &RetentionRule) {
    push_tenant_and_model::<D>(query, rule.tenant_id.as_deref(), rule.model_name.as_deref());
}

/// `(…)`: the predictions of `tenant` and of the model named `model`, where given (both rules
/// and holds scope by them).
fn push_tenant_and_model<D: Dialect>(query: &mut QueryBuilder<D::Db>, tenant: Option<&str>, model: Option<&str>) {
    query.push("(1 = 1");
    if let Some(tenant) = tenant {
        query.push(" AND p.tenant_id = ");
        D::bind_text(query, tenant);
    }
    if let Some(model) = model {
        query.push(" AND p.model_ref IN (SELECT m.id FROM model_versions m WHERE m.model_name = ");
        D::bind_text(query, model);
        query.push(")");
    }
    query.push(")");
}

/// `(…)`: the predictions a hold covers (every scope it names), one parenthesised condition so
/// that it can be negated as a whole.
fn push_scope<D: Dialect>(query: &mut QueryBuilder<D::Db>, scope: &HoldScope) {
    query.push("(");
    push_tenant_and_model::<D>(query, scope.tenant_id.as_deref(), scope.model_name.as_deref());
    if let Some(token) = &scope.subject {
        query.push(" AND EXISTS (SELECT 1 FROM prediction_subjects s WHERE s.prediction_ref = p.id AND s.token = ");
        D::bind_text(query, token);
        query.push(")");
    }
    if let Some(actor) = &scope.actor {
        // `IS NOT NULL` first: a prediction without an actor is outside the scope, not unknown
        // (a NULL here would also drop it from a purge's `NOT (…)`).
        query.push(" AND p.actor_ref IS NOT NULL AND p.actor_ref IN (SELECT a.id FROM actors a WHERE a.actor_type = ");
        D::bind_text(query, actor.actor_type.as_str());
        query.push(" AND a.actor_id = ");
        D::bind_text(query, &actor.actor_id);
        query.push(" AND a.tenant_id = ");
        D::bind_text(query, &actor.tenant_id);
        query.push(")");
    }
    if !scope.predictions.is_empty() {
        D::push_any_uuid(query, "p.id", &scope.predictions);
    }
    query.push(")");
}

/// Runs a statement in the transaction.
async fn run<D: Dialect>(conn: &mut Conn<D>, query: QueryBuilder<D::Db>) -> Result<()> {
    D::for_each(conn, query, &mut |_| Ok(())).await
}

/// `(id, seq)` of the records `query` selects.
async fn sealed_ids<D: Dialect>(conn: &mut Conn<D>, query: QueryBuilder<D::Db>) -> Result<Vec<(Uuid, u64)>> {
    collect::<D, _>(conn, query, |row| {
        let mut c = Columns::new(row);
        Ok((c.uuid()?, decode_seq(c.integer()?)?))
    })
    .await
}

/// Who and why, for an erasure about to be written.
struct ErasureMeta {
    reason: String,
    subject: Option<String>,
    actor_ref: Option<Uuid>,
    tenant_id: Option<String>,
}

/// Erases what `target` selects, in the caller's transaction; with `dry_run`, only counts.
async fn erase_in<B: Backend>(
    conn: &mut Conn<B>,
    target: &Target<'_>,
    meta: ErasureMeta,
    dry_run: bool,
) -> Result<ErasureResult> {
    let mut query =
        QueryBuilder::new("SELECT p.id, l.seq FROM predictions p JOIN ledger_entries l ON l.record_id = p.id");
    target.push::<B>(&mut query);
    let predictions = sealed_ids::<B>(conn, query).await?;
    // Explanations, outcomes and reviews, by table (in `FOLLOWERS`' order).
    let mut followers: [Vec<(Uuid, u64)>; 3] = Default::default();
    for chunk in predictions.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        for ((table, _), found) in FOLLOWERS.iter().zip(&mut followers) {
            let mut query = QueryBuilder::new(format!(
                "SELECT f.id, l.seq FROM {table} f JOIN ledger_entries l ON l.record_id = f.id WHERE 1 = 1"
            ));
            B::push_any_uuid(&mut query, "f.prediction_ref", &ids);
            found.extend(sealed_ids::<B>(conn, query).await?);
        }
    }
    let [explanations, outcomes, reviews] = &followers;
    let mut seqs: Vec<u64> = predictions.iter().chain(followers.iter().flatten()).map(|(_, seq)| *seq).collect();
    seqs.sort_unstable();
    let erasure = Erasure {
        id: Uuid::now_v7(),
        reason: meta.reason,
        subject: meta.subject,
        actor_ref: meta.actor_ref,
        tenant_id: meta.tenant_id,
        seqs,
        unsalted: Vec::new(),
        counts: ErasureCounts {
            predictions: predictions.len() as u64,
            explanations: explanations.len() as u64,
            outcomes: outcomes.len() as u64,
            reviews: reviews.len() as u64,
        },
        created_at: timestamp::now(),
    };
    if dry_run {
        return Ok(ErasureResult { erasure, ledger: None });
    }
    // The erasure's row, the `erased_records` rows (each with its commitment) and its leaf
    // first: the triggers let a record be blanked only when a sealed erasure names it.
    let mut erasure = erasure;
    let mut erased = Vec::with_capacity(erasure.seqs.len());
    for chunk in erasure.seqs.chunks(CHUNK) {
        erased.extend(commitments::<B>(conn, chunk).await?);
    }
    erasure.unsalted = erased.iter().filter(|row| row.commitment.is_none()).map(|row| row.seq).collect();
    insert_erasure::<B>(conn, &erasure).await?;
    for chunk in erased.chunks(CHUNK) {
        insert_erased::<B>(conn, erasure.id, chunk).await?;
    }
    let leaf = RecordLeaf { kind: LeafKind::Erasure, record_id: erasure.id, leaf_hash: erasure.leaf_hash() };
    let ledger = append_one::<B>(conn, leaf).await?;
    for chunk in predictions.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        // Actor rows written before migration 0008 also kept the request context first seen.
        let mut context = QueryBuilder::new(BLANK_ACTOR_CONTEXT);
        B::push_any_uuid(&mut context, "p.id", &ids);
        context.push(")");
        run::<B>(conn, context).await?;
        let mut forget = QueryBuilder::new("DELETE FROM prediction_subjects WHERE 1 = 1");
        B::push_any_uuid(&mut forget, "prediction_ref", &ids);
        run::<B>(conn, forget).await?;
        // The derived copies of their current outcome and decision go too, and their share of
        // the quality totals (read before the blanking below).
        crate::outcomes::forget_states::<B>(conn, &ids).await?;
        let mut blank = QueryBuilder::new(BLANK_PREDICTIONS);
        B::push_any_uuid(&mut blank, "id", &ids);
        run::<B>(conn, blank).await?;
    }
    for ((_, blank_statement), found) in FOLLOWERS.iter().zip(&followers) {
        for chunk in found.chunks(CHUNK) {
            let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
            let mut blank = QueryBuilder::new(*blank_statement);
            B::push_any_uuid(&mut blank, "id", &ids);
            run::<B>(conn, blank).await?;
        }
    }
    Ok(ErasureResult { erasure, ledger: Some(ledger) })
}

/// What an erasure leaves of a prediction: exactly what the triggers accept (migration 0008).
const BLANK_PREDICTIONS: &str = "UPDATE predictions SET features = 'null', output = 'null', metadata = 'null',
    redactions = '[]', metadata_redactions = '[]', redaction_log = '[]', trace_id = '', environment = '',
    input_fingerprint = '', content_hash = '', actor_ref = NULL, actor_ip = NULL, actor_user_agent = '',
    actor_auth_context = NULL, latency_ms = NULL, salt = NULL WHERE 1 = 1";

/// The request context an actor row written before migration 0008 kept (in no leaf), blanked
/// for the actors of erased predictions (bound: their ids, then `)`).
const BLANK_ACTOR_CONTEXT: &str = "UPDATE actors SET ip_address = NULL, user_agent = '', auth_context = NULL
    WHERE (ip_address IS NOT NULL OR user_agent <> '' OR auth_context IS NOT NULL)
      AND id IN (SELECT p.actor_ref FROM predictions p WHERE 1 = 1";

/// The records that follow a prediction and are erased with it: their table, and what an
/// erasure leaves of them — exactly what the triggers accept (migrations 0008 and 0009).
const FOLLOWERS: [(&str, &str); 3] = [
    (
        "explanations",
        "UPDATE explanations SET method = '', method_version = '', payload = 'null', summary_text = '',
         content_hash = '', salt = NULL WHERE 1 = 1",
    ),
    (
        "outcomes",
        "UPDATE outcomes SET label = NULL, value = NULL, source = '', metadata = 'null', metadata_redactions = '[]',
         content_hash = '', salt = NULL WHERE 1 = 1",
    ),
    (
        "reviews",
        "UPDATE reviews SET reviewer_id = '', reviewer_name = '', final_decision = '', reason_codes = '[]',
         comment = '', content_hash = '', salt = NULL WHERE 1 = 1",
    ),
];

/// An erased record's `erased_records` row: its seq, and the commitment its seal keeps (`None`
/// for a v1 record).
struct ErasedRecord {
    record_id: Uuid,
    seq: u64,
    commitment: Option<Hash>,
}

/// The records of `seqs` with the commitments their seals keep, computed from each row as it is
/// before the blanking (and checked against its leaf).
async fn commitments<B: Backend>(conn: &mut Conn<B>, seqs: &[u64]) -> Result<Vec<ErasedRecord>> {
    let leaves = records_by_seq::<B>(conn, seqs).await?;
    let rows = RowCatalog::new(leaves.models, leaves.actors);
    leaves
        .rows
        .iter()
        .map(|stored| {
            let leaf = &stored.leaf;
            let missing = || StorageError::Integrity(format!("the {} {} is missing", leaf.kind, leaf.record_id));
            let commitment = stored
                .record
                .as_ref()
                .ok_or_else(missing)?
                .commitment_for(&rows, &leaf.leaf_hash)
                .map_err(|e| StorageError::Integrity(format!("the {} {}: {e}", leaf.kind, leaf.record_id)))?;
            Ok(ErasedRecord { record_id: leaf.record_id, seq: leaf.seq, commitment })
        })
        .collect()
}

async fn insert_erased<B: Backend>(conn: &mut Conn<B>, erasure: Uuid, records: &[ErasedRecord]) -> Result<()> {
    let mut query = QueryBuilder::new("INSERT INTO erased_records (record_id, erasure_ref, commitment) VALUES ");
    for (i, record) in records.iter().enumerate() {
        query.push(if i == 0 { "(" } else { ", (" });
        B::bind_uuid(&mut query, record.record_id);
        query.push(", ");
        B::bind_uuid(&mut query, erasure);
        query.push(", ");
        match &record.commitment {
            Some(commitment) => B::bind_bytes(&mut query, commitment),
            None => {
                query.push("NULL");
            }
        }
        query.push(")");
    }
    if !records.is_empty() {
        run::<B>(conn, query).await?;
    }
    Ok(())
}

async fn insert_erasure<B: Backend>(conn: &mut Conn<B>, erasure: &Erasure) -> Result<()> {
    let mut query = QueryBuilder::new(
        "INSERT INTO erasures (id, reason, subject, actor_ref, tenant_id, seqs, unsalted, predictions, explanations, \
         outcomes, reviews, created_at) VALUES (",
    );
    B::bind_uuid(&mut query, erasure.id);
    query.push(", ");
    B::bind_text(&mut query, &erasure.reason);
    query.push(", ");
    bind_optional_text::<B>(&mut query, erasure.subject.clone());
    query.push(", ");
    match erasure.actor_ref {
        Some(actor) => B::bind_uuid(&mut query, actor),
        None => {
            query.push("NULL");
        }
    }
    query.push(", ");
    bind_optional_text::<B>(&mut query, erasure.tenant_id.clone());
    query.push(", ");
    B::bind_text(&mut query, &to_canonical_string(&serde_json::json!(erasure.seqs)));
    query.push(", ");
    B::bind_text(&mut query, &to_canonical_string(&serde_json::json!(erasure.unsalted)));
    for count in
        [erasure.counts.predictions, erasure.counts.explanations, erasure.counts.outcomes, erasure.counts.reviews]
    {
        query.push(", ");
        B::bind_int(&mut query, i64::try_from(count).unwrap_or(i64::MAX));
    }
    query.push(", ");
    B::bind_time(&mut query, erasure.created_at);
    query.push(")");
    run::<B>(conn, query).await
}

/// Appends one leaf in the caller's transaction.
async fn append_one<B: Backend>(conn: &mut Conn<B>, leaf: RecordLeaf) -> Result<LedgerEntry> {
    let sealed = B::append_leaves(conn, vec![leaf]).await?;
    let sealed = sealed.first().ok_or_else(|| StorageError::Integrity("a leaf was not appended".into()))?;
    Ok(LedgerEntry { seq: sealed.seq, leaf_hash: sealed.leaf_hash })
}

/// The holds standing at `now`.
async fn standing_holds<D: Dialect>(conn: &mut Conn<D>, now: OffsetDateTime) -> Result<Vec<Hold>> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {HOLD_COLUMNS} FROM holds h WHERE NOT EXISTS (SELECT 1 FROM hold_releases r WHERE r.hold_ref = h.id) \
         AND (h.until IS NULL OR h.until > "
    ));
    D::bind_time(&mut query, now);
    query.push(")");
    collect::<D, _>(conn, query, |row| hold(&mut Columns::new(row))).await
}

/// The columns of a `holds` row (aliased `h`) that [`hold`] reads, in order.
const HOLD_COLUMNS: &str = "h.id, h.reason, h.tenant_id, h.model_name, h.subject, h.actor_type, h.actor_id, \
     h.actor_tenant, h.predictions, h.until, h.created_at";

fn hold<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Hold> {
    let id = c.uuid()?;
    let reason = c.text()?;
    let tenant_id = c.take(SqlRow::text)?;
    let model_name = c.take(SqlRow::text)?;
    let subject = c.take(SqlRow::text)?;
    let actor_type = c.take(SqlRow::text)?;
    let actor_id = c.take(SqlRow::text)?;
    let actor_tenant = c.take(SqlRow::text)?;
    let actor = match (actor_type, actor_id) {
        (Some(actor_type), Some(actor_id)) => Some(ActorKey {
            actor_type: decode_enum("actor_type", &actor_type, ActorType::parse)?,
            actor_id,
            tenant_id: actor_tenant.unwrap_or_default(),
        }),
        _ => None,
    };
    let predictions: Vec<Uuid> = decode_json("predictions", &c.text()?)?;
    Ok(Hold {
        id,
        reason,
        scope: HoldScope { tenant_id, model_name, subject, actor, predictions },
        until: c.take(SqlRow::time)?,
        created_at: c.time()?,
    })
}

/// The columns of an `erasures` row (aliased `er`) that [`erasure`] reads, in order.
const ERASURE_COLUMNS: &str = "er.id, er.reason, er.subject, er.actor_ref, er.tenant_id, er.seqs, er.unsalted, \
     CAST(er.predictions AS bigint), CAST(er.explanations AS bigint), CAST(er.outcomes AS bigint), \
     CAST(er.reviews AS bigint), er.created_at";

fn erasure<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Erasure> {
    let count = |n: i64| u64::try_from(n).map_err(|_| StorageError::Integrity(format!("a negative count {n}")));
    Ok(Erasure {
        id: c.uuid()?,
        reason: c.text()?,
        subject: c.take(SqlRow::text)?,
        actor_ref: c.take(SqlRow::uuid)?,
        tenant_id: c.take(SqlRow::text)?,
        seqs: decode_json("seqs", &c.text()?)?,
        unsalted: decode_json("unsalted", &c.text()?)?,
        counts: ErasureCounts {
            predictions: count(c.integer()?)?,
            explanations: count(c.integer()?)?,
            outcomes: count(c.integer()?)?,
            reviews: count(c.integer()?)?,
        },
        created_at: c.time()?,
    })
}

const RELEASE_COLUMNS: &str = "r.id, r.hold_ref, r.reason, r.created_at";

fn release<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Option<HoldRelease>> {
    let Some(id) = c.take(SqlRow::uuid)? else {
        c.skip(3);
        return Ok(None);
    };
    Ok(Some(HoldRelease { id, hold_ref: c.uuid()?, reason: c.text()?, created_at: c.time()? }))
}

/// Holds with their releases and ledger entries, `rest` after `FROM holds h …`.
fn holds_query<D: Dialect>(visibility: &Visibility) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {HOLD_COLUMNS}, {RELEASE_COLUMNS}, l.seq, l.leaf_hash FROM holds h
           LEFT JOIN hold_releases r ON r.hold_ref = h.id
           LEFT JOIN ledger_entries l ON l.record_id = h.id WHERE 1 = 1"
    ));
    predictions::push_tenant::<D>(&mut query, "h.tenant_id", visibility);
    query
}

fn stored_hold<R: SqlRow>(row: &R) -> Result<StoredHold> {
    let mut c = Columns::new(row);
    Ok(StoredHold { hold: hold(&mut c)?, release: release(&mut c)?, ledger: ledger_entry(&mut c)? })
}

impl<B: Backend> SqlStore<B> {
    /// The actor row an erasure by actor names, if it exists and the caller sees its tenant.
    async fn actor_ref(conn: &mut Conn<B>, actor: &ActorKey, visibility: &Visibility) -> Result<Option<Uuid>> {
        if !visibility.permits_tenant(&actor.tenant_id) {
            return Ok(None);
        }
        let mut query = QueryBuilder::new("SELECT id FROM actors WHERE actor_type = ");
        B::bind_text(&mut query, actor.actor_type.as_str());
        query.push(" AND actor_id = ");
        B::bind_text(&mut query, &actor.actor_id);
        query.push(" AND tenant_id = ");
        B::bind_text(&mut query, &actor.tenant_id);
        Ok(collect::<B, _>(conn, query, |row| Columns::new(row).uuid()).await?.into_iter().next())
    }

    /// The ids of visible predictions, by `id` or `prediction_id`; one that names nothing
    /// visible is not found.
    async fn prediction_ids(conn: &mut Conn<B>, visibility: &Visibility, refs: &[String]) -> Result<Vec<Uuid>> {
        let mut ids = Vec::with_capacity(refs.len());
        for reference in refs {
            ids.push(predictions::resolve::<B>(conn, visibility, &PredictionRef(reference.clone()), "").await?);
        }
        Ok(ids)
    }

    async fn holds(&self, query: QueryBuilder<B::Db>) -> Result<Vec<StoredHold>> {
        let rows = B::fetch_all(&self.reader, query).await?;
        rows.iter().map(|row| stored_hold(&B::row(row))).collect()
    }
}

#[async_trait]
impl<B: Backend> LifecycleStore for SqlStore<B> {
    async fn erase(&self, visibility: &Visibility, plan: ErasurePlan) -> Result<ErasureResult> {
        let mut tx = B::begin_ledger_write(self).await?;
        let Selection { subject, actor, predictions } = &plan.selection;
        let actor_ref = match actor {
            Some(actor) => Self::actor_ref(&mut tx, actor, visibility).await?,
            None => None,
        };
        let ids = Self::prediction_ids(&mut tx, visibility, predictions).await?;
        let target = Target::Selected { subject: subject.as_deref(), actor_ref, ids, visibility };
        for hold in standing_holds::<B>(&mut tx, timestamp::now()).await? {
            let mut query = QueryBuilder::new("SELECT p.id FROM predictions p");
            target.push::<B>(&mut query);
            query.push(" AND ");
            push_scope::<B>(&mut query, &hold.scope);
            if !collect::<B, _>(&mut tx, query, |row| Columns::new(row).uuid()).await?.is_empty() {
                return Err(StorageError::Held(hold.id));
            }
        }
        let meta = ErasureMeta {
            reason: plan.reason,
            subject: subject.clone(),
            actor_ref,
            tenant_id: visibility.tenant().map(str::to_owned),
        };
        let result = erase_in::<B>(&mut tx, &target, meta, plan.dry_run).await?;
        if plan.dry_run {
            tx.rollback().await.map_err(B::classify)?;
        } else {
            tx.commit().await.map_err(B::classify)?;
        }
        Ok(result)
    }

    async fn purge_batch(&self, step: &PurgeStep, limit: u32, dry_run: bool) -> Result<Option<ErasureResult>> {
        let mut tx = B::begin_ledger_write(self).await?;
        let holds = standing_holds::<B>(&mut tx, timestamp::now()).await?;
        let target = Target::Expired { step, holds: &holds, limit: (!dry_run).then_some(limit) };
        let meta = ErasureMeta { reason: RETENTION_REASON.into(), subject: None, actor_ref: None, tenant_id: None };
        let result = erase_in::<B>(&mut tx, &target, meta, dry_run).await?;
        if dry_run || result.erasure.counts.predictions == 0 {
            tx.rollback().await.map_err(B::classify)?;
        } else {
            tx.commit().await.map_err(B::classify)?;
        }
        Ok((result.erasure.counts.predictions > 0).then_some(result))
    }

    async fn reclaim_space(&self) -> Result<()> {
        for statement in B::RECLAIM_SPACE {
            B::execute(&self.writer, QueryBuilder::new(*statement)).await?;
        }
        Ok(())
    }

    async fn compact(&self) -> Result<()> {
        for statement in B::COMPACT.iter().chain(B::RECLAIM_SPACE) {
            B::execute(&self.writer, QueryBuilder::new(*statement)).await?;
        }
        Ok(())
    }

    async fn list_erasures(&self, visibility: &Visibility, limit: u32) -> Result<Vec<ErasureResult>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {ERASURE_COLUMNS}, l.seq, l.leaf_hash FROM erasures er
               LEFT JOIN ledger_entries l ON l.record_id = er.id WHERE 1 = 1"
        ));
        predictions::push_tenant::<B>(&mut query, "er.tenant_id", visibility);
        query.push(" ORDER BY er.created_at DESC, er.id DESC LIMIT ");
        B::bind_int(&mut query, i64::from(limit));
        let rows = B::fetch_all(&self.reader, query).await?;
        rows.iter()
            .map(|row| {
                let row = B::row(row);
                let mut c = Columns::new(&row);
                Ok(ErasureResult { erasure: erasure(&mut c)?, ledger: ledger_entry(&mut c)? })
            })
            .collect()
    }

    async fn create_hold(&self, reason: String, scope: HoldScope, until: Option<OffsetDateTime>) -> Result<StoredHold> {
        let hold = Hold { id: Uuid::now_v7(), reason, scope, until, created_at: timestamp::now() };
        let mut tx = B::begin_ledger_write(self).await?;
        let scope = &hold.scope;
        let mut query = QueryBuilder::new(
            "INSERT INTO holds (id, reason, tenant_id, model_name, subject, actor_type, actor_id, actor_tenant, \
             predictions, until, created_at) VALUES (",
        );
        B::bind_uuid(&mut query, hold.id);
        query.push(", ");
        B::bind_text(&mut query, &hold.reason);
        let actor = scope.actor.as_ref();
        for text in [
            scope.tenant_id.clone(),
            scope.model_name.clone(),
            scope.subject.clone(),
            actor.map(|a| a.actor_type.as_str().to_owned()),
            actor.map(|a| a.actor_id.clone()),
            actor.map(|a| a.tenant_id.clone()),
        ] {
            query.push(", ");
            bind_optional_text::<B>(&mut query, text);
        }
        query.push(", ");
        B::bind_text(&mut query, &to_canonical_string(&serde_json::json!(scope.predictions)));
        query.push(", ");
        match hold.until {
            Some(until) => B::bind_time(&mut query, until),
            None => {
                query.push("NULL");
            }
        }
        query.push(", ");
        B::bind_time(&mut query, hold.created_at);
        query.push(")");
        run::<B>(&mut tx, query).await?;
        let leaf = RecordLeaf { kind: LeafKind::Hold, record_id: hold.id, leaf_hash: hold.leaf_hash() };
        let ledger = append_one::<B>(&mut tx, leaf).await?;
        tx.commit().await.map_err(B::classify)?;
        Ok(StoredHold { hold, release: None, ledger: Some(ledger) })
    }

    async fn release_hold(&self, visibility: &Visibility, id: Uuid, reason: String) -> Result<StoredHold> {
        let mut tx = B::begin_ledger_write(self).await?;
        let mut query = holds_query::<B>(visibility);
        query.push(" AND h.id = ");
        B::bind_uuid(&mut query, id);
        let found = collect::<B, _>(&mut tx, query, |row| stored_hold(row)).await?;
        let mut stored = found.into_iter().next().ok_or(StorageError::NotFound(Entity::Hold))?;
        if let Some(release) = &stored.release {
            return Err(StorageError::Conflict(format!(
                "the hold {id} was already released at {}",
                timestamp::format_rfc3339(release.created_at)
            )));
        }
        let release = HoldRelease { id: Uuid::now_v7(), hold_ref: id, reason, created_at: timestamp::now() };
        let mut query = QueryBuilder::new("INSERT INTO hold_releases (id, hold_ref, reason, created_at) VALUES (");
        B::bind_uuid(&mut query, release.id);
        query.push(", ");
        B::bind_uuid(&mut query, id);
        query.push(", ");
        B::bind_text(&mut query, &release.reason);
        query.push(", ");
        B::bind_time(&mut query, release.created_at);
        query.push(")");
        run::<B>(&mut tx, query).await?;
        let leaf = RecordLeaf { kind: LeafKind::HoldRelease, record_id: release.id, leaf_hash: release.leaf_hash() };
        append_one::<B>(&mut tx, leaf).await?;
        tx.commit().await.map_err(B::classify)?;
        stored.release = Some(release);
        Ok(stored)
    }

    async fn list_holds(&self, visibility: &Visibility) -> Result<Vec<StoredHold>> {
        let mut query = holds_query::<B>(visibility);
        query.push(" ORDER BY h.created_at DESC, h.id DESC");
        self.holds(query).await
    }
}

/// Every erasure, hold and release, for `verify` ([`ml_audit_storage::LedgerStore::ledger_lifecycle`]).
pub async fn ledger_lifecycle<B: Backend>(store: &SqlStore<B>) -> Result<StoredLifecycle> {
    let mut snapshot = B::begin_snapshot(store).await?;
    let query = QueryBuilder::new(format!("SELECT {ERASURE_COLUMNS} FROM erasures er"));
    let erasures = collect::<B, _>(&mut snapshot, query, |row| erasure(&mut Columns::new(row))).await?;
    let query = QueryBuilder::new(format!("SELECT {HOLD_COLUMNS} FROM holds h"));
    let holds = collect::<B, _>(&mut snapshot, query, |row| hold(&mut Columns::new(row))).await?;
    let query = QueryBuilder::new(format!("SELECT {RELEASE_COLUMNS} FROM hold_releases r"));
    let releases = collect::<B, _>(&mut snapshot, query, |row| {
        release(&mut Columns::new(row))?.ok_or_else(|| StorageError::Integrity("a release row has no id".into()))
    })
    .await?;
    snapshot.commit().await.map_err(B::classify)?;
    Ok(StoredLifecycle { erasures, holds, releases })
}
