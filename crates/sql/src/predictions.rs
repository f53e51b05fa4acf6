//! The prediction queries both backends run: resolving a reference, the list with its filters
//! and keyset paging, and the model versions a filter names. Each builds a `QueryBuilder` for
//! its dialect, so the write paths (inside their own transactions) run the same SQL as the reads.

use ml_audit_core::auth::Visibility;
use ml_audit_core::model::{PredictionEvent, ReviewState};
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_storage::{Entity, PredictionRef, Result, StorageError};
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect};
use crate::row::{self, Columns, PAGE_END, PAGE_START, SELECT_PREDICTION};

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

/// Refuses a prediction an erasure took: nothing more is recorded about it (a new explanation,
/// outcome or review would put personal content back beside it).
pub async fn refuse_erased<D: Dialect>(conn: &mut Conn<D>, id: Uuid) -> Result<()> {
    let mut query = QueryBuilder::new("SELECT record_id FROM erased_records WHERE record_id = ");
    D::bind_uuid(&mut query, id);
    match first::<D, _>(conn, query, |row| Columns::new(row).uuid()).await? {
        Some(_) => Err(StorageError::Erased(id)),
        None => Ok(()),
    }
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
    // An erased prediction keeps its prediction_id (so that a retry is refused), but no longer
    // answers to it.
    query.push(" AND NOT EXISTS (SELECT 1 FROM erased_records x WHERE x.record_id = p.id)");
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
    push_equal::<D>(&mut query, "model_name", filter.model_name.as_deref());
    push_equal::<D>(&mut query, "version", filter.model_version.as_deref());
    Some(query)
}

/// The ids of the actors a filter names by `actor_id` (and `actor_type`, when given too), looked
/// up before the list query for the same reason: `actor_ref` leads an index, `actor_id` none.
pub fn named_actors<D: Dialect>(filter: &PredictionFilter) -> Option<QueryBuilder<D::Db>> {
    let actor_id = filter.actor_id.as_deref()?;
    let mut query = QueryBuilder::new("SELECT id FROM actors WHERE actor_id = ");
    D::bind_text(&mut query, actor_id);
    push_equal::<D>(&mut query, "actor_type", filter.actor_type.map(|t| t.as_str()));
    Some(query)
}

/// The rows a filter names by value that the list query matches by id: what [`named_models`]
/// and [`named_actors`] found (`None`: the filter names none).
#[derive(Debug)]
pub struct NamedRows {
    pub models: Option<Vec<Uuid>>,
    pub actors: Option<Vec<Uuid>>,
}

impl NamedRows {
    /// The filter names a model or an actor that does not exist: no prediction can match.
    pub fn match_nothing(&self) -> bool {
        [&self.models, &self.actors].into_iter().any(|ids| ids.as_ref().is_some_and(Vec::is_empty))
    }

    /// The indexed column and its values that the list query runs one index scan per value
    /// for, when the filter has nothing narrower: a set membership on `(column, ts, id)` gives
    /// the rows in no useful order, and sorting every match (half the table for a model name
    /// with two versions) is what the scans that each stop at the page's size avoid.
    fn scanned_per_value(&self, filter: &PredictionFilter) -> Option<(&'static str, &[Uuid])> {
        let one_value = |ids: &Option<Vec<Uuid>>| ids.as_ref().is_some_and(|ids| ids.len() == 1);
        if filter.trace_id.is_some()
            || filter.subject.is_some()
            || one_value(&self.actors)
            || one_value(&self.models)
            || filter.needs_state()
            || filter.final_decision.is_some()
        {
            return None;
        }
        [("p.actor_ref", &self.actors), ("p.model_ref", &self.models)].into_iter().find_map(|(column, ids)| {
            ids.as_deref().filter(|ids| (2..=MAX_SCANS_PER_VALUE).contains(&ids.len())).map(|ids| (column, ids))
        })
    }
}

/// The predictions a page's subquery selects from when its own tables do not lead.
const PAGE_PREDICTIONS: &str = "SELECT p.* FROM predictions p";

/// The states of predictions with an outcome or a review, each joined to its prediction.
const STATES: &str = " FROM prediction_state s JOIN predictions p ON p.id = s.prediction_ref";

/// Most index scans one list query unions (a model name with more versions is matched as a set).
const MAX_SCANS_PER_VALUE: usize = 64;

