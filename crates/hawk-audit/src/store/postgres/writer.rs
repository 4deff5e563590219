//! The group-commit writer (gathering and committing a group are `store::group`'s, the
//! sequencing `store::sequence`'s; this is the SQL around them): one task per process
//! takes every append that is waiting and commits them in one transaction, then
//! answers each caller. A caller is answered only after its entries are committed.
//! When a group fails, each of its appends is committed alone, so one bad append (a
//! historical time out of order, say) fails only its own caller.
//!
//! Every transaction starts by locking the one row of `log_head`, which holds the next
//! id, the newest time and the tree's frontier. Writers of every process queue on that
//! lock, so ids are dense and in commit order (never a sequence, which leaves gaps on
//! rollback), and counters and tree grow in step with them. Entries go in with one
//! `INSERT … SELECT FROM unnest(arrays)`; the counters (`actions.count`,
//! `accounts.count`, each entry's `action_seq` and `account_seq`), the head row and a
//! `NOTIFY hawk_head` are pipelined in the same transaction. Times are `timestamptz` (µs,
//! as hashed); metadata is `json`, read back as the stored text, so it parses to the
//! value that was hashed.

use std::collections::HashMap;
use std::convert::Infallible;

use deadpool_postgres::{Pool, Transaction};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use super::tree::TreeNodes;
use crate::entry::{micros, time_from_micros};
use crate::error::{DriverError, Error, Result};
use crate::merkle::Frontier;
use crate::store::ImportMark;
use crate::store::group::{Append, Gather, GroupWriter, Job, Places, Queued, commit_group};
use crate::store::idempotency::{self, Decision, StoredKey, Sweep};
use crate::store::sequence::{Counts, Head, sequence};

pub(super) type CommitError = crate::store::group::CommitError<tokio_postgres::Error>;

/// The channel notifications of a new head go out on; the payload is the new head id.
pub(super) const HEAD_CHANNEL: &str = "hawk_head";

/// Starts the writer task; it stops when every sender is dropped.
pub(super) fn spawn(pool: Pool, jobs: mpsc::Receiver<Append>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(pool, jobs))
}

async fn run(pool: Pool, mut jobs: mpsc::Receiver<Append>) {
    let mut gather = Gather::default();
    let mut writer = Writer {
        pool,
        sweep: Sweep::default(),
    };
    while let Some(first) = jobs.recv().await {
        let next = || jobs.try_recv().ok().map(Queued::<Infallible>::Append);
        let (group, _) = gather
            .group(first, next, async || tokio::task::yield_now().await)
            .await;
        commit_group(group, &mut writer).await;
    }
}

struct Writer {
    pool: Pool,
    sweep: Sweep,
}

impl GroupWriter for Writer {
    async fn write(&mut self, jobs: &mut [Job]) -> Result<()> {
        commit(&self.pool, jobs, &mut self.sweep)
            .await
            .map_err(Error::from)
    }
}

/// The columns of the rows a transaction inserts, one vector per column.
#[derive(Default)]
struct Rows<'a> {
    id: Vec<i64>,
    inserted_at: Vec<OffsetDateTime>,
    actor_type: Vec<Option<&'a str>>,
    actor_id: Vec<Option<&'a str>>,
    action_id: Vec<i32>,
    resource_type: Vec<Option<&'a str>>,
    resource_id: Vec<Option<&'a str>>,
    account_id: Vec<Option<&'a str>>,
    metadata: Vec<&'a str>,
    action_seq: Vec<i64>,
    account_seq: Vec<Option<i64>>,
    hash: Vec<Vec<u8>>,
}

