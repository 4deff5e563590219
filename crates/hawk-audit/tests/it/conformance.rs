//! The conformance suite: the contract of DESIGN.md sections 1–3, written once against
//! the `Audit` handle and run on every engine by `conformance!`.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use hawk_audit::merkle::{EMPTY_ROOT, Frontier, leaf_hash, to_hex};
use hawk_audit::{Audit, Entry, Error, Events, NewEntry, Options, Recent, Ref, Rule, Scope};
use serde_json::json;
use time::OffsetDateTime;

use crate::helpers::{TestDb, assert_intact, conformance};

conformance!(
    entries_refuse_update_and_delete_in_sql,
    empty_log_answers_with_empty_pages,
    track_returns_the_durable_entry,
    ids_are_dense_newest_first_with_exact_totals,
    concurrent_tracks_share_dense_ids,
    times_never_decrease_as_ids_grow,
    search_takes_wildcards_literally,
    search_is_unicode_case_insensitive_and_trimmed,
    typeahead_returns_newest_matches,
    suggestions_rank_prefix_matches_first,
    account_is_inferred_and_filtered_by_account_id,
    account_pages_and_stream_agree,
    as_of_pins_paging_while_entries_arrive,
    bad_input_writes_nothing,
    bad_batch_writes_nothing,
    control_characters_are_refused_in_every_string_field,
    bad_query_options_are_refused,
    entries_survive_reopening,
    many_handles_write_one_file,
    imports_keep_time_order,
    resumable_imports_write_each_batch_once,
    listener_records_bus_events,
    entries_after_walks_forward_in_id_order,
    entries_after_refuses_bad_limits_and_accounts,
    head_watch_follows_every_commit,
    api_keys_are_stored_hashed_scoped_and_revocable,
    account_search_and_suggestions_see_one_account,
    entries_carry_their_leaf_hash,
    tree_head_covers_every_entry_across_handles,
    sixteen_writers_on_two_handles_keep_ids_dense_and_the_tree_whole,
    read_only_and_no_create_opens_never_make_or_change_a_log,
    a_retried_append_was_stored_twice,
    an_idempotency_key_reused_for_other_entries_writes_nothing,
    idempotency_keys_were_forgotten_on_reopening,
    concurrent_retries_under_one_key_were_stored_twice,
    an_idempotency_key_is_forgotten_after_24_hours,
    storage_errors_dropped_the_drivers_error,
);

/// SQLite only: it rewrites the file into what a build before leaf hashes wrote.
/// PostgreSQL logs have stored leaf hashes since their first migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_older_logs_are_hashed_when_opened() {
    older_logs_are_hashed_when_opened(TestDb::sqlite()).await
}

async fn read_only_and_no_create_opens_never_make_or_change_a_log(db: TestDb) {
    // Reading a mistyped path made an empty log that then verified as intact.
    for options in [
        Options::default().create(false),
        Options::default().read_only(true),
    ] {
        let err = Audit::open_with(db.url(), options)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }
    if !db.is_postgres() {
        assert!(!db.path().exists(), "no file was created");
    }
    let err = Audit::open_with(
        db.url(),
        Options::default().read_only(true).events(Events::new()),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("events"));

    let writer = db.open().await;
    track(&writer, "first.entry").await;
    let reader = db.open_with(Options::default().read_only(true)).await;
    assert!(reader.is_read_only());
    assert_eq!(reader.head().await.unwrap(), 1);
    // Every write is refused before it reaches the store.
    let refused = [
        reader.track(None, "x.y", None).await.err(),
        reader.create_key(Scope::Read, None).await.err(),
        reader.prune(OffsetDateTime::now_utc()).await.err(),
    ];
    for err in refused {
        let err = err.expect("refused");
        assert!(err.to_string().contains("opened read-only"), "{err}");
    }
    // It follows what a writer appends, and verifies.
    track(&writer, "second.entry").await;
    assert_eq!(reader.head().await.unwrap(), 2);
    assert_eq!(
        reader.recent(Recent::default()).await.unwrap().total_count,
        2
    );
    crate::helpers::assert_intact(&reader).await;
    reader.close().await;
    writer.close().await;

    // A log that needs a migration is not migrated read-only, and says so.
    let older = if db.is_postgres() {
        crate::helpers::downgrade_postgres_sql(4)
    } else {
        crate::helpers::downgrade_sql(8)
    };
    db.batch_sql(&older).await;
    let err = Audit::open_with(db.url(), Options::default().read_only(true))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("cannot migrate"), "{err}");
    // A writing open migrates it; then it reads.
    db.open().await.close().await;
    let reader = db.open_with(Options::default().read_only(true)).await;
    assert_eq!(reader.head().await.unwrap(), 2);
}

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

