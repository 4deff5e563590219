//! PostgreSQL only: what one database shared by several processes adds to the
//! conformance suite (which runs on both engines).

use std::time::Duration;

use hawk_audit::{Audit, NewEntry};

use crate::helpers::TestDb;

macro_rules! postgres_db {
    ($name:literal) => {
        match TestDb::postgres($name).await {
            Some(db) => db,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_watch_sees_commits_of_other_handles() {
    let db = postgres_db!("head_watch_sees_commits_of_other_handles");
    let writer = db.open().await;
    let reader = db.open().await;
    let mut head = reader.subscribe_head();
    assert_eq!(*head.borrow_and_update(), 0);

    let entry = writer
        .record(NewEntry::new("elsewhere.done"))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), head.wait_for(|&id| id >= 1))
        .await
        .expect("the other handle's commit is announced")
        .map(|id| *id)
        .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(
        reader.entries_after(0, 10, None).await.unwrap(),
        vec![entry]
    );

    // A batch moves it to its last id.
    let batch = (0..3).map(|i| NewEntry::new(format!("b.{i}"))).collect();
    writer.record_batch(batch).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), head.wait_for(|&id| id >= 4))
        .await
        .expect("the batch is announced")
        .unwrap();
    assert_eq!(reader.entries_after(1, 10, None).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_migrating_at_once_agree() {
    let db = postgres_db!("processes_migrating_at_once_agree");
    let url = db.url().replacen("postgres://", "postgresql://", 1);
    let opened = futures_util::future::join_all((0..4).map(|_| Audit::open(&url))).await;
    let handles: Vec<Audit> = opened.into_iter().map(Result::unwrap).collect();
    for (i, audit) in handles.iter().enumerate() {
        let entry = audit.record(NewEntry::new("opened.at.once")).await.unwrap();
        assert_eq!(entry.id, i as u64 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_refuse_truncate_and_deletes_no_prune_covers() {
    let db = postgres_db!("entries_refuse_truncate_and_deletes_no_prune_covers");
    let audit = db.open().await;
    audit.record(NewEntry::new("kept")).await.unwrap();
    let err = db.execute_sql("TRUNCATE entries").await.unwrap_err();
    assert!(err.contains("append-only: TRUNCATE refused"), "{err}");
    // A delete needs both: a transaction that says it prunes, and a prune that covers
    // the id. Each attempt rolls back.
    let attempt = |says_prune: bool, covered: bool| {
        let mut steps = String::new();
        if covered {
            steps.push_str(
                "INSERT INTO prunes (through_id, last_time, before, removed, frontier, pruned_at)
                 VALUES (1, now(), now(), 1, '', now());",
            );
        }
        if says_prune {
            steps.push_str("PERFORM set_config('hawk.prune', 'on', true);");
        }
        format!(
            "DO $$ BEGIN {steps}
                 DELETE FROM entries WHERE id = 1;
                 RAISE EXCEPTION 'rolled back on purpose';
             END $$"
        )
    };
    for (says_prune, covered) in [(false, false), (true, false), (false, true)] {
        let err = db
            .execute_sql(&attempt(says_prune, covered))
            .await
            .unwrap_err();
        assert!(
            err.contains("append-only: DELETE refused"),
            "prune {says_prune}, covered {covered}: {err}"
        );
    }
    let err = db.execute_sql(&attempt(true, true)).await.unwrap_err();
    assert_eq!(
        err, "rolled back on purpose",
        "the delete itself was allowed"
    );
    assert_eq!(audit.head().await.unwrap(), 1);
    assert_eq!(audit.entries_after(0, 10, None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_and_another_process_appending_keep_ids_dense_and_counts_exact() {
    let db = postgres_db!("a_prune_and_another_process_appending_keep_ids_dense_and_counts_exact");
    let writer = db.open().await;
    let pruner = db.open().await;
    let old = time::macros::datetime!(2020-01-01 0:00 UTC);
    let batch = (0..300)
        .map(|i| {
            (
                old + time::Duration::seconds(i),
                NewEntry::new("old.entry").account("acme"),
            )
        })
        .collect();
    writer.import(batch).await.unwrap();
    // Appends of another handle queue on the head row with the prune, before or after.
    let appending = tokio::spawn(async move {
        for _ in 0..40 {
            writer
                .record(NewEntry::new("new.entry").account("acme"))
                .await
                .unwrap();
        }
    });
    let pruned = pruner
        .prune(time::macros::datetime!(2021-01-01 0:00 UTC))
        .await
        .unwrap()
        .unwrap();
    appending.await.unwrap();
    assert_eq!((pruned.removed, pruned.through_id), (300, 300));

    let left = pruner.entries_after(0, 1000, None).await.unwrap();
    let ids: Vec<u64> = left.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (301..=341).collect::<Vec<u64>>(),
        "dense after the prune"
    );
    assert!(ids.contains(&pruned.entry.id));
    assert_eq!(pruner.head().await.unwrap(), 341);
    assert_eq!(pruner.tree_head().await.unwrap().0, 341);
    let page = pruner.recent(Default::default()).await.unwrap();
    assert_eq!(page.total_count, 41);
    let account = pruner
        .for_account_page("acme", Default::default())
        .await
        .unwrap();
    assert_eq!(account.total_count, 40);
    let actions: Vec<(String, u64)> = pruner
        .actions("", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.count))
        .collect();
    assert_eq!(
        actions,
        [("new.entry".to_owned(), 40), ("hawk.pruned".to_owned(), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_select_and_insert_only_appends_and_reads() {
    let db = postgres_db!("a_role_with_select_and_insert_only_appends_and_reads");
    let owner = db.open().await;
    owner
        .record(NewEntry::new("by.owner").account("acme"))
        .await
        .unwrap();
    let role = format!("{}_app", db.name());
    // The grants of README.md's PostgreSQL section.
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE {} TO {role}", db.name()),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!(
            "GRANT SELECT ON hawk_schema, entries, actions, accounts, log_head, api_keys, \
             tree_nodes, checkpoints, prunes TO {role}"
        ),
        format!("GRANT INSERT ON entries, tree_nodes, checkpoints TO {role}"),
        format!("GRANT INSERT, UPDATE ON actions, accounts, log_head TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO {role}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE ON filter_chunks, filter_postings, filter_totals TO {role}"
        ),
        format!("GRANT INSERT, UPDATE ON api_keys TO {role}"),
        format!("GRANT USAGE ON SEQUENCE api_keys_id_seq TO {role}"),
    ] {
        db.execute_sql(&sql).await.unwrap();
    }

    let app = Audit::open(&db.url_as(&role)).await.unwrap();
    let entry = app
        .record(NewEntry::new("by.app").account("acme"))
        .await
        .unwrap();
    assert_eq!(entry.id, 2);
    let page = app
        .for_account_page("acme", Default::default())
        .await
        .unwrap();
    assert_eq!(page.total_count, 2);
    app.create_key(hawk_audit::Scope::Read, None).await.unwrap();
    // Enough entries to complete a stored subtree, and a signed checkpoint.
    let batch = (0..300)
        .map(|i| NewEntry::new(format!("bulk.{i}")))
        .collect();
    app.record_batch(batch).await.unwrap();
    // A keyed append reads, writes and sweeps the idempotency keys.
    let keyed = NewEntry::new("keyed.append");
    let first = app.record_idempotent("k1", keyed.clone()).await.unwrap();
    assert_eq!(app.record_idempotent("k1", keyed).await.unwrap(), first);
    let key = hawk_audit::checkpoint::SigningKey::generate("example.com/hawk").unwrap();
    assert_eq!(app.write_checkpoint(&key).await.unwrap().size, 303);
    let report = app
        .verify(hawk_audit::Verify::default().key(key.verifier()), |_| {})
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    // Pruning deletes: the owner's work, refused here without a trace.
    let now = time::OffsetDateTime::now_utc();
    let err = app.prune(now).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(app.head().await.unwrap(), 303);
    assert_eq!(
        app.recent(Default::default()).await.unwrap().total_count,
        303
    );
    for sql in [
        "UPDATE entries SET actor_id = 'mallory'",
        "DELETE FROM entries",
        "TRUNCATE entries",
        "UPDATE checkpoints SET note = ''",
        "DELETE FROM checkpoints",
        "DELETE FROM tree_nodes",
    ] {
        let err = db.execute_sql_as(&role, sql).await.unwrap_err();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    drop(app);
    drop(owner);
    db.execute_sql(&format!("DROP OWNED BY {role}"))
        .await
        .unwrap();
    db.execute_sql(&format!("DROP ROLE {role}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_postgres_cannot_store_is_refused_as_invalid() {
    let db = postgres_db!("text_postgres_cannot_store_is_refused_as_invalid");
    let audit = db.open().await;
    let nul = hawk_audit::Ref::new("user", "a\0b");
    let err = audit
        .track(Some(&nul), "user.login", None)
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("actor_id"));
    let batch = vec![
        NewEntry::new("fine"),
        NewEntry::new("not.fine").account("x\0y"),
    ];
    let err = audit.record_batch(batch).await.unwrap_err();
    let invalid = err.as_invalid().expect("invalid");
    assert_eq!((invalid.field(), invalid.index()), ("account_id", Some(1)));
    assert_eq!(audit.head().await.unwrap(), 0, "nothing written");
    // No stored account can hold it, so reads find nothing rather than fail.
    assert!(audit.for_account("x\0y").await.unwrap().is_empty());
    let page = audit
        .for_account_page("x\0y", Default::default())
        .await
        .unwrap();
    assert_eq!(page.total_count, 0);
    assert!(
        audit
            .entries_after(0, 10, Some("x\0y"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        audit
            .account_actions("x\0y", "", 5)
            .await
            .unwrap()
            .is_empty()
    );
    // Metadata is stored as JSON text, where U+0000 is an escape like any other.
    let entry = audit
        .record(NewEntry::new("nul.in.metadata").metadata(serde_json::json!({"s": "a\0b"})))
        .await
        .unwrap();
    assert_eq!(audit.entries_after(0, 10, None).await.unwrap(), vec![entry]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_watch_catches_up_after_its_connection_is_cut() {
    let db = postgres_db!("head_watch_catches_up_after_its_connection_is_cut");
    let writer = db.open().await;
    let reader = db.open().await;
    let mut head = reader.subscribe_head();
    let cut = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = '{}' AND application_name = 'hawk (head listener)'",
        db.name()
    );
    // Wait until both listeners are connected, then cut them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db
        .execute_sql(&cut.replace("count(pg_terminate_backend(pid))", "1"))
        .await
        .unwrap()
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "listeners connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.execute_sql(&cut).await.unwrap();
    // Committed while the reader's listener is away: its notification is lost, and
    // the head read after reconnecting covers it.
    writer.record(NewEntry::new("while.away")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), head.wait_for(|&id| id >= 1))
        .await
        .expect("caught up after reconnecting")
        .unwrap();
    writer.record(NewEntry::new("after.return")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), head.wait_for(|&id| id >= 2))
        .await
        .expect("notified again")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_store_and_hash_the_same_entries_alike() {
    let db = postgres_db!("both_engines_store_and_hash_the_same_entries_alike");
    let sqlite = TestDb::sqlite();
    let t0 = hawk_audit::time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let entries: Vec<_> = (0..40u32)
        .map(|i| {
            let at = t0 + Duration::from_micros(u64::from(i) * 1_234_567);
            let mut entry =
                NewEntry::new(format!("  same.{}  ", i % 4)).metadata(serde_json::json!({
                    "i": i,
                    "third": f64::from(i) / 3.0,
                    "big": u64::MAX - u64::from(i),
                    "text": format!("é\u{1F600}\"{i}"),
                    "nested": {"z": [1, 2.5, null, true], "a": {}},
                }));
            if i % 3 == 0 {
                entry = entry.account(format!("acct{}", i % 2));
            }
            if i % 5 != 0 {
                let actor = hawk_audit::Ref::new("user", i);
                entry = entry.actor(Some(&actor));
            }
            (at, entry)
        })
        .collect();
    let on_pg = db.open().await.import(entries.clone()).await.unwrap();
    let on_sqlite = sqlite.open().await.import(entries).await.unwrap();
    assert_eq!(on_pg, on_sqlite, "returned alike, hashes included");
    let (pg, lite) = (db.open().await, sqlite.open().await);
    assert_eq!(
        pg.entries_after(0, 100, None).await.unwrap(),
        lite.entries_after(0, 100, None).await.unwrap(),
        "read back alike"
    );
    assert_eq!(
        pg.tree_head().await.unwrap(),
        lite.tree_head().await.unwrap()
    );
}