/// A page of the visible predictions that match `filter`, newest first; `named` are the rows
/// its names resolved to. Fetches `limit + 1` rows: the extra one only tells that a next page
/// exists (`ml_audit_storage::split_page`). Every filter is served by an index that yields rows
/// in page order, so a deep page costs what the first does (see ARCHITECTURE.md, "Every filter
/// on an index"; the plan tests of both backends hold the queries to it).
///
/// The page's rows are chosen by a subquery of their own, which the model, actor, explanation,
/// ledger and erasure lookups then join ([`PAGE_START`], [`PAGE_END`]): PostgreSQL plans those
/// six joins for the page's handful of rows instead of weighing their orders against the whole
/// table (9 of the 10 ms a first page took at 1M predictions were spent planning).
///
/// `query` is empty, or holds what goes before (an `EXPLAIN`).
pub fn list<D: Dialect>(
    mut query: QueryBuilder<D::Db>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page: &PageRequest,
) -> QueryBuilder<D::Db> {
    query.push(PAGE_START);
    push_page::<D>(&mut query, visibility, filter, named, page);
    query.push(PAGE_END);
    query
}

/// `SELECT p.* …`: the predictions of the page, in page order, and the one after it.
fn push_page<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page: &PageRequest,
) {
    if let Some(decision) = filter.final_decision.as_deref() {
        return push_page_by_final_decision::<D>(query, visibility, filter, named, page, decision);
    }
    if filter.needs_state() {
        // Only predictions with an outcome or a review can match: walk their state's index in
        // page order, and join each one's prediction.
        query.push(format!("SELECT p.*{STATES} WHERE 1 = 1"));
        push_filters::<D>(query, visibility, filter, named, None, Lead::State);
        push_state_filters::<D>(query, filter, true);
        push_after_on::<D>(query, page, STATE_ORDER);
        push_order_and_limit_on::<D>(query, page, STATE_ORDER);
        return;
    }
    query.push(PAGE_PREDICTIONS);
    match named.scanned_per_value(filter) {
        Some((column, ids)) => {
            query.push(" WHERE p.id IN (");
            for (scan, id) in ids.iter().enumerate() {
                if scan > 0 {
                    query.push(" UNION ALL ");
                }
                query.push(format!("SELECT id FROM (SELECT p.id FROM predictions p WHERE {column} = "));
                D::bind_uuid(query, *id);
                push_filters::<D>(query, visibility, filter, named, Some(column), Lead::Predictions);
                push_after::<D>(query, page);
                push_order_and_limit::<D>(query, page);
                query.push(format!(") AS scan{scan}"));
            }
            // The scans already kept only rows after the cursor: their union is sorted once.
            query.push(")");
        }
        None => {
            query.push(" WHERE 1 = 1");
            push_filters::<D>(query, visibility, filter, named, None, Lead::Predictions);
            push_after::<D>(query, page);
        }
    }
    push_order_and_limit::<D>(query, page);
}

/// `final_decision = X` is met by predictions whose review changed the decision to X (their
/// state's index) and by those no review changed whose model decided X (the decision's index):
/// one scan of each, each stopping at the page's size, merged and sorted once.
fn push_page_by_final_decision<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    page: &PageRequest,
    decision: &str,
) {
    query.push(PAGE_PREDICTIONS);
    query.push(" WHERE p.id IN (SELECT id FROM (SELECT p.id FROM predictions p WHERE p.decision_outcome = ");
    D::bind_text(query, decision);
    query.push(" AND NOT EXISTS (SELECT 1 FROM prediction_state st WHERE st.prediction_ref = p.id AND st.final_decision IS NOT NULL)");
    push_filters::<D>(query, visibility, filter, named, None, Lead::Predictions);
    push_state_filters::<D>(query, filter, false);
    push_after::<D>(query, page);
    push_order_and_limit::<D>(query, page);
    query.push(format!(
        ") AS kept UNION ALL SELECT id FROM (SELECT s.prediction_ref AS id{STATES} WHERE s.final_decision = "
    ));
    D::bind_text(query, decision);
    push_filters::<D>(query, visibility, filter, named, None, Lead::State);
    push_state_filters::<D>(query, filter, true);
    push_after_on::<D>(query, page, STATE_ORDER);
    push_order_and_limit_on::<D>(query, page, STATE_ORDER);
    query.push(") AS changed)");
    push_order_and_limit::<D>(query, page);
}

