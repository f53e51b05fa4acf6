//! Rows read column by column, in the order of the query's select list, and mapped once for
//! both backends into the core's types. Each backend says how it reads its own column types
//! ([`SqlRow`]); [`Columns`] walks a row in order, so a mapping reads like the list it maps.

use ml_audit_core::auth::{ApiKey, KeyScope};
use ml_audit_core::ledger::record::Salt;
use ml_audit_core::model::{
    ActorType, Decision, ErasureMark, Explanation, LedgerEntry, ModelVersion, Outcome, PredictionEvent,
    RequestingActor, Review, ReviewAction, ReviewState, Status,
};
use ml_audit_storage::{
    Result, StorageError, StoredCheckpoint, decode_enum, decode_hash, decode_json, decode_redaction_log, decode_seq,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// One row, column by column in query order: `None` for SQL NULL, an error for a value of
/// another type than asked.
pub trait SqlRow {
    fn text(&self, column: usize) -> Result<Option<String>>;
    fn uuid(&self, column: usize) -> Result<Option<Uuid>>;
    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>>;
    fn integer(&self, column: usize) -> Result<Option<i64>>;
    fn float(&self, column: usize) -> Result<Option<f64>>;
    fn flag(&self, column: usize) -> Result<Option<bool>>;
    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>>;
}

/// Reads a [`SqlRow`]'s columns in order.
pub struct Columns<'r, R: SqlRow> {
    row: &'r R,
    next: usize,
}

impl<'r, R: SqlRow> Columns<'r, R> {
    pub fn new(row: &'r R) -> Self {
        Self { row, next: 0 }
    }

    /// The next column, `None` when NULL.
    pub fn take<T>(&mut self, read: fn(&R, usize) -> Result<Option<T>>) -> Result<Option<T>> {
        self.next += 1;
        read(self.row, self.next - 1)
    }

    /// The next column, which must not be NULL.
    pub fn required<T>(&mut self, read: fn(&R, usize) -> Result<Option<T>>) -> Result<T> {
        let column = self.next;
        self.take(read)?.ok_or_else(|| StorageError::Integrity(format!("column {column} of a row is NULL")))
    }

    /// Passes over `n` columns.
    pub fn skip(&mut self, n: usize) {
        self.next += n;
    }

    pub fn text(&mut self) -> Result<String> {
        self.required(R::text)
    }

    pub fn uuid(&mut self) -> Result<Uuid> {
        self.required(R::uuid)
    }

    pub fn integer(&mut self) -> Result<i64> {
        self.required(R::integer)
    }

    pub fn time(&mut self) -> Result<OffsetDateTime> {
        self.required(R::time)
    }

    /// A JSON column (text) decoded.
    pub fn json<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Result<T> {
        decode_json(name, &self.text()?)
    }

    fn json_opt(&mut self, name: &str) -> Result<Option<serde_json::Value>> {
        self.take(R::text)?.map(|text| decode_json(name, &text)).transpose()
    }

    fn status(&mut self) -> Result<Status> {
        decode_enum("status", &self.text()?, Status::parse)
    }
}

/// The columns of a `model_versions` row that [`model`] reads, in order.
pub const MODEL_COLUMNS: &str =
    "id, model_name, version, framework, build_id, commit_hash, config_snapshot, is_active, created_at";

/// The columns of an `explanations` row that [`explanation`] reads, in order.
pub const EXPLANATION_COLUMNS: &str = "id, prediction_ref, CAST(revision AS bigint), method, method_version, payload, \
     summary_text, status, generated_at, created_at, salt, explanation_id";

/// The columns of an `outcomes` row that [`outcome`] reads, in order, each after `$t` (a table
/// alias and its dot, or nothing).
#[rustfmt::skip]
macro_rules! outcome_columns {
    ($t:literal) => {
        concat!(
            $t, "id, ", $t, "prediction_ref, ", $t, "outcome_id, CAST(", $t, "position AS bigint), ", $t, "label, ",
            $t, "value, ", $t, "source, ", $t, "observed_at, ", $t, "metadata, ", $t, "metadata_redactions, ", $t,
            "created_at, ", $t, "salt"
        )
    };
}

/// The columns of a `reviews` row that [`review`] reads, in order, each after `$t`.
#[rustfmt::skip]
macro_rules! review_columns {
    ($t:literal) => {
        concat!(
            $t, "id, ", $t, "prediction_ref, ", $t, "review_id, CAST(", $t, "position AS bigint), ", $t,
            "reviewer_id, ", $t, "reviewer_name, ", $t, "action, ", $t, "final_decision, ", $t, "reason_codes, ",
            $t, "comment, ", $t, "reviewed_at, ", $t, "created_at, ", $t, "salt"
        )
    };
}

