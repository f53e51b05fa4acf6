//! The prediction list's filters whose query plans both SQL backends check (their
//! `tests/filter_plans.rs`): a table large enough for a planner to care ([`fill`]), and each
//! filter alone, with a time window and with a tenant ([`cases`]), with the indexes that may
//! serve it. A plan that scans the predictions table, or that sorts every match of a filter
//! instead of reading them in page order, fails the test: that is what made a lookup by trace id
//! take three seconds at a million rows (issue #22), and no timing test would see it in CI.

use ml_audit_core::auth::Visibility;
use ml_audit_core::model::{ActorType, ReviewState, Status};
use ml_audit_core::outcome::OutcomeInput;
use ml_audit_core::query::{Cursor, PageRequest, PredictionFilter};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::review::{ReviewInput, ReviewPolicy};
use ml_audit_storage::{PredictionRef, Store};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{Spec, at, subject};

/// Predictions [`fill`] records.
pub const ROWS: usize = 20_000;
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const USERS: usize = 600;
/// Customers with an email (a subject), one prediction in [`EMAIL_EVERY`].
const CUSTOMERS: usize = 50;
const EMAIL_EVERY: usize = 20;

/// The user of the i-th prediction; user `u` belongs to `TENANTS[u % 4]`.
fn user(i: usize) -> usize {
    (i * 7919) % USERS
}

/// Records [`ROWS`] predictions spread like production traffic: a prediction a minute, four
/// tenants, 600 users (and one service in 50), two models of two versions (the newer one in
/// seven), one in five flagged, one in 97 failed, one in 100 in staging, one in ten without a
/// trace id, one in four explained, one in 20 with a customer email (a subject).
///
/// Then outcomes for two in five (one in ten of them `fraud`, the rest `legit`) and reviews for
/// one in 40 (one in four of those an override to `declined`, one in eight an escalation).
pub async fn fill(store: &dyn Store) {
    for start in (0..ROWS).step_by(500) {
        let batch = (start..(start + 500).min(ROWS)).map(|i| spec(i).prepare()).collect();
        store.record_predictions(batch).await.expect("the batch is recorded");
    }
    let outcomes: Vec<_> = (0..ROWS)
        .filter(|i| i % 5 < 2)
        .map(|i| {
            let label = if i.is_multiple_of(10) { "fraud" } else { "legit" };
            let outcome = OutcomeInput::parse(json!({"label": label, "source": "plans"})).expect("a valid outcome");
            (PredictionRef(format!("plan-{i:06}")), outcome.prepare(&RedactionPolicy::default()))
        })
        .collect();
    for batch in outcomes.chunks(500) {
        let recorded = store.record_outcomes(&Visibility::AllTenants, batch.to_vec()).await.expect("recorded");
        assert!(recorded.iter().all(Result::is_ok), "every outcome is recorded");
    }
    for i in (0..ROWS).step_by(40) {
        let review = match i / 40 % 8 {
            0 | 4 => json!({"reviewer": {"reviewer_id": "r-1"}, "action": "override", "final_decision": "declined"}),
            1 => json!({"reviewer": {"reviewer_id": "r-1"}, "action": "escalate"}),
            _ => json!({"reviewer": {"reviewer_id": "r-1"}, "action": "confirm"}),
        };
        let review = ReviewInput::parse(review).expect("a valid review").prepare(&RedactionPolicy::default());
        let reference = PredictionRef(format!("plan-{i:06}"));
        store
            .record_review(&Visibility::AllTenants, &reference, review, &ReviewPolicy::default())
            .await
            .expect("recorded");
    }
}

