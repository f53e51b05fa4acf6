//! The tamper-evident ledger over HTTP, and `verify` against an attacker with a SQL shell:
//! append-only triggers dropped, then rows updated, deleted, inserted, reordered.

use std::time::Duration;

use base64::Engine as _;
use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::review::ReviewPolicy;
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::verify::{Report, verify_derived, verify_exported_proof, verify_log};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use ml_audit_server::ServerSettings;

use crate::helpers::{Backend, FAST_SEALING, TestApp, event, with};

on_both_backends!(
    every_prediction_and_explanation_is_sealed_in_one_order,
    an_inclusion_proof_verifies_against_the_signed_checkpoint_offline,
    consistency_proofs_link_successive_checkpoints,
    an_untouched_log_verifies,
    verify_catches_a_changed_prediction_field,
    verify_catches_an_altered_or_removed_access_entry,
    verify_catches_a_changed_explanation,
    verify_catches_an_edited_outcome_or_review,
    verify_catches_derived_state_that_departs_from_the_records,
    verify_catches_a_changed_model_or_actor_row,
    rows_stored_before_json_columns_were_canonical_still_verify,
    integers_beyond_2_pow_53_are_stored_exactly_and_verify,
    verify_catches_text_shifted_between_json_columns,
    verify_catches_a_deleted_prediction,
    verify_catches_an_inserted_prediction,
    verify_catches_two_swapped_entries,
    verify_catches_a_truncated_tail,
    verify_catches_a_forged_or_re_signed_checkpoint,
    two_servers_with_concurrent_writers_produce_one_log_that_verifies,
    a_checkpoint_covers_everything_recorded_before_it_while_another_sealer_runs,
);

/// Records `n` predictions (every third with an explanation attached after), seals them and
/// signs a checkpoint; returns the stored predictions.
async fn filled(app: &TestApp, n: usize) -> Vec<Value> {
    let mut stored = Vec::new();
    for i in 0..n {
        let body = with(
            with(event(if i % 2 == 0 { "fraud" } else { "credit" }), "prediction_id", json!(format!("p-{i}"))),
            "actor",
            json!({"actor_type": "user", "actor_id": format!("u{}", i % 3), "tenant_id": "acme"}),
        );
        let prediction = app.record(&body).await;
        if i % 3 == 0 {
            let path = format!("/api/v1/predictions/p-{i}/explanation");
            let attached = app.post(&path, &app.admin_key, &json!({"method": "shap", "payload": {"age": 0.1}})).await;
            assert_eq!(attached.status(), StatusCode::CREATED);
        }
        stored.push(prediction);
    }
    let checkpoint = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await;
    assert_eq!(checkpoint.status(), StatusCode::CREATED);
    stored
}

async fn checkpoint(app: &TestApp) -> Value {
    app.post("/api/v1/ledger/checkpoint", &app.admin_key, &json!({})).await.json().await.unwrap()
}

async fn verify(app: &TestApp) -> Report {
    let verifier = app.sealer.key().verifier().clone();
    verify_log(app.store.clone(), &verifier, None, &mut |_, _| {}).await.expect("verify runs")
}

/// Records `n` predictions in a new app (see [`filled`]), lets the attacker run `attack` on its
/// database, and returns what `verify` reports, with the stored predictions.
async fn verify_after_attack(backend: Backend, n: usize, attack: &[&str]) -> (Report, Vec<Value>) {
    let app = TestApp::spawn(backend).await;
    let stored = filled(&app, n).await;
    let attacker = Attacker::connect(&app, backend).await;
    for sql in attack {
        attacker.run(sql).await;
    }
    (verify(&app).await, stored)
}

/// Asserts that one of the report's problems says `text`.
fn assert_reported(report: &Report, text: &str) {
    assert!(report.problems.iter().any(|p| p.message.contains(text)), "{:?}", report.problems);
}

