//! Faults the store must survive: a full disk fails appends with an error, never a
//! false success; nothing acknowledged is lost; the log recovers by itself once
//! there is room again.
//!
//! The disk is made full for real: the writer's file is capped with
//! `Options::max_size_bytes` (SQLite's `max_page_count`), then another connection
//! grows the file past the cap with a ballast table. Deleting the ballast frees pages
//! inside the file, as freeing disk space would.

use std::path::Path;

use hawk_audit::{Audit, Entry, Error, NewEntry, Options};
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{TestDb, assert_intact};

const CAP: u64 = 256 * 1024;
const CALLERS: usize = 16;

/// Grows the file at `path` to at least `bytes` with a table outside Hawk's schema.
pub(crate) fn fill_with_ballast(path: &Path, bytes: u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS ballast (b BLOB NOT NULL)")
        .unwrap();
    loop {
        let (pages, page_size): (i64, i64) = conn
            .query_row(
                "SELECT page_count, page_size FROM pragma_page_count, pragma_page_size",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        if (pages * page_size) as u64 >= bytes {
            return;
        }
        conn.execute("INSERT INTO ballast (b) VALUES (zeroblob(65536))", [])
            .unwrap();
    }
}

/// Frees the ballast's pages for reuse (the file keeps its size).
pub(crate) fn free_ballast(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch("DELETE FROM ballast").unwrap();
}

fn entry(caller: usize, n: usize) -> NewEntry {
    NewEntry::new("disk.filled")
        .account(format!("acct-{}", caller % 3))
        .metadata(json!({ "caller": caller, "n": n, "pad": "x".repeat(150) }))
}

/// One round of concurrent appends: `CALLERS` single entries and one batch of 10.
async fn round(audit: &Audit, n: usize) -> Vec<Result<Vec<Entry>, Error>> {
    let mut tasks = JoinSet::new();
    for caller in 0..CALLERS {
        let audit = audit.clone();
        tasks.spawn(async move { audit.record(entry(caller, n)).await.map(|e| vec![e]) });
    }
    let audit = audit.clone();
    tasks.spawn(async move {
        let batch = (0..10).map(|i| entry(CALLERS + i, n)).collect();
        audit.record_batch(batch).await
    });
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_appends_loses_nothing_and_recovers_when_space_is_freed() {
    let db = TestDb::sqlite();
    let audit = db.open_with(Options::default().max_size_bytes(CAP)).await;
    let mut acknowledged: Vec<Entry> = Vec::new();
    for n in 0..3 {
        for result in round(&audit, n).await {
            acknowledged.extend(result.expect("room enough before the ballast"));
        }
    }

    fill_with_ballast(&db.path(), CAP + 64 * 1024);
    // The last pages still take a few entries; then every append must fail.
    let mut failed = 0;
    let mut all_failed = false;
    for n in 3..200 {
        let results = round(&audit, n).await;
        all_failed = results.iter().all(Result::is_err);
        for result in results {
            match result {
                Ok(stored) => acknowledged.extend(stored),
                Err(Error::Storage { message, .. }) => {
                    assert!(message.contains("full"), "{message}");
                    failed += 1;
                }
                Err(other) => panic!("a full disk must be a storage error, not {other:?}"),
            }
        }
        if all_failed {
            break;
        }
    }
    assert!(all_failed, "the cap never filled up");
    let head = audit.head().await.unwrap();
    assert_eq!(
        head,
        acknowledged.len() as u64,
        "a failed append wrote something"
    );
    assert!(audit.record(entry(0, 999)).await.is_err());
    assert_eq!(audit.head().await.unwrap(), head);

    // Room again: the same handle writes, with the next ids, no reopening.
    free_ballast(&db.path());
    let mut resumed: Vec<Entry> = Vec::new();
    for n in 200..203 {
        for result in round(&audit, n).await {
            resumed.extend(result.expect("writes resume once there is room"));
        }
    }
    let mut ids: Vec<u64> = resumed.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (head + 1..=head + resumed.len() as u64).collect::<Vec<_>>()
    );
    acknowledged.extend(resumed);

    let stored = assert_intact(&audit).await;
    assert_eq!(stored.len(), acknowledged.len());
    for entry in &acknowledged {
        assert_eq!(&stored[entry.id as usize - 1], entry, "entry {}", entry.id);
    }
    eprintln!(
        "full disk: {} appends refused, {} entries acknowledged, none lost",
        failed,
        acknowledged.len()
    );
}