/// Commits every job in one transaction, placing each job's entries.
async fn commit(pool: &Pool, jobs: &mut [Job], sweep: &mut Sweep) -> Result<(), CommitError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| CommitError::Other(e.into_storage()))?;
    let tx = client.transaction().await?;
    append_in(&tx, jobs).await?;
    if let Some(expired) = sweep.due(jobs, micros(OffsetDateTime::now_utc())) {
        tx.execute(
            "DELETE FROM idempotency_keys WHERE created_at <= $1",
            &[&time_from_micros(expired)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Appends every job within `tx` (see `sequence`), under the head lock it takes (or
/// already holds), placing each job's entries; they are in the log once `tx` commits.
pub(super) async fn append_in(tx: &Transaction<'_>, jobs: &mut [Job]) -> Result<(), CommitError> {
    jobs.iter_mut().for_each(Job::reset);
    let lock = tx
        .prepare_cached("SELECT next_id, last_time, frontier FROM log_head WHERE id = 1 FOR UPDATE")
        .await?;
    let known_actions = tx
        .prepare_cached("SELECT id, name, count FROM actions WHERE name = ANY($1)")
        .await?;
    let known_accounts = tx
        .prepare_cached("SELECT account_id, count FROM accounts WHERE account_id = ANY($1)")
        .await?;
    let known_keys = tx
        .prepare_cached(
            "SELECT key, digest, first_id, count, created_at FROM idempotency_keys
             WHERE key = ANY($1)",
        )
        .await?;
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|job| job.key.as_ref().map(|keyed| keyed.key.as_str()))
        .collect();
    if idempotency::repeated_within(keys.iter().copied()) {
        // The group is committed again one append at a time (see `commit_group`).
        return Err(CommitError::Other(Error::storage(
            "one idempotency key twice in a group",
        )));
    }
    let entries = || jobs.iter().flat_map(|job| job.batch.entries());
    let names = distinct(entries().map(|e| e.action.as_str()));
    let account_names = distinct(entries().filter_map(|e| e.account_id.as_deref()));
    // Sent together and run in order: the counters are read once the lock is held, so
    // they include every commit before it, whichever process made it.
    let names_param: [&(dyn ToSql + Sync); 1] = [&names];
    let accounts_param: [&(dyn ToSql + Sync); 1] = [&account_names];
    let keys_param: [&(dyn ToSql + Sync); 1] = [&keys];
    let (head, known_actions, known_accounts, known_keys) = tokio::try_join!(
        tx.query_one(&lock, &[]),
        tx.query(&known_actions, &names_param),
        tx.query(&known_accounts, &accounts_param),
        async {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            tx.query(&known_keys, &keys_param).await
        },
    )?;
    let wall = micros(OffsetDateTime::now_utc());
    let known_keys: HashMap<String, StoredKey> = known_keys
        .into_iter()
        .map(|row| {
            let created_at: OffsetDateTime = row.get(4);
            let stored = StoredKey {
                digest: row.get(1),
                first_id: row.get(2),
                count: row.get(3),
                created_at: micros(created_at),
            };
            (row.get(0), stored)
        })
        .collect();
    let next_id: i64 = head.get(0);
    let last_time: Option<OffsetDateTime> = head.get(1);
    let frontier = Frontier::from_bytes(head.get(2)).map_err(|e| {
        CommitError::Other(Error::storage(format!(
            "the stored tree frontier is unreadable: {e}"
        )))
    })?;
    let head = Head::new((next_id - 1) as u64, last_time.map(micros), frontier)
        .map_err(CommitError::Other)?;
    // Under the head lock, so two imports of one source cannot both pass.
    for mark in jobs.iter().filter_map(|job| job.mark.as_ref()) {
        advance_import(tx, mark).await?;
    }
    let mut actions: HashMap<String, (i32, i64)> = known_actions
        .into_iter()
        .map(|row| (row.get(1), (row.get(0), row.get(2))))
        .collect();
    add_actions(tx, &names, &mut actions).await?;
    let accounts: HashMap<String, i64> = known_accounts
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();

    // Under the head lock: a key's row cannot change before this transaction ends.
    for job in jobs.iter_mut() {
        let Some(keyed) = &job.key else { continue };
        let decision = idempotency::decide(keyed, known_keys.get(&keyed.key), wall);
        if let Decision::Repeat { first_id, count } = decision.map_err(CommitError::Invalid)? {
            let entries = super::read::entries_after(tx, first_id - 1, count, None)
                .await
                .map_err(CommitError::Other)?;
            job.repeat(first_id, count, entries)
                .map_err(CommitError::Invalid)?;
        }
    }
    let counts = Counts {
        action: |action: &str| actions[action].1 as u64,
        account: |account: &str| accounts.get(account).map_or(0, |&n| n as u64),
    };
    let done = sequence(head, Job::fresh(jobs), wall, counts).map_err(CommitError::Invalid)?;

    let mut rows = Rows::default();
    for row in &done.rows {
        let entry = row.entry;
        rows.id.push(row.id as i64);
        rows.inserted_at.push(time_from_micros(row.at));
        rows.actor_type.push(entry.actor_type.as_deref());
        rows.actor_id.push(entry.actor_id.as_deref());
        rows.action_id.push(actions[&entry.action].0);
        rows.resource_type.push(entry.resource_type.as_deref());
        rows.resource_id.push(entry.resource_id.as_deref());
        rows.account_id.push(entry.account_id.as_deref());
        rows.metadata.push(&entry.metadata_json);
        rows.action_seq.push(row.action_seq as i64);
        rows.account_seq.push(row.account_seq.map(|seq| seq as i64));
        rows.hash.push(row.leaf.to_vec());
    }
    let mut nodes = TreeNodes::default();
    for node in &done.nodes {
        nodes.add(node.level, node.index, &node.hash);
    }

    let insert = tx
        .prepare_cached(
            "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
                 resource_type, resource_id, account_id, metadata, action_seq, account_seq,
                 hash)
             SELECT id, inserted_at, actor_type, actor_id, action_id, resource_type,
                 resource_id, account_id, metadata::json, action_seq, account_seq, hash
             FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                 $5::integer[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],
                 $11::bigint[], $12::bytea[])
                 AS t(id, inserted_at, actor_type, actor_id, action_id, resource_type,
                      resource_id, account_id, metadata, action_seq, account_seq, hash)",
        )
        .await?;
    let count_actions = tx
        .prepare_cached(
            "UPDATE actions SET count = t.count
             FROM unnest($1::integer[], $2::bigint[]) AS t(id, count)
             WHERE actions.id = t.id",
        )
        .await?;
    let count_accounts = tx
        .prepare_cached(
            "INSERT INTO accounts (account_id, count)
             SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (account_id) DO UPDATE SET count = excluded.count",
        )
        .await?;
    let advance = tx
        .prepare_cached(
            "UPDATE log_head SET next_id = $1, last_time = $2, frontier = $3 WHERE id = 1",
        )
        .await?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    // A key that expired is taken over by its new use.
    let store_keys = tx
        .prepare_cached(
            "INSERT INTO idempotency_keys (key, digest, first_id, count, created_at)
             SELECT key, digest, first_id, count, $5
             FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bigint[])
                 AS t(key, digest, first_id, count)
             ON CONFLICT (key) DO UPDATE SET digest = excluded.digest,
                 first_id = excluded.first_id, count = excluded.count,
                 created_at = excluded.created_at",
        )
        .await?;
    let (mut new_keys, mut digests, mut first_ids, mut counts) = (vec![], vec![], vec![], vec![]);
    for key in Job::new_keys(jobs, &done.rows) {
        new_keys.push(key.key);
        digests.push(key.digest);
        first_ids.push(key.first_id);
        counts.push(key.count);
    }
    let key_time = time_from_micros(wall);

    let (action_ids, action_counts): (Vec<i32>, Vec<i64>) = done
        .actions
        .iter()
        .map(|(action, count)| (actions[*action].0, *count as i64))
        .unzip();
    let (account_ids, account_counts): (Vec<&str>, Vec<i64>) = done
        .accounts
        .iter()
        .map(|(account, count)| (*account, *count as i64))
        .unzip();
    let next_id = done.head.next_id as i64;
    let last_time = time_from_micros(done.head.last_time);
    let frontier_bytes = done.head.frontier.to_bytes();
    let new_head = done.head.last_id().to_string();
    let insert_params: [&(dyn ToSql + Sync); 12] = [
        &rows.id,
        &rows.inserted_at,
        &rows.actor_type,
        &rows.actor_id,
        &rows.action_id,
        &rows.resource_type,
        &rows.resource_id,
        &rows.account_id,
        &rows.metadata,
        &rows.action_seq,
        &rows.account_seq,
        &rows.hash,
    ];
    let action_params: [&(dyn ToSql + Sync); 2] = [&action_ids, &action_counts];
    let account_params: [&(dyn ToSql + Sync); 2] = [&account_ids, &account_counts];
    let advance_params: [&(dyn ToSql + Sync); 3] = [&next_id, &last_time, &frontier_bytes];
    let notify_params: [&(dyn ToSql + Sync); 2] = [&HEAD_CHANNEL, &new_head];
    let key_params: [&(dyn ToSql + Sync); 5] =
        [&new_keys, &digests, &first_ids, &counts, &key_time];
    // Sent together: the connection pipelines them, one round trip for all.
    tokio::try_join!(
        tx.execute(&insert, &insert_params),
        tx.execute(&count_actions, &action_params),
        tx.execute(&count_accounts, &account_params),
        tx.execute(&advance, &advance_params),
        tx.execute(&notify, &notify_params),
        nodes.insert(tx),
        async {
            if new_keys.is_empty() {
                return Ok(0);
            }
            tx.execute(&store_keys, &key_params).await
        },
    )?;
    let places = Places::of(&done.rows);
    Job::place(jobs, places);
    Ok(())
}

