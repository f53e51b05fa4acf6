//! `LifecycleStore`: erasure, retention purges and legal holds, at the store level.

use std::collections::BTreeSet;

use ml_audit_core::lifecycle::{ActorKey, HoldScope, RETENTION_REASON, RetentionPolicy, RetentionRule, Selection};
use ml_audit_core::model::{ActorType, LedgerEntry, PredictionEvent};
use ml_audit_core::query::PredictionFilter;
use ml_audit_core::timestamp;
use ml_audit_storage::{Entity, ErasurePlan, ErasureResult, RecordOutcome, StorageError, Store, purge};
use time::Duration;
use uuid::Uuid;

use super::{ALL, assert_not_found, tenant};
use crate::fixtures::{Spec, at, by_id, by_pid, explanation, list_all, record_new, seal_all, subject};
use crate::{TestDatabase, migrated};

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

/// A plan erasing the listed refs.
fn listed(refs: &[&str], reason: &str, dry_run: bool) -> ErasurePlan {
    ErasurePlan {
        selection: Selection { predictions: refs.iter().map(|r| (*r).to_owned()).collect(), ..Selection::default() },
        reason: reason.to_owned(),
        dry_run,
    }
}

fn by_subject(raw: &str, reason: &str) -> ErasurePlan {
    ErasurePlan {
        selection: Selection { subject: Some(subject(raw)), ..Selection::default() },
        reason: reason.to_owned(),
        dry_run: false,
    }
}

fn about(spec: Spec, email: &str) -> Spec {
    Spec { email: Some(email.to_owned()), ..spec }
}

/// Every prediction, by id, as stored now.
async fn snapshot(store: &dyn Store, events: &[PredictionEvent]) -> Vec<PredictionEvent> {
    let mut now = Vec::new();
    for event in events {
        now.push(store.get_prediction(&ALL, &by_id(event.id)).await.expect("still found by id"));
    }
    now
}

/// The seq of every sealed record, by record id.
async fn seqs_of(store: &dyn Store, ids: &[Uuid]) -> BTreeSet<u64> {
    let size = store.ledger_size().await.unwrap();
    let leaves = store.ledger_records(0, size).await.unwrap();
    leaves.rows.iter().filter(|row| ids.contains(&row.leaf.record_id)).map(|row| row.leaf.seq).collect()
}

/// The ids of a prediction's explanation revisions.
async fn revision_ids(store: &dyn Store, id: Uuid) -> Vec<Uuid> {
    store.list_explanations(&ALL, &by_id(id)).await.unwrap().iter().map(|e| e.id).collect()
}

#[track_caller]
fn assert_held<T: std::fmt::Debug>(result: Result<T, StorageError>, hold: Uuid, what: &str) {
    match result {
        Err(StorageError::Held(by)) if by == hold => {}
        other => panic!("{what}: expected Held({hold}), got {other:?}"),
    }
}

/// Asserts that `after` is `before` erased by `erasure`: the personal content blank, what an
/// erasure keeps unchanged.
#[track_caller]
fn assert_erased(after: &PredictionEvent, before: &PredictionEvent, erasure: &ErasureResult) {
    let mark = after.erased.as_ref().unwrap_or_else(|| panic!("{} is not marked erased", before.prediction_id));
    assert_eq!(
        (mark.erasure_id, mark.at, mark.reason.as_str()),
        (erasure.erasure.id, erasure.erasure.created_at, erasure.erasure.reason.as_str())
    );
    assert!(after.features.is_null() && after.output.is_null() && after.metadata.is_null(), "{after:?}");
    assert!(after.actor.is_none(), "the actor link is erased: {after:?}");
    assert_eq!((after.trace_id.as_str(), after.environment.as_str(), after.input_fingerprint.as_str()), ("", "", ""));
    assert!(after.redactions.is_empty() && after.metadata_redactions.is_empty() && after.redaction_log.is_empty());
    assert_eq!((after.latency_ms, after.salt.is_none()), (None, true), "{after:?}");
    if let Some(explanation) = &after.explanation {
        assert!(explanation.payload.is_null() && explanation.method.is_empty(), "{explanation:?}");
        assert!(explanation.summary_text.is_empty() && explanation.salt.is_none(), "{explanation:?}");
    }
    assert_eq!(
        (after.id, after.timestamp, after.created_at, &after.model, after.status, after.confidence),
        (before.id, before.timestamp, before.created_at, &before.model, before.status, before.confidence),
        "kept fields"
    );
    assert_eq!((&after.decision_outcome, after.ledger), (&before.decision_outcome, before.ledger));
}

