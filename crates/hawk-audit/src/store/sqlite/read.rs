//! Read queries, each run inside one read transaction (one snapshot), so a page and its
//! totals describe the same log.
//!
//! No page is found with `OFFSET` or counted with `count(*)` over the log:
//!
//! - Unfiltered: ids are dense above the oldest (pruned) one, so page *p* is the id
//!   range below `as_of − offset`, and the total is `as_of − oldest + 1`.
//! - By account: each account numbers its entries 1, 2, 3 … (`account_seq`, written by
//!   the writer) and `accounts` holds how many it ever had and how many a prune removed.
//!   A page is a range of sequence numbers; the total at `as_of` is the newest number at
//!   or below it, less the pruned ones. The range is read from
//!   `entries_by_account_history`, an index holding every column, so a page or a
//!   streamed account reads the account's own index pages in order and never the table,
//!   where its entries lie scattered (the busiest account of the reference workload has
//!   one row in forty). Actions are named from the in-memory dictionary of `index`. The
//!   price is space: account entries are stored twice.
//! - By search term: the term is matched in Rust (`Term`, Unicode lowercase, literally)
//!   against the dictionary, giving a set of actions. The total is the sum of their
//!   counts over the complete blocks of `BLOCK` ids (the in-memory `index`) plus the
//!   newest, incomplete block read from the snapshot. The *k*-th match is found by a
//!   binary search over blocks, then inside one block by seeking each matching action in
//!   `entries_by_action` (up to `SEEK_LIMIT` of them) or by scanning the block. A page
//!   touches one or two blocks. Block counts keep counting pruned entries; those are the
//!   oldest, so ranks are shifted past them.
//! - An account and a term together are counted over that account's entries only.

use std::collections::HashSet;
use std::sync::{RwLock, RwLockReadGuard};

use rusqlite::{Connection, OptionalExtension, Row, ToSql};

use super::index::{ActionIndex, ActionSet};
use super::schema::BLOCK;
use crate::entry::{Entry, metadata_from_json, time_from_micros};
use crate::error::{DbResult, Error, Result};
use crate::merkle::{Frontier, to_hex};
use crate::query::{ActionCount, Page, Recent, Term, suggestions};
use crate::store::Filter;
use crate::store::pending::Window;

/// Columns of an entry, in the order `entry_from_row` reads them, with `$action` (an
/// expression over `e`) giving the action.
macro_rules! entry_columns {
    ($action:literal) => {
        concat!(
            "e.id, e.inserted_at, e.actor_type, e.actor_id, ",
            $action,
            ", e.resource_type, e.resource_id, e.account_id, e.metadata, e.hash"
        )
    };
}

/// Columns of an entry. The action name is a scalar subquery rather than a join so
/// the planner always walks `entries` by index.
pub(super) const ENTRY_COLUMNS: &str =
    entry_columns!("(SELECT name FROM actions WHERE id = e.action_id)");

/// Columns of an entry with the action's id in place of its name, for long reads
/// that name actions from the dictionary in memory: the subquery per row would
/// double what SQLite spends on each.
const ENTRY_COLUMNS_ACTION_ID: &str = entry_columns!("e.action_id");

/// An entry from a row of `ENTRY_COLUMNS`; a row not hashed yet (only while the
/// migration that adds hashes runs) gets an empty `hash`.
pub(super) fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    entry_with_action(row, row.get(4)?)
}

/// An entry from a row of `ENTRY_COLUMNS_ACTION_ID`, naming its action from `index`.
fn entry_from_row_named(row: &Row<'_>, index: &ActionIndex) -> rusqlite::Result<Entry> {
    let id: i64 = row.get(4)?;
    let Some(action) = index.name(id) else {
        let missing = format!("action {id} is not in the dictionary");
        return Err(rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Integer,
            missing.into(),
        ));
    };
    entry_with_action(row, action.to_owned())
}

