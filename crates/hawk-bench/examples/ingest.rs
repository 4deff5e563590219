//! The write phases of `hawk bench` alone, on an existing log (say one written by
//! `hawk demo`), so that changes to the writer can be measured quickly on a copy of
//! one loaded file or database: `CALLERS` concurrent callers each record `EACH`
//! reference-workload entries, one at a time and durably; then one caller records
//! `SINGLE` entries. Prints entries per second and the single caller's p50 / p99.
//!
//!     ingest DB_FILE|postgres://… [--callers 64] [--each 400] [--single 200]

use std::time::Instant;

use hawk_audit::Audit;
use hawk_audit::workload::{DEMO_EPOCH, Workload};

// The allocator the `hawk` binary runs with, so that figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let log = args
        .get(1)
        .ok_or("usage: ingest DB_FILE|postgres://… [--callers N]")?;
    let callers = arg(&args, "--callers", 64);
    let each = arg(&args, "--each", 400);
    let single = arg(&args, "--single", 200);
    let url = if log.starts_with("postgres://") || log.starts_with("postgresql://") {
        log.clone()
    } else {
        format!("sqlite:{log}")
    };
    let audit = Audit::open(&url).await?;

    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let audit = audit.clone();
            let entries = Workload::new(c, each, DEMO_EPOCH);
            tokio::spawn(async move {
                for (_, entry) in entries {
                    audit.record(entry).await?;
                }
                Ok::<_, hawk_audit::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "track, {callers} concurrent callers: {:.0} entries/s ({} entries in {seconds:.2} s)",
        (callers * each) as f64 / seconds,
        callers * each
    );

    let mut samples = Vec::new();
    for (_, entry) in Workload::new(1_000, single + 1, DEMO_EPOCH) {
        let started = Instant::now();
        audit.record(entry).await?;
        samples.push(started.elapsed());
    }
    samples.remove(0);
    samples.sort();
    if !samples.is_empty() {
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "track, one caller: p50 {:.3} ms, p99 {:.3} ms",
            at(0.5),
            at(0.99)
        );
    }
    audit.close().await;
    Ok(())
}
