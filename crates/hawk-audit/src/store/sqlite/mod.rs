//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go to one writer thread per process (group commit, see `writer`); reads run
//! on a small pool of read-only connections on tokio's blocking threads, each in its
//! own read transaction so that a page and its totals come from one snapshot.
//!
//! A read-only store checks the schema version instead of migrating and starts no
//! writer. Closing asks the writer for `wal_checkpoint(TRUNCATE)`, so after a clean stop
//! the file alone is the whole log; a backup is `VACUUM INTO` on a read connection (one
//! snapshot, safe while others append).

mod filter_index;
mod index;
mod keys;
mod read;
mod schema;
mod sinks;
mod tree;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use self::index::ActionIndex;
use crate::checkpoint::StoredCheckpoint;
use crate::entry::Entry;
use crate::error::{DbResult, DriverError, Error, Result};
use crate::idempotency::Keyed;
use crate::keys::{KeyInfo, NewKey};
use crate::merkle::Hash;
use crate::proof::{prove_consistency, prove_inclusion};
use crate::query::{ActionCount, Page, Recent, Term};
use crate::retention::{PrunePlan, Pruned};
use crate::store::{Filter, ImportMark, Mode, Scanner};

use crate::store::group::{Append, Queued};
use crate::store::index_ops::{IndexAnswer, IndexOp};
use crate::store::pending::advance_head;
use crate::store::sequence::Batch;
use crate::store::sink_ops::{SinkAnswer, SinkOp};
use writer::{Alone, Prune, Work};

/// Read connections kept open; more readers wait for one.
const READERS: usize = 4;
/// Appends queued for the writer; callers beyond it wait (back-pressure).
const WRITE_QUEUE: usize = 1024;

pub(crate) struct SqliteStore {
    writer: mpsc::Sender<Work>,
    readers: Arc<Readers>,
    /// The newest id this process committed (or saw at open); never decreases.
    head: watch::Sender<u64>,
}

impl DriverError for rusqlite::Error {
    fn into_storage(self) -> Error {
        Error::storage_from(self.to_string(), self)
    }
}

