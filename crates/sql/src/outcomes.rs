//! Outcomes, reviews and model quality, the same on both backends ([`OutcomeStore`]).
//!
//! A write takes its predictions' rows (locked on PostgreSQL, in id order so that two batches
//! cannot deadlock), stores and seals its records, then updates two kinds of derived data in the
//! same transaction: `prediction_state` (the current outcome and the decision after review, which
//! the list's filters walk by index) and the quality totals of the predictions' model versions
//! (the old contribution of each prediction taken away, its new one added).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use ml_audit_core::auth::Visibility;
use ml_audit_core::ledger::canonical::column_text;
use ml_audit_core::ledger::record::LedgerRecord;
use ml_audit_core::model::{Decision, Outcome, PredictionEvent, Review, ReviewState};
use ml_audit_core::outcome::{PreparedOutcome, stored_outcome, supersedes};
use ml_audit_core::quality::{Contribution, QualityReport, QualityTotals, judged, predicted_value};
use ml_audit_core::review::{PreparedReview, ReviewFold, ReviewPolicy, stored_review};
use ml_audit_core::timestamp;
use ml_audit_storage::{
    Entity, OutcomeStore, PredictionRef, QualityWindow, RecordLeaf, Recorded, Result, StorageError, decode_enum,
};
use sqlx::QueryBuilder;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect, collect};
use crate::predictions::{self, push_tenant};
use crate::row::{Columns, OUTCOME_COLUMNS, REVIEW_COLUMNS, STATE_COLUMNS, SqlRow, StateRow, outcome, review, state};
use crate::rows::{Column, Rows};
use crate::store::{Backend, SqlStore};

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The hour (since the Unix epoch) a prediction's quality totals are kept under.
fn hour_of(ts: OffsetDateTime) -> i64 {
    timestamp::to_unix_micros(ts).div_euclid(MICROS_PER_HOUR)
}

/// A prediction an outcome or review is for, as its write needs it.
#[derive(Debug, Clone)]
struct Target {
    id: Uuid,
    prediction_id: String,
    ts: OffsetDateTime,
    model_ref: Uuid,
    model_name: String,
    tenant_id: String,
    decision_outcome: String,
    predicted_value: Option<f64>,
    erased: bool,
}

/// `prediction_state` of one prediction, as read or about to be written.
#[derive(Debug, Clone)]
struct State {
    outcomes: u32,
    current: Option<CurrentOutcome>,
    reviews: u32,
    decision: Decision,
}

#[derive(Debug, Clone)]
struct CurrentOutcome {
    id: Uuid,
    label: Option<String>,
    value: Option<f64>,
    observed_at: OffsetDateTime,
    position: u32,
}

impl CurrentOutcome {
    fn of(outcome: &Outcome) -> Self {
        Self {
            id: outcome.id,
            label: outcome.label.clone(),
            value: outcome.value,
            observed_at: outcome.observed_at,
            position: outcome.position,
        }
    }
}

impl State {
    fn new(target: &Target) -> Self {
        Self { outcomes: 0, current: None, reviews: 0, decision: Decision::unreviewed(&target.decision_outcome) }
    }

    /// Counts the prediction's next outcome, which becomes the current one unless a later
    /// observed one is.
    fn add_outcome(&mut self, outcome: &Outcome) {
        self.outcomes += 1;
        let newer = self.current.as_ref().is_none_or(|current| {
            supersedes((outcome.observed_at, outcome.position), (current.observed_at, current.position))
        });
        if newer {
            self.current = Some(CurrentOutcome::of(outcome));
        }
    }

    fn contribution(&self, target: &Target) -> Contribution {
        let outcome = self.current.as_ref().map(|o| (o.label.as_deref(), o.value));
        Contribution::of(&judged(&target.decision_outcome, target.predicted_value, outcome, &self.decision))
    }
}

/// `SELECT` of the [`Target`] columns of predictions `p`, for a `WHERE` to follow.
const TARGET_COLUMNS: &str = "SELECT p.id, p.prediction_id, p.ts, p.model_ref, m.model_name, p.tenant_id, \
     p.decision_outcome, p.output, (SELECT COUNT(*) FROM erased_records x WHERE x.record_id = p.id) \
     FROM predictions p JOIN model_versions m ON m.id = p.model_ref WHERE ";

/// Maps a row of [`TARGET_COLUMNS`].
fn target(row: &impl SqlRow) -> Result<Target> {
    let mut c = Columns::new(row);
    Ok(Target {
        id: c.uuid()?,
        prediction_id: c.text()?,
        ts: c.time()?,
        model_ref: c.uuid()?,
        model_name: c.text()?,
        tenant_id: c.text()?,
        decision_outcome: c.text()?,
        predicted_value: predicted_value(&c.json::<serde_json::Value>("output")?),
        erased: c.integer()? > 0,
    })
}

