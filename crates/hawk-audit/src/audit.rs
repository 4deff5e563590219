//! The `Audit` handle: the library's one entry point.

use std::sync::Arc;

use futures_util::Stream;
use time::OffsetDateTime;

use crate::entry::{Entry, NewEntry, Subject, ValidEntry, micros, parse_account_id};
use crate::error::{Invalid, Result, Rule};
use crate::events::{Event, Events, Listener, ListenerStats, Sink};
use crate::keys::{self, KeyInfo, Scope};
use crate::query::{ActionCount, MAX_LIMIT, Page, Recent, Term, check_range};
use crate::store::{Filter, ImportMark, Location, Pruned, Store};

/// Default database URL: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite:hawk.db";
/// Default `limit` of [`Audit::search`].
pub const DEFAULT_SEARCH_LIMIT: u64 = 5;
/// Default `limit` of [`Audit::actions`].
pub const DEFAULT_ACTIONS_LIMIT: u64 = 10;
/// Largest batch [`Audit::record_batch`] and [`Audit::import`] take at once.
pub const MAX_BATCH: usize = 10_000;
/// Entries fetched per step while streaming an account.
const STREAM_CHUNK: u64 = 1000;

/// How to open an audit log.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// A bus whose events the audit listener records as entries.
    pub events: Option<Events>,
    /// The most bytes the log's file may grow to through this handle; `None`: no cap.
    pub max_size_bytes: Option<u64>,
}

impl Options {
    /// Record every event of `bus` with the supervised audit listener.
    pub fn events(mut self, bus: Events) -> Self {
        self.events = Some(bus);
        self
    }

    /// Caps the file at `bytes` (rounded down to whole pages, never below its size
    /// when opened). An append that would grow it further fails with a storage error
    /// and writes nothing, as on a full disk; appends succeed again once space inside
    /// the file is freed, without reopening.
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_size_bytes = Some(bytes);
        self
    }
}

/// A handle on one audit log. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Audit {
    store: Arc<Store>,
    listener: Option<Arc<Listener>>,
}

impl Audit {
    /// Opens the log at `url` (`sqlite:PATH` or `postgres://…`), creating and migrating
    /// it as needed.
    pub async fn open(url: &str) -> Result<Audit> {
        Audit::open_with(url, Options::default()).await
    }

    /// Opens the log at `url` with `options`; with a bus, the audit listener is
    /// subscribed before this returns.
    pub async fn open_with(url: &str, options: Options) -> Result<Audit> {
        let store = Arc::new(Store::open(Location::parse(url)?, options.max_size_bytes).await?);
        let listener = match options.events {
            Some(bus) => Some(Arc::new(Listener::start(bus, Arc::clone(&store)).await)),
            None => None,
        };
        Ok(Audit { store, listener })
    }

