//! SQLite's write path: a group of events in one transaction on the single writer connection,
//! rows made ready (records, leaf hashes, JSON column text) before the writer is taken, and the
//! big inserts as multi-row statements at the end.

use std::collections::HashMap;

use ml_audit_core::event::{NewActor, NewModelVersion, PreparedPrediction};
use ml_audit_core::ledger::canonical::{ColumnText, column_text};
use ml_audit_core::ledger::record::{LeafKind, PredictionColumns};
use ml_audit_core::model::{Explanation, LedgerEntry, ModelVersion, PredictionEvent};
use ml_audit_core::timestamp::to_unix_micros;
use ml_audit_sql::{Backend as _, SqlStore, first_use, predictions};
use ml_audit_storage::known::{KnownRows, RowSet, actor_key, model_key};
use ml_audit_storage::{
    RecordLeaf, RecordOutcome, Result, RollupDelta, StorageError, encode_redaction_log, recorded_event,
};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, Encode, QueryBuilder, Row as _, Sqlite, SqliteConnection, Type};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Lite;
use crate::dialect::db_err;
use crate::ledger::seal_in_transaction;

/// Predictions per multi-row INSERT: 24 values each, well under SQLite's 32,766 variables.
const PREDICTIONS_PER_STATEMENT: usize = 250;

pub async fn record_predictions(store: &SqlStore<Lite>, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
    // Hashing and serialising need no lock: done before taking the writer (on the blocking
    // pool), so that one group is made ready while another holds the writer.
    let known = store.known.clone();
    let staging = move || events.into_iter().map(|event| stage(event, &known)).collect::<Vec<_>>();
    let events = tokio::task::spawn_blocking(staging)
        .await
        .map_err(|e| StorageError::database(format!("preparing the rows failed: {e}")))?;
    let mut tx = Lite::begin_write(store).await?;
    let mut batch = Batch {
        stored: stored_predictions(&mut tx, &events).await?,
        known: &store.known,
        fresh: RowSet::default(),
        unwritten: Vec::new(),
        explanations: Vec::new(),
        leaves: Vec::new(),
        totals: RollupDelta::default(),
        subjects: Vec::new(),
    };
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        record_one(&mut tx, &mut batch, &mut outcomes, event).await?;
    }
    batch.flush(&mut tx, &mut outcomes).await?;
    tx.commit().await.map_err(db_err)?;
    // Only committed rows may be cached: a rolled-back model row would not exist.
    store.known.absorb(batch.fresh);
    Ok(outcomes)
}

/// What one `record_predictions` transaction knows: the predictions already stored under the
/// batch's prediction_ids (and those it adds), and the model and actor rows it has resolved.
struct Batch<'a> {
    stored: HashMap<String, (Uuid, String)>,
    known: &'a KnownRows,
    fresh: RowSet,
    /// Rows written at the end of the batch in multi-row statements (one statement costs far
    /// more than one more row): the created predictions, explanations, their ledger leaves in
    /// write order, subjects.
    unwritten: Vec<UnwrittenPrediction>,
    explanations: Vec<Explanation>,
    leaves: Vec<RecordLeaf>,
    /// What the created predictions add to the UI's totals, folded in with their leaves.
    totals: RollupDelta,
    subjects: Vec<(String, Uuid, i64, String)>,
}

