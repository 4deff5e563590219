//! The stores behind an [`Audit`](crate::Audit) handle. Only this module speaks SQL.

mod group;
mod idempotency;
mod pending;
mod postgres;
mod sequence;
mod sqlite;

pub(crate) use idempotency::Keyed;
pub(crate) use sequence::{Batch, NODE_LEVEL, Times};

use std::path::PathBuf;

use std::ops::ControlFlow;

use crate::checkpoint::StoredCheckpoint;
use crate::entry::Entry;
use crate::error::{Error, Invalid, Result, Rule};
use crate::keys::{KeyInfo, NewKey};
use crate::merkle::{Frontier, Hash, NodeSource};
use crate::query::{ActionCount, Page, Recent, Term};

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

/// What a prune removed, and the entry that records it.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// How many entries were removed.
    pub removed: u64,
    /// The newest id removed; the log now starts after it.
    pub through_id: u64,
    /// The root of the tree of ids `1..=through_id`, which the remaining entries
    /// extend: a checkpoint of that size still verifies.
    pub root: crate::merkle::Hash,
    /// The entry that records the prune (action `hawk.pruned`).
    pub entry: Entry,
}

/// What a prune before a given time would remove, read without removing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    /// How many entries would go.
    pub removed: u64,
    /// The oldest id that would go (the oldest in the log).
    pub first_id: u64,
    /// The newest id that would go; the log would start after it.
    pub through_id: u64,
    /// The time of entry `first_id`.
    pub oldest: time::OffsetDateTime,
    /// The time of entry `through_id`.
    pub newest: time::OffsetDateTime,
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

/// Where a log lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` connection URL, as given.
    Postgres(String),
}

impl Location {
    /// Parses `sqlite:PATH` (also `sqlite://PATH`) and `postgres://…` (also
    /// `postgresql://…`). Anything else without a scheme (`hawk.db`, `./x/y.db`,
    /// `/tmp/a.db`) is the path of a SQLite file: the first thing people type.
    pub(crate) fn parse(url: &str) -> Result<Location> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            return sqlite_path(path);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        if url.contains("://") || url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Err(Invalid::new(
                "url",
                Rule::Malformed(
                    "must be a file path, sqlite:PATH (e.g. sqlite:hawk.db) or postgres://…",
                ),
            )
            .into());
        }
        sqlite_path(url)
    }
}

fn sqlite_path(path: &str) -> Result<Location> {
    if path.is_empty() || path == ":memory:" {
        return Err(Invalid::new(
            "url",
            Rule::Malformed("needs a SQLite file path, e.g. hawk.db or sqlite:hawk.db"),
        )
        .into());
    }
    Ok(Location::Sqlite(PathBuf::from(path)))
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

    pub(crate) async fn append(
        &self,
        batch: Batch,
        mark: Option<ImportMark>,
        key: Option<Keyed>,
    ) -> Result<Vec<Entry>> {
        match self {
            Store::Sqlite(s) => s.append(batch, mark, key).await,
            Store::Postgres(s) => s.append(batch, mark, key).await,
        }
    }

    pub(crate) async fn page(&self, filter: Filter, opts: Recent) -> Result<Page> {
        match self {
            Store::Sqlite(s) => s.page(filter, opts).await,
            Store::Postgres(s) => s.page(filter, opts).await,
        }
    }

    pub(crate) async fn actions(&self, term: Option<Term>, limit: u64) -> Result<Vec<ActionCount>> {
        match self {
            Store::Sqlite(s) => s.actions(term, limit).await,
            Store::Postgres(s) => s.actions(term, limit).await,
        }
    }

    pub(crate) async fn head(&self) -> Result<u64> {
        match self {
            Store::Sqlite(s) => s.head().await,
            Store::Postgres(s) => s.head().await,
        }
    }

    /// The stored right edge of the log's Merkle tree.
    pub(crate) async fn frontier(&self) -> Result<crate::merkle::Frontier> {
        match self {
            Store::Sqlite(s) => s.frontier().await,
            Store::Postgres(s) => s.frontier().await,
        }
    }

    /// The sequence numbers (each account numbers its entries 1, 2, 3 … in id order)
    /// of `account`'s oldest and newest entries; `None` when it has none.
    pub(crate) async fn account_seqs(&self, account: String) -> Result<Option<(u64, u64)>> {
        match self {
            Store::Sqlite(s) => s.account_seqs(account).await,
            Store::Postgres(s) => s.account_seqs(account).await,
        }
    }

    /// `account`'s entries numbered `low..=high`, newest first.
    pub(crate) async fn account_range(
        &self,
        account: String,
        low: u64,
        high: u64,
    ) -> Result<Vec<Entry>> {
        match self {
            Store::Sqlite(s) => s.account_range(account, low, high).await,
            Store::Postgres(s) => s.account_range(account, low, high).await,
        }
    }
}

