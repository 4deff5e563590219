//! `entry_bytes`: the canonical byte encoding of an entry that its leaf hash covers.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Hash, hash_leaf};
use crate::entry::{Entry, ValidEntry, micros};

/// The version byte that starts [`entry_bytes`].
pub const ENTRY_BYTES_VERSION: u8 = 1;

/// The canonical bytes of an entry, which its leaf hash covers.
///
/// Part of the offline verification contract; in order, with `‖` for concatenation:
///
/// ```text
/// entry_bytes = 0x01                        version (ENTRY_BYTES_VERSION)
///             ‖ u64be(id)
///             ‖ i64be(inserted_at)          microseconds since 1970-01-01T00:00:00Z
///             ‖ text(actor_type) ‖ text(actor_id)
///             ‖ text(action)                always present
///             ‖ text(resource_type) ‖ text(resource_id)
///             ‖ text(account_id)
///             ‖ SHA-256(canonical_metadata) 32 bytes
///
/// text(null) = 0x00
/// text(s)    = 0x01 ‖ u32be(length of s in UTF-8 bytes) ‖ UTF-8 bytes of s
/// ```
///
/// `u64be` and `i64be` are 8-byte and `u32be` 4-byte big-endian integers (`i64` in
/// two's complement). The fields have fixed widths or their own length, so the
/// encoding can be read back field by field: two entries that differ in any field,
/// `null` versus `""` included, never share bytes. For the metadata see
/// [`canonical_metadata`]. The leaf hash is `SHA-256(0x00 ‖ entry_bytes)`
/// ([`leaf_hash`]).
pub fn entry_bytes(entry: &Entry) -> Vec<u8> {
    encode(
        entry.id,
        micros(entry.inserted_at),
        texts!(entry),
        &entry.metadata,
    )
}

/// The texts of an [`Entry`] or a [`ValidEntry`] (their fields share names), in the
/// order [`entry_bytes`] has them.
macro_rules! texts {
    ($entry:expr) => {
        [
            $entry.actor_type.as_deref(),
            $entry.actor_id.as_deref(),
            Some($entry.action.as_str()),
            $entry.resource_type.as_deref(),
            $entry.resource_id.as_deref(),
            $entry.account_id.as_deref(),
        ]
    };
}
use texts;

/// The leaf hash `entry` has once committed as `id` at `at` (µs).
pub(crate) fn valid_leaf_hash(entry: &ValidEntry, id: u64, at: i64) -> Hash {
    hash_leaf(&encode(id, at, texts!(entry), &entry.metadata))
}

