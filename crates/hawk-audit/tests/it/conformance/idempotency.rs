//! Idempotent appends: a retried append is stored once.

use hawk_audit::{NewEntry, Ref, Rule};
use serde_json::json;

use super::{all_entries, ids, track};
use crate::helpers::{TestDb, assert_intact, conformance};

conformance!(
    a_retried_append_was_stored_twice,
    an_idempotency_key_reused_for_other_entries_writes_nothing,
    idempotency_keys_were_forgotten_on_reopening,
    concurrent_retries_under_one_key_were_stored_twice,
    an_idempotency_key_is_forgotten_after_24_hours,
);

fn keyed_batch(tag: &str) -> Vec<NewEntry> {
    vec![
        NewEntry::new("invoice.paid")
            .account("acme")
            .metadata(json!({"tag": tag, "amount": 12.5})),
        NewEntry::new("invoice.sent").actor(Some(&Ref::new("user", 7))),
    ]
}

async fn a_retried_append_was_stored_twice(db: TestDb) {
    // A caller retrying an append it could not tell was committed got a second copy.
    let audit = db.open().await;
    track(&audit, "before").await;
    let first = audit
        .record_batch_idempotent("retry-1", keyed_batch("a"))
        .await
        .unwrap();
    assert_eq!(ids(&first), vec![2, 3]);
    let again = audit
        .record_batch_idempotent("retry-1", keyed_batch("a"))
        .await
        .unwrap();
    assert_eq!(again, first, "the entries stored the first time, same ids");
    assert_eq!(audit.head().await.unwrap(), 3);

    // One entry: the same through `record_idempotent`, and the next append moves on.
    let one = NewEntry::new("key.rotated").metadata(json!({"n": 1}));
    let stored = audit
        .record_idempotent("retry-2", one.clone())
        .await
        .unwrap();
    assert_eq!(stored.id, 4);
    for _ in 0..3 {
        let again = audit
            .record_idempotent("retry-2", one.clone())
            .await
            .unwrap();
        assert_eq!(again, stored);
    }
    // The key is not part of the entry: what is stored hashes as any entry does.
    assert_eq!(track(&audit, "after").await.id, 5);
    assert_intact(&audit).await;
    assert_eq!(all_entries(&audit).await.len(), 5);
}

async fn an_idempotency_key_reused_for_other_entries_writes_nothing(db: TestDb) {
    // Another body under a live key must be refused, not stored nor answered with the
    // first body's entries.
    let audit = db.open().await;
    let first = audit
        .record_batch_idempotent("k", keyed_batch("a"))
        .await
        .unwrap();
    let others = [
        keyed_batch("b"),
        keyed_batch("a")[..1].to_vec(),
        vec![NewEntry::new("invoice.paid")],
    ];
    for other in others {
        let err = audit.record_batch_idempotent("k", other).await.unwrap_err();
        let invalid = err.as_invalid().expect("an input error");
        assert_eq!(invalid.field(), "idempotency_key");
        assert_eq!(invalid.rule(), Rule::Reused);
        assert_eq!(invalid.code(), "reused");
    }
    // Bad keys are refused before anything is written.
    let long = "k".repeat(256);
    for (key, rule) in [
        ("", Rule::Empty),
        (
            long.as_str(),
            Rule::TooLong {
                max: 255,
                unit: "characters",
            },
        ),
        (
            "tab\there",
            Rule::Malformed("must be printable ASCII (U+0020-U+007E)"),
        ),
        (
            "clé",
            Rule::Malformed("must be printable ASCII (U+0020-U+007E)"),
        ),
    ] {
        let err = audit
            .record_idempotent(key, NewEntry::new("a.b"))
            .await
            .unwrap_err();
        let invalid = err.as_invalid().expect("an input error");
        assert_eq!((invalid.field(), invalid.rule()), ("idempotency_key", rule));
    }
    assert_eq!(audit.head().await.unwrap(), 2);
    // The first body still repeats.
    let again = audit
        .record_batch_idempotent("k", keyed_batch("a"))
        .await
        .unwrap();
    assert_eq!(again, first);
}

async fn idempotency_keys_were_forgotten_on_reopening(db: TestDb) {
    // A retry reaching a restarted process (or another one on the log) must still find
    // the key.
    let audit = db.open().await;
    let first = audit
        .record_batch_idempotent("restart", keyed_batch("a"))
        .await
        .unwrap();
    audit.close().await;
    let audit = db.open().await;
    let other = db.open().await;
    assert_eq!(
        audit
            .record_batch_idempotent("restart", keyed_batch("a"))
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        other
            .record_batch_idempotent("restart", keyed_batch("a"))
            .await
            .unwrap(),
        first
    );
    let err = other
        .record_batch_idempotent("restart", keyed_batch("b"))
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.rule()), Some(Rule::Reused));
    assert_eq!(audit.head().await.unwrap(), 2);
}

async fn concurrent_retries_under_one_key_were_stored_twice(db: TestDb) {
    // Two requests with one key at once must never both write: they may share a
    // commit group, or reach two handles (two processes) at once.
    let handles = [db.open().await, db.open().await];
    for round in 0..4 {
        let key = format!("burst-{round}");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let audit = handles[i % 2].clone();
                let key = key.clone();
                tokio::spawn(async move {
                    audit
                        .record_batch_idempotent(&key, keyed_batch(&key))
                        .await
                        .unwrap()
                })
            })
            .collect();
        // Unkeyed appends share the groups of the keyed ones.
        let plain: Vec<_> = (0..8)
            .map(|i| {
                let audit = handles[i % 2].clone();
                tokio::spawn(async move { track(&audit, "plain").await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        for task in plain {
            task.await.unwrap();
        }
        assert!(answers.iter().all(|a| a == &answers[0]), "round {round}");
    }
    let entries = assert_intact(&handles[0]).await;
    assert_eq!(entries.len(), 4 * 2 + 4 * 8, "each keyed batch stored once");
}

async fn an_idempotency_key_is_forgotten_after_24_hours(db: TestDb) {
    // Keys are kept for 24 hours; after that the key is free for a new body.
    let audit = db.open().await;
    let first = audit
        .record_batch_idempotent("old", keyed_batch("a"))
        .await
        .unwrap();
    audit
        .record_idempotent("older", NewEntry::new("a.b"))
        .await
        .unwrap();
    let aged = db
        .execute_sql(db.dialect(
            "UPDATE idempotency_keys SET created_at = created_at - 86400000000",
            "UPDATE idempotency_keys SET created_at = created_at - interval '24 hours'",
        ))
        .await
        .unwrap();
    assert_eq!(aged, 2);
    let second = audit
        .record_batch_idempotent("old", keyed_batch("b"))
        .await
        .unwrap();
    assert_eq!(ids(&second), vec![4, 5]);
    assert_ne!(ids(&first), ids(&second));
    // The key now stands for the new body.
    assert_eq!(
        audit
            .record_batch_idempotent("old", keyed_batch("b"))
            .await
            .unwrap(),
        second
    );
    // Expired keys are deleted by a writer's first keyed append (then hourly).
    let fresh = db.open().await;
    fresh
        .record_idempotent("fresh", NewEntry::new("a.b"))
        .await
        .unwrap();
    let keys = db
        .query_integers("SELECT count(*) FROM idempotency_keys WHERE key = 'older'")
        .await;
    assert_eq!(keys, vec![vec![0]], "the expired key was deleted");
    let keys = db
        .query_integers("SELECT count(*) FROM idempotency_keys")
        .await;
    assert_eq!(keys, vec![vec![2]], "the live keys stay");
}
