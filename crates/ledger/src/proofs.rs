//! Inclusion and consistency proofs computed from the stored log.
//!
//! The proof generators ask for subtree hashes; this version answers from the leaf hashes of
//! the requested tree size, read in one query (32 bytes a leaf). Caching perfect subtrees
//! ("tiles") would make a proof O(log n) reads; see ARCHITECTURE.md.

use ml_audit_core::ledger::merkle::{self, Hash, LeafHashes, MissingLeaves, SubtreeSource};
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

/// Every perfect subtree's hash of one tree, held in memory (about 2n hashes for n leaves), as a
/// [`SubtreeSource`]: an inclusion proof then costs O(log n) hashing where [`LeafHashes`] costs
/// O(n) a proof. For proving many records of one tree at once, such as every record of an
/// evidence package against its checkpoint, from one read of the leaf hashes.
pub struct SubtreeHashes {
    /// `levels[k][i]` is the hash of leaves `i·2^k .. (i+1)·2^k`.
    levels: Vec<Vec<Hash>>,
}

impl SubtreeHashes {
    /// The tree of these leaves.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|level| level.len() >= 2) {
            let above = below.chunks_exact(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The audit path of leaf `index` in this tree.
    pub fn inclusion(&mut self, index: u64) -> Result<Vec<Hash>> {
        let size = self.size();
        merkle::inclusion_proof(index, size, self).map_err(|e| {
            LedgerError::OutOfRange(format!("no inclusion proof of leaf {index} in a tree of {size}: {e}"))
        })
    }
}

impl SubtreeSource for SubtreeHashes {
    type Error = MissingLeaves;

    fn subtree_hash(&mut self, start: u64, end: u64) -> std::result::Result<Hash, MissingLeaves> {
        let missing = MissingLeaves { start, end, held: self.levels[0].len() };
        if start >= end || end > self.size() {
            return Err(missing);
        }
        let width = end - start;
        if width.is_power_of_two() && start.is_multiple_of(width) {
            let level = width.trailing_zeros() as usize;
            return self
                .levels
                .get(level)
                .and_then(|hashes| hashes.get((start >> level) as usize))
                .copied()
                .ok_or(missing);
        }
        // A subtree on the right edge: split as RFC 9162 does, at the largest power of two below.
        let split = 1 << (u64::BITS - 1 - (width - 1).leading_zeros());
        Ok(merkle::node_hash(&self.subtree_hash(start, start + split)?, &self.subtree_hash(start + split, end)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_from_subtree_hashes_are_the_proofs_from_the_leaves() {
        for size in 1..=40u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
            let mut tree = SubtreeHashes::new(leaves.clone());
            assert_eq!(tree.subtree_hash(0, size).unwrap(), merkle::root_from_leaves(&leaves));
            for index in 0..size {
                let expected = merkle::inclusion_proof(index, size, &mut LeafHashes(&leaves)).unwrap();
                assert_eq!(tree.inclusion(index).unwrap(), expected, "leaf {index} of {size}");
            }
            assert!(tree.inclusion(size).is_err());
        }
    }
}