/// Moves an import's position forward, provided it is still where the batch was read
/// from: two imports of one source at once cannot both write the same records.
async fn advance_import(tx: &Transaction<'_>, mark: &ImportMark) -> Result<(), CommitError> {
    let current: Option<String> = tx
        .query_opt(
            "SELECT position FROM imports WHERE source = $1",
            &[&mark.source],
        )
        .await?
        .map(|row| row.get(0));
    mark.check(current).map_err(CommitError::Other)?;
    tx.execute(
        "INSERT INTO imports (source, position, entries) VALUES ($1, $2, $3)
         ON CONFLICT (source) DO UPDATE
         SET position = excluded.position, entries = imports.entries + excluded.entries",
        &[&mark.source, &mark.to, &(mark.entries as i64)],
    )
    .await?;
    Ok(())
}

/// The distinct values of `items`, sorted.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut items: Vec<&str> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// Adds the actions among `names` that the dictionary lacks, within `tx`, to it and
/// to `actions` (name → dictionary id and entry count so far).
async fn add_actions(
    tx: &Transaction<'_>,
    names: &[&str],
    actions: &mut HashMap<String, (i32, i64)>,
) -> Result<(), CommitError> {
    let new: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !actions.contains_key(*name))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    // Dictionary ids are handed out under the head lock too, so they ascend in commit
    // order.
    let add = tx
        .prepare_cached(
            "INSERT INTO actions (id, name)
             SELECT (SELECT coalesce(max(id), 0) FROM actions) + n, name
             FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)
             RETURNING id, name",
        )
        .await?;
    for row in tx.query(&add, &[&new]).await? {
        actions.insert(row.get(1), (row.get(0), 0));
    }
    Ok(())
}
