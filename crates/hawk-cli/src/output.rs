//! Printing: human tables by default, with `--json` exactly the body the matching HTTP
//! call returns. Everything goes through one buffered stdout; write errors (a closed
//! pipe) are returned, never panicked on.
//!
//! A table's columns are sized once from its rows (a streamed account: from its first
//! 1,000) to fit 80 columns, cutting stored text with `…`, so a streamed and a
//! paged listing print alike. Every stored value printed for people passes through
//! `visible`, which shows control characters as escapes; `--json`, CSV and NDJSON are
//! written as stored.

use std::io::{self, BufWriter, StdoutLock, Write};
use std::path::Path;
use std::time::Duration;

use hawk_audit::checkpoint::StoredCheckpoint;
use hawk_audit::import;
use hawk_audit::merkle::to_hex;
use hawk_audit::time::{OffsetDateTime, UtcOffset};
use hawk_audit::{
    AccountCount, ActionCount, Entry, KeyInfo, Page, PrunePlan, Report, SubjectCount, TypeCount,
    format_time,
};
use hawk_server::proof::{ConsistencyBody, InclusionBody};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

mod sinks;
mod table;

pub(crate) use table::visible;
use table::{Column, Layout, col, count, grouped};

/// Where results go, and in which form.
pub(crate) struct Out {
    w: BufWriter<StdoutLock<'static>>,
    json: bool,
}

impl Out {
    pub(crate) fn new(json: bool) -> Self {
        Out {
            w: BufWriter::new(io::stdout().lock()),
            json,
        }
    }

    /// A page object (`recent`, a paged `account`).
    pub(crate) fn page(&mut self, page: &Page) -> io::Result<()> {
        if self.json {
            return self.json_line(page);
        }
        self.entry_table(&page.entries)?;
        let total = count(page.total_count, "entry", "entries");
        if page.entries.is_empty() && page.total_count > 0 {
            // Past the end: say so rather than "page 4 of 3".
            return writeln!(
                self.w,
                "no page {}: {} · {total} · as_of {}",
                grouped(page.page),
                count(page.total_pages, "page", "pages"),
                page.as_of
            );
        }
        if page.total_count == 0 {
            return writeln!(self.w, "{total} · as_of {}", page.as_of);
        }
        writeln!(
            self.w,
            "page {} of {} · {total} · as_of {}",
            grouped(page.page),
            grouped(page.total_pages),
            page.as_of
        )
    }

