//! What both stores' group-commit writers share: a caller's append as it waits, the
//! job it becomes inside a commit, the entry that records a prune, the head watch they
//! move, and the page window the readers cut listings with.

use tokio::sync::{mpsc, oneshot, watch};

use super::idempotency::Keyed;
use super::{ImportMark, Pruned};
use crate::entry::{Entry, NewEntry, ValidEntry, format_time, time_from_micros};
use crate::error::{Error, Invalid, Result, Rule};
use crate::merkle::{Hash, to_hex};

/// One caller's append: all of its entries commit together or not at all.
pub(crate) struct Append {
    pub(crate) entries: Vec<ValidEntry>,
    /// Historical commit times (µs), one per entry, for imports and demo data;
    /// `None`: the store stamps the commit time.
    pub(crate) times: Option<Vec<i64>>,
    /// An import's new position in its source, committed with these entries.
    pub(crate) mark: Option<ImportMark>,
    /// The caller's idempotency key: a repeat stores nothing and gets the entries
    /// stored the first time.
    pub(crate) key: Option<Keyed>,
    pub(crate) reply: oneshot::Sender<Result<Vec<Entry>>>,
}

impl Append {
    /// Sends the entries to a writer's queue (as `work`, the writer's own message) and
    /// waits until they are committed; then moves `head` to the newest of them.
    pub(crate) async fn submit<W>(
        writer: &mpsc::Sender<W>,
        work: impl FnOnce(Append) -> W,
        head: &watch::Sender<u64>,
        entries: Vec<ValidEntry>,
        times: Option<Vec<i64>>,
        mark: Option<ImportMark>,
        key: Option<Keyed>,
    ) -> Result<Vec<Entry>> {
        let (reply, answer) = oneshot::channel();
        let append = Append {
            entries,
            times,
            mark,
            key,
            reply,
        };
        writer.send(work(append)).await.map_err(|_| Error::Closed)?;
        let stored = answer.await.map_err(|_| Error::Closed)??;
        if let Some(last) = stored.last() {
            advance_head(head, last.id);
        }
        Ok(stored)
    }
}

/// One append on its way into the log: the entries as they are returned, completed by
/// the commit (id, time, hash), and each one's metadata as stored.
pub(crate) struct Job {
    pub(crate) entries: Vec<Entry>,
    pub(crate) metadata_json: Vec<String>,
    pub(crate) times: Option<Vec<i64>>,
    pub(crate) mark: Option<ImportMark>,
    pub(crate) key: Option<Keyed>,
    /// A repeat of an append stored earlier under the same key: `entries` are the
    /// stored ones, and the commit writes nothing for this job.
    pub(crate) repeat: bool,
    reply: oneshot::Sender<Result<Vec<Entry>>>,
}

impl Job {
    pub(crate) fn new(append: Append) -> Self {
        let (entries, metadata_json) = append
            .entries
            .into_iter()
            .map(ValidEntry::into_pending)
            .unzip();
        Job {
            entries,
            metadata_json,
            times: append.times,
            mark: append.mark,
            key: append.key,
            repeat: false,
            reply: append.reply,
        }
    }

    /// Makes this job a repeat of the `count` entries from `first_id` stored earlier
    /// under its key, as the engine read them (in the append transaction): the job
    /// answers with them and writes nothing.
    pub(crate) fn repeat(
        &mut self,
        first_id: u64,
        count: u64,
        stored: Vec<Entry>,
    ) -> Result<(), Invalid> {
        if stored.len() as u64 != count || stored.first().map(|e| e.id) != Some(first_id) {
            return Err(Invalid::new(
                "idempotency_key",
                Rule::Malformed("stands for entries that were pruned since; use a new key"),
            ));
        }
        self.entries = stored;
        self.repeat = true;
        Ok(())
    }

    /// The key row to write with this job's newly stored entries: key, digest, first
    /// id and count.
    pub(crate) fn new_key(&self) -> Option<(&str, &[u8], i64, i64)> {
        let keyed = self.key.as_ref().filter(|_| !self.repeat)?;
        let first = self.entries.first()?;
        Some((
            &keyed.key,
            &keyed.digest,
            first.id as i64,
            self.entries.len() as i64,
        ))
    }

    /// Answers the caller with the entries as committed.
    pub(crate) fn answer(self, result: Result<()>) {
        // A caller that went away still had its entry committed.
        let _ = self.reply.send(result.map(|()| self.entries));
    }
}

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
            entries: vec![entry],
            times: None,
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
            entry: self.job.entries.into_iter().next().expect("one entry"),
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
