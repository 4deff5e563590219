//! Human output: tables, counts, pages past the end, stored control characters, help.

use crate::helpers::{Log, hawk};

/// Entries with fixed times (so tables snapshot), some values far longer than a
/// column: ids 1 to 5.
fn sample_log() -> Log {
    let log = Log::new();
    let file = log.path("sample.csv");
    std::fs::write(
        &file,
        "id,actor_type,actor_id,action,resource_type,resource_id,account_id,inserted_at\n\
         1,user,42,project.deleted,project,7,acme,2025-03-01 09:00:00\n\
         2,,,invoice.paid,,,acme,2025-03-01 09:30:00\n\
         3,service,billing-reconciliation-worker-eu-west-1,subscription.renewal.failed.after.retries,subscription,sub_1NfXq2LkdIwHu7ixVbc3QzT9,acme,2025-03-02 10:00:00\n\
         4,user,7,user.login,,,,2025-03-02 11:00:00\n\
         5,user,8,document.shared,document,quarterly-report-2025-final-final-v2.pdf,acme-international-holdings-limited,2025-03-03 12:00:00\n",
    )
    .unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
    log
}

/// The widest line, in characters (the tables print ASCII, `─` and `…`).
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn tables_were_wider_than_80_columns_and_long_values_widened_every_row() {
    // A single long value widened every row of the table, past 80 columns.
    let log = sample_log();
    let recent = log.ok(&["recent"]);
    insta::assert_snapshot!("recent_fits_80_columns", recent);
    let account = log.ok(&["account", "acme-international-holdings-limited"]);
    let search = log.ok(&["search", "e"]);
    let actions = log.ok(&["actions"]);
    let created = log.run(&["keys", "create", "--scope", "read", "--account", "acme"]);
    assert!(created.status.success());
    let keys = log.ok(&["keys", "list"]);
    for (name, out) in [
        ("recent", &recent),
        ("account", &account),
        ("search", &search),
        ("actions", &actions),
        ("keys", &keys),
    ] {
        assert!(widest(out) <= 80, "{name} is {} wide:\n{out}", widest(out));
    }
    // A cut value ends in `…`; its full text is in --json.
    assert!(recent.contains("  subscription.re…  "), "{recent}");
    let full = log.json(&["recent"]);
    assert_eq!(
        full["entries"][2]["action"],
        "subscription.renewal.failed.after.retries"
    );
}

#[test]
fn account_streamed_a_different_table_than_its_page() {
    // `hawk account X` streamed rows of fixed widths under a header of its own, unlike
    // the table of `recent` and of `account X --page N`.
    let log = sample_log();
    let streamed = log.ok(&["account", "acme"]);
    let paged = log.ok(&["account", "acme", "--per-page", "1000"]);
    fn table(out: &str) -> Vec<&str> {
        out.lines().rev().skip(1).collect()
    }
    assert_eq!(table(&streamed), table(&paged));
    assert_eq!(streamed.lines().last(), Some("3 entries"));
    assert_eq!(
        paged.lines().last(),
        Some("page 1 of 1 · 3 entries · as_of 5")
    );
    insta::assert_snapshot!("account_streamed", streamed);
}

