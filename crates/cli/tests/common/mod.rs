//! A real `ml-audit serve` process and the CLI, as the integration tests drive them.
#![allow(dead_code, reason = "each test file uses some of these helpers")]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_ml-audit");

pub fn ml_audit(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(BIN).args(args).current_dir(dir).env_remove("ML_AUDIT_DATABASE_URL").output().expect("run ml-audit")
}

/// A running `ml-audit serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// What it printed before it was listening (the first admin key, if any).
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(dir: &std::path::Path, db: &str) -> Server {
        Self::start_with(dir, db, &[], Stdio::inherit())
    }

    /// Starts with this log filter, its log (stderr) going to `log`.
    pub fn start_logging(dir: &std::path::Path, db: &str, filter: &str, log: Stdio) -> Server {
        Self::start_with(dir, db, &[("ML_AUDIT_LOG", filter)], log)
    }

    /// Starts with these environment variables (`ML_AUDIT_LOG` is `warn` unless they set it),
    /// its log (stderr) going to `log`.
    pub fn start_with(dir: &std::path::Path, db: &str, env: &[(&str, &str)], log: Stdio) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--db", db, "--bind", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("ML_AUDIT_DATABASE_URL")
            .env("ML_AUDIT_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start ml-audit serve");
        let mut banner = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("ml-audit listening on ") {
                break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
            }
            banner.push(line);
        };
        Server { child, url, banner }
    }

    /// Asks for a graceful shutdown (SIGTERM, as an orchestrator would) and waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.child.wait().unwrap()
    }

    pub fn send_sigterm(&self) {
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
    }

    pub fn first_admin_key(&self) -> Option<String> {
        self.banner.iter().map(|l| l.trim()).find(|l| l.starts_with("mla_")).map(str::to_owned)
    }

    /// Records `event` with `key`; answers the status.
    pub async fn record(&self, client: &reqwest::Client, key: &str, event: &serde_json::Value) -> reqwest::StatusCode {
        self.post(client, key, "/api/v1/predictions", event).await.status()
    }

    /// POSTs `body` as JSON to `path` with `key`.
    pub async fn post(
        &self,
        client: &reqwest::Client,
        key: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        client.post(format!("{}{path}", self.url)).bearer_auth(key).json(body).send().await.unwrap()
    }

    /// Every `prediction_id` the server lists, following the cursor.
    pub async fn prediction_ids(&self, client: &reqwest::Client, key: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/v1/predictions?limit=1000&cursor={cursor}"),
                None => "/api/v1/predictions?limit=1000".to_owned(),
            };
            let page = self.get_json(client, key, &path).await;
            let items = page["items"].as_array().expect("a page");
            ids.extend(items.iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// GETs `path` with `key`, as JSON.
    pub async fn get_json(&self, client: &reqwest::Client, key: &str, path: &str) -> serde_json::Value {
        client.get(format!("{}{path}", self.url)).bearer_auth(key).send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exactly `expected` is stored, in any order (nothing acknowledged lost, nothing refused kept);
/// then the server stops cleanly and `ml-audit verify` passes on its database.
pub async fn assert_exactly_stored(
    server: Server,
    client: &reqwest::Client,
    key: &str,
    mut expected: Vec<String>,
    db: &str,
    dir: &std::path::Path,
) {
    let mut stored = server.prediction_ids(client, key).await;
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected, "exactly the acknowledged events are stored");
    assert!(server.terminate().success(), "the server stops cleanly");
    let verified = ml_audit(&["verify", "--db", db], dir);
    assert!(verified.status.success(), "the ledger verifies: {}", String::from_utf8_lossy(&verified.stdout));
}
