use std::convert::Infallible;
use std::sync::LazyLock;

use proptest::prelude::*;

use super::*;

fn h(hex: &str) -> Hash {
    let mut hash = [0; 32];
    hex::decode_to_slice(hex, &mut hash).unwrap();
    hash
}

fn flipped(mut hash: Hash, bit: usize) -> Hash {
    hash[bit / 8] ^= 1 << (bit % 8);
    hash
}

// The standard RFC 6962 test tree, as in transparency-dev/merkle `proof/verify_test.go` (and
// certificate-transparency-go before it): eight leaves, the roots of their prefixes, and proofs.
const VECTOR_LEAVES: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// `VECTOR_ROOTS[n - 1]` is the root of the first `n` leaves.
const VECTOR_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (index, tree size, proof); the Go file numbers leaves from 1, these from 0.
const VECTOR_INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, proof).
const VECTOR_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn vector_leaves() -> Vec<Hash> {
    VECTOR_LEAVES.iter().map(|leaf| leaf_hash(&hex::decode(leaf).unwrap())).collect()
}

fn vector_root(size: u64) -> Hash {
    h(VECTOR_ROOTS[size as usize - 1])
}

fn hashes(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|hash| h(hash)).collect()
}

#[test]
fn hashes_match_known_values() {
    // `echo -n | sha256sum`, and rfc6962/rfc6962_test.go in transparency-dev/merkle.
    assert_eq!(empty_root(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_eq!(leaf_hash(b""), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    assert_eq!(leaf_hash(b"L123456"), h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
    // SHA-256 of 0x01 ‖ 32 × 0x00 ‖ 32 × 0xff, computed with sha256sum.
    assert_eq!(node_hash(&[0; 32], &[0xff; 32]), h("bc6b943b820c449acf880d293c216a24a8066b153f87f2361fae2beda3a72641"));
    assert_ne!(node_hash(&[0; 32], &[0xff; 32]), node_hash(&[0xff; 32], &[0; 32]));
    assert_eq!(root_from_leaves(&[]), empty_root());
}

#[test]
fn roots_match_the_rfc6962_test_tree() {
    let leaves = vector_leaves();
    let mut range = CompactRange::new();
    for size in 1..=8 {
        assert_eq!(root_from_leaves(&leaves[..size as usize]), vector_root(size), "size {size}");
        range.append(leaves[size as usize - 1]);
        assert_eq!(range.root(), vector_root(size), "compact range at size {size}");
    }
}

#[test]
fn inclusion_proofs_match_the_rfc6962_test_tree() {
    let leaves = vector_leaves();
    let some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, expected) in VECTOR_INCLUSION {
        let expected = hashes(expected);
        let proof = inclusion_proof(index, size, &mut LeafHashes(&leaves)).unwrap();
        assert_eq!(proof, expected, "proof of {index} in {size}");

        let (leaf, root) = (leaves[index as usize], vector_root(size));
        assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));

        // The corruptions of Go's corruptInclusionProof: none may verify.
        let extended = |before: &[Hash], after: &[Hash]| [before, &proof, after].concat();
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (index.wrapping_sub(1), size, leaf, root, proof.clone()),
            (index + 1, size, leaf, root, proof.clone()),
            (index ^ 2, size, leaf, root, proof.clone()),
            (index, size * 2, leaf, root, proof.clone()),
            (index, size / 2, leaf, root, proof.clone()),
            (index, size, leaf_hash(b"WrongLeaf"), root, proof.clone()),
            (index, size, leaf, empty_root(), proof.clone()),
            (index, size, leaf, some_hash, proof.clone()),
            (index, size, leaf, root, extended(&[], &[[0; 32]])),
            (index, size, leaf, root, extended(&[], &[root])),
            (index, size, leaf, root, extended(&[[0; 32]], &[])),
            (index, size, leaf, root, extended(&[root], &[])),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i][0] ^= 8;
            probes.push((index, size, leaf, root, wrong));
        }
        if let Some((_, shorter)) = proof.split_last() {
            probes.push((index, size, leaf, root, shorter.to_vec()));
        }
        if let [first, rest @ ..] = proof.as_slice()
            && !rest.is_empty()
        {
            probes.push((index, size, leaf, root, [&[*first, some_hash], rest].concat()));
        }
        for (i, (index, size, leaf, root, proof)) in probes.iter().enumerate() {
            assert!(verify_inclusion(leaf, *index, *size, proof, root).is_err(), "probe {i} verified");
        }
    }
}

