//! Shared test scaffolding: fresh databases for each engine.

use hawk_audit::merkle::to_hex;
use hawk_audit::{Audit, Options};
pub(crate) use hawk_testing::assert_intact;
use hawk_testing::{PgDb, connect};
use tempfile::TempDir;

/// A fresh, empty database that lives as long as this value.
pub(crate) struct TestDb {
    url: String,
    engine: Storage,
}

enum Storage {
    Sqlite(TempDir),
    Postgres(PgDb),
}

/// The engines a test can run on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// Runs one property-test case, on a runtime of its own (proptest cases are
/// synchronous), against a fresh database on `engine` (`test` names it on PostgreSQL;
/// skipped as [`TestDb::postgres`] says).
pub(crate) fn run_case<F: std::future::Future<Output = ()>>(
    engine: Engine,
    test: &str,
    case: impl FnOnce(TestDb) -> F,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if let Some(db) = TestDb::new(engine, test).await {
            case(db).await;
        }
    });
}

impl TestDb {
    /// A fresh database on `engine`; `None` as [`TestDb::postgres`] says.
    pub(crate) async fn new(engine: Engine, test: &str) -> Option<TestDb> {
        match engine {
            Engine::Sqlite => Some(TestDb::sqlite()),
            Engine::Postgres => TestDb::postgres(test).await,
        }
    }

    /// A new SQLite file in its own temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        TestDb {
            url,
            engine: Storage::Sqlite(dir),
        }
    }

    /// A new database on the test PostgreSQL server. `None` when the server cannot be
    /// reached and `CI` is not set (the test then says loudly that it skipped); under
    /// `CI` an unreachable server fails the test.
    pub(crate) async fn postgres(test: &str) -> Option<TestDb> {
        let db = PgDb::new(test).await?;
        Some(TestDb {
            url: db.url(),
            engine: Storage::Postgres(db),
        })
    }

    /// The URL `Audit::open` takes for this database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A new handle on this database (its own connections, like another process).
    pub(crate) async fn open(&self) -> Audit {
        Audit::open(&self.url)
            .await
            .expect("open the test database")
    }

    /// The database file of a SQLite test database.
    pub(crate) fn path(&self) -> std::path::PathBuf {
        match &self.engine {
            Storage::Sqlite(dir) => dir.path().join("hawk.db"),
            Storage::Postgres(_) => panic!("a PostgreSQL test database has no file"),
        }
    }

    pub(crate) async fn open_with(&self, options: Options) -> Audit {
        Audit::open_with(&self.url, options)
            .await
            .expect("open the test database")
    }

    /// This PostgreSQL test database's URL with `user` as the role that connects.
    pub(crate) fn url_as(&self, user: &str) -> String {
        let scheme_end = self.url.find("://").expect("a URL") + 3;
        let rest = &self.url[scheme_end..];
        let host = match rest.find('@') {
            Some(at) if rest.find('/').is_none_or(|slash| at < slash) => &rest[at + 1..],
            _ => rest,
        };
        format!("{}{user}@{host}", &self.url[..scheme_end])
    }

    /// The name of this PostgreSQL test database.
    pub(crate) fn name(&self) -> &str {
        match &self.engine {
            Storage::Postgres(db) => db.name(),
            Storage::Sqlite(_) => panic!("a SQLite test database has no name"),
        }
    }

    /// Runs one SQL statement directly on the database, bypassing Hawk, as any SQL
    /// client holding the database could; the error message on failure.
    pub(crate) async fn execute_sql(&self, sql: &str) -> Result<u64, String> {
        match &self.engine {
            Storage::Sqlite(_) => {
                let conn = rusqlite::Connection::open(self.path()).map_err(|e| e.to_string())?;
                conn.execute(sql, [])
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }
            Storage::Postgres(_) => execute_postgres(&self.url, sql).await,
        }
    }

    /// Whether this is a PostgreSQL database.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.engine, Storage::Postgres(_))
    }

    /// `sqlite` or `postgres`: the one written in this database's SQL dialect.
    pub(crate) fn dialect<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        if self.is_postgres() { postgres } else { sqlite }
    }

    /// `bytes` as a literal of this database's SQL.
    pub(crate) fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex = to_hex(bytes);
        if self.is_postgres() {
            format!("'\\x{hex}'::bytea")
        } else {
            format!("X'{hex}'")
        }
    }

    /// Runs several SQL statements directly on the database, bypassing Hawk.
    pub(crate) async fn batch_sql(&self, sql: &str) {
        match &self.engine {
            Storage::Sqlite(_) => rusqlite::Connection::open(self.path())
                .unwrap()
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Storage::Postgres(_) => connect(&self.url)
                .await
                .unwrap()
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}")),
        }
    }

    /// The rows of a query whose columns are all integers (bigint on PostgreSQL).
    pub(crate) async fn query_integers(&self, sql: &str) -> Vec<Vec<i64>> {
        match &self.engine {
            Storage::Sqlite(_) => {
                let conn = rusqlite::Connection::open(self.path()).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let width = stmt.column_count();
                stmt.query_map([], |row| (0..width).map(|i| row.get(i)).collect())
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Storage::Postgres(_) => {
                let rows = connect(&self.url).await.unwrap().query(sql, &[]).await;
                rows.unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                    .iter()
                    .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
                    .collect()
            }
        }
    }

    /// The values of a query of one bytes column.
    pub(crate) async fn query_blobs(&self, sql: &str) -> Vec<Vec<u8>> {
        match &self.engine {
            Storage::Sqlite(_) => {
                let conn = rusqlite::Connection::open(self.path()).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                stmt.query_map([], |row| row.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Storage::Postgres(_) => connect(&self.url)
                .await
                .unwrap()
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                .iter()
                .map(|row| row.get(0))
                .collect(),
        }
    }

    /// [`TestDb::execute_sql`] on PostgreSQL as role `user`.
    pub(crate) async fn execute_sql_as(&self, user: &str, sql: &str) -> Result<u64, String> {
        execute_postgres(&self.url_as(user), sql).await
    }
}

async fn execute_postgres(url: &str, sql: &str) -> Result<u64, String> {
    let client = connect(url).await.map_err(|e| e.to_string())?;
    client
        .execute(sql, &[])
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => e.to_string(),
        })
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
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::helpers::TestDb::postgres(stringify!($name)).await
                    else {
                        return;
                    };
                    super::$name(db).await
                }
            )*
        }
    };
}
pub(crate) use conformance;

