//! The scale-out store: one PostgreSQL database shared by any number of processes.
//!
//! Writes go to one group-commit task per process (see `writer`); every write
//! transaction locks the one row of `log_head`, so ids stay dense and ordered across
//! processes. Reads use a small connection pool; a page and its totals come from one
//! `REPEATABLE READ` snapshot (a prune may remove entries between two statements). A
//! dedicated connection listens for the new heads that writers of every process
//! announce with `NOTIFY` (see `listen`).

mod filter_index;
mod keys;
mod listen;
mod prune;
mod read;
mod schema;
mod sinks;
mod tree;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio::sync::{mpsc, watch};
use tokio_postgres::NoTls;

use crate::checkpoint::StoredCheckpoint;
use crate::entry::Entry;
use crate::error::{DbResult, DriverError, Error, Invalid, Result, Rule};
use crate::idempotency::Keyed;
use crate::keys::{KeyInfo, NewKey};
use crate::merkle::Hash;
use crate::proof::{prove_consistency, prove_inclusion};
use crate::query::{ActionCount, Page, Recent, Term};
use crate::retention::{PrunePlan, Pruned};
use crate::store::group::Append;
use crate::store::index_ops::{IndexAnswer, IndexOp};
use crate::store::pending::advance_head;
use crate::store::sequence::Batch;
use crate::store::sink_ops::{SinkAnswer, SinkOp};
use crate::store::{Filter, ImportMark, Mode, Scanner};

/// Connections per process: the writer's, and readers beyond it wait for one.
const POOL_SIZE: usize = 8;
/// Appends queued for the writer; callers beyond it wait (back-pressure).
const WRITE_QUEUE: usize = 1024;
/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Session settings of every connection, ahead of the URL's own `options` (which win).
/// Every statement Hawk sends walks an index for at most a page or a batch, but a
/// generic plan with parameters, or a table never analyzed (autovacuum off), gets
/// default selectivities that grow with the table: from a few million entries such
/// estimates cross `jit_above_cost` and the parallel thresholds, and compiling the
/// plan or starting workers then costs 10–400 ms for a 50-row page.
const SESSION_OPTIONS: &str = "-c jit=off -c max_parallel_workers_per_gather=0";

/// A database error as the library reports it: PostgreSQL's own message and code
/// when the server sent one.
pub(super) fn pg_error(err: tokio_postgres::Error) -> Error {
    match err.as_db_error() {
        Some(db) => {
            let message = format!("{} ({})", db.message(), db.code().code());
            Error::storage_from(message, err)
        }
        None => {
            // tokio-postgres's own message ("error connecting to server") leaves the
            // cause (refused, timed out, unknown host) to its source.
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            Error::storage_from(message, err)
        }
    }
}

/// A failed first connection, naming the server it tried and why (refused, timed
/// out, unknown host, authentication …).
fn connect_error(config: &tokio_postgres::Config, err: PoolError) -> Error {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = match hosts.as_slice() {
        [] => "localhost".to_owned(),
        [one] => one.clone(),
        many => many.join(","),
    };
    err.into_storage()
        .in_context(format!("cannot connect to PostgreSQL at {host}:{port}"))
}

impl DriverError for tokio_postgres::Error {
    fn into_storage(self) -> Error {
        pg_error(self)
    }
}

impl DriverError for PoolError {
    fn into_storage(self) -> Error {
        match self {
            PoolError::Backend(err) => pg_error(err),
            err => Error::storage_from(format!("cannot get a database connection: {err}"), err),
        }
    }
}

/// PostgreSQL text cannot hold U+0000. The entry rules keep it out of what is
/// written; a lookup by such a value finds nothing rather than failing.
fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

fn nul_refused(field: &'static str) -> Invalid {
    Invalid::new(
        field,
        Rule::Malformed("must not contain U+0000 (NUL) on PostgreSQL"),
    )
}