/// The predictions `refs` name, visible to the caller, each found as `predictions::resolve` finds
/// one: a UUID-shaped reference as `id` first, then any as an unerased `prediction_id`.
async fn resolve_targets<B: Backend>(
    conn: &mut Conn<B>,
    visibility: &Visibility,
    refs: &[&PredictionRef],
) -> Result<HashMap<String, Target>> {
    let mut query = QueryBuilder::new(TARGET_COLUMNS);
    query.push("(");
    B::push_in(&mut query, "p.prediction_id", Column::texts(refs.iter().map(|r| r.0.as_str())));
    let ids: Vec<Uuid> = refs.iter().filter_map(|r| r.as_uuid()).collect();
    if !ids.is_empty() {
        query.push(" OR ");
        B::push_in(&mut query, "p.id", Column::uuids(ids));
    }
    query.push(")");
    predictions::push_visibility::<B>(&mut query, visibility);
    query.push(" ORDER BY p.id");
    query.push(B::LOCK_PREDICTION_ROWS);
    let rows = collect::<B, _>(conn, query, |row| target(row)).await?;
    let by_id: HashMap<Uuid, &Target> = rows.iter().map(|t| (t.id, t)).collect();
    let by_prediction_id: HashMap<&str, &Target> =
        rows.iter().filter(|t| !t.erased).map(|t| (t.prediction_id.as_str(), t)).collect();
    Ok(refs
        .iter()
        .filter_map(|r| {
            let found = r.as_uuid().and_then(|id| by_id.get(&id)).or_else(|| by_prediction_id.get(r.0.as_str()));
            found.map(|t| (r.0.clone(), (*t).clone()))
        })
        .collect())
}

/// The predictions of `ids` (all tenants), in id order.
async fn targets_by_id<B: Dialect>(conn: &mut Conn<B>, ids: &[Uuid]) -> Result<Vec<Target>> {
    let mut query = QueryBuilder::new(TARGET_COLUMNS);
    B::push_in(&mut query, "p.id", Column::uuids(ids.iter().copied()));
    query.push(" ORDER BY p.id");
    collect::<B, _>(conn, query, |row| target(row)).await
}

/// Takes the states of predictions an erasure is about to blank out of the quality totals and
/// removes them (in the erasure's transaction, before the predictions are blanked): what stays
/// counted is exactly what the records still hold.
pub async fn forget_states<B: Dialect>(conn: &mut Conn<B>, ids: &[Uuid]) -> Result<()> {
    let targets = targets_by_id::<B>(conn, ids).await?;
    let live: Vec<&Target> = targets.iter().collect();
    let states = load_states::<B>(conn, &live).await?;
    let mut deltas = QualityDeltas::new();
    for target in &targets {
        if let Some(state) = states.get(&target.id) {
            add_delta(&mut deltas, target, &state.contribution(target), &Contribution::default());
        }
    }
    save_quality::<B>(conn, &deltas).await?;
    let mut delete = QueryBuilder::new("DELETE FROM prediction_state WHERE ");
    B::push_in(&mut delete, "prediction_ref", Column::uuids(ids.iter().copied()));
    collect::<B, _>(conn, delete, |_| Ok(())).await.map(drop)
}

/// The stored states of `targets` (absent: no outcome or review yet).
async fn load_states<B: Dialect>(conn: &mut Conn<B>, targets: &[&Target]) -> Result<HashMap<Uuid, State>> {
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT s.prediction_ref, s.outcomes, s.outcome_ref, s.outcome_label, s.outcome_value, s.outcome_observed_at, \
         s.outcome_position, s.reviews, s.reviewed, s.overridden, s.final_decision, s.review_state, p.decision_outcome \
         FROM prediction_state s JOIN predictions p ON p.id = s.prediction_ref WHERE ",
    );
    B::push_in(&mut query, "s.prediction_ref", Column::uuids(targets.iter().map(|t| t.id)));
    let rows = collect::<B, _>(conn, query, |row| {
        let mut c = Columns::new(row);
        let id = c.uuid()?;
        let outcomes = count_column(c.integer()?)?;
        let current = match c.take(SqlRow::uuid)? {
            Some(outcome_id) => Some(CurrentOutcome {
                id: outcome_id,
                label: c.take(SqlRow::text)?,
                value: c.take(SqlRow::float)?,
                observed_at: c.time()?,
                position: count_column(c.integer()?)?,
            }),
            None => {
                c.skip(4);
                None
            }
        };
        let reviews = count_column(c.integer()?)?;
        let reviewed = c.integer()? != 0;
        let overridden = c.integer()? != 0;
        let final_decision = c.take(SqlRow::text)?;
        let state = decode_enum("review_state", &c.text()?, ReviewState::parse)?;
        let decision_outcome = c.text()?;
        let decision =
            Decision { final_decision: final_decision.unwrap_or(decision_outcome), state, reviewed, overridden };
        Ok((id, State { outcomes, current, reviews, decision }))
    })
    .await?;
    Ok(rows.into_iter().collect())
}

fn count_column(value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| StorageError::Integrity(format!("a stored count {value} is out of range")))
}

