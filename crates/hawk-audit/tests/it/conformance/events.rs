//! Events: the audit listener on the bus, and the head watch.

use hawk_audit::{Events, NewEntry, Options, Recent};
use serde_json::json;

use super::track;
use crate::helpers::{TestDb, conformance};

conformance!(listener_records_bus_events, head_watch_follows_every_commit);

async fn listener_records_bus_events(db: TestDb) {
    let bus = Events::with_capacity(8);
    let audit = db.open_with(Options::default().events(bus.clone())).await;
    let mut tail = bus.subscribe().await;
    let tail = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < 300 {
            seqs.push(tail.recv().await.unwrap().seq);
        }
        seqs
    });
    for i in 0..300 {
        let payload = if i % 3 == 0 {
            json!({"n": i})
        } else {
            json!({"account_id": i % 3, "n": i})
        };
        bus.emit(format!("billing.event{}", i % 2), payload)
            .await
            .unwrap();
    }
    audit.flush().await;
    let page = audit.recent(Recent::page(1, 1000)).await.unwrap();
    assert_eq!(page.total_count, 300);
    let ns: Vec<u64> = page
        .entries
        .iter()
        .rev()
        .map(|e| e.metadata["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..300).collect::<Vec<_>>(), "order kept");
    let first = page.entries.last().unwrap();
    assert_eq!(
        (first.action.as_str(), first.account_id.as_deref()),
        ("billing.event0", None)
    );
    let ones = audit.for_account("1").await.unwrap();
    assert_eq!(ones.len(), 100);
    assert!(
        ones.iter()
            .all(|e| e.resource_type.as_deref() == Some("account") && e.actor_type.is_none())
    );
    // Other subscribers got every event too, in order.
    assert_eq!(tail.await.unwrap(), (1..=300).collect::<Vec<_>>());
    assert_eq!(audit.listener_stats().unwrap().recorded, 300);
}

async fn head_watch_follows_every_commit(db: TestDb) {
    let bus = Events::new();
    let audit = db.open().await;
    track(&audit, "before.open").await;
    let audit = db.open_with(Options::default().events(bus.clone())).await;
    let mut head = audit.subscribe_head();
    assert_eq!(
        *head.borrow_and_update(),
        1,
        "starts at the head found at open"
    );

    track(&audit, "one.more").await;
    assert!(head.has_changed().unwrap());
    assert_eq!(*head.borrow_and_update(), 2);

    let batch = (0..3)
        .map(|i| NewEntry::new(format!("batch.{i}")))
        .collect();
    audit.record_batch(batch).await.unwrap();
    assert_eq!(
        *head.borrow_and_update(),
        5,
        "a batch moves it to its last id"
    );

    // A clone shares the watch; the audit listener's commits move it too.
    let clone = audit.clone();
    let waiter = tokio::spawn(async move {
        let mut head = clone.subscribe_head();
        head.wait_for(|&id| id >= 6).await.map(|id| *id).unwrap()
    });
    bus.emit("event.seen", json!({})).await.unwrap();
    audit.flush().await;
    assert_eq!(waiter.await.unwrap(), 6);
    assert_eq!(*head.borrow_and_update(), 6);

    // A failed write changes nothing.
    assert!(audit.record(NewEntry::new("")).await.is_err());
    assert!(!head.has_changed().unwrap());
}
