use proptest::prelude::*;
use serde_json::Map;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::entry::Entry;
use crate::filter::TimeRange;

fn start() -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 0:00 UTC)
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::sample::select(options).prop_map(|s| (!s.is_empty()).then(|| s.to_owned()))
}

/// Few distinct values, so that filters match and combine often; "1" is an id of
/// two actor types, so an id of any type is a union.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let entry = (
        pick(&["", "user", "bot"]),
        pick(&["1", "2", "3"]),
        prop::sample::select(&["order.paid", "order.refunded", "Login", "plan.upgraded"][..]),
        pick(&["", "order", "project"]),
        pick(&["7", "8"]),
        pick(&["", "acme", "beta"]),
        0i64..3,
    );
    prop::collection::vec(entry, 1..150).prop_map(|rows| {
        let mut at = start();
        rows.into_iter()
            .enumerate()
            .map(
                |(i, (actor_type, actor_id, action, resource_type, resource_id, account, step))| {
                    at += Duration::hours(step);
                    Entry {
                        id: i as u64 + 1,
                        inserted_at: at,
                        actor_id: actor_type.as_ref().and(actor_id),
                        actor_type,
                        action: action.to_owned(),
                        resource_id: resource_type.as_ref().and(resource_id),
                        resource_type,
                        account_id: account,
                        metadata: Map::new(),
                        hash: String::new(),
                    }
                },
            )
            .collect()
    })
}

fn predicate() -> impl Strategy<Value = Predicate> {
    let value = |options: &'static [&'static str]| pick(options);
    let time = || prop::option::of((0i64..400).prop_map(|h| start() + Duration::hours(h)));
    prop_oneof![
        (
            value(&["", "user", "bot", "robot"]),
            value(&["", "1", "2", "9"])
        )
            .prop_filter("one part", |(k, i)| k.is_some() || i.is_some())
            .prop_map(|(kind, id)| Predicate::Actor { kind, id }),
        Just(Predicate::System),
        (value(&["", "order", "project"]), value(&["", "7", "8"]))
            .prop_filter("one part", |(k, i)| k.is_some() || i.is_some())
            .prop_map(|(kind, id)| Predicate::Resource { kind, id }),
        prop::sample::select(&["acme", "beta", "gamma"][..])
            .prop_map(|a| Predicate::Account(a.into())),
        prop::sample::select(&["order.paid", "Login", "login"][..])
            .prop_map(|a| Predicate::Action(a.into())),
        prop::sample::select(&["order", "log", "r", "zzz", "."][..])
            .prop_map(|t| Predicate::Search(t.into())),
        (time(), time())
            .prop_filter(
                "not empty",
                |(s, u)| !matches!((s, u), (Some(s), Some(u)) if s >= u)
            )
            .prop_map(|(since, until)| Predicate::Created(TimeRange { since, until })),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    prop::collection::vec((any::<bool>(), predicate()), 0..4).prop_map(|clauses| {
        clauses.into_iter().fold(Filter::new(), |f, (negated, p)| {
            if negated { f.without(p) } else { f.with(p) }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The definition: every entry of the window that `Filter::matches`, newest
    /// first; totals and pages must agree with it entry for entry.
    #[test]
    fn postings_answer_exactly_what_a_scan_of_the_log_answers(
        log in entries(),
        filter in filter(),
        bits in 1u32..4,
        first in 1u64..40,
        cut in 0u64..40,
        offset in 0u64..60,
        limit in 1u64..25,
        after in 0u64..160,
    ) {
        let n = log.len() as u64;
        let first = first.min(n + 1);
        let as_of = n.saturating_sub(cut);
        let mut postings = MemoryPostings::new(bits);
        for entry in &log {
            postings.add(entry);
        }
        let id_at = |t: OffsetDateTime| Ok(log.partition_point(|e| e.inserted_at < t) as u64 + 1);
        let plan = Plan::new(&filter, first, as_of, &postings, id_at).unwrap();
        let eval = Eval::new(&plan, &postings).unwrap();

        let expected: Vec<u64> = log
            .iter()
            .filter(|e| (first..=as_of).contains(&e.id) && filter.matches(e))
            .map(|e| e.id)
            .rev()
            .collect();
        prop_assert_eq!(eval.total(), expected.len() as u64, "total of {}", filter);
        let page: Vec<u64> = expected.iter().copied().skip(offset as usize).take(limit as usize).collect();
        prop_assert_eq!(eval.page(offset, limit).unwrap(), page, "page of {}", filter);
        let forward: Vec<u64> = expected.iter().rev().copied().filter(|id| *id > after).take(limit as usize).collect();
        prop_assert_eq!(eval.after(after, limit).unwrap(), forward, "after {} of {}", after, filter);
    }
}

#[test]
fn a_chunk_decided_by_one_set_reads_no_bitmap() {
    /// Counts bitmap reads, to show which chunks are answered from directories.
    struct Counting(MemoryPostings, std::cell::Cell<u32>);
    impl Postings for Counting {
        fn chunk_bits(&self) -> u32 {
            self.0.chunk_bits()
        }
        fn values(&self, dim: Dim) -> Result<Vec<String>> {
            self.0.values(dim)
        }
        fn directory(
            &self,
            dim: Dim,
            key: &str,
            chunks: RangeInclusive<u64>,
        ) -> Result<Vec<(u64, u64)>> {
            self.0.directory(dim, key, chunks)
        }
        fn bitmap(&self, dim: Dim, key: &str, chunk: u64) -> Result<Option<Arc<RoaringBitmap>>> {
            self.1.set(self.1.get() + 1);
            self.0.bitmap(dim, key, chunk)
        }
    }
    let mut memory = MemoryPostings::new(4);
    for id in 1..=100u64 {
        memory.add(&Entry {
            id,
            inserted_at: start(),
            actor_type: None,
            actor_id: None,
            action: if id % 3 == 0 { "a".into() } else { "b".into() },
            resource_type: None,
            resource_id: None,
            account_id: None,
            metadata: Map::new(),
            hash: String::new(),
        });
    }
    let source = Counting(memory, Default::default());
    let no_time = |_| Ok(0);
    for filter in [
        Filter::new().action("a"),
        Filter::new().without(Predicate::Action("a".into())),
    ] {
        let plan = Plan::new(&filter, 1, 100, &source, no_time).unwrap();
        let eval = Eval::new(&plan, &source).unwrap();
        // Chunks 1..=5 are whole; chunk 0 (ids 1..15) and chunk 6 (96..100) are not.
        assert_eq!(source.1.replace(0), 2, "{filter}");
        let expected = if filter.clauses()[0].negated { 67 } else { 33 };
        assert_eq!(eval.total(), expected);
    }
}
