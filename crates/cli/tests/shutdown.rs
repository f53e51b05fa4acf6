//! SIGTERM under load, on a real `ml-audit serve`, on both backends: the server stops accepting,
//! answers what is in flight, seals and signs, and exits within its bound; a client that stalls in
//! its headers does not hold it open; every acknowledged event is stored, nothing else is, and
//! the last checkpoint covers them all.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, assert_exactly_stored};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

/// Timeouts far longer than the exit it must make, so that only waiting for the requests in
/// flight (and not for the stalled client) can explain how soon it exits.
const SHUTDOWN_TIMEOUT_SECS: &str = "60";
const HEADER_READ_TIMEOUT_SECS: &str = "300";
/// The exit must come within this after SIGTERM.
const EXIT_BOUND: Duration = Duration::from_secs(10);
const CLIENTS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_sqlite_loses_nothing_acknowledged_and_signs_a_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("audit.db").display());
    sigterm_under_load(dir.path(), &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_postgres_loses_nothing_acknowledged_and_signs_a_last_checkpoint() {
    let database = ml_audit_conformance::postgres::TempDatabase::create("mla_shutdown_").await;
    let dir = tempfile::tempdir().unwrap();
    sigterm_under_load(dir.path(), &database.url()).await;
}

async fn sigterm_under_load(dir: &std::path::Path, db: &str) {
    let env = [
        ("ML_AUDIT_SERVER_SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_TIMEOUT_SECS),
        ("ML_AUDIT_SERVER_HEADER_READ_TIMEOUT_SECS", HEADER_READ_TIMEOUT_SECS),
    ];
    let mut server = Server::start_with(dir, db, &env, Stdio::inherit());
    let key = server.first_admin_key().expect("a first admin key");
    let client = reqwest::Client::new();

    // Clients that record until the server stops answering; each keeps what was acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, url, key, acknowledged) = (client.clone(), server.url.clone(), key.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("load-{c}-{n}");
                let event = json!({"prediction_id": id, "model_name": "m", "model_version": "1",
                                   "features": {"age": 42}, "output": {"score": 0.5}});
                let sent = client.post(format!("{url}/api/v1/predictions")).bearer_auth(&key).json(&event).send().await;
                match sent.map(|answer| answer.status()) {
                    Ok(status) if status == 201 => acknowledged.lock().unwrap().push(id),
                    // Refused (connection closed or refused by a stopping server): not stored.
                    _ => return,
                }
            }
        }));
    }
    // A client stalled half-way through its headers, open while the server stops.
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled.write_all(b"POST /api/v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Le").await.unwrap();

    let loading = Instant::now();
    while acknowledged.lock().unwrap().len() < 50 {
        assert!(loading.elapsed() < Duration::from_secs(30), "the load did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = acknowledged.lock().unwrap().len();
    server.send_sigterm();
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(asked.elapsed() < EXIT_BOUND, "the server did not exit within {EXIT_BOUND:?}: something held it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stopped_in = asked.elapsed();
    assert!(status.success(), "a clean exit: {status}");
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    println!(
        "stopped {stopped_in:?} after SIGTERM with {CLIENTS} clients recording; {} events acknowledged, {} of them after the signal was sent",
        acknowledged.len(),
        acknowledged.len() - before
    );
    drop(stalled);

    // Started again on the same database: exactly the acknowledged events, all under the
    // checkpoint signed at shutdown.
    let server = Server::start(dir, db);
    let checkpoint: Value = server.get_json(&client, &key, "/api/v1/ledger/checkpoint").await;
    assert_eq!(
        checkpoint["tree_size"].as_u64(),
        Some(acknowledged.len() as u64),
        "the last checkpoint covers every acknowledged event: {checkpoint}"
    );
    assert_exactly_stored(server, &client, &key, acknowledged, db, dir).await;
}
