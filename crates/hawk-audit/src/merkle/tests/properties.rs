//! Property tests: random proofs and frontiers, checked against the RFC's recursion.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::*;

// Property tests over trees up to 2,048 leaves.

const MAX: usize = 2048;

static LEAF_HASHES: LazyLock<Vec<Hash>> = LazyLock::new(|| {
    (0..MAX as u64)
        .map(|i| hash_leaf(&i.to_be_bytes()))
        .collect()
});

static STORED: LazyLock<Stored> = LazyLock::new(|| Stored::new(&LEAF_HASHES));

/// `ROOTS_BY_SIZE[n]`: the root of the first `n` leaves, from the frontier.
static ROOTS_BY_SIZE: LazyLock<Vec<Hash>> = LazyLock::new(|| {
    let mut frontier = Frontier::new();
    let mut roots = vec![frontier.root()];
    for leaf in LEAF_HASHES.iter() {
        frontier.push(*leaf);
        roots.push(frontier.root());
    }
    roots
});

/// Which side of the running hash a proof element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

fn split_model(n: u64) -> u64 {
    let mut k = 1;
    while k < n - k {
        k *= 2;
    }
    k
}

/// The shape of `PATH(index, D[0..size])`, bottom-up, from the RFC's recursion.
fn inclusion_shape(index: u64, size: u64) -> Vec<Side> {
    if size <= 1 {
        return Vec::new();
    }
    let k = split_model(size);
    let (mut shape, side) = if index < k {
        (inclusion_shape(index, k), Side::Right)
    } else {
        (inclusion_shape(index - k, size - k), Side::Left)
    };
    shape.push(side);
    shape
}

/// The shape of a consistency proof: how verification must combine its elements.
#[derive(Debug, PartialEq, Eq)]
enum ConsistencyShape {
    /// `m == 0`: an empty proof and the empty root.
    FromEmpty,
    /// `m == n`: an empty proof and equal roots.
    Equal,
    /// Whether the old root starts the path, then each element's side (a left one
    /// also builds the old root).
    Path(bool, Vec<Side>),
}

fn consistency_shape(m: u64, n: u64) -> Option<ConsistencyShape> {
    fn sub(m: u64, n: u64, whole: bool) -> (bool, Vec<Side>) {
        if m == n {
            return (whole, Vec::new());
        }
        let k = split_model(n);
        let (start, mut shape, side) = if m <= k {
            let (start, shape) = sub(m, k, whole);
            (start, shape, Side::Right)
        } else {
            let (start, shape) = sub(m - k, n - k, false);
            (start, shape, Side::Left)
        };
        shape.push(side);
        (start, shape)
    }
    match (m, n) {
        _ if m > n => None,
        (0, _) => Some(ConsistencyShape::FromEmpty),
        _ if m == n => Some(ConsistencyShape::Equal),
        _ => {
            let (start, shape) = sub(m, n, true);
            Some(ConsistencyShape::Path(start, shape))
        }
    }
}

/// Whether a range is a node of the tree of `size` leaves: perfect and aligned, or
/// ending at the tree size.
fn is_node(start: u64, end: u64, size: u64) -> bool {
    let width = end - start;
    start < end
        && end <= size
        && (end == size || (width.is_power_of_two() && start.is_multiple_of(width)))
}

fn flip(hash: &Hash, bit: u64) -> Hash {
    let mut out = *hash;
    out[(bit / 8 % 32) as usize] ^= 1 << (bit % 8);
    out
}

