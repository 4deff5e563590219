//! Retention on PostgreSQL: a prune removes the oldest entries in one transaction
//! under the head lock, keeps the tree they made (its frontier, in `prunes`) and the
//! counts exact, and appends the entry that records it, as on SQLite.
//!
//! The transaction takes the `log_head` lock that every writer takes first, so appends
//! of every process wait for it, and its record goes in through the writer's
//! `append_in` under the same lock. `actions.count` and `accounts.count` go on numbering
//! entries (`action_seq`, `account_seq`), so the losses go to `actions.pruned` and
//! `accounts.pruned`: readers subtract them from totals and shift a page's range by
//! them. The removal itself leaves the head row (next id, newest time, frontier) as it
//! was. The delete trigger lets the rows go only because the transaction sets
//! `hawk.prune` and a `prunes` row covers their ids.

use deadpool_postgres::{Client, GenericClient};
use futures_util::{TryStreamExt, pin_mut};
use time::OffsetDateTime;

use super::writer::append_in;
use crate::entry::{micros, time_from_micros};
use crate::error::{DbResult, Error, Result};
use crate::merkle::{Frontier, Hash};
use crate::retention::{PrunePlan, Pruned};
use crate::store::pending::{LastOlder, PruneRecord};

/// Removes every entry older than `before` (µs) and appends the entry that records
/// it, in one transaction. `None`, writing nothing, when no entry is that old.
pub(super) async fn prune(client: &mut Client, before: i64) -> Result<Option<Pruned>> {
    let tx = client.transaction().await.db()?;
    // The lock every writer of every process takes first: nothing is appended while
    // the prune runs, and its record is appended under the same lock.
    tx.execute("SELECT 1 FROM log_head WHERE id = 1 FOR UPDATE", &[])
        .await
        .db()?;
    let Some(plan) = plan(&tx, before).await? else {
        return Ok(None);
    };
    let (oldest, through) = (plan.first_id as i64, plan.through_id as i64);
    let last_time = plan.newest;

    // The tree of ids 1..=through: the last prune's, grown by the leaves since.
    let mut frontier = match pruned_frontier(&tx).await? {
        None if oldest == 1 => Frontier::new(),
        Some(Ok(frontier)) if frontier.size() == (oldest - 1) as u64 => frontier,
        Some(Err(err)) => return Err(err),
        _ => {
            return Err(Error::storage(format!(
                "entries 1..={} are gone but no prune recorded their tree",
                oldest - 1
            )));
        }
    };
    let hashes = tx
        .query_raw(
            "SELECT hash FROM entries WHERE id BETWEEN $1 AND $2 ORDER BY id",
            [oldest, through],
        )
        .await
        .db()?;
    pin_mut!(hashes);
    while let Some(row) = hashes.try_next().await.db()? {
        let leaf = Hash::try_from(row.get::<_, &[u8]>(0))
            .map_err(|_| Error::storage("an entry's stored hash is not 32 bytes"))?;
        frontier.push(leaf);
    }
    if frontier.size() != through as u64 {
        return Err(Error::storage(format!(
            "ids {oldest}..={through} are not all in the log; run hawk verify"
        )));
    }
    let root = frontier.root();

    // Counts that stay exact: what each action and account loses.
    tx.execute(
        "UPDATE actions SET pruned = actions.pruned + lost.n
         FROM (SELECT action_id, count(*) AS n FROM entries WHERE id <= $1
               GROUP BY action_id) AS lost
         WHERE actions.id = lost.action_id",
        &[&through],
    )
    .await
    .db()?;
    tx.execute(
        "UPDATE accounts SET pruned = accounts.pruned + lost.n
         FROM (SELECT account_id, count(*) AS n FROM entries
               WHERE id <= $1 AND account_id IS NOT NULL GROUP BY account_id) AS lost
         WHERE accounts.account_id = lost.account_id",
        &[&through],
    )
    .await
    .db()?;
    tx.execute(
        "INSERT INTO prunes (through_id, last_time, before, removed, frontier, pruned_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &through,
            &last_time,
            &time_from_micros(before),
            &(through - oldest + 1),
            &frontier.to_bytes(),
            &OffsetDateTime::now_utc(),
        ],
    )
    .await
    .db()?;
    // The delete trigger lets this transaction remove exactly the ids `prunes` covers.
    tx.batch_execute("SET LOCAL hawk.prune = 'on'").await.db()?;
    tx.execute("DELETE FROM entries WHERE id <= $1", &[&through])
        .await
        .db()?;

    let mut record = PruneRecord::new(before, oldest as u64, through as u64, root)?;
    append_in(&tx, std::slice::from_mut(&mut record.job)).await?;
    tx.commit().await.db()?;
    Ok(Some(record.into_pruned()))
}

/// What a prune before `before` (µs) removes: the entries from the oldest up to the
/// newest one older than `before`; `None` when no entry is. Asked by the prune under
/// the head lock, and by its dry run in a read-only snapshot.
pub(super) async fn plan<C: GenericClient>(client: &C, before: i64) -> Result<Option<PrunePlan>> {
    let bounds = client
        .query_one("SELECT min(id), max(id) FROM entries", &[])
        .await
        .db()?;
    let (Some(oldest), Some(newest)) = (bounds.get::<_, Option<i64>>(0), bounds.get(1)) else {
        return Ok(None);
    };
    let time_of = client
        .prepare_cached("SELECT inserted_at FROM entries WHERE id = $1")
        .await
        .db()?;
    let mut search = LastOlder::new(oldest, newest);
    while let Some(id) = search.probe() {
        let at: OffsetDateTime = client.query_one(&time_of, &[&id]).await.db()?.get(0);
        search.answer(id, micros(at) < before);
    }
    let through = search.found();
    if through < oldest {
        return Ok(None);
    }
    let oldest_time: OffsetDateTime = client.query_one(&time_of, &[&oldest]).await.db()?.get(0);
    let newest_time: OffsetDateTime = client.query_one(&time_of, &[&through]).await.db()?.get(0);
    Ok(Some(PrunePlan {
        removed: (through - oldest + 1) as u64,
        first_id: oldest as u64,
        through_id: through as u64,
        oldest: oldest_time,
        newest: newest_time,
    }))
}

/// The tree of every entry the prunes removed, kept by the newest prune (`None`:
/// nothing was pruned).
pub(super) async fn pruned_frontier<C: GenericClient>(
    client: &C,
) -> Result<Option<Result<Frontier>>> {
    let row = client
        .query_opt(
            "SELECT frontier FROM prunes ORDER BY through_id DESC LIMIT 1",
            &[],
        )
        .await
        .db()?;
    Ok(row.map(|row| {
        Frontier::from_bytes(row.get(0))
            .map_err(|e| Error::storage_from(format!("the stored tree of pruned entries: {e}"), e))
    }))
}
