//! PostgreSQL's write path. Whatever two replicas could race on is settled by the database,
//! never by a check in Rust: models and actors are created with `INSERT … ON CONFLICT DO NOTHING`
//! and read back, a `prediction_id` sent twice at once is decided by its unique index,
//! explanation revisions are numbered under a row lock on their prediction, and the first API key
//! under a table lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use ml_audit_core::event::PreparedPrediction;
use ml_audit_core::ledger::canonical::ColumnText;
use ml_audit_core::ledger::record::PredictionColumns;
use ml_audit_core::model::Explanation;
use ml_audit_sql::{Backend as _, SqlStore, first_use, predictions};
use ml_audit_storage::known::{KnownRows, RowSet, actor_key, model_key};
use ml_audit_storage::{RecordLeaf, RecordOutcome, Result, StorageError, encode_redaction_log, recorded_event};
use sqlx::{PgConnection, Row as _};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Pg;
use crate::dialect::db_err;
use crate::ledger::enqueue;

pub async fn record_predictions(store: &SqlStore<Pg>, events: Vec<PreparedPrediction>) -> Result<Vec<RecordOutcome>> {
    let mut tx = Pg::begin_write(store).await?;
    let mut fresh = RowSet::default();
    let outcomes = record_batch(&mut tx, &store.known, &mut fresh, events).await?;
    tx.commit().await.map_err(db_err)?;
    store.known.absorb(fresh);
    Ok(outcomes)
}

/// What is stored under a `prediction_id`: enough to tell a replay from a conflict.
struct Stored {
    id: Uuid,
    content_hash: String,
}

