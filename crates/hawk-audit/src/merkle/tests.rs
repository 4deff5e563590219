//! The tree's tests: the RFC's recursive MTH and the node sources both halves share;
//! the known-answer tests and the property tests are modules of their own.

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::*;

mod known_answers;
mod properties;

/// A node, as the leaves `start..end` it covers.
type Range = (u64, u64);

/// MTH straight from the RFC's recursive definition, written apart from the module's.
fn reference_mth(leaves: &[Hash]) -> Hash {
    let n = leaves.len();
    if n == 0 {
        return Sha256::digest(b"").into();
    }
    if n == 1 {
        return leaves[0];
    }
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    let mut data = vec![0x01];
    data.extend_from_slice(&reference_mth(&leaves[..k]));
    data.extend_from_slice(&reference_mth(&leaves[k..]));
    Sha256::digest(&data).into()
}

/// A source that records which subtrees it was asked for.
struct Recording<S> {
    inner: S,
    asked: RefCell<Vec<Range>>,
}

impl<S> Recording<S> {
    fn new(inner: S) -> Self {
        Recording {
            inner,
            asked: RefCell::new(Vec::new()),
        }
    }
}

impl<S: NodeSource> NodeSource for Recording<S> {
    type Error = S::Error;
    fn leaf_count(&self) -> u64 {
        self.inner.leaf_count()
    }
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, S::Error> {
        self.asked.borrow_mut().push((start, end));
        self.inner.subtree_hash(start, end)
    }
}

/// What a store would keep: every perfect subtree, as `Frontier::push_with` reports
/// them, keyed by (level, index).
struct Stored {
    leaves: u64,
    nodes: HashMap<(u32, u64), Hash>,
}

impl Stored {
    fn new(leaves: &[Hash]) -> Self {
        let mut nodes = HashMap::new();
        let mut frontier = Frontier::new();
        for leaf in leaves {
            frontier.push_with(*leaf, |level, index, hash| {
                assert!(nodes.insert((level, index), *hash).is_none());
            });
        }
        Stored {
            leaves: leaves.len() as u64,
            nodes,
        }
    }
}

impl NodeSource for Stored {
    type Error = (u32, u64);
    fn leaf_count(&self) -> u64 {
        self.leaves
    }
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, (u32, u64)> {
        subtree_from_perfect(start, end, |level, index| {
            self.nodes
                .get(&(level, index))
                .copied()
                .ok_or((level, index))
        })
    }
}
