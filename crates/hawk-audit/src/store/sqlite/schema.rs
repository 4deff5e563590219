//! Versioned migrations and connection settings for the SQLite file.
//!
//! Each migration's comment says what it adds and why. Migrations that change what is
//! stored about old entries fill it in their own transaction (migration 4 hashes the
//! existing entries in id order; migration 6 stores their completed subtrees). The
//! writer's connection checkpoints the WAL every `WAL_AUTOCHECKPOINT` pages rather than
//! SQLite's 1,000, and carries the size cap (`limit_size`).

use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};

use crate::entry::{Entry, metadata_from_json, time_from_micros};
use crate::error::{DbResult, DriverError, Error, Result};
use crate::merkle::{Frontier, leaf_hash};

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
    // 2: what makes every page exact in constant time. Per-account sequence numbers
    // and totals turn an account page into a range; per-block action counts let the
    // readers find the k-th match of a search without counting entries.
    "ALTER TABLE entries ADD COLUMN account_seq INTEGER;
     UPDATE entries SET account_seq = numbered.n
     FROM (
         SELECT id AS eid, row_number() OVER (PARTITION BY account_id ORDER BY id) AS n
         FROM entries WHERE account_id IS NOT NULL
     ) AS numbered
     WHERE entries.id = numbered.eid;
     CREATE INDEX entries_by_account_seq ON entries(account_id, account_seq)
         WHERE account_id IS NOT NULL;
     CREATE TABLE accounts (
         account_id TEXT PRIMARY KEY,
         count      INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO accounts (account_id, count)
         SELECT account_id, count(*) FROM entries
         WHERE account_id IS NOT NULL GROUP BY account_id;
     CREATE TABLE action_blocks (
         block     INTEGER NOT NULL,
         action_id INTEGER NOT NULL,
         count     INTEGER NOT NULL,
         PRIMARY KEY (block, action_id)
     ) WITHOUT ROWID;
     INSERT INTO action_blocks (block, action_id, count)
         SELECT (id - 1) / 1024, action_id, count(*) FROM entries GROUP BY 1, 2;",
    // 3: API keys, kept as SHA-256 hashes; a key is shown once, when it is created.
    "CREATE TABLE api_keys (
         id         INTEGER PRIMARY KEY,
         hash       TEXT NOT NULL UNIQUE,
         prefix     TEXT NOT NULL,
         scope      TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
         account_id TEXT,
         created_at INTEGER NOT NULL,
         revoked_at INTEGER
     );",
    // 4: tamper evidence. Each entry's leaf hash in the log's Merkle tree, and the
    // tree's right edge (`merkle::Frontier`), updated in the transaction that appends.
    // `migrate` hashes the entries that existed before this migration.
    "ALTER TABLE entries ADD COLUMN hash BLOB;
     CREATE TABLE tree_frontier (
         id    INTEGER PRIMARY KEY CHECK (id = 1),
         bytes BLOB NOT NULL
     );",
    // 5: append-only in the database itself: whoever holds the file cannot change or
    // remove an entry through SQL without first dropping these triggers (which the
    // Merkle tree then exposes).
    "CREATE TRIGGER entries_refuse_update BEFORE UPDATE ON entries
     BEGIN SELECT RAISE(ABORT, 'entries are append-only: UPDATE refused'); END;
     CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
     BEGIN SELECT RAISE(ABORT, 'entries are append-only: DELETE refused'); END;",
    // 6: signed checkpoints (C2SP signed notes of the tree head), one per tree size,
    // as append-only as the entries they vouch for; and the tree's perfect subtrees of
    // 256 leaves and more, written as they complete, so that a proof reads a few
    // hundred rows instead of every leaf. `migrate` fills them in for older logs.
    "CREATE TABLE tree_nodes (
         level INTEGER NOT NULL,
         idx   INTEGER NOT NULL,
         hash  BLOB NOT NULL,
         PRIMARY KEY (level, idx)
     ) WITHOUT ROWID;
     CREATE TABLE checkpoints (
         size       INTEGER PRIMARY KEY,
         root       BLOB NOT NULL,
         note       TEXT NOT NULL,
         created_at INTEGER NOT NULL
     );
     CREATE TRIGGER checkpoints_refuse_update BEFORE UPDATE ON checkpoints
     BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: UPDATE refused'); END;
     CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
     BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: DELETE refused'); END;",
    // 7: how far each import has read its source, written in the transaction of the
    // entries it imported, so a re-run or a resumed import writes nothing twice.
    "CREATE TABLE imports (
         source   TEXT PRIMARY KEY,
         position TEXT NOT NULL,
         entries  INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 8: retention. `hawk prune` removes the oldest entries in one transaction and
    // keeps, per prune, the tree those entries made (so the rest stays verifiable) and
    // what each action and account lost (so totals stay exact). The delete trigger
    // lets through only ids a prune covers.
    "CREATE TABLE prunes (
         through_id INTEGER PRIMARY KEY,
         last_time  INTEGER NOT NULL,
         before     INTEGER NOT NULL,
         removed    INTEGER NOT NULL,
         frontier   BLOB NOT NULL,
         pruned_at  INTEGER NOT NULL
     );
     CREATE TABLE pruned_actions (
         action_id INTEGER PRIMARY KEY REFERENCES actions(id),
         count     INTEGER NOT NULL
     );
     ALTER TABLE accounts ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;
     DROP TRIGGER entries_refuse_delete;
     CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
     WHEN old.id > (SELECT coalesce(max(through_id), 0) FROM prunes)
     BEGIN SELECT RAISE(ABORT, 'entries are append-only: DELETE refused'); END;",
    // 9: an account's history without the table. The account's entries lie scattered
    // through `entries` (one in forty rows for the busiest account of the reference
    // workload), so walking them by a narrow index costs a table seek and mostly a
    // fresh page per entry. This index holds every column, in the account's order, so
    // its pages hold nothing but the account's entries, read one after another. It
    // replaces the narrow index on the same key.
    "CREATE INDEX entries_by_account_history ON entries (
         account_id, account_seq, id, inserted_at, actor_type, actor_id, action_id,
         resource_type, resource_id, metadata, hash
     ) WHERE account_id IS NOT NULL;
     DROP INDEX entries_by_account_seq;",
    // 10: idempotency keys, checked and written in the append transaction: a retried
    // request under the same key gets the entries stored the first time (`first_id`,
    // `count`); `digest` (SHA-256 of the validated entries) tells another request under
    // the same key apart. Times in µs; keys older than a day are deleted.
    "CREATE TABLE idempotency_keys (
         key        TEXT PRIMARY KEY,
         digest     BLOB NOT NULL,
         first_id   INTEGER NOT NULL,
         count      INTEGER NOT NULL,
         created_at INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);",
    // 11: the filter index (`crate::postings::index`). Each sealed chunk of
    // 2^`bits` ids has a row in `filter_chunks` (the times of its entries, coded, and
    // their first id) and, per dimension and value, one row in `filter_postings`: how
    // many of the chunk's entries hold the value, and which (a roaring bitmap). Keys
    // are bytes, since a type/id pair is joined by U+0000. `filter_totals` sums each
    // value's counts, for suggestions by prefix (`through`: the last chunk counted, so
    // a seal interrupted and done again counts no chunk twice). Written by seals, in
    // short transactions after the appends, never in theirs; the chunk's row last.
    "CREATE TABLE filter_chunks (
         chunk      INTEGER PRIMARY KEY,
         bits       INTEGER NOT NULL,
         first_id   INTEGER,
         first_time INTEGER,
         last_time  INTEGER,
         times      BLOB NOT NULL
     );
     CREATE TABLE filter_postings (
         dim   INTEGER NOT NULL,
         key   BLOB NOT NULL,
         chunk INTEGER NOT NULL,
         count INTEGER NOT NULL,
         bits  BLOB NOT NULL,
         PRIMARY KEY (dim, key, chunk)
     ) WITHOUT ROWID;
     CREATE TABLE filter_totals (
         dim     INTEGER NOT NULL,
         key     BLOB NOT NULL,
         count   INTEGER NOT NULL,
         through INTEGER NOT NULL,
         PRIMARY KEY (dim, key)
     ) WITHOUT ROWID;",
    // 12: log streams (`crate::sinks`): each sink's settings, filter, cursor (the
    // newest id delivered), the batch in flight, state, last error and lease.
    "CREATE TABLE sinks (
         name          TEXT PRIMARY KEY,
         kind          TEXT NOT NULL,
         settings      TEXT NOT NULL,
         secret        TEXT,
         query         TEXT,
         batch         INTEGER NOT NULL,
         cursor        INTEGER NOT NULL,
         in_flight     INTEGER,
         epoch         INTEGER NOT NULL DEFAULT 0,
         paused        INTEGER NOT NULL,
         delivered     INTEGER NOT NULL,
         failures      INTEGER NOT NULL,
         last_error    TEXT,
         last_error_at INTEGER,
         holder        TEXT,
         lease_until   INTEGER,
         created_at    INTEGER NOT NULL
     );",
];

