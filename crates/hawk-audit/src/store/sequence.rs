//! The sequencing of a group of appends: the one place that keeps the log's write
//! invariants, the same for both engines. Ids are dense from the head; times never
//! decrease (an entry of now is stamped `max(now, newest time)`, a historical one keeps
//! its own time, refused when earlier than the newest); each entry gets its leaf hash;
//! the tree grows by the new leaves (the frontier, and the completed subtrees from
//! [`NODE_LEVEL`] up, which the stores keep); each action and each account numbers its
//! entries 1, 2, 3 … in id order.
//!
//! It is pure: an engine reads the [`Head`] and the counters under its write lock, calls
//! [`sequence`], and writes the [`Sequenced`] rows, nodes, head and counters with its
//! own SQL in the same transaction.

use std::collections::HashMap;

use crate::entry::ValidEntry;
use crate::error::{Error, Invalid, Rule};
use crate::merkle::{Frontier, Hash, valid_leaf_hash};

/// The lowest level of the subtrees both stores keep (2^8 = 256 leaves), written as
/// they complete: below it, proofs hash the leaves themselves.
pub(crate) const NODE_LEVEL: u32 = 8;

/// When the entries of a batch happened.
#[derive(Debug)]
pub(crate) enum Times {
    /// Now: the commit stamps them.
    Now,
    /// Their own times (µs), one per entry and never decreasing: an import, demo data.
    Historical(Vec<i64>),
}

impl Times {
    /// Historical times; refused, naming the first entry whose time is earlier than
    /// the one before it, when they decrease.
    pub(crate) fn historical(times: Vec<i64>) -> Result<Times, Invalid> {
        if let Some(i) = times.windows(2).position(|w| w[1] < w[0]) {
            return Err(
                Invalid::new("inserted_at", Rule::Malformed("must not decrease")).at(i + 1),
            );
        }
        Ok(Times::Historical(times))
    }
}

/// One caller's validated entries, and when they happened.
#[derive(Debug)]
pub(crate) struct Batch {
    entries: Vec<ValidEntry>,
    times: Times,
}

impl Batch {
    /// Entries that happen now.
    pub(crate) fn now(entries: Vec<ValidEntry>) -> Batch {
        Batch::new(entries, Times::Now)
    }

    /// # Panics
    /// When historical times are not one per entry.
    pub(crate) fn new(entries: Vec<ValidEntry>, times: Times) -> Batch {
        if let Times::Historical(times) = &times {
            assert_eq!(times.len(), entries.len(), "one time per entry");
        }
        Batch { entries, times }
    }

    pub(crate) fn entries(&self) -> &[ValidEntry] {
        &self.entries
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn into_entries(self) -> Vec<ValidEntry> {
        self.entries
    }
}

/// The log's head, read under the write lock.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// The id the next entry gets: the newest one's plus one (the prune point's, when
    /// a prune removed every entry).
    pub(crate) next_id: u64,
    /// The newest entry's time (µs); `i64::MIN` in a new log.
    pub(crate) last_time: i64,
    /// The tree of every entry so far, pruned ones included.
    pub(crate) frontier: Frontier,
}

impl Head {
    /// The head after entry `last_id` at `last_time` (µs; `None` in a new log); the
    /// frontier must cover exactly ids `1..=last_id`.
    pub(crate) fn new(
        last_id: u64,
        last_time: Option<i64>,
        frontier: Frontier,
    ) -> Result<Head, Error> {
        if frontier.size() != last_id {
            return Err(Error::storage(format!(
                "the stored tree covers {} entries but the log holds {last_id}",
                frontier.size()
            )));
        }
        Ok(Head {
            next_id: last_id + 1,
            last_time: last_time.unwrap_or(i64::MIN),
            frontier,
        })
    }

    /// The newest id; 0 in a new log.
    pub(crate) fn last_id(&self) -> u64 {
        self.next_id - 1
    }
}

/// How many entries each action and each account had before the group: their
/// numbering goes on from there. An engine that does not number entries per action
/// answers 0 for every action and reads the group's additions in
/// [`Sequenced::actions`].
pub(crate) struct Counts<A, C> {
    pub(crate) action: A,
    pub(crate) account: C,
}

/// One entry's place in the log: what its row holds besides the entry's own fields.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) entry: &'a ValidEntry,
    pub(crate) id: u64,
    /// Its time, µs.
    pub(crate) at: i64,
    pub(crate) leaf: Hash,
    /// Its number among its action's entries.
    pub(crate) action_seq: u64,
    /// Its number among its account's entries, when it has an account.
    pub(crate) account_seq: Option<u64>,
}

/// A completed subtree at [`NODE_LEVEL`] or above: leaves
/// `index * 2^level .. (index + 1) * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) level: u32,
    pub(crate) index: u64,
    pub(crate) hash: Hash,
}

