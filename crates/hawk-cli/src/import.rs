//! `hawk import FILE`: entries from a HawkEx CSV export or from Hawk's own CSV or
//! NDJSON export, written oldest first, so that newest first here is the order HawkEx
//! shows them in (`inserted_at` descending; rows of one second by id).
//!
//! Imports are resumable and idempotent: each batch commits together with the source's
//! new position (the `(inserted_at, id)` of its last record), so a re-run, or a run
//! after an interruption, starts after the last committed record and writes nothing
//! twice. A source is named by its canonical path; a later export of the same log to
//! the same path imports only the records past the position.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::Context as _;
use hawk_audit::time::OffsetDateTime;
use hawk_audit::time::format_description::well_known::Rfc3339;
use hawk_audit::{Audit, NewEntry};
use serde_json::{Map, Value};

use crate::BadInput;

/// Records committed per transaction.
const BATCH: usize = 1000;

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
#[derive(Debug, serde::Serialize)]
pub(crate) struct Summary {
    pub(crate) source: String,
    pub(crate) imported: u64,
    /// Records at or before the stored position: imported by an earlier run.
    pub(crate) skipped: u64,
}

/// A file's records, oldest first.
enum Format {
    Ndjson,
    /// Columns by name, from the header row.
    Csv(HashMap<String, usize>),
}

/// Imports `path` into `audit`; `progress` is told how many records there are, then
/// each batch written.
pub(crate) async fn import_file(
    audit: &Audit,
    path: &Path,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Summary> {
    let canonical =
        std::fs::canonicalize(path).with_context(|| format!("opening {}", path.display()))?;
    let source = format!("file:{}", canonical.display());
    let mut file = File::open(&canonical).with_context(|| format!("opening {}", path.display()))?;
    let format = sniff(&mut file, path)?;
    let position = audit.import_position(&source).await?;
    let after = match &position {
        None => None,
        Some(p) => Some(Key::parse_position(p).with_context(|| {
            format!("the stored position of {source} is not one this Hawk writes: {p:?}")
        })?),
    };

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
        return Err(BadInput(format!(
            "{}: lines {} and {} have the same time and id",
            path.display(),
            w[0].2,
            w[1].2
        ))
        .into());
    }
    progress(Progress::Total(index.len() as u64));

    // Second pass, in key order: read each record again from its offset.
    let mut from = position;
    let mut imported = 0;
    for chunk in index.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &(_, offset, _) in chunk {
            let mut record = None;
            for_each_record(&mut file, &format, path, offset, |r| {
                record = Some(r);
                Ok(false)
            })?;
            batch.push(record.expect("a record indexed in the first pass"));
        }
        let to = batch.last().expect("chunks are not empty").key.position();
        let lines: Vec<u64> = chunk.iter().map(|&(_, _, line)| line).collect();
        let entries = batch.into_iter().map(|r| (r.at, r.entry)).collect();
        audit
            .import_from(&source, from.as_deref(), &to, entries)
            .await
            .map_err(|err| {
                let at = err.as_invalid().and_then(|i| i.index()).map(|i| lines[i]);
                let err = anyhow::Error::new(err);
                match at {
                    Some(line) => err.context(format!("{} line {line}", path.display())),
                    None => err.context(format!("importing {}", path.display())),
                }
            })?;
        imported += chunk.len() as u64;
        progress(Progress::Imported(chunk.len() as u64));
        from = Some(to);
    }
    Ok(Summary {
        source: canonical.display().to_string(),
        imported,
        skipped,
    })
}

/// How an import is getting on.
pub(crate) enum Progress {
    Total(u64),
    Imported(u64),
}

/// Tells the format from the first non-blank byte (`{`: NDJSON) and reads a CSV
/// file's header.
fn sniff(file: &mut File, path: &Path) -> anyhow::Result<Format> {
    let mut head = [0u8; 4096];
    let n = file.read(&mut head)?;
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Ok(Format::Ndjson);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut reader = csv::Reader::from_reader(BufReader::new(&mut *file));
    let header = reader
        .headers()
        .with_context(|| format!("{}: reading the CSV header", path.display()))?;
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim().to_ascii_lowercase(), i))
        .collect();
    for required in ["action", "inserted_at"] {
        if !columns.contains_key(required) {
            return Err(BadInput(format!(
                "{}: not an export Hawk can read: a CSV file needs an {required} column \
                 (HawkEx's or Hawk's export), an NDJSON file one JSON object per line",
                path.display()
            ))
            .into());
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
    mut each: impl FnMut(Record) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let reader = BufReader::new(&mut *file);
    match format {
        Format::Ndjson => {
            let mut line_no = 0;
            let mut at = offset;
            for line in reader.split(b'\n') {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                let start = at;
                at += line.len() as u64 + 1;
                line_no += 1;
                let text = std::str::from_utf8(&line).map_err(|_| {
                    BadInput(format!("{} line {line_no}: not UTF-8", path.display()))
                })?;
                if text.trim().is_empty() {
                    continue;
                }
                let fields: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
                    BadInput(format!(
                        "{} line {line_no}: not a JSON object ({e})",
                        path.display()
                    ))
                })?;
                let record = ndjson_record(fields, start, line_no)
                    .map_err(|msg| BadInput(format!("{} line {line_no}: {msg}", path.display())))?;
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
                    .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            }
            let mut row = csv::StringRecord::new();
            loop {
                let start = offset + reader.position().byte();
                let more = reader
                    .read_record(&mut row)
                    .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
                if !more {
                    break;
                }
                let line = row.position().map_or(0, |p| p.line());
                let record = csv_record(columns, &row, start, line)
                    .map_err(|msg| BadInput(format!("{} line {line}: {msg}", path.display())))?;
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
    let cell = |name: &str| {
        columns
            .get(name)
            .and_then(|&i| row.get(i))
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

/// RFC 3339, or PostgreSQL's text form of a timestamp (`2025-01-02 03:04:05.123456`,
/// optionally with `+00`), a time without a zone being UTC as HawkEx stores it.
fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    let mut s = raw.replacen(' ', "T", 1);
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
        assert_eq!(utc("2025-01-01"), None);
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