impl Store {
    /// Entries with ids above `after`, oldest first, at most `limit`.
    pub(crate) async fn entries_after(
        &self,
        after: u64,
        limit: u64,
        account: Option<String>,
    ) -> Result<Vec<Entry>> {
        match self {
            Store::Sqlite(s) => s.entries_after(after, limit, account).await,
            Store::Postgres(s) => s.entries_after(after, limit, account).await,
        }
    }

    /// Watches the newest id committed through this store (in this process).
    pub(crate) fn subscribe_head(&self) -> tokio::sync::watch::Receiver<u64> {
        match self {
            Store::Sqlite(s) => s.subscribe_head(),
            Store::Postgres(s) => s.subscribe_head(),
        }
    }
}

/// Tamper evidence: checkpoints, proofs and the verification scan.
impl Store {
    /// Stores a signed checkpoint of the tree of `size` entries unless one of that
    /// size exists; returns the stored one.
    pub(crate) async fn insert_checkpoint(
        &self,
        size: u64,
        root: Hash,
        note: String,
        now: i64,
    ) -> Result<StoredCheckpoint> {
        match self {
            Store::Sqlite(s) => s.insert_checkpoint(size, root, note, now).await,
            Store::Postgres(s) => s.insert_checkpoint(size, root, note, now).await,
        }
    }

    /// The stored checkpoint of the largest tree.
    pub(crate) async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        match self {
            Store::Sqlite(s) => s.latest_checkpoint().await,
            Store::Postgres(s) => s.latest_checkpoint().await,
        }
    }

    /// The stored checkpoint of the tree of `size` entries.
    pub(crate) async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        match self {
            Store::Sqlite(s) => s.checkpoint_at(size).await,
            Store::Postgres(s) => s.checkpoint_at(size).await,
        }
    }

    /// Leaf `index`'s hash, its audit path in the tree of `size` leaves, and that
    /// tree's root, from one snapshot.
    pub(crate) async fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>, Hash)> {
        match self {
            Store::Sqlite(s) => s.inclusion(index, size).await,
            Store::Postgres(s) => s.inclusion(index, size).await,
        }
    }

    /// The consistency proof from the tree of `m` leaves to that of `n`, with both
    /// roots, from one snapshot.
    pub(crate) async fn consistency(&self, m: u64, n: u64) -> Result<(Vec<Hash>, Hash, Hash)> {
        match self {
            Store::Sqlite(s) => s.consistency(m, n).await,
            Store::Postgres(s) => s.consistency(m, n).await,
        }
    }

    /// Walks the whole log in one snapshot (see [`ScanItem`]); returns the scanner.
    pub(crate) async fn scan<S: Scanner>(&self, scanner: S) -> Result<S> {
        match self {
            Store::Sqlite(s) => s.scan(scanner).await,
            Store::Postgres(s) => s.scan(scanner).await,
        }
    }
}

/// Leaf `index`'s hash, its audit path in the tree of `size` leaves and that tree's
/// root, from an engine's view of its stored tree (`frontier` is the stored one).
pub(crate) fn prove_inclusion<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    index: u64,
    size: u64,
) -> Result<(Hash, Vec<Hash>, Hash)> {
    let path = crate::merkle::inclusion_proof(index, size, source).map_err(proof_error)?;
    let leaf = source.subtree_hash(index, index + 1)?;
    Ok((leaf, path, root_at(source, frontier, size)?))
}

/// The consistency proof from `m` leaves to `n` with both roots; see
/// [`prove_inclusion`].
pub(crate) fn prove_consistency<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    m: u64,
    n: u64,
) -> Result<(Vec<Hash>, Hash, Hash)> {
    let path = crate::merkle::consistency_proof(m, n, source).map_err(proof_error)?;
    Ok((
        path,
        root_at(source, frontier, m)?,
        root_at(source, frontier, n)?,
    ))
}

/// The root of the first `size` leaves: the stored frontier's when it is that tree.
fn root_at<S: NodeSource<Error = Error>>(
    source: &S,
    frontier: &Frontier,
    size: u64,
) -> Result<Hash> {
    if size == frontier.size() {
        return Ok(frontier.root());
    }
    Ok(Frontier::from_source(size, source)
        .map_err(proof_error)?
        .root())
}

