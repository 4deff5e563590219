//! Idempotency keys, the part both engines share: the decision each writer takes inside
//! its append transaction (new, a repeat of a stored append, or a conflict) and when it
//! sweeps expired keys. The engines keep only the SQL that reads and writes the
//! `idempotency_keys` table; the key's rules and digest are `crate::idempotency`'s.
//!
//! A key's row is read and written under the writer's lock, in the append transaction,
//! so one key never writes twice; a repeat answers the entries first stored, read by id
//! in that transaction. A key used twice in one group fails the group, which then
//! commits one append at a time. Keys older than 24 hours are swept at most hourly.

use super::group::Job;
use crate::error::{Invalid, Rule};
use crate::idempotency::Keyed;

/// How long a key is remembered from its first use: a repeat within this time returns
/// the entries first stored; after it, the key is forgotten and may be dropped.
pub(crate) const KEY_RETENTION_MICROS: i64 = 24 * 3600 * 1_000_000;
/// Expired keys are deleted at most this often per writer, in an append transaction
/// that writes a key: the table stays about one day of keys without a sweep per commit.
pub(crate) const SWEEP_EVERY_MICROS: i64 = 3600 * 1_000_000;

/// A key's row as stored.
pub(crate) struct StoredKey {
    pub(crate) digest: Vec<u8>,
    pub(crate) first_id: i64,
    pub(crate) count: i64,
    /// µs since the Unix epoch.
    pub(crate) created_at: i64,
}

/// What an append with a key does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Store the entries, and the key with them.
    New,
    /// Store nothing: answer with the `count` entries from `first_id`, stored before.
    Repeat { first_id: u64, count: u64 },
}

/// Decides, under the writer's lock, what an append of `keyed` does given the key's
/// stored row (if any) at time `now` (µs). Another request under a live key is refused.
pub(crate) fn decide(
    keyed: &Keyed,
    stored: Option<&StoredKey>,
    now: i64,
) -> Result<Decision, Invalid> {
    let Some(stored) = stored.filter(|s| now - s.created_at < KEY_RETENTION_MICROS) else {
        return Ok(Decision::New);
    };
    if stored.digest != keyed.digest {
        return Err(Invalid::new("idempotency_key", Rule::Reused));
    }
    Ok(Decision::Repeat {
        first_id: stored.first_id as u64,
        count: stored.count as u64,
    })
}

/// Whether two of `keys` are equal: such appends cannot share a transaction (the
/// second must see the first's row), so the writer commits them one by one.
pub(crate) fn repeated_within<'a>(keys: impl Iterator<Item = &'a str>) -> bool {
    let mut keys: Vec<&str> = keys.collect();
    let len = keys.len();
    keys.sort_unstable();
    keys.dedup();
    keys.len() != len
}

/// When a writer next deletes expired keys.
#[derive(Default)]
pub(crate) struct Sweep {
    next: i64,
}

impl Sweep {
    /// The cut-off (µs) at and below which keys are to be deleted in the transaction
    /// of `jobs`, if it writes a key and a sweep is due.
    pub(crate) fn due(&mut self, jobs: &[Job], now: i64) -> Option<i64> {
        let writes_keys = jobs.iter().any(Job::writes_key);
        (writes_keys && now >= self.next).then(|| {
            self.next = now + SWEEP_EVERY_MICROS;
            now - KEY_RETENTION_MICROS
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{NewEntry, ValidEntry};

    fn valid(entries: Vec<NewEntry>) -> Vec<ValidEntry> {
        entries.into_iter().map(|e| e.validate().unwrap()).collect()
    }

    #[test]
    fn a_live_key_repeats_or_conflicts_and_an_expired_one_is_new() {
        let keyed = Keyed::new("k", &valid(vec![NewEntry::new("a.b")])).unwrap();
        let stored = |digest: [u8; 32], created_at| StoredKey {
            digest: digest.to_vec(),
            first_id: 7,
            count: 1,
            created_at,
        };
        let now = 100 * KEY_RETENTION_MICROS;
        assert_eq!(decide(&keyed, None, now), Ok(Decision::New));
        let same = stored(keyed.digest, now - KEY_RETENTION_MICROS + 1);
        assert_eq!(
            decide(&keyed, Some(&same), now),
            Ok(Decision::Repeat {
                first_id: 7,
                count: 1
            })
        );
        let other = stored([0; 32], now - 1);
        assert_eq!(
            decide(&keyed, Some(&other), now).unwrap_err().rule(),
            Rule::Reused
        );
        let expired = stored([0; 32], now - KEY_RETENTION_MICROS);
        assert_eq!(decide(&keyed, Some(&expired), now), Ok(Decision::New));
    }

    #[test]
    fn sweeps_are_hourly_in_transactions_that_write_keys() {
        let job = |key: Option<&str>| {
            let entries = valid(vec![NewEntry::new("a.b")]);
            let keyed = key.map(|k| Keyed::new(k, &entries).unwrap());
            let (reply, _) = tokio::sync::oneshot::channel();
            Job::new(crate::store::group::Append {
                batch: crate::store::sequence::Batch::now(entries),
                mark: None,
                key: keyed,
                reply,
            })
        };
        let (keyed, plain) = ([job(Some("k"))], [job(None)]);
        let mut sweep = Sweep::default();
        let now = 10 * KEY_RETENTION_MICROS;
        assert_eq!(sweep.due(&plain, now), None);
        assert_eq!(sweep.due(&keyed, now), Some(now - KEY_RETENTION_MICROS));
        assert_eq!(sweep.due(&keyed, now + 1), None);
        assert!(sweep.due(&keyed, now + SWEEP_EVERY_MICROS).is_some());
    }

    #[test]
    fn repeated_keys_in_one_group_are_found() {
        assert!(!repeated_within(["a", "b"].into_iter()));
        assert!(repeated_within(["a", "b", "a"].into_iter()));
    }
}
