//! Faults from outside, on a real `ml-audit serve`: a filesystem that fills up (a small tmpfs
//! this test mounts), and the machine's PostgreSQL stopped and started again. Both need root, as
//! CI has; without it they fail and say so. `scripts/test` runs this file on its own, one test at
//! a time, after the suite: never beside tests that need the database.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, assert_exactly_stored};
use serde_json::{Value, json};

/// A tmpfs of `megabytes` mounted on a fresh temporary folder, unmounted on drop.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("`mount` runs");
        assert!(
            mounted.status.success(),
            "the disk-full test needs a small filesystem: `mount -t tmpfs` failed ({}); run it as root",
            String::from_utf8_lossy(&mounted.stderr).trim()
        );
        SmallFilesystem { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

const BATCH: &str = "/api/v1/predictions/batch";
const SINGLE: &str = "/api/v1/predictions";

fn prediction_id(n: usize) -> String {
    format!("fault-{n:06}")
}

/// The n-th event, ~1.5 KB.
fn event(n: usize) -> Value {
    json!({"prediction_id": prediction_id(n), "model_name": "m", "model_version": "1",
           "features": {"note": "x".repeat(1500)}, "output": {"score": 0.5}})
}

/// A batch of `count` events, numbered from `first`.
fn batch(first: usize, count: usize) -> Value {
    json!({ "events": (first..first + count).map(event).collect::<Vec<_>>() })
}

/// Whether every event of a batch answer was stored as new.
fn all_created(answer: &Value) -> bool {
    answer["results"].as_array().is_some_and(|results| results.iter().all(|r| r["status"] == 201))
}

/// A refusal that passes by itself: 503, its code, and when to retry.
async fn assert_retryable_503(answer: reqwest::Response, code: &str) {
    assert_eq!(answer.status(), 503, "a {code} refusal is a 503");
    assert!(answer.headers().get("retry-after").is_some(), "a 503 says when to retry");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// `/readyz`: its status and body.
async fn readiness(server: &Server, client: &reqwest::Client) -> (u16, Value) {
    let answer = client.get(format!("{}/readyz", server.url)).send().await.unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// `/readyz` says not ready, and the first reason is about `check`.
async fn assert_not_ready_because_of(server: &Server, client: &reqwest::Client, check: &str) {
    let (status, body) = readiness(server, client).await;
    assert_eq!(status, 503, "not ready: {body}");
    assert_eq!(body["checks"][check]["ok"], false, "{body}");
    let reason = body["reasons"][0].as_str().unwrap_or_default();
    assert!(reason.starts_with(&format!("{check}: ")), "the reason names {check}: {body}");
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_keeps_reads_and_writes_resume_when_space_returns() {
    let fs = SmallFilesystem::mount(12);
    // Space to give back later, as an operator would by deleting something.
    let filler: PathBuf = fs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 3 << 20]).expect("the filler is written");
    let db = format!("sqlite://{}", fs.path().join("audit.db").display());
    let server = Server::start(fs.path(), &db);
    let key = server.first_admin_key().expect("a first admin key");
    let client = reqwest::Client::new();

    // Batches until the disk is full: a batch is one transaction, so its events are either all
    // stored or all refused (each with its own result).
    let mut acknowledged = Vec::new();
    loop {
        let first = acknowledged.len();
        let answer = server.post(&client, &key, BATCH, &batch(first, 50)).await;
        assert!(answer.status().is_success(), "a batch answers per event: {}", answer.status());
        let body: Value = answer.json().await.unwrap();
        if all_created(&body) {
            acknowledged.extend((first..first + 50).map(prediction_id));
            assert!(acknowledged.len() < 20_000, "12 MB never filled");
            continue;
        }
        let refused = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == 503 && r["error"]["code"] == "storage_full");
        assert!(refused, "a batch on a full disk is refused whole, as storage_full: {body}");
        break;
    }
    assert!(acknowledged.len() >= 500, "the disk filled after only {} events", acknowledged.len());

    // Then single events, which may still fit for a while: the first refused one is a 503 with
    // its code and when to retry.
    let answer = loop {
        let n = acknowledged.len();
        let answer = server.post(&client, &key, SINGLE, &event(n)).await;
        if answer.status() != 201 {
            break answer;
        }
        acknowledged.push(prediction_id(n));
        assert!(acknowledged.len() < 20_000, "12 MB never filled");
    };
    assert_retryable_503(answer, "storage_full").await;

    assert_not_ready_because_of(&server, &client, "storage").await;
    assert!(write_errors(&server, &client, &key, "storage_full").await >= 1.0, "counted as storage_full");
    // Reads keep working while the disk is full.
    let page = client.get(format!("{}{SINGLE}?limit=1", server.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(page.status(), 200, "reads are served on a full disk");

    // Space comes back: writes resume by themselves, no restart.
    std::fs::remove_file(&filler).expect("the filler is removed");
    let freed = Instant::now();
    let next = acknowledged.len();
    let recovered = loop {
        let body: Value = server.post(&client, &key, BATCH, &batch(next, 50)).await.json().await.unwrap();
        if all_created(&body) {
            break freed.elapsed();
        }
        assert!(freed.elapsed() < Duration::from_secs(30), "writes did not resume within 30 s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    acknowledged.extend((next..next + 50).map(prediction_id));
    println!("disk full after {next} events; writes resumed {recovered:?} after space was freed");
    let (status, body) = readiness(&server, &client).await;
    assert_eq!(status, 200, "ready again once a write found space: {body}");

    assert_exactly_stored(server, &client, &key, acknowledged, &db, fs.path()).await;
}

/// The machine's PostgreSQL cluster, stopped; started again on drop whatever happened, so that
/// what runs after this test finds it running.
struct StoppedPostgres;

impl StoppedPostgres {
    fn stop() -> Self {
        assert!(pg_ctlcluster("stop"), "the PostgreSQL fault test needs `pg_ctlcluster … stop` (as root)");
        StoppedPostgres
    }
}

impl Drop for StoppedPostgres {
    fn drop(&mut self) {
        if !pg_ctlcluster("start") {
            eprintln!("could not start PostgreSQL again: run scripts/start-postgres");
        }
    }
}

/// `pg_ctlcluster --skip-systemctl-redirect <version> main <action>`, as `.ci/run` starts it.
fn pg_ctlcluster(action: &str) -> bool {
    let Some(version) = std::fs::read_dir("/etc/postgresql").ok().and_then(|mut dir| dir.next()?.ok()) else {
        return false;
    };
    Command::new("pg_ctlcluster")
        .arg("--skip-systemctl-redirect")
        .arg(version.file_name())
        .args(["main", action])
        .status()
        .is_ok_and(|status| status.success())
}

#[tokio::test]
async fn with_postgresql_down_writes_fail_fast_with_503_and_resume_when_it_is_back() {
    let database = ml_audit_conformance::postgres::TempDatabase::create("mla_fault_").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start(dir.path(), &database.url());
    let key = server.first_admin_key().expect("a first admin key");
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for first in [0, 50] {
        let answer: Value = server.post(&client, &key, BATCH, &batch(first, 50)).await.json().await.unwrap();
        assert!(all_created(&answer), "{answer}");
        acknowledged.extend((first..first + 50).map(prediction_id));
    }

    let stopped = StoppedPostgres::stop();
    let asked = Instant::now();
    let answer = server.post(&client, &key, SINGLE, &event(100)).await;
    let refused_after = asked.elapsed();
    assert_retryable_503(answer, "unavailable").await;
    assert!(refused_after < Duration::from_secs(3), "the refusal took {refused_after:?}: it should fail fast");
    assert_not_ready_because_of(&server, &client, "database").await;
    let page = client.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(page.status(), 200, "alive all the same: an orchestrator must not restart it");

    drop(stopped);
    let started = Instant::now();
    let recovered = loop {
        let status = server.post(&client, &key, SINGLE, &event(100)).await.status();
        if status == 201 {
            break started.elapsed();
        }
        assert_eq!(status, 503, "until the database is back, a 503");
        assert!(started.elapsed() < Duration::from_secs(30), "writes did not resume within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    acknowledged.push(prediction_id(100));
    let (status, body) = readiness(&server, &client).await;
    assert_eq!(status, 200, "ready again: {body}");
    let replayed = server.post(&client, &key, SINGLE, &event(100)).await.status();
    assert_eq!(replayed, 200, "the retried event is stored once: its retry is a replay");
    println!(
        "a write was refused {refused_after:?} after PostgreSQL stopped; writes resumed {recovered:?} after it was started"
    );

    let checkpoint = server.post(&client, &key, "/api/v1/ledger/checkpoint", &Value::Null).await;
    assert!(checkpoint.status().is_success(), "the sealer works again: {}", checkpoint.status());
    assert_exactly_stored(server, &client, &key, acknowledged, &database.url(), dir.path()).await;
}

/// Clients that each record their own events in order until told to stop, retrying an event
/// after a 503 or a broken connection until it is answered 201 (stored now) or 200 (stored by
/// an earlier try whose answer was lost), as the Python client does.
struct RetryingClients {
    tasks: Vec<tokio::task::JoinHandle<Vec<(String, u16, usize)>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RetryingClients {
    fn start(server: &Server, key: &str, clients: usize) -> Self {
        let client = reqwest::Client::new();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|c| {
                let (client, url, key, stop) = (client.clone(), server.url.clone(), key.to_owned(), stop.clone());
                tokio::spawn(async move {
                    let mut answered = Vec::new();
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let id = format!("retried-{c}-{n}");
                        let event = json!({"prediction_id": id, "model_name": "m", "model_version": "1",
                                           "features": {"n": n}, "output": {"score": 0.5}});
                        let mut retries = 0;
                        loop {
                            let sent =
                                client.post(format!("{url}{SINGLE}")).bearer_auth(&key).json(&event).send().await;
                            match sent.map(|answer| answer.status().as_u16()) {
                                Ok(status @ (200 | 201)) => {
                                    answered.push((id, status, retries));
                                    break;
                                }
                                Ok(503) | Err(_) => {
                                    retries += 1;
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                                Ok(other) => panic!("{id}: unexpected {other}"),
                            }
                        }
                    }
                    answered
                })
            })
            .collect();
        RetryingClients { tasks, stop }
    }

    /// Every event's id, final status and retries, once each client's last event is answered.
    async fn finish(self) -> Vec<(String, u16, usize)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("a client task"));
        }
        all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_loses_nothing_stores_each_retried_event_once_and_the_sealer_resumes() {
    let database = ml_audit_conformance::postgres::TempDatabase::create("mla_fault_").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start(dir.path(), &database.url());
    let key = server.first_admin_key().expect("a first admin key");
    let client = reqwest::Client::new();
    let clients = 4;
    let load = RetryingClients::start(&server, &key, clients);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = StoppedPostgres::stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_not_ready_because_of(&server, &client, "database").await;
    drop(stopped);
    let started = Instant::now();
    let ready_after = loop {
        if readiness(&server, &client).await.0 == 200 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not ready again within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Load goes on after the restart, then every client's last event is answered.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answered = load.finish().await;

    let retried = answered.iter().filter(|(_, _, retries)| *retries > 0).count();
    let replayed = answered.iter().filter(|(_, status, _)| *status == 200).count();
    for c in 0..clients {
        let prefix = format!("retried-{c}-");
        let refused = answered.iter().any(|(id, _, retries)| id.starts_with(&prefix) && *retries > 0);
        assert!(refused, "client {c} had an event refused during the outage, and retried it");
    }
    let expected: Vec<String> = answered.into_iter().map(|(id, _, _)| id).collect();

    // The sealer resumes where it stopped: a checkpoint over everything, and a ledger that verifies.
    let checkpoint: Value =
        server.post(&client, &key, "/api/v1/ledger/checkpoint", &Value::Null).await.json().await.unwrap();
    assert_eq!(checkpoint["tree_size"].as_u64(), Some(expected.len() as u64), "{checkpoint}");
    println!(
        "PostgreSQL stopped for 2 s under {clients} clients: {retried} events retried ({replayed} answered as replays), \
         ready {ready_after:?} after it was started; all {} events stored once",
        expected.len()
    );
    assert_exactly_stored(server, &client, &key, expected, &database.url(), dir.path()).await;
}

/// `ml_audit_write_errors_total{kind=…}` from `/metrics`.
async fn write_errors(server: &Server, client: &reqwest::Client, key: &str, kind: &str) -> f64 {
    let text =
        client.get(format!("{}/metrics", server.url)).bearer_auth(key).send().await.unwrap().text().await.unwrap();
    let series = format!("ml_audit_write_errors_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series}in {text}"))
}
