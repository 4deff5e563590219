//! Tamper evidence: the log as a Merkle tree in the shape of RFC 6962 / RFC 9162.
//!
//! The tree over leaves `D[0..n]` (each a 32-byte leaf hash) has the Merkle Tree Hash
//!
//! - `MTH({}) = SHA-256("")` ([`EMPTY_ROOT`]),
//! - `MTH({d}) = d` for a leaf hash `d = SHA-256(0x00 ‖ data)` ([`hash_leaf`]),
//! - `MTH(D[0..n]) = SHA-256(0x01 ‖ MTH(D[0..k]) ‖ MTH(D[k..n]))` for `n > 1`, where
//!   `k` is the largest power of two strictly below `n` ([`hash_children`]).
//!
//! No node is ever duplicated: a tree whose size is not a power of two simply has a
//! shorter right edge. Leaf `i` of the log is the entry with id `i + 1`; its data is
//! [`entry_bytes`], so its leaf hash is [`leaf_hash`].
//!
//! - [`Frontier`] keeps the roots of the perfect subtrees along the right edge
//!   (O(log n) hashes), so appending and computing the root stay cheap;
//!   [`Frontier::push_with`] also reports each perfect subtree as it completes.
//! - [`inclusion_proof`] and [`consistency_proof`] build the proofs of RFC 9162
//!   sections 2.1.3.1 and 2.1.4.1 from any [`NodeSource`]; [`verify_inclusion`] and
//!   [`verify_consistency`] are the verification algorithms of sections 2.1.3.2 and
//!   2.1.4.2, step by step, and need nothing but this module's hash functions.
//!   [`subtree_from_perfect`] lets a source answer from stored perfect subtrees in
//!   O(log n) reads per proof element.
//!
//! Every range a proof asks a [`NodeSource`] for is a node of the tree being proved:
//! either a perfect, aligned subtree, which never changes once complete (so stores keep
//! the large ones, written as [`Frontier::push_with`] reports them), or one that ends
//! at the tree size. A [`Frontier`] is stored as a version byte, the size and the
//! nodes ([`Frontier::to_bytes`]); a new layout is a new version. Known-answer tests
//! come from transparency-dev/merkle; property tests check random proofs in trees of
//! up to 2,048 leaves.
//!
//! ```
//! use hawk_audit::merkle::{self, Frontier};
//!
//! let leaves: Vec<merkle::Hash> = (0u8..5).map(|i| merkle::hash_leaf(&[i])).collect();
//! let mut frontier = Frontier::new();
//! for leaf in &leaves {
//!     frontier.push(*leaf);
//! }
//! let root = frontier.root();
//!
//! let proof = merkle::inclusion_proof(3, 5, &leaves[..]).unwrap();
//! assert!(merkle::verify_inclusion(&leaves[3], 3, 5, &proof, &root));
//!
//! let old_root = merkle::Frontier::from_source(2, &leaves[..]).unwrap().root();
//! let proof = merkle::consistency_proof(2, 5, &leaves[..]).unwrap();
//! assert!(merkle::verify_consistency(2, 5, &old_root, &root, &proof));
//! ```

use std::convert::Infallible;

use sha2::{Digest, Sha256};

mod encoding;

pub(crate) use encoding::valid_leaf_hash;
pub use encoding::{
    ENTRY_BYTES_VERSION, canonical_metadata, entry_bytes, leaf_hash, metadata_hash,
};

/// A SHA-256 digest: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of `data`: `SHA-256(0x00 ‖ data)`.
pub fn hash_leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0x01; 65];
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    Sha256::digest(input).into()
}

