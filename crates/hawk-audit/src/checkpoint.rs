//! Checkpoints: the log's tree size and root, signed as a C2SP signed note.
//!
//! A checkpoint (C2SP `tlog-checkpoint`) is a note whose body is three lines: the
//! origin (which log this is), the tree size in decimal and the root hash in base64:
//!
//! ```text
//! hawk/319e9789c02ecd1c
//! 5
//! 2Yu8IeiWmSUruK38AyWg/oroJUg2+u4f4TQrR1RvqyY=
//!
//! — hawk/319e9789c02ecd1c 7Ge1T7HOrzZ4CCl4mlUNhfY1Vpx/M8Xvk1venIvI9HkK1ZPjq/Q1gYG7I1OnUplVAYRTs5WmCiGbZpjdrfK01Wp8nAQ=
//! ```
//!
//! The note (C2SP `signed-note`) is the body, a blank line, then one line per
//! signature: an em dash (U+2014), a space, the key name, a space and
//! `base64(key_hash ‖ signature)`. For Ed25519 the key hash is the first four bytes
//! of `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)` and the signature covers the body
//! exactly (every byte up to and including its last newline).
//!
//! Keys are written as in Go's `golang.org/x/mod/sumdb/note`: a verifier key is
//! `name+hash+base64(0x01 ‖ public key)` ([`VerifierKey`]), a signing key is
//! `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)` ([`SigningKey`]). Hawk names the key
//! after the origin, so one verifier key line tells a verifier both what to expect.
//!
//! The signing key lives in a file beside the log, never in the database. It is
//! created with mode 0600, written whole under a temporary name and then hard-linked
//! into place, so two processes creating it at once agree on one key; a key file that
//! others can read is refused. [`Cadence`] says how often a log signs.
//!
//! ```
//! use hawk_audit::checkpoint::VerifierKey;
//!
//! let key = VerifierKey::parse("hawk/319e9789c02ecd1c+ec67b54f+AXZWoGyA0SW+GYcLIxusfUtSktrcWV3Y3nJoGltuDBqa")?;
//! let note = "hawk/319e9789c02ecd1c\n5\n2Yu8IeiWmSUruK38AyWg/oroJUg2+u4f4TQrR1RvqyY=\n\n\
//!     \u{2014} hawk/319e9789c02ecd1c 7Ge1T7HOrzZ4CCl4mlUNhfY1Vpx/M8Xvk1venIvI9HkK1ZPjq/Q1gYG7I1OnUplVAYRTs5WmCiGbZpjdrfK01Wp8nAQ=\n";
//! let checkpoint = key.verify(note)?;
//! assert_eq!(checkpoint.size, 5);
//! assert_eq!(
//!     hawk_audit::merkle::to_hex(&checkpoint.root),
//!     "d98bbc21e89699252bb8adfc0325a0fe8ae8254836faee1fe1342b47546fab26"
//! );
//! assert!(key.verify(&note.replace("\n5\n", "\n6\n")).is_err());
//! # Ok::<(), hawk_audit::checkpoint::NoteError>(())
//! ```

mod base64;
mod key_file;
mod keys;
mod note;

pub use base64::{base64_decode, base64_encode};
pub use key_file::{
    default_key_file, default_key_file_for, load_key, load_or_create_key, random_origin,
};
pub use keys::{SigningKey, VerifierKey, key_hash};
pub use note::{Checkpoint, MAX_NOTE_BYTES, Note, NoteSignature, parse_unverified};

use crate::merkle::Hash;

/// A checkpoint as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it vouches for.
    pub size: u64,
    /// The root it vouches for (also in the note).
    pub root: Hash,
    /// The signed note, as served and exported.
    pub note: String,
    /// When it was written.
    pub created_at: time::OffsetDateTime,
}

/// When checkpoints are written: after `entries` new entries, or `interval` after the
/// last one when there are new entries; and once when the log is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// New entries that call for a checkpoint at once.
    pub entries: u64,
    /// The longest time new entries wait for a checkpoint.
    pub interval: std::time::Duration,
}

impl Default for Cadence {
    /// Every 10,000 entries or 60 seconds.
    fn default() -> Self {
        Cadence {
            entries: 10_000,
            interval: std::time::Duration::from_secs(60),
        }
    }
}

