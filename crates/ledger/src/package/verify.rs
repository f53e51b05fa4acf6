//! `ml-audit verify --package DIR`: checks an evidence package offline, trusting nothing in it
//! but the public key the auditor pins (or, without one, the key the manifest names).
//!
//! The checks, in this order, each naming the first bad file or row:
//!
//! 1. `manifest.json` parses, is format version 1, and describes a version 1 package;
//! 2. the folder holds exactly the files it lists, and `manifest.json`;
//! 3. each file's byte count, SHA-256 and row count are the manifest's;
//! 4. `checkpoint.txt` is signed by the manifest's key (the pinned one, when given), for the
//!    manifest's origin, tree size and root;
//! 5. row by row: the data row and its records line are of one prediction; the record rebuilt
//!    from the data row is what its leaf commits to; the leaf is in the checkpoint's tree and,
//!    with proofs, its inclusion path leads to the signed root.
//!
//! Files are read once, streaming: one thread reads and hashes them and cuts them into chunks of
//! rows, which the other cores check. A failure found in a chunk stops the checking of the chunks
//! after it, never of those before, so the failure reported is always the lowest-numbered row's.
//! Steps 3 to 5 run in that one pass; a failure of an earlier step is reported before any of a
//! later one.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::Hash;
use serde_json::{Map, Value};

use super::data::{Cell, Columns};
use super::hashing::{Digested, HashingReader};
use super::manifest::{FileEntry, Manifest};
use super::records::parse_hash;
use super::rows::{RowChecker, RowKind};
use super::{CHECKPOINT_FILE, DataFormat, FORMAT, FORMAT_VERSION, MANIFEST_FILE, PROOFS_FILE, RECORDS_FILE};
use crate::key::LedgerVerifier;

/// Rows per chunk handed to a checking thread.
const CHUNK_ROWS: usize = 256;
/// The longest line or manifest read: far beyond any prediction the server accepts.
const MAX_LINE: u64 = 64 * 1024 * 1024;
/// The largest checkpoint note read.
const MAX_CHECKPOINT: u64 = 64 * 1024;

/// Why a package does not verify: the first bad file or row, in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PackageFailure {
    /// The file at fault, when one is.
    pub file: Option<String>,
    /// The 1-based row at fault (the line of `records.jsonl` and `proofs.jsonl`, the data row of
    /// the data file), when one is.
    pub row: Option<u64>,
    /// The prediction of that row: its `prediction_id`, else its `id`.
    pub prediction: Option<String>,
    /// The whole sentence, naming all of the above.
    pub message: String,
}

impl PackageFailure {
    pub(crate) fn in_file(file: &str, message: impl fmt::Display) -> Self {
        Self { file: Some(file.into()), row: None, prediction: None, message: format!("{file}: {message}") }
    }

    fn package(message: impl Into<String>) -> Self {
        Self { file: None, row: None, prediction: None, message: message.into() }
    }

    /// A failure of row `row` of `file`: "records.jsonl line 17 (prediction "p-17"): …".
    pub(crate) fn row(file: &str, row: u64, prediction: Option<String>, message: &str) -> Self {
        let unit = if file.ends_with(".jsonl") { "line" } else { "row" };
        let named = match &prediction {
            Some(prediction) => format!(" (prediction {prediction:?})"),
            None => String::new(),
        };
        Self {
            file: Some(file.into()),
            row: Some(row),
            prediction,
            message: format!("{file} {unit} {row}{named}: {message}"),
        }
    }

    /// This failure, with the first bad row found by the same pass added as a clue.
    fn with_clue(mut self, clue: Option<&PackageFailure>) -> Self {
        if let Some(clue) = clue {
            self.message = format!("{}; the first row that does not check out: {}", self.message, clue.message);
            self.row = clue.row;
            self.prediction.clone_from(&clue.prediction);
        }
        self
    }
}

/// What a verified package proves.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageReport {
    pub rows: u64,
    /// Rows of erased predictions: checked against what their seal keeps (v2), or only placed in
    /// the tree (v1).
    pub erased: u64,
    /// Intact rows of v1 records, checked byte for byte.
    pub unsalted: u64,
    /// Whether each leaf's inclusion in the signed tree was proven; without proofs only its index
    /// was checked to be within the tree.
    pub with_proofs: bool,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub origin: String,
    /// The key the checkpoint is signed with.
    pub vkey: String,
    /// Whether that key was the one the caller pinned; otherwise it is only the manifest's word.
    pub key_pinned: bool,
    pub data_format: DataFormat,
    pub manifest: Manifest,
}