/// The columns of the page order: a prediction's (`ts`, `id`), or the same values copied into its
/// state row, whose indexes a state-driven list walks.
const PREDICTION_ORDER: (&str, &str) = ("p.ts", "p.id");
const STATE_ORDER: (&str, &str) = ("s.ts", "s.prediction_ref");

/// The keyset condition of a page: rows strictly after its cursor.
fn push_after<D: Dialect>(query: &mut QueryBuilder<D::Db>, page: &PageRequest) {
    push_after_on::<D>(query, page, PREDICTION_ORDER)
}

pub(crate) fn push_after_on<D: Dialect>(query: &mut QueryBuilder<D::Db>, page: &PageRequest, (ts, id): (&str, &str)) {
    if let Some(after) = page.after {
        query.push(format!(" AND ({ts}, {id}) < ("));
        D::bind_time(query, after.timestamp);
        query.push(", ");
        D::bind_uuid(query, after.id);
        query.push(")");
    }
}

/// Newest first, one row more than the page holds.
fn push_order_and_limit<D: Dialect>(query: &mut QueryBuilder<D::Db>, page: &PageRequest) {
    push_order_and_limit_on::<D>(query, page, PREDICTION_ORDER)
}

pub(crate) fn push_order_and_limit_on<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    page: &PageRequest,
    (ts, id): (&str, &str),
) {
    query.push(format!(" ORDER BY {ts} DESC, {id} DESC LIMIT "));
    D::bind_int(query, i64::from(page.limit) + 1);
}

/// ` AND {column} = …` when `value` is given.
fn push_equal<D: Dialect>(query: &mut QueryBuilder<D::Db>, column: &str, value: Option<&str>) {
    if let Some(value) = value {
        query.push(format!(" AND {column} = "));
        D::bind_text(query, value);
    }
}

/// ` AND p.tenant_id = …` for a tenant-bound caller: every read of predictions adds it.
pub fn push_visibility<D: Dialect>(query: &mut QueryBuilder<D::Db>, visibility: &Visibility) {
    push_tenant::<D>(query, "p.tenant_id", visibility);
}

/// ` AND {column} = <the caller's tenant>` for a tenant-bound caller: the one place tenant
/// isolation is written, whatever the table or the column's spelling.
pub fn push_tenant<D: Dialect>(query: &mut QueryBuilder<D::Db>, column: &str, visibility: &Visibility) {
    push_equal::<D>(query, column, visibility.tenant());
}

/// Which table a list query walks in page order: the predictions, or the state of those with an
/// outcome or a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    Predictions,
    State,
}

