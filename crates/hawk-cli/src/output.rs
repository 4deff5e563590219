//! Printing: human tables by default, with `--json` exactly the body the matching HTTP
//! call returns. Everything goes through one buffered stdout; write errors (a closed
//! pipe) are returned, never panicked on.

use std::io::{self, BufWriter, StdoutLock, Write};
use std::path::Path;
use std::time::Duration;

use comfy_table::{CellAlignment, LineStyle, Table, TableStyle};
use hawk_audit::checkpoint::StoredCheckpoint;
use hawk_audit::merkle::to_hex;
use hawk_audit::{ActionCount, Entry, KeyInfo, Page, Report, format_time};
use hawk_server::proof::{ConsistencyBody, InclusionBody};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

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
        writeln!(self.w, "{}", entry_table(&page.entries).trim_fmt())?;
        writeln!(
            self.w,
            "page {} of {} · {} · as_of {}",
            page.page,
            page.total_pages,
            count(page.total_count, "entry", "entries"),
            page.as_of
        )
    }

    /// A list of entries (`search`).
    pub(crate) fn entries(&mut self, entries: &[Entry]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Entries { entries });
        }
        writeln!(self.w, "{}", entry_table(entries).trim_fmt())?;
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
        writeln!(
            self.w,
            "{}",
            entry_table(std::slice::from_ref(entry)).trim_fmt()
        )
    }

    /// Action suggestions (`actions`).
    pub(crate) fn actions(&mut self, actions: &[ActionCount]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Actions { actions });
        }
        let mut table = table(["action", "count"]);
        for a in actions {
            table.add_row(vec![a.action.clone(), a.count.to_string()]);
        }
        align_right(&mut table, 1);
        writeln!(self.w, "{}", table.trim_fmt())?;
        writeln!(
            self.w,
            "{}",
            count(actions.len() as u64, "action", "actions")
        )
    }

    /// Starts a listing of unknown length, printed as it arrives (`account` without
    /// `--page`): a JSON array, or rows of fixed width, in constant memory.
    pub(crate) fn start_stream(&mut self) -> io::Result<Listing<'_>> {
        if self.json {
            self.w.write_all(b"[")?;
        } else {
            writeln!(
                self.w,
                "{}",
                stream_row("id", "time", "actor", "action", "resource", "account")
            )?;
        }
        Ok(Listing {
            out: self,
            count: 0,
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
    pub(crate) fn import_summary(&mut self, summary: &crate::import::Summary) -> io::Result<()> {
        if self.json {
            return self.json_line(summary);
        }
        writeln!(
            self.w,
            "imported {} from {} ({} imported before)",
            count(summary.imported, "entry", "entries"),
            summary.source,
            summary.skipped
        )
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
            "removed {} (ids up to {}), recorded as entry {}; the tree of ids 1..={} has \
             root {root}",
            count(pruned.removed, "entry", "entries"),
            pruned.through_id,
            pruned.entry.id,
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
            "wrote {} in {seconds:.2} s ({:.0} entries/s)",
            count(entries, "entry", "entries"),
            rate
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
        let bound = info
            .account_id
            .as_deref()
            .map_or(String::new(), |a| format!(" bound to account {a}"));
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
        let mut table = table(["id", "prefix", "scope", "account", "created", "revoked"]);
        for k in keys {
            table.add_row(vec![
                k.id.to_string(),
                format!("{}…", k.prefix),
                k.scope.to_string(),
                k.account_id.clone().unwrap_or_default(),
                format_time(k.created_at),
                k.revoked_at.map(format_time).unwrap_or_default(),
            ]);
        }
        align_right(&mut table, 0);
        writeln!(self.w, "{}", table.trim_fmt())?;
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
                writeln!(self.w, "{}", t.detail)?;
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
                    writeln!(self.w, "{}", format!("  {line}").trim_end())?;
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
}

impl Listing<'_> {
    pub(crate) fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        let w = &mut self.out.w;
        if self.out.json {
            if self.count > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, entry)?;
        } else {
            let [id, time, actor, action, resource, account] = cells(entry);
            writeln!(
                w,
                "{}",
                stream_row(&id, &time, &actor, &action, &resource, &account)
            )?;
        }
        self.count += 1;
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<()> {
        let w = &mut self.out.w;
        if self.out.json {
            w.write_all(b"]\n")
        } else {
            writeln!(w, "{}", count(self.count, "entry", "entries"))
        }
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

/// A line under the header and nothing else, so rows stay easy to grep and cut.
const STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_style(STYLE);
    table.set_header(header);
    table
}

fn align_right(table: &mut Table, column: usize) {
    if let Some(column) = table.column_mut(column) {
        column.set_cell_alignment(CellAlignment::Right);
    }
}

fn entry_table(entries: &[Entry]) -> Table {
    let mut table = table(["id", "time", "actor", "action", "resource", "account"]);
    for entry in entries {
        table.add_row(cells(entry));
    }
    align_right(&mut table, 0);
    table
}

/// The human columns of an entry.
fn cells(entry: &Entry) -> [String; 6] {
    let pair = |kind: &Option<String>, id: &Option<String>| match (kind, id) {
        (Some(kind), Some(id)) => Some(format!("{kind}:{id}")),
        _ => None,
    };
    [
        entry.id.to_string(),
        format_time(entry.inserted_at),
        pair(&entry.actor_type, &entry.actor_id).unwrap_or_else(|| "system".into()),
        entry.action.clone(),
        pair(&entry.resource_type, &entry.resource_id).unwrap_or_else(|| "-".into()),
        entry.account_id.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// One row of a streamed listing: fixed minimum widths, since the widest value is not
/// known before the end.
fn stream_row(
    id: &str,
    time: &str,
    actor: &str,
    action: &str,
    resource: &str,
    account: &str,
) -> String {
    format!("{id:>8}  {time:<27}  {actor:<16}  {action:<28}  {resource:<22}  {account}")
        .trim_end()
        .to_owned()
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