async fn search_takes_wildcards_literally(db: TestDb) {
    let audit = db.open().await;
    for action in [
        "promo.50%_off",
        "promo.50xyoff",
        "promo.50_x",
        r"path.a\b",
        "path.ab",
        "plain",
    ] {
        track(&audit, action).await;
    }
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(search_actions(&audit, "%").await, set(&["promo.50%_off"]));
    assert_eq!(
        search_actions(&audit, "_").await,
        set(&["promo.50%_off", "promo.50_x"])
    );
    assert_eq!(
        search_actions(&audit, "50%_").await,
        set(&["promo.50%_off"])
    );
    assert_eq!(search_actions(&audit, r"\").await, set(&[r"path.a\b"]));
    assert_eq!(search_actions(&audit, r"a\b").await, set(&[r"path.a\b"]));
    assert_eq!(search_actions(&audit, "'").await, set(&[]));
    assert_eq!(search_actions(&audit, "*").await, set(&[]));
}

async fn search_is_unicode_case_insensitive_and_trimmed(db: TestDb) {
    let audit = db.open().await;
    for action in ["Été.Créé", "ÉCOLE.opened", "user.LOGIN", "user.logout"] {
        track(&audit, action).await;
    }
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(search_actions(&audit, "été").await, set(&["Été.Créé"]));
    assert_eq!(search_actions(&audit, "ÉTÉ.CRÉÉ").await, set(&["Été.Créé"]));
    assert_eq!(
        search_actions(&audit, "école").await,
        set(&["ÉCOLE.opened"])
    );
    assert_eq!(
        search_actions(&audit, "  Login \t").await,
        set(&["user.LOGIN"])
    );
    assert_eq!(
        search_actions(&audit, "   ").await.len(),
        4,
        "blank is no filter"
    );
    let page = audit
        .recent(Recent::default().search("USER."))
        .await
        .unwrap();
    assert_eq!(page.total_count, 2);
}

async fn typeahead_returns_newest_matches(db: TestDb) {
    let audit = db.open().await;
    for i in 0..10 {
        track(
            &audit,
            if i % 2 == 0 {
                "invoice.paid"
            } else {
                "user.login"
            },
        )
        .await;
    }
    let hits = audit.search("INV", 3).await.unwrap();
    assert_eq!(ids(&hits), vec![9, 7, 5]);
    assert_eq!(ids(&audit.search("", 2).await.unwrap()), vec![10, 9]);
    assert!(audit.search("nothing", 5).await.unwrap().is_empty());
    assert_eq!(audit.search("i", 100).await.unwrap().len(), 10);
}

async fn suggestions_rank_prefix_matches_first(db: TestDb) {
    let audit = db.open().await;
    let plan = [
        ("user.login", 5),
        ("login.failed", 1),
        ("login.ok", 3),
        ("team.created", 2),
    ];
    for (action, n) in plan {
        for _ in 0..n {
            track(&audit, action).await;
        }
    }
    let got: Vec<(String, u64)> = audit
        .actions("LOG", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.count))
        .collect();
    let want = [("login.ok", 3), ("login.failed", 1), ("user.login", 5)];
    assert_eq!(got, want.map(|(a, n)| (a.to_string(), n)));
    let all = audit.actions("", 2).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].action.as_str(), all[0].count), ("user.login", 5));
    assert!(audit.actions("zzz", 10).await.unwrap().is_empty());
}