/// The migration that adds leaf hashes; entries older than it are hashed in Rust.
const HASH_MIGRATION: usize = 4;

/// The migration that adds stored subtrees; older logs get theirs from their hashes.
const NODES_MIGRATION: usize = 6;

/// Entries read per step when hashing the entries of an older log.
const BACKFILL_CHUNK: i64 = 10_000;

/// Entries per block of `action_blocks`; the `1024` in migration 2 must match.
pub(super) const BLOCK: u64 = 1024;

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Settings every connection gets, reader or writer.
pub(super) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "foreign_keys", "ON").db()?;
    Ok(())
}

/// WAL pages after which the writer's commit copies the log back into the database
/// file (SQLite's default is 1,000). Each commit appends every page it touched to
/// the WAL, and a checkpoint writes each distinct page once more and syncs the file:
/// a longer interval lets the pages that most commits touch (the newest `entries`
/// leaf, the busiest actions' index leaves, counters) reach the file once instead of
/// once per few commits, and halts the writer ten times less often. 10,000 pages of
/// 4 KiB bound the WAL at about 40 MB between checkpoints.
const WAL_AUTOCHECKPOINT: i64 = 10_000;

/// Settings of the writer's connection only.
pub(super) fn configure_writer(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)
        .db()?;
    Ok(())
}

