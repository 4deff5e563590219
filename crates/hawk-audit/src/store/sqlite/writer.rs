//! The group-commit writer: one thread owns the write connection, takes every append
//! that is waiting, commits them in one transaction (one fsync), then answers each
//! caller. A caller is answered only after its entries are durable. Gathering and
//! committing a group are `store::group`'s, the sequencing `store::sequence`'s; this
//! is the SQL around them.
//! When a group fails, each of its appends is committed alone, so one bad append (a
//! historical time out of order, say) fails only its own caller.
//!
//! Each transaction is `BEGIN IMMEDIATE`, so writers of other processes on the same file
//! queue on SQLite's lock: the next id is the newest plus one and the time is the newest
//! time or now, whichever is later. The frontier is kept in memory with its size and
//! reloaded when the newest id differs (another process appended). Per-action block
//! counts, account sequence numbers, stored subtrees and idempotency keys are written in
//! the same transaction.
//!
//! A prune runs alone on this thread, after the appends queued before it, in one
//! transaction: it finds the newest entry older than the cut-off by a binary search over
//! ids (times never decrease; `plan`, shared with `Audit::prune_plan`), folds the
//! removed leaves into the tree they make, starting from the previous prune's frontier,
//! and keeps that frontier in `prunes`; it subtracts what each action lost from
//! `actions.count` (adding it to `pruned_actions`) and what each account lost to
//! `accounts.pruned`, deletes the rows (the delete trigger lets through only ids a
//! `prunes` row covers) and appends a `hawk.pruned` entry.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::schema::{BLOCK, is_busy};
use crate::entry::{micros, time_from_micros};
use crate::error::{DbResult, Error, Result};
use crate::merkle::Frontier;
use crate::retention::{PrunePlan, Pruned};
use crate::store::ImportMark;
use crate::store::group::{Gather, GroupWriter, Job, Places, Queued, commit_group};
use crate::store::idempotency::{self, Decision, StoredKey, Sweep};
use crate::store::pending::{LastOlder, PruneRecord};
use crate::store::sequence::{Counts, Head, sequence};
use crate::store::sink_ops::{SinkAnswer, SinkOp};

/// How long the writer pauses for more appends to join a group that looks smaller
/// than the traffic (see `Gather::group`); far below one fsync.
const GATHER_PAUSE: Duration = Duration::from_micros(40);
/// How often the writer retries a transaction that found the file locked by another
/// process after the busy timeout ran out, before it reports an error.
const BUSY_RETRIES: u32 = 20;

/// Removes the entries older than `before` (µs) and records that it did.
pub(crate) struct Prune {
    pub(crate) before: i64,
    pub(crate) reply: oneshot::Sender<Result<Option<Pruned>>>,
}

/// What the writer thread does alone, after the appends queued before it.
pub(crate) enum Alone {
    Prune(Prune),
    /// A write of the `sinks` table, between two groups of appends: on this
    /// connection it never waits for the file's write lock, as a second connection
    /// would while appends hold it one commit after another.
    Sinks(SinkOp, oneshot::Sender<Result<SinkAnswer>>),
    /// Copy the WAL into the file and truncate it (see `SqliteStore::checkpoint_wal`).
    Checkpoint(oneshot::Sender<Result<()>>),
}

/// What the writer thread is asked to do.
pub(crate) type Work = Queued<Alone>;

type CommitError = crate::store::group::CommitError<rusqlite::Error>;

/// Starts the writer thread; it stops when every sender is dropped.
pub(super) fn spawn(conn: Connection, jobs: mpsc::Receiver<Work>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("hawk-sqlite-writer".into())
        .spawn(move || Writer::new(conn).run(jobs))
        .expect("spawning the writer thread")
}

struct Writer {
    conn: Connection,
    /// Action name → id. Actions are never renamed or removed, so an id learned from
    /// a committed transaction stays true, whichever process committed it.
    action_ids: HashMap<String, i64>,
    /// The tree frontier as of the last commit seen; its size says which tree it is,
    /// and it is reloaded when the newest id differs (another process appended).
    frontier: Option<Frontier>,
    sweep: Sweep,
}

impl Writer {
    fn new(conn: Connection) -> Self {
        Writer {
            conn,
            action_ids: HashMap::new(),
            frontier: None,
            sweep: Sweep::default(),
        }
    }

