//! Filters: the flags and the `--query` phrase every listing takes, the suggestion
//! commands `actors`, `resources` and `accounts`, and an export of the matching
//! entries only.

use serde_json::{Value, json};

use crate::helpers::{Log, PgDb, failed, ids, parse_json};

/// Five entries with something to tell each apart:
///
/// | id | actor   | action        | resource   | account |
/// |----|---------|---------------|------------|---------|
/// | 1  | user:42 | login         |            | acme    |
/// | 2  | user:7  | order.paid    | order:9    | acme    |
/// | 3  | system  | backup.done   |            |         |
/// | 4  | bot:42  | order.paid    | order:10   | beta    |
/// | 5  | user:42 | project.moved | project:9  |         |
fn five(log: &Log) {
    let user = |id| ["--actor-type", "user", "--actor-id", id];
    let on = |kind, id| ["--resource-type", kind, "--resource-id", id];
    log.track("login", &[&user("42")[..], &["--account", "acme"]].concat());
    log.track(
        "order.paid",
        &[&user("7")[..], &on("order", "9"), &["--account", "acme"]].concat(),
    );
    log.track("backup.done", &[]);
    log.track(
        "order.paid",
        &[
            &["--actor-type", "bot", "--actor-id", "42"][..],
            &on("order", "10"),
            &["--account", "beta"],
        ]
        .concat(),
    );
    log.track(
        "project.moved",
        &[&user("42")[..], &on("project", "9")].concat(),
    );
}

/// The ids `recent` lists with `args`, newest first; checks the total agrees.
fn listed(log: &Log, args: &[&str]) -> Vec<u64> {
    let page = log.json(&[&["recent"][..], args].concat());
    let found = ids(page["entries"].as_array().unwrap());
    assert_eq!(page["total_count"], found.len() as u64, "{args:?}");
    found
}

#[test]
fn each_filter_flag_narrows_recent() {
    let log = Log::new();
    five(&log);
    let cases: &[(&[&str], &[u64])] = &[
        (&[], &[5, 4, 3, 2, 1]),
        (&["--actor-type", "user"], &[5, 2, 1]),
        (&["--actor-id", "42"], &[5, 4, 1]),
        (&["--actor-type", "user", "--actor-id", "42"], &[5, 1]),
        (&["--system"], &[3]),
        (&["--no-system"], &[5, 4, 2, 1]),
        (&["--resource-type", "order"], &[4, 2]),
        (&["--resource-id", "9"], &[5, 2]),
        (&["--resource-type", "order", "--resource-id", "9"], &[2]),
        (&["--account", "acme"], &[2, 1]),
        (&["--action", "order.paid"], &[4, 2]),
        (&["--action", "Order.Paid"], &[]),
        (&["--action", " order.paid "], &[4, 2]),
        (&["--search", "ORDER"], &[4, 2]),
        (&["--search", "o", "--actor-id", "42"], &[5, 4, 1]),
        (&["--account", "nobody"], &[]),
    ];
    for (args, want) in cases {
        assert_eq!(listed(&log, args), *want, "recent {args:?}");
    }
    // Paging still pages within the filter.
    let page = log.json(&["recent", "--no-system", "--per-page", "3", "--page", "2"]);
    assert_eq!(ids(page["entries"].as_array().unwrap()), [1]);
    assert_eq!(
        (page["total_count"].as_u64(), page["total_pages"].as_u64()),
        (Some(4), Some(2))
    );
}

#[test]
fn the_phrase_and_the_flags_hold_together() {
    let log = Log::new();
    five(&log);
    let cases: &[(&[&str], &[u64])] = &[
        (&["-q", "actor:user:42"], &[5, 1]),
        (&["-q", "actor:user:42 -action:login"], &[5]),
        // A phrase that starts with a negation is still the option's value.
        (&["-q", "-is:system"], &[5, 4, 2, 1]),
        (&["--query", "-is:system -account:acme"], &[5, 4]),
        (&["-q", "resource_type:order", "--account", "beta"], &[4]),
        (&["-q", "account:acme", "--account", "beta"], &[]),
        (&["-q", "paid", "--actor-type", "user"], &[2]),
        (&["-q", "\"order.paid\" resource_id:10"], &[4]),
        (&["-q", "is:system", "--search", "backup"], &[3]),
        (
            &["-q", "created:>=2020-01-01", "--resource-id", "9"],
            &[5, 2],
        ),
        (&["-q", "created:<2020-01-01"], &[]),
    ];
    for (args, want) in cases {
        assert_eq!(listed(&log, args), *want, "recent {args:?}");
    }
}

