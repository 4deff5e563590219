//! Exact answers to any filter: counts and pages at any depth from posting bitmaps.
//!
//! Every entry holds exactly one value in each [`Dim`] (a missing actor or resource
//! is the value [`NONE`]). For each value, the ids of its entries are kept as
//! compressed bitmaps, one per *chunk* of `2^chunk_bits` consecutive ids; a
//! [`Postings`] source gives, for a value, the chunks where it occurs with how many
//! entries (its *directory*), and a chunk's bitmap on demand.
//!
//! A [`Filter`] becomes a [`Plan`]: a window of ids (the time clauses, since times
//! never decrease as ids grow, and the snapshot's `as_of`), sets every entry must be
//! in, and sets it must not be in. Each set is some values of one dimension; an
//! entry holds one value per dimension, so the values of a set are disjoint and a
//! set's count in a chunk is the sum of its values' counts. Evaluation walks only the
//! chunks where every required set occurs, and answers a chunk from the directories
//! alone when one set decides it (one required set, or one excluded set, and the
//! chunk wholly inside the window); otherwise it intersects that chunk's bitmaps.
//! The total is the sum over chunks; a page skips whole chunks by their counts and
//! selects inside the one or two chunks it falls in, so any page costs the same as
//! the total. Ids are dense, so "every entry in the window" is a range and needs no
//! bitmap.

pub(crate) mod index;
mod memory;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use roaring::RoaringBitmap;
use time::OffsetDateTime;

use crate::error::Result;
use crate::filter::{Filter, Predicate};
use crate::query::Term;

#[cfg(test)]
pub(crate) use memory::MemoryPostings;

/// The value a dimension holds for an entry without an actor (or resource): no
/// stored value is empty, so the empty string cannot be mistaken for one.
pub(crate) const NONE: &str = "";

/// A property of an entry that postings are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Dim {
    Action,
    /// The actor as a pair: [`pair_key`] of its type and id.
    Actor,
    ActorType,
    /// The resource as a pair: [`pair_key`] of its type and id.
    Resource,
    ResourceType,
    Account,
}

/// The key of a type/id pair: the two joined by U+0000, which neither may hold.
pub(crate) fn pair_key(kind: &str, id: &str) -> String {
    format!("{kind}\u{0}{id}")
}

/// Where posting bitmaps come from: stored chunks, an in-memory tail, or both.
pub(crate) trait Postings {
    /// `log2` of the ids per chunk.
    fn chunk_bits(&self) -> u32;
    /// Every value of a small dimension (actions, actor and resource types), to
    /// expand a search term or an id of any type into the values it covers.
    fn values(&self, dim: Dim) -> Result<Vec<String>>;
    /// The chunks in `chunks` where `key` occurs in `dim`, ascending, each with how
    /// many entries hold it there.
    fn directory(
        &self,
        dim: Dim,
        key: &str,
        chunks: RangeInclusive<u64>,
    ) -> Result<Vec<(u64, u64)>>;
    /// The ids in `chunk` holding `key` in `dim`, as offsets from the chunk's first id
    /// (`None`: none). Shared, since sources keep them for the next query.
    fn bitmap(&self, dim: Dim, key: &str, chunk: u64) -> Result<Option<Arc<RoaringBitmap>>>;
}

/// Entries holding one of `keys` in `dim`, or the ids `lo..hi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Set {
    Values { dim: Dim, keys: Vec<String> },
    Ids { lo: u64, hi: u64 },
}

/// A filter made concrete for one snapshot: ids in `lo..=hi`, in every `include`
/// set, in no `exclude` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    lo: u64,
    hi: u64,
    include: Vec<Set>,
    exclude: Vec<Set>,
}

impl Plan {
    /// The plan of `filter` over the live ids `first..=as_of`, where `id_at(t)` is the
    /// first id inserted at or after `t` (any id past `as_of` when there is none).
    pub(crate) fn new(
        filter: &Filter,
        first: u64,
        as_of: u64,
        source: &impl Postings,
        mut id_at: impl FnMut(OffsetDateTime) -> Result<u64>,
    ) -> Result<Plan> {
        let mut plan = Plan {
            lo: first,
            hi: as_of,
            include: Vec::new(),
            exclude: Vec::new(),
        };
        for clause in filter.clauses() {
            let set = match &clause.predicate {
                Predicate::Created(range) => {
                    let lo = match range.since {
                        Some(t) => id_at(t)?,
                        None => 0,
                    };
                    let hi = match range.until {
                        Some(t) => id_at(t)?,
                        None => u64::MAX,
                    };
                    if !clause.negated {
                        // A required time range narrows the window itself.
                        plan.lo = plan.lo.max(lo);
                        plan.hi = plan.hi.min(hi.saturating_sub(1));
                        continue;
                    }
                    Set::Ids { lo, hi }
                }
                predicate => values_of(predicate, source)?,
            };
            if clause.negated {
                plan.exclude.push(set);
            } else {
                plan.include.push(set);
            }
        }
        Ok(plan)
    }

