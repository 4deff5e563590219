//! `hawk bench`: loads the reference workload (DESIGN.md §8), measures every query
//! Hawk answers, and runs HawkEx's own SQL on the same engine and data side by side.
//!
//! Figures are medians and 99th percentiles of repeated runs in one process, so
//! the two sides see the same machine at the same time; compare ratios, not seconds.
#![warn(missing_docs)]

mod baseline;
mod report;

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use hawk_audit::workload::{self, Workload};
use hawk_audit::{Audit, DEFAULT_SEARCH_LIMIT, Recent};

pub use report::{Report, Row, Stats};

use crate::baseline::{Baseline, Op, PgBaseline, SqliteBaseline};

mod filters;

/// Errors of a benchmark run.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The engine a run measures, Hawk and HawkEx's SQL alike.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Engine {
    /// Two SQLite files in the run's directory: Hawk's and HawkEx's.
    Sqlite,
    /// A fresh database on a PostgreSQL server, holding Hawk's tables and HawkEx's.
    Postgres {
        /// A URL of the server (any database on it: it is used to create the bench
        /// database and to drop it).
        server: String,
        /// Keep the bench database after the run.
        keep: bool,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Entries of the reference workload to load.
    pub entries: u64,
    /// Where the database files (SQLite) and the fsync probe go (created; must not
    /// hold a previous run's databases).
    pub dir: PathBuf,
    /// The engine to measure.
    pub engine: Engine,
    /// Timed runs of each Hawk operation.
    pub samples: usize,
    /// Most timed runs of each baseline operation.
    pub baseline_samples: usize,
    /// Time after which a baseline operation stops (it always runs at least
    /// `baseline_min_samples` times).
    pub baseline_budget: Duration,
    /// Fewest timed runs of each baseline operation, whatever they take; the report
    /// gives each row's count (`n=`).
    pub baseline_min_samples: usize,
}

impl Options {
    /// `entries` entries in `dir` on SQLite, with default sampling.
    pub fn new(entries: u64, dir: impl Into<PathBuf>) -> Self {
        Options {
            entries,
            dir: dir.into(),
            engine: Engine::Sqlite,
            samples: 200,
            baseline_samples: 30,
            baseline_budget: Duration::from_secs(6),
            baseline_min_samples: 3,
        }
    }
}

/// What a run is doing, for a progress display.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Progress {
    /// `n` more entries were loaded.
    Loaded(u64),
    /// A phase started.
    Phase(String),
}

/// Where HawkEx's table is built from.
enum Source {
    /// Hawk's SQLite file and the file HawkEx's table goes in.
    Sqlite { hawk: PathBuf, hawkex: PathBuf },
    /// The PostgreSQL database holding Hawk's tables; HawkEx's table goes there too.
    Postgres { url: String },
}

/// Runs the whole benchmark.
pub async fn run(opts: &Options, mut progress: impl FnMut(Progress)) -> Result<Report, BoxError> {
    std::fs::create_dir_all(&opts.dir)?;
    match &opts.engine {
        Engine::Sqlite => {
            let hawk = opts.dir.join("hawk.db");
            let hawkex = opts.dir.join("hawkex.db");
            for file in [&hawk, &hawkex] {
                if file.exists() {
                    return Err(format!("{} exists: use an empty directory", file.display()).into());
                }
            }
            let url = format!("sqlite:{}", hawk.display());
            let engine = format!("SQLite {}", rusqlite::version());
            measure(
                opts,
                &url,
                engine,
                Source::Sqlite { hawk, hawkex },
                &mut progress,
            )
            .await
        }
        Engine::Postgres { server, keep } => {
            let admin = baseline::connect(server)
                .await
                .map_err(|e| format!("cannot reach PostgreSQL at {server}: {e}"))?;
            let settings = admin
                .query_one(
                    "SELECT current_setting('server_version'), current_setting('shared_buffers')",
                    &[],
                )
                .await?;
            let engine = format!(
                "PostgreSQL {} (shared_buffers {})",
                settings.try_get::<_, String>(0)?,
                settings.try_get::<_, String>(1)?
            );
            let name = format!("hawk_bench_{:016x}", random());
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await?;
            progress(Progress::Phase(format!("created database {name}")));
            let url = database_url(server, &name);
            let source = Source::Postgres { url: url.clone() };
            let result = measure(opts, &url, engine, source, &mut progress).await;
            if !keep {
                let dropped = admin
                    .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await;
                if let (Err(err), Ok(_)) = (dropped, &result) {
                    return Err(format!("dropping the bench database {name}: {err}").into());
                }
            }
            result
        }
    }
}

