//! API keys in table `api_keys`; only their hashes are stored.

use deadpool_postgres::Client;
use time::{OffsetDateTime, UtcOffset};
use tokio_postgres::Row;

use crate::entry::time_from_micros;
use crate::error::{DbResult, Error, Result};
use crate::keys::{KeyInfo, NewKey, Scope};

const KEY_COLUMNS: &str = "id, prefix, scope, account_id, created_at, revoked_at";

fn key_from_row(row: &Row) -> Result<KeyInfo> {
    let scope: &str = row.get(2);
    let utc = |t: OffsetDateTime| t.to_offset(UtcOffset::UTC);
    Ok(KeyInfo {
        id: row.get::<_, i64>(0) as u64,
        prefix: row.get(1),
        scope: scope
            .parse::<Scope>()
            .map_err(|e| Error::storage_from(format!("stored key scope is unreadable: {e}"), e))?,
        account_id: row.get(3),
        created_at: utc(row.get(4)),
        revoked_at: row.get::<_, Option<OffsetDateTime>>(5).map(utc),
    })
}

/// Stores a new key.
pub(super) async fn create(client: &Client, key: NewKey, now: i64) -> Result<KeyInfo> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO api_keys (hash, prefix, scope, account_id, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        ))
        .await
        .db()?;
    let row = client
        .query_one(
            &stmt,
            &[
                &key.hash,
                &key.prefix,
                &key.scope.as_str(),
                &key.account_id,
                &time_from_micros(now),
            ],
        )
        .await
        .db()?;
    key_from_row(&row)
}

/// Marks key `id` revoked (keeping an earlier revocation); `None` when there is no
/// such key.
pub(super) async fn revoke(client: &Client, id: u64, now: i64) -> Result<Option<KeyInfo>> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(None);
    };
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
             RETURNING {KEY_COLUMNS}"
        ))
        .await
        .db()?;
    client
        .query_opt(&stmt, &[&id, &time_from_micros(now)])
        .await
        .db()?
        .as_ref()
        .map(key_from_row)
        .transpose()
}

/// The live (not revoked) key with this hash.
pub(super) async fn by_hash(client: &Client, hash: &str) -> Result<Option<KeyInfo>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"
        ))
        .await
        .db()?;
    client
        .query_opt(&stmt, &[&hash])
        .await
        .db()?
        .as_ref()
        .map(key_from_row)
        .transpose()
}

/// Whether any live key exists.
pub(super) async fn any(client: &Client) -> Result<bool> {
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
        .await
        .db()?;
    Ok(client.query_one(&stmt, &[]).await.db()?.get(0))
}

/// Every key, oldest first, revoked ones included.
pub(super) async fn list(client: &Client) -> Result<Vec<KeyInfo>> {
    let stmt = client
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))
        .await
        .db()?;
    client
        .query(&stmt, &[])
        .await
        .db()?
        .iter()
        .map(key_from_row)
        .collect()
}