pub const OUTCOME_COLUMNS: &str = outcome_columns!("");

/// How many columns [`OUTCOME_COLUMNS`] names (a NULL outcome's are skipped at once).
const OUTCOME_COLUMN_COUNT: usize = column_count(OUTCOME_COLUMNS);

/// The columns a list of them names (none holds a comma of its own).
const fn column_count(columns: &str) -> usize {
    let bytes = columns.as_bytes();
    let (mut at, mut count) = (0, 1);
    while at < bytes.len() {
        if bytes[at] == b',' {
            count += 1;
        }
        at += 1;
    }
    count
}

pub const REVIEW_COLUMNS: &str = review_columns!("");

/// The columns of an `api_keys` row that [`api_key`] reads, in order.
pub const KEY_COLUMNS: &str = "id, name, scope, tenant_id, prefix, created_at, revoked_at";

/// The columns of a `ledger_checkpoints` row that [`checkpoint`] reads, in order.
pub const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, note, frontier, created_at";

/// A prediction with its model, its actor, its current (highest) explanation revision, its
/// ledger entry once sealed, its salt and its erasure if it was erased, in the column order
/// [`prediction`] reads.
macro_rules! prediction_columns {
    () => {
        "SELECT p.id, p.prediction_id, p.ts, p.trace_id, p.environment,
    p.tenant_id, p.actor_ip, p.actor_user_agent, p.actor_auth_context, p.features, p.redactions,
    p.input_fingerprint, p.output, p.confidence, p.decision_outcome, p.status, p.latency_ms, p.metadata,
    p.metadata_redactions, p.redaction_log, p.created_at,
    m.id, m.model_name, m.version, m.framework, m.build_id, m.commit_hash, m.config_snapshot, m.is_active,
    m.created_at,
    a.id, a.actor_type, a.actor_id, a.created_at,
    e.id, e.prediction_ref, CAST(e.revision AS bigint), e.method, e.method_version, e.payload, e.summary_text,
    e.status, e.generated_at, e.created_at, e.salt, e.explanation_id,
    l.seq, l.leaf_hash,
    p.salt, x.erasure_ref, er.created_at, er.reason"
    };
}

/// The joins of [`SELECT_PREDICTION`] after `predictions p`. A prediction's current outcome and
/// decision after review are read for a whole page at once ([`STATE_COLUMNS`]): joined here, they
/// would make PostgreSQL's planner weigh every list query against a hash join of the state.
macro_rules! prediction_joins {
    () => {
        "
  JOIN model_versions m ON m.id = p.model_ref
  LEFT JOIN actors a ON a.id = p.actor_ref
  LEFT JOIN explanations e ON e.prediction_ref = p.id
    AND e.revision = (SELECT MAX(x.revision) FROM explanations x WHERE x.prediction_ref = p.id)
  LEFT JOIN ledger_entries l ON l.record_id = p.id
  LEFT JOIN erased_records x ON x.record_id = p.id
  LEFT JOIN erasures er ON er.id = x.erasure_ref"
    };
}

pub const SELECT_PREDICTION: &str = concat!(prediction_columns!(), "\n  FROM predictions p", prediction_joins!());

/// The decision after review, the current outcome and the reviews of the predictions whose state
/// is read (`… WHERE s.prediction_ref IN (…)`): one row per review (one without when there is
/// none), mapped by [`state`].
pub const STATE_COLUMNS: &str = concat!(
    "SELECT s.prediction_ref, s.reviewed, s.overridden, s.final_decision, s.review_state, ",
    outcome_columns!("o."),
    ", ",
    review_columns!("r."),
    "
  FROM prediction_state s LEFT JOIN outcomes o ON o.id = s.outcome_ref
  LEFT JOIN reviews r ON r.prediction_ref = s.prediction_ref AND s.reviewed = 1"
);

/// A prediction's decision after review (its final decision `None` when no review changed the
/// model's) and its current outcome, from a row of [`STATE_COLUMNS`].
pub struct StateRow {
    pub prediction: Uuid,
    pub reviewed: bool,
    pub overridden: bool,
    pub final_decision: Option<String>,
    pub review_state: ReviewState,
    pub outcome: Option<Outcome>,
}

