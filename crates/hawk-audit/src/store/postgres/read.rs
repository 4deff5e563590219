//! Read queries. A page reads its totals and its entries in one `REPEATABLE READ`
//! snapshot (a prune may remove entries between two statements); the other reads are
//! single statements.
//!
//! No page is found with `OFFSET` or counted with `count(*)` over the log:
//!
//! - Unfiltered: ids are dense above the oldest one, so a page is an id range.
//! - By account: a range of `account_seq`; the total is the newest number at `as_of`
//!   less the account's `pruned` (sequence numbers keep counting pruned entries).
//! - By search term: the term is matched in Rust against the dictionary (`Term`, as on
//!   SQLite). Each action numbers its entries too (`action_seq`), so how many entries of
//!   an action lie at or below any id is one probe of `entries_by_action`
//!   (`(action_id, id) INCLUDE (action_seq)`): the total at `as_of` is the dictionary's
//!   counts at the head, else a sum of probes. One matching action's page is a range of
//!   its numbers. For several, a shallow page (offset + per page ≤ `SHALLOW`) is read
//!   newest first: walking the log down when the matches are dense (a tenth of the log or
//!   more), else merging each action's newest ids, if that reads at most `MERGE_LIMIT`
//!   index entries. A deeper page first finds the id of its newest entry by a search over
//!   ids, up to 16 counting points per round trip (fewer the more actions are counted,
//!   and counted through the non-matching actions when they are fewer), then reads down
//!   from there, so its cost does not grow with the page number.
//! - An account and a term together are counted over that account's entries only.

use deadpool_postgres::{Client, GenericClient, Transaction};
use time::UtcOffset;
use tokio_postgres::IsolationLevel;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::entry::{Entry, metadata_from_json};
use crate::error::{DbResult, Error, Result};
use crate::merkle::{Frontier, to_hex};
use crate::query::{ActionCount, Page, Recent, Term, suggestions};
use crate::store::Filter;
use crate::store::pending::Window;

/// Columns of an entry, in the order `entry_from_row` reads them; `e` is `entries`.
/// The metadata is read as the text that was stored, so it parses back to exactly the
/// value that was hashed.
pub(super) const ENTRY_COLUMNS: &str = "e.id, e.inserted_at, e.actor_type, e.actor_id,
    (SELECT name FROM actions WHERE id = e.action_id), e.resource_type, e.resource_id,
    e.account_id, e.metadata::text, e.hash";

pub(super) fn entry_from_row(row: &Row) -> Result<Entry> {
    // Never null as Hawk writes it; one removed behind its back reads as no hash
    // (`verify` reports it), not as a panic.
    let hash: Option<&[u8]> = row.get(9);
    entry_with_hash(row, hash.map(to_hex).unwrap_or_default())
}

/// The entry in a row of [`ENTRY_COLUMNS`], with `hash` (hex) as its leaf hash.
pub(super) fn entry_with_hash(row: &Row, hash: String) -> Result<Entry> {
    let metadata: &str = row.get(8);
    Ok(Entry {
        id: row.get::<_, i64>(0) as u64,
        inserted_at: row
            .get::<_, time::OffsetDateTime>(1)
            .to_offset(UtcOffset::UTC),
        actor_type: row.get(2),
        actor_id: row.get(3),
        action: row.get(4),
        resource_type: row.get(5),
        resource_id: row.get(6),
        account_id: row.get(7),
        metadata: metadata_from_json(metadata)
            .map_err(|e| Error::storage_from(format!("stored metadata is unreadable: {e}"), e))?,
        hash,
    })
}

async fn select<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Entry>> {
    let stmt = client.prepare_cached(sql).await.db()?;
    client
        .query(&stmt, params)
        .await
        .db()?
        .iter()
        .map(entry_from_row)
        .collect()
}

/// The newest id, 0 for an empty log.
pub(super) async fn head<C: GenericClient>(client: &C) -> Result<u64> {
    let stmt = client
        .prepare_cached("SELECT next_id - 1 FROM log_head WHERE id = 1")
        .await
        .db()?;
    Ok(client.query_one(&stmt, &[]).await.db()?.get::<_, i64>(0) as u64)
}

