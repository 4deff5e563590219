//! Hawk's HTTP API: the audit log of `hawk-audit` served as JSON over HTTP, with a
//! Server-Sent Events live tail and streamed exports (DESIGN.md section 4).
//!
//! [`router`] builds the axum application over an [`AppState`]; [`serve`] runs it on
//! a listener until a shutdown signal, finishes the requests in flight and closes the
//! log, so every event emitted on the bus is recorded before it returns.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use hawk_audit::{Audit, Events, Options};
//!
//! let bus = Events::new();
//! let audit = Audit::open_with("sqlite:hawk.db", Options::default().events(bus.clone())).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7433").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! // Serves until `stop` is sent or dropped (`hawk serve` waits for SIGINT/SIGTERM).
//! hawk_server::serve(listener, audit, bus, async move {
//!     let _ = stopped.await;
//! })
//! .await?;
//! # drop(stop);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod connections;
mod dashboard;
mod error;
pub mod export;
mod filters;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod metrics;
mod openapi;
pub mod proof;
mod routes;
mod sinks;
mod stream;
mod suggestions;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use hawk_audit::{Audit, Events};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::RateLimit;
pub use connections::ServeOptions;
pub use error::ApiError;
pub use openapi::openapi;

/// Largest request body accepted; larger ones are answered 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest batch `POST /v1/entries` takes.
pub const MAX_HTTP_BATCH: usize = 1000;
/// The address `hawk serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7433";
/// How often the live tail reads the head when nothing in this process woke it, so
/// entries written by other processes on the same file show up too; and how often the
/// keys are read while a stream opened with one is open, to end it once it is revoked.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    audit: Audit,
    events: Events,
    metrics: Arc<metrics::Metrics>,
    shutdown: CancellationToken,
    /// The newest id, fed by one task for every live tail (see `stream`).
    head_feed: Arc<OnceLock<watch::Receiver<u64>>>,
    /// Per-key token buckets.
    limiter: Arc<auth::Limiter>,
    /// Set once this server has seen an API key: from then on every request needs
    /// one, even after all are revoked (see `auth`).
    keys_seen: Arc<AtomicBool>,
    /// The revoked key ids, fed by one task while keyed streams are open (see `auth`).
    revoked: Arc<OnceLock<auth::Revoked>>,
    /// Connection limits.
    options: ServeOptions,
}

impl AppState {
    /// State over an open log and the bus its audit listener records.
    pub fn new(audit: Audit, events: Events) -> Self {
        AppState {
            audit,
            events,
            metrics: Arc::new(metrics::Metrics::default()),
            shutdown: CancellationToken::new(),
            head_feed: Arc::new(OnceLock::new()),
            limiter: Arc::new(auth::Limiter::new(RateLimit::default())),
            keys_seen: Arc::new(AtomicBool::new(false)),
            revoked: Arc::new(OnceLock::new()),
            options: ServeOptions::default(),
        }
    }

    /// The same state with other connection limits (timeouts, how many at once).
    pub fn serve_options(mut self, options: ServeOptions) -> Self {
        self.options = options;
        self
    }

    /// The same state with another per-key rate limit (default: 50 requests per
    /// second, bursts of 100).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.limiter = Arc::new(auth::Limiter::new(limit));
        self
    }

    /// Ends open live tails (they would otherwise keep a graceful shutdown waiting)
    /// and stops [`serve_state`] accepting connections.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// The whole HTTP API: every route of DESIGN.md section 4, JSON errors
/// for unknown routes and methods, a 1 MiB body limit, metrics and an access log.
pub fn router(state: AppState) -> Router {
    let (api, _) = openapi::api_router().split_for_parts();
    api.route("/openapi.json", axum::routing::get(openapi::openapi_json))
        .merge(dashboard::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(input::refuse_unknown_params))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(error::panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes; then stops accepting,
/// ends live tails, waits for the requests in flight and closes the log (recording
/// every pending event). Returns once all of that is done.
pub async fn serve(
    listener: tokio::net::TcpListener,
    audit: Audit,
    events: Events,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_state(listener, AppState::new(audit, events), shutdown).await
}

/// [`serve`] with a state of your own (e.g. another [`RateLimit`] or
/// [`ServeOptions`]).
pub async fn serve_state(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let audit = state.audit.clone();
    // A server started with keys requires one until it is restarted, so it must know
    // before its first request whether there are any.
    auth::keys_required(&state)
        .await
        .map_err(|err| io::Error::other(format!("reading the API keys: {err}")))?;
    let app = router(state.clone());
    let stop = state.shutdown.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        // Ends live tails too (they would otherwise keep the shutdown waiting).
        stop.cancel();
    };
    let mut accept = std::pin::pin!(connections::accept(
        listener,
        app,
        state.options,
        state.shutdown.clone(),
    ));
    // The loop also ends when the state is shut down directly.
    tokio::select! {
        () = &mut accept => {}
        () = signal => accept.await,
    }
    drop(state);
    audit.close().await;
    Ok(())
}

/// Refuses addresses other than loopback: without API keys anyone who can reach the
/// port could read and write the log.
pub fn require_loopback(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr}: no API keys are configured, so the server \
             only listens on a loopback address (e.g. 127.0.0.1:7433)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_allowed_without_keys() {
        for ok in ["127.0.0.1:7433", "127.8.9.1:1", "[::1]:7433"] {
            assert!(require_loopback(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for refused in [
            "0.0.0.0:7433",
            "[::]:7433",
            "192.168.1.2:80",
            "10.0.0.1:7433",
        ] {
            let err = require_loopback(&refused.parse().unwrap()).unwrap_err();
            assert!(
                err.starts_with(&format!("refusing to listen on {refused}")),
                "{err}"
            );
        }
    }
}
