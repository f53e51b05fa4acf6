//! The tamper-evident ledger's pure parts, as in Certificate Transparency: the canonical bytes each
//! leaf commits to (`record`, serialised as RFC 8785 JSON by `canonical`; `stored` rebuilds them from rows as read back), the RFC 6962 / RFC 9162
//! Merkle tree over the log's entries (`merkle`), and the signed checkpoints that commit to its root
//! in the C2SP tlog-checkpoint format (`checkpoint`), and the check that an exported proof's record
//! is what its leaf commits to (`proof_record`). Reading and writing the log is the storage
//! crates' business; nothing here does I/O.

pub mod canonical;
pub mod checkpoint;
pub mod merkle;
pub mod proof_record;
pub mod record;
pub mod stored;
