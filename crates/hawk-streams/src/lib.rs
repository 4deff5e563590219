//! Log streams: every entry of a Hawk log (or those a sink's filter keeps) delivered
//! to the systems security teams read, in id order, at least once, surviving crashes,
//! restarts and receivers that are down for hours.
//!
//! The sinks and their cursors live in the log's own database
//! ([`hawk_audit::Audit::add_sink`] and kin), so every `hawk serve` on one PostgreSQL
//! shares them; [`Streams`] runs the deliveries of one process. How a delivery stays
//! exact is in [`deliver`]'s documentation; each kind of receiver is a module
//! ([`webhook`], [`nats`], [`s3`]).

mod backoff;
pub mod deliver;
mod kind;
pub mod nats;
pub mod s3;
pub mod webhook;

use hawk_audit::Entry;

pub use deliver::{Streams, StreamsOptions};
pub use kind::NewKind;

/// One delivery: the entries of a sink above `after` through `last` that its filter
/// keeps, in id order.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The sink's name.
    pub sink: String,
    /// The sink's replays so far.
    pub epoch: u64,
    /// The cursor the batch was read from.
    pub after: u64,
    /// The last id the batch covers (its last entry's, or beyond when the filter
    /// skipped the ids after it).
    pub last: u64,
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
    /// The log's signed checkpoint covering the last entry, for kinds that store it
    /// beside the batch (`s3`).
    pub checkpoint: Option<String>,
}

impl Batch {
    /// The batch's delivery id: the same for every send of these entries within one
    /// epoch (a retry, or a send again after a crash), different otherwise, so a
    /// receiver can drop what it has seen.
    pub fn id(&self) -> String {
        format!(
            "msg_{}_{}_{}_{}",
            self.sink, self.epoch, self.after, self.last
        )
    }
}
