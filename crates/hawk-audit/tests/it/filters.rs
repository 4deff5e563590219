//! Filters on both engines, checked against a scan of the log: random filters (every
//! predicate, negated or not, combined) must give the same entries and totals as
//! `Filter::matches` over every entry, on sealed chunks of the filter index, on its
//! in-memory tail and across both, on first, middle and last pages.

use hawk_audit::{
    Audit, Entry, Filter, NewEntry, Options, Predicate, Recent, Ref, Subject, TimeRange,
    time::{Duration, OffsetDateTime},
};

use crate::helpers::{TestDb, conformance};

conformance!(
    filters_agree_with_a_scan,
    suggestions_count_within_the_filter,
    first_suggestions_missed_what_no_query_had_read,
    an_account_filter_cannot_be_widened,
    a_narrow_filter_still_finds_its_rare_values,
);

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len())]
    }
}

fn start() -> OffsetDateTime {
    hawk_audit::time::macros::datetime!(2026-01-01 0:00 UTC)
}

/// Entries with few distinct values, so that filters match and combine often ("1"
/// is an id of two actor types, so an id of any type is a union); times advance by
/// 0–2 hours, so time ranges cut chunks in the middle.
fn entries(rng: &mut Rng, n: usize, mut at: OffsetDateTime) -> Vec<(OffsetDateTime, NewEntry)> {
    (0..n)
        .map(|_| {
            at += Duration::hours(rng.below(3) as i64);
            let actor = match rng.pick(&["", "user", "bot"]) {
                "" => None,
                kind => Some(Ref::new(kind, rng.pick(&["1", "2", "3:x"]))),
            };
            let resource = match rng.pick(&["", "order", "project"]) {
                "" => None,
                kind => Some(Ref::new(kind, rng.pick(&["7", "8"]))),
            };
            let action = rng.pick(&["order.paid", "order.refunded", "Login", "plan.upgraded"]);
            let mut entry = NewEntry::new(action)
                .actor(actor.as_ref().map(|a| a as &dyn Subject))
                .resource(resource.as_ref().map(|r| r as &dyn Subject));
            match rng.pick(&["", "acme", "beta"]) {
                "" => {}
                account => entry = entry.account(account),
            }
            (at, entry)
        })
        .collect()
}

fn predicate(rng: &mut Rng) -> Predicate {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    loop {
        let p = match rng.below(7) {
            0 => Predicate::Actor {
                kind: some(rng.pick(&["", "user", "bot", "robot"])),
                id: some(rng.pick(&["", "1", "2", "3:x", "9"])),
            },
            1 => Predicate::System,
            2 => Predicate::Resource {
                kind: some(rng.pick(&["", "order", "project"])),
                id: some(rng.pick(&["", "7", "8"])),
            },
            3 => Predicate::Account(rng.pick(&["acme", "beta", "gamma"]).into()),
            4 => Predicate::Action(rng.pick(&["order.paid", "Login", "login"]).into()),
            5 => Predicate::Search(rng.pick(&["order", "log", "r", "zzz", "."]).into()),
            _ => {
                let time = |rng: &mut Rng| {
                    (rng.below(3) > 0).then(|| start() + Duration::hours(rng.below(500) as i64))
                };
                let (since, until) = (time(rng), time(rng));
                match TimeRange::new(since, until) {
                    Ok(range) => Predicate::Created(range),
                    Err(_) => continue,
                }
            }
        };
        match &p {
            Predicate::Actor {
                kind: None,
                id: None,
            }
            | Predicate::Resource {
                kind: None,
                id: None,
            } => continue,
            _ => return p,
        }
    }
}

fn filter(rng: &mut Rng) -> Filter {
    let mut filter = Filter::new();
    for _ in 0..rng.below(4) {
        let p = predicate(rng);
        filter = if rng.below(4) == 0 {
            filter.without(p)
        } else {
            filter.with(p)
        };
    }
    filter
}