/// Caps the file at `bytes`, in whole pages, for this connection (SQLite keeps the cap
/// per connection, so it binds the writer). A transaction that needs a page beyond it
/// fails with SQLITE_FULL and rolls back, exactly as on a full disk; pages freed inside
/// the file are reused, so writes resume once there is room, without reopening.
/// SQLite never sets the cap below the file's current size.
pub(super) fn limit_size(conn: &Connection, bytes: u64) -> Result<()> {
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .db()?;
    let pages = i64::try_from(bytes / page_size.max(1) as u64)
        .unwrap_or(i64::MAX)
        .max(1);
    conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get::<_, i64>(0))
        .db()?;
    Ok(())
}

/// Switches the file to WAL mode (a no-op when it already is). The switch needs an
/// exclusive lock, and SQLite answers "database is locked" at once instead of waiting
/// when processes open a new file together, so it is retried here with backoff.
fn enable_wal(conn: &Connection) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let result = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
            .and_then(|mode| {
                if mode.eq_ignore_ascii_case("wal") {
                    Ok(mode)
                } else {
                    conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
                }
            });
        match result {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(Error::storage(format!(
                    "cannot put the database in WAL mode (it stays in {mode} mode)"
                )));
            }
            Err(err) if is_busy(&err) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(err) => return Err(err.into_storage()),
        }
    }
}

