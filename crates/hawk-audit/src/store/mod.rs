//! The stores behind an [`Audit`](crate::Audit) handle. Only this module speaks SQL.
//!
//! The contract between `Audit` and a store is the [`contract!`] list below, one doc
//! line per operation; each engine (`sqlite`, `postgres`) implements it with its own
//! SQL, on the engine-independent write path (`sequence`, `group`).

mod group;
mod idempotency;
pub(crate) mod index_ops;
mod pending;
mod postgres;
mod sequence;
pub(crate) mod sink_ops;
mod sqlite;

pub(crate) use sequence::{Batch, NODE_LEVEL, Times};

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::checkpoint::StoredCheckpoint;
use crate::entry::Entry;
use crate::error::{Error, Invalid, Result, Rule};
use crate::idempotency::Keyed;
use crate::keys::{KeyInfo, NewKey};
use crate::location::Location;
use crate::merkle::{Frontier, Hash};
use crate::query::{ActionCount, Page, Recent, Term};
use crate::retention::{PrunePlan, Pruned};

/// Which entries a listing covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Only this account's entries.
    pub(crate) account: Option<String>,
    /// Only entries whose action matches.
    pub(crate) term: Option<Term>,
}

/// An import's step through its source, committed in the transaction of the entries
/// it read: the position moves from `from` (`None`: never imported) to `to`.
#[derive(Debug, Clone)]
pub(crate) struct ImportMark {
    pub(crate) source: String,
    pub(crate) from: Option<String>,
    pub(crate) to: String,
    pub(crate) entries: usize,
}

impl ImportMark {
    /// Refuses the step unless the stored position (read under the writer's lock) is
    /// still where this batch was read from: two imports of one source at once cannot
    /// both write the same records.
    pub(crate) fn check(&self, stored: Option<String>) -> Result<()> {
        if stored != self.from {
            return Err(Error::storage(format!(
                "another import of {} committed since this one read its position; run it again",
                self.source
            )));
        }
        Ok(())
    }
}

/// What a scan of the whole log hands its [`Scanner`], in order.
pub(crate) enum ScanItem {
    /// First: the stored tree, as of the scan's snapshot, and the tree of the entries
    /// pruned from the front of the log (`None`: nothing was pruned).
    Start {
        frontier: Result<Frontier>,
        pruned: Option<Result<Frontier>>,
    },
    /// Each entry row, in id order.
    Entry(ScannedEntry),
    /// Each stored checkpoint, right after the entry whose id is its size (before any
    /// entry with a larger id).
    Checkpoint(StoredCheckpoint),
}

/// One entry row as stored, read without trusting it.
pub(crate) struct ScannedEntry {
    pub(crate) id: i64,
    /// The entry, or why its row cannot be read as one.
    pub(crate) entry: std::result::Result<Entry, String>,
    /// The stored leaf hash (`None` when missing or not bytes).
    pub(crate) hash: Option<Vec<u8>>,
}

/// Consumes a scan; `Break` stops it.
pub(crate) trait Scanner: Send + 'static {
    fn visit(&mut self, item: ScanItem) -> ControlFlow<()>;
}

/// `MTH` of leaves `start..end`, from the stored `(id, hash)` of entries
/// `start + 1 ..= end` pushed in id order: an id out of place or a missing hash is an
/// error naming the entry (both stores read their rows differently, then share this).
pub(crate) struct LeafRun {
    frontier: Frontier,
    expected: u64,
    end: u64,
}

impl LeafRun {
    pub(crate) fn new(start: u64, end: u64) -> Self {
        LeafRun {
            frontier: Frontier::new(),
            expected: start + 1,
            end,
        }
    }

    pub(crate) fn push(&mut self, id: u64, hash: Option<&[u8]>) -> Result<()> {
        let leaf = hash
            .and_then(|h| Hash::try_from(h).ok())
            .filter(|_| id == self.expected)
            .ok_or_else(|| missing_leaf(self.expected))?;
        self.frontier.push(leaf);
        self.expected += 1;
        Ok(())
    }

    pub(crate) fn root(self) -> Result<Hash> {
        if self.expected != self.end + 1 {
            return Err(missing_leaf(self.expected));
        }
        Ok(self.frontier.root())
    }
}

/// The error for entry `id` missing, or stored without its leaf hash.
pub(crate) fn missing_leaf(id: u64) -> Error {
    Error::storage(format!(
        "entry {id} is missing or has no leaf hash; run hawk verify"
    ))
}

