//! The stores behind an [`Audit`](crate::Audit) handle. Only this module speaks SQL.

mod postgres;
mod sqlite;

use std::path::PathBuf;

use crate::entry::{Entry, ValidEntry};
use crate::error::{Error, Invalid, Result, Rule};
use crate::keys::{KeyInfo, NewKey};
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

/// Where a log lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` connection URL, as given.
    Postgres(String),
}

impl Location {
    /// Parses `sqlite:PATH` (also `sqlite://PATH`) and `postgres://…` (also
    /// `postgresql://…`).
    pub(crate) fn parse(url: &str) -> Result<Location> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                return Err(Invalid::new(
                    "url",
                    Rule::Malformed("sqlite: needs a file path, e.g. sqlite:hawk.db"),
                )
                .into());
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        Err(Invalid::new(
            "url",
            Rule::Malformed("must start with sqlite: (e.g. sqlite:hawk.db) or postgres://"),
        )
        .into())
    }
}

/// A concrete store; one variant per engine.
pub(crate) enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the store at `location`, creating and migrating it as needed; appends
    /// never grow it beyond `max_size_bytes`.
    pub(crate) async fn open(location: Location, max_size_bytes: Option<u64>) -> Result<Store> {
        match location {
            Location::Sqlite(path) => tokio::task::spawn_blocking(move || {
                sqlite::SqliteStore::open(&path, max_size_bytes)
            })
            .await
            .map_err(Error::storage)?
            .map(Store::Sqlite),
            Location::Postgres(url) => postgres::PgStore::open(&url).await.map(Store::Postgres),
        }
    }

    pub(crate) async fn append(
        &self,
        entries: Vec<ValidEntry>,
        times: Option<Vec<i64>>,
        mark: Option<ImportMark>,
    ) -> Result<Vec<Entry>> {
        match self {
            Store::Sqlite(s) => s.append(entries, times, mark).await,
            Store::Postgres(s) => s.append(entries, times, mark).await,
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

    pub(crate) async fn account_chunk(
        &self,
        account: String,
        below: u64,
        limit: u64,
    ) -> Result<Vec<Entry>> {
        match self {
            Store::Sqlite(s) => s.account_chunk(account, below, limit).await,
            Store::Postgres(s) => s.account_chunk(account, below, limit).await,
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
        for url in [
            "postgres://hawk@db:5432/audit",
            "postgresql://hawk:secret@db/audit?connect_timeout=3",
        ] {
            assert_eq!(
                Location::parse(url).unwrap(),
                Location::Postgres(url.to_owned())
            );
        }
        for url in ["", "mysql://db/audit", "sqlite:", "postgres:/db"] {
            let err = Location::parse(url).unwrap_err();
            assert_eq!(err.as_invalid().map(|i| i.field()), Some("url"), "{url}");
        }
    }

    #[tokio::test]
    async fn malformed_postgres_urls_are_refused_before_connecting() {
        let err = Store::open(Location::parse("postgres://db:notaport/audit").unwrap(), None)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.as_invalid().map(|i| i.field()), Some("url"));
    }
}
