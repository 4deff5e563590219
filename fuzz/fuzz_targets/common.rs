//! Shared by the targets: reading `entry_bytes` back by its documented layout.
#![allow(dead_code)] // each target uses a part

use hawk_audit::Entry;
use hawk_audit::merkle::{Hash, metadata_hash};

/// (id, µs, the six text fields, metadata hash), read back from `entry_bytes`.
pub type Fields = (u64, i64, Vec<Option<String>>, Hash);

/// Decodes `entry_bytes` as documented on `hawk_audit::merkle::entry_bytes`.
pub fn decode(bytes: &[u8]) -> Option<Fields> {
    let (&version, rest) = bytes.split_first()?;
    if version != hawk_audit::merkle::ENTRY_BYTES_VERSION {
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
pub fn fields(e: &Entry) -> Fields {
    let micros = (e.inserted_at.unix_timestamp_nanos() / 1000) as i64;
    (
        e.id,
        micros,
        vec![
            e.actor_type.clone(),
            e.actor_id.clone(),
            Some(e.action.clone()),
            e.resource_type.clone(),
            e.resource_id.clone(),
            e.account_id.clone(),
        ],
        metadata_hash(&e.metadata),
    )
}

/// Microseconds within the years the `time` crate represents (−9999 to 9999).
pub fn clamp_micros(us: i64) -> i64 {
    us.clamp(-377_705_116_800_000_000, 253_402_300_799_999_999)
}

/// A metadata object from fuzzer text: an object as it is, any other JSON value
/// wrapped as `{"v": value}`, anything else empty.
pub fn metadata(text: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(value) => [("v".to_owned(), value)].into_iter().collect(),
        Err(_) => serde_json::Map::new(),
    }
}
