//! Writing and reading back: ids, times, pages, and many writers on one log.

use std::collections::BTreeSet;

use hawk_audit::{NewEntry, Recent, Ref};
use serde_json::json;
use time::OffsetDateTime;

use super::{ids, track};
use crate::helpers::{TestDb, conformance};

conformance!(
    empty_log_answers_with_empty_pages,
    track_returns_the_durable_entry,
    ids_are_dense_newest_first_with_exact_totals,
    concurrent_tracks_share_dense_ids,
    times_never_decrease_as_ids_grow,
    entries_survive_reopening,
    many_handles_write_one_file,
);

async fn empty_log_answers_with_empty_pages(db: TestDb) {
    let audit = db.open().await;
    let page = audit.recent(Recent::default()).await.unwrap();
    assert_eq!(
        (
            page.entries.len(),
            page.page,
            page.per_page,
            page.total_count,
            page.total_pages,
            page.as_of
        ),
        (0, 1, 50, 0, 1, 0)
    );
    let page = audit.recent(Recent::page(3, 10).search("x")).await.unwrap();
    assert_eq!((page.total_count, page.total_pages), (0, 1));
    assert!(audit.search("", 5).await.unwrap().is_empty());
    assert!(audit.actions("", 10).await.unwrap().is_empty());
    assert!(audit.for_account("acme").await.unwrap().is_empty());
    assert_eq!(audit.head().await.unwrap(), 0);
}

async fn track_returns_the_durable_entry(db: TestDb) {
    let audit = db.open().await;
    let before = OffsetDateTime::now_utc();
    let user = Ref::new("user", 42);
    let project = Ref::new("project", "7f1c-uuid");
    let entry = audit
        .record(
            NewEntry::new("  project.deleted  ")
                .actor(Some(&user))
                .resource(Some(&project))
                .account("acme")
                .metadata(json!({"reason": "cleanup", "nested": {"n": [1, 2]}})),
        )
        .await
        .unwrap();
    assert_eq!(entry.id, 1);
    assert_eq!(entry.action, "project.deleted");
    assert_eq!(entry.actor_type.as_deref(), Some("user"));
    assert_eq!(entry.actor_id.as_deref(), Some("42"));
    assert_eq!(entry.resource_type.as_deref(), Some("project"));
    assert_eq!(entry.resource_id.as_deref(), Some("7f1c-uuid"));
    assert_eq!(entry.account_id.as_deref(), Some("acme"));
    assert_eq!(entry.metadata["nested"]["n"], json!([1, 2]));
    assert_eq!(
        entry.inserted_at.nanosecond() % 1000,
        0,
        "microsecond precision"
    );
    assert!(entry.inserted_at >= before - time::Duration::microseconds(1));
    let json = serde_json::to_value(&entry).unwrap();
    let at = json["inserted_at"].as_str().unwrap();
    assert_eq!(at.len(), "2026-11-26T13:45:01.123456Z".len(), "{at}");
    assert!(at.ends_with('Z'));
    // What a reader sees is exactly what the writer acknowledged.
    let page = audit.recent(Recent::default()).await.unwrap();
    assert_eq!(page.entries, vec![entry.clone()]);
    // A system action on no resource has nulls and an empty metadata object.
    let system = track(&audit, "cron.ran").await;
    assert_eq!((system.actor_type, system.actor_id), (None, None));
    assert_eq!((system.resource_type, system.account_id), (None, None));
    assert!(system.metadata.is_empty());
}

async fn ids_are_dense_newest_first_with_exact_totals(db: TestDb) {
    let audit = db.open().await;
    for i in 0..120 {
        track(&audit, &format!("thing.{}", i % 3)).await;
    }
    let mut seen = Vec::new();
    for page_no in 1..=3 {
        let page = audit.recent(Recent::page(page_no, 50)).await.unwrap();
        assert_eq!(
            (page.total_count, page.total_pages, page.as_of),
            (120, 3, 120)
        );
        seen.extend(ids(&page.entries));
    }
    assert_eq!(seen, (1..=120).rev().collect::<Vec<_>>());
    let past = audit.recent(Recent::page(4, 50)).await.unwrap();
    assert!(past.entries.is_empty());
    assert_eq!((past.total_count, past.total_pages), (120, 3));
    let far = audit.recent(Recent::page(u64::MAX, 1000)).await.unwrap();
    assert!(far.entries.is_empty());
    let exact = audit
        .recent(Recent::page(1, 40).search("thing.1"))
        .await
        .unwrap();
    assert_eq!((exact.total_count, exact.total_pages), (40, 1));
    assert!(exact.entries.iter().all(|e| e.action == "thing.1"));
}

async fn concurrent_tracks_share_dense_ids(db: TestDb) {
    let audit = db.open().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let audit = audit.clone();
            tokio::spawn(async move { track(&audit, &format!("burst.{}", i % 7)).await })
        })
        .collect();
    let mut got = BTreeSet::new();
    for task in tasks {
        assert!(got.insert(task.await.unwrap().id));
    }
    assert_eq!(got, (1..=200).collect());
    let page = audit.recent(Recent::page(1, 1000)).await.unwrap();
    assert_eq!(ids(&page.entries), (1..=200).rev().collect::<Vec<_>>());
}

async fn times_never_decrease_as_ids_grow(db: TestDb) {
    let audit = db.open().await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let audit = audit.clone();
            tokio::spawn(async move { track(&audit, "tick").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let page = audit.recent(Recent::page(1, 1000)).await.unwrap();
    for pair in page.entries.windows(2) {
        assert!(pair[0].id > pair[1].id);
        assert!(pair[0].inserted_at >= pair[1].inserted_at);
    }
}

async fn entries_survive_reopening(db: TestDb) {
    let audit = db.open().await;
    let written = track(&audit, "before.close").await;
    audit.close().await;
    let audit = db.open().await;
    let page = audit.recent(Recent::default()).await.unwrap();
    assert_eq!(page.entries, vec![written]);
    assert_eq!(track(&audit, "after.reopen").await.id, 2);
}

async fn many_handles_write_one_file(db: TestDb) {
    // Separate handles have separate writer connections, as separate processes do.
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(db.open().await);
    }
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let audit = handles[i % 4].clone();
            tokio::spawn(async move { track(&audit, &format!("writer.{}", i % 4)).await.id })
        })
        .collect();
    let mut got = BTreeSet::new();
    for task in tasks {
        assert!(got.insert(task.await.unwrap()));
    }
    assert_eq!(got, (1..=200).collect());
    let counts = handles[0].actions("writer", 10).await.unwrap();
    assert!(counts.iter().all(|a| a.count == 50), "{counts:?}");
}