impl SqliteStore {
    /// Opens the file in `mode`: creating it if missing (when allowed) and migrating
    /// it, with a writer thread that never grows it beyond `max_size_bytes`; or, read
    /// only, without either. Blocking.
    pub(crate) fn open(path: &Path, max_size_bytes: Option<u64>, mode: Mode) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::storage(format!(
                "{} is a directory, not a log file (give a file path, e.g. {})",
                path.display(),
                path.join("hawk.db").display()
            )));
        }
        if !mode.create && !path.exists() {
            return Err(Error::NotFound(format!(
                "no log at {} (no such file)",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::storage(format!(
                "cannot create {}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        let in_file = |e: Error| e.in_context(path.display());
        let (writer, opener, head) = if mode.read_only {
            let opener = Opener::read_only(path).map_err(in_file)?;
            let conn = opener.connect().map_err(in_file)?;
            schema::check_current(&conn, path)?;
            // No writer: appends are refused before they reach the store, and the
            // channel stays closed in case one does.
            let (tx, _) = mpsc::channel(1);
            (tx, opener, read::head(&conn).map_err(in_file)?)
        } else {
            let mut conn = Connection::open(path).map_err(|e| {
                Error::storage_from(format!("cannot open {}: {e}", path.display()), e)
            })?;
            schema::configure(&conn)?;
            schema::migrate(&mut conn).map_err(in_file)?;
            schema::configure_writer(&conn)?;
            if let Some(bytes) = max_size_bytes {
                schema::limit_size(&conn, bytes)?;
            }
            let head = read::head(&conn)?;
            let (tx, rx) = mpsc::channel(WRITE_QUEUE);
            writer::spawn(conn, rx);
            (tx, Opener::read_write(path), head)
        };
        Ok(SqliteStore {
            writer,
            readers: Arc::new(Readers {
                path: path.to_owned(),
                opener,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
                index: RwLock::new(ActionIndex::default()),
            }),
            head: watch::Sender::new(head),
        })
    }

    /// Copies the WAL into the file and empties it, so that the file alone holds
    /// every committed entry (a copy of it is a whole log). Waits for the appends
    /// queued before it. Nothing to do on a read-only store.
    pub(crate) async fn checkpoint_wal(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self
            .writer
            .send(Queued::Alone(Alone::Checkpoint(reply)))
            .await
            .is_err()
        {
            return Ok(());
        }
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Writes a consistent copy of the log, as of one snapshot, to the new file `to`
    /// (`VACUUM INTO`: safe while this or another process appends). Blocking work on
    /// a connection of its own.
    pub(crate) async fn backup(&self, to: PathBuf) -> Result<()> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = readers.opener.connect()?;
            conn.execute("VACUUM INTO ?1", [to.to_string_lossy().as_ref()])
                .map_err(|e| Error::storage_from(format!("writing {}: {e}", to.display()), e))?;
            Ok(())
        })
        .await
        .map_err(joined)?
    }

    /// Commits `entries` atomically; answers once they are durable.
    pub(crate) async fn append(
        &self,
        batch: Batch,
        mark: Option<ImportMark>,
        key: Option<Keyed>,
    ) -> Result<Vec<Entry>> {
        Append::submit(&self.writer, Queued::Append, &self.head, batch, mark, key).await
    }

    /// Watches the newest id committed through this store.
    pub(crate) fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    pub(crate) async fn entries_after(
        &self,
        after: u64,
        limit: u64,
        account: Option<String>,
    ) -> Result<Vec<Entry>> {
        self.readers
            .read(move |conn, _| read::entries_after(conn, after, limit, account.as_deref()))
            .await
    }

    pub(crate) async fn page(&self, filter: Filter, opts: Recent) -> Result<Page> {
        self.readers
            .read(move |conn, index| read::page(conn, index, &filter, &opts))
            .await
    }

    pub(crate) async fn actions(&self, term: Option<Term>, limit: u64) -> Result<Vec<ActionCount>> {
        self.readers
            .read(move |conn, _| read::actions(conn, term.as_ref(), limit))
            .await
    }

    pub(crate) async fn head(&self) -> Result<u64> {
        self.readers.read(|conn, _| read::head(conn)).await
    }

    pub(crate) async fn frontier(&self) -> Result<crate::merkle::Frontier> {
        self.readers.read(|conn, _| read::frontier(conn)).await
    }

    pub(crate) async fn account_seqs(&self, account: String) -> Result<Option<(u64, u64)>> {
        self.readers
            .read(move |conn, _| read::account_seqs(conn, &account))
            .await
    }

    pub(crate) async fn account_range(
        &self,
        account: String,
        low: u64,
        high: u64,
    ) -> Result<Vec<Entry>> {
        self.readers
            .read(move |conn, index| read::account_range(conn, index, &account, low, high))
            .await
    }
}

impl SqliteStore {
    /// Appends waiting for the writer thread (not yet picked up into a commit).
    pub(crate) fn queue_depth(&self) -> usize {
        self.writer.max_capacity() - self.writer.capacity()
    }

    /// Distinct actions of `account`'s entries with their counts there, ranked.
    pub(crate) async fn account_actions(
        &self,
        account: String,
        term: Option<Term>,
        limit: u64,
    ) -> Result<Vec<ActionCount>> {
        self.readers
            .read(move |conn, _| read::account_actions(conn, &account, term.as_ref(), limit))
            .await
    }

    pub(crate) async fn create_key(&self, key: NewKey, now: i64) -> Result<KeyInfo> {
        let path = self.readers.path.clone();
        tokio::task::spawn_blocking(move || keys::create(&path, key, now))
            .await
            .map_err(joined)?
    }

    pub(crate) async fn revoke_key(&self, id: u64, now: i64) -> Result<Option<KeyInfo>> {
        let path = self.readers.path.clone();
        tokio::task::spawn_blocking(move || keys::revoke(&path, id, now))
            .await
            .map_err(joined)?
    }

    pub(crate) async fn key_by_hash(&self, hash: String) -> Result<Option<KeyInfo>> {
        self.readers
            .read(move |conn, _| keys::by_hash(conn, &hash))
            .await
    }

    pub(crate) async fn has_keys(&self) -> Result<bool> {
        self.readers.read(|conn, _| keys::any(conn)).await
    }

    pub(crate) async fn keys(&self) -> Result<Vec<KeyInfo>> {
        self.readers.read(|conn, _| keys::list(conn)).await
    }

    pub(crate) async fn prune(&self, before: i64) -> Result<Option<Pruned>> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Queued::Alone(Alone::Prune(Prune { before, reply })))
            .await
            .map_err(|_| Error::Closed)?;
        let pruned = answer.await.map_err(|_| Error::Closed)??;
        if let Some(pruned) = &pruned {
            advance_head(&self.head, pruned.entry.id);
        }
        Ok(pruned)
    }

    pub(crate) async fn prune_plan(&self, before: i64) -> Result<Option<PrunePlan>> {
        self.readers
            .read(move |conn, _| writer::plan(conn, before).db())
            .await
    }

    pub(crate) async fn import_position(&self, source: String) -> Result<Option<String>> {
        self.readers
            .read(move |conn, _| read::import_position(conn, &source))
            .await
    }

    /// A read or write of the filter index's tables.
    pub(crate) async fn sinks(&self, op: SinkOp) -> Result<SinkAnswer> {
        if op.reads() {
            return self
                .readers
                .read(move |conn, _| sinks::read(conn, &op))
                .await;
        }
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Queued::Alone(Alone::Sinks(op, reply)))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    pub(crate) async fn index(&self, op: IndexOp) -> Result<IndexAnswer> {
        match op {
            IndexOp::Seal(part) => {
                let path = self.readers.path.clone();
                tokio::task::spawn_blocking(move || filter_index::seal(&path, &part))
                    .await
                    .map_err(joined)??;
                Ok(IndexAnswer::Sealed)
            }
            op => {
                self.readers
                    .read(move |conn, _| filter_index::answer(conn, op))
                    .await
            }
        }
    }
}