/// A few pseudo-random numbers from a seed (xorshift), to sample bits to flip.
fn samples(seed: u64, count: usize) -> impl Iterator<Item = u64> {
    let mut x = seed | 1;
    (0..count).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_inclusion_proof_verifies_and_no_flip_does(
        size in 1..=MAX as u64,
        index in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let index = index.index(size as usize) as u64;
        let source = Recording::new(&*STORED);
        let proof = inclusion_proof(index, size, &source).unwrap();
        if seed % 4 == 0 {
            prop_assert_eq!(&inclusion_proof(index, size, &LEAF_HASHES[..]).unwrap(), &proof);
        }
        for &(start, end) in source.asked.borrow().iter() {
            prop_assert!(is_node(start, end, size), "asked {start}..{end} of {size}");
        }
        let leaf = LEAF_HASHES[index as usize];
        let root = ROOTS_BY_SIZE[size as usize];
        prop_assert_eq!(proof.len(), inclusion_shape(index, size).len());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root));

        let mut bits = samples(seed, 24);
        if !proof.is_empty() {
            for r in bits.by_ref().take(16) {
                let mut bad = proof.clone();
                let i = (r >> 8) as usize % proof.len();
                bad[i] = flip(&bad[i], r);
                prop_assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
            }
        }
        for r in bits.by_ref().take(4) {
            prop_assert!(!verify_inclusion(&flip(&leaf, r), index, size, &proof, &root));
        }
        for r in bits.take(4) {
            prop_assert!(!verify_inclusion(&leaf, index, size, &proof, &flip(&root, r)));
        }
        for bit in (0..12).chain([40, 63]) {
            let other = index ^ (1 << bit);
            prop_assert!(!verify_inclusion(&leaf, other, size, &proof, &root), "index {other}");
            // With the root of another size, as a checkpoint pairs them: never.
            let other = size ^ (1 << bit);
            if let Some(other_root) = ROOTS_BY_SIZE.get(other as usize) {
                prop_assert!(!verify_inclusion(&leaf, index, other, &proof, other_root));
            }
            // With this root, another size fits only when the path has the same shape.
            let same = other > index && inclusion_shape(index, other) == inclusion_shape(index, size);
            prop_assert_eq!(verify_inclusion(&leaf, index, other, &proof, &root), same, "size {}", other);
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_no_flip_does(
        n in 1..=MAX as u64,
        m in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let m = m.index(n as usize + 1) as u64;
        let source = Recording::new(&*STORED);
        let proof = consistency_proof(m, n, &source).unwrap();
        if seed % 4 == 0 {
            prop_assert_eq!(&consistency_proof(m, n, &LEAF_HASHES[..]).unwrap(), &proof);
        }
        for &(start, end) in source.asked.borrow().iter() {
            prop_assert!(is_node(start, end, n), "asked {start}..{end} of {n}");
        }
        let (root_m, root_n) = (ROOTS_BY_SIZE[m as usize], ROOTS_BY_SIZE[n as usize]);
        prop_assert!(verify_consistency(m, n, &root_m, &root_n, &proof));

        let mut bits = samples(seed, 24);
        if !proof.is_empty() {
            for r in bits.by_ref().take(16) {
                let mut bad = proof.clone();
                let i = (r >> 8) as usize % proof.len();
                bad[i] = flip(&bad[i], r);
                prop_assert!(!verify_consistency(m, n, &root_m, &root_n, &bad));
            }
        }
        for r in bits.by_ref().take(4) {
            prop_assert!(!verify_consistency(m, n, &flip(&root_m, r), &root_n, &proof));
        }
        for r in bits.take(4) {
            // The empty tree is consistent with any tree: only there root_n is free.
            let verified = verify_consistency(m, n, &root_m, &flip(&root_n, r), &proof);
            prop_assert_eq!(verified, m == 0);
        }
        let shape = consistency_shape(m, n);
        for bit in (0..12).chain([40, 63]) {
            for (other_m, other_n) in [(m ^ (1 << bit), n), (m, n ^ (1 << bit))] {
                // With the roots of those sizes, as checkpoints pair them: only what is
                // true without a proof (from the empty tree, or between equal sizes).
                let roots = (ROOTS_BY_SIZE.get(other_m as usize), ROOTS_BY_SIZE.get(other_n as usize));
                if let (Some(rm), Some(rn)) = roots {
                    let trivial = proof.is_empty() && (other_m == 0 || other_m == other_n);
                    prop_assert_eq!(verify_consistency(other_m, other_n, rm, rn, &proof), trivial);
                }
                // With these roots, other sizes fit only when the proof has the same shape.
                let same = consistency_shape(other_m, other_n) == shape;
                let verified = verify_consistency(other_m, other_n, &root_m, &root_n, &proof);
                prop_assert_eq!(verified, same, "{} -> {}", other_m, other_n);
            }
        }
    }

    #[test]
    fn frontier_bytes_round_trip(size in any::<u64>(), fill in any::<u8>()) {
        let nodes = size.count_ones() as usize;
        let mut bytes = vec![FRONTIER_VERSION];
        bytes.extend_from_slice(&size.to_be_bytes());
        bytes.extend((0..nodes * 32).map(|i| fill.wrapping_add(i as u8)));
        let frontier = Frontier::from_bytes(&bytes).unwrap();
        prop_assert_eq!(frontier.size(), size);
        prop_assert_eq!(frontier.nodes().len(), nodes);
        prop_assert_eq!(frontier.to_bytes(), bytes);
    }
}

