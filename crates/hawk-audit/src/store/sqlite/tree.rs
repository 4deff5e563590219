//! Tamper evidence on the SQLite file: stored checkpoints, proofs built from the
//! stored leaf hashes, and the scan behind `verify`.
//!
//! Checkpoints (one row per tree size; triggers refuse UPDATE and DELETE) are written on
//! a short-lived connection of their own. Proofs read perfect subtrees of 256 leaves and
//! more from `tree_nodes`, which the writer fills in the append transaction
//! (`Frontier::push_with`), and hash smaller ones from `entries.hash`. The scan walks
//! entries in id order in one read transaction, handing over each stored checkpoint
//! right after the entry whose id is its size.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::read::{ENTRY_COLUMNS, entry_from_row};
use super::schema;
use crate::checkpoint::StoredCheckpoint;
use crate::entry::time_from_micros;
use crate::error::{DbResult, Error, Result};
use crate::merkle::{Frontier, Hash, NodeSource};
use crate::store::{LeafRun, ScanItem, ScannedEntry, Scanner};

const CHECKPOINT_COLUMNS: &str = "size, root, note, created_at";

fn checkpoint_from_row(row: &Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    let root: Vec<u8> = row.get(1)?;
    Ok(StoredCheckpoint {
        size: row.get::<_, i64>(0)? as u64,
        root: Hash::try_from(root.as_slice()).unwrap_or_default(),
        note: row.get(2)?,
        created_at: time_from_micros(row.get(3)?),
    })
}

/// Stores a checkpoint unless one of that size exists; returns the stored one.
/// Blocking; on a short-lived connection of its own (checkpoints are rare and never
/// part of an entry's transaction).
pub(super) fn insert_checkpoint(
    path: &Path,
    size: u64,
    root: Hash,
    note: &str,
    now: i64,
) -> Result<StoredCheckpoint> {
    let mut conn = Connection::open(path).db()?;
    schema::configure(&conn)?;
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    tx.execute(
        "INSERT INTO checkpoints (size, root, note, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (size) DO NOTHING",
        params![size as i64, &root[..], note, now],
    )
    .db()?;
    let stored = tx
        .query_row(
            &format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE size = ?1"),
            [size as i64],
            checkpoint_from_row,
        )
        .db()?;
    tx.commit().db()?;
    Ok(stored)
}

/// The checkpoint of the largest tree.
pub(super) fn latest_checkpoint(conn: &Connection) -> Result<Option<StoredCheckpoint>> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([], checkpoint_from_row)
        .optional()
        .db()
}

/// The checkpoint of the tree of `size` entries, if one was stored.
pub(super) fn checkpoint_at(conn: &Connection, size: u64) -> Result<Option<StoredCheckpoint>> {
    let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE size = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([size as i64], checkpoint_from_row)
        .optional()
        .db()
}

/// The tree as stored: leaf `i` is the `hash` of entry `i + 1`. Subtrees are hashed
/// from the leaves they span.
pub(super) struct Leaves<'c> {
    conn: &'c Connection,
    count: u64,
}

impl<'c> Leaves<'c> {
    /// The leaves of the stored tree (as many as the stored frontier covers).
    pub(super) fn new(conn: &'c Connection) -> Result<(Self, Frontier)> {
        let frontier = super::read::frontier(conn)?;
        Ok((
            Leaves {
                conn,
                count: frontier.size(),
            },
            frontier,
        ))
    }
}

impl Leaves<'_> {
    /// `MTH` of leaves `start..end`, hashed from the stored leaf hashes.
    fn hash_leaves(&self, start: u64, end: u64) -> Result<Hash> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, hash FROM entries WHERE id > ?1 AND id <= ?2 ORDER BY id")
            .db()?;
        let mut rows = stmt.query(params![start as i64, end as i64]).db()?;
        let mut run = LeafRun::new(start, end);
        while let Some(row) = rows.next().db()? {
            let hash: Option<Vec<u8>> = row.get(1).db()?;
            run.push(row.get::<_, i64>(0).db()? as u64, hash.as_deref())?;
        }
        run.root()
    }

    /// The perfect subtree over the `2^level` leaves from `index << level`: stored
    /// from `NODE_LEVEL` up, hashed from the leaves below it.
    fn perfect(&self, level: u32, index: u64) -> Result<Hash> {
        if level >= crate::store::NODE_LEVEL {
            let stored: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")
                .db()?
                .query_row(params![level, index as i64], |row| row.get(0))
                .optional()
                .db()?;
            if let Some(hash) = stored.and_then(|h| Hash::try_from(h.as_slice()).ok()) {
                return Ok(hash);
            }
        }
        self.hash_leaves(index << level, (index + 1) << level)
    }
}

