//! Group commit, the part both engines share: a caller's append as it waits, the job
//! it becomes inside a commit, how a writer gathers the appends queued behind the first
//! into one group, and how it commits a group: in one transaction, or, when that
//! fails, each append alone, so one bad append (a historical time out of order, say)
//! fails only its own caller. Each engine supplies the transaction (its SQL around
//! [`sequence`](super::sequence::sequence)) and how it waits for more appends.

use tokio::sync::{mpsc, oneshot, watch};

use super::ImportMark;
use super::pending::advance_head;
use super::sequence::{Batch, Row};
use crate::entry::Entry;
use crate::error::{DriverError, Error, Invalid, Result, Rule};
use crate::idempotency::Keyed;
use crate::merkle::{Hash, to_hex};

/// Most entries committed in one transaction; bounds the latency a batch adds.
pub(crate) const MAX_GROUP: usize = 8192;
/// How many times a writer waits for more appends to join a group that looks smaller
/// than the traffic (see [`Gather::group`]).
const GATHER_ROUNDS: u32 = 5;

/// One caller's append: all of its entries commit together or not at all.
pub(crate) struct Append {
    pub(crate) batch: Batch,
    /// An import's new position in its source, committed with these entries.
    pub(crate) mark: Option<ImportMark>,
    /// The caller's idempotency key: a repeat stores nothing and gets the entries
    /// stored the first time.
    pub(crate) key: Option<Keyed>,
    pub(crate) reply: oneshot::Sender<Result<Vec<Entry>>>,
}

