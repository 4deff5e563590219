//! Shared by the targets: reading `entry_bytes` back by its documented layout (from
//! `hawk_audit::fuzzing`), and turning fuzzer input into times and metadata.
#![allow(dead_code)] // each target uses a part

pub use hawk_audit::fuzzing::{decode_entry_bytes as decode, entry_fields as fields};

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
