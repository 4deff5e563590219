//! Following the head across processes: a dedicated connection (not a pooled one,
//! which would drop its `LISTEN` when recycled) listens on the channel that every
//! writer notifies in its commit. After each (re)connect it listens first and then
//! reads the head, so nothing committed while it was away is missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::writer::HEAD_CHANNEL;
use crate::error::{DbResult, Error, Result};
use crate::store::pending::advance_head;

/// The `application_name` of the listening connection, unless the URL sets one.
pub(super) const LISTENER_NAME: &str = "hawk (head listener)";

/// Starts the listener task; the store aborts it when dropped.
pub(super) fn spawn(
    mut config: Config,
    head: watch::Sender<u64>,
    closing: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    if config.get_application_name().is_none() {
        // So that it can be told apart in `pg_stat_activity`.
        config.application_name(LISTENER_NAME);
    }
    tokio::spawn(async move {
        const FIRST_PAUSE: Duration = Duration::from_millis(100);
        let mut pause = FIRST_PAUSE;
        loop {
            let started = tokio::time::Instant::now();
            let err = follow(&config, &head).await;
            // The process is ending (its runtime drops the connection's task first,
            // possibly while this task still runs): nothing was lost.
            if closing.load(Ordering::SeqCst) {
                return;
            }
            tracing::warn!(error = %err, "lost the head notifications; reconnecting");
            // A connection that held for a while starts the backoff afresh.
            if started.elapsed() > Duration::from_secs(60) {
                pause = FIRST_PAUSE;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    })
}

/// Listens until the connection fails; returns why.
async fn follow(config: &Config, head: &watch::Sender<u64>) -> Error {
    match listen(config, head).await {
        Ok(()) => Error::storage("the notification connection closed"),
        Err(err) => err,
    }
}

async fn listen(config: &Config, head: &watch::Sender<u64>) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await.db()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The connection delivers notifications only to whoever polls it.
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let item = match message {
                Ok(AsyncMessage::Notification(n)) => Ok(n.payload().to_owned()),
                Ok(_) => continue,
                Err(err) => Err(err),
            };
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                break;
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {HEAD_CHANNEL}"))
        .await
        .db()?;
    let newest: i64 = client
        .query_one("SELECT next_id - 1 FROM log_head WHERE id = 1", &[])
        .await
        .db()?
        .get(0);
    advance_head(head, newest as u64);
    while let Some(item) = rx.recv().await {
        if let Ok(id) = item.db()?.parse::<u64>() {
            advance_head(head, id);
        }
    }
    Ok(())
}