impl Batch<'_> {
    /// Writes the deferred rows; called before anything reads them back, and before commit.
    /// The created predictions are answered with the ledger entries they were sealed under.
    async fn flush(&mut self, conn: &mut SqliteConnection, outcomes: &mut [RecordOutcome]) -> Result<()> {
        let created: Vec<usize> = self.unwritten.iter().map(|row| row.index).collect();
        let mut unwritten = std::mem::take(&mut self.unwritten).into_iter().peekable();
        while unwritten.peek().is_some() {
            let mut values = Values::new(
                "INSERT INTO predictions (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, \
                 actor_user_agent, actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, \
                 features, redactions, metadata, metadata_redactions, output, confidence, status, latency_ms, \
                 content_hash, created_at, redaction_log, salt) ",
                25,
            );
            for UnwrittenPrediction { index, content_hash, json } in unwritten.by_ref().take(PREDICTIONS_PER_STATEMENT)
            {
                let JsonColumns { columns, redaction_log } = json;
                let RecordOutcome::Created(event) = &outcomes[index] else {
                    unreachable!("only created predictions are unwritten")
                };
                let actor = event.actor.as_ref();
                values
                    .row()
                    .bind(event.id)
                    .bind(event.prediction_id.clone())
                    .bind(to_unix_micros(event.timestamp))
                    .bind(event.model.id)
                    .bind(actor.map(|a| a.id))
                    .bind(event.tenant_id().to_owned())
                    .bind(actor.and_then(|a| a.ip_address.clone()))
                    .bind(actor.map_or(String::new(), |a| a.user_agent.clone()))
                    .bind(columns.auth_context.map(ColumnText::into_stored))
                    .bind(event.trace_id.clone())
                    .bind(event.environment.clone())
                    .bind(event.decision_outcome.clone())
                    .bind(event.input_fingerprint.clone())
                    .bind(columns.features.into_stored())
                    .bind(columns.redactions)
                    .bind(columns.metadata.into_stored())
                    .bind(columns.metadata_redactions)
                    .bind(columns.output.into_stored())
                    .bind(event.confidence)
                    .bind(event.status.as_str())
                    .bind(event.latency_ms)
                    .bind(content_hash)
                    .bind(to_unix_micros(event.created_at))
                    .bind(redaction_log)
                    .bind(event.salt.map(|salt| salt.to_vec()));
            }
            values.execute(conn).await?;
        }
        for chunk in std::mem::take(&mut self.explanations).chunks(500) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO explanations (id, prediction_ref, revision, method, method_version, payload, summary_text, \
                 status, generated_at, created_at, salt) ",
            );
            query.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.prediction_ref)
                    .push_bind(i64::from(e.revision))
                    .push_bind(e.method.clone())
                    .push_bind(e.method_version.clone())
                    .push_bind(column_text(&e.payload))
                    .push_bind(e.summary_text.clone())
                    .push_bind(e.status.as_str())
                    .push_bind(to_unix_micros(e.generated_at))
                    .push_bind(to_unix_micros(e.created_at))
                    .push_bind(e.salt.map(|salt| salt.to_vec()));
            });
            query.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        let totals = std::mem::take(&mut self.totals);
        let sealed = seal_in_transaction(conn, std::mem::take(&mut self.leaves), &totals).await?;
        for chunk in std::mem::take(&mut self.subjects).chunks(1000) {
            let mut query =
                QueryBuilder::<Sqlite>::new("INSERT INTO prediction_subjects (token, prediction_ref, ts, tenant_id) ");
            query.push_values(chunk, |mut row, (token, id, ts, tenant)| {
                row.push_bind(token.clone()).push_bind(*id).push_bind(*ts).push_bind(tenant.clone());
            });
            query.push(" ON CONFLICT DO NOTHING");
            query.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        let mut entries: HashMap<Uuid, LedgerEntry> = sealed
            .into_iter()
            .filter(|leaf| leaf.kind == LeafKind::Prediction)
            .map(|leaf| (leaf.record_id, LedgerEntry { seq: leaf.seq, leaf_hash: leaf.leaf_hash }))
            .collect();
        for i in created {
            if let RecordOutcome::Created(event) = &mut outcomes[i] {
                event.ledger = entries.remove(&event.id);
            }
        }
        Ok(())
    }
}

/// A multi-row `INSERT … VALUES`, for the batch's big statements: the text and arguments
/// `QueryBuilder::push_values` would make, without its formatting machinery per value (thousands
/// of values a batch).
pub struct Values {
    head: &'static str,
    columns: usize,
    rows: usize,
    arguments: SqliteArguments,
}