#[test]
fn consistency_proofs_match_the_rfc6962_test_tree() {
    let leaves = vector_leaves();
    for (old, new, expected) in VECTOR_CONSISTENCY {
        let expected = hashes(expected);
        let proof = consistency_proof(old, new, &mut LeafHashes(&leaves)).unwrap();
        assert_eq!(proof, expected, "proof from {old} to {new}");

        let (old_root, new_root) = (vector_root(old), vector_root(new));
        assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
        if proof.is_empty() {
            continue;
        }

        // The corruptions of Go's corruptConsistencyProof: none may verify.
        let wrong_root = leaf_hash(b"WrongRoot");
        let extended = |before: &[Hash], after: &[Hash]| [before, &proof, after].concat();
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (old - 1, new, old_root, new_root, proof.clone()),
            (old + 1, new, old_root, new_root, proof.clone()),
            (old ^ 2, new, old_root, new_root, proof.clone()),
            (old, new * 2, old_root, new_root, proof.clone()),
            (old, new / 2, old_root, new_root, proof.clone()),
            (old, new, wrong_root, new_root, proof.clone()),
            (old, new, old_root, wrong_root, proof.clone()),
            (old, new, new_root, old_root, proof.clone()),
            (old, new, old_root, new_root, Vec::new()),
            (old, new, old_root, new_root, extended(&[], &[[0; 32]])),
            (old, new, old_root, new_root, extended(&[], &[old_root])),
            (old, new, old_root, new_root, extended(&[], &[new_root])),
            (old, new, old_root, new_root, extended(&[[0; 32]], &[])),
            (old, new, old_root, new_root, extended(&[old_root], &[])),
            (old, new, old_root, new_root, extended(&[new_root], &[])),
            (old, new, old_root, new_root, extended(&[proof[0]], &[])),
            (old, new, old_root, new_root, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i][0] ^= 16;
            probes.push((old, new, old_root, new_root, wrong));
        }
        for (i, (old, new, old_root, new_root, proof)) in probes.iter().enumerate() {
            assert!(verify_consistency(*old, *new, old_root, new_root, proof).is_err(), "probe {i} verified");
        }
    }
}