/// Whether SQLite refused because another connection holds a lock.
pub(super) fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Puts the file in WAL mode with full fsync on commit and applies pending migrations,
/// all under the write lock so that processes opening one file at once agree.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    enable_wal(conn)?;
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .db()?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > SCHEMA_VERSION {
        return Err(Error::storage(format!(
            "the database has schema version {version}, newer than this Hawk knows \
             ({SCHEMA_VERSION}); upgrade Hawk"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql).db()?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .db()?;
        if i + 1 == HASH_MIGRATION {
            backfill_hashes(&tx).db()?;
        }
        if i + 1 == NODES_MIGRATION {
            backfill_nodes(&tx).db()?;
        }
    }
    tx.commit().db()?;
    Ok(())
}

/// What a read-only open checks instead of migrating: the file holds a log of the
/// schema this build reads.
pub(super) fn check_current(conn: &Connection, path: &std::path::Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| Error::storage_from(format!("{}: cannot read it: {e}", path.display()), e))?;
    match usize::try_from(version).unwrap_or(usize::MAX) {
        SCHEMA_VERSION => Ok(()),
        0 => Err(Error::NotFound(format!(
            "no log in {} (a database without Hawk's tables)",
            path.display()
        ))),
        version if version > SCHEMA_VERSION => Err(Error::storage(format!(
            "{} has schema version {version}, newer than this Hawk knows \
             ({SCHEMA_VERSION}); upgrade Hawk",
            path.display()
        ))),
        version => Err(crate::store::needs_migration(
            &path.display().to_string(),
            version,
            SCHEMA_VERSION,
        )),
    }
}

// What follows fills in what migrations 4 and 6 add about older entries. Like the
// migrations, it carries its own SQL and constants, as of those migrations: editing
// the code that writes and reads entries today must not change what an old migration
// does.

/// The lowest level of the subtrees migration 6 stores (2^8 leaves).
const MIGRATION_6_NODE_LEVEL: u32 = 8;

/// Stores the perfect subtrees of the tree the stored leaf hashes make.
fn backfill_nodes(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let mut frontier = Frontier::new();
    let mut select = tx.prepare("SELECT hash FROM entries ORDER BY id")?;
    let mut rows = select.query([])?;
    let mut insert =
        tx.prepare("INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")?;
    while let Some(row) = rows.next()? {
        // A hash that is not 32 bytes was tampered with: stop here rather than refuse
        // to open the log (`verify` must still be able to read it); proofs hash the
        // leaves where no subtree is stored.
        let hash: Option<Vec<u8>> = row.get(0).ok().flatten();
        let Some(leaf) = hash.and_then(|h| crate::merkle::Hash::try_from(h.as_slice()).ok()) else {
            break;
        };
        let mut failed = None;
        frontier.push_with(leaf, |level, index, node| {
            if level >= MIGRATION_6_NODE_LEVEL && failed.is_none() {
                failed = insert
                    .execute(params![level, index as i64, &node[..]])
                    .err();
            }
        });
        if let Some(err) = failed {
            return Err(err);
        }
    }
    Ok(())
}

/// Hashes every entry, in id order, as it reads back, and stores the tree they make:
/// a log written before hashes existed becomes verifiable from here on.
fn backfill_hashes(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let mut frontier = Frontier::new();
    let mut select = tx.prepare(
        "SELECT e.id, e.inserted_at, e.actor_type, e.actor_id,
             (SELECT name FROM actions WHERE id = e.action_id),
             e.resource_type, e.resource_id, e.account_id, e.metadata
         FROM entries e WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
    )?;
    let mut update = tx.prepare("UPDATE entries SET hash = ?1 WHERE id = ?2")?;
    let mut after = 0i64;
    loop {
        let chunk = select
            .query_map(params![after, BACKFILL_CHUNK], unhashed_entry)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some(last) = chunk.last() else { break };
        after = last.id as i64;
        for entry in &chunk {
            let leaf = leaf_hash(entry);
            update.execute(params![&leaf[..], entry.id as i64])?;
            frontier.push(leaf);
        }
    }
    tx.execute(
        "INSERT INTO tree_frontier (id, bytes) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
        [frontier.to_bytes()],
    )?;
    Ok(())
}

/// An entry from a row of `backfill_hashes`'s select, before it has a hash.
fn unhashed_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let metadata = row.get_ref(8)?.as_str()?;
    Ok(Entry {
        id: row.get::<_, i64>(0)? as u64,
        inserted_at: time_from_micros(row.get(1)?),
        actor_type: row.get(2)?,
        actor_id: row.get(3)?,
        action: row.get(4)?,
        resource_type: row.get(5)?,
        resource_id: row.get(6)?,
        account_id: row.get(7)?,
        metadata: metadata_from_json(metadata).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        hash: String::new(),
    })
}
