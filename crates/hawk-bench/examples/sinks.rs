//! How fast sinks deliver (BENCHMARKS.md, "Streams"): a backfill of the reference
//! workload to a local webhook that accepts at once, and the lag of a sink while 64
//! durable callers write for a while.
//!
//!     sinks [--entries 1000000] [--seconds 60] [--batch 1000] [--db URL]
//!
//! Without `--db`, a new SQLite file in a temporary directory; with it, an empty log
//! (a fresh PostgreSQL database, say). Prints the backfill's entries/s, then, for the
//! live run, delivered entries/s and the lag (entries owed, and the age of the oldest)
//! sampled every 100 ms: p50, p99 and max.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hawk_audit::workload::{self, DEMO_SEED};
use hawk_audit::{Audit, NewEntry, Ref};
use hawk_streams::webhook::Format;
use hawk_streams::{NewKind, Streams, StreamsOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// A receiver that accepts every batch at once and counts the entries it covered
/// (from the batch id `msg_SINK_EPOCH_AFTER_LAST`, so it parses nothing).
async fn receiver() -> (String, Arc<AtomicU64>) {
    let covered = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&covered);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let counted = Arc::clone(&counted);
            async move {
                let id = headers["webhook-id"].to_str().unwrap_or_default();
                let mut parts = id.rsplit('_');
                let last: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                let after: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                counted.fetch_add(last - after, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, covered)
}

async fn add(audit: &Audit, name: &str, url: &str, batch: u64, after: Option<u64>) {
    let kind = NewKind::Webhook {
        url: url.into(),
        format: Format::Standard,
        token: None,
    };
    let (sink, _) = kind.into_sink(name.into(), None, batch, after).unwrap();
    audit.add_sink(sink).await.unwrap();
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let entries = arg(&args, "--entries", 1_000_000);
    let seconds = arg(&args, "--seconds", 60);
    let batch = arg(&args, "--batch", 1000);
    let dir = tempfile::tempdir().unwrap();
    let url = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("hawk.db").display()));
    let audit = Audit::open(&url).await.unwrap();
    let started = Instant::now();
    workload::load(&audit, DEMO_SEED, entries, |_| {})
        .await
        .unwrap();
    audit.seal_filter_index().await.unwrap();
    println!(
        "{url}: loaded {entries} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (hook, covered) = receiver().await;
    let options = StreamsOptions {
        poll: Duration::from_millis(100),
        ..StreamsOptions::new()
    };

    // Backfill: every entry from id 1.
    add(&audit, "backfill", &hook, batch, Some(0)).await;
    let started = Instant::now();
    let streams = Streams::start(audit.clone(), options.clone());
    while covered.load(Ordering::Relaxed) < entries {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    streams.stop().await;
    println!(
        "backfill of {entries} entries, batches of {batch}: {elapsed:.2} s, {:.0} entries/s",
        entries as f64 / elapsed
    );
    audit.remove_sink("backfill").await.unwrap();

    // Live: 64 durable callers for `seconds`, one sink from the head.
    covered.store(0, Ordering::Relaxed);
    add(&audit, "live", &hook, batch, None).await;
    let streams = Streams::start(audit.clone(), options);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let writers: Vec<_> = (0..64u64)
        .map(|w| {
            let audit = audit.clone();
            tokio::spawn(async move {
                let actor = Ref::new("user", w);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let entry = NewEntry::new("bench.live").actor(Some(&actor));
                    audit.record(entry).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let (mut owed, mut ages) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sink = audit.sink("live").await.unwrap().unwrap();
        let lag = audit.sink_lag(&sink).await.unwrap();
        owed.push(lag.entries as f64);
        let age = lag.oldest.map_or(0.0, |t| {
            (hawk_audit::time::OffsetDateTime::now_utc() - t).as_seconds_f64()
        });
        ages.push(age);
    }
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    let caught_up = Instant::now();
    while covered.load(Ordering::Relaxed) < written {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = caught_up.elapsed().as_secs_f64();
    streams.stop().await;
    owed.sort_by(f64::total_cmp);
    ages.sort_by(f64::total_cmp);
    println!(
        "live, 64 durable callers for {seconds} s: {written} entries written ({:.0}/s), \
         delivered within {drain:.2} s of the last write",
        written as f64 / seconds as f64
    );
    println!(
        "lag, {} samples: entries owed p50 {:.0} p99 {:.0} max {:.0}; oldest owed p50 {:.3} s \
         p99 {:.3} s max {:.3} s",
        owed.len(),
        percentile(&owed, 0.5),
        percentile(&owed, 0.99),
        owed.last().copied().unwrap_or(0.0),
        percentile(&ages, 0.5),
        percentile(&ages, 0.99),
        ages.last().copied().unwrap_or(0.0),
    );
    audit.close().await;
}
