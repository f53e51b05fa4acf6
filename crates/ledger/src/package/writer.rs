//! Writing a package in one pass over the exported rows, in constant memory: every file streams
//! through a buffered writer that hashes and counts what it writes, under a `.partial` name. Only
//! `finish` gives files their names, and it writes `manifest.json` last, so an export stopped
//! midway leaves a folder without a manifest, which no verifier accepts.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ml_audit_core::ledger::checkpoint::Checkpoint;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::timestamp::{format_rfc3339, now};
use serde_json::Value;

use super::data;
use super::hashing::{Digested, HashingFile};
use super::manifest::{FileEntry, Manifest, ManifestLedger};
use super::paths::InclusionPaths;
use super::records::{RecordLine, write_proof_line};
use super::{
    CHECKPOINT_FILE, DataFormat, FORMAT, FORMAT_VERSION, MANIFEST_FILE, PROOFS_FILE, PackageError, RECORDS_FILE,
};
use crate::key::LedgerVerifier;

/// Each file's write buffer: large enough that hashing and writing work on big blocks.
const BUFFER: usize = 256 * 1024;
/// The side file of leaf indexes and hashes kept for `finish` to write proofs from.
const LEAVES_FILE: &str = ".leaves.partial";
const PARTIAL: &str = ".partial";

/// The log whose checkpoint the package carries, as `GET /api/v1/ledger/public-key` and the
/// settings name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerInfo {
    /// The log's origin (`ledger.origin`): the checkpoint's first line.
    pub origin: String,
    /// The C2SP verifier key of the key that signed the checkpoint.
    pub vkey: String,
}

/// What `finish` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageSummary {
    pub dir: PathBuf,
    pub rows: u64,
    pub erased: u64,
    pub tree_size: u64,
    pub root_hash: Hash,
    /// As written to `manifest.json`.
    pub manifest: Manifest,
}

/// Writes one evidence package: `create`, `push` each row in export order, `finish`. A row
/// refused with [`PackageError::Row`] left nothing written (the export may go on without it);
/// after any other error the package is abandoned: drop the writer, no manifest is written.
pub struct PackageWriter {
    dir: PathBuf,
    format: DataFormat,
    with_proofs: bool,
    data: DataOut,
    records: OutFile,
    /// With proofs: per row, its leaf index (8 bytes, little-endian) and leaf hash.
    leaves: Option<OutFile>,
    rows: u64,
    erased: u64,
    /// The largest leaf index pushed, and its row: the checkpoint must cover it.
    largest_leaf: Option<(u64, u64)>,
    line: Vec<u8>,
    record_line: Vec<u8>,
}

enum DataOut {
    Jsonl(OutFile),
    Csv(Box<CsvOut>),
    #[cfg(feature = "parquet")]
    Parquet(Box<super::parquet_data::ParquetOut>),
}

impl PackageWriter {
    /// Creates `dir` (and its parents), or takes it if it is an empty folder; refuses anything
    /// else, having written nothing.
    pub fn create(dir: &Path, format: DataFormat, with_proofs: bool) -> Result<Self, PackageError> {
        if !format.supported() {
            return Err(PackageError::Usage(super::NO_PARQUET.replace("read", "write")));
        }
        match fs::metadata(dir) {
            Ok(metadata) if metadata.is_dir() => {
                if fs::read_dir(dir).map_err(PackageError::io(dir))?.next().is_some() {
                    return Err(PackageError::NotEmpty(dir.to_owned()));
                }
            }
            Ok(_) => return Err(PackageError::NotEmpty(dir.to_owned())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(PackageError::io(dir))?;
            }
            Err(error) => return Err(PackageError::io(dir)(error)),
        }
        let data = match format {
            DataFormat::Jsonl => DataOut::Jsonl(OutFile::create(dir, format.file_name())?),
            DataFormat::Csv => DataOut::Csv(Box::new(CsvOut::new(OutFile::create(dir, format.file_name())?))),
            #[cfg(feature = "parquet")]
            DataFormat::Parquet => DataOut::Parquet(Box::new(super::parquet_data::ParquetOut::new(OutFile::create(
                dir,
                format.file_name(),
            )?))),
            #[cfg(not(feature = "parquet"))]
            DataFormat::Parquet => unreachable!("refused above: this build has no Parquet"),
        };
        Ok(Self {
            dir: dir.to_owned(),
            format,
            with_proofs,
            data,
            records: OutFile::create(dir, RECORDS_FILE)?,
            leaves: if with_proofs { Some(OutFile::create(dir, LEAVES_FILE)?) } else { None },
            rows: 0,
            erased: 0,
            largest_leaf: None,
            line: Vec::with_capacity(4096),
            record_line: Vec::with_capacity(4096),
        })
    }