    /// A list of entries (`search`).
    pub(crate) fn entries(&mut self, entries: &[Entry]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Entries { entries });
        }
        self.entry_table(entries)?;
        writeln!(
            self.w,
            "{}",
            count(entries.len() as u64, "entry", "entries")
        )
    }

    /// One stored entry (`track`).
    pub(crate) fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        if self.json {
            return self.json_line(entry);
        }
        self.entry_table(std::slice::from_ref(entry))
    }

    /// Entries as a table, nothing when there are none.
    fn entry_table(&mut self, entries: &[Entry]) -> io::Result<()> {
        let rows: Vec<_> = entries.iter().map(cells).collect();
        self.table(&ENTRY_COLUMNS, &rows)
    }

    /// Action suggestions (`actions`).
    pub(crate) fn actions(&mut self, actions: &[ActionCount]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Actions { actions });
        }
        let rows: Vec<_> = actions
            .iter()
            .map(|a| [visible(&a.action).into_owned(), grouped(a.count)])
            .collect();
        self.table(&ACTION_COLUMNS, &rows)?;
        writeln!(
            self.w,
            "{}",
            count(actions.len() as u64, "action", "actions")
        )
    }

    /// Actor or resource suggestions (`actors`, `resources`): `TYPE:ID` and count.
    pub(crate) fn subjects(&mut self, what: Subjects, found: &[SubjectCount]) -> io::Result<()> {
        if self.json {
            return match what {
                Subjects::Actors => self.json_line(&Actors { actors: found }),
                Subjects::Resources => self.json_line(&Resources { resources: found }),
            };
        }
        let rows: Vec<_> = found
            .iter()
            .map(|s| {
                let pair = format!("{}:{}", visible(&s.kind), visible(&s.id));
                [pair, grouped(s.count)]
            })
            .collect();
        let (columns, one, many) = match what {
            Subjects::Actors => (&ACTOR_COLUMNS, "actor", "actors"),
            Subjects::Resources => (&RESOURCE_COLUMNS, "resource", "resources"),
        };
        self.table(columns, &rows)?;
        writeln!(self.w, "{}", count(found.len() as u64, one, many))
    }

    /// Type suggestions (`actors --types`, `resources --types`): type and count.
    pub(crate) fn types(&mut self, types: &[TypeCount]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Types { types });
        }
        let rows: Vec<_> = types
            .iter()
            .map(|t| [visible(&t.kind).into_owned(), grouped(t.count)])
            .collect();
        self.table(&TYPE_COLUMNS, &rows)?;
        writeln!(self.w, "{}", count(types.len() as u64, "type", "types"))
    }

    /// Account suggestions (`accounts`).
    pub(crate) fn accounts(&mut self, accounts: &[AccountCount]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Accounts { accounts });
        }
        let rows: Vec<_> = accounts
            .iter()
            .map(|a| [visible(&a.account_id).into_owned(), grouped(a.count)])
            .collect();
        self.table(&ACCOUNT_COLUMNS, &rows)?;
        writeln!(
            self.w,
            "{}",
            count(accounts.len() as u64, "account", "accounts")
        )
    }

    fn table<const N: usize>(
        &mut self,
        columns: &'static [Column; N],
        rows: &[[String; N]],
    ) -> io::Result<()> {
        if let Some(layout) = Layout::fit(columns, rows) {
            layout.write_header(&mut self.w)?;
            for row in rows {
                layout.write_row(&mut self.w, row)?;
            }
        }
        Ok(())
    }

    /// Starts a listing of unknown length, printed as it arrives (`account` without
    /// `--page`): a JSON array, or the table `recent` prints, in bounded memory.
    pub(crate) fn start_stream(&mut self) -> io::Result<Listing<'_>> {
        if self.json {
            self.w.write_all(b"[")?;
        }
        Ok(Listing {
            out: self,
            count: 0,
            sample: Vec::new(),
            layout: None,
        })
    }

    /// The raw output, for what is written as it is (exports).
    pub(crate) fn writer(&mut self) -> &mut dyn Write {
        &mut self.w
    }

    /// What `export --output FILE` says when done.
    pub(crate) fn export_summary(&mut self, entries: u64, path: &Path) -> io::Result<()> {
        if self.json {
            return self.json_line(&ExportSummary {
                entries,
                output: &path.display().to_string(),
            });
        }
        writeln!(
            self.w,
            "exported {} to {}",
            count(entries, "entry", "entries"),
            path.display()
        )
    }

    /// The last line of `import`.
    pub(crate) fn import_summary(&mut self, summary: &import::Summary) -> io::Result<()> {
        if self.json {
            return self.json_line(&ImportSummary {
                source: &summary.source,
                imported: summary.imported,
                skipped: summary.skipped,
            });
        }
        writeln!(
            self.w,
            "imported {} from {} ({} imported before)",
            count(summary.imported, "entry", "entries"),
            visible(&summary.source),
            grouped(summary.skipped)
        )
    }

    /// What a prune would remove (`prune --dry-run`).
    pub(crate) fn prune_plan(&mut self, plan: Option<&PrunePlan>) -> io::Result<()> {
        if self.json {
            return self.json_line(&match plan {
                None => serde_json::json!({ "dry_run": true, "removed": 0 }),
                Some(plan) => serde_json::json!({
                    "dry_run": true,
                    "removed": plan.removed,
                    "first_id": plan.first_id,
                    "through_id": plan.through_id,
                    "oldest": format_time(plan.oldest),
                    "newest": format_time(plan.newest),
                }),
            });
        }
        match plan {
            None => writeln!(self.w, "no entry is that old; nothing would be removed"),
            Some(plan) => writeln!(self.w, "would remove {}", describe_plan(plan)),
        }
    }

    /// What `prune` removed.
    pub(crate) fn prune_summary(&mut self, pruned: Option<&hawk_audit::Pruned>) -> io::Result<()> {
        let Some(pruned) = pruned else {
            if self.json {
                return self.json_line(&serde_json::json!({ "removed": 0 }));
            }
            return writeln!(self.w, "no entry is that old; nothing removed");
        };
        let root = hawk_audit::merkle::to_hex(&pruned.root);
        if self.json {
            return self.json_line(&serde_json::json!({
                "removed": pruned.removed,
                "through_id": pruned.through_id,
                "root": root,
                "entry": pruned.entry,
            }));
        }
        writeln!(
            self.w,
            "removed {} (ids up to {}), recorded as entry {}",
            count(pruned.removed, "entry", "entries"),
            pruned.through_id,
            pruned.entry.id,
        )?;
        writeln!(
            self.w,
            "root of the tree of ids 1..={}: {root}",
            pruned.through_id
        )
    }

    /// The last line of `demo`.
    pub(crate) fn demo_summary(&mut self, entries: u64, elapsed: Duration) -> io::Result<()> {
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            entries as f64 / seconds
        } else {
            0.0
        };
        if self.json {
            let seconds = (seconds * 1000.0).round() / 1000.0;
            return self.json_line(&DemoSummary {
                entries,
                seconds,
                entries_per_second: rate.round() as u64,
            });
        }
        writeln!(
            self.w,
            "wrote {} in {seconds:.2} s ({} entries/s)",
            count(entries, "entry", "entries"),
            grouped(rate.round() as u64)
        )
    }

    /// The benchmark report: its JSON, or its Markdown table.
    pub(crate) fn bench(&mut self, report: &hawk_bench::Report) -> io::Result<()> {
        if self.json {
            writeln!(self.w, "{}", report.json())
        } else {
            write!(self.w, "{}", report.table())
        }
    }

    /// A new API key: the key alone on stdout (so `$(hawk keys create ...)` is the
    /// key), what it is on stderr; with `--json`, one object holding both.
    pub(crate) fn new_key(&mut self, key: &str, info: &KeyInfo) -> io::Result<()> {
        if self.json {
            return self.json_line(&NewKey { key, info });
        }
        writeln!(self.w, "{key}")?;
        let bound = info.account_id.as_deref().map_or(String::new(), |a| {
            format!(" bound to account {}", visible(a))
        });
        let _ = writeln!(
            io::stderr(),
            "created key {} ({} scope{bound}); it is not shown again: store it now",
            info.id,
            info.scope
        );
        Ok(())
    }

    /// API keys (never the keys themselves).
    pub(crate) fn keys(&mut self, keys: &[KeyInfo]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Keys { keys });
        }
        let rows: Vec<_> = keys
            .iter()
            .map(|k| {
                [
                    k.id.to_string(),
                    format!("{}…", visible(&k.prefix)),
                    k.scope.to_string(),
                    k.account_id
                        .as_deref()
                        .map_or(String::new(), |a| visible(a).into_owned()),
                    short_time(k.created_at),
                    k.revoked_at.map(short_time).unwrap_or_default(),
                ]
            })
            .collect();
        self.table(&KEY_COLUMNS, &rows)?;
        writeln!(self.w, "{}", count(keys.len() as u64, "key", "keys"))
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// What `verify` found.
    pub(crate) fn verify_report(&mut self, report: &Report) -> io::Result<()> {
        if self.json {
            return self.json_line(&VerifyBody {
                intact: report.is_intact(),
                entries: report.entries,
                root: to_hex(&report.root),
                checkpoints: report.checkpoints,
                anchors: report.anchors,
                signatures_checked: report.signatures_checked,
                pruned: report.pruned,
                tamper: report.tamper.as_ref().map(|t| TamperBody {
                    kind: t.kind.as_str(),
                    id: t.id,
                    detail: &t.detail,
                }),
            });
        }
        let pruned = if report.pruned > 0 {
            format!(
                " (ids 1 to {} were pruned: checked from the tree kept for them)",
                report.pruned
            )
        } else {
            String::new()
        };
        let checked = format!(
            "{}, {} and {} checked{pruned}",
            count(report.entries, "entry", "entries"),
            count(
                report.checkpoints,
                "stored checkpoint",
                "stored checkpoints"
            ),
            count(report.anchors, "anchor", "anchors"),
        );
        match &report.tamper {
            None => {
                writeln!(self.w, "intact: {checked}")?;
                writeln!(self.w, "root: {}", to_hex(&report.root))?;
            }
            Some(t) => {
                writeln!(self.w, "TAMPERED: {} at entry {}", t.kind, t.id)?;
                writeln!(self.w, "{}", visible(&t.detail))?;
                writeln!(self.w, "read before stopping: {checked}")?;
            }
        }
        if !report.signatures_checked && report.checkpoints + report.anchors > 0 {
            writeln!(
                self.w,
                "signatures were not checked: no verifier key (--public-key, or the key file)"
            )?;
        }
        Ok(())
    }

    /// What `checkpoint export --output FILE` says when done.
    pub(crate) fn checkpoint_summary(
        &mut self,
        checkpoint: &StoredCheckpoint,
        path: &Path,
    ) -> io::Result<()> {
        if self.json {
            return self.json_line(&CheckpointSummary {
                size: checkpoint.size,
                root: to_hex(&checkpoint.root),
                output: &path.display().to_string(),
            });
        }
        writeln!(
            self.w,
            "checkpoint of {} (root {}) written to {}",
            count(checkpoint.size, "entry", "entries"),
            to_hex(&checkpoint.root),
            path.display()
        )
    }

    /// An inclusion proof (`prove ID`).
    pub(crate) fn inclusion(&mut self, proof: &InclusionBody) -> io::Result<()> {
        if self.json {
            return self.json_line(proof);
        }
        writeln!(
            self.w,
            "entry {} (leaf index {}) is in the tree of {}",
            proof.id,
            proof.leaf_index,
            count(proof.tree_size, "entry", "entries")
        )?;
        writeln!(self.w, "leaf hash  {}", proof.leaf_hash)?;
        writeln!(self.w, "root       {}", proof.root)?;
        self.path("audit path", &proof.audit_path)?;
        self.signed(proof.tree_size, proof.checkpoint.as_deref())
    }

    /// A consistency proof (`prove --consistency M N`).
    pub(crate) fn consistency(&mut self, proof: &ConsistencyBody) -> io::Result<()> {
        if self.json {
            return self.json_line(proof);
        }
        writeln!(
            self.w,
            "the tree of {} extends the tree of {}",
            count(proof.to, "entry", "entries"),
            count(proof.from, "entry", "entries")
        )?;
        writeln!(self.w, "root of {:<5} {}", proof.from, proof.from_root)?;
        writeln!(self.w, "root of {:<5} {}", proof.to, proof.to_root)?;
        self.path("proof", &proof.proof)?;
        self.signed(proof.from, proof.from_checkpoint.as_deref())?;
        self.signed(proof.to, proof.to_checkpoint.as_deref())
    }

    fn path(&mut self, name: &str, hashes: &[String]) -> io::Result<()> {
        writeln!(
            self.w,
            "{name} ({}):",
            count(hashes.len() as u64, "hash", "hashes")
        )?;
        for (i, hash) in hashes.iter().enumerate() {
            writeln!(self.w, "  {:>2}  {hash}", i + 1)?;
        }
        Ok(())
    }

    fn signed(&mut self, size: u64, note: Option<&str>) -> io::Result<()> {
        match note {
            Some(note) => {
                writeln!(self.w, "signed checkpoint of size {size}:")?;
                for line in note.lines() {
                    writeln!(self.w, "{}", visible(format!("  {line}").trim_end()))?;
                }
                Ok(())
            }
            None => writeln!(self.w, "no signed checkpoint of size {size} is stored"),
        }
    }

    fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, value)?;
        self.w.write_all(b"\n")
    }
}

