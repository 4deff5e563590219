//! Retention: `prune` removes the oldest entries and every answer stays exact. On
//! random multi-block data, pruned at random points (twice, the second on top of the
//! first), every page equals the naive scan of what is left, the suggestions' counts
//! are the remaining ones, and the tree of the removed entries is kept. On both
//! engines, each case on a fresh database.

use std::collections::BTreeMap;

use hawk_audit::checkpoint::{Cadence, SigningKey};
use hawk_audit::merkle::{Frontier, to_hex};
use hawk_audit::{Audit, Entry, NewEntry, Options, Verify};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::fast_paths::{Query, fast, make, naive, query};
use crate::helpers::{Engine, TestDb, conformance, run_case};

/// Entry `i` (from 0) of the imported data is `i` milliseconds after this.
fn time_of(i: u64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(19_000) + Duration::milliseconds(i as i64)
}

fn root_of(entries: &[Entry]) -> String {
    let mut tree = Frontier::new();
    for entry in entries {
        let hash: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&entry.hash[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        tree.push(hash.try_into().unwrap());
    }
    to_hex(&tree.root())
}

async fn check(audit: &Audit, left: &[Entry], queries: &[Query], when: &str) {
    let head = left.last().map_or(0, |e| e.id);
    for q in queries {
        let as_of = head.saturating_sub(q.back);
        let want = naive(left, q, as_of);
        let got = fast(audit, q, as_of).await;
        assert_eq!(got.0, want.0, "total, {when}, {q:?}");
        let ids = |v: &[Entry]| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&got.1), ids(&want.1), "ids, {when}, {q:?}");
        assert_eq!(got.1, want.1, "entries, {when}, {q:?}");
    }
    // Every account's stream: the entries left of it, newest first.
    let mut accounts: BTreeMap<&str, Vec<Entry>> = BTreeMap::new();
    for e in left.iter().rev() {
        if let Some(account) = e.account_id.as_deref() {
            accounts.entry(account).or_default().push(e.clone());
        }
    }
    for (account, want) in accounts {
        let got = audit.for_account(account).await.unwrap();
        assert_eq!(got, want, "stream of {account}, {when}");
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for e in left {
        *counts.entry(e.action.as_str()).or_default() += 1;
    }
    let suggested: BTreeMap<&str, u64> = audit
        .actions("", 100)
        .await
        .unwrap()
        .iter()
        .map(|a| {
            (
                counts.get_key_value(a.action.as_str()).expect(&a.action).0 as &str,
                a.count,
            )
        })
        .collect();
    assert_eq!(suggested, counts, "suggestion counts, {when}");
}

async fn run(db: TestDb, seed: u64, first: u64, cuts: [u64; 2], second: u64, queries: Vec<Query>) {
    let reader = db.open().await;
    let writer = db.open().await;
    let mut all: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < first {
        let n = (first - i).min(937);
        let batch = (i..i + n).map(|j| (time_of(j), make(seed, j))).collect();
        all.extend(writer.import(batch).await.unwrap());
        i += n;
    }
    // Warm the reader's index before pruning: what it loaded must stay true after.
    check(&reader, &all, &queries[..3], "before").await;
    let every = all.clone();

    let mut left = all;
    for (k, cut) in cuts.into_iter().enumerate() {
        let pruned = writer.prune(time_of(cut)).await.unwrap();
        let gone = left
            .iter()
            .take_while(|e| e.inserted_at < time_of(cut))
            .count();
        let Some(pruned) = pruned else {
            assert_eq!(
                gone, 0,
                "prune {k} found nothing older yet {gone} entries are"
            );
            continue;
        };
        assert_eq!(pruned.removed, gone as u64, "prune {k}");
        assert_eq!(pruned.through_id, cut.min(first), "prune {k}");
        assert_eq!(
            to_hex(&pruned.root),
            root_of(&every[..pruned.through_id as usize]),
            "prune {k} keeps the tree of what it removed"
        );
        let record = &pruned.entry;
        assert_eq!(record.action, "hawk.pruned");
        assert_eq!(record.metadata["removed"], gone as u64);
        assert_eq!(record.metadata["through_id"], pruned.through_id);
        left.drain(..gone);
        left.push(record.clone());
        check(&reader, &left, &queries, &format!("after prune {k}")).await;
    }

    let batch: Vec<NewEntry> = (first..first + second).map(|j| make(seed, j)).collect();
    for chunk in batch.chunks(937) {
        left.extend(writer.record_batch(chunk.to_vec()).await.unwrap());
    }
    check(&reader, &left, &queries, "after more entries").await;
    // The head, the stored tree and the dense ids carry on past the pruned ones.
    let (size, _) = reader.tree_head().await.unwrap();
    assert_eq!(size, left.last().unwrap().id);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn pruned_logs_answer_exactly(
        seed in any::<u64>(),
        first in 1u64..4000,
        cut in prop_oneof![Just(0u64), 0u64..2500, 0u64..5000],
        more in 0u64..2000,
        second in 0u64..2000,
        queries in proptest::collection::vec(query(), 12..24),
    ) {
        run_case(Engine::Sqlite, "pruned_logs_answer_exactly", |db| {
            run(db, seed, first, [cut, cut + more], second, queries)
        });
    }
}

proptest! {
    // Fewer cases on PostgreSQL: each creates a database.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn postgres_pruned_logs_answer_exactly(
        seed in any::<u64>(),
        first in 1u64..4000,
        cut in prop_oneof![Just(0u64), 0u64..2500, 0u64..5000],
        more in 0u64..2000,
        second in 0u64..2000,
        queries in proptest::collection::vec(query(), 12..24),
    ) {
        run_case(Engine::Postgres, "postgres_pruned_logs_answer_exactly", |db| {
            run(db, seed, first, [cut, cut + more], second, queries)
        });
    }
}