    pub fn format(&self) -> DataFormat {
        self.format
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one prediction: `row`, its object in the shape of `GET /api/v1/predictions/{ref}`,
    /// and `record`, its ledger line. Refuses a row that is not an object, whose `id` or erasure
    /// disagrees with its line, or (CSV, Parquet) whose members differ from the first row's.
    pub fn push(&mut self, row: &Value, record: &RecordLine) -> Result<(), PackageError> {
        let number = self.rows + 1;
        let bad_row = |message: String| PackageError::Row { row: number, message };
        let object = row.as_object().ok_or_else(|| bad_row("the data row is not a JSON object".into()))?;
        let mut id = uuid::Uuid::encode_buffer();
        if object.get("id").and_then(Value::as_str) != Some(&*record.id.hyphenated().encode_lower(&mut id)) {
            return Err(bad_row(format!("the data row's id is not its record line's, {}", record.id)));
        }
        let erased = data::is_erased(object);
        if erased != record.is_erased() {
            let (row_says, line_says) = if erased { ("is", "is not") } else { ("is not", "is") };
            return Err(bad_row(format!("the data row {row_says} erased, and its record line {line_says}")));
        }
        self.render_record(record, number)?;
        match &mut self.data {
            DataOut::Jsonl(out) => {
                self.line.clear();
                serde_json::to_writer(&mut self.line, row).map_err(|e| bad_row(e.to_string()))?;
                self.line.push(b'\n');
                out.write_row(&self.line)?;
            }
            DataOut::Csv(out) => out.push(object, erased, number)?,
            #[cfg(feature = "parquet")]
            DataOut::Parquet(out) => out.push(object, erased, number)?,
        }
        self.push_record(record, number)
    }

    /// [`Self::push`] for a row already serialised as one compact JSON object (no newline): JSONL
    /// writes the bytes as they are, without parsing them again; CSV and Parquet parse them.
    /// The caller vouches that the bytes are the object and agree with `record`.
    pub fn push_json(&mut self, row_json: &[u8], record: &RecordLine) -> Result<(), PackageError> {
        let number = self.rows + 1;
        if !matches!(self.data, DataOut::Jsonl(_)) {
            let row: Value = serde_json::from_slice(row_json)
                .map_err(|e| PackageError::Row { row: number, message: format!("the data row is not JSON: {e}") })?;
            return self.push(&row, record);
        }
        if row_json.first() != Some(&b'{') || row_json.last() != Some(&b'}') || row_json.contains(&b'\n') {
            return Err(PackageError::Row {
                row: number,
                message: "the data row is not one JSON object on one line".into(),
            });
        }
        self.render_record(record, number)?;
        if let DataOut::Jsonl(out) = &mut self.data {
            out.write_row_parts(row_json, b"\n")?;
        }
        self.push_record(record, number)
    }

    /// Writes `record`'s line into `record_line`: a line that cannot be written is refused before
    /// anything of its row is.
    fn render_record(&mut self, record: &RecordLine, number: u64) -> Result<(), PackageError> {
        self.record_line.clear();
        record.write_line(&mut self.record_line).map_err(|message| PackageError::Row { row: number, message })
    }

    /// Writes the line `render_record` made, once the row's data is written.
    fn push_record(&mut self, record: &RecordLine, number: u64) -> Result<(), PackageError> {
        self.records.write_row(&self.record_line)?;
        if let Some(leaves) = &mut self.leaves {
            let leaf = match record.leaf_hash {
                Some(hash) => hash,
                None => merkle::leaf_hash(&record.leaf_data),
            };
            leaves.write_row_parts(&record.leaf_index.to_le_bytes(), &leaf)?;
        }
        if self.largest_leaf.is_none_or(|(largest, _)| record.leaf_index > largest) {
            self.largest_leaf = Some((record.leaf_index, number));
        }
        self.erased += u64::from(record.is_erased());
        self.rows = number;
        Ok(())
    }

    /// Completes the package: the proofs (with `with_proofs`, one path per row from `proofs`,
    /// each checked against the checkpoint's root), `checkpoint.txt` (`checkpoint_note`, which
    /// must be signed by `ledger.vkey` for `ledger.origin` and cover every row's leaf), the files
    /// renamed to their names, and `manifest.json`, last. `exported_by` and `filters` are
    /// objects, copied into the manifest as given.
    pub fn finish(
        mut self,
        proofs: Option<&dyn InclusionPaths>,
        checkpoint_note: &str,
        ledger: &LedgerInfo,
        exported_by: Value,
        filters: Value,
    ) -> Result<PackageSummary, PackageError> {
        if !exported_by.is_object() || !filters.is_object() {
            return Err(PackageError::Usage("exported_by and filters must be JSON objects".into()));
        }
        let verifier = LedgerVerifier::from_vkey(&ledger.vkey)
            .map_err(|e| PackageError::Checkpoint(format!("the ledger's vkey: {e}")))?;
        let checkpoint = verifier.verify(checkpoint_note).map_err(|e| {
            PackageError::Checkpoint(format!("the checkpoint does not verify with the vkey given: {e}"))
        })?;
        if checkpoint.origin != ledger.origin {
            return Err(PackageError::Checkpoint(format!(
                "the checkpoint is for the log {:?}, not {:?}",
                checkpoint.origin, ledger.origin
            )));
        }
        if let Some((leaf, row)) = self.largest_leaf.filter(|(leaf, _)| *leaf >= checkpoint.tree_size) {
            return Err(PackageError::Checkpoint(format!(
                "row {row} is leaf {leaf}, beyond the checkpoint's tree of {} leaves: sign a newer checkpoint",
                checkpoint.tree_size
            )));
        }

        let proofs_file = match (self.leaves.take(), proofs) {
            (Some(leaves), Some(paths)) => Some(self.write_proofs(leaves, paths, &checkpoint)?),
            (Some(_), None) => {
                return Err(PackageError::Usage("a package with proofs needs its inclusion paths".into()));
            }
            (None, Some(_)) => {
                return Err(PackageError::Usage("inclusion paths given for a package without proofs".into()));
            }
            (None, None) => None,
        };
        let (data_digest, data_rows) = match self.data {
            DataOut::Jsonl(out) => out.finish()?,
            DataOut::Csv(out) => (*out).finish()?,
            #[cfg(feature = "parquet")]
            DataOut::Parquet(out) => (*out).finish()?,
        };
        let data_file = FinishedFile { name: self.format.file_name(), digest: data_digest, rows: Some(data_rows) };
        let (records_digest, records_rows) = self.records.finish()?;
        let records_file = FinishedFile { name: RECORDS_FILE, digest: records_digest, rows: Some(records_rows) };
        let mut checkpoint_out = OutFile::create(&self.dir, CHECKPOINT_FILE)?;
        checkpoint_out.write_row(checkpoint_note.as_bytes())?;
        let checkpoint_file = FinishedFile { name: CHECKPOINT_FILE, digest: checkpoint_out.finish()?.0, rows: None };

        let files: Vec<FinishedFile> =
            [Some(data_file), Some(records_file), Some(checkpoint_file), proofs_file].into_iter().flatten().collect();
        for file in &files {
            let partial = partial_path(&self.dir, file.name);
            fs::rename(&partial, self.dir.join(file.name)).map_err(PackageError::io(partial))?;
        }

        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            ml_audit_version: env!("CARGO_PKG_VERSION").into(),
            created_at: format_rfc3339(now()),
            exported_by,
            filters,
            data_format: self.format.as_str().into(),
            row_count: self.rows,
            erased_count: self.erased,
            with_proofs: self.with_proofs,
            ledger: ManifestLedger {
                origin: ledger.origin.clone(),
                key_name: verifier.name().into(),
                vkey: verifier.vkey(),
                tree_size: checkpoint.tree_size,
                root_hash: hex::encode(checkpoint.root),
            },
            files: files
                .iter()
                .map(|file| FileEntry {
                    name: file.name.into(),
                    bytes: file.digest.bytes,
                    rows: file.rows,
                    sha256: hex::encode(file.digest.sha256),
                })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| PackageError::Usage(e.to_string()))?;
        text.push(b'\n');
        let mut manifest_out = OutFile::create(&self.dir, MANIFEST_FILE)?;
        manifest_out.write_row(&text)?;
        manifest_out.finish()?;
        let partial = partial_path(&self.dir, MANIFEST_FILE);
        fs::rename(&partial, self.dir.join(MANIFEST_FILE)).map_err(PackageError::io(partial))?;
        sync_dir(&self.dir)?;
        Ok(PackageSummary {
            dir: self.dir,
            rows: self.rows,
            erased: self.erased,
            tree_size: checkpoint.tree_size,
            root_hash: checkpoint.root,
            manifest,
        })
    }

