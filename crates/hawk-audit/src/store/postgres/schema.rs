//! Versioned migrations for the PostgreSQL store, in table `hawk_schema`, applied in one
//! transaction under `pg_advisory_xact_lock` so that processes opening one database at
//! once migrate it once. A current database is opened without DDL, so a role that may
//! only read and append can open it. Triggers refuse UPDATE, DELETE and TRUNCATE on
//! `entries` for every role; a transaction that sets `hawk.prune` may delete the ids a
//! `prunes` row covers.

use deadpool_postgres::Client;

use super::pg_error;
use super::tree::TreeNodes;
use crate::error::{Error, Result};
use crate::merkle::{Frontier, Hash};
use crate::store::{Mode, needs_migration};

/// The key of the advisory lock that migrations run under, so that processes opening
/// one database at once apply each migration exactly once ("hawk" in ASCII).
const MIGRATION_LOCK: i64 = 0x6861_776b;

/// Migrations in order; `hawk_schema.version` holds how many have been applied.
/// Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the log. `log_head` is the one row every append locks: it hands out ids (a
    // sequence would leave gaps when a transaction rolls back) and holds the Merkle
    // tree's frontier, so ids, counters and tree advance together. Per-action and
    // per-account sequence numbers make every filtered page a range.
    "CREATE TABLE actions (
         id    integer PRIMARY KEY,
         name  text NOT NULL UNIQUE,
         count bigint NOT NULL DEFAULT 0
     );
     CREATE TABLE entries (
         id            bigint PRIMARY KEY,
         inserted_at   timestamptz NOT NULL,
         actor_type    text,
         actor_id      text,
         action_id     integer NOT NULL REFERENCES actions (id),
         resource_type text,
         resource_id   text,
         account_id    text,
         metadata      json NOT NULL,
         action_seq    bigint NOT NULL,
         account_seq   bigint,
         hash          bytea NOT NULL
     );
     CREATE INDEX entries_by_action ON entries (action_id, id) INCLUDE (action_seq);
     CREATE INDEX entries_by_action_seq ON entries (action_id, action_seq);
     CREATE INDEX entries_by_account ON entries (account_id, id) INCLUDE (account_seq)
         WHERE account_id IS NOT NULL;
     CREATE INDEX entries_by_account_seq ON entries (account_id, account_seq)
         WHERE account_id IS NOT NULL;
     CREATE TABLE accounts (
         account_id text PRIMARY KEY,
         count      bigint NOT NULL
     );
     CREATE TABLE log_head (
         id          integer PRIMARY KEY CHECK (id = 1),
         next_id     bigint NOT NULL,
         last_time   timestamptz,
         frontier    bytea NOT NULL
     );
     CREATE TABLE api_keys (
         id         bigserial PRIMARY KEY,
         hash       text NOT NULL UNIQUE,
         prefix     text NOT NULL,
         scope      text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
         account_id text,
         created_at timestamptz NOT NULL,
         revoked_at timestamptz
     );",
    // 2: append-only in the database itself, for every role, the owner included.
    // Removing old entries (retention) will be its own path: a transaction that sets
    // `hawk.prune` to `on` may delete; nothing may ever update.
    "CREATE FUNCTION hawk_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         IF TG_OP = 'DELETE' AND current_setting('hawk.prune', true) = 'on' THEN
             RETURN OLD;
         END IF;
         RAISE EXCEPTION 'entries are append-only: % refused', TG_OP
             USING ERRCODE = 'insufficient_privilege';
     END
     $$;
     CREATE TRIGGER entries_refuse_change BEFORE UPDATE OR DELETE ON entries
         FOR EACH ROW EXECUTE FUNCTION hawk_refuse_change();
     CREATE TRIGGER entries_refuse_truncate BEFORE TRUNCATE ON entries
         FOR EACH STATEMENT EXECUTE FUNCTION hawk_refuse_change();",
    // 3: how far each import has read its source, written in the transaction of the
    // entries it imported, so a re-run or a resumed import writes nothing twice.
    "CREATE TABLE imports (
         source   text PRIMARY KEY,
         position text NOT NULL,
         entries  bigint NOT NULL
     );",
    // 4: signed checkpoints (C2SP signed notes of the tree head), one per tree size,
    // as append-only as the entries they vouch for; and the tree's perfect subtrees of
    // 256 leaves and more, written in the transaction that completes them, so that a
    // proof reads a few hundred rows instead of every leaf. `migrate` fills them in
    // for older logs.
    "CREATE TABLE tree_nodes (
         level integer NOT NULL,
         idx   bigint NOT NULL,
         hash  bytea NOT NULL,
         PRIMARY KEY (level, idx)
     );
     CREATE TABLE checkpoints (
         size       bigint PRIMARY KEY,
         root       bytea NOT NULL,
         note       text NOT NULL,
         created_at timestamptz NOT NULL
     );
     CREATE FUNCTION hawk_refuse_checkpoint_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         RAISE EXCEPTION 'checkpoints are append-only: % refused', TG_OP
             USING ERRCODE = 'insufficient_privilege';
     END
     $$;
     CREATE TRIGGER checkpoints_refuse_change BEFORE UPDATE OR DELETE ON checkpoints
         FOR EACH ROW EXECUTE FUNCTION hawk_refuse_checkpoint_change();
     CREATE TRIGGER checkpoints_refuse_truncate BEFORE TRUNCATE ON checkpoints
         FOR EACH STATEMENT EXECUTE FUNCTION hawk_refuse_checkpoint_change();",
    // 5: retention. `hawk prune` removes the oldest entries in one transaction and
    // keeps, per prune, the tree those entries made (so the rest stays verifiable) and
    // what each action and account lost (so totals stay exact). `count` goes on
    // numbering an action's or account's entries (`action_seq`, `account_seq`), so
    // what is left is `count - pruned`. Only ids a prune covers may be deleted, and
    // only by a transaction that sets `hawk.prune`.
    "CREATE TABLE prunes (
         through_id bigint PRIMARY KEY,
         last_time  timestamptz NOT NULL,
         before     timestamptz NOT NULL,
         removed    bigint NOT NULL,
         frontier   bytea NOT NULL,
         pruned_at  timestamptz NOT NULL
     );
     ALTER TABLE actions ADD COLUMN pruned bigint NOT NULL DEFAULT 0;
     ALTER TABLE accounts ADD COLUMN pruned bigint NOT NULL DEFAULT 0;
     CREATE OR REPLACE FUNCTION hawk_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         IF TG_OP = 'DELETE' AND current_setting('hawk.prune', true) = 'on' THEN
             IF OLD.id <= (SELECT max(through_id) FROM prunes) THEN
                 RETURN OLD;
             END IF;
         END IF;
         RAISE EXCEPTION 'entries are append-only: % refused', TG_OP
             USING ERRCODE = 'insufficient_privilege';
     END
     $$;",
    // 6: idempotency keys, checked and written in the append transaction under the
    // `log_head` lock, so two requests with one key never both write, whichever
    // processes they reach: a retry gets the entries stored the first time (`first_id`,
    // `count`); `digest` (SHA-256 of the validated entries) tells another request under
    // the same key apart. Keys older than a day are deleted.
    "CREATE TABLE idempotency_keys (
         key        text PRIMARY KEY,
         digest     bytea NOT NULL,
         first_id   bigint NOT NULL,
         count      bigint NOT NULL,
         created_at timestamptz NOT NULL
     );
     CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);",
    // 7: the filter index (`crate::postings::index`), as in the SQLite file: per sealed
    // chunk of 2^`bits` ids its entries' coded times (µs) and first id, and per
    // dimension, value and chunk a count and a roaring bitmap; `filter_totals` sums
    // each value's counts for suggestions by prefix (`through`: the last chunk counted,
    // so a seal done twice, by a retry or by two processes, counts a chunk once). Keys
    // are bytes (a type/id pair is joined by U+0000, which `text` cannot hold). Written
    // by seals in short transactions after the appends; the chunk's row last.
    "CREATE TABLE filter_chunks (
         chunk      bigint PRIMARY KEY,
         bits       integer NOT NULL,
         first_id   bigint,
         first_time bigint,
         last_time  bigint,
         times      bytea NOT NULL
     );
     CREATE TABLE filter_postings (
         dim   smallint NOT NULL,
         key   bytea NOT NULL,
         chunk bigint NOT NULL,
         count bigint NOT NULL,
         bits  bytea NOT NULL,
         PRIMARY KEY (dim, key, chunk)
     );
     CREATE TABLE filter_totals (
         dim     smallint NOT NULL,
         key     bytea NOT NULL,
         count   bigint NOT NULL,
         through bigint NOT NULL,
         PRIMARY KEY (dim, key)
     );",
    // 8: log streams, as SQLite's migration 12 (one set of statements reads and
    // writes both: integers are bigint, times µs, flags 0/1).
    "CREATE TABLE sinks (
         name          text PRIMARY KEY,
         kind          text NOT NULL,
         settings      text NOT NULL,
         secret        text,
         query         text,
         batch         bigint NOT NULL,
         cursor        bigint NOT NULL,
         in_flight     bigint,
         epoch         bigint NOT NULL DEFAULT 0,
         paused        bigint NOT NULL,
         delivered     bigint NOT NULL,
         failures      bigint NOT NULL,
         last_error    text,
         last_error_at bigint,
         holder        text,
         lease_until   bigint,
         created_at    bigint NOT NULL
     );",
];