impl fmt::Display for PackageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "package verified: {} rows of the log {:?}, each record recomputed from its data row and matching its leaf",
            self.rows, self.origin
        )?;
        if self.erased > 0 {
            write!(f, " ({} erased: checked against what their seal keeps)", self.erased)?;
        }
        if self.with_proofs {
            write!(f, "; every leaf proven in the signed tree of {} leaves", self.tree_size)?;
        } else {
            write!(
                f,
                "; inclusion NOT proven (no proofs in the package): each leaf index is within the signed tree of {} leaves",
                self.tree_size
            )?;
        }
        write!(f, " (root {})", hex::encode(self.root_hash))?;
        if self.key_pinned {
            write!(f, "; signed by the key given, {}", self.vkey)
        } else {
            write!(f, "; signed by the key the manifest names, {}: compare it with the log's key you hold", self.vkey)
        }
    }
}

/// Checks the package in `dir`. With `pinned_vkey` (the log's verifier key, obtained out of
/// band), the checkpoint must be signed by that key; without it, by the key the manifest names,
/// which proves the package is consistent but not whose log it is.
pub fn verify_package(dir: &Path, pinned_vkey: Option<&str>) -> Result<PackageReport, PackageFailure> {
    let manifest = read_manifest(dir)?;
    let format = check_manifest(&manifest)?;
    check_file_set(dir, &manifest)?;

    let checkpoint_read = read_checkpoint(dir);
    let checkpoint = match &checkpoint_read {
        Ok((note, _)) => check_checkpoint(&manifest, note, pinned_vkey),
        Err(failure) => Err(failure.clone()),
    };

    let pass = stream_rows(dir, &manifest, format, checkpoint.as_ref().ok())?;

    // Step 3, file by file in the manifest's order.
    for file in &manifest.files {
        let outcome = if file.name == CHECKPOINT_FILE {
            checkpoint_read.as_ref().map(|(_, digest)| (*digest, None)).map_err(Clone::clone)
        } else {
            pass.files
                .iter()
                .find(|(name, _)| *name == file.name)
                .map(|(_, outcome)| outcome.clone())
                .unwrap_or_else(|| Err(PackageFailure::in_file(&file.name, "was not read (a bug in the verifier)")))
        };
        let (digest, rows) = outcome.map_err(|failure| failure.with_clue(pass.row_failure.as_ref()))?;
        check_file_digest(file, digest, rows).map_err(|failure| failure.with_clue(pass.row_failure.as_ref()))?;
    }
    // Step 4.
    let checkpoint = checkpoint?;
    // Step 5.
    if let Some(failure) = pass.row_failure {
        return Err(failure);
    }
    if pass.rows != manifest.row_count {
        return Err(PackageFailure::package(format!(
            "{} rows were checked, but manifest.json says {} (a bug in the verifier)",
            pass.rows, manifest.row_count
        )));
    }
    if pass.erased != manifest.erased_count {
        return Err(PackageFailure::in_file(
            MANIFEST_FILE,
            format!("it counts {} erased rows, but the data holds {}", manifest.erased_count, pass.erased),
        ));
    }
    let key_pinned = pinned_vkey.is_some();
    Ok(PackageReport {
        rows: pass.rows,
        erased: pass.erased,
        unsalted: pass.unsalted,
        with_proofs: manifest.with_proofs,
        tree_size: checkpoint.tree_size,
        root_hash: checkpoint.root,
        origin: checkpoint.origin,
        vkey: manifest.ledger.vkey.clone(),
        key_pinned,
        data_format: format,
        manifest,
    })
}

fn entry<'a>(manifest: &'a Manifest, name: &str) -> Option<&'a FileEntry> {
    manifest.files.iter().find(|file| file.name == name)
}

