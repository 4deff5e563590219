//! The background task of a writable handle that seals the filter index's chunks as
//! the head passes their ends (see `postings::index`).

use std::sync::Arc;
use std::time::Duration;

use crate::postings::index::Index;
use crate::store::Store;

/// Ids a failed seal waits for before it is tried again, so that a lasting failure
/// (a full disk) costs one warning per this many entries, not one per commit.
const RETRY_AFTER: u64 = 4096;

/// The running task; it stops when the last handle is dropped or closed.
pub(super) struct Sealer {
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Sealer {
    pub(super) fn start(store: &Arc<Store>, index: &Arc<Index>) -> Arc<Sealer> {
        let (store, index) = (Arc::clone(store), Arc::clone(index));
        let mut heads = store.subscribe_head();
        let task = tokio::spawn(async move {
            // The head at which the next seal is due; 0: look at once.
            let mut due = 0;
            loop {
                let head = *heads.borrow_and_update();
                if head >= due {
                    due = match index.seal_ready(&store).await {
                        Ok(next_end) => next_end,
                        // The runtime is shutting down (a process ending without
                        // `close`): nothing to report, the next open seals.
                        Err(crate::Error::Closed) => return,
                        Err(err) => {
                            tracing::warn!(error = %err, "could not seal a chunk of the filter index; queries read it from the entries meanwhile");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            head + RETRY_AFTER
                        }
                    };
                }
                if heads.changed().await.is_err() {
                    return;
                }
            }
        });
        Arc::new(Sealer {
            task: std::sync::Mutex::new(Some(task)),
        })
    }

    fn take(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Stops the task and waits until it has ended, so that it is not polled again
    /// while the runtime shuts down; a seal in flight is rolled back or completes
    /// whole.
    pub(super) async fn stop(&self) {
        if let Some(task) = self.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        if let Some(task) = self.take() {
            task.abort();
        }
    }
}