/// Records a batch with the outcomes of recording its events one after the other.
///
/// Rows that a concurrent batch may be inserting too (models, actors, predictions) are inserted
/// kind by kind, each in key order: two transactions then wait on each other's keys in the
/// same order, which rules out deadlocks however their batches are ordered.
///
/// Model and actor rows come from `known` when it has them; those the batch looks up or creates
/// go into `fresh`, for the caller to add to `known` once the transaction has committed.
async fn record_batch(
    conn: &mut PgConnection,
    known: &KnownRows,
    fresh: &mut RowSet,
    events: Vec<PreparedPrediction>,
) -> Result<Vec<RecordOutcome>> {
    let prediction_ids: Vec<&str> = events.iter().map(|e| e.prediction_id.as_str()).collect();
    let mut stored = stored_predictions(conn, &prediction_ids).await?;

    // To insert, in batch order: the first event of each prediction_id not stored yet. Later
    // ones with the same prediction_id are then replays or conflicts of it, as if sent after.
    let mut seen = HashSet::new();
    let to_insert: Vec<usize> = (0..events.len())
        .filter(|&i| !stored.contains_key(&events[i].prediction_id) && seen.insert(&events[i].prediction_id))
        .collect();

    // Models and actors only for events about to be inserted, so that a conflicting event
    // writes nothing (unless a concurrent batch stores its prediction_id first, a rare race).
    let mut models = HashMap::new();
    for (key, event) in first_by_key(to_insert.iter().map(|&i| (model_key(&events[i].model), &events[i]))) {
        let model = match known.model(&key) {
            Some(model) => model,
            None => {
                let model = first_use::model_row::<Pg>(conn, &event.model, event.created_at).await?;
                fresh.models.insert(key.clone(), model.clone());
                model
            }
        };
        models.insert(key, model);
    }
    let mut actors = HashMap::new();
    let new_actors = to_insert.iter().filter_map(|&i| {
        let event = &events[i];
        event.actor.as_ref().map(|actor| (actor_key(actor), (actor, event.created_at)))
    });
    for (key, (actor, now)) in first_by_key(new_actors) {
        let row = match known.actor(&key) {
            Some(row) => row,
            None => {
                let row = first_use::actor_row::<Pg>(conn, actor, now).await?;
                fresh.actors.insert(key.clone(), row);
                row
            }
        };
        actors.insert(key, row);
    }

    let mut insert_order = to_insert;
    insert_order.sort_by(|&a, &b| events[a].prediction_id.cmp(&events[b].prediction_id));
    // Each JSON column is serialised once, for its row and for its record's leaf.
    let mut columns: Vec<Option<PredictionColumns>> = (0..events.len()).map(|_| None).collect();
    for &i in &insert_order {
        columns[i] = Some(PredictionColumns::of(&events[i]));
    }
    let rows: Vec<_> = insert_order
        .iter()
        .map(|&i| {
            let event = &events[i];
            let row_columns = columns[i].as_ref().expect("made for every event to insert");
            let actor = event.actor.as_ref().map(|a| actors[&actor_key(a)].0);
            (event, row_columns, models[&model_key(&event.model)].id, actor)
        })
        .collect();
    let inserted = insert_predictions(conn, &rows).await?;
    let mut created = vec![false; events.len()];
    for index in insert_order {
        let event = &events[index];
        if inserted.contains(&event.prediction_id) {
            created[index] = true;
            let new = Stored { id: event.id, content_hash: event.content_hash.clone() };
            stored.insert(event.prediction_id.clone(), new);
        } else {
            // A concurrent batch committed this prediction_id since the lookup above.
            stored.extend(stored_predictions(conn, &[event.prediction_id.as_str()]).await?);
        }
    }

    // Outcomes in batch order; inline explanations go in once their prediction is in. Every
    // new record is queued for the sealer, in batch order, each prediction before its
    // explanation.
    let mut outcomes = Vec::with_capacity(events.len());
    let mut queued = Vec::new();
    for ((event, created), columns) in events.into_iter().zip(created).zip(columns) {
        if created {
            let model = models[&model_key(&event.model)].clone();
            let actor = event.actor.as_ref().map(|a| actors[&actor_key(a)]);
            let recorded = recorded_event(event, model, actor);
            let columns = columns.expect("a created prediction was to be inserted");
            queued.push(RecordLeaf::prediction(&recorded, &columns));
            if let Some(explanation) = &recorded.explanation {
                insert_explanation(conn, explanation).await?;
                queued.push(RecordLeaf::explanation(explanation));
            }
            outcomes.push(RecordOutcome::Created(recorded));
            continue;
        }
        let existing = stored.get(&event.prediction_id).ok_or_else(|| {
            StorageError::Integrity(format!("prediction_id {:?} was neither inserted nor found", event.prediction_id))
        })?;
        outcomes.push(
            match RecordOutcome::refusal(&existing.content_hash, &event.content_hash, &event.prediction_id) {
                None => RecordOutcome::Replayed(predictions::fetch::<Pg>(conn, existing.id).await?),
                Some(refusal) => refusal,
            },
        );
    }
    enqueue(conn, &queued).await?;
    Ok(outcomes)
}

/// The first value given for each key, in key order.
fn first_by_key<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut first = BTreeMap::new();
    for (key, value) in items {
        first.entry(key).or_insert(value);
    }
    first
}

async fn stored_predictions(conn: &mut PgConnection, prediction_ids: &[&str]) -> Result<HashMap<String, Stored>> {
    let rows = sqlx::query("SELECT prediction_id, id, content_hash FROM predictions WHERE prediction_id = ANY($1)")
        .bind(prediction_ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let stored = Stored { id: row.try_get("id")?, content_hash: row.try_get("content_hash")? };
            Ok((row.try_get("prediction_id")?, stored))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_err)
}

