//! Importing HawkEx data, and Hawk's own exports: a HawkEx CSV export, Hawk's CSV or
//! NDJSON export ([`file()`]), or HawkEx's table on a PostgreSQL server ([`table()`]).
//! Records are written oldest first, so that newest first here is the order HawkEx
//! shows them in (`inserted_at` descending; rows of one second by id).
//!
//! Imports are resumable and idempotent: each batch commits together with the source's
//! new position (the `(inserted_at, id)` of its last record), so a re-run, or a run
//! after an interruption, starts after the last committed record and writes nothing
//! twice. A file is named by its canonical path, a table by its server and name; a
//! later export of the same log to the same place imports only the records past the
//! position.
//!
//! ```
//! use hawk_audit::{Audit, import};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
//! let audit = Audit::open(&url).await?;
//! // HawkEx's CSV export (`COPY hawk_ex_audit_logs TO … CSV HEADER`).
//! let csv = dir.path().join("hawk_ex_audit_logs.csv");
//! std::fs::write(&csv, "id,action,inserted_at\n1,invoice.paid,2025-01-01 12:00:00\n")?;
//!
//! let summary = import::file(&audit, &csv, |_progress| {}).await?;
//! assert_eq!((summary.imported, summary.skipped), (1, 0));
//! // Again: the stored position says it is done.
//! let again = import::file(&audit, &csv, |_progress| {}).await?;
//! assert_eq!((again.imported, again.skipped), (0, 1));
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Audit, NewEntry};

/// Records committed per transaction.
pub const BATCH: usize = 1000;

/// Why an import stopped. Batches committed before it stay, with their position: a
/// re-run carries on after them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The source holds a record (or has a shape) this import cannot take, named by
    /// its place; nothing of the batch it is in was written.
    #[error("{0}")]
    Invalid(String),
    /// The table name breaks a rule, or the server has no such table.
    #[error("table: {0}")]
    Table(String),
    /// The log refused the record or batch `context` names.
    #[error("{context}")]
    Refused {
        /// The record, or the source.
        context: String,
        /// What the log said.
        source: crate::Error,
    },
    /// The log failed.
    #[error(transparent)]
    Log(#[from] crate::Error),
    /// Reading the source failed (a file, or the PostgreSQL server).
    #[error("{context}")]
    Read {
        /// What was being read.
        context: String,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading the source failed, where the cause says what was read.
    #[error(transparent)]
    Unreadable(Box<dyn std::error::Error + Send + Sync>),
    /// The stored position of a source is not one this module writes.
    #[error("{0}")]
    Position(String),
}

impl ImportError {
    /// Whether the input is at fault (a bad record, table name or argument), rather
    /// than the source's reader or the log.
    pub fn is_invalid(&self) -> bool {
        match self {
            ImportError::Invalid(_) | ImportError::Table(_) => true,
            ImportError::Refused { source, .. } | ImportError::Log(source) => {
                source.as_invalid().is_some()
            }
            _ => false,
        }
    }
}

/// A failed read, said as it is.
fn read_error(err: impl std::error::Error + Send + Sync + 'static) -> ImportError {
    ImportError::Unreadable(Box::new(err))
}

/// A failed read, with what was being read.
fn reading<E: std::error::Error + Send + Sync + 'static>(
    context: impl FnOnce() -> String,
) -> impl FnOnce(E) -> ImportError {
    move |err| ImportError::Read {
        context: context(),
        source: Box::new(err),
    }
}

type Result<T, E = ImportError> = std::result::Result<T, E>;

mod postgres;

pub use postgres::{HAWK_EX_TABLE, table};

/// Where a record sits in the order it is imported in: its time, then its id in the
/// source (its line number when the source has no ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    micros: i64,
    id: i64,
}

impl Key {
    fn position(self) -> String {
        format!("{}:{}", self.micros, self.id)
    }

