//! `entry_bytes` and `canonical_metadata` on any fields, valid or not: two entries
//! share bytes exactly when they share every field; the bytes read back to the
//! fields; canonical metadata is JSON that reads back to the same canonical bytes.
#![no_main]

use arbitrary::Arbitrary;
use hawk_audit::merkle::{canonical_metadata, entry_bytes};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[path = "common.rs"]
mod common;

#[derive(Arbitrary, Debug)]
struct Fields<'a> {
    id: u64,
    at: i64,
    texts: [Option<&'a str>; 6],
    metadata: &'a str,
}

fn entry(f: &Fields<'_>) -> hawk_audit::Entry {
    let mut texts = f.texts.map(|t| t.map(str::to_owned));
    texts[2].get_or_insert_with(String::new);
    hawk_audit::fuzzing::raw_entry(
        f.id,
        common::clamp_micros(f.at),
        texts,
        common::metadata(f.metadata),
    )
}

fuzz_target!(|pair: (Fields<'_>, Fields<'_>)| {
    let (a, b) = (entry(&pair.0), entry(&pair.1));
    let (x, y) = (entry_bytes(&a), entry_bytes(&b));
    assert_eq!(common::decode(&x), Some(common::fields(&a)));
    assert_eq!(x == y, common::fields(&a) == common::fields(&b));

    let canonical = canonical_metadata(&a.metadata);
    let read: Map<String, Value> =
        serde_json::from_slice(&canonical).expect("canonical metadata is JSON");
    assert_eq!(canonical_metadata(&read), canonical);
});
