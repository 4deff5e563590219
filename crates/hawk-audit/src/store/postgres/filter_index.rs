//! The filter index's sealed chunks in PostgreSQL (tables `filter_chunks`,
//! `filter_postings`, `filter_totals`; see `crate::postings::index`). Each read is one
//! statement; a seal is one transaction that first claims the chunk's row, so two
//! processes sealing the same chunk write it once.

use deadpool_postgres::Client;
use tokio_postgres::Row;

use super::pg_error;
use super::read::{ENTRY_COLUMNS, entry_from_row};
use crate::entry::Entry;
use crate::error::{DbResult, Result};
use crate::postings::index::{ChunkInfo, SealPart};
use crate::store::index_ops::{BitmapRow, DirectoryRow, IndexAnswer, IndexOp};

fn info_from_row(row: &Row) -> ChunkInfo {
    ChunkInfo {
        chunk: row.get::<_, i64>(0) as u64,
        bits: row.get::<_, i32>(1) as u32,
        first_id: row.get::<_, Option<i64>>(2).map(|id| id as u64),
        first_time: row.get(3),
        last_time: row.get(4),
    }
}

/// The sealed chunks from `from` on, ascending.
pub(super) async fn chunks(client: &Client, from: u64) -> Result<Vec<ChunkInfo>> {
    let rows = client
        .query(
            "SELECT chunk, bits, first_id, first_time, last_time FROM filter_chunks
             WHERE chunk >= $1 ORDER BY chunk",
            &[&(from as i64)],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows.iter().map(info_from_row).collect())
}

/// The coded times of `chunk`'s entries.
pub(super) async fn times(client: &Client, chunk: u64) -> Result<Vec<u8>> {
    let row = client
        .query_opt(
            "SELECT times FROM filter_chunks WHERE chunk = $1",
            &[&(chunk as i64)],
        )
        .await
        .map_err(pg_error)?;
    Ok(row.map(|row| row.get(0)).unwrap_or_default())
}

/// For each of `keys`: the sealed chunks at or after `from` holding it, with counts.
pub(super) async fn directories(
    client: &Client,
    dim: i16,
    keys: &[Vec<u8>],
    from: u64,
) -> Result<Vec<DirectoryRow>> {
    let rows = client
        .query(
            "SELECT key, chunk, count FROM filter_postings
             WHERE dim = $1 AND key = ANY($2) AND chunk >= $3 ORDER BY key, chunk",
            &[&dim, &keys, &(from as i64)],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                row.get::<_, i64>(1) as u64,
                row.get::<_, i64>(2) as u64,
            )
        })
        .collect())
}

/// The stored bitmaps of `(key, chunk)` pairs that exist.
pub(super) async fn bitmaps(
    client: &Client,
    dim: i16,
    wanted: &[(Vec<u8>, u64)],
) -> Result<Vec<BitmapRow>> {
    let keys: Vec<&[u8]> = wanted.iter().map(|(key, _)| key.as_slice()).collect();
    let chunks: Vec<i64> = wanted.iter().map(|(_, chunk)| *chunk as i64).collect();
    let rows = client
        .query(
            "SELECT p.key, p.chunk, p.bits
             FROM unnest($2::bytea[], $3::bigint[]) AS w(key, chunk)
             JOIN filter_postings p ON p.dim = $1 AND p.key = w.key AND p.chunk = w.chunk",
            &[&dim, &keys, &chunks],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as u64, row.get(2)))
        .collect())
}