/// SQL that takes a SQLite log back to what schema `version` wrote, undoing later
/// migrations newest first (a migration test opens it again and expects them redone).
pub(crate) fn downgrade_sql(version: u32) -> String {
    let undo: [(u32, &str); 9] = [
        (12, "DROP TABLE sinks;"),
        (
            11,
            "DROP TABLE filter_chunks; DROP TABLE filter_postings; DROP TABLE filter_totals;",
        ),
        (10, "DROP TABLE idempotency_keys;"),
        (
            9,
            "DROP INDEX entries_by_account_history;
             CREATE INDEX entries_by_account_seq ON entries(account_id, account_seq)
                 WHERE account_id IS NOT NULL;",
        ),
        (
            8,
            "DROP TRIGGER IF EXISTS entries_refuse_delete;
             CREATE TRIGGER entries_refuse_delete BEFORE DELETE ON entries
             BEGIN SELECT RAISE(ABORT, 'entries are append-only: DELETE refused'); END;
             DROP TABLE prunes; DROP TABLE pruned_actions;
             ALTER TABLE accounts DROP COLUMN pruned;",
        ),
        (7, "DROP TABLE imports;"),
        (6, "DROP TABLE tree_nodes; DROP TABLE checkpoints;"),
        (
            5,
            "DROP TRIGGER IF EXISTS entries_refuse_update;
             DROP TRIGGER IF EXISTS entries_refuse_delete;",
        ),
        (
            4,
            "ALTER TABLE entries DROP COLUMN hash; DROP TABLE tree_frontier;",
        ),
    ];
    let mut sql: String = undo
        .iter()
        .filter(|(added_by, _)| *added_by > version)
        .map(|(_, sql)| format!("{sql}\n"))
        .collect();
    sql.push_str(&format!("PRAGMA user_version = {version};"));
    sql
}

/// SQL that takes a PostgreSQL log back to what schema `version` wrote, undoing later
/// migrations newest first (see [`downgrade_sql`]).
pub(crate) fn downgrade_postgres_sql(version: u32) -> String {
    let undo: [(u32, &str); 5] = [
        (8, "DROP TABLE sinks;"),
        (
            7,
            "DROP TABLE filter_chunks; DROP TABLE filter_postings; DROP TABLE filter_totals;",
        ),
        (6, "DROP TABLE idempotency_keys;"),
        (
            5,
            "DROP TABLE prunes;
             ALTER TABLE actions DROP COLUMN pruned;
             ALTER TABLE accounts DROP COLUMN pruned;
             CREATE OR REPLACE FUNCTION hawk_refuse_change() RETURNS trigger
             LANGUAGE plpgsql AS $$
             BEGIN
                 IF TG_OP = 'DELETE' AND current_setting('hawk.prune', true) = 'on' THEN
                     RETURN OLD;
                 END IF;
                 RAISE EXCEPTION 'entries are append-only: % refused', TG_OP
                     USING ERRCODE = 'insufficient_privilege';
             END
             $$;",
        ),
        (
            4,
            "DROP TABLE tree_nodes; DROP TABLE checkpoints;
             DROP FUNCTION hawk_refuse_checkpoint_change();",
        ),
    ];
    let mut sql: String = undo
        .iter()
        .filter(|(added_by, _)| *added_by > version)
        .map(|(_, sql)| format!("{sql}\n"))
        .collect();
    sql.push_str(&format!(
        "UPDATE hawk_schema SET version = {version} WHERE id = 1;"
    ));
    sql
}

/// The SQL that takes this database back to before stored subtrees and checkpoints.
pub(crate) fn before_stored_subtrees(db: &TestDb) -> String {
    if db.is_postgres() {
        downgrade_postgres_sql(3)
    } else {
        downgrade_sql(5)
    }
}