#[test]
fn every_listing_takes_the_filter() {
    let log = Log::new();
    five(&log);
    let search = log.json(&["search", "paid", "--actor-type", "bot"]);
    assert_eq!(ids(search["entries"].as_array().unwrap()), [4]);
    let search = log.json(&[
        "search",
        "o",
        "-q",
        "-is:system actor_id:42",
        "--limit",
        "2",
    ]);
    assert_eq!(ids(search["entries"].as_array().unwrap()), [5, 4]);

    assert_eq!(
        log.json(&["actions", "--account", "acme"]),
        json!({"actions": [
            {"action": "login", "count": 1},
            {"action": "order.paid", "count": 1},
        ]}),
        "counts within the filter"
    );
    assert_eq!(
        log.json(&["actions", "o", "--actor-id", "42"]),
        json!({"actions": [
            {"action": "order.paid", "count": 1},
            {"action": "login", "count": 1},
            {"action": "project.moved", "count": 1},
        ]})
    );
    assert_eq!(
        log.json(&["actions", "-q", "-is:system -actor_type:bot"])["actions"][0],
        json!({"action": "login", "count": 1})
    );

    // An account's entries, narrowed: streamed, and paged.
    let streamed = log.json(&["account", "acme", "--actor-id", "42"]);
    assert_eq!(ids(streamed.as_array().unwrap()), [1]);
    let streamed = log.json(&["account", "acme", "-q", "-action:nothing"]);
    assert_eq!(ids(streamed.as_array().unwrap()), [2, 1]);
    let page = log.json(&["account", "acme", "--action", "order.paid", "--page", "1"]);
    assert_eq!(ids(page["entries"].as_array().unwrap()), [2]);
    assert_eq!(page["total_count"], 1);
    assert_eq!(log.json(&["account", "beta", "--system"]), json!([]));
    let human = log.ok(&["account", "acme", "--no-system"]);
    assert_eq!(human.lines().last().unwrap(), "2 entries");
}

