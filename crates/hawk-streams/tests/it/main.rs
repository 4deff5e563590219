//! Integration tests of `hawk-streams`: real receivers on loopback, real logs on both
//! engines (one binary, see STYLE.md).

mod nats;
mod webhook;

use hawk_audit::Audit;

/// A fresh log on one engine, alive as long as this value.
pub(crate) enum Log {
    Sqlite(tempfile::TempDir),
    Postgres(hawk_testing::PgDb),
}

impl Log {
    pub(crate) fn url(&self) -> String {
        match self {
            Log::Sqlite(dir) => format!("sqlite:{}", dir.path().join("hawk.db").display()),
            Log::Postgres(db) => db.url(),
        }
    }

    /// A new handle (its own connections, as another process has).
    pub(crate) async fn open(&self) -> Audit {
        Audit::open(&self.url()).await.expect("open the test log")
    }
}

/// Runs each named test on a fresh SQLite file and a fresh PostgreSQL database (which
/// skips loudly without a server, and fails under `CI`).
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let log = $crate::Log::Sqlite(tempfile::tempdir().unwrap());
                    super::$name(log).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = hawk_testing::PgDb::new(stringify!($name)).await else {
                        return;
                    };
                    super::$name($crate::Log::Postgres(db)).await
                }
            )*
        }
    };
}
pub(crate) use both_engines;
