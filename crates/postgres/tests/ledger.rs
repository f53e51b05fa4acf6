//! The ledger on PostgreSQL: every write queued in its own transaction, sealers on several
//! replicas producing one gap-free order, the ledger tables append-only, and what an attacker
//! with a SQL shell leaves behind visible to `verify`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TestDb, count, event, race};
use ml_audit_conformance::fixtures::pending_leaves;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::{PreparedPrediction, parse_explanation};
use ml_audit_core::ledger::record::{LeafKind, prediction_leaf_hash};
use ml_audit_core::ledger::stored::{RowCatalog, StoredRecord};
use ml_audit_core::timestamp;
use ml_audit_postgres::PgStore;
use ml_audit_storage::prelude::*;
use ml_audit_storage::{NewLeaf, PredictionRef, RecordOutcome, SealedLeaf, StoredCheckpoint};
use serde_json::json;
use sqlx::{AssertSqlSafe, Executor as _, PgConnection};
use uuid::Uuid;

fn prediction(prediction_id: &str, explained: bool) -> PreparedPrediction {
    let mut body = json!({
        "model_name": "fraud", "model_version": "1.0.0", "features": {"age": 42, "email": "user@example.com"},
        "output": {"score": 0.5}, "prediction_id": prediction_id, "timestamp": "2026-11-27T08:00:00Z",
        "actor": {"actor_type": "service", "actor_id": "checkout", "tenant_id": "acme"},
    });
    if explained {
        body["explanation"] = json!({"method": "shap", "payload": {"age": 0.1}});
    }
    event(body)
}

/// `n` predictions named `{prefix}-{i}`, every third with an inline explanation.
fn predictions(prefix: &str, n: usize) -> Vec<PreparedPrediction> {
    (0..n).map(|i| prediction(&format!("{prefix}-{i}"), i % 3 == 0)).collect()
}

/// What a sealer does once: the oldest pending records, hashed, appended. Empty when nothing
/// was pending; the pending count is returned too, to tell "nothing to do" from "lost a race".
async fn seal_once(store: &PgStore, limit: u32) -> (usize, Vec<SealedLeaf>) {
    let pending = pending_leaves(store, limit).await;
    if pending.is_empty() {
        return (0, Vec::new());
    }
    let sealed = store.ledger_append(pending.clone()).await.expect("the append commits");
    (pending.len(), sealed)
}

/// Seals until nothing is pending; every append's result, in order.
async fn seal_until_empty(store: &PgStore, limit: u32) -> Vec<Vec<SealedLeaf>> {
    let mut appends = Vec::new();
    loop {
        match seal_once(store, limit).await {
            (0, _) => return appends,
            (_, sealed) => appends.push(sealed),
        }
    }
}

/// The ids of every stored record, by kind, as the tables hold them.
async fn stored_records(conn: &mut PgConnection) -> HashMap<Uuid, LeafKind> {
    let predictions: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM predictions").fetch_all(&mut *conn).await.unwrap();
    let explanations: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM explanations").fetch_all(&mut *conn).await.unwrap();
    let predictions = predictions.into_iter().map(|id| (id, LeafKind::Prediction));
    predictions.chain(explanations.into_iter().map(|id| (id, LeafKind::Explanation))).collect()
}

