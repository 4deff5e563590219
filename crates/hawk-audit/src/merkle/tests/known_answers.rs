//! Known answers: published test vectors and fixed cases, each checked exactly.

use super::*;

fn h(hex: &str) -> Hash {
    hash_from_hex(hex).expect("64 hex digits")
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

// Known answers from an independent implementation: transparency-dev/merkle (the Go
// library behind Trillian and Certificate Transparency logs), file proof/verify_test.go:
// the eight reference leaves of RFC 6962 test suites, the roots of the trees of their
// first 1..8 leaves, and inclusion and consistency proofs over them. The single
// leaf hashes come from rfc6962/rfc6962_test.go in the same repository.

/// The leaf data (not yet hashed).
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// The root of the tree of the first `i + 1` leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (1-based leaf number, tree size, inclusion proof), as the source lists them.
const INCLUSION: &[(u64, u64, &[&str])] = &[
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
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: &[(u64, u64, &[&str])] = &[
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

// Which nodes a proof holds, from transparency-dev/merkle proof/proof_test.go (its
// node ids `(level, index)` written here as the leaf ranges `start..end` they cover).

/// (tree size, leaf index, the proof's nodes as leaf ranges).
const INCLUSION_NODES: &[(u64, u64, &[Range])] = &[
    (1, 0, &[]),
    (2, 0, &[(1, 2)]),
    (2, 1, &[(0, 1)]),
    (3, 1, &[(0, 1), (2, 3)]),
    (7, 0, &[(1, 2), (2, 4), (4, 7)]),
    (7, 1, &[(0, 1), (2, 4), (4, 7)]),
    (7, 2, &[(3, 4), (0, 2), (4, 7)]),
    (7, 3, &[(2, 3), (0, 2), (4, 7)]),
    (7, 4, &[(5, 6), (6, 7), (0, 4)]),
    (7, 5, &[(4, 5), (6, 7), (0, 4)]),
    (7, 6, &[(4, 6), (0, 4)]),
    (4, 2, &[(3, 4), (0, 2)]),
    (5, 3, &[(2, 3), (0, 2), (4, 5)]),
    (6, 3, &[(2, 3), (0, 2), (4, 6)]),
    (6, 4, &[(5, 6), (0, 4)]),
    (15, 10, &[(11, 12), (8, 10), (12, 15), (0, 8)]),
    (31, 24, &[(25, 26), (26, 28), (28, 31), (16, 24), (0, 16)]),
    (
        95,
        81,
        &[(80, 81), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)],
    ),
];

/// (old size, new size, the proof's nodes as leaf ranges).
const CONSISTENCY_NODES: &[(u64, u64, &[Range])] = &[
    (1, 2, &[(1, 2)]),
    (1, 4, &[(1, 2), (2, 4)]),
    (1, 6, &[(1, 2), (2, 4), (4, 6)]),
    (2, 3, &[(2, 3)]),
    (2, 8, &[(2, 4), (4, 8)]),
    (3, 7, &[(2, 3), (3, 4), (0, 2), (4, 7)]),
    (4, 7, &[(4, 7)]),
    (5, 7, &[(4, 5), (5, 6), (6, 7), (0, 4)]),
    (6, 7, &[(4, 6), (6, 7), (0, 4)]),
    (7, 8, &[(6, 7), (7, 8), (4, 6), (0, 4)]),
    (2, 4, &[(2, 4)]),
    (3, 5, &[(2, 3), (3, 4), (0, 2), (4, 5)]),
    (3, 6, &[(2, 3), (3, 4), (0, 2), (4, 6)]),
    (4, 6, &[(4, 6)]),
    (1, 7, &[(1, 2), (2, 4), (4, 7)]),
    (10, 15, &[(8, 10), (10, 12), (12, 15), (0, 8)]),
    (24, 31, &[(16, 24), (24, 31), (0, 16)]),
    (
        81,
        95,
        &[
            (80, 81),
            (81, 82),
            (82, 84),
            (84, 88),
            (88, 95),
            (64, 80),
            (0, 64),
        ],
    ),
];

fn reference_leaves() -> Vec<Hash> {
    LEAVES.iter().map(|l| hash_leaf(&bytes(l))).collect()
}

#[test]
fn hashes_match_rfc6962_vectors() {
    assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    assert_eq!(
        to_hex(&EMPTY_ROOT),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hash_leaf(b""),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    assert_eq!(
        hash_leaf(b"L123456"),
        h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
    let (a, b) = (hash_leaf(b"Hello"), hash_leaf(b"World"));
    assert_ne!(hash_children(&a, &b), hash_children(&b, &a));
    assert_ne!(hash_children(&a, &b), hash_leaf(&[a, b].concat()));
    assert_eq!(Frontier::new().root(), EMPTY_ROOT);
}

#[test]
fn roots_match_reference_vectors() {
    let leaves = reference_leaves();
    let mut frontier = Frontier::new();
    for (n, root) in (1..=8).zip(ROOTS) {
        frontier.push(leaves[n - 1]);
        assert_eq!(frontier.root(), h(root), "frontier, size {n}");
        assert_eq!(
            leaves[..].subtree_hash(0, n as u64),
            Ok(h(root)),
            "size {n}"
        );
        assert_eq!(reference_mth(&leaves[..n]), h(root), "reference, size {n}");
    }
}

#[test]
fn inclusion_proofs_match_reference_vectors() {
    let leaves = reference_leaves();
    for &(leaf, size, want) in INCLUSION {
        let (index, want) = (leaf - 1, want.iter().map(|p| h(p)).collect::<Vec<_>>());
        let proof = inclusion_proof(index, size, &leaves[..]).unwrap();
        assert_eq!(proof, want, "leaf {index} of {size}");
        let root = h(ROOTS[size as usize - 1]);
        let leaf = leaves[index as usize];
        assert!(verify_inclusion(&leaf, index, size, &proof, &root));
        // The corruptions the source applies to each of its vectors.
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let mut bad: Vec<(Hash, u64, u64, Vec<Hash>, Hash)> = vec![
            (leaf, index.wrapping_sub(1), size, proof.clone(), root),
            (leaf, index + 1, size, proof.clone(), root),
            (leaf, index ^ 2, size, proof.clone(), root),
            (leaf, index, size * 2, proof.clone(), root),
            (leaf, index, size / 2, proof.clone(), root),
            (hash_leaf(b"WrongLeaf"), index, size, proof.clone(), root),
            (leaf, index, size, proof.clone(), EMPTY_ROOT),
            (leaf, index, size, proof.clone(), some),
            (leaf, index, size, [&proof[..], &[root]].concat(), root),
            (leaf, index, size, [&[root], &proof[..]].concat(), root),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 8;
            bad.push((leaf, index, size, p, root));
        }
        if !proof.is_empty() {
            bad.push((leaf, index, size, proof[..proof.len() - 1].to_vec(), root));
        }
        if proof.len() > 1 {
            let p = [&[proof[0], some][..], &proof[1..]].concat();
            bad.push((leaf, index, size, p, root));
        }
        for (n, (leaf, index, size, proof, root)) in bad.iter().enumerate() {
            assert!(
                !verify_inclusion(leaf, *index, *size, proof, root),
                "corruption {n} of leaf {index} of {size}"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_reference_vectors() {
    let leaves = reference_leaves();
    for &(m, n, want) in CONSISTENCY {
        let want: Vec<Hash> = want.iter().map(|p| h(p)).collect();
        let proof = consistency_proof(m, n, &leaves[..]).unwrap();
        assert_eq!(proof, want, "{m} -> {n}");
        let (root_m, root_n) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        assert!(verify_consistency(m, n, &root_m, &root_n, &proof));
        if proof.is_empty() {
            continue;
        }
        let wrong = hash_leaf(b"WrongRoot");
        let mut bad: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (m - 1, n, root_m, root_n, proof.clone()),
            (m + 1, n, root_m, root_n, proof.clone()),
            (m ^ 2, n, root_m, root_n, proof.clone()),
            (m, n * 2, root_m, root_n, proof.clone()),
            (m, n / 2, root_m, root_n, proof.clone()),
            (m, n, wrong, root_n, proof.clone()),
            (m, n, root_m, wrong, proof.clone()),
            (m, n, root_n, root_m, proof.clone()),
            (m, n, root_m, root_n, Vec::new()),
            (m, n, root_m, root_n, [&proof[..], &[root_m]].concat()),
            (m, n, root_m, root_n, [&proof[..], &[root_n]].concat()),
            (m, n, root_m, root_n, [&[root_m], &proof[..]].concat()),
            (m, n, root_m, root_n, [&[root_n], &proof[..]].concat()),
            (m, n, root_m, root_n, [&[proof[0]], &proof[..]].concat()),
            (m, n, root_m, root_n, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 16;
            bad.push((m, n, root_m, root_n, p));
        }
        for (k, (m, n, root_m, root_n, proof)) in bad.iter().enumerate() {
            assert!(
                !verify_consistency(*m, *n, root_m, root_n, proof),
                "corruption {k} of {m} -> {n}"
            );
        }
    }
}

#[test]
fn proofs_hold_the_reference_nodes() {
    let leaves: Vec<Hash> = (0u64..100).map(|i| hash_leaf(&i.to_be_bytes())).collect();
    let node = |&(start, end): &(u64, u64)| reference_mth(&leaves[start as usize..end as usize]);
    for &(size, index, want) in INCLUSION_NODES {
        let source = Recording::new(&leaves[..]);
        let proof = inclusion_proof(index, size, &source).unwrap();
        assert_eq!(
            proof,
            want.iter().map(node).collect::<Vec<_>>(),
            "{index} of {size}"
        );
        // One read per node: a store pays exactly one lookup per proof element.
        assert_eq!(source.asked.borrow().len(), want.len());
    }
    for &(m, n, want) in CONSISTENCY_NODES {
        let source = Recording::new(&leaves[..]);
        let proof = consistency_proof(m, n, &source).unwrap();
        assert_eq!(
            proof,
            want.iter().map(node).collect::<Vec<_>>(),
            "{m} -> {n}"
        );
        assert_eq!(source.asked.borrow().len(), want.len());
    }
}

#[test]
fn proofs_refuse_impossible_requests() {
    let leaves = reference_leaves();
    let src = &leaves[..];
    assert_eq!(
        inclusion_proof(0, 0, src),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        inclusion_proof(8, 8, src),
        Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        inclusion_proof(0, 9, src),
        Err(ProofError::SizeOutOfRange {
            size: 9,
            available: 8
        })
    );
    assert_eq!(
        consistency_proof(5, 4, src),
        Err(ProofError::SizesOutOfOrder { m: 5, n: 4 })
    );
    assert_eq!(
        consistency_proof(2, 9, src),
        Err(ProofError::SizeOutOfRange {
            size: 9,
            available: 8
        })
    );
    assert_eq!(
        Frontier::from_source(9, src),
        Err(ProofError::SizeOutOfRange {
            size: 9,
            available: 8
        })
    );
    assert_eq!(consistency_proof(0, 8, src), Ok(Vec::new()));
    assert_eq!(consistency_proof(8, 8, src), Ok(Vec::new()));
    let message = inclusion_proof(3, 2, src).unwrap_err().to_string();
    assert_eq!(message, "leaf index 3 is outside a tree of size 2");
}

#[test]
fn verification_edge_cases() {
    let leaves = reference_leaves();
    let root = |n: usize| h(ROOTS[n - 1]);
    // Empty trees and equal sizes need empty proofs (and, for size 0, the empty root).
    assert!(verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]));
    assert!(verify_consistency(0, 5, &EMPTY_ROOT, &root(5), &[]));
    assert!(!verify_consistency(0, 5, &root(1), &root(5), &[]));
    assert!(!verify_consistency(
        0,
        5,
        &EMPTY_ROOT,
        &root(5),
        &[EMPTY_ROOT]
    ));
    assert!(verify_consistency(3, 3, &root(3), &root(3), &[]));
    assert!(!verify_consistency(3, 3, &root(3), &root(4), &[]));
    assert!(!verify_consistency(3, 3, &root(3), &root(3), &[EMPTY_ROOT]));
    assert!(!verify_consistency(2, 1, &root(2), &root(1), &[]));
    assert!(!verify_consistency(1, 2, &root(1), &root(2), &[]));
    // A one-leaf tree: the root is the leaf, the proof is empty.
    assert!(verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]));
    assert!(!verify_inclusion(&leaves[0], 1, 1, &[], &leaves[0]));
    assert!(!verify_inclusion(&leaves[0], 0, 0, &[], &leaves[0]));
    assert!(!verify_inclusion(&leaves[1], 0, 1, &[], &leaves[0]));
}

#[test]
fn hex_round_trips() {
    let root = h(ROOTS[7]);
    assert_eq!(to_hex(&root), ROOTS[7]);
    assert_eq!(hash_from_hex(&ROOTS[7].to_uppercase()), Some(root));
    assert_eq!(to_hex(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
    for bad in [
        "",
        "00",
        &ROOTS[7][1..],
        &format!("{}0", ROOTS[7]),
        &ROOTS[7].replace('d', "g"),
    ] {
        assert_eq!(hash_from_hex(bad), None, "{bad}");
    }
}

#[test]
fn frontier_root_is_the_tree_hash_for_every_size_to_300() {
    let leaves: Vec<Hash> = (0u64..300).map(|i| hash_leaf(&i.to_le_bytes())).collect();
    let mut frontier = Frontier::new();
    for n in 0..=leaves.len() {
        if n > 0 {
            frontier.push(leaves[n - 1]);
        }
        assert_eq!(frontier.size(), n as u64);
        assert_eq!(frontier.root(), reference_mth(&leaves[..n]), "size {n}");
        assert_eq!(frontier.nodes().len(), n.count_ones() as usize);
        assert_eq!(
            Frontier::from_source(n as u64, &leaves[..]).as_ref(),
            Ok(&frontier)
        );
        let bytes = frontier.to_bytes();
        assert_eq!(bytes.len(), 9 + 32 * n.count_ones() as usize);
        assert_eq!(Frontier::from_bytes(&bytes).as_ref(), Ok(&frontier));
    }
}

#[test]
fn frontier_bytes_are_checked() {
    let mut frontier = Frontier::new();
    for leaf in reference_leaves().into_iter().take(7) {
        frontier.push(leaf);
    }
    let good = frontier.to_bytes();
    assert_eq!(good.len(), 9 + 3 * 32);
    assert_eq!(good[..9], [1, 0, 0, 0, 0, 0, 0, 0, 7]);
    let length = |expected, actual| Err(FrontierError::Length { expected, actual });
    assert_eq!(Frontier::from_bytes(&[]), length(9, 0));
    assert_eq!(Frontier::from_bytes(&good[..5]), length(9, 5));
    assert_eq!(
        Frontier::from_bytes(&good[..good.len() - 1]),
        length(105, 104)
    );
    assert_eq!(
        Frontier::from_bytes(&[&good[..], &[0]].concat()),
        length(105, 106)
    );
    let mut other = good.clone();
    other[8] = 8;
    assert_eq!(Frontier::from_bytes(&other), length(41, 105));
    other[0] = 2;
    assert_eq!(Frontier::from_bytes(&other), Err(FrontierError::Version(2)));
    assert_eq!(
        Frontier::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0]),
        Ok(Frontier::new())
    );
}