// ---------------------------------------------------------------------------------------------
// LifecycleStore::erase

/// `erase` blanks the listed predictions (by `id` or `prediction_id`) and every explanation
/// revision of them, marks them erased, removes their subject tokens, and appends one erasure
/// leaf naming exactly their seqs; the prediction_id no longer finds them, a retry of one is
/// `Erased`, other records are untouched, and a ref naming nothing visible is not found with
/// nothing changed.
pub async fn erasing_predictions_blanks_them_and_marks_them_erased(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let specs = [
        about(Spec::new("a", 0).actor(ActorType::User, "u1", "acme").explained(), ANN),
        about(Spec::new("b", 1).actor(ActorType::User, "u2", "acme"), ANN),
        about(Spec::new("c", 2).actor(ActorType::User, "u1", "acme").explained(), BOB),
    ];
    let created = record_new(&*store, &specs).await;
    store.attach_explanation(&ALL, &by_pid("a"), explanation("lime")).await.unwrap();
    seal_all(&*store).await;
    let before = snapshot(&*store, &created).await;
    let size = store.ledger_size().await.unwrap();
    assert_eq!(size, 3 + 3, "three predictions, three explanation revisions");

    assert_not_found(
        store.erase(&ALL, listed(&["a", "nothing-here"], "r", false)).await,
        Entity::Prediction,
        "an unknown ref",
    );
    assert_eq!(store.ledger_size().await.unwrap(), size, "nothing appended");
    assert_eq!(snapshot(&*store, &created).await, before, "nothing erased");

    let a_id = created[0].id.to_string();
    let done = store.erase(&ALL, listed(&[&a_id, "b"], "request 17", false)).await.expect("erased");
    let counts = done.erasure.counts;
    assert_eq!((counts.predictions, counts.explanations, counts.outcomes, counts.reviews), (2, 2, 0, 0), "{done:?}");
    assert_eq!(done.ledger, Some(LedgerEntry { seq: size, leaf_hash: done.erasure.leaf_hash() }), "its own leaf");
    assert_eq!(store.ledger_size().await.unwrap(), size + 1);
    assert_eq!((done.erasure.reason.as_str(), done.erasure.tenant_id.as_deref()), ("request 17", None));
    let mut erased_ids = vec![created[0].id, created[1].id];
    erased_ids.extend(revision_ids(&*store, created[0].id).await);
    let expected: Vec<u64> = seqs_of(&*store, &erased_ids).await.into_iter().collect();
    assert_eq!(done.erasure.seqs, expected, "the seqs of the predictions and revisions, ascending");

    let after = snapshot(&*store, &created).await;
    assert_erased(&after[0], &before[0], &done);
    assert_erased(&after[1], &before[1], &done);
    assert_eq!(after[2], before[2], "c is untouched");
    for revision in store.list_explanations(&ALL, &by_id(created[0].id)).await.unwrap() {
        assert!(revision.payload.is_null() && revision.method.is_empty() && revision.salt.is_none(), "{revision:?}");
    }
    assert_eq!(store.list_explanations(&ALL, &by_id(created[2].id)).await.unwrap().len(), 1);
    // The stored log shows each erased record as erased by this erasure.
    let leaves = store.ledger_records(0, size + 1).await.unwrap();
    for row in &leaves.rows {
        let erased_by = row.record.as_ref().and_then(|r| r.erasure()).map(|e| e.erasure_ref);
        let expected = expected.contains(&row.leaf.seq).then_some(done.erasure.id);
        assert_eq!(erased_by, expected, "leaf {}", row.leaf.seq);
    }
    assert_eq!(store.ledger_lifecycle().await.unwrap().erasures, vec![done.erasure.clone()]);

    assert_not_found(store.get_prediction(&ALL, &by_pid("a")).await, Entity::Prediction, "by prediction_id");
    assert_not_found(store.get_prediction(&ALL, &by_pid("b")).await, Entity::Prediction, "by prediction_id");
    let ann = PredictionFilter { subject: Some(subject(ANN)), ..Default::default() };
    assert!(list_all(&*store, &ALL, &ann, 10).await.is_empty(), "the subject's tokens are gone");
    let bob = PredictionFilter { subject: Some(subject(BOB)), ..Default::default() };
    assert_eq!(list_all(&*store, &ALL, &bob, 10).await.len(), 1);
    let retried = store.record_predictions(vec![specs[0].prepare(), specs[1].prepare()]).await.unwrap();
    assert_eq!(
        retried,
        vec![RecordOutcome::Erased { prediction_id: "a".into() }, RecordOutcome::Erased { prediction_id: "b".into() }]
    );
    // Erasing again by id finds them and erases nothing more.
    let again = store.erase(&ALL, listed(&[&a_id], "again", false)).await.unwrap();
    assert_eq!((again.erasure.counts.predictions, again.erasure.seqs.len()), (0, 0));
    assert_eq!(snapshot(&*store, &created).await, after);
    assert_eq!(store.list_erasures(&ALL, 10).await.unwrap(), vec![again, done], "newest first");
}

