//! `verify`: re-derives the whole tree from the stored entries and checks it against
//! everything that vouches for it (stored leaf hashes, the stored tree, every stored
//! checkpoint, anchors kept elsewhere), reporting the first place they disagree.
//!
//! The store scans the log once (one snapshot, id order, each stored checkpoint handed
//! over right after the entry whose id is its size) into a `Walk`, which rebuilds the
//! `Frontier` from recomputed leaf hashes, starting from the tree a prune kept, and
//! compares:
//!
//! - ids run on without a gap (a gap: removed); a row past the stored tree, or dated
//!   before its predecessor: inserted;
//! - each stored hash against the entry's fields: modified; reordered when a later bad
//!   row's content hashes right at the first one's id and back; inserted when the row
//!   after a row hashes right one id lower;
//! - each checkpoint's signature and row against its note: forged checkpoint;
//! - the root at every checkpoint and anchor: modified, naming the range since the last
//!   root that matched; at the end, sizes claimed beyond the log: truncated; and the
//!   stored tree's root.
//!
//! After the first finding the walk goes on while anchors remain, pushing every row's
//! leaf as it reads into a second frontier, and adds what each anchor says (one that
//! disagrees replaces a finding that rests on the stored tree alone). A checkpoint with
//! no signature by the key is held while no other has one: if none does, the key is not
//! the log's (an `Invalid` error on `key`). Checkpoints agree with each other because
//! each root is recomputed from the same leaves.

use std::fmt;
use std::ops::ControlFlow;

use crate::Audit;
use crate::checkpoint::{Checkpoint, NoteError, StoredCheckpoint, VerifierKey, parse_unverified};
use crate::entry::{Entry, micros};
use crate::error::{Invalid, Result, Rule};
use crate::merkle::{EMPTY_ROOT, Frontier, Hash, leaf_hash, to_hex};
use crate::store::{ScanItem, ScannedEntry, Scanner};

/// What to check the log against.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Verify {
    /// The log's verifier key (origin and public key), from configuration. Without
    /// it, signatures are not checked: checkpoints then only vouch for what the
    /// database says about itself.
    pub key: Option<VerifierKey>,
    /// Checkpoint notes kept outside the database, each with a label (a file name)
    /// for the report.
    pub anchors: Vec<(String, String)>,
}

impl Verify {
    /// Check signatures with `key`.
    pub fn key(mut self, key: VerifierKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Also check the log against the checkpoint note `text`, called `label`.
    pub fn anchor(mut self, label: impl Into<String>, text: impl Into<String>) -> Self {
        self.anchors.push((label.into(), text.into()));
        self
    }
}

/// What kind of tampering was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TamperKind {
    /// An entry's fields or stored hash changed, or entries were rewritten with
    /// matching hashes (caught by a root).
    Modified,
    /// Entries are missing from the middle of the log.
    Removed,
    /// An entry that the tree does not account for: past the stored tree, dated
    /// before the entry preceding it, or put in the middle with the entries after it
    /// moved up one id.
    Inserted,
    /// Entries moved to other ids.
    Reordered,
    /// Entries are missing from the end of the log, below a checkpoint or anchor.
    Truncated,
    /// A checkpoint whose signature does not verify or that differs from its note.
    ForgedCheckpoint,
}

impl TamperKind {
    /// The kind in words: `modified`, `removed`, `inserted`, `reordered`,
    /// `truncated`, `forged checkpoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::Modified => "modified",
            TamperKind::Removed => "removed",
            TamperKind::Inserted => "inserted",
            TamperKind::Reordered => "reordered",
            TamperKind::Truncated => "truncated",
            TamperKind::ForgedCheckpoint => "forged checkpoint",
        }
    }
}