fn spec(i: usize) -> Spec {
    let u = user(i);
    let (actor_type, actor_id) = if i.is_multiple_of(50) {
        (ActorType::Service, format!("svc-{}", u % 3))
    } else {
        (ActorType::User, u.to_string())
    };
    let mut spec = Spec::new(&format!("plan-{i:06}"), i as i64)
        .model(
            if i.is_multiple_of(3) { "credit_risk" } else { "fraud_detector" },
            if i.is_multiple_of(7) { "2.1.0" } else { "2.0.3" },
        )
        .actor(actor_type, &actor_id, TENANTS[u % 4]);
    spec.decision_outcome = if i.is_multiple_of(5) { "flagged" } else { "approved" }.into();
    spec.status = if i.is_multiple_of(97) { Status::Failed } else { Status::Success };
    spec.environment = if i.is_multiple_of(100) { "staging" } else { "prod" }.into();
    spec.confidence = Some((i * 37 % 1000) as f64 / 1000.0);
    spec.trace_id = if i.is_multiple_of(10) { String::new() } else { format!("{:032x}", i * 2_654_435_761) };
    spec.email =
        (i.is_multiple_of(EMAIL_EVERY)).then(|| format!("customer{}@example.com", i / EMAIL_EVERY % CUSTOMERS));
    spec.explained = i.is_multiple_of(4);
    spec
}

/// One filter's query and what may serve it.
pub struct PlanCase {
    pub name: String,
    pub visibility: Visibility,
    pub filter: PredictionFilter,
    pub page: PageRequest,
    /// The indexes the scans of `predictions` may use ([`PRIMARY_KEY`] for the backend's own).
    /// The time index is among them only where the value is common, so that reading in time
    /// order and skipping the rest fills a page soon (a planner by cost may prefer it); never for
    /// a rare one (an actor, a trace, a failure), where it would read most of the table.
    pub indexes: Vec<&'static str>,
    /// Whether the plan may sort: only a bounded set (each per-value scan stops at the page's
    /// size; a subject's predictions), never every match of a filter.
    pub may_sort: bool,
}

/// Stands for the primary key index of `predictions`, which each backend names its own way.
pub const PRIMARY_KEY: &str = "<primary key>";

impl PlanCase {
    /// Whether a scan of `predictions` through `index` is one this case allows; `primary_key`
    /// is what the backend calls its primary key index.
    pub fn allows(&self, index: &str, primary_key: &str) -> bool {
        self.indexes
            .iter()
            .any(|allowed| if *allowed == PRIMARY_KEY { index == primary_key } else { index == *allowed })
    }
}

