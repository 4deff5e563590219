//! The account stream: every entry of an account, newest first, in constant memory.
//!
//! It walks ranges of `STREAM_CHUNK` sequence numbers, newest first, below the
//! account's newest number when it starts, `STREAM_AHEAD` of them read at once, each on
//! its own read connection, so the next is ready when one is consumed.

use std::sync::Arc;

use futures_util::Stream;

use super::Audit;
use crate::entry::{Entry, parse_account_id};
use crate::error::Result;

/// Entries fetched per step while streaming an account: enough that a step's fixed
/// cost (a read transaction, a blocking task) is small beside its entries.
const STREAM_CHUNK: u64 = 2048;
/// Steps of an account stream read at once. Beyond the one being consumed, memory
/// holds at most this many steps.
const STREAM_AHEAD: usize = 2;

impl Audit {
    /// Every entry of `account_id`, newest first, fetched in chunks as it is consumed:
    /// memory stays constant however large the account. The stream sees the log as it
    /// was when it started.
    pub fn for_account_stream(
        &self,
        account_id: &str,
    ) -> impl Stream<Item = Result<Entry>> + Send + 'static {
        use futures_util::{StreamExt, TryStreamExt, stream};
        let store = Arc::clone(&self.store);
        let account = parse_account_id(account_id).map(str::to_owned);
        // Each account numbers its entries 1, 2, 3 … in id order, so the walk is a
        // row of sequence-number ranges known from the start, below the newest number
        // at the start (later entries are numbered above it). Knowing them lets the
        // next ranges be read while one is consumed, on their own connections.
        let chunks = async move {
            let account = account?;
            let seqs = store.account_seqs(account.clone()).await?;
            let ranges = seqs.into_iter().flat_map(|(low, high)| {
                std::iter::successors(Some(high), move |&top| {
                    top.checked_sub(STREAM_CHUNK).filter(|&next| next >= low)
                })
                .map(move |top| (top.saturating_sub(STREAM_CHUNK - 1).max(low), top))
            });
            Ok::<_, crate::Error>(
                stream::iter(ranges)
                    .map(move |(low, high)| {
                        let (store, account) = (Arc::clone(&store), account.clone());
                        async move { store.account_range(account, low, high).await }
                    })
                    .buffered(STREAM_AHEAD),
            )
        };
        let mut failed = false;
        stream::once(chunks)
            .try_flatten()
            // The first error ends the stream (checked per chunk, not per entry).
            .take_while(move |chunk| {
                let go = !failed;
                failed = chunk.is_err();
                std::future::ready(go)
            })
            .flat_map(|chunk| {
                let (entries, failed) = match chunk {
                    Ok(entries) => (entries, None),
                    Err(err) => (Vec::new(), Some(Err(err))),
                };
                stream::iter(entries.into_iter().map(Ok).chain(failed))
            })
    }
}