fn ids(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

/// Checks `filter` on `audit` against the scan of `all` (every entry, in id order).
async fn check(audit: &Audit, all: &[Entry], filter: &Filter, seed: u64) {
    let expected: Vec<u64> = all
        .iter()
        .rev()
        .filter(|e| filter.matches(e))
        .map(|e| e.id)
        .collect();
    let view = audit.filtered(filter.clone());
    let total = expected.len() as u64;
    let per_page = 7;
    let pages = total.div_ceil(per_page).max(1);
    for page in [1, pages.div_ceil(2), pages, pages + 1] {
        let got = view
            .recent(Recent::page(page, per_page))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}, filter `{filter}`: {e}"));
        assert_eq!(got.total_count, total, "seed {seed}, filter `{filter}`");
        let from = ((page - 1) * per_page) as usize;
        let want: Vec<u64> = expected
            .iter()
            .skip(from)
            .take(per_page as usize)
            .copied()
            .collect();
        assert_eq!(
            ids(&got.entries),
            want,
            "seed {seed}, filter `{filter}`, page {page}"
        );
    }
    // The forward walk (exports, the live tail) from a point in the middle.
    let after = all.get(all.len() / 3).map_or(0, |e| e.id);
    let walked = view.entries_after(after, 10).await.unwrap();
    let want: Vec<u64> = all
        .iter()
        .filter(|e| e.id > after && filter.matches(e))
        .take(10)
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids(&walked),
        want,
        "seed {seed}, filter `{filter}`, after {after}"
    );
    // The phrase says the same filter.
    let reparsed = Filter::parse(&filter.to_string()).expect("the canonical phrase parses");
    assert_eq!(
        audit
            .filtered(reparsed)
            .recent(Recent::page(1, 1))
            .await
            .unwrap()
            .total_count,
        total,
        "seed {seed}, phrase `{filter}`"
    );
}

async fn all(audit: &Audit) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e.id);
        let step = audit.entries_after(after, 1000, None).await.unwrap();
        if step.is_empty() {
            return all;
        }
        all.extend(step);
    }
}

async fn filters_agree_with_a_scan(db: TestDb) {
    // Chunks of 16 ids: a few hundred entries make many sealed chunks.
    let audit = db.open_with(Options::default().filter_chunk_bits(4)).await;
    let seed = 0x5eed_f11e;
    let mut rng = Rng(seed);
    audit.import(entries(&mut rng, 300, start())).await.unwrap();
    // Two handles (two processes) seal at once: each chunk is stored once.
    let other = db.open_with(Options::default().filter_chunk_bits(4)).await;
    let (a, b) = tokio::join!(audit.seal_filter_index(), other.seal_filter_index());
    a.unwrap();
    b.unwrap();
    // Entries after the seal stay in the tail (the last chunk is not complete).
    let last = all(&audit).await.last().unwrap().inserted_at;
    audit.import(entries(&mut rng, 9, last)).await.unwrap();
    let everything = all(&audit).await;
    for round in 0..150 {
        check(&audit, &everything, &filter(&mut rng), seed + round).await;
    }
    // The other handle reads the sealed chunks from the store.
    for round in 0..30 {
        check(&other, &everything, &filter(&mut rng), seed + 1000 + round).await;
    }
    // After a prune the pruned entries leave every answer.
    let cut = everything[everything.len() / 2].inserted_at;
    audit.prune(cut).await.unwrap();
    let remaining = all(&audit).await;
    assert!(remaining.len() < everything.len());
    for round in 0..30 {
        check(&audit, &remaining, &filter(&mut rng), seed + 2000 + round).await;
    }
}

async fn suggestions_count_within_the_filter(db: TestDb) {
    let audit = db.open_with(Options::default().filter_chunk_bits(4)).await;
    let mut rng = Rng(0xacc0_0575);
    audit.import(entries(&mut rng, 200, start())).await.unwrap();
    audit.seal_filter_index().await.unwrap();
    let everything = all(&audit).await;
    for phrase in [
        "",
        "account:acme",
        "-is:system resource_type:order",
        "action:Login",
    ] {
        let filter = Filter::parse(phrase).unwrap();
        let view = audit.filtered(filter.clone());
        let matching: Vec<&Entry> = everything.iter().filter(|e| filter.matches(e)).collect();
        let count =
            |pred: &dyn Fn(&Entry) -> bool| matching.iter().filter(|e| pred(e)).count() as u64;
        for actor in view.actors("", 100).await.unwrap() {
            let n = count(&|e| {
                e.actor_type.as_deref() == Some(&actor.kind)
                    && e.actor_id.as_deref() == Some(&actor.id)
            });
            assert_eq!(
                actor.count, n,
                "actor {}:{} under `{phrase}`",
                actor.kind, actor.id
            );
        }
        let users = view.actors("user:", 100).await.unwrap();
        assert!(users.iter().all(|a| a.kind == "user"), "{users:?}");
        let colons = view.actors("3:", 100).await.unwrap();
        assert!(colons.iter().all(|a| a.id == "3:x"), "{colons:?}");
        for resource in view.resources("o", 100).await.unwrap() {
            assert_eq!(resource.kind, "order");
            let n = count(&|e| {
                e.resource_id.as_deref() == Some(&resource.id)
                    && e.resource_type.as_deref() == Some("order")
            });
            assert_eq!(resource.count, n);
        }
        let accounts = view.accounts("", 100).await.unwrap();
        for account in &accounts {
            assert_eq!(
                account.count,
                count(&|e| e.account_id.as_deref() == Some(&account.account_id))
            );
        }
        let with_account = matching.iter().filter(|e| e.account_id.is_some()).count() as u64;
        assert_eq!(accounts.iter().map(|a| a.count).sum::<u64>(), with_account);
        let actions = view.actions("", 100).await.unwrap();
        assert_eq!(
            actions.iter().map(|a| a.count).sum::<u64>(),
            matching.len() as u64,
            "{phrase}"
        );
        for action in actions {
            assert_eq!(action.count, count(&|e| e.action == action.action));
        }
    }
}

