//! The contracts, one function each. The first sentence of each doc comment is the contract; a
//! backend passes the suite when every function returns without panicking on a fresh database.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ml_audit_core::auth::{KeyHash, KeyScope, Visibility, issue_key};
use ml_audit_core::ledger::record::{LeafKind, explanation_leaf_hash, prediction_leaf_hash};
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::model::{ActorType, LedgerEntry, PredictionEvent, Status};
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_core::timestamp;
use ml_audit_storage::insights::{CONFIDENCE_BINS, MICROS_PER_HOUR};
use ml_audit_storage::{
    ActorPageRequest, ActorSummary, Entity, NewLeaf, RecordOutcome, StorageError, Store, StoredCheckpoint, TimeWindow,
    recorded_event,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::fixtures::{
    ActorSpec, Spec, at, by_id, by_pid, explanation, list_all, newest_first, pending_leaves, pids, record_new,
    seal_all, subject,
};
use crate::{TestDatabase, migrated};

mod lifecycle;
pub use lifecycle::*;

const ALL: Visibility = Visibility::AllTenants;

fn tenant(name: &str) -> Visibility {
    Visibility::Tenant(name.to_owned())
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, entity: Entity, what: &str) {
    match result {
        Err(StorageError::NotFound(found)) if found == entity => {}
        other => panic!("{what}: expected NotFound({entity:?}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// StoreInfo

/// `backend()` names the backend and `writer_tasks()` is at least 1, on every store opened on
/// the database.
pub async fn store_info_names_the_backend(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    assert_eq!(store.backend(), db.backend());
    assert!(store.writer_tasks() >= 1, "writer_tasks is {}", store.writer_tasks());
    drop(store);
    let reopened = db.open().await;
    assert_eq!(reopened.backend(), db.backend());
    assert!(reopened.writer_tasks() >= 1);
}

/// `migrate()` is idempotent: running it again, on the same store or a reopened one, succeeds
/// and keeps what is stored.
pub async fn migrate_is_idempotent(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    store.migrate().await.expect("a second migrate on the same store");
    let created = record_new(&*store, &[Spec::new("kept", 0)]).await;
    drop(store);
    let reopened = db.open().await;
    reopened.migrate().await.expect("migrate on a reopened, migrated database");
    reopened.migrate().await.expect("and again");
    let read = reopened.get_prediction(&ALL, &by_pid("kept")).await.expect("still there");
    assert_eq!(read.id, created[0].id);
    assert_eq!(reopened.list_models().await.unwrap().len(), 1);
}

/// A freshly migrated store holds nothing: every list is empty, every lookup is not found, the
/// ledger has size 0 and no checkpoint.
pub async fn a_fresh_store_is_empty(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let page = store.list_predictions(&ALL, &PredictionFilter::default(), &PageRequest::default()).await.unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none(), "{page:?}");
    assert_not_found(store.get_prediction(&ALL, &by_pid("missing")).await, Entity::Prediction, "get_prediction");
    assert_not_found(store.get_prediction(&ALL, &by_id(Uuid::now_v7())).await, Entity::Prediction, "by id");
    assert_not_found(store.list_explanations(&ALL, &by_pid("missing")).await, Entity::Prediction, "explanations");
    assert_eq!(store.list_models().await.unwrap(), vec![]);
    assert_not_found(store.get_model(Uuid::now_v7()).await, Entity::ModelVersion, "get_model");
    assert_eq!(store.list_api_keys().await.unwrap(), vec![]);
    assert_eq!(store.get_api_key(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(store.ledger_size().await.unwrap(), 0);
    assert_eq!(store.ledger_leaf_hashes(0, 10).await.unwrap(), Vec::<[u8; 32]>::new());
    assert!(store.ledger_records(0, 10).await.unwrap().rows.is_empty());
    assert!(store.ledger_pending(10).await.unwrap().rows.is_empty());
    assert_eq!(store.ledger_strays(10).await.unwrap(), vec![]);
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoints().await.unwrap(), vec![]);
    assert_eq!(store.model_version_stats(&ALL).await.unwrap(), vec![]);
    let window = TimeWindow { from: at(-600), to: at(600) };
    assert_eq!(store.hourly_counts(&ALL, &window).await.unwrap(), vec![]);
    let actors = store.list_actors(&ALL, None, &ActorPageRequest { limit: 10, after: None }).await.unwrap();
    assert!(actors.items.is_empty() && actors.next.is_none());
    assert_eq!(store.list_tenants(&ALL).await.unwrap(), vec![]);
    assert_eq!(store.record_predictions(Vec::new()).await.unwrap(), vec![], "an empty batch records nothing");
}

// ---------------------------------------------------------------------------------------------
// PredictionWriter::record_predictions

/// `record_predictions` answers one outcome per event in input order: `Created` for a new
/// `prediction_id`, `Replayed` (the stored record) for an identical retry, `Conflict` for a retry
/// with other content, within one batch as across calls.
pub async fn record_outcomes_follow_input_order(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let (a, b, c, d) = (Spec::new("a", 0), Spec::new("b", 1).explained(), Spec::new("c", 2), Spec::new("d", 3));
    let changed = |spec: &Spec| Spec { score: spec.score + 0.25, ..spec.clone() };
    let batch = vec![a.prepare(), b.prepare(), a.prepare(), changed(&b).prepare(), c.prepare()];
    let ids: Vec<Uuid> = batch.iter().map(|event| event.id).collect();
    let outcomes = store.record_predictions(batch).await.unwrap();
    let [
        RecordOutcome::Created(created_a),
        RecordOutcome::Created(created_b),
        RecordOutcome::Replayed(replayed_a),
        RecordOutcome::Conflict { prediction_id: conflict_b },
        RecordOutcome::Created(created_c),
    ] = outcomes.as_slice()
    else {
        panic!("expected created a, created b, replayed a, conflict b, created c: {outcomes:?}")
    };
    assert_eq!((created_a.id, created_b.id, created_c.id), (ids[0], ids[1], ids[4]), "new records keep their ids");
    assert_eq!(replayed_a, created_a, "a replay in the batch answers the record created before it");
    assert_eq!(conflict_b, "b");

    let batch = vec![c.prepare(), changed(&a).prepare(), d.prepare(), b.prepare()];
    let d_id = batch[2].id;
    let outcomes = store.record_predictions(batch).await.unwrap();
    let [
        RecordOutcome::Replayed(replayed_c),
        RecordOutcome::Conflict { prediction_id: conflict_a },
        RecordOutcome::Created(created_d),
        RecordOutcome::Replayed(replayed_b),
    ] = outcomes.as_slice()
    else {
        panic!("expected replayed c, conflict a, created d, replayed b: {outcomes:?}")
    };
    assert_eq!(replayed_c, &store.get_prediction(&ALL, &by_pid("c")).await.unwrap(), "a replay is the stored one");
    assert_eq!(replayed_b, &store.get_prediction(&ALL, &by_pid("b")).await.unwrap());
    assert_eq!((replayed_c.id, replayed_b.id), (created_c.id, created_b.id));
    assert_eq!(conflict_a, "a");
    assert_eq!(created_d.id, d_id);
    let listed = list_all(&*store, &ALL, &PredictionFilter::default(), 100).await;
    assert_eq!(listed.len(), 4, "four distinct prediction_ids, each stored once: {:?}", pids(&listed));
}

/// The record `record_predictions` returns for a new event is exactly the prepared event as
/// stored (with its model version, actor and inline explanation as revision 1), and
/// `get_prediction` reads the same record back by `id` and by `prediction_id`, including a
/// UUID-shaped `prediction_id`.
pub async fn created_records_read_back_by_id_and_prediction_id(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let mut full = Spec::new("full", 0).actor(ActorType::User, "42", "acme").explained();
    full.email = Some("ann@example.com".into());
    let mut bare = Spec::new(&Uuid::new_v4().to_string(), 1);
    bare.confidence = None;
    let prepared = vec![full.prepare(), bare.prepare()];
    let outcomes = store.record_predictions(prepared.clone()).await.unwrap();
    for (outcome, prepared) in outcomes.iter().zip(prepared) {
        let RecordOutcome::Created(created) = outcome else { panic!("{outcome:?}") };
        // The model version and actor rows are the store's; everything else is the event's.
        let model = &created.model;
        let named = &prepared.model;
        assert_eq!(
            (&model.model_name, &model.version, &model.framework, &model.build_id, &model.commit_hash),
            (&named.model_name, &named.version, &named.framework, &named.build_id, &named.commit_hash)
        );
        assert_eq!(model.config_snapshot, named.config_snapshot);
        assert_eq!(created.actor.is_some(), prepared.actor.is_some());
        let mut expected = recorded_event(
            prepared.clone(),
            model.clone(),
            created.actor.as_ref().map(|actor| (actor.id, actor.created_at)),
        );
        expected.ledger = created.ledger;
        assert_eq!(created, &expected, "the created record is the prepared event");
        if let Some(explanation) = &created.explanation {
            assert_eq!((explanation.revision, explanation.prediction_ref), (1, created.id));
        }
        for reference in [by_id(created.id), by_pid(&created.prediction_id)] {
            let read = store.get_prediction(&ALL, &reference).await.unwrap();
            assert_eq!(&read, created, "read back by {reference:?}");
        }
    }
    let RecordOutcome::Created(full) = &outcomes[0] else { unreachable!() };
    assert!(full.features.to_string().contains("pii_"), "the email was pseudonymised before it was stored");
    assert!(!full.features.to_string().contains("ann@example.com"));
    let theirs = store.get_prediction(&tenant("acme"), &by_pid("full")).await.unwrap();
    assert_eq!(&theirs, full, "its own tenant reads the same record");
}

/// A model version is created on first use per (`model_name`, `version`) and an actor per
/// (`actor_type`, `actor_id`, `tenant_id`): later events, in the same batch or another call,
/// reference the same rows.
pub async fn models_and_actors_are_created_once(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let models = [("fraud", "1.0.0"), ("fraud", "2.0.0"), ("churn", "1.0.0")];
    let actors = [
        Some((ActorType::User, "u1", "acme")),
        Some((ActorType::User, "u1", "globex")),
        Some((ActorType::Service, "u1", "acme")),
        None,
        Some((ActorType::User, "u2", "acme")),
    ];
    let spec = |i: usize| {
        let (name, version) = models[i % models.len()];
        let spec = Spec::new(&format!("p{i}"), i as i64).model(name, version);
        match actors[i % actors.len()] {
            Some((actor_type, id, tenant)) => spec.actor(actor_type, id, tenant),
            None => spec,
        }
    };
    let specs: Vec<Spec> = (0..20).map(spec).collect();
    let mut created = record_new(&*store, &specs[..8]).await;
    created.extend(record_new(&*store, &specs[8..15]).await);
    for spec in &specs[15..] {
        created.extend(record_new(&*store, std::slice::from_ref(spec)).await);
    }
    let mut model_ids: HashMap<(String, String), Uuid> = HashMap::new();
    let mut actor_rows: HashMap<ActorSpec, (Uuid, OffsetDateTime)> = HashMap::new();
    for (spec, event) in specs.iter().zip(&created) {
        let id = *model_ids.entry(spec.model.clone()).or_insert(event.model.id);
        assert_eq!(event.model.id, id, "{}: one row per model version", spec.prediction_id);
        assert_eq!((&event.model.model_name, &event.model.version), (&spec.model.0, &spec.model.1));
        match (&spec.actor, &event.actor) {
            (None, None) => {}
            (Some(named), Some(actor)) => {
                let row = *actor_rows.entry(named.clone()).or_insert((actor.id, actor.created_at));
                assert_eq!((actor.id, actor.created_at), row, "{}: one row per actor", spec.prediction_id);
                assert_eq!((actor.actor_type, &actor.actor_id, &actor.tenant_id), {
                    (named.actor_type, &named.actor_id, &named.tenant_id)
                });
            }
            other => panic!("{}: actor {other:?}", spec.prediction_id),
        }
    }
    assert_eq!(model_ids.len(), models.len());
    assert_eq!(actor_rows.len(), actors.iter().flatten().count());
    let distinct: BTreeSet<Uuid> = model_ids.values().copied().collect();
    assert_eq!(distinct.len(), models.len(), "distinct model versions have distinct ids");
    let distinct: BTreeSet<Uuid> = actor_rows.values().map(|row| row.0).collect();
    assert_eq!(distinct.len(), actor_rows.len(), "distinct actors have distinct ids");
    let listed: BTreeSet<Uuid> = store.list_models().await.unwrap().iter().map(|model| model.id).collect();
    assert_eq!(listed, model_ids.values().copied().collect(), "list_models holds each model version once");
    seal_all(&*store).await;
    let page = store.list_actors(&ALL, None, &ActorPageRequest { limit: 100, after: None }).await.unwrap();
    let listed: BTreeSet<Uuid> = page.items.iter().map(|actor| actor.id).collect();
    assert_eq!(listed, actor_rows.values().map(|row| row.0).collect(), "list_actors holds each actor once");
}

/// An event that conflicts writes nothing: no prediction, explanation, model version, actor or
/// ledger leaf, and the stored record is unchanged.
pub async fn a_conflict_writes_nothing(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let original = Spec::new("x", 0).actor(ActorType::User, "u1", "acme");
    record_new(&*store, std::slice::from_ref(&original)).await;
    seal_all(&*store).await;
    let size = store.ledger_size().await.unwrap();
    let stored = store.get_prediction(&ALL, &by_pid("x")).await.unwrap();
    let models = store.list_models().await.unwrap();

    let conflicting = Spec { score: 0.9, ..original.clone() }
        .model("brand-new", "9.9.9")
        .actor(ActorType::Service, "never-seen", "initech")
        .explained();
    for batch in [vec![conflicting.prepare()], vec![conflicting.prepare(), conflicting.prepare()]] {
        let outcomes = store.record_predictions(batch).await.unwrap();
        assert!(
            outcomes.iter().all(|o| matches!(o, RecordOutcome::Conflict { prediction_id } if prediction_id == "x"))
        );
    }
    seal_all(&*store).await;
    assert_eq!(store.get_prediction(&ALL, &by_pid("x")).await.unwrap(), stored, "the stored record is unchanged");
    assert_eq!(store.list_explanations(&ALL, &by_pid("x")).await.unwrap(), vec![]);
    assert_eq!(store.list_models().await.unwrap(), models, "no model version was created");
    assert_eq!(store.ledger_size().await.unwrap(), size, "nothing was sealed");
    assert_eq!(pids(&list_all(&*store, &ALL, &PredictionFilter::default(), 10).await), ["x"]);
    let actors = store.list_actors(&ALL, None, &ActorPageRequest { limit: 10, after: None }).await.unwrap();
    let expected_actor = stored.actor.as_ref().expect("an actor").id;
    assert_eq!(actors.items.iter().map(|a| a.id).collect::<Vec<_>>(), [expected_actor], "no actor was created");
    assert_eq!(store.list_tenants(&ALL).await.unwrap().len(), 1, "no tenant appeared");
}

// ---------------------------------------------------------------------------------------------
// PredictionWriter::attach_explanation

/// `attach_explanation` numbers a prediction's revisions 1, 2, 3, … without gaps (an inline
/// explanation is revision 1), the highest is the one `get_prediction` shows, and
/// `list_explanations` returns them all, oldest first, as they were returned.
pub async fn explanation_revisions_are_gap_free_and_the_newest_is_current(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let created = record_new(&*store, &[Spec::new("plain", 0), Spec::new("inline", 1).explained()]).await;
    let inline = created[1].explanation.clone().expect("an inline explanation");
    let mut attached = HashMap::from([("plain", Vec::new()), ("inline", vec![inline])]);
    // Alternate the predictions and the kinds of reference, so that numbering is per prediction.
    for round in 0..3 {
        for (pid, event) in [("plain", &created[0]), ("inline", &created[1])] {
            let reference = if round % 2 == 0 { by_pid(pid) } else { by_id(event.id) };
            let new = explanation(&format!("method-{round}"));
            let explanation = store.attach_explanation(&ALL, &reference, new.clone()).await.unwrap().into_record();
            let revisions = attached.get_mut(pid).unwrap();
            assert_eq!(explanation.revision as usize, revisions.len() + 1, "{pid}: the next revision");
            assert_eq!((explanation.id, explanation.prediction_ref), (new.id, event.id));
            assert_eq!((&explanation.method, &explanation.payload), (&new.method, &new.payload));
            assert_eq!(explanation.generated_at, new.generated_at);
            revisions.push(explanation);
            let current = store.get_prediction(&ALL, &by_pid(pid)).await.unwrap().explanation;
            assert_eq!(current.as_ref(), revisions.last(), "{pid}: the newest revision is current");
        }
    }
    for (pid, revisions) in &attached {
        assert_eq!(&store.list_explanations(&ALL, &by_pid(pid)).await.unwrap(), revisions, "{pid}: oldest first");
        let numbers: Vec<u32> = revisions.iter().map(|e| e.revision).collect();
        assert_eq!(numbers, (1..=revisions.len() as u32).collect::<Vec<_>>());
    }
    let filter = PredictionFilter { has_explanation: Some(true), ..PredictionFilter::default() };
    let listed = list_all(&*store, &ALL, &filter, 10).await;
    for event in &listed {
        assert_eq!(event.explanation.as_ref(), attached[event.prediction_id.as_str()].last(), "lists show it too");
    }
    assert_eq!(listed.len(), 2);
}

/// `attach_explanation` and `list_explanations` answer `NotFound(Prediction)` for a reference
/// that matches no prediction or one of another tenant, and attach nothing then.
pub async fn attaching_to_an_unknown_or_invisible_prediction_is_not_found(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let created = record_new(
        &*store,
        &[
            Spec::new("acme-1", 0).actor(ActorType::User, "u1", "acme"),
            Spec::new("globex-1", 1).actor(ActorType::User, "u1", "globex"),
            Spec::new("no-actor", 2),
        ],
    )
    .await;
    seal_all(&*store).await;
    let size = store.ledger_size().await.unwrap();
    let acme = tenant("acme");
    let refused = [
        (ALL, by_pid("missing")),
        (ALL, by_id(Uuid::now_v7())),
        (acme.clone(), by_pid("globex-1")),
        (acme.clone(), by_id(created[1].id)),
        (acme.clone(), by_pid("no-actor")),
        (tenant("initech"), by_pid("acme-1")),
    ];
    for (visibility, reference) in &refused {
        let result = store.attach_explanation(visibility, reference, explanation("lime")).await;
        assert_not_found(result, Entity::Prediction, &format!("attach {reference:?} as {visibility:?}"));
        let result = store.list_explanations(visibility, reference).await;
        assert_not_found(result, Entity::Prediction, &format!("list_explanations {reference:?} as {visibility:?}"));
    }
    for pid in ["acme-1", "globex-1", "no-actor"] {
        assert_eq!(store.list_explanations(&ALL, &by_pid(pid)).await.unwrap(), vec![], "{pid}: nothing attached");
    }
    seal_all(&*store).await;
    assert_eq!(store.ledger_size().await.unwrap(), size, "nothing sealed");
    let own = store.attach_explanation(&acme, &by_pid("acme-1"), explanation("lime")).await.unwrap().into_record();
    assert_eq!((own.revision, own.prediction_ref), (1, created[0].id), "a tenant attaches to its own predictions");
}

// ---------------------------------------------------------------------------------------------
// PredictionReader

/// `list_predictions` returns predictions newest `timestamp` first, then by `id` descending, and
/// paging with each page's cursor visits every prediction exactly once whatever the page size.
pub async fn listing_is_newest_first_and_pages_without_gaps_or_duplicates(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let n: usize = 23;
    // Three predictions per minute (ties broken by id), written out of time order.
    let specs: Vec<Spec> =
        (0..n).map(|i| (i * 7) % n).map(|i| Spec::new(&format!("p{i:02}"), (i / 3) as i64)).collect();
    let mut created = Vec::new();
    for chunk in specs.chunks(5) {
        created.extend(record_new(&*store, chunk).await);
    }
    let expected = newest_first(created.iter().map(|e| (e.timestamp, e.id, e.prediction_id.clone())).collect());
    for limit in [1, 2, 3, 5, 22, 23, 24, 1000] {
        let listed = list_all(&*store, &ALL, &PredictionFilter::default(), limit).await;
        assert_eq!(pids(&listed), expected, "pages of {limit}");
    }
    let everything = PredictionFilter::default();
    let first = store.list_predictions(&ALL, &everything, &PageRequest { limit: 5, after: None }).await.unwrap();
    assert!(first.next_cursor.is_some(), "more predictions than the limit: a cursor");
    let last = store.list_predictions(&ALL, &everything, &PageRequest { limit: 1000, after: None }).await.unwrap();
    assert!(last.next_cursor.is_none(), "everything on the page: no cursor");
}

/// Each `PredictionFilter` field keeps exactly the predictions that match it (equality for text
/// and enums, inclusive bounds for time and confidence, a subject's token, whether an
/// explanation exists), the fields combine with AND, and paging a filtered listing keeps them.
pub async fn each_filter_narrows_the_listing_to_its_matches(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let models = [("fraud", "1.0.0"), ("fraud", "2.0.0"), ("churn", "1.0.0")];
    let emails = [Some("ann@example.com"), Some("bob@example.com"), None];
    let specs: Vec<Spec> = (0..24usize)
        .map(|i| {
            let (name, version) = models[i % 3];
            let mut spec = Spec::new(&format!("f{i:02}"), (i / 2) as i64 * 7).model(name, version);
            spec = match i % 4 {
                0 => spec.actor(ActorType::User, &format!("u{}", i % 3), "acme"),
                // Two actors named `svc`, one per tenant: a name the list query matches by two ids.
                1 => spec.actor(ActorType::Service, "svc", if i % 8 == 1 { "globex" } else { "acme" }),
                2 => spec,
                _ => spec.actor(ActorType::Job, "nightly", "acme"),
            };
            spec.decision_outcome = ["approved", "declined", "review"][i % 5 % 3].into();
            spec.environment = if i % 5 == 0 { "staging" } else { "prod" }.into();
            spec.status = [Status::Success, Status::Failed, Status::Partial][(i / 2) % 3];
            spec.confidence = (i % 5 != 4).then(|| i as f64 / 32.0);
            spec.trace_id = format!("trace-{}", i % 6);
            spec.email = emails[(i + 1) % 3].map(str::to_owned);
            spec.explained = i % 4 == 0;
            spec
        })
        .collect();
    let created = record_new(&*store, &specs).await;
    let mut explained: BTreeSet<String> =
        specs.iter().filter(|s| s.explained).map(|s| s.prediction_id.clone()).collect();
    for spec in specs.iter().filter(|spec| !spec.explained && spec.prediction_id.ends_with(['1', '7'])) {
        store.attach_explanation(&ALL, &by_pid(&spec.prediction_id), explanation("later")).await.unwrap();
        explained.insert(spec.prediction_id.clone());
    }
    let k = &specs[8];
    let confidence_k = k.confidence.expect("f08 has a confidence");
    type Matches = Box<dyn Fn(&Spec) -> bool>;
    let cases: Vec<(&str, PredictionFilter, Matches)> = vec![
        ("model_name", PredictionFilter { model_name: Some("fraud".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.model.0 == "fraud")
        }),
        ("model_version", PredictionFilter { model_version: Some("1.0.0".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.model.1 == "1.0.0")
        }),
        (
            "model_name+version",
            PredictionFilter {
                model_name: Some("fraud".into()),
                model_version: Some("2.0.0".into()),
                ..Default::default()
            },
            Box::new(|s: &Spec| s.model == ("fraud".into(), "2.0.0".into())),
        ),
        ("actor_type", PredictionFilter { actor_type: Some(ActorType::Service), ..Default::default() }, {
            Box::new(|s: &Spec| s.actor.as_ref().is_some_and(|a| a.actor_type == ActorType::Service))
        }),
        ("actor_id", PredictionFilter { actor_id: Some("u1".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.actor.as_ref().is_some_and(|a| a.actor_id == "u1"))
        }),
        ("actor_id of two actors", PredictionFilter { actor_id: Some("svc".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.actor.as_ref().is_some_and(|a| a.actor_id == "svc"))
        }),
        (
            "actor_id+actor_type",
            PredictionFilter {
                actor_id: Some("svc".into()),
                actor_type: Some(ActorType::Service),
                ..Default::default()
            },
            Box::new(|s: &Spec| s.actor.as_ref().is_some_and(|a| a.actor_id == "svc")),
        ),
        (
            "actor_type+model_version",
            PredictionFilter {
                actor_type: Some(ActorType::User),
                model_version: Some("1.0.0".into()),
                ..Default::default()
            },
            Box::new(|s: &Spec| {
                s.model.1 == "1.0.0" && s.actor.as_ref().is_some_and(|a| a.actor_type == ActorType::User)
            }),
        ),
        ("tenant_id", PredictionFilter { tenant_id: Some("acme".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.tenant() == "acme")
        }),
        ("time_from (inclusive)", PredictionFilter { time_from: Some(k.timestamp), ..Default::default() }, {
            let t = k.timestamp;
            Box::new(move |s: &Spec| s.timestamp >= t)
        }),
        ("time_to (inclusive)", PredictionFilter { time_to: Some(k.timestamp), ..Default::default() }, {
            let t = k.timestamp;
            Box::new(move |s: &Spec| s.timestamp <= t)
        }),
        (
            "time_from = time_to",
            PredictionFilter { time_from: Some(k.timestamp), time_to: Some(k.timestamp), ..Default::default() },
            {
                let t = k.timestamp;
                Box::new(move |s: &Spec| s.timestamp == t)
            },
        ),
        ("decision_outcome", PredictionFilter { decision_outcome: Some("declined".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.decision_outcome == "declined")
        }),
        ("environment", PredictionFilter { environment: Some("staging".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.environment == "staging")
        }),
        ("has_explanation=true", PredictionFilter { has_explanation: Some(true), ..Default::default() }, {
            let explained = explained.clone();
            Box::new(move |s: &Spec| explained.contains(&s.prediction_id))
        }),
        ("has_explanation=false", PredictionFilter { has_explanation: Some(false), ..Default::default() }, {
            let explained = explained.clone();
            Box::new(move |s: &Spec| !explained.contains(&s.prediction_id))
        }),
        ("status", PredictionFilter { status: Some(Status::Failed), ..Default::default() }, {
            Box::new(|s: &Spec| s.status == Status::Failed)
        }),
        (
            "min_confidence (inclusive)",
            PredictionFilter { min_confidence: Some(confidence_k), ..Default::default() },
            { Box::new(move |s: &Spec| s.confidence.is_some_and(|c| c >= confidence_k)) },
        ),
        (
            "max_confidence (inclusive)",
            PredictionFilter { max_confidence: Some(confidence_k), ..Default::default() },
            { Box::new(move |s: &Spec| s.confidence.is_some_and(|c| c <= confidence_k)) },
        ),
        (
            "min_confidence = max_confidence",
            PredictionFilter {
                min_confidence: Some(confidence_k),
                max_confidence: Some(confidence_k),
                ..Default::default()
            },
            Box::new(move |s: &Spec| s.confidence == Some(confidence_k)),
        ),
        ("trace_id", PredictionFilter { trace_id: Some("trace-3".into()), ..Default::default() }, {
            Box::new(|s: &Spec| s.trace_id == "trace-3")
        }),
        ("subject", PredictionFilter { subject: Some(subject("ann@example.com")), ..Default::default() }, {
            Box::new(|s: &Spec| s.email.as_deref() == Some("ann@example.com"))
        }),
        (
            "combined",
            PredictionFilter {
                model_name: Some("fraud".into()),
                has_explanation: Some(false),
                min_confidence: Some(0.1),
                environment: Some("prod".into()),
                ..Default::default()
            },
            {
                let explained = explained.clone();
                Box::new(move |s: &Spec| {
                    s.model.0 == "fraud"
                        && !explained.contains(&s.prediction_id)
                        && s.confidence.is_some_and(|c| c >= 0.1)
                        && s.environment == "prod"
                })
            },
        ),
    ];
    let keyed = |keep: &dyn Fn(&Spec) -> bool| {
        let rows = specs.iter().zip(&created).filter(|(spec, _)| keep(spec));
        newest_first(rows.map(|(_, e)| (e.timestamp, e.id, e.prediction_id.clone())).collect())
    };
    for (name, filter, matches) in &cases {
        let expected = keyed(matches.as_ref());
        assert!(!expected.is_empty() && expected.len() < specs.len(), "{name}: the data must make it narrow");
        let listed = list_all(&*store, &ALL, filter, 1000).await;
        assert_eq!(pids(&listed), expected, "filter {name}");
        let paged = list_all(&*store, &ALL, filter, 2).await;
        assert_eq!(pids(&paged), expected, "filter {name}, in pages of 2");
        let acme = list_all(&*store, &tenant("acme"), filter, 1000).await;
        let expected_acme = keyed(&|s: &Spec| matches(s) && s.tenant() == "acme");
        assert_eq!(pids(&acme), expected_acme, "filter {name} as tenant acme");
    }
    for (name, filter) in [
        ("unknown model", PredictionFilter { model_name: Some("nope".into()), ..Default::default() }),
        ("unknown subject", PredictionFilter { subject: Some(subject("carol@example.com")), ..Default::default() }),
        ("raw subject", PredictionFilter { subject: Some("ann@example.com".into()), ..Default::default() }),
        ("unknown version", PredictionFilter { model_version: Some("0.0.1".into()), ..Default::default() }),
        ("unknown actor", PredictionFilter { actor_id: Some("nobody".into()), ..Default::default() }),
        (
            "actor of another type",
            PredictionFilter { actor_id: Some("svc".into()), actor_type: Some(ActorType::User), ..Default::default() },
        ),
        ("before all", PredictionFilter { time_to: Some(at(-1)), ..Default::default() }),
    ] {
        assert_eq!(pids(&list_all(&*store, &ALL, &filter, 100).await), Vec::<String>::new(), "{name}");
    }
}

/// A tenant-bound `Visibility` hides other tenants' predictions (and those without actor) from
/// every read: lookups answer `NotFound(Prediction)`, listings and insights leave them out,
/// whatever the filter asks for.
pub async fn tenant_visibility_applies_to_every_read(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let specs = [
        Spec::new("acme-1", 0).actor(ActorType::User, "u1", "acme").explained(),
        Spec::new("acme-2", 70).actor(ActorType::Service, "svc", "acme").model("churn", "1.0.0"),
        Spec::new("globex-1", 1).actor(ActorType::User, "u1", "globex").explained(),
        Spec::new("none-1", 2).explained(),
    ];
    let created = record_new(&*store, &specs).await;
    seal_all(&*store).await;
    let acme = tenant("acme");
    for (spec, event) in specs.iter().zip(&created) {
        for reference in [by_pid(&spec.prediction_id), by_id(event.id)] {
            let read = store.get_prediction(&acme, &reference).await;
            let listed = store.list_explanations(&acme, &reference).await;
            if spec.tenant() == "acme" {
                assert_eq!(&read.unwrap().id, &event.id);
                assert_eq!(listed.unwrap().len(), usize::from(spec.explained));
            } else {
                assert_not_found(read, Entity::Prediction, &format!("get_prediction {reference:?} as acme"));
                assert_not_found(listed, Entity::Prediction, &format!("list_explanations {reference:?} as acme"));
            }
        }
    }
    let visible = newest_first(
        specs
            .iter()
            .zip(&created)
            .filter(|(spec, _)| spec.tenant() == "acme")
            .map(|(_, e)| (e.timestamp, e.id, e.prediction_id.clone()))
            .collect(),
    );
    assert_eq!(pids(&list_all(&*store, &acme, &PredictionFilter::default(), 1).await), visible);
    for filter in [
        PredictionFilter { tenant_id: Some("globex".into()), ..Default::default() },
        PredictionFilter { tenant_id: Some(String::new()), ..Default::default() },
        PredictionFilter { trace_id: Some("trace-globex-1".into()), ..Default::default() },
    ] {
        assert_eq!(list_all(&*store, &acme, &filter, 10).await, vec![], "{filter:?} as acme");
        assert_eq!(list_all(&*store, &ALL, &filter, 10).await.len(), 1, "{filter:?} for everyone");
    }
    // Insights: nothing of globex or of actor-less predictions.
    let stats = store.model_version_stats(&acme).await.unwrap();
    assert_eq!(stats.iter().map(|s| s.predictions).sum::<u64>(), 2);
    let window = TimeWindow { from: at(-120), to: at(240) };
    let hourly = store.hourly_counts(&acme, &window).await.unwrap();
    assert_eq!(hourly.iter().map(|h| h.count).sum::<u64>(), 2);
    let actors = store.list_actors(&acme, None, &ActorPageRequest { limit: 10, after: None }).await.unwrap();
    assert!(actors.items.iter().all(|a| a.tenant_id == "acme") && actors.items.len() == 2, "{actors:?}");
    let globex = store.list_actors(&acme, Some("globex"), &ActorPageRequest { limit: 10, after: None });
    assert!(globex.await.unwrap().items.is_empty(), "asking for another tenant's actors shows none");
    let tenants = store.list_tenants(&acme).await.unwrap();
    assert_eq!(tenants.iter().map(|t| t.tenant_id.as_str()).collect::<Vec<_>>(), ["acme"]);
}

/// `list_models` returns every model version once, ordered by `model_name`, and `get_model`
/// returns each by id; an unknown id is `NotFound(ModelVersion)`.
pub async fn models_are_listed_and_found_by_id(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let specs = [
        Spec::new("a", 0).model("zeta", "1.0.0"),
        Spec::new("b", 1).model("alpha", "2.0.0"),
        Spec::new("c", 2).model("alpha", "1.0.0"),
        Spec::new("d", 3).model("zeta", "1.0.0"),
        Spec::new("e", 4).model("mid", "0.1.0"),
    ];
    let created = record_new(&*store, &specs).await;
    let listed = store.list_models().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|m| m.model_name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by model_name");
    let expected: BTreeSet<(String, String)> = specs.iter().map(|s| s.model.clone()).collect();
    let found: BTreeSet<(String, String)> = listed.iter().map(|m| (m.model_name.clone(), m.version.clone())).collect();
    assert_eq!(found, expected);
    assert_eq!(listed.len(), expected.len(), "each once");
    for event in &created {
        let model = store.get_model(event.model.id).await.unwrap();
        assert_eq!(model, event.model, "get_model returns the row the records reference");
        assert!(listed.contains(&model));
    }
    assert_not_found(store.get_model(Uuid::now_v7()).await, Entity::ModelVersion, "an unknown model id");
    assert_not_found(store.get_model(created[0].id).await, Entity::ModelVersion, "a prediction's id");
}

// ---------------------------------------------------------------------------------------------
// KeyStore

/// `create_first_api_key` creates its key only when the store holds no key at all, and answers
/// whether it did.
pub async fn the_first_api_key_is_created_only_into_a_store_without_keys(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let first = issue_key("first", KeyScope::Admin, None);
    assert!(store.create_first_api_key(&first).await.unwrap(), "an empty store takes the first key");
    let second = issue_key("second", KeyScope::Admin, None);
    assert!(!store.create_first_api_key(&second).await.unwrap(), "a second first key is refused");
    assert_eq!(store.list_api_keys().await.unwrap(), vec![first.key.clone()]);
    assert_eq!(store.get_api_key(second.key.id).await.unwrap(), None);
    assert_eq!(store.find_active_api_key(&second.hash).await.unwrap(), None);
    // Revoked keys still count: the store is not empty.
    assert!(store.revoke_api_key(first.key.id).await.unwrap());
    assert!(!store.create_first_api_key(&second).await.unwrap(), "a revoked key still counts");
    assert_eq!(store.list_api_keys().await.unwrap().len(), 1);
}

/// Keys are found active by the hash of their secret until revoked; `revoke_api_key` answers
/// true once and false after (or for an unknown id); `get_api_key` still returns a revoked key
/// with its `revoked_at`; `list_api_keys` returns all, by `created_at` then `id`.
pub async fn api_keys_are_found_by_hash_listed_and_revoked_once(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let keys = [
        issue_key("admin", KeyScope::Admin, None),
        issue_key("reader", KeyScope::Read, Some("acme".into())),
        issue_key("ingest", KeyScope::Ingest, Some("globex".into())),
        issue_key("other", KeyScope::Read, None),
    ];
    for key in &keys {
        store.create_api_key(key).await.unwrap();
    }
    for key in &keys {
        assert_eq!(store.find_active_api_key(&key.hash).await.unwrap().as_ref(), Some(&key.key));
        assert_eq!(store.get_api_key(key.key.id).await.unwrap().as_ref(), Some(&key.key));
    }
    assert_eq!(store.find_active_api_key(&KeyHash::of("mla_not-a-key")).await.unwrap(), None);
    let mut expected: Vec<_> = keys.iter().map(|k| k.key.clone()).collect();
    expected.sort_by_key(|key| (key.created_at, key.id));
    assert_eq!(store.list_api_keys().await.unwrap(), expected);

    let before = timestamp::now();
    let revoked = &keys[1];
    assert!(store.revoke_api_key(revoked.key.id).await.unwrap(), "the first revocation");
    assert!(!store.revoke_api_key(revoked.key.id).await.unwrap(), "the second does nothing");
    assert!(!store.revoke_api_key(Uuid::now_v7()).await.unwrap(), "an unknown id");
    assert_eq!(store.find_active_api_key(&revoked.hash).await.unwrap(), None, "a revoked key is not active");
    let read = store.get_api_key(revoked.key.id).await.unwrap().expect("get_api_key returns revoked keys");
    let revoked_at = read.revoked_at.expect("with revoked_at");
    assert!(revoked_at >= before && revoked_at <= timestamp::now() + Duration::seconds(1), "{revoked_at}");
    assert_eq!(ml_audit_core::auth::ApiKey { revoked_at: None, ..read.clone() }, revoked.key);
    for key in keys.iter().filter(|k| k.key.id != revoked.key.id) {
        assert_eq!(store.find_active_api_key(&key.hash).await.unwrap().as_ref(), Some(&key.key), "others stay");
    }
    let listed = store.list_api_keys().await.unwrap();
    let expected: Vec<_> = expected.into_iter().map(|k| if k.id == read.id { read.clone() } else { k }).collect();
    assert_eq!(listed, expected, "the list keeps revoked keys, with their revoked_at");
}

// ---------------------------------------------------------------------------------------------
// LedgerStore

/// After `ledger_pending` → `ledger_append` until nothing is pending, every record written
/// (prediction or explanation, inline or attached) is sealed exactly once, in write order, with
/// seqs 0..n; `ledger_size`, `ledger_leaf_hashes` and `ledger_records` agree with that, each leaf
/// hash recomputes from the record read back, and there are no strays.
pub async fn sealing_seals_every_record_once_in_write_order(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let first = record_new(&*store, &[Spec::new("p0", 0).explained(), Spec::new("p1", 1)]).await;
    // A replay and a conflict write nothing, so they seal nothing.
    let again = store.record_predictions(vec![Spec::new("p0", 0).explained().prepare()]).await.unwrap();
    assert!(matches!(again.as_slice(), [RecordOutcome::Replayed(_)]), "{again:?}");
    let conflict = store.record_predictions(vec![Spec { score: 0.1, ..Spec::new("p1", 1) }.prepare()]).await;
    assert!(matches!(conflict.unwrap().as_slice(), [RecordOutcome::Conflict { .. }]));
    let attached = store.attach_explanation(&ALL, &by_pid("p1"), explanation("lime")).await.unwrap().into_record();
    let midway = seal_all(&*store).await.len();
    let second = record_new(&*store, &[Spec::new("p2", 2).explained(), Spec::new("p3", 3)]).await;
    let attached_0 = store.attach_explanation(&ALL, &by_pid("p0"), explanation("lime")).await.unwrap().into_record();
    let sealed = seal_all(&*store).await;
    assert_eq!(seal_all(&*store).await, vec![], "nothing is left to seal");

    let inline = |event: &PredictionEvent| event.explanation.as_ref().expect("inline").id;
    let expected = vec![
        (LeafKind::Prediction, first[0].id),
        (LeafKind::Explanation, inline(&first[0])),
        (LeafKind::Prediction, first[1].id),
        (LeafKind::Explanation, attached.id),
        (LeafKind::Prediction, second[0].id),
        (LeafKind::Explanation, inline(&second[0])),
        (LeafKind::Prediction, second[1].id),
        (LeafKind::Explanation, attached_0.id),
    ];
    let n = expected.len() as u64;
    assert_eq!(store.ledger_size().await.unwrap(), n, "one leaf per record");
    let records = store.ledger_records(0, n).await.unwrap();
    let leaves: Vec<_> = records.rows.iter().map(|row| row.leaf.clone()).collect();
    assert_eq!(leaves.iter().map(|leaf| leaf.seq).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "gap-free");
    assert_eq!(leaves.iter().map(|leaf| (leaf.kind, leaf.record_id)).collect::<Vec<_>>(), expected, "write order");
    if !sealed.is_empty() || midway > 0 {
        // A backend that queues: what the appends answered is what is stored.
        assert_eq!(midway + sealed.len(), n as usize, "every record went through the queue");
        assert_eq!(sealed, leaves[midway..], "ledger_append answers the entries it wrote");
    }
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|leaf| leaf.leaf_hash).collect();
    assert_eq!(store.ledger_leaf_hashes(0, n).await.unwrap(), hashes);
    assert_eq!(store.ledger_leaf_hashes(2, 5).await.unwrap(), hashes[2..5]);
    assert_eq!(store.ledger_leaf_hashes(n, n + 10).await.unwrap(), Vec::<[u8; 32]>::new());
    assert_eq!(store.ledger_leaf_hashes(3, u64::MAX).await.unwrap(), hashes[3..], "to the end");
    let part = store.ledger_records(3, 6).await.unwrap();
    assert_eq!(part.rows, records.rows[3..6], "a range reads the same rows");
    let catalog = RowCatalog::new(records.models, records.actors);
    for row in &records.rows {
        let record = row.record.as_ref().expect("every sealed record is stored");
        assert_eq!((record.kind(), record.record_id()), (row.leaf.kind, row.leaf.record_id));
        assert_eq!(record.decode(&catalog).expect("decodes").leaf_hash(), row.leaf.leaf_hash, "recomputes");
    }
    assert_eq!(store.ledger_strays(100).await.unwrap(), vec![], "every record came through the store");
    // Reads show each prediction's entry, and the hashes are those of the records read back.
    for event in first.iter().chain(&second) {
        let read = store.get_prediction(&ALL, &by_id(event.id)).await.unwrap();
        let leaf = leaves.iter().find(|leaf| leaf.record_id == event.id).unwrap();
        assert_eq!(read.ledger, Some(LedgerEntry { seq: leaf.seq, leaf_hash: leaf.leaf_hash }), "{}", event.id);
        assert_eq!(prediction_leaf_hash(&read), leaf.leaf_hash, "the leaf commits to the record as read back");
        for explanation in store.list_explanations(&ALL, &by_id(event.id)).await.unwrap() {
            let leaf = leaves.iter().find(|leaf| leaf.record_id == explanation.id).expect("sealed");
            assert_eq!(explanation_leaf_hash(&explanation), leaf.leaf_hash);
        }
    }
}

/// `ledger_pending` returns at most `limit` records, oldest first; `ledger_append` appends in
/// the given order after the last leaf, each queue entry once, and skips leaves whose queue
/// entries are gone (already sealed, or never queued).
pub async fn ledger_append_skips_leaves_no_longer_queued(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let created = record_new(&*store, &[Spec::new("a", 0).explained(), Spec::new("b", 1), Spec::new("c", 2)]).await;
    let pending = pending_leaves(&*store, 100).await;
    assert!(pending.windows(2).all(|pair| pair[0].queue_id < pair[1].queue_id), "oldest first");
    let size_before = store.ledger_size().await.unwrap();
    if !pending.is_empty() {
        assert_eq!(pending.len(), 4, "every written record is pending or sealed, not partly");
        assert_eq!(pending_leaves(&*store, 2).await, pending[..2], "the limit keeps the oldest");
        let mut twice = pending.clone();
        twice.push(pending[0].clone());
        let sealed = store.ledger_append(twice).await.unwrap();
        assert_eq!(sealed.len(), pending.len(), "a leaf listed twice is appended once");
        for (i, (leaf, new)) in sealed.iter().zip(&pending).enumerate() {
            assert_eq!(leaf.seq, size_before + i as u64, "numbered after the last leaf, in the given order");
            assert_eq!((leaf.kind, leaf.record_id, leaf.leaf_hash), (new.kind, new.record_id, new.leaf_hash));
        }
        assert_eq!(store.ledger_append(pending.clone()).await.unwrap(), vec![], "already sealed: skipped");
    }
    let size = store.ledger_size().await.unwrap();
    assert_eq!(size, 4, "every record sealed once");
    let never_queued =
        NewLeaf { queue_id: i64::MAX - 7, kind: LeafKind::Prediction, record_id: created[0].id, leaf_hash: [7; 32] };
    assert_eq!(store.ledger_append(vec![never_queued]).await.unwrap(), vec![], "never queued: skipped");
    assert_eq!(store.ledger_append(Vec::new()).await.unwrap(), vec![]);
    assert_eq!(store.ledger_size().await.unwrap(), size, "nothing appended");
    assert!(store.ledger_pending(100).await.unwrap().rows.is_empty());
    assert_eq!(store.ledger_strays(100).await.unwrap(), vec![]);
}

/// `save_checkpoint` keeps one checkpoint per tree size (a second for the same size is ignored),
/// `checkpoints` returns them by tree size and `latest_checkpoint` the largest, as saved.
pub async fn checkpoints_are_kept_once_per_tree_size_in_order(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    record_new(&*store, &[Spec::new("a", 0), Spec::new("b", 1), Spec::new("c", 2)]).await;
    seal_all(&*store).await;
    let checkpoint = |tree_size: u64, byte: u8| StoredCheckpoint {
        tree_size,
        root_hash: [byte; 32],
        note: format!("ml-audit conformance\n{tree_size}\nroot {byte}\n"),
        frontier: vec![byte; tree_size as usize * 3],
        created_at: timestamp::now() - Duration::seconds(i64::from(byte)),
    };
    let saved = [checkpoint(2, 1), checkpoint(1, 2), checkpoint(3, 3)];
    store.save_checkpoint(&saved[0]).await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap().as_ref(), Some(&saved[0]));
    store.save_checkpoint(&saved[1]).await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap().as_ref(), Some(&saved[0]), "the largest tree size");
    store.save_checkpoint(&saved[2]).await.unwrap();
    store.save_checkpoint(&checkpoint(2, 9)).await.expect("a second checkpoint for a size is ignored, not an error");
    let mut expected = saved.to_vec();
    expected.sort_by_key(|c| c.tree_size);
    assert_eq!(store.checkpoints().await.unwrap(), expected, "by tree size, the first of each size");
    assert_eq!(store.latest_checkpoint().await.unwrap().as_ref(), Some(&saved[2]));
}

// ---------------------------------------------------------------------------------------------
// InsightReader

/// The data the insight checks share: three tenants, predictions without actor, three model
/// versions, outcomes, statuses, confidences (some missing, some 1.0) and five hours.
fn insight_specs() -> Vec<Spec> {
    let models = [("fraud", "1.0.0"), ("fraud", "2.0.0"), ("churn", "1.0.0")];
    (0..30usize)
        .map(|i| {
            let (name, version) = models[i % 3];
            // 37 minutes apart: from 08:00 to about 01:53 later, across five hours.
            let mut spec = Spec::new(&format!("i{i:02}"), i as i64 * 11).model(name, version);
            spec = match i % 5 {
                0 => spec.actor(ActorType::User, &format!("u{}", i % 3), "acme"),
                // Two actors named `svc`, one per tenant: the actors page lists both, each in its tenant.
                1 => spec.actor(ActorType::Service, "svc", if i % 8 == 1 { "globex" } else { "acme" }),
                2 => spec,
                3 => spec.actor(ActorType::Job, "nightly", "acme"),
                _ => spec.actor(ActorType::ApiKey, "k1", "initech"),
            };
            spec.decision_outcome = ["approved", "declined", "approved", ""][i % 4].into();
            spec.status = [Status::Success, Status::Failed, Status::Partial, Status::Success][i % 4];
            spec.confidence = match i % 6 {
                0 => None,
                1 => Some(1.0),
                _ => Some(i as f64 / 31.0),
            };
            spec
        })
        .collect()
}

async fn record_insight_data(store: &dyn Store) -> Vec<(Spec, PredictionEvent)> {
    let specs = insight_specs();
    let mut created = record_new(store, &specs[..17]).await;
    created.extend(record_new(store, &specs[17..]).await);
    store.attach_explanation(&ALL, &by_pid("i00"), explanation("lime")).await.unwrap();
    seal_all(store).await;
    specs.into_iter().zip(created).collect()
}

fn visibilities() -> [Visibility; 4] {
    [ALL, tenant("acme"), tenant("globex"), tenant("nobody")]
}

/// `model_version_stats` gives, per model version with visible sealed predictions, their count,
/// outcome mix (most frequent first, then by outcome), statuses (in `Status::ALL` order) and the
/// confidence histogram (bins of 0.1, 1.0 in the last, missing counted apart).
pub async fn model_version_stats_count_visible_predictions(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let data = record_insight_data(&*store).await;
    for visibility in visibilities() {
        let mut expected: BTreeMap<Uuid, Vec<&Spec>> = BTreeMap::new();
        for (spec, event) in data.iter().filter(|(spec, _)| visibility.permits_tenant(spec.tenant())) {
            expected.entry(event.model.id).or_default().push(spec);
        }
        let mut stats = store.model_version_stats(&visibility).await.unwrap();
        stats.sort_by_key(|s| s.model_id);
        assert_eq!(stats.iter().map(|s| s.model_id).collect::<Vec<_>>(), expected.keys().copied().collect::<Vec<_>>());
        for (stats, (model_id, specs)) in stats.iter().zip(&expected) {
            let what = format!("{visibility:?}, model {model_id}");
            assert_eq!(stats.predictions, specs.len() as u64, "{what}");
            let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
            let mut statuses: BTreeMap<&str, u64> = BTreeMap::new();
            let mut bins = [0u64; CONFIDENCE_BINS];
            let mut without = 0;
            for spec in specs {
                *outcomes.entry(&spec.decision_outcome).or_default() += 1;
                *statuses.entry(spec.status.as_str()).or_default() += 1;
                match spec.confidence {
                    Some(c) => bins[((c * 10.0).floor() as usize).min(CONFIDENCE_BINS - 1)] += 1,
                    None => without += 1,
                }
            }
            let mut outcomes: Vec<(String, u64)> = outcomes.into_iter().map(|(o, n)| (o.to_owned(), n)).collect();
            outcomes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            assert_eq!(stats.outcomes, outcomes, "{what}: outcomes");
            let statuses: Vec<(Status, u64)> =
                Status::ALL.iter().filter_map(|s| statuses.get(s.as_str()).map(|n| (*s, *n))).collect();
            assert_eq!(stats.statuses, statuses, "{what}: statuses");
            assert_eq!(stats.confidence_bins, bins, "{what}: confidence bins");
            assert_eq!(stats.without_confidence, without, "{what}: without confidence");
        }
    }
}

/// `hourly_counts` gives visible sealed predictions per (hour, model version) for the hours of
/// the window (`from` and `to` rounded down to whole hours, `to`'s hour excluded), ordered by
/// hour then model version id, leaving out empty hours.
pub async fn hourly_counts_bucket_the_window_by_hour_and_model(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let data = record_insight_data(&*store).await;
    let hour_of = |t: OffsetDateTime| timestamp::to_unix_micros(t).div_euclid(MICROS_PER_HOUR);
    let windows = [
        TimeWindow { from: at(-600), to: at(600) },
        TimeWindow { from: at(75), to: at(190) },
        TimeWindow { from: at(60), to: at(120) },
        TimeWindow { from: at(400), to: at(500) },
    ];
    for visibility in visibilities() {
        for window in &windows {
            let (from, to) = (hour_of(window.from), hour_of(window.to));
            let mut expected: BTreeMap<(i64, Uuid), u64> = BTreeMap::new();
            for (spec, event) in &data {
                let hour = hour_of(spec.timestamp);
                if visibility.permits_tenant(spec.tenant()) && (from..to).contains(&hour) {
                    *expected.entry((hour, event.model.id)).or_default() += 1;
                }
            }
            let counts = store.hourly_counts(&visibility, window).await.unwrap();
            let actual: Vec<((i64, Uuid), u64)> = counts
                .iter()
                .map(|c| {
                    assert_eq!(timestamp::to_unix_micros(c.hour) % MICROS_PER_HOUR, 0, "an hour's start");
                    ((hour_of(c.hour), c.model_id), c.count)
                })
                .collect();
            assert_eq!(actual, expected.into_iter().collect::<Vec<_>>(), "{visibility:?}, {window:?}");
        }
    }
}

/// `list_actors` returns the visible actors ordered by (`tenant_id`, `actor_type`, `actor_id`)
/// with their sealed prediction count and latest prediction time, in pages that each continue
/// strictly after the previous one's `next`; `tenant_id` narrows to one tenant.
pub async fn actors_are_listed_in_pages_with_their_counts(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let data = record_insight_data(&*store).await;
    let mut actors: BTreeMap<(String, &str, String), ActorSummary> = BTreeMap::new();
    for (spec, event) in &data {
        let (Some(named), Some(actor)) = (&spec.actor, &event.actor) else { continue };
        let key = (named.tenant_id.clone(), named.actor_type.as_str(), named.actor_id.clone());
        let summary = actors.entry(key).or_insert_with(|| ActorSummary {
            id: actor.id,
            actor_type: named.actor_type,
            actor_id: named.actor_id.clone(),
            tenant_id: named.tenant_id.clone(),
            created_at: actor.created_at,
            predictions: 0,
            last_prediction: None,
        });
        summary.predictions += 1;
        summary.last_prediction = summary.last_prediction.max(Some(spec.timestamp));
    }
    for visibility in visibilities() {
        for tenant_id in [None, Some("acme"), Some("globex"), Some("")] {
            let expected: Vec<&ActorSummary> = actors
                .values()
                .filter(|a| visibility.permits_tenant(&a.tenant_id) && tenant_id.is_none_or(|t| t == a.tenant_id))
                .collect();
            for limit in [1, 2, 3, 100] {
                let mut listed = Vec::new();
                let mut page = ActorPageRequest { limit, after: None };
                for _ in 0..1000 {
                    let got = store.list_actors(&visibility, tenant_id, &page).await.unwrap();
                    assert!(got.items.len() <= limit as usize);
                    listed.extend(got.items.clone());
                    match got.next {
                        Some(next) => {
                            assert_eq!(got.items.len(), limit as usize, "only a full page has a next");
                            assert_eq!(Some(&next), got.items.last().map(ActorSummary::position).as_ref());
                            page.after = Some(next);
                        }
                        None => break,
                    }
                }
                assert_eq!(
                    listed.iter().collect::<Vec<_>>(),
                    expected,
                    "{visibility:?}, tenant {tenant_id:?}, {limit}"
                );
            }
        }
    }
}

/// `list_tenants` returns the visible tenants (`""` for predictions without actor), by tenant
/// id, with their sealed prediction count, actor count and latest prediction time.
pub async fn tenants_are_summarised(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let data = record_insight_data(&*store).await;
    for visibility in visibilities() {
        let mut expected: BTreeMap<&str, (u64, HashSet<&ActorSpec>, Option<OffsetDateTime>)> = BTreeMap::new();
        for (spec, _) in data.iter().filter(|(spec, _)| visibility.permits_tenant(spec.tenant())) {
            let entry = expected.entry(spec.tenant()).or_default();
            entry.0 += 1;
            entry.1.extend(&spec.actor);
            entry.2 = entry.2.max(Some(spec.timestamp));
        }
        let tenants = store.list_tenants(&visibility).await.unwrap();
        let actual: Vec<_> =
            tenants.iter().map(|t| (t.tenant_id.as_str(), t.predictions, t.actors, t.last_prediction)).collect();
        let expected: Vec<_> =
            expected.into_iter().map(|(tenant, (n, actors, last))| (tenant, n, actors.len() as u64, last)).collect();
        assert_eq!(actual, expected, "{visibility:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Restart

/// What a store committed is there when the database is opened again: records read back equal,
/// replays are still recognised, model versions and actors are reused, keys are kept, and the
/// ledger continues after its last leaf.
pub async fn records_and_keys_survive_reopening(db: &dyn TestDatabase) {
    let store = migrated(db).await;
    let first = Spec::new("before", 0).actor(ActorType::User, "u1", "acme").explained();
    let created = record_new(&*store, std::slice::from_ref(&first)).await.remove(0);
    let key = issue_key("admin", KeyScope::Admin, None);
    assert!(store.create_first_api_key(&key).await.unwrap());
    seal_all(&*store).await;
    let stored = store.get_prediction(&ALL, &by_pid("before")).await.unwrap();
    let size = store.ledger_size().await.unwrap();
    assert_eq!(size, 2);
    drop(store);

    let store = db.open().await;
    store.migrate().await.unwrap();
    assert_eq!(store.get_prediction(&ALL, &by_id(created.id)).await.unwrap(), stored);
    let replay = store.record_predictions(vec![first.prepare()]).await.unwrap();
    assert_eq!(replay, vec![RecordOutcome::Replayed(stored.clone())], "a replay after a restart");
    let conflict = store.record_predictions(vec![Spec { score: 0.2, ..first.clone() }.prepare()]).await.unwrap();
    assert!(matches!(conflict.as_slice(), [RecordOutcome::Conflict { .. }]), "{conflict:?}");
    let after = record_new(&*store, &[Spec::new("after", 5).actor(ActorType::User, "u1", "acme")]).await.remove(0);
    assert_eq!(after.model.id, created.model.id, "the model version is reused");
    assert_eq!(after.actor.as_ref().map(|a| a.id), created.actor.as_ref().map(|a| a.id), "the actor is reused");
    assert_eq!(store.list_models().await.unwrap().len(), 1);
    assert_eq!(store.find_active_api_key(&key.hash).await.unwrap(), Some(key.key.clone()));
    assert!(!store.create_first_api_key(&issue_key("again", KeyScope::Admin, None)).await.unwrap());
    seal_all(&*store).await;
    assert_eq!(store.ledger_size().await.unwrap(), size + 1);
    let read = store.get_prediction(&ALL, &by_pid("after")).await.unwrap();
    assert_eq!(read.ledger.map(|entry| entry.seq), Some(size), "the ledger continues after its last leaf");
    let hashes = store.ledger_leaf_hashes(0, size + 1).await.unwrap();
    assert_eq!(hashes.len() as u64, size + 1);
    assert_eq!(hashes[size as usize], prediction_leaf_hash(&read));
}
