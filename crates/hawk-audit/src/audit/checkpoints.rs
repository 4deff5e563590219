//! The checkpoint signing task: with `Options::checkpoints`, a background task signs a
//! checkpoint at the `Cadence` (after N new entries committed here, or T with new
//! entries from any process) and once at `close`.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::checkpoint::{Cadence, SigningKey, StoredCheckpoint};
use crate::entry::micros;
use crate::error::Result;
use crate::store::Store;

/// The background task that writes checkpoints.
pub(super) struct Checkpointer {
    pub(super) key: SigningKey,
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    pub(super) task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Signs the stored tree head unless the latest checkpoint already covers it (or,
/// unless `empty`, the log is empty); returns the latest checkpoint.
pub(super) async fn sign_head(
    store: &Store,
    key: &SigningKey,
    empty: bool,
) -> Result<Option<StoredCheckpoint>> {
    let latest = store.latest_checkpoint().await?;
    let frontier = store.frontier().await?;
    match latest {
        Some(latest) if latest.size >= frontier.size() => return Ok(Some(latest)),
        None if frontier.size() == 0 && !empty => return Ok(None),
        _ => {}
    }
    let root = frontier.root();
    let note = key.sign_checkpoint(frontier.size(), root);
    store
        .insert_checkpoint(
            frontier.size(),
            root,
            note,
            micros(OffsetDateTime::now_utc()),
        )
        .await
        .map(Some)
}

/// Writes a checkpoint whenever `cadence.entries` new entries past `last` (the latest
/// checkpoint's size) have been committed through this store (`heads`), or
/// `cadence.interval` has passed with new entries (from any process); stops when
/// `stop` turns true.
pub(super) async fn write_checkpoints(
    store: Arc<Store>,
    key: SigningKey,
    (cadence, mut last): (Cadence, u64),
    mut heads: tokio::sync::watch::Receiver<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut due = tokio::time::Instant::now() + cadence.interval;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = heads.changed() => {
                if changed.is_err() {
                    return;
                }
                let head = *heads.borrow_and_update();
                if head < last.saturating_add(cadence.entries.max(1)) {
                    continue;
                }
            }
            () = tokio::time::sleep_until(due) => {}
        }
        match sign_head(&store, &key, false).await {
            Ok(latest) => last = latest.map_or(0, |c| c.size),
            Err(err) => tracing::warn!(error = %err, "could not write a checkpoint"),
        }
        due = tokio::time::Instant::now() + cadence.interval;
    }
}
