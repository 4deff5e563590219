//! The HawkEx table on a PostgreSQL server, read in keyset batches.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    BATCH, Batches, ImportError, Key, Progress, Result, Summary, ndjson_record, read_error,
    reading, stored_position,
};
use crate::{Audit, format_time};

/// The table HawkEx keeps its log in.
pub const HAWK_EX_TABLE: &str = "hawk_ex_audit_logs";

/// Imports a HawkEx table (e.g. [`HAWK_EX_TABLE`]) from the PostgreSQL server at `url`
/// into `audit`, in keyset batches by `(inserted_at, id)`, which HawkEx's index on
/// `inserted_at` serves without sorting the table; `progress` as for
/// [`file`](super::file()).
pub async fn table(
    audit: &Audit,
    url: &str,
    table: &str,
    mut progress: impl FnMut(Progress),
) -> Result<Summary> {
    let table = Table::parse(table)?;
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| ImportError::Invalid(format!("source: not a PostgreSQL URL ({e})")))?;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(reading(|| {
            format!("connecting to {}", describe_server(&config))
        }))?;
    let connection = tokio::spawn(connection);
    // Times read and compared as UTC, which is what HawkEx's naive timestamps hold.
    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .map_err(read_error)?;
    let column_type: String = client
        .query_opt(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = to_regclass($1) AND attname = 'inserted_at' AND NOT attisdropped",
            &[&table.0],
        )
        .await
        .map_err(read_error)?
        .map(|row| row.get(0))
        .ok_or_else(|| {
            ImportError::Table(format!(
                "{} has no table {} with an inserted_at column",
                describe_server(&config),
                table.0
            ))
        })?;
    let source = format!("{}#{}", describe_server(&config), table.0);
    let (position, after) = stored_position(audit, &source).await?;
    let after = after.unwrap_or(Key {
        micros: i64::MIN,
        id: i64::MIN,
    });
    let after_time = |key: Key| -> String {
        if key.micros == i64::MIN {
            "-infinity".to_owned()
        } else {
            format_time(
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(key.micros) * 1000)
                    .expect("a stored position is a valid time"),
            )
        }
    };
    // Rows past the position: later times, or the same time and a larger id.
    let past = format!(
        "inserted_at >= $1::text::{column_type}
         AND NOT (inserted_at = $1::text::{column_type} AND id::bigint <= $2)"
    );
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {} WHERE {past}", table.0),
            &[&after_time(after), &after.id],
        )
        .await
        .map_err(read_error)?
        .get(0);
    let skipped: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", table.0), &[])
        .await
        .map_err(read_error)?
        .get(0);
    progress(Progress::Total(total as u64));
    let select = client
        .prepare(&format!(
            "SELECT id::bigint, actor_id::text, actor_type::text, action::text,
                    resource_id::text, resource_type::text, metadata::text,
                    (extract(epoch FROM inserted_at) * 1000000)::bigint
             FROM {} WHERE {past}
             ORDER BY inserted_at, id LIMIT {BATCH}",
            table.0
        ))
        .await
        .map_err(read_error)?;
    let mut batches = Batches::new(audit, source.clone(), position);
    let mut at = after;
    loop {
        let rows = client
            .query(&select, &[&after_time(at), &at.id])
            .await
            .map_err(read_error)?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.get(0);
            let text = |i: usize| row.get::<_, Option<String>>(i);
            let mut fields = Map::new();
            for (name, i) in [
                ("actor_id", 1),
                ("actor_type", 2),
                ("action", 3),
                ("resource_id", 4),
                ("resource_type", 5),
            ] {
                if let Some(value) = text(i) {
                    fields.insert(name.to_owned(), Value::String(value));
                }
            }
            if let Some(raw) = text(6) {
                let metadata: Value = serde_json::from_str(&raw).map_err(|e| {
                    ImportError::Invalid(format!("{} id {id}: metadata: {e}", table.0))
                })?;
                fields.insert("metadata".to_owned(), metadata);
            }
            let micros: i64 = row.get(7);
            let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
                .map_err(|_| {
                    ImportError::Invalid(format!("{} id {id}: inserted_at: out of range", table.0))
                })?;
            fields.insert("inserted_at".to_owned(), Value::String(format_time(time)));
            fields.insert("id".to_owned(), Value::String(id.to_string()));
            let record = ndjson_record(fields, 0, id as u64)
                .map_err(|msg| ImportError::Invalid(format!("{} id {id}: {msg}", table.0)))?;
            batch.push(record);
        }
        let Some(last) = batch.last() else { break };
        at = last.key;
        let n = batches
            .commit(batch, |id| format!("{} id {id}", table.0))
            .await?;
        progress(Progress::Imported(n));
    }
    drop(client);
    let _ = connection.await;
    Ok(Summary {
        source,
        imported: batches.imported,
        skipped: (skipped - total).max(0) as u64,
    })
}

/// A table name, optionally schema-qualified, made of plain identifiers only (it is
/// spliced into SQL).
struct Table(String);

impl Table {
    fn parse(name: &str) -> Result<Table> {
        let plain = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|p| plain(p)) {
            return Err(ImportError::Table(format!(
                "must be a plain table name, optionally with its schema (letters, digits and _), not {name:?}"
            )));
        }
        Ok(Table(name.to_owned()))
    }
}

/// `postgres://HOST:PORT/DB` without the user or password, to name a server.
fn describe_server(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres://{host}:{port}/{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn table_names_that_are_not_plain_identifiers_are_refused_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        let audit = Audit::open(&url).await.unwrap();
        // Nothing listens on port 1: the name is refused before any connection.
        let err = table(&audit, "postgres://nobody@127.0.0.1:1/x", "x;drop", |_| {})
            .await
            .unwrap_err();
        assert!(err.is_invalid());
        assert!(
            err.to_string()
                .starts_with("table: must be a plain table name"),
            "{err}"
        );
        assert!(Table::parse("public.hawk_ex_audit_logs").is_ok());
        assert!(Table::parse("a.b.c").is_err());
    }
}