/// A dry run counts what the erasure would take (the same counts and seqs) and changes
/// nothing: no leaf, no stored erasure, every record as it was.
pub async fn a_dry_run_counts_and_changes_nothing(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let specs = [
        about(Spec::new("a", 0).actor(ActorType::User, "u1", "acme").explained(), ANN),
        about(Spec::new("b", 1).actor(ActorType::User, "u1", "acme"), ANN),
        about(Spec::new("c", 2).actor(ActorType::User, "u2", "acme"), BOB),
    ];
    let created = record_new(&*store, &specs).await;
    seal_all(&*store).await;
    let before = snapshot(&*store, &created).await;
    let size = store.ledger_size().await.unwrap();
    let actor = ActorKey { actor_type: ActorType::User, actor_id: "u1".into(), tenant_id: "acme".into() };
    let plan = |dry_run| ErasurePlan {
        selection: Selection { subject: Some(subject(BOB)), actor: Some(actor.clone()), predictions: vec![] },
        reason: "union".into(),
        dry_run,
    };
    let dry = store.erase(&ALL, plan(true)).await.expect("counted");
    assert_eq!(dry.ledger, None);
    assert_eq!((dry.erasure.counts.predictions, dry.erasure.counts.explanations), (3, 1), "the union of both");
    assert_eq!(store.ledger_size().await.unwrap(), size);
    assert_eq!(snapshot(&*store, &created).await, before);
    assert_eq!(store.list_erasures(&ALL, 10).await.unwrap(), vec![]);
    assert_eq!(store.ledger_lifecycle().await.unwrap().erasures, vec![]);
    let ann = PredictionFilter { subject: Some(subject(ANN)), ..Default::default() };
    assert_eq!(list_all(&*store, &ALL, &ann, 10).await.len(), 2, "the tokens are kept");
    assert_eq!(store.get_prediction(&ALL, &by_pid("a")).await.unwrap(), before[0]);

    let done = store.erase(&ALL, plan(false)).await.expect("erased");
    assert_eq!(done.erasure.counts, dry.erasure.counts);
    assert_eq!(done.erasure.seqs, dry.erasure.seqs);
    assert_eq!(done.erasure.actor_ref, before[0].actor.as_ref().map(|a| a.id), "the actor row it was asked for");
    assert_eq!(done.erasure.subject, Some(subject(BOB)));
    let after = snapshot(&*store, &created).await;
    for (after, before) in after.iter().zip(&before) {
        assert_erased(after, before, &done);
    }
}

// ---------------------------------------------------------------------------------------------
// Legal holds

