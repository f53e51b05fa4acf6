//! Faults from outside, on a real `ml-audit serve`: a filesystem that fills up. Mounts a small
//! tmpfs (needs root, as CI has; without it the test fails and says so). `scripts/test` runs this
//! file on its own, after the suite, never beside tests that share the machine's resources.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, ml_audit};
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

/// A batch of `count` ~1.5 KB events, numbered from `first`.
fn batch(first: usize, count: usize) -> Value {
    let events: Vec<Value> = (first..first + count)
        .map(|n| {
            json!({"prediction_id": format!("full-{n:06}"), "model_name": "m", "model_version": "1",
                   "features": {"note": "x".repeat(1500)}, "output": {"score": 0.5}})
        })
        .collect();
    json!({ "events": events })
}

/// Every `prediction_id` the server lists, following the cursor.
async fn listed(server: &Server, client: &reqwest::Client, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/predictions?limit=1000&cursor={cursor}"),
            None => "/api/v1/predictions?limit=1000".to_owned(),
        };
        let page = server.get_json(client, key, &path).await;
        ids.extend(
            page["items"].as_array().expect("a page").iter().map(|p| p["prediction_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
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
    let url = format!("{}/api/v1/predictions/batch", server.url);

    // Batches until the disk is full: a batch is one transaction, so its events are either all
    // stored or all refused (each with its own result).
    let mut acknowledged = Vec::new();
    loop {
        let first = acknowledged.len();
        let answer = client.post(&url).bearer_auth(&key).json(&batch(first, 50)).send().await.unwrap();
        assert!(answer.status().is_success(), "a batch answers per event: {}", answer.status());
        let body: Value = answer.json().await.unwrap();
        let statuses: Vec<&Value> =
            body["results"].as_array().expect("per-event results").iter().map(|r| &r["status"]).collect();
        if statuses.iter().all(|s| **s == 201) {
            acknowledged.extend((first..first + 50).map(|n| format!("full-{n:06}")));
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
        let single = batch(acknowledged.len(), 1)["events"][0].clone();
        let answer = client
            .post(format!("{}/api/v1/predictions", server.url))
            .bearer_auth(&key)
            .json(&single)
            .send()
            .await
            .unwrap();
        if answer.status() != 201 {
            break answer;
        }
        acknowledged.push(single["prediction_id"].as_str().unwrap().to_owned());
        assert!(acknowledged.len() < 20_000, "12 MB never filled");
    };
    assert_eq!(answer.status(), 503, "a full disk is a 503");
    assert!(answer.headers().get("retry-after").is_some(), "a 503 says when to retry");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "storage_full", "{body}");

    // Reads keep working while the disk is full.
    let page = client.get(format!("{}/api/v1/predictions?limit=1", server.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(page.status(), 200, "reads are served on a full disk");

    // Space comes back: writes resume by themselves, no restart.
    std::fs::remove_file(&filler).expect("the filler is removed");
    let freed = Instant::now();
    let next = acknowledged.len();
    let recovered = loop {
        let answer = client.post(&url).bearer_auth(&key).json(&batch(next, 50)).send().await.unwrap();
        let body: Value = answer.json().await.unwrap();
        if body["results"].as_array().is_some_and(|r| r.iter().all(|r| r["status"] == 201)) {
            break freed.elapsed();
        }
        assert!(freed.elapsed() < Duration::from_secs(30), "writes did not resume within 30 s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    acknowledged.extend((next..next + 50).map(|n| format!("full-{n:06}")));
    println!("disk full after {} events; writes resumed {recovered:?} after space was freed", next);

    // Nothing acknowledged was lost, nothing refused was stored, and the ledger verifies.
    let mut stored = listed(&server, &client, &key).await;
    stored.sort();
    acknowledged.sort();
    assert_eq!(stored, acknowledged, "exactly the acknowledged events are stored");
    assert!(server.terminate().success(), "the server stops cleanly");
    let verified = ml_audit(&["verify", "--db", &db], fs.path());
    assert!(verified.status.success(), "the ledger verifies: {}", String::from_utf8_lossy(&verified.stdout));
}