    /// Streams `proofs.jsonl` from the side file of leaves, one path per row, each checked
    /// against the signed root (a wrong path would otherwise surface only at the auditor's).
    /// Blocks of rows are split between the cores; their lines are written in row order.
    fn write_proofs(
        &mut self,
        leaves: OutFile,
        paths: &dyn InclusionPaths,
        checkpoint: &Checkpoint,
    ) -> Result<FinishedFile, PackageError> {
        let leaves_path = self.dir.join(LEAVES_FILE);
        leaves.finish()?;
        let file = File::open(&leaves_path).map_err(PackageError::io(&leaves_path))?;
        let mut reader = BufReader::with_capacity(BUFFER, file);
        let mut out = OutFile::create(&self.dir, PROOFS_FILE)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let mut block: Vec<(u64, Hash)> = Vec::with_capacity(PROOF_BLOCK);
        let mut first_row = 1;
        while first_row <= self.rows {
            block.clear();
            let mut entry = [0u8; 40];
            for _ in 0..PROOF_BLOCK.min((self.rows - first_row + 1) as usize) {
                reader.read_exact(&mut entry).map_err(PackageError::io(&leaves_path))?;
                let (index, leaf) = entry.split_at(8);
                block.push((
                    u64::from_le_bytes(index.try_into().unwrap_or_default()),
                    leaf.try_into().unwrap_or_default(),
                ));
            }
            let part = block.len().div_ceil(threads).max(1);
            let lines = std::thread::scope(|scope| {
                let workers: Vec<_> = block
                    .chunks(part)
                    .enumerate()
                    .map(|(i, rows)| {
                        let first = first_row + (i * part) as u64;
                        scope.spawn(move || proof_lines(rows, first, paths, checkpoint))
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect::<Vec<_>>()
            });
            for part in lines {
                let (bytes, rows) = part?;
                out.write_rows(&bytes, rows)?;
            }
            first_row += block.len() as u64;
        }
        drop(reader);
        fs::remove_file(&leaves_path).map_err(PackageError::io(&leaves_path))?;
        let (digest, rows) = out.finish()?;
        Ok(FinishedFile { name: PROOFS_FILE, digest, rows: Some(rows) })
    }
}

/// Rows per block of proofs computed in parallel.
const PROOF_BLOCK: usize = 16 * 1024;

/// The `proofs.jsonl` lines of consecutive rows (the first numbered `first_row`), each path
/// checked against the checkpoint's root.
fn proof_lines(
    rows: &[(u64, Hash)],
    first_row: u64,
    paths: &dyn InclusionPaths,
    checkpoint: &Checkpoint,
) -> Result<(Vec<u8>, u64), PackageError> {
    let mut out = Vec::with_capacity(rows.len() * 1024);
    for (row, (index, leaf)) in (first_row..).zip(rows) {
        let path = paths
            .inclusion_path(*index, checkpoint.tree_size)
            .map_err(|e| PackageError::Proof(format!("row {row}: no inclusion path for leaf {index}: {e}")))?;
        merkle::verify_inclusion(leaf, *index, checkpoint.tree_size, &path, &checkpoint.root).map_err(|e| {
            PackageError::Proof(format!(
                "row {row}: the inclusion path given for leaf {index} does not reach the checkpoint's root ({e})"
            ))
        })?;
        write_proof_line(&mut out, *index, &path);
    }
    Ok((out, rows.len() as u64))
}

struct FinishedFile {
    name: &'static str,
    digest: Digested,
    rows: Option<u64>,
}

fn partial_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{PARTIAL}"))
}

/// Makes the renames durable: a package whose manifest survived a crash has its files too.
fn sync_dir(dir: &Path) -> Result<(), PackageError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(PackageError::io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A file being written under its `.partial` name, hashed and counted as it goes.
pub(crate) struct OutFile {
    path: PathBuf,
    writer: BufWriter<HashingFile>,
    rows: u64,
}

impl OutFile {
    /// `dir/name.partial` (or `dir/name` for a name already ending in `.partial`), which must
    /// not exist.
    pub fn create(dir: &Path, name: &str) -> Result<Self, PackageError> {
        let path = if name.ends_with(PARTIAL) { dir.join(name) } else { partial_path(dir, name) };
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(PackageError::io(&path))?;
        Ok(Self { path, writer: BufWriter::with_capacity(BUFFER, HashingFile::new(file)), rows: 0 })
    }

    /// Writes one row's bytes (a line, with its newline).
    pub fn write_row(&mut self, bytes: &[u8]) -> Result<(), PackageError> {
        self.writer.write_all(bytes).map_err(PackageError::io(&self.path))?;
        self.rows += 1;
        Ok(())
    }

    /// Writes `rows` rows at once.
    pub fn write_rows(&mut self, bytes: &[u8], rows: u64) -> Result<(), PackageError> {
        self.writer.write_all(bytes).map_err(PackageError::io(&self.path))?;
        self.rows += rows;
        Ok(())
    }

    /// Writes one row given in two parts.
    pub fn write_row_parts(&mut self, first: &[u8], second: &[u8]) -> Result<(), PackageError> {
        self.writer
            .write_all(first)
            .and_then(|()| self.writer.write_all(second))
            .map_err(PackageError::io(&self.path))?;
        self.rows += 1;
        Ok(())
    }

    /// Its path and writer, for a format that writes through its own encoder (Parquet).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub fn into_parts(self) -> (PathBuf, BufWriter<HashingFile>) {
        (self.path, self.writer)
    }

    /// Flushes to stable storage: the digest of everything written, and the rows counted.
    pub fn finish(self) -> Result<(Digested, u64), PackageError> {
        Ok((Self::finish_writer(&self.path, self.writer)?, self.rows))
    }

    /// Flushes `writer` (of the file at `path`) to stable storage: the digest of its bytes.
    pub fn finish_writer(path: &Path, writer: BufWriter<HashingFile>) -> Result<Digested, PackageError> {
        let file = writer.into_inner().map_err(|e| PackageError::io(path)(e.into_error()))?;
        file.finish().map_err(PackageError::io(path))
    }
}

/// The members of a data row, in order: those of `GET /api/v1/predictions/{ref}`, the columns of a
/// CSV or Parquet data file (and of one without rows). The server's export writes them from this
/// list, and its tests hold the list to the serialised response.
pub const DATA_COLUMNS: [&str; 26] = [
    "id",
    "prediction_id",
    "timestamp",
    "trace_id",
    "environment",
    "tenant_id",
    "model",
    "actor",
    "features",
    "redactions",
    "metadata_redactions",
    "redaction_log",
    "input_fingerprint",
    "output",
    "confidence",
    "decision_outcome",
    "status",
    "latency_ms",
    "metadata",
    "explanation",
    "ledger",
    "erased",
    "outcome",
    "reviews",
    "final_decision",
    "review_state",
];

/// CSV data: the header is the first row's members, in its order; each row's cells follow it.
struct CsvOut {
    path: PathBuf,
    writer: csv::Writer<BufWriter<HashingFile>>,
    header: Option<Vec<String>>,
    cells: Vec<Vec<u8>>,
    rows: u64,
}

impl CsvOut {
    fn new(out: OutFile) -> Self {
        let path = out.path.clone();
        // RFC 4180: CRLF after each record, fields quoted only when they must be.
        let writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out.writer);
        Self { path, writer, header: None, cells: Vec::new(), rows: 0 }
    }