    fn is_empty(&self) -> bool {
        self.lo > self.hi
            || self
                .include
                .iter()
                .any(|set| matches!(set, Set::Values { keys, .. } if keys.is_empty()))
    }
}

/// The values of one dimension that `predicate` (not a time range) covers.
fn values_of(predicate: &Predicate, source: &impl Postings) -> Result<Set> {
    let pair = |pair_dim, type_dim, kind: &Option<String>, id: &Option<String>| -> Result<Set> {
        Ok(match (kind, id) {
            (Some(kind), Some(id)) => Set::Values {
                dim: pair_dim,
                keys: vec![pair_key(kind, id)],
            },
            (Some(kind), None) => Set::Values {
                dim: type_dim,
                keys: vec![kind.clone()],
            },
            (None, Some(id)) => Set::Values {
                dim: pair_dim,
                keys: source
                    .values(type_dim)?
                    .iter()
                    .filter(|kind| kind.as_str() != NONE)
                    .map(|kind| pair_key(kind, id))
                    .collect(),
            },
            (None, None) => Set::Values {
                dim: type_dim,
                keys: Vec::new(),
            },
        })
    };
    Ok(match predicate {
        Predicate::Actor { kind, id } => pair(Dim::Actor, Dim::ActorType, kind, id)?,
        Predicate::Resource { kind, id } => pair(Dim::Resource, Dim::ResourceType, kind, id)?,
        Predicate::System => Set::Values {
            dim: Dim::ActorType,
            keys: vec![NONE.to_owned()],
        },
        Predicate::Account(account) => Set::Values {
            dim: Dim::Account,
            keys: vec![account.clone()],
        },
        Predicate::Action(action) => Set::Values {
            dim: Dim::Action,
            keys: vec![action.clone()],
        },
        Predicate::Search(term) => {
            let term = Term::parse(Some(term));
            Set::Values {
                dim: Dim::Action,
                keys: source
                    .values(Dim::Action)?
                    .into_iter()
                    .filter(|action| term.as_ref().is_none_or(|t| t.matches(action)))
                    .collect(),
            }
        }
        Predicate::Created(_) => unreachable!("time ranges are windows, not values"),
    })
}

/// Chunk → how many entries of a set lie in it.
type Directory = BTreeMap<u64, u64>;

/// One evaluation of a plan on a source: directories and chunk answers are kept, so
/// the total and the page that follows it read each only once.
pub(crate) struct Eval<'a, S: Postings> {
    plan: &'a Plan,
    source: &'a S,
    bits: u32,
    /// Per set (includes, then excludes): chunk → entries of the set there.
    directories: Vec<Option<Directory>>,
    /// Per set, for a set of many values of a small dimension: the other values, and
    /// chunk → their entries. Where those are fewer, the set is read as the window
    /// less them: a search term matching most actions reads few bitmaps either way.
    complements: Vec<Option<(Vec<String>, Directory)>>,
    /// The candidate chunks, descending, with their exact counts.
    counts: Vec<(u64, u64)>,
}