/// Every condition of `filter` but `scanned` (the column a per-value scan already matches).
fn push_filters<D: Dialect>(
    query: &mut QueryBuilder<D::Db>,
    visibility: &Visibility,
    filter: &PredictionFilter,
    named: &NamedRows,
    scanned: Option<&str>,
    lead: Lead,
) {
    // A query led by the predictions' state matches time and tenant on the state's copies (its
    // indexes lead with them after the state's own column) and keeps the planner off the
    // predictions' indexes, which would give the matches in no useful order.
    let (p, ts) = match lead {
        Lead::Predictions => (String::from("p."), "p.ts"),
        Lead::State => (format!("{}p.", D::NOT_AN_INDEX), "s.ts"),
    };
    // A subject's predictions are few and found through its tokens: a tenant's index, which
    // SQLite would take as readily, would walk all of that tenant's predictions to find them.
    let tenant = match (lead, &filter.subject) {
        (Lead::State, _) => "s.tenant_id".to_owned(),
        (Lead::Predictions, Some(_)) => format!("{}p.tenant_id", D::NOT_AN_INDEX),
        (Lead::Predictions, None) => "p.tenant_id".to_owned(),
    };
    push_tenant::<D>(query, &tenant, visibility);
    for (column, ids) in [("p.model_ref", &named.models), ("p.actor_ref", &named.actors)] {
        match ids.as_deref() {
            Some(_) if scanned == Some(column) => {}
            // One id is an equality, which walks `(column, ts, id)` already in page order.
            Some([id]) => {
                let column = column.replacen("p.", &p, 1);
                query.push(format!(" AND {column} = "));
                D::bind_uuid(query, *id);
            }
            // Several, beside a narrower condition: kept off their index, whose ranges a
            // planner cannot merge in order (it would sort every match).
            Some(ids) => D::push_any_uuid(query, &format!("{}{column}", D::NOT_AN_INDEX), ids),
            None => {}
        }
    }
    if let (Some(actor_type), None) = (filter.actor_type, &named.actors) {
        // Without an actor id, the type is checked row by row along the time order: actor types
        // are few, and a join that the planner could start from actors would sort every match.
        query.push(" AND EXISTS (SELECT 1 FROM actors t WHERE t.id = p.actor_ref AND t.actor_type = ");
        D::bind_text(query, actor_type.as_str());
        query.push(")");
    }
    // The caller's own tenant, asked for again, is already matched.
    if filter.tenant_id.as_deref() != visibility.tenant() {
        push_equal::<D>(query, &tenant, filter.tenant_id.as_deref());
    }
    push_equal::<D>(query, &format!("{p}decision_outcome"), filter.decision_outcome.as_deref());
    push_equal::<D>(query, &format!("{p}environment"), filter.environment.as_deref());
    push_equal::<D>(query, &format!("{p}status"), filter.status.map(|s| s.as_str()));
    if let Some(trace_id) = filter.trace_id.as_deref() {
        push_equal::<D>(query, &format!("{p}trace_id"), Some(trace_id));
        if !trace_id.is_empty() {
            // The trace index leaves out rows without a trace id; a planner cannot prove that a
            // bound value is not empty, so the query says it in words it can match.
            query.push(" AND p.trace_id <> ''");
        }
    }
    let mut compare = |condition: &str, bind: &dyn Fn(&mut QueryBuilder<D::Db>)| {
        query.push(condition);
        bind(query);
    };
    if let Some(from) = filter.time_from {
        compare(&format!(" AND {ts} >= "), &|q| D::bind_time(q, from));
    }
    if let Some(to) = filter.time_to {
        compare(&format!(" AND {ts} <= "), &|q| D::bind_time(q, to));
    }
    if let Some(min) = filter.min_confidence {
        compare(" AND p.confidence >= ", &|q| D::bind_float(q, min));
    }
    if let Some(max) = filter.max_confidence {
        compare(" AND p.confidence <= ", &|q| D::bind_float(q, max));
    }
    if let Some(token) = &filter.subject {
        query.push(" AND p.id IN (SELECT t.prediction_ref FROM prediction_subjects t WHERE t.token = ");
        D::bind_text(query, token);
        query.push(")");
    }
    match filter.has_explanation {
        Some(true) => query.push(" AND EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        Some(false) => query.push(" AND NOT EXISTS (SELECT 1 FROM explanations x WHERE x.prediction_ref = p.id)"),
        None => query,
    };
    if !filter.needs_state() && filter.final_decision.is_none() {
        push_state_filters::<D>(query, filter, false);
    }
}

/// The outcome and review conditions, on the prediction's state: the row `s` of a query led by
/// it (`joined`), else looked up per prediction (absent without an outcome or review, which
/// counts as "no"). `final_decision` is not among them: [`push_page_by_final_decision`] splits it over
/// two scans.
fn push_state_filters<D: Dialect>(query: &mut QueryBuilder<D::Db>, filter: &PredictionFilter, joined: bool) {
    let mut condition = |holds: bool, test: &str, bind: Option<&str>| {
        match (joined, holds) {
            (true, true) => query.push(format!(" AND s.{test}")),
            (true, false) => query.push(format!(" AND NOT s.{test}")),
            (false, holds) => query.push(format!(
                " AND {}EXISTS (SELECT 1 FROM prediction_state s WHERE s.prediction_ref = p.id AND s.{test}",
                if holds { "" } else { "NOT " }
            )),
        };
        if let Some(value) = bind {
            D::bind_text(query, value);
        }
        if !joined {
            query.push(")");
        }
    };
    for (column, wanted) in
        [("has_outcome", filter.has_outcome), ("reviewed", filter.reviewed), ("overridden", filter.overridden)]
    {
        if let Some(wanted) = wanted {
            condition(wanted, &format!("{column} = 1"), None);
        }
    }
    if let Some(label) = filter.outcome_label.as_deref() {
        condition(true, "outcome_label = ", Some(label));
    }
    match filter.review_state {
        Some(ReviewState::None) => condition(false, "review_state <> 'none'", None),
        Some(state) => condition(true, "review_state = ", Some(state.as_str())),
        None => {}
    }
}