/// Each append's leaves have consecutive seqs; together they are 0..n, one per stored record,
/// with nothing left queued; and the store reads back exactly what was appended, and hashes
/// that recompute from the stored records.
async fn assert_sealed_exactly_once(db: &TestDb, store: &PgStore, appends: Vec<Vec<SealedLeaf>>) {
    for sealed in &appends {
        assert!(sealed.windows(2).all(|pair| pair[1].seq == pair[0].seq + 1), "one append, consecutive seqs");
    }
    let mut sealed: Vec<SealedLeaf> = appends.into_iter().flatten().collect();
    sealed.sort_by_key(|leaf| leaf.seq);
    let n = sealed.len() as u64;
    assert_eq!(sealed.iter().map(|leaf| leaf.seq).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "gap-free");

    let mut conn = db.connect().await;
    let stored = stored_records(&mut conn).await;
    let sealed_records: HashMap<Uuid, LeafKind> = sealed.iter().map(|leaf| (leaf.record_id, leaf.kind)).collect();
    assert_eq!(sealed_records.len(), sealed.len(), "no record is sealed twice");
    assert_eq!(sealed_records, stored, "every stored record is sealed, under its kind");
    assert_eq!(count(&mut conn, "ledger_queue").await, 0);
    assert_eq!(count(&mut conn, "ledger_entries").await, n as i64);
    assert_eq!(store.ledger_strays(10).await.unwrap(), vec![]);

    assert_eq!(store.ledger_size().await.unwrap(), n);
    let hashes = store.ledger_leaf_hashes(0, n).await.unwrap();
    assert_eq!(hashes, sealed.iter().map(|leaf| leaf.leaf_hash).collect::<Vec<_>>());
    let records = store.ledger_records(0, n).await.unwrap();
    let models = RowCatalog::new(records.models, records.actors);
    for (stored, appended) in records.rows.iter().zip(&sealed) {
        assert_eq!(&stored.leaf, appended);
        let record = stored.record.as_ref().expect("every sealed record is stored");
        assert_eq!((record.kind(), record.record_id()), (appended.kind, appended.record_id));
        let spliced = record.spliced_leaf_hash(&models, &mut Vec::new()).unwrap();
        assert_eq!(spliced, Some(appended.leaf_hash), "the leaf recomputes from the stored text");
        let decoded = record.decode(&models).unwrap();
        assert_eq!(decoded.leaf_hash(), appended.leaf_hash, "and from the decoded record");
    }
    assert_eq!(records.rows.len(), sealed.len());
}

/// A sealer that appends in queue order puts every explanation after its prediction.
async fn assert_explanations_follow_their_predictions(store: &PgStore) {
    let records = store.ledger_records(0, u64::MAX).await.unwrap();
    let mut position = HashMap::new();
    for stored in &records.rows {
        match stored.record.as_ref().expect("every sealed record is stored") {
            StoredRecord::Prediction(row) => {
                position.insert(row.id, stored.leaf.seq);
            }
            StoredRecord::Explanation(explanation) => {
                let prediction = position.get(&explanation.prediction_ref).expect("its prediction is sealed before");
                assert!(*prediction < stored.leaf.seq);
            }
            StoredRecord::Outcome(_) | StoredRecord::Review(_) | StoredRecord::Access(_) => {}
        }
    }
}

