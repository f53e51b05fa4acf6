//! `manifest.json`: what the package holds and what it claims, written last.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The manifest of a version 1 package. Members in the order written; unknown members are
/// refused when read, so that a new member is a new format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`super::FORMAT`].
    pub format: String,
    /// Always [`super::FORMAT_VERSION`].
    pub format_version: u32,
    pub ml_audit_version: String,
    /// When the package was written (RFC 3339, UTC).
    pub created_at: String,
    /// Who exported it, as the exporter described itself: an operator, or an API key's id and
    /// name. Free-form; not proven by anything in the package.
    pub exported_by: Value,
    /// The filters the rows were selected by, as given. Not proven: the ledger proves each row,
    /// not that the selection is complete.
    pub filters: Value,
    /// `jsonl`, `csv` or `parquet`.
    pub data_format: String,
    pub row_count: u64,
    /// Rows of erased predictions, whose content is gone (checked against their seal only).
    pub erased_count: u64,
    pub with_proofs: bool,
    pub ledger: ManifestLedger,
    /// Every file of the package but `manifest.json`, data file first.
    pub files: Vec<FileEntry>,
}

/// The log the package's records are leaves of, and the signed tree head that covers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLedger {
    pub origin: String,
    pub key_name: String,
    /// The C2SP verifier key, as `GET /api/v1/ledger/public-key` gives it. An auditor checks it
    /// against the key they obtained out of band (`--public-key`, `--vkey`): a package re-signed
    /// with another key carries that key here.
    pub vkey: String,
    /// The checkpoint's tree size and root (hex), repeated from `checkpoint.txt`.
    pub tree_size: u64,
    pub root_hash: String,
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    /// Lines of a line file, data rows of CSV or Parquet data, null for `checkpoint.txt`.
    pub rows: Option<u64>,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}
