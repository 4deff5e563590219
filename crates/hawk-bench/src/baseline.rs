//! The comparison baseline: HawkEx's own schema and SQL, on the same engine and data.
//!
//! This crate speaks SQL only for the baseline; Hawk itself is measured through its
//! public API. HawkEx keeps second-resolution text timestamps, an index on each of
//! `actor_id`, `action`, `resource_id` and `inserted_at`, counts with `count(id)`,
//! pages with `ORDER BY inserted_at DESC LIMIT/OFFSET`, searches with an unescaped
//! `action LIKE '%term%'` (SQLite's LIKE is case-insensitive like Postgres' ILIKE for
//! ASCII), and finds an account's entries with `WHERE resource_id = $1`.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::BoxError;

const COLUMNS: &str =
    "id, actor_id, actor_type, action, resource_id, resource_type, metadata, inserted_at";

/// A HawkEx table filled from a Hawk SQLite file.
pub(crate) struct Baseline {
    conn: Connection,
}

/// One HawkEx row, materialized as HawkEx's query would return it.
#[allow(dead_code)] // read only to make the query do its work
pub(crate) struct Row(
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

impl Baseline {
    /// Creates `path` with HawkEx's schema and copies every entry of the Hawk file.
    pub(crate) fn build(path: &Path, hawk_file: &Path) -> Result<Baseline, BoxError> {
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
        Ok(Baseline { conn })
    }

    fn rows(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Row>, BoxError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| {
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
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<u64, BoxError> {
        let n: i64 = self
            .conn
            .prepare_cached(sql)?
            .query_row(params, |r| r.get(0))?;
        Ok(n as u64)
    }

    /// `recent/1`: a count, then a page by OFFSET.
    pub(crate) fn recent(
        &self,
        page: u64,
        per_page: u64,
        term: Option<&str>,
    ) -> Result<(u64, Vec<Row>), BoxError> {
        let offset = ((page - 1) * per_page) as i64;
        match term {
            None => {
                let total = self.count("SELECT count(id) FROM hawk_ex_audit_logs", &[])?;
                let sql = format!(
                    "SELECT {COLUMNS} FROM hawk_ex_audit_logs ORDER BY inserted_at DESC LIMIT ?1 OFFSET ?2"
                );
                Ok((total, self.rows(&sql, &[&(per_page as i64), &offset])?))
            }
            Some(term) => {
                let pattern = format!("%{term}%");
                let total = self.count(
                    "SELECT count(id) FROM hawk_ex_audit_logs WHERE action LIKE ?1",
                    &[&pattern],
                )?;
                let sql = format!(
                    "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE action LIKE ?1
                     ORDER BY inserted_at DESC LIMIT ?2 OFFSET ?3"
                );
                Ok((
                    total,
                    self.rows(&sql, &[&pattern, &(per_page as i64), &offset])?,
                ))
            }
        }
    }

    /// `search/2`: the newest `limit` entries whose action matches.
    pub(crate) fn search(&self, query: &str, limit: u64) -> Result<Vec<Row>, BoxError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE action LIKE ?1
             ORDER BY inserted_at DESC LIMIT ?2"
        );
        self.rows(&sql, &[&format!("%{query}%"), &(limit as i64)])
    }

    /// Suggestions the HawkEx way (it has none): group the matching rows by action.
    pub(crate) fn actions(&self, query: &str, limit: u64) -> Result<Vec<(String, i64)>, BoxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT action, count(id) FROM hawk_ex_audit_logs WHERE action LIKE ?1
             GROUP BY action ORDER BY count(id) DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![format!("%{query}%"), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An account's first page: `WHERE resource_id = $1`, counted and paged.
    pub(crate) fn account_page(
        &self,
        account: &str,
        per_page: u64,
    ) -> Result<(u64, Vec<Row>), BoxError> {
        let total = self.count(
            "SELECT count(id) FROM hawk_ex_audit_logs WHERE resource_id = ?1",
            &[&account],
        )?;
        let sql = format!(
            "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE resource_id = ?1
             ORDER BY inserted_at DESC LIMIT ?2"
        );
        Ok((total, self.rows(&sql, &[&account, &(per_page as i64)])?))
    }

    /// `for_account/1`: every entry of the account, newest first. Returns the count.
    pub(crate) fn account_all(&self, account: &str) -> Result<u64, BoxError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE resource_id = ?1 ORDER BY inserted_at DESC"
        );
        Ok(self.rows(&sql, &[&account])?.len() as u64)
    }

    /// `track/3`: one row per transaction, as an Ecto insert does.
    pub(crate) fn track(&self, action: &str) -> Result<(), BoxError> {
        self.conn
            .prepare_cached(
                "INSERT INTO hawk_ex_audit_logs (actor_id, actor_type, action, inserted_at)
                 VALUES ('1', 'user', ?1, strftime('%Y-%m-%dT%H:%M:%S', 'now'))",
            )?
            .execute([action])?;
        Ok(())
    }
}
