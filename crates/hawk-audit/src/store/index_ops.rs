//! What the filter index asks of a store (`crate::postings::index`): one request type
//! that both engines answer with their own SQL, so the index itself is written once.

use crate::entry::Entry;
use crate::postings::index::{ChunkInfo, SealPart};

/// A directory row: key, chunk, how many entries of the chunk hold the key.
pub(crate) type DirectoryRow = (Vec<u8>, u64, u64);
/// A bitmap row: key, chunk, the serialized bitmap.
pub(crate) type BitmapRow = (Vec<u8>, u64, Vec<u8>);

/// One read or write of the filter index's tables.
pub(crate) enum IndexOp {
    /// The sealed chunks from this one on, ascending.
    Chunks { from: u64 },
    /// The coded times of one chunk's entries.
    Times { chunk: u64 },
    /// For each key: the sealed chunks from `from` on that hold it, with counts.
    Directories {
        dim: i16,
        keys: Vec<Vec<u8>>,
        from: u64,
    },
    /// The stored bitmaps of these `(key, chunk)` pairs, where they exist.
    Bitmaps {
        dim: i16,
        wanted: Vec<(Vec<u8>, u64)>,
    },
    /// Every value of a dimension in a sealed chunk.
    Values { dim: i16 },
    /// Values starting with `prefix` with their sealed counts, most frequent first.
    Totals {
        dim: i16,
        prefix: Vec<u8>,
        limit: u64,
    },
    /// Writes one part of a chunk's seal (see [`SealPart`]).
    Seal(Box<SealPart>),
    /// The entries with these ids still in the log, in the order given.
    Entries { ids: Vec<u64> },
}

/// The answer to an [`IndexOp`], variant for variant.
pub(crate) enum IndexAnswer {
    Chunks(Vec<ChunkInfo>),
    Times(Vec<u8>),
    Directories(Vec<DirectoryRow>),
    Bitmaps(Vec<BitmapRow>),
    Values(Vec<Vec<u8>>),
    Totals(Vec<(Vec<u8>, u64)>),
    Sealed,
    Entries(Vec<Entry>),
}