fn entry_with_action(row: &Row<'_>, action: String) -> rusqlite::Result<Entry> {
    let metadata = row.get_ref(8)?.as_str()?;
    let hash = row.get_ref(9)?.as_blob_or_null()?;
    Ok(Entry {
        id: row.get::<_, i64>(0)? as u64,
        inserted_at: time_from_micros(row.get(1)?),
        actor_type: row.get(2)?,
        actor_id: row.get(3)?,
        action,
        resource_type: row.get(5)?,
        resource_id: row.get(6)?,
        account_id: row.get(7)?,
        metadata: metadata_from_json(metadata).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        hash: hash.map(to_hex).unwrap_or_default(),
    })
}

/// The stored tree frontier (the empty tree when none is stored).
pub(super) fn frontier(conn: &Connection) -> Result<Frontier> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM tree_frontier WHERE id = 1")
        .db()?
        .query_row([], |row| row.get(0))
        .optional()
        .db()?;
    match bytes {
        None => Ok(Frontier::new()),
        Some(bytes) => Frontier::from_bytes(&bytes).map_err(|e| {
            Error::storage_from(format!("the stored tree frontier is unreadable: {e}"), e)
        }),
    }
}

/// The newest id, 0 for an empty log.
pub(super) fn head(conn: &Connection) -> Result<u64> {
    Ok(bound(conn, "DESC").db()?.unwrap_or(0))
}

fn bound(conn: &Connection, order: &str) -> rusqlite::Result<Option<u64>> {
    let sql = format!("SELECT id FROM entries ORDER BY id {order} LIMIT 1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([], |row| row.get::<_, i64>(0))
        .optional()?
        .map(|id| id as u64))
}

struct DictEntry {
    name: String,
    count: u64,
}

fn dictionary(conn: &Connection) -> rusqlite::Result<Vec<DictEntry>> {
    let mut stmt = conn.prepare_cached("SELECT name, count FROM actions")?;
    let rows = stmt.query_map([], |row| {
        Ok(DictEntry {
            name: row.get(0)?,
            count: row.get::<_, i64>(1)? as u64,
        })
    })?;
    rows.collect::<rusqlite::Result<_>>()
}

/// One page of entries matching `filter`, newest first, with exact totals.
pub(super) fn page(
    conn: &Connection,
    index: &RwLock<ActionIndex>,
    filter: &Filter,
    opts: &Recent,
) -> Result<Page> {
    let newest = head(conn)?;
    let as_of = opts.as_of.map_or(newest, |pin| pin.min(newest));
    let window = Window {
        offset: opts.offset(),
        per_page: opts.per_page,
    };
    // Ids below the oldest were pruned; a pin at or below it sees nothing.
    let oldest = bound(conn, "ASC").db()?.unwrap_or(1);
    if as_of < oldest {
        return Ok(Page::new(Vec::new(), opts, 0, as_of));
    }
    let (total, entries) = match (&filter.account, &filter.term) {
        (None, None) => {
            // Ids are dense above the oldest one, so the page is an id range.
            let total = (as_of + 1).saturating_sub(oldest);
            let entries = match window.ranks(total) {
                None => Vec::new(),
                Some((low, high)) => {
                    let sql = format!(
                        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id BETWEEN ?1 AND ?2
                         ORDER BY e.id DESC"
                    );
                    let first = oldest - 1;
                    select(
                        conn,
                        &sql,
                        &[&((first + low) as i64), &((first + high) as i64)],
                    )?
                }
            };
            (total, entries)
        }
        (None, Some(term)) => {
            let index = fresh_index(conn, index, newest)?;
            let matching = matching_ids(&index, term);
            search_page(conn, &index, &matching, as_of, newest, oldest, window)?
        }
        (Some(account), None) => account_page(conn, index, account, as_of, newest, window)?,
        (Some(account), Some(term)) => {
            let index = fresh_index(conn, index, newest)?;
            let matching = matching_ids(&index, term);
            account_search_page(conn, account, &matching, as_of, window)?
        }
    };
    Ok(Page::new(entries, opts, total, as_of))
}