impl<'a, S: Postings> Eval<'a, S> {
    /// Counts the plan's matches in every chunk that can hold one.
    pub(crate) fn new(plan: &'a Plan, source: &'a S) -> Result<Self> {
        let bits = source.chunk_bits();
        let mut eval = Eval {
            plan,
            source,
            bits,
            directories: Vec::new(),
            complements: Vec::new(),
            counts: Vec::new(),
        };
        if plan.is_empty() {
            return Ok(eval);
        }
        let chunks = (plan.lo >> bits)..=(plan.hi >> bits);
        let merged = |dim, keys: &[String]| -> Result<BTreeMap<u64, u64>> {
            let mut merged = BTreeMap::new();
            for key in keys {
                for (chunk, n) in source.directory(dim, key, chunks.clone())? {
                    *merged.entry(chunk).or_insert(0) += n;
                }
            }
            Ok(merged)
        };
        for set in plan.include.iter().chain(&plan.exclude) {
            let (directory, complement) = match set {
                Set::Values { dim, keys } => {
                    let complement = if keys.len() > 1 && *dim == Dim::Action {
                        let others: Vec<String> = source
                            .values(*dim)?
                            .into_iter()
                            .filter(|value| !keys.contains(value))
                            .collect();
                        let directory = merged(*dim, &others)?;
                        Some((others, directory))
                    } else {
                        None
                    };
                    (Some(merged(*dim, keys)?), complement)
                }
                Set::Ids { .. } => (None, None),
            };
            eval.directories.push(directory);
            eval.complements.push(complement);
        }
        // Candidates: the chunks of the sparsest required set that every other
        // required set occurs in too; without one, every chunk of the window.
        let required = &eval.directories[..plan.include.len()];
        let candidates: Vec<u64> = match required
            .iter()
            .flatten()
            .min_by_key(|directory| directory.len())
        {
            Some(sparsest) => sparsest
                .keys()
                .rev()
                .copied()
                .filter(|chunk| required.iter().flatten().all(|d| d.contains_key(chunk)))
                .collect(),
            None => chunks.rev().collect(),
        };
        for chunk in candidates {
            let n = eval.count_in(chunk)?;
            if n > 0 {
                eval.counts.push((chunk, n));
            }
        }
        Ok(eval)
    }

    /// Every value of a small dimension the source holds.
    pub(crate) fn values(&self, dim: Dim) -> Result<Vec<String>> {
        self.source.values(dim)
    }

