//! Evidence packages end to end: real packages written by `PackageWriter` from real records,
//! checked by `verify_package` and by the standard-library Python verifier
//! (`docs/verify_package.py`), intact and altered in every way an auditor must catch.

mod fixture;

/// As in the `ml-audit` binary, whose throughput `throughput` measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs;
use std::path::Path;

use fixture::{Log, lines, log, python, reseal_manifest, write, write_lines};
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::package::{
    DataFormat, InclusionPaths, LeafTree, PackageError, PackageFailure, PackageWriter, verify_package,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Rows per test package: enough for several chunks' worth of structure (v1, v2, erased, proofs
/// of varied length), few enough to keep the suite fast.
const ROWS: usize = 40;

fn package(log: &Log, format: DataFormat, with_proofs: bool) -> TempDir {
    let dir = TempDir::new().unwrap();
    write(&dir.path().join("package"), log, format, with_proofs);
    dir
}

fn dir(temp: &TempDir) -> std::path::PathBuf {
    temp.path().join("package")
}

/// Both verifiers refuse the package; the Rust failure is returned, and the Python one must name
/// the same file.
fn refused(dir: &Path, vkey: Option<&str>) -> PackageFailure {
    let failure = verify_package(dir, vkey).expect_err("the package must not verify");
    let (passed, printed) = python(dir, vkey);
    eprintln!("rust:   {failure}\npython: {}", printed.trim());
    assert!(!passed, "python accepted what Rust refused ({failure}): {printed}");
    if let Some(file) = &failure.file {
        assert!(printed.contains(file.as_str()), "python must name {file}: {printed}\n(rust: {failure})");
    }
    failure
}

fn data_file(format: DataFormat) -> &'static str {
    format.file_name()
}

#[test]
fn good_packages_verify_in_rust_and_python() {
    let log = log(ROWS);
    let vkey = log.vkey();
    for format in [DataFormat::Jsonl, DataFormat::Csv] {
        for with_proofs in [true, false] {
            let temp = package(&log, format, with_proofs);
            let dir = dir(&temp);
            let report = verify_package(&dir, Some(&vkey)).unwrap_or_else(|e| panic!("{format} {with_proofs}: {e}"));
            assert_eq!(report.rows, ROWS as u64);
            assert_eq!(report.erased, 2);
            assert_eq!(report.with_proofs, with_proofs);
            assert_eq!(report.tree_size, log.checkpoint.tree_size);
            assert_eq!(report.root_hash, log.checkpoint.root);
            assert!(report.key_pinned);
            assert!(report.unsalted > 0, "v1 records are in the package");
            let said = report.to_string();
            assert_eq!(said.contains("NOT proven"), !with_proofs, "{said}");
            let unpinned = verify_package(&dir, None).unwrap();
            assert!(!unpinned.key_pinned);

            let (passed, printed) = python(&dir, Some(&vkey));
            assert!(passed, "python, {format}, proofs {with_proofs}: {printed}");
            assert!(printed.contains(&format!("{ROWS} rows")), "{printed}");
            assert_eq!(printed.contains("NOT proven"), !with_proofs, "{printed}");
            let (passed, printed) = python(&dir, None);
            assert!(passed && printed.contains("compare it with the log's key"), "{printed}");
        }
    }
}

#[test]
fn the_manifest_says_what_the_package_holds() {
    let log = log(ROWS);
    let temp = package(&log, DataFormat::Csv, true);
    let manifest: Value = serde_json::from_slice(&fs::read(dir(&temp).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "ml-audit-evidence-package");
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["data_format"], "csv");
    assert_eq!(manifest["row_count"], ROWS);
    assert_eq!(manifest["erased_count"], 2);
    assert_eq!(manifest["exported_by"], json!({"operator": "alice@host"}));
    assert_eq!(manifest["ledger"]["vkey"], log.vkey());
    assert_eq!(manifest["ledger"]["origin"], fixture::ORIGIN);
    assert_eq!(manifest["ledger"]["tree_size"], log.checkpoint.tree_size);
    let names: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["predictions.csv", "records.jsonl", "checkpoint.txt", "proofs.jsonl"]);
    assert_eq!(manifest["files"][2]["rows"], Value::Null);
    let mut present: Vec<String> =
        fs::read_dir(dir(&temp)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    present.sort();
    assert_eq!(present, ["checkpoint.txt", "manifest.json", "predictions.csv", "proofs.jsonl", "records.jsonl"]);
    let csv = fs::read_to_string(dir(&temp).join("predictions.csv")).unwrap();
    assert!(csv.ends_with("\r\n"), "RFC 4180 line ends");
    assert_eq!(csv.split("\r\n").filter(|line| !line.is_empty()).count(), ROWS + 1, "no raw newline in a cell");
}