async fn first_suggestions_missed_what_no_query_had_read(db: TestDb) {
    // Broke: suggestions read the in-memory tail of the filter index without bringing it up to the head, so a fresh log's first ones were empty.
    let audit = db.open().await;
    let (user, acme) = (Ref::new("user", 7), Ref::new("account", "acme"));
    audit
        .track(Some(&user), "plan.upgraded", Some(&acme))
        .await
        .unwrap();
    let view = audit.filtered(Filter::new());
    let actors = view.actors("", 10).await.unwrap();
    assert_eq!(
        actors
            .iter()
            .map(|a| (a.kind.as_str(), a.id.as_str(), a.count))
            .collect::<Vec<_>>(),
        [("user", "7", 1)]
    );
    assert_eq!(view.resources("acc", 10).await.unwrap().len(), 1);
    // And what was recorded after a query ran is offered too.
    audit
        .track(None, "plan.upgraded", Some(&Ref::new("account", "beta")))
        .await
        .unwrap();
    let accounts = view.accounts("", 10).await.unwrap();
    assert_eq!(
        accounts
            .iter()
            .map(|a| a.account_id.as_str())
            .collect::<Vec<_>>(),
        ["acme", "beta"]
    );
}

async fn an_account_filter_cannot_be_widened(db: TestDb) {
    let audit = db.open().await;
    let mut rng = Rng(0xbad_acc);
    audit.import(entries(&mut rng, 60, start())).await.unwrap();
    let acme = Filter::new().account("acme");
    for phrase in [
        "-account:acme",
        "account:beta",
        "-account:beta",
        "is:system",
        "",
    ] {
        let widened = acme.clone().and(Filter::parse(phrase).unwrap());
        let page = audit
            .filtered(widened)
            .recent(Recent::page(1, 100))
            .await
            .unwrap();
        assert!(
            page.entries
                .iter()
                .all(|e| e.account_id.as_deref() == Some("acme")),
            "`{phrase}` reached beyond the account"
        );
    }
}

async fn a_narrow_filter_still_finds_its_rare_values(db: TestDb) {
    let audit = db.open_with(Options::default().filter_chunk_bits(6)).await;
    // 250 busy actors in one account, then one actor with one entry in another: the
    // rare one is beyond the most frequent values a suggestion list first counts.
    let mut batch: Vec<NewEntry> = (0..500)
        .map(|i| {
            NewEntry::new("task.done")
                .actor(Some(
                    &Ref::new("user", format!("busy{}", i % 250)) as &dyn Subject
                ))
                .account("big")
        })
        .collect();
    batch.push(
        NewEntry::new("task.done")
            .actor(Some(&Ref::new("user", "rare") as &dyn Subject))
            .account("small"),
    );
    audit.record_batch(batch).await.unwrap();
    audit.seal_filter_index().await.unwrap();
    let small = audit.filtered(Filter::new().account("small"));
    let actors = small.actors("", 10).await.unwrap();
    assert_eq!(
        actors
            .iter()
            .map(|a| (a.id.as_str(), a.count))
            .collect::<Vec<_>>(),
        [("rare", 1)]
    );
    let accounts = audit
        .filtered(Filter::new().actor("user", "rare"))
        .accounts("", 10)
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (accounts[0].account_id.as_str(), accounts[0].count),
        ("small", 1)
    );
}
