//! Queries: search, typeahead, suggestions, account history, pinned pages and walking forward.

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt};
use hawk_audit::{Entry, Error, NewEntry, Recent, Ref};

use super::{ids, search_actions, track};
use crate::helpers::{TestDb, conformance};

conformance!(
    search_takes_wildcards_literally,
    search_is_unicode_case_insensitive_and_trimmed,
    typeahead_returns_newest_matches,
    suggestions_rank_prefix_matches_first,
    account_is_inferred_and_filtered_by_account_id,
    account_pages_and_stream_agree,
    as_of_pins_paging_while_entries_arrive,
    entries_after_walks_forward_in_id_order,
    entries_after_refuses_bad_limits_and_accounts,
    account_search_and_suggestions_see_one_account,
);

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
