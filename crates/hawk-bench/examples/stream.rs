//! `Audit::for_account_stream` alone, on an existing log (say one written by `hawk
//! demo`), so that changes to the account walk can be measured without the whole
//! bench: streams every entry of one account `RUNS` times and prints entries per
//! second at the median run (and the fastest and slowest). Account `1` is the
//! heaviest of the reference workload. On Linux it also prints entries per second of
//! the process's CPU time over all runs, a figure that other load on the machine
//! barely moves (wall time stretches with it).
//!
//!     stream DB_URL [--account 1] [--runs 7]

use std::time::Instant;

use futures_util::TryStreamExt;
use hawk_audit::Audit;

// The allocator the `hawk` binary runs with, so that figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: stream DB_URL [--account 1] [--runs 7]")?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let account = flag("--account").unwrap_or_else(|| "1".into());
    let runs: usize = flag("--runs").map_or(Ok(7), |v| v.parse())?;
    let audit = Audit::open(url).await?;

    let mut rates = Vec::with_capacity(runs);
    let mut streamed = 0;
    let cpu_before = cpu_seconds();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        streamed = audit
            .for_account_stream(&account)
            .try_fold(0u64, |n, _| async move { Ok(n + 1) })
            .await?;
        rates.push(streamed as f64 / started.elapsed().as_secs_f64());
    }
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    rates.sort_by(f64::total_cmp);
    println!(
        "for_account stream, account {account} ({streamed} entries), {} runs: \
         p50 {:.0} entries/s (min {:.0}, max {:.0})",
        rates.len(),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
    );
    if let Some(cpu) = cpu.filter(|&s| s > 0.0) {
        println!(
            "  {:.0} entries per CPU second ({:.2} s of CPU for {} entries)",
            (streamed as usize * rates.len()) as f64 / cpu,
            cpu,
            streamed as usize * rates.len()
        );
    }
    audit.close().await;
    Ok(())
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (in clock
/// ticks of 1/100 s, Linux's `USER_HZ`); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
