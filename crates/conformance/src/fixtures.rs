//! What the checks write and how they read it back: events built from JSON through the core
//! (parse, then prepare with a redaction policy that pseudonymises `customer.email`), the
//! expected order of a listing, and a sealer that drains the ledger queue.

use std::sync::OnceLock;

use ml_audit_core::auth::Visibility;
use ml_audit_core::event::{NewExplanation, PredictionInput, PreparedPrediction, parse_explanation};
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::model::{ActorType, PredictionEvent, Status};
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_core::redaction::{Action, HashKey, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_core::timestamp;
use ml_audit_storage::{NewLeaf, PredictionRef, Queued, RecordOutcome, SealedLeaf, Store};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The pseudonym key of [`policy`] (test data only).
const HASH_KEY: &str = "conformance-suite-pseudonym-key-0123456789";

/// The redaction policy every event is prepared with: the defaults, plus `customer.email`
/// pseudonymised (`hash`), so that predictions have subjects.
pub fn policy() -> &'static RedactionPolicy {
    static POLICY: OnceLock<RedactionPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let config =
            PolicyConfig { rules: vec![RuleConfig::new("customer.email", Action::Hash)], ..PolicyConfig::default() };
        RedactionPolicy::build(config, Some(HashKey::new(HASH_KEY).expect("a long key"))).expect("a valid policy")
    })
}

/// The subject token a raw `customer.email` value becomes.
pub fn subject(raw: &str) -> String {
    policy().subject_token(raw).expect("the policy has a key")
}

/// The first event's time; the others are minutes after it.
pub fn base_time() -> OffsetDateTime {
    timestamp::parse_rfc3339("2026-11-27T08:00:00Z").expect("a valid time")
}

/// `base_time()` plus `minutes`.
pub fn at(minutes: i64) -> OffsetDateTime {
    base_time() + Duration::minutes(minutes)
}

/// An actor as an event names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorSpec {
    pub actor_type: ActorType,
    pub actor_id: String,
    pub tenant_id: String,
}

/// What a check varies in an event; everything else is fixed. Expectations are computed from
/// these, never from what a store returns.
#[derive(Debug, Clone)]
pub struct Spec {
    pub prediction_id: String,
    pub model: (String, String),
    pub actor: Option<ActorSpec>,
    pub timestamp: OffsetDateTime,
    pub decision_outcome: String,
    pub environment: String,
    pub status: Status,
    pub confidence: Option<f64>,
    pub trace_id: String,
    /// A raw `customer.email`, pseudonymised when prepared.
    pub email: Option<String>,
    /// An inline explanation (revision 1).
    pub explained: bool,
    /// The output, changed to make a conflicting retry.
    pub score: f64,
}

impl Spec {
    /// An event of model `fraud` 1.0.0 without actor, at `at(minute)`.
    pub fn new(prediction_id: &str, minute: i64) -> Self {
        Spec {
            prediction_id: prediction_id.to_owned(),
            model: ("fraud".into(), "1.0.0".into()),
            actor: None,
            timestamp: at(minute),
            decision_outcome: "approved".into(),
            environment: "prod".into(),
            status: Status::Success,
            confidence: Some(0.5),
            trace_id: format!("trace-{prediction_id}"),
            email: None,
            explained: false,
            score: 0.5,
        }
    }

    pub fn model(mut self, name: &str, version: &str) -> Self {
        self.model = (name.to_owned(), version.to_owned());
        self
    }

    pub fn actor(mut self, actor_type: ActorType, actor_id: &str, tenant_id: &str) -> Self {
        self.actor = Some(ActorSpec { actor_type, actor_id: actor_id.into(), tenant_id: tenant_id.into() });
        self
    }

    pub fn explained(mut self) -> Self {
        self.explained = true;
        self
    }

    /// The tenant the prediction belongs to: its actor's, `""` without one.
    pub fn tenant(&self) -> &str {
        self.actor.as_ref().map_or("", |actor| actor.tenant_id.as_str())
    }

    /// The request body.
    pub fn body(&self) -> Value {
        let mut features = json!({"age": 42, "segment": "retail"});
        if let Some(email) = &self.email {
            features["customer"] = json!({"email": email});
        }
        let mut body = json!({
            "prediction_id": self.prediction_id,
            "model_name": self.model.0, "model_version": self.model.1,
            "framework": "sklearn", "build_id": "build-7", "commit_hash": "abc123",
            "config_snapshot": {"depth": 3},
            "features": features,
            "output": {"score": self.score},
            "decision_outcome": self.decision_outcome,
            "status": self.status.as_str(),
            "environment": self.environment,
            "trace_id": self.trace_id,
            "latency_ms": 12.5,
            "metadata": {"note": "conformance"},
            "timestamp": self.timestamp.format(&Rfc3339).expect("formats"),
        });
        if let Some(confidence) = self.confidence {
            body["confidence"] = json!(confidence);
        }
        if let Some(actor) = &self.actor {
            body["actor"] = json!({
                "actor_type": actor.actor_type.as_str(), "actor_id": actor.actor_id, "tenant_id": actor.tenant_id,
                "ip_address": "203.0.113.7", "user_agent": "conformance/1", "auth_context": {"role": "analyst"},
            });
        }
        if self.explained {
            body["explanation"] = json!({"method": "shap", "payload": {"age": 0.1}, "summary_text": "age mattered"});
        }
        body
    }