/// Step 1: the manifest parses and is of this format's version.
fn read_manifest(dir: &Path) -> Result<Manifest, PackageFailure> {
    let path = dir.join(MANIFEST_FILE);
    let file = File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PackageFailure::in_file(
            MANIFEST_FILE,
            "is missing: this is not an evidence package, or its export did not finish",
        ),
        _ => PackageFailure::in_file(MANIFEST_FILE, e),
    })?;
    let mut text = Vec::new();
    file.take(MAX_LINE).read_to_end(&mut text).map_err(|e| PackageFailure::in_file(MANIFEST_FILE, e))?;
    let value = super::json::strict_from_slice(&text)
        .map_err(|e| PackageFailure::in_file(MANIFEST_FILE, format!("is not JSON: {e}")))?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(PackageFailure::in_file(MANIFEST_FILE, format!("its format is not {FORMAT:?}")));
    }
    match value.get("format_version").and_then(Value::as_u64) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(PackageFailure::in_file(
                MANIFEST_FILE,
                format!("it is format version {version}; this verifier reads version {FORMAT_VERSION}"),
            ));
        }
        None => return Err(PackageFailure::in_file(MANIFEST_FILE, "it has no format_version")),
    }
    serde_json::from_value(value)
        .map_err(|e| PackageFailure::in_file(MANIFEST_FILE, format!("is not a version 1 manifest: {e}")))
}

/// Step 1 continued: the manifest describes a version 1 package, consistently.
fn check_manifest(manifest: &Manifest) -> Result<DataFormat, PackageFailure> {
    let bad = |message: String| PackageFailure::in_file(MANIFEST_FILE, message);
    let format: DataFormat = manifest
        .data_format
        .parse()
        .map_err(|_| bad(format!("data_format {:?} is not jsonl, csv or parquet", manifest.data_format)))?;
    let mut expected = vec![format.file_name(), RECORDS_FILE, CHECKPOINT_FILE];
    if manifest.with_proofs {
        expected.push(PROOFS_FILE);
    }
    for (i, file) in manifest.files.iter().enumerate() {
        if !expected.contains(&file.name.as_str()) {
            return Err(bad(format!("it lists {:?}, which this package (data {format}) does not have", file.name)));
        }
        if manifest.files[..i].iter().any(|other| other.name == file.name) {
            return Err(bad(format!("it lists {:?} twice", file.name)));
        }
        if file.sha256.len() != 64 || parse_hash(&file.sha256).is_none() {
            return Err(bad(format!("the sha256 of {} is not 64 hex digits", file.name)));
        }
        let rows_expected = (file.name != CHECKPOINT_FILE).then_some(manifest.row_count);
        if file.rows != rows_expected {
            return Err(bad(match rows_expected {
                Some(count) => format!("{} has {:?} rows, but row_count is {count}", file.name, file.rows),
                None => format!("{} is not a file of rows, but has rows {:?}", file.name, file.rows),
            }));
        }
    }
    if let Some(missing) = expected.iter().find(|name| entry(manifest, name).is_none()) {
        return Err(bad(format!("it does not list {missing}")));
    }
    if manifest.erased_count > manifest.row_count {
        return Err(bad(format!("erased_count {} exceeds row_count {}", manifest.erased_count, manifest.row_count)));
    }
    if parse_hash(&manifest.ledger.root_hash).is_none() {
        return Err(bad("ledger.root_hash is not 64 hex digits".into()));
    }
    Ok(format)
}

/// Step 2: exactly the listed files, and the manifest.
fn check_file_set(dir: &Path, manifest: &Manifest) -> Result<(), PackageFailure> {
    let entries = std::fs::read_dir(dir).map_err(|e| PackageFailure::package(format!("{}: {e}", dir.display())))?;
    let mut present = BTreeSet::new();
    for found in entries {
        let found = found.map_err(|e| PackageFailure::package(format!("{}: {e}", dir.display())))?;
        let name = found.file_name().to_string_lossy().into_owned();
        let is_file = found.file_type().is_ok_and(|kind| kind.is_file());
        if !is_file && (name == MANIFEST_FILE || entry(manifest, &name).is_some()) {
            return Err(PackageFailure::in_file(&name, "is not a regular file"));
        }
        present.insert(name);
    }
    let missing: Vec<&str> =
        manifest.files.iter().map(|file| file.name.as_str()).filter(|name| !present.contains(*name)).collect();
    let extra: Vec<&str> = present
        .iter()
        .map(String::as_str)
        .filter(|name| *name != MANIFEST_FILE && entry(manifest, name).is_none())
        .collect();
    let mut sentences = Vec::new();
    if !missing.is_empty() {
        sentences.push(format!("missing: {} (listed in manifest.json)", missing.join(", ")));
    }
    if !extra.is_empty() {
        sentences.push(format!("not listed in manifest.json: {}", extra.join(", ")));
    }
    match missing.first().or(extra.first()) {
        None => Ok(()),
        Some(first) => Err(PackageFailure {
            file: Some((*first).to_owned()),
            row: None,
            prediction: None,
            message: format!("the package's files are not the ones its manifest lists: {}", sentences.join("; ")),
        }),
    }
}

