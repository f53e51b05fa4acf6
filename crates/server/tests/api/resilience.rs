//! The bad day, inside one process: a full writers' queue, readiness that says why not, the
//! metrics an operator watches, and clients too slow to send their request.
//! (A full disk, PostgreSQL stopped, and SIGTERM under load are in crates/cli/tests.)

use std::time::Duration;

use ml_audit_server::{Limits, Resilience, ServerSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, ON_DEMAND_SEALING, TestApp, event, expect_error, with};

on_both_backends!(
    past_its_write_requests_the_server_refuses_at_once_before_reading_the_request,
    a_full_queue_refuses_at_once_with_503_overloaded_and_keeps_everything_it_accepted,
    readyz_is_ready_and_says_why_when_the_sealer_falls_behind,
    metrics_show_write_errors_queue_sealer_lag_and_checkpoint_age,
    a_body_that_does_not_arrive_in_time_is_refused_with_408_and_nothing_is_stored,
    a_connection_that_does_not_send_its_headers_in_time_is_closed,
);

/// Another session holding the database's write lock, as a long transaction would: the server's
/// writers wait on it (up to their busy timeout) until it is released.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn hold(app: &TestApp) -> WriteLock {
        match app.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
                WriteLock::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
                sqlx::raw_sql("BEGIN; LOCK TABLE predictions IN EXCLUSIVE MODE").execute(&mut conn).await.unwrap();
                WriteLock::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut conn) => sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop),
            WriteLock::Postgres(mut conn) => sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop),
        }
        .unwrap();
    }
}

async fn metrics(app: &TestApp) -> String {
    let response = app.get("/metrics", &app.admin_key).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of an unlabelled series in Prometheus text.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in\n{text}"))
}

async fn a_full_queue_refuses_at_once_with_503_overloaded_and_keeps_everything_it_accepted(backend: Backend) {
    let resilience = Resilience { queue_events: 1, ..Resilience::default() };
    let settings = ServerSettings { resilience, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = std::sync::Arc::new(TestApp::spawn_with(backend, settings).await);
    let lock = WriteLock::hold(&app).await;

    // Requests one at a time, each handed to the committer (taken by a writer, which waits on
    // the lock, or queued) before the next, until one event waits in the queue.
    let mut accepted = Vec::new();
    for n in 0..32 {
        let sender = app.clone();
        accepted.push(tokio::spawn(async move {
            let body = with(event("overload"), "prediction_id", json!(format!("accepted-{n}")));
            sender.post("/api/v1/predictions", &sender.admin_key, &body).await.status()
        }));
        let handed_over = |text: &str| {
            series(text, "ml_audit_group_committed_events_total") + series(text, "ml_audit_ingest_queue_events")
        };
        let mut text = metrics(&app).await;
        for _ in 0..500 {
            if handed_over(&text) >= (n + 1) as f64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            text = metrics(&app).await;
        }
        // Full only once every writer holds a group: before that a queued event is one that a
        // free writer is about to take.
        let writers = match backend {
            Backend::Sqlite => 2.0,
            Backend::Postgres => 4.0,
        };
        let full = |text: &str| {
            series(text, "ml_audit_ingest_queue_events") >= 1.0
                && series(text, "ml_audit_group_commits_total") >= writers
        };
        // And still so a moment later: a writer gathering its group may yet take a queued event.
        if full(&text) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if full(&metrics(&app).await) {
                break;
            }
        }
    }
    assert!(series(&metrics(&app).await, "ml_audit_ingest_queue_events") >= 1.0, "the queue never filled");

    // The queue is full and the writers cannot move: a new request is answered now, not when
    // they can.
    let refused = with(event("overload"), "prediction_id", json!("refused"));
    let response = app.post("/api/v1/predictions", &app.admin_key, &refused).await;
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (code, _) = expect_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(code, "overloaded");
    let batch = json!({"events": [with(event("overload"), "prediction_id", json!("refused-in-batch"))]});
    let (code, _) = expect_error(
        app.post("/api/v1/predictions/batch", &app.admin_key, &batch).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "overloaded", "a batch is refused whole");
    assert_eq!(series(&metrics(&app).await, "ml_audit_overloaded_total"), 2.0);

    lock.release().await;
    let sent = accepted.len();
    for request in accepted {
        assert_eq!(request.await.unwrap(), StatusCode::CREATED, "every accepted request is stored");
    }
    let mut stored: Vec<String> =
        app.all_predictions().await.iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()).collect();
    stored.sort();
    let mut expected: Vec<String> = (0..sent).map(|n| format!("accepted-{n}")).collect();
    expected.sort();
    assert_eq!(stored, expected, "exactly the accepted events are stored; the refused ones are not");
}