    fn push(&mut self, row: &serde_json::Map<String, Value>, erased: bool, number: u64) -> Result<(), PackageError> {
        let bad_row = |message: String| PackageError::Row { row: number, message };
        // The first row names the columns; its header is written only once the row is accepted.
        let new_header = self.header.is_none().then(|| row.keys().cloned().collect::<Vec<String>>());
        let header = self.header.as_ref().or(new_header.as_ref()).map_or(&[][..], Vec::as_slice);
        if row.len() != header.len() {
            return Err(bad_row(format!("it has {} members, the first row {}", row.len(), header.len())));
        }
        self.cells.resize(header.len(), Vec::new());
        for (name, cell) in header.iter().zip(&mut self.cells) {
            let value =
                row.get(name).ok_or_else(|| bad_row(format!("it has no member {name:?}, which the first row has")))?;
            data::csv_cell(name, value, erased, cell).map_err(bad_row)?;
        }
        if let Some(header) = new_header {
            self.writer.write_record(&header).map_err(|e| csv_error(&self.path, e))?;
            self.header = Some(header);
        }
        self.writer.write_record(&self.cells).map_err(|e| csv_error(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(Digested, u64), PackageError> {
        // An export without rows still has a header, so its file reads as a table.
        if self.header.is_none() {
            self.writer.write_record(DATA_COLUMNS).map_err(|e| csv_error(&self.path, e))?;
        }
        let path = self.path;
        let buffered =
            self.writer.into_inner().map_err(|e| PackageError::io(&path)(std::io::Error::other(e.to_string())))?;
        Ok((OutFile::finish_writer(&path, buffered)?, self.rows))
    }
}

fn csv_error(path: &Path, error: csv::Error) -> PackageError {
    PackageError::io(path)(std::io::Error::other(error))
}