    /// Records that `actor` (`None`: the system) did `action` to `resource` (`None`:
    /// nothing in particular). Returns the stored entry once it is durable.
    pub fn track(
        &self,
        actor: Option<&dyn Subject>,
        action: &str,
        resource: Option<&dyn Subject>,
    ) -> impl Future<Output = Result<Entry>> + Send + '_ {
        // Read the subjects now, so the future holds no borrowed trait objects and
        // stays `Send` (usable in any handler or spawned task).
        self.record(NewEntry::new(action).actor(actor).resource(resource))
    }

    /// Records one entry built with [`NewEntry`]'s builder (account, metadata …).
    pub async fn record(&self, entry: NewEntry) -> Result<Entry> {
        let valid = entry.validate()?;
        let mut stored = self.store.append(vec![valid], None, None).await?;
        Ok(stored.pop().expect("the store returns one entry per input"))
    }

    /// Records up to 10,000 entries atomically: all are stored, in order, or none.
    pub async fn record_batch(&self, entries: Vec<NewEntry>) -> Result<Vec<Entry>> {
        let valid = validate_batch(entries)?;
        self.store.append(valid, None, None).await
    }

    /// Records historical entries with their original times (importing another log,
    /// demo data). Times must not decrease, nor be earlier than the newest entry's.
    pub async fn import(&self, entries: Vec<(OffsetDateTime, NewEntry)>) -> Result<Vec<Entry>> {
        let (valid, times) = validate_historical(entries)?;
        self.store.append(valid, Some(times), None).await
    }

    /// Retention: removes every entry older than `before`, in one transaction, and
    /// appends an entry (action `hawk.pruned`) that records what went. Totals stay
    /// exact and the remaining log stays verifiable: the tree of the removed entries is
    /// kept, and [`Pruned::root`] is the root a checkpoint at the prune point has.
    /// `None`, writing nothing, when no entry is that old.
    pub async fn prune(&self, before: OffsetDateTime) -> Result<Option<Pruned>> {
        self.store.prune(micros(before)).await
    }

    /// How far the import of `source` got: the `position` of its last committed
    /// [`import_from`](Self::import_from), or `None` if it never ran.
    pub async fn import_position(&self, source: &str) -> Result<Option<String>> {
        self.store.import_position(source.to_owned()).await
    }

    /// Imports one batch of a resumable import, as [`import`](Self::import) does, and
    /// moves the position of `source` from `from` to `to` in the same transaction: an
    /// interrupted import resumes after its last committed batch, and a re-run of a
    /// finished one writes nothing. Fails, writing nothing, when the stored position is
    /// no longer `from` (another import of the same source got there first).
    pub async fn import_from(
        &self,
        source: &str,
        from: Option<&str>,
        to: &str,
        entries: Vec<(OffsetDateTime, NewEntry)>,
    ) -> Result<Vec<Entry>> {
        let (valid, times) = validate_historical(entries)?;
        let mark = ImportMark {
            source: source.to_owned(),
            from: from.map(str::to_owned),
            to: to.to_owned(),
            entries: valid.len(),
        };
        self.store.append(valid, Some(times), Some(mark)).await
    }

    /// A page of entries, newest first, with exact totals.
    pub async fn recent(&self, opts: Recent) -> Result<Page> {
        opts.validate()?;
        let filter = Filter {
            account: None,
            term: Term::parse(opts.search.as_deref()),
        };
        self.store.page(filter, opts).await
    }

    /// Typeahead: the newest `limit` (1–100) entries whose action contains `query`.
    pub async fn search(&self, query: &str, limit: u64) -> Result<Vec<Entry>> {
        check_range("limit", limit, MAX_LIMIT)?;
        let filter = Filter {
            account: None,
            term: Term::parse(Some(query)),
        };
        let page = self.store.page(filter, Recent::page(1, limit)).await?;
        Ok(page.entries)
    }

    /// Suggestions: distinct actions containing `query` with their entry counts,
    /// prefix matches first, then by count; at most `limit` (1–100).
    pub async fn actions(&self, query: &str, limit: u64) -> Result<Vec<ActionCount>> {
        check_range("limit", limit, MAX_LIMIT)?;
        self.store.actions(Term::parse(Some(query)), limit).await
    }

    /// Typeahead within one account: the newest `limit` (1–100) entries of
    /// `account_id` whose action contains `query`.
    pub async fn account_search(
        &self,
        account_id: &str,
        query: &str,
        limit: u64,
    ) -> Result<Vec<Entry>> {
        check_range("limit", limit, MAX_LIMIT)?;
        let filter = Filter {
            account: Some(parse_account_id(account_id)?.to_owned()),
            term: Term::parse(Some(query)),
        };
        let page = self.store.page(filter, Recent::page(1, limit)).await?;
        Ok(page.entries)
    }

    /// Suggestions within one account: the distinct actions of `account_id`'s entries
    /// containing `query`, with their counts in that account, ranked as
    /// [`Audit::actions`] ranks them; at most `limit` (1–100). Counts the account's
    /// entries, so it costs in proportion to the account's size.
    pub async fn account_actions(
        &self,
        account_id: &str,
        query: &str,
        limit: u64,
    ) -> Result<Vec<ActionCount>> {
        check_range("limit", limit, MAX_LIMIT)?;
        let account = parse_account_id(account_id)?.to_owned();
        self.store
            .account_actions(account, Term::parse(Some(query)), limit)
            .await
    }

    /// Every entry of `account_id`, newest first. For large accounts prefer
    /// [`Audit::for_account_page`] or [`Audit::for_account_stream`].
    pub async fn for_account(&self, account_id: &str) -> Result<Vec<Entry>> {
        use futures_util::TryStreamExt;
        self.for_account_stream(account_id).try_collect().await
    }

    /// One page of `account_id`'s entries, newest first (`search` filters by action).
    pub async fn for_account_page(&self, account_id: &str, opts: Recent) -> Result<Page> {
        opts.validate()?;
        let filter = Filter {
            account: Some(parse_account_id(account_id)?.to_owned()),
            term: Term::parse(opts.search.as_deref()),
        };
        self.store.page(filter, opts).await
    }

    /// Every entry of `account_id`, newest first, fetched in chunks as it is consumed:
    /// memory stays constant however large the account. The stream sees the log as it
    /// was when it started.
    pub fn for_account_stream(
        &self,
        account_id: &str,
    ) -> impl Stream<Item = Result<Entry>> + Send + 'static {
        enum State {
            Start(Arc<Store>, String),
            Next(Arc<Store>, String, u64),
            Done,
        }
        let start = match parse_account_id(account_id) {
            Ok(account) => Ok(State::Start(Arc::clone(&self.store), account.to_owned())),
            Err(err) => Err(err),
        };
        let chunks = futures_util::stream::unfold(Some(start), |state| async move {
            let (store, account, below) = match state? {
                Err(invalid) => return Some((Err(invalid.into()), None)),
                Ok(State::Done) => return None,
                Ok(State::Start(store, account)) => match store.head().await {
                    Ok(head) => (store, account, head + 1),
                    Err(err) => return Some((Err(err), None)),
                },
                Ok(State::Next(store, account, below)) => (store, account, below),
            };
            match store
                .account_chunk(account.clone(), below, STREAM_CHUNK)
                .await
            {
                Err(err) => Some((Err(err), None)),
                Ok(chunk) => {
                    let next = match chunk.last() {
                        Some(last) if chunk.len() as u64 == STREAM_CHUNK => {
                            State::Next(store, account, last.id)
                        }
                        _ => State::Done,
                    };
                    Some((Ok(chunk), Some(Ok(next))))
                }
            }
        });
        use futures_util::StreamExt;
        chunks.flat_map(|chunk| {
            let items: Vec<Result<Entry>> = match chunk {
                Ok(entries) => entries.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            };
            futures_util::stream::iter(items)
        })
    }

    /// The newest entry's id (0 for an empty log).
    pub async fn head(&self) -> Result<u64> {
        self.store.head().await
    }

    /// The log's Merkle tree as stored: how many entries it covers and its root, in
    /// lowercase hex (see [`merkle`](crate::merkle)). It grows in the transaction that
    /// appends the entries, so it always covers exactly the committed log.
    pub async fn tree_head(&self) -> Result<(u64, String)> {
        let frontier = self.store.frontier().await?;
        Ok((frontier.size(), crate::merkle::to_hex(&frontier.root())))
    }

    /// Up to `limit` (1–10,000) entries with ids above `after`, oldest first; with
    /// `account`, only that account's. Walk forward by passing the last id back as
    /// `after` (live tail, export).
    pub async fn entries_after(
        &self,
        after: u64,
        limit: u64,
        account: Option<&str>,
    ) -> Result<Vec<Entry>> {
        check_range("limit", limit, MAX_BATCH as u64)?;
        let account = match account {
            Some(account) => Some(parse_account_id(account)?.to_owned()),
            None => None,
        };
        self.store.entries_after(after, limit, account).await
    }

    /// Watches the newest committed id. It changes at once when this process (any
    /// clone of this handle, or its audit listener) commits. On PostgreSQL it also
    /// follows the commits of other processes (announced with `NOTIFY`); on SQLite,
    /// entries written by other processes on the same file are seen only by reading
    /// [`Audit::head`].
    pub fn subscribe_head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.subscribe_head()
    }

    /// Creates an API key with `scope`, bound to `account_id` if given (only read keys
    /// can be). Returns the key — shown this once: only its SHA-256 is stored — and
    /// what is stored about it.
    pub async fn create_key(
        &self,
        scope: Scope,
        account_id: Option<&str>,
    ) -> Result<(String, KeyInfo)> {
        let (key, new) = keys::generate(scope, account_id)?;
        let info = self
            .store
            .create_key(new, micros(OffsetDateTime::now_utc()))
            .await?;
        Ok((key, info))
    }

    /// The live key that `key` is, if it is one (unknown and revoked keys give `None`).
    pub async fn authenticate(&self, key: &str) -> Result<Option<KeyInfo>> {
        if !key.starts_with(keys::KEY_PREFIX) {
            return Ok(None);
        }
        self.store.key_by_hash(keys::hash(key)).await
    }

    /// Whether at least one live API key exists (then the HTTP server asks for one).
    pub async fn has_keys(&self) -> Result<bool> {
        self.store.has_keys().await
    }

    /// Every API key ever created, oldest first, revoked ones included (never the
    /// keys themselves).
    pub async fn keys(&self) -> Result<Vec<KeyInfo>> {
        self.store.keys().await
    }

    /// Revokes key number `id`: it authenticates nothing from now on. Revoking a
    /// revoked key keeps its first revocation time. [`Error::NotFound`](crate::Error)
    /// when there is no such key.
    pub async fn revoke_key(&self, id: u64) -> Result<KeyInfo> {
        self.store
            .revoke_key(id, micros(OffsetDateTime::now_utc()))
            .await?
            .ok_or_else(|| crate::Error::NotFound(format!("key {id}")))
    }

    /// Appends waiting for the writer (queued, not yet in a commit): the back-pressure
    /// gauge of the group-commit queue.
    pub fn write_queue_depth(&self) -> usize {
        self.store.queue_depth()
    }

    /// Waits until every event emitted on the bus before this call is durable.
    /// Returns at once when the log was opened without a bus.
    pub async fn flush(&self) {
        if let Some(listener) = &self.listener {
            listener.flush().await;
        }
    }

    /// The audit listener's counters, when the log was opened with a bus.
    pub fn listener_stats(&self) -> Option<ListenerStats> {
        self.listener.as_ref().map(|l| l.stats())
    }

    /// Records every pending event, then stops the listener. Entries already
    /// acknowledged are durable whether or not this is called.
    pub async fn close(self) {
        if let Some(listener) = &self.listener {
            listener.flush().await;
            listener.stop();
        }
    }
}