impl fmt::Display for TamperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first tampering found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    /// What kind.
    pub kind: TamperKind,
    /// The first id affected (for a checkpoint: its tree size; for a root that
    /// differs: the first id after the last root that matched).
    pub id: u64,
    /// What exactly disagreed.
    pub detail: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Entries read.
    pub entries: u64,
    /// The root recomputed from them (meaningful when the log is intact).
    pub root: Hash,
    /// Stored checkpoints checked.
    pub checkpoints: u64,
    /// Anchors checked.
    pub anchors: u64,
    /// Whether signatures were checked (a verifier key was given).
    pub signatures_checked: bool,
    /// Ids `1..=pruned` were removed by `prune`; the walk started from the tree they
    /// made, kept at the prune. Checkpoints and anchors of smaller trees can no longer
    /// be compared (their signatures still are).
    pub pruned: u64,
    /// The first tampering found; `None` when the log is intact.
    pub tamper: Option<Tamper>,
}

impl Report {
    /// Whether nothing was found.
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none()
    }
}

impl Audit {
    /// Reads every entry in id order (constant memory, one snapshot) and checks that
    /// ids run 1, 2, 3 …, that each entry's stored hash is the leaf hash of its
    /// fields, that times never decrease, and that the tree they make has the root of
    /// every stored checkpoint (whose signatures verify), of every anchor and of the
    /// stored tree. `progress` is told how many entries have been read, now and then.
    ///
    /// Tampering is a [`Report`] with a [`Tamper`]; `Err` means the check could not be
    /// made (the database cannot be read, an anchor is not a checkpoint, or the key
    /// signed none of the stored checkpoints and anchors: it is not the log's).
    pub async fn verify(
        &self,
        opts: Verify,
        progress: impl FnMut(u64) + Send + 'static,
    ) -> Result<Report> {
        let mut anchors = Vec::with_capacity(opts.anchors.len());
        for (label, text) in &opts.anchors {
            anchors.push(Anchor::new(label, text, opts.key.as_ref())?);
        }
        anchors.sort_by_key(|a| std::cmp::Reverse(a.checkpoint.size));
        let by_key = anchors
            .iter()
            .filter(|a| !matches!(a.forged, Some(NoteError::NotSigned(_))))
            .count() as u64;
        let walk = Walk {
            key: opts.key.clone(),
            anchors,
            stored: None,
            tree: Frontier::new(),
            prev_time: i64::MIN,
            last_good: 0,
            pruned: 0,
            pending: None,
            claimed: None,
            tamper: None,
            checkpoints: 0,
            anchors_checked: 0,
            progress: Box::new(progress),
            plain: None,
            verdicts: Vec::new(),
            from_stored_tree: false,
            by_key: if opts.key.is_some() { by_key } else { 0 },
            unsigned: None,
        };
        let walk = self.store().scan(walk).await?;
        walk.finish()
    }
}

/// An anchor: a checkpoint kept outside the database.
struct Anchor {
    label: String,
    checkpoint: Checkpoint,
    /// Why its signature failed, when it did.
    forged: Option<NoteError>,
}

impl Anchor {
    fn new(label: &str, text: &str, key: Option<&VerifierKey>) -> Result<Anchor> {
        let checkpoint = parse_unverified(text)
            .map_err(|_| Invalid::new("anchor", Rule::Malformed("is not a checkpoint note")))?;
        let forged = key.and_then(|key| key.verify(text).err());
        Ok(Anchor {
            label: label.to_owned(),
            checkpoint,
            forged,
        })
    }
}

/// A row whose stored hash disagreed; held while the rest of the log is read to tell
/// a moved entry from a changed one.
struct Pending {
    id: u64,
    entry: Option<Entry>,
    hash: Option<Vec<u8>>,
    why: String,
}

struct Walk {
    key: Option<VerifierKey>,
    /// Largest tree size first, so the next one due is at the end.
    anchors: Vec<Anchor>,
    /// The stored tree, once read (`Err`: unreadable).
    stored: Option<std::result::Result<Frontier, String>>,
    /// The tree of the entries read so far.
    tree: Frontier,
    prev_time: i64,
    /// The largest tree size whose root matched a checkpoint or anchor.
    last_good: u64,
    /// The size of the tree of pruned entries the walk started from.
    pruned: u64,
    pending: Option<Pending>,
    /// The largest tree size a checkpoint or anchor claims beyond the entries read.
    claimed: Option<(u64, String)>,
    tamper: Option<Tamper>,
    checkpoints: u64,
    anchors_checked: u64,
    progress: Box<dyn FnMut(u64) + Send>,
    /// Once `tree` stops growing (a row disagreed), the tree of every row as it reads
    /// now, so that the anchors the user gave are still checked.
    plain: Option<Frontier>,
    /// What those anchors said, for the report.
    verdicts: Vec<String>,
    /// Whether `tamper` rests on the stored tree alone, the database's own claim.
    from_stored_tree: bool,
    /// Stored checkpoints and anchors that carry a signature by the key, valid or not.
    by_key: u64,
    /// The first checkpoint with no signature by the key, while none has one: forged
    /// if another turns out to have one, else the key is not the log's.
    unsigned: Option<Tamper>,
}

