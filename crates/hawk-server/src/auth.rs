//! API keys on every request: `Authorization: Bearer KEY`, scopes, account binding and
//! a per-key rate limit.
//!
//! With no live key in the log the API is open (and `hawk serve` binds loopback only).
//! As soon as one exists, every route but `/healthz` and the dashboard's static files
//! needs a valid key: 401 without one or with a bad one, 403 outside its scope, 429 over
//! its rate. Read keys may do every `GET`; write keys may also `POST /v1/entries` and
//! `/v1/events`; admin keys may do everything. A read key bound to an account sees
//! only that account's entries, and nothing that counts the whole log (`/metrics`); it
//! may prove only its own entries (`/v1/proof/{id}`), while the checkpoint and consistency
//! proofs, which show no entry (only the log's size and hashes, see the README), are
//! open to it.
//!
//! Once a server has seen a key (at start or later) it keeps asking for one until it
//! is restarted, even when every key is revoked: an open API on whatever address keys
//! allowed it to bind would be worse than a closed one. Without keys it answers only
//! requests addressed to a loopback name (`localhost`, `127.0.0.1`, `[::1]`), 421
//! otherwise, so a web page cannot reach it through a DNS name rebound to 127.0.0.1.
//! Streamed responses opened with a key (live tail, export) end within
//! [`POLL_INTERVAL`](crate::POLL_INTERVAL) of its revocation, by any process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::BoxError;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use hawk_audit::{KeyInfo, Scope};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::{AppState, POLL_INTERVAL};

/// Routes that answer without a key: liveness and the dashboard's page and files
/// (they hold no data; the page asks for a key when the API answers 401).
const PUBLIC: &[&str] = &["/healthz", "/", "/assets/{file}", "/favicon.ico"];
/// Routes that also take the key as `?key=`: browsers' `EventSource` and download
/// links cannot send an `Authorization` header.
const KEY_IN_QUERY: &[&str] = &["/v1/stream", "/v1/export"];

/// Who is asking: the key, or nobody when the log has no keys (the API is open).
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    key: Option<KeyInfo>,
}

impl Access {
    /// The one account this caller may see, for a key bound to one.
    pub(crate) fn account(&self) -> Option<&str> {
        self.key.as_ref().and_then(|k| k.account_id.as_deref())
    }