/// Changes one byte of line `line` (0-based) of `path`: the first of `candidates` found there,
/// to the byte after it.
fn change_one_byte(path: &Path, line: usize, after: &str) {
    let mut bytes = fs::read(path).unwrap();
    let start: usize = bytes.split_inclusive(|b| *b == b'\n').take(line).map(<[u8]>::len).sum();
    let text = std::str::from_utf8(&bytes[start..]).unwrap();
    let at = start
        + text.find(after).unwrap_or_else(|| panic!("{after} in line {line} of {}", path.display()))
        + after.len();
    bytes[at] = match bytes[at] {
        b'0' => b'1',
        b'z' | b'Z' | b'9' => b'a',
        byte => byte + 1,
    };
    fs::write(path, bytes).unwrap();
}

#[test]
fn one_changed_byte_in_any_file_fails_naming_it() {
    let log = log(ROWS);
    let vkey = log.vkey();
    for format in [DataFormat::Jsonl, DataFormat::Csv] {
        // Row 4 (line 3 from 0 of a line file, line 4 of CSV after its header) is intact.
        let data_line = if format == DataFormat::Csv { 4 } else { 3 };
        let cases = [
            (data_file(format), data_line, "EU"),
            ("records.jsonl", 3, "\"leaf_data\":\"e"),
            ("proofs.jsonl", 3, "[\""),
            ("checkpoint.txt", 1, ""),
        ];
        for (file, line, after) in cases {
            let temp = package(&log, format, true);
            let dir = dir(&temp);
            change_one_byte(&dir.join(file), line, after);
            let failure = refused(&dir, Some(&vkey));
            assert_eq!(failure.file.as_deref(), Some(file), "{format}: {failure}");
            if file != "checkpoint.txt" {
                assert_eq!(failure.row, Some(4), "the changed row is named as well: {failure}");
            }
        }
    }
}

#[test]
fn a_changed_manifest_fails_naming_it() {
    let log = log(ROWS);
    let vkey = log.vkey();
    let root = hex::encode(log.checkpoint.root);
    let other_root = format!("{}{}", if &root[..1] == "0" { "1" } else { "0" }, &root[1..]);
    let cases = [
        (format!("\"row_count\": {ROWS}"), format!("\"row_count\": {}", ROWS + 1)),
        ("\"erased_count\": 2".to_owned(), "\"erased_count\": 3".to_owned()),
        (format!("\"root_hash\": \"{root}\""), format!("\"root_hash\": \"{other_root}\"")),
        ("\"format_version\": 1".to_owned(), "\"format_version\": 2".to_owned()),
    ];
    for (from, to) in cases {
        let temp = package(&log, DataFormat::Jsonl, false);
        let path = dir(&temp).join("manifest.json");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(&from), "{from}");
        fs::write(&path, text.replace(&from, &to)).unwrap();
        let failure = refused(&dir(&temp), Some(&vkey));
        assert_eq!(failure.file.as_deref(), Some("manifest.json"), "{to}: {failure}");
    }
}

