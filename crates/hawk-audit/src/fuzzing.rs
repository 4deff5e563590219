//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not part of the
//! API and not covered by semver.

use serde_json::{Map, Value};

use crate::entry::{Entry, NewEntry, time_from_micros};
use crate::error::Invalid;
use crate::merkle::{leaf_hash, to_hex};

/// Validates `entry` exactly as [`Audit::record`](crate::Audit::record) does; when it
/// is valid, returns the entry the store would return with this id and time (its
/// hash included) and the metadata JSON it would store.
pub fn complete(entry: NewEntry, id: u64, at_micros: i64) -> Result<(Entry, String), Invalid> {
    let valid = entry.validate()?;
    let mut entry = Entry {
        id,
        inserted_at: time_from_micros(at_micros),
        actor_type: valid.actor_type,
        actor_id: valid.actor_id,
        action: valid.action,
        resource_type: valid.resource_type,
        resource_id: valid.resource_id,
        account_id: valid.account_id,
        metadata: valid.metadata,
        hash: String::new(),
    };
    entry.hash = to_hex(&leaf_hash(&entry));
    Ok((entry, valid.metadata_json))
}

/// An entry with exactly these fields, unvalidated: actor type and id, action,
/// resource type and id, account, in that order.
pub fn raw_entry(
    id: u64,
    at_micros: i64,
    texts: [Option<String>; 6],
    metadata: Map<String, Value>,
) -> Entry {
    let [
        actor_type,
        actor_id,
        action,
        resource_type,
        resource_id,
        account_id,
    ] = texts;
    Entry {
        id,
        inserted_at: time_from_micros(at_micros),
        actor_type,
        actor_id,
        action: action.unwrap_or_default(),
        resource_type,
        resource_id,
        account_id,
        metadata,
        hash: String::new(),
    }
}

/// Checks an event as [`Events::emit`](crate::Events::emit) does.
pub fn check_event(name: String, payload: Value) -> Result<(), Invalid> {
    crate::events::check_event(name, payload).map(drop)
}

/// Checks paging options as [`Audit::recent`](crate::Audit::recent) does.
pub fn check_recent(opts: &crate::Recent) -> Result<(), Invalid> {
    opts.validate()
}