#[test]
fn sizes_are_bound_by_the_root_not_the_path() {
    // Leaf 0 has the same path in trees of 5 and 7 leaves (three left turns), so one
    // proof fits either size with the same root: the size is bound by the root that a
    // checkpoint signs with it, never by the proof alone.
    assert_eq!(inclusion_shape(0, 5), inclusion_shape(0, 7));
    assert_ne!(inclusion_shape(0, 8), inclusion_shape(0, 9));
    let leaves = &LEAF_HASHES[..];
    let proof = inclusion_proof(0, 5, leaves).unwrap();
    let root = ROOTS_BY_SIZE[5];
    assert!(verify_inclusion(&leaves[0], 0, 7, &proof, &root));
    assert!(!verify_inclusion(
        &leaves[0],
        0,
        7,
        &proof,
        &ROOTS_BY_SIZE[7]
    ));
}

#[test]
fn push_reports_each_perfect_subtree_once() {
    let leaves: Vec<Hash> = (0u64..300).map(|i| hash_leaf(&i.to_le_bytes())).collect();
    let mut frontier = Frontier::new();
    let mut seen = HashMap::new();
    for (n, leaf) in leaves.iter().enumerate() {
        let mut levels = Vec::new();
        frontier.push_with(*leaf, |level, index, hash| {
            levels.push(level);
            assert!(
                seen.insert((level, index), *hash).is_none(),
                "{level} {index}"
            );
        });
        // The leaf, then one level up for each subtree it completes.
        let completed = (n as u64 + 1).trailing_zeros();
        assert_eq!(levels, (0..=completed).collect::<Vec<_>>());
    }
    assert_eq!(seen.len(), 2 * 300 - 300u64.count_ones() as usize);
    for ((level, index), hash) in &seen {
        let start = (*index as usize) << level;
        let range = &leaves[start..start + (1 << level)];
        assert_eq!(*hash, reference_mth(range), "{level} {index}");
    }
}

#[test]
fn stored_nodes_and_leaves_give_the_same_proofs() {
    // Every proof in every tree up to 64 leaves, from the leaves and from stored nodes.
    let leaves = &LEAF_HASHES[..64];
    let stored = Stored::new(leaves);
    for n in 0..=64u64 {
        let root = ROOTS_BY_SIZE[n as usize];
        assert_eq!(Frontier::from_source(n, &stored).unwrap().root(), root);
        for i in 0..n {
            let proof = inclusion_proof(i, n, leaves).unwrap();
            assert_eq!(inclusion_proof(i, n, &stored).unwrap(), proof, "{i} of {n}");
            assert!(verify_inclusion(&leaves[i as usize], i, n, &proof, &root));
        }
        for m in 0..=n {
            let proof = consistency_proof(m, n, leaves).unwrap();
            assert_eq!(
                consistency_proof(m, n, &stored).unwrap(),
                proof,
                "{m} -> {n}"
            );
            let root_m = ROOTS_BY_SIZE[m as usize];
            assert!(
                verify_consistency(m, n, &root_m, &root, &proof),
                "{m} -> {n}"
            );
        }
    }
    assert_eq!(subtree_from_perfect(3, 3, |_, _| Err(())), Ok(EMPTY_ROOT));
    // The roots the property tests check against, at a few large sizes.
    for n in [1000, 1537, 2047, 2048] {
        assert_eq!(
            ROOTS_BY_SIZE[n],
            reference_mth(&LEAF_HASHES[..n]),
            "size {n}"
        );
    }
}
