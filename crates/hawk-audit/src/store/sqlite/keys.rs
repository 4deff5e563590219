//! API keys: created and revoked on a short-lived connection of their own (they are
//! rare and never part of an entry's transaction), looked up by hash on the readers.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use super::schema;
use crate::entry::time_from_micros;
use crate::error::{DbResult, Error, Result};
use crate::keys::{KeyInfo, NewKey, Scope};

const KEY_COLUMNS: &str = "id, prefix, scope, account_id, created_at, revoked_at";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyInfo> {
    let scope: String = row.get(2)?;
    Ok(KeyInfo {
        id: row.get::<_, i64>(0)? as u64,
        prefix: row.get(1)?,
        scope: scope.parse::<Scope>().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        account_id: row.get(3)?,
        created_at: time_from_micros(row.get(4)?),
        revoked_at: row.get::<_, Option<i64>>(5)?.map(time_from_micros),
    })
}

pub(super) fn write_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).db()?;
    schema::configure(&conn)?;
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    Ok(conn)
}

/// Stores a new key. Blocking.
pub(super) fn create(path: &Path, key: NewKey, now: i64) -> Result<KeyInfo> {
    let mut conn = write_connection(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    tx.execute(
        "INSERT INTO api_keys (hash, prefix, scope, account_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            key.hash,
            key.prefix,
            key.scope.as_str(),
            key.account_id,
            now
        ],
    )
    .db()?;
    let id = tx.last_insert_rowid();
    let info = tx
        .query_row(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
            [id],
            key_from_row,
        )
        .db()?;
    tx.commit().db()?;
    Ok(info)
}

/// Marks key `id` revoked; `None` when there is no such key. Blocking.
pub(super) fn revoke(path: &Path, id: u64, now: i64) -> Result<Option<KeyInfo>> {
    let mut conn = write_connection(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let id = i64::try_from(id).map_err(|_| Error::NotFound(format!("key {id}")))?;
    tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        [id, now],
    )
    .db()?;
    let info = tx
        .query_row(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
            [id],
            key_from_row,
        )
        .optional()
        .db()?;
    tx.commit().db()?;
    Ok(info)
}

/// The live (not revoked) key with this hash.
pub(super) fn by_hash(conn: &Connection, hash: &str) -> Result<Option<KeyInfo>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([hash], key_from_row)
        .optional()
        .db()
}

/// Whether any live key exists.
pub(super) fn any(conn: &Connection) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
        .db()?
        .query_row([], |row| row.get(0))
        .db()
}

/// Every key, oldest first, revoked ones included.
pub(super) fn list(conn: &Connection) -> Result<Vec<KeyInfo>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([], key_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}
