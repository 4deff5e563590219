//! `GET /v1/stream`: the live tail as Server-Sent Events. Each event's id is the
//! entry id and its data the entry; a client that reconnects with `Last-Event-ID`
//! (or starts with `?after=ID`) first gets every entry it missed, so nothing is lost.
//! Then every tail waits on one head feed (`head_feed`), so idle tails cost no queries.
//! The filter parameters narrow both the replay and the live entries.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use hawk_audit::{Audit, Entry, Filter};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::Access;
use crate::error::ApiError;
use crate::filters::{self, Phrase};
use crate::input::Params;
use crate::{AppState, POLL_INTERVAL};

/// Entries read per step while catching up.
const CATCH_UP: u64 = 500;

/// Live tail of new entries (Server-Sent Events).
#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "entries",
    params(
        ("after" = Option<u64>, Query, description = "Replay every entry after this id first (the `Last-Event-ID` header, sent by\na reconnecting client, takes precedence). Default: only new entries."),
        ("key" = Option<String>, Query, description = "The API key, for clients that cannot send `Authorization` (`EventSource`)."),
        ("Last-Event-ID" = Option<u64>, Header, description = "Sent by a reconnecting `EventSource`: replay every entry after this id (takes precedence over `after`)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`: one event per entry, oldest first; `id` is the entry id, `data` the entry as JSON", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed `after` or `Last-Event-ID`", body = crate::error::ErrorBody),
        (status = 422, description = "A filter parameter breaks its rule, or `q` is not a valid phrase", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn live_tail(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    params: Params,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::BoxError>>>, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => {
            let parsed = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            Some(parsed.ok_or_else(|| {
                ApiError::bad_param("Last-Event-ID", "must be an entry id (a whole number)")
            })?)
        }
    };
    let filter = filters::filter(&params, &access, Phrase::Q)?;
    // A reconnecting browser sends Last-Event-ID and repeats the URL's `after`: the
    // header is the newer position.
    let after = match (last_event_id, params.u64("after")?) {
        (Some(id), _) => id,
        (None, Some(id)) => id,
        (None, None) => state.audit.head().await?,
    };
    let tail = Tail {
        audit: state.audit.clone(),
        head: head_feed(&state),
        shutdown: state.shutdown.clone(),
        after,
        filter,
        pending: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(tail, |mut tail| async move {
        let entry = tail.next().await?;
        Some((Ok::<_, Infallible>(sse_event(&entry)), tail))
    });
    // A comment at least every half idle timeout keeps a quiet tail from being closed
    // as idle.
    let keep_alive = (state.options.idle_timeout / 2).min(Duration::from_secs(15));
    Ok(
        Sse::new(crate::auth::until_revoked(&state, &access, events))
            .keep_alive(KeepAlive::new().interval(keep_alive.max(Duration::from_millis(100)))),
    )
}

fn sse_event(entry: &Entry) -> Event {
    Event::default()
        .id(entry.id.to_string())
        .json_data(entry)
        .expect("an entry always serializes")
}

/// The newest id of the log, shared by every live tail of this server: one task reads
/// the head when this process commits (at once) or every [`POLL_INTERVAL`] (commits of
/// other processes on the same file), so idle tails cost nothing however many there
/// are. Started by the first tail; stops with the server.
fn head_feed(state: &AppState) -> watch::Receiver<u64> {
    state
        .head_feed
        .get_or_init(|| {
            let (feed, head) = watch::channel(0);
            let audit = state.audit.clone();
            let shutdown = state.shutdown.clone();
            tokio::spawn(async move {
                let mut committed = audit.subscribe_head();
                loop {
                    committed.borrow_and_update();
                    match audit.head().await {
                        Ok(newest) => {
                            feed.send_if_modified(|seen| {
                                let newer = newest > *seen;
                                if newer {
                                    *seen = newest;
                                }
                                newer
                            });
                        }
                        Err(err) => tracing::warn!(error = %err, "live tail: cannot read the head"),
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = feed.closed() => break,
                        _ = committed.changed() => {}
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            });
            head
        })
        .clone()
}

struct Tail {
    audit: Audit,
    /// The shared feed of the newest id.
    head: watch::Receiver<u64>,
    shutdown: CancellationToken,
    /// Every entry up to this id has been handed out or queued in `pending`.
    after: u64,
    /// Only the entries it keeps (the query's filter, within the key's account).
    filter: Filter,
    pending: VecDeque<Entry>,
}

impl Tail {
    /// The next entry after `after`, waiting for one; `None` when the server stops.
    async fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(entry);
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            let newest = *self.head.borrow_and_update();
            if newest > self.after {
                let read = self
                    .audit
                    .filtered(self.filter.clone())
                    .entries_after(self.after, CATCH_UP)
                    .await;
                match read {
                    Ok(entries) => {
                        let full = entries.len() as u64 == CATCH_UP;
                        if let Some(last) = entries.last() {
                            self.after = last.id;
                        }
                        // This read's snapshot holds every entry up to `newest`: a
                        // filtered tail need not read the others again.
                        if !self.filter.is_empty() && !full {
                            self.after = self.after.max(newest);
                        }
                        if !entries.is_empty() {
                            self.pending.extend(entries);
                            continue;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "live tail: reading failed; retrying");
                        tokio::select! {
                            _ = self.shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(POLL_INTERVAL) => {}
                        }
                        continue;
                    }
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                changed = self.head.changed() => {
                    // The feed stopped: the server is shutting down.
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}