/// Why a note, a checkpoint or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text breaks the signed-note or checkpoint format.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key line breaks the key format.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// No signature line is by the verifier's key (name and key hash).
    #[error("the note carries no signature by key {0:?}")]
    NotSigned(String),
    /// A signature line by the verifier's key does not verify.
    #[error("the signature by key {0:?} does not verify")]
    BadSignature(String),
    /// The checkpoint names another log than the verifier's.
    #[error("the checkpoint is for origin {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// The origin the verifier expects.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn fixed_key() -> SigningKey {
        SigningKey {
            name: "example.com/log".into(),
            key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        }
    }

    #[test]
    fn base64_round_trips_and_refuses_non_canonical_text() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64_encode(&bytes);
            assert_eq!(base64_decode(&text).as_deref(), Some(&bytes[..]));
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        for bad in ["Zm8", "Zm9=", "Zg=a", "Z===", "Zm8=Zm8=", "Zm 8", "Zm-_"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    /// The verifier key and signature of the note package's own example
    /// (golang.org/x/mod/sumdb/note, `PeterNeumann`), an independent check of the key
    /// hash and signature layout.
    #[test]
    fn verifies_the_go_note_package_example() {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let verifier = VerifierKey::parse(vkey).unwrap();
        assert_eq!(verifier.to_string(), vkey);
        // Ed25519 is deterministic: the published signing key signs the same bytes.
        let signer = SigningKey::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .unwrap();
        assert_eq!(signer.verifier(), verifier);
        assert_eq!(
            signer.sign_note(&text[..text.find("\n\n").unwrap() + 1]),
            text
        );
        let note = Note::parse(text).unwrap();
        verifier.verify_note(&note).unwrap();
        let mut forged = note.clone();
        forged.body = forged.body.replace("answer", "Answer");
        assert_eq!(
            verifier.verify_note(&forged),
            Err(NoteError::BadSignature("PeterNeumann".into()))
        );
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_is_refused() {
        let key = fixed_key();
        let note = key.sign_checkpoint(12, [9; 32]);
        let verifier = key.verifier();
        let checkpoint = verifier.verify(&note).unwrap();
        assert_eq!(checkpoint.size, 12);
        assert_eq!(checkpoint.root, [9; 32]);
        assert!(note.starts_with("example.com/log\n12\nCQkJ"));
        // Every single-byte change to the note is refused, one way or another.
        for i in 0..note.len() {
            let mut bytes = note.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            if let Ok(text) = String::from_utf8(bytes) {
                assert!(verifier.verify(&text).is_err(), "byte {i} changed: {text}");
            }
        }
        let other = SigningKey::generate("example.com/log").unwrap();
        assert!(matches!(
            verifier.verify(&other.sign_checkpoint(12, [9; 32])),
            Err(NoteError::NotSigned(_))
        ));
        let elsewhere = SigningKey {
            name: "other.example/log".into(),
            key: key.key.clone(),
        };
        assert!(matches!(
            elsewhere.verifier().verify(&note),
            Err(NoteError::NotSigned(_))
        ));
    }

    #[test]
    fn keys_round_trip_through_their_lines() {
        let key = SigningKey::generate("hawk/abc").unwrap();
        let again = SigningKey::parse(&key.to_private_line()).unwrap();
        assert_eq!(again.verifier(), key.verifier());
        let verifier = VerifierKey::parse(&key.verifier().to_string()).unwrap();
        assert_eq!(verifier, key.verifier());
        for bad in [
            "",
            "name",
            "name+00000000",
            "name+00000000+AQ==",
            "na me+00000000+AQ==",
            "a+b+c+d",
            "a+b",
        ] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
            assert!(SigningKey::parse(&format!("PRIVATE+KEY+{bad}")).is_err());
        }
        let line = key.verifier().to_string();
        let (name, rest) = line.split_once('+').unwrap();
        let (_, blob) = rest.split_once('+').unwrap();
        assert!(VerifierKey::parse(&format!("{name}+00000000+{blob}")).is_err());
    }

    #[test]
    fn malformed_notes_are_refused_with_a_reason() {
        let key = fixed_key();
        let good = key.sign_checkpoint(3, [1; 32]);
        let cases = [
            ("", "newline"),
            ("a\n1\nAA==\n", "blank line"),
            ("a\n\n", "signature"),
            (&good.replace('\u{2014}', "-"), "'— '"),
            (&good.replace("\n3\n", "\n03\n"), "decimal"),
            (&good.replace("\n3\n", "\n-3\n"), "decimal"),
            (&good.replace("\n3\n", "\n\n"), "decimal"),
            (&good.replace('\n', "\r\n"), "control"),
            (good.trim_end(), "newline"),
        ];
        for (text, reason) in cases {
            let err = parse_unverified(text).unwrap_err();
            assert!(err.to_string().contains(reason), "{text:?}: {err}");
        }
        let huge = format!("{}\n\n\u{2014} a AAAAAAA=\n", "x".repeat(MAX_NOTE_BYTES));
        assert!(Note::parse(&huge).is_err());
    }

    proptest::proptest! {
        /// Whatever the text, parsing answers (never panics), and a note that
        /// verifies is exactly the one that was signed.
        #[test]
        fn parsing_never_panics_and_accepts_only_the_signed_note(
            text in "(?s).{0,300}",
            edits in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 0..4),
            size in proptest::prelude::any::<u64>(),
        ) {
            let _ = parse_unverified(&text);
            let _ = VerifierKey::parse(&text);
            let _ = SigningKey::parse(&text);
            let _ = base64_decode(&text);
            let key = fixed_key();
            let note = key.sign_checkpoint(size, [3; 32]);
            let mut bytes = note.clone().into_bytes();
            for (at, byte) in &edits {
                let at = at % bytes.len();
                bytes[at] = *byte;
            }
            if let Ok(edited) = String::from_utf8(bytes) {
                match key.verifier().verify(&edited) {
                    Ok(checkpoint) => {
                        proptest::prop_assert_eq!(&edited, &note);
                        proptest::prop_assert_eq!(checkpoint.size, size);
                    }
                    Err(_) => proptest::prop_assert_ne!(&edited, &note),
                }
            }
        }
    }

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hawk.db.key");
        let made = load_or_create_key(&path, Some("example.com/log")).unwrap();
        let read = load_or_create_key(&path, None).unwrap();
        assert_eq!(made.verifier(), read.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = load_key(&path).unwrap_err().to_string();
            assert!(err.contains("readable by others"), "{err}");
        }
        assert_eq!(
            default_key_file(Path::new("/data/hawk.db")),
            Path::new("/data/hawk.db.key")
        );
    }
}
