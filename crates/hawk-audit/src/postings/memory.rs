//! Postings held in memory: the newest ids that are not yet stored as chunks (the
//! tail every reader keeps), and the reference source of the tests.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::{Dim, NONE, Postings, pair_key};
use crate::entry::Entry;
use crate::error::Result;

/// Bitmaps per dimension, value and chunk, built entry by entry.
#[derive(Debug, Default)]
pub(crate) struct MemoryPostings {
    bits: u32,
    values: HashMap<Dim, HashMap<String, BTreeMap<u64, Arc<RoaringBitmap>>>>,
}

impl MemoryPostings {
    /// Empty, with chunks of `2^bits` ids.
    pub(crate) fn new(bits: u32) -> Self {
        MemoryPostings {
            bits,
            values: HashMap::new(),
        }
    }

    /// Adds `entry` under each of its values.
    pub(crate) fn add(&mut self, entry: &Entry) {
        let chunk = entry.id >> self.bits;
        let low = (entry.id & ((1 << self.bits) - 1)) as u32;
        for (dim, key) in keys(entry) {
            let bitmap = self
                .values
                .entry(dim)
                .or_default()
                .entry(key)
                .or_default()
                .entry(chunk)
                .or_default();
            Arc::make_mut(bitmap).insert(low);
        }
    }
}

impl MemoryPostings {
    /// Forgets every chunk below `chunk` (sealed into the store since).
    pub(crate) fn drop_below(&mut self, chunk: u64) {
        for values in self.values.values_mut() {
            values.retain(|_, bitmaps| {
                *bitmaps = bitmaps.split_off(&chunk);
                !bitmaps.is_empty()
            });
        }
    }

    /// Every value's bitmap in `chunk`.
    pub(crate) fn chunk(&self, chunk: u64) -> Vec<(Dim, &str, &RoaringBitmap)> {
        let mut out = Vec::new();
        for (dim, values) in &self.values {
            for (key, bitmaps) in values {
                if let Some(bitmap) = bitmaps.get(&chunk) {
                    out.push((*dim, key.as_str(), &**bitmap));
                }
            }
        }
        out
    }
}

/// The value `entry` holds in each dimension.
pub(crate) fn keys(entry: &Entry) -> [(Dim, String); 6] {
    let pair = |kind: &Option<String>, id: &Option<String>| match (kind, id) {
        (Some(kind), Some(id)) => (pair_key(kind, id), kind.clone()),
        _ => (NONE.to_owned(), NONE.to_owned()),
    };
    let (actor, actor_type) = pair(&entry.actor_type, &entry.actor_id);
    let (resource, resource_type) = pair(&entry.resource_type, &entry.resource_id);
    [
        (Dim::Action, entry.action.clone()),
        (Dim::Actor, actor),
        (Dim::ActorType, actor_type),
        (Dim::Resource, resource),
        (Dim::ResourceType, resource_type),
        (Dim::Account, entry.account_id.clone().unwrap_or_default()),
    ]
}

impl Postings for MemoryPostings {
    fn chunk_bits(&self) -> u32 {
        self.bits
    }

    fn values(&self, dim: Dim) -> Result<Vec<String>> {
        Ok(self
            .values
            .get(&dim)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn directory(
        &self,
        dim: Dim,
        key: &str,
        chunks: RangeInclusive<u64>,
    ) -> Result<Vec<(u64, u64)>> {
        Ok(self
            .values
            .get(&dim)
            .and_then(|values| values.get(key))
            .map(|bitmaps| {
                bitmaps
                    .range(chunks)
                    .map(|(chunk, bitmap)| (*chunk, bitmap.len()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn bitmap(&self, dim: Dim, key: &str, chunk: u64) -> Result<Option<Arc<RoaringBitmap>>> {
        Ok(self
            .values
            .get(&dim)
            .and_then(|values| values.get(key))
            .and_then(|bitmaps| bitmaps.get(&chunk))
            .cloned())
    }
}
