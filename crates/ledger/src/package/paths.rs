//! Inclusion paths for many leaves of one tree: what `PackageWriter::finish` asks for, one per
//! row, when a package carries proofs.

use ml_audit_core::ledger::merkle::{self, Hash, SubtreeSource};

/// Gives the inclusion path (RFC 9162 §2.1.3, leaf first) of leaf `leaf_index` in the tree of
/// `tree_size` leaves. The writer asks once per row, from several threads at once (hence `Sync`
/// and `&self`: paths are independent), and checks each path against the checkpoint's root before
/// writing it. A closure `Fn(u64, u64) -> Result<Vec<Hash>, String> + Sync` is one.
pub trait InclusionPaths: Sync {
    fn inclusion_path(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, String>;
}

impl<F: Fn(u64, u64) -> Result<Vec<Hash>, String> + Sync> InclusionPaths for F {
    fn inclusion_path(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, String> {
        self(leaf_index, tree_size)
    }
}

/// Perfect subtrees below this height are hashed from the leaves when asked for, not kept: that
/// costs at most 4 node hashes a path and saves 3/4 of the memory of keeping every level.
const LOWEST_KEPT_LEVEL: u32 = 3;

/// The leaf hashes of a log (leaves `0..n`) with the roots of its aligned perfect subtrees of
/// 8 leaves and more, so that any leaf's path in any tree of up to `n` leaves costs O(log n):
/// `merkle::LeafHashes` would hash O(n) leaves per path. Memory: the leaves and a quarter more.
#[derive(Debug, Clone)]
pub struct LeafTree {
    leaves: Vec<Hash>,
    /// `levels[k]`: the roots of the subtrees `[i·2^(k+L), (i+1)·2^(k+L))`, L the lowest kept level.
    levels: Vec<Vec<Hash>>,
}

impl LeafTree {
    pub fn new(leaves: Vec<Hash>) -> Self {
        let chunk = 1usize << LOWEST_KEPT_LEVEL;
        let mut levels = Vec::new();
        let mut level: Vec<Hash> = leaves.chunks_exact(chunk).map(merkle::root_from_leaves).collect();
        while !level.is_empty() {
            let next = level.chunks_exact(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        Self { leaves, levels }
    }

    /// The number of leaves held.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The root of the tree of the first `tree_size` leaves.
    pub fn root(&self, tree_size: u64) -> Result<Hash, String> {
        if tree_size > self.len() {
            return Err(format!("the tree of {tree_size} leaves is larger than the {} held", self.len()));
        }
        if tree_size == 0 {
            return Ok(merkle::empty_root());
        }
        Ok(self.subtree(0, tree_size))
    }

    /// `MTH(D[start:end])` for `start < end <= len`.
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let len = end - start;
        if len.is_power_of_two() && start.is_multiple_of(len) {
            let level = len.trailing_zeros();
            if level >= LOWEST_KEPT_LEVEL {
                // In range: the subtree is within the leaves, so its root was kept.
                return self.levels[(level - LOWEST_KEPT_LEVEL) as usize][(start >> level) as usize];
            }
            return merkle::root_from_leaves(&self.leaves[start as usize..end as usize]);
        }
        // The RFC's split: k is the largest power of two smaller than len.
        let k = 1u64 << (u64::BITS - 1 - (len - 1).leading_zeros());
        merkle::node_hash(&self.subtree(start, start + k), &self.subtree(start + k, end))
    }
}

/// A shared tree as the proof generator's source (which takes `&mut`, for sources that cache).
struct Shared<'a>(&'a LeafTree);

impl SubtreeSource for Shared<'_> {
    type Error = String;

    fn subtree_hash(&mut self, start: u64, end: u64) -> Result<Hash, String> {
        if start >= end || end > self.0.len() {
            return Err(format!("leaves {start}..{end} are not within the {} held", self.0.len()));
        }
        Ok(self.0.subtree(start, end))
    }
}

impl InclusionPaths for LeafTree {
    fn inclusion_path(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, String> {
        if tree_size > self.len() {
            return Err(format!("the tree of {tree_size} leaves is larger than the {} held", self.len()));
        }
        merkle::inclusion_proof(leaf_index, tree_size, &mut Shared(self)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_roots_are_the_rfcs() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        let tree = LeafTree::new(leaves.clone());
        for size in [1u64, 2, 15, 16, 17, 33, 255, 256, 257, 300] {
            let root = merkle::root_from_leaves(&leaves[..size as usize]);
            assert_eq!(tree.root(size).unwrap(), root, "size {size}");
            for index in [0, size / 3, size / 2, size - 1] {
                let path = tree.inclusion_path(index, size).unwrap();
                let expected = merkle::inclusion_proof(index, size, &mut merkle::LeafHashes(&leaves)).unwrap();
                assert_eq!(path, expected, "leaf {index} of {size}");
                merkle::verify_inclusion(&leaves[index as usize], index, size, &path, &root).unwrap();
            }
        }
        assert!(tree.inclusion_path(0, 301).is_err());
        assert!(tree.inclusion_path(300, 300).is_err());
    }
}
