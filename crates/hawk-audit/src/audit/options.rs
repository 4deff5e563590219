//! `Options`: how to open an audit log.

use crate::checkpoint::{Cadence, SigningKey};
use crate::events::Events;

/// How to open an audit log.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// A bus whose events the audit listener records as entries.
    pub events: Option<Events>,
    /// The most bytes the log's file may grow to through this handle; `None`: no cap.
    pub max_size_bytes: Option<u64>,
    /// The key that signs checkpoints, and when to write them.
    pub checkpoints: Option<(SigningKey, Cadence)>,
    /// Whether a missing log is created (default `true`); see [`Options::create`].
    pub create: bool,
    /// Whether the handle only reads (default `false`); see [`Options::read_only`].
    pub read_only: bool,
    /// `log2` of the ids per chunk of the filter index of a new log (tests only).
    pub(crate) filter_chunk_bits: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events: None,
            max_size_bytes: None,
            checkpoints: None,
            create: true,
            read_only: false,
            filter_chunk_bits: None,
        }
    }
}

impl Options {
    /// Chunks of `2^bits` ids (4–20) for the filter index instead of 2^16, so that
    /// tests reach sealed chunks with a few hundred entries. A log keeps the size it
    /// was first sealed with: opening it with another fails.
    #[doc(hidden)]
    pub fn filter_chunk_bits(mut self, bits: u32) -> Self {
        self.filter_chunk_bits = Some(bits.clamp(4, 20));
        self
    }

    /// Record every event of `bus` with the supervised audit listener.
    pub fn events(mut self, bus: Events) -> Self {
        self.events = Some(bus);
        self
    }

    /// Caps a SQLite file at `bytes` (rounded down to whole pages, never below its
    /// size when opened; refused for PostgreSQL, whose server owns its space). An append that would grow it further fails with a storage error
    /// and writes nothing, as on a full disk; appends succeed again once space inside
    /// the file is freed, without reopening.
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_size_bytes = Some(bytes);
        self
    }

    /// Write a checkpoint signed by `key` at `cadence` (a background task) and one
    /// when the log is closed.
    pub fn checkpoints(mut self, key: SigningKey, cadence: Cadence) -> Self {
        self.checkpoints = Some((key, cadence));
        self
    }

    /// Whether opening may create a log that does not exist yet (default `true`): a
    /// SQLite file, or Hawk's tables in an empty PostgreSQL database. With `false`,
    /// a missing log fails with [`Error::NotFound`](crate::Error::NotFound), so a
    /// mistyped path is not taken for an empty log.
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Open for reading only (default `false`): never creates or migrates the log and
    /// starts no writer, so a file, directory or database role without write access
    /// can be read and verified. Every write through the handle fails. A log that
    /// needs a migration cannot be opened this way: the error says so. Not
    /// combinable with `events`, `checkpoints` or `max_size_bytes`.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}