pub(crate) struct PgStore {
    pool: Pool,
    writer: mpsc::Sender<Append>,
    /// The newest id committed by any process, as far as this one knows; moved by
    /// this process's commits at once and by other processes' through `listen`.
    head: watch::Sender<u64>,
    listener: tokio::task::JoinHandle<()>,
    /// Set when the store is dropped, so that the listener's connection dying with the
    /// process is not reported as a lost connection.
    closing: Arc<AtomicBool>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        self.listener.abort();
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`) and applies pending
    /// migrations.
    pub(crate) async fn open(url: &str, mode: Mode) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            Invalid::new(
                "url",
                Rule::Malformed("is not a valid postgres:// connection URL"),
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let options = match config.get_options() {
            Some(own) => format!("{SESSION_OPTIONS} {own}"),
            None => SESSION_OPTIONS.to_owned(),
        };
        config.options(options);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(Error::storage)?;
        let mut client = pool.get().await.map_err(|e| connect_error(&config, e))?;
        schema::migrate(&mut client, mode).await?;
        let head = read::head(&client).await?;
        drop(client);
        let head = watch::Sender::new(head);
        let closing = Arc::new(AtomicBool::new(false));
        let listener = listen::spawn(config, head.clone(), Arc::clone(&closing));
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        // Read-only: no writer; appends are refused before they reach the store.
        if !mode.read_only {
            writer::spawn(pool.clone(), rx);
        }
        Ok(PgStore {
            pool,
            writer: tx,
            head,
            listener,
            closing,
        })
    }

    /// Commits `entries` atomically; answers once they are committed.
    pub(crate) async fn append(
        &self,
        batch: Batch,
        mark: Option<ImportMark>,
        key: Option<Keyed>,
    ) -> Result<Vec<Entry>> {
        Append::submit(
            &self.writer,
            std::convert::identity,
            &self.head,
            batch,
            mark,
            key,
        )
        .await
    }

    /// A read or write of the filter index's tables.
    pub(crate) async fn sinks(&self, op: SinkOp) -> Result<SinkAnswer> {
        let client = self.pool.get().await.db()?;
        sinks::run(&client, op).await
    }

    pub(crate) async fn index(&self, op: IndexOp) -> Result<IndexAnswer> {
        let mut client = self.pool.get().await.db()?;
        filter_index::answer(&mut client, op).await
    }

    pub(crate) async fn import_position(&self, source: String) -> Result<Option<String>> {
        let client = self.pool.get().await.db()?;
        let row = client
            .query_opt("SELECT position FROM imports WHERE source = $1", &[&source])
            .await
            .map_err(pg_error)?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Removes the entries older than `before` (µs); `None` when none is.
    pub(crate) async fn prune(&self, before: i64) -> Result<Option<Pruned>> {
        let mut client = self.pool.get().await.db()?;
        let pruned = prune::prune(&mut client, before).await?;
        if let Some(pruned) = &pruned {
            advance_head(&self.head, pruned.entry.id);
        }
        Ok(pruned)
    }

    /// What a prune before `before` (µs) would remove, from one snapshot.
    pub(crate) async fn prune_plan(&self, before: i64) -> Result<Option<PrunePlan>> {
        let mut client = self.pool.get().await.db()?;
        let tx = read::snapshot(&mut client).await?;
        prune::plan(&tx, before).await
    }

    /// Watches the newest id committed by any process writing this database.
    pub(crate) fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    pub(crate) async fn entries_after(
        &self,
        after: u64,
        limit: u64,
        account: Option<String>,
    ) -> Result<Vec<Entry>> {
        if account.as_deref().is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await.db()?;
        read::entries_after(&client, after, limit, account.as_deref()).await
    }

    pub(crate) async fn page(&self, filter: Filter, opts: Recent) -> Result<Page> {
        if filter.account.as_deref().is_some_and(has_nul) {
            let as_of = self.head().await?;
            let as_of = opts.as_of.map_or(as_of, |pin| pin.min(as_of));
            return Ok(Page::new(Vec::new(), &opts, 0, as_of));
        }
        let mut client = self.pool.get().await.db()?;
        read::page(&mut client, &filter, &opts).await
    }

    pub(crate) async fn actions(&self, term: Option<Term>, limit: u64) -> Result<Vec<ActionCount>> {
        let client = self.pool.get().await.db()?;
        read::actions(&client, term.as_ref(), limit).await
    }

    pub(crate) async fn head(&self) -> Result<u64> {
        let client = self.pool.get().await.db()?;
        read::head(&client).await
    }

    pub(crate) async fn frontier(&self) -> Result<crate::merkle::Frontier> {
        let client = self.pool.get().await.db()?;
        read::frontier(&client).await
    }

    pub(crate) async fn account_seqs(&self, account: String) -> Result<Option<(u64, u64)>> {
        if has_nul(&account) {
            return Ok(None);
        }
        let client = self.pool.get().await.db()?;
        read::account_seqs(&client, &account).await
    }

    pub(crate) async fn account_range(
        &self,
        account: String,
        low: u64,
        high: u64,
    ) -> Result<Vec<Entry>> {
        if has_nul(&account) {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await.db()?;
        read::account_range(&client, &account, low, high).await
    }

    pub(crate) async fn insert_checkpoint(
        &self,
        size: u64,
        root: Hash,
        note: String,
        now: i64,
    ) -> Result<StoredCheckpoint> {
        let client = self.pool.get().await.db()?;
        tree::insert_checkpoint(&client, size, root, &note, now).await
    }

    pub(crate) async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let client = self.pool.get().await.db()?;
        tree::latest_checkpoint(&client).await
    }

    pub(crate) async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        let client = self.pool.get().await.db()?;
        tree::checkpoint_at(&client, size).await
    }

    pub(crate) async fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>, Hash)> {
        let mut client = self.pool.get().await.db()?;
        tree::prove(&mut client, |nodes, frontier| {
            prove_inclusion(nodes, frontier, index, size)
        })
        .await
    }

    pub(crate) async fn consistency(&self, m: u64, n: u64) -> Result<(Vec<Hash>, Hash, Hash)> {
        let mut client = self.pool.get().await.db()?;
        tree::prove(&mut client, |nodes, frontier| {
            prove_consistency(nodes, frontier, m, n)
        })
        .await
    }

    pub(crate) async fn scan<S: Scanner>(&self, mut scanner: S) -> Result<S> {
        let mut client = self.pool.get().await.db()?;
        tree::scan(&mut client, &mut scanner).await?;
        Ok(scanner)
    }

    /// Appends waiting for the writer (not yet picked up into a commit).
    pub(crate) fn queue_depth(&self) -> usize {
        self.writer.max_capacity() - self.writer.capacity()
    }

    pub(crate) async fn account_actions(
        &self,
        account: String,
        term: Option<Term>,
        limit: u64,
    ) -> Result<Vec<ActionCount>> {
        if has_nul(&account) {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await.db()?;
        read::account_actions(&client, &account, term.as_ref(), limit).await
    }

    pub(crate) async fn create_key(&self, key: NewKey, now: i64) -> Result<KeyInfo> {
        if key.account_id.as_deref().is_some_and(has_nul) {
            return Err(nul_refused("account_id").into());
        }
        let client = self.pool.get().await.db()?;
        keys::create(&client, key, now).await
    }

    pub(crate) async fn revoke_key(&self, id: u64, now: i64) -> Result<Option<KeyInfo>> {
        let client = self.pool.get().await.db()?;
        keys::revoke(&client, id, now).await
    }

    pub(crate) async fn key_by_hash(&self, hash: String) -> Result<Option<KeyInfo>> {
        let client = self.pool.get().await.db()?;
        keys::by_hash(&client, &hash).await
    }

    pub(crate) async fn has_keys(&self) -> Result<bool> {
        let client = self.pool.get().await.db()?;
        keys::any(&client).await
    }

    pub(crate) async fn keys(&self) -> Result<Vec<KeyInfo>> {
        let client = self.pool.get().await.db()?;
        keys::list(&client).await
    }
}