#[test]
fn missing_and_extra_files_are_named() {
    let log = log(ROWS);
    let temp = package(&log, DataFormat::Jsonl, true);
    fs::remove_file(dir(&temp).join("proofs.jsonl")).unwrap();
    let failure = refused(&dir(&temp), None);
    assert_eq!(failure.file.as_deref(), Some("proofs.jsonl"), "{failure}");
    assert!(failure.message.contains("missing"), "{failure}");

    let temp = package(&log, DataFormat::Csv, false);
    fs::write(dir(&temp).join("notes.txt"), "added later").unwrap();
    let failure = refused(&dir(&temp), None);
    assert_eq!(failure.file.as_deref(), Some("notes.txt"), "{failure}");
    assert!(failure.message.contains("not listed"), "{failure}");

    let temp = package(&log, DataFormat::Jsonl, false);
    fs::remove_file(dir(&temp).join("manifest.json")).unwrap();
    assert_eq!(refused(&dir(&temp), None).file.as_deref(), Some("manifest.json"));
}

#[test]
fn swapped_data_rows_fail_on_content_naming_the_row() {
    let log = log(ROWS);
    for format in [DataFormat::Jsonl, DataFormat::Csv] {
        let temp = package(&log, format, false);
        let path = dir(&temp).join(data_file(format));
        if format == DataFormat::Csv {
            let text = fs::read_to_string(&path).unwrap();
            let mut rows: Vec<&str> = text.split_inclusive("\r\n").collect();
            rows.swap(10, 11); // data rows 10 and 11, after the header
            fs::write(&path, rows.concat()).unwrap();
        } else {
            let mut all = lines(&path);
            all.swap(9, 10);
            write_lines(&path, &all);
        }
        reseal_manifest(&dir(&temp));
        let failure = refused(&dir(&temp), Some(&log.vkey()));
        assert_eq!(failure.file.as_deref(), Some(data_file(format)), "{failure}");
        assert_eq!(failure.row, Some(10), "{failure}");
        assert!(failure.message.contains("out of step"), "{failure}");
    }
}

#[test]
fn changed_content_with_a_resealed_manifest_fails_naming_the_row() {
    let log = log(ROWS);
    let vkey = log.vkey();
    // Row r is prediction 40 - r: row 1 is prediction 39 (v2), row 3 prediction 37 (v1), row 37
    // prediction 3 (v2), row 35 prediction 5 (erased, v2).
    let cases: [(usize, &str, &str, &str); 4] = [
        (0, "\"decision_outcome\":\"approved\"", "\"decision_outcome\":\"approvee\"", "decision_outcome differs"),
        (2, "\"amount\":1271.5", "\"amount\":1271.6", "canonical bytes are not the leaf data"),
        (36, "\"currency\":\"EUR\"", "\"currency\":\"EUQ\"", "sealed commitment"),
        (34, "\"status\":\"success\"", "\"status\":\"successs\"", "status differs from the sealed one"),
    ];
    for (line, from, to, said) in cases {
        let temp = package(&log, DataFormat::Jsonl, true);
        let path = dir(&temp).join("predictions.jsonl");
        let mut all = lines(&path);
        assert!(all[line].contains(from), "line {line}: {from}");
        all[line] = all[line].replacen(from, to, 1);
        write_lines(&path, &all);
        reseal_manifest(&dir(&temp));
        let failure = refused(&dir(&temp), Some(&vkey));
        assert_eq!(failure.file.as_deref(), Some("predictions.jsonl"), "{failure}");
        assert_eq!(failure.row, Some(line as u64 + 1), "{failure}");
        assert!(failure.message.contains(said), "{said}: {failure}");
    }
}

#[test]
fn a_member_twice_in_one_object_is_refused() {
    // serde_json and Python would keep the last, other tools the first: an auditor's tool could
    // show the first while the verifier checked the second.
    let log = log(ROWS);
    for (line, from, to) in [
        (0, "\"confidence\":", "\"confidence\":0.01,\"confidence\":"),
        (1, "\"currency\":", "\"currency\":\"USD\",\"currency\":"),
        (2, "\"explanation\":{", "\"explanation\":{\"method\":\"lime\","),
    ] {
        let temp = package(&log, DataFormat::Jsonl, false);
        let path = dir(&temp).join("predictions.jsonl");
        let mut all = lines(&path);
        all[line] = all[line].replacen(from, to, 1);
        write_lines(&path, &all);
        reseal_manifest(&dir(&temp));
        let failure = refused(&dir(&temp), Some(&log.vkey()));
        assert_eq!((failure.file.as_deref(), failure.row), (Some("predictions.jsonl"), Some(line as u64 + 1)));
        assert!(failure.message.contains("appears twice"), "{failure}");
    }
}

