//! The filter index as a store keeps it: sealed chunks in the store, the newest ids in
//! memory, and an evaluation that fetches what it misses.
//!
//! Ids are cut into chunks of `2^bits`. Once every id of a chunk is committed (the head
//! is at or past its last id), the chunk never changes again: a background task of
//! each writable handle *seals* it, reading its entries once and writing, in one
//! transaction, a row per chunk (its entries' times, coded) and a row per dimension and
//! value (a count and a roaring bitmap). Sealing happens after the appends, never in
//! their transaction, so a write pays nothing for the index but one pass per chunk.
//!
//! Every reader keeps the ids above the sealed chunks in memory (the *tail*, a
//! [`MemoryPostings`]) and follows the head by reading the entries it has not seen.
//! The index is never needed for correctness: a chunk not sealed yet (a log written
//! by an older version, a read-only handle, a seal that failed) is simply read into
//! the tail.
//!
//! An evaluation runs the engine-independent [`Eval`] over a [`Snapshot`]: the tail
//! plus whatever of the stored chunks is at hand (a shared cache, and what this
//! evaluation fetched). What is not at hand is noted and answered as empty; if
//! anything was missing, the answer is dropped, the missing directories, bitmaps and
//! times are fetched in one batch per kind, and the evaluation runs again. Sealed rows
//! never change, so fetched rows stay valid; a few rounds settle any filter.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;
use time::OffsetDateTime;

use super::memory::MemoryPostings;
use super::{Dim, Eval, Plan, Postings};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::store::Store;
use crate::store::index_ops::{IndexAnswer, IndexOp};

/// Ids per chunk: `2^16`, so a chunk's ids fit a roaring container each and a log of
/// ten million entries has about 150 chunks.
pub(crate) const CHUNK_BITS: u32 = 16;

/// Entries read per step when the tail follows the head or a chunk is sealed.
const STEP: u64 = crate::audit::MAX_BATCH as u64;

/// Bytes of stored bitmaps the shared cache keeps; past it the cache starts over.
const CACHE_BYTES: usize = 256 << 20;

/// Rounds of fetching before an evaluation gives up (each round fetches every miss
/// seen; values, then directories, then bitmaps and times settle most filters).
const ROUNDS: usize = 8;

/// Seal times an index remembers (the newest), for `hawk bench`.
const SEAL_TIMES: usize = 1024;

/// A sealed chunk as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkInfo {
    pub(crate) chunk: u64,
    /// `log2` of the chunk's ids, as the seal wrote it.
    pub(crate) bits: u32,
    /// The first id it held when sealed (`None`: every id of it was pruned).
    pub(crate) first_id: Option<u64>,
    /// µs since the epoch of its first and last entries.
    pub(crate) first_time: Option<i64>,
    pub(crate) last_time: Option<i64>,
}

/// One value's entries in a chunk, as stored.
pub(crate) struct Posting {
    pub(crate) dim: i16,
    pub(crate) key: Vec<u8>,
    pub(crate) count: u64,
    /// The roaring bitmap of offsets from the chunk's first id, serialized.
    pub(crate) bits: Vec<u8>,
}

/// The chunk's own row, which marks it sealed.
pub(crate) struct SealedChunk {
    pub(crate) info: ChunkInfo,
    /// The times of ids `first_id..`, coded by [`code_times`].
    pub(crate) times: Vec<u8>,
}

/// One transaction of a seal. A chunk is sealed in parts of at most [`SEAL_PART`]
/// postings, so that no seal holds the write lock long (on SQLite appends wait for
/// it); the last part also writes the chunk's row, and until then readers take the
/// chunk from the entries. Every part can be written again (after a crash, or by
/// another process sealing the same chunk) without changing what is stored.
pub(crate) struct SealPart {
    pub(crate) chunk: u64,
    pub(crate) postings: Vec<Posting>,
    /// With the last part: the chunk's row.
    pub(crate) sealed: Option<SealedChunk>,
}

/// Most postings one seal transaction writes.
const SEAL_PART: usize = 2048;

impl Dim {
    /// The dimension's number in the stored rows. Never renumber one.
    pub(crate) fn code(self) -> i16 {
        match self {
            Dim::Action => 0,
            Dim::Actor => 1,
            Dim::ActorType => 2,
            Dim::Resource => 3,
            Dim::ResourceType => 4,
            Dim::Account => 5,
        }
    }
}