/// Loads the workload into Hawk at `url`, builds HawkEx's table from it, and times
/// both sides.
async fn measure(
    opts: &Options,
    url: &str,
    engine: String,
    source: Source,
    progress: &mut impl FnMut(Progress),
) -> Result<Report, BoxError> {
    let audit = Audit::open(url).await?;
    progress(Progress::Phase("loading the reference workload".into()));
    let started = Instant::now();
    let loaded = workload::load(&audit, workload::DEMO_SEED, opts.entries, |n| {
        progress(Progress::Loaded(n))
    })
    .await?;
    let load_seconds = started.elapsed().as_secs_f64();

    progress(Progress::Phase(
        "copying the data into HawkEx's schema".into(),
    ));
    let started = Instant::now();
    let base = match source {
        Source::Sqlite { hawk, hawkex } => Baseline::Sqlite(
            tokio::task::spawn_blocking(move || SqliteBaseline::build(&hawkex, &hawk)).await??,
        ),
        Source::Postgres { url } => Baseline::Postgres(PgBaseline::build(&url).await?),
    };
    let baseline_load_seconds = started.elapsed().as_secs_f64();

    let mut bench = Bench {
        audit,
        base,
        opts: opts.clone(),
        rows: Vec::new(),
    };
    bench.queries(progress).await?;
    bench.filters(progress).await?;
    let rss_mb = rss_mb();
    bench.writes(progress).await?;
    bench.audit.close().await;
    Ok(Report {
        engine,
        entries: loaded,
        load_seconds,
        load_entries_per_second: loaded as f64 / load_seconds,
        baseline_load_seconds,
        rss_mb_after_queries: rss_mb,
        fsync: fsync_stats(&opts.dir)?,
        rows: bench.rows,
    })
}