#[test]
fn sizes_outside_the_tree_are_refused() {
    let leaves = vector_leaves();
    let root = vector_root(8);
    assert_eq!(verify_inclusion(&leaves[0], 8, 8, &[], &root), Err(ProofError::IndexOutOfRange { index: 8, size: 8 }));
    assert_eq!(
        verify_inclusion(&leaves[0], 0, 0, &[], &empty_root()),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert!(matches!(
        inclusion_proof(8, 8, &mut LeafHashes(&leaves)),
        Err(ProveError::Invalid(ProofError::IndexOutOfRange { index: 8, size: 8 }))
    ));

    assert_eq!(verify_consistency(0, 8, &empty_root(), &root, &[]), Err(ProofError::EmptyOldTree));
    assert_eq!(verify_consistency(0, 0, &empty_root(), &empty_root(), &[]), Err(ProofError::EmptyOldTree));
    assert_eq!(verify_consistency(5, 4, &root, &root, &[]), Err(ProofError::OldTreeLarger { old: 5, new: 4 }));
    assert!(matches!(
        consistency_proof(0, 8, &mut LeafHashes(&leaves)),
        Err(ProveError::Invalid(ProofError::EmptyOldTree))
    ));
    assert!(matches!(
        consistency_proof(5, 4, &mut LeafHashes(&leaves)),
        Err(ProveError::Invalid(ProofError::OldTreeLarger { old: 5, new: 4 }))
    ));
}

#[test]
fn equal_sizes_need_an_empty_proof_and_equal_roots() {
    let root = vector_root(5);
    assert_eq!(verify_consistency(5, 5, &root, &root, &[]), Ok(()));
    assert_eq!(verify_consistency(5, 5, &root, &vector_root(4), &[]), Err(ProofError::RootMismatch));
    assert_eq!(verify_consistency(5, 5, &root, &root, &[root]), Err(ProofError::WrongProofLength { len: 1 }));
    assert_eq!(consistency_proof(5, 5, &mut LeafHashes(&vector_leaves())).unwrap(), Vec::<Hash>::new());
}

#[test]
fn wrong_lengths_and_roots_are_named() {
    let leaves = vector_leaves();
    let proof = inclusion_proof(5, 8, &mut LeafHashes(&leaves)).unwrap();
    assert_eq!(
        verify_inclusion(&leaves[5], 5, 8, &proof[..2], &vector_root(8)),
        Err(ProofError::WrongProofLength { len: 2 })
    );
    assert_eq!(verify_inclusion(&leaves[5], 5, 8, &proof, &vector_root(7)), Err(ProofError::RootMismatch));

    let proof = consistency_proof(6, 8, &mut LeafHashes(&leaves)).unwrap();
    assert_eq!(
        verify_consistency(6, 8, &vector_root(6), &vector_root(8), &[]),
        Err(ProofError::WrongProofLength { len: 0 })
    );
    assert_eq!(verify_consistency(6, 8, &vector_root(5), &vector_root(8), &proof), Err(ProofError::OldRootMismatch));
    assert_eq!(verify_consistency(6, 8, &vector_root(6), &vector_root(7), &proof), Err(ProofError::RootMismatch));
    // Old size 2 is a power of two: its root is the path's start, so the proof is the rest.
    assert_eq!(
        verify_consistency(2, 5, &vector_root(2), &vector_root(5), &[]),
        Err(ProofError::WrongProofLength { len: 0 })
    );

    // A long proof is refused once the path reaches the root, without hashing the rest.
    let long = vec![[0; 32]; 1_000_000];
    assert_eq!(
        verify_inclusion(&leaves[5], 5, 8, &long, &vector_root(8)),
        Err(ProofError::WrongProofLength { len: 1_000_000 })
    );
    assert_eq!(
        verify_consistency(6, 8, &vector_root(6), &vector_root(8), &long),
        Err(ProofError::WrongProofLength { len: 1_000_000 })
    );
}

#[test]
fn a_short_source_is_an_error_not_a_panic() {
    let leaves = vector_leaves();
    let error = inclusion_proof(0, 9, &mut LeafHashes(&leaves)).unwrap_err();
    assert!(matches!(error, ProveError::Source(MissingLeaves { start: 8, end: 9, held: 8 })), "{error:?}");
    let error = consistency_proof(3, 1 << 40, &mut LeafHashes(&leaves)).unwrap_err();
    assert!(matches!(error, ProveError::Source(MissingLeaves { .. })), "{error:?}");
}

/// A tree whose leaves all have the same hash: every subtree's hash depends only on its size, so
/// trees of any size up to 2^64 - 1 can be proved and verified at the cost of O(log² n) hashes.
struct UniformLeaves(Hash);

impl UniformLeaves {
    fn root(&self, size: u64) -> Hash {
        if size == 1 {
            return self.0;
        }
        let k = split_point(size);
        let mut left = self.0;
        for _ in 0..k.trailing_zeros() {
            left = node_hash(&left, &left);
        }
        node_hash(&left, &self.root(size - k))
    }
}

impl SubtreeSource for UniformLeaves {
    type Error = Infallible;

    fn subtree_hash(&mut self, start: u64, end: u64) -> Result<Hash, Infallible> {
        Ok(self.root(end - start))
    }
}

#[test]
fn proofs_work_up_to_the_largest_sizes() {
    let mut tree = UniformLeaves(leaf_hash(b"x"));
    let leaf = tree.0;
    let top = 1 << 63;
    for (index, size) in
        [(0, u64::MAX), (u64::MAX - 1, u64::MAX), (top, top + 1), (0, top + 1), (top - 1, top), (5, top)]
    {
        let proof = inclusion_proof(index, size, &mut tree).unwrap();
        let root = tree.root(size);
        assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()), "{index} in {size}");
        assert!(verify_inclusion(&leaf, index, size, &proof, &flipped(root, 0)).is_err());
    }
    for (old, new) in
        [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (top, u64::MAX), (top - 1, top), (top, top + 1), (3, top + 3)]
    {
        let proof = consistency_proof(old, new, &mut tree).unwrap();
        let (old_root, new_root) = (tree.root(old), tree.root(new));
        assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()), "{old} to {new}");
        assert!(verify_consistency(old, new, &flipped(old_root, 0), &new_root, &proof).is_err());
    }
}

#[test]
fn compact_range_matches_the_tree_at_every_size_and_survives_storage() {
    let mut range = CompactRange::new();
    assert_eq!((range.size(), range.root()), (0, empty_root()));
    assert_eq!(CompactRange::from_bytes(&[]), Ok(CompactRange::new()));
    for size in 1..=MAX_SIZE {
        range.append(LEAVES[size as usize - 1]);
        assert_eq!(range.size(), size);
        assert_eq!(range.root(), ROOTS[size as usize], "size {size}");
        let bytes = range.to_bytes();
        assert_eq!(bytes.len(), size.count_ones() as usize * 33, "one entry per perfect subtree");
        // Keep going with the restored range: it must be as good as the original.
        range = CompactRange::from_bytes(&bytes).unwrap();
        assert_eq!(range.size(), size);
    }
}