    fn run(mut self, mut jobs: mpsc::Receiver<Work>) {
        let mut gather = Gather::default();
        while let Some(first) = jobs.blocking_recv() {
            let first = match first {
                Queued::Append(append) => append,
                Queued::Alone(work) => {
                    self.alone(work);
                    continue;
                }
            };
            // Nothing below waits on anything but this thread: each future is ready
            // when first polled.
            let (group, alone) = gather
                .group(
                    first,
                    || jobs.try_recv().ok(),
                    async || thread::sleep(GATHER_PAUSE),
                )
                .now_or_never()
                .expect("gathering on the writer thread never waits");
            commit_group(group, &mut self)
                .now_or_never()
                .expect("a SQLite commit never waits");
            if let Some(work) = alone {
                self.alone(work);
            }
        }
    }

    fn alone(&mut self, work: Alone) {
        match work {
            Alone::Prune(prune) => self.prune(prune),
            Alone::Sinks(op, reply) => {
                let _ = reply.send(super::sinks::write(&mut self.conn, &op));
            }
            Alone::Checkpoint(reply) => {
                let _ = reply.send(self.checkpoint());
            }
        }
    }

    /// `wal_checkpoint(TRUNCATE)`: every committed page reaches the file and the WAL
    /// is emptied. It waits (up to the busy timeout) for readers of older snapshots.
    fn checkpoint(&mut self) -> Result<()> {
        let (busy, _, _): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .db()?;
        if busy != 0 {
            return Err(Error::storage(
                "the write-ahead log could not be checkpointed: another connection \
                 kept it busy",
            ));
        }
        Ok(())
    }

    fn prune(&mut self, prune: Prune) {
        let result = self.with_retry(|writer| writer.try_prune(prune.before));
        let _ = prune.reply.send(result);
    }

    fn commit_with_retry(&mut self, jobs: &mut [Job]) -> Result<()> {
        self.with_retry(|writer| writer.commit(jobs))
    }

    /// Runs `work`, again after a pause while another process holds the file.
    fn with_retry<T>(
        &mut self,
        mut work: impl FnMut(&mut Self) -> Result<T, CommitError>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            match work(self) {
                Err(CommitError::Driver(err)) if is_busy(&err) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tracing::warn!(attempt, "database busy beyond the timeout; retrying");
                    thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                }
                Err(err) => return Err(err.into()),
                Ok(done) => return Ok(done),
            }
        }
    }

    /// Commits every job in one transaction, completing its entries in place: id,
    /// time and leaf hash, the values that are stored and hashed.
    fn commit(&mut self, jobs: &mut [Job]) -> Result<(), CommitError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (frontier, learned) = append_in(&tx, &self.action_ids, self.frontier.as_ref(), jobs)?;
        let now = micros(time::OffsetDateTime::now_utc());
        if let Some(expired) = self.sweep.due(jobs, now) {
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE created_at <= ?1")?
                .execute([expired])?;
        }
        tx.commit()?;
        // Only now are the new dictionary ids and the grown tree true for everyone.
        self.action_ids.extend(learned);
        self.frontier = Some(frontier);
        Ok(())
    }

    /// Removes every entry older than `before` (µs) in one transaction, keeping the
    /// tree they made (its frontier, in `prunes`) and the counts exact, and appends an
    /// entry that records the prune. `None`: no entry is that old.
    fn try_prune(&mut self, before: i64) -> Result<Option<Pruned>, CommitError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(plan) = plan(&tx, before)? else {
            return Ok(None);
        };
        let (oldest, through) = (plan.first_id as i64, plan.through_id as i64);
        let last_time = micros(plan.newest);

        // The tree of ids 1..=through, from the last prune's and the leaves since.
        let mut frontier = pruned_frontier(&tx, oldest - 1)?;
        {
            let mut hashes =
                tx.prepare("SELECT hash FROM entries WHERE id BETWEEN ?1 AND ?2 ORDER BY id")?;
            let mut rows = hashes.query([oldest, through])?;
            while let Some(row) = rows.next()? {
                let hash: Vec<u8> = row.get(0)?;
                let leaf = hash.try_into().map_err(|_| {
                    CommitError::Other(Error::storage("an entry's stored hash is not 32 bytes"))
                })?;
                frontier.push(leaf);
            }
        }
        let root = frontier.root();
        let removed = through - oldest + 1;

        // Counts that stay exact: what each action and account loses.
        let actions = grouped(
            &tx,
            "SELECT action_id, count(*) FROM entries WHERE id <= ?1 GROUP BY action_id",
            through,
        )?;
        let accounts: Vec<(String, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT account_id, count(*) FROM entries
                 WHERE id <= ?1 AND account_id IS NOT NULL GROUP BY account_id",
            )?;
            stmt.query_map([through], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "INSERT INTO prunes (through_id, last_time, before, removed, frontier, pruned_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                through,
                last_time,
                before,
                removed,
                frontier.to_bytes(),
                micros(time::OffsetDateTime::now_utc())
            ],
        )?;
        // The delete trigger lets through exactly the ids a `prunes` row covers.
        tx.execute("DELETE FROM entries WHERE id <= ?1", [through])?;
        for (action_id, n) in actions {
            tx.execute(
                "UPDATE actions SET count = count - ?1 WHERE id = ?2",
                params![n, action_id],
            )?;
            tx.execute(
                "INSERT INTO pruned_actions (action_id, count) VALUES (?1, ?2)
                 ON CONFLICT (action_id) DO UPDATE SET count = count + excluded.count",
                params![action_id, n],
            )?;
        }
        for (account, n) in accounts {
            tx.execute(
                "UPDATE accounts SET pruned = pruned + ?1 WHERE account_id = ?2",
                params![n, account],
            )?;
        }

        let mut record = PruneRecord::new(before, oldest as u64, through as u64, root)
            .map_err(CommitError::Invalid)?;
        let (tree, learned) = append_in(
            &tx,
            &self.action_ids,
            self.frontier.as_ref(),
            std::slice::from_mut(&mut record.job),
        )?;
        tx.commit()?;
        self.action_ids.extend(learned);
        self.frontier = Some(tree);
        Ok(Some(record.into_pruned()))
    }
}