/// The stored tree frontier.
pub(super) async fn frontier<C: GenericClient>(client: &C) -> Result<Frontier> {
    let stmt = client
        .prepare_cached("SELECT frontier FROM log_head WHERE id = 1")
        .await
        .db()?;
    let row = client.query_one(&stmt, &[]).await.db()?;
    Frontier::from_bytes(row.get(0))
        .map_err(|e| Error::storage_from(format!("the stored tree frontier is unreadable: {e}"), e))
}

/// One action of the dictionary.
struct DictEntry {
    id: i32,
    name: String,
    /// Its entries in the log.
    count: u64,
    /// Its entries the prunes removed, which its `action_seq` numbers still count.
    pruned: u64,
}

/// The action dictionary.
async fn dictionary<C: GenericClient>(client: &C) -> Result<Vec<DictEntry>> {
    let stmt = client
        .prepare_cached("SELECT id, name, count - pruned, pruned FROM actions")
        .await
        .db()?;
    Ok(client
        .query(&stmt, &[])
        .await
        .db()?
        .iter()
        .map(|row| DictEntry {
            id: row.get(0),
            name: row.get(1),
            count: row.get::<_, i64>(2) as u64,
            pruned: row.get::<_, i64>(3) as u64,
        })
        .collect())
}

/// A read-only `REPEATABLE READ` transaction: every statement in it sees the log as
/// of its first, whatever other processes append or prune meanwhile.
pub(super) async fn snapshot(client: &mut Client) -> Result<Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .db()
}

/// One page of entries matching `filter`, newest first, with exact totals.
pub(super) async fn page(client: &mut Client, filter: &Filter, opts: &Recent) -> Result<Page> {
    let tx = snapshot(client).await?;
    let newest = head(&tx).await?;
    let as_of = opts.as_of.map_or(newest, |pin| pin.min(newest));
    let window = Window {
        offset: opts.offset(),
        per_page: opts.per_page,
    };
    let (total, entries) = match (&filter.account, &filter.term) {
        (None, None) => {
            // Ids are dense above the oldest one, so the page is an id range.
            let stmt = tx
                .prepare_cached("SELECT min(id) FROM entries")
                .await
                .db()?;
            let oldest = tx
                .query_one(&stmt, &[])
                .await
                .db()?
                .get::<_, Option<i64>>(0)
                .map_or(1, |id| id as u64);
            let total = (as_of + 1).saturating_sub(oldest);
            let entries = match window.ranks(total) {
                None => Vec::new(),
                Some((low, high)) => {
                    let first = oldest - 1;
                    select(
                        &tx,
                        &format!(
                            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id BETWEEN $1 AND $2
                             ORDER BY e.id DESC"
                        ),
                        &[&((first + low) as i64), &((first + high) as i64)],
                    )
                    .await?
                }
            };
            (total, entries)
        }
        (None, Some(term)) => {
            let (matching, others): (Vec<_>, Vec<_>) = dictionary(&tx)
                .await?
                .into_iter()
                .partition(|action| term.matches(&action.name));
            let matching = Actions {
                ids: matching.iter().map(|a| a.id).collect(),
                count: matching.iter().map(|a| a.count).sum(),
                pruned: matching.iter().map(|a| a.pruned).sum(),
                others: others.iter().map(|a| a.id).collect(),
            };
            search_page(&tx, &matching, as_of, newest, window).await?
        }
        (Some(account), None) => account_page(&tx, account, as_of, newest, window).await?,
        (Some(account), Some(term)) => {
            let matching: Vec<i32> = dictionary(&tx)
                .await?
                .into_iter()
                .filter(|action| term.matches(&action.name))
                .map(|action| action.id)
                .collect();
            account_search_page(&tx, account, &matching, as_of, window).await?
        }
    };
    tx.commit().await.db()?;
    Ok(Page::new(entries, opts, total, as_of))
}

/// The actions a search term matches, and the rest of the dictionary.
struct Actions {
    ids: Vec<i32>,
    /// Entries of the matching actions in the whole log.
    count: u64,
    /// Entries of the matching actions the prunes removed.
    pruned: u64,
    others: Vec<i32>,
}

