//! `hawk prune --before DATE`: the oldest entries go in one recorded step.

use crate::helpers::{Log, PgDb, failed, ids};

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
    let none = log.json(&["prune", "--before", "2024-01-01"]);
    assert_eq!(none["removed"], 0);
    assert_eq!(log.total_count(), 4);

    let pruned = log.json(&["prune", "--before", "2025-01-01"]);
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
    let pruned = log.json(&["prune", "--before", "2999-01-01"]);
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
