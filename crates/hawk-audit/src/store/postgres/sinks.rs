//! The `sinks` table in PostgreSQL: the statements of `store::sink_ops`, each one
//! statement (so one transaction) on a pooled connection.

use deadpool_postgres::Client;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::pg_error;
use crate::error::Result;
use crate::store::sink_ops::{Answer, SinkAnswer, SinkOp, SinkRow, Value, for_postgres};

fn row(row: &Row) -> SinkRow {
    SinkRow {
        name: row.get(0),
        kind: row.get(1),
        settings: row.get(2),
        secret: row.get(3),
        query: row.get(4),
        batch: row.get(5),
        cursor: row.get(6),
        in_flight: row.get(7),
        epoch: row.get(8),
        paused: row.get(9),
        delivered: row.get(10),
        failures: row.get(11),
        last_error: row.get(12),
        last_error_at: row.get(13),
        holder: row.get(14),
        lease_until: row.get(15),
        created_at: row.get(16),
    }
}

/// Runs `op` on `client`.
pub(super) async fn run(client: &Client, op: SinkOp) -> Result<SinkAnswer> {
    let stmt = client
        .prepare_cached(&for_postgres(op.sql))
        .await
        .map_err(pg_error)?;
    // A NULL binds as the type the statement expects there.
    let values: Vec<Box<dyn ToSql + Sync + Send>> = op
        .params
        .into_iter()
        .zip(stmt.params())
        .map(|(value, ty)| -> Box<dyn ToSql + Sync + Send> {
            match value {
                Value::Int(v) => Box::new(v),
                Value::Text(v) => Box::new(v),
                Value::Null if *ty == Type::TEXT => Box::new(None::<String>),
                Value::Null => Box::new(None::<i64>),
            }
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> = values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect();
    match op.answer {
        Answer::Rows => {
            let rows = client.query(&stmt, &params).await.map_err(pg_error)?;
            Ok(SinkAnswer::Rows(rows.iter().map(row).collect()))
        }
        Answer::Changed => Ok(SinkAnswer::Changed(
            client.execute(&stmt, &params).await.map_err(pg_error)?,
        )),
    }
}