async fn past_its_write_requests_the_server_refuses_at_once_before_reading_the_request(backend: Backend) {
    // A maximum this low is the limit.
    let resilience = Resilience { max_ingest_requests: 4, ..Resilience::default() };
    let settings = ServerSettings { resilience, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = std::sync::Arc::new(TestApp::spawn_with(backend, settings).await);
    let lock = WriteLock::hold(&app).await;
    // Four write requests in hand, waiting on the lock.
    let held: Vec<_> = (0..4)
        .map(|n| {
            let sender = app.clone();
            tokio::spawn(async move {
                let body = with(event("slots"), "prediction_id", json!(format!("held-{n}")));
                sender.post("/api/v1/predictions", &sender.admin_key, &body).await.status()
            })
        })
        .collect();
    for _ in 0..250 {
        if series(&metrics(&app).await, "ml_audit_ingest_requests") >= 4.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = metrics(&app).await;
    assert_eq!(series(&text, "ml_audit_ingest_requests"), 4.0);
    assert_eq!(series(&text, "ml_audit_ingest_requests_limit"), 4.0, "{text}");

    // The next one is refused now, whatever its body: it is not read.
    let response = app.post_bytes("/api/v1/predictions", &app.admin_key, "not even JSON").await;
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (code, _) = expect_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(code, "overloaded");
    // Reads are not write requests.
    assert_eq!(app.get("/api/v1/predictions", &app.admin_key).await.status(), StatusCode::OK);

    lock.release().await;
    for request in held {
        assert_eq!(request.await.unwrap(), StatusCode::CREATED);
    }
    let after = with(event("slots"), "prediction_id", json!("after"));
    assert_eq!(app.post("/api/v1/predictions", &app.admin_key, &after).await.status(), StatusCode::CREATED);
    assert_eq!(app.all_predictions().await.len(), 5, "the four held ones and the one after");
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn readyz_is_ready_and_says_why_when_the_sealer_falls_behind(backend: Backend) {
    // The background sealer never runs here: with nothing sealing, the time since it last
    // caught up grows past its bound of 3 s (queued records or not).
    let resilience = Resilience { max_sealer_lag: Duration::from_secs(3), ..Resilience::default() };
    let settings = ServerSettings { resilience, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    app.seal().await; // caught up just now, however long the start took
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["reasons"], json!([]));
    for check in ["database", "storage", "sealer", "queue"] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["sealer"]["ok"], false);
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("sealer: ") && reason.contains("more than the bound of 3 s"), "{reason}");
    assert_eq!(body["checks"]["database"]["ok"], true, "the rest still holds: {body}");
    assert_eq!(series(&metrics(&app).await, "ml_audit_ready"), 0.0);

    app.seal().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "ready again once the sealer has caught up: {body}");
    // Liveness never depended on any of it.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}

async fn metrics_show_write_errors_queue_sealer_lag_and_checkpoint_age(backend: Backend) {
    let resilience = Resilience { queue_events: 300, ..Resilience::default() };
    let settings = ServerSettings { resilience, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    let text = metrics(&app).await;
    assert_eq!(series(&text, "ml_audit_ingest_queue_events"), 0.0);
    assert_eq!(series(&text, "ml_audit_ingest_queue_capacity_events"), 300.0);
    assert!(series(&text, "ml_audit_last_checkpoint_age_seconds").is_nan(), "no checkpoint yet");
    for kind in ["storage_full", "unavailable", "other"] {
        assert!(text.contains(&format!("ml_audit_write_errors_total{{kind=\"{kind}\"}} 0")), "{kind}: {text}");
    }

    app.record(&event("m")).await;
    // Long enough that a lag counted from the start would show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = app.post("/api/v1/ledger/checkpoint", &app.admin_key, &Value::Null).await;
    assert!(response.status().is_success());
    let text = metrics(&app).await;
    let age = series(&text, "ml_audit_last_checkpoint_age_seconds");
    assert!((0.0..1.4).contains(&age), "a checkpoint was just signed: {age}");
    let lag = series(&text, "ml_audit_sealer_lag_seconds");
    assert!((0.0..1.4).contains(&lag), "the sealer just caught up (not 1.5 s ago): {lag}");
    assert_eq!(series(&text, "ml_audit_ready"), 1.0);
}

async fn a_body_that_does_not_arrive_in_time_is_refused_with_408_and_nothing_is_stored(backend: Backend) {
    let limits = Limits { body_read_timeout: Duration::from_secs(1), ..Limits::default() };
    let settings = ServerSettings { limits, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /api/v1/predictions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"model_name\": ",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest never comes; the server answers without it.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(app.all_predictions().await.is_empty());
}

async fn a_connection_that_does_not_send_its_headers_in_time_is_closed(backend: Backend) {
    let resilience = Resilience { header_read_timeout: Duration::from_secs(1), ..Resilience::default() };
    let settings = ServerSettings { resilience, ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() };
    let app = TestApp::spawn_with(backend, settings).await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: te").await.unwrap();
    let mut answer = Vec::new();
    // Within the configured second, well before the default of 10 s would close it.
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the server closed the connection of a client that stalled in its headers");
    // An idle connection that never sends anything is closed too.
    let mut idle = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "an idle connection is closed");
}