#[test]
fn invalid_compact_range_bytes_are_refused() {
    let entry = |level: u8| [&[level][..], &[7; 32]].concat();
    assert_eq!(CompactRange::from_bytes(&[0; 32]), Err(CompactRangeError::Length(32)));
    assert_eq!(CompactRange::from_bytes(&[entry(3), vec![0]].concat()), Err(CompactRangeError::Length(34)));
    assert_eq!(CompactRange::from_bytes(&[entry(1), entry(2)].concat()), Err(CompactRangeError::Levels));
    assert_eq!(CompactRange::from_bytes(&[entry(2), entry(2)].concat()), Err(CompactRangeError::Levels));
    assert_eq!(CompactRange::from_bytes(&entry(63)), Err(CompactRangeError::Levels));
    let largest = CompactRange::from_bytes(&(0..63).rev().flat_map(entry).collect::<Vec<u8>>()).unwrap();
    assert_eq!(largest.size(), (1 << 63) - 1);
}

const MAX_SIZE: u64 = 300;

static LEAVES: LazyLock<Vec<Hash>> =
    LazyLock::new(|| (0..MAX_SIZE).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect());

/// `ROOTS[n]`: the root of the first n leaves, computed the RFC's recursive way.
static ROOTS: LazyLock<Vec<Hash>> =
    LazyLock::new(|| (0..=MAX_SIZE as usize).map(|size| root_from_leaves(&LEAVES[..size])).collect());

fn prove_inclusion(index: u64, size: u64) -> Vec<Hash> {
    inclusion_proof(index, size, &mut LeafHashes(&LEAVES[..size as usize])).unwrap()
}

fn prove_consistency(old: u64, new: u64) -> Vec<Hash> {
    consistency_proof(old, new, &mut LeafHashes(&LEAVES[..new as usize])).unwrap()
}

fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|size| (Just(size), 0..size))
}

fn old_and_new_sizes() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|new| (1..=new, Just(new)))
}

/// Sizes and indexes near the edges of u64 as well as anywhere.
fn any_size() -> impl Strategy<Value = u64> {
    prop_oneof![0..=4u64, Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 63), Just((1 << 63) + 1), any::<u64>()]
}

proptest! {
    #[test]
    fn inclusion_proofs_verify_and_bind_leaf_index_size_and_root(
        (size, index) in size_and_index(),
        other_index in 0..MAX_SIZE,
        other_size in 1..=MAX_SIZE,
        bit in 0..256usize,
    ) {
        let proof = prove_inclusion(index, size);
        let (leaf, root) = (LEAVES[index as usize], ROOTS[size as usize]);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));

        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = flipped(wrong[i], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &wrong, &root).is_err());
        }
        prop_assert!(verify_inclusion(&flipped(leaf, bit), index, size, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flipped(root, bit)).is_err());
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &root).is_err());
        }
        // The root alone does not fix the size (the checkpoint signs both), so the other size is
        // checked against its own tree's root.
        if other_size != size {
            prop_assert!(verify_inclusion(&leaf, index, other_size, &proof, &ROOTS[other_size as usize]).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_bind_sizes_and_roots(
        (old, new) in old_and_new_sizes(),
        other_size in 1..=MAX_SIZE,
        bit in 0..256usize,
    ) {
        let proof = prove_consistency(old, new);
        let (old_root, new_root) = (ROOTS[old as usize], ROOTS[new as usize]);
        prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));

        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = flipped(wrong[i], bit);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &wrong).is_err());
        }
        prop_assert!(verify_consistency(old, new, &flipped(old_root, bit), &new_root, &proof).is_err());
        prop_assert!(verify_consistency(old, new, &old_root, &flipped(new_root, bit), &proof).is_err());
        let other_root = ROOTS[other_size as usize];
        if other_size != old && other_size <= new {
            prop_assert!(verify_consistency(other_size, new, &other_root, &new_root, &proof).is_err());
        }
        if other_size != new && other_size >= old {
            prop_assert!(verify_consistency(old, other_size, &old_root, &other_root, &proof).is_err());
        }
    }

    #[test]
    fn verifying_arbitrary_input_never_panics(
        index in any_size(),
        size in any_size(),
        proof in prop::collection::vec(any::<Hash>(), 0..70),
        leaf in any::<Hash>(),
        root in any::<Hash>(),
    ) {
        // Random hashes could only match by breaking SHA-256.
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
        prop_assert!(verify_consistency(index, size, &leaf, &root, &proof).is_err());
    }
}