/// [`entry_bytes`] of the entry with these fields.
fn encode(id: u64, at: i64, texts: [Option<&str>; 6], metadata: &Map<String, Value>) -> Vec<u8> {
    let len = 1
        + 8
        + 8
        + texts
            .iter()
            .map(|t| 5 + t.map_or(0, str::len))
            .sum::<usize>()
        + 32;
    let mut out = Vec::with_capacity(len);
    out.push(ENTRY_BYTES_VERSION);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&at.to_be_bytes());
    for text in texts {
        match text {
            None => out.push(0x00),
            Some(s) => {
                // Fields are at most 255 characters (1020 bytes); u32 holds any of them.
                let n = u32::try_from(s.len()).expect("a field shorter than 4 GiB");
                out.push(0x01);
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out.extend_from_slice(&metadata_hash(metadata));
    out
}

/// The entry's leaf hash in the log's Merkle tree: `SHA-256(0x00 ‖ entry_bytes)`.
pub fn leaf_hash(entry: &Entry) -> Hash {
    hash_leaf(&entry_bytes(entry))
}

/// `SHA-256` of [`canonical_metadata`]: what [`entry_bytes`] holds for the metadata.
pub fn metadata_hash(metadata: &Map<String, Value>) -> Hash {
    Sha256::digest(canonical_metadata(metadata)).into()
}

/// The canonical JSON text of a metadata object, as UTF-8 bytes.
///
/// - No whitespace outside strings.
/// - Object members sorted by key, in ascending order of the keys' UTF-8 bytes (which
///   is Unicode code point order), at every depth; arrays keep their order.
/// - Strings as serde_json writes them: `"` and `\` as `\"` and `\\`; U+0008, U+0009,
///   U+000A, U+000C, U+000D as `\b`, `\t`, `\n`, `\f`, `\r`; other characters below
///   U+0020 as `\u00xx` with lowercase hex digits; every other character, `/` and
///   U+007F included, as its own UTF-8 bytes.
/// - Integers within the `i64`/`u64` range in plain decimal (`-7`,
///   `18446744073709551615`). Every other number is an `f64` (JSON numbers with a
///   fraction or an exponent, and integers beyond that range, are read as `f64`).
///   Take its shortest round-trip decimal digits `d1 d2 … dn` and exponent `p`, so
///   that the value is `d1.d2…dn × 10^p` (the fewest digits that read back as the
///   same `f64`; of those, the nearest to its exact value; of two as near, the one
///   whose last digit is even: what Python's `repr` and JavaScript print). For
///   `-5 <= p < 16` write plain decimal with at least one digit after the point
///   (`1.0`, `0.1`, `0.00001`, `1000000000000000.0`, `0.0`, `-0.0`); otherwise `d1`, then `.d2…dn` when `n > 1`, then `e`, the sign of `p`
///   (`+` or `-`) and its decimal digits (`1e+16`, `1.5e-7`, `5e-324`).
/// - `true`, `false`, `null` as themselves.
///
/// This is the text `serde_json::to_vec` writes (as of serde_json 1.0.154) for a `Map`
/// with its default, sorted map; here keys are sorted and the layout of numbers is
/// fixed explicitly, so the encoding stays put when that crate's features or notation
/// change. Hawk reads JSON with serde_json's `float_roundtrip`, so a number read back
/// from the store is the number that was hashed.
pub fn canonical_metadata(metadata: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_object(metadata, &mut out);
    out
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_object(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Number(number) => write_number(number, out),
        scalar => write_scalar(scalar, out),
    }
}

fn write_number(number: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(i) = number.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = number.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(f) = number.as_f64() {
        out.extend_from_slice(format_f64(f).as_bytes());
    }
}

/// Writes a finite `f64` as [`canonical_metadata`] describes.
fn format_f64(f: f64) -> String {
    // serde_json picks the digits (shortest round trip, ties to even, unlike Rust's
    // `{:e}`); the layout is fixed here so that a change in its notation cannot move
    // any hash.
    let (negative, digits, p) = decimal_parts(&serde_json::to_string(&f).unwrap_or_default());
    let sign = if negative { "-" } else { "" };
    if digits.is_empty() {
        return format!("{sign}0.0");
    }
    let mut out = String::from(sign);
    if (-5..16).contains(&p) {
        if p >= 0 {
            let whole = p as usize + 1;
            if digits.len() <= whole {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', whole - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..whole]);
                out.push('.');
                out.push_str(&digits[whole..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-p - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(if p > 0 { "e+" } else { "e-" });
        out.push_str(&p.unsigned_abs().to_string());
    }
    out
}

/// Reads a decimal number (`-12.5`, `0.00025`, `1.5e+16`, `2E-7`) as its sign, its
/// significant digits `d1 d2 … dn` (no leading or trailing zeros; empty for zero) and
/// the exponent `p` with value `d1.d2…dn × 10^p`.
fn decimal_parts(text: &str) -> (bool, String, i32) {
    let (negative, body) = match text.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let (mantissa, exp) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap_or(0)),
        None => (body, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{whole}{fraction}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_owned();
    (
        negative,
        digits,
        exp + whole.len() as i32 - 1 - leading as i32,
    )
}

fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Strings, numbers, booleans and null always serialize; a Vec never fails to grow.
    serde_json::to_writer(out, value).expect("a JSON scalar serializes");
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::entry::time_from_micros;
    use crate::merkle::to_hex;

    fn entry() -> Entry {
        Entry {
            id: 7,
            inserted_at: time_from_micros(1_764_164_701_123_456),
            actor_type: Some("user".into()),
            actor_id: Some("42".into()),
            action: "plan.upgraded".into(),
            resource_type: Some("account".into()),
            resource_id: Some("acme".into()),
            account_id: Some("acme".into()),
            metadata: json!({ "b": [1, 2.5, "x"], "a": { "z": null, "y": true } })
                .as_object()
                .cloned()
                .unwrap(),
            hash: String::new(),
        }
    }

    use crate::fuzzing::{decode_entry_bytes as decode, entry_fields as fields};

    #[test]
    fn entry_bytes_follow_the_documented_layout() {
        let e = entry();
        let mut want = vec![1];
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&1_764_164_701_123_456i64.to_be_bytes());
        for text in ["user", "42", "plan.upgraded", "account", "acme", "acme"] {
            want.push(1);
            want.extend_from_slice(&(text.len() as u32).to_be_bytes());
            want.extend_from_slice(text.as_bytes());
        }
        let canonical = br#"{"a":{"y":true,"z":null},"b":[1,2.5,"x"]}"#;
        assert_eq!(canonical_metadata(&e.metadata), canonical);
        want.extend_from_slice(&Sha256::digest(canonical));
        assert_eq!(entry_bytes(&e), want);
        assert_eq!(leaf_hash(&e), hash_leaf(&want));
        // Pinned so that any change to the encoding is seen: stored hashes depend on it.
        assert_eq!(
            to_hex(&leaf_hash(&e)),
            "ed454cb08728e8fad06becf52ac1dc390724fd6e87cd441a1bc807f1854eb4c4"
        );

        let system = Entry {
            actor_type: None,
            actor_id: None,
            resource_type: None,
            resource_id: None,
            account_id: None,
            metadata: Map::new(),
            ..entry()
        };
        let bytes = entry_bytes(&system);
        assert_eq!(bytes[17..19], [0, 0]);
        assert_eq!(bytes[19..24], [1, 0, 0, 0, 13]);
        assert_eq!(bytes[37..40], [0, 0, 0]);
        assert_eq!(bytes[40..], Sha256::digest(b"{}")[..]);
        assert_eq!(bytes.len(), 72);
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let base = entry();
        let mut variants = vec![base.clone()];
        let mut add = |change: &dyn Fn(&mut Entry)| {
            let mut e = base.clone();
            change(&mut e);
            variants.push(e);
        };
        add(&|e| e.id += 1);
        add(&|e| e.id = 1 << 56);
        add(&|e| e.inserted_at += time::Duration::microseconds(1));
        add(&|e| e.inserted_at = time_from_micros(-1));
        add(&|e| e.action.push(' '));
        add(&|e| e.action = String::new());
        add(&|e| {
            e.metadata.insert("c".into(), json!(0));
        });
        add(&|e| {
            e.metadata.insert("b".into(), json!([1, 2.5]));
        });
        add(&|e| {
            e.metadata.insert("b".into(), json!([1.0, 2.5, "x"]));
        });
        add(&|e| e.metadata.clear());
        type Slot = fn(&mut Entry) -> &mut Option<String>;
        let slots: [Slot; 5] = [
            |e| &mut e.actor_type,
            |e| &mut e.actor_id,
            |e| &mut e.resource_type,
            |e| &mut e.resource_id,
            |e| &mut e.account_id,
        ];
        for slot in slots {
            add(&|e| *slot(e) = None);
            add(&|e| *slot(e) = Some(String::new()));
            add(&|e| *slot(e) = Some("acmf".into()));
            add(&|e| *slot(e) = Some("\u{0}".into()));
        }
        let encoded: Vec<Vec<u8>> = variants.iter().map(entry_bytes).collect();
        for (i, a) in encoded.iter().enumerate() {
            assert_eq!(decode(a), Some(fields(&variants[i])), "variant {i}");
            for (j, b) in encoded.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "variants {i} and {j}");
            }
        }
    }

    #[test]
    fn neighbouring_fields_do_not_run_together() {
        let with = |t: Option<&str>, i: Option<&str>| Entry {
            actor_type: t.map(Into::into),
            actor_id: i.map(Into::into),
            ..entry()
        };
        let pairs = [
            (with(Some("ab"), Some("c")), with(Some("a"), Some("bc"))),
            (with(Some("ab"), Some("")), with(Some(""), Some("ab"))),
            (with(Some(""), None), with(None, Some(""))),
            (with(None, None), with(Some(""), Some(""))),
        ];
        for (a, b) in pairs {
            assert_ne!(entry_bytes(&a), entry_bytes(&b), "{a:?}");
        }
        // Across the action and the resource, and across metadata keys and values.
        let a = Entry {
            action: "plan.up".into(),
            resource_type: Some("graded".into()),
            ..entry()
        };
        let b = Entry {
            action: "plan.upgraded".into(),
            resource_type: Some(String::new()),
            ..entry()
        };
        assert_ne!(entry_bytes(&a), entry_bytes(&b));
        let m1 = json!({ "ab": "c" }).as_object().cloned().unwrap();
        let m2 = json!({ "a": "bc" }).as_object().cloned().unwrap();
        assert_ne!(metadata_hash(&m1), metadata_hash(&m2));
    }

    #[test]
    fn canonical_metadata_is_sorted_compact_json() {
        let value = json!({
            "é": 1, "z": { "b": [3, {"y": 1, "x": 2}], "a": "q\"\\/\n\t\u{1}\u{7f}ü" },
            "A": -0.0, "a": 1e21, "_": 18446744073709551615u64, "1": -7,
        });
        let map = value.as_object().cloned().unwrap();
        let text = String::from_utf8(canonical_metadata(&map)).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"1":-7,"A":-0.0,"_":18446744073709551615,"a":1e+21,"#,
                r#""z":{"a":"q\"\\/\n\t\u0001"#,
                "\u{7f}",
                r#"ü","b":[3,{"x":2,"y":1}]},"é":1}"#
            )
        );
        assert_eq!(canonical_metadata(&map), serde_json::to_vec(&map).unwrap());
        // What the store writes and reads back hashes the same.
        let stored = serde_json::to_string(&map).unwrap();
        let read: Map<String, Value> = serde_json::from_str(&stored).unwrap();
        assert_eq!(metadata_hash(&read), metadata_hash(&map));
    }

    #[test]
    fn floats_are_written_as_documented() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.00001, "0.00001"),
            (0.000025, "0.000025"),
            (0.000001, "1e-6"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.8, "1234567890123456.8"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-7"),
            (-1.5e300, "-1.5e+300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (12345678.9, "12345678.9"),
        ];
        for (f, want) in cases {
            assert_eq!(format_f64(f), want);
        }
        // Over many bit patterns: the same text as serde_json, reading back exactly, and
        // the same digits as Rust's shortest `{:e}` except at exact ties, where the
        // digits ending in an even digit are taken.
        let (mut x, mut ties) = (0x9e37_79b9_7f4a_7c15u64, 0);
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half anywhere, half with exponents near 1 where the notation switches.
            let bits = if i % 2 == 0 {
                x
            } else {
                x & 0x800f_ffff_ffff_ffff | ((x >> 52) % 80 + 1023 - 30) << 52
            };
            let f = f64::from_bits(bits);
            if !f.is_finite() {
                continue;
            }
            let text = format_f64(f);
            assert_eq!(text, serde_json::to_string(&f).unwrap(), "{f:e}");
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                f.to_bits(),
                "{text}"
            );
            let (_, ours, p) = decimal_parts(&text);
            let (_, rust, q) = decimal_parts(&format!("{f:e}"));
            if ours != rust {
                ties += 1;
                assert_eq!((ours.len(), p), (rust.len(), q), "{text}");
                let (a, b): (u64, u64) = (ours.parse().unwrap(), rust.parse().unwrap());
                assert_eq!(a.abs_diff(b), 1, "{text}");
                assert_eq!(a % 2, 0, "{text}");
                // The exact value of f lies halfway between the two.
                let middle = (a.min(b) * 10 + 5).to_string();
                let exact = decimal_parts(&format!("{:.800e}", f.abs()));
                assert_eq!((exact.1, exact.2), (middle, p), "{text}");
            }
        }
        assert!(ties < 200, "{ties}");
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        // A tiny alphabet, so that near collisions are common.
        proptest::option::of("[ab\u{0}é]{0,3}")
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[ab\"\\\n\u{1}é]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[ab]{0,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn any_entry() -> impl Strategy<Value = Entry> {
        (
            0u64..4,
            -2i64..2,
            (text(), text(), "[ab]{0,2}", text(), text(), text()),
            prop::collection::btree_map("[ab]{0,2}", json_value(), 0..3),
        )
            .prop_map(|(id, at, (t, i, action, rt, ri, acc), metadata)| Entry {
                id,
                inserted_at: time_from_micros(at),
                actor_type: t,
                actor_id: i,
                action,
                resource_type: rt,
                resource_id: ri,
                account_id: acc,
                metadata: metadata.into_iter().collect(),
                hash: String::new(),
            })
    }

    proptest! {
        #[test]
        fn bytes_are_equal_exactly_when_entries_are(a in any_entry(), b in any_entry()) {
            let (x, y) = (entry_bytes(&a), entry_bytes(&b));
            prop_assert_eq!(decode(&x), Some(fields(&a)));
            prop_assert_eq!(x == y, fields(&a) == fields(&b));
        }

        #[test]
        fn metadata_hash_survives_the_store(a in any_entry()) {
            let stored = serde_json::to_string(&a.metadata).unwrap();
            let read: Map<String, Value> = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(metadata_hash(&read), metadata_hash(&a.metadata));
            prop_assert_eq!(canonical_metadata(&a.metadata), stored.into_bytes());
        }
    }
}
