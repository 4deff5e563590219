//! Model-based property test: random sequences of track / recent / search / actions /
//! for_account, checked step by step against a plain in-memory `Vec`.

use hawk_audit::{Audit, Entry, NewEntry, Recent, Ref};
use proptest::prelude::*;

use crate::helpers::{Engine, TestDb, run_case};

/// Actions chosen to trip naive search: wildcards, backslashes, case, non-ASCII.
const ACTIONS: &[&str] = &[
    "user.login",
    "User.Logout",
    "promo.50%_off",
    "promo.50xoff",
    r"path.a\b",
    "Été.créé",
    "ÉTÉ.fini",
    "x",
];
const TERMS: &[&str] = &[
    "", " ", "user", "USER.", "%", "_", r"\", "été", "ÉTÉ", "o", "zzz", "0%_", " lo ", "x",
];
const ACCOUNTS: &[&str] = &["1", "2", "acme"];

#[derive(Debug, Clone)]
enum Op {
    Track {
        action: usize,
        actor: Option<u8>,
        /// 0: none, 1: an account resource, 2: a project sharing the account's id.
        resource: u8,
        account: usize,
        explicit_account: bool,
    },
    Recent {
        page: u64,
        per_page: u64,
        term: usize,
        pin_back: u64,
    },
    Search {
        term: usize,
        limit: u64,
    },
    Actions {
        term: usize,
        limit: u64,
    },
    Account {
        account: usize,
        page: Option<(u64, u64)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..ACTIONS.len(), proptest::option::of(0u8..3), 0u8..3, 0..ACCOUNTS.len(), any::<bool>())
            .prop_map(|(action, actor, resource, account, explicit_account)| Op::Track {
                action, actor, resource, account, explicit_account,
            }),
        2 => (1u64..5, 1u64..7, 0..TERMS.len(), 0u64..4)
            .prop_map(|(page, per_page, term, pin_back)| Op::Recent { page, per_page, term, pin_back }),
        1 => (0..TERMS.len(), 1u64..6).prop_map(|(term, limit)| Op::Search { term, limit }),
        1 => (0..TERMS.len(), 1u64..6).prop_map(|(term, limit)| Op::Actions { term, limit }),
        1 => (0..ACCOUNTS.len(), proptest::option::of((1u64..4, 1u64..5)))
            .prop_map(|(account, page)| Op::Account { account, page }),
    ]
}

/// The model: every entry ever tracked, oldest first.
#[derive(Default)]
struct Model {
    entries: Vec<Entry>,
}

impl Model {
    fn matching(&self, term: &str, as_of: u64) -> Vec<&Entry> {
        let term = term.trim().to_lowercase();
        self.entries
            .iter()
            .rev()
            .filter(|e| e.id <= as_of && e.action.to_lowercase().contains(&term))
            .collect()
    }

    fn page<'a>(all: &[&'a Entry], page: u64, per_page: u64) -> Vec<&'a Entry> {
        all.iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .copied()
            .collect()
    }

    fn actions(&self, term: &str, limit: u64) -> Vec<(String, u64)> {
        let term = term.trim().to_lowercase();
        let mut counts: std::collections::BTreeMap<&str, u64> = Default::default();
        for e in &self.entries {
            if e.action.to_lowercase().contains(&term) {
                *counts.entry(&e.action).or_default() += 1;
            }
        }
        let mut list: Vec<(String, u64)> =
            counts.into_iter().map(|(a, n)| (a.to_owned(), n)).collect();
        list.sort_by(|a, b| {
            let prefix = |x: &str| x.to_lowercase().starts_with(&term);
            prefix(&b.0)
                .cmp(&prefix(&a.0))
                .then(b.1.cmp(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        list.truncate(limit as usize);
        list
    }
}

async fn run(db: TestDb, ops: Vec<Op>) {
    let audit: Audit = db.open().await;
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Track {
                action,
                actor,
                resource,
                account,
                explicit_account,
            } => {
                let mut entry = NewEntry::new(ACTIONS[action]);
                if let Some(actor) = actor {
                    entry = entry.actor(Some(&Ref::new("user", actor)));
                }
                let account_id = ACCOUNTS[account];
                match resource {
                    1 => entry = entry.resource(Some(&Ref::new("Account", account_id))),
                    2 => entry = entry.resource(Some(&Ref::new("project", account_id))),
                    _ => {}
                }
                if explicit_account {
                    entry = entry.account(account_id);
                }
                let stored = audit.record(entry).await.unwrap();
                assert_eq!(stored.id, model.entries.len() as u64 + 1);
                let expected_account =
                    (explicit_account || resource == 1).then(|| account_id.to_owned());
                assert_eq!(stored.account_id, expected_account);
                model.entries.push(stored);
            }
            Op::Recent {
                page,
                per_page,
                term,
                pin_back,
            } => {
                let head = model.entries.len() as u64;
                let as_of = head.saturating_sub(pin_back);
                let got = audit
                    .recent(
                        Recent::page(page, per_page)
                            .search(TERMS[term])
                            .as_of(as_of),
                    )
                    .await
                    .unwrap();
                let all = model.matching(TERMS[term], as_of);
                assert_eq!(got.total_count, all.len() as u64);
                assert_eq!(
                    got.total_pages,
                    (all.len() as u64).div_ceil(per_page).max(1)
                );
                assert_eq!(got.as_of, as_of);
                let want: Vec<Entry> = Model::page(&all, page, per_page)
                    .into_iter()
                    .cloned()
                    .collect();
                assert_eq!(got.entries, want);
            }
            Op::Search { term, limit } => {
                let got = audit.search(TERMS[term], limit).await.unwrap();
                let all = model.matching(TERMS[term], u64::MAX);
                let want: Vec<Entry> = Model::page(&all, 1, limit).into_iter().cloned().collect();
                assert_eq!(got, want);
            }
            Op::Actions { term, limit } => {
                let got: Vec<(String, u64)> = audit
                    .actions(TERMS[term], limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| (a.action, a.count))
                    .collect();
                assert_eq!(got, model.actions(TERMS[term], limit));
            }
            Op::Account { account, page } => {
                let account = ACCOUNTS[account];
                let all: Vec<&Entry> = model
                    .entries
                    .iter()
                    .rev()
                    .filter(|e| e.account_id.as_deref() == Some(account))
                    .collect();
                match page {
                    None => {
                        let got = audit.for_account(account).await.unwrap();
                        let want: Vec<Entry> = all.into_iter().cloned().collect();
                        assert_eq!(got, want);
                    }
                    Some((page, per_page)) => {
                        let got = audit
                            .for_account_page(account, Recent::page(page, per_page))
                            .await
                            .unwrap();
                        assert_eq!(got.total_count, all.len() as u64);
                        let want: Vec<Entry> = Model::page(&all, page, per_page)
                            .into_iter()
                            .cloned()
                            .collect();
                        assert_eq!(got.entries, want);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn store_behaves_like_a_vec(ops in proptest::collection::vec(op(), 1..60)) {
        run_case(Engine::Sqlite, "store_behaves_like_a_vec", |db| run(db, ops));
    }
}

proptest! {
    // Fewer cases on PostgreSQL: each creates a database.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn postgres_store_behaves_like_a_vec(ops in proptest::collection::vec(op(), 1..60)) {
        run_case(Engine::Postgres, "postgres_store_behaves_like_a_vec", |db| run(db, ops));
    }
}