impl GroupWriter for Writer {
    /// Runs the transaction at once: the returned future is ready.
    fn write(&mut self, jobs: &mut [Job]) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(self.commit_with_retry(jobs))
    }
}

/// What a prune before `before` (µs) removes: the entries from the oldest up to the
/// newest one older than `before`; `None` when no entry is. The prune itself and its
/// dry run (on a read connection) ask the same question.
pub(super) fn plan(conn: &Connection, before: i64) -> rusqlite::Result<Option<PrunePlan>> {
    let bounds = conn.query_row("SELECT min(id), max(id) FROM entries", [], |row| {
        Ok(row
            .get::<_, Option<i64>>(0)?
            .zip(row.get::<_, Option<i64>>(1)?))
    })?;
    let Some((oldest, newest)) = bounds else {
        return Ok(None);
    };
    let time_of = |id: i64| -> rusqlite::Result<i64> {
        conn.prepare_cached("SELECT inserted_at FROM entries WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
    };
    // Times never decrease as ids grow: find the last id older than `before`.
    let mut search = LastOlder::new(oldest, newest);
    while let Some(id) = search.probe() {
        search.answer(id, time_of(id)? < before);
    }
    let through = search.found();
    if through < oldest {
        return Ok(None);
    }
    Ok(Some(PrunePlan {
        removed: (through - oldest + 1) as u64,
        first_id: oldest as u64,
        through_id: through as u64,
        oldest: time_from_micros(time_of(oldest)?),
        newest: time_from_micros(time_of(through)?),
    }))
}

/// The frontier of the tree of ids `1..=size`, all of them pruned: kept by the prune
/// that removed them (the empty tree for size 0).
fn pruned_frontier(tx: &rusqlite::Transaction<'_>, size: i64) -> Result<Frontier, CommitError> {
    if size == 0 {
        return Ok(Frontier::new());
    }
    let bytes: Vec<u8> = tx
        .query_row(
            "SELECT frontier FROM prunes WHERE through_id = ?1",
            [size],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            CommitError::Other(Error::storage(format!(
                "entries 1..={size} are gone but no prune recorded their tree"
            )))
        })?;
    Frontier::from_bytes(&bytes).map_err(|e| {
        CommitError::Other(Error::storage(format!(
            "a stored prune frontier is unreadable: {e}"
        )))
    })
}