/// A standing hold refuses, whole, every erasure (dry run included) that reaches a record it
/// covers, by each kind of scope (predictions, tenant, model, subject, actor): `Held` naming
/// it, nothing changed; an erasure of records it does not cover goes ahead. A hold is a leaf.
pub async fn a_standing_hold_refuses_an_erasure_whole(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let specs = [
        about(Spec::new("a", 0).actor(ActorType::User, "u1", "acme").explained(), ANN),
        about(Spec::new("b", 1).actor(ActorType::User, "u2", "acme"), BOB),
        about(Spec::new("c", 2).actor(ActorType::Service, "s1", "globex").model("churn", "2.0.0"), BOB),
    ];
    let created = record_new(&*store, &specs).await;
    seal_all(&*store).await;
    let before = snapshot(&*store, &created).await;
    let actor = |t: ActorType, id: &str, tenant: &str| ActorKey {
        actor_type: t,
        actor_id: id.into(),
        tenant_id: tenant.into(),
    };
    let scopes = [
        HoldScope { predictions: vec![created[0].id], ..HoldScope::default() },
        HoldScope { tenant_id: Some("acme".into()), ..HoldScope::default() },
        HoldScope { model_name: Some("fraud".into()), ..HoldScope::default() },
        HoldScope { subject: Some(subject(ANN)), ..HoldScope::default() },
        HoldScope { actor: Some(actor(ActorType::User, "u1", "acme")), ..HoldScope::default() },
        HoldScope { tenant_id: Some("acme".into()), subject: Some(subject(ANN)), ..HoldScope::default() },
    ];
    let a_id = created[0].id.to_string();
    for scope in scopes {
        let size = store.ledger_size().await.unwrap();
        let placed = store.create_hold("litigation".into(), scope.clone(), None).await.expect("placed");
        assert_eq!(placed.hold.scope, scope);
        assert_eq!(placed.release, None);
        assert_eq!(placed.ledger, Some(LedgerEntry { seq: size, leaf_hash: placed.hold.leaf_hash() }), "a leaf");
        let id = placed.hold.id;
        let what = format!("{scope:?}");
        assert_held(store.erase(&ALL, listed(&["b", &a_id], "r", false)).await, id, &what);
        assert_held(store.erase(&ALL, listed(&["a"], "r", true)).await, id, &format!("dry run, {what}"));
        assert_held(store.erase(&ALL, by_subject(ANN, "r")).await, id, &what);
        let by_actor = ErasurePlan {
            selection: Selection { actor: Some(actor(ActorType::User, "u1", "acme")), ..Selection::default() },
            reason: "r".into(),
            dry_run: false,
        };
        assert_held(store.erase(&ALL, by_actor).await, id, &what);
        assert_eq!(store.ledger_size().await.unwrap(), size + 1, "a refused erasure appends nothing: {what}");
        assert_eq!(snapshot(&*store, &created).await, before, "nothing erased: {what}");
        store.release_hold(&ALL, id, "next".into()).await.expect("released");
    }
    assert_eq!(store.list_erasures(&ALL, 10).await.unwrap(), vec![]);

    // What a hold does not cover is erased.
    let placed = store
        .create_hold("litigation".into(), HoldScope { tenant_id: Some("acme".into()), ..HoldScope::default() }, None)
        .await
        .unwrap();
    let done = store.erase(&ALL, listed(&["c"], "not acme", false)).await.expect("not covered");
    assert_eq!(done.erasure.counts.predictions, 1);
    assert_held(store.erase(&ALL, by_subject(BOB, "r")).await, placed.hold.id, "b is acme's");
    let after = snapshot(&*store, &created).await;
    assert_eq!(after[..2], before[..2]);
    assert_erased(&after[2], &before[2], &done);
}

