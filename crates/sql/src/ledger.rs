//! Reading records back for the ledger, the same way on both backends: the SQL, and the mapping
//! of its rows into the core's [`StoredRecord`]s. The sealer reads the queue
//! ([`LEDGER_PENDING_SQL`]: queued leaf hashes, and the rows of entries queued without one) and
//! `verify` reads the log ([`LEDGER_RECORDS_SQL`]); both get each record's row they need with the
//! text of its columns, plus the model versions and actors those rows reference, which backends
//! look up once each by id rather than join to every row.

use ml_audit_core::ledger::record::LeafKind;
use ml_audit_core::ledger::stored::{
    StoredActor, StoredErasure, StoredExplanation, StoredModel, StoredOutcome, StoredPrediction, StoredRecord,
    StoredReview,
};
use ml_audit_storage::{
    Queued, QueuedRecord, Result, SealedLeaf, StorageError, StoredLeaf, decode_enum, decode_hash, decode_seq,
};

use ml_audit_storage::{StoredLeaves, StoredPending, StoredRows, encode_seq, referenced_rows};
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::dialect::{Conn, Dialect, collect};
use crate::row::{Columns, MODEL_COLUMNS, SqlRow};
use crate::store::{Backend, SqlStore};

/// The columns of a record's row, in the order [`record`] reads them, for a query that
/// joins `p` (predictions), `e` (explanations), `o` (outcomes), `r` (reviews), `a` (access
/// entries) and `x` (its `erased_records` row) by `record_id`.
macro_rules! record_columns {
    () => {
        concat!("p.id, p.prediction_id, p.ts, p.created_at, p.trace_id, p.environment, p.model_ref, p.actor_ref,
         p.tenant_id, p.actor_ip, p.actor_user_agent, p.actor_auth_context,
         p.features, p.redactions, p.metadata, p.metadata_redactions, p.input_fingerprint, p.output,
         p.confidence, p.decision_outcome, p.status, p.latency_ms, p.salt,
         e.id, e.prediction_ref, CAST(e.revision AS bigint), e.method, e.method_version, e.payload,
         e.summary_text, e.status, e.generated_at, e.created_at, e.salt, e.explanation_id,
         o.id, o.prediction_ref, o.outcome_id, CAST(o.position AS bigint), o.label, o.value, o.source, o.observed_at,
         o.metadata, o.metadata_redactions, o.created_at, o.salt,
         r.id, r.prediction_ref, r.review_id, CAST(r.position AS bigint), r.reviewer_id, r.reviewer_name, r.action,
         r.final_decision, r.reason_codes, r.comment, r.reviewed_at, r.created_at, r.salt, ",
        $crate::access_columns!("a"),
        ", x.erasure_ref, x.commitment")
    };
}

/// The joins behind [`record_columns`], from a table aliased `$from` with `kind` and `record_id`,
/// for the rows where `$when` holds.
macro_rules! record_joins {
    ($from:literal, $when:literal) => {
        concat!(
            " LEFT JOIN predictions p ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'prediction' AND p.id = ",
            $from,
            ".record_id LEFT JOIN explanations e ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'explanation' AND e.id = ",
            $from,
            ".record_id LEFT JOIN outcomes o ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'outcome' AND o.id = ",
            $from,
            ".record_id LEFT JOIN reviews r ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'review' AND r.id = ",
            $from,
            ".record_id LEFT JOIN access_entries a ON ",
            $when,
            " AND ",
            $from,
            ".kind = 'access' AND a.id = ",
            $from,
            ".record_id LEFT JOIN erased_records x ON ",
            $when,
            " AND x.record_id = ",
            $from,
            ".record_id"
        )
    };
}

/// `verify`'s read, the same on both backends (SQLite reads `$1`, `$2` as parameters 1 and 2):
/// each leaf of `seq` in `[$1, $2)` with its record's row, mapped by [`stored_leaf`].
pub const LEDGER_RECORDS_SQL: &str = concat!(
    "SELECT l.seq, l.kind, l.record_id, l.leaf_hash, ",
    record_columns!(),
    " FROM ledger_entries l",
    record_joins!("l", "TRUE"),
    " WHERE l.seq >= $1 AND l.seq < $2 ORDER BY l.seq"
);

/// An erasure's read of the records it is about to erase, by seq (bound after `IN (`).
const RECORDS_BY_SEQ_SQL: &str = concat!(
    "SELECT l.seq, l.kind, l.record_id, l.leaf_hash, ",
    record_columns!(),
    " FROM ledger_entries l",
    record_joins!("l", "TRUE"),
    " WHERE 1 = 1"
);