fn hex_hash(value: &Value) -> Hash {
    hex::decode(value.as_str().unwrap()).unwrap().try_into().unwrap()
}

async fn every_prediction_and_explanation_is_sealed_in_one_order(backend: Backend) {
    let settings = ServerSettings { ledger_schedule: FAST_SEALING, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    let stored = filled(&app, 6).await;
    // 6 predictions + 2 explanations (p-0, p-3) = 8 leaves.
    let head = checkpoint(&app).await;
    assert_eq!(head["tree_size"], 8);
    let mut seqs = Vec::new();
    for prediction in &stored {
        let shown: Value = app
            .get(&format!("/api/v1/predictions/{}", prediction["id"].as_str().unwrap()), &app.admin_key)
            .await
            .json()
            .await
            .unwrap();
        seqs.push(shown["ledger"]["seq"].as_u64().expect("sealed"));
        assert_eq!(shown["ledger"]["leaf_hash"].as_str().unwrap().len(), 64);
    }
    let mut sorted = seqs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "each prediction has its own leaf: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sealed in the order written: {seqs:?}");
    // A prediction recorded now is sealed as it commits (SQLite) or shortly after, by the
    // background sealer (PostgreSQL).
    let late = app.record(&with(event("m"), "prediction_id", json!("late"))).await;
    let mut sealed = late["ledger"].clone();
    assert_eq!(sealed.is_null(), !backend.seals_at_commit(), "answered at commit: {late}");
    for _ in 0..200 {
        if !sealed.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        sealed =
            app.get("/api/v1/predictions/late", &app.admin_key).await.json::<Value>().await.unwrap()["ledger"].clone();
    }
    // After every earlier leaf (the access entries of the reads above are leaves too).
    assert!(sealed["seq"].as_u64().unwrap() >= 8, "{sealed}");
}

async fn an_inclusion_proof_verifies_against_the_signed_checkpoint_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    filled(&app, 5).await;
    let proof: Value = app.get("/api/v1/predictions/p-2/proof", &app.admin_key).await.json().await.unwrap();
    let note = proof["checkpoint"].as_str().expect("the latest checkpoint covers it").to_owned();
    let public: Value = app.get("/api/v1/ledger/public-key", &app.admin_key).await.json().await.unwrap();
    let verifier = ml_audit_ledger::key::LedgerVerifier::from_vkey(public["vkey"].as_str().unwrap()).unwrap();
    let signed: Checkpoint = verify_exported_proof(&proof, &note, &verifier).expect("the record verifies");
    assert_eq!(signed.tree_size, proof["tree_size"].as_u64().unwrap());
    // The leaf is the v2 seal: the fields an erasure keeps, in clear, and the commitment to the
    // record as the API shows it through its salt.
    let data = base64::engine::general_purpose::STANDARD.decode(proof["leaf_data"].as_str().unwrap()).unwrap();
    let seal: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!((seal["v"].clone(), seal["id"].clone()), (json!(2), proof["record"]["id"].clone()));
    assert!(seal.get("prediction_id").is_none() && seal.get("features").is_none(), "{seal}");
    assert_eq!(proof["record"]["prediction_id"], "p-2");
    let salt = hex::decode(proof["salt"].as_str().expect("a v2 record's salt")).unwrap();
    let record = ml_audit_core::ledger::canonical::to_canonical_vec(&proof["record"]);
    let commitment = ml_audit_core::ledger::record::commitment(&salt, &record);
    assert_eq!(seal["commitment"], json!(hex::encode(commitment)));
    // A changed record no longer matches its seal.
    let mut altered = proof.clone();
    altered["record"]["features"]["age"] = json!(43);
    assert!(verify_exported_proof(&altered, &note, &verifier).is_err());
    // Any flipped bit in the record or the path fails.
    let mut altered = proof.clone();
    let mut bytes = data.clone();
    bytes[10] ^= 1;
    altered["leaf_data"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    assert!(verify_exported_proof(&altered, &note, &verifier).is_err());
    let mut altered = proof.clone();
    let first = altered["inclusion_path"][0].as_str().unwrap().to_owned();
    altered["inclusion_path"][0] = json!(format!("{}{}", if first.starts_with('0') { "1" } else { "0" }, &first[1..]));
    assert!(verify_exported_proof(&altered, &note, &verifier).is_err());
    // A checkpoint signed by another key is refused.
    let forger = LedgerKey::ephemeral("ml-audit.test/log").unwrap();
    let signed_tree = verifier.verify(&note).unwrap();
    let forged = forger.sign(&signed_tree).unwrap();
    assert!(verify_exported_proof(&proof, &forged, &verifier).is_err());
    // Proofs are tenant-scoped like the predictions.
    let globex = app.key(ml_audit_core::auth::KeyScope::Read, Some("globex")).await;
    assert_eq!(app.get("/api/v1/predictions/p-2/proof", &globex).await.status(), StatusCode::NOT_FOUND);
}