    /// Refuses to show `account`'s entries to a key bound to another account.
    pub(crate) fn check_account(&self, account: &str) -> Result<(), ApiError> {
        match self.account() {
            Some(own) if own != account => Err(forbidden(format!(
                "this key sees only the entries of account {own:?}"
            ))),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Set by `check` on every request of `router`.
        Ok(parts
            .extensions
            .get::<Access>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The id of the key a request was made with, on its response (for the access log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyId(pub(crate) u64);

/// The ids of revoked keys, as last read from the store.
pub(crate) type Revoked = watch::Receiver<Arc<HashSet<u64>>>;

/// `stream`, ended with an error within [`POLL_INTERVAL`] of the revocation of the key
/// it was opened with (by this process or any other sharing the log), so the client
/// sees a cut-off body rather than a complete one. Unchanged without a key.
pub(crate) fn until_revoked<S, T, E>(
    state: &AppState,
    access: &Access,
    stream: S,
) -> impl Stream<Item = Result<T, BoxError>> + Send + 'static + use<S, T, E>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    let watch = access.key.as_ref().map(|k| (k.id, revoked_feed(state)));
    let stream = Box::pin(stream);
    futures_util::stream::unfold(Some((stream, watch)), |open| async move {
        let (mut stream, mut watch) = open?;
        let revoked = async {
            match &mut watch {
                Some((id, feed)) => {
                    let id = *id;
                    // An error means the feed stopped: the server is shutting down,
                    // which ends the stream by itself.
                    if feed.wait_for(|ids| ids.contains(&id)).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            () = revoked => {
                tracing::info!("ending a streamed response: its API key was revoked");
                Some((Err(BoxError::from("the API key was revoked")), None))
            }
            item = stream.next() => {
                let item = item?.map_err(Into::into);
                Some((item, Some((stream, watch))))
            }
        }
    })
}

/// The shared feed of revoked key ids: one task reads the keys every
/// [`POLL_INTERVAL`] while a keyed stream is open (reading the store, not an
/// in-process signal, so revocations by other processes count too). Started by the
/// first keyed stream; stops with the server.
fn revoked_feed(state: &AppState) -> Revoked {
    state
        .revoked
        .get_or_init(|| {
            let (feed, revoked) = watch::channel(Arc::new(HashSet::new()));
            let audit = state.audit.clone();
            let shutdown = state.shutdown.clone();
            tokio::spawn(async move {
                loop {
                    // One receiver is the feed's own, kept in the state.
                    if feed.receiver_count() > 1 {
                        match audit.keys().await {
                            Ok(keys) => {
                                let ids: HashSet<u64> = keys
                                    .iter()
                                    .filter(|k| k.revoked_at.is_some())
                                    .map(|k| k.id)
                                    .collect();
                                feed.send_if_modified(|seen| {
                                    let changed = **seen != ids;
                                    if changed {
                                        *seen = Arc::new(ids);
                                    }
                                    changed
                                });
                            }
                            Err(err) => tracing::warn!(error = %err, "cannot read the API keys"),
                        }
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            });
            revoked
        })
        .clone()
}

/// How many requests a key may make: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, on average.
    pub per_second: f64,
    /// Requests that may arrive at once after a quiet spell.
    pub burst: f64,
}

impl Default for RateLimit {
    /// 50 requests per second, bursts of 100.
    fn default() -> Self {
        RateLimit::per_second(50)
    }
}

impl RateLimit {
    /// `n` requests per second with bursts of `2n`.
    pub fn per_second(n: u32) -> Self {
        RateLimit {
            per_second: f64::from(n),
            burst: f64::from(n) * 2.0,
        }
    }
}

/// A token bucket per key.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token of key `id`'s bucket, or says how long until one is there.
    fn take(&self, id: u64, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_second, burst } = self.limit;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(id).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if per_second <= 0.0 {
            Err(Duration::from_secs(3600))
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// What a request needs: a scope, and whether a key bound to an account may use it.
fn needs(method: &Method, route: &str) -> (Scope, bool) {
    match (method.as_str(), route) {
        // Sinks hold receivers' addresses and see every account's entries.
        (_, sinks) if sinks.starts_with("/v1/sinks") => (Scope::Admin, false),
        ("GET" | "HEAD", "/metrics") => (Scope::Read, false),
        ("GET" | "HEAD", _) => (Scope::Read, true),
        ("POST", "/v1/entries" | "/v1/events") => (Scope::Write, false),
        _ => (Scope::Admin, false),
    }
}

/// Middleware: refuses non-loopback `Host`s without keys, authenticates, checks the
/// scope and the rate, and hands the handlers an [`Access`].
pub(crate) async fn check(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    if !addressed_to_loopback(&req) {
        match keys_required(&state).await {
            Ok(true) => {}
            Ok(false) => return misdirected(),
            Err(err) => return ApiError::from(err).into_response(),
        }
    }
    if route.as_deref().is_some_and(|r| {
        PUBLIC.contains(&r) || crate::input::known_params().is_undocumented_method(req.method(), r)
    }) {
        return next.run(req).await;
    }
    let presented = bearer(&req).or_else(|| {
        route
            .as_deref()
            .filter(|r| KEY_IN_QUERY.contains(r))
            .and_then(|_| query_key(req.uri().query()))
    });
    let access = match presented {
        Some(key) => match state.audit.authenticate(&key).await {
            Ok(Some(info)) => {
                state.keys_seen.store(true, Ordering::Relaxed);
                Access { key: Some(info) }
            }
            Ok(None) => return unauthorized("the API key is not valid (unknown or revoked)"),
            Err(err) => return ApiError::from(err).into_response(),
        },
        None => match keys_required(&state).await {
            Ok(false) => Access::default(),
            Ok(true) => {
                return unauthorized(
                    "an API key is required: send Authorization: Bearer KEY \
                     (create one with `hawk keys create`)",
                );
            }
            Err(err) => return ApiError::from(err).into_response(),
        },
    };
    let key_id = access.key.as_ref().map(|k| KeyId(k.id));
    let mut response = match refused(&state, &req, route.as_deref(), &access) {
        Some(refusal) => refusal,
        None => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
    };
    if let Some(id) = key_id {
        response.extensions_mut().insert(id);
    }
    response
}

/// Why a key may not make this request: its scope, its account binding or its rate.
fn refused(
    state: &AppState,
    req: &Request,
    route: Option<&str>,
    access: &Access,
) -> Option<Response> {
    let key = access.key.as_ref()?;
    let (scope, bound_ok) = needs(req.method(), route.unwrap_or(""));
    if !key.scope.covers(scope) {
        return Some(
            forbidden(format!(
                "this {} key cannot do this (it needs a {} key)",
                key.scope, scope
            ))
            .into_response(),
        );
    }
    if key.account_id.is_some() && !bound_ok {
        return Some(forbidden("a key bound to an account cannot do this").into_response());
    }
    state
        .limiter
        .take(key.id, Instant::now())
        .err()
        .map(too_many)
}

/// Whether requests need a key: once this server has seen one, always (until it is
/// restarted), even if every key has been revoked since.
pub(crate) async fn keys_required(state: &AppState) -> hawk_audit::Result<bool> {
    if state.keys_seen.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let keys = state.audit.has_keys().await?;
    if keys {
        state.keys_seen.store(true, Ordering::Relaxed);
    }
    Ok(keys)
}

/// Whether the request names a loopback host (`localhost`, `127.0.0.1` or `[::1]`,
/// any port) in its URI or `Host` header. A request naming none passes: browsers,
/// the clients a rebound name could drive, always send `Host`.
fn addressed_to_loopback(req: &Request) -> bool {
    let host = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => match req.headers().get(header::HOST) {
            None => return true,
            Some(value) => match value.to_str() {
                Ok(host) => host,
                Err(_) => return false,
            },
        },
    };
    // An authority may carry `user@`; what follows it is the host.
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|ok| name.eq_ignore_ascii_case(ok))
}

fn misdirected() -> Response {
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected",
        "Host: without API keys this server answers only requests addressed to \
         localhost, 127.0.0.1 or [::1] (so that a web page cannot reach it through a \
         rebound DNS name); create a key with `hawk keys create` to serve other names",
    )
    .field("Host")
    .into_response()
}

/// The key of an `Authorization: Bearer KEY` header.
fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_owned())
}

/// The `key` parameter of a query string.
fn query_key(query: Option<&str>) -> Option<String> {
    query_pairs(query?)
        .into_iter()
        .rev()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v)
}

pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests with this key; retry in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate_up_to_the_burst() {
        let limiter = Limiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(1, t0).is_ok());
        }
        let wait = limiter.take(1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(limiter.take(2, t0).is_ok(), "each key has its own bucket");
        assert!(limiter.take(1, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.take(1, t0 + Duration::from_millis(500)).is_err());
        // A long pause refills to the burst, no more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.take(1, later).is_ok());
        }
        assert!(limiter.take(1, later).is_err());
    }

