//! `POST /v1/entries` (one entry, a batch, bad input, idempotency keys) and
//! `GET /v1/entries`.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use super::{BAD, INVALID, PageCase, check_errors, get, post};
use crate::helpers::{TestApp, ids};

#[tokio::test]
async fn post_entries_stores_one_entry_or_a_batch() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/v1/entries",
            r#"{"action":" plan.upgraded ","actor_type":"user","actor_id":42,
                "resource_type":"account","resource_id":"acme","metadata":{"plan":"pro"}}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let entry = reply.json();
    assert_eq!(entry["id"], 1);
    assert_eq!(entry["action"], "plan.upgraded", "trimmed");
    assert_eq!(entry["actor_id"], "42", "integer ids are taken in decimal");
    assert_eq!(
        entry["account_id"], "acme",
        "inferred from the account resource"
    );
    assert_eq!(entry["metadata"], json!({"plan": "pro"}));
    assert!(entry["inserted_at"].as_str().unwrap().ends_with('Z'));

    let cases: Vec<(&str, Value)> = vec![
        ("minimal", json!({"action": "a.b"})),
        (
            "nulls",
            json!({"action": "a.b", "actor_type": null, "actor_id": null, "metadata": null}),
        ),
        ("account", json!({"action": "a.b", "account_id": "x"})),
    ];
    for (what, body) in cases {
        let reply = app.post("/v1/entries", &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{what}: {}", reply.text);
        assert_eq!(reply.json()["metadata"], json!({}), "{what}");
    }

    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"action": format!("bulk.{i}")}))
        .collect();
    let reply = app
        .post("/v1/entries", &Value::from(batch).to_string())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let stored = reply.json();
    assert_eq!(ids(&stored), (5..1005).collect::<Vec<_>>(), "in order");
    assert_eq!(stored[999]["action"], "bulk.999");
    assert_eq!(app.head().await, 1004);
}