async fn account_is_inferred_and_filtered_by_account_id(db: TestDb) {
    let audit = db.open().await;
    let a1 = audit
        .track(None, "plan.upgraded", Some(&Ref::new("account", "42")))
        .await
        .unwrap();
    let a2 = audit
        .track(None, "plan.renewed", Some(&Ref::new("MyApp.Account", "42")))
        .await
        .unwrap();
    let a3 = audit
        .track(None, "seat.added", Some(&Ref::new("app::Account", "42")))
        .await
        .unwrap();
    // A project whose id happens to be "42" is not account 42's entry.
    audit
        .track(None, "project.created", Some(&Ref::new("project", "42")))
        .await
        .unwrap();
    let a4 = audit
        .record(
            NewEntry::new("invoice.sent")
                .resource(Some(&Ref::new("invoice", 9)))
                .account("42"),
        )
        .await
        .unwrap();
    audit
        .track(None, "plan.upgraded", Some(&Ref::new("account", "43")))
        .await
        .unwrap();
    assert_eq!(a1.account_id.as_deref(), Some("42"));
    let history = audit.for_account("42").await.unwrap();
    assert_eq!(ids(&history), vec![a4.id, a3.id, a2.id, a1.id]);
    assert_eq!(ids(&audit.for_account("43").await.unwrap()), vec![6]);
    assert!(audit.for_account("4").await.unwrap().is_empty());
    let err = audit.for_account("").await.unwrap_err();
    assert_eq!(err.to_string(), "account_id: must not be empty");
}

async fn account_pages_and_stream_agree(db: TestDb) {
    let audit = db.open().await;
    let acme = Ref::new("account", "acme");
    let other = Ref::new("account", "other");
    // 5,000 entries of acme: the stream reads them in several chunks, some at once.
    let batch: Vec<NewEntry> = (0..6250)
        .map(|i| {
            let target = if i % 5 == 0 { &other } else { &acme };
            NewEntry::new(format!("op.{}", i % 4)).resource(Some(target))
        })
        .collect();
    for chunk in batch.chunks(1000) {
        audit.record_batch(chunk.to_vec()).await.unwrap();
    }
    let streamed: Vec<Entry> = audit
        .for_account_stream("acme")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 5000);
    assert!(streamed.windows(2).all(|w| w[0].id > w[1].id));
    assert!(
        streamed
            .iter()
            .all(|e| e.account_id.as_deref() == Some("acme"))
    );
    assert_eq!(audit.for_account("acme").await.unwrap(), streamed);
    let mut paged = Vec::new();
    for page_no in 1.. {
        let page = audit
            .for_account_page("acme", Recent::page(page_no, 300))
            .await
            .unwrap();
        assert_eq!((page.total_count, page.total_pages), (5000, 17));
        if page.entries.is_empty() {
            break;
        }
        paged.extend(page.entries);
    }
    assert_eq!(paged, streamed);
    let filtered = audit
        .for_account_page("acme", Recent::page(1, 1000).search("OP.1"))
        .await
        .unwrap();
    assert_eq!(filtered.total_count, 1250);
    assert!(filtered.entries.iter().all(|e| e.action == "op.1"));
    let first: Vec<Result<Entry, Error>> = audit.for_account_stream("").take(2).collect().await;
    assert_eq!(
        first.len(),
        1,
        "an invalid account ends the stream with its error"
    );
    assert!(first[0].as_ref().unwrap_err().as_invalid().is_some());

    // A stream sees the account as it was when it started.
    let mut stream = Box::pin(audit.for_account_stream("acme"));
    let newest = stream.next().await.unwrap().unwrap();
    let later = audit
        .record(NewEntry::new("op.late").account("acme"))
        .await
        .unwrap();
    let mut rest: Vec<Entry> = stream.try_collect().await.unwrap();
    rest.insert(0, newest);
    assert_eq!(
        rest, streamed,
        "{} arrived after the stream started",
        later.id
    );
}

