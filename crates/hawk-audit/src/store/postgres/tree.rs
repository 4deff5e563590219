//! Tamper evidence on PostgreSQL: stored checkpoints, the stored subtrees proofs read,
//! and the scan behind `verify`. Proofs and the scan each read one `REPEATABLE READ`
//! snapshot, so they describe one tree even while other processes append.
//!
//! `NodeSource` is synchronous and which subtrees a proof reads follows from its sizes
//! alone, so a proof runs twice in its snapshot: first to learn which perfect subtrees
//! it needs, then on those, fetched in one statement (the stored ones, 256 leaves and
//! more, in `tree_nodes`) plus one pipelined range read of leaf hashes per smaller one.
//! The scan reads entries and checkpoints through two cursors of one snapshot.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use deadpool_postgres::{Client, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::read;
use crate::checkpoint::StoredCheckpoint;
use crate::entry::time_from_micros;
use crate::error::{DbResult, Error, Result};
use crate::merkle::{EMPTY_ROOT, Frontier, Hash, NodeSource, subtree_from_perfect};
use crate::store::{LeafRun, NODE_LEVEL, ScanItem, ScannedEntry, Scanner, missing_leaf};

/// Perfect subtrees of `NODE_LEVEL` and up, as `Frontier::push_with` reports them,
/// gathered for one `INSERT`.
#[derive(Default)]
pub(super) struct TreeNodes {
    levels: Vec<i32>,
    indexes: Vec<i64>,
    hashes: Vec<Vec<u8>>,
}

impl TreeNodes {
    /// Keeps the subtree if it is one the store stores.
    pub(super) fn add(&mut self, level: u32, index: u64, hash: &Hash) {
        if level >= NODE_LEVEL {
            self.levels.push(level as i32);
            self.indexes.push(index as i64);
            self.hashes.push(hash.to_vec());
        }
    }

    /// Stores the gathered subtrees (one already stored is left as it is).
    pub(super) async fn insert(&self, tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
        if self.levels.is_empty() {
            return Ok(());
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO tree_nodes (level, idx, hash)
                 SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
                 ON CONFLICT (level, idx) DO NOTHING",
            )
            .await?;
        tx.execute(&insert, &[&self.levels, &self.indexes, &self.hashes])
            .await?;
        Ok(())
    }
}

const CHECKPOINT_COLUMNS: &str = "size, root, note, created_at";

fn checkpoint_from_row(row: &Row) -> StoredCheckpoint {
    let root: &[u8] = row.get(1);
    StoredCheckpoint {
        size: row.get::<_, i64>(0) as u64,
        root: Hash::try_from(root).unwrap_or_default(),
        note: row.get(2),
        created_at: row
            .get::<_, OffsetDateTime>(3)
            .to_offset(time::UtcOffset::UTC),
    }
}

/// Stores a checkpoint unless one of that size exists (another process may have
/// signed the same tree first); returns the stored one.
pub(super) async fn insert_checkpoint(
    client: &Client,
    size: u64,
    root: Hash,
    note: &str,
    now: i64,
) -> Result<StoredCheckpoint> {
    let insert = client
        .prepare_cached(
            "INSERT INTO checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (size) DO NOTHING",
        )
        .await
        .db()?;
    client
        .execute(
            &insert,
            &[&(size as i64), &&root[..], &note, &time_from_micros(now)],
        )
        .await
        .db()?;
    checkpoint_at(client, size)
        .await?
        .ok_or_else(|| Error::storage(format!("the checkpoint of size {size} was not stored")))
}

/// The checkpoint of the largest tree.
pub(super) async fn latest_checkpoint(client: &Client) -> Result<Option<StoredCheckpoint>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1"
        ))
        .await
        .db()?;
    Ok(client
        .query_opt(&stmt, &[])
        .await
        .db()?
        .as_ref()
        .map(checkpoint_from_row))
}

/// The checkpoint of the tree of `size` entries, if one was stored.
pub(super) async fn checkpoint_at(client: &Client, size: u64) -> Result<Option<StoredCheckpoint>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE size = $1"
        ))
        .await
        .db()?;
    Ok(client
        .query_opt(&stmt, &[&(size as i64)])
        .await
        .db()?
        .as_ref()
        .map(checkpoint_from_row))
}