#[test]
fn swapped_proofs_fail_naming_the_record() {
    let log = log(ROWS);
    // Whole lines swapped: each names another leaf.
    let temp = package(&log, DataFormat::Jsonl, true);
    let path = dir(&temp).join("proofs.jsonl");
    let mut all = lines(&path);
    all.swap(6, 20);
    write_lines(&path, &all);
    reseal_manifest(&dir(&temp));
    let failure = refused(&dir(&temp), Some(&log.vkey()));
    assert_eq!((failure.file.as_deref(), failure.row), (Some("proofs.jsonl"), Some(7)), "{failure}");
    assert!(failure.prediction.is_some(), "{failure}");

    // Only the paths swapped, the leaf indexes kept: the path no longer leads to the root.
    let temp = package(&log, DataFormat::Csv, true);
    let path = dir(&temp).join("proofs.jsonl");
    let mut all: Vec<Value> = lines(&path).iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let (first, second) = (all[6]["inclusion_path"].clone(), all[20]["inclusion_path"].clone());
    all[6]["inclusion_path"] = second;
    all[20]["inclusion_path"] = first;
    write_lines(&path, &all.iter().map(Value::to_string).collect::<Vec<_>>());
    reseal_manifest(&dir(&temp));
    let failure = refused(&dir(&temp), Some(&log.vkey()));
    assert_eq!((failure.file.as_deref(), failure.row), (Some("proofs.jsonl"), Some(7)), "{failure}");
    assert!(failure.message.contains("does not lead"), "{failure}");
}

#[test]
fn a_checkpoint_signed_by_another_key_fails() {
    let log = log(ROWS);
    let vkey = log.vkey();
    let other = LedgerKey::ephemeral(fixture::ORIGIN).unwrap();
    let temp = package(&log, DataFormat::Jsonl, true);
    let dir = dir(&temp);
    fs::write(dir.join("checkpoint.txt"), other.sign(&log.checkpoint).unwrap()).unwrap();
    reseal_manifest(&dir);
    // The manifest still names the log's key: the signature fails, pinned or not.
    for pinned in [None, Some(vkey.as_str())] {
        let failure = refused(&dir, pinned);
        assert_eq!(failure.file.as_deref(), Some("checkpoint.txt"), "{failure}");
    }
    // The manifest's key replaced too: consistent, so only the pinned key catches it.
    let path = dir.join("manifest.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace(&vkey, &other.verifier().vkey())).unwrap();
    let unpinned = verify_package(&dir, None).expect("consistent under the key it names");
    assert!(!unpinned.key_pinned && unpinned.to_string().contains("compare it with the log's key"));
    assert!(python(&dir, None).0);
    let failure = refused(&dir, Some(&vkey));
    assert_eq!(failure.file.as_deref(), Some("manifest.json"), "{failure}");
    assert!(failure.message.contains("not by the key given"), "{failure}");
}

#[test]
fn create_refuses_a_folder_that_holds_anything() {
    let temp = TempDir::new().unwrap();
    let kept = temp.path().join("keep.txt");
    fs::write(&kept, "precious").unwrap();
    let refused = PackageWriter::create(temp.path(), DataFormat::Jsonl, true);
    assert!(matches!(refused, Err(PackageError::NotEmpty(_))), "{:?}", refused.err());
    assert_eq!(fs::read_to_string(&kept).unwrap(), "precious");
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 1, "nothing was written");
    // A file where the folder would be.
    assert!(matches!(PackageWriter::create(&kept, DataFormat::Csv, false), Err(PackageError::NotEmpty(_))));
    assert_eq!(fs::read_to_string(&kept).unwrap(), "precious");
    // An empty folder, and one that does not exist yet, are taken.
    let empty = temp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(PackageWriter::create(&empty, DataFormat::Jsonl, false).is_ok());
    assert!(PackageWriter::create(&temp.path().join("new/deeper"), DataFormat::Jsonl, false).is_ok());
}