async fn as_of_pins_paging_while_entries_arrive(db: TestDb) {
    let audit = db.open().await;
    for i in 0..100 {
        track(&audit, if i % 2 == 0 { "even.tick" } else { "odd.tick" }).await;
    }
    let first = audit.recent(Recent::page(1, 10)).await.unwrap();
    let searched = audit
        .recent(Recent::page(1, 10).search("even"))
        .await
        .unwrap();
    assert_eq!(
        (first.as_of, searched.as_of, searched.total_count),
        (100, 100, 50)
    );
    for _ in 0..5 {
        track(&audit, "even.tick").await;
    }
    let second = audit
        .recent(Recent::page(2, 10).as_of(first.as_of))
        .await
        .unwrap();
    assert_eq!(ids(&second.entries), (81..=90).rev().collect::<Vec<_>>());
    assert_eq!((second.total_count, second.as_of), (100, 100));
    let second = audit
        .recent(Recent::page(2, 10).search("even").as_of(searched.as_of))
        .await
        .unwrap();
    assert_eq!(second.total_count, 50);
    assert_eq!(
        ids(&second.entries),
        (61..=79).rev().step_by(2).collect::<Vec<_>>()
    );
    let unpinned = audit.recent(Recent::page(1, 10)).await.unwrap();
    assert_eq!((unpinned.total_count, unpinned.as_of), (105, 105));
    // A pin beyond the newest entry is the newest entry.
    let ahead = audit
        .recent(Recent::page(1, 10).as_of(10_000))
        .await
        .unwrap();
    assert_eq!((ahead.total_count, ahead.as_of), (105, 105));
    let old = audit.recent(Recent::page(1, 10).as_of(3)).await.unwrap();
    assert_eq!((ids(&old.entries), old.total_count), (vec![3, 2, 1], 3));
}

async fn bad_input_writes_nothing(db: TestDb) {
    let audit = db.open().await;
    let mut no_actor_id = NewEntry::new("a.b");
    no_actor_id.actor_type = Some("user".into());
    let mut no_resource_type = NewEntry::new("a.b");
    no_resource_type.resource_id = Some("1".into());
    let cases: Vec<(NewEntry, &str, Rule)> = vec![
        (NewEntry::new(""), "action", Rule::Required),
        (NewEntry::new(" \t "), "action", Rule::Required),
        (
            NewEntry::new("x".repeat(256)),
            "action",
            Rule::TooLong {
                max: 255,
                unit: "characters",
            },
        ),
        (NewEntry::new("a\nb"), "action", Rule::ControlCharacter),
        (NewEntry::new("a\u{0}b"), "action", Rule::ControlCharacter),
        (
            no_actor_id,
            "actor_id",
            Rule::Pair {
                other: "actor_type",
            },
        ),
        (
            no_resource_type,
            "resource_type",
            Rule::Pair {
                other: "resource_id",
            },
        ),
        (
            NewEntry::new("a.b").actor(Some(&Ref::new("user", ""))),
            "actor_id",
            Rule::Empty,
        ),
        (
            NewEntry::new("a.b").resource(Some(&Ref::new("t".repeat(256), 1))),
            "resource_type",
            Rule::TooLong {
                max: 255,
                unit: "characters",
            },
        ),
        (NewEntry::new("a.b").account(""), "account_id", Rule::Empty),
        (
            NewEntry::new("a.b").metadata(json!("text")),
            "metadata",
            Rule::NotAnObject,
        ),
        (
            NewEntry::new("a.b").metadata(json!(null)),
            "metadata",
            Rule::NotAnObject,
        ),
        (
            NewEntry::new("a.b").metadata(json!({"big": "x".repeat(70_000)})),
            "metadata",
            Rule::TooLong {
                max: 65536,
                unit: "bytes",
            },
        ),
    ];
    for (entry, field, rule) in cases {
        let err = audit.record(entry).await.unwrap_err();
        let invalid = err
            .as_invalid()
            .unwrap_or_else(|| panic!("not invalid: {err}"));
        assert_eq!((invalid.field(), invalid.rule()), (field, rule), "{err}");
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    }
    assert_eq!(audit.head().await.unwrap(), 0);
    assert!(audit.actions("", 10).await.unwrap().is_empty());
}

