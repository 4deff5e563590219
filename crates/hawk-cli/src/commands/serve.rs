//! `hawk serve`.

use std::time::Duration;

use anyhow::Context as _;
use hawk_audit::checkpoint::Cadence;
use hawk_audit::{Audit, Events, Options};

use super::{Context, is_postgres, redact_password};
use crate::{BadInput, ServeArgs};

/// Serves the HTTP API until SIGINT or SIGTERM, then finishes the requests in flight
/// and records every pending event before returning.
pub(crate) async fn serve(cx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let (url, keys, listen, rate_limit) = (&cx.db, &cx.keys, &args.listen, args.rate_limit);
    let max_db_size = args.max_db_size;
    let cadence = Cadence {
        entries: args.checkpoint_entries,
        interval: Duration::from_secs(args.checkpoint_interval),
    };
    let limits = hawk_server::ServeOptions {
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections,
    };
    let addr = tokio::net::lookup_host(listen)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| BadInput(format!("--listen: not an address: {listen:?}")))?;
    let bus = Events::new();
    let mut options = Options::default().events(bus.clone());
    let key = keys.signing_key_if_any()?;
    if let Some(key) = &key {
        options = options.checkpoints(key.clone(), cadence);
    }
    if max_db_size.is_some() && is_postgres(url) {
        return Err(BadInput(
            "--max-db-size: caps a SQLite file; a PostgreSQL database's space is the \
             server's to limit"
                .into(),
        )
        .into());
    }
    if let Some(bytes) = max_db_size {
        options = options.max_size_bytes(bytes);
    }
    let audit = Audit::open_with(url, options).await?;
    let (listener, keys) = match bind(&audit, addr).await {
        Ok(bound) => bound,
        Err(err) => {
            // Closed before the runtime ends: its background tasks stop quietly.
            audit.close().await;
            return Err(err);
        }
    };
    let local = listener.local_addr().context("reading the bound address")?;
    let url = redact_password(url);
    if keys {
        tracing::info!(
            "serving {url} on http://{local}: API keys are configured, so every request \
             but /healthz and the dashboard's files needs one (Authorization: Bearer KEY); \
             {rate_limit} requests/s per key"
        );
    } else {
        tracing::info!(
            "serving {url} on http://{local} without auth: no API keys are configured, \
             so only clients on this machine (loopback) can connect"
        );
    }
    match key {
        Some(key) => tracing::info!(
            "signing checkpoints every {} entries or {} s; verifier key {}",
            cadence.entries,
            cadence.interval.as_secs(),
            key.verifier()
        ),
        None => tracing::info!(
            "not signing checkpoints: give --key-file (or HAWK_KEY_FILE), the same file \
             on every server writing this database"
        ),
    }
    // The log streams (`hawk sinks`): every server on one database runs them, and
    // each sink is delivered by the one holding its lease.
    let mut streams = hawk_streams::StreamsOptions::new();
    streams.lease = Duration::from_secs(args.sink_lease);
    let streams = hawk_streams::Streams::start(audit.clone(), streams);
    let state = hawk_server::AppState::new(audit, bus)
        .rate_limit(hawk_server::RateLimit::per_second(rate_limit))
        .serve_options(limits);
    // Stopped first on a signal, while the log is still open: the leases are given
    // up, so another server takes the sinks at once.
    let shutdown = async move {
        shutdown_signal().await;
        streams.stop().await;
    };
    hawk_server::serve_state(listener, state, shutdown)
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped; every accepted entry and event is recorded");
    Ok(())
}

/// Binds `addr`, refusing an address other than loopback while the log holds no API
/// keys; returns the listener and whether keys exist.
async fn bind(
    audit: &Audit,
    addr: std::net::SocketAddr,
) -> anyhow::Result<(tokio::net::TcpListener, bool)> {
    let keys = audit.has_keys().await?;
    if !keys {
        hawk_server::require_loopback(&addr).map_err(BadInput)?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    Ok((listener, keys))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