/// The tree as stored, for proofs. `NodeSource` is synchronous and a proof's reads
/// follow from its sizes alone, never from hash values, so a proof runs twice: once
/// to learn which perfect subtrees it reads (answered with placeholders), then on
/// those subtrees, fetched in a few statements.
pub(super) struct Nodes {
    count: u64,
    known: HashMap<(u32, u64), Hash>,
    /// `Some` while learning what a proof reads.
    wanted: Option<RefCell<BTreeSet<(u32, u64)>>>,
}

impl NodeSource for Nodes {
    type Error = Error;

    fn leaf_count(&self) -> u64 {
        self.count
    }

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash> {
        subtree_from_perfect(start, end, |level, index| match &self.wanted {
            Some(wanted) => {
                wanted.borrow_mut().insert((level, index));
                Ok(EMPTY_ROOT)
            }
            None => self
                .known
                .get(&(level, index))
                .copied()
                .ok_or_else(|| missing_leaf((index << level) + 1)),
        })
    }
}

/// Runs `prove` on the stored tree of one snapshot (see [`Nodes`]).
pub(super) async fn prove<T>(
    client: &mut Client,
    prove: impl Fn(&Nodes, &Frontier) -> Result<T>,
) -> Result<T> {
    let tx = read::snapshot(client).await?;
    let frontier = read::frontier(&tx).await?;
    let learning = Nodes {
        count: frontier.size(),
        known: HashMap::new(),
        wanted: Some(RefCell::default()),
    };
    // Errors here are the caller's (a size out of range, say): placeholders never fail.
    prove(&learning, &frontier)?;
    let wanted = learning.wanted.map(RefCell::into_inner).unwrap_or_default();
    let nodes = Nodes {
        count: frontier.size(),
        known: fetch(&tx, wanted).await?,
        wanted: None,
    };
    let proof = prove(&nodes, &frontier);
    tx.commit().await.db()?;
    proof
}

/// The hashes of the `wanted` perfect subtrees: stored ones from `tree_nodes`, the
/// rest hashed from their leaves.
async fn fetch(
    tx: &Transaction<'_>,
    wanted: BTreeSet<(u32, u64)>,
) -> Result<HashMap<(u32, u64), Hash>> {
    let (levels, indexes): (Vec<i32>, Vec<i64>) = wanted
        .iter()
        .filter(|(level, _)| *level >= NODE_LEVEL)
        .map(|&(level, index)| (level as i32, index as i64))
        .unzip();
    let stored = tx
        .prepare_cached(
            "SELECT n.level, n.idx, n.hash FROM tree_nodes n
             JOIN unnest($1::integer[], $2::bigint[]) AS w(level, idx)
               ON n.level = w.level AND n.idx = w.idx",
        )
        .await
        .db()?;
    let mut known = HashMap::new();
    for row in tx.query(&stored, &[&levels, &indexes]).await.db()? {
        let hash: &[u8] = row.get(2);
        if let Ok(hash) = Hash::try_from(hash) {
            known.insert(
                (row.get::<_, i32>(0) as u32, row.get::<_, i64>(1) as u64),
                hash,
            );
        }
    }
    let leaves = tx
        .prepare_cached("SELECT id, hash FROM entries WHERE id > $1 AND id <= $2 ORDER BY id")
        .await
        .db()?;
    let unstored: Vec<(u32, u64)> = wanted
        .into_iter()
        .filter(|node| !known.contains_key(node))
        .collect();
    // Sent together: the connection pipelines them.
    let hashed = futures_util::future::try_join_all(unstored.iter().map(|&(level, index)| {
        let (start, end) = (index << level, (index + 1) << level);
        let leaves = &leaves;
        async move {
            let rows = tx
                .query(leaves, &[&(start as i64), &(end as i64)])
                .await
                .db()?;
            hash_leaves(start, end, &rows)
        }
    }))
    .await?;
    known.extend(unstored.into_iter().zip(hashed));
    Ok(known)
}