/// Writes the states of the predictions a write changed.
async fn save_states<B: Dialect>(conn: &mut Conn<B>, states: &[(&Target, &State)]) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new(
        "INSERT INTO prediction_state (prediction_ref, ts, model_ref, tenant_id, outcomes, outcome_ref, outcome_label, \
         outcome_value, outcome_observed_at, outcome_position, reviews, has_outcome, reviewed, overridden, \
         final_decision, review_state) ",
    );
    let mut rows = Rows::new();
    for (target, state) in states {
        let current = state.current.as_ref();
        let changed = state.decision.final_decision != target.decision_outcome;
        rows.row()
            .uuid(target.id)
            .time(target.ts)
            .uuid(target.model_ref)
            .text(target.tenant_id.as_str())
            .int(i64::from(state.outcomes))
            .uuid(current.map(|c| c.id))
            .text(current.and_then(|c| c.label.as_deref()))
            .float(current.and_then(|c| c.value))
            .time(current.map(|c| c.observed_at))
            .int(current.map(|c| i64::from(c.position)))
            .int(i64::from(state.reviews))
            .int(i64::from(state.current.is_some()))
            .int(i64::from(state.decision.reviewed))
            .int(i64::from(state.decision.overridden))
            .text(changed.then_some(state.decision.final_decision.as_str()))
            .text(state.decision.state.as_str());
    }
    B::push_rows(&mut query, rows);
    query.push(
        " ON CONFLICT (prediction_ref) DO UPDATE SET outcomes = excluded.outcomes, outcome_ref = excluded.outcome_ref, \
         outcome_label = excluded.outcome_label, outcome_value = excluded.outcome_value, \
         outcome_observed_at = excluded.outcome_observed_at, outcome_position = excluded.outcome_position, \
         reviews = excluded.reviews, has_outcome = excluded.has_outcome, reviewed = excluded.reviewed, \
         overridden = excluded.overridden, final_decision = excluded.final_decision, review_state = excluded.review_state",
    );
    collect::<B, _>(conn, query, |_| Ok(())).await.map(drop)
}

/// Quality deltas by (model version, hour, tenant), in key order (the order rows are locked in).
type QualityDeltas = BTreeMap<(Uuid, i64, String), QualityTotals>;

fn add_delta(deltas: &mut QualityDeltas, target: &Target, before: &Contribution, after: &Contribution) {
    let delta = QualityTotals::change(before, after);
    if !delta.is_zero() {
        let key = (target.model_ref, hour_of(target.ts), target.tenant_id.clone());
        deltas.entry(key).or_default().merge(&delta);
    }
}

/// Adds the deltas to the quality totals.
async fn save_quality<B: Dialect>(conn: &mut Conn<B>, deltas: &QualityDeltas) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new(
        "INSERT INTO quality_totals (model_ref, hour, tenant_id, with_outcome, regression_count, abs_error, \
         squared_error, reviewed, overridden) ",
    );
    let mut rows = Rows::new();
    for ((model, hour, tenant), t) in deltas {
        rows.row()
            .uuid(*model)
            .int(*hour)
            .text(tenant.as_str())
            .int(t.with_outcome)
            .int(t.regression_count)
            .float(t.abs_error)
            .float(t.squared_error)
            .int(t.reviewed)
            .int(t.overridden);
    }
    B::push_rows(&mut query, rows);
    query.push(
        " ON CONFLICT (model_ref, hour, tenant_id) DO UPDATE SET \
         with_outcome = quality_totals.with_outcome + excluded.with_outcome, \
         regression_count = quality_totals.regression_count + excluded.regression_count, \
         abs_error = quality_totals.abs_error + excluded.abs_error, \
         squared_error = quality_totals.squared_error + excluded.squared_error, \
         reviewed = quality_totals.reviewed + excluded.reviewed, \
         overridden = quality_totals.overridden + excluded.overridden",
    );
    collect::<B, _>(conn, query, |_| Ok(())).await?;
    let mut rows = Rows::new();
    for ((model, hour, tenant), t) in deltas {
        for ((predicted, actual), n) in t.confusion.iter().filter(|(_, n)| **n != 0) {
            rows.row()
                .uuid(*model)
                .int(*hour)
                .text(tenant.as_str())
                .text(predicted.as_str())
                .text(actual.as_str())
                .int(*n);
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new(
        "INSERT INTO quality_confusion (model_ref, hour, tenant_id, predicted, actual, predictions) ",
    );
    B::push_rows(&mut query, rows);
    query.push(
        " ON CONFLICT (model_ref, hour, tenant_id, predicted, actual) DO UPDATE SET \
         predictions = quality_confusion.predictions + excluded.predictions",
    );
    collect::<B, _>(conn, query, |_| Ok(())).await.map(drop)
}

/// `INSERT INTO outcomes …` for the given rows.
fn insert_outcomes<B: Dialect>(rows: &[(&Outcome, &str)]) -> QueryBuilder<B::Db> {
    let mut query = QueryBuilder::new(
        "INSERT INTO outcomes (id, prediction_ref, outcome_id, position, label, value, source, observed_at, metadata, \
         metadata_redactions, content_hash, created_at, salt) ",
    );
    let mut values = Rows::new();
    for (o, content_hash) in rows {
        values
            .row()
            .uuid(o.id)
            .uuid(o.prediction_ref)
            .text(o.outcome_id.as_str())
            .int(i64::from(o.position))
            .text(o.label.as_deref())
            .float(o.value)
            .text(o.source.as_str())
            .time(o.observed_at)
            .text(column_text(&o.metadata).as_str())
            .text(serde_json::to_string(&o.metadata_redactions).expect("strings serialize").as_str())
            .text(*content_hash)
            .time(o.created_at)
            .bytes(o.salt.as_ref().map(|s| s.as_slice()));
    }
    B::push_rows(&mut query, values);
    query
}

/// Stored outcomes by `outcome_id`, with their content hashes.
async fn outcomes_by_client_id<B: Backend>(
    conn: &mut Conn<B>,
    ids: &[&str],
) -> Result<HashMap<String, (Outcome, String)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = QueryBuilder::new(format!("SELECT {OUTCOME_COLUMNS}, content_hash FROM outcomes WHERE "));
    B::push_in(&mut query, "outcome_id", Column::texts(ids.iter().copied()));
    let rows = collect::<B, _>(conn, query, |row| {
        let mut c = Columns::new(row);
        let stored = outcome(&mut c)?;
        Ok((stored.outcome_id.clone(), (stored, c.text()?)))
    })
    .await?;
    Ok(rows.into_iter().collect())
}

