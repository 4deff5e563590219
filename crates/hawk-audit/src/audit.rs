//! The `Audit` handle: the library's one entry point.
//!
//! It validates at the edge and hands the store only valid input. Here too are
//! `entries_after` (the forward keyset walk behind the live tail and exports) and
//! `subscribe_head` (a watch of the newest id, moved by the store after each commit).
//! The account stream is in `stream`, the checkpoint signing task in `checkpoints`,
//! and how a log is opened in `options`.

mod checkpoints;
mod options;
mod sealer;
mod stream;

use std::sync::Arc;

use time::OffsetDateTime;

use checkpoints::{Checkpointer, sign_head, write_checkpoints};
use sealer::Sealer;

use crate::checkpoint::{SigningKey, StoredCheckpoint};
use crate::entry::{Entry, NewEntry, Subject, ValidEntry, micros};
use crate::error::{Invalid, Result, Rule};
use crate::events::{Event, Events, Listener, ListenerStats, Sink};
use crate::filter::Filter;
use crate::idempotency::Keyed;
use crate::keys::{self, KeyInfo, Scope};
use crate::location::Location;
use crate::postings::index::{CHUNK_BITS, Index};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::query::{ActionCount, Page, Recent};
use crate::retention::{PrunePlan, Pruned};
use crate::store::{Batch, ImportMark, Mode, Store, Times};

/// Default database URL: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite:hawk.db";
/// Default `limit` of [`Audit::search`].
pub const DEFAULT_SEARCH_LIMIT: u64 = 5;
/// Default `limit` of [`Audit::actions`].
pub const DEFAULT_ACTIONS_LIMIT: u64 = 10;
/// Largest batch [`Audit::record_batch`] and [`Audit::import`] take at once.
pub const MAX_BATCH: usize = 10_000;

pub use options::Options;