/// 64 bits that differ from run to run.
fn random() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// `server` with its database replaced by `name`, its query kept.
pub fn database_url(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

struct Bench {
    audit: Audit,
    base: Baseline,
    opts: Options,
    rows: Vec<Row>,
}

/// The terms a dashboard user types, picked from the workload's own actions.
struct Terms {
    common: String,
    rare: String,
    none: String,
    letter: String,
}

impl Bench {
    async fn queries(&mut self, progress: &mut impl FnMut(Progress)) -> Result<(), BoxError> {
        let actions = Workload::new(workload::DEMO_SEED, 1, workload::DEMO_EPOCH)
            .actions()
            .to_vec();
        let terms = Terms {
            common: actions[0].clone(),
            rare: actions[actions.len() - 1].clone(),
            none: "zzz.nothing".into(),
            letter: "e".into(),
        };
        let searches: [(&str, Option<&str>); 5] = [
            ("recent", None),
            ("recent, common term", Some(&terms.common)),
            ("recent, rare term", Some(&terms.rare)),
            ("recent, no match", Some(&terms.none)),
            ("recent, one letter", Some(&terms.letter)),
        ];
        for (name, term) in searches {
            progress(Progress::Phase(name.into()));
            let first = self
                .audit
                .recent(with_term(Recent::page(1, 50), term))
                .await?;
            let pages = [
                ("first", 1),
                ("middle", first.total_pages.div_ceil(2)),
                ("last", first.total_pages),
            ];
            for (position, page) in pages {
                let audit = self.audit.clone();
                let hawk = self
                    .time_hawk(|| {
                        let audit = audit.clone();
                        let opts = with_term(Recent::page(page, 50), term);
                        async move { audit.recent(opts).await.map(drop) }
                    })
                    .await?;
                let base = self
                    .time_base(Op::Recent {
                        page,
                        per_page: 50,
                        term: term.map(str::to_owned),
                    })
                    .await?;
                self.rows.push(Row::latency(
                    format!("{name}: {position} page ({} matches)", first.total_count),
                    hawk,
                    Some(base),
                ));
            }
        }

        progress(Progress::Phase("typeahead".into()));
        let typed: Vec<String> = (1..=4)
            .map(|n| terms.common.chars().take(n).collect())
            .chain([terms.rare.clone(), terms.none.clone()])
            .collect();
        for query in typed {
            let audit = self.audit.clone();
            let q = query.clone();
            let hawk = self
                .time_hawk(|| {
                    let (audit, q) = (audit.clone(), q.clone());
                    async move { audit.search(&q, DEFAULT_SEARCH_LIMIT).await.map(drop) }
                })
                .await?;
            let base = self
                .time_base(Op::Search {
                    query: query.clone(),
                    limit: DEFAULT_SEARCH_LIMIT,
                })
                .await?;
            self.rows.push(Row::latency(
                format!("search \"{query}\""),
                hawk,
                Some(base),
            ));
        }

        progress(Progress::Phase("suggestions".into()));
        let prefix: String = terms.common.chars().take(2).collect();
        for query in ["", prefix.as_str(), terms.rare.as_str()] {
            let audit = self.audit.clone();
            let q = query.to_owned();
            let hawk = self
                .time_hawk(|| {
                    let (audit, q) = (audit.clone(), q.clone());
                    async move { audit.actions(&q, 10).await.map(drop) }
                })
                .await?;
            let base = self
                .time_base(Op::Actions {
                    query: query.to_owned(),
                    limit: 10,
                })
                .await?;
            self.rows.push(Row::latency(
                format!("actions \"{query}\""),
                hawk,
                Some(base),
            ));
        }

        progress(Progress::Phase("accounts".into()));
        let (heaviest, median) = self.accounts().await?;
        for (label, account) in [("heaviest", &heaviest), ("median", &median)] {
            let audit = self.audit.clone();
            let id = account.0.clone();
            let hawk = self
                .time_hawk(|| {
                    let (audit, id) = (audit.clone(), id.clone());
                    async move {
                        audit
                            .for_account_page(&id, Recent::page(1, 50))
                            .await
                            .map(drop)
                    }
                })
                .await?;
            let base = self
                .time_base(Op::AccountPage {
                    account: account.0.clone(),
                    per_page: 50,
                })
                .await?;
            self.rows.push(Row::latency(
                format!(
                    "for_account first page, {label} account ({} entries)",
                    account.1
                ),
                hawk,
                Some(base),
            ));
        }
        // A few runs of each, alternated, and the median of each side: one run of
        // a second or so is at the mercy of whatever else the machine is doing.
        let (mut hawk_rates, mut base_rates) = (Vec::new(), Vec::new());
        let mut streamed = 0;
        for _ in 0..STREAM_RUNS {
            let started = Instant::now();
            streamed = self
                .audit
                .for_account_stream(&heaviest.0)
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await?;
            hawk_rates.push(streamed as f64 / started.elapsed().as_secs_f64());
            let started = Instant::now();
            let base_count = self
                .base
                .run(&Op::AccountAll {
                    account: heaviest.0.clone(),
                })
                .await?;
            base_rates.push(base_count as f64 / started.elapsed().as_secs_f64());
        }
        let (hawk_rate, base_rate) = (median_of(hawk_rates), median_of(base_rates));
        self.rows.push(Row::throughput(
            format!("for_account stream, heaviest account ({streamed} entries)"),
            hawk_rate,
            Some(base_rate),
        ));
        Ok(())
    }

    /// The account with the most entries and the median account, with their counts.
    async fn accounts(&self) -> Result<((String, u64), (String, u64)), BoxError> {
        // The workload draws accounts 1..=100,000 with a Zipf skew: rank 1 is the
        // heaviest. The median of the accounts that have entries is found by count.
        let mut counts = Vec::new();
        for id in (1..=workload::ACCOUNTS).step_by(97) {
            let page = self
                .audit
                .for_account_page(&id.to_string(), Recent::page(1, 1))
                .await?;
            if page.total_count > 0 {
                counts.push((id.to_string(), page.total_count));
            }
        }
        counts.sort_by_key(|(_, n)| *n);
        let median = counts
            .get(counts.len() / 2)
            .cloned()
            .unwrap_or(("1".into(), 0));
        let heaviest = self
            .audit
            .for_account_page("1", Recent::page(1, 1))
            .await?
            .total_count;
        Ok((("1".into(), heaviest), median))
    }

    async fn writes(&mut self, progress: &mut impl FnMut(Progress)) -> Result<(), BoxError> {
        progress(Progress::Phase("track, 64 concurrent callers".into()));
        let callers = 64;
        let each = 400;
        // Each caller records its own stream of reference-workload entries: the mix of
        // actions, actors, accounts and metadata a real application writes.
        let started = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let audit = self.audit.clone();
                let entries = Workload::new(c, each, workload::DEMO_EPOCH);
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
        let hawk_rate = (callers * each) as f64 / started.elapsed().as_secs_f64();
        let base_n = 300;
        let started = Instant::now();
        let track = Op::Track {
            action: "bench.tracked".into(),
        };
        for _ in 0..base_n {
            self.base.run(&track).await?;
        }
        let base_rate = f64::from(base_n) / started.elapsed().as_secs_f64();
        self.rows.push(Row::throughput(
            format!("track, {callers} concurrent callers, durable"),
            hawk_rate,
            Some(base_rate),
        ));

        progress(Progress::Phase("track, one caller".into()));
        let audit = self.audit.clone();
        let mut entries = Workload::new(1_000, u64::MAX, workload::DEMO_EPOCH).map(|(_, e)| e);
        let hawk = self
            .time_hawk(|| {
                let audit = audit.clone();
                let entry = entries.next().expect("the workload is endless");
                async move { audit.record(entry).await.map(drop) }
            })
            .await?;
        let base = self
            .time_base(Op::Track {
                action: "bench.single".into(),
            })
            .await?;
        self.rows.push(Row::latency(
            "track, one caller, durable".into(),
            hawk,
            Some(base),
        ));
        Ok(())
    }

    async fn time_hawk<F, Fut>(&self, mut op: F) -> Result<Stats, BoxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = hawk_audit::Result<()>>,
    {
        op().await?; // warm-up
        let mut samples = Vec::with_capacity(self.opts.samples);
        for _ in 0..self.opts.samples {
            let started = Instant::now();
            op().await?;
            samples.push(started.elapsed());
        }
        Ok(Stats::from_samples(samples))
    }

    async fn time_base(&self, op: Op) -> Result<Stats, BoxError> {
        let budget = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < self.opts.baseline_samples
            && (samples.len() < self.opts.baseline_min_samples
                || budget.elapsed() < self.opts.baseline_budget)
        {
            let started = Instant::now();
            self.base.run(&op).await?;
            samples.push(started.elapsed());
        }
        Ok(Stats::from_samples(samples))
    }
}

/// Runs of each side's account stream; the row shows the median rate.
const STREAM_RUNS: usize = 5;

/// The middle value (the upper one of an even count); 0 for none.
fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn with_term(opts: Recent, term: Option<&str>) -> Recent {
    match term {
        Some(term) => opts.search(term),
        None => opts,
    }
}

/// This process's resident set size in MB (Linux), 0 where unknown.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// How long one small write plus fdatasync takes on the disk holding `dir`: the floor
/// under any durable commit.
fn fsync_stats(dir: &Path) -> Result<Stats, BoxError> {
    let path = dir.join("fsync.probe");
    let mut file = std::fs::File::create(&path)?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        file.write_all(&[0u8; 4096])?;
        file.sync_data()?;
        samples.push(started.elapsed());
    }
    std::fs::remove_file(&path)?;
    Ok(Stats::from_samples(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_measures_every_operation_on_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::new(3000, dir.path().join("run"));
        opts.samples = 3;
        opts.baseline_samples = 3;
        let mut loaded = 0;
        let report = run(&opts, |p| {
            if let Progress::Loaded(n) = p {
                loaded += n
            }
        })
        .await
        .unwrap();
        assert_eq!((report.entries, loaded), (3000, 3000));
        assert_every_op_on_both_sides(&report);
        assert!(report.engine.starts_with("SQLite"), "{}", report.engine);
        let table = report.table();
        assert!(
            table.contains("| recent, common term: last page"),
            "{table}"
        );
        assert!(report.svg().starts_with("<svg"));
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["entries"], 3000);
        // A second run refuses to mix with the first one's files.
        assert!(run(&opts, |_| {}).await.is_err());
    }

    /// Every operation is reported, with figures from Hawk and from HawkEx's SQL.
    fn assert_every_op_on_both_sides(report: &Report) {
        // 5 listings × 3 pages, 6 typeahead, 3 suggestions, 2 account pages, the
        // account stream, 12 filters × 3 pages, and the two write rows; and the seals
        // of the filter index, when the load filled a chunk (not in a small run).
        let op = |row: &Row| match row {
            Row::Latency { op, .. } | Row::Throughput { op, .. } => op.clone(),
        };
        let seals = report
            .rows
            .iter()
            .filter(|r| op(r).starts_with("filter index"))
            .count();
        assert_eq!(seals, 0, "3,000 entries fill no chunk of 65,536");
        assert_eq!(report.rows.len(), 15 + 6 + 3 + 2 + 1 + 36 + 2);
        for row in &report.rows {
            match row {
                Row::Latency { hawk, hawkex, .. } => {
                    assert_eq!(hawk.samples, 3);
                    assert!(hawkex.unwrap().samples >= 3);
                }
                Row::Throughput { hawk, hawkex, .. } => {
                    assert!(*hawk > 0.0);
                    assert!(hawkex.is_some_and(|h| h > 0.0));
                }
            }
        }
    }

    /// The server the PostgreSQL run uses, unless `HAWK_BENCH_POSTGRES` names another.
    fn postgres_server() -> String {
        std::env::var("HAWK_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_postgres_run_measures_every_operation_on_both_sides() {
        let server = postgres_server();
        if let Err(err) = baseline::connect(&server).await {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {server} is unreachable (CI is set): {err}");
            }
            eprintln!(
                "\n*** SKIPPED the PostgreSQL bench test: cannot reach {server} ({err}). \
                 Start PostgreSQL or set HAWK_BENCH_POSTGRES; under CI this fails. ***\n"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::new(2000, dir.path().join("run"));
        opts.engine = Engine::Postgres {
            server: server.clone(),
            keep: false,
        };
        opts.samples = 3;
        opts.baseline_samples = 3;
        let mut created = None;
        let report = run(&opts, |p| {
            if let Progress::Phase(phase) = p
                && let Some(name) = phase.strip_prefix("created database ")
            {
                created = Some(name.to_owned());
            }
        })
        .await
        .unwrap();
        assert_eq!(report.entries, 2000);
        assert_every_op_on_both_sides(&report);
        assert!(report.engine.starts_with("PostgreSQL"), "{}", report.engine);
        assert!(report.table().starts_with("PostgreSQL"));
        // The bench database is gone.
        let name = created.expect("the run names its database");
        let admin = baseline::connect(&server).await.unwrap();
        let left = admin
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap();
        assert_eq!(left.get::<_, i64>(0), 0, "{name} was not dropped");
    }

    #[test]
    fn the_bench_database_replaces_the_servers_database_in_the_url() {
        assert_eq!(
            database_url("postgres://u@h:5432/postgres?sslmode=disable", "b"),
            "postgres://u@h:5432/b?sslmode=disable"
        );
        assert_eq!(database_url("postgres://u@h", "b"), "postgres://u@h/b");
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
    }
}