#[test]
fn an_unfinished_package_does_not_verify() {
    let log = log(ROWS);
    let temp = TempDir::new().unwrap();
    let dir = temp.path().join("package");
    let mut writer = PackageWriter::create(&dir, DataFormat::Jsonl, true).unwrap();
    for (row, line) in log.rows.iter().take(10) {
        writer.push(row, line).unwrap();
    }
    drop(writer);
    let failure = refused(&dir, Some(&log.vkey()));
    assert_eq!(failure.file.as_deref(), Some("manifest.json"), "{failure}");
    assert!(failure.message.contains("did not finish"), "{failure}");
}

#[test]
fn finish_refuses_a_checkpoint_or_paths_that_do_not_cover_the_rows() {
    let log = log(ROWS);
    let short = fixture::log(3); // another log: its checkpoint is by another key, for 9 leaves
    let temp = TempDir::new().unwrap();
    let write_all = |name: &str, with_proofs: bool| {
        let mut writer = PackageWriter::create(&temp.path().join(name), DataFormat::Jsonl, with_proofs).unwrap();
        for (row, line) in &log.rows {
            writer.push(row, line).unwrap();
        }
        writer
    };
    let refused = write_all("a", false).finish(None, &short.note, &log.ledger_info(), json!({}), json!({}));
    assert!(matches!(refused, Err(PackageError::Checkpoint(_))), "{:?}", refused.err());
    let refused = write_all("b", false).finish(None, &short.note, &short.ledger_info(), json!({}), json!({}));
    let message = refused.expect_err("the tree does not cover the rows").to_string();
    assert!(message.contains("beyond the checkpoint's tree"), "{message}");
    assert!(!temp.path().join("b/manifest.json").exists());
    // Paths of another tree do not reach the root.
    let wrong = LeafTree::new(log.leaves.iter().rev().copied().collect());
    let refused = write_all("c", true).finish(Some(&wrong), &log.note, &log.ledger_info(), json!({}), json!({}));
    assert!(matches!(refused, Err(PackageError::Proof(_))), "{:?}", refused.err());
    assert!(!temp.path().join("c/manifest.json").exists());
    // A closure giving the paths is as good as a tree.
    let tree = LeafTree::new(log.leaves.clone());
    let paths = |index: u64, size: u64| tree.inclusion_path(index, size);
    write_all("d", true).finish(Some(&paths), &log.note, &log.ledger_info(), json!({}), json!({})).unwrap();
    verify_package(&temp.path().join("d"), Some(&log.vkey())).unwrap();
}

#[test]
fn push_refuses_rows_that_disagree_with_their_line_or_the_header_and_writes_nothing_of_them() {
    let log = log(ROWS);
    for format in [DataFormat::Csv, DataFormat::Jsonl] {
        let temp = TempDir::new().unwrap();
        let dir = temp.path().join("p");
        let mut writer = PackageWriter::create(&dir, format, false).unwrap();
        let (row, line) = &log.rows[0];
        let (_, other_line) = &log.rows[1];
        assert!(matches!(writer.push(row, other_line), Err(PackageError::Row { row: 1, .. })));
        assert!(matches!(writer.push(&json!([1]), line), Err(PackageError::Row { row: 1, .. })));
        let mut unwritable = line.clone();
        unwritable.version = 3;
        assert!(matches!(writer.push(row, &unwritable), Err(PackageError::Row { row: 1, .. })));
        if format == DataFormat::Csv {
            // A null that a CSV cell cannot tell from "" on a row not erased, and (before any
            // header is written) members that would name other columns.
            let mut null_trace = row.clone();
            null_trace["trace_id"] = Value::Null;
            assert!(matches!(writer.push(&null_trace, line), Err(PackageError::Row { row: 1, .. })));
        }
        for (row, line) in &log.rows {
            writer.push(row, line).unwrap();
        }
        if format == DataFormat::Csv {
            let mut extra = log.rows[0].0.clone();
            extra["new_member"] = json!(1);
            let refused = writer.push(&extra, &log.rows[0].1);
            assert!(matches!(refused, Err(PackageError::Row { row, .. }) if row == ROWS as u64 + 1));
        }
        writer.finish(None, &log.note, &log.ledger_info(), json!({}), json!({})).unwrap();
        let report = verify_package(&dir, Some(&log.vkey())).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(report.rows, ROWS as u64);
    }
}