/// How often progress is reported, in entries.
const PROGRESS_EVERY: u64 = 4096;

impl Scanner for Walk {
    fn visit(&mut self, item: ScanItem) -> ControlFlow<()> {
        let found = match item {
            ScanItem::Start { frontier, pruned } => {
                self.stored = Some(frontier.map_err(|e| e.to_string()));
                match pruned {
                    None => self.check_anchors(),
                    Some(Ok(tree)) => {
                        self.pruned = tree.size();
                        self.last_good = tree.size();
                        self.tree = tree;
                        // Anchors of trees the prune cut short cannot be compared.
                        self.anchors.retain(|a| a.checkpoint.size >= self.pruned);
                        self.check_anchors()
                    }
                    Some(Err(err)) => tamper(
                        TamperKind::Modified,
                        1,
                        format!("the tree kept for pruned entries is unreadable: {err}"),
                    ),
                }
            }
            ScanItem::Entry(row) => {
                let leaf = row.entry.as_ref().ok().map(leaf_hash);
                if self.tamper.is_some() {
                    self.push_plain(leaf);
                    return self.go_on();
                }
                let size = self.tree.size();
                let found = self.entry(row, leaf);
                if found.is_some() {
                    self.tamper = found;
                }
                if self.tree.size() == size {
                    self.push_plain(leaf);
                }
                None
            }
            ScanItem::Checkpoint(_) if self.tamper.is_some() => None,
            ScanItem::Checkpoint(stored) => self.checkpoint(stored),
        };
        if let Some(found) = found
            && self.tamper.is_none()
        {
            self.tamper = Some(found);
        }
        self.go_on()
    }
}

fn tamper(kind: TamperKind, id: u64, detail: impl Into<String>) -> Option<Tamper> {
    Some(Tamper {
        kind,
        id,
        detail: detail.into(),
    })
}

