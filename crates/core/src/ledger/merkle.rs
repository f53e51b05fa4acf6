//! The Merkle tree of RFC 6962 / RFC 9162 §2.1: leaf and node hashes, tree roots, inclusion and
//! consistency proofs, and a compact range that keeps a growing tree's root in O(log n) memory.
//!
//! Names follow the RFC: `MTH(D[start:end])` is the Merkle Tree Hash of leaves `start..end`, and
//! the tree of `n` leaves splits at `k`, the largest power of two smaller than `n`.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a subtree hash or a tree root.
pub type Hash = [u8; 32];

/// Domain separation (RFC 6962 §2.1): a leaf can never be passed off as an interior node, and the
/// reverse, so no second preimage can be built from a node's two children.
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 ‖ data)`: the hash of one log entry.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([LEAF_PREFIX]).chain_update(data).finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([NODE_PREFIX]).chain_update(left).chain_update(right).finalize().into()
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The RFC's `k` for a (sub)tree of `n >= 2` leaves: the largest power of two smaller than `n`.
fn split_point(n: u64) -> u64 {
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH of the given leaf hashes (RFC 9162 §2.1.1), the empty root for no leaves.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            // k < len, so the cast back to usize cannot truncate.
            let (left, right) = leaves.split_at(split_point(leaves.len() as u64) as usize);
            node_hash(&root_from_leaves(left), &root_from_leaves(right))
        }
    }
}

/// Why a proof was refused, or why one cannot exist for the sizes asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// RFC 9162 defines consistency from a non-empty tree only: an empty tree is trivially a
    /// prefix of every tree, so there is nothing to prove.
    #[error("a consistency proof needs a non-empty old tree")]
    EmptyOldTree,
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldTreeLarger { old: u64, new: u64 },
    #[error("a proof of {len} hashes does not fit these tree sizes")]
    WrongProofLength { len: usize },
    #[error("the proof leads to a root other than the one expected")]
    RootMismatch,
    #[error("the consistency proof does not lead to the old tree's root")]
    OldRootMismatch,
}

/// Why a proof could not be generated: bad sizes, or the source of subtree hashes failed.
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E> {
    #[error(transparent)]
    Invalid(#[from] ProofError),
    #[error(transparent)]
    Source(E),
}

/// Where proof generators read subtree hashes from, so that a log never needs all its leaf hashes
/// in memory to answer one proof.
///
/// Generators only ask for non-empty ranges `start..end` that are nodes of the tree being proved:
/// either a perfect subtree (`end - start` a power of two dividing `start`) or a subtree on the
/// tree's right edge (`end` = the tree size). A store can therefore answer from cached perfect
/// subtrees plus the hashing of at most O(log n) of them for the right edge.
pub trait SubtreeSource {
    type Error;

    /// `MTH(D[start:end])`.
    fn subtree_hash(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

/// Leaf hashes held in memory, as a [`SubtreeSource`]: for tests, small logs and auditors that
/// have downloaded the whole log. Each request costs O(end - start) hashes.
#[derive(Debug, Clone, Copy)]
pub struct LeafHashes<'a>(pub &'a [Hash]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leaves {start}..{end} are not within the {held} leaf hashes held")]
pub struct MissingLeaves {
    pub start: u64,
    pub end: u64,
    pub held: usize,
}

impl SubtreeSource for LeafHashes<'_> {
    type Error = MissingLeaves;

    fn subtree_hash(&mut self, start: u64, end: u64) -> Result<Hash, MissingLeaves> {
        let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
        range.and_then(|(start, end)| self.0.get(start..end)).map(root_from_leaves).ok_or(MissingLeaves {
            start,
            end,
            held: self.0.len(),
        })
    }
}

/// The inclusion proof `PATH(index, D[0:size])` of RFC 9162 §2.1.3.1: the sibling hashes from the
/// leaf up to the root.
pub fn inclusion_proof<S: SubtreeSource + ?Sized>(
    index: u64,
    size: u64,
    source: &mut S,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut read = |start, end| source.subtree_hash(start, end).map_err(ProveError::Source);
    let mut path = Vec::new();
    // Walk down from the root, keeping the half that holds the leaf and recording the other.
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if index < mid {
            path.push(read(mid, end)?);
            end = mid;
        } else {
            path.push(read(start, mid)?);
            start = mid;
        }
    }
    // Collected root first; the RFC lists the path leaf first.
    path.reverse();
    Ok(path)
}

/// The consistency proof `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1: the hashes that
/// show the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves.
pub fn consistency_proof<S: SubtreeSource + ?Sized>(
    old_size: u64,
    new_size: u64,
    source: &mut S,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    check_consistency_sizes(old_size, new_size)?;
    let mut read = |start, end| source.subtree_hash(start, end).map_err(ProveError::Source);
    let mut proof = Vec::new();
    // SUBPROOF(m, D[start:end], b), unrolled: `old_tree_root` is the RFC's flag b, true while the
    // subtree is the old tree itself, whose root the verifier already has.
    let (mut start, mut end) = (0, new_size);
    let mut old_tree_root = true;
    while old_size != end {
        // Here start < old_size < end, so the subtree has at least two leaves.
        let mid = start + split_point(end - start);
        if old_size <= mid {
            proof.push(read(mid, end)?);
            end = mid;
        } else {
            proof.push(read(start, mid)?);
            start = mid;
            old_tree_root = false;
        }
    }
    // The subtree where the old tree ends, unless it is the old root the verifier knows.
    if !old_tree_root {
        proof.push(read(start, end)?);
    }
    // Collected root first; the RFC lists the deepest hash first.
    proof.reverse();
    Ok(proof)
}