// Regression: control characters (ESC, CR, NUL, BEL …) were refused in `action` only;
// in the other string fields they reached terminals and line-based logs as they were,
// and U+0000 was refused by PostgreSQL's store alone.
async fn control_characters_are_refused_in_every_string_field(db: TestDb) {
    let audit = db.open().await;
    for bad in [
        "\u{1b}[31mred",
        "a\rb",
        "a\0b",
        "bell\u{7}",
        "del\u{7f}",
        "tab\t",
    ] {
        let cases = [
            (
                "actor_type",
                NewEntry::new("a.b").actor(Some(&Ref::new(bad, 1))),
            ),
            (
                "actor_id",
                NewEntry::new("a.b").actor(Some(&Ref::new("user", bad))),
            ),
            (
                "resource_type",
                NewEntry::new("a.b").resource(Some(&Ref::new(bad, 1))),
            ),
            (
                "resource_id",
                NewEntry::new("a.b").resource(Some(&Ref::new("doc", bad))),
            ),
            // Inferred from an account resource: refused as the resource id it is.
            (
                "resource_id",
                NewEntry::new("a.b").resource(Some(&Ref::new("account", bad))),
            ),
            ("account_id", NewEntry::new("a.b").account(bad)),
            ("action", NewEntry::new(format!("x{bad}y"))),
        ];
        for (field, entry) in cases {
            let err = audit.record(entry.clone()).await.unwrap_err();
            let invalid = err
                .as_invalid()
                .unwrap_or_else(|| panic!("{field} {bad:?}: not invalid: {err}"));
            assert_eq!(
                (invalid.field(), invalid.rule()),
                (field, Rule::ControlCharacter),
                "{bad:?}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!("{field}: must not contain control characters (U+0000-U+001F, U+007F)")
            );
            let err = audit
                .record_batch(vec![NewEntry::new("fine"), entry])
                .await
                .unwrap_err();
            let invalid = err.as_invalid().expect("invalid");
            assert_eq!((invalid.field(), invalid.index()), (field, Some(1)));
        }
    }
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000);
    let err = audit
        .import(vec![(t, NewEntry::new("a.b").account("acme\n"))])
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    assert_eq!(audit.head().await.unwrap(), 0, "nothing written");
    assert!(audit.actions("", 10).await.unwrap().is_empty());

    // Metadata is stored as JSON text on both engines, where every control character,
    // U+0000 included, is an escape: free-form details keep their line breaks.
    let metadata = json!({"text": "line 1\r\nline 2\u{0}\u{1b}", "k\u{0}\t": ["\u{7}"]});
    let entry = audit
        .record(NewEntry::new("meta.kept").metadata(metadata.clone()))
        .await
        .unwrap();
    assert_eq!(serde_json::Value::Object(entry.metadata.clone()), metadata);
    assert_eq!(audit.entries_after(0, 10, None).await.unwrap(), vec![entry]);
}

async fn bad_batch_writes_nothing(db: TestDb) {
    let audit = db.open().await;
    let batch = vec![
        NewEntry::new("ok.one"),
        NewEntry::new("ok.two"),
        NewEntry::new("bad\u{7f}"),
    ];
    let err = audit.record_batch(batch).await.unwrap_err();
    let invalid = err.as_invalid().unwrap();
    assert_eq!((invalid.field(), invalid.index()), ("action", Some(2)));
    assert_eq!(audit.head().await.unwrap(), 0);
    let err = audit.record_batch(Vec::new()).await.unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "entries");
    let stored = audit
        .record_batch(vec![NewEntry::new("ok.one"), NewEntry::new("ok.two")])
        .await
        .unwrap();
    assert_eq!(ids(&stored), vec![1, 2]);
}