/// Pages at most this deep (offset + per page) are read from the newest match down;
/// deeper ones first locate their newest entry by rank.
const SHALLOW: u64 = 1000;
/// Most index entries a merge of several actions reads for a shallow page; beyond, the
/// page's newest entry is located by rank first.
const MERGE_LIMIT: u64 = 20_000;
/// Index probes per round trip when locating a rank: each counting point costs one
/// probe per action counted, so the more actions, the fewer points (down to a binary
/// search), up to 16.
const PROBES: u64 = 64;

/// A search page. Each action numbers its entries 1, 2, 3 … (`action_seq`), so the
/// number of an action's entries at or below any id is one index probe; the total at
/// `as_of` is their sum over the matching actions, and for one action a page is a range
/// of those numbers. For several, a shallow page is read newest first; a deep one
/// first finds the id of its newest entry by a search over ids, counting with those
/// probes, then reads down from there: its cost does not grow with the page number.
async fn search_page<C: GenericClient>(
    client: &C,
    matching: &Actions,
    as_of: u64,
    head: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    let ids = &matching.ids;
    if ids.is_empty() {
        return Ok((0, Vec::new()));
    }
    let total = if as_of == head {
        // The dictionary's counts are exact in this snapshot.
        matching.count
    } else {
        counts_at(client, ids, &[as_of as i64]).await?[0]
    };
    let Some((low, high)) = window.ranks(total) else {
        return Ok((total, Vec::new()));
    };
    if let [action] = ids[..] {
        // Its sequence numbers count the pruned entries too (the oldest ones).
        let (low, high) = (low + matching.pruned, high + matching.pruned);
        let entries = select(
            client,
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e
                 WHERE e.action_id = $1 AND e.action_seq BETWEEN $2 AND $3
                 ORDER BY e.action_seq DESC"
            ),
            &[&action, &(low as i64), &(high as i64)],
        )
        .await?;
        return Ok((total, entries));
    }
    // Dense matches are met soonest walking the log down; sparse ones by merging each
    // action's own index.
    let dense = matching.count.saturating_mul(10) >= head;
    let depth = window.offset + window.per_page;
    // Merging reads up to `depth` ids from each action's index.
    let shallow = depth <= SHALLOW && (dense || ids.len() as u64 * depth <= MERGE_LIMIT);
    let entries = if shallow {
        newest_matches(client, ids, dense, as_of, window.offset, window.per_page).await?
    } else {
        let top = id_of_rank(client, matching, as_of, high).await?;
        newest_matches(client, ids, dense, top, 0, high - low + 1).await?
    };
    Ok((total, entries))
}

/// For each of `at`: how many entries of `actions` have ids at or below it. An
/// action's newest sequence number there counts its pruned entries too (the oldest
/// ones), unless none of its entries is left there.
async fn counts_at<C: GenericClient>(client: &C, actions: &[i32], at: &[i64]) -> Result<Vec<u64>> {
    let stmt = client
        .prepare_cached(
            "SELECT coalesce((
                 SELECT sum(s.seq - a.pruned) FROM actions a
                 CROSS JOIN LATERAL (
                     SELECT action_seq AS seq FROM entries
                     WHERE action_id = a.id AND id <= x.at
                     ORDER BY id DESC LIMIT 1
                 ) s
                 WHERE a.id = ANY($1)
             ), 0)::bigint
             FROM unnest($2::bigint[]) WITH ORDINALITY AS x(at, n)
             ORDER BY x.n",
        )
        .await
        .db()?;
    Ok(client
        .query(&stmt, &[&actions, &at])
        .await
        .db()?
        .iter()
        .map(|row| row.get::<_, i64>(0) as u64)
        .collect())
}

