//! `POST /v1/events`: the bus and the audit listener.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{BAD, INVALID, check_errors, post};
use crate::helpers::TestApp;

#[tokio::test]
async fn post_events_feeds_the_bus_and_the_listener_records() {
    let app = TestApp::new().await;
    let cases: Vec<(&str, Value)> = vec![
        (
            "with account",
            json!({"name": "subscription.renewed", "payload": {"account_id": "acme", "plan": "pro"}}),
        ),
        (
            "integer account",
            json!({"name": "invoice.paid", "payload": {"account_id": 7}}),
        ),
        ("no payload", json!({"name": "system.tick"})),
    ];
    for (what, body) in &cases {
        let reply = app.post("/v1/events", &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{what}: {}", reply.text);
        assert!(reply.json()["seq"].as_u64().is_some(), "{what}");
    }
    app.audit.flush().await;
    let entries = app.get("/v1/entries").await.json()["entries"].clone();
    assert_eq!(entries[2]["action"], "subscription.renewed");
    assert_eq!(entries[2]["account_id"], "acme");
    assert_eq!(entries[2]["resource_type"], "account");
    assert_eq!(entries[2]["metadata"]["plan"], "pro");
    assert_eq!(entries[1]["account_id"], "7");
    assert_eq!(entries[0]["account_id"], Value::Null);

    let cases = vec![
        post(
            "no name",
            "/v1/events",
            "{}",
            INVALID,
            "required",
            Some("name"),
        ),
        post(
            "name not a string",
            "/v1/events",
            r#"{"name":1}"#,
            INVALID,
            "invalid_type",
            Some("name"),
        ),
        post(
            "payload not an object",
            "/v1/events",
            r#"{"name":"a.b","payload":[1]}"#,
            INVALID,
            "not_an_object",
            Some("payload"),
        ),
        post(
            "bad account",
            "/v1/events",
            r#"{"name":"a.b","payload":{"account_id":true}}"#,
            INVALID,
            "malformed",
            Some("payload.account_id"),
        ),
        post(
            "unknown field",
            "/v1/events",
            r#"{"name":"a.b","data":{}}"#,
            INVALID,
            "unknown_field",
            Some("data"),
        ),
        post(
            "not JSON",
            "/v1/events",
            "nope",
            BAD,
            "malformed_json",
            None,
        ),
        post(
            "payload over 64 KiB",
            "/v1/events",
            &json!({"name": "a.b", "payload": {"blob": "x".repeat(70_000)}}).to_string(),
            INVALID,
            "too_long",
            Some("payload"),
        ),
        post(
            "name too long",
            "/v1/events",
            &json!({"name": "x".repeat(256)}).to_string(),
            INVALID,
            "too_long",
            Some("name"),
        ),
    ];
    check_errors(&app, cases).await;
    app.audit.flush().await;
    assert_eq!(app.head().await, 3);
}

#[tokio::test]
async fn an_accepted_event_was_not_yet_durable() {
    // POST /v1/events answered 202 before the audit listener had committed the event,
    // so a crash right after the answer could lose an accepted event.
    let app = TestApp::new().await;
    for i in 0..20u64 {
        let body = json!({"name": "order.placed", "payload": {"i": i}}).to_string();
        let reply = app.post("/v1/events", &body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        // No flush: the entry is committed when the answer comes.
        let stored = app.audit.entries_after(i, 10, None).await.unwrap();
        assert_eq!(stored.len(), 1, "event {i} not in the log when accepted");
        assert_eq!(stored[0].metadata["i"], i);
    }
}
