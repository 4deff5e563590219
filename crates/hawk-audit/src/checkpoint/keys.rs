//! The signed-note key formats: the verifier key and the Ed25519 signing key.

use std::fmt;

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

use super::NoteError;
use super::base64::{base64_decode, base64_encode};
use super::note::{Checkpoint, Note, SIG_PREFIX};
use crate::merkle::Hash;

/// The algorithm byte of an Ed25519 key in the signed-note key formats.
const ALG_ED25519: u8 = 0x01;

/// Key names: non-empty, no whitespace, no `+`, no control characters.
pub(super) fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(NoteError::MalformedKey(
            "a key name must be non-empty, without spaces, '+' or control characters",
        ));
    }
    Ok(())
}

/// The key hash of an Ed25519 key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
pub fn key_hash(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest: [u8; 32] = h.finalize().into();
    digest[..4].try_into().expect("four bytes")
}

/// What a verifier is configured with: the log's origin (the key name) and its
/// Ed25519 public key. Written `name+hash+base64(0x01 ‖ public key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
    hash: [u8; 4],
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            crate::merkle::to_hex(&self.hash),
            base64_encode(&blob)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        VerifierKey::parse(s)
    }
}

impl VerifierKey {
    /// Parses `name+hash+base64(0x01 ‖ public key)`; surrounding whitespace is ignored.
    pub fn parse(line: &str) -> Result<VerifierKey, NoteError> {
        let line = line.trim();
        // The base64 key may itself hold '+'.
        let mut parts = line.splitn(3, '+');
        let (Some(name), Some(hash), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::MalformedKey("expected name+hash+key"));
        };
        check_key_name(name)?;
        let blob = base64_decode(blob).ok_or(NoteError::MalformedKey("the key is not base64"))?;
        let [ALG_ED25519, key @ ..] = blob.as_slice() else {
            return Err(NoteError::MalformedKey("not an Ed25519 key"));
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 key is 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| NoteError::MalformedKey("not a valid Ed25519 public key"))?;
        let expected = key_hash(name, key.as_bytes());
        if hash.len() != 8 || crate::merkle::to_hex(&expected) != hash {
            return Err(NoteError::MalformedKey(
                "the key hash does not match the key",
            ));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key,
            hash: expected,
        })
    }

    /// The key name, which is the origin of the log it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the note's signature by this key, then parses its body as a checkpoint
    /// of this key's origin.
    pub fn verify(&self, text: &str) -> Result<Checkpoint, NoteError> {
        let note = Note::parse(text)?;
        self.verify_note(&note)?;
        let checkpoint = Checkpoint::parse_body(&note.body)?;
        if checkpoint.origin != self.name {
            return Err(NoteError::WrongOrigin {
                expected: self.name.clone(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }

    /// Checks that one of the note's signatures is this key's and is valid.
    pub fn verify_note(&self, note: &Note) -> Result<(), NoteError> {
        let mut found = false;
        for sig in &note.signatures {
            if sig.name != self.name || sig.key_hash != self.hash {
                continue;
            }
            found = true;
            let Ok(bytes) = <[u8; 64]>::try_from(sig.signature.as_slice()) else {
                continue;
            };
            let signature = ed25519_dalek::Signature::from_bytes(&bytes);
            if self.key.verify(note.body.as_bytes(), &signature).is_ok() {
                return Ok(());
            }
        }
        Err(if found {
            NoteError::BadSignature(self.name.clone())
        } else {
            NoteError::NotSigned(self.name.clone())
        })
    }
}

/// An Ed25519 signing key with its name (the log's origin).
///
/// Written `PRIVATE+KEY+name+hash+base64(0x01 ‖ 32-byte seed)`;
/// [`load_or_create_key`](super::load_or_create_key) keeps it in a file readable by its
/// owner only.
#[derive(Clone)]
pub struct SigningKey {
    pub(super) name: String,
    pub(super) key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.verifier())
    }
}

impl SigningKey {
    /// A new random key named `name` (seed from the operating system).
    pub fn generate(name: &str) -> crate::Result<SigningKey> {
        check_key_name(name).map_err(|e| crate::Error::SigningKey(e.to_string()))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            crate::Error::SigningKey(format!("the system gave no random bytes: {e}"))
        })?;
        Ok(SigningKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`.
    pub fn parse(line: &str) -> Result<SigningKey, NoteError> {
        let rest = line
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey(
                "a signing key starts with PRIVATE+KEY+",
            ))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::MalformedKey(
                "expected PRIVATE+KEY+name+hash+key",
            ));
        };
        check_key_name(name)?;
        let blob = base64_decode(blob).ok_or(NoteError::MalformedKey("the key is not base64"))?;
        let [ALG_ED25519, seed @ ..] = blob.as_slice() else {
            return Err(NoteError::MalformedKey("not an Ed25519 key"));
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 seed is 32 bytes"))?;
        let key = SigningKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        };
        if crate::merkle::to_hex(&key.verifier().hash) != hash {
            return Err(NoteError::MalformedKey(
                "the key hash does not match the key",
            ));
        }
        Ok(key)
    }

    /// The key name: the origin of the checkpoints it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The private key line (keep it secret).
    pub fn to_private_line(&self) -> String {
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            crate::merkle::to_hex(&self.verifier().hash),
            base64_encode(&blob)
        )
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            hash: key_hash(&self.name, key.as_bytes()),
            name: self.name.clone(),
            key,
        }
    }

    /// The signed note of the tree of `size` entries with root `root`, under this
    /// key's name as origin.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> String {
        let body = Checkpoint {
            origin: self.name.clone(),
            size,
            root,
        }
        .body();
        self.sign_note(&body)
    }

    /// Signs `body` (which must end with a newline) and returns the whole note.
    pub fn sign_note(&self, body: &str) -> String {
        debug_assert!(body.ends_with('\n'));
        let signature = self.key.sign(body.as_bytes());
        let mut blob = self.verifier().hash.to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.name,
            base64_encode(&blob)
        )
    }
}