fn check_file_digest(file: &FileEntry, digest: Digested, rows: Option<u64>) -> Result<(), PackageFailure> {
    if digest.bytes != file.bytes {
        return Err(PackageFailure::in_file(
            &file.name,
            format!("it has {} bytes, manifest.json says {}: the file was changed", digest.bytes, file.bytes),
        ));
    }
    if hex::encode(digest.sha256) != file.sha256.to_ascii_lowercase() {
        return Err(PackageFailure::in_file(
            &file.name,
            "its SHA-256 is not the one in manifest.json: the file was changed",
        ));
    }
    if rows != file.rows {
        return Err(PackageFailure::in_file(
            &file.name,
            format!("it has {} rows, manifest.json says {}", fmt_rows(rows), fmt_rows(file.rows)),
        ));
    }
    Ok(())
}

fn fmt_rows(rows: Option<u64>) -> String {
    rows.map_or_else(|| "no".into(), |rows| rows.to_string())
}

fn read_checkpoint(dir: &Path) -> Result<(String, Digested), PackageFailure> {
    let file = File::open(dir.join(CHECKPOINT_FILE)).map_err(|e| PackageFailure::in_file(CHECKPOINT_FILE, e))?;
    let mut reader = HashingReader::new(file.take(MAX_CHECKPOINT + 1));
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| PackageFailure::in_file(CHECKPOINT_FILE, e))?;
    if bytes.len() as u64 > MAX_CHECKPOINT {
        return Err(PackageFailure::in_file(CHECKPOINT_FILE, "is larger than any checkpoint note"));
    }
    let digest = reader.finish().map_err(|e| PackageFailure::in_file(CHECKPOINT_FILE, e))?;
    let note = String::from_utf8(bytes).map_err(|_| PackageFailure::in_file(CHECKPOINT_FILE, "is not UTF-8 text"))?;
    Ok((note, digest))
}

/// Step 4: the signed note is the log's, as the manifest says, under the key pinned.
fn check_checkpoint(manifest: &Manifest, note: &str, pinned_vkey: Option<&str>) -> Result<Checkpoint, PackageFailure> {
    let ledger = &manifest.ledger;
    let verifier = LedgerVerifier::from_vkey(&ledger.vkey)
        .map_err(|e| PackageFailure::in_file(MANIFEST_FILE, format!("ledger.vkey: {e}")))?;
    if verifier.name() != ledger.key_name {
        return Err(PackageFailure::in_file(
            MANIFEST_FILE,
            format!("ledger.key_name {:?} is not the name in ledger.vkey, {:?}", ledger.key_name, verifier.name()),
        ));
    }
    let checkpoint = verifier.verify(note).map_err(|e| {
        PackageFailure::in_file(CHECKPOINT_FILE, format!("it does not verify with the key in manifest.json: {e}"))
    })?;
    if let Some(pinned) = pinned_vkey {
        let pinned = LedgerVerifier::from_vkey(pinned)
            .map_err(|e| PackageFailure::package(format!("the public key given: {e}")))?;
        if pinned.vkey() != verifier.vkey() {
            return Err(PackageFailure::in_file(
                MANIFEST_FILE,
                format!(
                    "the package is signed by the key {}, not by the key given, {}: it is not this log's, or was re-signed",
                    verifier.vkey(),
                    pinned.vkey()
                ),
            ));
        }
    }
    // The note is signed, the manifest is not: where they differ, the manifest is at fault.
    if checkpoint.origin != ledger.origin {
        return Err(PackageFailure::in_file(
            MANIFEST_FILE,
            format!("it names the log {:?}, the signed checkpoint {:?}", ledger.origin, checkpoint.origin),
        ));
    }
    if checkpoint.tree_size != ledger.tree_size || hex::encode(checkpoint.root) != ledger.root_hash.to_ascii_lowercase()
    {
        return Err(PackageFailure::in_file(
            MANIFEST_FILE,
            format!(
                "it says the tree of {} leaves with root {}, the signed checkpoint {} leaves with root {}",
                ledger.tree_size,
                ledger.root_hash,
                checkpoint.tree_size,
                hex::encode(checkpoint.root)
            ),
        ));
    }
    Ok(checkpoint)
}

