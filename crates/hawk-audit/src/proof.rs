//! Inclusion and consistency proofs of the log's tree: the public proof types, and
//! building them from a store's view of its stored tree, with the mapping of a proof
//! that cannot be built to the input at fault.

use crate::error::{Error, Invalid, Result, Rule};
use crate::merkle::{Frontier, Hash, NodeSource, ProofError};

/// An inclusion proof: entry `id` (leaf `id - 1`) is in the tree of `tree_size`
/// entries whose root is `root` (RFC 9162 section 2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry.
    pub id: u64,
    /// Its leaf index: `id - 1`.
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The entry's leaf hash, as stored.
    pub leaf_hash: Hash,
    /// The audit path, nearest sibling first.
    pub audit_path: Vec<Hash>,
    /// The root of the tree of `tree_size` entries.
    pub root: Hash,
    /// The stored signed checkpoint of that size, if there is one.
    pub checkpoint: Option<String>,
}

/// A consistency proof: the tree of `to` entries extends that of `from` entries
/// (RFC 9162 section 2.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The older tree's root.
    pub from_root: Hash,
    /// The newer tree's root.
    pub to_root: Hash,
    /// The proof's nodes, in RFC 9162 order.
    pub path: Vec<Hash>,
    /// The stored signed checkpoints of both sizes, where there are some.
    pub from_checkpoint: Option<String>,
    /// See `from_checkpoint`.
    pub to_checkpoint: Option<String>,
}

/// Leaf `index`'s hash, its audit path in the tree of `size` leaves and that tree's
/// root, from an engine's view of its stored tree (`frontier` is the stored one).
pub(crate) fn prove_inclusion<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    index: u64,
    size: u64,
) -> Result<(Hash, Vec<Hash>, Hash)> {
    let path = crate::merkle::inclusion_proof(index, size, source).map_err(proof_error)?;
    let leaf = source.subtree_hash(index, index + 1)?;
    Ok((leaf, path, root_at(source, frontier, size)?))
}

/// The consistency proof from `m` leaves to `n` with both roots; see
/// [`prove_inclusion`].
pub(crate) fn prove_consistency<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    m: u64,
    n: u64,
) -> Result<(Vec<Hash>, Hash, Hash)> {
    let path = crate::merkle::consistency_proof(m, n, source).map_err(proof_error)?;
    Ok((
        path,
        root_at(source, frontier, m)?,
        root_at(source, frontier, n)?,
    ))
}

/// The root of the first `size` leaves: the stored frontier's when it is that tree.
fn root_at<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    size: u64,
) -> Result<Hash> {
    if size == frontier.size() {
        return Ok(frontier.root());
    }
    Ok(Frontier::from_source(size, source)
        .map_err(proof_error)?
        .root())
}

/// Maps a proof that cannot be built to the input at fault.
pub(crate) fn proof_error(err: ProofError<Error>) -> Error {
    match err {
        ProofError::Source(err) => err,
        ProofError::IndexOutOfRange { .. } => {
            Invalid::new("size", Rule::Malformed("must be at least the entry's id")).into()
        }
        ProofError::SizeOutOfRange { available, .. } => Invalid::new(
            "size",
            Rule::OutOfRange {
                min: 1,
                max: available,
            },
        )
        .into(),
        ProofError::SizesOutOfOrder { .. } => {
            Invalid::new("to", Rule::Malformed("must be at least from")).into()
        }
    }
}