impl Append {
    /// Sends the batch to a writer's queue (as `work`, the writer's own message) and
    /// waits until it is committed; then moves `head` to the newest of its entries.
    pub(crate) async fn submit<W>(
        writer: &mpsc::Sender<W>,
        work: impl FnOnce(Append) -> W,
        head: &watch::Sender<u64>,
        batch: Batch,
        mark: Option<ImportMark>,
        key: Option<Keyed>,
    ) -> Result<Vec<Entry>> {
        let (reply, answer) = oneshot::channel();
        let append = Append {
            batch,
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

/// Where a commit put an entry: its id, time (µs) and leaf hash.
#[derive(Debug, Clone, Copy)]
struct Placed {
    id: u64,
    at: i64,
    leaf: Hash,
}

/// Where a commit put each entry of its fresh jobs, in order; taken from the
/// sequenced rows so that the jobs they borrow can be given them.
pub(crate) struct Places(Vec<Placed>);

impl Places {
    pub(crate) fn of(rows: &[Row<'_>]) -> Places {
        Places(
            rows.iter()
                .map(|row| Placed {
                    id: row.id,
                    at: row.at,
                    leaf: row.leaf,
                })
                .collect(),
        )
    }
}

/// One append inside a commit.
pub(crate) struct Job {
    pub(crate) batch: Batch,
    pub(crate) mark: Option<ImportMark>,
    pub(crate) key: Option<Keyed>,
    /// A repeat of an append stored earlier under the same key: the entries stored
    /// then; the commit writes nothing for this job.
    repeat: Option<Vec<Entry>>,
    /// Where the last commit attempt put each entry.
    placed: Vec<Placed>,
    reply: oneshot::Sender<Result<Vec<Entry>>>,
}

impl Job {
    pub(crate) fn new(append: Append) -> Self {
        Job {
            batch: append.batch,
            mark: append.mark,
            key: append.key,
            repeat: None,
            placed: Vec::new(),
            reply: append.reply,
        }
    }

    /// Whether this job repeats an append stored earlier (and writes nothing).
    pub(crate) fn is_repeat(&self) -> bool {
        self.repeat.is_some()
    }

    /// Forgets what an earlier attempt decided, before the job is settled again.
    pub(crate) fn reset(&mut self) {
        self.repeat = None;
        self.placed.clear();
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
        self.repeat = Some(stored);
        Ok(())
    }

    /// The batches of `jobs` that are written (those that do not repeat), in order.
    pub(crate) fn fresh(jobs: &[Job]) -> impl Iterator<Item = &Batch> {
        jobs.iter()
            .filter(|job| !job.is_repeat())
            .map(|job| &job.batch)
    }

    /// The key rows to write with the fresh jobs' entries, whose `rows` (in the order
    /// of [`fresh`](Self::fresh)) say where they went: key, digest, first id, count.
    pub(crate) fn new_keys<'a>(jobs: &'a [Job], rows: &[Row<'_>]) -> Vec<NewKeyRow<'a>> {
        let mut first = 0;
        let mut keys = Vec::new();
        for job in jobs.iter().filter(|job| !job.is_repeat()) {
            if let (Some(keyed), Some(row)) = (&job.key, rows.get(first)) {
                keys.push(NewKeyRow {
                    key: &keyed.key,
                    digest: &keyed.digest,
                    first_id: row.id as i64,
                    count: job.batch.len() as i64,
                });
            }
            first += job.batch.len();
        }
        keys
    }

    /// Gives the fresh jobs the places of their entries, in the order of
    /// [`fresh`](Self::fresh).
    pub(crate) fn place(jobs: &mut [Job], places: Places) {
        let mut places = places.0.into_iter();
        for job in jobs.iter_mut().filter(|job| job.repeat.is_none()) {
            job.placed = places.by_ref().take(job.batch.len()).collect();
        }
    }

    /// Whether this job writes a key row.
    pub(crate) fn writes_key(&self) -> bool {
        self.key.is_some() && !self.is_repeat()
    }

    /// The entries as committed: those stored earlier for a repeat, else the batch at
    /// the places the commit gave them.
    pub(crate) fn into_entries(self) -> Vec<Entry> {
        if let Some(stored) = self.repeat {
            return stored;
        }
        debug_assert_eq!(
            self.placed.len(),
            self.batch.len(),
            "a committed job is placed"
        );
        self.batch
            .into_entries()
            .into_iter()
            .zip(self.placed)
            .map(|(entry, p)| entry.into_entry(p.id, p.at, to_hex(&p.leaf)))
            .collect()
    }

    /// Answers the caller with the entries as committed.
    pub(crate) fn answer(mut self, result: Result<()>) {
        let reply = std::mem::replace(&mut self.reply, oneshot::channel().0);
        // A caller that went away still had its entry committed.
        let _ = reply.send(result.map(|()| self.into_entries()));
    }
}

/// An idempotency key's row, written with the entries it stands for.
pub(crate) struct NewKeyRow<'a> {
    pub(crate) key: &'a str,
    pub(crate) digest: &'a [u8],
    pub(crate) first_id: i64,
    pub(crate) count: i64,
}

/// What a writer's queue holds: appends, and work (a prune, say) that runs alone once
/// the appends queued before it are committed.
pub(crate) enum Queued<T> {
    Append(Append),
    Alone(T),
}

/// Gathers groups, sizing each by the one before.
#[derive(Default)]
pub(crate) struct Gather {
    last_group: usize,
}

impl Gather {
    /// The appends to commit with `first`: those queued behind it (`next` takes one off
    /// the queue without waiting), up to [`MAX_GROUP`] entries, and the work that ends
    /// the group if one came. Callers answered by the last commit are still sending
    /// their next append: when the last group was larger, it `pause`s a moment for them
    /// (a few times at most), so one sync serves them all, not a lone early arrival.
    pub(crate) async fn group<T>(
        &mut self,
        first: Append,
        mut next: impl FnMut() -> Option<Queued<T>>,
        mut pause: impl AsyncFnMut(),
    ) -> (Vec<Append>, Option<T>) {
        let mut size = first.batch.len();
        let mut group = vec![first];
        let mut alone = None;
        let mut rounds = 0;
        loop {
            while size < MAX_GROUP && alone.is_none() {
                match next() {
                    Some(Queued::Append(append)) => {
                        size += append.batch.len();
                        group.push(append);
                    }
                    Some(Queued::Alone(work)) => alone = Some(work),
                    None => break,
                }
            }
            if size >= MAX_GROUP
                || alone.is_some()
                || group.len() * 2 > self.last_group
                || rounds == GATHER_ROUNDS
            {
                break;
            }
            rounds += 1;
            pause().await;
        }
        self.last_group = group.len();
        (group, alone)
    }
}

/// An engine's writer, as group commit drives it.
pub(crate) trait GroupWriter {
    /// Commits `jobs` in one transaction, placing their entries; nothing of them is
    /// written when it fails.
    fn write(&mut self, jobs: &mut [Job]) -> impl Future<Output = Result<()>> + Send;
}

/// Commits `group` with `writer` and answers every caller: all in one transaction,
/// or, when that fails, each alone.
pub(crate) async fn commit_group(group: Vec<Append>, writer: &mut impl GroupWriter) {
    let mut jobs: Vec<Job> = group.into_iter().map(Job::new).collect();
    match writer.write(&mut jobs).await {
        Ok(()) => {
            for job in jobs {
                job.answer(Ok(()));
            }
        }
        Err(err) if jobs.len() == 1 => {
            let job = jobs.pop().expect("one job");
            job.answer(Err(err));
        }
        // One append's failure (a historical time out of order, say) must not fail
        // the others that happened to share its transaction: commit each alone.
        Err(_) => {
            for mut job in jobs {
                let result = writer.write(std::slice::from_mut(&mut job)).await;
                job.answer(result);
            }
        }
    }
}

/// Why a commit failed: the driver's error (which an engine may retry), input that
/// the log refuses, or anything else.
pub(crate) enum CommitError<E> {
    Driver(E),
    Invalid(Invalid),
    Other(Error),
}

impl<E> From<E> for CommitError<E> {
    fn from(err: E) -> Self {
        CommitError::Driver(err)
    }
}

impl<E: DriverError> From<CommitError<E>> for Error {
    fn from(err: CommitError<E>) -> Self {
        match err {
            CommitError::Driver(err) => err.into_storage(),
            CommitError::Invalid(invalid) => invalid.into(),
            CommitError::Other(err) => err,
        }
    }
}
