//! Row mapping between PostgreSQL rows and the core's domain types.

use ml_audit_core::auth::{ApiKey, KeyScope};
use ml_audit_core::model::{
    ActorType, Explanation, LedgerEntry, ModelVersion, PredictionEvent, RequestingActor, Status,
};
use ml_audit_storage::ledger_rows::LedgerRow;
use ml_audit_storage::{
    Result, StorageError, StoredCheckpoint, decode_enum, decode_hash, decode_json, decode_redaction_log, decode_seq,
};
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// A prediction with its model, its actor, its current (highest) explanation revision and its
/// ledger entry once sealed. Joined columns carry a prefix (`m_`, `a_`, `e_`, `l_`) so one row
/// maps to every record.
pub const SELECT_PREDICTION: &str = "SELECT p.*,
    m.id AS m_id, m.model_name AS m_model_name, m.version AS m_version, m.framework AS m_framework,
    m.build_id AS m_build_id, m.commit_hash AS m_commit_hash, m.config_snapshot AS m_config_snapshot,
    m.is_active AS m_is_active, m.created_at AS m_created_at,
    a.id AS a_id, a.actor_type AS a_actor_type, a.actor_id AS a_actor_id, a.created_at AS a_created_at,
    e.id AS e_id, e.prediction_ref AS e_prediction_ref, e.revision AS e_revision, e.method AS e_method,
    e.method_version AS e_method_version, e.payload AS e_payload, e.summary_text AS e_summary_text,
    e.status AS e_status, e.generated_at AS e_generated_at, e.created_at AS e_created_at,
    l.seq AS l_seq, l.leaf_hash AS l_leaf_hash
  FROM predictions p
  JOIN model_versions m ON m.id = p.model_ref
  LEFT JOIN actors a ON a.id = p.actor_ref
  LEFT JOIN explanations e ON e.prediction_ref = p.id
    AND e.revision = (SELECT MAX(x.revision) FROM explanations x WHERE x.prediction_ref = p.id)
  LEFT JOIN ledger_entries l ON l.record_id = p.id";

pub fn db_err(error: sqlx::Error) -> StorageError {
    StorageError::Database(error.to_string())
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    column: &str,
) -> Result<T> {
    row.try_get(column).map_err(db_err)
}

fn json<T: serde::de::DeserializeOwned>(row: &PgRow, column: &str) -> Result<T> {
    decode_json(column, &get::<String>(row, column)?)
}

fn json_opt(row: &PgRow, column: &str) -> Result<Option<serde_json::Value>> {
    get::<Option<String>>(row, column)?.map(|text| decode_json(column, &text)).transpose()
}

pub fn model_from_row(row: &PgRow, prefix: &str) -> Result<ModelVersion> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(ModelVersion {
        id: get(row, &col("id"))?,
        model_name: get(row, &col("model_name"))?,
        version: get(row, &col("version"))?,
        framework: get(row, &col("framework"))?,
        build_id: get(row, &col("build_id"))?,
        commit_hash: get(row, &col("commit_hash"))?,
        config_snapshot: json_opt(row, &col("config_snapshot"))?,
        is_active: get(row, &col("is_active"))?,
        created_at: get(row, &col("created_at"))?,
    })
}

pub fn explanation_from_row(row: &PgRow, prefix: &str) -> Result<Explanation> {
    let col = |name: &str| format!("{prefix}{name}");
    let revision: i32 = get(row, &col("revision"))?;
    Ok(Explanation {
        id: get(row, &col("id"))?,
        prediction_id: get(row, &col("prediction_ref"))?,
        method: get(row, &col("method"))?,
        method_version: get(row, &col("method_version"))?,
        payload: json(row, &col("payload"))?,
        summary_text: get(row, &col("summary_text"))?,
        status: decode_enum("status", &get::<String>(row, &col("status"))?, Status::parse)?,
        generated_at: get(row, &col("generated_at"))?,
        created_at: get(row, &col("created_at"))?,
        revision: u32::try_from(revision).map_err(|_| StorageError::Database(format!("bad revision {revision}")))?,
    })
}