/// The ids above the sealed chunks, in memory.
struct Tail {
    /// The first chunk held; every chunk below it is sealed in the store.
    start: u64,
    /// Every id up to this one has been read (those still in the log).
    head: u64,
    postings: MemoryPostings,
    /// `(id, µs)` of each entry held, ascending.
    times: Vec<(u64, i64)>,
}

/// Stored rows kept between evaluations, keyed as fetched.
#[derive(Default)]
struct Cache {
    /// The sealed chunks known: chunk `i` at index `i`.
    chunks: Vec<ChunkInfo>,
    rows: Rows,
}

/// A list read from the store with how many sealed chunks it covers.
type Covering<T> = (u64, Arc<Vec<T>>);

/// Stored rows: directories and value lists with the number of sealed chunks they
/// cover, bitmaps, and decoded times.
#[derive(Default)]
struct Rows {
    directories: HashMap<(Dim, String), Covering<(u64, u64)>>,
    values: HashMap<Dim, Covering<String>>,
    bitmaps: HashMap<(Dim, String, u64), Arc<RoaringBitmap>>,
    bitmap_bytes: usize,
    times: HashMap<u64, Arc<Vec<i64>>>,
}

impl Rows {
    fn add_bitmap(&mut self, key: (Dim, String, u64), bitmap: Arc<RoaringBitmap>) {
        self.bitmap_bytes += bitmap.serialized_size();
        self.bitmaps.insert(key, bitmap);
    }
}

/// What an evaluation found missing.
#[derive(Default)]
struct Misses {
    values: HashSet<Dim>,
    directories: HashSet<(Dim, String)>,
    bitmaps: HashSet<(Dim, String, u64)>,
    times: HashSet<u64>,
}

impl Misses {
    fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.directories.is_empty()
            && self.bitmaps.is_empty()
            && self.times.is_empty()
    }
}

/// A store's filter index. One per open store, shared by every clone of the handle.
pub(crate) struct Index {
    bits: u32,
    tail: tokio::sync::Mutex<Tail>,
    cache: Mutex<Cache>,
    /// How long each of the last seals through this index took, read to last write.
    seal_times: Mutex<std::collections::VecDeque<std::time::Duration>>,
}

impl Index {
    /// An index of chunks of `2^bits` ids, holding nothing yet.
    pub(crate) fn new(bits: u32) -> Self {
        Index {
            bits,
            tail: tokio::sync::Mutex::new(Tail {
                start: 0,
                head: 0,
                postings: MemoryPostings::new(bits),
                times: Vec::new(),
            }),
            cache: Mutex::new(Cache::default()),
            seal_times: Mutex::default(),
        }
    }