/// Maps a proof that cannot be built to the input at fault.
pub(crate) fn proof_error(err: crate::merkle::ProofError<Error>) -> Error {
    use crate::merkle::ProofError;
    match err {
        ProofError::Source(err) => err,
        ProofError::IndexOutOfRange { .. } => {
            Invalid::new("size", Rule::Malformed("must be at least the entry's id")).into()
        }
        ProofError::SizeOutOfRange { available, .. } => Invalid::new(
            "size",
            Rule::OutOfRange {
                min: 1,
                max: available,
            },
        )
        .into(),
        ProofError::SizesOutOfOrder { .. } => {
            Invalid::new("to", Rule::Malformed("must be at least from")).into()
        }
    }
}

/// API keys, account-scoped suggestions and the writer's queue.
impl Store {
    pub(crate) fn queue_depth(&self) -> usize {
        match self {
            Store::Sqlite(s) => s.queue_depth(),
            Store::Postgres(s) => s.queue_depth(),
        }
    }

    pub(crate) async fn account_actions(
        &self,
        account: String,
        term: Option<Term>,
        limit: u64,
    ) -> Result<Vec<ActionCount>> {
        match self {
            Store::Sqlite(s) => s.account_actions(account, term, limit).await,
            Store::Postgres(s) => s.account_actions(account, term, limit).await,
        }
    }

    pub(crate) async fn create_key(&self, key: NewKey, now: i64) -> Result<KeyInfo> {
        match self {
            Store::Sqlite(s) => s.create_key(key, now).await,
            Store::Postgres(s) => s.create_key(key, now).await,
        }
    }

    pub(crate) async fn revoke_key(&self, id: u64, now: i64) -> Result<Option<KeyInfo>> {
        match self {
            Store::Sqlite(s) => s.revoke_key(id, now).await,
            Store::Postgres(s) => s.revoke_key(id, now).await,
        }
    }

    pub(crate) async fn key_by_hash(&self, hash: String) -> Result<Option<KeyInfo>> {
        match self {
            Store::Sqlite(s) => s.key_by_hash(hash).await,
            Store::Postgres(s) => s.key_by_hash(hash).await,
        }
    }

    pub(crate) async fn has_keys(&self) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.has_keys().await,
            Store::Postgres(s) => s.has_keys().await,
        }
    }

    pub(crate) async fn keys(&self) -> Result<Vec<KeyInfo>> {
        match self {
            Store::Sqlite(s) => s.keys().await,
            Store::Postgres(s) => s.keys().await,
        }
    }

    /// Removes the entries older than `before` (µs); `None` when none is.
    pub(crate) async fn prune(&self, before: i64) -> Result<Option<Pruned>> {
        match self {
            Store::Sqlite(s) => s.prune(before).await,
            Store::Postgres(s) => s.prune(before).await,
        }
    }

    /// What [`prune`](Self::prune) would remove now; `None` when no entry is older.
    pub(crate) async fn prune_plan(&self, before: i64) -> Result<Option<PrunePlan>> {
        match self {
            Store::Sqlite(s) => s.prune_plan(before).await,
            Store::Postgres(s) => s.prune_plan(before).await,
        }
    }

    /// Where the import of `source` stopped; `None` if it never ran.
    pub(crate) async fn import_position(&self, source: String) -> Result<Option<String>> {
        match self {
            Store::Sqlite(s) => s.import_position(source).await,
            Store::Postgres(s) => s.import_position(source).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_engine() {
        assert_eq!(
            Location::parse("sqlite:hawk.db").unwrap(),
            Location::Sqlite(PathBuf::from("hawk.db"))
        );
        for path in ["hawk.db", "./x/y.db", "/tmp/a.db"] {
            assert_eq!(
                Location::parse(path).unwrap(),
                Location::Sqlite(PathBuf::from(path))
            );
        }
        for url in [
            "postgres://hawk@db:5432/audit",
            "postgresql://hawk:secret@db/audit?connect_timeout=3",
        ] {
            assert_eq!(
                Location::parse(url).unwrap(),
                Location::Postgres(url.to_owned())
            );
        }
        for url in [
            "",
            "mysql://db/audit",
            "sqlite:",
            "postgres:/db",
            ":memory:",
        ] {
            let err = Location::parse(url).unwrap_err();
            assert_eq!(err.as_invalid().map(|i| i.field()), Some("url"), "{url}");
        }
    }

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
