//! Entry validation and what the store completes: never a panic; a valid entry obeys
//! every rule of DESIGN.md section 1; its stored metadata reads back to the same map
//! and hash; its `entry_bytes` read back to its fields; its hash is their leaf hash.
#![no_main]

use arbitrary::Arbitrary;
use hawk_audit::merkle::{entry_bytes, leaf_hash, metadata_hash, to_hex};
use hawk_audit::{MAX_FIELD_CHARS, MAX_METADATA_BYTES, NewEntry};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[path = "common.rs"]
mod common;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    action: &'a str,
    actor_type: Option<&'a str>,
    actor_id: Option<&'a str>,
    resource_type: Option<&'a str>,
    resource_id: Option<&'a str>,
    account_id: Option<&'a str>,
    /// JSON text; any value, not only objects, to exercise the metadata rule.
    metadata: Option<&'a str>,
    id: u64,
    at: i64,
}

fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}')
}

fn check_text(value: &Option<String>) {
    if let Some(text) = value {
        assert!(
            !text.is_empty()
                && text.chars().count() <= MAX_FIELD_CHARS
                && !text.chars().any(is_control),
            "{text:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let mut entry = NewEntry::new(input.action);
    entry.actor_type = input.actor_type.map(str::to_owned);
    entry.actor_id = input.actor_id.map(str::to_owned);
    entry.resource_type = input.resource_type.map(str::to_owned);
    entry.resource_id = input.resource_id.map(str::to_owned);
    entry.account_id = input.account_id.map(str::to_owned);
    entry.metadata = input.metadata.and_then(|m| serde_json::from_str(m).ok());
    let metadata_was_object = entry.metadata.as_ref().is_none_or(Value::is_object);
    let at = common::clamp_micros(input.at);
    let (stored, metadata_json) = match hawk_audit::fuzzing::complete(entry, input.id, at) {
        Ok(done) => done,
        Err(invalid) => {
            assert!(!invalid.to_string().is_empty());
            return;
        }
    };
    assert!(metadata_was_object);

    assert_eq!(stored.action, input.action.trim());
    assert!(!stored.action.is_empty());
    assert!(stored.action.chars().count() <= MAX_FIELD_CHARS);
    assert!(!stored.action.chars().any(is_control));
    assert_eq!(stored.actor_type.is_some(), stored.actor_id.is_some());
    assert_eq!(stored.resource_type.is_some(), stored.resource_id.is_some());
    for text in [
        &stored.actor_type,
        &stored.actor_id,
        &stored.resource_type,
        &stored.resource_id,
        &stored.account_id,
    ] {
        check_text(text);
    }
    if input.account_id.is_some() {
        assert_eq!(stored.account_id.as_deref(), input.account_id);
    }

    assert!(metadata_json.len() <= MAX_METADATA_BYTES);
    let read: Map<String, Value> = serde_json::from_str(&metadata_json).expect("stored JSON");
    assert_eq!(
        read, stored.metadata,
        "metadata changed on its way through the store"
    );
    assert_eq!(metadata_hash(&read), metadata_hash(&stored.metadata));

    let bytes = entry_bytes(&stored);
    assert_eq!(common::decode(&bytes), Some(common::fields(&stored)));
    assert_eq!(stored.hash, to_hex(&leaf_hash(&stored)));
    assert!(serde_json::to_string(&stored).is_ok());
});