    fn parse_position(position: &str) -> Option<Key> {
        let (micros, id) = position.split_once(':')?;
        Some(Key {
            micros: micros.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// One source record, as read.
struct Record {
    key: Key,
    /// Where it starts in the file (a byte offset) and its line number, for messages
    /// (counted from `offset` when reading from there).
    offset: u64,
    line: u64,
    at: OffsetDateTime,
    entry: NewEntry,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The file's canonical path, or the table's server and name.
    pub source: String,
    /// Records written by this run.
    pub imported: u64,
    /// Records at or before the stored position: imported by an earlier run.
    pub skipped: u64,
}

/// A file's records, oldest first.
enum Format {
    Ndjson,
    /// Columns by name, from the header row.
    Csv(HashMap<String, usize>),
}

/// Imports the file at `path` (HawkEx's CSV export, or Hawk's CSV or NDJSON export,
/// told apart by their content) into `audit`; `progress` is told how many records
/// there are, then how many each batch wrote.
pub async fn file(
    audit: &Audit,
    path: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Summary> {
    let opening = || format!("opening {}", path.display());
    let canonical = std::fs::canonicalize(path).map_err(reading(opening))?;
    let source = format!("file:{}", canonical.display());
    let mut file = File::open(&canonical).map_err(reading(opening))?;
    let format = sniff(&mut file, path)?;
    let (position, after) = stored_position(audit, &source).await?;

    // First pass: every record's key and place, to order them and count the work.
    let mut index = Vec::new();
    let mut skipped = 0;
    for_each_record(&mut file, &format, path, 0, |record| {
        if after.is_some_and(|after| record.key <= after) {
            skipped += 1;
        } else {
            index.push((record.key, record.offset, record.line));
        }
        Ok(true)
    })?;
    index.sort_unstable();
    if let Some(w) = index.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ImportError::Invalid(format!(
            "{}: lines {} and {} have the same time and id",
            path.display(),
            w[0].2,
            w[1].2
        )));
    }
    progress(Progress::Total(index.len() as u64));

    // Second pass, in key order: read each record again from its offset.
    let mut batches = Batches::new(audit, source, position);
    for chunk in index.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &(_, offset, line) in chunk {
            let mut record = None;
            for_each_record(&mut file, &format, path, offset, |r| {
                record = Some(r);
                Ok(false)
            })?;
            let mut record = record.expect("a record indexed in the first pass");
            record.line = line;
            batch.push(record);
        }
        let n = batches
            .commit(batch, |line| format!("{} line {line}", path.display()))
            .await?;
        progress(Progress::Imported(n));
    }
    Ok(Summary {
        source: canonical.display().to_string(),
        imported: batches.imported,
        skipped,
    })
}

/// Commits records, in key order, a batch at a time, each with the position it reaches.
struct Batches<'a> {
    audit: &'a Audit,
    source: String,
    position: Option<String>,
    imported: u64,
}

impl<'a> Batches<'a> {
    fn new(audit: &'a Audit, source: String, position: Option<String>) -> Self {
        Batches {
            audit,
            source,
            position,
            imported: 0,
        }
    }

    /// Commits `batch`; a record it refuses is named by `name(record.line)`.
    async fn commit(&mut self, batch: Vec<Record>, name: impl Fn(u64) -> String) -> Result<u64> {
        let Some(last) = batch.last() else {
            return Ok(0);
        };
        let to = last.key.position();
        let lines: Vec<u64> = batch.iter().map(|r| r.line).collect();
        let n = batch.len() as u64;
        let entries = batch.into_iter().map(|r| (r.at, r.entry)).collect();
        self.audit
            .import_from(&self.source, self.position.as_deref(), &to, entries)
            .await
            .map_err(|source| {
                let at = source
                    .as_invalid()
                    .and_then(|i| i.index())
                    .map(|i| lines[i]);
                let context = at.map_or_else(|| format!("importing {}", self.source), &name);
                ImportError::Refused { context, source }
            })?;
        self.position = Some(to);
        self.imported += n;
        Ok(n)
    }
}

/// The stored position of `source`, as a key.
async fn stored_position(audit: &Audit, source: &str) -> Result<(Option<String>, Option<Key>)> {
    let position = audit.import_position(source).await?;
    let key = match &position {
        None => None,
        Some(p) => Some(Key::parse_position(p).ok_or_else(|| {
            ImportError::Position(format!(
                "the stored position of {source} is not one this Hawk writes: {p:?}"
            ))
        })?),
    };
    Ok((position, key))
}

/// How an import is getting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// How many records this run imports.
    Total(u64),
    /// A batch of this many records was written.
    Imported(u64),
}