fn grouped(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    through: i64,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = tx.prepare(sql)?;
    stmt.query_map([through], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

/// Appends every job within `tx` (see `sequence`), placing each job's entries. Returns
/// the grown tree and the actions added to the dictionary, true once `tx` commits.
fn append_in(
    tx: &rusqlite::Transaction<'_>,
    action_ids: &HashMap<String, i64>,
    cached: Option<&Frontier>,
    jobs: &mut [Job],
) -> Result<(Frontier, Vec<(String, i64)>), CommitError> {
    let (last_id, last_time): (i64, Option<i64>) = tx
        .query_row(
            "SELECT id, inserted_at FROM entries ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .or_else(|err| match err {
            // No entries: a new log, or one whose every entry a prune removed.
            rusqlite::Error::QueryReturnedNoRows => tx
                .query_row(
                    "SELECT through_id, last_time FROM prunes ORDER BY through_id DESC LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map(|found| found.unwrap_or((0, None))),
            err => Err(err),
        })?;
    let frontier = match cached {
        Some(frontier) if frontier.size() == last_id as u64 => frontier.clone(),
        _ => super::read::frontier(tx).map_err(CommitError::Other)?,
    };
    let head = Head::new(last_id as u64, last_time, frontier).map_err(CommitError::Other)?;
    let wall = micros(time::OffsetDateTime::now_utc());
    settle_keys(tx, jobs, wall)?;

    // Each account's count so far, read once per transaction. Actions are counted by
    // what the group adds (`actions.count + n`): SQLite does not number them.
    let mut account_counts: HashMap<&str, u64> = HashMap::new();
    {
        let mut count = tx.prepare_cached("SELECT count FROM accounts WHERE account_id = ?1")?;
        let accounts = Job::fresh(jobs)
            .flat_map(|batch| batch.entries())
            .filter_map(|entry| entry.account_id.as_deref());
        for account in accounts {
            if !account_counts.contains_key(account) {
                let stored: Option<i64> =
                    count.query_row([account], |row| row.get(0)).optional()?;
                account_counts.insert(account, stored.unwrap_or(0) as u64);
            }
        }
    }
    let counts = Counts {
        action: |_: &str| 0,
        account: |account: &str| account_counts[account],
    };
    let done = sequence(head, Job::fresh(jobs), wall, counts).map_err(CommitError::Invalid)?;

    let mut learned: Vec<(String, i64)> = Vec::new();
    let mut ids: HashMap<&str, i64> = HashMap::new();
    let mut blocks: HashMap<(i64, i64), i64> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
                 resource_type, resource_id, account_id, metadata, account_seq, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for row in &done.rows {
            let entry = row.entry;
            let action_id = match ids.get(entry.action.as_str()) {
                Some(&id) => id,
                None => {
                    let id = action_id(action_ids, tx, &entry.action, &mut learned)?;
                    ids.insert(&entry.action, id);
                    id
                }
            };
            let block = (row.id as i64 - 1) / BLOCK as i64;
            *blocks.entry((block, action_id)).or_default() += 1;
            insert.execute(params![
                row.id as i64,
                row.at,
                entry.actor_type,
                entry.actor_id,
                action_id,
                entry.resource_type,
                entry.resource_id,
                entry.account_id,
                entry.metadata_json,
                row.account_seq.map(|seq| seq as i64),
                &row.leaf[..],
            ])?;
        }
    }
    {
        let mut bump = tx.prepare_cached("UPDATE actions SET count = count + ?1 WHERE id = ?2")?;
        for (action, added) in &done.actions {
            bump.execute(params![*added as i64, ids[action]])?;
        }
        let mut count_blocks = tx.prepare_cached(
            "INSERT INTO action_blocks (block, action_id, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (block, action_id) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((block, action_id), n) in blocks {
            count_blocks.execute(params![block, action_id, n])?;
        }
        let mut count_accounts = tx.prepare_cached(
            "INSERT INTO accounts (account_id, count) VALUES (?1, ?2)
             ON CONFLICT (account_id) DO UPDATE SET count = excluded.count",
        )?;
        for (account, count) in &done.accounts {
            count_accounts.execute(params![account, *count as i64])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
        )?;
        for node in &done.nodes {
            insert.execute(params![node.level, node.index as i64, &node.hash[..]])?;
        }
    }
    for mark in jobs.iter().filter_map(|job| job.mark.as_ref()) {
        advance_import(tx, mark)?;
    }
    {
        // A key that expired is taken over by its new use.
        let mut insert = tx.prepare_cached(
            "INSERT INTO idempotency_keys (key, digest, first_id, count, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET digest = excluded.digest,
                 first_id = excluded.first_id, count = excluded.count,
                 created_at = excluded.created_at",
        )?;
        for key in Job::new_keys(jobs, &done.rows) {
            insert.execute(params![key.key, key.digest, key.first_id, key.count, wall])?;
        }
    }
    store_frontier(tx, &done.head.frontier)?;
    let places = Places::of(&done.rows);
    let frontier = done.head.frontier;
    Job::place(jobs, places);
    Ok((frontier, learned))
}

/// Settles each keyed job against its key's stored row (`idempotency::decide`): a
/// repeat takes the entries stored the first time and writes nothing; another body
/// under a live key fails the job.
fn settle_keys(
    tx: &rusqlite::Transaction<'_>,
    jobs: &mut [Job],
    now: i64,
) -> Result<(), CommitError> {
    jobs.iter_mut().for_each(Job::reset);
    let keys = jobs.iter().filter_map(|job| job.key.as_ref());
    if idempotency::repeated_within(keys.map(|keyed| keyed.key.as_str())) {
        // The group is committed again one append at a time (see `commit_group`).
        return Err(CommitError::Other(Error::storage(
            "one idempotency key twice in a group",
        )));
    }
    for job in jobs.iter_mut() {
        let Some(keyed) = &job.key else { continue };
        let stored = tx
            .prepare_cached(
                "SELECT digest, first_id, count, created_at FROM idempotency_keys
                 WHERE key = ?1",
            )?
            .query_row([&keyed.key], |row| {
                Ok(StoredKey {
                    digest: row.get(0)?,
                    first_id: row.get(1)?,
                    count: row.get(2)?,
                    created_at: row.get(3)?,
                })
            })
            .optional()?;
        let decision = idempotency::decide(keyed, stored.as_ref(), now);
        if let Decision::Repeat { first_id, count } = decision.map_err(CommitError::Invalid)? {
            let entries = super::read::entries_after(tx, first_id - 1, count, None)
                .map_err(CommitError::Other)?;
            job.repeat(first_id, count, entries)
                .map_err(CommitError::Invalid)?;
        }
    }
    Ok(())
}

/// Writes the frontier back, in the transaction that grew it.
fn store_frontier(tx: &rusqlite::Transaction<'_>, frontier: &Frontier) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO tree_frontier (id, bytes) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
    )?
    .execute([frontier.to_bytes()])?;
    Ok(())
}

