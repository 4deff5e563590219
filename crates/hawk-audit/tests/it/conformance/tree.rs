//! Tamper evidence: leaf hashes, the tree head, append-only tables, older logs.

use std::collections::BTreeSet;

use hawk_audit::merkle::{EMPTY_ROOT, to_hex};
use hawk_audit::{NewEntry, Recent, Ref};
use serde_json::json;
use time::OffsetDateTime;

use super::{all_entries, assert_hashed, ids, track, tree_of};
use crate::helpers::{TestDb, conformance};

conformance!(
    entries_refuse_update_and_delete_in_sql,
    entries_carry_their_leaf_hash,
    tree_head_covers_every_entry_across_handles,
    sixteen_writers_on_two_handles_keep_ids_dense_and_the_tree_whole,
);

/// SQLite only: it rewrites the file into what a build before leaf hashes wrote.
/// PostgreSQL logs have stored leaf hashes since their first migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_older_logs_are_hashed_when_opened() {
    older_logs_are_hashed_when_opened(TestDb::sqlite()).await
}

async fn entries_carry_their_leaf_hash(db: TestDb) {
    let audit = db.open().await;
    assert_eq!(audit.tree_head().await.unwrap(), (0, to_hex(&EMPTY_ROOT)));
    let user = Ref::new("user", 42);
    let mut stored = vec![
        track(&audit, "system.tick").await,
        audit
            .record(
                NewEntry::new("doc.shared")
                    .actor(Some(&user))
                    .resource(Some(&Ref::new("document", "d-1")))
                    .account("acme")
                    .metadata(json!({
                        "z": [1, 2.5, -0.0, 1e300, 18446744073709551615u64, "é\u{0}"],
                        "a": {"nested": {"b": null, "a": true}},
                        "float": 0.1,
                        "emoji": "🦅"
                    })),
            )
            .await
            .unwrap(),
    ];
    stored.extend(
        audit
            .record_batch(vec![
                NewEntry::new("a.b").account("globex"),
                NewEntry::new("  trimmed  ").actor(Some(&Ref::new("svc", " id "))),
            ])
            .await
            .unwrap(),
    );
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(1_800_000_000_123_457);
    stored.extend(
        audit
            .import(vec![(t, NewEntry::new("imported"))])
            .await
            .unwrap(),
    );
    assert_hashed(&stored);
    let hashes: BTreeSet<&str> = stored.iter().map(|e| e.hash.as_str()).collect();
    assert_eq!(hashes.len(), stored.len(), "every hash differs");

    let read = all_entries(&audit).await;
    assert_eq!(read, stored, "read back exactly as returned, hash included");
    let mut page = audit.recent(Recent::page(1, 50)).await.unwrap().entries;
    page.reverse();
    assert_eq!(page, stored);
    assert_hashed(&audit.for_account("acme").await.unwrap());
    let json = serde_json::to_value(&stored[1]).unwrap();
    assert_eq!(json["hash"], stored[1].hash);
    let text = serde_json::to_string(&stored[1]).unwrap();
    assert!(
        text.ends_with(&format!(r#"}},"hash":"{}"}}"#, stored[1].hash)),
        "hash comes last, after metadata: {text}"
    );
    assert_eq!(audit.tree_head().await.unwrap(), tree_of(&read));
}

async fn tree_head_covers_every_entry_across_handles(db: TestDb) {
    // Separate handles have separate writers, as separate processes do: each must
    // notice that the tree grew elsewhere before it appends.
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(db.open().await);
    }
    for round in 0..3 {
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let audit = handles[i % 4].clone();
                tokio::spawn(async move {
                    if i % 20 == 5 {
                        // Fails at commit, possibly in a transaction shared with
                        // others: their entries are committed again without it.
                        let late = OffsetDateTime::UNIX_EPOCH;
                        let failed = audit.import(vec![(late, NewEntry::new("too.old"))]);
                        assert!(failed.await.is_err());
                        vec![]
                    } else if i % 7 == 0 {
                        let batch = (0..3)
                            .map(|j| NewEntry::new(format!("batch.{j}")).account("acme"))
                            .collect();
                        audit.record_batch(batch).await.unwrap()
                    } else {
                        vec![track(&audit, &format!("writer.{}", i % 4)).await]
                    }
                })
            })
            .collect();
        for task in tasks {
            assert_hashed(&task.await.unwrap());
        }
        // A failed append leaves the tree as it was.
        let late = OffsetDateTime::UNIX_EPOCH;
        let failed = handles[round].import(vec![(late, NewEntry::new("too.old"))]);
        assert!(failed.await.is_err());
        let entries = all_entries(&handles[0]).await;
        let want = tree_of(&entries);
        assert_eq!(want.0, entries.len() as u64);
        assert_eq!(want.0, handles[0].head().await.unwrap());
        for audit in &handles {
            assert_eq!(audit.tree_head().await.unwrap(), want, "round {round}");
        }
    }
    let reopened = db.open().await;
    let entries = all_entries(&reopened).await;
    // Per round: 9 batches of 3 (i % 7 == 0), 3 failed imports, 48 single entries.
    assert_eq!(entries.len(), 3 * (9 * 3 + 48));
    assert_hashed(&entries);
    assert_eq!(reopened.tree_head().await.unwrap(), tree_of(&entries));
}

