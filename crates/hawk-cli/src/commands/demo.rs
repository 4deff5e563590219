//! `hawk demo` and `hawk bench`.

use std::time::Instant;

use anyhow::Context as _;
use hawk_audit::{Audit, workload};

use super::{Access, Context, open, redact_password};
use crate::output::{self, Out};
use crate::{BadInput, BenchArgs, Engine};

/// `hawk demo`.
pub(crate) async fn demo(cx: &Context, out: &mut Out, entries: u64) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Create).await?;
    let started = Instant::now();
    let written = load(&audit, &cx.db, entries).await;
    audit.close().await;
    out.demo_summary(written?, started.elapsed())?;
    Ok(())
}

/// Imports `total` entries of the reference workload into the empty log at `url`,
/// with a progress bar on a terminal. Returns how many were written.
async fn load(audit: &Audit, url: &str, total: u64) -> anyhow::Result<u64> {
    // Demo entries are made up and dated 2025; times never decrease, so mixed into a
    // real log they would push every later real entry's time forward, for good.
    let head = audit.head().await?;
    if head > 0 {
        return Err(BadInput(format!(
            "--db: {} already holds {head} entries; demo writes only into a new, empty \
             log, so that made-up entries never mix with real ones (give another file, \
             e.g. --db demo.db)",
            redact_password(url)
        ))
        .into());
    }
    let bar = output::progress_bar(total);
    let written = workload::load(audit, workload::DEMO_SEED, total, |n| bar.inc(n))
        .await
        .context("importing demo data")?;
    bar.finish_and_clear();
    Ok(written)
}

/// `hawk bench`: writes bench.json and bench.svg into the directory, and prints the
/// table.
pub(crate) async fn bench(out: &mut Out, args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs {
        entries,
        engine,
        pg_url,
        dir,
        samples,
        baseline_min_runs,
        keep,
    } = args;
    let mut opts = hawk_bench::Options::new(entries, &dir);
    opts.samples = samples;
    opts.baseline_min_samples = baseline_min_runs.max(1);
    if let Engine::Postgres = engine {
        opts.engine = hawk_bench::Engine::Postgres {
            server: pg_url,
            keep,
        };
    }
    let report = run_bench(&opts).await?;
    std::fs::write(dir.join("bench.json"), report.json())?;
    std::fs::write(dir.join("bench.svg"), report.svg())?;
    if !keep && matches!(engine, Engine::Sqlite) {
        for file in [
            "hawk.db",
            "hawk.db-wal",
            "hawk.db-shm",
            "hawkex.db",
            "hawkex.db-wal",
            "hawkex.db-shm",
        ] {
            let _ = std::fs::remove_file(dir.join(file));
        }
    }
    out.bench(&report)?;
    Ok(())
}

/// Runs the benchmark with a progress bar for the load and one line per phase, both
/// only on a terminal.
async fn run_bench(opts: &hawk_bench::Options) -> anyhow::Result<hawk_bench::Report> {
    let bar = output::progress_bar(opts.entries);
    let report = hawk_bench::run(opts, |progress| match progress {
        hawk_bench::Progress::Loaded(n) => bar.inc(n),
        hawk_bench::Progress::Phase(phase) => bar.set_message(phase),
        _ => {}
    })
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))
    .context("running the benchmark")?;
    bar.finish_and_clear();
    Ok(report)
}
