//! The `sinks` table in the SQLite file: the statements of `store::sink_ops`, run on
//! a write connection of their own (in short `IMMEDIATE` transactions beside the
//! appends' writer, as key changes and seals are).
//!
//! That connection commits with `synchronous=NORMAL`: in WAL mode a commit survives the
//! process being killed, and only an operating-system crash can take back the last
//! few. Taking back a cursor move re-delivers (at least once still holds), so a sink's
//! two writes per batch need not each wait for a disk flush beside the appends'.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use super::keys::write_connection;
use crate::error::{DbResult, Result};
use crate::store::sink_ops::{Answer, SinkAnswer, SinkOp, SinkRow, Value};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
            Value::Null => rusqlite::types::Null.to_sql(),
        }
    }
}

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SinkRow> {
    Ok(SinkRow {
        name: row.get(0)?,
        kind: row.get(1)?,
        settings: row.get(2)?,
        secret: row.get(3)?,
        query: row.get(4)?,
        batch: row.get(5)?,
        cursor: row.get(6)?,
        in_flight: row.get(7)?,
        epoch: row.get(8)?,
        paused: row.get(9)?,
        delivered: row.get(10)?,
        failures: row.get(11)?,
        last_error: row.get(12)?,
        last_error_at: row.get(13)?,
        holder: row.get(14)?,
        lease_until: row.get(15)?,
        created_at: row.get(16)?,
    })
}

/// Runs `op` on `conn`.
fn run(conn: &Connection, op: &SinkOp) -> Result<SinkAnswer> {
    let mut stmt = conn.prepare_cached(op.sql).db()?;
    let params = params_from_iter(op.params.iter());
    match op.answer {
        Answer::Rows => {
            let rows = stmt.query_map(params, row).db()?;
            Ok(SinkAnswer::Rows(
                rows.collect::<rusqlite::Result<_>>().db()?,
            ))
        }
        Answer::Changed => Ok(SinkAnswer::Changed(stmt.execute(params).db()? as u64)),
    }
}

/// A read on a reader connection.
pub(super) fn read(conn: &Connection, op: &SinkOp) -> Result<SinkAnswer> {
    run(conn, op)
}

/// The write connection, opened on first use and kept.
pub(super) type Writer = Arc<Mutex<Option<Connection>>>;

/// A write, in its own transaction. Blocking.
pub(super) fn write(writer: &Writer, path: &Path, op: &SinkOp) -> Result<SinkAnswer> {
    let mut guard = writer.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        let conn = write_connection(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL").db()?;
        *guard = Some(conn);
    }
    let conn = guard.as_mut().expect("opened above");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let answer = run(&tx, op)?;
    tx.commit().db()?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sink_ops::ALL;

    #[test]
    fn every_statement_prepares_on_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("h.db")).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        for sql in ALL {
            conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
