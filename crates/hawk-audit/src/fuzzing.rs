//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not part of the
//! API and not covered by semver.

use serde_json::{Map, Value};

use crate::entry::{Entry, NewEntry, micros, time_from_micros};
use crate::error::Invalid;
use crate::merkle::{ENTRY_BYTES_VERSION, Hash, metadata_hash, to_hex, valid_leaf_hash};

/// Validates `entry` exactly as [`Audit::record`](crate::Audit::record) does; when it
/// is valid, returns the entry the store would return with this id and time (its
/// hash included) and the metadata JSON it would store.
pub fn complete(entry: NewEntry, id: u64, at_micros: i64) -> Result<(Entry, String), Invalid> {
    let valid = entry.validate()?;
    // The time as stored: out of range, it reads back as the epoch.
    let at = micros(time_from_micros(at_micros));
    let hash = valid_leaf_hash(&valid, id, at);
    let metadata_json = valid.metadata_json.clone();
    Ok((valid.into_entry(id, at, to_hex(&hash)), metadata_json))
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

/// An entry's `entry_bytes` read back by their documented layout: id, µs, the six
/// text fields (actor type and id, action, resource type and id, account) and the
/// metadata hash.
pub type EntryFields = (u64, i64, Vec<Option<String>>, Hash);

/// Decodes `entry_bytes` as documented on [`entry_bytes`](crate::merkle::entry_bytes);
/// `None` for bytes it never writes. That it can is what makes the encoding injective.
pub fn decode_entry_bytes(bytes: &[u8]) -> Option<EntryFields> {
    let (&version, rest) = bytes.split_first()?;
    if version != ENTRY_BYTES_VERSION {
        return None;
    }
    let (id, rest) = rest.split_first_chunk::<8>()?;
    let (at, mut rest) = rest.split_first_chunk::<8>()?;
    let mut texts = Vec::new();
    for _ in 0..6 {
        let (&present, tail) = rest.split_first()?;
        rest = tail;
        match present {
            0 => texts.push(None),
            1 => {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = u32::from_be_bytes(*len) as usize;
                let text = std::str::from_utf8(tail.get(..len)?).ok()?;
                texts.push(Some(text.to_owned()));
                rest = &tail[len..];
            }
            _ => return None,
        }
    }
    let hash: Hash = rest.try_into().ok()?;
    Some((
        u64::from_be_bytes(*id),
        i64::from_be_bytes(*at),
        texts,
        hash,
    ))
}

/// The fields an entry's bytes must decode to.
pub fn entry_fields(e: &Entry) -> EntryFields {
    let texts = [
        &e.actor_type,
        &e.actor_id,
        &Some(e.action.clone()),
        &e.resource_type,
        &e.resource_id,
        &e.account_id,
    ];
    (
        e.id,
        micros(e.inserted_at),
        texts.into_iter().cloned().collect(),
        metadata_hash(&e.metadata),
    )
}

/// Checks an event as [`Events::emit`](crate::Events::emit) does.
pub fn check_event(name: String, payload: Value) -> Result<(), Invalid> {
    crate::events::check_event(name, payload).map(drop)
}

/// Checks paging options as [`Audit::recent`](crate::Audit::recent) does.
pub fn check_recent(opts: &crate::Recent) -> Result<(), Invalid> {
    opts.validate()
}