/// The sealer's read: the oldest `$1` queued records, mapped by [`queued_record`]. An entry
/// queued with its leaf hash is all the sealer needs; the record's row is read only for an entry
/// without one. Such an entry whose row is missing was removed behind ml-audit's back: it stays
/// queued (`verify` reports it) and is passed over, so that it cannot hold up the ones behind it.
pub const LEDGER_PENDING_SQL: &str = concat!(
    "SELECT q.queue_id, q.kind, q.record_id, q.leaf_hash, ",
    record_columns!(),
    " FROM ledger_queue q",
    record_joins!("q", "q.leaf_hash IS NULL"),
    " WHERE q.leaf_hash IS NOT NULL OR p.id IS NOT NULL OR e.id IS NOT NULL OR o.id IS NOT NULL OR r.id IS NOT NULL OR a.id IS NOT NULL \
       ORDER BY q.queue_id LIMIT $1"
);

/// The columns of an `actors` row that [`stored_actor`] reads, in order.
pub const LEDGER_ACTOR_COLUMNS: &str = "id, actor_type, actor_id, created_at";

/// Records that are neither sealed nor queued: rows that did not come through ml-audit's write
/// path. Bound: the limit.
pub const STRAYS_SQL: &str = "SELECT 'prediction' AS kind, id FROM predictions r
       WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
     UNION ALL
     SELECT 'explanation' AS kind, id FROM explanations r
       WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
     UNION ALL
     SELECT 'outcome' AS kind, id FROM outcomes r
       WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
     UNION ALL
     SELECT 'review' AS kind, id FROM reviews r
       WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
     UNION ALL
     SELECT 'access' AS kind, id FROM access_entries r
       WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.record_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM ledger_queue q WHERE q.record_id = r.id)
     LIMIT ";

/// The seq the next leaf gets (the tree size).
pub const NEXT_SEQ_SQL: &str = "SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_entries";

/// Maps a row of [`LEDGER_RECORDS_SQL`].
pub fn stored_leaf(row: &impl SqlRow) -> Result<StoredLeaf> {
    let mut c = Columns::new(row);
    let seq = decode_seq(c.required(SqlRow::integer)?)?;
    let kind = decode_enum("kind", &c.text()?, LeafKind::parse)?;
    let record_id = c.required(SqlRow::uuid)?;
    let leaf_hash = decode_hash(c.required(SqlRow::bytes)?)?;
    Ok(StoredLeaf { leaf: SealedLeaf { seq, kind, record_id, leaf_hash }, record: record(&mut c)? })
}

/// Maps a row of [`LEDGER_PENDING_SQL`].
pub fn queued_record(row: &impl SqlRow) -> Result<QueuedRecord> {
    let mut c = Columns::new(row);
    let queue_id = c.required(SqlRow::integer)?;
    let kind = decode_enum("kind", &c.text()?, LeafKind::parse)?;
    let record_id = c.required(SqlRow::uuid)?;
    let content = match c.take(SqlRow::bytes)? {
        Some(hash) => Queued::Hashed(decode_hash(hash)?),
        None => Queued::Row(
            record(&mut c)?.ok_or_else(|| StorageError::Integrity(format!("queued record {queue_id} has no row")))?,
        ),
    };
    Ok(QueuedRecord { queue_id, kind, record_id, content })
}

/// Maps a row of `SELECT {MODEL_COLUMNS} FROM model_versions …` (`crate::row::MODEL_COLUMNS`).
pub fn stored_model(row: &impl SqlRow) -> Result<StoredModel> {
    let mut c = Columns::new(row);
    Ok(StoredModel {
        id: c.required(SqlRow::uuid)?,
        model_name: c.text()?,
        version: c.text()?,
        framework: c.text()?,
        build_id: c.text()?,
        commit_hash: c.text()?,
        config_snapshot: c.take(SqlRow::text)?,
        is_active: c.required(SqlRow::flag)?,
        created_at: c.time()?,
    })
}

/// Maps a row of `SELECT {LEDGER_ACTOR_COLUMNS} FROM actors …`.
pub fn stored_actor(row: &impl SqlRow) -> Result<StoredActor> {
    let mut c = Columns::new(row);
    Ok(StoredActor { id: c.required(SqlRow::uuid)?, actor_type: c.text()?, actor_id: c.text()?, created_at: c.time()? })
}