/// Every value of `dim` in a sealed chunk.
pub(super) async fn values(client: &Client, dim: i16) -> Result<Vec<Vec<u8>>> {
    let rows = client
        .query("SELECT key FROM filter_totals WHERE dim = $1", &[&dim])
        .await
        .map_err(pg_error)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Values of `dim` starting with `prefix`, with their sealed entry counts, the most
/// frequent first, at most `limit`.
pub(super) async fn totals(
    client: &Client,
    dim: i16,
    prefix: &[u8],
    limit: u64,
) -> Result<Vec<(Vec<u8>, u64)>> {
    let mut end = prefix.to_vec();
    end.push(0xFF); // no UTF-8 text holds the byte 0xFF
    let rows = client
        .query(
            "SELECT key, count FROM filter_totals WHERE dim = $1 AND key >= $2 AND key < $3
             ORDER BY count DESC, key LIMIT $4",
            &[&dim, &prefix, &end, &(limit.min(i64::MAX as u64) as i64)],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
        .collect())
}

/// The advisory lock key that serializes seals ("hawkseal" in ASCII).
const SEAL_LOCK: i64 = 0x6861_776b_7365_616c;

/// Writes one part of a seal in one transaction: its postings (kept where another
/// process or a retry already wrote them), its values' totals (each chunk counted
/// once), and, for the last part, the chunk's row that marks it sealed.
pub(super) async fn seal(client: &mut Client, part: &SealPart) -> Result<()> {
    let tx = client.transaction().await.db()?;
    // One seal writes at a time, whichever process: two sealing the same chunk would
    // otherwise lock the same rows in different orders and deadlock.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEAL_LOCK])
        .await
        .map_err(pg_error)?;
    let chunk = part.chunk as i64;
    let dims: Vec<i16> = part.postings.iter().map(|p| p.dim).collect();
    let keys: Vec<&[u8]> = part.postings.iter().map(|p| p.key.as_slice()).collect();
    let counts: Vec<i64> = part.postings.iter().map(|p| p.count as i64).collect();
    let bits: Vec<&[u8]> = part.postings.iter().map(|p| p.bits.as_slice()).collect();
    tx.execute(
        "INSERT INTO filter_postings (dim, key, chunk, count, bits)
         SELECT d, k, $5, c, b FROM unnest($1::smallint[], $2::bytea[], $3::bigint[], $4::bytea[])
             AS p(d, k, c, b)
         ON CONFLICT DO NOTHING",
        &[&dims, &keys, &counts, &bits, &chunk],
    )
    .await
    .map_err(pg_error)?;
    tx.execute(
        "INSERT INTO filter_totals (dim, key, count, through)
         SELECT d, k, c, $4 FROM unnest($1::smallint[], $2::bytea[], $3::bigint[]) AS p(d, k, c)
         ON CONFLICT (dim, key) DO UPDATE SET count = filter_totals.count + excluded.count,
             through = excluded.through
         WHERE filter_totals.through < excluded.through",
        &[&dims, &keys, &counts, &chunk],
    )
    .await
    .map_err(pg_error)?;
    if let Some(sealed) = &part.sealed {
        let info = &sealed.info;
        tx.execute(
            "INSERT INTO filter_chunks (chunk, bits, first_id, first_time, last_time, times)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chunk) DO NOTHING",
            &[
                &chunk,
                &(info.bits as i32),
                &info.first_id.map(|id| id as i64),
                &info.first_time,
                &info.last_time,
                &sealed.times,
            ],
        )
        .await
        .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)
}

/// The entries with these ids that are still in the log, in the order given.
pub(super) async fn entries(client: &Client, ids: &[u64]) -> Result<Vec<Entry>> {
    let wanted: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries e WHERE e.id = ANY($1)"
        ))
        .await
        .db()?;
    let rows = client.query(&stmt, &[&wanted]).await.db()?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let entry = entry_from_row(row)?;
        found.insert(entry.id, entry);
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Answers an operation of the filter index.
pub(super) async fn answer(client: &mut Client, op: IndexOp) -> Result<IndexAnswer> {
    Ok(match op {
        IndexOp::Chunks { from } => IndexAnswer::Chunks(chunks(client, from).await?),
        IndexOp::Times { chunk } => IndexAnswer::Times(times(client, chunk).await?),
        IndexOp::Directories { dim, keys, from } => {
            IndexAnswer::Directories(directories(client, dim, &keys, from).await?)
        }
        IndexOp::Bitmaps { dim, wanted } => {
            IndexAnswer::Bitmaps(bitmaps(client, dim, &wanted).await?)
        }
        IndexOp::Values { dim } => IndexAnswer::Values(values(client, dim).await?),
        IndexOp::Totals { dim, prefix, limit } => {
            IndexAnswer::Totals(totals(client, dim, &prefix, limit).await?)
        }
        IndexOp::Entries { ids } => IndexAnswer::Entries(entries(&*client, &ids).await?),
        IndexOp::Seal(part) => {
            seal(client, &part).await?;
            IndexAnswer::Sealed
        }
    })
}
