//! The results: a table for people, JSON for tools, an SVG chart.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Latency percentiles of one operation, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// Timed runs.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile (the slowest run when there are fewer than 100).
    pub p99_us: f64,
}

impl Stats {
    pub(crate) fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i].as_secs_f64() * 1e6
        };
        Stats {
            samples: samples.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Row {
    /// Time per call: lower is better.
    Latency {
        /// The operation.
        op: String,
        /// Hawk's figures.
        hawk: Stats,
        /// HawkEx's SQL on the same data.
        hawkex: Option<Stats>,
    },
    /// Entries per second: higher is better.
    Throughput {
        /// The operation.
        op: String,
        /// Hawk's rate.
        hawk: f64,
        /// HawkEx's rate.
        hawkex: Option<f64>,
    },
}

impl Row {
    pub(crate) fn latency(op: String, hawk: Stats, hawkex: Option<Stats>) -> Row {
        Row::Latency { op, hawk, hawkex }
    }

    pub(crate) fn throughput(op: String, hawk: f64, hawkex: Option<f64>) -> Row {
        Row::Throughput { op, hawk, hawkex }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The engine both sides ran on, with its version.
    pub engine: String,
    /// Entries loaded.
    pub entries: u64,
    /// Time to load them through Hawk's durable write path.
    pub load_seconds: f64,
    /// The load rate.
    pub load_entries_per_second: f64,
    /// Time to build HawkEx's table and indexes from them.
    pub baseline_load_seconds: f64,
    /// Resident memory of the bench process after the queries, before the writes.
    pub rss_mb_after_queries: f64,
    /// One 4 KiB write + fdatasync on the same disk.
    pub fsync: Stats,
    /// The comparison.
    pub rows: Vec<Row>,
}

fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{:.3} ms", us / 1000.0)
    }
}

/// A ratio with the digits that matter: `1582×`, `3.2×`, `0.13×`.
fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 1.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

fn rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.0} k/s", r / 1000.0)
    } else {
        format!("{r:.0} /s")
    }
}

impl Report {
    /// A Markdown table: op | Hawk p50 / p99 | HawkEx p50 / p99 | ratio.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} entries; load {:.1} s ({:.0} entries/s); fsync p50 {}; RSS after queries {:.0} MB\n",
            self.engine,
            self.entries,
            self.load_seconds,
            self.load_entries_per_second,
            ms(self.fsync.p50_us),
            self.rss_mb_after_queries
        );
        out.push_str("| op | Hawk p50 / p99 | HawkEx p50 / p99 | ratio (p50) |\n");
        out.push_str("|---|---|---|---|\n");
        for row in &self.rows {
            let _ = match row {
                Row::Latency { op, hawk, hawkex } => {
                    let (base, ratio) = match hawkex {
                        Some(b) => (
                            format!("{} / {} (n={})", ms(b.p50_us), ms(b.p99_us), b.samples),
                            ratio(b.p50_us / hawk.p50_us.max(0.001)),
                        ),
                        None => ("-".into(), "-".into()),
                    };
                    writeln!(
                        out,
                        "| {op} | {} / {} | {base} | {ratio} |",
                        ms(hawk.p50_us),
                        ms(hawk.p99_us)
                    )
                }
                Row::Throughput { op, hawk, hawkex } => {
                    let (base, ratio) = match hawkex {
                        Some(b) => (rate(*b), ratio(hawk / b.max(0.001))),
                        None => ("-".into(), "-".into()),
                    };
                    writeln!(out, "| {op} | {} | {base} | {ratio} |", rate(*hawk))
                }
            };
        }
        out
    }

    /// The report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A bar chart of the latency rows' medians, Hawk against HawkEx, log scale.
    pub fn svg(&self) -> String {
        let rows: Vec<(&str, f64, Option<f64>)> = self
            .rows
            .iter()
            .filter_map(|r| match r {
                Row::Latency { op, hawk, hawkex } => {
                    Some((op.as_str(), hawk.p50_us, hawkex.map(|b| b.p50_us)))
                }
                Row::Throughput { .. } => None,
            })
            .collect();
        let (label_w, plot_w, row_h) = (430.0, 520.0, 26.0);
        let height = 60.0 + row_h * rows.len() as f64;
        // 1 µs .. 100 s on a log scale.
        let x = |us: f64| label_w + plot_w * (us.max(1.0).log10() / 8.0).min(1.0);
        let mut svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13" font-weight="bold">{engine}, p50 latency at {n} entries (log scale): Hawk (blue) vs HawkEx SQL (orange)</text>
"#,
            w = label_w + plot_w + 20.0,
            n = self.entries,
            engine = escape(&self.engine)
        );
        for (decade, label) in [
            "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s",
        ]
        .iter()
        .enumerate()
        {
            let gx = x(10f64.powi(decade as i32));
            let _ = writeln!(
                svg,
                r##"<line x1="{gx}" y1="30" x2="{gx}" y2="{y2}" stroke="#ddd"/><text x="{gx}" y="{ty}" text-anchor="middle" fill="#666">{label}</text>"##,
                y2 = height - 20.0,
                ty = height - 6.0
            );
        }
        for (i, (op, hawk, base)) in rows.iter().enumerate() {
            let y = 34.0 + row_h * i as f64;
            let _ = writeln!(
                svg,
                r##"<text x="{tx}" y="{ty}" text-anchor="end">{op}</text><rect x="{label_w}" y="{y}" width="{hw}" height="9" fill="#2563eb"/>"##,
                tx = label_w - 6.0,
                ty = y + 12.0,
                op = escape(op),
                hw = (x(*hawk) - label_w).max(1.0)
            );
            if let Some(base) = base {
                let _ = writeln!(
                    svg,
                    r##"<rect x="{label_w}" y="{y2}" width="{bw}" height="9" fill="#ea580c"/>"##,
                    y2 = y + 10.0,
                    bw = (x(*base) - label_w).max(1.0)
                );
            }
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_keep_their_significant_digits() {
        assert_eq!(ratio(1582.4), "1582×");
        assert_eq!(ratio(3.21), "3.2×");
        assert_eq!(ratio(0.134), "0.13×");
    }

    #[test]
    fn percentiles_pick_the_right_samples() {
        let samples = (1..=100).map(Duration::from_micros).collect();
        let stats = Stats::from_samples(samples);
        assert_eq!((stats.p50_us, stats.p99_us), (50.0, 99.0));
        let stats = Stats::from_samples(vec![Duration::from_micros(7)]);
        assert_eq!((stats.p50_us, stats.p99_us), (7.0, 7.0));
    }
}
