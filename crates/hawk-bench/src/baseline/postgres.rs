//! HawkEx's table on PostgreSQL, in the same database as Hawk's tables.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Dialect, Param};
use crate::BoxError;

pub(super) const DIALECT: Dialect = Dialect {
    like: "ILIKE",
    now: "(now() AT TIME ZONE 'UTC')",
    time_cast: "::text::timestamp",
};

/// A HawkEx table filled from Hawk's tables in the same PostgreSQL database, queried
/// over one connection with its statements prepared once, as Postgrex caches them.
pub(crate) struct PgBaseline {
    client: Client,
    prepared: Mutex<HashMap<String, Statement>>,
}

/// Connects to `url` (no TLS), giving up after 5 seconds.
pub(crate) async fn connect(url: &str) -> Result<Client, BoxError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &(dyn ToSql + Sync),
            Param::Text(s) => s as &(dyn ToSql + Sync),
        })
        .collect()
}

impl PgBaseline {
    /// Creates HawkEx's table (its Ecto migration: `:string` columns are
    /// varchar(255), `:map` is jsonb, `timestamps` are second-resolution `timestamp
    /// without time zone`) in the database at `url`, copies Hawk's entries into it in
    /// id order, indexes it as HawkEx does and analyzes it.
    pub(crate) async fn build(url: &str) -> Result<PgBaseline, BoxError> {
        let client = connect(url).await?;
        client
            .batch_execute(
                "CREATE TABLE hawk_ex_audit_logs (
                     id            bigserial PRIMARY KEY,
                     actor_id      varchar(255),
                     actor_type    varchar(255),
                     action        varchar(255) NOT NULL,
                     resource_id   varchar(255),
                     resource_type varchar(255),
                     metadata      jsonb NOT NULL DEFAULT '{}',
                     inserted_at   timestamp(0) without time zone NOT NULL
                 );
                 INSERT INTO hawk_ex_audit_logs
                     (id, actor_id, actor_type, action, resource_id, resource_type, metadata, inserted_at)
                 SELECT e.id, e.actor_id, e.actor_type, a.name, e.resource_id, e.resource_type,
                        e.metadata::jsonb, e.inserted_at AT TIME ZONE 'UTC'
                 FROM entries e JOIN actions a ON a.id = e.action_id
                 ORDER BY e.id;
                 SELECT setval(pg_get_serial_sequence('hawk_ex_audit_logs', 'id'),
                               (SELECT coalesce(max(id), 0) + 1 FROM hawk_ex_audit_logs), false);
                 CREATE INDEX hawk_ex_audit_logs_actor_id_index ON hawk_ex_audit_logs (actor_id);
                 CREATE INDEX hawk_ex_audit_logs_action_index ON hawk_ex_audit_logs (action);
                 CREATE INDEX hawk_ex_audit_logs_resource_id_index ON hawk_ex_audit_logs (resource_id);
                 CREATE INDEX hawk_ex_audit_logs_inserted_at_index ON hawk_ex_audit_logs (inserted_at);
                 ANALYZE hawk_ex_audit_logs;",
            )
            .await?;
        Ok(PgBaseline {
            client,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    async fn statement(&self, sql: &str) -> Result<Statement, BoxError> {
        let mut prepared = self.prepared.lock().await;
        if let Some(statement) = prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) async fn rows(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let statement = self.statement(sql).await?;
        let rows = self.client.query(&statement, &bind(params)).await?;
        // Decode every column, as Ecto loads the whole struct.
        for row in &rows {
            let _: (i64, Option<String>, Option<String>, String) = (
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
            let _: (
                Option<String>,
                Option<String>,
                serde_json::Value,
                SystemTime,
            ) = (
                row.try_get(4)?,
                row.try_get(5)?,
                row.try_get(6)?,
                row.try_get(7)?,
            );
        }
        Ok(rows.len() as u64)
    }

    pub(super) async fn groups(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let statement = self.statement(sql).await?;
        let rows = self.client.query(&statement, &bind(params)).await?;
        for row in &rows {
            let _: (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        }
        Ok(rows.len() as u64)
    }

    pub(super) async fn count(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let statement = self.statement(sql).await?;
        let n: i64 = self
            .client
            .query_one(&statement, &bind(params))
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    pub(super) async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, BoxError> {
        let statement = self.statement(sql).await?;
        Ok(self.client.execute(&statement, &bind(params)).await?)
    }
}
