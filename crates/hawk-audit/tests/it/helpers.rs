//! Shared test scaffolding: fresh databases for each engine.

use hawk_audit::{Audit, Options};
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