#[tokio::test]
async fn every_write_path_queues_its_records_and_reads_show_the_seal() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    let everyone = Visibility::AllTenants;
    let outcomes = store.record_predictions(vec![prediction("a", true), prediction("b", false)]).await.unwrap();
    let [RecordOutcome::Created(a), RecordOutcome::Created(b)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!(a.ledger, None);
    // A replay writes nothing, so it queues nothing.
    let replayed = store.record_predictions(vec![prediction("a", true)]).await.unwrap();
    assert!(matches!(replayed.as_slice(), [RecordOutcome::Replayed(_)]), "{replayed:?}");
    let explanation = parse_explanation(json!({"method": "lime", "payload": {}}), timestamp::now()).unwrap();
    let attached =
        store.attach_explanation(&everyone, &PredictionRef("b".into()), explanation).await.unwrap().into_record();

    let inline = a.explanation.as_ref().expect("an inline explanation").id;
    let expected = [
        (LeafKind::Prediction, a.id),
        (LeafKind::Explanation, inline),
        (LeafKind::Prediction, b.id),
        (LeafKind::Explanation, attached.id),
    ];
    let pending = pending_leaves(&store, 100).await;
    let queued: Vec<_> = pending.iter().map(|p| (p.kind, p.record_id)).collect();
    assert_eq!(queued, expected, "queued in write order, each prediction before its explanation");
    assert!(pending.windows(2).all(|pair| pair[0].queue_id < pair[1].queue_id), "oldest first");
    assert_eq!(pending_leaves(&store, 2).await, pending[..2], "limit takes the oldest");
    assert_eq!(store.ledger_strays(10).await.unwrap(), vec![]);
    // The queued hash is the stored prediction's, as read back (its ledger entry aside: not
    // sealed yet).
    let stored_a = store.get_prediction(&everyone, &PredictionRef("a".into())).await.unwrap();
    assert_eq!(pending[0].leaf_hash, prediction_leaf_hash(&stored_a));

    let appends = seal_until_empty(&store, 3).await;
    assert_eq!(appends.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    let sealed: Vec<SealedLeaf> = appends.concat();
    for reference in ["a", "b"] {
        let read = store.get_prediction(&everyone, &PredictionRef(reference.into())).await.unwrap();
        let leaf = sealed.iter().find(|leaf| leaf.record_id == read.id).expect("sealed");
        let entry = read.ledger.expect("a sealed prediction shows its ledger entry");
        assert_eq!((entry.seq, entry.leaf_hash), (leaf.seq, leaf.leaf_hash));
    }
    let listed = store.list_predictions(&everyone, &Default::default(), &Default::default()).await.unwrap();
    assert!(listed.items.iter().all(|p| p.ledger.is_some()), "lists show the seal too");
    assert_sealed_exactly_once(&db, &store, vec![sealed]).await;
    assert_explanations_follow_their_predictions(&store).await;

    // Appending what is no longer queued (a retry, another sealer's win) appends nothing.
    let stale =
        NewLeaf { queue_id: pending[0].queue_id, kind: LeafKind::Prediction, record_id: a.id, leaf_hash: [0; 32] };
    assert_eq!(store.ledger_append(vec![stale]).await.unwrap(), vec![]);
    assert_eq!(store.ledger_append(vec![]).await.unwrap(), vec![]);
    assert_eq!(store.ledger_size().await.unwrap(), 4);
    assert_eq!(store.ledger_records(2, 100).await.unwrap().rows.len(), 2, "a range past the end stops at it");
    assert_eq!(store.ledger_leaf_hashes(4, 4).await.unwrap(), Vec::<[u8; 32]>::new());
}

#[tokio::test]
async fn a_leaf_listed_twice_or_under_another_record_is_appended_at_most_once() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    store.record_predictions(predictions("p", 2)).await.unwrap();
    let pending = pending_leaves(&store, 10).await;
    assert_eq!(pending.len(), 3, "p-0 is explained");
    let mut leaves = pending.clone();
    let mut mismatched = leaves[2].clone();
    mismatched.record_id = leaves[0].record_id; // p-1's queue entry, naming p-0's record
    leaves.insert(1, mismatched);
    leaves.push(leaves[0].clone());
    let sealed = store.ledger_append(leaves).await.unwrap();
    let expected: Vec<_> = pending.iter().map(|p| p.record_id).collect();
    assert_eq!(sealed.iter().map(|leaf| leaf.record_id).collect::<Vec<_>>(), expected);
    assert_sealed_exactly_once(&db, &store, vec![sealed]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealers_on_two_replicas_produce_one_gap_free_order() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.migrated().await), Arc::new(db.open().await)];
    for batch in 0..30 {
        replicas[batch % 2].record_predictions(predictions(&format!("b{batch}"), 10)).await.unwrap();
    }
    assert_eq!(count(&mut db.connect().await, "ledger_queue").await, 420, "300 predictions, 120 explanations");

    // Four sealers, two per replica, all reading the same oldest records and racing to append.
    let results = race(4, |task| {
        let store = replicas[task % 2].clone();
        async move {
            let (mut appends, mut lost) = (Vec::new(), 0);
            loop {
                match seal_once(&store, 25).await {
                    (0, _) => return (appends, lost),
                    (pending, sealed) => {
                        lost += pending - sealed.len();
                        appends.push(sealed);
                    }
                }
            }
        }
    })
    .await;
    let lost: usize = results.iter().map(|(_, lost)| lost).sum();
    eprintln!("leaves skipped because another sealer had taken them: {lost}");
    let appends: Vec<Vec<SealedLeaf>> = results.into_iter().flat_map(|(appends, _)| appends).collect();
    assert_eq!(appends.iter().map(Vec::len).sum::<usize>(), 420);
    assert_sealed_exactly_once(&db, &replicas[0], appends).await;
    assert_explanations_follow_their_predictions(&replicas[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealers_appending_disjoint_parts_at_once_neither_collide_nor_leave_gaps() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.migrated().await), Arc::new(db.open().await)];
    for batch in 0..12 {
        replicas[batch % 2].record_predictions(predictions(&format!("b{batch}"), 25)).await.unwrap();
    }
    // Each sealer appends what it read in small parts, starting at a different one: appends
    // with no queue entry in common run at once, which only the advisory lock serialises.
    let results = race(4, |task| {
        let store = replicas[task % 2].clone();
        async move {
            let mut appends = Vec::new();
            loop {
                let pending = pending_leaves(store.as_ref(), 80).await;
                if pending.is_empty() {
                    return appends;
                }
                let mut parts: Vec<Vec<NewLeaf>> = pending.chunks(5).map(<[NewLeaf]>::to_vec).collect();
                let len = parts.len();
                parts.rotate_left(task * len / 4);
                for part in parts {
                    appends.push(store.ledger_append(part).await.expect("the append commits"));
                }
            }
        }
    })
    .await;
    let appends: Vec<Vec<SealedLeaf>> = results.into_iter().flatten().collect();
    assert_eq!(appends.iter().map(Vec::len).sum::<usize>(), 12 * (25 + 9));
    assert_sealed_exactly_once(&db, &replicas[0], appends).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_written_while_sealing_are_each_sealed_once() {
    let db = TestDb::create().await;
    let replicas = [Arc::new(db.migrated().await), Arc::new(db.open().await)];
    const WRITERS: usize = 2;
    let writing = Arc::new(AtomicUsize::new(WRITERS));
    let tasks = race(WRITERS + 2, |task| {
        let store = replicas[task % 2].clone();
        let writing = writing.clone();
        async move {
            if task < WRITERS {
                for batch in 0..25 {
                    store.record_predictions(predictions(&format!("w{task}-{batch}"), 4)).await.unwrap();
                    if batch % 5 == 4 {
                        let explanation =
                            parse_explanation(json!({"method": "lime", "payload": {"batch": batch}}), timestamp::now());
                        let target = PredictionRef(format!("w{task}-{batch}-1"));
                        store.attach_explanation(&Visibility::AllTenants, &target, explanation.unwrap()).await.unwrap();
                    }
                }
                writing.fetch_sub(1, Ordering::SeqCst);
                return Vec::new();
            }
            let mut appends = Vec::new();
            loop {
                // Read before looking: when no writer is left, whatever they wrote is committed
                // and an empty queue then means everything is sealed.
                let finished = writing.load(Ordering::SeqCst) == 0;
                match seal_once(&store, 16).await {
                    (0, _) if finished => return appends,
                    (0, _) => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
                    (_, sealed) => appends.push(sealed),
                }
            }
        }
    })
    .await;
    let appends: Vec<Vec<SealedLeaf>> = tasks.into_iter().flatten().collect();
    let sealed = appends.iter().map(Vec::len).sum::<usize>();
    // Per writer: 100 predictions, 50 inline explanations (2 per batch), 5 attached ones.
    assert_eq!(sealed, WRITERS * (100 + 50 + 5));
    assert_sealed_exactly_once(&db, &replicas[0], appends).await;
    assert_explanations_follow_their_predictions(&replicas[0]).await;
}

