//! Read queries. A page reads its totals and its entries in one `REPEATABLE READ`
//! snapshot; the other reads are single statements.

use deadpool_postgres::{Client, GenericClient};
use time::UtcOffset;
use tokio_postgres::IsolationLevel;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::merkle::{Frontier, to_hex};
use crate::query::{ActionCount, Page, Recent, Term, rank_suggestions};
use crate::store::Filter;

/// Columns of an entry, in the order `entry_from_row` reads them; `e` is `entries`.
/// The metadata is read as the text that was stored, so it parses back to exactly the
/// value that was hashed.
const ENTRY_COLUMNS: &str = "e.id, e.inserted_at, e.actor_type, e.actor_id,
    (SELECT name FROM actions WHERE id = e.action_id), e.resource_type, e.resource_id,
    e.account_id, e.metadata::text, e.hash";

fn entry_from_row(row: &Row) -> Result<Entry> {
    let metadata: &str = row.get(8);
    let hash: &[u8] = row.get(9);
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
        metadata: serde_json::from_str(metadata)
            .map_err(|e| Error::Storage(format!("stored metadata is unreadable: {e}")))?,
        hash: to_hex(hash),
    })
}

async fn select<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Entry>> {
    let stmt = client.prepare_cached(sql).await?;
    client
        .query(&stmt, params)
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
}

/// The newest id, 0 for an empty log.
pub(super) async fn head<C: GenericClient>(client: &C) -> Result<u64> {
    let stmt = client
        .prepare_cached("SELECT next_id - 1 FROM log_head WHERE id = 1")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.get::<_, i64>(0) as u64)
}

/// The stored tree frontier.
pub(super) async fn frontier(client: &Client) -> Result<Frontier> {
    let stmt = client
        .prepare_cached("SELECT frontier FROM log_head WHERE id = 1")
        .await?;
    let row = client.query_one(&stmt, &[]).await?;
    Frontier::from_bytes(row.get(0))
        .map_err(|e| Error::Storage(format!("the stored tree frontier is unreadable: {e}")))
}

/// The action dictionary: id, name and entry count of every action.
async fn dictionary<C: GenericClient>(client: &C) -> Result<Vec<(i32, String, u64)>> {
    let stmt = client
        .prepare_cached("SELECT id, name, count FROM actions")
        .await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get::<_, i64>(2) as u64))
        .collect())
}

/// Which slice of a newest-first listing a page wants.
#[derive(Debug, Clone, Copy)]
struct Window {
    offset: u64,
    per_page: u64,
}

impl Window {
    /// The page as oldest-first ranks `low..=high` (1-based) among `total` matches;
    /// `None` past the end.
    fn ranks(self, total: u64) -> Option<(u64, u64)> {
        if self.offset >= total {
            return None;
        }
        let high = total - self.offset;
        Some((high.saturating_sub(self.per_page - 1).max(1), high))
    }
}

/// One page of entries matching `filter`, newest first, with exact totals.
pub(super) async fn page(client: &mut Client, filter: &Filter, opts: &Recent) -> Result<Page> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let newest = head(&tx).await?;
    let as_of = opts.as_of.map_or(newest, |pin| pin.min(newest));
    let window = Window {
        offset: opts.offset(),
        per_page: opts.per_page,
    };
    let (total, entries) = match (&filter.account, &filter.term) {
        (None, None) => {
            // Ids are dense above the oldest one, so the page is an id range.
            let stmt = tx.prepare_cached("SELECT min(id) FROM entries").await?;
            let oldest = tx
                .query_one(&stmt, &[])
                .await?
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
            let matching: Vec<(i32, u64)> = dictionary(&tx)
                .await?
                .into_iter()
                .filter(|(_, name, _)| term.matches(name))
                .map(|(id, _, count)| (id, count))
                .collect();
            search_page(&tx, &matching, as_of, newest, window).await?
        }
        (Some(account), None) => account_page(&tx, account, as_of, newest, window).await?,
        (Some(account), Some(term)) => {
            let matching: Vec<i32> = dictionary(&tx)
                .await?
                .into_iter()
                .filter(|(_, name, _)| term.matches(name))
                .map(|(id, _, _)| id)
                .collect();
            account_search_page(&tx, account, &matching, as_of, window).await?
        }
    };
    tx.commit().await?;
    Ok(Page::new(entries, opts, total, as_of))
}

