//! The conformance suite: the contract of DESIGN.md sections 1–3, written once against
//! the `Audit` handle and run on every engine by `conformance!`.
//!
//! One file per topic, each naming its tests in its own `conformance!`; here, the helpers
//! they share.

use std::collections::BTreeSet;

use hawk_audit::merkle::{Frontier, leaf_hash, to_hex};
use hawk_audit::{Audit, Entry, Recent};

mod events;
mod idempotency;
mod input;
mod keys;
mod open;
mod queries;
mod sinks;
mod tree;
mod writing;

async fn track(audit: &Audit, action: &str) -> Entry {
    audit.track(None, action, None).await.expect("track")
}

fn ids(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

async fn search_actions(audit: &Audit, term: &str) -> BTreeSet<String> {
    let page = audit
        .recent(Recent::page(1, 1000).search(term))
        .await
        .unwrap();
    assert_eq!(page.total_count as usize, page.entries.len());
    page.entries.into_iter().map(|e| e.action).collect()
}

/// Every entry from the oldest on, in id order.
async fn all_entries(audit: &Audit) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e.id);
        let chunk = audit.entries_after(after, 1000, None).await.unwrap();
        if chunk.is_empty() {
            return all;
        }
        all.extend(chunk);
    }
}

fn assert_hashed(entries: &[Entry]) {
    for e in entries {
        assert_eq!(e.hash, to_hex(&leaf_hash(e)), "entry {}", e.id);
    }
}

/// The tree head recomputed from the entries' leaf hashes, in id order.
fn tree_of(entries: &[Entry]) -> (u64, String) {
    let mut frontier = Frontier::new();
    for e in entries {
        frontier.push(leaf_hash(e));
    }
    (frontier.size(), to_hex(&frontier.root()))
}