async fn consistency_proofs_link_successive_checkpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    filled(&app, 3).await;
    let old = checkpoint(&app).await;
    for i in 0..4 {
        app.record(&with(event("m"), "prediction_id", json!(format!("more-{i}")))).await;
    }
    let new = checkpoint(&app).await;
    let (m, n) = (old["tree_size"].as_u64().unwrap(), new["tree_size"].as_u64().unwrap());
    assert!(n > m);
    let proof: Value =
        app.get(&format!("/api/v1/ledger/consistency?from={m}&to={n}"), &app.admin_key).await.json().await.unwrap();
    let path: Vec<Hash> = proof["proof"].as_array().unwrap().iter().map(hex_hash).collect();
    merkle::verify_consistency(m, n, &hex_hash(&old["root_hash"]), &hex_hash(&new["root_hash"]), &path)
        .expect("consistent");
    assert!(
        merkle::verify_consistency(m, n, &hex_hash(&new["root_hash"]), &hex_hash(&new["root_hash"]), &path).is_err()
    );
    let bad = app.get("/api/v1/ledger/consistency?from=0&to=2", &app.admin_key).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let beyond = app.get(&format!("/api/v1/ledger/consistency?from=1&to={}", n + 5), &app.admin_key).await;
    assert_eq!(beyond.status(), StatusCode::BAD_REQUEST);
}

async fn an_untouched_log_verifies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    filled(&app, 7).await;
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.leaves, 7 + 3);
    assert_eq!(report.checkpoints, 1);
}

/// Access entries are leaves: one edited or deleted behind ml-audit's back is caught.
async fn verify_catches_an_altered_or_removed_access_entry(backend: Backend) {
    for (attack, problem) in [
        ("UPDATE access_entries SET route = 'GET /somewhere/else'", "was altered"),
        ("UPDATE access_entries SET predictions = '[]'", "was altered"),
        ("DELETE FROM access_entries", "missing (deleted)"),
    ] {
        let app = TestApp::spawn(backend).await;
        filled(&app, 2).await;
        assert_eq!(app.get("/api/v1/predictions?limit=5", &app.admin_key).await.status(), StatusCode::OK);
        let page = ml_audit_core::query::PageRequest { limit: 10, after: None };
        let visible = ml_audit_core::auth::Visibility::AllTenants;
        for _ in 0..250 {
            if !app.store.list_access(&visible, &Default::default(), &page).await.unwrap().items.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        app.seal().await;
        let report = verify(&app).await;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.leaves >= 3, "two predictions and at least the list's access entry");
        Attacker::connect(&app, backend).await.run(attack).await;
        let report = verify(&app).await;
        assert_reported(&report, problem);
        assert!(report.problems.iter().any(|p| p.message.contains("access")), "{attack}: {:?}", report.problems);
    }
}

