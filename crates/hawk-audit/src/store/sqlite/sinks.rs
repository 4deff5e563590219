//! The `sinks` table in the SQLite file: the statements of `store::sink_ops`. Reads run
//! on the pooled read connections; writes on the appends' writer thread, each in its
//! own transaction between two groups of appends (a second connection would wait for
//! the file's write lock in SQLite's sleeping busy handler while 64 callers keep the
//! writer committing, and a sink fell minutes behind).

use rusqlite::{Connection, TransactionBehavior, params_from_iter};

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

/// A write, in its own transaction, on the appends' writer connection. Blocking.
pub(super) fn write(conn: &mut Connection, op: &SinkOp) -> Result<SinkAnswer> {
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