/// The columns of [`record_columns`] at the cursor: the record of whichever kind's block is
/// there (at most one is), else none, with its erasure.
fn record<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Option<StoredRecord>> {
    let prediction = block(c, 23, |id, c| {
        Ok(StoredRecord::Prediction(Box::new(StoredPrediction {
            id,
            prediction_id: c.text()?,
            timestamp: c.time()?,
            created_at: c.time()?,
            trace_id: c.text()?,
            environment: c.text()?,
            model_ref: c.required(SqlRow::uuid)?,
            actor_ref: c.take(SqlRow::uuid)?,
            tenant_id: c.text()?,
            actor_ip: c.take(SqlRow::text)?,
            actor_user_agent: c.text()?,
            actor_auth_context: c.take(SqlRow::text)?,
            features: c.text()?,
            redactions: c.text()?,
            metadata: c.text()?,
            metadata_redactions: c.text()?,
            input_fingerprint: c.text()?,
            output: c.text()?,
            confidence: c.take(SqlRow::float)?,
            decision_outcome: c.text()?,
            status: c.text()?,
            latency_ms: c.take(SqlRow::float)?,
            salt: c.take(SqlRow::bytes)?,
            erasure: None,
        })))
    })?;
    let explanation = block(c, 12, |id, c| {
        Ok(StoredRecord::Explanation(Box::new(StoredExplanation {
            id,
            prediction_ref: c.required(SqlRow::uuid)?,
            revision: c.required(SqlRow::integer)?,
            method: c.text()?,
            method_version: c.text()?,
            payload: c.text()?,
            summary_text: c.text()?,
            status: c.text()?,
            generated_at: c.time()?,
            created_at: c.time()?,
            salt: c.take(SqlRow::bytes)?,
            explanation_id: c.take(SqlRow::text)?,
            erasure: None,
        })))
    })?;
    let outcome = block(c, 12, |id, c| {
        Ok(StoredRecord::Outcome(Box::new(StoredOutcome {
            id,
            prediction_ref: c.required(SqlRow::uuid)?,
            outcome_id: c.text()?,
            position: c.required(SqlRow::integer)?,
            label: c.take(SqlRow::text)?,
            value: c.take(SqlRow::float)?,
            source: c.text()?,
            observed_at: c.time()?,
            metadata: c.text()?,
            metadata_redactions: c.text()?,
            created_at: c.time()?,
            salt: c.take(SqlRow::bytes)?,
            erasure: None,
        })))
    })?;
    let review = block(c, 13, |id, c| {
        Ok(StoredRecord::Review(Box::new(StoredReview {
            id,
            prediction_ref: c.required(SqlRow::uuid)?,
            review_id: c.text()?,
            position: c.required(SqlRow::integer)?,
            reviewer_id: c.text()?,
            reviewer_name: c.text()?,
            action: c.text()?,
            final_decision: c.text()?,
            reason_codes: c.text()?,
            comment: c.text()?,
            reviewed_at: c.time()?,
            created_at: c.time()?,
            salt: c.take(SqlRow::bytes)?,
            erasure: None,
        })))
    })?;
    let access = match c.take(SqlRow::uuid)? {
        Some(id) => Some(StoredRecord::Access(Box::new(crate::access::stored_access(id, c)?))),
        None => {
            c.skip(crate::access::ACCESS_COLUMN_COUNT - 1);
            None
        }
    };
    let erasure = match c.take(SqlRow::uuid)? {
        None => None,
        Some(erasure_ref) => Some(StoredErasure { erasure_ref, commitment: c.take(SqlRow::bytes)? }),
    };
    let mut record = prediction.or(explanation).or(outcome).or(review).or(access);
    match &mut record {
        Some(StoredRecord::Prediction(row)) => row.erasure = erasure,
        Some(StoredRecord::Explanation(row)) => row.erasure = erasure,
        Some(StoredRecord::Outcome(row)) => row.erasure = erasure,
        Some(StoredRecord::Review(row)) => row.erasure = erasure,
        Some(StoredRecord::Access(_)) | None => {}
    }
    Ok(record)
}