/// An account listing under a filter streams page after page: more entries than one
/// page come out once each, newest first.
#[test]
fn a_filtered_account_streams_past_one_page() {
    let log = Log::new();
    let lines: String = (1..=2500)
        .map(|i| {
            let actor = if i % 2 == 0 { r#""actor_type":"user","actor_id":"1","# } else { "" };
            format!(
                "{{{actor}\"action\":\"step\",\"account_id\":\"acme\",\"inserted_at\":\"2025-01-01T00:00:{:02}Z\"}}\n",
                i / 100
            )
        })
        .collect();
    let file = log.path("many.ndjson");
    std::fs::write(&file, lines).unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
    let streamed = log.json(&["account", "acme", "--actor-type", "user"]);
    let streamed = ids(streamed.as_array().unwrap());
    let want: Vec<u64> = (1..=2500).rev().filter(|i| i % 2 == 0).collect();
    assert_eq!(streamed, want);
}

/// Entries dated by an import, one a day from 2025-01-01 to 2025-01-05 at noon.
fn daily(log: &Log) {
    let lines: String = (1..=5)
        .map(|day| {
            format!("{{\"action\":\"day.{day}\",\"inserted_at\":\"2025-01-0{day}T12:00:00Z\"}}\n")
        })
        .collect();
    let file = log.path("daily.ndjson");
    std::fs::write(&file, lines).unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
}

#[test]
fn time_ranges_take_dates_and_times() {
    let log = Log::new();
    daily(&log);
    let cases: &[(&[&str], &[u64])] = &[
        // --since is inclusive, --until exclusive; a date is its UTC midnight.
        (&["--since", "2025-01-02"], &[5, 4, 3, 2]),
        (&["--until", "2025-01-02"], &[1]),
        (&["--since", "2025-01-02", "--until", "2025-01-04"], &[3, 2]),
        (&["--since", "2025-01-03T12:00:00Z"], &[5, 4, 3]),
        (&["--until", "2025-01-03T12:00:00Z"], &[2, 1]),
        (
            &[
                "--since",
                "2025-01-03T13:00:00+01:00",
                "--until",
                "2025-01-04T12:00:00.000001Z",
            ],
            &[4, 3],
        ),
        // In the phrase, a date is its whole day.
        (&["-q", "created:2025-01-03"], &[3]),
        (&["-q", "created:>=2025-01-04"], &[5, 4]),
        (&["-q", "created:>2025-01-04"], &[5]),
        (&["-q", "created:<=2025-01-02"], &[2, 1]),
        (&["-q", "created:2025-01-02..2025-01-03"], &[3, 2]),
        (&["-q", "created:*..2025-01-02"], &[2, 1]),
        (&["-q", "-created:2025-01-03"], &[5, 4, 2, 1]),
        (
            &["-q", "created:>=2025-01-02", "--until", "2025-01-03"],
            &[2],
        ),
        (&["--since", "2026-01-01"], &[]),
    ];
    for (args, want) in cases {
        assert_eq!(listed(&log, args), *want, "recent {args:?}");
    }
    let actions = log.json(&["actions", "day", "--since", "2025-01-04"]);
    assert_eq!(actions["actions"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_filters_exit_2_naming_the_field_and_write_nothing() {
    let log = Log::new();
    log.track("a.b", &["--actor-type", "user", "--actor-id", "1"]);
    let long = "x".repeat(256);
    let long_in_phrase = format!("actor_id:{long}");
    let out = log.path("out.csv");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["recent", "-q", "colour:red"],
            "q: at character 1: unknown qualifier",
        ),
        (
            &["recent", "-q", "action:login colour:red"],
            "q: at character 14: unknown qualifier",
        ),
        (
            &["search", "a", "-q", "actor:\"user"],
            "q: at character 7: unterminated quote",
        ),
        (
            &["recent", "-q", "created:2025-01-02..2025-01-01"],
            "q: at character 9: the time range is empty",
        ),
        (
            &["recent", "--since", "2025-01-02", "--until", "2025-01-01"],
            "until: must be after since",
        ),
        (
            &["actions", "--since", "2025-01-01", "--until", "2025-01-01"],
            "until: must be after since",
        ),
        (
            &["recent", "--since", "yesterday"],
            "since: must be an RFC 3339",
        ),
        (
            &["account", "acme", "--until", "2025-13-01"],
            "until: must be",
        ),
        (
            &["recent", "--actor-type", &long],
            "actor_type: must be at most 255 characters",
        ),
        (
            &["recent", "--actor-id", &long],
            "actor_id: must be at most 255",
        ),
        (
            &["actions", "--resource-type", &long],
            "resource_type: must be at most 255",
        ),
        (
            &["actors", "--resource-id", &long],
            "resource_id: must be at most 255",
        ),
        (
            &["search", "a", "--account", &long],
            "account_id: must be at most 255",
        ),
        (
            &["account", "acme", "--action", &long],
            "action: must be at most 255",
        ),
        (
            &["resources", "--search", &long],
            "search: must be at most 255",
        ),
        (
            &["accounts", "-q", &long_in_phrase],
            "q: at character 10: a value must be at most 255 characters",
        ),
        (
            &["recent", "--actor-type", "us\u{1b}er"],
            "actor_type: must not contain control",
        ),
        (&["recent", "--action", " "], "action: must not be empty"),
        (&["actors", &long], "q: must be at most 255 characters"),
        (
            &[
                "export",
                "--format",
                "csv",
                "--output",
                out,
                "-q",
                "colour:red",
            ],
            "q: at character 1",
        ),
        (
            &[
                "export",
                "--format",
                "csv",
                "--output",
                out,
                "--since",
                "2025-01-02",
                "--until",
                "2025-01-01",
            ],
            "until: must be after since",
        ),
        (
            &["recent", "--system", "--no-system"],
            "the argument '--system' cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let message = failed(&log.run(args), 2);
        assert!(
            message.starts_with(expected),
            "hawk {args:?}: {message:?} should start with {expected:?}"
        );
    }
    assert!(
        !log.path("out.csv").exists(),
        "a refused export creates no file"
    );
    assert_eq!(log.total_count(), 1);

    // Bad input is refused before the log is opened: a mistyped --db is not the
    // message, and no log is made.
    let missing = log.other_url("missing.db");
    let out = crate::helpers::hawk()
        .args(["recent", "-q", "colour:red", "--db", &missing])
        .output()
        .unwrap();
    assert!(failed(&out, 2).starts_with("q: at character 1"));
    assert!(!log.path("missing.db").exists());
}

#[test]
fn suggestions_list_values_with_their_counts_most_first() {
    let log = Log::new();
    five(&log);
    log.track("login", &["--actor-type", "user", "--actor-id", "42"]);
    log.track(
        "x",
        &[
            "--actor-type",
            "user",
            "--actor-id",
            "420",
            "--account",
            "acme",
        ],
    );

    assert_eq!(
        log.json(&["actors"]),
        json!({"actors": [
            {"type": "user", "id": "42", "count": 3},
            {"type": "bot", "id": "42", "count": 1},
            {"type": "user", "id": "420", "count": 1},
            {"type": "user", "id": "7", "count": 1},
        ]})
    );
    let pairs = |body: &Value, key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}={}",
                    s["type"].as_str().unwrap(),
                    s["id"].as_str().unwrap(),
                    s["count"]
                )
            })
            .collect()
    };
    // A prefix matches TYPE:ID or the id, case-sensitively.
    assert_eq!(
        pairs(&log.json(&["actors", "user:4"]), "actors"),
        ["user:42=3", "user:420=1"]
    );
    assert_eq!(
        pairs(&log.json(&["actors", "42"]), "actors"),
        ["user:42=3", "bot:42=1", "user:420=1"]
    );
    assert_eq!(pairs(&log.json(&["actors", "bo"]), "actors"), ["bot:42=1"]);
    assert_eq!(
        pairs(&log.json(&["actors", "User"]), "actors"),
        Vec::<String>::new()
    );
    assert_eq!(
        pairs(&log.json(&["actors", "--limit", "1"]), "actors"),
        ["user:42=3"]
    );
    // Counted within the filter.
    assert_eq!(
        pairs(&log.json(&["actors", "--account", "acme"]), "actors"),
        ["user:42=1", "user:420=1", "user:7=1"]
    );
    assert_eq!(
        pairs(
            &log.json(&["actors", "user:", "-q", "-action:login"]),
            "actors"
        ),
        ["user:42=1", "user:420=1", "user:7=1"]
    );

    assert_eq!(
        pairs(&log.json(&["resources"]), "resources"),
        ["order:10=1", "order:9=1", "project:9=1"]
    );
    assert_eq!(
        pairs(&log.json(&["resources", "9"]), "resources"),
        ["order:9=1", "project:9=1"]
    );
    assert_eq!(
        pairs(&log.json(&["resources", "order:1"]), "resources"),
        ["order:10=1"]
    );
    assert_eq!(
        pairs(
            &log.json(&["resources", "--actor-type", "user"]),
            "resources"
        ),
        ["order:9=1", "project:9=1"]
    );
    // --types lists the types instead, counted the same way.
    assert_eq!(
        log.json(&["actors", "--types"]),
        json!({"types": [{"type": "user", "count": 5}, {"type": "bot", "count": 1}]})
    );
    assert_eq!(
        log.json(&["actors", "--types", "b"]),
        json!({"types": [{"type": "bot", "count": 1}]})
    );
    assert_eq!(
        log.json(&["resources", "--types", "--actor-type", "user"]),
        json!({"types": [{"type": "order", "count": 1}, {"type": "project", "count": 1}]})
    );

    assert_eq!(
        log.json(&["accounts"]),
        json!({"accounts": [
            {"account_id": "acme", "count": 3},
            {"account_id": "beta", "count": 1},
        ]})
    );
    assert_eq!(
        log.json(&["accounts", "b"]),
        json!({"accounts": [{"account_id": "beta", "count": 1}]})
    );
    assert_eq!(
        log.json(&["accounts", "--action", "order.paid"]),
        json!({"accounts": [
            {"account_id": "acme", "count": 1},
            {"account_id": "beta", "count": 1},
        ]})
    );
    assert_eq!(log.json(&["accounts", "zzz"]), json!({"accounts": []}));

    // For people: a table, then how many.
    let rows = |text: String| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    assert_eq!(
        rows(log.ok(&["actors", "user:4"])),
        [
            vec!["actor", "count"],
            vec!["────────", "─────"],
            vec!["user:42", "3"],
            vec!["user:420", "1"],
            vec!["2", "actors"],
        ]
    );
    assert_eq!(
        rows(log.ok(&["resources", "project"]))[2],
        ["project:9", "1"]
    );
    assert_eq!(
        rows(log.ok(&["accounts"])).last().unwrap(),
        &["2", "accounts"]
    );
    assert_eq!(rows(log.ok(&["accounts", "zzz"])), [["0", "accounts"]]);
}

