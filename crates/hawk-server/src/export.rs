//! Streamed exports in CSV and NDJSON, oldest first, in constant memory: entries are
//! read in keyset chunks and encoded chunk by chunk. Shared by `GET /v1/export` and
//! `hawk export`.

use std::fmt;
use std::str::FromStr;

use futures_util::Stream;
use hawk_audit::{Audit, Entry, Filter, Result, format_time};

/// Entries read per step of an export.
pub const CHUNK: u64 = 1000;

/// The CSV header: HawkEx's columns, then Hawk's own.
pub const CSV_HEADER: [&str; 10] = [
    "id",
    "actor_id",
    "actor_type",
    "action",
    "resource_id",
    "resource_type",
    "inserted_at",
    "account_id",
    "metadata",
    "hash",
];

use hawk_audit::import::csv_cell;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// Comma-separated values with a header row; metadata as a JSON string; cells
    /// escaped by [`csv_cell`].
    Csv,
    /// One JSON entry per line, as the API returns entries.
    Ndjson,
}

/// A format name that is neither `csv` nor `ndjson`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The field is named by whoever reports it (`format: …`, `--format: …`).
        write!(f, "must be csv or ndjson, not {:?}", self.0)
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

impl Format {
    /// The media type of the export.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    /// What comes before the first entry: the CSV header row, nothing for NDJSON.
    pub fn header(self) -> Vec<u8> {
        match self {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(CSV_HEADER)
                    .expect("writing to memory cannot fail");
                w.into_inner().expect("writing to memory cannot fail")
            }
            Format::Ndjson => Vec::new(),
        }
    }

    /// `entries` encoded, one row or line each.
    pub fn encode(self, entries: &[Entry]) -> Vec<u8> {
        match self {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::new());
                fn opt(v: &Option<String>) -> &str {
                    v.as_deref().unwrap_or_default()
                }
                for e in entries {
                    let id = e.id.to_string();
                    let time = format_time(e.inserted_at);
                    let metadata = serde_json::to_string(&e.metadata)
                        .expect("a JSON object always serializes");
                    let cells = [
                        &id,
                        opt(&e.actor_id),
                        opt(&e.actor_type),
                        &e.action,
                        opt(&e.resource_id),
                        opt(&e.resource_type),
                        &time,
                        opt(&e.account_id),
                        &metadata,
                        &e.hash,
                    ]
                    .map(csv_cell);
                    w.write_record(cells.iter().map(|c| c.as_bytes()))
                        .expect("writing to memory cannot fail");
                }
                w.into_inner().expect("writing to memory cannot fail")
            }
            Format::Ndjson => {
                let mut out = Vec::new();
                for e in entries {
                    serde_json::to_writer(&mut out, e).expect("an entry always serializes");
                    out.push(b'\n');
                }
                out
            }
        }
    }
}

/// Every entry (with `account`, that account's), oldest first, in chunks of up to
/// [`CHUNK`]. The export sees the log as it was when it started: entries committed
/// later are not included, so it always ends. Memory stays constant.
pub fn chunks(
    audit: &Audit,
    account: Option<String>,
) -> impl Stream<Item = Result<Vec<Entry>>> + Send + 'static {
    let filter = account.map_or_else(Filter::new, |account| crate::filters::account(&account));
    filtered_chunks(audit, filter)
}

/// The entries `filter` keeps, oldest first, in chunks of up to [`CHUNK`], as
/// [`chunks`] walks them.
pub fn filtered_chunks(
    audit: &Audit,
    filter: Filter,
) -> impl Stream<Item = Result<Vec<Entry>>> + Send + 'static {
    struct Walk {
        audit: Audit,
        filter: Filter,
        after: u64,
        /// The head when the export started; `None` until it is read.
        last: Option<u64>,
    }
    let walk = Walk {
        audit: audit.clone(),
        filter,
        after: 0,
        last: None,
    };
    futures_util::stream::try_unfold(walk, |mut walk| async move {
        let last = match walk.last {
            Some(last) => last,
            None => {
                let head = walk.audit.head().await?;
                walk.last = Some(head);
                head
            }
        };
        if walk.after >= last {
            return Ok(None);
        }
        let mut chunk = walk
            .audit
            .filtered(walk.filter.clone())
            .entries_after(walk.after, CHUNK)
            .await?;
        chunk.retain(|e| e.id <= last);
        match chunk.last() {
            None => Ok(None),
            Some(newest) => {
                walk.after = newest.id;
                Ok(Some((chunk, walk)))
            }
        }
    })
}

/// How many entries an export of `account` (or of everything) holds right now: the
/// length of a progress bar.
pub async fn count(audit: &Audit, account: Option<&str>) -> Result<u64> {
    let first = hawk_audit::Recent::page(1, 1);
    let page = match account {
        Some(account) => audit.for_account_page(account, first).await?,
        None => audit.recent(first).await?,
    };
    Ok(page.total_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_case_insensitively() {
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!("NDJSON".parse(), Ok(Format::Ndjson));
        assert_eq!("jsonl".parse(), Ok(Format::Ndjson));
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(err.to_string(), r#"must be csv or ndjson, not "xml""#);
    }

    #[test]
    fn csv_header_holds_hawkex_columns_then_hawks() {
        assert_eq!(
            String::from_utf8(Format::Csv.header()).unwrap(),
            "id,actor_id,actor_type,action,resource_id,resource_type,inserted_at,account_id,metadata,hash\n"
        );
        assert!(Format::Ndjson.header().is_empty());
        assert!(Format::Csv.encode(&[]).is_empty());
    }
}
