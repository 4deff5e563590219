//! Checkpoint notes and keys (`hawk_audit::checkpoint`), as `verify` and anchors read
//! them: any text parses or is refused without a panic, and a note signed by the key
//! below verifies to exactly what was signed while every change to it is refused.
#![no_main]

use arbitrary::Arbitrary;
use hawk_audit::checkpoint::{Note, SigningKey, VerifierKey, parse_unverified};
use libfuzzer_sys::fuzz_target;

/// A fixed key for this target only (never used to sign a real log).
const KEY: &str = "PRIVATE+KEY+hawk/89ec6bf84a6cbc84+14104064+AVuCp8hthfnjB7/5ZdKBaaL0wC5sN+dFBYmGjFUkGaLJ";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Read as a note, a verifier key and a signing key.
    text: &'a str,
    /// A checkpoint to sign, then a change to its note: position and new byte.
    size: u64,
    root: [u8; 32],
    at: usize,
    byte: u8,
}

fuzz_target!(|input: Input<'_>| {
    let signer = SigningKey::parse(KEY).expect("the target's key parses");
    let verifier = signer.verifier();
    let _ = Note::parse(input.text);
    let _ = parse_unverified(input.text);
    let _ = VerifierKey::parse(input.text);
    let _ = SigningKey::parse(input.text);
    // Arbitrary text is never taken for a note this key signed, unless it is one.
    if let Ok(checkpoint) = verifier.verify(input.text) {
        let resigned = signer.sign_checkpoint(checkpoint.size, checkpoint.root);
        assert_eq!(verifier.verify(&resigned).ok(), Some(checkpoint));
    }

    let note = signer.sign_checkpoint(input.size, input.root);
    let checkpoint = verifier.verify(&note).expect("a note it signed verifies");
    assert_eq!((checkpoint.size, checkpoint.root), (input.size, input.root));
    let mut edited = note.clone().into_bytes();
    let at = input.at % edited.len();
    if edited[at] != input.byte {
        edited[at] = input.byte;
        if let Ok(text) = std::str::from_utf8(&edited) {
            assert!(verifier.verify(text).is_err(), "an edited note verified: {text:?}");
        }
    }
});