/// What the streaming pass found.
struct Pass {
    /// Per file read: its digest and rows, or why it could not be read to the end.
    files: Vec<(&'static str, FileOutcome)>,
    row_failure: Option<PackageFailure>,
    rows: u64,
    erased: u64,
    unsalted: u64,
}

type FileOutcome = Result<(Digested, Option<u64>), PackageFailure>;

/// Steps 3 and 5 in one read of the files: hashes and counts every file to its end; checks rows
/// while `checkpoint` holds (step 4 passed) and no row has failed.
fn stream_rows(
    dir: &Path,
    manifest: &Manifest,
    format: DataFormat,
    checkpoint: Option<&Checkpoint>,
) -> Result<Pass, PackageFailure> {
    let data_file = format.file_name();
    let mut data = DataReader::open(dir, format)?;
    let mut records = LineReader::open(dir, RECORDS_FILE)?;
    let mut proofs = if manifest.with_proofs { Some(LineReader::open(dir, PROOFS_FILE)?) } else { None };

    // JSONL rows are objects already; table rows are read through their header's columns.
    let columns: Result<Option<Arc<Columns>>, PackageFailure> = match &data {
        DataReader::Csv { columns, .. } => columns.clone().map(Some),
        #[cfg(feature = "parquet")]
        DataReader::Parquet(reader) => reader.columns().map(|columns| Some(Arc::new(columns))),
        _ => Ok(None),
    };
    // A data file whose rows cannot be read fails as a file (step 3), before any row.
    let mut data_failure = columns.as_ref().err().cloned();
    let checker =
        checkpoint.map(|checkpoint| RowChecker { data_file, tree_size: checkpoint.tree_size, root: checkpoint.root });

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let first_failed_chunk = AtomicU64::new(u64::MAX);
    let mut tallies = Vec::new();
    let mut records_failure = None;
    let mut proofs_failure = None;
    let (sender, receiver) = sync_channel::<Chunk>(workers * 2);
    let receiver = Mutex::new(receiver);
    std::thread::scope(|scope| {
        let handles: Vec<_> = match (&checker, &columns) {
            (Some(checker), Ok(columns)) if data_failure.is_none() => (0..workers)
                .map(|_| {
                    let (receiver, first_failed_chunk) = (&receiver, &first_failed_chunk);
                    scope.spawn(move || check_chunks(receiver, first_failed_chunk, checker, columns.as_deref()))
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut index = 0u64;
        let mut next_row = 1u64;
        let mut sizes = ChunkSizes::default();
        while !handles.is_empty() && first_failed_chunk.load(Ordering::Relaxed) == u64::MAX {
            let mut chunk = Chunk::new(index, next_row, &data, proofs.is_some(), sizes);
            let mut ended = false;
            for _ in 0..CHUNK_ROWS {
                match data.next_into(&mut chunk.data) {
                    Ok(true) => {}
                    Ok(false) => ended = true,
                    Err(failure) => {
                        data_failure = Some(failure);
                        ended = true;
                    }
                }
                match records.next_into(&mut chunk.records) {
                    Ok(true) => {}
                    Ok(false) => ended = true,
                    Err(failure) => {
                        records_failure = Some(failure);
                        ended = true;
                    }
                }
                if let (Some(proofs), Some(lines)) = (&mut proofs, &mut chunk.proofs) {
                    match proofs.next_into(lines) {
                        Ok(true) => {}
                        Ok(false) => ended = true,
                        Err(failure) => {
                            proofs_failure = Some(failure);
                            ended = true;
                        }
                    }
                }
                if ended {
                    break;
                }
            }
            let rows = chunk.rows();
            sizes = chunk.sizes();
            if rows > 0 && sender.send(chunk).is_err() {
                break;
            }
            next_row += rows as u64;
            index += 1;
            if ended {
                break;
            }
        }
        drop(sender);
        for handle in handles {
            match handle.join() {
                Ok(tally) => tallies.push(tally),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });

    let mut pass = Pass { files: Vec::new(), row_failure: None, rows: 0, erased: 0, unsalted: 0 };
    for tally in tallies {
        pass.rows += tally.rows;
        pass.erased += tally.erased;
        pass.unsalted += tally.unsalted;
        if let Some(failure) = tally.failure
            && pass.row_failure.as_ref().is_none_or(|first| failure.row < first.row)
        {
            pass.row_failure = Some(failure);
        }
    }
    pass.files.push((data_file, data_failure.map_or_else(|| data.finish(), Err)));
    pass.files.push((RECORDS_FILE, records_failure.map_or_else(|| records.finish(), Err)));
    if let Some(proofs) = proofs {
        pass.files.push((PROOFS_FILE, proofs_failure.map_or_else(|| proofs.finish(), Err)));
    }
    Ok(pass)
}

/// What one checking thread found.
#[derive(Default)]
struct Tally {
    rows: u64,
    erased: u64,
    unsalted: u64,
    /// Its lowest-numbered failure (chunks arrive in order to each thread).
    failure: Option<PackageFailure>,
}

fn check_chunks(
    receiver: &Mutex<Receiver<Chunk>>,
    first_failed_chunk: &AtomicU64,
    checker: &RowChecker,
    columns: Option<&Columns>,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let chunk = match receiver.lock().map(|receiver| receiver.recv()) {
            Ok(Ok(chunk)) => chunk,
            _ => return tally,
        };
        // Chunks after a failed one need no checking: the failure reported is the lowest row's.
        if chunk.index > first_failed_chunk.load(Ordering::Relaxed) {
            continue;
        }
        let mut cells = Vec::new();
        for i in 0..chunk.rows() {
            let number = chunk.first_row + i as u64;
            let data = chunk.data.row_object(i, columns, &mut cells);
            let proof = chunk.proofs.as_ref().map(|lines| lines.get(i));
            match checker.check(number, data, chunk.records.get(i), proof) {
                Ok(kind) => {
                    tally.rows += 1;
                    match kind {
                        RowKind::Erased => tally.erased += 1,
                        RowKind::Intact { unsalted } => tally.unsalted += u64::from(unsalted),
                    }
                }
                Err(failure) => {
                    first_failed_chunk.fetch_min(chunk.index, Ordering::Relaxed);
                    if tally.failure.as_ref().is_none_or(|first| failure.row < first.row) {
                        tally.failure = Some(failure);
                    }
                    break;
                }
            }
        }
    }
}

/// Rows cut from the files, checked by one thread.
struct Chunk {
    index: u64,
    first_row: u64,
    data: DataRows,
    records: Lines,
    proofs: Option<Lines>,
}

/// The bytes of each file's lines in a chunk: the next chunk's buffers start that large, so
/// they do not grow (and copy) as they fill.
#[derive(Debug, Clone, Copy, Default)]
struct ChunkSizes {
    data: usize,
    records: usize,
    proofs: usize,
}

impl Chunk {
    fn new(index: u64, first_row: u64, data: &DataReader, with_proofs: bool, sizes: ChunkSizes) -> Self {
        let data = match data {
            DataReader::Jsonl(_) => DataRows::Json(Lines::with_capacity(sizes.data)),
            DataReader::Csv { .. } => DataRows::Csv(Vec::with_capacity(CHUNK_ROWS)),
            _ => DataRows::Cells(Vec::with_capacity(CHUNK_ROWS)),
        };
        let records = Lines::with_capacity(sizes.records);
        Self { index, first_row, data, records, proofs: with_proofs.then(|| Lines::with_capacity(sizes.proofs)) }
    }

    fn sizes(&self) -> ChunkSizes {
        let data = match &self.data {
            DataRows::Json(lines) => lines.buf.len(),
            _ => 0,
        };
        let proofs = self.proofs.as_ref().map_or(0, |lines| lines.buf.len());
        // A little more, for a chunk of longer lines.
        let more = |bytes: usize| bytes + bytes / 8;
        ChunkSizes { data: more(data), records: more(self.records.buf.len()), proofs: more(proofs) }
    }

    /// Rows present in every file.
    fn rows(&self) -> usize {
        let proofs = self.proofs.as_ref().map_or(usize::MAX, Lines::len);
        self.data.len().min(self.records.len()).min(proofs)
    }
}

/// Lines in one buffer: line `i` is `buf[ends[i-1]..ends[i]]`, without its newline.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Lines {
    fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes), ends: Vec::with_capacity(CHUNK_ROWS) }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

/// A cell of a Parquet row, owned.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
pub(crate) enum OwnedCell {
    Text(String),
    Null,
    Double(f64),
}

enum DataRows {
    Json(Lines),
    Csv(Vec<csv::ByteRecord>),
    Cells(Vec<Vec<OwnedCell>>),
}

impl DataRows {
    fn len(&self) -> usize {
        match self {
            DataRows::Json(lines) => lines.len(),
            DataRows::Csv(rows) => rows.len(),
            DataRows::Cells(rows) => rows.len(),
        }
    }

    /// Row `i` as the JSON object it was written from.
    fn row_object<'a>(
        &'a self,
        i: usize,
        columns: Option<&Columns>,
        cells: &mut Vec<Cell<'a>>,
    ) -> Result<Map<String, Value>, String> {
        cells.clear();
        let table = || columns.ok_or_else(|| "a table row without its columns (a bug in the verifier)".to_owned());
        match self {
            DataRows::Json(lines) => super::rows::json_row(lines.get(i)),
            DataRows::Csv(rows) => {
                for (column, field) in rows[i].iter().enumerate() {
                    let text = std::str::from_utf8(field).map_err(|_| format!("column {} is not UTF-8", column + 1))?;
                    cells.push(Cell::Text(text));
                }
                table()?.row_object(cells)
            }
            DataRows::Cells(rows) => {
                cells.extend(rows[i].iter().map(|cell| match cell {
                    OwnedCell::Text(text) => Cell::Text(text),
                    OwnedCell::Null => Cell::Null,
                    OwnedCell::Double(number) => Cell::Double(*number),
                }));
                table()?.row_object(cells)
            }
        }
    }
}

/// A line file read and hashed as it goes.
struct LineReader {
    name: &'static str,
    reader: BufReader<HashingReader<File>>,
    lines: u64,
}

impl LineReader {
    fn open(dir: &Path, name: &'static str) -> Result<Self, PackageFailure> {
        let file = File::open(dir.join(name)).map_err(|e| PackageFailure::in_file(name, e))?;
        Ok(Self { name, reader: BufReader::with_capacity(256 * 1024, HashingReader::new(file)), lines: 0 })
    }

    /// Appends the next line (without its newline); `false` at the end of the file.
    fn next_into(&mut self, lines: &mut Lines) -> Result<bool, PackageFailure> {
        let start = lines.buf.len();
        let read = (&mut self.reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut lines.buf)
            .map_err(|e| PackageFailure::in_file(self.name, e))?;
        if read == 0 {
            return Ok(false);
        }
        let number = self.lines + 1;
        if lines.buf.pop() != Some(b'\n') {
            let message = if read as u64 > MAX_LINE { "is longer than 64 MiB" } else { "does not end with a newline" };
            lines.buf.truncate(start);
            return Err(PackageFailure::in_file(self.name, format!("line {number} {message}")));
        }
        lines.ends.push(lines.buf.len());
        self.lines = number;
        Ok(true)
    }

    /// Reads the rest, counting lines: the file's digest and line count.
    fn finish(mut self) -> FileOutcome {
        let mut last = b'\n';
        loop {
            let buf = self.reader.fill_buf().map_err(|e| PackageFailure::in_file(self.name, e))?;
            let Some(&end) = buf.last() else { break };
            last = end;
            self.lines += buf.iter().filter(|&&byte| byte == b'\n').count() as u64;
            let consumed = buf.len();
            self.reader.consume(consumed);
        }
        if last != b'\n' {
            return Err(PackageFailure::in_file(self.name, "its last line does not end with a newline"));
        }
        let digest = self.reader.into_inner().finish().map_err(|e| PackageFailure::in_file(self.name, e))?;
        Ok((digest, Some(self.lines)))
    }
}

/// The data file, read row by row.
enum DataReader {
    Jsonl(LineReader),
    Csv {
        reader: csv::Reader<HashingReader<File>>,
        columns: Result<Arc<Columns>, PackageFailure>,
        rows: u64,
    },
    #[cfg(feature = "parquet")]
    Parquet(super::parquet_data::ParquetIn),
    /// Parquet, in a build without it: hashed, never read.
    #[cfg(not(feature = "parquet"))]
    Unreadable(HashingReader<File>),
}

impl DataReader {
    fn open(dir: &Path, format: DataFormat) -> Result<Self, PackageFailure> {
        let name = format.file_name();
        match format {
            DataFormat::Jsonl => Ok(DataReader::Jsonl(LineReader::open(dir, name)?)),
            DataFormat::Csv => {
                let file = File::open(dir.join(name)).map_err(|e| PackageFailure::in_file(name, e))?;
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .buffer_capacity(256 * 1024)
                    .from_reader(HashingReader::new(file));
                let columns = match reader.byte_headers() {
                    Ok(header) => header
                        .iter()
                        .map(|name| String::from_utf8(name.to_vec()))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| "a column name is not UTF-8".to_owned())
                        .and_then(Columns::new)
                        .map(Arc::new)
                        .map_err(|e| PackageFailure::in_file(name, format!("its header row: {e}"))),
                    Err(e) => Err(PackageFailure::in_file(name, format!("its header row: {e}"))),
                };
                Ok(DataReader::Csv { reader, columns, rows: 0 })
            }
            #[cfg(feature = "parquet")]
            DataFormat::Parquet => Ok(DataReader::Parquet(super::parquet_data::ParquetIn::open(dir)?)),
            #[cfg(not(feature = "parquet"))]
            DataFormat::Parquet => {
                let file = File::open(dir.join(name)).map_err(|e| PackageFailure::in_file(name, e))?;
                Ok(DataReader::Unreadable(HashingReader::new(file)))
            }
        }
    }

    /// Appends the next data row; `false` at the end.
    fn next_into(&mut self, rows: &mut DataRows) -> Result<bool, PackageFailure> {
        match (self, rows) {
            (DataReader::Jsonl(lines), DataRows::Json(buf)) => lines.next_into(buf),
            (DataReader::Csv { reader, rows: count, .. }, DataRows::Csv(rows)) => {
                let mut record = csv::ByteRecord::new();
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {
                        rows.push(record);
                        *count += 1;
                        Ok(true)
                    }
                    Ok(false) => Ok(false),
                    Err(e) => {
                        Err(PackageFailure::in_file(DataFormat::Csv.file_name(), format!("row {}: {e}", *count + 1)))
                    }
                }
            }
            #[cfg(feature = "parquet")]
            (DataReader::Parquet(reader), DataRows::Cells(rows)) => reader.next_into(rows),
            _ => Err(PackageFailure::in_file(DataFormat::Parquet.file_name(), super::NO_PARQUET)),
        }
    }

    /// Reads the rest: the file's digest and data rows.
    fn finish(self) -> FileOutcome {
        match self {
            DataReader::Jsonl(lines) => lines.finish(),
            DataReader::Csv { mut reader, rows, .. } => {
                let name = DataFormat::Csv.file_name();
                let mut rows = rows;
                let mut record = csv::ByteRecord::new();
                loop {
                    match reader.read_byte_record(&mut record) {
                        Ok(true) => rows += 1,
                        Ok(false) => break,
                        Err(e) => return Err(PackageFailure::in_file(name, format!("row {}: {e}", rows + 1))),
                    }
                }
                let digest = reader.into_inner().finish().map_err(|e| PackageFailure::in_file(name, e))?;
                Ok((digest, Some(rows)))
            }
            #[cfg(feature = "parquet")]
            DataReader::Parquet(reader) => reader.finish(),
            #[cfg(not(feature = "parquet"))]
            DataReader::Unreadable(reader) => {
                let name = DataFormat::Parquet.file_name();
                reader.finish().map_err(|e| PackageFailure::in_file(name, e))?;
                Err(PackageFailure::in_file(name, super::NO_PARQUET))
            }
        }
    }
}
