//! Evidence packages: what `ml-audit export --out DIR` writes and what an auditor checks offline
//! (`docs/evidence.md`).
//!
//! A package is a folder holding the exported predictions (the data file: JSONL, CSV or
//! Parquet), one ledger line per prediction tying it to its leaf (`records.jsonl`), a signed
//! checkpoint whose tree covers every leaf (`checkpoint.txt`), optionally one inclusion proof per
//! prediction (`proofs.jsonl`), and `manifest.json`, which lists every file with its size, row
//! count and SHA-256. Nothing in it needs the server to check: the verifier rebuilds each
//! prediction's ledger record from its data row and checks it against the leaf, the leaf against
//! the signed root, and the signature against a public key the auditor holds.
//!
//! Writing one ([`PackageWriter`], streaming rows to disk in constant memory, the manifest last):
//!
//! 1. [`PackageWriter::create`] the folder (refused unless absent or empty);
//! 2. for each prediction, in export order, [`PackageWriter::push_json`] its `GET` object as
//!    serialised bytes (the fast path: JSONL writes them as they are; serialise the wire struct
//!    straight to bytes rather than through a `serde_json::Value`), or [`PackageWriter::push`] a
//!    `Value`, with its [`RecordLine`] ([`RecordLine::of_prediction`],
//!    [`RecordLine::of_erased_prediction`]);
//! 3. [`PackageWriter::finish`] with a checkpoint note whose tree covers every row, the log's
//!    origin and verifier key ([`LedgerInfo`]) and, with proofs, something that gives inclusion
//!    paths ([`InclusionPaths`]: a [`LeafTree`] of the log's leaf hashes, or a closure).
//!
//! Checking one: [`verify_package`], streaming and parallel, naming the first bad file or row.

mod data;
mod hashing;
mod json;
mod manifest;
#[cfg(feature = "parquet")]
mod parquet_data;
mod paths;
mod records;
mod rows;
mod verify;
mod writer;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use manifest::{FileEntry, Manifest, ManifestLedger};
pub use paths::{InclusionPaths, LeafTree};
pub use records::RecordLine;
pub use verify::{PackageFailure, PackageReport, verify_package};
pub use writer::{DATA_COLUMNS, LedgerInfo, PackageSummary, PackageWriter};

/// `manifest.json`'s `format`: what the folder is.
pub const FORMAT: &str = "ml-audit-evidence-package";
/// The one layout this code writes and reads; a change to it is a new version, never an edit.
pub const FORMAT_VERSION: u32 = 1;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const RECORDS_FILE: &str = "records.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.txt";
pub const PROOFS_FILE: &str = "proofs.jsonl";

/// Rows of Parquet data per row group, at most.
pub const PARQUET_ROW_GROUP_ROWS: usize = 64 * 1024;

/// The encoding of the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// One JSON object per line, in the shape of `GET /api/v1/predictions/{ref}`.
    Jsonl,
    /// A header row, then one row per prediction, one column per top-level member.
    Csv,
    /// One column per top-level member, text except `confidence` and `latency_ms`.
    Parquet,
}

impl DataFormat {
    pub const ALL: [DataFormat; 3] = [DataFormat::Jsonl, DataFormat::Csv, DataFormat::Parquet];

    pub fn as_str(self) -> &'static str {
        match self {
            DataFormat::Jsonl => "jsonl",
            DataFormat::Csv => "csv",
            DataFormat::Parquet => "parquet",
        }
    }

    /// The data file's name in a package.
    pub fn file_name(self) -> &'static str {
        match self {
            DataFormat::Jsonl => "predictions.jsonl",
            DataFormat::Csv => "predictions.csv",
            DataFormat::Parquet => "predictions.parquet",
        }
    }

    /// Whether this build can write and read it: Parquet needs the `parquet` feature.
    pub fn supported(self) -> bool {
        self != DataFormat::Parquet || cfg!(feature = "parquet")
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataFormat {
    type Err = PackageError;

    fn from_str(text: &str) -> Result<Self, PackageError> {
        DataFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| PackageError::Usage(format!("unknown data format {text:?}: expected jsonl, csv or parquet")))
    }
}

/// What this build says when asked for Parquet without the feature.
pub(crate) const NO_PARQUET: &str = "this build cannot read Parquet data (build with --features parquet)";

/// Why a package could not be written. Nothing is left that verifies: `manifest.json` is written
/// last.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// `--out` names something that holds files: nothing is overwritten.
    #[error("{} already exists and is not an empty folder; nothing was written", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data row or ledger line that cannot be written as the format requires (1-based row).
    #[error("row {row}: {message}")]
    Row { row: u64, message: String },
    /// The checkpoint or ledger description given to `finish` does not fit the rows.
    #[error("{0}")]
    Checkpoint(String),
    /// An inclusion path that could not be had, or does not reach the checkpoint's root.
    #[error("{0}")]
    Proof(String),
    /// A call the writer cannot honour (a format this build lacks, proofs without `with_proofs`).
    #[error("{0}")]
    Usage(String),
}

impl PackageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PackageError {
        let path = path.into();
        move |source| PackageError::Io { path, source }
    }
}