async fn verify_catches_a_changed_prediction_field(backend: Backend) {
    let (report, stored) = verify_after_attack(
        backend,
        5,
        &["UPDATE predictions SET decision_outcome = 'approved' WHERE prediction_id = 'p-3'"],
    )
    .await;
    let id = stored[3]["id"].as_str().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].message.contains("altered") && report.problems[0].message.contains(id),
        "{:?}",
        report.problems
    );
}

async fn verify_catches_a_changed_explanation(backend: Backend) {
    let (report, _) = verify_after_attack(backend, 4, &["UPDATE explanations SET summary_text = 'benign'"]).await;
    assert_eq!(
        report.problems.iter().filter(|p| p.message.contains("explanation") && p.message.contains("altered")).count(),
        2,
        "{:?}",
        report.problems
    );
}

/// Outcomes and reviews are leaves like predictions: an edited label, an edited override, a
/// removed review are each caught, and nothing else is reported.
async fn verify_catches_an_edited_outcome_or_review(backend: Backend) {
    let attacks: [(&str, &str); 4] = [
        ("UPDATE outcomes SET label = 'legit' WHERE outcome_id = 'o-1'", "outcome"),
        ("UPDATE outcomes SET observed_at = created_at WHERE outcome_id = 'o-1'", "outcome"),
        ("UPDATE reviews SET final_decision = 'approve' WHERE review_id = 'r-1'", "review"),
        ("DELETE FROM reviews WHERE review_id = 'r-1'", "review"),
    ];
    for (attack, kind) in attacks {
        let app = TestApp::spawn(backend).await;
        filled(&app, 3).await;
        let outcome = json!({"outcome_id": "o-1", "label": "fraud", "value": 1.0, "source": "chargeback"});
        let recorded = app.post("/api/v1/predictions/p-1/outcomes", &app.admin_key, &outcome).await;
        assert_eq!(recorded.status(), StatusCode::CREATED);
        let review = json!({"review_id": "r-1", "reviewer": {"reviewer_id": "u-9", "name": "Ann"},
                            "action": "override", "final_decision": "decline", "comment": "checked"});
        let recorded = app.post("/api/v1/predictions/p-2/reviews", &app.admin_key, &review).await;
        assert_eq!(recorded.status(), StatusCode::CREATED);
        checkpoint(&app).await;
        let untouched = verify(&app).await;
        assert!(untouched.intact(), "{:?}", untouched.problems);
        assert_eq!((untouched.leaves, untouched.intact), (3 + 1 + 2, 3 + 1 + 2));
        Attacker::connect(&app, backend).await.run(attack).await;
        let report = verify(&app).await;
        assert_eq!(report.problems.len(), 1, "{attack}: {:?}", report.problems);
        assert!(report.problems[0].message.contains(kind), "{attack}: {:?}", report.problems);
    }
}

/// What the list filters, a prediction's `final_decision` and the quality figures read is
/// derived data (no ledger leaf of its own): `verify` recomputes it from the outcomes and reviews
/// and reports a change made behind their back.
async fn verify_catches_derived_state_that_departs_from_the_records(backend: Backend) {
    let attacks: [(&str, &str); 4] = [
        ("UPDATE prediction_state SET final_decision = 'approve', overridden = 0", "derived state"),
        ("UPDATE prediction_state SET outcome_label = 'legit'", "derived state"),
        ("DELETE FROM prediction_state", "no derived state"),
        ("UPDATE quality_totals SET reviewed = reviewed + 3", "quality totals"),
    ];
    for (attack, found) in attacks {
        let app = TestApp::spawn(backend).await;
        filled(&app, 3).await;
        let outcome = json!({"label": "fraud", "value": 1.0, "source": "chargeback"});
        assert_eq!(
            app.post("/api/v1/predictions/p-1/outcomes", &app.admin_key, &outcome).await.status(),
            StatusCode::CREATED
        );
        let review = json!({"reviewer": {"reviewer_id": "u-9"}, "action": "override", "final_decision": "decline"});
        assert_eq!(
            app.post("/api/v1/predictions/p-1/reviews", &app.admin_key, &review).await.status(),
            StatusCode::CREATED
        );
        let derived = |app: &TestApp| {
            let store = app.store.clone();
            async move {
                let mut report = Report::default();
                verify_derived(store.as_ref(), &ReviewPolicy::default(), &mut report).await.unwrap();
                report
            }
        };
        let untouched = derived(&app).await;
        assert!(untouched.intact(), "{:?}", untouched.problems);
        Attacker::connect(&app, backend).await.run(attack).await;
        let report = derived(&app).await;
        assert!(
            !report.problems.is_empty() && report.problems.iter().all(|p| p.message.contains(found)),
            "{attack}: {:?}",
            report.problems
        );
        assert!(verify(&app).await.intact(), "the ledger itself is untouched");
    }
}