/// `release_hold` releases a standing hold once (a second release is a conflict, an unknown or
/// invisible hold is not found) and appends its leaf; a released hold, or one whose `until` has
/// passed, no longer refuses an erasure.
pub async fn a_released_or_lapsed_hold_no_longer_refuses(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let created = record_new(
        &*store,
        &[
            about(Spec::new("a", 0).actor(ActorType::User, "u1", "acme"), ANN),
            about(Spec::new("b", 1).actor(ActorType::User, "u1", "acme"), BOB),
        ],
    )
    .await;
    seal_all(&*store).await;
    let scope = HoldScope { tenant_id: Some("acme".into()), predictions: vec![created[0].id], ..HoldScope::default() };
    let placed = store.create_hold("case 9".into(), scope, None).await.unwrap();
    let id = placed.hold.id;
    assert_held(store.erase(&ALL, listed(&["a"], "r", false)).await, id, "standing");

    assert_not_found(store.release_hold(&ALL, Uuid::now_v7(), "r".into()).await, Entity::Hold, "an unknown hold");
    assert_not_found(store.release_hold(&tenant("globex"), id, "r".into()).await, Entity::Hold, "another tenant's");
    let size = store.ledger_size().await.unwrap();
    let released = store.release_hold(&tenant("acme"), id, "case closed".into()).await.expect("released");
    assert_eq!(released.hold, placed.hold);
    let release = released.release.expect("with its release");
    assert_eq!((release.hold_ref, release.reason.as_str()), (id, "case closed"));
    assert_eq!(store.ledger_size().await.unwrap(), size + 1, "a release is a leaf");
    let leaves = store.ledger_records(size, size + 1).await.unwrap();
    assert_eq!((leaves.rows[0].leaf.record_id, leaves.rows[0].leaf.leaf_hash), (release.id, release.leaf_hash()));
    match store.release_hold(&ALL, id, "again".into()).await {
        Err(StorageError::Conflict(_)) => {}
        other => panic!("a second release: expected Conflict, got {other:?}"),
    }
    let listed_holds = store.list_holds(&ALL).await.unwrap();
    assert_eq!(listed_holds.len(), 1);
    assert_eq!(listed_holds[0].release.as_ref(), Some(&release));
    assert_eq!(listed_holds[0].ledger, placed.ledger);
    let lifecycle = store.ledger_lifecycle().await.unwrap();
    assert_eq!((lifecycle.holds, lifecycle.releases), (vec![placed.hold.clone()], vec![release]));

    let done = store.erase(&ALL, listed(&["a"], "after", false)).await.expect("released");
    assert_eq!(done.erasure.counts.predictions, 1);

    // A hold whose `until` has passed stands no more; one until the future does.
    let now = timestamp::now();
    let b_scope = HoldScope { predictions: vec![created[1].id], ..HoldScope::default() };
    let lasting =
        store.create_hold("until later".into(), b_scope.clone(), Some(now + Duration::days(1))).await.unwrap();
    assert_held(store.erase(&ALL, listed(&["b"], "r", false)).await, lasting.hold.id, "until tomorrow");
    store.release_hold(&ALL, lasting.hold.id, "r".into()).await.unwrap();
    store.create_hold("lapsed".into(), b_scope, Some(now - Duration::minutes(1))).await.unwrap();
    let done = store.erase(&ALL, listed(&["b"], "after", false)).await.expect("the lapsed hold does not stand");
    assert_eq!(done.erasure.counts.predictions, 1);
}

// ---------------------------------------------------------------------------------------------
// Retention