    /// How long each of the last seals (at most [`SEAL_TIMES`]) through this index took.
    pub(crate) fn seal_times(&self) -> Vec<std::time::Duration> {
        let times = self.seal_times.lock().unwrap_or_else(|e| e.into_inner());
        times.iter().copied().collect()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learns of chunks sealed since the last look; how many are sealed.
    async fn sealed(&self, store: &Store) -> Result<u64> {
        let from = self.cache().chunks.len() as u64;
        let IndexAnswer::Chunks(new) = store.index(IndexOp::Chunks { from }).await? else {
            return Err(mismatch());
        };
        let mut cache = self.cache();
        for info in new {
            if info.bits != self.bits {
                return Err(Error::storage(format!(
                    "the filter index was built with chunks of 2^{} ids, not 2^{}",
                    info.bits, self.bits
                )));
            }
            if info.chunk == cache.chunks.len() as u64 {
                cache.chunks.push(info);
            }
        }
        Ok(cache.chunks.len() as u64)
    }

    /// Brings the tail up to `as_of`, dropping what was sealed since.
    async fn follow(&self, store: &Store, as_of: u64) -> Result<()> {
        let sealed = self.sealed(store).await?;
        let mut tail = self.tail.lock().await;
        if tail.start < sealed {
            tail.postings.drop_below(sealed);
            let first = sealed << self.bits;
            tail.times.retain(|(id, _)| *id >= first);
            tail.start = sealed;
            tail.head = tail.head.max(first.saturating_sub(1));
        }
        while tail.head < as_of {
            let batch = store.entries_after(tail.head, STEP, None).await?;
            let Some(last) = batch.last().map(|e| e.id) else {
                break;
            };
            for entry in &batch {
                tail.postings.add(entry);
                tail.times
                    .push((entry.id, crate::entry::micros(entry.inserted_at)));
            }
            tail.head = last;
        }
        Ok(())
    }

    /// Runs `run` on the evaluation of `filter` over the live ids `first..=as_of`,
    /// fetching what the stored chunks must supply until nothing is missing.
    pub(crate) async fn evaluate<R>(
        &self,
        store: &Store,
        filter: &Filter,
        first: u64,
        as_of: u64,
        run: impl Fn(&Eval<'_, Snapshot<'_>>) -> Result<R>,
    ) -> Result<R> {
        self.follow(store, as_of).await?;
        let mut local = Rows::default();
        for _ in 0..ROUNDS {
            let (outcome, misses) = {
                let tail = self.tail.lock().await;
                let snapshot = Snapshot {
                    index: self,
                    tail: &tail,
                    local: &local,
                    misses: RefCell::new(Misses::default()),
                };
                let outcome = Plan::new(filter, first, as_of, &snapshot, |t| Ok(snapshot.id_at(t)))
                    .and_then(|plan| run(&Eval::new(&plan, &snapshot)?));
                (outcome, snapshot.misses.into_inner())
            };
            if misses.is_empty() {
                return outcome;
            }
            self.fetch(store, misses, &mut local).await?;
        }
        Err(Error::storage(
            "the filter index kept missing rows; is another process rebuilding it?",
        ))
    }

    /// Fetches what an evaluation missed into `local` and the shared cache.
    async fn fetch(&self, store: &Store, misses: Misses, local: &mut Rows) -> Result<()> {
        let covered = self.cache().chunks.len() as u64;
        for dim in misses.values {
            let IndexAnswer::Values(keys) =
                store.index(IndexOp::Values { dim: dim.code() }).await?
            else {
                return Err(mismatch());
            };
            let keys = Arc::new(keys.into_iter().map(text).collect::<Result<Vec<_>>>()?);
            local.values.insert(dim, (covered, Arc::clone(&keys)));
            self.cache().rows.values.insert(dim, (covered, keys));
        }
        for (dim, keys) in group(misses.directories) {
            let op = IndexOp::Directories {
                dim: dim.code(),
                keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
                from: 0,
            };
            let IndexAnswer::Directories(rows) = store.index(op).await? else {
                return Err(mismatch());
            };
            let mut found: HashMap<String, Vec<(u64, u64)>> =
                keys.into_iter().map(|k| (k, Vec::new())).collect();
            for (key, chunk, count) in rows {
                if let Some(list) = found.get_mut(&text(key)?) {
                    list.push((chunk, count));
                }
            }
            let mut cache = self.cache();
            for (key, mut list) in found {
                list.sort_unstable();
                let entry = (covered, Arc::new(list));
                local.directories.insert((dim, key.clone()), entry.clone());
                cache.rows.directories.insert((dim, key), entry);
            }
        }
        let wanted: Vec<(Dim, (String, u64))> = misses
            .bitmaps
            .into_iter()
            .map(|(dim, key, chunk)| (dim, (key, chunk)))
            .collect();
        for (dim, pairs) in group(wanted) {
            let op = IndexOp::Bitmaps {
                dim: dim.code(),
                wanted: pairs
                    .iter()
                    .map(|(k, c)| (k.as_bytes().to_vec(), *c))
                    .collect(),
            };
            let IndexAnswer::Bitmaps(rows) = store.index(op).await? else {
                return Err(mismatch());
            };
            let mut cache = self.cache();
            if cache.rows.bitmap_bytes > CACHE_BYTES {
                cache.rows.bitmaps.clear();
                cache.rows.bitmap_bytes = 0;
            }
            for (key, chunk, bytes) in rows {
                let bitmap = decode_bitmap(&bytes).ok_or_else(|| {
                    Error::storage(format!("a stored posting of chunk {chunk} is unreadable"))
                })?;
                let row = (dim, text(key)?, chunk);
                let bitmap = Arc::new(bitmap);
                local.add_bitmap(row.clone(), Arc::clone(&bitmap));
                cache.rows.add_bitmap(row, bitmap);
            }
            // A pair with no row holds no entry: remember it as empty.
            for (key, chunk) in pairs {
                local
                    .bitmaps
                    .entry((dim, key, chunk))
                    .or_insert_with(|| Arc::new(RoaringBitmap::new()));
            }
        }
        for chunk in misses.times {
            let IndexAnswer::Times(bytes) = store.index(IndexOp::Times { chunk }).await? else {
                return Err(mismatch());
            };
            let times = Arc::new(decode_times(&bytes)?);
            local.times.insert(chunk, Arc::clone(&times));
            let mut cache = self.cache();
            if cache.rows.times.len() > 64 {
                cache.rows.times.clear();
            }
            cache.rows.times.insert(chunk, times);
        }
        Ok(())
    }

    /// Seals every complete chunk not sealed yet, oldest first; the last id of the
    /// next chunk to seal.
    pub(crate) async fn seal_ready(&self, store: &Store) -> Result<u64> {
        loop {
            let next = self.sealed(store).await?;
            let base = next << self.bits;
            let last = base + ((1 << self.bits) - 1);
            if store.head().await? < last {
                return Ok(last);
            }
            let started = std::time::Instant::now();
            let mut postings = MemoryPostings::new(self.bits);
            let mut times = Vec::new();
            let mut first_id = None;
            let mut after = base.saturating_sub(1);
            'read: loop {
                let batch = store.entries_after(after, STEP, None).await?;
                if batch.is_empty() {
                    break;
                }
                for entry in &batch {
                    if entry.id > last {
                        break 'read;
                    }
                    first_id.get_or_insert(entry.id);
                    postings.add(entry);
                    times.push(crate::entry::micros(entry.inserted_at));
                    after = entry.id;
                }
            }
            let mut values = postings.chunk(next);
            // In key order: each part's rows go into the tables' indexes in order.
            values.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            let mut rows = Vec::new();
            for (dim, key, bitmap) in values {
                let bits = code_bitmap(bitmap)?;
                rows.push(Posting {
                    dim: dim.code(),
                    key: key.as_bytes().to_vec(),
                    count: bitmap.len(),
                    bits,
                });
            }
            let sealed = SealedChunk {
                info: ChunkInfo {
                    chunk: next,
                    bits: self.bits,
                    first_id,
                    first_time: times.first().copied(),
                    last_time: times.last().copied(),
                },
                times: code_times(&times),
            };
            let mut rows = rows.into_iter().peekable();
            let mut sealed = Some(sealed);
            while sealed.is_some() {
                let postings: Vec<Posting> = rows.by_ref().take(SEAL_PART).collect();
                let last = rows.peek().is_none();
                let part = SealPart {
                    chunk: next,
                    postings,
                    sealed: if last { sealed.take() } else { None },
                };
                store.index(IndexOp::Seal(Box::new(part))).await?;
            }
            let mut seal_times = self.seal_times.lock().unwrap_or_else(|e| e.into_inner());
            if seal_times.len() == SEAL_TIMES {
                seal_times.pop_front();
            }
            seal_times.push_back(started.elapsed());
        }
    }