#[test]
fn push_json_writes_jsonl_rows_as_given() {
    let log = log(ROWS);
    let temp = TempDir::new().unwrap();
    let dir = temp.path().join("p");
    let mut writer = PackageWriter::create(&dir, DataFormat::Jsonl, true).unwrap();
    for (row, line) in &log.rows {
        writer.push_json(&serde_json::to_vec(row).unwrap(), line).unwrap();
    }
    let tree = LeafTree::new(log.leaves.clone());
    let summary = writer.finish(Some(&tree), &log.note, &log.ledger_info(), json!({}), json!({})).unwrap();
    assert_eq!((summary.rows, summary.erased), (ROWS as u64, 2));
    verify_package(&dir, Some(&log.vkey())).unwrap();
    assert!(python(&dir, Some(&log.vkey())).0);
}

#[test]
fn empty_exports_verify() {
    let log = log(0);
    for format in [DataFormat::Jsonl, DataFormat::Csv] {
        let temp = package(&log, format, true);
        let report = verify_package(&dir(&temp), Some(&log.vkey())).unwrap();
        assert_eq!(report.rows, 0);
        assert!(python(&dir(&temp), Some(&log.vkey())).0);
    }
}

#[cfg(feature = "parquet")]
mod parquet {
    use super::*;

    #[test]
    fn parquet_packages_verify_and_catch_a_changed_row() {
        let log = log(ROWS);
        let vkey = log.vkey();
        for with_proofs in [true, false] {
            let temp = package(&log, DataFormat::Parquet, with_proofs);
            let report = verify_package(&dir(&temp), Some(&vkey)).unwrap();
            assert_eq!((report.rows, report.erased), (ROWS as u64, 2));
            let (passed, printed) = python(&dir(&temp), Some(&vkey));
            assert!(passed && printed.contains("Parquet data rows were NOT read"), "{printed}");
        }
        // A data row that is not what its leaf commits to.
        let temp = TempDir::new().unwrap();
        let path = temp.path().join("p");
        let mut writer = PackageWriter::create(&path, DataFormat::Parquet, false).unwrap();
        for (i, (row, line)) in log.rows.iter().enumerate() {
            let mut row = row.clone();
            if i == 12 {
                row["latency_ms"] = json!(99.5);
            }
            writer.push(&row, line).unwrap();
        }
        writer.finish(None, &log.note, &log.ledger_info(), json!({}), json!({})).unwrap();
        let failure = verify_package(&path, Some(&vkey)).unwrap_err();
        assert_eq!((failure.file.as_deref(), failure.row), (Some("predictions.parquet"), Some(13)), "{failure}");
        // One changed byte in the Parquet file.
        let temp = package(&log, DataFormat::Parquet, false);
        let file = dir(&temp).join("predictions.parquet");
        let mut bytes = fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        fs::write(&file, bytes).unwrap();
        let failure = refused(&dir(&temp), Some(&vkey));
        assert_eq!(failure.file.as_deref(), Some("predictions.parquet"), "{failure}");
        // An empty export.
        let empty = fixture::log(0);
        let temp = package(&empty, DataFormat::Parquet, true);
        assert_eq!(verify_package(&dir(&temp), Some(&empty.vkey())).unwrap().rows, 0);
    }
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_needs_the_feature() {
    let temp = TempDir::new().unwrap();
    let refused = PackageWriter::create(temp.path(), DataFormat::Parquet, false);
    let message = refused.err().expect("no Parquet in this build").to_string();
    assert!(message.contains("--features parquet"), "{message}");
}

/// Figures, not a check: writes and verifies a package of `PACKAGE_ROWS` rows (100,000 by
/// default) and prints rows per second. Run it in release:
/// `cargo test --release -p ml-audit-ledger --test package throughput -- --ignored --nocapture`.
#[test]
#[ignore = "prints throughput figures; run by hand in release"]
fn throughput() {
    use std::time::Instant;
    let rows: usize = std::env::var("PACKAGE_ROWS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let started = Instant::now();
    let log = log(rows);
    eprintln!("{rows} rows made in {:.1?}", started.elapsed());
    let vkey = log.vkey();
    let serialised: Vec<Vec<u8>> = log.rows.iter().map(|(row, _)| serde_json::to_vec(row).unwrap()).collect();
    for (format, with_proofs, raw) in [
        (DataFormat::Jsonl, true, true),
        (DataFormat::Jsonl, true, false),
        (DataFormat::Jsonl, false, true),
        (DataFormat::Csv, true, false),
    ] {
        let temp = TempDir::new().unwrap();
        // KEEP_PACKAGE=DIR keeps the first package there, for `verify_kept`.
        let dir = match std::env::var_os("KEEP_PACKAGE") {
            Some(keep) if format == DataFormat::Jsonl && with_proofs && raw => std::path::PathBuf::from(keep),
            _ => temp.path().join("package"),
        };
        let started = Instant::now();
        let mut writer = PackageWriter::create(&dir, format, with_proofs).unwrap();
        for ((row, line), bytes) in log.rows.iter().zip(&serialised) {
            if raw {
                writer.push_json(bytes, line).unwrap();
            } else {
                writer.push(row, line).unwrap();
            }
        }
        let pushed = started.elapsed();
        let tree = LeafTree::new(log.leaves.clone());
        let proofs: Option<&dyn InclusionPaths> = if with_proofs { Some(&tree) } else { None };
        let finishing = Instant::now();
        let summary = writer.finish(proofs, &log.note, &log.ledger_info(), json!({}), json!({})).unwrap();
        let (written, finished) = (started.elapsed(), finishing.elapsed());
        let data = &summary.manifest.files[0];
        eprintln!(
            "{format} proofs={with_proofs} {}: {} bytes of data ({} a row); push {:.0} rows/s, with finish ({finished:.1?}) {:.0} rows/s",
            if raw { "push_json" } else { "push" },
            data.bytes,
            data.bytes / rows.max(1) as u64,
            rows as f64 / pushed.as_secs_f64(),
            rows as f64 / written.as_secs_f64()
        );
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let report = verify_package(&dir, Some(&vkey)).unwrap();
        let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu);
        assert_eq!(report.rows, rows as u64);
        eprintln!(
            "  verify: {:.0} rows/s ({elapsed:.1?}; {:.1} µs of CPU a row, all threads)",
            rows as f64 / elapsed.as_secs_f64(),
            cpu * 1e6 / rows.max(1) as f64
        );
    }
}

/// The CPU time this process has used (user and system, all threads), from `/proc/self/stat`:
/// unlike wall time, not inflated by other processes sharing the cores.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after_name.split_whitespace().filter_map(|field| field.parse().ok()).collect();
    // utime and stime are fields 14 and 15 of the line; the name and the state (not a number)
    // are dropped, so they are at 10 and 11 here. Clock ticks are 1/100 s on Linux.
    fields.get(10).zip(fields.get(11)).map_or(0.0, |(user, system)| (user + system) / 100.0)
}

/// Verifies the package at `VERIFY_PACKAGE` (one `throughput` kept with `KEEP_PACKAGE`), for
/// profiling the verifier alone.
#[test]
#[ignore = "verifies a package kept by `throughput`; run by hand"]
fn verify_kept() {
    let Some(dir) = std::env::var_os("VERIFY_PACKAGE") else { return };
    let (started, cpu) = (std::time::Instant::now(), cpu_seconds());
    let report = verify_package(Path::new(&dir), None).unwrap();
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu);
    eprintln!(
        "verify: {} rows, {:.0} rows/s ({elapsed:.1?}; {:.1} µs of CPU a row)",
        report.rows,
        report.rows as f64 / elapsed.as_secs_f64(),
        cpu * 1e6 / report.rows.max(1) as f64
    );
}