pub fn prediction_from_row(row: &PgRow) -> Result<PredictionEvent> {
    let actor = match get::<Option<uuid::Uuid>>(row, "a_id")? {
        None => None,
        Some(id) => Some(RequestingActor {
            id,
            actor_type: decode_enum("actor_type", &get::<String>(row, "a_actor_type")?, ActorType::parse)?,
            actor_id: get(row, "a_actor_id")?,
            tenant_id: get(row, "tenant_id")?,
            ip_address: get(row, "actor_ip")?,
            user_agent: get(row, "actor_user_agent")?,
            auth_context: json_opt(row, "actor_auth_context")?,
            created_at: get(row, "a_created_at")?,
        }),
    };
    let explanation = match get::<Option<uuid::Uuid>>(row, "e_id")? {
        None => None,
        Some(_) => Some(explanation_from_row(row, "e_")?),
    };
    Ok(PredictionEvent {
        id: get(row, "id")?,
        prediction_id: get(row, "prediction_id")?,
        timestamp: get(row, "ts")?,
        trace_id: get(row, "trace_id")?,
        environment: get(row, "environment")?,
        model: model_from_row(row, "m_")?,
        actor,
        features: json(row, "features")?,
        redactions: json(row, "redactions")?,
        input_fingerprint: get(row, "input_fingerprint")?,
        output: json(row, "output")?,
        confidence: get(row, "confidence")?,
        decision_outcome: get(row, "decision_outcome")?,
        status: decode_enum("status", &get::<String>(row, "status")?, Status::parse)?,
        latency_ms: get(row, "latency_ms")?,
        metadata: json(row, "metadata")?,
        metadata_redactions: json(row, "metadata_redactions")?,
        redaction_log: decode_redaction_log(&get::<String>(row, "redaction_log")?)?,
        explanation,
        ledger: match get::<Option<i64>>(row, "l_seq")? {
            None => None,
            Some(seq) => Some(LedgerEntry { seq: decode_seq(seq)?, leaf_hash: decode_hash(get(row, "l_leaf_hash")?)? }),
        },
        created_at: get(row, "created_at")?,
    })
}

/// A stored `seq` or tree size, which the schema keeps as a (signed) bigint.
/// A row of the ledger queries shared with SQLite, read by column position.
pub struct PgLedgerRow<'r>(pub &'r PgRow);

impl PgLedgerRow<'_> {
    fn at<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(&'r self, column: usize) -> Result<T> {
        self.0.try_get(column).map_err(db_err)
    }
}

impl LedgerRow for PgLedgerRow<'_> {
    fn text(&self, column: usize) -> Result<Option<String>> {
        self.at(column)
    }

    fn uuid(&self, column: usize) -> Result<Option<Uuid>> {
        self.at(column)
    }

    fn bytes(&self, column: usize) -> Result<Option<Vec<u8>>> {
        self.at(column)
    }

    fn integer(&self, column: usize) -> Result<Option<i64>> {
        self.at(column)
    }

    fn float(&self, column: usize) -> Result<Option<f64>> {
        self.at(column)
    }

    fn flag(&self, column: usize) -> Result<Option<bool>> {
        self.at(column)
    }

    fn time(&self, column: usize) -> Result<Option<OffsetDateTime>> {
        self.at(column)
    }
}

pub fn checkpoint_from_row(row: &PgRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        tree_size: decode_seq(get(row, "tree_size")?)?,
        root_hash: decode_hash(get(row, "root_hash")?)?,
        note: get(row, "note")?,
        frontier: get(row, "frontier")?,
        created_at: get(row, "created_at")?,
    })
}

pub fn key_from_row(row: &PgRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get(row, "id")?,
        name: get(row, "name")?,
        scope: decode_enum("scope", &get::<String>(row, "scope")?, KeyScope::parse)?,
        tenant_id: get(row, "tenant_id")?,
        prefix: get(row, "prefix")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}