/// What a client id already stored means for a new record with `content_hash` for `prediction`.
fn replay<T>(
    stored: T,
    stored_prediction: Uuid,
    stored_hash: &str,
    prediction: Uuid,
    content_hash: &str,
    what: &str,
    id: &str,
) -> Result<Recorded<T>> {
    if stored_hash == ml_audit_storage::ERASED_CONTENT_HASH {
        return Err(StorageError::Erased(stored_prediction));
    }
    if stored_prediction == prediction && stored_hash == content_hash {
        return Ok(Recorded::Replayed(stored));
    }
    Err(StorageError::Conflict(format!("{what} {id:?} is already stored with other content or for another prediction")))
}

impl<B: Backend> SqlStore<B> {
    async fn record_outcomes_in(
        &self,
        conn: &mut Conn<B>,
        visibility: &Visibility,
        outcomes: Vec<(PredictionRef, PreparedOutcome)>,
    ) -> Result<Vec<Result<Recorded<Outcome>>>> {
        let refs: Vec<&PredictionRef> = outcomes.iter().map(|(r, _)| r).collect();
        let targets = resolve_targets::<B>(conn, visibility, &refs).await?;
        let client_ids: Vec<&str> = outcomes.iter().map(|(_, o)| o.outcome_id.as_str()).collect();
        let mut stored = outcomes_by_client_id::<B>(conn, &client_ids).await?;
        let live: Vec<&Target> = targets.values().filter(|t| !t.erased).collect();
        let mut states = load_states::<B>(conn, &live).await?;
        let before: HashMap<Uuid, Contribution> = live
            .iter()
            .map(|t| (t.id, states.get(&t.id).map_or_else(Contribution::default, |s| s.contribution(t))))
            .collect();
        let mut results = Vec::with_capacity(outcomes.len());
        let mut created: Vec<(Outcome, String)> = Vec::new();
        for (reference, prepared) in outcomes {
            let Some(target) = targets.get(&reference.0) else {
                results.push(Err(StorageError::NotFound(Entity::Prediction)));
                continue;
            };
            if target.erased {
                results.push(Err(StorageError::Erased(target.id)));
                continue;
            }
            if let Some((existing, hash)) = stored.get(&prepared.outcome_id) {
                let answer = replay(
                    existing.clone(),
                    existing.prediction_ref,
                    hash,
                    target.id,
                    &prepared.content_hash,
                    "outcome_id",
                    &prepared.outcome_id,
                );
                results.push(answer);
                continue;
            }
            let state = states.entry(target.id).or_insert_with(|| State::new(target));
            let content_hash = prepared.content_hash.clone();
            let record = stored_outcome(prepared, target.id, state.outcomes + 1);
            state.add_outcome(&record);
            stored.insert(record.outcome_id.clone(), (record.clone(), content_hash.clone()));
            results.push(Ok(Recorded::Created(record.clone())));
            created.push((record, content_hash));
        }
        if created.is_empty() {
            return Ok(results);
        }
        for chunk in created.chunks(500) {
            let rows: Vec<(&Outcome, &str)> = chunk.iter().map(|(o, h)| (o, h.as_str())).collect();
            collect::<B, _>(conn, insert_outcomes::<B>(&rows), |_| Ok(())).await?;
        }
        let leaves =
            created.into_iter().map(|(o, _)| RecordLeaf::follow_up(&LedgerRecord::Outcome(o))).collect::<Vec<_>>();
        B::seal_records(conn, leaves).await?;
        let mut deltas = QualityDeltas::new();
        let mut changed: Vec<(&Target, &State)> = Vec::new();
        let mut touched: Vec<&Target> = live.iter().copied().filter(|t| states.contains_key(&t.id)).collect();
        touched.sort_by_key(|t| t.id);
        for target in touched {
            let state = &states[&target.id];
            add_delta(&mut deltas, target, &before[&target.id], &state.contribution(target));
            changed.push((target, state));
        }
        save_states::<B>(conn, &changed).await?;
        save_quality::<B>(conn, &deltas).await?;
        Ok(results)
    }
}

#[async_trait]
impl<B: Backend> OutcomeStore for SqlStore<B> {
    async fn record_outcomes(
        &self,
        visibility: &Visibility,
        outcomes: Vec<(PredictionRef, PreparedOutcome)>,
    ) -> Result<Vec<Result<Recorded<Outcome>>>> {
        let mut tx = B::begin_write(self).await?;
        let results = self.record_outcomes_in(&mut tx, visibility, outcomes).await?;
        tx.commit().await.map_err(B::classify)?;
        Ok(results)
    }