/// Tells the format from the first non-blank byte (`{`: NDJSON) and reads a CSV
/// file's header.
fn sniff(file: &mut File, path: &Path) -> Result<Format> {
    let mut head = [0u8; 4096];
    let n = file.read(&mut head).map_err(read_error)?;
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Ok(Format::Ndjson);
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut reader = csv::Reader::from_reader(BufReader::new(&mut *file));
    let header = reader.headers().map_err(reading(|| {
        format!("{}: reading the CSV header", path.display())
    }))?;
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim().to_ascii_lowercase(), i))
        .collect();
    for required in ["action", "inserted_at"] {
        if !columns.contains_key(required) {
            return Err(ImportError::Invalid(format!(
                "{}: not an export Hawk can read: a CSV file needs an {required} column \
                 (HawkEx's or Hawk's export), an NDJSON file one JSON object per line",
                path.display()
            )));
        }
    }
    Ok(Format::Csv(columns))
}

/// Reads records from byte `offset` on, handing each to `each` until it returns false.
fn for_each_record(
    file: &mut File,
    format: &Format,
    path: &Path,
    offset: u64,
    mut each: impl FnMut(Record) -> Result<bool>,
) -> Result<()> {
    file.seek(SeekFrom::Start(offset)).map_err(read_error)?;
    let reader = BufReader::new(&mut *file);
    match format {
        Format::Ndjson => {
            let mut line_no = 0;
            let mut at = offset;
            for line in reader.split(b'\n') {
                let line = line.map_err(reading(|| format!("reading {}", path.display())))?;
                let start = at;
                at += line.len() as u64 + 1;
                line_no += 1;
                let text = std::str::from_utf8(&line).map_err(|_| {
                    ImportError::Invalid(format!("{} line {line_no}: not UTF-8", path.display()))
                })?;
                if text.trim().is_empty() {
                    continue;
                }
                let fields: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
                    ImportError::Invalid(format!(
                        "{} line {line_no}: not a JSON object ({e})",
                        path.display()
                    ))
                })?;
                let record = ndjson_record(fields, start, line_no).map_err(|msg| {
                    ImportError::Invalid(format!("{} line {line_no}: {msg}", path.display()))
                })?;
                if !each(record)? {
                    break;
                }
            }
        }
        Format::Csv(columns) => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(offset == 0)
                .from_reader(reader);
            // Reading from the start, skip the header so positions are the records'.
            if offset == 0 {
                reader
                    .headers()
                    .map_err(|e| ImportError::Invalid(format!("{}: {e}", path.display())))?;
            }
            let mut row = csv::StringRecord::new();
            loop {
                let start = offset + reader.position().byte();
                let more = reader
                    .read_record(&mut row)
                    .map_err(|e| ImportError::Invalid(format!("{}: {e}", path.display())))?;
                if !more {
                    break;
                }
                let line = row.position().map_or(0, |p| p.line());
                let record = csv_record(columns, &row, start, line).map_err(|msg| {
                    ImportError::Invalid(format!("{} line {line}: {msg}", path.display()))
                })?;
                if !each(record)? {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A CSV row: HawkEx's columns (`id, actor_id, actor_type, action, resource_id,
/// resource_type, metadata, inserted_at`, more are ignored), optionally with Hawk's
/// `account_id`. An empty cell is null, as PostgreSQL's CSV writes it.
fn csv_record(
    columns: &HashMap<String, usize>,
    row: &csv::StringRecord,
    offset: u64,
    line: u64,
) -> Result<Record, String> {
    // Hawk's own export (it has a hash column) escapes cells a spreadsheet would run
    // as formulas; HawkEx's does not, so its cells are taken as they are.
    let own = columns.contains_key("hash");
    let cell = |name: &str| {
        columns
            .get(name)
            .and_then(|&i| row.get(i))
            .map(|v| if own { csv_value(v) } else { v })
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut fields = Map::new();
    for name in [
        "id",
        "actor_type",
        "actor_id",
        "action",
        "resource_type",
        "resource_id",
        "account_id",
        "inserted_at",
    ] {
        if let Some(value) = cell(name) {
            fields.insert(name.to_owned(), Value::String(value));
        }
    }
    if let Some(raw) = cell("metadata") {
        let metadata: Value = serde_json::from_str(&raw)
            .map_err(|e| format!("metadata: must be a JSON object ({e})"))?;
        fields.insert("metadata".to_owned(), metadata);
    }
    ndjson_record(fields, offset, line)
}

/// A record from its fields by name, as Hawk's JSON entries and HawkEx's rows name them.
fn ndjson_record(mut fields: Map<String, Value>, offset: u64, line: u64) -> Result<Record, String> {
    let mut text = |name: &str| -> Result<Option<String>, String> {
        match fields.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("{name}: must be a string")),
        }
    };
    let at = text("inserted_at")?.ok_or("inserted_at: required")?;
    let at = parse_time(&at).ok_or_else(|| {
        format!("inserted_at: not a time: {at:?} (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)")
    })?;
    let id = match text("id")? {
        None => line as i64,
        Some(id) => id
            .parse::<i64>()
            .map_err(|_| format!("id: must be an integer, not {id:?}"))?,
    };
    let mut entry = NewEntry::new(text("action")?.ok_or("action: required")?);
    entry.actor_type = text("actor_type")?;
    entry.actor_id = text("actor_id")?;
    entry.resource_type = text("resource_type")?;
    entry.resource_id = text("resource_id")?;
    entry.account_id = text("account_id")?;
    entry.metadata = fields.remove("metadata").filter(|m| !m.is_null());
    Ok(Record {
        key: Key {
            micros: micros(at),
            id,
        },
        offset,
        line,
        at,
        entry,
    })
}

fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1000) as i64
}

