//! Idempotency keys as the caller gives them: a key's rules, and the digest of the
//! entries it stands for, by which a repeat is told from another request. A key is not
//! part of any entry: it never reaches the leaf hash. What a writer decides under its
//! lock is `store::idempotency`'s.

use sha2::{Digest, Sha256};

use crate::entry::ValidEntry;
use crate::error::{Invalid, Rule};
use crate::merkle::canonical_metadata;

/// Longest key, in bytes (every character is ASCII).
pub(crate) const MAX_KEY_LEN: usize = 255;

/// An append's idempotency key and the digest of its validated entries.
#[derive(Debug, Clone)]
pub(crate) struct Keyed {
    pub(crate) key: String,
    pub(crate) digest: [u8; 32],
}

impl Keyed {
    /// Checks `key` and digests `entries`.
    pub(crate) fn new(key: &str, entries: &[ValidEntry]) -> Result<Keyed, Invalid> {
        Ok(Keyed {
            key: parse_key(key)?.to_owned(),
            digest: digest(entries),
        })
    }
}

/// A key's rules: 1 to 255 printable ASCII characters (U+0020 to U+007E).
pub(crate) fn parse_key(key: &str) -> Result<&str, Invalid> {
    const FIELD: &str = "idempotency_key";
    if key.is_empty() {
        return Err(Invalid::new(FIELD, Rule::Empty));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Invalid::new(
            FIELD,
            Rule::TooLong {
                max: MAX_KEY_LEN,
                unit: "characters",
            },
        ));
    }
    if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(Invalid::new(
            FIELD,
            Rule::Malformed("must be printable ASCII (U+0020-U+007E)"),
        ));
    }
    Ok(key)
}

/// SHA-256 of the entries as validated: every field, length-prefixed, and the
/// canonical metadata. Equal exactly for equal requests, whatever their JSON layout.
pub(crate) fn digest(entries: &[ValidEntry]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"hawk idempotency v1");
    hash.update((entries.len() as u64).to_be_bytes());
    let mut field = |value: Option<&[u8]>| match value {
        None => hash.update([0]),
        Some(bytes) => {
            hash.update([1]);
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        }
    };
    for entry in entries {
        field(Some(entry.action.as_bytes()));
        field(text(&entry.actor_type));
        field(text(&entry.actor_id));
        field(text(&entry.resource_type));
        field(text(&entry.resource_id));
        field(text(&entry.account_id));
        field(Some(&canonical_metadata(&entry.metadata)));
    }
    hash.finalize().into()
}

fn text(value: &Option<String>) -> Option<&[u8]> {
    value.as_deref().map(str::as_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::NewEntry;
    use serde_json::json;

    fn valid(entries: Vec<NewEntry>) -> Vec<ValidEntry> {
        entries.into_iter().map(|e| e.validate().unwrap()).collect()
    }

    #[test]
    fn keys_are_printable_ascii_of_at_most_255() {
        assert!(parse_key("a").is_ok());
        assert!(parse_key(&"k".repeat(255)).is_ok());
        assert!(parse_key(" ~!").is_ok());
        let msg = |k: &str| parse_key(k).unwrap_err().to_string();
        assert_eq!(msg(""), "idempotency_key: must not be empty");
        assert_eq!(
            msg(&"k".repeat(256)),
            "idempotency_key: must be at most 255 characters"
        );
        for bad in ["a\tb", "é", "a\u{7f}"] {
            assert_eq!(
                msg(bad),
                "idempotency_key: must be printable ASCII (U+0020-U+007E)"
            );
        }
    }

    #[test]
    fn the_digest_covers_every_field_and_not_the_json_layout() {
        let base = || {
            NewEntry::new("a.b")
                .account("acme")
                .metadata(json!({"x": 1, "y": [1, 2]}))
        };
        let same = NewEntry::new(" a.b ")
            .account("acme")
            .metadata(json!({"y": [1, 2], "x": 1}));
        let d = digest(&valid(vec![base()]));
        assert_eq!(d, digest(&valid(vec![same])));
        let others = [
            valid(vec![base().metadata(json!({"x": 2, "y": [1, 2]}))]),
            valid(vec![base().account("acme2")]),
            valid(vec![
                NewEntry::new("a.b").metadata(json!({"x": 1, "y": [1, 2]})),
            ]),
            valid(vec![base(), base()]),
            // A value moved from one field to the next is another request.
            valid(vec![
                NewEntry::new("a.b").actor(Some(&crate::Ref::new("a", "bc"))),
            ]),
            valid(vec![
                NewEntry::new("a.b").actor(Some(&crate::Ref::new("ab", "c"))),
            ]),
        ];
        for other in &others {
            assert_ne!(d, digest(other));
        }
        assert_ne!(digest(&others[4]), digest(&others[5]));
    }
}