/// The migration that adds stored subtrees; older logs get theirs from their hashes.
const NODES_MIGRATION: usize = 4;

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Applies pending migrations in one transaction under an advisory lock.
pub(super) async fn migrate(client: &mut Client, mode: Mode) -> Result<()> {
    // An up-to-date database needs no lock and no DDL, so a role that may only read
    // and append can open it.
    let current: Option<i32> = client
        .query_opt("SELECT version FROM hawk_schema WHERE id = 1", &[])
        .await
        .ok()
        .flatten()
        .map(|row| row.get(0));
    match current.map(|v| usize::try_from(v).unwrap_or(usize::MAX)) {
        Some(SCHEMA_VERSION) => return Ok(()),
        Some(version) if version > SCHEMA_VERSION => return Err(too_new(version)),
        None if !mode.create || mode.read_only => {
            return Err(Error::NotFound(
                "no log in this database (it has no Hawk tables)".into(),
            ));
        }
        Some(version) if mode.read_only => {
            return Err(needs_migration("the database", version, SCHEMA_VERSION));
        }
        _ => {}
    }
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hawk_schema (
             id      integer PRIMARY KEY CHECK (id = 1),
             version integer NOT NULL
         );
         INSERT INTO hawk_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
    )
    .await
    .map_err(pg_error)?;
    let version: i32 = tx
        .query_one("SELECT version FROM hawk_schema WHERE id = 1", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > SCHEMA_VERSION {
        return Err(too_new(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute(
            "UPDATE hawk_schema SET version = $1 WHERE id = 1",
            &[&((i + 1) as i32)],
        )
        .await
        .map_err(pg_error)?;
        if i + 1 == NODES_MIGRATION {
            backfill_nodes(&tx).await?;
        }
        if i == 0 {
            tx.execute(
                "INSERT INTO log_head (id, next_id, last_time, frontier) VALUES (1, 1, NULL, $1)",
                &[&Frontier::new().to_bytes()],
            )
            .await
            .map_err(pg_error)?;
        }
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(())
}

/// Stores the perfect subtrees of the tree the stored leaf hashes make, reading the
/// hashes in id order through a cursor (memory stays constant however long the log).
async fn backfill_nodes(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    let select = tx
        .prepare("SELECT hash FROM entries ORDER BY id")
        .await
        .map_err(pg_error)?;
    let portal = tx.bind(&select, &[]).await.map_err(pg_error)?;
    let mut frontier = Frontier::new();
    let mut nodes = TreeNodes::default();
    loop {
        let rows = tx
            .query_portal(&portal, BACKFILL_CHUNK)
            .await
            .map_err(pg_error)?;
        for row in &rows {
            // A hash that is not 32 bytes was tampered with: stop here rather than
            // refuse to open the log (`verify` must still be able to read it); proofs
            // hash the leaves where no subtree is stored.
            let hash: Option<&[u8]> = row.try_get(0).ok().flatten();
            let Some(leaf) = hash.and_then(|h| Hash::try_from(h).ok()) else {
                return nodes.insert(tx).await.map_err(pg_error);
            };
            frontier.push_with(leaf, |level, index, node| nodes.add(level, index, node));
        }
        nodes.insert(tx).await.map_err(pg_error)?;
        nodes = TreeNodes::default();
        if rows.len() < BACKFILL_CHUNK as usize {
            return Ok(());
        }
    }
}

/// Entries read per step when filling in the stored subtrees of an older log.
const BACKFILL_CHUNK: i32 = 10_000;

fn too_new(version: usize) -> Error {
    Error::storage(format!(
        "the database has schema version {version}, newer than this Hawk knows \
         ({SCHEMA_VERSION}); upgrade Hawk"
    ))
}