conformance!(
    prune_is_the_only_way_entries_leave,
    a_pruned_log_verifies_from_the_signed_prune_point,
    prune_refused_a_future_cutoff_that_removed_every_entry,
    prune_plan_tells_what_would_go_and_removes_nothing,
);

async fn prune_is_the_only_way_entries_leave(db: TestDb) {
    let audit = db.open().await;
    let batch = (0..10)
        .map(|i| (time_of(i), NewEntry::new("a.b")))
        .collect();
    audit.import(batch).await.unwrap();
    // Nothing older than the oldest entry: nothing happens, nothing is recorded.
    assert!(audit.prune(time_of(0)).await.unwrap().is_none());
    assert_eq!(audit.head().await.unwrap(), 10);

    let pruned = audit.prune(time_of(4)).await.unwrap().unwrap();
    assert_eq!(
        (pruned.removed, pruned.through_id, pruned.entry.id),
        (4, 4, 11)
    );
    // SQL still cannot remove what a prune did not cover.
    let err = db
        .execute_sql("DELETE FROM entries WHERE id = 5")
        .await
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");

    // Everything, even the newest: the record of the prune is then the whole log.
    let pruned = audit
        .prune(OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pruned.removed, pruned.through_id, pruned.entry.id),
        (7, 11, 12)
    );
    let page = audit.recent(Default::default()).await.unwrap();
    assert_eq!((page.total_count, page.entries[0].id), (1, 12));
    let next = audit.track(None, "after.all", None).await.unwrap();
    assert_eq!(next.id, 13);
    audit.close().await;
}

async fn a_pruned_log_verifies_from_the_signed_prune_point(db: TestDb) {
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let audit = db
        .open_with(Options::default().checkpoints(key.clone(), Cadence::default()))
        .await;
    for i in 0..6 {
        audit.track(None, &format!("a.{i}"), None).await.unwrap();
    }
    // Signed before the prune, of the whole log as it was.
    let six = audit.write_checkpoint(&key).await.unwrap();
    let pruned = audit
        .prune(OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned.through_id, 6);
    // The prune point has its own signed checkpoint, of the tree of what went.
    let stored = audit.checkpoint_at(6).await.unwrap().unwrap();
    assert_eq!(stored.root, pruned.root);
    audit.track(None, "after.prune", None).await.unwrap();

    let report = audit
        .verify(
            Verify::default()
                .key(key.verifier())
                .anchor("six", six.note),
            |_| {},
        )
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.pruned, report.entries, report.anchors), (6, 2, 1));
    let (_, root) = audit.tree_head().await.unwrap();
    assert_eq!(to_hex(&report.root), root);
    audit.close().await;
}

async fn prune_refused_a_future_cutoff_that_removed_every_entry(db: TestDb) {
    // A cut-off in the future removed every entry, the records of earlier prunes too.
    let audit = db.open().await;
    let batch = (0..4).map(|i| (time_of(i), NewEntry::new("a.b"))).collect();
    audit.import(batch).await.unwrap();
    let first = audit.prune(time_of(2)).await.unwrap().unwrap();
    assert_eq!(first.entry.action, "hawk.pruned");
    let tomorrow = OffsetDateTime::now_utc() + Duration::days(1);
    for err in [
        audit.prune(tomorrow).await.unwrap_err(),
        audit.prune_plan(tomorrow).await.unwrap_err(),
    ] {
        let invalid = err.as_invalid().expect("refused as invalid input");
        assert_eq!(invalid.field(), "before");
        assert_eq!(err.to_string(), "before: must not be in the future");
    }
    let page = audit.recent(Default::default()).await.unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [5, 4, 3],
        "nothing was removed, the prune's record included"
    );
    assert_eq!(audit.head().await.unwrap(), 5, "nothing was recorded");
    audit.close().await;
}

async fn prune_plan_tells_what_would_go_and_removes_nothing(db: TestDb) {
    let audit = db.open().await;
    assert_eq!(
        audit.prune_plan(time_of(5)).await.unwrap(),
        None,
        "empty log"
    );
    let batch = (0..10)
        .map(|i| (time_of(i), NewEntry::new("a.b")))
        .collect();
    audit.import(batch).await.unwrap();
    assert_eq!(audit.prune_plan(time_of(0)).await.unwrap(), None);
    let plan = audit.prune_plan(time_of(4)).await.unwrap().unwrap();
    assert_eq!(
        plan,
        hawk_audit::PrunePlan {
            removed: 4,
            first_id: 1,
            through_id: 4,
            oldest: time_of(0),
            newest: time_of(3),
        }
    );
    assert_eq!(audit.head().await.unwrap(), 10, "a plan writes nothing");
    assert_eq!(
        audit.recent(Default::default()).await.unwrap().total_count,
        10
    );
    // The prune removes exactly what its plan said.
    let pruned = audit.prune(time_of(4)).await.unwrap().unwrap();
    assert_eq!(
        (pruned.removed, pruned.through_id),
        (plan.removed, plan.through_id)
    );
    // After a prune the plan starts at the oldest entry left.
    let plan = audit.prune_plan(time_of(7)).await.unwrap().unwrap();
    assert_eq!((plan.removed, plan.first_id, plan.through_id), (3, 5, 7));
    assert_eq!((plan.oldest, plan.newest), (time_of(4), time_of(6)));
    audit.close().await;
}
