//! `track` and `recent`: what is stored comes back, field for field.

use serde_json::{Value, json};

use crate::helpers::{Log, ids};

/// RFC 3339 UTC with exactly six fractional digits, e.g. `2026-11-26T13:45:01.123456Z`.
fn assert_time_format(t: &str) {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    assert_eq!(b.len(), 27, "{t}");
    assert!(
        digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[19] == b'.'
            && digits(20..26)
            && b[26] == b'Z',
        "{t}"
    );
}

#[test]
fn tracked_entries_come_back_from_recent() {
    let log = Log::new();
    let first = log.track(
        "  user.login ",
        &[
            "--actor-type",
            "user",
            "--actor-id",
            "42",
            "--resource-type",
            "app::Account",
            "--resource-id",
            "acme",
            "--metadata",
            r#"{"ip":"10.0.0.1","n":[1,2]}"#,
        ],
    );
    let second = log.track("invoice.paid", &["--account", "acme"]);
    let third = log.track(
        "project.deleted",
        &["--resource-type", "project", "--resource-id", "p-9"],
    );

    assert_eq!(first["id"], 1);
    assert_eq!(first["action"], "user.login", "trimmed");
    assert_eq!(first["actor_type"], "user");
    assert_eq!(first["actor_id"], "42");
    assert_eq!(first["resource_type"], "app::Account");
    assert_eq!(first["resource_id"], "acme");
    assert_eq!(first["account_id"], "acme", "inferred from the resource");
    assert_eq!(first["metadata"], json!({"ip": "10.0.0.1", "n": [1, 2]}));

    assert_eq!(second["id"], 2);
    assert_eq!(second["actor_type"], Value::Null);
    assert_eq!(second["actor_id"], Value::Null);
    assert_eq!(second["resource_type"], Value::Null);
    assert_eq!(second["account_id"], "acme");
    assert_eq!(second["metadata"], json!({}));

    assert_eq!(third["id"], 3);
    assert_eq!(third["account_id"], Value::Null);

    let page = log.json(&["recent"]);
    assert_eq!(page["page"], 1);
    assert_eq!(page["per_page"], 50);
    assert_eq!(page["total_count"], 3);
    assert_eq!(page["total_pages"], 1);
    assert_eq!(page["as_of"], 3);
    let keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");

    let entries = page["entries"].as_array().unwrap();
    assert_eq!(ids(entries), [3, 2, 1], "newest first");
    assert_eq!(
        entries,
        &[third, second, first],
        "track printed the stored entry"
    );
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["inserted_at"].as_str().unwrap())
        .collect();
    for t in &times {
        assert_time_format(t);
    }
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

#[test]
fn recent_pages_with_totals_and_as_of() {
    let log = Log::new();
    for i in 1..=7 {
        log.track(&format!("step.{i}"), &[]);
    }
    let page = log.json(&["recent", "--page", "2", "--per-page", "3"]);
    assert_eq!(ids(page["entries"].as_array().unwrap()), [4, 3, 2]);
    assert_eq!(page["total_count"], 7);
    assert_eq!(page["total_pages"], 3);

    log.track("late.arrival", &[]);
    let pinned = log.json(&["recent", "--page", "3", "--per-page", "3", "--as-of", "7"]);
    assert_eq!(ids(pinned["entries"].as_array().unwrap()), [1]);
    assert_eq!(pinned["as_of"], 7);
    assert_eq!(pinned["total_count"], 7);

    let past_end = log.json(&["recent", "--page", "9", "--per-page", "3"]);
    assert_eq!(past_end["entries"], json!([]));
    assert_eq!(past_end["total_count"], 8);

    let searched = log.json(&["recent", "--search", " STEP.1 "]);
    assert_eq!(ids(searched["entries"].as_array().unwrap()), [1]);
}

#[test]
fn human_output_is_a_table_with_a_footer() {
    let log = Log::new();
    log.ok(&[
        "track",
        "user.login",
        "--actor-type",
        "user",
        "--actor-id",
        "7",
    ]);
    log.ok(&[
        "track",
        "plan.upgraded",
        "--resource-type",
        "account",
        "--resource-id",
        "acme",
    ]);
    let out = log.ok(&["recent"]);
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["id", "time", "actor", "action", "resource", "account"]
    );
    let newest: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(newest[0], "2");
    assert_eq!(
        newest[2..],
        ["system", "plan.upgraded", "account:acme", "acme"]
    );
    let oldest: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(oldest[2..], ["user:7", "user.login", "-", "-"]);
    assert_eq!(lines.last().unwrap(), &"page 1 of 1 · 2 entries · as_of 2");

    let tracked = log.ok(&["track", "x.y"]);
    assert!(tracked.lines().nth(2).unwrap().contains("x.y"), "{tracked}");
}
