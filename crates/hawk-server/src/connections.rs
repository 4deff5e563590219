//! The accept loop: HTTP/1.1 and HTTP/2 connections with a header-read timeout, an
//! idle timeout and a cap on how many are open at once (`axum::serve` has none of
//! these, so slow or silent clients could hold sockets forever).
//!
//! Over the cap the loop stops accepting: new connections wait in the kernel's backlog
//! rather than being refused, so a client is served late instead of failing, and a
//! place frees within the timeouts since slow and silent connections are closed.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Limits on the connections of [`serve_state`](crate::serve_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time a client has to send a request's headers: from the connection's start,
    /// and on a kept-alive HTTP/1.1 connection from the end of the previous response
    /// (so it also closes kept-alive connections left idle that long). Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection on which nothing was read or written for this long stops being
    /// kept alive (its request in flight, if any, may finish), and is closed after
    /// twice as long. Live tails send a comment at least every half of it, so they
    /// are never idle. Default 60 s.
    pub idle_timeout: Duration,
    /// Connections open at once; over it new ones wait to be accepted. Default 512.
    pub max_connections: u32,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Accepts connections on `listener` and serves `app` on each until `shutdown` is
/// cancelled; then stops accepting, shuts every connection down gracefully and
/// returns once all are closed.
pub(crate) async fn accept(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    let max = options.max_connections.max(1);
    let places = Arc::new(Semaphore::new(max as usize));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let place = tokio::select! {
            () = shutdown.cancelled() => break,
            place = places.clone().acquire_owned() => place.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    if !is_connection_error(&err) {
                        // E.g. out of file descriptors: wait rather than spin.
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            builder.clone(),
            app.clone(),
            options,
            shutdown.clone(),
            place,
        ));
    }
    drop(listener);
    // Every connection holds a place until it is closed.
    let _all = places.acquire_many(max).await;
}

/// Errors of one connection that leave the listener fine.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection, closing it when idle or (gracefully) on shutdown.
async fn connection(
    stream: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
    _place: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    let mut conn = pin!(conn);
    let mut closing = false;
    loop {
        // Nothing read yet: the client has the header timeout to start (hyper's own
        // timer starts only once it knows the protocol, from the first bytes).
        let limit = if activity.read_any() {
            options.idle_timeout
        } else {
            options.header_read_timeout
        };
        let deadline = if closing { limit * 2 } else { limit };
        let wake = deadline.saturating_sub(activity.idle_for());
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection closed with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep(wake) => {
                let idle = activity.idle_for();
                if idle >= limit * 2 {
                    // Still nothing moving after a graceful shutdown: drop it.
                    return;
                }
                if idle >= limit && !closing {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// When a connection last read or wrote a byte.
#[derive(Clone)]
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    last: Arc<AtomicU64>,
    read_any: Arc<AtomicBool>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            read_any: Arc::new(AtomicBool::new(false)),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }

    fn read_any(&self) -> bool {
        self.read_any.load(Ordering::Relaxed)
    }
}

/// A socket that records its activity.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_any.store(true, Ordering::Relaxed);
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