    /// For each of `keys` of `dim`: how many matching entries hold it. Reads only
    /// the chunks where both the key and a match occur; a chunk wholly inside an
    /// unfiltered window is counted from the key's directory alone.
    pub(crate) fn tally(&self, dim: Dim, keys: &[String]) -> Result<Vec<u64>> {
        let mut counts = vec![0; keys.len()];
        if self.plan.is_empty() {
            return Ok(counts);
        }
        let window_only = self.plan.include.is_empty() && self.plan.exclude.is_empty();
        let candidates: BTreeMap<u64, u64> = self.counts.iter().copied().collect();
        let chunks = (self.plan.lo >> self.bits)..=(self.plan.hi >> self.bits);
        let mut matches: BTreeMap<u64, RoaringBitmap> = BTreeMap::new();
        for (count, key) in counts.iter_mut().zip(keys) {
            for (chunk, n) in self.source.directory(dim, key, chunks.clone())? {
                if !candidates.contains_key(&chunk) {
                    continue;
                }
                let (lo, hi) = self.window_in(chunk);
                if window_only && lo == 0 && hi == (1 << self.bits) - 1 {
                    *count += n;
                    continue;
                }
                let Some(bitmap) = self.source.bitmap(dim, key, chunk)? else {
                    continue;
                };
                let here = match matches.entry(chunk) {
                    std::collections::btree_map::Entry::Occupied(found) => found.into_mut(),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(self.matches_in(chunk)?)
                    }
                };
                *count += bitmap.intersection_len(here);
            }
        }
        Ok(counts)
    }

    /// The exact number of matching entries.
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// The ids of matches `offset..offset + limit`, counted from the newest, newest first.
    pub(crate) fn page(&self, offset: u64, limit: u64) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let mut skip = offset;
        for &(chunk, n) in &self.counts {
            if ids.len() as u64 >= limit {
                break;
            }
            if skip >= n {
                skip -= n;
                continue;
            }
            let matches = self.matches_in(chunk)?;
            let base = chunk << self.bits;
            let want = usize::try_from(limit - ids.len() as u64).unwrap_or(usize::MAX);
            let skip_here = usize::try_from(skip).unwrap_or(usize::MAX);
            ids.extend(
                matches
                    .iter()
                    .rev()
                    .skip(skip_here)
                    .take(want)
                    .map(|low| base + u64::from(low)),
            );
            skip = 0;
        }
        Ok(ids)
    }

    /// The oldest `limit` matching ids after `after`, oldest first: the forward walk
    /// of exports and of a live tail's replay.
    pub(crate) fn after(&self, after: u64, limit: u64) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for &(chunk, _) in self.counts.iter().rev() {
            let base = chunk << self.bits;
            if base + (1 << self.bits) <= after + 1 {
                continue;
            }
            for low in &self.matches_in(chunk)? {
                let id = base + u64::from(low);
                if id > after {
                    ids.push(id);
                    if ids.len() as u64 == limit {
                        return Ok(ids);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The window's offsets inside `chunk`, inclusive.
    fn window_in(&self, chunk: u64) -> (u32, u32) {
        let base = chunk << self.bits;
        let last = base + ((1 << self.bits) - 1);
        let lo = self.plan.lo.max(base) - base;
        let hi = self.plan.hi.min(last) - base;
        (lo as u32, hi as u32)
    }

    fn count_in(&self, chunk: u64) -> Result<u64> {
        let (lo, hi) = self.window_in(chunk);
        let whole = lo == 0 && hi == (1 << self.bits) - 1;
        let span = u64::from(hi - lo) + 1;
        let dir = |i: usize| {
            self.directories[i]
                .as_ref()
                .and_then(|d| d.get(&chunk).copied())
        };
        let (include, exclude) = (self.plan.include.len(), self.plan.exclude.len());
        match (include, exclude) {
            (0, 0) => return Ok(span),
            (1, 0) if whole => return Ok(dir(0).unwrap_or(0)),
            (0, 1) if whole && self.directories[0].is_some() => {
                return Ok(span - dir(0).unwrap_or(0));
            }
            _ => {}
        }
        Ok(self.matches_in(chunk)?.len())
    }

    /// The matching ids of `chunk`, as offsets from its first id.
    fn matches_in(&self, chunk: u64) -> Result<RoaringBitmap> {
        let (lo, hi) = self.window_in(chunk);
        let window = || {
            let mut all = RoaringBitmap::new();
            all.insert_range(lo..=hi);
            all
        };
        let mut result: Option<RoaringBitmap> = None;
        for i in 0..self.plan.include.len() {
            let bitmap = self.set_in(i, chunk, lo, hi)?;
            result = Some(match result {
                Some(acc) => acc & bitmap,
                None => bitmap,
            });
        }
        let mut result = result.unwrap_or_else(window);
        if lo > 0 {
            result.remove_range(..lo);
        }
        result.remove_range(hi + 1..);
        for (i, set) in self.plan.exclude.iter().enumerate() {
            if result.is_empty() {
                break;
            }
            match set {
                Set::Ids { lo, hi } => {
                    let base = chunk << self.bits;
                    let from = lo.saturating_sub(base).min(1 << self.bits) as u32;
                    let to = hi.saturating_sub(base).min(1 << self.bits) as u32;
                    if from < to {
                        result.remove_range(from..to);
                    }
                }
                Set::Values { .. } => {
                    result -= self.set_in(self.plan.include.len() + i, chunk, lo, hi)?;
                }
            }
        }
        Ok(result)
    }

    /// The ids of set `i` (includes, then excludes) in `chunk`, at least those in the
    /// window `lo..=hi`: the union of its values' bitmaps there, or the window less the
    /// union of the other values' when those hold fewer entries.
    fn set_in(&self, i: usize, chunk: u64, lo: u32, hi: u32) -> Result<RoaringBitmap> {
        let set = match self.plan.include.get(i) {
            Some(set) => set,
            None => &self.plan.exclude[i - self.plan.include.len()],
        };
        let Set::Values { dim, keys } = set else {
            return Ok(RoaringBitmap::new());
        };
        let here = |directory: &BTreeMap<u64, u64>| directory.get(&chunk).copied().unwrap_or(0);
        if let (Some(directory), Some((others, complement))) =
            (&self.directories[i], &self.complements[i])
            && here(complement) < here(directory)
        {
            let mut result = RoaringBitmap::new();
            result.insert_range(lo..=hi);
            for key in others {
                if let Some(bitmap) = self.source.bitmap(*dim, key, chunk)? {
                    result -= &*bitmap;
                }
            }
            return Ok(result);
        }
        let mut union: Option<RoaringBitmap> = None;
        for key in keys {
            if let Some(bitmap) = self.source.bitmap(*dim, key, chunk)? {
                match &mut union {
                    Some(union) => *union |= &*bitmap,
                    None => union = Some((*bitmap).clone()),
                }
            }
        }
        Ok(union.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
