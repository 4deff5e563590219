//! Read queries, each run inside one read transaction (one snapshot).

use rusqlite::{Connection, OptionalExtension, Row, ToSql};

use crate::entry::{Entry, time_from_micros};
use crate::error::Result;
use crate::query::{ActionCount, Page, Recent, Term, rank_suggestions};
use crate::store::Filter;

/// Columns of an entry, in the order `entry_from_row` reads them. The action name is a
/// scalar subquery rather than a join so the planner always walks `entries` by index.
const ENTRY_COLUMNS: &str = "e.id, e.inserted_at, e.actor_type, e.actor_id,
    (SELECT name FROM actions WHERE id = e.action_id), e.resource_type, e.resource_id,
    e.account_id, e.metadata";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let metadata: String = row.get(8)?;
    Ok(Entry {
        id: row.get::<_, i64>(0)? as u64,
        inserted_at: time_from_micros(row.get(1)?),
        actor_type: row.get(2)?,
        actor_id: row.get(3)?,
        action: row.get(4)?,
        resource_type: row.get(5)?,
        resource_id: row.get(6)?,
        account_id: row.get(7)?,
        metadata: serde_json::from_str(&metadata).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

/// The newest id, 0 for an empty log.
pub(super) fn head(conn: &Connection) -> Result<u64> {
    Ok(bound(conn, "DESC")?.unwrap_or(0))
}

fn bound(conn: &Connection, order: &str) -> Result<Option<u64>> {
    let sql = format!("SELECT id FROM entries ORDER BY id {order} LIMIT 1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([], |row| row.get::<_, i64>(0))
        .optional()?
        .map(|id| id as u64))
}

struct DictEntry {
    id: i64,
    name: String,
    count: u64,
}

fn dictionary(conn: &Connection) -> Result<Vec<DictEntry>> {
    let mut stmt = conn.prepare_cached("SELECT id, name, count FROM actions")?;
    let rows = stmt.query_map([], |row| {
        Ok(DictEntry {
            id: row.get(0)?,
            name: row.get(1)?,
            count: row.get::<_, i64>(2)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One page of entries matching `filter`, newest first, with exact totals.
pub(super) fn page(conn: &Connection, filter: &Filter, opts: &Recent) -> Result<Page> {
    let newest = head(conn)?;
    let as_of = opts.as_of.map_or(newest, |pin| pin.min(newest));
    let offset = opts.offset();
    let (total, entries) = match (&filter.account, &filter.term) {
        (None, None) => {
            // Ids are dense above the oldest one, so the page is an id range.
            let oldest = bound(conn, "ASC")?.unwrap_or(1);
            let total = (as_of + 1).saturating_sub(oldest);
            let entries = if offset >= total {
                Vec::new()
            } else {
                let top = (as_of - offset) as i64;
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id <= ?1
                     ORDER BY e.id DESC LIMIT ?2"
                );
                select(conn, &sql, &[&top, &(opts.per_page as i64)])?
            };
            (total, entries)
        }
        (None, Some(term)) => {
            let matching: Vec<DictEntry> = dictionary(conn)?
                .into_iter()
                .filter(|a| term.matches(&a.name))
                .collect();
            if matching.is_empty() {
                (0, Vec::new())
            } else {
                let ids = id_list(&matching);
                // Dictionary counts are exact as of the snapshot; take away what came
                // after `as_of` (few rows: a pinned page is usually recent).
                let all: u64 = matching.iter().map(|a| a.count).sum();
                let newer: i64 = conn.query_row(
                    &format!("SELECT count(*) FROM entries WHERE action_id IN ({ids}) AND id > ?1"),
                    [as_of as i64],
                    |row| row.get(0),
                )?;
                let total = all.saturating_sub(newer as u64);
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e
                     WHERE e.action_id IN ({ids}) AND e.id <= ?1
                     ORDER BY e.id DESC LIMIT ?2 OFFSET ?3"
                );
                let entries = paged(conn, &sql, as_of, opts, offset, total)?;
                (total, entries)
            }
        }
        (Some(account), term) => {
            let mut cond = String::from("e.account_id = ?1 AND e.id <= ?2");
            if let Some(term) = term {
                let matching: Vec<DictEntry> = dictionary(conn)?
                    .into_iter()
                    .filter(|a| term.matches(&a.name))
                    .collect();
                if matching.is_empty() {
                    return Ok(Page::new(Vec::new(), opts, 0, as_of));
                }
                cond.push_str(&format!(" AND e.action_id IN ({})", id_list(&matching)));
            }
            let total: i64 = conn.query_row(
                &format!("SELECT count(*) FROM entries e WHERE {cond}"),
                rusqlite::params![account, as_of as i64],
                |row| row.get(0),
            )?;
            let total = total as u64;
            let entries = if offset >= total {
                Vec::new()
            } else {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries e WHERE {cond}
                     ORDER BY e.id DESC LIMIT ?3 OFFSET ?4"
                );
                select(
                    conn,
                    &sql,
                    &[
                        account,
                        &(as_of as i64),
                        &(opts.per_page as i64),
                        &(offset as i64),
                    ],
                )?
            };
            (total, entries)
        }
    };
    Ok(Page::new(entries, opts, total, as_of))
}

fn paged(
    conn: &Connection,
    sql: &str,
    as_of: u64,
    opts: &Recent,
    offset: u64,
    total: u64,
) -> Result<Vec<Entry>> {
    if offset >= total {
        return Ok(Vec::new());
    }
    select(
        conn,
        sql,
        &[&(as_of as i64), &(opts.per_page as i64), &(offset as i64)],
    )
}

/// Dictionary ids as an SQL list; they are integers the store made, never user text.
fn id_list(actions: &[DictEntry]) -> String {
    let ids: Vec<String> = actions.iter().map(|a| a.id.to_string()).collect();
    ids.join(",")
}

fn select(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, entry_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Distinct matching actions with their counts, ranked for a typeahead.
pub(super) fn actions(
    conn: &Connection,
    term: Option<&Term>,
    limit: u64,
) -> Result<Vec<ActionCount>> {
    let mut list: Vec<ActionCount> = dictionary(conn)?
        .into_iter()
        .filter(|a| a.count > 0 && term.is_none_or(|t| t.matches(&a.name)))
        .map(|a| ActionCount {
            action: a.name,
            count: a.count,
        })
        .collect();
    rank_suggestions(term, &mut list);
    list.truncate(limit as usize);
    Ok(list)
}

/// Up to `limit` entries of `account` with ids below `below`, newest first: one step
/// of a keyset walk over every entry of an account.
pub(super) fn account_chunk(
    conn: &Connection,
    account: &str,
    below: u64,
    limit: u64,
) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.account_id = ?1 AND e.id < ?2
         ORDER BY e.id DESC LIMIT ?3"
    );
    select(
        conn,
        &sql,
        &[
            &account,
            &(below.min(i64::MAX as u64) as i64),
            &(limit as i64),
        ],
    )
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
    match account {
        None => {
            let sql = format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id > ?1 ORDER BY e.id LIMIT ?2"
            );
            select(conn, &sql, &[&after, &limit])
        }
        Some(account) => {
            let sql = format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.account_id = ?1 AND e.id > ?2
                 ORDER BY e.id LIMIT ?3"
            );
            select(conn, &sql, &[&account, &after, &limit])
        }
    }
}