/// `GET /v1/search`'s body.
#[derive(Serialize)]
struct Entries<'a> {
    entries: &'a [Entry],
}

/// `GET /v1/actions`'s body.
#[derive(Serialize)]
struct Actions<'a> {
    actions: &'a [ActionCount],
}

/// Which suggestions [`Out::subjects`] prints.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subjects {
    Actors,
    Resources,
}

/// `hawk actors --json`: the suggestions under `actors`, as `actions` are.
#[derive(Serialize)]
struct Actors<'a> {
    actors: &'a [SubjectCount],
}

#[derive(Serialize)]
struct Resources<'a> {
    resources: &'a [SubjectCount],
}

/// `GET /v1/actor_types`'s body.
#[derive(Serialize)]
struct Types<'a> {
    types: &'a [TypeCount],
}

#[derive(Serialize)]
struct Accounts<'a> {
    accounts: &'a [AccountCount],
}

#[derive(Serialize)]
struct NewKey<'a> {
    key: &'a str,
    #[serde(flatten)]
    info: &'a KeyInfo,
}

#[derive(Serialize)]
struct Keys<'a> {
    keys: &'a [KeyInfo],
}

#[derive(Serialize)]
struct ExportSummary<'a> {
    entries: u64,
    output: &'a str,
}

#[derive(Serialize)]
struct ImportSummary<'a> {
    source: &'a str,
    imported: u64,
    skipped: u64,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    intact: bool,
    entries: u64,
    root: String,
    checkpoints: u64,
    anchors: u64,
    signatures_checked: bool,
    pruned: u64,
    tamper: Option<TamperBody<'a>>,
}

