//! `search`, `actions` and `account`.

use std::io::Read;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::helpers::{Log, ids, parse_json};

fn actions_of(entries: &Value) -> Vec<&str> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[test]
fn search_takes_percent_and_underscore_literally() {
    let log = Log::new();
    for action in [
        "promo.50%_off",
        "promo.50xyoff",
        "a_b.c",
        "axb.c",
        "back\\slash",
    ] {
        log.track(action, &[]);
    }
    let search = |q: &str| log.json(&["search", q])["entries"].clone();
    assert_eq!(actions_of(&search("50%_")), ["promo.50%_off"]);
    assert_eq!(actions_of(&search("%")), ["promo.50%_off"]);
    assert_eq!(actions_of(&search("_")), ["a_b.c", "promo.50%_off"]);
    assert_eq!(actions_of(&search("\\")), ["back\\slash"]);
    assert_eq!(actions_of(&search(" PROMO.50% ")), ["promo.50%_off"]);
    let body = log.json(&["search", "nothing-matches"]);
    assert_eq!(body, json!({"entries": []}), "the HTTP body, exactly");
}

#[test]
fn search_returns_the_newest_matches_up_to_the_limit() {
    let log = Log::new();
    for _ in 0..7 {
        log.track("user.login", &[]);
    }
    log.track("other.thing", &[]);
    let found = log.json(&["search", "login"]);
    assert_eq!(
        ids(found["entries"].as_array().unwrap()),
        [7, 6, 5, 4, 3],
        "default 5"
    );
    let found = log.json(&["search", "login", "--limit", "2"]);
    assert_eq!(ids(found["entries"].as_array().unwrap()), [7, 6]);

    let human = log.ok(&["search", "login", "--limit", "2"]);
    assert_eq!(human.lines().last().unwrap(), "2 entries");
}

#[test]
fn actions_rank_prefix_matches_first_then_by_count() {
    let log = Log::new();
    for (action, n) in [
        ("user.login", 5),
        ("login.failed", 1),
        ("login.ok", 3),
        ("catalog.viewed", 2),
        ("other.thing", 4),
    ] {
        for _ in 0..n {
            log.track(action, &[]);
        }
    }
    let body = log.json(&["actions", "log"]);
    assert_eq!(
        body,
        json!({"actions": [
            {"action": "login.ok", "count": 3},
            {"action": "login.failed", "count": 1},
            {"action": "user.login", "count": 5},
            {"action": "catalog.viewed", "count": 2},
        ]})
    );
    let all = log.json(&["actions", "--limit", "2"]);
    assert_eq!(
        all,
        json!({"actions": [
            {"action": "user.login", "count": 5},
            {"action": "other.thing", "count": 4},
        ]}),
        "no query: every action by count"
    );
    let human = log.ok(&["actions", "LOGIN"]);
    let rows: Vec<Vec<&str>> = human
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["login.ok", "3"],
            vec!["login.failed", "1"],
            vec!["user.login", "5"],
            vec!["3", "actions"],
        ]
    );
}

#[test]
fn account_pages_and_streams_its_entries() {
    let log = Log::new();
    log.track("a.1", &["--account", "acme"]);
    log.track("a.2", &["--account", "other"]);
    log.track(
        "a.3",
        &["--resource-type", "Account", "--resource-id", "acme"],
    );
    log.track("a.4", &[]);
    log.track("a.5", &["--account", "acme"]);

    let all = log.json(&["account", "acme"]);
    assert!(all.is_array(), "no --page: a JSON array, {all}");
    assert_eq!(ids(all.as_array().unwrap()), [5, 3, 1]);
    assert_eq!(all.as_array().unwrap()[1]["account_id"], "acme");

    let page = log.json(&["account", "acme", "--page", "2", "--per-page", "2"]);
    assert_eq!(ids(page["entries"].as_array().unwrap()), [1]);
    assert_eq!(page["total_count"], 3);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(page["page"], 2);
    let per_page_only = log.json(&["account", "acme", "--per-page", "2"]);
    assert_eq!(ids(per_page_only["entries"].as_array().unwrap()), [5, 3]);

    assert_eq!(log.json(&["account", "nobody"]), json!([]));
    let human = log.ok(&["account", "acme"]);
    assert_eq!(
        human.lines().count(),
        2 + 3 + 1,
        "header, rule, rows, count"
    );
    assert_eq!(human.lines().last().unwrap(), "3 entries");
    assert!(human.lines().nth(2).unwrap().trim_start().starts_with("5 "));
}

/// An account larger than one fetch: the stream is every page, in order; a reader that
/// stops early ends the command quietly.
#[test]
fn account_streams_large_accounts_and_survives_a_closed_pipe() {
    let log = Log::new();
    log.ok(&["demo", "--entries", "100000"]);
    // The workload's most frequent account.
    let streamed = log.json(&["account", "1"]);
    let streamed = streamed.as_array().unwrap();
    assert!(streamed.len() > 1000, "only {} entries", streamed.len());
    let mut paged = Vec::new();
    for page in 1.. {
        let page = log.json(&[
            "account",
            "1",
            "--page",
            &page.to_string(),
            "--per-page",
            "1000",
        ]);
        let entries = page["entries"].as_array().unwrap().clone();
        if entries.is_empty() {
            assert_eq!(page["total_count"].as_u64().unwrap() as usize, paged.len());
            break;
        }
        paged.extend(entries);
    }
    assert_eq!(streamed, &paged);

    for mode in [&["--json"][..], &[]] {
        let mut args = vec!["account", "1"];
        args.extend_from_slice(mode);
        let mut child = log
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // stdout is closed here; hawk's next writes meet a broken pipe.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{mode:?}");
    }
    // And the whole stream parses when read to the end.
    let full = log.ok(&["account", "1", "--json"]);
    assert_eq!(parse_json(&full).as_array().unwrap().len(), streamed.len());
}