/// The id of the match of (1-based, oldest-first) `rank`, which is at most the number
/// of matches at or below `as_of`: the smallest id with `rank` matches at or below it.
/// Counted through the matching actions, or through the others when they are fewer
/// (ids are dense, so the matches below an id are the entries less the others).
async fn id_of_rank<C: GenericClient>(
    client: &C,
    matching: &Actions,
    as_of: u64,
    rank: u64,
) -> Result<u64> {
    let stmt = client
        .prepare_cached("SELECT min(id) FROM entries")
        .await
        .db()?;
    let oldest = client
        .query_one(&stmt, &[])
        .await
        .db()?
        .get::<_, Option<i64>>(0)
        .map_or(1, |id| id as u64);
    let by_others = matching.others.len() < matching.ids.len();
    let counted = matching.others.len().min(matching.ids.len()).max(1) as u64;
    let points = (PROBES / counted).clamp(1, 16);
    // Matches at or below `lo` are fewer than `rank`; at or below `hi`, enough.
    let (mut lo, mut hi) = (oldest - 1, as_of);
    while hi - lo > 1 {
        let step = (hi - lo).div_ceil(points + 1);
        let points: Vec<i64> = (1..=points)
            .map(|k| lo + k * step)
            .take_while(|&p| p < hi)
            .map(|p| p as i64)
            .collect();
        let counts = if by_others {
            counts_at(client, &matching.others, &points)
                .await?
                .into_iter()
                .zip(&points)
                .map(|(others, &p)| (p as u64 + 1 - oldest) - others)
                .collect()
        } else {
            counts_at(client, &matching.ids, &points).await?
        };
        match counts.iter().position(|&n| n >= rank) {
            Some(0) => hi = points[0] as u64,
            Some(i) => (lo, hi) = (points[i - 1] as u64, points[i] as u64),
            None => lo = *points.last().expect("a point between lo and hi") as u64,
        }
    }
    Ok(hi)
}

/// The matches at or below id `top`, newest first, skipping `skip` and taking `take`.
async fn newest_matches<C: GenericClient>(
    client: &C,
    actions: &[i32],
    dense: bool,
    top: u64,
    skip: u64,
    take: u64,
) -> Result<Vec<Entry>> {
    let (top, skip, take) = (top as i64, skip as i64, take as i64);
    if dense {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e
             WHERE e.action_id = ANY($1) AND e.id <= $2
             ORDER BY e.id DESC LIMIT $3 OFFSET $4"
        );
        return select(client, &sql, &[&actions, &top, &take, &skip]).await;
    }
    // The newest `skip + take` of each action (a bounded index scan apiece), merged
    // by id.
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id IN (
             SELECT m.id FROM unnest($1::integer[]) AS a(id)
             CROSS JOIN LATERAL (
                 SELECT id FROM entries
                 WHERE action_id = a.id AND id <= $2
                 ORDER BY id DESC LIMIT $5
             ) m
             ORDER BY m.id DESC LIMIT $3 OFFSET $4
         )
         ORDER BY e.id DESC"
    );
    select(
        client,
        &sql,
        &[&actions, &top, &take, &skip, &(skip + take)],
    )
    .await
}

/// An account page: each account numbers its entries 1, 2, 3 … (`account_seq`), so a
/// page is a range of those numbers and the total is the newest number.
async fn account_page<C: GenericClient>(
    client: &C,
    account: &str,
    as_of: u64,
    head: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    // Sequence numbers count pruned entries too (the oldest ones): `pruned` of them.
    let stmt = client
        .prepare_cached("SELECT count, pruned FROM accounts WHERE account_id = $1")
        .await
        .db()?;
    let (count, pruned): (i64, i64) = client
        .query_opt(&stmt, &[&account])
        .await
        .db()?
        .map_or((0, 0), |r| (r.get(0), r.get(1)));
    let newest_seq: Option<i64> = if as_of == head {
        Some(count)
    } else {
        let stmt = client
            .prepare_cached(
                "SELECT account_seq FROM entries WHERE account_id = $1 AND id <= $2
                 ORDER BY id DESC LIMIT 1",
            )
            .await
            .db()?;
        client
            .query_opt(&stmt, &[&account, &(as_of as i64)])
            .await
            .db()?
            .map(|r| r.get(0))
    };
    let total = newest_seq.map_or(0, |seq| (seq - pruned).max(0)) as u64;
    let pruned = pruned as u64;
    let entries = match window.ranks(total) {
        None => Vec::new(),
        // Sequence numbers count the pruned (oldest) entries too.
        Some((low, high)) => account_range(client, account, low + pruned, high + pruned).await?,
    };
    Ok((total, entries))
}