/// `sql`, written in SQLite's `?N` form, with PostgreSQL's placeholders (`$1` for
/// `?1`), for the statements both engines share; none of them has a `?` elsewhere.
pub(crate) fn for_postgres(sql: &str) -> String {
    sql.replace('?', "$")
}

/// The forward walk's statement (`entries_after`), in SQLite's `?N` form: entries
/// above `?1`, oldest first, at most `?2`, of account `?3` alone when `by_account`.
pub(crate) fn entries_after_sql(columns: &str, by_account: bool) -> String {
    let account = if by_account {
        "e.account_id = ?3 AND "
    } else {
        ""
    };
    format!("SELECT {columns} FROM entries e WHERE {account}e.id > ?1 ORDER BY e.id LIMIT ?2")
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode {
    /// A missing log may be created (a SQLite file, or the tables of an empty
    /// PostgreSQL database).
    pub(crate) create: bool,
    /// Only reads: nothing is migrated and no writer starts, so a file or role without
    /// write access can be read.
    pub(crate) read_only: bool,
}

impl Default for Mode {
    fn default() -> Self {
        Mode {
            create: true,
            read_only: false,
        }
    }
}

/// The error of a read-only store asked to migrate `what` from schema `found` to
/// `wanted`.
pub(crate) fn needs_migration(what: &str, found: usize, wanted: usize) -> Error {
    Error::storage(format!(
        "{what} has schema version {found} and this Hawk needs {wanted}; a read-only open \
         cannot migrate it: open it once with write access (e.g. hawk track, hawk serve), \
         or read it with the Hawk that wrote it"
    ))
}

/// A concrete store; one variant per engine.
pub(crate) enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Writes the store contract: each operation once, with its doc line, as a method of
/// [`Store`] that calls the engine's method of the same name and signature (which each
/// engine must have: a missing or different one does not compile).
macro_rules! contract {
    () => {};
    (
        $(#[$doc:meta])*
        async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        impl Store {
            $(#[$doc])*
            pub(crate) async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    Store::Sqlite(s) => s.$name($($arg),*).await,
                    Store::Postgres(s) => s.$name($($arg),*).await,
                }
            }
        }
        contract!($($rest)*);
    };
    (
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        $($rest:tt)*
    ) => {
        impl Store {
            $(#[$doc])*
            pub(crate) fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    Store::Sqlite(s) => s.$name($($arg),*),
                    Store::Postgres(s) => s.$name($($arg),*),
                }
            }
        }
        contract!($($rest)*);
    };
}