#[tokio::test]
async fn ledger_rows_cannot_be_rewritten_over_sql() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    store.record_predictions(predictions("p", 3)).await.unwrap();
    seal_until_empty(&store, 100).await;
    let checkpoint = StoredCheckpoint {
        tree_size: 4,
        root_hash: [7; 32],
        note: "ml-audit.example/log\n4\nBwcH\n\n— signature\n".into(),
        frontier: vec![1, 2, 3],
        created_at: timestamp::now(),
    };
    store.save_checkpoint(&checkpoint).await.unwrap();
    let mut conn = db.connect().await;
    for sql in [
        "UPDATE ledger_entries SET leaf_hash = '\\x00'",
        "UPDATE ledger_entries SET seq = seq + 1 WHERE seq = 3",
        "DELETE FROM ledger_entries WHERE seq = 3",
        "TRUNCATE ledger_entries",
        "UPDATE ledger_checkpoints SET note = 'forged'",
        "DELETE FROM ledger_checkpoints",
        "TRUNCATE ledger_checkpoints",
    ] {
        let error = conn.execute(AssertSqlSafe(sql)).await.expect_err(sql).to_string();
        assert!(error.contains("append-only") && error.contains("is not allowed"), "{sql}: {error}");
    }
    assert_eq!(store.ledger_size().await.unwrap(), 4);
    assert_eq!(store.checkpoints().await.unwrap(), vec![checkpoint]);
}