/// Maps a row of [`STATE_COLUMNS`]: the state, and the review of the row if any.
pub fn state(row: &impl SqlRow) -> Result<(StateRow, Option<Review>)> {
    let mut c = Columns::new(row);
    let state = StateRow {
        prediction: c.uuid()?,
        reviewed: c.integer()? != 0,
        overridden: c.integer()? != 0,
        final_decision: c.take(SqlRow::text)?,
        review_state: decode_enum("review_state", &c.text()?, ReviewState::parse)?,
        outcome: match c.take(SqlRow::uuid)? {
            Some(id) => Some(outcome_after_id(id, &mut c)?),
            None => {
                c.skip(OUTCOME_COLUMN_COUNT - 1);
                None
            }
        },
    };
    let review = match c.take(SqlRow::uuid)? {
        Some(id) => Some(review_after_id(id, &mut c)?),
        None => None,
    };
    Ok((state, review))
}

impl StateRow {
    /// Puts the state into its prediction.
    pub fn apply(self, event: &mut PredictionEvent) {
        event.decision = Decision {
            final_decision: self.final_decision.unwrap_or_else(|| event.decision_outcome.clone()),
            state: self.review_state,
            reviewed: self.reviewed,
            overridden: self.overridden,
        };
        event.outcome = self.outcome;
    }
}

/// [`SELECT_PREDICTION`] for a page: from the predictions a subquery selects between the two
/// (`SELECT p.* … ORDER BY … LIMIT n`), in page order.
pub const PAGE_START: &str = concat!(prediction_columns!(), "\n  FROM (");
pub const PAGE_END: &str = concat!(") p", prediction_joins!(), "\n  ORDER BY p.ts DESC, p.id DESC");

/// Maps a row of [`SELECT_PREDICTION`].
pub fn prediction(row: &impl SqlRow) -> Result<PredictionEvent> {
    let mut c = Columns::new(row);
    let id = c.uuid()?;
    let prediction_id = c.text()?;
    let timestamp = c.time()?;
    let trace_id = c.text()?;
    let environment = c.text()?;
    let tenant_id = c.text()?;
    let ip_address = c.take(SqlRow::text)?;
    let user_agent = c.text()?;
    let auth_context = c.json_opt("actor_auth_context")?;
    let features = c.json("features")?;
    let redactions = c.json("redactions")?;
    let input_fingerprint = c.text()?;
    let output = c.json("output")?;
    let confidence = c.take(SqlRow::float)?;
    let decision_outcome = c.text()?;
    let status = c.status()?;
    let latency_ms = c.take(SqlRow::float)?;
    let metadata = c.json("metadata")?;
    let metadata_redactions = c.json("metadata_redactions")?;
    let redaction_log = decode_redaction_log(&c.text()?)?;
    let created_at = c.time()?;
    let model = model_columns(&mut c)?;
    let actor = match c.take(SqlRow::uuid)? {
        None => {
            c.skip(3);
            None
        }
        Some(actor_ref) => Some(RequestingActor {
            id: actor_ref,
            actor_type: decode_enum("actor_type", &c.text()?, ActorType::parse)?,
            actor_id: c.text()?,
            tenant_id: tenant_id.clone(),
            ip_address,
            user_agent,
            auth_context,
            created_at: c.time()?,
        }),
    };
    let explanation = explanation_columns(&mut c)?;
    let ledger = ledger_entry(&mut c)?;
    let salt = salt(&mut c)?;
    let erased = match c.take(SqlRow::uuid)? {
        None => {
            c.skip(2);
            None
        }
        Some(erasure_id) => Some(ErasureMark { erasure_id, at: c.time()?, reason: c.text()? }),
    };
    let decision = Decision::unreviewed(&decision_outcome);
    Ok(PredictionEvent {
        id,
        prediction_id,
        timestamp,
        trace_id,
        environment,
        model,
        actor,
        tenant_id,
        features,
        redactions,
        input_fingerprint,
        output,
        confidence,
        decision_outcome,
        status,
        latency_ms,
        metadata,
        metadata_redactions,
        redaction_log,
        explanation,
        ledger,
        created_at,
        salt,
        erased,
        outcome: None,
        reviews: Vec::new(),
        decision,
    })
}

/// Maps the [`OUTCOME_COLUMNS`] at the cursor.
pub fn outcome<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Outcome> {
    let id = c.uuid()?;
    outcome_after_id(id, c)
}

fn outcome_after_id<R: SqlRow>(id: Uuid, c: &mut Columns<'_, R>) -> Result<Outcome> {
    Ok(Outcome {
        id,
        prediction_ref: c.uuid()?,
        outcome_id: c.text()?,
        position: position(c)?,
        label: c.take(SqlRow::text)?,
        value: c.take(SqlRow::float)?,
        source: c.text()?,
        observed_at: c.time()?,
        metadata: c.json("metadata")?,
        metadata_redactions: c.json("metadata_redactions")?,
        created_at: c.time()?,
        salt: salt(c)?,
    })
}

/// Maps the [`REVIEW_COLUMNS`] at the cursor.
pub fn review<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Review> {
    let id = c.uuid()?;
    review_after_id(id, c)
}