impl Walk {
    /// Once something was found, the walk goes on only to check the anchors the user
    /// gave: they are the evidence kept outside the database.
    fn go_on(&self) -> ControlFlow<()> {
        if self.tamper.is_some() && self.anchors.is_empty() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Adds a row that `tree` did not take to the tree of the rows as they read, and
    /// checks the anchors due at its size against it.
    fn push_plain(&mut self, leaf: Option<Hash>) {
        let plain = self.plain.get_or_insert_with(|| self.tree.clone());
        if let Some(leaf) = leaf {
            plain.push(leaf);
        }
        let size = plain.size();
        let mut root = None;
        while let Some(anchor) = self.anchors.last() {
            if anchor.checkpoint.size > size {
                break;
            }
            let Some(anchor) = self.anchors.pop() else {
                break;
            };
            if anchor.checkpoint.size < size {
                continue;
            }
            self.anchors_checked += 1;
            let what = format!("anchor {}", anchor.label);
            // Computed only when an anchor is due: most rows have none.
            let root = *root.get_or_insert_with(|| match &self.plain {
                Some(plain) if size > 0 => plain.root(),
                _ => EMPTY_ROOT,
            });
            let verdict = match &anchor.forged {
                Some(err) if !self.key_unproven(err) => format!("{what}: {err}"),
                _ if root == anchor.checkpoint.root => {
                    format!("{what} vouches for entries 1 to {size} as they read now")
                }
                _ => {
                    let from = self.last_good + 1;
                    let found = Tamper {
                        kind: TamperKind::Modified,
                        id: from,
                        detail: format!(
                            "the root of entries 1 to {size} differs from the {what}: an entry \
                             from {from} to {size} was rewritten"
                        ),
                    };
                    // The anchor outweighs what the database says about itself.
                    if self.from_stored_tree
                        && let Some(first) = self.tamper.replace(found)
                    {
                        self.from_stored_tree = false;
                        format!(
                            "also: {} at entry {}: {}",
                            first.kind, first.id, first.detail
                        )
                    } else {
                        format!("{what}: entries 1 to {size} as they read now differ from it")
                    }
                }
            };
            self.verdicts.push(verdict);
        }
    }

    /// Whether `err` may only mean that the key given is not the log's.
    fn key_unproven(&self, err: &NoteError) -> bool {
        matches!(err, NoteError::NotSigned(_)) && self.by_key == 0
    }

    fn stored_size(&self) -> Option<u64> {
        match &self.stored {
            Some(Ok(frontier)) => Some(frontier.size()),
            _ => None,
        }
    }

    fn entry(&mut self, row: ScannedEntry, leaf: Option<Hash>) -> Option<Tamper> {
        if self.pending.is_some() {
            return self.look_ahead(row);
        }
        let expected = self.tree.size() + 1;
        let id = match u64::try_from(row.id) {
            Ok(id) if id >= expected => id,
            _ => {
                return tamper(
                    TamperKind::Inserted,
                    expected,
                    format!("a row with id {} before entry {expected}", row.id),
                );
            }
        };
        if id > expected {
            let detail = if id == expected + 1 {
                format!("entry {expected} is missing")
            } else {
                format!("entries {expected} to {} are missing", id - 1)
            };
            return tamper(TamperKind::Removed, expected, detail);
        }
        if let Some(size) = self.stored_size()
            && id > size
        {
            self.from_stored_tree = true;
            return tamper(
                TamperKind::Inserted,
                id,
                format!("entry {id} is past the stored tree, which covers {size} entries"),
            );
        }
        let entry = match row.entry {
            Ok(entry) => entry,
            Err(err) => {
                self.pending = Some(Pending {
                    id,
                    entry: None,
                    hash: row.hash,
                    why: format!("the row cannot be read as an entry ({err})"),
                });
                return None;
            }
        };
        let leaf = leaf.unwrap_or_else(|| leaf_hash(&entry));
        if row.hash.as_deref() != Some(&leaf[..]) {
            // Rows moved up one id, each keeping its hash, make room for a row put in
            // before them (its own hash made right).
            let before = id - 1;
            if before > self.pruned
                && row.hash.as_deref()
                    == Some(
                        &leaf_hash(&Entry {
                            id: before,
                            ..entry.clone()
                        })[..],
                    )
            {
                return tamper(
                    TamperKind::Inserted,
                    before,
                    format!(
                        "entry {before} was inserted: entry {id} carries the hash it had as \
                         entry {before}, so the entries from there on moved up one id"
                    ),
                );
            }
            let why = match &row.hash {
                None => "the stored hash is missing".to_owned(),
                Some(_) => "the stored hash is not the hash of its fields".to_owned(),
            };
            self.pending = Some(Pending {
                id,
                entry: Some(entry),
                hash: row.hash,
                why,
            });
            return None;
        }
        let time = micros(entry.inserted_at);
        if time < self.prev_time {
            return tamper(
                TamperKind::Inserted,
                id,
                format!("entry {id} is dated before entry {}", id - 1),
            );
        }
        self.prev_time = time;
        self.tree.push(leaf);
        if self.tree.size().is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(self.tree.size());
        }
        self.check_anchors()
    }

