//! Inclusion and consistency proofs computed from the stored log.
//!
//! The proof generators ask for subtree hashes; this version answers from the leaf hashes of
//! the requested tree size, read in one query (32 bytes a leaf). Caching perfect subtrees
//! ("tiles") would make a proof O(log n) reads; see ARCHITECTURE.md.

use ml_audit_core::ledger::merkle::{self, Hash, LeafHashes};
use ml_audit_storage::LedgerStore;

use crate::{LedgerError, Result};

/// The audit path of leaf `seq` in the tree of the first `tree_size` leaves.
pub async fn inclusion(store: &dyn LedgerStore, seq: u64, tree_size: u64) -> Result<Vec<Hash>> {
    let leaves = leaves_up_to(store, tree_size).await?;
    merkle::inclusion_proof(seq, tree_size, &mut LeafHashes(&leaves))
        .map_err(|e| LedgerError::OutOfRange(format!("no inclusion proof of leaf {seq} in a tree of {tree_size}: {e}")))
}

/// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves.
pub async fn consistency(store: &dyn LedgerStore, from: u64, to: u64) -> Result<Vec<Hash>> {
    let leaves = leaves_up_to(store, to).await?;
    merkle::consistency_proof(from, to, &mut LeafHashes(&leaves))
        .map_err(|e| LedgerError::OutOfRange(format!("no consistency proof from {from} to {to}: {e}")))
}

/// The root of the tree of the first `tree_size` leaves.
pub async fn root(store: &dyn LedgerStore, tree_size: u64) -> Result<Hash> {
    Ok(merkle::root_from_leaves(&leaves_up_to(store, tree_size).await?))
}

async fn leaves_up_to(store: &dyn LedgerStore, tree_size: u64) -> Result<Vec<Hash>> {
    let size = store.ledger_size().await?;
    if tree_size > size {
        return Err(LedgerError::OutOfRange(format!("tree_size {tree_size} is larger than the log ({size} leaves)")));
    }
    let leaves = store.ledger_leaf_hashes(0, tree_size).await?;
    if leaves.len() as u64 != tree_size {
        return Err(LedgerError::Integrity(format!(
            "the log has {} entries below seq {tree_size}: entries were removed; run `ml-audit verify`",
            leaves.len()
        )));
    }
    Ok(leaves)
}
