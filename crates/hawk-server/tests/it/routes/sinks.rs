//! `/v1/sinks`: added, listed (never a secret), paused, resumed, replayed and removed
//! by admin keys alone; bad input named and refused before anything is stored.

use axum::http::{Method, StatusCode};
use hawk_audit::Scope;
use serde_json::{Value, json};

use super::{INVALID, check_errors, post};
use crate::helpers::TestApp;

const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

#[tokio::test]
async fn sinks_are_managed_over_http() {
    let app = TestApp::new().await;
    app.track("a", None).await;
    let reply = app
        .post(
            "/v1/sinks",
            r#"{"kind":"webhook","name":"siem","url":"http://127.0.0.1:9/hook","query":"-is:system","batch":50}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let added = reply.json();
    assert_eq!(added["name"], "siem");
    assert_eq!(added["cursor"], 1, "only entries recorded from now");
    assert_eq!(
        added["settings"],
        json!({"url": "http://127.0.0.1:9/hook", "format": "standard"})
    );
    assert!(added["secret"].as_str().unwrap().starts_with("whsec_"));

    let reply = app
        .post(
            "/v1/sinks",
            r#"{"kind":"webhook","url":"https://dd.example/v2/logs","format":"datadog","token":"dd-key","from":1}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let dd = reply.json();
    assert!(dd["name"].as_str().unwrap().starts_with("webhook-"));
    assert_eq!(dd["cursor"], 0, "from 1: every entry");
    assert!(
        dd.get("secret").is_none(),
        "a token given is not shown back"
    );

    let reply = app
        .post(
            "/v1/sinks",
            r#"{"kind":"nats","name":"bus","subject":"audit.entries"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.json()["settings"],
        json!({"subject": "audit.entries", "url": "nats://127.0.0.1:4222"})
    );
    assert!(reply.json().get("secret").is_none());
    let removed = app.call(Method::DELETE, "/v1/sinks/bus", None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let reply = app
        .post(
            "/v1/sinks",
            r#"{"kind":"s3","name":"lake","url":"s3://audit-archive/hawk","endpoint":"http://127.0.0.1:9000","close_seconds":300}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.json()["settings"],
        json!({"bucket": "audit-archive", "prefix": "hawk", "endpoint": "http://127.0.0.1:9000",
               "region": null, "close_seconds": 300})
    );
    let removed = app.call(Method::DELETE, "/v1/sinks/lake", None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);

    let listed = app.get("/v1/sinks").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.text.contains("whsec_") && !listed.text.contains("dd-key"));
    let sinks = listed.json()["sinks"].as_array().unwrap().clone();
    let names: Vec<&str> = sinks.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"siem"));
    let owed =
        |name: &Value| sinks.iter().find(|s| s["name"] == *name).unwrap()["lag"]["entries"].clone();
    assert_eq!(owed(&json!("siem")), 0);
    assert_eq!(owed(&dd["name"]), 1);

    // /metrics has each sink's cursor, lag and failures.
    let metrics = app.get("/metrics").await.text;
    let dd_name = dd["name"].as_str().unwrap();
    for line in [
        "hawk_sink_cursor{sink=\"siem\"} 1".to_owned(),
        "hawk_sink_lag_entries{sink=\"siem\"} 0".to_owned(),
        format!("hawk_sink_lag_entries{{sink=\"{dd_name}\"}} 1"),
        "hawk_sink_failures{sink=\"siem\"} 0".to_owned(),
        "hawk_sink_delivered_total{sink=\"siem\"} 0".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    let one = app.get("/v1/sinks/siem").await.json();
    assert_eq!(
        (one["state"].clone(), one["lag"]["entries"].clone()),
        (json!("active"), json!(0))
    );
    let paused = app.call(Method::POST, "/v1/sinks/siem/pause", None).await;
    assert_eq!(paused.json()["state"], "paused", "{}", paused.text);
    let resumed = app.call(Method::POST, "/v1/sinks/siem/resume", None).await;
    assert_eq!(resumed.json()["state"], "active");
    let replayed = app.post("/v1/sinks/siem/replay", r#"{"from":1}"#).await;
    assert_eq!(replayed.json()["cursor"], 0, "{}", replayed.text);
    assert_eq!(replayed.json()["epoch"], 1);
    let removed = app.call(Method::DELETE, "/v1/sinks/siem", None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    for (method, uri) in [
        (Method::GET, "/v1/sinks/siem"),
        (Method::DELETE, "/v1/sinks/siem"),
        (Method::POST, "/v1/sinks/siem/pause"),
    ] {
        let reply = app.call(method, uri, None).await;
        reply.assert_error(NOT_FOUND, "not_found", None);
    }

    let cases = vec![
        post(
            "no kind",
            "/v1/sinks",
            r#"{"url":"http://x"}"#,
            INVALID,
            "required",
            Some("kind"),
        ),
        post(
            "other kind",
            "/v1/sinks",
            r#"{"kind":"carrier-pigeon","url":"http://x"}"#,
            INVALID,
            "malformed",
            Some("kind"),
        ),
        post(
            "no url",
            "/v1/sinks",
            r#"{"kind":"webhook"}"#,
            INVALID,
            "required",
            Some("url"),
        ),
        post(
            "bad url",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"file:///etc/passwd"}"#,
            INVALID,
            "malformed",
            Some("url"),
        ),
        post(
            "bad name",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","name":"a/b"}"#,
            INVALID,
            "malformed",
            Some("name"),
        ),
        post(
            "taken name",
            "/v1/sinks",
            &format!(
                r#"{{"kind":"webhook","url":"http://x","name":{}}}"#,
                dd["name"]
            ),
            INVALID,
            "malformed",
            Some("name"),
        ),
        post(
            "bad phrase",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","query":"colour:red"}"#,
            INVALID,
            "malformed_query",
            Some("query"),
        ),
        post(
            "batch 0",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","batch":0}"#,
            INVALID,
            "out_of_range",
            Some("batch"),
        ),
        post(
            "batch text",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","batch":"5"}"#,
            INVALID,
            "invalid_type",
            Some("batch"),
        ),
        post(
            "no token",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","format":"splunk-hec"}"#,
            INVALID,
            "required",
            Some("token"),
        ),
        post(
            "bad format",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","format":"xml"}"#,
            INVALID,
            "malformed",
            Some("format"),
        ),
        post(
            "unknown field",
            "/v1/sinks",
            r#"{"kind":"webhook","url":"http://x","colour":1}"#,
            INVALID,
            "unknown_field",
            Some("colour"),
        ),
        post(
            "not an object",
            "/v1/sinks",
            "[]",
            INVALID,
            "invalid_type",
            Some("sink"),
        ),
        post(
            "replay from 0",
            &format!("/v1/sinks/{}/replay", dd["name"].as_str().unwrap()),
            r#"{"from":0}"#,
            INVALID,
            "out_of_range",
            Some("from"),
        ),
        post(
            "replay without from",
            &format!("/v1/sinks/{}/replay", dd["name"].as_str().unwrap()),
            r#"{}"#,
            INVALID,
            "invalid_type",
            Some("from"),
        ),
    ];
    let nats = [
        (r#"{"kind":"nats"}"#, "required", "subject"),
        (
            r#"{"kind":"nats","subject":"audit.*"}"#,
            "malformed",
            "subject",
        ),
        (
            r#"{"kind":"nats","subject":"audit entries"}"#,
            "malformed",
            "subject",
        ),
        (
            r#"{"kind":"nats","subject":"a","url":"http://x"}"#,
            "malformed",
            "url",
        ),
        (
            r#"{"kind":"s3","url":"s3://Bad_Bucket/x"}"#,
            "malformed",
            "url",
        ),
        (
            r#"{"kind":"s3","url":"s3://archive/x","close_seconds":0}"#,
            "out_of_range",
            "close_seconds",
        ),
        (
            r#"{"kind":"s3","url":"s3://archive/x","endpoint":"x"}"#,
            "malformed",
            "endpoint",
        ),
    ];
    let mut cases = cases;
    for (body, code, field) in nats {
        cases.push(post("nats", "/v1/sinks", body, INVALID, code, Some(field)));
    }
    check_errors(&app, cases).await;
    assert_eq!(
        app.get("/v1/sinks").await.json()["sinks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn only_unbound_admin_keys_reach_the_sinks() {
    let app = TestApp::new().await;
    let key = |scope, account: Option<&'static str>| {
        let audit = app.audit.clone();
        async move { audit.create_key(scope, account).await.unwrap().0 }
    };
    let admin = key(Scope::Admin, None).await;
    let refused = [
        key(Scope::Read, None).await,
        key(Scope::Write, None).await,
        key(Scope::Read, Some("acme")).await,
    ];
    let router = app.router();
    let body = r#"{"kind":"webhook","name":"siem","url":"http://127.0.0.1:9/hook"}"#;
    let routes: [(Method, &str, Option<&str>); 7] = [
        (Method::GET, "/v1/sinks", None),
        (Method::POST, "/v1/sinks", Some(body)),
        (Method::GET, "/v1/sinks/siem", None),
        (Method::POST, "/v1/sinks/siem/pause", None),
        (Method::POST, "/v1/sinks/siem/resume", None),
        (Method::POST, "/v1/sinks/siem/replay", Some(r#"{"from":1}"#)),
        (Method::DELETE, "/v1/sinks/siem", None),
    ];
    for (method, uri, body) in &routes {
        for key in &refused {
            let reply = app
                .call_as(&router, Some(key), method.clone(), uri, *body)
                .await;
            reply.assert_error(StatusCode::FORBIDDEN, "forbidden", None);
        }
        let reply = app.call_as(&router, None, method.clone(), uri, *body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        let reply = app
            .call_as(&router, Some(&admin), method.clone(), uri, *body)
            .await;
        assert!(reply.status.is_success(), "{method} {uri}: {}", reply.text);
    }
}