    /// Brings the tail up to the head, so that [`Index::values_with_prefix`] offers the
    /// newest values too.
    pub(crate) async fn follow_head(&self, store: &Store) -> Result<()> {
        self.follow(store, store.head().await?).await
    }

    /// The values of `dim` beginning with `prefix` that the log holds, with how many
    /// entries hold each (sealed and in the tail as last followed, pruned ones
    /// included), the most frequent first; at most `limit`.
    pub(crate) async fn values_with_prefix(
        &self,
        store: &Store,
        dim: Dim,
        prefix: &str,
        limit: u64,
    ) -> Result<Vec<(String, u64)>> {
        let op = IndexOp::Totals {
            dim: dim.code(),
            prefix: prefix.as_bytes().to_vec(),
            limit,
        };
        let IndexAnswer::Totals(rows) = store.index(op).await? else {
            return Err(mismatch());
        };
        let mut totals: HashMap<String, u64> = HashMap::new();
        for (key, count) in rows {
            totals.insert(text(key)?, count);
        }
        let tail = self.tail.lock().await;
        let all = tail.start..=u64::MAX;
        for key in tail.postings.values(dim)? {
            if key.starts_with(prefix) {
                let n: u64 = tail
                    .postings
                    .directory(dim, &key, all.clone())?
                    .iter()
                    .map(|(_, n)| n)
                    .sum();
                *totals.entry(key).or_insert(0) += n;
            }
        }
        let mut list: Vec<(String, u64)> = totals.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(list)
    }
}

/// The index as one evaluation sees it: the tail, and the stored chunks below it
/// through what this evaluation fetched or the shared cache holds.
pub(crate) struct Snapshot<'a> {
    index: &'a Index,
    tail: &'a Tail,
    local: &'a Rows,
    misses: RefCell<Misses>,
}