/// A handle on one audit log. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Audit {
    store: Arc<Store>,
    index: Arc<Index>,
    /// Seals complete chunks of the filter index (writable handles only).
    sealer: Option<Arc<Sealer>>,
    read_only: bool,
    listener: Option<Arc<Listener>>,
    checkpointer: Option<Arc<Checkpointer>>,
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
        let location = Location::parse(url)?;
        if options.read_only {
            let writes = [
                ("events", options.events.is_some()),
                ("checkpoints", options.checkpoints.is_some()),
                ("max_size_bytes", options.max_size_bytes.is_some()),
            ];
            if let Some((field, _)) = writes.iter().find(|(_, set)| *set) {
                return Err(Invalid::new(
                    field,
                    Rule::Malformed("writes, so it cannot be combined with read_only"),
                )
                .into());
            }
        }
        let mode = Mode {
            create: options.create && !options.read_only,
            read_only: options.read_only,
        };
        let store = Arc::new(Store::open(location, options.max_size_bytes, mode).await?);
        let listener = match options.events {
            Some(bus) => Some(Arc::new(Listener::start(bus, Arc::clone(&store)).await)),
            None => None,
        };
        let checkpointer = match options.checkpoints {
            None => None,
            Some((key, cadence)) => {
                // Entries written since the last checkpoint (by an earlier run) get
                // one now, before this handle appends anything.
                let last = match sign_head(&store, &key, false).await {
                    Ok(latest) => latest.map_or(0, |c| c.size),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not write a checkpoint");
                        0
                    }
                };
                let (stop, stopped) = tokio::sync::watch::channel(false);
                // Subscribed before anything can be appended, so no commit is missed.
                let heads = store.subscribe_head();
                let task = tokio::spawn(write_checkpoints(
                    Arc::clone(&store),
                    key.clone(),
                    (cadence, last),
                    heads,
                    stopped,
                ));
                Some(Arc::new(Checkpointer {
                    key,
                    stop,
                    task: std::sync::Mutex::new(Some(task)),
                }))
            }
        };
        let bits = options.filter_chunk_bits.unwrap_or(CHUNK_BITS);
        let index = Arc::new(Index::new(bits));
        let sealer = (!options.read_only).then(|| Sealer::start(&store, &index));
        Ok(Audit {
            store,
            index,
            sealer,
            read_only: options.read_only,
            listener,
            checkpointer,
        })
    }

    /// The latest stored checkpoint (of the largest tree), if any.
    pub async fn checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        self.store.latest_checkpoint().await
    }

    /// The stored checkpoint of the tree of `size` entries, if one was written.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        self.store.checkpoint_at(size).await
    }

    /// Signs and stores a checkpoint of the log as it is now, unless the latest one
    /// already covers every entry; returns the latest checkpoint either way.
    pub async fn write_checkpoint(&self, key: &SigningKey) -> Result<StoredCheckpoint> {
        self.writable()?;
        let latest = sign_head(&self.store, key, true).await?;
        Ok(latest.expect("an empty log is signed too"))
    }

    /// The key this handle signs checkpoints with, when opened with one.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.checkpointer.as_ref().map(|c| &c.key)
    }

    /// The inclusion proof of entry `id` in the tree of `size` entries; without
    /// `size`, in the latest checkpoint's tree when it covers the entry, otherwise in
    /// the whole log's.
    pub async fn inclusion_proof(&self, id: u64, size: Option<u64>) -> Result<InclusionProof> {
        if id == 0 {
            return Err(Invalid::new("id", Rule::AtLeast { min: 1 }).into());
        }
        let tree = self.store.frontier().await?.size();
        if id > tree {
            return Err(crate::Error::NotFound(format!("entry {id}")));
        }
        let size = match size {
            Some(size) => size,
            None => match self.store.latest_checkpoint().await? {
                Some(latest) if latest.size >= id && latest.size <= tree => latest.size,
                _ => tree,
            },
        };
        if size < id || size > tree {
            return Err(Invalid::new("size", Rule::OutOfRange { min: id, max: tree }).into());
        }
        let (leaf_hash, audit_path, root) = self.store.inclusion(id - 1, size).await?;
        let checkpoint = self.store.checkpoint_at(size).await?.map(|c| c.note);
        Ok(InclusionProof {
            id,
            leaf_index: id - 1,
            tree_size: size,
            leaf_hash,
            audit_path,
            root,
            checkpoint,
        })
    }

    /// The consistency proof that the tree of `to` entries extends the tree of `from`
    /// entries (`from <= to <=` the log's size).
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<ConsistencyProof> {
        let tree = self.store.frontier().await?.size();
        if to > tree {
            return Err(Invalid::new("to", Rule::OutOfRange { min: 0, max: tree }).into());
        }
        if from > to {
            return Err(Invalid::new("from", Rule::OutOfRange { min: 0, max: to }).into());
        }
        let (path, from_root, to_root) = self.store.consistency(from, to).await?;
        Ok(ConsistencyProof {
            from,
            to,
            from_root,
            to_root,
            path,
            from_checkpoint: self.store.checkpoint_at(from).await?.map(|c| c.note),
            to_checkpoint: self.store.checkpoint_at(to).await?.map(|c| c.note),
        })
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
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
        self.writable()?;
        let mut stored = self
            .store
            .append(Batch::now(vec![valid]), None, None)
            .await?;
        Ok(stored.pop().expect("the store returns one entry per input"))
    }

    /// Records up to 10,000 entries atomically: all are stored, in order, or none.
    pub async fn record_batch(&self, entries: Vec<NewEntry>) -> Result<Vec<Entry>> {
        let valid = validate_batch(entries)?;
        self.writable()?;
        self.store.append(Batch::now(valid), None, None).await
    }

    /// [`record`](Self::record) at most once per `key`: a caller that cannot tell
    /// whether an earlier call committed (a timeout, a lost connection) retries with the
    /// same key and gets the entry stored the first time, with its id, and nothing is
    /// written twice. A key is remembered for 24 hours from its first use, across
    /// restarts and by every process sharing the log; within them, another entry under
    /// the same key is refused ([`Rule::Reused`]). Keys are 1 to 255 printable ASCII
    /// characters. The key is not part of the entry (nor of its hash).
    pub async fn record_idempotent(&self, key: &str, entry: NewEntry) -> Result<Entry> {
        let mut stored = self.record_batch_idempotent(key, vec![entry]).await?;
        Ok(stored.pop().expect("the store returns one entry per input"))
    }

    /// [`record_batch`](Self::record_batch) at most once per `key`, as
    /// [`record_idempotent`](Self::record_idempotent) does: a repeat with the same
    /// entries returns the entries stored the first time.
    pub async fn record_batch_idempotent(
        &self,
        key: &str,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>> {
        let valid = validate_batch(entries)?;
        self.writable()?;
        let keyed = Keyed::new(key, &valid)?;
        self.store
            .append(Batch::now(valid), None, Some(keyed))
            .await
    }

    /// Records historical entries with their original times (importing another log,
    /// demo data). Times must not decrease, nor be earlier than the newest entry's.
    pub async fn import(&self, entries: Vec<(OffsetDateTime, NewEntry)>) -> Result<Vec<Entry>> {
        let batch = validate_historical(entries)?;
        self.writable()?;
        self.store.append(batch, None, None).await
    }

    /// Retention: removes every entry older than `before`, in one transaction, and
    /// appends an entry (action `hawk.pruned`) that records what went. Totals stay
    /// exact and the remaining log stays verifiable: the tree of the removed entries is
    /// kept, and [`Pruned::root`] is the root a checkpoint at the prune point has.
    /// `None`, writing nothing, when no entry is that old. A `before` later than now
    /// is refused as invalid (field `before`): it would remove the newest entries and
    /// the records of earlier prunes too.
    pub async fn prune(&self, before: OffsetDateTime) -> Result<Option<Pruned>> {
        self.writable()?;
        check_prune_cutoff(before)?;
        let pruned = self.store.prune(micros(before)).await?;
        // With a signing key, a checkpoint at the prune point: the tree the rest of the
        // log extends, signed, so `verify` checks the log from there.
        if let (Some(pruned), Some(checkpointer)) = (&pruned, &self.checkpointer) {
            let (size, root) = (pruned.through_id, pruned.root);
            let note = checkpointer.key.sign_checkpoint(size, root);
            self.store
                .insert_checkpoint(size, root, note, micros(OffsetDateTime::now_utc()))
                .await?;
        }
        Ok(pruned)
    }

    /// What [`prune`](Self::prune) with the same `before` would remove now (how many
    /// entries, their ids and times), removing nothing; `None` when no entry is that
    /// old. The same refusal of a `before` later than now.
    pub async fn prune_plan(&self, before: OffsetDateTime) -> Result<Option<PrunePlan>> {
        check_prune_cutoff(before)?;
        self.store.prune_plan(micros(before)).await
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
        let batch = validate_historical(entries)?;
        let mark = ImportMark {
            source: source.to_owned(),
            from: from.map(str::to_owned),
            to: to.to_owned(),
            entries: batch.len(),
        };
        self.writable()?;
        self.store.append(batch, Some(mark), None).await
    }

    /// A page of entries, newest first, with exact totals.
    pub async fn recent(&self, opts: Recent) -> Result<Page> {
        self.filtered(Filter::new()).recent(opts).await
    }

    /// Typeahead: the newest `limit` (1–100) entries whose action contains `query`.
    pub async fn search(&self, query: &str, limit: u64) -> Result<Vec<Entry>> {
        self.filtered(Filter::new()).search(query, limit).await
    }

    /// Suggestions: distinct actions containing `query` with their entry counts,
    /// prefix matches first, then by count; at most `limit` (1–100).
    pub async fn actions(&self, query: &str, limit: u64) -> Result<Vec<ActionCount>> {
        self.filtered(Filter::new()).actions(query, limit).await
    }

    /// Typeahead within one account: the newest `limit` (1–100) entries of
    /// `account_id` whose action contains `query`.
    pub async fn account_search(
        &self,
        account_id: &str,
        query: &str,
        limit: u64,
    ) -> Result<Vec<Entry>> {
        self.for_account_filter(account_id)?
            .search(query, limit)
            .await
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
        self.for_account_filter(account_id)?
            .actions(query, limit)
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
        self.for_account_filter(account_id)?.recent(opts).await
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
    /// `after` (live tail, export); [`Audit::filtered`] walks under any filter.
    pub async fn entries_after(
        &self,
        after: u64,
        limit: u64,
        account: Option<&str>,
    ) -> Result<Vec<Entry>> {
        match account {
            Some(account) => self.for_account_filter(account)?,
            None => self.filtered(Filter::new()),
        }
        .entries_after(after, limit)
        .await
    }

    /// Seals every complete chunk of the filter index now, rather than in the
    /// background as the head passes chunk ends: for tests and benchmarks that need
    /// a settled index.
    #[doc(hidden)]
    pub async fn seal_filter_index(&self) -> Result<()> {
        self.writable()?;
        self.index.seal_ready(&self.store).await.map(drop)
    }

    /// How long each of the last seals of the filter index through this handle took
    /// (the newest 1,024), for `hawk bench`.
    #[doc(hidden)]
    pub fn filter_index_seal_times(&self) -> Vec<std::time::Duration> {
        self.index.seal_times()
    }

    /// The filter index, for the queries of other modules.
    pub(crate) fn index(&self) -> &Index {
        &self.index
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
        self.writable()?;
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
        self.writable()?;
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

    /// Waits until event `seq` of `bus` (as [`Events::emit`] returned it) is durable in
    /// this log, with every event emitted before it: then it survives a crash as an
    /// acknowledged entry does. `false` at once when this log does not record `bus`
    /// (opened without it, or with another), or if its listener stopped first.
    pub async fn recorded(&self, bus: &Events, seq: u64) -> bool {
        match &self.listener {
            Some(listener) if listener.records(bus) => listener.recorded(seq).await,
            _ => false,
        }
    }

    /// The audit listener's counters, when the log was opened with a bus.
    pub fn listener_stats(&self) -> Option<ListenerStats> {
        self.listener.as_ref().map(|l| l.stats())
    }

    /// Writes a consistent copy of the log, as of one moment, to the new file `to`,
    /// while this or any other process may go on appending: a backup that opens as a
    /// whole log on its own (copying a live SQLite file alone misses what its
    /// write-ahead log holds). SQLite only: a PostgreSQL log is backed up with
    /// `pg_dump`, and asking fails with [`Error::Invalid`](crate::Error::Invalid).
    /// Fails, writing nothing, when `to` exists. The checkpoint signing key is not
    /// part of the log: keep a copy of its file apart.
    pub async fn backup(&self, to: &std::path::Path) -> Result<()> {
        if to.exists() {
            return Err(crate::Error::storage(format!(
                "{} already exists; a backup goes to a new file",
                to.display()
            )));
        }
        self.store.backup(to.to_owned()).await
    }

    /// Whether this handle was opened with [`Options::read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Refuses a write on a read-only handle, before the store is touched.
    pub(crate) fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(crate::Error::storage(
                "the log was opened read-only; nothing was written",
            ));
        }
        Ok(())
    }

    /// Records every pending event, then stops the listener and signs the closing
    /// checkpoint. On SQLite it then copies the write-ahead log into the database
    /// file and empties it, so that the file alone holds the whole log (a copy of it
    /// is a usable backup). Entries already acknowledged are durable whether or not
    /// this is called.
    pub async fn close(self) {
        if let Some(listener) = &self.listener {
            listener.flush().await;
            listener.stop();
        }
        if let Some(sealer) = &self.sealer {
            sealer.stop().await;
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop.send_replace(true);
            let task = checkpointer
                .task
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(task) = task {
                let _ = task.await;
            }
            if let Err(err) = sign_head(&self.store, &checkpointer.key, false).await {
                tracing::warn!(error = %err, "could not write the closing checkpoint");
            }
        }
        if let Err(err) = self.store.checkpoint_wal().await {
            tracing::warn!(error = %err, "could not checkpoint the write-ahead log");
        }
    }
}

/// A prune's cut-off: not later than now. Entries are stamped when they commit, so a
/// later cut-off removes the newest entries, the records of earlier prunes among them.
fn check_prune_cutoff(before: OffsetDateTime) -> Result<()> {
    if before > OffsetDateTime::now_utc() {
        return Err(Invalid::new("before", Rule::Malformed("must not be in the future")).into());
    }
    Ok(())
}

/// Validates historical entries: their times must not decrease (checked first).
fn validate_historical(entries: Vec<(OffsetDateTime, NewEntry)>) -> Result<Batch> {
    let (times, entries): (Vec<i64>, Vec<NewEntry>) = entries
        .into_iter()
        .map(|(at, entry)| (micros(at), entry))
        .unzip();
    let times = Times::historical(times)?;
    Ok(Batch::new(validate_batch(entries)?, times))
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
        self.append(Batch::now(entries), None, None).await.map(drop)
    }
}