/// The action index, brought up to `head` of this snapshot first if needed.
fn fresh_index<'a>(
    conn: &Connection,
    index: &'a RwLock<ActionIndex>,
    head: u64,
) -> Result<RwLockReadGuard<'a, ActionIndex>> {
    fresh(
        index,
        |index| index.is_fresh(conn, head),
        |index| index.refresh(conn, head),
    )
}

/// The action index with every action name of this snapshot (its counts may lag).
fn fresh_names<'a>(
    conn: &Connection,
    index: &'a RwLock<ActionIndex>,
) -> Result<RwLockReadGuard<'a, ActionIndex>> {
    fresh(
        index,
        |index| index.has_names(conn),
        |index| index.refresh_names(conn),
    )
}

/// The index for reading, after `refresh` if `is_fresh` says it lags.
fn fresh<'a>(
    index: &'a RwLock<ActionIndex>,
    is_fresh: impl FnOnce(&ActionIndex) -> Result<bool>,
    refresh: impl FnOnce(&mut ActionIndex) -> Result<()>,
) -> Result<RwLockReadGuard<'a, ActionIndex>> {
    {
        let current = index.read().unwrap_or_else(|e| e.into_inner());
        if is_fresh(&current)? {
            return Ok(current);
        }
    }
    refresh(&mut index.write().unwrap_or_else(|e| e.into_inner()))?;
    Ok(index.read().unwrap_or_else(|e| e.into_inner()))
}

fn matching_ids(index: &ActionIndex, term: &Term) -> Vec<i64> {
    index
        .names()
        .iter()
        .filter(|a| term.matches_lowercase(a.lower()))
        .map(|a| a.id)
        .collect()
}

/// A search page: the total from block counts, then the page's entries located by
/// rank, one block at a time, reading only the ids of matching actions.
fn search_page(
    conn: &Connection,
    index: &ActionIndex,
    matching: &[i64],
    as_of: u64,
    head: u64,
    oldest: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    if matching.is_empty() {
        return Ok((0, Vec::new()));
    }
    // Blocks 0..full lie wholly at or below `as_of`; the tail after them is read from
    // this snapshot. Counts and ranks here include pruned entries (the oldest ones, so
    // the lowest ranks): the page's ranks are shifted past them.
    let full = as_of / BLOCK;
    let wanted: HashSet<i64> = matching.iter().copied().collect();
    let set = index.action_set(matching);
    let tail = tail_counts(conn, &wanted, full, as_of, head, oldest)?;
    let before_tail = index.count_before(&set, full);
    let total = before_tail + tail.iter().map(|(_, n)| n).sum::<u64>();
    let pruned = pruned_count(conn, &set, oldest)?;
    let Some((low, high)) = window.ranks(total - pruned) else {
        return Ok((total - pruned, Vec::new()));
    };
    let (low, high) = (low + pruned, high + pruned);
    let mut ids = Vec::with_capacity(window.per_page as usize);
    let mut rank = high;
    while rank >= low {
        let (block, before, count, present) = if rank > before_tail {
            let present = tail.iter().map(|&(a, _)| a).collect();
            (full, before_tail, total - before_tail, Some(present))
        } else {
            let block = index.block_of_rank(&set, rank, full) - 1;
            let before = index.count_before(&set, block);
            let count = index.count_before(&set, block + 1) - before;
            (block, before, count, index.present_in(&set, block))
        };
        // With a few actions, one ranged seek reads every block down to the one
        // holding `low` (a sparse term would otherwise take a step per match).
        let (first_block, before, count, present) = match &set {
            ActionSet::Only(actions) if actions.len() <= SEEK_LIMIT && low <= before => {
                let low_block = index.block_of_rank(&set, low, full) - 1;
                let low_before = index.count_before(&set, low_block);
                let count = before + count - low_before;
                (low_block, low_before, count, Some(actions.clone()))
            }
            _ => (block, before, count, present),
        };
        // The matches read rank before+1 ..= before+count; walking them from the
        // top, skip those above `rank` and stop at `low`.
        let skip = (before + count - rank) as usize;
        let take = (before + count + 1 - low.max(before + 1)) as usize;
        let first_id = first_block * BLOCK + 1;
        let last_id = ((block + 1) * BLOCK).min(as_of);
        let newest_first = ids_in_block(conn, present, &wanted, first_id, last_id, take).db()?;
        if newest_first.len() != take {
            return Err(Error::storage(format!(
                "action index out of step with block {block}; reopen the log"
            )));
        }
        ids.extend_from_slice(&newest_first[skip..]);
        rank = before;
    }
    Ok((total - pruned, entries_by_ids(conn, &ids)?))
}