    /// After a row whose hash disagreed: a later row that disagrees too tells whether
    /// the two swapped places (each one's content hashes right at the other's id).
    fn look_ahead(&mut self, row: ScannedEntry) -> Option<Tamper> {
        let pending = self.pending.as_ref()?;
        let Ok(j) = u64::try_from(row.id) else {
            return None;
        };
        let Ok(entry) = row.entry else { return None };
        let here = leaf_hash(&entry);
        if row.hash.as_deref() == Some(&here[..]) {
            return None;
        }
        let hashes = [pending.hash.as_deref(), row.hash.as_deref()];
        let fits = |leaf: Hash| hashes.contains(&Some(&leaf[..]));
        let moved_here = fits(leaf_hash(&Entry {
            id: pending.id,
            ..entry.clone()
        }));
        let moved_there = pending
            .entry
            .as_ref()
            .is_some_and(|e| fits(leaf_hash(&Entry { id: j, ..e.clone() })));
        let i = pending.id;
        if moved_here && !moved_there && j == i + 1 {
            // The row after a bad one hashes right one id lower: it moved up to make
            // room for the bad one, which is not anywhere else.
            return tamper(
                TamperKind::Inserted,
                i,
                format!(
                    "entry {i} was inserted: entry {j} carries the hash it had as entry {i}, \
                     so the entries from there on moved up one id"
                ),
            );
        }
        if moved_here || moved_there {
            return tamper(
                TamperKind::Reordered,
                i,
                format!("entries {i} and {j} changed places"),
            );
        }
        tamper(
            TamperKind::Modified,
            i,
            format!("entry {i}: {}", pending.why),
        )
    }

    fn checkpoint(&mut self, stored: StoredCheckpoint) -> Option<Tamper> {
        if self.pending.is_some() {
            return None;
        }
        self.checkpoints += 1;
        let size = stored.size;
        let mut signed = self.key.is_some();
        let parsed = match &self.key {
            Some(key) => match key.verify(&stored.note) {
                Err(err) if self.key_unproven(&err) => {
                    // Forged, or the key given is not the log's: told apart by the
                    // other checkpoints. Meanwhile the note is checked as unsigned.
                    self.unsigned.get_or_insert(Tamper {
                        kind: TamperKind::ForgedCheckpoint,
                        id: size,
                        detail: format!("stored checkpoint of size {size}: {err}"),
                    });
                    signed = false;
                    parse_unverified(&stored.note)
                }
                Err(err @ (NoteError::NotSigned(_) | NoteError::Malformed(_))) => Err(err),
                result => {
                    self.by_key += 1;
                    if let Some(held) = self.unsigned.take() {
                        return Some(held);
                    }
                    result
                }
            },
            None => parse_unverified(&stored.note),
        };
        let note = match parsed {
            Ok(note) => note,
            Err(err) => {
                return tamper(
                    TamperKind::ForgedCheckpoint,
                    size,
                    format!("stored checkpoint of size {size}: {err}"),
                );
            }
        };
        if note.size != size || note.root != stored.root {
            return tamper(
                TamperKind::ForgedCheckpoint,
                size,
                format!("stored checkpoint of size {size}: its row differs from its signed note"),
            );
        }
        if size < self.pruned {
            // Signed, but of a tree whose leaves a prune removed.
            return None;
        }
        let what = format!("stored checkpoint of size {size}");
        self.check_root(&note, &what, signed)
    }

    /// Checks every anchor due at the current tree size.
    fn check_anchors(&mut self) -> Option<Tamper> {
        while let Some(anchor) = self.anchors.last() {
            if anchor.checkpoint.size != self.tree.size() {
                return None;
            }
            let anchor = self.anchors.pop()?;
            self.anchors_checked += 1;
            let what = format!("anchor {}", anchor.label);
            let mut signed = true;
            if let Some(err) = anchor.forged {
                let found = Tamper {
                    kind: TamperKind::ForgedCheckpoint,
                    id: anchor.checkpoint.size,
                    detail: format!("{what}: {err}"),
                };
                if !self.key_unproven(&err) {
                    return Some(found);
                }
                self.unsigned.get_or_insert(found);
                signed = false;
            }
            if let Some(found) = self.check_root(&anchor.checkpoint, &what, signed) {
                return Some(found);
            }
        }
        None
    }