/// Validates historical entries and checks their times do not decrease.
fn validate_historical(
    entries: Vec<(OffsetDateTime, NewEntry)>,
) -> Result<(Vec<ValidEntry>, Vec<i64>)> {
    let (times, entries): (Vec<i64>, Vec<NewEntry>) = entries
        .into_iter()
        .map(|(at, entry)| (micros(at), entry))
        .unzip();
    if let Some(i) = times.windows(2).position(|w| w[1] < w[0]) {
        return Err(
            Invalid::new("inserted_at", Rule::Malformed("must not decrease"))
                .at(i + 1)
                .into(),
        );
    }
    Ok((validate_batch(entries)?, times))
}

fn validate_batch(entries: Vec<NewEntry>) -> Result<Vec<ValidEntry>> {
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(Invalid::new(
            "entries",
            Rule::OutOfRange {
                min: 1,
                max: MAX_BATCH as u64,
            },
        )
        .into());
    }
    let valid = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry.validate().map_err(|e| e.at(i)))
        .collect::<Result<Vec<_>, Invalid>>()?;
    Ok(valid)
}

impl Sink for Store {
    async fn record(&self, events: Vec<Event>) -> Result<()> {
        // Emit checked each event against these very rules, so this cannot fail.
        let entries = events
            .iter()
            .map(|e| e.to_entry().validate())
            .collect::<Result<Vec<_>, Invalid>>()?;
        self.append(entries, None, None).await.map(drop)
    }
}