/// The numbers of `account`'s oldest and newest entries (each account numbers its
/// entries 1, 2, 3 …), read from its index; `None` when it has none.
pub(super) async fn account_seqs(client: &Client, account: &str) -> Result<Option<(u64, u64)>> {
    let stmt = client
        .prepare_cached(
            "SELECT min(account_seq), max(account_seq) FROM entries WHERE account_id = $1",
        )
        .await
        .db()?;
    let row = client.query_one(&stmt, &[&account]).await.db()?;
    let (low, high): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
    Ok(low.zip(high).map(|(low, high)| (low as u64, high as u64)))
}

/// `account`'s entries numbered `low..=high`, newest first.
pub(super) async fn account_range<C: GenericClient>(
    client: &C,
    account: &str,
    low: u64,
    high: u64,
) -> Result<Vec<Entry>> {
    select(
        client,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e
             WHERE e.account_id = $1 AND e.account_seq BETWEEN $2 AND $3
             ORDER BY e.account_seq DESC"
        ),
        &[
            &account,
            &(low.min(i64::MAX as u64) as i64),
            &(high.min(i64::MAX as u64) as i64),
        ],
    )
    .await
}

/// An account's entries filtered by action: counted over the account's own entries.
async fn account_search_page<C: GenericClient>(
    client: &C,
    account: &str,
    matching: &[i32],
    as_of: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    if matching.is_empty() {
        return Ok((0, Vec::new()));
    }
    let cond = "e.account_id = $1 AND e.id <= $2 AND e.action_id = ANY($3)";
    let stmt = client
        .prepare_cached(&format!("SELECT count(*) FROM entries e WHERE {cond}"))
        .await
        .db()?;
    let total = client
        .query_one(&stmt, &[&account, &(as_of as i64), &matching])
        .await
        .db()?
        .get::<_, i64>(0) as u64;
    if window.offset >= total {
        return Ok((total, Vec::new()));
    }
    let entries = select(
        client,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE {cond}
             ORDER BY e.id DESC LIMIT $4 OFFSET $5"
        ),
        &[
            &account,
            &(as_of as i64),
            &matching,
            &(window.per_page as i64),
            &(window.offset as i64),
        ],
    )
    .await?;
    Ok((total, entries))
}

/// Distinct matching actions with their counts, ranked for a typeahead.
pub(super) async fn actions(
    client: &Client,
    term: Option<&Term>,
    limit: u64,
) -> Result<Vec<ActionCount>> {
    let actions = dictionary(client).await?.into_iter().map(|a| ActionCount {
        action: a.name,
        count: a.count,
    });
    Ok(suggestions(term, actions, limit))
}

/// Distinct actions among `account`'s entries matching `term`, with their counts
/// there, ranked for a typeahead. Counts the account's entries (by its index).
pub(super) async fn account_actions(
    client: &Client,
    account: &str,
    term: Option<&Term>,
    limit: u64,
) -> Result<Vec<ActionCount>> {
    let stmt = client
        .prepare_cached(
            "SELECT a.name, c.n FROM (
                 SELECT action_id, count(*) AS n FROM entries
                 WHERE account_id = $1 GROUP BY action_id
             ) c JOIN actions a ON a.id = c.action_id",
        )
        .await
        .db()?;
    let actions = client
        .query(&stmt, &[&account])
        .await
        .db()?
        .iter()
        .map(|row| ActionCount {
            action: row.get(0),
            count: row.get::<_, i64>(1) as u64,
        })
        .collect::<Vec<_>>();
    Ok(suggestions(term, actions, limit))
}

/// Up to `limit` entries with ids above `after`, oldest first, optionally only those
/// of `account`: one step of a keyset walk forward (live tail, export).
pub(super) async fn entries_after<C: GenericClient>(
    client: &C,
    after: u64,
    limit: u64,
    account: Option<&str>,
) -> Result<Vec<Entry>> {
    let after = after.min(i64::MAX as u64) as i64;
    let limit = limit.min(i64::MAX as u64) as i64;
    let sql = crate::store::for_postgres(&crate::store::entries_after_sql(
        ENTRY_COLUMNS,
        account.is_some(),
    ));
    match account {
        None => select(client, &sql, &[&after, &limit]).await,
        Some(account) => select(client, &sql, &[&after, &limit, &account]).await,
    }
}