    /// The event as the server would store it.
    pub fn prepare(&self) -> PreparedPrediction {
        prepare(self.body())
    }
}

/// An event from a request body, as the server would store it (written by an all-tenants key).
pub fn prepare(body: Value) -> PreparedPrediction {
    PredictionInput::parse(body)
        .expect("a valid event")
        .prepare(policy(), &Visibility::AllTenants)
        .expect("writable by an all-tenants key")
}

/// An explanation to attach.
pub fn explanation(method: &str) -> NewExplanation {
    parse_explanation(json!({"method": method, "payload": {"weight": 1}}), timestamp::now()).expect("valid")
}

/// A reference by external `prediction_id`.
pub fn by_pid(prediction_id: &str) -> PredictionRef {
    PredictionRef(prediction_id.to_owned())
}

/// A reference by `id`.
pub fn by_id(id: Uuid) -> PredictionRef {
    PredictionRef(id.to_string())
}

/// Records `specs` in one call; each must be created. The created records, in input order.
pub async fn record_new(store: &dyn Store, specs: &[Spec]) -> Vec<PredictionEvent> {
    let outcomes = store.record_predictions(specs.iter().map(Spec::prepare).collect()).await.expect("recorded");
    assert_eq!(outcomes.len(), specs.len(), "one outcome per event");
    outcomes
        .into_iter()
        .zip(specs)
        .map(|(outcome, spec)| match outcome {
            RecordOutcome::Created(event) => {
                assert_eq!(event.prediction_id, spec.prediction_id, "outcomes are in input order");
                event
            }
            other => panic!("{} should be created, got {other:?}", spec.prediction_id),
        })
        .collect()
}

/// Every page of a listing, concatenated, checking on the way that each page holds at most
/// `limit` items and that a page with a cursor is full.
pub async fn list_all(
    store: &dyn Store,
    visibility: &Visibility,
    filter: &PredictionFilter,
    limit: u32,
) -> Vec<PredictionEvent> {
    let mut page = PageRequest { limit, after: None };
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let listed = store.list_predictions(visibility, filter, &page).await.expect("listed");
        assert!(listed.items.len() <= limit as usize, "a page holds at most `limit` items");
        all.extend(listed.items.iter().cloned());
        match listed.next_cursor {
            Some(cursor) => {
                assert_eq!(listed.items.len(), limit as usize, "only a full page has a next cursor");
                page.after = Some(cursor);
            }
            None => return all,
        }
    }
    panic!("paging did not end");
}

/// The `prediction_id`s of `events`, in order.
pub fn pids(events: &[PredictionEvent]) -> Vec<String> {
    events.iter().map(|event| event.prediction_id.clone()).collect()
}

/// `(timestamp, id)` pairs sorted into the listing order: newest `timestamp` first, then `id`
/// descending; the `prediction_id`s in that order.
pub fn newest_first(mut keyed: Vec<(OffsetDateTime, Uuid, String)>) -> Vec<String> {
    keyed.sort_by_key(|row| std::cmp::Reverse((row.0, row.1)));
    keyed.into_iter().map(|(_, _, pid)| pid).collect()
}

/// The oldest `limit` pending records as the sealer appends them: with their queued leaf hash,
/// or a row queued without one decoded and hashed by the core.
pub async fn pending_leaves(store: &dyn Store, limit: u32) -> Vec<NewLeaf> {
    let pending = store.ledger_pending(limit).await.expect("pending records load");
    assert!(pending.rows.len() <= limit as usize, "ledger_pending returns at most `limit` records");
    let rows = RowCatalog::new(pending.models, pending.actors);
    pending
        .rows
        .into_iter()
        .map(|queued| NewLeaf {
            queue_id: queued.queue_id,
            kind: queued.kind,
            record_id: queued.record_id,
            leaf_hash: match queued.content {
                Queued::Hashed(hash) => hash,
                Queued::Row(row) => row.decode(&rows).expect("a queued row decodes").leaf_hash(),
            },
        })
        .collect()
}

/// What the sealer does: `ledger_pending` then `ledger_append` until nothing is pending. The
/// leaves appended (none on a backend that seals as it writes).
pub async fn seal_all(store: &dyn Store) -> Vec<SealedLeaf> {
    let mut sealed = Vec::new();
    for _ in 0..10_000 {
        let pending = pending_leaves(store, 7).await;
        if pending.is_empty() {
            return sealed;
        }
        let appended = store.ledger_append(pending.clone()).await.expect("the append commits");
        assert_eq!(appended.len(), pending.len(), "the only sealer appends every pending leaf it read");
        sealed.extend(appended);
    }
    panic!("the ledger queue never emptied: ledger_append does not remove what it seals");
}