/// How many entries of the set the prunes removed (all of ids `1..oldest`).
fn pruned_count(conn: &Connection, set: &ActionSet, oldest: u64) -> Result<u64> {
    if oldest <= 1 {
        return Ok(0);
    }
    let (actions, complement) = match set {
        ActionSet::Only(actions) => (actions, false),
        ActionSet::AllBut(others) => (others, true),
    };
    let listed: i64 = conn
        .query_row(
            &format!(
                "SELECT coalesce(sum(count), 0) FROM pruned_actions WHERE action_id IN ({})",
                id_list(actions)
            ),
            [],
            |row| row.get(0),
        )
        .db()?;
    Ok(if complement {
        oldest - 1 - listed as u64
    } else {
        listed as u64
    })
}

/// Matching actions' counts among ids `full * BLOCK + 1 ..= as_of`.
fn tail_counts(
    conn: &Connection,
    wanted: &HashSet<i64>,
    full: u64,
    as_of: u64,
    head: u64,
    oldest: u64,
) -> Result<Vec<(i64, u64)>> {
    if as_of == full * BLOCK {
        return Ok(Vec::new());
    }
    let counts = if as_of == head {
        // The newest block's counts are kept exact with every commit.
        pairs(
            conn,
            "SELECT action_id, count FROM action_blocks WHERE block = ?1",
            &[&(full as i64)],
        )?
    } else if oldest > full * BLOCK + 1 {
        // Part of the tail was pruned: its counts are the block's, which still include
        // the pruned entries, less the entries after `as_of`.
        let mut counts: std::collections::HashMap<i64, u64> = pairs(
            conn,
            "SELECT action_id, count FROM action_blocks WHERE block = ?1",
            &[&(full as i64)],
        )?
        .into_iter()
        .collect();
        let later = pairs(
            conn,
            "SELECT action_id, count(*) FROM entries WHERE id > ?1 AND id <= ?2
             GROUP BY action_id",
            &[&(as_of as i64), &(((full + 1) * BLOCK) as i64)],
        )?;
        for (action, n) in later {
            *counts.entry(action).or_default() -= n;
        }
        counts.into_iter().collect()
    } else {
        pairs(
            conn,
            "SELECT action_id, count(*) FROM entries WHERE id > ?1 AND id <= ?2
             GROUP BY action_id",
            &[&((full * BLOCK) as i64), &(as_of as i64)],
        )?
    };
    Ok(counts
        .into_iter()
        .filter(|(a, _)| wanted.contains(a))
        .collect())
}

