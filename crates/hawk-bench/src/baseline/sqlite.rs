//! HawkEx's table on SQLite, in its own file next to Hawk's.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::{ToSql, ToSqlOutput};

use super::{Dialect, Param};
use crate::BoxError;

pub(super) const DIALECT: Dialect = Dialect {
    like: "LIKE",
    now: "strftime('%Y-%m-%dT%H:%M:%S', 'now')",
    time_cast: "",
};

/// A HawkEx table filled from a Hawk SQLite file.
pub(crate) struct SqliteBaseline {
    conn: Connection,
}

/// One HawkEx row, materialized as HawkEx's query would return it.
#[allow(dead_code)] // read only to make the query do its work
struct Row(
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Int(n) => n.to_sql(),
            Param::Text(s) => s.to_sql(),
        }
    }
}

fn bind(params: &[Param]) -> Vec<&dyn ToSql> {
    params.iter().map(|p| p as &dyn ToSql).collect()
}

impl SqliteBaseline {
    /// Creates `path` with HawkEx's schema and copies every entry of the Hawk file.
    pub(crate) fn build(path: &Path, hawk_file: &Path) -> Result<SqliteBaseline, BoxError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE hawk_ex_audit_logs (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 actor_id      TEXT,
                 actor_type    TEXT,
                 action        TEXT NOT NULL,
                 resource_id   TEXT,
                 resource_type TEXT,
                 metadata      TEXT NOT NULL DEFAULT '{}',
                 inserted_at   TEXT NOT NULL
             );",
        )?;
        conn.execute("ATTACH DATABASE ?1 AS hawk", [hawk_file.to_string_lossy()])?;
        conn.execute_batch(
            "INSERT INTO hawk_ex_audit_logs
                 (id, actor_id, actor_type, action, resource_id, resource_type, metadata, inserted_at)
             SELECT e.id, e.actor_id, e.actor_type, a.name, e.resource_id, e.resource_type,
                    e.metadata, strftime('%Y-%m-%dT%H:%M:%S', e.inserted_at / 1000000, 'unixepoch')
             FROM hawk.entries e JOIN hawk.actions a ON a.id = e.action_id
             ORDER BY e.id;
             DETACH DATABASE hawk;
             CREATE INDEX hawk_ex_audit_logs_actor_id_index ON hawk_ex_audit_logs (actor_id);
             CREATE INDEX hawk_ex_audit_logs_action_index ON hawk_ex_audit_logs (action);
             CREATE INDEX hawk_ex_audit_logs_resource_id_index ON hawk_ex_audit_logs (resource_id);
             CREATE INDEX hawk_ex_audit_logs_inserted_at_index ON hawk_ex_audit_logs (inserted_at);
             ANALYZE;",
        )?;
        Ok(SqliteBaseline { conn })
    }

    pub(super) fn rows(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(&*bind(params), |r| {
            Ok(Row(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.len() as u64)
    }

    pub(super) fn groups(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(&*bind(params), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.len() as u64)
    }

    pub(super) fn count(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let n: i64 = self
            .conn
            .prepare_cached(sql)?
            .query_row(&*bind(params), |r| r.get(0))?;
        Ok(n as u64)
    }

    pub(super) fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        Ok(self.conn.prepare_cached(sql)?.execute(&*bind(params))? as u64)
    }
}