impl Values {
    pub fn new(head: &'static str, columns: usize) -> Self {
        Self { head, columns, rows: 0, arguments: SqliteArguments::default() }
    }

    /// Starts a row: its `columns` values follow.
    pub fn row(&mut self) -> &mut Self {
        self.rows += 1;
        self
    }

    pub fn bind<'q, T: Encode<'q, Sqlite> + Type<Sqlite>>(&mut self, value: T) -> &mut Self {
        self.arguments.add(value).expect("every value here encodes");
        self
    }

    pub async fn execute(self, conn: &mut SqliteConnection) -> Result<()> {
        debug_assert_eq!(self.arguments.len(), self.rows * self.columns, "each row binds every column");
        let row = format!("({})", vec!["?"; self.columns].join(", "));
        let mut sql = String::with_capacity(self.head.len() + 7 + self.rows * (row.len() + 2));
        sql.push_str(self.head);
        sql.push_str("VALUES ");
        for i in 0..self.rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row);
        }
        sqlx::query_with(sqlx::AssertSqlSafe(sql), self.arguments).execute(conn).await.map_err(db_err)?;
        Ok(())
    }
}

/// `(id, content_hash)` of the stored predictions whose prediction_id is in `events`: one query
/// per 500 ids instead of one per event.
async fn stored_predictions(conn: &mut SqliteConnection, events: &[Staged]) -> Result<HashMap<String, (Uuid, String)>> {
    let mut stored = HashMap::new();
    for chunk in events.chunks(500) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT prediction_id, id, content_hash FROM predictions WHERE prediction_id IN (",
        );
        let mut ids = query.separated(", ");
        for event in chunk {
            ids.push_bind(event.prediction_id().to_owned());
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await.map_err(db_err)? {
            let prediction_id: String = row.try_get("prediction_id").map_err(db_err)?;
            stored.insert(
                prediction_id,
                (row.try_get("id").map_err(db_err)?, row.try_get("content_hash").map_err(db_err)?),
            );
        }
    }
    Ok(stored)
}

/// An event as the transaction receives it: made ready before the writer was taken when its
/// model and actor rows were already committed, else still to be completed inside it.
enum Staged {
    Ready(Box<ReadyRow>),
    Unresolved(Box<PreparedPrediction>),
}

/// A prediction made ready to insert: the record as it will be stored and answered, its leaves
/// and its JSON columns as stored text (all CPU work, none of it needing the database).
struct ReadyRow {
    event: PredictionEvent,
    content_hash: String,
    /// The pseudonyms its `hash` redactions made, for subject lookup.
    subjects: Vec<String>,
    leaves: Vec<RecordLeaf>,
    json: JsonColumns,
}

/// A created prediction waiting for the batch's multi-row insert: its place in the outcomes
/// (which hold the record) and the columns the record does not hold as stored.
struct UnwrittenPrediction {
    index: usize,
    content_hash: String,
    json: JsonColumns,
}

/// A prediction's JSON columns as stored text: those its leaf covers (RFC 8785, written once for
/// the row and the leaf) and its redaction log (outside the leaf).
struct JsonColumns {
    columns: PredictionColumns,
    redaction_log: String,
}

impl Staged {
    fn prediction_id(&self) -> &str {
        match self {
            Staged::Ready(row) => &row.event.prediction_id,
            Staged::Unresolved(event) => &event.prediction_id,
        }
    }

    fn content_hash(&self) -> &str {
        match self {
            Staged::Ready(row) => &row.content_hash,
            Staged::Unresolved(event) => &event.content_hash,
        }
    }
}

/// Makes an event ready when the model and actor rows it needs are already committed.
fn stage(event: PreparedPrediction, known: &KnownRows) -> Staged {
    let Some(model) = known.model(&model_key(&event.model)) else {
        return Staged::Unresolved(Box::new(event));
    };
    let actor = match &event.actor {
        None => None,
        Some(actor) => match known.actor(&actor_key(actor)) {
            Some(found) => Some(found),
            None => return Staged::Unresolved(Box::new(event)),
        },
    };
    Staged::Ready(Box::new(ready_row(event, model, actor)))
}