#[derive(Serialize)]
struct TamperBody<'a> {
    kind: &'static str,
    id: u64,
    detail: &'a str,
}

#[derive(Serialize)]
struct CheckpointSummary<'a> {
    size: u64,
    root: String,
    output: &'a str,
}

#[derive(Serialize)]
struct DemoSummary {
    entries: u64,
    seconds: f64,
    entries_per_second: u64,
}

/// A listing in progress; see [`Out::start_stream`].
pub(crate) struct Listing<'a> {
    out: &'a mut Out,
    count: u64,
    /// The first rows, held until there are enough to size the columns by.
    sample: Vec<[String; 6]>,
    layout: Option<Layout<6>>,
}

/// Rows a streamed table holds to size its columns: a page of `recent` at most, so
/// an account of up to that many entries prints exactly as its one page would.
const STREAM_SAMPLE: usize = hawk_audit::MAX_PER_PAGE as usize;

impl Listing<'_> {
    pub(crate) fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        if self.out.json {
            let w = &mut self.out.w;
            if self.count > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, entry)?;
        } else if let Some(layout) = &self.layout {
            layout.write_row(&mut self.out.w, &cells(entry))?;
        } else {
            self.sample.push(cells(entry));
            if self.sample.len() == STREAM_SAMPLE {
                self.flush_sample()?;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Sizes the columns by the rows held so far, then prints them.
    fn flush_sample(&mut self) -> io::Result<()> {
        let rows = std::mem::take(&mut self.sample);
        if let Some(layout) = Layout::fit(&ENTRY_COLUMNS, &rows) {
            layout.write_header(&mut self.out.w)?;
            for row in &rows {
                layout.write_row(&mut self.out.w, row)?;
            }
            self.layout = Some(layout);
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        if self.out.json {
            return self.out.w.write_all(b"]\n");
        }
        self.flush_sample()?;
        writeln!(self.out.w, "{}", count(self.count, "entry", "entries"))
    }
}

/// A progress bar on stderr for `total` items; indicatif draws nothing when stderr is
/// not a terminal, so piped and redirected runs stay quiet.
pub(crate) fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{wide_bar} {human_pos}/{human_len} entries · {per_sec:0} · ETA {eta} {msg}",
    )
    .expect("the progress template is valid");
    bar.set_style(style);
    bar
}