/// What a CSV cell may not start with as it is: a spreadsheet reads `=`, `+`, `-`
/// and `@` (and tab or CR before them) as the start of a formula; `'` is what marks
/// an escaped cell, so a value starting with it is escaped too.
const CSV_ESCAPED: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// A value as a CSV cell of Hawk's export: prefixed with `'` when it starts with a
/// character a spreadsheet would take for a formula (OWASP's advice against CSV
/// injection) or with `'` itself, so that [`csv_value`] gives back the value exactly.
pub fn csv_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(CSV_ESCAPED) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The value a cell of Hawk's CSV export holds: [`csv_cell`] undone.
pub fn csv_value(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(CSV_ESCAPED) => rest,
        _ => cell,
    }
}

/// RFC 3339, or PostgreSQL's text form of a timestamp (`2025-01-02 03:04:05.123456`,
/// optionally with `+00`), or a date alone (its midnight); a time without a zone is
/// UTC, as HawkEx stores it.
pub fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    let mut s = raw.replacen(' ', "T", 1);
    if s.len() == 10 {
        s.push_str("T00:00:00");
    }
    let zone_at = s[10.min(s.len())..]
        .find(['+', '-', 'Z', 'z'])
        .map(|i| i + 10.min(s.len()));
    match zone_at {
        None => s.push('Z'),
        // `+00` → `+00:00`
        Some(i) if s.len() - i == 3 => s.push_str(":00"),
        Some(_) => {}
    }
    OffsetDateTime::parse(&s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form_an_export_writes() {
        let utc = |s: &str| parse_time(s).map(|t| (t.unix_timestamp(), t.microsecond()));
        let noon = 1_735_732_800; // 2025-01-01T12:00:00Z
        assert_eq!(utc("2025-01-01T12:00:00Z"), Some((noon, 0)));
        assert_eq!(utc("2025-01-01T12:00:00.000123Z"), Some((noon, 123)));
        assert_eq!(utc("2025-01-01 12:00:00"), Some((noon, 0)));
        assert_eq!(utc("2025-01-01T12:00:00"), Some((noon, 0)));
        assert_eq!(utc("2025-01-01 12:00:00.5+00"), Some((noon, 500_000)));
        assert_eq!(utc("2025-01-01 14:00:00+02:00"), Some((noon, 0)));
        assert_eq!(utc("yesterday"), None);
        assert_eq!(utc("2025-01-01"), Some((noon - 12 * 3600, 0)));
        assert_eq!(utc("2025-13-01"), None);
    }

    // Regression: cells starting with `=`, `+`, `-` or `@` were exported as they were,
    // and a spreadsheet opening the file ran them as formulas.
    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_escaped_and_read_back_exactly() {
        let cases = [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("'=1", "''=1"),
            ("'quoted", "''quoted"),
            ("''", "'''"),
            ("plain", "plain"),
            ("a=b", "a=b"),
            ("", ""),
        ];
        for (value, cell) in cases {
            assert_eq!(csv_cell(value), cell, "{value:?}");
            assert_eq!(csv_value(cell), value, "{cell:?}");
        }
        // A quote that escapes nothing was not written by `csv_cell`: it is kept.
        assert_eq!(csv_value("'plain"), "'plain");
    }

    #[tokio::test]
    async fn files_import_oldest_first_once_and_a_bad_record_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        let audit = Audit::open(&url).await.unwrap();
        let csv = dir.path().join("hawk_ex.csv");
        std::fs::write(
            &csv,
            "id,action,inserted_at\n2,b.two,2025-01-01 00:00:01\n1,a.one,2025-01-01 00:00:00\n",
        )
        .unwrap();
        let mut seen = Vec::new();
        let summary = file(&audit, &csv, |p| seen.push(p)).await.unwrap();
        assert_eq!((summary.imported, summary.skipped), (2, 0));
        assert_eq!(seen, [Progress::Total(2), Progress::Imported(2)]);
        let page = audit.recent(crate::Recent::default()).await.unwrap();
        let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["b.two", "a.one"]);

        let again = file(&audit, &csv, |_| {}).await.unwrap();
        assert_eq!((again.imported, again.skipped), (0, 2));

        let ndjson = dir.path().join("bad.ndjson");
        std::fs::write(
            &ndjson,
            "{\"action\":\"c\",\"inserted_at\":\"2025-01-02T00:00:00Z\"}\n\
             {\"action\":\"d\",\"inserted_at\":\"soon\"}\n",
        )
        .unwrap();
        let err = file(&audit, &ndjson, |_| {}).await.unwrap_err();
        assert!(err.is_invalid(), "{err}");
        assert!(
            err.to_string().ends_with("line 2: inserted_at: not a time: \"soon\" (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)"),
            "{err}"
        );
        assert_eq!(audit.head().await.unwrap(), 2);

        // A file that cannot be read is no fault of its records: the cause follows.
        let missing = dir.path().join("missing.csv");
        let err = file(&audit, &missing, |_| {}).await.unwrap_err();
        assert!(!err.is_invalid());
        assert_eq!(err.to_string(), format!("opening {}", missing.display()));
        let cause = std::error::Error::source(&err).unwrap();
        let io = cause.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn positions_round_trip_and_order_by_time_then_id() {
        let a = Key { micros: 5, id: 9 };
        let b = Key { micros: 6, id: 1 };
        assert!(a < b);
        assert_eq!(Key::parse_position(&a.position()), Some(a));
        assert_eq!(Key::parse_position("5"), None);
    }
}