/// What a group adds to the log, to be written in one transaction.
#[derive(Debug)]
pub(crate) struct Sequenced<'a> {
    /// One per entry, in id order.
    pub(crate) rows: Vec<Row<'a>>,
    /// The subtrees the new leaves completed.
    pub(crate) nodes: Vec<Node>,
    /// The head after the group.
    pub(crate) head: Head,
    /// Each action of the group → its count after the group.
    pub(crate) actions: HashMap<&'a str, u64>,
    /// Each account of the group → its count after the group.
    pub(crate) accounts: HashMap<&'a str, u64>,
}

/// Places `batches`, in order, after `head`, stamping entries of now with `now` (µs)
/// unless the newest time is later. Refused (writing nothing) when a historical time
/// is earlier than the time before it.
pub(crate) fn sequence<'a, A, C>(
    head: Head,
    batches: impl IntoIterator<Item = &'a Batch>,
    now: i64,
    counts: Counts<A, C>,
) -> Result<Sequenced<'a>, Invalid>
where
    A: Fn(&str) -> u64,
    C: Fn(&str) -> u64,
{
    let Head {
        mut next_id,
        mut last_time,
        mut frontier,
    } = head;
    let mut rows = Vec::new();
    let mut nodes = Vec::new();
    let mut actions: HashMap<&str, u64> = HashMap::new();
    let mut accounts: HashMap<&str, u64> = HashMap::new();
    for batch in batches {
        rows.reserve(batch.len());
        for (i, entry) in batch.entries.iter().enumerate() {
            let at = match &batch.times {
                // Time never goes backwards as ids grow, even if the clock does.
                Times::Now => now.max(last_time),
                Times::Historical(times) if times[i] < last_time => {
                    return Err(Invalid::new(
                        "inserted_at",
                        Rule::Malformed("must not be earlier than the newest entry's time"),
                    ));
                }
                Times::Historical(times) => times[i],
            };
            last_time = at;
            let action = entry.action.as_str();
            let action_seq = actions
                .entry(action)
                .or_insert_with(|| (counts.action)(action));
            *action_seq += 1;
            let account_seq = entry.account_id.as_deref().map(|account| {
                let seq = accounts
                    .entry(account)
                    .or_insert_with(|| (counts.account)(account));
                *seq += 1;
                *seq
            });
            // The hash covers the entry exactly as it is returned and read back.
            let leaf = valid_leaf_hash(entry, next_id, at);
            frontier.push_with(leaf, |level, index, hash| {
                if level >= NODE_LEVEL {
                    nodes.push(Node {
                        level,
                        index,
                        hash: *hash,
                    });
                }
            });
            rows.push(Row {
                entry,
                id: next_id,
                at,
                leaf,
                action_seq: *action_seq,
                account_seq,
            });
            next_id += 1;
        }
    }
    Ok(Sequenced {
        rows,
        nodes,
        head: Head {
            next_id,
            last_time,
            frontier,
        },
        actions,
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::NewEntry;
    use crate::merkle::{leaf_hash, to_hex};

    fn valid(action: &str, account: Option<&str>) -> ValidEntry {
        let entry = NewEntry::new(action);
        match account {
            Some(account) => entry.account(account),
            None => entry,
        }
        .validate()
        .unwrap()
    }

    fn batch(n: usize) -> Batch {
        Batch::now(
            (0..n)
                .map(|i| valid(&format!("a.{}", i % 3), None))
                .collect(),
        )
    }

    fn zero(_: &str) -> u64 {
        0
    }

    type Count = fn(&str) -> u64;

    const NO_COUNTS: Counts<Count, Count> = Counts {
        action: zero,
        account: zero,
    };

    /// A head of `size` entries, the newest at `last_time`.
    fn head(size: u64, last_time: Option<i64>) -> Head {
        let mut frontier = Frontier::new();
        for i in 0..size {
            frontier.push(crate::merkle::hash_leaf(&i.to_be_bytes()));
        }
        Head::new(size, last_time, frontier).unwrap()
    }

    #[test]
    fn ids_are_dense_from_the_head_across_batches() {
        let batches = [batch(2), batch(3)];
        let done = sequence(head(7, Some(1)), &batches, 10, NO_COUNTS).unwrap();
        let ids: Vec<u64> = done.rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, [8, 9, 10, 11, 12]);
        assert_eq!(done.head.next_id, 13);
        assert_eq!(done.head.last_id(), 12);
        assert_eq!(done.head.frontier.size(), 12);
    }

    #[test]
    fn times_of_now_never_go_before_the_newest_time() {
        // The clock (5) is behind the newest entry (9): the entries get 9.
        let batches = [batch(2)];
        let done = sequence(head(1, Some(9)), &batches, 5, NO_COUNTS).unwrap();
        assert!(done.rows.iter().all(|r| r.at == 9));
        assert_eq!(done.head.last_time, 9);
        // Ahead of it, they get now; a new log takes the clock as it is.
        let done = sequence(head(1, Some(9)), &batches, 20, NO_COUNTS).unwrap();
        assert!(done.rows.iter().all(|r| r.at == 20));
        let done = sequence(head(0, None), &batches, -3, NO_COUNTS).unwrap();
        assert!(done.rows.iter().all(|r| r.at == -3));
    }

    #[test]
    fn historical_times_are_kept_and_refused_when_older_than_the_head() {
        let entries = || vec![valid("a.b", None), valid("a.b", None)];
        let kept = Batch::new(entries(), Times::historical(vec![9, 12]).unwrap());
        let now = batch(1);
        let done = sequence(head(3, Some(9)), [&kept, &now], 10, NO_COUNTS).unwrap();
        let times: Vec<i64> = done.rows.iter().map(|r| r.at).collect();
        // Equal to the newest time is fine; an entry of now after them is not stamped
        // earlier than they are, though the clock says 10.
        assert_eq!(times, [9, 12, 12]);

        let older = Batch::new(entries(), Times::historical(vec![8, 12]).unwrap());
        let err = sequence(head(3, Some(9)), [&older], 10, NO_COUNTS).unwrap_err();
        assert_eq!(err.field(), "inserted_at");
        assert!(err.to_string().contains("newest entry"), "{err}");
        // A later batch of the group is checked against the earlier batches.
        let first = Batch::new(entries(), Times::historical(vec![20, 30]).unwrap());
        let second = Batch::new(entries(), Times::historical(vec![25, 40]).unwrap());
        let err = sequence(head(0, None), [&first, &second], 0, NO_COUNTS).unwrap_err();
        assert_eq!(err.field(), "inserted_at");
    }

    #[test]
    fn historical_times_must_not_decrease_within_a_batch() {
        let err = Times::historical(vec![1, 3, 2]).unwrap_err();
        assert_eq!(err.field(), "inserted_at");
        assert_eq!(err.index(), Some(2));
        assert!(Times::historical(vec![1, 1, 2]).is_ok());
    }

    #[test]
    fn the_tree_grows_as_if_built_leaf_by_leaf() {
        // 300 leaves before, 700 added: leaf 512 completes subtrees of 256 and 512
        // leaves, leaf 768 one of 256.
        let start = head(300, Some(0));
        let mut want = start.frontier.clone();
        let mut want_nodes = Vec::new();
        let batches = [batch(250), batch(450)];
        let done = sequence(start, &batches, 1, NO_COUNTS).unwrap();
        for row in &done.rows {
            let entry = row
                .entry
                .clone()
                .into_entry(row.id, row.at, to_hex(&row.leaf));
            assert_eq!(row.leaf, leaf_hash(&entry), "entry {}", row.id);
            want.push_with(leaf_hash(&entry), |level, index, hash| {
                want_nodes.push(Node {
                    level,
                    index,
                    hash: *hash,
                })
            });
        }
        want_nodes.retain(|node| node.level >= NODE_LEVEL);
        assert_eq!(done.head.frontier.to_bytes(), want.to_bytes());
        assert_eq!(done.head.frontier.root(), want.root());
        assert_eq!(done.nodes, want_nodes);
        let levels: Vec<(u32, u64)> = done.nodes.iter().map(|n| (n.level, n.index)).collect();
        assert_eq!(levels, [(8, 1), (9, 0), (8, 2)]);
    }

    #[test]
    fn actions_and_accounts_number_their_entries_from_their_counts() {
        let batches = [Batch::now(vec![
            valid("a.x", Some("acme")),
            valid("a.y", None),
            valid("a.x", Some("beta")),
            valid("a.x", Some("acme")),
        ])];
        let counts = Counts {
            action: |action: &str| if action == "a.x" { 10 } else { 0 },
            account: |account: &str| if account == "acme" { 4 } else { 0 },
        };
        let done = sequence(head(0, None), &batches, 1, counts).unwrap();
        let seqs: Vec<(u64, Option<u64>)> = done
            .rows
            .iter()
            .map(|r| (r.action_seq, r.account_seq))
            .collect();
        assert_eq!(
            seqs,
            [(11, Some(5)), (1, None), (12, Some(1)), (13, Some(6))]
        );
        assert_eq!(done.actions, HashMap::from([("a.x", 13), ("a.y", 1)]));
        assert_eq!(done.accounts, HashMap::from([("acme", 6), ("beta", 1)]));
    }

    #[test]
    fn a_head_whose_tree_is_not_the_log_is_refused() {
        let err = Head::new(5, Some(0), head(4, None).frontier).unwrap_err();
        assert!(
            err.to_string()
                .contains("covers 4 entries but the log holds 5"),
            "{err}"
        );
    }
}