/// `purge_batch` erases, oldest first and at most `limit` a batch, the predictions its step's
/// rule names that are past the retention and not held — no other tenant's, no recent one, no
/// held one — as an erasure with reason `retention`; `None` when none is left; a dry run counts
/// them all and changes nothing.
pub async fn purge_batch_erases_only_expired_unheld_predictions_of_the_rule(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let now = at(0) + Duration::days(60);
    let recent = Spec { timestamp: now - Duration::days(1), ..Spec::new("recent", 0) };
    let specs = [
        Spec::new("old-1", 0).actor(ActorType::User, "u1", "acme"),
        Spec::new("old-2", 1).actor(ActorType::User, "u1", "acme").explained(),
        Spec::new("held", -5).actor(ActorType::User, "u1", "acme"),
        Spec::new("held-model", -6).actor(ActorType::User, "u1", "acme").model("churn", "1.0.0"),
        recent.actor(ActorType::User, "u1", "acme"),
        Spec::new("globex-old", -10).actor(ActorType::User, "u1", "globex"),
        Spec::new("no-tenant-old", -10),
    ];
    let created = record_new(&*store, &specs).await;
    seal_all(&*store).await;
    // Two holds: one on a listed prediction, one on a model.
    let hold = HoldScope { predictions: vec![created[2].id], ..HoldScope::default() };
    store.create_hold("litigation".into(), hold, None).await.unwrap();
    let hold = HoldScope { model_name: Some("churn".into()), ..HoldScope::default() };
    store.create_hold("model review".into(), hold, None).await.unwrap();
    let before = snapshot(&*store, &created).await;
    let policy = RetentionPolicy {
        default_days: 0,
        min_days: 1,
        rules: vec![RetentionRule { tenant_id: Some("acme".into()), model_name: None, days: 30 }],
    };
    let steps = policy.purge_steps(now);
    assert_eq!(steps.len(), 1, "{steps:?}");
    let step = &steps[0];
    let size = store.ledger_size().await.unwrap();

    let dry = store.purge_batch(step, 1, true).await.unwrap().expect(
        "old-1 and old-2 are expired and unheld: a hold on another listed prediction must not stop their purge",
    );
    assert_eq!(
        (dry.erasure.counts.predictions, dry.erasure.counts.explanations),
        (2, 1),
        "old-1, old-2 and its revision"
    );
    assert_eq!(dry.ledger, None);
    assert_eq!(store.ledger_size().await.unwrap(), size);
    assert_eq!(snapshot(&*store, &created).await, before);

    let first = store.purge_batch(step, 1, false).await.unwrap().expect("a first batch");
    assert_eq!((first.erasure.counts.predictions, first.erasure.counts.explanations), (1, 0), "{first:?}");
    assert_eq!(first.erasure.reason, RETENTION_REASON);
    assert_eq!((first.erasure.tenant_id.clone(), first.erasure.subject.clone()), (None, None));
    assert_eq!(first.ledger, Some(LedgerEntry { seq: size, leaf_hash: first.erasure.leaf_hash() }));
    let after = snapshot(&*store, &created).await;
    assert_erased(&after[0], &before[0], &first);
    assert_eq!(after[1..], before[1..], "the oldest first, one a batch");

    let second = store.purge_batch(step, 1, false).await.unwrap().expect("a second batch");
    assert_eq!((second.erasure.counts.predictions, second.erasure.counts.explanations), (1, 1));
    assert_eq!(store.purge_batch(step, 1, false).await.unwrap(), None, "nothing is left");
    assert_eq!(store.purge_batch(step, 10, true).await.unwrap(), None, "nothing is left to count");
    let after = snapshot(&*store, &created).await;
    assert_erased(&after[1], &before[1], &second);
    assert_eq!(after[2..], before[2..], "held, recent, other tenants' and tenantless records are kept");
    assert_eq!(store.ledger_size().await.unwrap(), size + 2);
    assert_eq!(store.list_erasures(&ALL, 10).await.unwrap(), vec![second, first]);
    // The whole purge, once more, finds nothing.
    let summary = purge(&*store, &policy, now, 10, false).await.unwrap();
    assert_eq!((summary.erasures, summary.counts.predictions), (0, 0));
    // A policy that keeps forever purges nothing.
    let forever = RetentionPolicy::default();
    assert!(forever.purge_steps(now).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Listing and tenant visibility

/// A tenant-bound caller erases only its tenant's records (another tenant's ref is not found,
/// another tenant's actor erases nothing) and its erasures carry its tenant; `list_erasures`
/// and `list_holds` give, newest first, what the caller sees: an unbound caller everything, a
/// bound one its tenant's only.
pub async fn erasures_and_holds_are_listed_newest_first_within_tenant_visibility(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let created = record_new(
        &*store,
        &[
            about(Spec::new("acme-1", 0).actor(ActorType::User, "u1", "acme"), ANN),
            about(Spec::new("globex-1", 1).actor(ActorType::User, "u1", "globex"), ANN),
            about(Spec::new("globex-2", 2).actor(ActorType::User, "u2", "globex"), BOB),
        ],
    )
    .await;
    seal_all(&*store).await;
    let acme = tenant("acme");
    assert_not_found(store.erase(&acme, listed(&["globex-1"], "r", false)).await, Entity::Prediction, "by pid");
    let globex_id = created[1].id.to_string();
    assert_not_found(store.erase(&acme, listed(&[&globex_id], "r", false)).await, Entity::Prediction, "by id");
    let theirs = ActorKey { actor_type: ActorType::User, actor_id: "u2".into(), tenant_id: "globex".into() };
    let plan = ErasurePlan {
        selection: Selection { actor: Some(theirs), ..Selection::default() },
        reason: "r".into(),
        dry_run: false,
    };
    if let Ok(done) = store.erase(&acme, plan).await {
        assert_eq!(done.erasure.counts.predictions, 0, "another tenant's actor: {done:?}");
    }
    let by_acme = store.erase(&acme, by_subject(ANN, "acme's request")).await.unwrap();
    assert_eq!(by_acme.erasure.counts.predictions, 1, "only acme's record about Ann");
    assert_eq!(by_acme.erasure.tenant_id.as_deref(), Some("acme"));
    let after = snapshot(&*store, &created).await;
    assert!(after[0].erased.is_some());
    assert!(after[1].erased.is_none() && after[2].erased.is_none(), "globex's are untouched");
    let by_operator = store.erase(&ALL, listed(&["globex-1"], "globex's request", false)).await.unwrap();
    assert_eq!(by_operator.erasure.tenant_id, None);

    let all = store.list_erasures(&ALL, 10).await.unwrap();
    let mut expected: Vec<ErasureResult> = all.clone();
    expected.sort_by_key(|e| std::cmp::Reverse((e.erasure.created_at, e.erasure.id)));
    assert_eq!(all, expected, "newest first");
    assert!(all.contains(&by_acme) && all.contains(&by_operator), "{all:?}");
    assert_eq!(store.list_erasures(&ALL, 1).await.unwrap(), vec![by_operator.clone()], "the newest");
    let acme_sees = store.list_erasures(&acme, 10).await.unwrap();
    assert!(acme_sees.contains(&by_acme), "{acme_sees:?}");
    assert!(acme_sees.iter().all(|e| e.erasure.tenant_id.as_deref() == Some("acme")), "{acme_sees:?}");
    assert_eq!(store.list_erasures(&tenant("globex"), 10).await.unwrap(), vec![], "asked for by no globex key");

    let scope = |tenant: Option<&str>, model: Option<&str>| HoldScope {
        tenant_id: tenant.map(str::to_owned),
        model_name: model.map(str::to_owned),
        ..HoldScope::default()
    };
    let h1 = store.create_hold("one".into(), scope(Some("acme"), None), None).await.unwrap();
    let h2 = store.create_hold("two".into(), scope(Some("globex"), None), None).await.unwrap();
    let h3 = store.create_hold("three".into(), scope(None, Some("fraud")), None).await.unwrap();
    let ids = |holds: Vec<ml_audit_storage::StoredHold>| holds.into_iter().map(|h| h.hold.id).collect::<Vec<_>>();
    let mut newest_first =
        vec![(h1.hold.created_at, h1.hold.id), (h2.hold.created_at, h2.hold.id), (h3.hold.created_at, h3.hold.id)];
    newest_first.sort_by_key(|key| std::cmp::Reverse(*key));
    let newest_first: Vec<Uuid> = newest_first.into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids(store.list_holds(&ALL).await.unwrap()), newest_first);
    assert_eq!(ids(store.list_holds(&acme).await.unwrap()), vec![h1.hold.id]);
    assert_eq!(ids(store.list_holds(&tenant("globex")).await.unwrap()), vec![h2.hold.id]);
    for stored in store.list_holds(&ALL).await.unwrap() {
        let placed = [&h1, &h2, &h3].into_iter().find(|h| h.hold.id == stored.hold.id).unwrap();
        assert_eq!(&stored, placed, "listed as placed, with its leaf");
    }
    assert_eq!(ids(store.list_holds(&tenant("initech")).await.unwrap()), Vec::<Uuid>::new());
}
