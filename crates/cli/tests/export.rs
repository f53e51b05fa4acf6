//! `ml-audit export` as an operator runs it: the real binary on a database a real `serve`
//! filled, after the server stopped; what it writes is what `GET /api/v1/exports/predictions`
//! answers, byte for byte, and its mistakes are the API's.

mod common;

use common::{Server, ml_audit};
use serde_json::{Value, json};

/// A database with predictions of two models and tenants (one erased), and what the API's
/// export answers for each of `queries` (JSONL and CSV) before the server stops.
struct Filled {
    dir: tempfile::TempDir,
    db: String,
    /// (query, jsonl, csv)
    answers: Vec<(&'static str, String, String)>,
}

async fn filled(queries: &[&'static str]) -> Filled {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("audit.db").display());
    let server = Server::start(dir.path(), &db);
    let admin = server.first_admin_key().unwrap();
    let client = reqwest::Client::new();
    let events: Vec<Value> = (0..30)
        .map(|i| {
            json!({"model_name": if i % 2 == 0 { "fraud" } else { "churn" }, "model_version": "1",
                   "features": {"i": i, "text": "a,\"b\"\nc"}, "output": {"score": i},
                   "confidence": f64::from(i % 10) / 10.0, "prediction_id": format!("p-{i}"),
                   "timestamp": format!("2026-11-{:02}T08:00:00Z", 1 + i % 20),
                   "actor": {"actor_type": "user", "actor_id": format!("{}", i % 3),
                             "tenant_id": if i % 3 == 0 { "acme" } else { "globex" }}})
        })
        .collect();
    let batch = server.post(&client, &admin, "/api/v1/predictions/batch", &json!({"events": events})).await;
    assert_eq!(batch.status(), 200);
    let erasure = json!({"predictions": ["p-4"], "reason": "asked"});
    assert_eq!(server.post(&client, &admin, "/api/v1/erasures", &erasure).await.status(), 201);
    let mut answers = Vec::new();
    for query in queries {
        let mut bodies = Vec::new();
        for format in ["jsonl", "csv"] {
            let url = format!("{}/api/v1/exports/predictions?format={format}&{query}", server.url);
            let response = client.get(url).bearer_auth(&admin).send().await.unwrap();
            assert_eq!(response.status(), 200, "{query}");
            bodies.push(response.text().await.unwrap());
        }
        let csv = bodies.pop().unwrap();
        answers.push((*query, bodies.pop().unwrap(), csv));
    }
    assert!(server.terminate().success());
    Filled { dir, db, answers }
}

/// `ml-audit export` with these arguments and `--db`.
fn export(filled: &Filled, args: &[&str]) -> std::process::Output {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--db", &filled.db]);
    ml_audit(&all, filled.dir.path())
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "export failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn the_shell_writes_what_the_api_answers_for_the_same_filters() {
    let filled =
        filled(&["", "model_name=fraud&min_confidence=0.3", "tenant_id=acme&time_to=2026-11-10T08:00:00Z"]).await;
    let flags: [&[&str]; 3] = [
        &[],
        &["--model-name", "fraud", "--min-confidence", "0.3"],
        &["--tenant-id", "acme", "--time-to", "2026-11-10T08:00:00Z"],
    ];
    for ((query, jsonl, csv), flags) in filled.answers.iter().zip(flags) {
        assert!(!jsonl.is_empty(), "{query} matches something");
        let mut args = vec!["--format", "jsonl"];
        args.extend_from_slice(flags);
        let output = export(&filled, &args);
        assert_eq!(&stdout(&output), jsonl, "JSONL for {query}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("exported"), "no progress bar off a terminal");
        assert_eq!(&stdout(&export(&filled, flags)), jsonl, "jsonl is the default ({query})");
        let mut args = vec!["--format", "csv"];
        args.extend_from_slice(flags);
        let written = stdout(&export(&filled, &args));
        assert_eq!(&written, csv, "CSV for {query}");
        let mut reader = csv::Reader::from_reader(written.as_bytes());
        let rows = reader.records().map(Result::unwrap).count();
        assert_eq!(rows, jsonl.lines().count());
    }
    let all: Vec<Value> = filled.answers[0].1.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(all.len(), 30);
    assert!(all.iter().any(|p| !p["erased"].is_null()), "the erased prediction is exported as the API shows it");
}

#[tokio::test]
async fn bad_filter_flags_are_refused_in_the_apis_words() {
    let filled = filled(&[]).await;
    for (args, flag, words) in [
        (&["--time-from", "yesterday"][..], "--time-from", None),
        (&["--min-confidence", "2"], "--min-confidence", Some("must be a number from 0 to 1")),
        (&["--status", "ok"], "--status", None),
        (&["--has-explanation", "maybe"], "--has-explanation", Some("must be true or false")),
        (&["--min-confidence", "0.9", "--max-confidence", "0.1"], "--min-confidence", Some("must not be greater")),
        (
            &["--time-from", "2026-11-02T00:00:00Z", "--time-to", "2026-11-01T00:00:00Z"],
            "--time-from",
            Some("must not be later than time_to"),
        ),
        (&["--review-state", "done"], "--review-state", None),
        (&["--subject", "someone@example.com"], "--subject", Some("needs a redaction hash key")),
    ] {
        let output = export(&filled, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{flag}: ")), "{args:?}: {stderr}");
        // The words after the flag are the core parser's, as the API's 400 says them.
        let pairs: Vec<(String, String)> = args
            .chunks(2)
            .map(|pair| (pair[0].trim_start_matches("--").replace('-', "_"), pair[1].to_owned()))
            .collect();
        if let Err(error) = ml_audit_core::query::parse_list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            assert!(stderr.contains(&error.message), "{args:?}: {stderr}");
        }
        if let Some(words) = words {
            assert!(stderr.contains(words), "{args:?}: {stderr}");
        }
        assert!(output.stdout.is_empty(), "nothing written for {args:?}");
    }
    for args in [&["--format", "xml"][..], &["--limit", "10"], &["--with-proofs"], &["--colour", "blue"]] {
        assert_eq!(export(&filled, args).status.code(), Some(2), "{args:?} is a usage error");
    }
}

#[cfg(not(feature = "parquet"))]
#[tokio::test]
async fn parquet_without_the_feature_says_how_to_build_it() {
    let filled = filled(&[]).await;
    let output = export(&filled, &["--format", "parquet"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--features parquet"));
}

#[cfg(feature = "parquet")]
#[tokio::test]
async fn parquet_holds_a_row_per_prediction_with_the_csv_cells() {
    use parquet::file::reader::{FileReader as _, SerializedFileReader};
    use parquet::record::RowAccessor as _;

    let filled = filled(&["model_name=fraud"]).await;
    let output = export(&filled, &["--format", "parquet", "--model-name", "fraud"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let path = filled.dir.path().join("fraud.parquet");
    std::fs::write(&path, &output.stdout).unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).expect("a Parquet file");
    let (_, jsonl, csv) = &filled.answers[0];
    assert_eq!(reader.metadata().file_metadata().num_rows(), jsonl.lines().count() as i64);
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = (0..schema.num_columns()).map(|i| schema.column(i).name().to_owned()).collect();
    let mut csv = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(names, csv.headers().unwrap().iter().collect::<Vec<_>>());
    let column = |name: &str| names.iter().position(|n| n == name).unwrap();
    for (row, (record, line)) in reader.get_row_iter(None).unwrap().zip(csv.records().zip(jsonl.lines())) {
        let (row, record) = (row.unwrap(), record.unwrap());
        let line: Value = serde_json::from_str(line).unwrap();
        for name in ["id", "prediction_id", "model", "features", "ledger", "status"] {
            assert_eq!(row.get_string(column(name)).unwrap(), &record[column(name)], "{name}");
        }
        assert_eq!(row.get_double(column("confidence")).unwrap(), line["confidence"].as_f64().unwrap());
        assert!(row.get_double(column("latency_ms")).is_err(), "null latency is a null DOUBLE");
    }
}

/// `ml-audit verify --package DIR` (pinned to the log's key) and the standard-library verifier.
fn verify_both(filled: &Filled, dir: &std::path::Path) -> (std::process::Output, std::process::Output) {
    let vkey = ml_audit(&["verify", "--db", &filled.db], filled.dir.path());
    assert!(vkey.status.success(), "{}", String::from_utf8_lossy(&vkey.stdout));
    let key = std::fs::read(filled.dir.path().join("ledger.key")).unwrap();
    assert!(!key.is_empty());
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let vkey = manifest["ledger"]["vkey"].as_str().unwrap().to_owned();
    let rust = ml_audit(&["verify", "--package", dir.to_str().unwrap(), "--public-key", &vkey], filled.dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/verify_package.py");
    let python = std::process::Command::new("python3")
        .args([script, dir.to_str().unwrap(), "--vkey", &vkey])
        .output()
        .expect("python3 runs");
    (rust, python)
}

#[tokio::test]
async fn an_evidence_package_verifies_offline_and_one_changed_byte_is_named() {
    let filled = filled(&[]).await;
    for (format, data) in [("jsonl", "predictions.jsonl"), ("csv", "predictions.csv")] {
        let out = filled.dir.path().join(format!("package-{format}"));
        let output = export(
            &filled,
            &["--format", format, "--model-name", "fraud", "--out", out.to_str().unwrap(), "--with-proofs"],
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("exported 15 predictions"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for file in ["manifest.json", data, "records.jsonl", "proofs.jsonl", "checkpoint.txt"] {
            assert!(out.join(file).is_file(), "{file}");
        }
        let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["row_count"], 15);
        assert_eq!(manifest["erased_count"], 1, "p-4 is a fraud prediction, erased");
        assert_eq!(manifest["filters"], json!({"model_name": "fraud"}));
        let (rust, python) = verify_both(&filled, &out);
        assert!(rust.status.success(), "{}", String::from_utf8_lossy(&rust.stdout));
        assert!(String::from_utf8_lossy(&rust.stdout).contains("package verified: 15 rows"));
        assert!(
            python.status.success(),
            "{}{}",
            String::from_utf8_lossy(&python.stdout),
            String::from_utf8_lossy(&python.stderr)
        );

        // One changed byte in the data file: both verifiers fail, naming it.
        let path = out.join(data);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"fraud").unwrap();
        bytes[at] = b'F';
        std::fs::write(&path, bytes).unwrap();
        let (rust, python) = verify_both(&filled, &out);
        assert_eq!(rust.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&rust.stdout).contains(data), "{}", String::from_utf8_lossy(&rust.stdout));
        assert_eq!(python.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&python.stderr).contains(data)
                || String::from_utf8_lossy(&python.stdout).contains(data)
        );
    }
}

#[tokio::test]
async fn out_refuses_a_folder_that_holds_anything_and_the_export_is_in_the_access_log() {
    let filled = filled(&[]).await;
    let out = filled.dir.path().join("taken");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let output = export(&filled, &["--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not an empty folder"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine", "nothing overwritten");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);

    // An export to stdout is on record: who, the filters, every prediction written.
    let written = stdout(&export(&filled, &["--tenant-id", "acme"]));
    let rows = written.lines().count();
    let verified = ml_audit(&["verify", "--db", &filled.db], filled.dir.path());
    let line = String::from_utf8_lossy(&verified.stdout).to_string();
    assert!(verified.status.success() && !line.contains(" 0 access entries"), "{line}");
    let server = Server::start(filled.dir.path(), &filled.db);
    let key = ml_audit(&["keys", "create", "--scope", "admin", "--db", &filled.db], filled.dir.path());
    let key = String::from_utf8_lossy(&key.stdout).lines().last().unwrap().to_owned();
    let log: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/access-log", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = log["items"].as_array().unwrap().iter().find(|e| e["action"] == "export").cloned();
    let entry = entry.unwrap_or_else(|| panic!("the export is logged: {log}"));
    assert_eq!(entry["channel"], "cli");
    assert_eq!(entry["filters"], json!({"tenant_id": "acme"}));
    assert_eq!(entry["predictions"].as_array().unwrap().len(), rows);
    assert!(server.terminate().success());
}
