//! The in-memory action index: for every action, how many of its entries lie in the
//! blocks before any block boundary. With it a reader finds the exact total of a search
//! and the block that holds its k-th match (a binary search over running totals) without
//! touching the entries.
//!
//! Blocks are `BLOCK` (1024) consecutive ids; the writer counts each action's entries
//! per block in `action_blocks`, in the append transaction. A block whose last id is
//! committed never changes again (entries are append-only and ids dense), so the index
//! only grows: it loads complete blocks from `action_blocks`, whichever process wrote
//! them. The newest, incomplete block is always read from the snapshot of the query at
//! hand. A prune leaves the block counts as they were (see `read`).

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use super::schema::BLOCK;
use crate::error::{DbResult, Result};

/// One action's running totals, at the blocks where it occurs.
#[derive(Debug, Default)]
struct Series {
    /// Blocks holding at least one entry of the action, ascending.
    blocks: Vec<u32>,
    /// `cum[i]`: the action's entries in blocks `0..=blocks[i]`.
    cum: Vec<u64>,
}

impl Series {
    /// The action's entries in blocks `0..k`.
    fn before(&self, k: u64) -> u64 {
        let i = self.blocks.partition_point(|&b| u64::from(b) < k);
        if i == 0 { 0 } else { self.cum[i - 1] }
    }
}

/// A dictionary action: its id, its name, and the name lowercased, for matching.
#[derive(Debug, Clone)]
pub(super) struct ActionName {
    pub(super) id: i64,
    name: String,
    lower: String,
}

impl ActionName {
    pub(super) fn lower(&self) -> &str {
        &self.lower
    }
}

/// A set of actions, as the index counts it.
#[derive(Debug)]
pub(super) enum ActionSet {
    /// These actions.
    Only(Vec<i64>),
    /// Every action but these (cheaper to count when the set is most of them).
    AllBut(Vec<i64>),
}

#[derive(Debug, Default)]
pub(super) struct ActionIndex {
    /// Blocks `0..complete` are loaded.
    complete: u64,
    names: Vec<ActionName>,
    series: HashMap<i64, Series>,
}

impl ActionIndex {
    /// Whether blocks up to the one holding `head`, and every action name, are loaded.
    pub(super) fn is_fresh(&self, conn: &Connection, head: u64) -> Result<bool> {
        Ok(self.complete >= head / BLOCK && self.has_names(conn)?)
    }

    /// Whether every action name in `conn`'s snapshot is loaded (ids only grow).
    pub(super) fn has_names(&self, conn: &Connection) -> Result<bool> {
        let newest: i64 = conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM actions")
            .db()?
            .query_row([], |row| row.get(0))
            .db()?;
        Ok(newest <= self.names.last().map_or(0, |a| a.id))
    }

    /// Loads the action names committed since the last refresh.
    pub(super) fn refresh_names(&mut self, conn: &Connection) -> Result<()> {
        let known = self.names.last().map_or(0, |a| a.id);
        let mut stmt = conn
            .prepare_cached("SELECT id, name FROM actions WHERE id > ?1 ORDER BY id")
            .db()?;
        let rows = stmt
            .query_map([known], |row| Ok((row.get(0)?, row.get(1)?)))
            .db()?;
        for row in rows {
            let (id, name): (i64, String) = row.db()?;
            let lower = name.to_lowercase();
            self.names.push(ActionName { id, name, lower });
        }
        Ok(())
    }

    /// Loads what committed since the last refresh (as seen by `conn`'s snapshot).
    pub(super) fn refresh(&mut self, conn: &Connection, head: u64) -> Result<()> {
        self.refresh_names(conn)?;
        let want = head / BLOCK;
        if want > self.complete {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT block, action_id, count FROM action_blocks
                 WHERE block >= ?1 AND block < ?2 ORDER BY block",
                )
                .db()?;
            let rows = stmt
                .query_map([self.complete as i64, want as i64], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .db()?;
            for row in rows {
                let (block, action_id, count) = row.db()?;
                let series = self.series.entry(action_id).or_default();
                let before = series.cum.last().copied().unwrap_or(0);
                series.blocks.push(block as u32);
                series.cum.push(before + count as u64);
            }
            self.complete = want;
        }
        Ok(())
    }

    /// Every action in the dictionary.
    pub(super) fn names(&self) -> &[ActionName] {
        &self.names
    }

    /// The name of action `id`, if loaded (`names` is in id order).
    pub(super) fn name(&self, id: i64) -> Option<&str> {
        let i = self.names.binary_search_by_key(&id, |a| a.id).ok()?;
        Some(&self.names[i].name)
    }

    /// `matching` as the index counts it fastest: listed, or as every action but a
    /// listed few when a short term matches most of them.
    pub(super) fn action_set(&self, matching: &[i64]) -> ActionSet {
        if matching.len() * 2 <= self.names.len() {
            return ActionSet::Only(matching.to_vec());
        }
        let matched: HashSet<i64> = matching.iter().copied().collect();
        let others = self
            .names
            .iter()
            .map(|a| a.id)
            .filter(|id| !matched.contains(id))
            .collect();
        ActionSet::AllBut(others)
    }

    /// Entries of the set in blocks `0..k` (`k` at most `complete`).
    pub(super) fn count_before(&self, set: &ActionSet, k: u64) -> u64 {
        match set {
            ActionSet::Only(actions) => self.before(actions, k),
            // Complete blocks hold exactly BLOCK entries each (ids are dense from 1).
            ActionSet::AllBut(others) => k * BLOCK - self.before(others, k),
        }
    }

    /// The set's actions with an entry in block `k`, when they are few enough to be
    /// worth listing; `None` for a set given by its complement.
    pub(super) fn present_in(&self, set: &ActionSet, k: u64) -> Option<Vec<i64>> {
        match set {
            ActionSet::Only(actions) => Some(
                actions
                    .iter()
                    .copied()
                    .filter(|a| {
                        self.series
                            .get(a)
                            .is_some_and(|s| s.before(k + 1) > s.before(k))
                    })
                    .collect(),
            ),
            ActionSet::AllBut(_) => None,
        }
    }

    /// The smallest `k` in `1..=limit` with `count_before(set, k) >= rank`: the block
    /// `k - 1` holds the match of that (1-based, oldest-first) rank.
    pub(super) fn block_of_rank(&self, set: &ActionSet, rank: u64, limit: u64) -> u64 {
        let (mut lo, mut hi) = (1, limit);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_before(set, mid) >= rank {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// Entries of any of `actions` in blocks `0..k` (`k` at most `complete`).
    fn before(&self, actions: &[i64], k: u64) -> u64 {
        debug_assert!(k <= self.complete);
        actions
            .iter()
            .filter_map(|a| self.series.get(a))
            .map(|s| s.before(k))
            .sum()
    }
}
