//! `hawk export` and `hawk import`.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;
use hawk_audit::{Audit, Filtered, Recent, import};
use hawk_server::export::{self, Format};

use super::{Access, Context, is_postgres, open};
use crate::output::{self, Out};
use crate::{BadInput, ExportArgs, ImportArgs};

/// `hawk export`: to `output`, or to stdout; with filters, only the matching
/// entries.
pub(crate) async fn export(cx: &Context, out: &mut Out, args: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs {
        format,
        output,
        filter,
    } = args;
    let format: Format = format
        .parse()
        .map_err(|e| BadInput(format!("--format: {e}")))?;
    // Checked before the output file is created: bad input writes nothing.
    let filter = filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let view = audit.filtered(filter);
    let exported = match &output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut file = io::BufWriter::new(file);
            let n = export_to(&audit, &view, format, &mut file).await?;
            file.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            n
        }
        None => export_to(&audit, &view, format, out.writer()).await?,
    };
    if let Some(path) = output {
        out.export_summary(exported, &path)?;
    }
    Ok(())
}

/// Writes the matching entries to `w`, oldest first, in chunks, with a progress bar
/// on a terminal; returns how many entries were written. The export sees the log as
/// it was when it started, so it always ends, in constant memory.
async fn export_to(
    audit: &Audit,
    view: &Filtered<'_>,
    format: Format,
    w: &mut dyn Write,
) -> anyhow::Result<u64> {
    let last = audit.head().await?;
    let counted = Recent {
        as_of: Some(last),
        ..Recent::page(1, 1)
    };
    let total = view.recent(counted).await?.total_count;
    let bar = output::progress_bar(total);
    w.write_all(&format.header())?;
    let mut after = 0;
    let mut written = 0;
    while after < last {
        let mut chunk = view.entries_after(after, export::CHUNK).await?;
        chunk.retain(|e| e.id <= last);
        let Some(newest) = chunk.last() else { break };
        after = newest.id;
        w.write_all(&format.encode(&chunk))?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// `hawk import`: a file, or HawkEx's table on a `postgres://` source.
pub(crate) async fn import(cx: &Context, out: &mut Out, args: ImportArgs) -> anyhow::Result<()> {
    let (source, table) = (args.source.as_str(), args.table.as_str());
    let audit = open(&cx.db, Access::Create).await?;
    let bar = output::progress_bar(0);
    let progress = |progress| match progress {
        import::Progress::Total(n) => bar.set_length(n),
        import::Progress::Imported(n) => bar.inc(n),
        _ => {}
    };
    let summary = if is_postgres(source) {
        import::table(&audit, source, table, progress).await
    } else {
        import::file(&audit, Path::new(source), progress).await
    };
    audit.close().await;
    let summary = summary.map_err(|err| match err {
        // The command line names the table by its option.
        import::ImportError::Table(rule) => BadInput(format!("--table: {rule}")).into(),
        err => anyhow::Error::new(err),
    })?;
    bar.finish_and_clear();
    out.import_summary(&summary)?;
    Ok(())
}