/// Checkpoints, proofs and the verification scan.
impl SqliteStore {
    pub(crate) async fn insert_checkpoint(
        &self,
        size: u64,
        root: Hash,
        note: String,
        now: i64,
    ) -> Result<StoredCheckpoint> {
        let path = self.readers.path.clone();
        tokio::task::spawn_blocking(move || tree::insert_checkpoint(&path, size, root, &note, now))
            .await
            .map_err(joined)?
    }

    pub(crate) async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        self.readers
            .read(|conn, _| tree::latest_checkpoint(conn))
            .await
    }

    pub(crate) async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>> {
        self.readers
            .read(move |conn, _| tree::checkpoint_at(conn, size))
            .await
    }

    pub(crate) async fn inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>, Hash)> {
        self.readers
            .read(move |conn, _| {
                let (leaves, frontier) = tree::Leaves::new(conn)?;
                prove_inclusion(&leaves, &frontier, index, size)
            })
            .await
    }

    pub(crate) async fn consistency(&self, m: u64, n: u64) -> Result<(Vec<Hash>, Hash, Hash)> {
        self.readers
            .read(move |conn, _| {
                let (leaves, frontier) = tree::Leaves::new(conn)?;
                prove_consistency(&leaves, &frontier, m, n)
            })
            .await
    }

    pub(crate) async fn scan<S: Scanner>(&self, mut scanner: S) -> Result<S> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = readers.opener.connect()?;
            tree::scan(&conn, &mut scanner).map(|()| scanner)
        })
        .await
        .map_err(joined)?
    }
}

struct Readers {
    path: PathBuf,
    opener: Opener,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    /// Shared by every reader of this process; see `index`.
    index: RwLock<ActionIndex>,
}

impl Readers {
    /// Runs `f` in a read transaction on a pooled connection, off the async workers.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &RwLock<ActionIndex>) -> Result<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => readers.connect()?,
            };
            let result = in_read_transaction(&conn, |conn| f(conn, &readers.index));
            // A connection whose transaction could not be closed is not reused.
            if conn.is_autocommit() {
                readers
                    .idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(conn);
            }
            result
        })
        .await
        .map_err(joined)?
    }

    fn connect(&self) -> Result<Connection> {
        let conn = self.opener.connect()?;
        conn.pragma_update(None, "query_only", "ON").db()?;
        Ok(conn)
    }
}

/// How this store opens its read connections.
#[derive(Debug, Clone)]
struct Opener {
    path: PathBuf,
    read_only: bool,
    /// Read as a file nobody changes (`immutable=1`): see `Opener::read_only`.
    immutable: bool,
}

impl Opener {
    fn read_write(path: &Path) -> Self {
        Opener {
            path: path.to_owned(),
            read_only: false,
            immutable: false,
        }
    }

    /// Read-only connections to `path`. A WAL-mode file is read through its `-shm`
    /// index, which a reader must be able to create or map; where it cannot (a
    /// copy in a directory this user cannot write, with no `-shm` beside it) no
    /// process can be writing the file, so it is read as immutable, unless a `-wal`
    /// with content lies beside it: immutable reads would miss those commits.
    fn read_only(path: &Path) -> Result<Self> {
        let mut opener = Opener {
            path: path.to_owned(),
            read_only: true,
            immutable: false,
        };
        match opener.open().and_then(|conn| probe(&conn)) {
            Ok(()) => return Ok(opener),
            Err(err) if !is_read_only_error(&err) => {
                return Err(Error::storage_from(format!("cannot read it: {err}"), err));
            }
            Err(_) => {}
        }
        let wal = sidecar(path, "-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(Error::storage(format!(
                "cannot read it without write access: its write-ahead log {} holds \
                 commits, and SQLite needs to create {} to read them (copy both files \
                 to a directory you can write, or open the log once with write access)",
                wal.display(),
                sidecar(path, "-shm").display()
            )));
        }
        opener.immutable = true;
        opener
            .open()
            .and_then(|conn| probe(&conn))
            .map_err(|e| Error::storage_from(format!("cannot read it: {e}"), e))?;
        Ok(opener)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        if self.immutable {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(file_uri(&self.path, "immutable=1"), flags)
        } else if self.read_only {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(&self.path, flags)
        } else {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(&self.path, flags)
        }
    }

    fn connect(&self) -> Result<Connection> {
        let conn = self.open().db()?;
        schema::configure(&conn)?;
        Ok(conn)
    }
}

/// Reads the schema, the first read that needs the WAL index.
fn probe(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
}

/// Whether SQLite refused a read because it could not write (the WAL index).
fn is_read_only_error(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// `path` with `suffix` appended to its file name (`hawk.db` → `hawk.db-wal`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A `file:` URI for `path` with `query`; the characters URIs give a meaning are
/// escaped.
fn file_uri(path: &Path, query: &str) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// A blocking task's failure: cancelled means the runtime is shutting down, so the
/// store is closing; anything else (a panic) is a storage error.
fn joined(err: tokio::task::JoinError) -> Error {
    if err.is_cancelled() {
        Error::Closed
    } else {
        Error::storage(err)
    }
}

fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN").db()?;
    let result = f(conn);
    conn.execute_batch("COMMIT").db()?;
    result
}