    /// Compares the tree read so far with a checkpoint of the same size, or notes a
    /// size beyond it (checked at the end: a gap in between is found first).
    fn check_root(&mut self, checkpoint: &Checkpoint, what: &str, signed: bool) -> Option<Tamper> {
        let size = checkpoint.size;
        if size > self.tree.size() {
            if self.claimed.as_ref().is_none_or(|(s, _)| *s < size) {
                self.claimed = Some((size, what.to_owned()));
            }
            return None;
        }
        let root = if size == 0 {
            EMPTY_ROOT
        } else {
            self.tree.root()
        };
        if root == checkpoint.root {
            self.last_good = self.last_good.max(size);
            return None;
        }
        let from = self.last_good + 1;
        let unsigned = if signed {
            ""
        } else {
            " (signatures not checked: the checkpoint itself may be forged)"
        };
        tamper(
            TamperKind::Modified,
            from,
            format!(
                "the root of entries 1 to {size} differs from the {what}: an entry from {from} \
                 to {size} was rewritten{unsigned}"
            ),
        )
    }

    fn finish(mut self) -> Result<Report> {
        let found = self.tamper.is_some() || self.pending.is_some();
        if self.tamper.is_none() {
            self.tamper = self.final_checks();
        }
        if found {
            let n = self.plain.as_ref().map_or(self.tree.size(), Frontier::size);
            for anchor in self.anchors.drain(..).rev() {
                self.anchors_checked += 1;
                self.verdicts.push(format!(
                    "anchor {} covers {} entries, the log holds {n}",
                    anchor.label, anchor.checkpoint.size
                ));
            }
        }
        if let Some(held) = self.unsigned.take() {
            match &mut self.tamper {
                // No checkpoint nor anchor is signed by the key: nothing says which
                // side is wrong, and a key from the wrong file is the likelier.
                None if self.by_key == 0 => {
                    return Err(Invalid::new(
                        "key",
                        Rule::Malformed(
                            "does not match the log's signer: no stored checkpoint or anchor \
                             carries a signature by it (or every one was re-signed by another \
                             key)",
                        ),
                    )
                    .into());
                }
                None => self.tamper = Some(held),
                Some(_) if self.by_key == 0 => self.verdicts.push(
                    "no stored checkpoint or anchor carries a signature by the key given"
                        .to_owned(),
                ),
                Some(_) => {}
            }
        }
        if let Some(t) = &mut self.tamper
            && !self.verdicts.is_empty()
        {
            t.detail = format!("{}; {}", t.detail, self.verdicts.join("; "));
        }
        Ok(Report {
            entries: self.tree.size() - self.pruned,
            root: self.tree.root(),
            checkpoints: self.checkpoints,
            anchors: self.anchors_checked,
            signatures_checked: self.key.is_some(),
            pruned: self.pruned,
            tamper: self.tamper,
        })
    }

    fn final_checks(&mut self) -> Option<Tamper> {
        if let Some(pending) = &self.pending {
            let id = pending.id;
            return tamper(
                TamperKind::Modified,
                id,
                format!("entry {id}: {}", pending.why),
            );
        }
        let n = self.tree.size();
        if let Some(anchor) = self.anchors.first() {
            let what = format!("anchor {}", anchor.label);
            let size = anchor.checkpoint.size;
            if self.claimed.as_ref().is_none_or(|(s, _)| *s < size) {
                self.claimed = Some((size, what));
            }
        }
        if let Some((size, what)) = &self.claimed {
            return tamper(
                TamperKind::Truncated,
                n + 1,
                format!("the log ends at entry {n} but the {what} covers {size} entries"),
            );
        }
        match self.stored.take() {
            Some(Ok(stored)) => {
                if stored.size() > n {
                    return tamper(
                        TamperKind::Truncated,
                        n + 1,
                        format!(
                            "the log ends at entry {n} but the stored tree covers {} entries",
                            stored.size()
                        ),
                    );
                }
                if stored.root() != self.tree.root() {
                    let from = self.last_good + 1;
                    return tamper(
                        TamperKind::Modified,
                        from,
                        format!(
                            "the stored tree's root {} differs from the entries' {}: an entry \
                             from {from} to {n} was rewritten",
                            to_hex(&stored.root()),
                            to_hex(&self.tree.root())
                        ),
                    );
                }
                None
            }
            Some(Err(err)) => tamper(
                TamperKind::Modified,
                self.last_good + 1,
                format!("the stored tree cannot be read: {err}"),
            ),
            None => None,
        }
    }
}