async fn verify_catches_a_changed_model_or_actor_row(backend: Backend) {
    let (report, _) = verify_after_attack(
        backend,
        4,
        &["UPDATE model_versions SET framework = 'forged' WHERE model_name = 'credit'"],
    )
    .await;
    // p-1 and p-3 use the credit model.
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    let (report, _) =
        verify_after_attack(backend, 4, &["UPDATE actors SET actor_id = 'someone-else' WHERE actor_id = 'u0'"]).await;
    // p-0 and p-3 were asked for by u0.
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
}

/// A JSON column holding an integer that RFC 8785 would round (beyond ±2^53) is stored exactly,
/// while its leaf commits to the canonical form; written alone and in a batch, the log verifies,
/// and a change to the exact digits still shows.
async fn integers_beyond_2_pow_53_are_stored_exactly_and_verify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let exact = |prediction_id: &str| {
        let body = with(event("fraud"), "features", json!({"account": 9_007_199_254_740_993u64, "amount": 1.5}));
        let actor =
            json!({"actor_type": "user", "actor_id": "u1", "auth_context": {"session": -9_007_199_254_740_995i64}});
        with(with(body, "actor", actor), "prediction_id", json!(prediction_id))
    };
    app.record(&exact("alone")).await;
    let batch = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({"events": [exact("in-batch")]})).await;
    assert_eq!(batch.status(), StatusCode::OK);
    checkpoint(&app).await;
    let attacker = Attacker::connect(&app, backend).await;
    let stored = attacker.texts("SELECT features FROM predictions ORDER BY prediction_id").await;
    assert_eq!(stored, [r#"{"account":9007199254740993,"amount":1.5}"#; 2], "kept exactly");
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.leaves, 2);

    attacker.run(r#"UPDATE predictions SET features = '{"account":9007199254740995,"amount":1.5}' WHERE prediction_id = 'in-batch'"#).await;
    let report = verify(&app).await;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].message.contains("altered"), "{:?}", report.problems);

    // The leaf holds the double RFC 8785 makes of the integer (any JCS library recomputes it),
    // so a change within that rounding is not seen: the documented limit of the proof.
    attacker.run(r#"UPDATE predictions SET features = '{"account":9007199254740992,"amount":1.5}' WHERE prediction_id = 'alone'"#).await;
    assert_eq!(verify(&app).await.problems.len(), 1, "only in-batch's change shows");
}