/// A search page. Each action numbers its entries 1, 2, 3 … (`action_seq`), so the
/// total at `as_of` is the sum of each matching action's newest number at or below it,
/// and for one action a page is a range of those numbers.
async fn search_page<C: GenericClient>(
    client: &C,
    matching: &[(i32, u64)],
    as_of: u64,
    head: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    if matching.is_empty() {
        return Ok((0, Vec::new()));
    }
    let ids: Vec<i32> = matching.iter().map(|&(id, _)| id).collect();
    let total = if as_of == head {
        // The dictionary's counts are exact in this snapshot.
        matching.iter().map(|&(_, count)| count).sum()
    } else {
        let stmt = client
            .prepare_cached(
                "SELECT coalesce(sum(s.seq), 0)::bigint
                 FROM unnest($1::integer[]) AS a(id)
                 CROSS JOIN LATERAL (
                     SELECT action_seq AS seq FROM entries
                     WHERE action_id = a.id AND id <= $2
                     ORDER BY id DESC LIMIT 1
                 ) s",
            )
            .await?;
        client
            .query_one(&stmt, &[&ids, &(as_of as i64)])
            .await?
            .get::<_, i64>(0) as u64
    };
    let Some((low, high)) = window.ranks(total) else {
        return Ok((total, Vec::new()));
    };
    let entries = if let [action] = ids[..] {
        select(
            client,
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e
                 WHERE e.action_id = $1 AND e.action_seq BETWEEN $2 AND $3
                 ORDER BY e.action_seq DESC"
            ),
            &[&action, &(low as i64), &(high as i64)],
        )
        .await?
    } else {
        // Several actions: the newest `offset + per_page` matches come from each
        // action's own index (a bounded scan apiece), merged by id.
        let stmt = format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id IN (
                 SELECT m.id FROM unnest($1::integer[]) AS a(id)
                 CROSS JOIN LATERAL (
                     SELECT id FROM entries
                     WHERE action_id = a.id AND id <= $2
                     ORDER BY id DESC LIMIT $3
                 ) m
                 ORDER BY m.id DESC LIMIT $4 OFFSET $5
             )
             ORDER BY e.id DESC"
        );
        let depth = (window.offset + window.per_page) as i64;
        select(
            client,
            &stmt,
            &[
                &ids,
                &(as_of as i64),
                &depth,
                &(window.per_page as i64),
                &(window.offset as i64),
            ],
        )
        .await?
    };
    Ok((total, entries))
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
    let total: Option<i64> = if as_of == head {
        let stmt = client
            .prepare_cached("SELECT count FROM accounts WHERE account_id = $1")
            .await?;
        client
            .query_opt(&stmt, &[&account])
            .await?
            .map(|r| r.get(0))
    } else {
        let stmt = client
            .prepare_cached(
                "SELECT account_seq FROM entries WHERE account_id = $1 AND id <= $2
                 ORDER BY id DESC LIMIT 1",
            )
            .await?;
        client
            .query_opt(&stmt, &[&account, &(as_of as i64)])
            .await?
            .map(|r| r.get(0))
    };
    let total = total.unwrap_or(0) as u64;
    let entries = match window.ranks(total) {
        None => Vec::new(),
        Some((low, high)) => {
            select(
                client,
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e
                     WHERE e.account_id = $1 AND e.account_seq BETWEEN $2 AND $3
                     ORDER BY e.account_seq DESC"
                ),
                &[&account, &(low as i64), &(high as i64)],
            )
            .await?
        }
    };
    Ok((total, entries))
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
        .await?;
    let total = client
        .query_one(&stmt, &[&account, &(as_of as i64), &matching])
        .await?
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
    let mut list: Vec<ActionCount> = dictionary(client)
        .await?
        .into_iter()
        .filter(|(_, name, count)| *count > 0 && term.is_none_or(|t| t.matches(name)))
        .map(|(_, action, count)| ActionCount { action, count })
        .collect();
    rank_suggestions(term, &mut list);
    list.truncate(limit as usize);
    Ok(list)
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
        .await?;
    let mut list: Vec<ActionCount> = client
        .query(&stmt, &[&account])
        .await?
        .iter()
        .map(|row| ActionCount {
            action: row.get(0),
            count: row.get::<_, i64>(1) as u64,
        })
        .filter(|a| term.is_none_or(|t| t.matches(&a.action)))
        .collect();
    rank_suggestions(term, &mut list);
    list.truncate(limit as usize);
    Ok(list)
}

/// Up to `limit` entries of `account` with ids below `below`, newest first: one step
/// of a keyset walk over every entry of an account.
pub(super) async fn account_chunk(
    client: &Client,
    account: &str,
    below: u64,
    limit: u64,
) -> Result<Vec<Entry>> {
    select(
        client,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.account_id = $1 AND e.id < $2
             ORDER BY e.id DESC LIMIT $3"
        ),
        &[
            &account,
            &(below.min(i64::MAX as u64) as i64),
            &(limit.min(i64::MAX as u64) as i64),
        ],
    )
    .await
}

/// Up to `limit` entries with ids above `after`, oldest first, optionally only those
/// of `account`: one step of a keyset walk forward (live tail, export).
pub(super) async fn entries_after(
    client: &Client,
    after: u64,
    limit: u64,
    account: Option<&str>,
) -> Result<Vec<Entry>> {
    let after = after.min(i64::MAX as u64) as i64;
    let limit = limit.min(i64::MAX as u64) as i64;
    match account {
        None => {
            select(
                client,
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id > $1
                     ORDER BY e.id LIMIT $2"
                ),
                &[&after, &limit],
            )
            .await
        }
        Some(account) => {
            select(
                client,
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.account_id = $1 AND e.id > $2
                     ORDER BY e.id LIMIT $3"
                ),
                &[&account, &after, &limit],
            )
            .await
        }
    }
}