/// Inserts predictions (with their subject tokens) in one statement per kind, in the given
/// order; returns the prediction_ids inserted — one a concurrent batch stored first is not.
async fn insert_predictions(
    conn: &mut PgConnection,
    rows: &[(&PreparedPrediction, &PredictionColumns, Uuid, Option<Uuid>)],
) -> Result<HashSet<String>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let events = || rows.iter().map(|(event, _, _, _)| *event);
    let json =
        |f: &dyn Fn(&PredictionColumns) -> &str| rows.iter().map(|(_, columns, _, _)| f(columns)).collect::<Vec<_>>();
    let texts = |f: &dyn Fn(&PreparedPrediction) -> String| events().map(f).collect::<Vec<String>>();
    let tenant = |e: &PreparedPrediction| e.actor.as_ref().map_or(String::new(), |a| a.tenant_id.clone());
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO predictions (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, actor_user_agent,
            actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, features, redactions,
            metadata, metadata_redactions, output, confidence, status, latency_ms, content_hash, created_at,
            redaction_log, salt)
         SELECT id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip, actor_user_agent,
            actor_auth_context, trace_id, environment, decision_outcome, input_fingerprint, features, redactions,
            metadata, metadata_redactions, output, confidence, status, latency_ms, content_hash, created_at,
            redaction_log, salt
           FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                       $15::text[], $16::text[], $17::text[], $18::text[], $19::float8[], $20::text[],
                       $21::float8[], $22::text[], $23::timestamptz[], $24::text[], $25::bytea[])
                WITH ORDINALITY AS r (id, prediction_id, ts, model_ref, actor_ref, tenant_id, actor_ip,
                    actor_user_agent, actor_auth_context, trace_id, environment, decision_outcome,
                    input_fingerprint, features, redactions, metadata, metadata_redactions, output, confidence,
                    status, latency_ms, content_hash, created_at, redaction_log, salt, n)
          ORDER BY n
         ON CONFLICT (prediction_id) DO NOTHING
         RETURNING prediction_id",
    )
    .bind(events().map(|e| e.id).collect::<Vec<_>>())
    .bind(texts(&|e| e.prediction_id.clone()))
    .bind(events().map(|e| e.timestamp).collect::<Vec<_>>())
    .bind(rows.iter().map(|&(_, _, model, _)| model).collect::<Vec<_>>())
    .bind(rows.iter().map(|&(_, _, _, actor)| actor).collect::<Vec<_>>())
    .bind(texts(&tenant))
    .bind(events().map(|e| e.actor.as_ref().and_then(|a| a.ip_address.clone())).collect::<Vec<_>>())
    .bind(texts(&|e| e.actor.as_ref().map_or(String::new(), |a| a.user_agent.clone())))
    .bind(
        rows.iter().map(|(_, columns, _, _)| columns.auth_context.as_ref().map(ColumnText::stored)).collect::<Vec<_>>(),
    )
    .bind(texts(&|e| e.trace_id.clone()))
    .bind(texts(&|e| e.environment.clone()))
    .bind(texts(&|e| e.decision_outcome.clone()))
    .bind(texts(&|e| e.input_fingerprint.clone()))
    .bind(json(&|c| c.features.stored()))
    .bind(json(&|c| &c.redactions))
    .bind(json(&|c| c.metadata.stored()))
    .bind(json(&|c| &c.metadata_redactions))
    .bind(json(&|c| c.output.stored()))
    .bind(events().map(|e| e.confidence).collect::<Vec<_>>())
    .bind(texts(&|e| e.status.as_str().to_owned()))
    .bind(events().map(|e| e.latency_ms).collect::<Vec<_>>())
    .bind(texts(&|e| e.content_hash.clone()))
    .bind(events().map(|e| e.created_at).collect::<Vec<_>>())
    .bind(texts(&|e| encode_redaction_log(&e.redaction_log)))
    .bind(events().map(|e| e.salt.to_vec()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let inserted: HashSet<String> = inserted.into_iter().collect();

    // The pseudonyms their `hash` redactions made, for subject lookup; same transaction.
    let subjects: Vec<(&str, Uuid, OffsetDateTime, String)> = events()
        .filter(|e| inserted.contains(&e.prediction_id))
        .flat_map(|e| e.subjects.iter().map(move |token| (token.as_str(), e.id, e.timestamp, tenant(e))))
        .collect();
    if !subjects.is_empty() {
        sqlx::query(
            "INSERT INTO prediction_subjects (token, prediction_ref, ts, tenant_id)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::timestamptz[], $4::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(subjects.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.2).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.3.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(inserted)
}

pub async fn insert_explanation(conn: &mut PgConnection, explanation: &Explanation) -> Result<()> {
    ml_audit_sql::insert_explanation::<Pg>(explanation, None).build().execute(conn).await.map_err(db_err)?;
    Ok(())
}