impl Snapshot<'_> {
    /// Whether any chunk is stored below the tail.
    fn has_stored(&self) -> bool {
        self.tail.start > 0
    }

    fn directory_of(&self, dim: Dim, key: &str) -> Option<Arc<Vec<(u64, u64)>>> {
        let wanted = (dim, key.to_owned());
        let fresh = |(covered, list): &Covering<(u64, u64)>| {
            (*covered >= self.tail.start).then(|| Arc::clone(list))
        };
        if let Some(found) = self.local.directories.get(&wanted).and_then(fresh) {
            return Some(found);
        }
        let cached = self
            .index
            .cache()
            .rows
            .directories
            .get(&wanted)
            .and_then(fresh);
        if cached.is_none() {
            self.misses.borrow_mut().directories.insert(wanted);
        }
        cached
    }

    /// The first id inserted at or after `t`, or `u64::MAX` when none is.
    fn id_at(&self, t: OffsetDateTime) -> u64 {
        let t = crate::entry::micros(t);
        let cache = self.index.cache();
        let stored = &cache.chunks[..(self.tail.start as usize).min(cache.chunks.len())];
        if let Some(info) = stored.iter().find(|c| c.last_time.is_some_and(|l| l >= t)) {
            let first_id = info.first_id.unwrap_or(info.chunk << self.index.bits);
            let times = self
                .local
                .times
                .get(&info.chunk)
                .or_else(|| cache.rows.times.get(&info.chunk))
                .cloned();
            return match times {
                Some(times) => first_id + times.partition_point(|&x| x < t) as u64,
                None => {
                    self.misses.borrow_mut().times.insert(info.chunk);
                    first_id
                }
            };
        }
        let i = self.tail.times.partition_point(|&(_, x)| x < t);
        self.tail.times.get(i).map_or(u64::MAX, |&(id, _)| id)
    }
}

impl Postings for Snapshot<'_> {
    fn chunk_bits(&self) -> u32 {
        self.index.bits
    }

    fn values(&self, dim: Dim) -> Result<Vec<String>> {
        let mut values: HashSet<String> = self.tail.postings.values(dim)?.into_iter().collect();
        if self.has_stored() {
            let fresh = |(covered, list): &Covering<String>| {
                (*covered >= self.tail.start).then(|| Arc::clone(list))
            };
            let stored = self
                .local
                .values
                .get(&dim)
                .and_then(fresh)
                .or_else(|| self.index.cache().rows.values.get(&dim).and_then(fresh));
            match stored {
                Some(stored) => values.extend(stored.iter().cloned()),
                None => {
                    self.misses.borrow_mut().values.insert(dim);
                }
            }
        }
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort_unstable();
        Ok(values)
    }

    fn directory(
        &self,
        dim: Dim,
        key: &str,
        chunks: RangeInclusive<u64>,
    ) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        if self.has_stored()
            && *chunks.start() < self.tail.start
            && let Some(list) = self.directory_of(dim, key)
        {
            out.extend(
                list.iter()
                    .filter(|(c, _)| chunks.contains(c) && *c < self.tail.start)
                    .copied(),
            );
        }
        out.extend(self.tail.postings.directory(dim, key, chunks)?);
        Ok(out)
    }

    fn bitmap(&self, dim: Dim, key: &str, chunk: u64) -> Result<Option<Arc<RoaringBitmap>>> {
        if chunk >= self.tail.start {
            return self.tail.postings.bitmap(dim, key, chunk);
        }
        let wanted = (dim, key.to_owned(), chunk);
        if let Some(bitmap) = self.local.bitmaps.get(&wanted) {
            return Ok(Some(Arc::clone(bitmap)));
        }
        // A chunk the value's directory does not list holds none of its entries.
        match self.directory_of(dim, key) {
            Some(list) if list.binary_search_by_key(&chunk, |(c, _)| *c).is_err() => {
                return Ok(None);
            }
            None => return Ok(None),
            Some(_) => {}
        }
        let cached = self.index.cache().rows.bitmaps.get(&wanted).cloned();
        if cached.is_none() {
            self.misses.borrow_mut().bitmaps.insert(wanted);
        }
        Ok(cached)
    }
}