/// The action, what people scan for, keeps half as much again as the other text.
const ENTRY_COLUMNS: [Column; 6] = [
    col("id", true, 0),
    col("time", false, 0),
    col("actor", false, 2),
    col("action", false, 3),
    col("resource", false, 2),
    col("account", false, 2),
];
const ACTION_COLUMNS: [Column; 2] = [col("action", false, 1), col("count", true, 0)];
const ACTOR_COLUMNS: [Column; 2] = [col("actor", false, 1), col("count", true, 0)];
const RESOURCE_COLUMNS: [Column; 2] = [col("resource", false, 1), col("count", true, 0)];
const TYPE_COLUMNS: [Column; 2] = [col("type", false, 1), col("count", true, 0)];
const ACCOUNT_COLUMNS: [Column; 2] = [col("account", false, 1), col("count", true, 0)];
const KEY_COLUMNS: [Column; 6] = [
    col("id", true, 0),
    col("prefix", false, 0),
    col("scope", false, 0),
    col("account", false, 1),
    col("created", false, 0),
    col("revoked", false, 0),
];

/// The human columns of an entry, every stored value made [`visible`].
fn cells(entry: &Entry) -> [String; 6] {
    let pair = |kind: &Option<String>, id: &Option<String>| match (kind, id) {
        (Some(kind), Some(id)) => Some(format!("{}:{}", visible(kind), visible(id))),
        _ => None,
    };
    [
        entry.id.to_string(),
        short_time(entry.inserted_at),
        pair(&entry.actor_type, &entry.actor_id).unwrap_or_else(|| "system".into()),
        visible(&entry.action).into_owned(),
        pair(&entry.resource_type, &entry.resource_id).unwrap_or_else(|| "-".into()),
        entry
            .account_id
            .as_deref()
            .map_or_else(|| "-".into(), |a| visible(a).into_owned()),
    ]
}

/// A time to the second, in UTC and without spaces (rows stay easy to split):
/// `2025-01-01T10:00:00Z`. `--json` has the exact microseconds.
fn short_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// What a prune removes, in words: how many, which ids, from when to when.
pub(crate) fn describe_plan(plan: &PrunePlan) -> String {
    format!(
        "{}: ids {} to {}, from {} to {}",
        count(plan.removed, "entry", "entries"),
        plan.first_id,
        plan.through_id,
        short_time(plan.oldest),
        short_time(plan.newest)
    )
}
