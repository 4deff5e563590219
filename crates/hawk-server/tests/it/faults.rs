//! A full disk under `POST /v1/entries`: every client gets an error or its stored
//! entry, never a false success; nothing acknowledged is lost; events posted
//! meanwhile wait in the audit listener, which retries (counted in `/metrics`), and
//! are not answered until recorded; once there is room again they are recorded and
//! answered, and the same server writes on, with the next ids.
//!
//! The file is capped with `Options::max_size_bytes` (SQLite's `max_page_count` on the
//! writer's connection) and grown past the cap by a ballast table on another
//! connection; deleting the ballast frees room inside the file.

use std::path::Path;

use axum::http::StatusCode;
use hawk_audit::Options;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::TestApp;

const CAP: u64 = 256 * 1024;

fn ballast(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Grows the file past `bytes` with a table outside Hawk's schema.
fn fill(path: &Path, bytes: u64) {
    let rows = bytes / 65536 + 2;
    ballast(
        path,
        &format!(
            "CREATE TABLE ballast (b BLOB NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO ballast (b) SELECT zeroblob(65536) FROM n;"
        ),
    );
}

/// Twelve concurrent posts (singles and batches of 3); the entries of each 201 and
/// the statuses of the rest.
async fn posts(app: &TestApp, round: usize) -> (Vec<Value>, Vec<(StatusCode, Value)>) {
    let mut tasks = JoinSet::new();
    for i in 0..12 {
        let router = app.router();
        let one = json!({"action": "disk.filled", "account_id": "acme",
            "metadata": {"round": round, "i": i, "pad": "x".repeat(150)}});
        let body = if i % 3 == 0 {
            json!([one, one, one])
        } else {
            one
        };
        tasks.spawn(async move {
            let req = axum::http::Request::post("/v1/entries")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            crate::helpers::send(router, req).await
        });
    }
    let mut stored = Vec::new();
    let mut refused = Vec::new();
    for reply in tasks.join_all().await {
        match reply.status {
            StatusCode::CREATED => match reply.json() {
                Value::Array(entries) => stored.extend(entries),
                one => stored.push(one),
            },
            status => refused.push((status, reply.json())),
        }
    }
    (stored, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_errors_never_false_successes_and_recovers() {
    let app = TestApp::with_options(Options::default().max_size_bytes(CAP)).await;
    let (mut acknowledged, refused) = posts(&app, 0).await;
    assert!(refused.is_empty(), "{refused:?}");

    fill(&app.path(), CAP);
    let mut errors = 0;
    for round in 1..200 {
        let (stored, refused) = posts(&app, round).await;
        let all_refused = stored.is_empty();
        acknowledged.extend(stored);
        for (status, body) in &refused {
            assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
            // Logged in full, answered without internals.
            assert_eq!(
                body,
                &json!({"error": {"code": "internal", "message": "internal server error", "field": null}})
            );
        }
        errors += refused.len();
        if all_refused {
            break;
        }
        assert!(round < 199, "the cap never filled up");
    }
    assert!(errors > 0);
    let head = app.head().await;
    assert_eq!(
        head,
        acknowledged.len() as u64,
        "a refused post wrote something"
    );

    // Events posted meanwhile wait in the audit listener, which retries; none is
    // answered 202 before it is durable. Each is at least as large as a refused post,
    // in the same account, so it needs the pages that were refused (a smaller one
    // could still fit beside the last rows). One client posts them in order.
    const EVENTS: u64 = 20;
    let poster = {
        let router = app.router();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..EVENTS {
                let payload = json!({"account_id": "acme", "i": i, "pad": "x".repeat(150)});
                let event = json!({"name": "disk.event", "payload": payload}).to_string();
                let req = axum::http::Request::post("/v1/events")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(event))
                    .unwrap();
                statuses.push(crate::helpers::send(router.clone(), req).await.status);
            }
            statuses
        })
    };
    let mut retries = 0;
    for _ in 0..100 {
        retries = metric(&app, "hawk_listener_retries_total").await;
        if retries > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(retries > 0, "the listener never tried the full disk");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !poster.is_finished(),
        "an event was accepted on a full disk"
    );
    assert_eq!(app.head().await, head);

    // Room again: the listener records its events by itself, in order, once each, and
    // answers them; the same server takes writes with the next ids; no restart.
    ballast(&app.path(), "DELETE FROM ballast");
    let statuses = poster.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::ACCEPTED),
        "{statuses:?}"
    );
    let events = app.audit.entries_after(head, 1000, None).await.unwrap();
    let order: Vec<u64> = events
        .iter()
        .map(|e| e.metadata["i"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..EVENTS).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e.action == "disk.event"));
    assert_eq!(metric(&app, "hawk_listener_recorded_total").await, EVENTS);
    let head = head + EVENTS;

    let (resumed, refused) = posts(&app, 1000).await;
    assert!(refused.is_empty(), "{refused:?}");
    let mut ids: Vec<u64> = resumed.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    let total = head + resumed.len() as u64;
    assert_eq!(ids, (head + 1..=total).collect::<Vec<_>>());
    acknowledged.extend(resumed);

    let page = app.get("/v1/entries?per_page=1000").await.json();
    assert_eq!(page["total_count"], total);
    let listed = page["entries"].as_array().unwrap();
    for entry in &acknowledged {
        let id = entry["id"].as_u64().unwrap();
        assert_eq!(&listed[(total - id) as usize], entry, "entry {id}");
    }
}

/// A counter's value in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.get("/metrics").await.text;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}
