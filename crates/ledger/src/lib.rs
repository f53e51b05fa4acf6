//! The tamper-evident ledger: every accepted prediction and explanation revision becomes a leaf
//! of an RFC 6962 Merkle tree, in one gap-free order, and signed checkpoints commit to its root.
//!
//! - [`sealer`]: appends queued records as leaves (with the leaf hash the store computed from the
//!   core's record bytes as it wrote the record; entries queued by older versions without one are
//!   hashed here from their rows) and signs checkpoints.
//! - [`proofs`]: inclusion and consistency proofs from the stored log.
//! - [`verify`]: recomputes every leaf from the stored rows and checks the tree against every
//!   checkpoint.
//! - [`key`]: the Ed25519 signing key, kept in a file outside the database.
//! - [`package`]: evidence packages, what `export --out` writes and auditors verify offline.

pub mod key;
mod life_events;
pub mod package;
pub mod proofs;
pub mod sealer;
pub mod verify;

use ml_audit_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A proof asked for outside the log (a tree size beyond it, a leaf outside the tree): the
    /// caller's mistake.
    #[error("{0}")]
    OutOfRange(String),
    /// Something does not check out against what was signed (a checkpoint, the stored tree
    /// state, the log's entries, a record or a proof): evidence of tampering or of the wrong key,
    /// never the caller's mistake.
    #[error("{0}")]
    Integrity(String),
    /// Input that is not of the expected form (a public key, a proof file).
    #[error("{0}")]
    Malformed(String),
    #[error("ledger key file {path}: {message}")]
    Key { path: String, message: String },
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