/// Groups `(dim, item)` pairs by dimension.
fn group<T>(items: impl IntoIterator<Item = (Dim, T)>) -> HashMap<Dim, Vec<T>> {
    let mut groups: HashMap<Dim, Vec<T>> = HashMap::new();
    for (dim, item) in items {
        groups.entry(dim).or_default().push(item);
    }
    groups
}

fn text(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| Error::storage_from("a stored filter value is not UTF-8", e))
}

fn mismatch() -> Error {
    Error::storage("the store answered a filter index request with another kind of answer")
}

/// Postings of at most this many ids are stored as the ids themselves.
const FEW: u64 = 8;

/// A posting as stored: a tag byte, then for a few ids (most values of a chunk hold
/// one or two: a resource, a rare actor) each id's offset as two bytes, else the
/// roaring serialization, whose header alone is larger than a few offsets.
fn code_bitmap(bitmap: &RoaringBitmap) -> Result<Vec<u8>> {
    // Offsets beyond two bytes (chunks above 2^16 ids, only in tests) take roaring's.
    if bitmap.len() <= FEW && bitmap.max().is_none_or(|m| m <= u32::from(u16::MAX)) {
        let mut bits = vec![0u8];
        for low in bitmap {
            bits.extend_from_slice(&(low as u16).to_le_bytes());
        }
        return Ok(bits);
    }
    let mut bits = Vec::with_capacity(1 + bitmap.serialized_size());
    bits.push(1);
    bitmap
        .serialize_into(&mut bits)
        .map_err(|e| Error::storage_from("cannot code a posting", e))?;
    Ok(bits)
}

/// The inverse of [`code_bitmap`]; `None` for bytes it did not write.
fn decode_bitmap(bytes: &[u8]) -> Option<RoaringBitmap> {
    match bytes.split_first()? {
        (0, offsets) if offsets.len() % 2 == 0 => Some(
            offsets
                .chunks_exact(2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
        ),
        (1, roaring) => RoaringBitmap::deserialize_from(roaring).ok(),
        _ => None,
    }
}

/// Times (µs, never decreasing) coded as the first one, then each one's step from
/// the one before, as LEB128 varints: one or two bytes per entry in a busy log.
pub(crate) fn code_times(times: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(times.len() * 2);
    let mut previous = 0i64;
    for (i, &t) in times.iter().enumerate() {
        let step = if i == 0 {
            t as u64
        } else {
            t.wrapping_sub(previous) as u64
        };
        push_varint(&mut out, step);
        previous = t;
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The inverse of [`code_times`].
pub(crate) fn decode_times(bytes: &[u8]) -> Result<Vec<i64>> {
    let mut times = Vec::with_capacity(bytes.len());
    let (mut value, mut shift, mut previous) = (0u64, 0u32, 0i64);
    for &byte in bytes {
        if shift >= 64 {
            return Err(Error::storage("the stored times of a chunk are unreadable"));
        }
        value |= u64::from(byte & 0x7F) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            let t = if times.is_empty() {
                value as i64
            } else {
                previous.wrapping_add(value as i64)
            };
            times.push(t);
            previous = t;
            value = 0;
            shift = 0;
        }
    }
    if shift != 0 {
        return Err(Error::storage("the stored times of a chunk are cut short"));
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip_in_both_codings() {
        for ids in [
            vec![],
            vec![0],
            vec![1, 7, 65_535],
            (0..9).collect(),
            (0..5000).step_by(3).collect(),
            vec![70_000],
        ] {
            let bitmap: RoaringBitmap = ids.iter().copied().collect();
            let coded = code_bitmap(&bitmap).unwrap();
            assert_eq!(
                coded[0],
                u8::from(ids.len() as u64 > FEW || ids.contains(&70_000))
            );
            assert_eq!(decode_bitmap(&coded), Some(bitmap), "{ids:?}");
        }
        assert_eq!(decode_bitmap(&[0, 1]), None);
        assert_eq!(decode_bitmap(&[2]), None);
        assert_eq!(decode_bitmap(&[]), None);
    }

    #[test]
    fn times_round_trip() {
        let times = vec![
            1_700_000_000_000_000,
            1_700_000_000_000_000,
            1_700_000_000_000_129,
            1_800_000_000_000_000,
        ];
        assert_eq!(decode_times(&code_times(&times)).unwrap(), times);
        assert_eq!(decode_times(&code_times(&[])).unwrap(), Vec::<i64>::new());
        assert!(decode_times(&[0x80]).is_err());
    }
}