/// Databases written before JSON columns were stored in RFC 8785 form hold `serde_json`'s text
/// (`120.0`, any member order): those rows verify by decoding, and a real change still shows.
async fn rows_stored_before_json_columns_were_canonical_still_verify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = with(event("fraud"), "features", json!({"amount": 120.0, "nested": {"b": [1.5, "x"], "a": null}}));
    app.record(&with(body, "prediction_id", json!("old"))).await;
    checkpoint(&app).await;
    let attacker = Attacker::connect(&app, backend).await;
    let stored = attacker.texts("SELECT features FROM predictions").await;
    assert_eq!(stored, [r#"{"amount":120,"nested":{"a":null,"b":[1.5,"x"]}}"#], "stored canonical");

    attacker
        .run(r#"UPDATE predictions SET features = '{"nested": {"b": [1.5, "x"], "a": null}, "amount": 120.0}'"#)
        .await;
    let report = verify(&app).await;
    assert!(report.intact(), "the same values in another form: {:?}", report.problems);

    attacker
        .run(r#"UPDATE predictions SET features = '{"nested": {"b": [1.5, "x"], "a": null}, "amount": 120.5}'"#)
        .await;
    let report = verify(&app).await;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].message.contains("altered"), "{:?}", report.problems);
}

/// Text moved from one JSON column into its neighbour would splice into the sealed bytes
/// unchanged; verify refuses a column that is not one JSON value instead of splicing it.
async fn verify_catches_text_shifted_between_json_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = with(event("fraud"), "metadata", json!({"a": {"b": 1, "metadata_redactions": 2}}));
    app.record(&with(body, "prediction_id", json!("shift"))).await;
    checkpoint(&app).await;
    assert!(verify(&app).await.intact());
    let attacker = Attacker::connect(&app, backend).await;
    attacker
        .run(r#"UPDATE predictions SET metadata = '{"a":{"b":1', metadata_redactions = '2}},"metadata_redactions":[]'"#)
        .await;
    let report = verify(&app).await;
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].message.contains("its metadata is not JSON"), "{:?}", report.problems);
}

async fn verify_catches_a_deleted_prediction(backend: Backend) {
    let (report, _) = verify_after_attack(backend, 5, &["DELETE FROM predictions WHERE prediction_id = 'p-4'"]).await;
    assert!(report.problems[0].message.contains("missing (deleted)"), "{:?}", report.problems);
}

async fn verify_catches_an_inserted_prediction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    filled(&app, 3).await;
    let attacker = Attacker::connect(&app, backend).await;
    attacker.insert_copy_of("p-1", Uuid::now_v7(), "slipped-in").await;
    let report = verify(&app).await;
    assert_reported(&report, "not in the ledger");
    // The inserted row is visible through the API, but never gets a ledger entry.
    let shown: Value = app.get("/api/v1/predictions/slipped-in", &app.admin_key).await.json().await.unwrap();
    assert!(shown["ledger"].is_null());
}

async fn verify_catches_two_swapped_entries(backend: Backend) {
    // Reorder history: leaves 1 and 2 trade places (leaf hashes and records move together).
    let swap = [
        "UPDATE ledger_entries SET seq = 1000 WHERE seq = 1",
        "UPDATE ledger_entries SET seq = 1 WHERE seq = 2",
        "UPDATE ledger_entries SET seq = 2 WHERE seq = 1000",
    ];
    let (report, _) = verify_after_attack(backend, 4, &swap).await;
    assert_reported(&report, "do not match the signed checkpoint");
}

async fn verify_catches_a_truncated_tail(backend: Backend) {
    // The newest leaf (p-3's explanation) and its record disappear without a trace.
    let truncate = [
        "DELETE FROM ledger_entries WHERE seq = (SELECT MAX(seq) FROM ledger_entries)",
        "DELETE FROM explanations WHERE prediction_ref = (SELECT id FROM predictions WHERE prediction_id = 'p-3')",
    ];
    let (report, _) = verify_after_attack(backend, 4, &truncate).await;
    assert!(report.problems[0].message.contains("entries were removed from the end"), "{:?}", report.problems);
}

