//! The tamper-evident ledger: every accepted prediction and explanation revision becomes a leaf
//! of an RFC 6962 Merkle tree, in one gap-free order, and signed checkpoints commit to its root.
//!
//! - [`sealer`]: turns queued records into leaves (hashing here, never in a backend) and signs
//!   checkpoints.
//! - [`proofs`]: inclusion and consistency proofs from the stored log.
//! - [`verify`]: recomputes every leaf from the stored rows and checks the tree against every
//!   checkpoint.
//! - [`key`]: the Ed25519 signing key, kept in a file outside the database.

pub mod key;
pub mod proofs;
pub mod sealer;
pub mod verify;

use ml_audit_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Invalid(String),
    #[error("ledger key file {path}: {message}")]
    Key { path: String, message: String },
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