async fn bad_query_options_are_refused(db: TestDb) {
    let audit = db.open().await;
    track(&audit, "a.b").await;
    fn field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        r.unwrap_err().as_invalid().unwrap().field()
    }
    assert_eq!(field(audit.recent(Recent::page(0, 10)).await), "page");
    assert_eq!(field(audit.recent(Recent::page(1, 0)).await), "per_page");
    assert_eq!(field(audit.recent(Recent::page(1, 1001)).await), "per_page");
    assert_eq!(field(audit.search("a", 0).await), "limit");
    assert_eq!(field(audit.search("a", 101).await), "limit");
    assert_eq!(field(audit.actions("a", 0).await), "limit");
    assert_eq!(
        field(audit.for_account_page("x", Recent::page(1, 2000)).await),
        "per_page"
    );
    assert_eq!(
        audit
            .recent(Recent::page(1, 0))
            .await
            .unwrap_err()
            .to_string(),
        "per_page: must be between 1 and 1000"
    );
    assert!(audit.recent(Recent::page(1, 1000)).await.is_ok());
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

async fn imports_keep_time_order(db: TestDb) {
    let audit = db.open().await;
    let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + s);
    let stored = audit
        .import(vec![
            (t(0), NewEntry::new("old.one")),
            (t(5), NewEntry::new("old.two")),
        ])
        .await
        .unwrap();
    assert_eq!(stored[1].inserted_at, t(5));
    let err = audit
        .import(vec![(t(9), NewEntry::new("x")), (t(8), NewEntry::new("y"))])
        .await
        .unwrap_err();
    let invalid = err.as_invalid().unwrap();
    assert_eq!((invalid.field(), invalid.index()), ("inserted_at", Some(1)));
    let err = audit
        .import(vec![(t(1), NewEntry::new("x"))])
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "inserted_at");
    assert_eq!(audit.head().await.unwrap(), 2);
    // Live entries after an import still move forward in time.
    assert!(track(&audit, "live").await.inserted_at >= t(5));
}

async fn resumable_imports_write_each_batch_once(db: TestDb) {
    let audit = db.open().await;
    let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + s);
    assert_eq!(audit.import_position("src").await.unwrap(), None);
    let first = vec![
        (t(0), NewEntry::new("a.one")),
        (t(1), NewEntry::new("a.two")),
    ];
    audit.import_from("src", None, "2", first).await.unwrap();
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("2")
    );

    // A second reader of the old position (a concurrent or repeated run) is refused
    // and writes nothing.
    let again = vec![(t(2), NewEntry::new("a.three"))];
    let err = audit
        .import_from("src", None, "3", again.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(audit.head().await.unwrap(), 2);

    // A bad entry in a batch leaves the position where it was.
    let bad = vec![(t(2), NewEntry::new("  "))];
    let err = audit
        .import_from("src", Some("2"), "3", bad)
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "action");
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("2")
    );

    audit
        .import_from("src", Some("2"), "3", again)
        .await
        .unwrap();
    // Sources are independent, and the position survives reopening.
    audit
        .import_from("other", None, "x", vec![(t(3), NewEntry::new("b.one"))])
        .await
        .unwrap();
    audit.close().await;
    let audit = db.open().await;
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("3")
    );
    assert_eq!(
        audit.import_position("other").await.unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(audit.head().await.unwrap(), 4);
}

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