#[tokio::test]
async fn post_entries_refuses_bad_input_and_writes_nothing() {
    let app = TestApp::new().await;
    app.track("existing.entry", None).await;
    let long = "x".repeat(256);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"action": "a.b"})).collect();
    let huge = json!({"action": "a.b", "metadata": {"blob": "x".repeat(1024 * 1024)}});
    let cases = vec![
        post(
            "missing action",
            "/v1/entries",
            "{}",
            INVALID,
            "required",
            Some("action"),
        ),
        post(
            "blank action",
            "/v1/entries",
            r#"{"action":"  "}"#,
            INVALID,
            "required",
            Some("action"),
        ),
        post(
            "long action",
            "/v1/entries",
            &json!({"action": long}).to_string(),
            INVALID,
            "too_long",
            Some("action"),
        ),
        post(
            "control char",
            "/v1/entries",
            r#"{"action":"a\nb"}"#,
            INVALID,
            "control_character",
            Some("action"),
        ),
        post(
            "half an actor",
            "/v1/entries",
            r#"{"action":"a.b","actor_type":"user"}"#,
            INVALID,
            "incomplete_pair",
            Some("actor_id"),
        ),
        post(
            "metadata array",
            "/v1/entries",
            r#"{"action":"a.b","metadata":[1]}"#,
            INVALID,
            "not_an_object",
            Some("metadata"),
        ),
        post(
            "empty account",
            "/v1/entries",
            r#"{"action":"a.b","account_id":""}"#,
            INVALID,
            "empty",
            Some("account_id"),
        ),
        post(
            "action a number",
            "/v1/entries",
            r#"{"action":5}"#,
            INVALID,
            "invalid_type",
            Some("action"),
        ),
        post(
            "id a float",
            "/v1/entries",
            r#"{"action":"a.b","actor_type":"u","actor_id":1.5}"#,
            INVALID,
            "invalid_type",
            Some("actor_id"),
        ),
        post(
            "unknown field",
            "/v1/entries",
            r#"{"action":"a.b","acount_id":"x"}"#,
            INVALID,
            "unknown_field",
            Some("acount_id"),
        ),
        post(
            "id set by the client",
            "/v1/entries",
            r#"{"action":"a.b","id":7}"#,
            INVALID,
            "unknown_field",
            Some("id"),
        ),
        post(
            "a string",
            "/v1/entries",
            r#""a.b""#,
            INVALID,
            "invalid_type",
            Some("entry"),
        ),
        post(
            "empty batch",
            "/v1/entries",
            "[]",
            INVALID,
            "out_of_range",
            Some("entries"),
        ),
        post(
            "batch over 1000",
            "/v1/entries",
            &Value::from(too_many).to_string(),
            INVALID,
            "out_of_range",
            Some("entries"),
        ),
        post(
            "bad item in a batch",
            "/v1/entries",
            r#"[{"action":"a.b"},{"action":"a.c"},{"action":""}]"#,
            INVALID,
            "required",
            Some("action"),
        ),
        post(
            "not JSON",
            "/v1/entries",
            "{action:",
            BAD,
            "malformed_json",
            None,
        ),
        post("empty body", "/v1/entries", "", BAD, "malformed_json", None),
        post(
            "over 1 MiB",
            "/v1/entries",
            &huge.to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            None,
        ),
    ];
    check_errors(&app, cases).await;

    // The index of a bad batch item is in the message and the object.
    let reply = app
        .post(
            "/v1/entries",
            r#"[{"action":"a.b"},{"action":"a.c"},{"action":""}]"#,
        )
        .await;
    let error = &reply.json()["error"];
    assert_eq!(error["index"], 2);
    assert_eq!(error["message"], "item 2: action: is required");
    let reply = app
        .post("/v1/entries", r#"[{"action":"a.b"},{"actor":"x"}]"#)
        .await;
    reply.assert_error(INVALID, "unknown_field", Some("actor"));
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("item 1: ")
    );

    // Without a JSON content type.
    let req = axum::http::Request::post("/v1/entries")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(axum::body::Body::from(r#"{"action":"a.b"}"#))
        .unwrap();
    let reply = crate::helpers::send(app.router(), req).await;
    reply.assert_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );
    assert_eq!(app.head().await, 1);

    // A JSON content type with parameters is JSON all the same.
    let req = axum::http::Request::post("/v1/entries")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(axum::body::Body::from(r#"{"action":"a.b"}"#))
        .unwrap();
    let reply = crate::helpers::send(app.router(), req).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

// Regression: control characters were refused in `action` only; ESC, CR, NUL and BEL
// in the other string fields were stored and reached terminals and logs as they were.
#[tokio::test]
async fn post_entries_refuses_control_characters_in_every_string_field() {
    let app = TestApp::new().await;
    let bad = "\u{1b}]0;owned\u{7}\r\u{0}";
    let cases = [
        (
            "actor_type",
            json!({"action": "a.b", "actor_type": bad, "actor_id": "1"}),
        ),
        (
            "actor_id",
            json!({"action": "a.b", "actor_type": "user", "actor_id": bad}),
        ),
        (
            "resource_type",
            json!({"action": "a.b", "resource_type": bad, "resource_id": "1"}),
        ),
        (
            "resource_id",
            json!({"action": "a.b", "resource_type": "doc", "resource_id": bad}),
        ),
        ("account_id", json!({"action": "a.b", "account_id": bad})),
    ];
    for (field, body) in cases {
        let reply = app.post("/v1/entries", &body.to_string()).await;
        reply.assert_error(INVALID, "control_character", Some(field));
        assert_eq!(
            reply.json()["error"]["message"],
            format!("{field}: must not contain control characters (U+0000-U+001F, U+007F)")
        );
        let batch = json!([{"action": "fine"}, body]);
        let reply = app.post("/v1/entries", &batch.to_string()).await;
        reply.assert_error(INVALID, "control_character", Some(field));
        assert_eq!(reply.json()["error"]["index"], 1);
    }
    let reply = app
        .post(
            "/v1/events",
            &json!({"name": "a.b", "payload": {"account_id": bad}}).to_string(),
        )
        .await;
    reply.assert_error(INVALID, "control_character", Some("payload.account_id"));
    assert_eq!(app.head().await, 0, "nothing written");
}

#[tokio::test]
async fn get_entries_pages_newest_first() {
    let app = TestApp::new().await;
    for i in 0..7 {
        app.track(
            &format!("{}.done", if i % 2 == 0 { "even" } else { "odd" }),
            None,
        )
        .await;
    }
    // (uri, ids, page, per_page, total_count, total_pages)
    let cases: Vec<PageCase> = vec![
        ("/v1/entries", vec![7, 6, 5, 4, 3, 2, 1], 1, 50, 7, 1),
        ("/v1/entries?page=2&per_page=3", vec![4, 3, 2], 2, 3, 7, 3),
        ("/v1/entries?page=9&per_page=3", vec![], 9, 3, 7, 3),
        ("/v1/entries?search=ODD", vec![6, 4, 2], 1, 50, 3, 1),
        (
            "/v1/entries?search=",
            vec![7, 6, 5, 4, 3, 2, 1],
            1,
            50,
            7,
            1,
        ),
        ("/v1/entries?as_of=5&per_page=2", vec![5, 4], 1, 2, 5, 3),
        ("/v1/entries?search=%25", vec![], 1, 50, 0, 1),
    ];
    for (uri, want, page, per_page, total, pages) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let body = reply.json();
        assert_eq!(ids(&body["entries"]), want, "{uri}");
        assert_eq!(
            (
                &body["page"],
                &body["per_page"],
                &body["total_count"],
                &body["total_pages"]
            ),
            (&json!(page), &json!(per_page), &json!(total), &json!(pages)),
            "{uri}"
        );
    }
    assert_eq!(app.get("/v1/entries?as_of=5").await.json()["as_of"], 5);
    assert_eq!(app.get("/v1/entries").await.json()["as_of"], 7);

    let cases = vec![
        get(
            "page not a number",
            "/v1/entries?page=abc",
            BAD,
            "malformed",
            Some("page"),
        ),
        get(
            "negative page",
            "/v1/entries?page=-1",
            BAD,
            "malformed",
            Some("page"),
        ),
        get(
            "per_page not a number",
            "/v1/entries?per_page=1e3",
            BAD,
            "malformed",
            Some("per_page"),
        ),
        get(
            "as_of not a number",
            "/v1/entries?as_of=x",
            BAD,
            "malformed",
            Some("as_of"),
        ),
        get(
            "page 0",
            "/v1/entries?page=0",
            INVALID,
            "out_of_range",
            Some("page"),
        ),
        get(
            "per_page 0",
            "/v1/entries?per_page=0",
            INVALID,
            "out_of_range",
            Some("per_page"),
        ),
        get(
            "per_page 1001",
            "/v1/entries?per_page=1001",
            INVALID,
            "out_of_range",
            Some("per_page"),
        ),
        get(
            "stray percent",
            "/v1/entries?page=%ZZ",
            BAD,
            "malformed",
            Some("page"),
        ),
    ];
    check_errors(&app, cases).await;
}

#[tokio::test]
async fn a_retried_post_under_one_idempotency_key_was_stored_twice() {
    // A client whose POST /v1/entries timed out could only retry, and a retry wrote its
    // entries a second time.
    let app = TestApp::new().await;
    let batch = json!([
        {"action": "order.placed", "account_id": "acme", "metadata": {"total": 12.5}},
        {"action": "order.paid", "account_id": "acme"},
    ])
    .to_string();
    let first = app.post_with_key(b"order-17", &batch).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(ids(&first.json()), vec![1, 2]);
    // The same entries in another JSON layout are the same request.
    let reordered = json!([
        {"account_id": "acme", "metadata": {"total": 12.5}, "action": "order.placed"},
        {"account_id": "acme", "action": "order.paid"},
    ])
    .to_string();
    for body in [&batch, &reordered] {
        let again = app.post_with_key(b"order-17", body).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(
            again.json(),
            first.json(),
            "the entries stored the first time"
        );
    }
    let one = json!({"action": "user.login", "actor_type": "user", "actor_id": "7"}).to_string();
    let stored = app.post_with_key(b"login-1", &one).await;
    assert_eq!(stored.status, StatusCode::CREATED);
    assert_eq!(stored.json()["id"], 3);
    assert_eq!(
        app.post_with_key(b"login-1", &one).await.json(),
        stored.json()
    );
    assert_eq!(app.head().await, 3);

    // Another body under a used key: 422 naming the header and the rule; nothing
    // written.
    let other = json!({"action": "user.logout"}).to_string();
    let reply = app.post_with_key(b"login-1", &other).await;
    reply.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "reused",
        Some("Idempotency-Key"),
    );
    assert_eq!(
        reply.json()["error"]["message"],
        "Idempotency-Key: was used within the last 24 hours for a different body; \
         a key may only be repeated with the same entries"
    );
    // Malformed keys: 422 naming the header.
    let long = vec![b'k'; 256];
    for (key, code) in [
        (&long[..], "too_long"),
        (&b""[..], "empty"),
        (&b"caf\xc3\xa9"[..], "malformed"),
        (&b"a\tb"[..], "malformed"),
    ] {
        let reply = app.post_with_key(key, &other).await;
        reply.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            Some("Idempotency-Key"),
        );
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.starts_with("Idempotency-Key: "), "{message}");
    }
    let key = vec![b'k'; 255];
    let reply = app.post_with_key(&key, &other).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(app.head().await, 4);
}