/// Every filter of the list alone, with the last day, and with a tenant (as a tenant-bound key
/// adds it, and as the `tenant_id` filter does), each for the first page and a deep page.
pub fn cases() -> Vec<PlanCase> {
    const TIME: &str = "predictions_by_time";
    const TENANT: &str = "predictions_by_tenant";
    let base: Vec<(&str, PredictionFilter, Vec<&'static str>, bool)> = vec![
        ("no filter", PredictionFilter::default(), vec![TIME], false),
        (
            "model_name (two versions, one scan each)",
            PredictionFilter { model_name: Some("credit_risk".into()), ..Default::default() },
            vec!["predictions_by_model", PRIMARY_KEY, TIME],
            true,
        ),
        (
            "model_name + model_version",
            PredictionFilter {
                model_name: Some("credit_risk".into()),
                model_version: Some("2.1.0".into()),
                ..Default::default()
            },
            vec!["predictions_by_model", TIME],
            false,
        ),
        (
            "actor_id",
            PredictionFilter { actor_id: Some(user(4321).to_string()), ..Default::default() },
            vec!["predictions_by_actor"],
            false,
        ),
        (
            "actor_type",
            PredictionFilter { actor_type: Some(ActorType::Service), ..Default::default() },
            // Along the time order, or (a planner that knows the type is rare) by its actors.
            vec![TIME, "predictions_by_actor"],
            false,
        ),
        (
            "tenant_id",
            PredictionFilter { tenant_id: Some("globex".into()), ..Default::default() },
            vec![TENANT, TIME],
            false,
        ),
        (
            "decision_outcome",
            PredictionFilter { decision_outcome: Some("flagged".into()), ..Default::default() },
            vec!["predictions_by_outcome", TIME],
            false,
        ),
        (
            "environment",
            PredictionFilter { environment: Some("staging".into()), ..Default::default() },
            vec!["predictions_by_environment"],
            false,
        ),
        (
            "status",
            PredictionFilter { status: Some(Status::Failed), ..Default::default() },
            vec!["predictions_by_status"],
            false,
        ),
        (
            "trace_id",
            PredictionFilter { trace_id: Some(spec(4321).trace_id), ..Default::default() },
            vec!["predictions_by_trace"],
            false,
        ),
        (
            "min_confidence + max_confidence",
            PredictionFilter { min_confidence: Some(0.9), max_confidence: Some(0.95), ..Default::default() },
            vec![TIME],
            false,
        ),
        (
            "has_explanation=true",
            PredictionFilter { has_explanation: Some(true), ..Default::default() },
            vec![TIME],
            false,
        ),
        (
            "has_explanation=false",
            PredictionFilter { has_explanation: Some(false), ..Default::default() },
            vec![TIME],
            false,
        ),
        (
            "subject",
            PredictionFilter { subject: Some(subject("customer7@example.com")), ..Default::default() },
            vec![PRIMARY_KEY],
            true,
        ),
        // Outcome and review filters that only predictions with a state row meet walk that
        // row's index in page order and join each prediction by its key; the others walk the
        // predictions in time order.
        (
            "has_outcome=true",
            PredictionFilter { has_outcome: Some(true), ..Default::default() },
            vec![PRIMARY_KEY],
            false,
        ),
        ("has_outcome=false", PredictionFilter { has_outcome: Some(false), ..Default::default() }, vec![TIME], false),
        (
            // Time and tenant are matched on the state's copies: a planner that took the
            // predictions' tenant (or time) index would sort every match.
            "has_outcome=true + tenant_id",
            PredictionFilter { has_outcome: Some(true), tenant_id: Some("globex".into()), ..Default::default() },
            vec![PRIMARY_KEY],
            false,
        ),
        (
            "outcome_label",
            PredictionFilter { outcome_label: Some("fraud".into()), ..Default::default() },
            vec![PRIMARY_KEY],
            false,
        ),
        ("reviewed=true", PredictionFilter { reviewed: Some(true), ..Default::default() }, vec![PRIMARY_KEY], false),
        (
            "overridden=true",
            PredictionFilter { overridden: Some(true), ..Default::default() },
            vec![PRIMARY_KEY],
            false,
        ),
        (
            "review_state=pending_second",
            PredictionFilter { review_state: Some(ReviewState::PendingSecond), ..Default::default() },
            vec![PRIMARY_KEY],
            false,
        ),
        (
            "review_state=none",
            PredictionFilter { review_state: Some(ReviewState::None), ..Default::default() },
            vec![TIME],
            false,
        ),
        (
            // Two bounded scans merged: the model's decision where no review changed it, and the
            // predictions a review changed to it.
            "final_decision",
            PredictionFilter { final_decision: Some("declined".into()), ..Default::default() },
            vec!["predictions_by_outcome", PRIMARY_KEY, TIME],
            true,
        ),
    ];
    let deep = PageRequest { limit: 50, after: Some(Cursor { timestamp: at(ROWS as i64 / 2), id: Uuid::max() }) };
    let mut cases = Vec::new();
    for (name, filter, indexes, may_sort) in base {
        // A tenant-bound caller's common value may also be found along the tenant's index; a
        // rare one (the cases without the time index) only through its own.
        let with_tenant =
            if indexes.contains(&TIME) { [indexes.as_slice(), &[TENANT]].concat() } else { indexes.clone() };
        let variants = [
            (String::new(), Visibility::AllTenants, filter.clone(), indexes.clone()),
            (
                " + last day".into(),
                Visibility::AllTenants,
                PredictionFilter { time_from: Some(at(ROWS as i64 - 24 * 60)), ..filter.clone() },
                indexes.clone(),
            ),
            (" + tenant".into(), Visibility::Tenant("acme".into()), filter.clone(), with_tenant),
        ];
        for (variant, visibility, filter, indexes) in variants {
            // Another tenant than the caller's own matches nothing without a query.
            if visibility.tenant().zip(filter.tenant_id.as_deref()).is_some_and(|(own, asked)| own != asked) {
                continue;
            }
            for (page_name, page) in [("first page", PageRequest::default()), ("deep page", deep.clone())] {
                cases.push(PlanCase {
                    name: format!("{name}{variant}, {page_name}"),
                    visibility: visibility.clone(),
                    filter: filter.clone(),
                    page,
                    indexes: indexes.clone(),
                    may_sort,
                });
            }
        }
    }
    cases
}
