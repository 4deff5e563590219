//! The real server on a loopback port: the live tail, the streamed responses and
//! graceful shutdown, through an HTTP client.

use std::time::Duration;

use futures_util::StreamExt;
use hawk_audit::{Audit, NewEntry};
use serde_json::Value;

use crate::helpers::{Running, TestApp, ids};

/// A generous bound so a broken server fails the test instead of hanging it; no
/// assertion depends on timing.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads Server-Sent Events from a response, one `(id, data)` at a time.
pub(crate) struct EventReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl EventReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        EventReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event with data (keep-alive comments are skipped).
    pub(crate) async fn next(&mut self) -> (u64, Value) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut id = None;
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().parse::<u64>().unwrap());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if let Some(id) = id {
                        return (id, serde_json::from_str(&data).unwrap());
                    }
                    continue;
                }
                let chunk = self
                    .body
                    .next()
                    .await
                    .expect("the stream stays open")
                    .unwrap();
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("an event arrives")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tail_replays_what_was_missed_then_goes_live() {
    let app = TestApp::new().await;
    for i in 1..=3 {
        app.track(&format!("before.{i}"), None).await;
    }
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();

    let response = client
        .get(server.url("/v1/stream?after=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut tail = EventReader::new(response);
    let (id, entry) = tail.next().await;
    assert_eq!((id, entry["action"].as_str()), (2, Some("before.2")));
    assert_eq!(tail.next().await.0, 3);

    // A new entry through the API arrives live, with its id as the event id.
    let stored: Value = client
        .post(server.url("/v1/entries"))
        .json(&serde_json::json!({"action": "live.one"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, entry) = tail.next().await;
    assert_eq!(id, 4);
    assert_eq!(entry, stored, "the data is the entry as the API returns it");

    // An event recorded by the audit listener arrives too.
    client
        .post(server.url("/v1/events"))
        .json(&serde_json::json!({"name": "live.event", "payload": {"account_id": "acme"}}))
        .send()
        .await
        .unwrap();
    let (id, entry) = tail.next().await;
    assert_eq!((id, entry["action"].as_str()), (5, Some("live.event")));

    // Another process writing the same file: seen by polling the head.
    let other = Audit::open(&app.url).await.unwrap();
    other
        .record(NewEntry::new("elsewhere.written"))
        .await
        .unwrap();
    let (id, entry) = tail.next().await;
    assert_eq!(
        (id, entry["action"].as_str()),
        (6, Some("elsewhere.written"))
    );

    // A reconnect with Last-Event-ID resumes after it, whatever `after` says.
    let response = client
        .get(server.url("/v1/stream?after=0"))
        .header("Last-Event-ID", "4")
        .send()
        .await
        .unwrap();
    let mut resumed = EventReader::new(response);
    assert_eq!(resumed.next().await.0, 5);
    assert_eq!(resumed.next().await.0, 6);

    // Without a position the tail starts at the head: only new entries.
    let mut fresh = EventReader::new(client.get(server.url("/v1/stream")).send().await.unwrap());
    app.track("after.connect", None).await;
    assert_eq!(fresh.next().await.0, 7);
    assert_eq!(tail.next().await.0, 7);

    // Shutdown ends open tails instead of waiting for them forever.
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tail_refuses_a_bad_position() {
    let app = TestApp::new().await;
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();
    // (query, header, field)
    let cases = [
        ("?after=x", None, "after"),
        ("?after=-1", None, "after"),
        ("", Some("abc"), "Last-Event-ID"),
    ];
    for (query, header, field) in cases {
        let mut req = client.get(server.url(&format!("/v1/stream{query}")));
        if let Some(h) = header {
            req = req.header("Last-Event-ID", h);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 400, "{query} {header:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field);
        assert_eq!(body["error"]["code"], "malformed");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_array_and_export_stream_over_a_socket() {
    let app = TestApp::new().await;
    // More than one chunk of every streamed response.
    for round in 0..3 {
        let batch = (0..1000)
            .map(|i| {
                let entry = NewEntry::new(format!("bulk.r{round}"));
                if i % 2 == 0 {
                    entry.account("acme")
                } else {
                    entry
                }
            })
            .collect();
        app.audit.record_batch(batch).await.unwrap();
    }
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();

    let response = client
        .get(server.url("/v1/accounts/acme/entries"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let all: Value = response.json().await.unwrap();
    let want: Vec<u64> = (1..=3000).rev().filter(|id| id % 2 == 1).collect();
    assert_eq!(ids(&all), want, "every acme entry, newest first");

    let response = client
        .get(server.url("/v1/export?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let text = response.text().await.unwrap();
    let got: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        got,
        (1..=3000).collect::<Vec<_>>(),
        "every entry, oldest first"
    );

    let text = client
        .get(server.url("/v1/export?format=csv&account_id=acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let got: Vec<u64> = reader
        .records()
        .map(|r| r.unwrap()[0].parse().unwrap())
        .collect();
    assert_eq!(got, (1..=3000).filter(|id| id % 2 == 1).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_records_every_accepted_event() {
    let app = TestApp::new().await;
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();
    for i in 0..50 {
        let response = client
            .post(server.url("/v1/events"))
            .json(&serde_json::json!({"name": "shutdown.pending", "payload": {"n": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    server.stop().await;
    // `serve` closed the log, which records every pending event first.
    let reopened = Audit::open(&app.url).await.unwrap();
    assert_eq!(reopened.head().await.unwrap(), 50);
}