/// Checks `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`, with the
/// algorithm of RFC 9162 §2.1.3.2. Safe on untrusted input: a proof longer than the tree is high
/// is refused after at most 64 hashes.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // Step 1.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Steps 2–3: `fn_` is the node's position at the current level, `sn` the last node's.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongProofLength { len: proof.len() });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // The last node of its level, and a left child: it has no sibling until the level
            // where it becomes a right child, which is the one `p` belongs to.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    if sn != 0 {
        return Err(ProofError::WrongProofLength { len: proof.len() });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`, with the algorithm of RFC 9162 §2.1.4.2. Equal sizes
/// need an empty proof and equal roots. Safe on untrusted input, like [`verify_inclusion`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_consistency_sizes(old_size, new_size)?;
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength { len: proof.len() });
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    // Step 1.
    let Some((first, tail)) = proof.split_first() else {
        return Err(ProofError::WrongProofLength { len: 0 });
    };
    // Step 2: when the old tree is a perfect subtree of the new one, the path starts at its root,
    // which the proof leaves out.
    let (seed, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (first, tail) };
    // Steps 3–4: start at the seed, the largest perfect subtree that ends where the old tree does.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5: `fr` grows into the old root, `sr` into the new one.
    let (mut fr, mut sr) = (*seed, *seed);
    // Step 6.
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongProofLength { len: proof.len() });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(ProofError::WrongProofLength { len: proof.len() });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn check_consistency_sizes(old_size: u64, new_size: u64) -> Result<(), ProofError> {
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size > new_size {
        return Err(ProofError::OldTreeLarger { old: old_size, new: new_size });
    }
    Ok(())
}

/// A compact range over leaves `0..size`: the roots of the perfect subtrees that make up the tree,
/// largest first, one per 1 bit of `size`. Appending a leaf and reading the root cost O(log n)
/// time and memory whatever the size, so a sealer can keep one and sign checkpoints without
/// re-reading the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// (level, hash): the subtree of 2^level leaves; levels strictly decrease.
    peaks: Vec<(u8, Hash)>,
}

/// Stored compact ranges whose bytes are not a valid list of peaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactRangeError {
    #[error("{0} bytes is not a whole number of 33-byte (level, hash) entries")]
    Length(usize),
    #[error("levels must strictly decrease and stay below {MAX_LEVEL}")]
    Levels,
}

/// Stored ranges stop at 2^63 - 1 leaves (the largest size a signed 64-bit database column holds),
/// which keeps `append` free of overflow on any range read back from bytes.
const MAX_LEVEL: u8 = 63;
const ENTRY_LEN: usize = 1 + 32;

impl CompactRange {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn append(&mut self, leaf_hash: Hash) {
        let (mut level, mut hash) = (0, leaf_hash);
        // Like a binary counter's carry: two subtrees of equal level are siblings, so merge them.
        while let Some(&(left_level, left)) = self.peaks.last()
            && left_level == level
        {
            self.peaks.pop();
            (level, hash) = (level + 1, node_hash(&left, &hash));
        }
        self.peaks.push((level, hash));
        self.size += 1;
    }

    /// MTH of the leaves so far. The RFC tree splits off its largest perfect subtree first, so its
    /// root folds the peaks from the right.
    pub fn root(&self) -> Hash {
        self.peaks
            .iter()
            .rev()
            .map(|(_, hash)| *hash)
            .reduce(|right, left| node_hash(&left, &right))
            .unwrap_or_else(empty_root)
    }

    /// The peaks as consecutive entries of one level byte and 32 hash bytes, largest first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.peaks.len() * ENTRY_LEN);
        for (level, hash) in &self.peaks {
            bytes.push(*level);
            bytes.extend_from_slice(hash);
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CompactRangeError> {
        let (entries, rest) = bytes.as_chunks::<ENTRY_LEN>();
        if !rest.is_empty() {
            return Err(CompactRangeError::Length(bytes.len()));
        }
        let mut range = Self::new();
        for [level, hash @ ..] in entries {
            let below_previous = range.peaks.last().is_none_or(|&(previous, _)| *level < previous);
            if *level >= MAX_LEVEL || !below_previous {
                return Err(CompactRangeError::Levels);
            }
            range.peaks.push((*level, *hash));
            range.size += 1 << level;
        }
        Ok(range)
    }
}

#[cfg(test)]
#[path = "merkle_tests.rs"]
mod tests;
