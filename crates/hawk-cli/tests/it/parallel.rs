//! Many `hawk` processes writing one SQLite file at once.

use std::collections::BTreeSet;
use std::thread;

use crate::helpers::{Log, parse_json};

const WRITERS: usize = 8;
const EACH: usize = 10;

/// 80 processes, 8 at a time, against one file: every one succeeds without a lock
/// error, and the ids are exactly 1..=80.
#[test]
fn parallel_writers_get_dense_ids_and_no_lock_errors() {
    // The file does not exist yet: the first opens race to create and migrate it.
    let log = Log::new();
    let returned: Vec<(String, u64)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let log = &log;
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let action = format!("writer{w}.entry{i}");
                            let out = log.run(&["track", &action, "--json"]);
                            let stderr = String::from_utf8_lossy(&out.stderr);
                            assert!(out.status.success(), "{action}: {:?} {stderr}", out.status);
                            assert!(!stderr.contains("locked"), "{action}: {stderr}");
                            let entry = parse_json(&String::from_utf8(out.stdout).unwrap());
                            assert_eq!(entry["action"], action.as_str());
                            (action, entry["id"].as_u64().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("writer thread"))
            .collect()
    });

    let total = WRITERS * EACH;
    let returned_ids: BTreeSet<u64> = returned.iter().map(|(_, id)| *id).collect();
    assert_eq!(returned_ids.len(), total, "no id given twice");
    assert_eq!(returned_ids, (1..=total as u64).collect());

    let stored = log.all();
    assert_eq!(stored.len(), total);
    let mut stored_ids: Vec<u64> = stored.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    stored_ids.reverse();
    assert_eq!(stored_ids, (1..=total as u64).collect::<Vec<_>>());
    for (action, id) in &returned {
        let entry = &stored[total - *id as usize];
        assert_eq!(entry["action"], action.as_str(), "entry {id}");
    }
    // Each writer's own entries are in the order it wrote them.
    for w in 0..WRITERS {
        let mine: Vec<u64> = returned
            .iter()
            .filter(|(a, _)| a.starts_with(&format!("writer{w}.")))
            .map(|(_, id)| *id)
            .collect();
        assert!(mine.windows(2).all(|p| p[0] < p[1]), "writer {w}: {mine:?}");
    }
}