    async fn list_outcomes(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Outcome>> {
        let mut conn = self.reader.acquire().await.map_err(B::classify)?;
        let id = predictions::resolve::<B>(&mut conn, visibility, prediction, "").await?;
        let mut query = QueryBuilder::new(format!("SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE prediction_ref = "));
        B::bind_uuid(&mut query, id);
        query.push(" ORDER BY position");
        collect::<B, _>(&mut conn, query, |row| outcome(&mut Columns::new(row))).await
    }

    async fn record_review(
        &self,
        visibility: &Visibility,
        prediction: &PredictionRef,
        prepared: PreparedReview,
        policy: &ReviewPolicy,
    ) -> Result<Recorded<Review>> {
        let mut tx = B::begin_write(self).await?;
        let targets = resolve_targets::<B>(&mut tx, visibility, &[prediction]).await?;
        let target = targets.get(&prediction.0).ok_or(StorageError::NotFound(Entity::Prediction))?;
        if target.erased {
            return Err(StorageError::Erased(target.id));
        }
        let mut query =
            QueryBuilder::new(format!("SELECT {REVIEW_COLUMNS}, content_hash FROM reviews WHERE review_id = "));
        B::bind_text(&mut query, &prepared.review_id);
        let existing = collect::<B, _>(&mut tx, query, |row| {
            let mut c = Columns::new(row);
            Ok((review(&mut c)?, c.text()?))
        })
        .await?;
        if let Some((stored, hash)) = existing.into_iter().next() {
            let prediction = stored.prediction_ref;
            return replay(
                stored,
                prediction,
                &hash,
                target.id,
                &prepared.content_hash,
                "review_id",
                &prepared.review_id,
            );
        }
        let reviews = reviews_of::<B>(&mut tx, target.id).await?;
        let two_person = policy.two_person(&target.model_name);
        let mut fold = ReviewFold::of(&target.decision_outcome, two_person, &reviews);
        fold.apply(&prepared.reviewer_id, prepared.action, &prepared.final_decision)
            .map_err(|refused| StorageError::Conflict(refused.to_string()))?;
        let mut states = load_states::<B>(&mut tx, &[target]).await?;
        let state = states.remove(&target.id).unwrap_or_else(|| State::new(target));
        let before = state.contribution(target);
        let state = State { reviews: state.reviews + 1, decision: fold.decision(), ..state };
        let content_hash = prepared.content_hash.clone();
        let record = stored_review(prepared, target.id, state.reviews);
        collect::<B, _>(&mut tx, insert_review::<B>(&record, &content_hash), |_| Ok(())).await?;
        B::seal_records(&mut tx, vec![RecordLeaf::follow_up(&LedgerRecord::Review(record.clone()))]).await?;
        let mut deltas = QualityDeltas::new();
        add_delta(&mut deltas, target, &before, &state.contribution(target));
        save_states::<B>(&mut tx, &[(target, &state)]).await?;
        save_quality::<B>(&mut tx, &deltas).await?;
        tx.commit().await.map_err(B::classify)?;
        Ok(Recorded::Created(record))
    }

    async fn list_reviews(&self, visibility: &Visibility, prediction: &PredictionRef) -> Result<Vec<Review>> {
        let mut conn = self.reader.acquire().await.map_err(B::classify)?;
        let id = predictions::resolve::<B>(&mut conn, visibility, prediction, "").await?;
        reviews_of::<B>(&mut conn, id).await
    }

    async fn model_quality(
        &self,
        visibility: &Visibility,
        model: Uuid,
        window: &QualityWindow,
    ) -> Result<QualityReport> {
        let mut conn = self.reader.acquire().await.map_err(B::classify)?;
        quality::<B>(&mut conn, visibility, model, window).await
    }

    async fn check_derived(&self, policy: &ReviewPolicy, limit: usize) -> Result<Vec<String>> {
        let mut snapshot = B::begin_snapshot(self).await?;
        let findings = check_derived::<B>(&mut snapshot, policy, limit).await?;
        snapshot.commit().await.map_err(B::classify)?;
        Ok(findings)
    }
}

/// What [`OutcomeStore::check_derived`] reads, on one snapshot: chunk by chunk, the predictions
/// with an outcome, a review or a state row, each recomputed from its records.
async fn check_derived<B: Dialect>(conn: &mut Conn<B>, policy: &ReviewPolicy, limit: usize) -> Result<Vec<String>> {
    const CHUNK: usize = 500;
    let ids = QueryBuilder::new(
        "SELECT prediction_ref FROM outcomes UNION SELECT prediction_ref FROM reviews \
         UNION SELECT prediction_ref FROM prediction_state ORDER BY 1",
    );
    let ids = collect::<B, _>(conn, ids, |row| Columns::new(row).uuid()).await?;
    let mut findings = Vec::new();
    let mut expected = QualityDeltas::new();
    for chunk in ids.chunks(CHUNK) {
        let targets = targets_by_id::<B>(conn, chunk).await?;
        let all: Vec<&Target> = targets.iter().collect();
        let stored = load_states::<B>(conn, &all).await?;
        let mut outcomes: HashMap<Uuid, Vec<Outcome>> = HashMap::new();
        for outcome in
            follow_ups::<B, _>(conn, OUTCOME_COLUMNS, "outcomes", chunk, |row| outcome(&mut Columns::new(row))).await?
        {
            outcomes.entry(outcome.prediction_ref).or_default().push(outcome);
        }
        let mut reviews: HashMap<Uuid, Vec<Review>> = HashMap::new();
        for review in
            follow_ups::<B, _>(conn, REVIEW_COLUMNS, "reviews", chunk, |row| review(&mut Columns::new(row))).await?
        {
            reviews.entry(review.prediction_ref).or_default().push(review);
        }
        for target in &targets {
            let stored = stored.get(&target.id);
            if target.erased {
                if stored.is_some() {
                    findings.push(format!("the erased prediction {} still has a derived state", target.id));
                }
                continue;
            }
            let outcomes = outcomes.remove(&target.id).unwrap_or_default();
            let reviews = reviews.remove(&target.id).unwrap_or_default();
            let state = recomputed(target, &outcomes, &reviews, policy);
            add_delta(&mut expected, target, &Contribution::default(), &state.contribution(target));
            match stored {
                None => findings.push(format!("the prediction {} has outcomes or reviews but no derived state", target.id)),
                Some(stored) if !same_state(stored, &state) => findings.push(format!(
                    "the derived state of the prediction {} differs from its outcomes and reviews: stored {}, recomputed {}",
                    target.id,
                    describe(stored),
                    describe(&state)
                )),
                Some(_) => {}
            }
        }
        if findings.len() >= limit {
            findings.truncate(limit);
            return Ok(findings);
        }
    }
    findings.extend(compare_totals::<B>(conn, &expected).await?);
    findings.truncate(limit);
    Ok(findings)
}

/// The outcomes or reviews (`columns` of `table`) of `predictions`, each prediction's in order.
async fn follow_ups<B: Dialect, T: Send>(
    conn: &mut Conn<B>,
    columns: &str,
    table: &str,
    predictions: &[Uuid],
    map: impl Fn(&B::Row<'_>) -> Result<T> + Send + Sync,
) -> Result<Vec<T>> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE "));
    B::push_in(&mut query, "prediction_ref", Column::uuids(predictions.iter().copied()));
    query.push(" ORDER BY prediction_ref, position");
    collect::<B, _>(conn, query, map).await
}

/// A prediction's state as its outcomes (in arrival order) and reviews give it.
fn recomputed(target: &Target, outcomes: &[Outcome], reviews: &[Review], policy: &ReviewPolicy) -> State {
    let mut state = State::new(target);
    for outcome in outcomes {
        state.add_outcome(outcome);
    }
    state.reviews = u32::try_from(reviews.len()).unwrap_or(u32::MAX);
    state.decision =
        ReviewFold::of(&target.decision_outcome, policy.two_person(&target.model_name), reviews).decision();
    state
}

fn same_state(a: &State, b: &State) -> bool {
    let current = |s: &State| {
        s.current.as_ref().map(|c| (c.id, c.label.clone(), c.value.map(f64::to_bits), c.observed_at, c.position))
    };
    a.outcomes == b.outcomes && a.reviews == b.reviews && a.decision == b.decision && current(a) == current(b)
}

fn describe(state: &State) -> String {
    format!(
        "{} outcome(s), current {}, {} review(s), final decision {:?} ({})",
        state.outcomes,
        state.current.as_ref().map_or("none".to_owned(), |c| format!("{:?}", c.label)),
        state.reviews,
        state.decision.final_decision,
        state.decision.state
    )
}

/// The stored quality totals against the sum of every prediction's recomputed contribution:
/// counts exactly, sums of errors to a relative 1e-9 (each was added and taken away as a float).
async fn compare_totals<B: Dialect>(conn: &mut Conn<B>, expected: &QualityDeltas) -> Result<Vec<String>> {
    let query = QueryBuilder::new(
        "SELECT model_ref, hour, tenant_id, CAST(with_outcome AS bigint), CAST(regression_count AS bigint), \
         abs_error, squared_error, CAST(reviewed AS bigint), CAST(overridden AS bigint) FROM quality_totals",
    );
    let mut stored: QualityDeltas = collect::<B, _>(conn, query, |row| {
        let mut c = Columns::new(row);
        Ok((
            (c.uuid()?, c.integer()?, c.text()?),
            QualityTotals {
                with_outcome: c.integer()?,
                regression_count: c.integer()?,
                abs_error: c.required(SqlRow::float)?,
                squared_error: c.required(SqlRow::float)?,
                reviewed: c.integer()?,
                overridden: c.integer()?,
                confusion: BTreeMap::new(),
            },
        ))
    })
    .await?
    .into_iter()
    .collect();
    let query = QueryBuilder::new(
        "SELECT model_ref, hour, tenant_id, predicted, actual, CAST(predictions AS bigint) FROM quality_confusion",
    );
    for (key, pair, n) in collect::<B, _>(conn, query, |row| {
        let mut c = Columns::new(row);
        Ok(((c.uuid()?, c.integer()?, c.text()?), (c.text()?, c.text()?), c.integer()?))
    })
    .await?
    {
        stored.entry(key).or_default().confusion.insert(pair, n);
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let nonzero = |t: &QualityTotals| {
        t.confusion.iter().filter(|(_, n)| **n != 0).map(|(k, n)| (k.clone(), *n)).collect::<Vec<_>>()
    };
    let keys: std::collections::BTreeSet<_> = stored.keys().chain(expected.keys()).collect();
    let empty = QualityTotals::default();
    let mut findings = Vec::new();
    for key in keys {
        let (have, want) = (stored.get(key).unwrap_or(&empty), expected.get(key).unwrap_or(&empty));
        let same = (have.with_outcome, have.regression_count, have.reviewed, have.overridden)
            == (want.with_outcome, want.regression_count, want.reviewed, want.overridden)
            && close(have.abs_error, want.abs_error)
            && close(have.squared_error, want.squared_error)
            && nonzero(have) == nonzero(want);
        if !same {
            let (model, hour, tenant) = key;
            findings.push(format!(
                "the quality totals of model version {model}, hour {hour}, tenant {tenant:?} differ from its \
                 predictions' outcomes and reviews: stored {have:?}, recomputed {want:?}"
            ));
        }
    }
    Ok(findings)
}

/// Every review of a prediction, in the order they were applied.
pub async fn reviews_of<B: Dialect>(conn: &mut Conn<B>, prediction: Uuid) -> Result<Vec<Review>> {
    let mut query = QueryBuilder::new(format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE prediction_ref = "));
    B::bind_uuid(&mut query, prediction);
    query.push(" ORDER BY position");
    collect::<B, _>(conn, query, |row| review(&mut Columns::new(row))).await
}

/// Gives read predictions their current outcome, decision after review and reviews (oldest
/// first): one query for a whole page.
pub async fn complete<B: Dialect>(conn: &mut Conn<B>, events: &mut [PredictionEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let query = state_query::<B>(events.iter().map(|e| e.id).collect());
    let states = collect::<B, _>(conn, query, |row| state(row)).await?;
    apply_states(events, states);
    Ok(())
}

/// The state rows ([`STATE_COLUMNS`]) of the predictions `ids`, their reviews in order.
pub fn state_query<B: Dialect>(ids: Vec<Uuid>) -> QueryBuilder<B::Db> {
    let mut query = QueryBuilder::new(format!("{STATE_COLUMNS} WHERE "));
    B::push_in(&mut query, "s.prediction_ref", Column::uuids(ids));
    query.push(" ORDER BY s.prediction_ref, r.position");
    query
}

/// Puts each prediction's state (decision after review, current outcome) and reviews, as
/// [`state_query`] read them, into it.
pub fn apply_states(events: &mut [PredictionEvent], rows: Vec<(StateRow, Option<Review>)>) {
    let mut states: HashMap<Uuid, (StateRow, Vec<Review>)> = HashMap::new();
    for (state, review) in rows {
        states.entry(state.prediction).or_insert_with(|| (state, Vec::new())).1.extend(review);
    }
    for event in events.iter_mut() {
        if let Some((state, reviews)) = states.remove(&event.id) {
            state.apply(event);
            event.reviews = reviews;
        }
    }
}

fn insert_review<B: Dialect>(review: &Review, content_hash: &str) -> QueryBuilder<B::Db> {
    let mut query = QueryBuilder::new(
        "INSERT INTO reviews (id, prediction_ref, review_id, position, reviewer_id, reviewer_name, action, \
         final_decision, reason_codes, comment, reviewed_at, content_hash, created_at, salt) ",
    );
    let mut rows = Rows::new();
    rows.row()
        .uuid(review.id)
        .uuid(review.prediction_ref)
        .text(review.review_id.as_str())
        .int(i64::from(review.position))
        .text(review.reviewer_id.as_str())
        .text(review.reviewer_name.as_str())
        .text(review.action.as_str())
        .text(review.final_decision.as_str())
        .text(serde_json::to_string(&review.reason_codes).expect("strings serialize").as_str())
        .text(review.comment.as_str())
        .time(review.reviewed_at)
        .text(content_hash)
        .time(review.created_at)
        .bytes(review.salt.as_ref().map(|s| s.as_slice()));
    B::push_rows(&mut query, rows);
    query
}

/// An inclusive time range (`None`: unbounded on that side).
type TimeRange = (Option<OffsetDateTime>, Option<OffsetDateTime>);

/// How a quality window is read: the hours `[first, last)` wholly inside it from the running
/// totals (`None`: no whole hour; an unbounded side is `None` too), and the parts it cuts at
/// either end, row by row.
struct WindowParts {
    whole_hours: Option<(Option<i64>, Option<i64>)>,
    cut: Vec<TimeRange>,
}

fn split_window(from: Option<OffsetDateTime>, to: Option<OffsetDateTime>) -> WindowParts {
    let micros = timestamp::to_unix_micros;
    let first =
        from.map(|f| micros(f).div_euclid(MICROS_PER_HOUR) + i64::from(micros(f).rem_euclid(MICROS_PER_HOUR) != 0));
    let last = to.map(|t| (micros(t) + 1).div_euclid(MICROS_PER_HOUR));
    if let (Some(first), Some(last)) = (first, last)
        && first >= last
    {
        return WindowParts { whole_hours: None, cut: vec![(from, to)] };
    }
    let hour_start = |hour: i64| timestamp::from_unix_micros(hour * MICROS_PER_HOUR);
    let mut cut = Vec::new();
    if let (Some(from), Some(first)) = (from, first)
        && micros(from) < first * MICROS_PER_HOUR
    {
        cut.push((Some(from), hour_start(first).map(|t| t - time::Duration::MICROSECOND)));
    }
    if let (Some(to), Some(last)) = (to, last)
        && micros(to) >= last * MICROS_PER_HOUR
    {
        cut.push((hour_start(last), Some(to)));
    }
    WindowParts { whole_hours: Some((first, last)), cut }
}

async fn quality<B: Dialect>(
    conn: &mut Conn<B>,
    visibility: &Visibility,
    model: Uuid,
    window: &QualityWindow,
) -> Result<QualityReport> {
    let WindowParts { whole_hours, cut } = split_window(window.from, window.to);
    let tenant = |query: &mut QueryBuilder<B::Db>, column: &str| {
        push_tenant::<B>(query, column, visibility);
        if let Some(tenant) = &window.tenant_id {
            query.push(format!(" AND {column} = "));
            B::bind_text(query, tenant);
        }
    };
    let hours = |query: &mut QueryBuilder<B::Db>, (first, last): (Option<i64>, Option<i64>)| {
        if let Some(first) = first {
            query.push(" AND hour >= ");
            B::bind_int(query, first);
        }
        if let Some(last) = last {
            query.push(" AND hour < ");
            B::bind_int(query, last);
        }
    };
    let mut predictions = 0;
    let mut totals = QualityTotals::default();
    if let Some(span) = whole_hours {
        let mut query = QueryBuilder::new(
            "SELECT CAST(COALESCE(SUM(predictions), 0) AS bigint) FROM rollup_hourly WHERE model_ref = ",
        );
        B::bind_uuid(&mut query, model);
        hours(&mut query, span);
        tenant(&mut query, "tenant_id");
        predictions += collect::<B, _>(conn, query, |row| Columns::new(row).integer()).await?.into_iter().sum::<i64>();
        let mut query = QueryBuilder::new(
            "SELECT CAST(COALESCE(SUM(with_outcome), 0) AS bigint), CAST(COALESCE(SUM(regression_count), 0) AS bigint), \
             COALESCE(SUM(abs_error), 0.0), COALESCE(SUM(squared_error), 0.0), CAST(COALESCE(SUM(reviewed), 0) AS bigint), \
             CAST(COALESCE(SUM(overridden), 0) AS bigint) FROM quality_totals WHERE model_ref = ",
        );
        B::bind_uuid(&mut query, model);
        hours(&mut query, span);
        tenant(&mut query, "tenant_id");
        for row in collect::<B, _>(conn, query, |row| {
            let mut c = Columns::new(row);
            Ok(QualityTotals {
                with_outcome: c.integer()?,
                regression_count: c.integer()?,
                abs_error: c.required(SqlRow::float)?,
                squared_error: c.required(SqlRow::float)?,
                reviewed: c.integer()?,
                overridden: c.integer()?,
                confusion: BTreeMap::new(),
            })
        })
        .await?
        {
            totals.merge(&row);
        }
        let mut query = QueryBuilder::new(
            "SELECT predicted, actual, CAST(SUM(predictions) AS bigint) FROM quality_confusion WHERE model_ref = ",
        );
        B::bind_uuid(&mut query, model);
        hours(&mut query, span);
        tenant(&mut query, "tenant_id");
        query.push(" GROUP BY predicted, actual");
        for (predicted, actual, n) in collect::<B, _>(conn, query, |row| {
            let mut c = Columns::new(row);
            Ok((c.text()?, c.text()?, c.integer()?))
        })
        .await?
        {
            *totals.confusion.entry((predicted, actual)).or_default() += n;
        }
    }
    for (from, to) in cut {
        let range = |query: &mut QueryBuilder<B::Db>, column: &str| {
            if let Some(from) = from {
                query.push(format!(" AND {column} >= "));
                B::bind_time(query, from);
            }
            if let Some(to) = to {
                query.push(format!(" AND {column} <= "));
                B::bind_time(query, to);
            }
        };
        let mut query = QueryBuilder::new("SELECT CAST(COUNT(*) AS bigint) FROM predictions p WHERE p.model_ref = ");
        B::bind_uuid(&mut query, model);
        range(&mut query, "p.ts");
        tenant(&mut query, "p.tenant_id");
        predictions += collect::<B, _>(conn, query, |row| Columns::new(row).integer()).await?.into_iter().sum::<i64>();
        let mut query = QueryBuilder::new(
            "SELECT p.decision_outcome, p.output, s.has_outcome, s.outcome_label, s.outcome_value, s.reviewed, s.overridden \
             FROM prediction_state s JOIN predictions p ON p.id = s.prediction_ref WHERE s.model_ref = ",
        );
        B::bind_uuid(&mut query, model);
        range(&mut query, "s.ts");
        tenant(&mut query, "s.tenant_id");
        for contribution in collect::<B, _>(conn, query, |row| {
            let mut c = Columns::new(row);
            let decision_outcome = c.text()?;
            let output: serde_json::Value = c.json("output")?;
            let has_outcome = c.integer()? != 0;
            let label = c.take(SqlRow::text)?;
            let value = c.take(SqlRow::float)?;
            let decision = Decision {
                final_decision: String::new(),
                state: ReviewState::None,
                reviewed: c.integer()? != 0,
                overridden: c.integer()? != 0,
            };
            let outcome = has_outcome.then_some((label.as_deref(), value));
            Ok(Contribution::of(&judged(&decision_outcome, predicted_value(&output), outcome, &decision)))
        })
        .await?
        {
            totals.add(&contribution, 1);
        }
    }
    Ok(QualityReport::new(predictions, &totals))
}