#[test]
fn big_counts_had_no_thousands_separators() {
    // Counts printed as 1234567, hard to read at a glance.
    let log = Log::new();
    let file = log.path("many.csv");
    let mut csv = String::from("id,action,inserted_at\n");
    for i in 1..=1234 {
        csv.push_str(&format!("{i},user.login,2025-03-01 09:00:00\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let imported = log.ok(&["import", file.to_str().unwrap()]);
    assert!(
        imported.starts_with("imported 1,234 entries from "),
        "{imported}"
    );
    let recent = log.ok(&["recent", "--per-page", "1"]);
    assert_eq!(
        recent.lines().last(),
        Some("page 1 of 1,234 · 1,234 entries · as_of 1234")
    );
    let actions = log.ok(&["actions"]);
    assert_eq!(
        actions.lines().nth(2),
        Some("user.login  1,234"),
        "{actions}"
    );
}

#[test]
fn a_page_past_the_end_printed_page_4_of_3() {
    // `recent --page 4` of a 3-page listing printed an empty table and "page 4 of 3".
    let log = sample_log();
    let past = log.ok(&["recent", "--per-page", "2", "--page", "4"]);
    assert_eq!(past, "no page 4: 3 pages · 5 entries · as_of 5\n");
    let empty = log.ok(&["recent", "--search", "nothing-matches"]);
    assert_eq!(empty, "0 entries · as_of 5\n");
    let last = log.ok(&["recent", "--per-page", "2", "--page", "3"]);
    assert_eq!(
        last.lines().last(),
        Some("page 3 of 3 · 5 entries · as_of 5")
    );
}

/// A log holding values Hawk's validation refuses today, written behind its back as an
/// older version could have stored them: ids 1 to 3.
fn log_with_control_characters() -> Log {
    let log = Log::new();
    let file = log.path("short.csv");
    std::fs::write(
        &file,
        "id,actor_type,actor_id,action,resource_type,resource_id,account_id,inserted_at\n\
         1,user,42,project.deleted,project,7,acme,2025-03-01 09:00:00\n\
         2,,,invoice.paid,,,acme,2025-03-01 09:30:00\n\
         3,user,7,user.login,,,,2025-03-02 11:00:00\n",
    )
    .unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
    let conn = rusqlite::Connection::open(log.path("hawk.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER entries_refuse_update;
         UPDATE entries SET actor_id = '4' || char(27) || 'c',
             resource_id = char(13) || char(10) WHERE id = 1;
         UPDATE actions SET name = 'inv' || char(27) || '[2J' || char(8238)
             WHERE name = 'invoice.paid';",
    )
    .unwrap();
    log
}

#[test]
fn stored_control_characters_reached_the_terminal_raw() {
    // A stored ESC, CR or newline went to the terminal as is: one entry could clear an
    // admin's screen, retitle the window or forge table rows.
    let log = log_with_control_characters();
    let outputs = [
        log.ok(&["recent"]),
        log.ok(&["account", "acme"]),
        log.ok(&["account", "acme", "--page", "1"]),
        log.ok(&["search", "inv"]),
        log.ok(&["actions"]),
    ];
    for out in &outputs {
        let raw: Vec<char> = out
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
            .collect();
        assert!(raw.is_empty(), "raw {raw:?} in:\n{out}");
    }
    let recent = &outputs[0];
    assert!(
        recent.contains(r"user:4\x1bc"),
        "escaped, visibly: {recent}"
    );
    assert!(recent.contains(r"project:\r\n  "), "{recent}");
    assert!(recent.contains(r"inv\x1b[2J\u{202e}"), "{recent}");
    assert_eq!(
        recent.lines().count(),
        2 + 3 + 1,
        "one line per entry, no forged row"
    );
    insta::assert_snapshot!("control_characters_escaped", recent);
    for out in &outputs[1..] {
        assert!(out.contains(r"inv\x1b[2J\u{202e}"), "{out}");
    }
}

#[test]
fn machine_outputs_keep_stored_control_characters_byte_for_byte() {
    // Escaping is for people: --json, NDJSON and CSV keep the stored bytes (but for the
    // quote CSV puts before a cell a spreadsheet would run, which import takes off).
    let log = log_with_control_characters();
    let json = log.json(&["recent"]);
    assert_eq!(json["entries"][2]["actor_id"], "4\u{1b}c");
    assert_eq!(json["entries"][2]["resource_id"], "\r\n");
    assert_eq!(json["entries"][1]["action"], "inv\u{1b}[2J\u{202e}");
    let ndjson = log.ok(&["export", "--format", "ndjson"]);
    let first: serde_json::Value = serde_json::from_str(ndjson.lines().next().unwrap()).unwrap();
    assert_eq!(first["actor_id"], "4\u{1b}c");
    let csv = log.ok(&["export", "--format", "csv"]);
    assert!(csv.contains(",4\u{1b}c,"), "{csv:?}");
    assert!(csv.contains(",\"'\r\n\","), "{csv:?}");
    assert!(csv.contains(",inv\u{1b}[2J\u{202e},"), "{csv:?}");
}

/// Every command's `--help`, subcommands included.
fn every_help() -> Vec<(String, String)> {
    let top = hawk().arg("--help").output().unwrap();
    let mut helps = vec![("hawk".to_owned(), String::from_utf8(top.stdout).unwrap())];
    let commands = [
        "track",
        "recent",
        "search",
        "actions",
        "account",
        "serve",
        "verify",
        "checkpoint",
        "checkpoint export",
        "checkpoint public-key",
        "prove",
        "keys",
        "keys create",
        "keys list",
        "keys revoke",
        "export",
        "import",
        "prune",
        "demo",
        "bench",
    ];
    for command in commands {
        let out = hawk()
            .args(command.split(' '))
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{command}");
        helps.push((command.to_owned(), String::from_utf8(out.stdout).unwrap()));
    }
    helps
}

#[test]
fn help_mixed_global_options_with_the_commands_own_and_had_no_examples() {
    // Every command's help listed --db, --json, --key-file and --origin among its own
    // options, whether they meant anything there or not, and showed no example.
    for (command, help) in every_help() {
        let (own, global) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{command}: no global options heading:\n{help}"));
        for flag in ["--db", "--json", "--key-file", "--origin"] {
            assert!(
                !own.contains(flag),
                "{command}: {flag} among its own:\n{help}"
            );
        }
        if command != "hawk" {
            assert!(
                global.contains("\nExample"),
                "{command}: no example:\n{help}"
            );
        }
        let shown = |flag: &str| {
            global.lines().any(|line| {
                let line = line.trim_start();
                line == flag || line.starts_with(&format!("{flag} "))
            })
        };
        let reads_keys = [
            "serve",
            "verify",
            "prune",
            "checkpoint",
            "checkpoint export",
            "checkpoint public-key",
            "hawk",
        ];
        assert_eq!(
            shown("--key-file"),
            reads_keys.contains(&command.as_str()),
            "{command}:\n{help}"
        );
        assert_eq!(
            shown("--json"),
            !["serve", "checkpoint public-key"].contains(&command.as_str()),
            "{command}:\n{help}"
        );
        assert_eq!(shown("--db"), command != "bench", "{command}:\n{help}");
    }
}

#[test]
fn help_descriptions_ran_over_several_lines() {
    // Descriptions of several sentences made one option's help run far past a line.
    for (command, help) in every_help() {
        for line in help.lines() {
            // Defaults and environment variables clap appends are not counted.
            let text = line.split(" [").next().unwrap();
            assert!(
                text.chars().count() <= 100,
                "{command}: {} characters:\n{line}",
                text.chars().count()
            );
        }
    }
    let prune = every_help()
        .into_iter()
        .find(|(c, _)| c == "prune")
        .unwrap()
        .1;
    insta::assert_snapshot!("prune_help", prune);
}