fn pairs(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<(i64, u64)>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt
        .query_map(params, |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// The newest `take` ids in `first..=last` (one block) of entries with a `wanted`
/// action, newest first. When the block's matching actions are known and few
/// (`present`), each is sought in its own index; otherwise a pass down the block
/// filters rows and stops once it has `take`, with one statement for every term (so
/// it stays prepared).
fn ids_in_block(
    conn: &Connection,
    present: Option<Vec<i64>>,
    wanted: &HashSet<i64>,
    first: u64,
    last: u64,
    take: usize,
) -> rusqlite::Result<Vec<u64>> {
    let range = [first as i64, last as i64];
    if take == 0 {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(take);
    let seek = present.filter(|actions| actions.len() <= SEEK_LIMIT);
    let Some(actions) = seek else {
        let mut stmt = conn.prepare_cached(
            "SELECT id, action_id FROM entries WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC",
        )?;
        let mut rows = stmt.query(range)?;
        while ids.len() < take {
            let Some(row) = rows.next()? else { break };
            if wanted.contains(&row.get::<_, i64>(1)?) {
                ids.push(row.get::<_, i64>(0)? as u64);
            }
        }
        return Ok(ids);
    };
    if actions.is_empty() {
        return Ok(ids);
    }
    let sql = format!(
        "SELECT id FROM entries WHERE action_id IN ({}) AND id BETWEEN ?1 AND ?2
         ORDER BY id DESC LIMIT ?3",
        id_list(&actions)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([range[0], range[1], take as i64], |row| {
        row.get::<_, i64>(0)
    })?;
    for id in rows {
        ids.push(id? as u64);
    }
    Ok(ids)
}

/// Most actions a block lookup seeks one by one; beyond, it scans the block.
const SEEK_LIMIT: usize = 8;

/// The entries with these ids, in the order given (one cached point lookup each).
fn entries_by_ids(conn: &Connection, ids: &[u64]) -> Result<Vec<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id = ?1");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    ids.iter()
        .map(|&id| stmt.query_row([id as i64], entry_from_row).db())
        .collect()
}

/// An account page: each account numbers its entries 1, 2, 3 …, so a page is a
/// range of those numbers and the total is the newest number.
fn account_page(
    conn: &Connection,
    index: &RwLock<ActionIndex>,
    account: &str,
    as_of: u64,
    head: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    let (count, pruned) = account_counts(conn, account)?;
    let newest_seq: Option<u64> = if as_of == head {
        Some(count)
    } else {
        conn.prepare_cached(
            "SELECT account_seq FROM entries WHERE account_id = ?1 AND id <= ?2
             ORDER BY id DESC LIMIT 1",
        )
        .db()?
        .query_row(rusqlite::params![account, as_of as i64], |row| {
            row.get::<_, i64>(0)
        })
        .optional()
        .db()?
        .map(|seq| seq as u64)
    };
    let total = newest_seq.map_or(0, |seq| seq.saturating_sub(pruned));
    let entries = match window.ranks(total) {
        None => Vec::new(),
        Some((low, high)) => account_range(conn, index, account, low + pruned, high + pruned)?,
    };
    Ok((total, entries))
}

/// How many entries `account` ever had (so the newest one's number) and how many of
/// them were pruned (the oldest ones: sequence numbers count them too).
fn account_counts(conn: &Connection, account: &str) -> Result<(u64, u64)> {
    let counts: Option<(i64, i64)> = conn
        .prepare_cached("SELECT count, pruned FROM accounts WHERE account_id = ?1")
        .db()?
        .query_row([account], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .db()?;
    let (count, pruned) = counts.unwrap_or((0, 0));
    Ok((count as u64, pruned as u64))
}

/// The numbers of `account`'s oldest and newest entries; `None` when it has none.
pub(super) fn account_seqs(conn: &Connection, account: &str) -> Result<Option<(u64, u64)>> {
    let (count, pruned) = account_counts(conn, account)?;
    Ok((count > pruned).then_some((pruned + 1, count)))
}

/// `account`'s entries numbered `low..=high`, newest first: a walk down the account's
/// covering index (`entries_by_account_history`), never touching the table.
pub(super) fn account_range(
    conn: &Connection,
    index: &RwLock<ActionIndex>,
    account: &str,
    low: u64,
    high: u64,
) -> Result<Vec<Entry>> {
    let names = fresh_names(conn, index)?;
    let sql = format!(
        "SELECT {ENTRY_COLUMNS_ACTION_ID} FROM entries e
         WHERE e.account_id = ?1 AND e.account_seq BETWEEN ?2 AND ?3
         ORDER BY e.account_seq DESC"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let mut rows = stmt
        .query(rusqlite::params![
            account,
            low.min(i64::MAX as u64) as i64,
            high.min(i64::MAX as u64) as i64
        ])
        .db()?;
    // Sized up front: growing a vector of a few thousand entries copies it, and
    // allocations that large go back and forth to the system.
    let mut entries = Vec::with_capacity((high.saturating_sub(low) + 1).min(MAX_RANGE) as usize);
    while let Some(row) = rows.next().db()? {
        entries.push(entry_from_row_named(row, &names).db()?);
    }
    Ok(entries)
}

/// The most entries `account_range` reserves room for up front.
const MAX_RANGE: u64 = 10_000;

/// An account's entries filtered by action: counted over the account's own entries.
fn account_search_page(
    conn: &Connection,
    account: &str,
    matching: &[i64],
    as_of: u64,
    window: Window,
) -> Result<(u64, Vec<Entry>)> {
    if matching.is_empty() {
        return Ok((0, Vec::new()));
    }
    let cond = format!(
        "e.account_id = ?1 AND e.id <= ?2 AND e.action_id IN ({})",
        id_list(matching)
    );
    let total: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM entries e WHERE {cond}"),
            rusqlite::params![account, as_of as i64],
            |row| row.get(0),
        )
        .db()?;
    let total = total as u64;
    if window.offset >= total {
        return Ok((total, Vec::new()));
    }
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE {cond}
         ORDER BY e.id DESC LIMIT ?3 OFFSET ?4"
    );
    let entries = select(
        conn,
        &sql,
        &[
            &account,
            &(as_of as i64),
            &(window.per_page as i64),
            &(window.offset as i64),
        ],
    )?;
    Ok((total, entries))
}

/// Dictionary ids as an SQL list; they are integers the store made, never user text.
fn id_list(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    ids.join(",")
}

fn select(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params, entry_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Distinct matching actions with their counts, ranked for a typeahead.
pub(super) fn actions(
    conn: &Connection,
    term: Option<&Term>,
    limit: u64,
) -> Result<Vec<ActionCount>> {
    let actions = dictionary(conn).db()?.into_iter().map(|a| ActionCount {
        action: a.name,
        count: a.count,
    });
    Ok(suggestions(term, actions, limit))
}

/// Distinct actions among `account`'s entries matching `term`, with their counts
/// there, ranked for a typeahead. Counts the account's entries (by its index).
pub(super) fn account_actions(
    conn: &Connection,
    account: &str,
    term: Option<&Term>,
    limit: u64,
) -> Result<Vec<ActionCount>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT a.name, c.n FROM (
             SELECT action_id, count(*) AS n FROM entries
             WHERE account_id = ?1 GROUP BY action_id
         ) c JOIN actions a ON a.id = c.action_id",
        )
        .db()?;
    let rows = stmt
        .query_map([account], |row| {
            Ok(ActionCount {
                action: row.get(0)?,
                count: row.get::<_, i64>(1)? as u64,
            })
        })
        .db()?;
    let actions = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
    Ok(suggestions(term, actions, limit))
}

/// Up to `limit` entries with ids above `after`, oldest first, optionally only those
/// of `account`: one step of a keyset walk forward (live tail, export).
pub(super) fn entries_after(
    conn: &Connection,
    after: u64,
    limit: u64,
    account: Option<&str>,
) -> Result<Vec<Entry>> {
    let after = after.min(i64::MAX as u64) as i64;
    let limit = limit.min(i64::MAX as u64) as i64;
    let sql = crate::store::entries_after_sql(ENTRY_COLUMNS, account.is_some());
    match account {
        None => select(conn, &sql, &[&after, &limit]),
        Some(account) => select(conn, &sql, &[&after, &limit, &account]),
    }
}

/// Where the import of `source` stopped, if it ever ran.
pub(super) fn import_position(conn: &Connection, source: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT position FROM imports WHERE source = ?1")
        .db()?
        .query_row([source], |row| row.get(0))
        .optional()
        .db()
}
