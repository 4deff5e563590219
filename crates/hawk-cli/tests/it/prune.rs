//! `hawk prune --before DATE`: the oldest entries go in one recorded step.

use hawk_audit::time::{Duration, OffsetDateTime};

use crate::helpers::{Log, PgDb, failed, ids, succeeded};

/// Now, as `--before` takes it.
fn now() -> String {
    hawk_audit::format_time(OffsetDateTime::now_utc())
}

#[test]
fn prune_removes_the_oldest_and_records_it() {
    removes_the_oldest_and_records_it(Log::new());
}

#[test]
fn prune_removes_the_oldest_and_records_it_on_postgres() {
    let Some(pg) = PgDb::create() else { return };
    removes_the_oldest_and_records_it(Log::at(pg.url()));
}

fn removes_the_oldest_and_records_it(log: Log) {
    let file = log.path("old.csv");
    std::fs::write(
        &file,
        "id,action,resource_type,resource_id,inserted_at\n\
         1,a.one,account,acme,2024-12-31 10:00:00\n\
         2,a.two,account,acme,2024-12-31 23:59:59\n\
         3,a.three,account,acme,2025-01-01 00:00:00\n\
         4,b.four,,,2025-06-01 00:00:00\n",
    )
    .unwrap();
    log.ok(&["import", file.to_str().unwrap()]);

    let message = failed(&log.run(&["prune", "--before", "last tuesday"]), 2);
    assert!(message.starts_with("--before: not a time"), "{message}");
    assert_eq!(log.total_count(), 4);
    let none = log.json(&["prune", "--before", "2024-01-01", "--yes"]);
    assert_eq!(none["removed"], 0);
    assert_eq!(log.total_count(), 4);

    let pruned = log.json(&["prune", "--before", "2025-01-01", "--yes"]);
    assert_eq!(
        (pruned["removed"].as_u64(), pruned["through_id"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(pruned["entry"]["action"], "hawk.pruned");
    assert_eq!(pruned["entry"]["metadata"]["root"], pruned["root"]);
    assert_eq!(ids(&log.all()), [5, 4, 3]);
    let account = log.json(&["account", "acme", "--page", "1"]);
    assert_eq!(account["total_count"], 1);
    assert_eq!(account["entries"][0]["action"], "a.three");
    let actions = log.json(&["actions", "a."]);
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.three"], "pruned actions are no longer suggested");
}

#[test]
fn a_pruned_log_still_verifies_from_the_prune_point() {
    let log = Log::new();
    for i in 0..6 {
        log.track(&format!("a.{i}"), &[]);
    }
    // Signed before the prune, of the whole log as it was.
    log.ok(&[
        "checkpoint",
        "export",
        "--output",
        log.path("cp6.txt").to_str().unwrap(),
    ]);
    let pruned = log.json(&["prune", "--before", &now(), "--yes"]);
    assert_eq!(pruned["through_id"], 6);
    log.track("after.prune", &[]);

    let report = log.json(&["verify", "--anchor", log.path("cp6.txt").to_str().unwrap()]);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        (report["pruned"].as_u64(), report["entries"].as_u64()),
        (Some(6), Some(2))
    );
    assert!(
        report["anchors"].as_u64().unwrap() >= 1,
        "the anchor at the prune point is checked"
    );

    // Removing a remaining entry is still found.
    let conn = rusqlite::Connection::open(log.path("hawk.db")).unwrap();
    conn.execute_batch("DROP TRIGGER entries_refuse_delete; DELETE FROM entries WHERE id = 7;")
        .unwrap();
    let out = log.run(&["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tamper"]["kind"], "removed", "{report}");
    assert_eq!(report["tamper"]["id"], 7);
}

/// Four entries of 2024-12-31 and 2025 (ids 1 to 4), for `--before 2025-01-01`.
fn old_log(log: &Log) {
    let file = log.path("old.csv");
    std::fs::write(
        &file,
        "id,action,resource_type,resource_id,inserted_at\n\
         1,a.one,account,acme,2024-12-31 10:00:00\n\
         2,a.two,account,acme,2024-12-31 23:59:59\n\
         3,a.three,account,acme,2025-01-01 00:00:00\n\
         4,b.four,,,2025-06-01 00:00:00\n",
    )
    .unwrap();
    log.ok(&["import", file.to_str().unwrap()]);
}

#[test]
fn prune_refused_a_future_date_that_removed_every_entry() {
    refuses_a_future_date(Log::new());
}

#[test]
fn prune_refused_a_future_date_that_removed_every_entry_on_postgres() {
    let Some(pg) = PgDb::create() else { return };
    refuses_a_future_date(Log::at(pg.url()));
}

fn refuses_a_future_date(log: Log) {
    // `--before` a future date removed every entry, the earlier prune's record too.
    old_log(&log);
    log.ok(&["prune", "--before", "2025-01-01", "--yes"]);
    assert_eq!(ids(&log.all()), [5, 4, 3]);
    let tomorrow = hawk_audit::format_time(OffsetDateTime::now_utc() + Duration::days(1));
    for extra in ["--yes", "--dry-run"] {
        let message = failed(&log.run(&["prune", "--before", &tomorrow, extra]), 2);
        assert_eq!(message, "before: must not be in the future", "{extra}");
    }
    let message = failed(&log.run(&["prune", "--before", "2999-01-01", "--yes"]), 2);
    assert_eq!(message, "before: must not be in the future");
    assert_eq!(
        ids(&log.all()),
        [5, 4, 3],
        "nothing removed, nothing recorded"
    );
    assert_eq!(log.all()[0]["action"], "hawk.pruned");
}

#[test]
fn prune_dry_run_showed_nothing_of_what_would_go() {
    dry_run_shows_what_would_go(Log::new());
}

#[test]
fn prune_dry_run_showed_nothing_of_what_would_go_on_postgres() {
    let Some(pg) = PgDb::create() else { return };
    dry_run_shows_what_would_go(Log::at(pg.url()));
}

fn dry_run_shows_what_would_go(log: Log) {
    // A prune could only be run, never previewed: no count, ids or times beforehand.
    old_log(&log);
    let human = log.ok(&["prune", "--before", "2025-01-01", "--dry-run"]);
    insta::assert_snapshot!("prune_dry_run", human);
    let json = log.json(&["prune", "--before", "2025-01-01", "--dry-run"]);
    insta::assert_json_snapshot!("prune_dry_run_json", json);
    let nothing = log.ok(&["prune", "--before", "2024-01-01", "--dry-run"]);
    assert_eq!(nothing, "no entry is that old; nothing would be removed\n");
    assert_eq!(log.total_count(), 4, "a dry run removes nothing");
    assert_eq!(ids(&log.all()), [4, 3, 2, 1], "and records nothing");
}

#[test]
fn prune_removed_entries_without_asking() {
    // A prune removed entries at once: no question on a terminal, none needed in a
    // script.
    let log = Log::new();
    old_log(&log);
    // stdin is a pipe here: without --yes, refused.
    let message = failed(&log.run(&["prune", "--before", "2025-01-01"]), 2);
    assert_eq!(
        message,
        "--yes: required when stdin is not a terminal (this removes 2 entries: ids 1 to 2, \
         from 2024-12-31T10:00:00Z to 2024-12-31T23:59:59Z; --dry-run only shows it)"
    );
    assert_eq!(log.total_count(), 4);

    // On a terminal (`script` gives the command one), it asks; only yes removes.
    let on_terminal = |answer: &str| {
        let command = format!(
            "{} prune --before 2025-01-01 --db {}",
            env!("CARGO_BIN_EXE_hawk"),
            log.url()
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("HAWK_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running script (util-linux)");
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, shown) = on_terminal("n\n");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains(
            "this removes 2 entries: ids 1 to 2, from 2024-12-31T10:00:00Z to \
             2024-12-31T23:59:59Z.\r\nRemove them for good? [y/N] "
        ),
        "{shown:?}"
    );
    assert!(shown.contains("not confirmed; nothing removed"), "{shown}");
    assert_eq!(log.total_count(), 4);
    let (code, shown) = on_terminal("y\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("removed 2 entries (ids up to 2)"), "{shown}");
    assert_eq!(ids(&log.all()), [5, 4, 3]);

    // --yes in a script; nothing to remove is said, not asked.
    let out = succeeded(
        &log.run(&["prune", "--before", "2025-01-01", "--yes"]),
        &["prune"],
    );
    assert_eq!(out, "no entry is that old; nothing removed\n");
}