#[test]
fn export_writes_only_the_matching_entries() {
    let log = Log::new();
    five(&log);
    let exported = |args: &[&str]| -> Vec<u64> {
        log.ok(&[&["export", "--format", "ndjson"][..], args].concat())
            .lines()
            .map(|l| parse_json(l)["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(exported(&[]), [1, 2, 3, 4, 5]);
    assert_eq!(exported(&["--actor-id", "42"]), [1, 4, 5], "oldest first");
    assert_eq!(exported(&["--account", "acme"]), [1, 2]);
    assert_eq!(exported(&["-q", "-is:system -action:login"]), [2, 4, 5]);
    assert_eq!(
        exported(&["--resource-type", "order", "-q", "account:beta"]),
        [4]
    );
    assert_eq!(exported(&["--since", "2999-01-01"]), Vec::<u64>::new());

    let csv = log.ok(&["export", "--format", "csv", "--action", "order.paid"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let ids: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids, ["2", "4"]);

    let path = log.path("paid.ndjson");
    let said = log.json(&[
        "export",
        "--format",
        "ndjson",
        "--search",
        "paid",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert_eq!(said["entries"], 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
}

/// An export walks in chunks: a filter that keeps every other entry of several
/// chunks still comes out whole, once each, in order.
#[test]
fn a_filtered_export_crosses_chunks() {
    let log = Log::new();
    let lines: String = (1..=2500)
        .map(|i| {
            let account = if i % 3 == 0 { "even" } else { "odd" };
            format!("{{\"action\":\"a\",\"account_id\":\"{account}\",\"inserted_at\":\"2025-01-01T00:00:00Z\"}}\n")
        })
        .collect();
    let file = log.path("many.ndjson");
    std::fs::write(&file, lines).unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
    let exported: Vec<u64> = log
        .ok(&[
            "export",
            "--format",
            "ndjson",
            "-q",
            "account:even action:a",
        ])
        .lines()
        .map(|l| parse_json(l)["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        exported,
        (1..=2500).filter(|i| i % 3 == 0).collect::<Vec<u64>>()
    );
}

#[test]
fn help_shows_the_filters_and_the_phrase() {
    let log = Log::new();
    for command in [
        "recent",
        "search",
        "actions",
        "account",
        "actors",
        "resources",
        "accounts",
        "export",
    ] {
        let help = log.ok(&[command, "--help"]);
        for needle in [
            "Filters:",
            "--actor-type",
            "--since",
            "-q, --query <PHRASE>",
            "created:>=DATE",
        ] {
            assert!(
                help.contains(needle),
                "hawk {command} --help lacks {needle:?}:\n{help}"
            );
        }
    }
    let help = log.ok(&["recent", "--help"]);
    assert!(help.contains("hawk recent -q 'actor:user:42 created:>=2026-10-01 -action:login'"));
}

/// The same filters on PostgreSQL.
#[test]
fn filters_work_on_postgres() {
    let Some(pg) = PgDb::create() else { return };
    let log = Log::at(pg.url());
    five(&log);
    assert_eq!(listed(&log, &["-q", "actor:user:42 -action:login"]), [5]);
    assert_eq!(listed(&log, &["--no-system", "--account", "acme"]), [2, 1]);
    assert_eq!(
        log.json(&["actors", "user:"])["actors"][0],
        json!({"type": "user", "id": "42", "count": 2})
    );
    assert_eq!(
        log.json(&["accounts", "--actor-id", "42"]),
        json!({"accounts": [
            {"account_id": "acme", "count": 1},
            {"account_id": "beta", "count": 1},
        ]})
    );
    let exported: Vec<u64> = log
        .ok(&["export", "--format", "ndjson", "--resource-id", "9"])
        .lines()
        .map(|l| parse_json(l)["id"].as_u64().unwrap())
        .collect();
    assert_eq!(exported, [2, 5]);
    let message = failed(&log.run(&["recent", "-q", "actor:\"x"]), 2);
    assert!(
        message.starts_with("q: at character 7: unterminated quote"),
        "{message}"
    );
}