/// Moves an import's position forward, provided it is still where the batch was read
/// from: two imports of one source at once cannot both write the same records.
fn advance_import(tx: &rusqlite::Transaction<'_>, mark: &ImportMark) -> Result<(), CommitError> {
    let current: Option<String> = tx
        .prepare_cached("SELECT position FROM imports WHERE source = ?1")?
        .query_row([&mark.source], |row| row.get(0))
        .optional()?;
    mark.check(current).map_err(CommitError::Other)?;
    tx.prepare_cached(
        "INSERT INTO imports (source, position, entries) VALUES (?1, ?2, ?3)
         ON CONFLICT (source) DO UPDATE
         SET position = excluded.position, entries = entries + excluded.entries",
    )?
    .execute(params![mark.source, mark.to, mark.entries as i64])?;
    Ok(())
}

/// The dictionary id of `name`, adding it within `tx` if it is new.
fn action_id(
    known: &HashMap<String, i64>,
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    learned: &mut Vec<(String, i64)>,
) -> rusqlite::Result<i64> {
    if let Some(&id) = known.get(name) {
        return Ok(id);
    }
    if let Some((_, id)) = learned.iter().find(|(n, _)| n == name) {
        return Ok(*id);
    }
    let existing = tx
        .prepare_cached("SELECT id FROM actions WHERE name = ?1")?
        .query_row([name], |row| row.get(0));
    let id = match existing {
        Ok(id) => id,
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            tx.prepare_cached("INSERT INTO actions (name) VALUES (?1)")?
                .execute([name])?;
            tx.last_insert_rowid()
        }
        Err(err) => return Err(err),
    };
    learned.push((name.to_owned(), id));
    Ok(id)
}
