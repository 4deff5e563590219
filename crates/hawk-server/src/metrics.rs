//! Prometheus metrics: requests and latency by route, entries written, the writer's
//! queue depth, the audit listener's counters and the latest checkpoint, in the text
//! exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hawk_audit::checkpoint::StoredCheckpoint;

use crate::AppState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    /// Entries committed through `POST /v1/entries`.
    pub(crate) entries_written: AtomicU64,
    /// Events accepted through `POST /v1/events`.
    pub(crate) events_emitted: AtomicU64,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = (method.to_owned(), route.to_owned());
        *lock(&self.requests)
            .entry((key.0.clone(), key.1.clone(), status))
            .or_default() += 1;
        let mut latency = lock(&self.latency);
        let h = latency.entry(key).or_default();
        for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    pub(crate) fn add_entries(&self, n: usize) {
        self.entries_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The exposition text.
    pub(crate) fn render(
        &self,
        state: &AppState,
        head: Option<u64>,
        checkpoint: Option<&StoredCheckpoint>,
    ) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "hawk_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route and status.",
        );
        for ((method, route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "hawk_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        header(
            &mut out,
            "hawk_http_request_duration_seconds",
            "histogram",
            "Time to answer (until the response headers), by method and route.",
        );
        for ((method, route), h) in lock(&self.latency).iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "hawk_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "hawk_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 hawk_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 hawk_http_request_duration_seconds_count{{{labels}}} {}",
                h.count, h.sum, h.count
            );
        }
        let counters = [
            (
                "hawk_entries_written_total",
                "Entries committed through POST /v1/entries.",
                self.entries_written.load(Ordering::Relaxed),
            ),
            (
                "hawk_events_emitted_total",
                "Events emitted on the bus through POST /v1/events.",
                self.events_emitted.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        if let Some(stats) = state.audit.listener_stats() {
            let listener = [
                (
                    "hawk_listener_recorded_total",
                    "Bus events the audit listener recorded as entries.",
                    stats.recorded,
                ),
                (
                    "hawk_listener_retries_total",
                    "Failed attempts of the audit listener to record (each retried).",
                    stats.retries,
                ),
                (
                    "hawk_listener_restarts_total",
                    "Restarts of the audit listener after a panic.",
                    stats.restarts,
                ),
            ];
            for (name, help, value) in listener {
                header(&mut out, name, "counter", help);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        header(
            &mut out,
            "hawk_write_queue_depth",
            "gauge",
            "Appends waiting for the group-commit writer (back-pressure above 1024).",
        );
        let _ = writeln!(
            out,
            "hawk_write_queue_depth {}",
            state.audit.write_queue_depth()
        );
        if let Some(head) = head {
            header(
                &mut out,
                "hawk_head_id",
                "gauge",
                "The newest entry's id (entries in the log, ids being dense).",
            );
            let _ = writeln!(out, "hawk_head_id {head}");
        }
        if let Some(checkpoint) = checkpoint {
            header(
                &mut out,
                "hawk_checkpoint_size",
                "gauge",
                "Entries covered by the latest signed checkpoint.",
            );
            let _ = writeln!(out, "hawk_checkpoint_size {}", checkpoint.size);
            header(
                &mut out,
                "hawk_checkpoint_timestamp_seconds",
                "gauge",
                "When the latest signed checkpoint was written (Unix time).",
            );
            let _ = writeln!(
                out,
                "hawk_checkpoint_timestamp_seconds {}",
                checkpoint.created_at.unix_timestamp()
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Middleware: counts and times every request under its route template (so
/// `/v1/accounts/{account_id}/entries` is one series, not one per account).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
