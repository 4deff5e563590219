//! Versioned migrations and connection settings for the SQLite file.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// How long a connection waits for another process's write lock before SQLite gives
/// up; the writer retries on top of this, so "database is locked" never reaches a user.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Migrations in order; `PRAGMA user_version` holds how many have been applied.
/// Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: entries, with the action dictionary that search and suggestions read.
    "CREATE TABLE actions (
         id    INTEGER PRIMARY KEY,
         name  TEXT NOT NULL UNIQUE,
         count INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE entries (
         id            INTEGER PRIMARY KEY,
         inserted_at   INTEGER NOT NULL,
         actor_type    TEXT,
         actor_id      TEXT,
         action_id     INTEGER NOT NULL REFERENCES actions(id),
         resource_type TEXT,
         resource_id   TEXT,
         account_id    TEXT,
         metadata      TEXT NOT NULL
     );
     CREATE INDEX entries_by_action ON entries(action_id, id);
     CREATE INDEX entries_by_account ON entries(account_id, id) WHERE account_id IS NOT NULL;",
];

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Settings every connection gets, reader or writer.
pub(super) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Puts the file in WAL mode with full fsync on commit and applies pending migrations,
/// all under the write lock so that processes opening one file at once agree.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    // Switching to WAL takes an exclusive lock of its own; the busy timeout covers it.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(format!(
            "cannot put the database in WAL mode (it stays in {mode} mode)"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > SCHEMA_VERSION {
        return Err(Error::Storage(format!(
            "the database has schema version {version}, newer than this Hawk knows \
             ({SCHEMA_VERSION}); upgrade Hawk"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}
