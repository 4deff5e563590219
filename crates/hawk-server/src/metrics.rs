//! Prometheus metrics: requests and latency by route, entries written, the writer's
//! queue depth, the audit listener's counters and the latest checkpoint, in the text
//! exposition format; and the access log, one line per request.
//!
//! Every label comes from a closed set (the standard methods or `OTHER`, the route
//! templates or `unmatched`, the status): this middleware runs before authentication,
//! so anything a client makes up must not become a series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::Response;
use hawk_audit::SinkStatus;
use hawk_audit::checkpoint::StoredCheckpoint;

use crate::AppState;
use crate::auth::{KeyId, query_pairs};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<(&'static str, String), Histogram>>,
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
    fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let key = (method, route.to_owned());
        *lock(&self.requests)
            .entry((key.0, key.1.clone(), status))
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
        sinks: &[SinkStatus],
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
        sink_series(&mut out, sinks);
        out
    }
}

/// One series per sink (names are made by admins, so they are a closed set).
fn sink_series(out: &mut String, sinks: &[SinkStatus]) {
    type Value = fn(&SinkStatus) -> u64;
    let series: [(&str, &str, &str, Value); 5] = [
        (
            "hawk_sink_cursor",
            "gauge",
            "The newest id a sink delivered (or passed).",
            |s| s.sink.cursor,
        ),
        (
            "hawk_sink_lag_entries",
            "gauge",
            "Entries a sink's filter keeps that it has not delivered yet.",
            |s| s.lag.entries,
        ),
        (
            "hawk_sink_lag_seconds",
            "gauge",
            "Age of the oldest entry a sink has not delivered yet (0: none).",
            |s| {
                s.lag.oldest.map_or(0, |t| {
                    (hawk_audit::time::OffsetDateTime::now_utc() - t)
                        .whole_seconds()
                        .max(0) as u64
                })
            },
        ),
        (
            "hawk_sink_delivered_total",
            "counter",
            "Entries a sink delivered since it was added.",
            |s| s.sink.delivered,
        ),
        (
            "hawk_sink_failures",
            "gauge",
            "Deliveries of a sink that failed since its last success.",
            |s| s.sink.failures,
        ),
    ];
    if sinks.is_empty() {
        return;
    }
    for (name, kind, help, value) in series {
        header(out, name, kind, help);
        for status in sinks {
            let _ = writeln!(
                out,
                "{name}{{sink=\"{}\"}} {}",
                escape(&status.sink.name),
                value(status)
            );
        }
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

/// `method` as a label: a standard method, or `OTHER` for any extension method.
pub(crate) fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("OTHER", Method::as_str)
}

/// `uri`'s path and query with the value of every `key` parameter replaced by
/// `REDACTED`: API keys may come in the query string and must never reach a log.
pub(crate) fn redacted_uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            // Names are compared decoded, so `%6Bey=` is redacted too.
            let is_key = query_pairs(pair)
                .first()
                .is_some_and(|(name, _)| name == "key");
            match pair.split_once('=') {
                Some((name, _)) if is_key => format!("{name}=REDACTED"),
                _ => pair.to_owned(),
            }
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

/// Middleware: counts and times every request under its route template (so
/// `/v1/accounts/{account_id}/entries` is one series, not one per account), and logs
/// it: the one place requests are logged, with any key in the URI redacted.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    tracing::debug!(
        target: "hawk_server::access",
        method,
        uri = %redacted_uri(req.uri()),
        "request"
    );
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe(method, &route, status, elapsed.as_secs_f64());
    tracing::info!(
        target: "hawk_server::access",
        method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        key_id = response.extensions().get::<KeyId>().map(|k| k.0),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes("X".repeat(8192).as_bytes()).unwrap();
        assert_eq!(method_label(&invented), "OTHER");
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "OTHER");
    }

    #[test]
    fn keys_in_logged_uris_are_redacted() {
        let cases = [
            ("/v1/stream?key=hawk_secret", "/v1/stream?key=REDACTED"),
            (
                "/v1/export?format=csv&key=hawk_secret&after=3",
                "/v1/export?format=csv&key=REDACTED&after=3",
            ),
            ("/v1/stream?%6Bey=hawk_secret", "/v1/stream?%6Bey=REDACTED"),
            ("/v1/entries?search=key", "/v1/entries?search=key"),
            ("/healthz", "/healthz"),
        ];
        for (uri, logged) in cases {
            assert_eq!(redacted_uri(&uri.parse().unwrap()), logged, "{uri}");
        }
    }
}