/// Lowercase hexadecimal, two digits per byte.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes first: pushing chars one by one costs more than the digits themselves, and
    // every entry read back formats its hash.
    let mut out = vec![0; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Parses 64 hexadecimal digits (either case) into a hash; `None` for anything else.
pub fn hash_from_hex(hex: &str) -> Option<Hash> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The largest power of two strictly below `n` (`n > 1`): where RFC 6962 splits.
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where proof generation reads the tree from: the hash of any subtree.
///
/// A slice of leaf hashes is a source (it rehashes what it is asked for). A store
/// answers from what it keeps: every range asked for is a node of the tree of the
/// size being proved, so it is either a perfect subtree (`end - start` a power of
/// two, `start` a multiple of it, never changing once complete) or one that ends at
/// that tree size. [`subtree_from_perfect`] answers such a range from perfect subtrees
/// alone, such as those [`Frontier::push_with`] reports as they complete.
pub trait NodeSource {
    /// Why reading failed (for a slice: it cannot).
    type Error;

    /// How many leaves the source holds; proofs are possible for trees up to this size.
    fn leaf_count(&self) -> u64;

    /// `MTH(D[start..end])`, the hash of the subtree over leaves `start..end`; only
    /// called with `start < end <= leaf_count()`.
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

impl NodeSource for [Hash] {
    type Error = Infallible;

    fn leaf_count(&self) -> u64 {
        self.len() as u64
    }

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, Infallible> {
        // Ranges fit in the slice, so they fit in usize.
        Ok(mth(&self[start as usize..end as usize]))
    }
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn leaf_count(&self) -> u64 {
        (**self).leaf_count()
    }

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, S::Error> {
        (**self).subtree_hash(start, end)
    }
}

fn mth(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [leaf] => *leaf,
        _ => {
            let k = split(leaves.len() as u64) as usize;
            hash_children(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The hash of a node of a tree (a range a [`NodeSource`] is asked for) from the
/// perfect subtrees it is made of: one per set bit of `end - start`, largest first.
///
/// `perfect(level, index)` gives the hash of the perfect subtree over the `2^level`
/// leaves from `index << level` (level 0: a leaf hash). The range must be a node of
/// some tree, so that each piece is aligned: perfect, or ending at that tree's size.
pub fn subtree_from_perfect<E>(
    start: u64,
    end: u64,
    mut perfect: impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let width = end.saturating_sub(start);
    let mut pieces = Vec::with_capacity(width.count_ones() as usize);
    let mut at = start;
    for level in (0..64).rev() {
        let w = 1u64 << level;
        if width & w != 0 {
            debug_assert!(at.is_multiple_of(w), "{start}..{end} is not a node");
            pieces.push(perfect(level, at >> level)?);
            at += w;
        }
    }
    let Some(mut root) = pieces.pop() else {
        return Ok(EMPTY_ROOT);
    };
    while let Some(left) = pieces.pop() {
        root = hash_children(&left, &root);
    }
    Ok(root)
}

/// Why a proof could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// The tree size is larger than the leaves the source holds.
    #[error("tree size {size} is larger than the {available} leaves held")]
    SizeOutOfRange {
        /// The tree size asked for.
        size: u64,
        /// How many leaves the source holds.
        available: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("a consistency proof needs m <= n, got m = {m}, n = {n}")]
    SizesOutOfOrder {
        /// The older tree size.
        m: u64,
        /// The newer tree size.
        n: u64,
    },
    /// The source failed to give a subtree hash.
    #[error("reading the tree failed: {0}")]
    Source(E),
}

/// The inclusion proof (audit path) of leaf `index` in the tree of the first `size`
/// leaves: RFC 9162 `PATH(index, D[0..size])`, nearest sibling first.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    index: u64,
    size: u64,
    source: &S,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    check_size(size, source)?;
    let mut proof = Vec::new();
    // The path from the root down to the leaf, then reversed: bottom-up order.
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let mid = start + split(end - start);
        let sibling = if index < mid {
            let sibling = subtree(source, mid, end)?;
            end = mid;
            sibling
        } else {
            let sibling = subtree(source, start, mid)?;
            start = mid;
            sibling
        };
        proof.push(sibling);
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof between the trees of the first `m` and the first `n` leaves:
/// RFC 9162 `PROOF(m, D[0..n])`. Empty when `m == 0` or `m == n`.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    m: u64,
    n: u64,
    source: &S,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if m > n {
        return Err(ProofError::SizesOutOfOrder { m, n });
    }
    check_size(n, source)?;
    if m == 0 || m == n {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start..end], whole) walked from the top; nodes collected top-down.
    let mut proof = Vec::new();
    let (mut start, mut end, mut whole) = (0, n, true);
    let mut m = m;
    loop {
        if m == end - start {
            if !whole {
                proof.push(subtree(source, start, end)?);
            }
            break;
        }
        let k = split(end - start);
        if m <= k {
            proof.push(subtree(source, start + k, end)?);
            end = start + k;
        } else {
            proof.push(subtree(source, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

fn check_size<S: NodeSource + ?Sized>(size: u64, source: &S) -> Result<(), ProofError<S::Error>> {
    let available = source.leaf_count();
    if size > available {
        return Err(ProofError::SizeOutOfRange { size, available });
    }
    Ok(())
}

fn subtree<S: NodeSource + ?Sized>(
    source: &S,
    start: u64,
    end: u64,
) -> Result<Hash, ProofError<S::Error>> {
    source.subtree_hash(start, end).map_err(ProofError::Source)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is
/// `root`: RFC 9162 section 2.1.3.2.
///
/// The proof ties the leaf and its index to the root only at the right size: take
/// `size` and `root` together from one signed checkpoint. (At another size whose path
/// has the same shape, the same proof still fits the same root.)
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hash_children(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Checks that the tree of `n` leaves with root `root_n` extends the tree of `m`
/// leaves with root `root_m`: RFC 9162 section 2.1.4.2 for `0 < m < n`.
///
/// The cases the RFC leaves to the caller: `m == n` holds when the proof is empty and
/// the roots are equal; `m == 0` holds when the proof is empty and `root_m` is
/// [`EMPTY_ROOT`]; `m > n` never holds. As with [`verify_inclusion`], take each size
/// with its root from a signed checkpoint.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == 0 {
        return proof.is_empty() && *root_m == EMPTY_ROOT;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // A power-of-two old tree is a node of the new one: the proof starts above it.
    let (start, rest) = if m.is_power_of_two() {
        (root_m, proof)
    } else {
        (first, rest)
    };
    let (mut f_n, mut s_n) = (m - 1, n - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*start, *start);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = hash_children(c, &f_r);
            s_r = hash_children(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = hash_children(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *root_m && s_r == *root_n && s_n == 0
}

/// The right edge of the tree: the roots of the perfect subtrees that the binary
/// decomposition of its size gives, largest (leftmost) first.
///
/// Appending a leaf and computing the root both take O(log n) hashes, and the whole
/// state is at most 64 hashes, so a store can keep it beside the entries and update it
/// in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One node per set bit of `size`, from the highest bit down.
    nodes: Vec<Hash>,
}

/// The version byte that starts [`Frontier::to_bytes`].
pub const FRONTIER_VERSION: u8 = 1;

/// Why bytes are not a serialized [`Frontier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// The first byte is not a known version.
    #[error("unknown frontier version {0}")]
    Version(u8),
    /// The length does not match the size: version, size, one hash per set bit.
    #[error("a frontier of this size takes {expected} bytes, got {actual}")]
    Length {
        /// The length the size implies (or the 9-byte header when it is missing).
        expected: usize,
        /// The length given.
        actual: usize,
    },
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds the frontier of the first `size` leaves of a source.
    pub fn from_source<S: NodeSource + ?Sized>(
        size: u64,
        source: &S,
    ) -> Result<Self, ProofError<S::Error>> {
        check_size(size, source)?;
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0;
        for bit in (0..64).rev() {
            let width = 1u64 << bit;
            if size & width != 0 {
                nodes.push(subtree(source, start, start + width)?);
                start += width;
            }
        }
        Ok(Frontier { size, nodes })
    }

    /// How many leaves have been appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, largest first: one per set bit of `size()`.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash (see [`hash_leaf`]).
    ///
    /// # Panics
    ///
    /// When the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.push_with(leaf_hash, |_, _, _| {});
    }

    /// Appends a leaf hash and calls `completed(level, index, hash)` for each perfect
    /// subtree it completes (the `2^level` leaves from `index << level`), the leaf
    /// itself (level 0) first, then upwards: what a store keeps to answer
    /// [`subtree_from_perfect`].
    ///
    /// # Panics
    ///
    /// When the tree already holds `u64::MAX` leaves.
    pub fn push_with(&mut self, leaf_hash: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let index = self.size;
        let size = index.checked_add(1).expect("tree size overflow");
        let mut node = leaf_hash;
        completed(0, index, &node);
        // Each trailing one bit is a perfect subtree of the same height: merge it.
        let mut level = 0;
        while index >> level & 1 == 1 {
            let left = self.nodes.pop().expect("one node per set bit");
            node = hash_children(&left, &node);
            level += 1;
            completed(level, index >> level, &node);
        }
        self.nodes.push(node);
        self.size = size;
    }

    /// The root of the tree: `MTH` of every leaf appended ([`EMPTY_ROOT`] when none).
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return EMPTY_ROOT;
        };
        nodes.fold(*last, |right, left| hash_children(left, &right))
    }

    /// The bytes to store: version byte [`FRONTIER_VERSION`], the size as u64
    /// big-endian, then the 32-byte nodes, largest subtree first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 32 * self.nodes.len());
        out.push(FRONTIER_VERSION);
        out.extend_from_slice(&self.size.to_be_bytes());
        for node in &self.nodes {
            out.extend_from_slice(node);
        }
        out
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrontierError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(FrontierError::Length {
                expected: 9,
                actual: 0,
            });
        };
        if version != FRONTIER_VERSION {
            return Err(FrontierError::Version(version));
        }
        let Some((size, rest)) = rest.split_first_chunk::<8>() else {
            return Err(FrontierError::Length {
                expected: 9,
                actual: bytes.len(),
            });
        };
        let size = u64::from_be_bytes(*size);
        let expected = 9 + 32 * size.count_ones() as usize;
        if bytes.len() != expected {
            return Err(FrontierError::Length {
                expected,
                actual: bytes.len(),
            });
        }
        let nodes = rest
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunks"))
            .collect();
        Ok(Frontier { size, nodes })
    }
}

#[cfg(test)]
mod tests;