async fn entries_after_walks_forward_in_id_order(db: TestDb) {
    let audit = db.open().await;
    assert!(audit.entries_after(0, 10, None).await.unwrap().is_empty());
    for i in 0..7 {
        let mut entry = NewEntry::new(format!("walk.step{i}"));
        if i % 2 == 0 {
            entry = entry.account("acme");
        }
        audit.record(entry).await.unwrap();
    }
    assert_eq!(
        ids(&audit.entries_after(0, 3, None).await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        ids(&audit.entries_after(3, 3, None).await.unwrap()),
        [4, 5, 6]
    );
    assert_eq!(ids(&audit.entries_after(6, 3, None).await.unwrap()), [7]);
    assert!(audit.entries_after(7, 3, None).await.unwrap().is_empty());
    assert!(
        audit
            .entries_after(u64::MAX, 3, None)
            .await
            .unwrap()
            .is_empty()
    );
    let acme = audit.entries_after(0, 10, Some("acme")).await.unwrap();
    assert_eq!(ids(&acme), [1, 3, 5, 7]);
    assert_eq!(
        ids(&audit.entries_after(3, 1, Some("acme")).await.unwrap()),
        [5]
    );
    assert!(
        audit
            .entries_after(0, 10, Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
    // Entries from another handle (another process) are seen too.
    let other = db.open().await;
    track(&other, "walk.elsewhere").await;
    assert_eq!(ids(&audit.entries_after(7, 10, None).await.unwrap()), [8]);
}

async fn entries_after_refuses_bad_limits_and_accounts(db: TestDb) {
    let audit = db.open().await;
    track(&audit, "a.b").await;
    fn field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        r.unwrap_err().as_invalid().unwrap().field()
    }
    assert_eq!(field(audit.entries_after(0, 0, None).await), "limit");
    assert_eq!(field(audit.entries_after(0, 10_001, None).await), "limit");
    assert_eq!(
        field(audit.entries_after(0, 5, Some("")).await),
        "account_id"
    );
    assert_eq!(
        field(audit.entries_after(0, 5, Some(&"x".repeat(256))).await),
        "account_id"
    );
    assert_eq!(audit.entries_after(0, 10_000, None).await.unwrap().len(), 1);
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

async fn api_keys_are_stored_hashed_scoped_and_revocable(db: TestDb) {
    let audit = db.open().await;
    assert!(!audit.has_keys().await.unwrap());
    assert!(audit.keys().await.unwrap().is_empty());

    let (admin, admin_info) = audit.create_key(Scope::Admin, None).await.unwrap();
    let (reader, reader_info) = audit.create_key(Scope::Read, Some("acme")).await.unwrap();
    assert!(admin.starts_with(hawk_audit::KEY_PREFIX));
    assert_ne!(admin, reader);
    assert_eq!((admin_info.id, reader_info.id), (1, 2));
    assert_eq!(admin_info.scope, Scope::Admin);
    assert_eq!(admin_info.account_id, None);
    assert_eq!(reader_info.account_id.as_deref(), Some("acme"));
    assert!(admin.starts_with(&admin_info.prefix));
    assert!(audit.has_keys().await.unwrap());

    // Another handle (another process) sees the keys; only hashes are stored.
    let other = db.open().await;
    assert_eq!(
        other.authenticate(&admin).await.unwrap(),
        Some(admin_info.clone())
    );
    assert_eq!(
        other.authenticate(&reader).await.unwrap(),
        Some(reader_info.clone())
    );
    assert_eq!(
        other.keys().await.unwrap(),
        vec![admin_info.clone(), reader_info.clone()]
    );
    let listing = serde_json::to_string(&other.keys().await.unwrap()).unwrap();
    assert!(!listing.contains(&admin[13..]) && !listing.contains(&reader[13..]));

    // Near misses are not keys.
    let mut altered = admin.clone();
    altered.pop();
    altered.push(if admin.ends_with('0') { '1' } else { '0' });
    for wrong in [
        "",
        "hawk_",
        admin.as_str().trim_start_matches("hawk_"),
        &altered,
        &admin.to_uppercase(),
    ] {
        assert_eq!(audit.authenticate(wrong).await.unwrap(), None, "{wrong:?}");
    }

    // Bad input writes nothing.
    let err = audit
        .create_key(Scope::Write, Some("acme"))
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    let err = audit.create_key(Scope::Read, Some("")).await.unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    assert_eq!(audit.keys().await.unwrap().len(), 2);

    // Revoked keys authenticate nothing; the listing keeps them.
    let revoked = audit.revoke_key(1).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(audit.authenticate(&admin).await.unwrap(), None);
    assert!(audit.has_keys().await.unwrap(), "the reader is still live");
    assert_eq!(
        audit.revoke_key(1).await.unwrap().revoked_at,
        revoked.revoked_at
    );
    assert!(matches!(audit.revoke_key(9).await, Err(Error::NotFound(_))));
    audit.revoke_key(2).await.unwrap();
    assert!(!audit.has_keys().await.unwrap());
    assert_eq!(audit.keys().await.unwrap().len(), 2);
    // Keys are not entries.
    assert_eq!(audit.head().await.unwrap(), 0);
}

async fn account_search_and_suggestions_see_one_account(db: TestDb) {
    let audit = db.open().await;
    for (action, account) in [
        ("invoice.paid", Some("acme")),
        ("invoice.paid", Some("globex")),
        ("invoice.paid", Some("globex")),
        ("invoice.sent", Some("acme")),
        ("invoice.sent", Some("acme")),
        ("user.invited", Some("acme")),
        ("secret.globex", Some("globex")),
        ("system.ran", None),
    ] {
        let mut entry = NewEntry::new(action);
        entry.account_id = account.map(str::to_owned);
        audit.record(entry).await.unwrap();
    }
    let suggestions = audit.account_actions("acme", "inv", 10).await.unwrap();
    let got: Vec<(&str, u64)> = suggestions
        .iter()
        .map(|a| (a.action.as_str(), a.count))
        .collect();
    assert_eq!(
        got,
        vec![
            ("invoice.sent", 2),
            ("invoice.paid", 1),
            ("user.invited", 1)
        ]
    );
    let all = audit.account_actions("acme", "", 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|a| a.action != "secret.globex"));
    assert_eq!(audit.account_actions("acme", "", 1).await.unwrap().len(), 1);
    assert!(
        audit
            .account_actions("nobody", "", 10)
            .await
            .unwrap()
            .is_empty()
    );

    let hits = audit.account_search("acme", "INVOICE", 5).await.unwrap();
    assert_eq!(ids(&hits), vec![5, 4, 1]);
    assert_eq!(
        ids(&audit.account_search("globex", "", 2).await.unwrap()),
        vec![7, 3]
    );

    for bad in [0, 101] {
        let err = audit.account_actions("acme", "", bad).await.unwrap_err();
        assert_eq!(err.as_invalid().map(|i| i.field()), Some("limit"));
        let err = audit.account_search("acme", "", bad).await.unwrap_err();
        assert_eq!(err.as_invalid().map(|i| i.field()), Some("limit"));
    }
    let err = audit.account_actions("", "", 5).await.unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
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
    assert_eq!(version, 10, "every migration applied");
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

async fn storage_errors_dropped_the_drivers_error(db: TestDb) {
    // A storage error kept only the driver's message: `source()` was `None`, so a
    // caller could not reach the driver's error (its SQLite or SQLSTATE code).
    let audit = db.open().await;
    audit.track(None, "a.b", None).await.unwrap();
    db.execute_sql("ALTER TABLE entries RENAME TO entries_gone")
        .await
        .unwrap();
    let err = audit.recent(Recent::default()).await.unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    let source = std::error::Error::source(&err).expect("the driver's error is the source");
    if db.is_postgres() {
        let driver = source
            .downcast_ref::<tokio_postgres::Error>()
            .expect("a tokio-postgres error");
        let server = driver.as_db_error().expect("the server's error");
        assert_eq!(
            *server.code(),
            tokio_postgres::error::SqlState::UNDEFINED_TABLE
        );
        // The message is the one printed before the source was kept.
        assert_eq!(
            err.to_string(),
            format!("storage error: {} (42P01)", server.message())
        );
    } else {
        let driver = source
            .downcast_ref::<rusqlite::Error>()
            .expect("a rusqlite error");
        assert!(driver.to_string().contains("no such table"), "{driver}");
        assert_eq!(err.to_string(), format!("storage error: {driver}"));
    }
}

#[tokio::test]
async fn sqlite_opening_a_file_that_is_not_a_database_dropped_the_drivers_error() {
    // Opening a file that is not a SQLite database said so, but dropped rusqlite's
    // error (and with it SQLite's NOTADB code) from the error's source.
    let db = TestDb::sqlite();
    std::fs::write(db.path(), vec![b'x'; 4096]).unwrap();
    let Err(err) = Audit::open(db.url()).await else {
        panic!("a file of x's opened as a log");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "storage error: {}: file is not a database",
            db.path().display()
        )
    );
    let source = std::error::Error::source(&err).expect("the driver's error is the source");
    let driver = source
        .downcast_ref::<rusqlite::Error>()
        .expect("a rusqlite error");
    assert_eq!(
        driver.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
}