// Times are µs since the epoch; ids are entry ids (leaf `id - 1`).
contract! {
    /// Commits `batch` (with an import's step, under an idempotency key) atomically;
    /// answers with the stored entries once they are durable.
    async fn append(
        &self, batch: Batch, mark: Option<ImportMark>, key: Option<Keyed>
    ) -> Result<Vec<Entry>>;
    /// Appends waiting for the writer, not yet picked up into a commit.
    fn queue_depth(&self) -> usize;
    /// Watches the newest id committed through this store (in this process).
    fn subscribe_head(&self) -> tokio::sync::watch::Receiver<u64>;
    /// The newest id committed, by any process.
    async fn head(&self) -> Result<u64>;

    /// A page of the entries `filter` covers, newest first, with exact totals.
    async fn page(&self, filter: Filter, opts: Recent) -> Result<Page>;
    /// Entries with ids above `after`, oldest first, at most `limit`, of `account` alone
    /// when given.
    async fn entries_after(
        &self, after: u64, limit: u64, account: Option<String>
    ) -> Result<Vec<Entry>>;
    /// A statement on the log streams' table (see `sink_ops`).
    async fn sinks(&self, op: sink_ops::SinkOp) -> Result<sink_ops::SinkAnswer>;
    /// A read or write of the filter index's tables (see `index_ops`).
    async fn index(&self, op: index_ops::IndexOp) -> Result<index_ops::IndexAnswer>;
    /// The actions matching `term`, with their counts, at most `limit` (typeahead order).
    async fn actions(&self, term: Option<Term>, limit: u64) -> Result<Vec<ActionCount>>;
    /// [`actions`](Self::actions) among `account`'s entries alone.
    async fn account_actions(
        &self, account: String, term: Option<Term>, limit: u64
    ) -> Result<Vec<ActionCount>>;
    /// The sequence numbers (each account numbers its entries 1, 2, 3 … in id order)
    /// of `account`'s oldest and newest entries; `None` when it has none.
    async fn account_seqs(&self, account: String) -> Result<Option<(u64, u64)>>;
    /// `account`'s entries numbered `low..=high`, newest first.
    async fn account_range(
        &self, account: String, low: u64, high: u64
    ) -> Result<Vec<Entry>>;

    /// The stored right edge of the log's Merkle tree.
    async fn frontier(&self) -> Result<Frontier>;
    /// Stores a signed checkpoint of the tree of `size` entries unless one of that
    /// size exists; returns the stored one.
    async fn insert_checkpoint(
        &self, size: u64, root: Hash, note: String, now: i64
    ) -> Result<StoredCheckpoint>;
    /// The stored checkpoint of the largest tree.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>>;
    /// The stored checkpoint of the tree of `size` entries.
    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>>;
    /// Leaf `index`'s hash, its audit path in the tree of `size` leaves, and that
    /// tree's root, from one snapshot.
    async fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>, Hash)>;
    /// The consistency proof from the tree of `m` leaves to that of `n`, with both
    /// roots, from one snapshot.
    async fn consistency(&self, m: u64, n: u64) -> Result<(Vec<Hash>, Hash, Hash)>;

    /// Removes the entries older than `before` and appends the entry that records it,
    /// in one transaction; `None` when no entry is that old.
    async fn prune(&self, before: i64) -> Result<Option<Pruned>>;
    /// What [`prune`](Self::prune) would remove now; `None` when no entry is older.
    async fn prune_plan(&self, before: i64) -> Result<Option<PrunePlan>>;
    /// Where the import of `source` stopped; `None` if it never ran.
    async fn import_position(&self, source: String) -> Result<Option<String>>;

    /// Stores a new API key (only its hash); returns what is kept of it.
    async fn create_key(&self, key: NewKey, now: i64) -> Result<KeyInfo>;
    /// Marks key `id` revoked (once); `None` when there is no such key.
    async fn revoke_key(&self, id: u64, now: i64) -> Result<Option<KeyInfo>>;
    /// The live (not revoked) key whose SHA-256, in lowercase hex, is `hash`.
    async fn key_by_hash(&self, hash: String) -> Result<Option<KeyInfo>>;
    /// Whether any live (not revoked) key exists.
    async fn has_keys(&self) -> Result<bool>;
    /// Every key, revoked ones included, in the order they were made.
    async fn keys(&self) -> Result<Vec<KeyInfo>>;
}

/// What differs by engine beyond the contract: opening, and the operations one engine
/// alone has.
impl Store {
    /// Opens the store at `location` in `mode`, creating and migrating it as needed
    /// and allowed; appends never grow it beyond `max_size_bytes`.
    pub(crate) async fn open(
        location: Location,
        max_size_bytes: Option<u64>,
        mode: Mode,
    ) -> Result<Store> {
        match location {
            Location::Sqlite(path) => tokio::task::spawn_blocking(move || {
                sqlite::SqliteStore::open(&path, max_size_bytes, mode)
            })
            .await
            .map_err(Error::storage)?
            .map(Store::Sqlite),
            Location::Postgres(_) if max_size_bytes.is_some() => Err(Invalid::new(
                "max_size_bytes",
                Rule::Malformed("caps a SQLite file; PostgreSQL's server owns its space"),
            )
            .into()),
            Location::Postgres(url) => postgres::PgStore::open(&url, mode)
                .await
                .map(Store::Postgres),
        }
    }

    /// Walks the whole log in one snapshot (see [`ScanItem`]); returns the scanner.
    pub(crate) async fn scan<S: Scanner>(&self, scanner: S) -> Result<S> {
        match self {
            Store::Sqlite(s) => s.scan(scanner).await,
            Store::Postgres(s) => s.scan(scanner).await,
        }
    }

    /// On SQLite, moves every commit from the WAL into the file and empties the WAL,
    /// so the file alone is the whole log; PostgreSQL has nothing to do.
    pub(crate) async fn checkpoint_wal(&self) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.checkpoint_wal().await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Writes a consistent copy of a SQLite log to the new file `to`.
    pub(crate) async fn backup(&self, to: PathBuf) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.backup(to).await,
            Store::Postgres(_) => Err(Invalid::new(
                "url",
                Rule::Malformed(
                    "backup copies a SQLite log; back up a PostgreSQL log with pg_dump \
                     (e.g. pg_dump --format=custom --file=hawk.dump DATABASE)",
                ),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn malformed_postgres_urls_are_refused_before_connecting() {
        let err = Store::open(
            Location::parse("postgres://db:notaport/audit").unwrap(),
            None,
            Mode::default(),
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(err.as_invalid().map(|i| i.field()), Some("url"));
    }
}