fn ready_row(mut prepared: PreparedPrediction, model: ModelVersion, actor: Option<(Uuid, OffsetDateTime)>) -> ReadyRow {
    // The stored record has neither: moved out, not copied.
    let content_hash = std::mem::take(&mut prepared.content_hash);
    let subjects = std::mem::take(&mut prepared.subjects);
    let columns = PredictionColumns::of(&prepared);
    let event = recorded_event(prepared, model, actor);
    let mut leaves = vec![RecordLeaf::prediction(&event, &columns)];
    leaves.extend(event.explanation.as_ref().map(RecordLeaf::explanation));
    let json = JsonColumns { columns, redaction_log: encode_redaction_log(&event.redaction_log) };
    ReadyRow { event, content_hash, subjects, leaves, json }
}

/// Records one event of a batch: pushes its outcome; a created prediction is written at the
/// next flush.
async fn record_one(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    outcomes: &mut Vec<RecordOutcome>,
    event: Staged,
) -> Result<()> {
    if let Some((id, content_hash)) = batch.stored.get(event.prediction_id()) {
        if let Some(refusal) = RecordOutcome::refusal(content_hash, event.content_hash(), event.prediction_id()) {
            outcomes.push(refusal);
            return Ok(());
        }
        let id = *id;
        batch.flush(conn, outcomes).await?;
        outcomes.push(RecordOutcome::Replayed(predictions::fetch::<Lite>(conn, id).await?));
        return Ok(());
    }
    let row = match event {
        Staged::Ready(row) => *row,
        Staged::Unresolved(event) => {
            let model = model_for(conn, batch, &event.model, event.created_at).await?;
            let actor = match &event.actor {
                Some(actor) => Some(actor_for(conn, batch, actor, event.created_at).await?),
                None => None,
            };
            ready_row(*event, model, actor)
        }
    };
    let ReadyRow { event, content_hash, subjects, leaves, json } = row;
    batch.stored.insert(event.prediction_id.clone(), (event.id, content_hash.clone()));
    let ts = to_unix_micros(event.timestamp);
    let tenant = event.tenant_id();
    batch.subjects.extend(subjects.into_iter().map(|token| (token, event.id, ts, tenant.to_owned())));
    batch.leaves.extend(leaves);
    batch.totals.add(&event);
    batch.explanations.extend(event.explanation.clone());
    batch.unwritten.push(UnwrittenPrediction { index: outcomes.len(), content_hash, json });
    outcomes.push(RecordOutcome::Created(event));
    Ok(())
}

/// Seals records other than predictions (which fold into the rollups) written in this
/// transaction.
pub async fn seal_records(conn: &mut SqliteConnection, leaves: Vec<RecordLeaf>) -> Result<()> {
    seal_in_transaction(conn, leaves, &RollupDelta::default()).await.map(drop)
}

/// The model version row, created on first use (the first event's metadata wins).
async fn model_for(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    model: &NewModelVersion,
    now: OffsetDateTime,
) -> Result<ModelVersion> {
    let key = model_key(model);
    let cached = batch.known.model(&key);
    if let Some(found) = cached.or_else(|| batch.fresh.models.get(&key).cloned()) {
        return Ok(found);
    }
    let found = first_use::model_row::<Lite>(conn, model, now).await?;
    batch.fresh.models.insert(key, found.clone());
    Ok(found)
}

/// The actor row's id and creation time, created on first use.
async fn actor_for(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    actor: &NewActor,
    now: OffsetDateTime,
) -> Result<(Uuid, OffsetDateTime)> {
    let key = actor_key(actor);
    let cached = batch.known.actor(&key);
    if let Some(found) = cached.or_else(|| batch.fresh.actors.get(&key).copied()) {
        return Ok(found);
    }
    let found = first_use::actor_row::<Lite>(conn, actor, now).await?;
    batch.fresh.actors.insert(key, found);
    Ok(found)
}
