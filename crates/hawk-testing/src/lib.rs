//! Test support shared by the Hawk crates' integration tests: a fresh PostgreSQL
//! database per test ([`PgDb`]), the check that a log is intact ([`assert_intact`])
//! and a webhook receiver ([`receiver::Receiver`]). Not published; each crate's `tests/it/helpers.rs` keeps only
//! what is its own.

pub mod receiver;

use std::time::Duration;

use hawk_audit::merkle::{Frontier, leaf_hash, to_hex};
use hawk_audit::{Audit, Entry};

/// The PostgreSQL server tests create their databases on, unless `HAWK_TEST_POSTGRES`
/// names another (any database of the server: it is only used to create and drop).
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database on the test PostgreSQL server, dropped when this value is.
#[derive(Debug)]
pub struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    /// A new database on the test server. `None` when the server cannot be reached
    /// and `CI` is not set (after saying loudly that `test` skipped); under `CI` an
    /// unreachable server fails the test.
    pub async fn new(test: &str) -> Option<PgDb> {
        let admin =
            std::env::var("HAWK_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let client = match connect(&admin).await {
            Ok(client) => client,
            Err(err) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "\n*** SKIPPED {test} on PostgreSQL: cannot reach {admin} ({err}). \
                     Start PostgreSQL or set HAWK_TEST_POSTGRES; under CI this fails. ***\n"
                );
                return None;
            }
            Err(err) => panic!("PostgreSQL at {admin} is unreachable (CI is set): {err}"),
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("random bytes");
        let name = format!("hawk_t_{}", u64::from_le_bytes(random));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = database_url(&admin, &name);
        Some(PgDb { admin, name, url })
    }

    /// [`PgDb::new`] for a test without a runtime of its own, named by its thread
    /// (the test harness names each test's thread after the test).
    pub fn create() -> Option<PgDb> {
        let thread = std::thread::current();
        block_on(PgDb::new(thread.name().unwrap_or("a test")))
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL (one statement or several) on the database, which must succeed; for a
    /// test without a runtime of its own.
    pub fn sql(&self, sql: &str) {
        block_on(async {
            connect(&self.url)
                .await
                .expect("connect to the test database")
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Best effort, on a thread of its own: Drop cannot await, and the test's
        // runtime may be shutting down.
        let (admin, dropping) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            block_on(async {
                let client = connect(&admin).await.ok()?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {dropping} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Runs `future` on a runtime of its own.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A plain connection (no pool) to `url`, driven by a task of its own on the current
/// runtime.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `admin` with its database replaced by `name` (the bench makes its databases so too).
pub use hawk_bench::database_url;

/// Every entry of the log in id order, after asserting that the log is intact: ids
/// are 1..=head, each stored leaf hash recomputes from its entry, and the stored tree
/// head is the root of those leaves.
pub async fn assert_intact(audit: &Audit) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.id);
        let chunk = audit.entries_after(after, 10_000, None).await.unwrap();
        if chunk.is_empty() {
            break;
        }
        entries.extend(chunk);
    }
    let mut frontier = Frontier::new();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.id, i as u64 + 1, "ids are dense");
        let leaf = leaf_hash(entry);
        assert_eq!(to_hex(&leaf), entry.hash, "leaf hash of entry {}", entry.id);
        frontier.push(leaf);
    }
    assert_eq!(audit.head().await.unwrap(), entries.len() as u64);
    let (size, root) = audit.tree_head().await.unwrap();
    assert_eq!(size, entries.len() as u64, "the stored tree covers the log");
    assert_eq!(root, to_hex(&frontier.root()), "the stored root");
    entries
}
