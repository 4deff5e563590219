//! Every route with good and bad input, in memory through `oneshot`: a table of cases
//! per route.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, ids};

/// A request expected to fail: `(what, method, uri, body, status, code, field)`.
type ErrorCase = (
    &'static str,
    Method,
    String,
    Option<String>,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

async fn check_errors(app: &TestApp, cases: Vec<ErrorCase>) {
    let head = app.head().await;
    for (what, method, uri, body, status, code, field) in cases {
        let reply = app.call(method.clone(), &uri, body.as_deref()).await;
        assert_eq!(
            reply.status, status,
            "{what}: {method} {uri}: {}",
            reply.text
        );
        let error = &reply.json()["error"];
        assert_eq!(error["code"], code, "{what}: {}", reply.text);
        assert_eq!(error["field"].as_str(), field, "{what}: {}", reply.text);
        assert!(error["message"].is_string(), "{what}: {}", reply.text);
    }
    assert_eq!(app.head().await, head, "failed requests write nothing");
}

fn post(
    what: &'static str,
    uri: &str,
    body: &str,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
) -> ErrorCase {
    (
        what,
        Method::POST,
        uri.into(),
        Some(body.into()),
        status,
        code,
        field,
    )
}

fn get(
    what: &'static str,
    uri: &str,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
) -> ErrorCase {
    (what, Method::GET, uri.into(), None, status, code, field)
}

/// A page expected: `(uri, ids, page, per_page, total_count, total_pages)`.
type PageCase = (&'static str, Vec<u64>, u64, u64, u64, u64);

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

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
async fn search_and_actions_answer_typeahead() {
    let app = TestApp::new().await;
    for action in [
        "user.login",
        "login.failed",
        "login.ok",
        "login.ok",
        "billing.paid",
    ] {
        app.track(action, None).await;
    }
    let cases: Vec<(&str, Vec<u64>)> = vec![
        ("/v1/search?q=login", vec![4, 3, 2, 1]),
        ("/v1/search?q=LOGIN&limit=2", vec![4, 3]),
        ("/v1/search", vec![5, 4, 3, 2, 1]),
        ("/v1/search?q=nothing", vec![]),
        ("/v1/search?q=%20paid%20", vec![5]),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(ids(&reply.json()["entries"]), want, "{uri}");
    }
    let cases: Vec<(&str, Value)> = vec![
        (
            "/v1/actions?q=log",
            json!([{"action":"login.ok","count":2},{"action":"login.failed","count":1},{"action":"user.login","count":1}]),
        ),
        (
            "/v1/actions?q=log&limit=1",
            json!([{"action":"login.ok","count":2}]),
        ),
        ("/v1/actions?q=zzz", json!([])),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(reply.json(), json!({ "actions": want }), "{uri}");
    }
    assert_eq!(
        app.get("/v1/actions").await.json()["actions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let cases = vec![
        get(
            "search limit 0",
            "/v1/search?q=a&limit=0",
            INVALID,
            "out_of_range",
            Some("limit"),
        ),
        get(
            "search limit 101",
            "/v1/search?limit=101",
            INVALID,
            "out_of_range",
            Some("limit"),
        ),
        get(
            "search limit text",
            "/v1/search?limit=five",
            BAD,
            "malformed",
            Some("limit"),
        ),
        get(
            "actions limit 0",
            "/v1/actions?limit=0",
            INVALID,
            "out_of_range",
            Some("limit"),
        ),
        get(
            "actions limit text",
            "/v1/actions?limit=x",
            BAD,
            "malformed",
            Some("limit"),
        ),
    ];
    check_errors(&app, cases).await;
}

#[tokio::test]
async fn account_entries_stream_every_entry_or_page_them() {
    let app = TestApp::new().await;
    for i in 0..6 {
        let account = if i % 2 == 0 { "acme" } else { "other" };
        app.track(&format!("a.{i}"), Some(account)).await;
    }
    let reply = app.get("/v1/accounts/acme/entries").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(ids(&reply.json()), [5, 3, 1]);

    let cases: Vec<(&str, Value)> = vec![
        ("/v1/accounts/nobody/entries", json!([])),
        ("/v1/accounts/acme/entries?search=", json!([5, 3, 1])),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let got = reply.json();
        assert_eq!(json!(ids(&got)), want, "{uri}");
    }
    // (uri, ids, total_count, total_pages)
    let cases: Vec<(&str, Vec<u64>, u64, u64)> = vec![
        ("/v1/accounts/acme/entries?page=1", vec![5, 3, 1], 3, 1),
        ("/v1/accounts/acme/entries?per_page=2", vec![5, 3], 3, 2),
        ("/v1/accounts/acme/entries?page=2&per_page=2", vec![1], 3, 2),
        ("/v1/accounts/acme/entries?page=1&search=a.4", vec![5], 1, 1),
        ("/v1/accounts/acme/entries?search=a.4", vec![5], 1, 1),
        ("/v1/accounts/acme/entries?as_of=3", vec![3, 1], 2, 1),
        ("/v1/accounts/acme/entries?page=1&as_of=3", vec![3, 1], 2, 1),
    ];
    for (uri, want, total, pages) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let body = reply.json();
        assert_eq!(ids(&body["entries"]), want, "{uri}");
        assert_eq!(
            (body["total_count"].as_u64(), body["total_pages"].as_u64()),
            (Some(total), Some(pages)),
            "{uri}"
        );
    }
    let long = format!("/v1/accounts/{}/entries", "x".repeat(256));
    let cases = vec![
        get(
            "account id too long",
            &long,
            INVALID,
            "too_long",
            Some("account_id"),
        ),
        get(
            "account id too long, paged",
            &format!("{long}?page=1"),
            INVALID,
            "too_long",
            Some("account_id"),
        ),
        get(
            "per_page 0",
            "/v1/accounts/acme/entries?per_page=0",
            INVALID,
            "out_of_range",
            Some("per_page"),
        ),
        get(
            "page text",
            "/v1/accounts/acme/entries?page=one",
            BAD,
            "malformed",
            Some("page"),
        ),
    ];
    check_errors(&app, cases).await;
}

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

// Regression: the CSV export wrote cells starting with `=`, `+`, `-` or `@` as they
// were, and a spreadsheet opening it ran them as formulas.
#[tokio::test]
async fn export_csv_escapes_cells_a_spreadsheet_would_run_and_ndjson_does_not() {
    let app = TestApp::new().await;
    let dde = "=cmd|' /C calc'!A0";
    app.audit
        .record(
            hawk_audit::NewEntry::new("@SUM(1+1)")
                .actor(Some(&hawk_audit::Ref::new("user", dde)))
                .account("-1"),
        )
        .await
        .unwrap();
    let reply = app.get("/v1/export?format=csv").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut rows = csv::Reader::from_reader(reply.text.as_bytes());
    let row = rows.records().next().unwrap().unwrap();
    assert_eq!(
        (&row[1], &row[3], &row[7]),
        (format!("'{dde}").as_str(), "'@SUM(1+1)", "'-1")
    );
    let reply = app.get("/v1/export?format=ndjson").await;
    let entry: Value = serde_json::from_str(reply.text.trim()).unwrap();
    assert_eq!(
        (&entry["actor_id"], &entry["action"], &entry["account_id"]),
        (&json!(dde), &json!("@SUM(1+1)"), &json!("-1"))
    );
}

#[tokio::test]
async fn export_streams_csv_and_ndjson_oldest_first() {
    let app = TestApp::new().await;
    app.audit
        .record(
            hawk_audit::NewEntry::new("doc.shared")
                .actor(Some(&hawk_audit::Ref::new("user", 42)))
                .account("acme")
                .metadata(json!({"note": "a, \"quoted\" value"})),
        )
        .await
        .unwrap();
    app.track("system.tick", None).await;
    app.track("doc.read", Some("acme")).await;

    let reply = app.get("/v1/export?format=csv").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.content_type(), "text/csv; charset=utf-8");
    assert!(
        reply.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("hawk-export.csv")
    );
    let mut rows = csv::Reader::from_reader(reply.text.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "actor_id",
            "actor_type",
            "action",
            "resource_id",
            "resource_type",
            "inserted_at",
            "account_id",
            "metadata",
            "hash"
        ]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], "1");
    assert_eq!(&rows[0][1], "42");
    assert_eq!(&rows[0][2], "user");
    assert_eq!(&rows[0][3], "doc.shared");
    assert_eq!(&rows[0][7], "acme");
    let metadata: Value = serde_json::from_str(&rows[0][8]).unwrap();
    assert_eq!(metadata["note"], "a, \"quoted\" value");
    assert_eq!((&rows[1][1], &rows[1][7]), ("", ""), "nulls are empty");
    let hash = &rows[0][9];
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{hash:?}"
    );
    assert_ne!(&rows[0][9], &rows[1][9]);

    // (uri, ids)
    let cases: Vec<(&str, Vec<u64>)> = vec![
        ("/v1/export?format=ndjson", vec![1, 2, 3]),
        ("/v1/export?format=ndjson&account_id=acme", vec![1, 3]),
        ("/v1/export?format=ndjson&account_id=", vec![1, 2, 3]),
        ("/v1/export?format=ndjson&account_id=nobody", vec![]),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/x-ndjson");
        let lines: Vec<Value> = reply
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ids(&Value::from(lines)), want, "{uri}");
    }
    let entries = app.get("/v1/entries").await.json()["entries"].clone();
    let first: Value = serde_json::from_str(
        app.get("/v1/export?format=ndjson")
            .await
            .text
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first, entries[2],
        "an NDJSON line is the entry as the API returns it"
    );

    let long = format!("/v1/export?format=csv&account_id={}", "x".repeat(256));
    let cases = vec![
        get("no format", "/v1/export", BAD, "required", Some("format")),
        get(
            "unknown format",
            "/v1/export?format=xml",
            BAD,
            "malformed",
            Some("format"),
        ),
        get(
            "account id too long",
            &long,
            INVALID,
            "too_long",
            Some("account_id"),
        ),
    ];
    check_errors(&app, cases).await;
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let app = TestApp::new().await;
    app.track("a.b", None).await;
    let reply = app.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok", "head": 1}));

    // One router for all requests, so its counters add up.
    let router = app.router();
    for uri in [
        "/v1/entries",
        "/v1/entries",
        "/v1/entries?page=0",
        "/v1/accounts/acme/entries?page=1",
        "/nope",
    ] {
        let req = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        crate::helpers::send(router.clone(), req).await;
    }
    let req = axum::http::Request::post("/v1/entries")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(
            r#"[{"action":"x.y"},{"action":"x.z"}]"#,
        ))
        .unwrap();
    assert_eq!(
        crate::helpers::send(router.clone(), req).await.status,
        StatusCode::CREATED
    );
    let req = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = crate::helpers::send(router, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .content_type()
            .starts_with("text/plain; version=0.0.4")
    );
    for line in [
        r#"hawk_http_requests_total{method="GET",route="/v1/entries",status="200"} 2"#,
        r#"hawk_http_requests_total{method="GET",route="/v1/entries",status="422"} 1"#,
        r#"hawk_http_requests_total{method="GET",route="/v1/accounts/{account_id}/entries",status="200"} 1"#,
        r#"hawk_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"hawk_http_requests_total{method="POST",route="/v1/entries",status="201"} 1"#,
        r#"hawk_http_request_duration_seconds_count{method="GET",route="/v1/entries"} 3"#,
        r#"hawk_http_request_duration_seconds_bucket{method="GET",route="/v1/entries",le="+Inf"} 3"#,
        "hawk_entries_written_total 2",
        "hawk_listener_recorded_total 0",
        "hawk_listener_retries_total 0",
        "hawk_listener_restarts_total 0",
        "hawk_head_id 3",
        "# TYPE hawk_http_request_duration_seconds histogram",
    ] {
        assert!(
            reply.text.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            reply.text
        );
    }

    let cases = vec![
        get(
            "unknown route",
            "/v2/entries",
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        get(
            "unknown dashboard file",
            "/assets/secret.txt",
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        get(
            "proof of an entry past the end",
            "/v1/proof/99",
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            "delete entries",
            Method::DELETE,
            "/v1/entries".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            None,
        ),
        post(
            "post search",
            "/v1/search",
            "{}",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            None,
        ),
        post(
            "post healthz",
            "/healthz",
            "{}",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            None,
        ),
    ];
    check_errors(&app, cases).await;
    let reply = app.call(Method::PUT, "/v1/entries", None).await;
    let allow = reply.headers[header::ALLOW].to_str().unwrap();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
}

#[tokio::test]
async fn the_dashboard_page_and_its_files_are_served_from_the_binary() {
    let app = TestApp::new().await;
    // (uri, content type, a piece of the body)
    let cases = [
        (
            "/",
            "text/html; charset=utf-8",
            "<script src=\"/assets/app.js\"",
        ),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "new EventSource(",
        ),
        ("/assets/app.css", "text/css; charset=utf-8", ".badge"),
    ];
    for (uri, content_type, piece) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.content_type(), content_type, "{uri}");
        assert!(reply.text.contains(piece), "{uri}");
        // Nothing is loaded from elsewhere.
        let csp = reply.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{uri}: {csp}");
        assert!(
            !reply.text.contains("https://"),
            "{uri} fetches nothing remote"
        );
    }
    let reply = app.call(Method::POST, "/", Some("{}")).await;
    reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
}

#[tokio::test]
async fn favicon_ico_is_not_a_404() {
    // Browsers asked for /favicon.ico on every visit and got a 404: there was no icon.
    let app = TestApp::new().await;
    for uri in ["/favicon.ico", "/assets/favicon.svg"] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.content_type(), "image/svg+xml", "{uri}");
        assert!(reply.text.starts_with("<svg "), "{uri}: {}", reply.text);
    }
    let index = app.get("/").await;
    assert!(
        index
            .text
            .contains(r#"<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">"#),
        "the page links its icon"
    );
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