/// `MTH` of leaves `start..end` from the rows `(id, hash)` of entries `start + 1 ..= end`.
fn hash_leaves(start: u64, end: u64, rows: &[Row]) -> Result<Hash> {
    let mut run = LeafRun::new(start, end);
    for row in rows {
        run.push(row.get::<_, i64>(0) as u64, row.get(1))?;
    }
    run.root()
}

/// Rows fetched per step of the scan.
const SCAN_CHUNK: i32 = 2_000;

/// Walks the whole log in one snapshot, in id order, handing `scanner` the stored
/// tree first, then each entry, each stored checkpoint right after the entry whose id
/// is its size. Two cursors, so memory stays constant however long the log.
pub(super) async fn scan<S: Scanner>(client: &mut Client, scanner: &mut S) -> Result<()> {
    let tx = read::snapshot(client).await?;
    let frontier = read::frontier(&tx).await;
    let pruned = super::prune::pruned_frontier(&tx).await?;
    if scanner
        .visit(ScanItem::Start { frontier, pruned })
        .is_break()
    {
        return Ok(());
    }
    let checkpoints = tx
        .prepare(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size"
        ))
        .await
        .db()?;
    let mut checkpoints = Cursor::open(&tx, &checkpoints).await?;
    let entries = tx
        .prepare(&format!(
            "SELECT {} FROM entries e ORDER BY e.id",
            read::ENTRY_COLUMNS
        ))
        .await
        .db()?;
    let mut entries = Cursor::open(&tx, &entries).await?;
    let mut next_checkpoint = checkpoints
        .next(&tx)
        .await?
        .map(|r| checkpoint_from_row(&r));
    while let Some(row) = entries.next(&tx).await? {
        let id: i64 = row.get(0);
        while let Some(stored) = next_checkpoint.take() {
            if (stored.size as i64) < id {
                if scanner.visit(ScanItem::Checkpoint(stored)).is_break() {
                    return Ok(());
                }
                next_checkpoint = checkpoints
                    .next(&tx)
                    .await?
                    .map(|r| checkpoint_from_row(&r));
            } else {
                next_checkpoint = Some(stored);
                break;
            }
        }
        if scanner.visit(ScanItem::Entry(scanned(&row))).is_break() {
            return Ok(());
        }
    }
    while let Some(stored) = next_checkpoint {
        if scanner.visit(ScanItem::Checkpoint(stored)).is_break() {
            return Ok(());
        }
        next_checkpoint = checkpoints
            .next(&tx)
            .await?
            .map(|r| checkpoint_from_row(&r));
    }
    tx.commit().await.db()?;
    Ok(())
}

/// One entry row read without trusting it: a missing hash is reported, not refused.
fn scanned(row: &Row) -> ScannedEntry {
    let hash: Option<Vec<u8>> = row.try_get(9).ok().flatten();
    let hex = hash
        .as_deref()
        .map(crate::merkle::to_hex)
        .unwrap_or_default();
    ScannedEntry {
        id: row.get(0),
        entry: read::entry_with_hash(row, hex).map_err(|e| e.to_string()),
        hash,
    }
}

/// A portal read in chunks, one row at a time.
struct Cursor {
    portal: tokio_postgres::Portal,
    rows: std::vec::IntoIter<Row>,
    done: bool,
}

impl Cursor {
    async fn open(tx: &Transaction<'_>, stmt: &tokio_postgres::Statement) -> Result<Cursor> {
        Ok(Cursor {
            portal: tx.bind(stmt, &[]).await.db()?,
            rows: Vec::new().into_iter(),
            done: false,
        })
    }

    async fn next(&mut self, tx: &Transaction<'_>) -> Result<Option<Row>> {
        if let Some(row) = self.rows.next() {
            return Ok(Some(row));
        }
        if self.done {
            return Ok(None);
        }
        let rows = tx.query_portal(&self.portal, SCAN_CHUNK).await.db()?;
        self.done = rows.len() < SCAN_CHUNK as usize;
        self.rows = rows.into_iter();
        Ok(self.rows.next())
    }
}