async fn verify_catches_a_forged_or_re_signed_checkpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    filled(&app, 3).await;
    // Another key signs the real tree head: a forged checkpoint.
    let forger = LedgerKey::ephemeral("ml-audit.test/log").unwrap();
    let head = checkpoint(&app).await;
    let mut tree = app.sealer.key().verify(head["note"].as_str().unwrap()).unwrap();
    tree.tree_size += 1;
    let attacker = Attacker::connect(&app, backend).await;
    attacker.insert_checkpoint(&tree, &forger.sign(&tree).unwrap()).await;
    let report = verify(&app).await;
    assert_reported(&report, "not signed by the ledger key");
    // The real checkpoint re-signed by another key (as after rewriting history) is caught too.
    let app = TestApp::spawn(backend).await;
    filled(&app, 3).await;
    let head = checkpoint(&app).await;
    let tree = app.sealer.key().verify(head["note"].as_str().unwrap()).unwrap();
    let attacker = Attacker::connect(&app, backend).await;
    attacker.run(&format!("UPDATE ledger_checkpoints SET note = '{}'", forger.sign(&tree).unwrap())).await;
    let report = verify(&app).await;
    assert_reported(&report, "not signed by the ledger key");
}

/// Builds and runs the same query on whichever pool the attacker holds (sqlx's query types differ
/// per database).
macro_rules! on_pool {
    ($attacker:expr, |$pool:ident| $query:expr) => {
        match $attacker {
            Attacker::Sqlite($pool) => $query,
            Attacker::Postgres($pool) => $query,
        }
    };
}

/// A person with a SQL shell on the database: disables the append-only triggers and edits rows.
enum Attacker {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Attacker {
    async fn connect(app: &TestApp, backend: Backend) -> Attacker {
        let attacker = match backend {
            Backend::Sqlite => Attacker::Sqlite(sqlx::SqlitePool::connect(&app.db_url).await.unwrap()),
            Backend::Postgres => Attacker::Postgres(sqlx::PgPool::connect(&app.db_url).await.unwrap()),
        };
        match &attacker {
            Attacker::Sqlite(pool) => {
                let triggers: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for trigger in triggers {
                    attacker.run(&format!("DROP TRIGGER {trigger}")).await;
                }
            }
            Attacker::Postgres(_) => {
                for table in [
                    "predictions",
                    "explanations",
                    "outcomes",
                    "reviews",
                    "model_versions",
                    "actors",
                    "ledger_entries",
                    "ledger_checkpoints",
                    "access_entries",
                ] {
                    attacker.run(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
                }
            }
        }
        attacker
    }

    async fn run(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_pool!(self, |pool| sqlx::query(sql).execute(pool).await.map(drop))
            .unwrap_or_else(|e| panic!("attack failed: {e}"));
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_all(pool).await).unwrap()
    }

    /// Inserts a copy of a recorded prediction under a new id, bypassing ml-audit.
    async fn insert_copy_of(&self, prediction_id: &str, id: Uuid, new_prediction_id: &str) {
        let columns = "ts, model_ref, actor_ref, tenant_id, actor_ip, actor_user_agent, actor_auth_context, trace_id, \
                       environment, decision_outcome, input_fingerprint, features, redactions, metadata, \
                       metadata_redactions, output, confidence, status, latency_ms, content_hash, created_at";
        let sql = format!(
            "INSERT INTO predictions (id, prediction_id, {columns}) SELECT $1, $2, {columns} FROM predictions WHERE prediction_id = $3"
        );
        let sql = match self {
            Attacker::Sqlite(_) => sql.replace('$', "?"),
            Attacker::Postgres(_) => sql,
        };
        on_pool!(self, |pool| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(new_prediction_id).bind(prediction_id);
            query.execute(pool).await.map(drop)
        })
        .unwrap();
    }