/// One kind's block of `width` columns at the cursor, led by its id: mapped by `map` when the id
/// is there, else passed over.
fn block<R: SqlRow>(
    c: &mut Columns<'_, R>,
    width: usize,
    map: impl FnOnce(Uuid, &mut Columns<'_, R>) -> Result<StoredRecord>,
) -> Result<Option<StoredRecord>> {
    match c.take(SqlRow::uuid)? {
        Some(id) => map(id, c).map(Some),
        None => {
            c.skip(width - 1);
            Ok(None)
        }
    }
}

/// [`read_pending`] in a snapshot of its own.
pub async fn pending_in_snapshot<B: Backend>(store: &SqlStore<B>, limit: u32) -> Result<StoredPending> {
    let mut snapshot = B::begin_snapshot(store).await?;
    let queued = read_pending::<B>(&mut snapshot, limit).await?;
    snapshot.commit().await.map_err(B::classify)?;
    Ok(queued)
}

/// [`read_records`] in a snapshot of its own.
pub async fn records_in_snapshot<B: Backend>(store: &SqlStore<B>, from: u64, to: u64) -> Result<StoredLeaves> {
    let mut snapshot = B::begin_snapshot(store).await?;
    let leaves = read_records::<B>(&mut snapshot, from, to).await?;
    snapshot.commit().await.map_err(B::classify)?;
    Ok(leaves)
}

/// The sealer's read of the oldest `limit` queued records, on `conn`. A queue row is committed
/// with its record, and a record after the model and actor rows it references, so the later
/// reads see them.
pub async fn read_pending<D: Dialect>(conn: &mut Conn<D>, limit: u32) -> Result<StoredPending> {
    let mut query = QueryBuilder::new(LEDGER_PENDING_SQL.replace("$1", ""));
    D::bind_int(&mut query, i64::from(limit));
    let queued = collect::<D, _>(conn, query, |row| queued_record(row)).await?;
    with_referenced_rows::<D, _>(conn, queued, QueuedRecord::row).await
}

/// `verify`'s read of the leaves of `seq` in `[from, to)`; `conn` holds one snapshot for all the
/// reads.
pub async fn read_records<D: Dialect>(conn: &mut Conn<D>, from: u64, to: u64) -> Result<StoredLeaves> {
    let (head, tail) = LEDGER_RECORDS_SQL.split_once("$1").expect("the range's lower bound");
    let (middle, end) = tail.split_once("$2").expect("the range's upper bound");
    let mut query = QueryBuilder::new(head);
    D::bind_int(&mut query, encode_seq(from));
    query.push(middle);
    D::bind_int(&mut query, encode_seq(to));
    query.push(end);
    let leaves = collect::<D, _>(conn, query, |row| stored_leaf(row)).await?;
    with_referenced_rows::<D, _>(conn, leaves, |leaf: &StoredLeaf| leaf.record.as_ref()).await
}

/// The leaves of `seqs` with their records as stored now and the rows those reference, on
/// `conn` (an erasure's transaction).
pub async fn records_by_seq<D: Dialect>(conn: &mut Conn<D>, seqs: &[u64]) -> Result<StoredLeaves> {
    let mut query = QueryBuilder::new(RECORDS_BY_SEQ_SQL);
    query.push(" AND l.seq IN (");
    for (i, seq) in seqs.iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        D::bind_int(&mut query, encode_seq(*seq));
    }
    query.push(") ORDER BY l.seq");
    let leaves = collect::<D, _>(conn, query, |row| stored_leaf(row)).await?;
    with_referenced_rows::<D, _>(conn, leaves, |leaf: &StoredLeaf| leaf.record.as_ref()).await
}

async fn with_referenced_rows<D: Dialect, T: Send>(
    conn: &mut Conn<D>,
    rows: Vec<T>,
    record: impl Fn(&T) -> Option<&StoredRecord>,
) -> Result<StoredRows<T>> {
    let (model_ids, actor_ids) = referenced_rows(rows.iter().filter_map(record));
    let mut models = Vec::new();
    if !model_ids.is_empty() {
        let query = by_ids::<D>(MODEL_COLUMNS, "model_versions", &model_ids);
        models = collect::<D, _>(conn, query, |row| stored_model(row)).await?;
    }
    let mut actors = Vec::new();
    if !actor_ids.is_empty() {
        let query = by_ids::<D>(LEDGER_ACTOR_COLUMNS, "actors", &actor_ids);
        actors = collect::<D, _>(conn, query, |row| stored_actor(row)).await?;
    }
    Ok(StoredRows { rows, models, actors })
}

/// `SELECT columns FROM table WHERE id IN (ids)`.
fn by_ids<D: Dialect>(columns: &str, table: &str, ids: &[Uuid]) -> QueryBuilder<D::Db> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE 1 = 1"));
    D::push_any_uuid(&mut query, "id", ids);
    query
}
