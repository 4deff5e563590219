//! The filter index's sealed chunks in the SQLite file (tables `filter_chunks`,
//! `filter_postings`, `filter_totals`; see `crate::postings::index`). Reads run on the
//! pooled read connections; a seal writes on a connection of its own, in one
//! `IMMEDIATE` transaction, beside the appends' writer (as key changes do).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{keys, read};
use crate::entry::Entry;
use crate::error::{DbResult, Result};
use crate::postings::index::{ChunkInfo, SealPart};
use crate::store::index_ops::{BitmapRow, DirectoryRow, IndexAnswer, IndexOp};

fn info_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChunkInfo> {
    Ok(ChunkInfo {
        chunk: row.get::<_, i64>(0)? as u64,
        bits: row.get::<_, i64>(1)? as u32,
        first_id: row.get::<_, Option<i64>>(2)?.map(|id| id as u64),
        first_time: row.get(3)?,
        last_time: row.get(4)?,
    })
}

/// The sealed chunks from `from` on, ascending.
pub(super) fn chunks(conn: &Connection, from: u64) -> Result<Vec<ChunkInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT chunk, bits, first_id, first_time, last_time FROM filter_chunks
             WHERE chunk >= ?1 ORDER BY chunk",
        )
        .db()?;
    let rows = stmt.query_map([from as i64], info_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// The coded times of `chunk`'s entries.
pub(super) fn times(conn: &Connection, chunk: u64) -> Result<Vec<u8>> {
    conn.prepare_cached("SELECT times FROM filter_chunks WHERE chunk = ?1")
        .db()?
        .query_row([chunk as i64], |row| row.get(0))
        .optional()
        .db()
        .map(Option::unwrap_or_default)
}

/// For each of `keys`: the sealed chunks at or after `from` holding it, with counts.
pub(super) fn directories(
    conn: &Connection,
    dim: i64,
    keys: &[Vec<u8>],
    from: u64,
) -> Result<Vec<DirectoryRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT chunk, count FROM filter_postings
             WHERE dim = ?1 AND key = ?2 AND chunk >= ?3 ORDER BY chunk",
        )
        .db()?;
    let mut out = Vec::new();
    for key in keys {
        let rows = stmt
            .query_map(params![dim, key, from as i64], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
            })
            .db()?;
        for row in rows {
            let (chunk, count) = row.db()?;
            out.push((key.clone(), chunk, count));
        }
    }
    Ok(out)
}

/// The stored bitmaps of `(key, chunk)` pairs that exist.
pub(super) fn bitmaps(
    conn: &Connection,
    dim: i64,
    wanted: &[(Vec<u8>, u64)],
) -> Result<Vec<BitmapRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT bits FROM filter_postings WHERE dim = ?1 AND key = ?2 AND chunk = ?3",
        )
        .db()?;
    let mut out = Vec::new();
    for (key, chunk) in wanted {
        let bits: Option<Vec<u8>> = stmt
            .query_row(params![dim, key, *chunk as i64], |row| row.get(0))
            .optional()
            .db()?;
        if let Some(bits) = bits {
            out.push((key.clone(), *chunk, bits));
        }
    }
    Ok(out)
}

/// Every value of `dim` in a sealed chunk.
pub(super) fn values(conn: &Connection, dim: i64) -> Result<Vec<Vec<u8>>> {
    let mut stmt = conn
        .prepare_cached("SELECT key FROM filter_totals WHERE dim = ?1")
        .db()?;
    let rows = stmt.query_map([dim], |row| row.get(0)).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Values of `dim` starting with `prefix`, with their sealed entry counts, the most
/// frequent first, at most `limit`.
pub(super) fn totals(
    conn: &Connection,
    dim: i64,
    prefix: &[u8],
    limit: u64,
) -> Result<Vec<(Vec<u8>, u64)>> {
    let mut end = prefix.to_vec();
    end.push(0xFF); // no UTF-8 text holds the byte 0xFF
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, count FROM filter_totals WHERE dim = ?1 AND key >= ?2 AND key < ?3
             ORDER BY count DESC, key LIMIT ?4",
        )
        .db()?;
    let rows = stmt
        .query_map(params![dim, prefix, end, limit as i64], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
        })
        .db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Writes one part of a seal in one transaction: its postings (kept where a retry
/// already wrote them), its values' totals (each chunk counted once), and, for the
/// last part, the chunk's row that marks it sealed. Blocking.
pub(super) fn seal(path: &Path, part: &SealPart) -> Result<()> {
    let mut conn = keys::write_connection(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    {
        let mut posting = tx
            .prepare_cached(
                "INSERT INTO filter_postings (dim, key, chunk, count, bits)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )
            .db()?;
        let mut total = tx
            .prepare_cached(
                "INSERT INTO filter_totals (dim, key, count, through) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (dim, key) DO UPDATE SET count = count + excluded.count,
                     through = excluded.through
                 WHERE through < excluded.through",
            )
            .db()?;
        let chunk = part.chunk as i64;
        for p in &part.postings {
            posting
                .execute(params![p.dim, p.key, chunk, p.count as i64, p.bits])
                .db()?;
            total
                .execute(params![p.dim, p.key, p.count as i64, chunk])
                .db()?;
        }
    }
    if let Some(sealed) = &part.sealed {
        tx.execute(
            "INSERT INTO filter_chunks (chunk, bits, first_id, first_time, last_time, times)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (chunk) DO NOTHING",
            params![
                sealed.info.chunk as i64,
                sealed.info.bits,
                sealed.info.first_id.map(|id| id as i64),
                sealed.info.first_time,
                sealed.info.last_time,
                sealed.times,
            ],
        )
        .db()?;
    }
    tx.commit().db()
}

/// The entries with these ids that are still in the log, in the order given.
pub(super) fn entries(conn: &Connection, ids: &[u64]) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {} FROM entries e WHERE e.id = ?1",
        read::ENTRY_COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(entry) = stmt
            .query_row([id as i64], read::entry_from_row)
            .optional()
            .db()?
        {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Answers a read of the filter index on `conn`; seals go to [`seal`].
pub(super) fn answer(conn: &Connection, op: IndexOp) -> Result<IndexAnswer> {
    Ok(match op {
        IndexOp::Chunks { from } => IndexAnswer::Chunks(chunks(conn, from)?),
        IndexOp::Times { chunk } => IndexAnswer::Times(times(conn, chunk)?),
        IndexOp::Directories { dim, keys, from } => {
            IndexAnswer::Directories(directories(conn, dim.into(), &keys, from)?)
        }
        IndexOp::Bitmaps { dim, wanted } => {
            IndexAnswer::Bitmaps(bitmaps(conn, dim.into(), &wanted)?)
        }
        IndexOp::Values { dim } => IndexAnswer::Values(values(conn, dim.into())?),
        IndexOp::Totals { dim, prefix, limit } => {
            IndexAnswer::Totals(totals(conn, dim.into(), &prefix, limit)?)
        }
        IndexOp::Entries { ids } => IndexAnswer::Entries(entries(conn, &ids)?),
        IndexOp::Seal(_) => unreachable!("seals are written on a connection of their own"),
    })
}