    #[test]
    fn scopes_by_method_and_route() {
        assert_eq!(needs(&Method::GET, "/v1/entries"), (Scope::Read, true));
        assert_eq!(needs(&Method::GET, "/metrics"), (Scope::Read, false));
        assert_eq!(needs(&Method::POST, "/v1/entries"), (Scope::Write, false));
        assert_eq!(needs(&Method::POST, "/v1/events"), (Scope::Write, false));
        assert_eq!(needs(&Method::DELETE, "/v1/entries"), (Scope::Admin, false));
    }

    #[test]
    fn only_loopback_host_names_count_as_loopback() {
        let with_host = |host: &str| {
            Request::builder()
                .uri("/v1/entries")
                .header(header::HOST, host)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        for ok in [
            "localhost",
            "localhost:7433",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:7433",
            "[::1]",
            "[::1]:7433",
        ] {
            assert!(addressed_to_loopback(&with_host(ok)), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:7433",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "[::2]:7433",
            "localhost:x",
            "",
        ] {
            assert!(!addressed_to_loopback(&with_host(refused)), "{refused}");
        }
        let absolute = Request::builder()
            .uri("http://evil.example:7433/v1/entries")
            .header(header::HOST, "localhost")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(
            !addressed_to_loopback(&absolute),
            "the URI's authority wins"
        );
        let none = Request::builder()
            .uri("/v1/entries")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(addressed_to_loopback(&none));
    }

    #[test]
    fn keys_come_from_the_query_string() {
        assert_eq!(
            query_key(Some("after=3&key=hawk_ab%2Bc")).as_deref(),
            Some("hawk_ab+c")
        );
        assert_eq!(query_key(Some("after=3")), None);
        assert_eq!(query_key(None), None);
    }
}