    async fn insert_checkpoint(&self, tree: &Checkpoint, note: &str) {
        let sql = "INSERT INTO ledger_checkpoints (tree_size, root_hash, note, frontier, created_at) VALUES ($1, $2, $3, $4, $5)";
        let size = tree.tree_size as i64;
        match self {
            Attacker::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql.replace('$', "?")))
                .bind(size)
                .bind(tree.root.as_slice())
                .bind(note)
                .bind(Vec::<u8>::new())
                .bind(0_i64)
                .execute(pool)
                .await
                .map(drop),
            Attacker::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(size)
                .bind(tree.root.as_slice())
                .bind(note)
                .bind(Vec::<u8>::new())
                .bind(time::OffsetDateTime::now_utc())
                .execute(pool)
                .await
                .map(drop),
        }
        .unwrap();
    }
}

async fn two_servers_with_concurrent_writers_produce_one_log_that_verifies(backend: Backend) {
    let fast = || ServerSettings { ledger_schedule: FAST_SEALING, ..ServerSettings::default() };
    let app = std::sync::Arc::new(TestApp::spawn_with(backend, fast()).await);
    let replica = app.spawn_replica(fast()).await;
    let servers = [app.address, replica.address];
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..15 {
                    let server = servers[(writer + i) % 2];
                    let id = format!("w{writer}-{i}");
                    let body = with(event("m"), "prediction_id", json!(id));
                    let url = format!("http://{server}/api/v1/predictions");
                    let recorded = app.client.post(&url).bearer_auth(&app.admin_key).json(&body).send().await.unwrap();
                    assert_eq!(recorded.status(), StatusCode::CREATED);
                    if i % 5 == 0 {
                        let url = format!("http://{server}/api/v1/predictions/{id}/explanation");
                        let explanation = json!({"method": "shap", "payload": {"age": writer}});
                        let attached =
                            app.client.post(&url).bearer_auth(&app.admin_key).json(&explanation).send().await.unwrap();
                        assert_eq!(attached.status(), StatusCode::CREATED);
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Both sealers have been racing the whole time; both sign now.
    for server in servers {
        let url = format!("http://{server}/api/v1/ledger/checkpoint");
        let signed = app.client.post(&url).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_eq!(signed.status(), StatusCode::CREATED);
    }
    let report = verify(&app).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.leaves, 8 * 15 + 8 * 3, "every prediction and explanation, once");
    let head = checkpoint(&app).await;
    assert_eq!(head["tree_size"], 8 * 15 + 8 * 3);
    // The UI's running totals, folded by whichever sealer appended each leaf, count each once.
    let all = ml_audit_core::auth::Visibility::AllTenants;
    let stats = app.store.model_version_stats(&all).await.unwrap();
    assert_eq!(stats.iter().map(|s| s.predictions).sum::<u64>(), 8 * 15);
    let day = time::Duration::days(1);
    let now = ml_audit_core::timestamp::now();
    let window = ml_audit_storage::TimeWindow { from: now - day, to: now + day };
    let hourly = app.store.hourly_counts(&all, &window).await.unwrap();
    assert_eq!(hourly.iter().map(|h| h.count).sum::<u64>(), 8 * 15);
}

async fn a_checkpoint_covers_everything_recorded_before_it_while_another_sealer_runs(backend: Backend) {
    // Several sealer batches are queued and a second sealer claims rows at the same time: the
    // on-demand seal must not take a batch shortened by the other sealer for an empty queue.
    let app = TestApp::spawn(backend).await;
    let total = 6000;
    for batch in 0..total / 1000 {
        let events: Vec<Value> =
            (0..1000).map(|i| with(event("m"), "prediction_id", json!(format!("b{batch}-{i}")))).collect();
        let recorded = app.post("/api/v1/predictions/batch", &app.admin_key, &json!({ "events": events })).await;
        assert_eq!(recorded.status(), StatusCode::OK);
    }
    let no_body = json!({});
    let (_, signed) = tokio::join!(app.seal(), app.post("/api/v1/ledger/checkpoint", &app.admin_key, &no_body));
    assert_eq!(signed.status(), StatusCode::CREATED);
    let head: Value = signed.json().await.unwrap();
    assert_eq!(head["tree_size"], total, "the checkpoint covers every prediction recorded before it");
}
