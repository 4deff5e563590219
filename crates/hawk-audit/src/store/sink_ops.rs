//! What the log streams ask of a store (`crate::sinks`): the `sinks` table, read and
//! written by one set of statements that both engines run as they are.
//!
//! The statements number their parameters SQLite's way (`?1`, `?2` …); PostgreSQL
//! runs them with each `?` turned into `$` (`store::for_postgres`). Times are µs since the
//! epoch and flags are 0/1 integers in both engines, so every value binds as an `i64`
//! or a string on both.

/// The columns a [`SinkRow`] is read from, in order.
macro_rules! columns {
    () => {
        "name, kind, settings, secret, query, batch, cursor, in_flight, epoch, paused, \
         delivered, failures, last_error, last_error_at, holder, lease_until, created_at"
    };
}

/// A sink as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinkRow {
    pub(crate) name: String,
    pub(crate) kind: String,
    /// JSON text.
    pub(crate) settings: String,
    pub(crate) secret: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) batch: i64,
    pub(crate) cursor: i64,
    pub(crate) in_flight: Option<i64>,
    pub(crate) epoch: i64,
    pub(crate) paused: i64,
    pub(crate) delivered: i64,
    pub(crate) failures: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_at: Option<i64>,
    pub(crate) holder: Option<String>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) created_at: i64,
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

/// One statement on the `sinks` table and what it answers.
#[derive(Debug, Clone)]
pub(crate) struct SinkOp {
    pub(crate) sql: &'static str,
    pub(crate) params: Vec<Value>,
    pub(crate) answer: Answer,
}

impl SinkOp {
    /// Whether the statement only reads (it may run on a reader).
    pub(crate) fn reads(&self) -> bool {
        self.sql.starts_with("SELECT")
    }
}

/// What a [`SinkOp`] gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The rows it selects or returns.
    Rows,
    /// How many rows it changed.
    Changed,
}

/// The answer to a [`SinkOp`].
#[derive(Debug)]
pub(crate) enum SinkAnswer {
    Rows(Vec<SinkRow>),
    Changed(u64),
}

/// Stores a new sink; nothing when the name is taken (`ON CONFLICT DO NOTHING`).
pub(crate) const INSERT: &str = "INSERT INTO sinks (name, kind, settings, secret, query, batch, \
     cursor, paused, delivered, failures, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, 0, ?8)
     ON CONFLICT (name) DO NOTHING";

/// Every sink, by name.
pub(crate) const LIST: &str = concat!("SELECT ", columns!(), " FROM sinks ORDER BY name");

/// One sink.
pub(crate) const GET: &str = concat!("SELECT ", columns!(), " FROM sinks WHERE name = ?1");

/// Pauses (`?2` = 1) or resumes (0) a sink.
pub(crate) const SET_PAUSED: &str = "UPDATE sinks SET paused = ?2 WHERE name = ?1";

/// Removes a sink.
pub(crate) const REMOVE: &str = "DELETE FROM sinks WHERE name = ?1";

/// Moves the cursor back (or on) to `?2`, dropping the batch in flight, in a new epoch
/// (so deliveries again are not taken for retries): the holder's next step finds the
/// cursor moved and starts again from it.
pub(crate) const REPLAY: &str = "UPDATE sinks SET cursor = ?2, in_flight = NULL, \
     epoch = epoch + 1, failures = 0 WHERE name = ?1";

/// Takes or renews the lease of an active sink for holder `?2` until `?4`, when it is
/// free, expired at `?3`, or already `?2`'s; returns the sink when taken.
pub(crate) const LEASE: &str = concat!(
    "UPDATE sinks SET holder = ?2, lease_until = ?4
     WHERE name = ?1 AND paused = 0
       AND (holder IS NULL OR holder = ?2 OR lease_until IS NULL OR lease_until < ?3)
     RETURNING ",
    columns!()
);

/// Gives the lease up (a holder stopping).
pub(crate) const RELEASE: &str =
    "UPDATE sinks SET holder = NULL, lease_until = NULL WHERE name = ?1 AND holder = ?2";

/// Records the batch about to be sent (ids above the cursor `?3` up to `?4`), so that a
/// holder started after a crash sends exactly that batch again, under the same id.
pub(crate) const BEGIN: &str = "UPDATE sinks SET in_flight = ?4
     WHERE name = ?1 AND holder = ?2 AND cursor = ?3 AND paused = 0";

/// The receiver accepted the batch: the cursor moves from `?3` to `?4`, `?5` more
/// entries delivered, the failures end.
pub(crate) const ADVANCE: &str = "UPDATE sinks SET cursor = ?4, in_flight = NULL, \
     delivered = delivered + ?5, failures = 0
     WHERE name = ?1 AND holder = ?2 AND cursor = ?3";

/// A delivery failed with error `?3` at `?4`.
pub(crate) const FAILED: &str = "UPDATE sinks SET failures = failures + 1, last_error = ?3, \
     last_error_at = ?4 WHERE name = ?1 AND holder = ?2";

/// Every statement, for the test that checks SQLite numbers their parameters as
/// PostgreSQL does.
pub(crate) use super::for_postgres;

#[cfg(test)]
pub(crate) const ALL: &[&str] = &[
    INSERT, LIST, GET, SET_PAUSED, REMOVE, REPLAY, LEASE, RELEASE, BEGIN, ADVANCE, FAILED,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_question_mark_is_a_placeholder() {
        for sql in super::ALL {
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '?' {
                    assert!(chars.peek().is_some_and(char::is_ascii_digit), "{sql}");
                }
            }
            assert!(!super::for_postgres(sql).contains('?'));
        }
    }
}
