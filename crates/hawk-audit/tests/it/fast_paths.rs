//! Property test: on random data spanning many index blocks, every fast answer
//! (search pages located by rank, account pages by sequence number, exact totals,
//! `as_of` pins) equals the naive answer computed by scanning every entry.

use hawk_audit::{Audit, Entry, NewEntry, Recent, Ref};
use proptest::prelude::*;

use crate::helpers::{Engine, TestDb, run_case};

/// A skewed mix: common actions, a rare one, wildcard and non-ASCII names, and
/// enough distinct ones that a short term matches more actions than a block lookup
/// seeks one by one (so both of its strategies run).
const ACTIONS: &[&str] = &[
    "user.login",
    "user.login",
    "user.login",
    "invoice.paid",
    "invoice.paid",
    "project.deleted",
    "Promo.50%_OFF",
    "été.créé",
    "team.renamed",
    "seat.added",
    "key.rotated",
    "plan.changed",
    "member.removed",
    "webhook.failed",
    "export.started",
    "rare.event",
];
pub(crate) const TERMS: &[&str] = &[
    "", "user", "INVOICE", "e", "%_", "ÉTÉ", "rare", "nothing", ".",
];
pub(crate) const ACCOUNTS: &[&str] = &["a", "b", "c"];

#[derive(Debug, Clone)]
pub(crate) struct Query {
    page: u64,
    per_page: u64,
    term: usize,
    /// How far back from the newest entry to pin `as_of` (0: not pinned).
    pub(crate) back: u64,
    account: Option<usize>,
}

pub(crate) fn query() -> impl Strategy<Value = Query> {
    (
        prop_oneof![1u64..4, 1u64..200],
        prop_oneof![Just(1u64), 1u64..60, Just(1000u64)],
        0..TERMS.len(),
        prop_oneof![Just(0u64), 0u64..3000],
        proptest::option::of(0..ACCOUNTS.len()),
    )
        .prop_map(|(page, per_page, term, back, account)| Query {
            page,
            per_page,
            term,
            back,
            account,
        })
}

/// Entry `i` of the data set, from the seed: deterministic, skewed, multi-block.
pub(crate) fn make(seed: u64, i: u64) -> NewEntry {
    let h = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let h = h ^ (h >> 29);
    // The rare action appears about once in 700 entries.
    let action = if h.is_multiple_of(700) {
        "rare.event"
    } else {
        ACTIONS[(h % 15) as usize]
    };
    let mut entry = NewEntry::new(action);
    if (h >> 8).is_multiple_of(3) {
        let account = ACCOUNTS[((h >> 12) % 3) as usize];
        entry = entry.resource(Some(&Ref::new("account", account)));
    }
    entry
}

pub(crate) fn naive(all: &[Entry], q: &Query, as_of: u64) -> (u64, Vec<Entry>) {
    let term = TERMS[q.term].trim().to_lowercase();
    let matching: Vec<&Entry> = all
        .iter()
        .rev()
        .filter(|e| e.id <= as_of)
        .filter(|e| e.action.to_lowercase().contains(&term))
        .filter(|e| {
            q.account
                .is_none_or(|a| e.account_id.as_deref() == Some(ACCOUNTS[a]))
        })
        .collect();
    let page = matching
        .iter()
        .skip(((q.page - 1) * q.per_page) as usize)
        .take(q.per_page as usize)
        .map(|e| (*e).clone())
        .collect();
    (matching.len() as u64, page)
}

pub(crate) async fn fast(audit: &Audit, q: &Query, as_of: u64) -> (u64, Vec<Entry>) {
    let mut opts = Recent::page(q.page, q.per_page).search(TERMS[q.term]);
    if q.back > 0 {
        opts = opts.as_of(as_of);
    }
    let page = match q.account {
        None => audit.recent(opts).await.unwrap(),
        Some(a) => audit.for_account_page(ACCOUNTS[a], opts).await.unwrap(),
    };
    assert_eq!(page.as_of, as_of);
    (page.total_count, page.entries)
}

async fn run(db: TestDb, seed: u64, first: u64, second: u64, queries: Vec<Query>) {
    let reader = db.open().await;
    let writer = db.open().await;
    let mut all = Vec::new();
    // Write through one handle, query through another (as another process would),
    // in two rounds so the reader's index must catch up in between.
    for (round, n) in [first, second].into_iter().enumerate() {
        let start = all.len() as u64;
        let mut i = start;
        while i < start + n {
            let chunk = (start + n - i).min(937);
            let batch = (i..i + chunk).map(|j| make(seed, j)).collect();
            all.extend(writer.record_batch(batch).await.unwrap());
            i += chunk;
        }
        let head = all.len() as u64;
        for q in &queries {
            let as_of = head.saturating_sub(q.back);
            let want = naive(&all, q, as_of);
            let got = fast(&reader, q, as_of).await;
            assert_eq!(got.0, want.0, "total, round {round}, {q:?}");
            let ids = |v: &[Entry]| v.iter().map(|e| e.id).collect::<Vec<_>>();
            assert_eq!(ids(&got.1), ids(&want.1), "ids, round {round}, {q:?}");
            assert_eq!(got.1, want.1, "entries, round {round}, {q:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn fast_answers_equal_the_naive_scan(
        seed in any::<u64>(),
        first in 1u64..5000,
        second in 0u64..3000,
        queries in proptest::collection::vec(query(), 20..40),
    ) {
        run_case(Engine::Sqlite, "fast_answers_equal_the_naive_scan", |db| {
            run(db, seed, first, second, queries)
        });
    }
}

proptest! {
    // Fewer cases on PostgreSQL: each creates a database.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn postgres_fast_answers_equal_the_naive_scan(
        seed in any::<u64>(),
        first in 1u64..5000,
        second in 0u64..3000,
        queries in proptest::collection::vec(query(), 20..40),
    ) {
        run_case(Engine::Postgres, "postgres_fast_answers_equal_the_naive_scan", |db| {
            run(db, seed, first, second, queries)
        });
    }
}