fn review_after_id<R: SqlRow>(id: Uuid, c: &mut Columns<'_, R>) -> Result<Review> {
    Ok(Review {
        id,
        prediction_ref: c.uuid()?,
        review_id: c.text()?,
        position: position(c)?,
        reviewer_id: c.text()?,
        reviewer_name: c.text()?,
        action: decode_enum("action", &c.text()?, ReviewAction::parse)?,
        final_decision: c.text()?,
        reason_codes: c.json("reason_codes")?,
        comment: c.text()?,
        reviewed_at: c.time()?,
        created_at: c.time()?,
        salt: salt(c)?,
    })
}

fn position<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<u32> {
    let position = c.integer()?;
    u32::try_from(position).map_err(|_| StorageError::Integrity(format!("bad position {position}")))
}

/// `l.seq, l.leaf_hash` of a LEFT JOIN of `ledger_entries`: `None` when not sealed (yet).
pub fn ledger_entry<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Option<LedgerEntry>> {
    match c.take(SqlRow::integer)? {
        None => {
            c.skip(1);
            Ok(None)
        }
        Some(seq) => {
            Ok(Some(LedgerEntry { seq: decode_seq(seq)?, leaf_hash: decode_hash(c.required(SqlRow::bytes)?)? }))
        }
    }
}

/// A `salt` column: 32 bytes, or NULL (a v1 record, or an erased one).
fn salt<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Option<Salt>> {
    c.take(SqlRow::bytes)?
        .map(|bytes| {
            Salt::try_from(bytes.as_slice()).map_err(|_| StorageError::Integrity("a salt is not 32 bytes".into()))
        })
        .transpose()
}

/// Maps a row of [`MODEL_COLUMNS`].
pub fn model(row: &impl SqlRow) -> Result<ModelVersion> {
    model_columns(&mut Columns::new(row))
}

fn model_columns<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<ModelVersion> {
    Ok(ModelVersion {
        id: c.uuid()?,
        model_name: c.text()?,
        version: c.text()?,
        framework: c.text()?,
        build_id: c.text()?,
        commit_hash: c.text()?,
        config_snapshot: c.json_opt("config_snapshot")?,
        is_active: c.required(SqlRow::flag)?,
        created_at: c.time()?,
    })
}

/// Maps a row of [`EXPLANATION_COLUMNS`].
pub fn explanation(row: &impl SqlRow) -> Result<Explanation> {
    explanation_at(&mut Columns::new(row))
}

/// Maps the [`EXPLANATION_COLUMNS`] at the cursor.
pub fn explanation_at<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Explanation> {
    explanation_columns(c)?.ok_or_else(|| StorageError::Integrity("an explanation row has no id".into()))
}

/// The [`EXPLANATION_COLUMNS`] at the cursor; `None` (and the columns passed over) when its id is
/// NULL, as in a prediction without an explanation.
fn explanation_columns<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<Option<Explanation>> {
    let Some(id) = c.take(SqlRow::uuid)? else {
        c.skip(11);
        return Ok(None);
    };
    let prediction_ref = c.uuid()?;
    let revision = c.integer()?;
    Ok(Some(Explanation {
        id,
        prediction_ref,
        revision: u32::try_from(revision).map_err(|_| StorageError::Integrity(format!("bad revision {revision}")))?,
        method: c.text()?,
        method_version: c.text()?,
        payload: c.json("payload")?,
        summary_text: c.text()?,
        status: c.status()?,
        generated_at: c.time()?,
        created_at: c.time()?,
        salt: salt(c)?,
        explanation_id: c.take(SqlRow::text)?,
    }))
}

/// Maps a row of [`KEY_COLUMNS`].
pub fn api_key(row: &impl SqlRow) -> Result<ApiKey> {
    let mut c = Columns::new(row);
    Ok(ApiKey {
        id: c.uuid()?,
        name: c.text()?,
        scope: decode_enum("scope", &c.text()?, KeyScope::parse)?,
        tenant_id: c.take(SqlRow::text)?,
        prefix: c.text()?,
        created_at: c.time()?,
        revoked_at: c.take(SqlRow::time)?,
    })
}

/// Maps a row of [`CHECKPOINT_COLUMNS`].
pub fn checkpoint(row: &impl SqlRow) -> Result<StoredCheckpoint> {
    let mut c = Columns::new(row);
    Ok(StoredCheckpoint {
        tree_size: decode_seq(c.integer()?)?,
        root_hash: decode_hash(c.required(SqlRow::bytes)?)?,
        note: c.text()?,
        frontier: c.required(SqlRow::bytes)?,
        created_at: c.time()?,
    })
}
