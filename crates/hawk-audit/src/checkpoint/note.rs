//! The signed-note format: a note split into its body and signature lines, and the
//! checkpoint body it carries.

use super::NoteError;
use super::base64::{base64_decode, base64_encode};
use super::keys::check_key_name;
use crate::merkle::Hash;

/// The longest note Hawk reads: far more than any checkpoint needs.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines a note may carry.
const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: an em dash and a space.
pub(super) const SIG_PREFIX: &str = "\u{2014} ";

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
