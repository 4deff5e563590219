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

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The algorithm byte of an Ed25519 key in the signed-note key formats.
const ALG_ED25519: u8 = 0x01;
/// The longest note Hawk reads: far more than any checkpoint needs.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines a note may carry.
const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// A tree head: which log, how many entries, and the root of their Merkle tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (the key name that signs it).
    pub origin: String,
    /// How many entries the tree covers (the newest id).
    pub size: u64,
    /// The Merkle tree hash of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body: origin, size and base64 root, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64_encode(&self.root)
        )
    }

    /// Parses a checkpoint body (`origin\nsize\nroot\n`, then optional extension
    /// lines, which are ignored).
    pub fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let Some(body) = body.strip_suffix('\n') else {
            return Err(NoteError::Malformed("the body does not end with a newline"));
        };
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::Malformed("the origin line is empty"));
        }
        let size = lines
            .next()
            .ok_or(NoteError::Malformed("the tree size line is missing"))?;
        let size = parse_decimal(size).ok_or(NoteError::Malformed(
            "the tree size is not a decimal number without leading zeros",
        ))?;
        let root = lines
            .next()
            .ok_or(NoteError::Malformed("the root hash line is missing"))?;
        let root = base64_decode(root)
            .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
            .ok_or(NoteError::Malformed(
                "the root hash is not 32 bytes in standard base64",
            ))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::Malformed("an extension line is empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

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

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key hash (first four bytes of the signature blob).
    pub key_hash: [u8; 4],
    /// The signature itself.
    pub signature: Vec<u8>,
}

/// A signed note split into its body and its signatures; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with a newline.
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Splits `text` into body and signatures, refusing anything malformed: text
    /// longer than [`MAX_NOTE_BYTES`], control characters other than newline, no
    /// blank line before the signatures, a signature line that is not
    /// `— NAME BASE64`, or no signature at all.
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("the note is too long"));
        }
        if text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{FEFF}')
        {
            return Err(NoteError::Malformed("the note holds a control character"));
        }
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed("the note does not end with a newline"));
        }
        let split = text
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        let mut signatures = Vec::new();
        for line in sigs.strip_suffix('\n').unwrap_or(sigs).split('\n') {
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
                "a signature line does not start with '— '",
            ))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("a signature line has no signature"))?;
            check_key_name(name)
                .map_err(|_| NoteError::Malformed("a signature's key name is invalid"))?;
            let blob = base64_decode(blob)
                .ok_or(NoteError::Malformed("a signature is not standard base64"))?;
            if blob.len() < 5 {
                return Err(NoteError::Malformed("a signature is too short"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_hash: blob[..4].try_into().expect("four bytes"),
                signature: blob[4..].to_vec(),
            });
            if signatures.len() > MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
        }
        if signatures.is_empty() || sigs.is_empty() {
            return Err(NoteError::Malformed("the note has no signature"));
        }
        Ok(Note {
            body: body.to_owned(),
            signatures,
        })
    }
}

/// Parses a checkpoint note without checking any signature: for notes whose origin
/// is trusted some other way (an anchor kept by the user, with no key configured).
pub fn parse_unverified(text: &str) -> Result<Checkpoint, NoteError> {
    Checkpoint::parse_body(&Note::parse(text)?.body)
}

/// Key names: non-empty, no whitespace, no `+`, no control characters.
fn check_key_name(name: &str) -> Result<(), NoteError> {
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
/// Written `PRIVATE+KEY+name+hash+base64(0x01 ‖ 32-byte seed)`; [`load_or_create_key`]
/// keeps it in a file readable by its owner only.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
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

/// The default key file of a database file: beside it, with `.key` appended
/// (`hawk.db` → `hawk.db.key`).
pub fn default_key_file(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// The default key file of the log at `url`: beside a SQLite file (see
/// [`default_key_file`]); `None` for other URLs.
pub fn default_key_file_for(url: &str) -> Option<PathBuf> {
    match crate::store::Location::parse(url).ok()? {
        crate::store::Location::Sqlite(path) => Some(default_key_file(&path)),
        crate::store::Location::Postgres(_) => None,
    }
}

/// A fresh origin for a new log: `hawk/` and 16 random hexadecimal digits.
pub fn random_origin() -> crate::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::Error::SigningKey(format!("the system gave no random bytes: {e}")))?;
    Ok(format!("hawk/{}", crate::merkle::to_hex(&bytes)))
}

/// Reads the signing key at `path`, refusing a file that others can read.
pub fn load_key(path: &Path) -> crate::Result<SigningKey> {
    let err = |msg: String| crate::Error::SigningKey(format!("{}: {msg}", path.display()));
    check_private(path).map_err(err)?;
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    SigningKey::parse(&text).map_err(|e| err(e.to_string()))
}

/// Reads the signing key at `path`, or creates it (mode 0600) with a new key named
/// `origin` (a [`random_origin`] when `None`) if there is no file yet. Two processes
/// creating it at once end up with the same key: the file appears whole or not at all.
pub fn load_or_create_key(path: &Path, origin: Option<&str>) -> crate::Result<SigningKey> {
    if path.exists() {
        return load_key(path);
    }
    let err = |msg: String| crate::Error::SigningKey(format!("{}: {msg}", path.display()));
    let name = match origin {
        Some(origin) => origin.to_owned(),
        None => random_origin()?,
    };
    let key = SigningKey::generate(&name)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(format!("{}\n", key.to_private_line()).as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(format!("cannot create the key file: {e}")));
    }
    // A hard link fails if the name exists: whoever links first wins, whole.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_key(path),
        Err(e) => Err(err(format!("cannot create the key file: {e}"))),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file is readable by others (mode {:o}); run chmod 600 on it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard, padded base64; `None` for anything that is not the canonical
/// encoding of some bytes (wrong length, other characters, non-zero spare bits).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        BASE64.iter().position(|&b| b == c).map(|v| v as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (i, quad) in bytes.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        // Canonical: the bits the padding leaves over are zero.
        if decoded[keep..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..keep]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
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
