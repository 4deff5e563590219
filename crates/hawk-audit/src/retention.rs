//! Retention: what a prune removed, and what it would remove.

use crate::entry::Entry;
use crate::merkle::Hash;

/// What a prune removed, and the entry that records it.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// How many entries were removed.
    pub removed: u64,
    /// The newest id removed; the log now starts after it.
    pub through_id: u64,
    /// The root of the tree of ids `1..=through_id`, which the remaining entries
    /// extend: a checkpoint of that size still verifies.
    pub root: Hash,
    /// The entry that records the prune (action `hawk.pruned`).
    pub entry: Entry,
}

/// What a prune before a given time would remove, read without removing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    /// How many entries would go.
    pub removed: u64,
    /// The oldest id that would go (the oldest in the log).
    pub first_id: u64,
    /// The newest id that would go; the log would start after it.
    pub through_id: u64,
    /// The time of entry `first_id`.
    pub oldest: time::OffsetDateTime,
    /// The time of entry `through_id`.
    pub newest: time::OffsetDateTime,
}