#[tokio::test]
async fn checkpoints_are_kept_once_per_tree_size() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoints().await.unwrap(), vec![]);
    let checkpoint = |tree_size: u64, note: &str| StoredCheckpoint {
        tree_size,
        root_hash: [tree_size as u8; 32],
        note: note.into(),
        frontier: vec![tree_size as u8; 3],
        created_at: timestamp::now(),
    };
    let (ten, two) = (checkpoint(10, "ten"), checkpoint(2, "two"));
    store.save_checkpoint(&ten).await.unwrap();
    store.save_checkpoint(&two).await.unwrap();
    store.save_checkpoint(&checkpoint(10, "a second one for ten")).await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(ten.clone()));
    assert_eq!(store.checkpoints().await.unwrap(), vec![two, ten], "by tree size, the first for each kept");
}

#[tokio::test]
async fn rows_that_bypassed_the_write_path_or_vanished_are_visible() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    store.record_predictions(predictions("p", 4)).await.unwrap(); // p-0 and p-3 explained
    let sealed: Vec<SealedLeaf> = seal_until_empty(&store, 100).await.concat();
    assert_eq!(sealed.len(), 6);
    let mut conn = db.connect().await;

    // Inserted with SQL: the append-only triggers allow INSERT, but nothing queued the rows.
    let slipped_in = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO predictions (id, prediction_id, ts, model_ref, actor_ref, tenant_id, features, redactions,
            metadata, metadata_redactions, output, status, content_hash, created_at)
         SELECT $1, 'slipped-in', ts, model_ref, actor_ref, tenant_id, features, redactions, metadata,
            metadata_redactions, '{\"score\": 1.0}', status, content_hash, created_at
           FROM predictions WHERE prediction_id = 'p-1'",
    )
    .bind(slipped_in)
    .execute(&mut conn)
    .await
    .unwrap();
    let forged_explanation = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO explanations (id, prediction_ref, revision, method, payload, status, generated_at, created_at)
         SELECT $1, prediction_ref, revision + 1, 'forged', payload, status, generated_at, created_at
           FROM explanations LIMIT 1",
    )
    .bind(forged_explanation)
    .execute(&mut conn)
    .await
    .unwrap();
    let strays = store.ledger_strays(10).await.unwrap();
    assert_eq!(
        strays.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([(LeafKind::Prediction, slipped_in), (LeafKind::Explanation, forged_explanation)])
    );
    assert_eq!(store.ledger_strays(1).await.unwrap().len(), 1, "at most the limit");
    assert!(pending_leaves(&store, 100).await.is_empty(), "strays are not pending");

    // Deleted as an attacker would, with the triggers off: a sealed prediction (p-1, which has
    // no explanation to hold it by its foreign key) and a sealed explanation.
    let victim: Uuid = sqlx::query_scalar("SELECT id FROM predictions WHERE prediction_id = 'p-1'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let victim_explanation = sealed.iter().find(|leaf| leaf.kind == LeafKind::Explanation).unwrap().record_id;
    // And two recorded but not sealed yet: one queued with its hash, one as a version before
    // queued hashes queued it (without), so that the sealer has to read its row.
    let outcomes =
        store.record_predictions(vec![prediction("unsealed", false), prediction("legacy", false)]).await.unwrap();
    let [RecordOutcome::Created(unsealed), RecordOutcome::Created(legacy)] = outcomes.as_slice() else {
        panic!("both are new")
    };
    sqlx::query("UPDATE ledger_queue SET leaf_hash = NULL WHERE record_id = $1")
        .bind(legacy.id)
        .execute(&mut conn)
        .await
        .unwrap();
    for sql in [
        "ALTER TABLE predictions DISABLE TRIGGER USER",
        "ALTER TABLE explanations DISABLE TRIGGER USER",
        "DELETE FROM predictions WHERE prediction_id IN ('unsealed', 'legacy')",
    ] {
        conn.execute(AssertSqlSafe(sql)).await.expect(sql);
    }
    for (table, id) in [("predictions", victim), ("explanations", victim_explanation)] {
        let deleted = sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE id = $1")))
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(deleted.rows_affected(), 1, "{table}");
    }

    let records = store.ledger_records(0, 100).await.unwrap();
    assert_eq!(records.rows.len(), 6);
    for stored in &records.rows {
        let missing = [victim, victim_explanation].contains(&stored.leaf.record_id);
        assert_eq!(stored.record.is_none(), missing, "{:?}", stored.leaf);
        assert_eq!(&stored.leaf, &sealed[stored.leaf.seq as usize], "the entries themselves are intact");
    }
    let pending = pending_leaves(&store, 100).await;
    assert_eq!(
        pending.iter().map(|leaf| leaf.record_id).collect::<Vec<_>>(),
        [unsealed.id],
        "a record queued with its hash is sealed though its row is gone (verify reports it missing); \
         one queued without, whose row is gone, cannot be hashed and is skipped"
    );
    assert_eq!(pending[0].leaf_hash, prediction_leaf_hash(unsealed), "the hash of the record as written");
    assert_eq!(count(&mut conn, "ledger_queue").await, 2, "and stays queued");
    let outcomes = store.record_predictions(vec![prediction("after", false)]).await.unwrap();
    let [RecordOutcome::Created(after)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    let pending = pending_leaves(&store, 2).await;
    assert_eq!(
        pending.iter().map(|leaf| leaf.record_id).collect::<Vec<_>>(),
        [unsealed.id, after.id],
        "nor holds up the records behind it"
    );
}

#[tokio::test]
async fn migrating_a_database_with_history_queues_it_oldest_first() {
    let db = TestDb::create().await;
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    sqlx::migrate!("./migrations").run_to(1, &pool).await.expect("the schema before the ledger");
    let model = Uuid::now_v7();
    sqlx::query("INSERT INTO model_versions (id, model_name, version, created_at) VALUES ($1, 'fraud', '1', now())")
        .bind(model)
        .execute(&pool)
        .await
        .unwrap();
    // Written in the order c (minute 1), then a and its explanation (minute 2), then b (minute
    // 3); inserted here in another order.
    let ids: HashMap<&str, Uuid> = ["a", "b", "c", "a-explained"].into_iter().map(|n| (n, Uuid::now_v7())).collect();
    for (name, minute) in [("b", 3), ("a", 2), ("c", 1)] {
        sqlx::query(
            "INSERT INTO predictions (id, prediction_id, ts, model_ref, features, redactions, metadata,
                metadata_redactions, output, status, content_hash, created_at)
             VALUES ($1, $2, now(), $3, '{}', '[]', '{}', '[]', '{}', 'success', '', $4)",
        )
        .bind(ids[name])
        .bind(name)
        .bind(model)
        .bind(timestamp::parse_rfc3339(&format!("2026-11-27T08:0{minute}:00Z")).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO explanations (id, prediction_ref, revision, method, payload, status, generated_at, created_at)
         SELECT $1, id, 1, 'shap', '{}', 'success', created_at, created_at FROM predictions WHERE id = $2",
    )
    .bind(ids["a-explained"])
    .bind(ids["a"])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = db.migrated().await;
    let pending = pending_leaves(&store, 100).await;
    let queued: Vec<_> = pending.iter().map(|p| (p.kind, p.record_id)).collect();
    let mut minute_2 = [(LeafKind::Prediction, ids["a"]), (LeafKind::Explanation, ids["a-explained"])];
    minute_2.sort_by_key(|&(_, id)| id); // same created_at: by id
    let expected =
        [vec![(LeafKind::Prediction, ids["c"])], minute_2.to_vec(), vec![(LeafKind::Prediction, ids["b"])]].concat();
    assert_eq!(queued, expected);
    let appends = seal_until_empty(&store, 100).await;
    assert_sealed_exactly_once(&db, &store, appends).await;
}
