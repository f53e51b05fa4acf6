//! Erasure, retention and legal hold from the shell (`ml-audit erase`, `purge`, `holds`), run
//! beside a real `ml-audit serve` on SQLite and on a fresh PostgreSQL database: what the
//! commands print, what the API then shows, and that `ml-audit verify` still passes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{BIN, Server, ml_audit};
use serde_json::{Value, json};

/// Each scenario as two tests: on a SQLite file, and on a fresh PostgreSQL database (which
/// fails, never skips, when PostgreSQL is unreachable).
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let dir = tempfile::tempdir().unwrap();
                    let db = format!("sqlite://{}", dir.path().join("audit.db").display());
                    super::$scenario(dir.path(), &db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let database = ml_audit_conformance::postgres::TempDatabase::create("mla_lifecycle_").await;
                    let dir = tempfile::tempdir().unwrap();
                    super::$scenario(dir.path(), &database.url()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    erasure_by_subject_counts_in_a_dry_run_then_erases_and_verify_passes,
    a_legal_hold_refuses_erasure_until_it_is_released,
    purge_erases_exactly_the_records_past_their_retention_except_held_ones,
    a_retention_rule_below_the_floor_or_not_positive_stops_every_command,
    an_erased_prediction_still_shows_its_tenant,
    a_hold_on_one_prediction_keeps_only_that_one_from_the_purge,
);

const REDACTION: &str =
    "[redaction]\nhash_key_file = \"hash.key\"\n\n[[redaction.rules]]\nmatch = \"email\"\naction = \"hash\"\n";

/// Writes `ml-audit.toml` into `dir` (which `serve` and every command run in): emails hashed
/// into pseudonyms with a key file, and `extra`.
fn configure(dir: &Path, extra: &str) {
    std::fs::write(dir.join("hash.key"), "a-test-pseudonym-key-0123456789\n").unwrap();
    std::fs::write(dir.join("ml-audit.toml"), format!("{REDACTION}\n{extra}")).unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both streams, for assertion messages.
fn shown(output: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", output.status.code(), stdout(output), stderr(output))
}

/// Now plus `offset` seconds, as RFC 3339 UTC.
fn rfc3339_from_now(offset: i64) -> String {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + offset;
    let (days, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

const DAY: i64 = 86_400;

/// A running server, its database and an admin key.
struct Setup<'a> {
    dir: &'a Path,
    db: &'a str,
    server: Server,
    client: reqwest::Client,
    admin: String,
}

impl<'a> Setup<'a> {
    fn start(dir: &'a Path, db: &'a str) -> Self {
        let server = Server::start(dir, db);
        let admin = server.first_admin_key().expect("a first admin key");
        Setup { dir, db, server, client: reqwest::Client::new(), admin }
    }

    /// `ml-audit ARGS --db DB`, in the configured folder.
    fn cli(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        args.extend(["--db", self.db]);
        ml_audit(&args, self.dir)
    }

    /// Records `event`; answers the stored prediction.
    async fn record(&self, event: Value) -> Value {
        let answer = self.server.post(&self.client, &self.admin, "/api/v1/predictions", &event).await;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let answer =
            self.client.get(format!("{}{path}", self.server.url)).bearer_auth(&self.admin).send().await.unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    /// The prediction by its `id`, which still finds it once erased.
    async fn prediction(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/predictions/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn erasures(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/erasures").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// Stops the server (its last checkpoint signed) and runs `ml-audit verify`; answers the
    /// numbers of its report: entries other than access entries (which the reads and commands of
    /// each scenario add, `docs/access-log.md`), records intact, erased, life events, checkpoints.
    fn stop_and_verify(self) -> [u64; 5] {
        assert!(self.server.terminate().success(), "the server stops cleanly");
        let verified = ml_audit(&["verify", "--db", self.db], self.dir);
        assert!(verified.status.success(), "{}", shown(&verified));
        let line = stdout(&verified).lines().find(|l| l.starts_with("ledger intact: ")).unwrap().to_owned();
        let numbers: Vec<u64> =
            line.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).map(|n| n.parse().unwrap()).collect();
        assert_eq!(numbers.len(), 6, "{line}");
        assert!(
            line.contains(&format!(
                "ledger intact: {} entries ({} records intact, {} erased, {} erasures/holds/releases, {} access \
                 entries), {} signed checkpoints verified",
                numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]
            )),
            "{line}"
        );
        assert!(numbers[4] > 0, "each scenario's reads and commands are in the access log: {line}");
        [numbers[0] - numbers[4], numbers[1], numbers[2], numbers[3], numbers[5]]
    }
}

fn event(prediction_id: &str, email: &str, actor_id: &str) -> Value {
    json!({"prediction_id": prediction_id, "model_name": "scoring", "model_version": "1.0.0",
           "features": {"email": email, "age": 41}, "output": {"score": 0.8}, "decision_outcome": "approved",
           "metadata": {"channel": "web"}, "trace_id": format!("trace-{prediction_id}"),
           "actor": {"actor_type": "user", "actor_id": actor_id, "tenant_id": "acme"}})
}

fn id_of(prediction: &Value) -> String {
    prediction["id"].as_str().unwrap().to_owned()
}

/// The UUID that follows `prefix` on a line of `text` (`created hold <id> …`).
fn uuid_after(text: &str, prefix: &str) -> String {
    let line = text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("{prefix:?} in {text}"));
    let id = line.split_whitespace().next().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{text}");
    id
}

async fn erasure_by_subject_counts_in_a_dry_run_then_erases_and_verify_passes(dir: &Path, db: &str) {
    configure(dir, "");
    let s = Setup::start(dir, db);
    let mut first = event("ann-1", "ann@example.com", "7");
    first["explanation"] = json!({"method": "shap", "payload": {"age": 0.3}, "summary_text": "age mattered"});
    let ann_1 = id_of(&s.record(first.clone()).await);
    // The same person written differently: one pseudonym (canonical form).
    let ann_2 = id_of(&s.record(event("ann-2", "  Ann@Example.COM ", "8")).await);
    let bob = id_of(&s.record(event("bob-1", "bob@example.com", "9")).await);
    let (_, found) = s.get("/api/v1/predictions?subject=ann%40example.com").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");
    // A checkpoint over the records about to be erased: it must stay verifiable.
    let checkpoint = s.server.post(&s.client, &s.admin, "/api/v1/ledger/checkpoint", &json!({})).await;
    assert_eq!(checkpoint.status(), 201);

    let reason = "GDPR Art. 17 request 42";
    let dry = s.cli(&["erase", "--subject", "ANN@example.com", "--reason", reason, "--dry-run"]);
    assert!(dry.status.success(), "{}", shown(&dry));
    assert!(
        stdout(&dry).contains("would erase: 2 predictions, 1 explanation, 0 outcomes, 0 reviews"),
        "{}",
        shown(&dry)
    );
    assert!(stdout(&dry).contains("dry run: nothing changed"), "{}", shown(&dry));
    let kept = s.prediction(&ann_1).await;
    assert!(kept["erased"].is_null(), "{kept}");
    assert!(kept["features"]["email"].as_str().unwrap().starts_with("pii_"), "{kept}");
    assert_eq!(kept["explanation"]["summary_text"], "age mattered");
    assert!(s.erasures().await.is_empty(), "a dry run stores no erasure");

    // Without the pseudonym key a subject cannot be found: a clear error, nothing erased.
    std::fs::write(dir.join("keyless.toml"), "").unwrap();
    let keyless = s.cli(&["--config", "keyless.toml", "erase", "--subject", "ann@example.com", "--reason", reason]);
    assert_eq!(keyless.status.code(), Some(1), "{}", shown(&keyless));
    assert!(stderr(&keyless).contains("subject lookup needs a redaction hash key"), "{}", shown(&keyless));
    // No selector, or a malformed one: refused before anything is opened.
    let none = s.cli(&["erase", "--reason", reason]);
    assert!(!none.status.success() && stderr(&none).contains("--subject"), "{}", shown(&none));
    let bad_actor = s.cli(&["erase", "--actor", "robot:7:acme", "--reason", reason]);
    assert_eq!(bad_actor.status.code(), Some(1), "{}", shown(&bad_actor));
    assert!(stderr(&bad_actor).contains("--actor (actor_type)"), "{}", shown(&bad_actor));
    let unknown = s.cli(&["erase", "--prediction", "no-such-prediction", "--reason", reason]);
    assert_eq!(unknown.status.code(), Some(1), "{}", shown(&unknown));
    assert!(stderr(&unknown).contains("no-such-prediction"), "{}", shown(&unknown));
    assert!(s.erasures().await.is_empty());

    let erased = s.cli(&["erase", "--subject", "ANN@example.com", "--reason", reason]);
    assert!(erased.status.success(), "{}", shown(&erased));
    assert!(
        stdout(&erased).contains("erased: 2 predictions, 1 explanation, 0 outcomes, 0 reviews"),
        "{}",
        shown(&erased)
    );
    let erasure_id = uuid_after(&stdout(&erased), "erasure ");
    let seq: u64 =
        stdout(&erased).split("ledger seq ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();

    for id in [&ann_1, &ann_2] {
        let gone = s.prediction(id).await;
        assert_eq!(gone["erased"]["erasure_id"], erasure_id.as_str(), "{gone}");
        assert_eq!(gone["erased"]["reason"], reason, "{gone}");
        for field in ["features", "output", "metadata", "prediction_id", "trace_id", "actor", "explanation"] {
            assert!(gone[field].is_null(), "{field} kept: {gone}");
        }
        // What stays: the decision, the model, the tenant, the ledger entry.
        assert_eq!(gone["decision_outcome"], "approved", "{gone}");
        assert_eq!(gone["model"]["model_name"], "scoring", "{gone}");
        assert!(gone["ledger"]["seq"].is_u64(), "{gone}");
    }
    let (status, _) = s.get("/api/v1/predictions/ann-1").await;
    assert_eq!(status, 404, "an erased prediction's prediction_id no longer finds it");
    let (_, found) = s.get("/api/v1/predictions?subject=ann%40example.com").await;
    assert!(found["items"].as_array().unwrap().is_empty(), "{found}");
    let untouched = s.prediction(&bob).await;
    assert!(untouched["erased"].is_null() && untouched["features"]["email"].is_string(), "{untouched}");
    let retry = s.server.post(&s.client, &s.admin, "/api/v1/predictions", &first).await;
    assert_eq!(retry.status(), 409);
    assert_eq!(retry.json::<Value>().await.unwrap()["error"]["code"], "erased");
    let erasures = s.erasures().await;
    assert_eq!(erasures.len(), 1, "{erasures:?}");
    assert_eq!(erasures[0]["id"], erasure_id.as_str());
    assert_eq!(erasures[0]["ledger"]["seq"], seq);
    assert_eq!(erasures[0]["erased"], json!({"predictions": 2, "explanations": 1, "outcomes": 0, "reviews": 0}));

    let [entries, intact, erased, life, checkpoints] = s.stop_and_verify();
    assert_eq!((entries, intact, erased, life), (5, 1, 3, 1), "3 predictions, 1 explanation, 1 erasure");
    assert!(checkpoints >= 1, "the checkpoint signed before the erasure still verifies");
}

async fn a_legal_hold_refuses_erasure_until_it_is_released(dir: &Path, db: &str) {
    configure(dir, "");
    let s = Setup::start(dir, db);
    let held = id_of(&s.record(event("h-1", "ann@example.com", "7")).await);
    let same_actor = id_of(&s.record(event("h-2", "bob@example.com", "7")).await);
    let free = id_of(&s.record(event("h-3", "cy@example.com", "8")).await);

    // A hold that lapses by itself, on nothing recorded.
    let lapses_at = Instant::now() + Duration::from_millis(3100);
    let until = rfc3339_from_now(3);
    let short = s.cli(&["holds", "create", "--reason", "short", "--tenant", "nobody", "--until", &until]);
    assert!(short.status.success(), "{}", shown(&short));
    let short_id = uuid_after(&stdout(&short), "created hold ");

    let created = s.cli(&["holds", "create", "--reason", "litigation 2026-17", "--prediction", "h-1"]);
    assert!(created.status.success(), "{}", shown(&created));
    let hold_id = uuid_after(&stdout(&created), "created hold ");
    assert!(stdout(&created).contains(&format!("predictions={held}")), "{}", shown(&created));
    let listed = s.cli(&["holds", "list"]);
    assert!(listed.status.success(), "{}", shown(&listed));
    let row = stdout(&listed).lines().find(|l| l.starts_with(&hold_id)).unwrap().to_owned();
    assert!(row.contains("active") && row.contains(&held) && row.ends_with("litigation 2026-17"), "{row}");
    let (status, holds) = s.get("/api/v1/holds").await;
    assert_eq!(status, 200);
    assert_eq!(holds["items"].as_array().unwrap().len(), 2, "{holds}");
    // Holds made at the shell are in the access log, by the operator.
    let (status, log) = s.get("/api/v1/access-log").await;
    assert_eq!(status, 200);
    let entry = log["items"].as_array().unwrap().iter().find(|e| e["target"] == hold_id.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("the hold is logged: {log}"));
    assert_eq!((entry["action"].as_str(), entry["channel"].as_str()), (Some("hold"), Some("cli")), "{entry}");
    assert!(entry["operator"].as_str().is_some_and(|o| o.contains('@')) && entry["key_id"].is_null(), "{entry}");
    assert_eq!(entry["predictions"], json!([held]));

    // Every selector that reaches the held record is refused whole, naming the hold.
    for selector in [
        vec!["--prediction", "h-1", "--prediction", "h-3"],
        vec!["--actor", "user:7:acme"],
        vec!["--subject", "ann@example.com"],
    ] {
        let mut args = vec!["erase", "--reason", "request 7"];
        args.extend(selector);
        let refused = s.cli(&args);
        assert_eq!(refused.status.code(), Some(1), "{}", shown(&refused));
        assert!(
            stderr(&refused).contains(&hold_id) && stderr(&refused).contains("nothing was erased"),
            "{}",
            shown(&refused)
        );
    }
    for id in [&held, &same_actor, &free] {
        assert!(s.prediction(id).await["erased"].is_null(), "nothing was erased");
    }
    assert!(s.erasures().await.is_empty());

    // A record the hold does not cover is erased.
    let other = s.cli(&["erase", "--prediction", &free, "--reason", "request 8"]);
    assert!(other.status.success(), "{}", shown(&other));
    assert!(stdout(&other).contains("erased: 1 prediction,"), "{}", shown(&other));
    assert!(s.prediction(&free).await["erased"].is_object());

    // Holds that cannot be placed.
    let unknown = s.cli(&["holds", "create", "--reason", "r", "--prediction", "no-such-prediction"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", shown(&unknown));
    assert!(stderr(&unknown).contains("no-such-prediction"), "{}", shown(&unknown));
    let past = s.cli(&["holds", "create", "--reason", "r", "--tenant", "acme", "--until", "2001-01-01T00:00:00Z"]);
    assert_eq!(past.status.code(), Some(1), "{}", shown(&past));
    assert!(stderr(&past).contains("--until"), "{}", shown(&past));
    let unscoped = s.cli(&["holds", "create", "--reason", "r"]);
    assert!(!unscoped.status.success(), "{}", shown(&unscoped));

    let released = s.cli(&["holds", "release", &hold_id, "--reason", "case closed"]);
    assert!(released.status.success(), "{}", shown(&released));
    assert!(stdout(&released).contains(&format!("released hold {hold_id}")), "{}", shown(&released));
    let again = s.cli(&["holds", "release", &hold_id, "--reason", "case closed again"]);
    assert_eq!(again.status.code(), Some(1), "{}", shown(&again));
    assert!(stderr(&again).contains("already released"), "{}", shown(&again));
    let missing = s.cli(&["holds", "release", "00000000-0000-7000-8000-000000000000", "--reason", "r"]);
    assert_eq!(missing.status.code(), Some(1), "{}", shown(&missing));
    assert!(stderr(&missing).contains("no hold"), "{}", shown(&missing));

    let erased = s.cli(&["erase", "--actor", "user:7:acme", "--reason", "request 7"]);
    assert!(erased.status.success(), "{}", shown(&erased));
    assert!(stdout(&erased).contains("erased: 2 predictions,"), "{}", shown(&erased));
    for id in [&held, &same_actor] {
        assert_eq!(s.prediction(id).await["erased"]["reason"], "request 7");
    }

    tokio::time::sleep(lapses_at.saturating_duration_since(Instant::now())).await;
    let listed = stdout(&s.cli(&["holds", "list"]));
    let state =
        |id: &str| listed.lines().find(|l| l.starts_with(id)).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(state(&hold_id), "released", "{listed}");
    assert_eq!(state(&short_id), "lapsed", "{listed}");

    let [entries, intact, erased, life, _] = s.stop_and_verify();
    // 3 predictions; 2 holds, 1 release, 2 erasures.
    assert_eq!((entries, intact, erased, life), (8, 0, 3, 5));
}

async fn purge_erases_exactly_the_records_past_their_retention_except_held_ones(dir: &Path, db: &str) {
    configure(
        dir,
        "[retention]\nmin_days = 1\npurge_batch = 2\n\n[[retention.rules]]\nmodel_name = \"scoring\"\ndays = 30\n",
    );
    let s = Setup::start(dir, db);
    let old = rfc3339_from_now(-400 * DAY);
    let aged = |prediction_id: &str, model: &str, at: &str| {
        let mut event = event(prediction_id, &format!("{prediction_id}@example.com"), prediction_id);
        event["model_name"] = json!(model);
        event["timestamp"] = json!(at);
        event
    };
    let mut first = aged("old-1", "scoring", &old);
    first["explanation"] = json!({"method": "shap", "payload": {}});
    let mut expired = vec![id_of(&s.record(first).await)];
    for name in ["old-2", "old-3"] {
        expired.push(id_of(&s.record(aged(name, "scoring", &old)).await));
    }
    let mut under_hold = aged("old-held", "scoring", &old);
    under_hold["actor"]["tenant_id"] = json!("litigated");
    let held = id_of(&s.record(under_hold).await);
    let recent = id_of(&s.record(aged("recent", "scoring", &rfc3339_from_now(-29 * DAY))).await);
    let other_model = id_of(&s.record(aged("other-model", "ranking", &old)).await);
    let kept = [&held, &recent, &other_model];
    let hold = s.cli(&["holds", "create", "--reason", "audit of 2025", "--tenant", "litigated"]);
    assert!(hold.status.success(), "{}", shown(&hold));

    let dry = s.cli(&["purge", "--dry-run"]);
    assert!(dry.status.success(), "{}", shown(&dry));
    assert!(
        stdout(&dry).contains("would purge: 3 predictions, 1 explanation, 0 outcomes, 0 reviews"),
        "{}",
        shown(&dry)
    );
    assert!(stdout(&dry).contains("dry run: nothing changed"), "{}", shown(&dry));
    for id in expired.iter().chain(kept) {
        assert!(s.prediction(id).await["erased"].is_null(), "a dry run changes nothing");
    }
    assert!(s.erasures().await.is_empty());

    let purged = s.cli(&["purge"]);
    assert!(purged.status.success(), "{}", shown(&purged));
    assert!(
        stdout(&purged).contains("purged: 3 predictions, 1 explanation, 0 outcomes, 0 reviews"),
        "{}",
        shown(&purged)
    );
    assert!(stdout(&purged).contains("2 erasures (reason retention"), "batches of 2: {}", shown(&purged));
    for id in &expired {
        let gone = s.prediction(id).await;
        assert_eq!(gone["erased"]["reason"], "retention", "{gone}");
        assert!(gone["features"].is_null() && gone["prediction_id"].is_null(), "{gone}");
    }
    for id in kept {
        let stays = s.prediction(id).await;
        assert!(stays["erased"].is_null() && stays["features"]["age"] == 41, "{stays}");
    }
    let erasures = s.erasures().await;
    assert_eq!(erasures.len(), 2, "{erasures:?}");
    assert!(erasures.iter().all(|e| e["reason"] == "retention" && e["ledger"]["seq"].is_u64()), "{erasures:?}");
    let total: u64 = erasures.iter().map(|e| e["erased"]["predictions"].as_u64().unwrap()).sum();
    assert_eq!(total, 3);

    let again = s.cli(&["purge"]);
    assert!(again.status.success(), "{}", shown(&again));
    assert!(
        stdout(&again).contains("purged: 0 predictions") && stdout(&again).contains("0 erasures"),
        "{}",
        shown(&again)
    );
    std::fs::write(dir.join("forever.toml"), "").unwrap();
    let forever = s.cli(&["--config", "forever.toml", "purge"]);
    assert!(forever.status.success(), "{}", shown(&forever));
    assert!(
        stdout(&forever).contains("retention keeps everything (retention.default_days = 0 and no rules)"),
        "{}",
        shown(&forever)
    );
    assert_eq!(s.erasures().await.len(), 2);

    let [entries, intact, erased, life, _] = s.stop_and_verify();
    // 6 predictions and 1 explanation; 1 hold and 2 erasures.
    assert_eq!((entries, intact, erased, life), (10, 3, 4, 3));
}

/// Runs `ml-audit ARGS` in `dir`; a command still running after 20 s fails the test.
fn run_bounded(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("ML_AUDIT_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("ml-audit {args:?} kept running: {}", shown(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

async fn a_retention_rule_below_the_floor_or_not_positive_stops_every_command(dir: &Path, db: &str) {
    let rule = |days: &str| format!("[[retention.rules]]\nmodel_name = \"scoring\"\ndays = {days}\n");
    let cases = [
        (rule("30"), "below the minimum retention of 183 days"),
        (format!("[retention]\nmin_days = 1\n\n{}", rule("0")), "days must be at least 1"),
        (format!("[retention]\nmin_days = 1\n\n{}", rule("-5")), "days must be at least 1"),
    ];
    for (retention, complaint) in cases {
        configure(dir, &retention);
        for args in [
            vec!["serve", "--bind", "127.0.0.1:0", "--db", db],
            vec!["purge", "--db", db],
            vec!["erase", "--prediction", "p-1", "--reason", "r", "--db", db],
            vec!["holds", "list", "--db", db],
            vec!["verify", "--db", db],
        ] {
            let output = run_bounded(dir, &args);
            assert!(!output.status.success(), "{args:?} with {retention}: {}", shown(&output));
            let message = stderr(&output);
            assert!(
                message.contains("retention.rules[0]") && message.contains(complaint),
                "{args:?} with {retention}: {}",
                shown(&output)
            );
        }
    }
    assert!(!dir.join("audit.db").exists(), "a bad config stops a command before it opens the database");
}

/// SPEC: an erasure keeps `tenant_id` (so that counts and quality figures stay right).
async fn an_erased_prediction_still_shows_its_tenant(dir: &Path, db: &str) {
    configure(dir, "");
    let s = Setup::start(dir, db);
    let id = id_of(&s.record(event("t-1", "ann@example.com", "7")).await);
    let erased = s.cli(&["erase", "--prediction", &id, "--reason", "request 9"]);
    assert!(erased.status.success(), "{}", shown(&erased));
    let gone = s.prediction(&id).await;
    assert!(gone["erased"].is_object() && gone["actor"].is_null(), "{gone}");
    assert_eq!(gone["tenant_id"], "acme", "the erased prediction's tenant is kept: {gone}");
    let (status, listed) = s.get("/api/v1/predictions?tenant_id=acme").await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["tenant_id"], "acme", "{listed}");
}

/// A standing hold on one prediction keeps that prediction, and only it, from the purge.
async fn a_hold_on_one_prediction_keeps_only_that_one_from_the_purge(dir: &Path, db: &str) {
    configure(dir, "[retention]\nmin_days = 1\n\n[[retention.rules]]\nmodel_name = \"scoring\"\ndays = 30\n");
    let s = Setup::start(dir, db);
    let old = rfc3339_from_now(-400 * DAY);
    let mut ids = Vec::new();
    for name in ["old-1", "old-2", "old-3"] {
        let mut event = event(name, &format!("{name}@example.com"), name);
        event["timestamp"] = json!(old);
        ids.push(id_of(&s.record(event).await));
    }
    let hold = s.cli(&["holds", "create", "--reason", "audit", "--prediction", "old-2"]);
    assert!(hold.status.success(), "{}", shown(&hold));
    let dry = s.cli(&["purge", "--dry-run"]);
    assert!(stdout(&dry).contains("would purge: 2 predictions,"), "{}", shown(&dry));
    let purged = s.cli(&["purge"]);
    assert!(stdout(&purged).contains("purged: 2 predictions,"), "{}", shown(&purged));
    assert_eq!(s.prediction(&ids[0]).await["erased"]["reason"], "retention");
    assert!(s.prediction(&ids[1]).await["erased"].is_null(), "the held prediction is kept");
    assert_eq!(s.prediction(&ids[2]).await["erased"]["reason"], "retention");
    let [_, intact, erased, life, _] = s.stop_and_verify();
    assert_eq!((intact, erased, life), (1, 2, 2));
}
