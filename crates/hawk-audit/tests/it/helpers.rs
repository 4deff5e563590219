//! Shared test scaffolding: fresh databases for each engine.

use hawk_audit::merkle::{Frontier, leaf_hash, to_hex};
use hawk_audit::{Audit, Entry, Options};
use tempfile::TempDir;

/// A fresh, empty database that lives as long as this value.
pub(crate) struct TestDb {
    url: String,
    _dir: TempDir,
}

impl TestDb {
    /// A new SQLite file in its own temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        TestDb { url, _dir: dir }
    }

    /// A new handle on this database (its own connections, like another process).
    pub(crate) async fn open(&self) -> Audit {
        Audit::open(&self.url)
            .await
            .expect("open the test database")
    }

    /// The database file.
    pub(crate) fn path(&self) -> std::path::PathBuf {
        self._dir.path().join("hawk.db")
    }

    pub(crate) async fn open_with(&self, options: Options) -> Audit {
        Audit::open_with(&self.url, options)
            .await
            .expect("open the test database")
    }
}

/// Every entry of the log in id order, after asserting that the log is intact: ids
/// are 1..=head, each stored leaf hash recomputes from its entry, and the stored tree
/// head is the root of those leaves.
pub(crate) async fn assert_intact(audit: &Audit) -> Vec<Entry> {
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

/// Runs each named test against every engine, each time on a fresh database.
/// A test is `async fn name(db: TestDb)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestDb::sqlite()).await
                }
            )*
        }
    };
}
pub(crate) use conformance;