impl NodeSource for Leaves<'_> {
    type Error = Error;

    fn leaf_count(&self) -> u64 {
        self.count
    }

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash> {
        crate::merkle::subtree_from_perfect(start, end, |level, index| self.perfect(level, index))
    }
}

/// Walks the whole log in one read transaction (one snapshot), in id order, handing
/// `scanner` the stored tree first, then each entry, each stored checkpoint right
/// after the entry whose id is its size. Memory stays constant. Blocking.
pub(super) fn scan<S: Scanner>(conn: &Connection, scanner: &mut S) -> Result<()> {
    conn.execute_batch("BEGIN").db()?;
    let result = scan_in(conn, scanner);
    conn.execute_batch("COMMIT").db()?;
    result
}

fn scan_in<S: Scanner>(conn: &Connection, scanner: &mut S) -> Result<()> {
    let frontier = super::read::frontier(conn);
    let pruned = pruned_frontier(conn)?;
    if scanner
        .visit(ScanItem::Start { frontier, pruned })
        .is_break()
    {
        return Ok(());
    }
    let mut checkpoints = conn
        .prepare(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size"
        ))
        .db()?;
    let mut checkpoints = checkpoints.query([]).db()?;
    let mut next_checkpoint = next_stored(&mut checkpoints)?;
    let mut entries = conn
        .prepare(&format!(
            "SELECT {ENTRY_COLUMNS}, typeof(e.hash) FROM entries e ORDER BY e.id"
        ))
        .db()?;
    let mut rows = entries.query([]).db()?;
    while let Some(row) = rows.next().db()? {
        let id = row.get::<_, i64>(0).db()?;
        while let Some(stored) = next_checkpoint.take() {
            if (stored.size as i64) < id {
                if scanner.visit(ScanItem::Checkpoint(stored)).is_break() {
                    return Ok(());
                }
                next_checkpoint = next_stored(&mut checkpoints)?;
            } else {
                next_checkpoint = Some(stored);
                break;
            }
        }
        // A hash that is not a blob (tampered with from SQL) is read as no hash.
        let hash = match row.get::<_, String>(10).db()?.as_str() {
            "blob" => row.get::<_, Option<Vec<u8>>>(9).db()?,
            _ => None,
        };
        let entry = if hash.is_some() {
            entry_from_row(row)
        } else {
            entry_without_hash(row)
        };
        let item = ScannedEntry {
            id,
            entry: entry.map_err(|e| e.to_string()),
            hash,
        };
        if scanner.visit(ScanItem::Entry(item)).is_break() {
            return Ok(());
        }
    }
    while let Some(stored) = next_checkpoint {
        if scanner.visit(ScanItem::Checkpoint(stored)).is_break() {
            return Ok(());
        }
        next_checkpoint = next_stored(&mut checkpoints)?;
    }
    Ok(())
}

/// The tree of every entry the prunes removed, kept by the newest prune.
fn pruned_frontier(conn: &Connection) -> Result<Option<Result<Frontier>>> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT frontier FROM prunes ORDER BY through_id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .db()?;
    Ok(bytes.map(|bytes| {
        Frontier::from_bytes(&bytes)
            .map_err(|e| Error::storage_from(format!("the stored tree of pruned entries: {e}"), e))
    }))
}

fn entry_without_hash(row: &Row<'_>) -> rusqlite::Result<crate::entry::Entry> {
    // Same columns but the hash, which `entry_from_row` would refuse.
    let metadata: String = row.get(8)?;
    Ok(crate::entry::Entry {
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
        hash: String::new(),
    })
}

fn next_stored(rows: &mut rusqlite::Rows<'_>) -> Result<Option<StoredCheckpoint>> {
    Ok(match rows.next().db()? {
        Some(row) => Some(checkpoint_from_row(row).db()?),
        None => None,
    })
}
