//! What both stores share besides group commit: the entry that records a prune and
//! the search for its cut-off, the head watch the writers move, and the page window
//! the readers cut listings with.

use tokio::sync::{oneshot, watch};

use super::group::{Append, Job};
use super::sequence::Batch;
use crate::entry::{NewEntry, format_time, time_from_micros};
use crate::error::Invalid;
use crate::merkle::{Hash, to_hex};
use crate::retention::Pruned;

/// The action of the entry a prune appends.
const PRUNE_ACTION: &str = "hawk.pruned";

/// A prune's record, to append in the prune's own transaction: an entry that says
/// which ids went (`first_id..=through_id`, those older than `before`) and the root of
/// the tree of ids `1..=through_id`.
pub(crate) struct PruneRecord {
    /// The append of the record; the commit completes its entry.
    pub(crate) job: Job,
    removed: u64,
    through_id: u64,
    root: Hash,
}

impl PruneRecord {
    /// `before` in µs; `root` is that of the tree of ids `1..=through_id`.
    pub(crate) fn new(
        before: i64,
        first_id: u64,
        through_id: u64,
        root: Hash,
    ) -> Result<Self, Invalid> {
        let removed = through_id + 1 - first_id;
        let entry = NewEntry::new(PRUNE_ACTION)
            .metadata(serde_json::json!({
                "before": format_time(time_from_micros(before)),
                "removed": removed,
                "first_id": first_id,
                "through_id": through_id,
                "tree_size": through_id,
                "root": to_hex(&root),
            }))
            .validate()?;
        // Nobody waits on this append: the prune answers its caller.
        let (reply, _) = oneshot::channel();
        let job = Job::new(Append {
            batch: Batch::now(vec![entry]),
            mark: None,
            key: None,
            reply,
        });
        Ok(PruneRecord {
            job,
            removed,
            through_id,
            root,
        })
    }

    /// What the prune did, once its record is committed.
    pub(crate) fn into_pruned(self) -> Pruned {
        Pruned {
            removed: self.removed,
            through_id: self.through_id,
            root: self.root,
            entry: self.job.into_entries().pop().expect("one entry"),
        }
    }
}

/// The binary search for the newest entry older than a prune's cut-off among ids
/// `oldest..=newest`, whose times never decrease as ids grow. Each store answers the
/// probes from its own table.
pub(crate) struct LastOlder {
    /// Entries at or below `lo` are older; above `hi` they are not.
    lo: i64,
    hi: i64,
}

impl LastOlder {
    pub(crate) fn new(oldest: i64, newest: i64) -> Self {
        LastOlder {
            lo: oldest - 1,
            hi: newest,
        }
    }

    /// The id whose time to compare next; `None` once the answer is known.
    pub(crate) fn probe(&self) -> Option<i64> {
        (self.lo < self.hi).then(|| self.lo + (self.hi - self.lo + 1) / 2)
    }

    /// Whether the entry with the probed id is older than the cut-off.
    pub(crate) fn answer(&mut self, id: i64, older: bool) {
        if older {
            self.lo = id;
        } else {
            self.hi = id - 1;
        }
    }

    /// The newest id older than the cut-off; `oldest - 1` when none is.
    pub(crate) fn found(&self) -> i64 {
        self.lo
    }
}

/// Moves the head watch to `id` if that is newer; it never goes back.
pub(crate) fn advance_head(head: &watch::Sender<u64>, id: u64) {
    head.send_if_modified(|current| {
        let newer = id > *current;
        if newer {
            *current = id;
        }
        newer
    });
}

/// Which slice of a newest-first listing a page wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) offset: u64,
    pub(crate) per_page: u64,
}

impl Window {
    /// The page as oldest-first ranks `low..=high` (1-based) among `total` matches;
    /// `None` past the end.
    pub(crate) fn ranks(self, total: u64) -> Option<(u64, u64)> {
        if self.offset >= total {
            return None;
        }
        let high = total - self.offset;
        Some((high.saturating_sub(self.per_page - 1).max(1), high))
    }
}

#[cfg(test)]
mod tests {
    use super::LastOlder;

    #[test]
    fn the_search_finds_the_newest_older_entry() {
        // Times of ids 5..=12, never decreasing, with repeats.
        let times = [1, 1, 2, 4, 4, 4, 7, 9];
        let time_of = |id: i64| times[(id - 5) as usize];
        for before in 0..=10 {
            let mut search = LastOlder::new(5, 12);
            while let Some(id) = search.probe() {
                search.answer(id, time_of(id) < before);
            }
            let older = times.iter().filter(|&&t| t < before).count() as i64;
            assert_eq!(search.found(), 4 + older, "before {before}");
        }
    }
}