async fn older_logs_are_hashed_when_opened(db: TestDb) {
    let audit = db.open().await;
    for i in 0..25 {
        audit
            .record(
                NewEntry::new(format!("old.{}", i % 3))
                    .account(format!("acct{}", i % 2))
                    .metadata(json!({"i": i, "f": f64::from(i) / 3.0})),
            )
            .await
            .unwrap();
    }
    let before = all_entries(&audit).await;
    let head = audit.tree_head().await.unwrap();
    audit.close().await;

    // Turn the file into what a build before hashes wrote: schema version 3, no hash
    // column, no tree, no append-only triggers (nor what later migrations add).
    {
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        conn.execute_batch(&crate::helpers::downgrade_sql(3))
            .unwrap();
    }

    let audit = db.open().await;
    let after = all_entries(&audit).await;
    assert_eq!(after, before, "the same hashes as when they were written");
    assert_hashed(&after);
    assert_eq!(audit.tree_head().await.unwrap(), head);
    // And the log grows from there.
    let next = track(&audit, "new.one").await;
    assert_eq!(next.id, 26);
    let all = all_entries(&audit).await;
    assert_hashed(&all);
    assert_eq!(audit.tree_head().await.unwrap(), tree_of(&all));
    let version: i64 = rusqlite::Connection::open(db.path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 12, "every migration applied");
}

async fn entries_refuse_update_and_delete_in_sql(db: TestDb) {
    let audit = db.open().await;
    let kept = track(&audit, "kept.as.is").await;
    for (sql, verb) in [
        (
            "UPDATE entries SET actor_id = 'mallory' WHERE id = 1",
            "UPDATE",
        ),
        ("UPDATE entries SET hash = NULL", "UPDATE"),
        ("DELETE FROM entries WHERE id = 1", "DELETE"),
        ("DELETE FROM entries", "DELETE"),
    ] {
        let err = db.execute_sql(sql).await.unwrap_err();
        assert!(
            err.contains(&format!("append-only: {verb} refused")),
            "{sql}: {err}"
        );
    }
    let page = audit.recent(Recent::default()).await.unwrap();
    assert_eq!(page.entries, vec![kept]);
    // Appending still works, and so do the counters kept beside the entries.
    assert_eq!(track(&audit, "kept.as.is").await.id, 2);
    assert_eq!(audit.actions("kept", 5).await.unwrap()[0].count, 2);
}

async fn sixteen_writers_on_two_handles_keep_ids_dense_and_the_tree_whole(db: TestDb) {
    // Two handles with their own connections and writers, as two processes have.
    let handles = [db.open().await, db.open().await];
    const WRITERS: usize = 16;
    const EACH: usize = 25;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let audit = handles[w % 2].clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let entry = if i % 5 == 4 {
                        let batch = (0..3)
                            .map(|j| {
                                NewEntry::new(format!("writer.{w}.batch"))
                                    .account(format!("acct{}", w % 3))
                                    .metadata(json!({"w": w, "i": i, "j": j}))
                            })
                            .collect();
                        audit.record_batch(batch).await.unwrap()
                    } else {
                        let entry = NewEntry::new(format!("writer.{w}"))
                            .account(format!("acct{}", w % 3))
                            .metadata(json!({"w": w, "i": i}));
                        vec![audit.record(entry).await.unwrap()]
                    };
                    ids.extend(entry.into_iter().map(|e| e.id));
                }
                ids
            })
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(acknowledged.insert(id), "id {id} given twice");
        }
    }
    let n = (WRITERS * (EACH / 5 * 4 + EACH / 5 * 3)) as u64;
    assert_eq!(acknowledged, (1..=n).collect(), "ids are dense");

    let entries = all_entries(&handles[1]).await;
    assert_eq!(ids(&entries), (1..=n).collect::<Vec<_>>());
    let written: BTreeSet<String> = entries
        .iter()
        .map(|e| serde_json::to_string(&e.metadata).unwrap())
        .collect();
    assert_eq!(written.len() as u64, n, "every entry stored once");
    assert_hashed(&entries);
    for audit in &handles {
        assert_eq!(audit.tree_head().await.unwrap(), tree_of(&entries));
        assert_eq!(audit.head().await.unwrap(), n);
    }
    // Counters are exact: per action, per account, and pages agree with them.
    for w in 0..WRITERS {
        let counts = handles[0].actions(&format!("writer.{w}"), 5).await.unwrap();
        let single = counts.iter().find(|a| a.action == format!("writer.{w}"));
        assert_eq!(single.map(|a| a.count), Some((EACH / 5 * 4) as u64));
    }
    let mut total = 0;
    for a in 0..3 {
        let account = format!("acct{a}");
        let page = handles[0]
            .for_account_page(&account, Recent::page(1, 1000))
            .await
            .unwrap();
        assert_eq!(page.total_count, page.entries.len() as u64);
        assert!(
            page.entries
                .iter()
                .all(|e| e.account_id.as_deref() == Some(&account))
        );
        total += page.total_count;
    }
    assert_eq!(total, n);
}
