//! The OpenAPI document: served at `/openapi.json` and snapshot-tested, so a change
//! to the API shows up in review.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

#[test]
fn openapi_document_matches_the_snapshot() {
    let doc = serde_json::to_value(hawk_server::openapi()).unwrap();
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn openapi_json_is_served_and_lists_every_route() {
    let app = TestApp::new().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    let doc = reply.json();
    assert_eq!(doc, serde_json::to_value(hawk_server::openapi()).unwrap());
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/v1/entries",
        "/v1/search",
        "/v1/actions",
        "/v1/accounts/{account_id}/entries",
        "/v1/events",
        "/v1/stream",
        "/v1/export",
        "/v1/checkpoint",
        "/v1/proof/{id}",
        "/v1/proof/consistency",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert!(doc["paths"]["/v1/entries"]["post"].is_object());
    assert!(doc["paths"]["/v1/entries"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Entry"].is_object());
}

#[tokio::test]
async fn unknown_query_parameter_is_refused_not_ignored() {
    // Broke: `?actor_id=42` on /v1/entries listed the whole log with 200, as if the filter had matched everything.
    let app = TestApp::new().await;
    app.track("user.login", Some("acme")).await;
    let cases = [
        ("/v1/entries?actor=42", "actor"),
        ("/v1/entries?per_page=2&acount_id=acme", "acount_id"),
        ("/v1/search?q=login&limt=2", "limt"),
        ("/v1/actions?query=log", "query"),
        ("/v1/accounts/acme/entries?account_id=1", "account_id"),
        ("/v1/export?format=csv&account=acme", "account"),
        ("/v1/proof/1?sise=1", "sise"),
        ("/v1/proof/consistency?from=0&to=1&size=1", "size"),
        ("/v1/checkpoint?size=1", "size"),
        ("/healthz?verbose=1", "verbose"),
        ("/metrics?format=json", "format"),
        ("/openapi.json?v=3", "v"),
        ("/v1/stream?after=1&from=1", "from"),
    ];
    for (uri, name) in cases {
        let reply = app.get(uri).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "unknown_parameter", Some(name));
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.starts_with(&format!("{name}: unknown query parameter")),
            "{uri}: {message}"
        );
    }
    // A write with an unknown parameter writes nothing.
    let before = app.head().await;
    app.call(
        Method::POST,
        "/v1/entries?dry_run=1",
        Some(r#"{"action":"a.b"}"#),
    )
    .await
    .assert_error(
        StatusCode::BAD_REQUEST,
        "unknown_parameter",
        Some("dry_run"),
    );
    assert_eq!(app.head().await, before);
    // What the document lists is taken, `key` included where it is documented.
    for uri in [
        "/v1/entries?page=1&per_page=2&search=log&as_of=1",
        "/v1/search?q=log&limit=2",
        "/v1/actions?q=log&limit=2",
        "/v1/accounts/acme/entries?page=1&per_page=2&search=log&as_of=1",
        "/v1/export?format=csv&account_id=acme",
        "/v1/proof/1?size=1",
        "/v1/proof/consistency?from=0&to=1",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    }
}

#[tokio::test]
async fn empty_number_parameter_is_refused_not_taken_as_absent() {
    // Broke: `limit=` (and `page=`, `size=` …) were read as absent and answered with the defaults.
    let app = TestApp::new().await;
    app.track("user.login", Some("acme")).await;
    let cases = [
        ("/v1/search?limit=", "limit"),
        ("/v1/actions?q=&limit=", "limit"),
        ("/v1/entries?page=&per_page=", "page"),
        ("/v1/entries?as_of=", "as_of"),
        ("/v1/accounts/acme/entries?page=", "page"),
        ("/v1/proof/1?size=", "size"),
        ("/v1/proof/consistency?from=&to=1", "from"),
        ("/v1/stream?after=", "after"),
        // A sign is not part of the document's integer either.
        ("/v1/search?limit=%2B5", "limit"),
        ("/v1/entries?page=-1", "page"),
        ("/v1/entries?as_of=18446744073709551616", "as_of"),
    ];
    for (uri, name) in cases {
        let reply = app.get(uri).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "malformed", Some(name));
    }
    let reply = app.get("/v1/entries?as_of=18446744073709551615").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn integral_float_id_is_taken_as_the_integer() {
    // Broke: `"resource_id": 7.0`, an integer to JSON Schema and so to the document, was refused as not an integer.
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/v1/entries",
            r#"{"action":"a.b","resource_type":"account","resource_id":7.0,"actor_type":"user","actor_id":-3.0}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let entry = reply.json();
    assert_eq!(entry["resource_id"], "7");
    assert_eq!(entry["account_id"], "7");
    assert_eq!(entry["actor_id"], "-3");
    // Beyond 2^53 - 1 a JSON number is not exact, so `7.0` and `7` could differ.
    for bad in ["7.5", "9007199254740992", "-9007199254740992", "1e300"] {
        let reply = app
            .post(
                "/v1/entries",
                &format!(r#"{{"action":"a.b","account_id":{bad}}}"#),
            )
            .await;
        reply.assert_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            Some("account_id"),
        );
    }
    let reply = app
        .post(
            "/v1/entries",
            r#"{"action":"a.b","account_id":9007199254740991}"#,
        )
        .await;
    assert_eq!(reply.json()["account_id"], "9007199254740991");
    let reply = app
        .post(
            "/v1/events",
            r#"{"name":"a.b","payload":{"account_id":9007199254740992}}"#,
        )
        .await;
    reply.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_type",
        Some("payload.account_id"),
    );
    let reply = app
        .post(
            "/v1/events",
            r#"{"name":"a.b","payload":{"account_id":12.0}}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
}

#[tokio::test]
async fn export_format_outside_the_documented_enum_is_refused() {
    // Broke: the document's `format` had no enum, and the server also took `CSV` and `jsonl`.
    let app = TestApp::new().await;
    for format in ["CSV", "jsonl", "NDJSON", "json"] {
        app.get(&format!("/v1/export?format={format}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "malformed", Some("format"));
    }
    let doc = serde_json::to_value(hawk_server::openapi()).unwrap();
    let format = parameter(&doc, "/v1/export", "get", "format");
    assert_eq!(format["required"], true);
    assert_eq!(
        format["schema"]["enum"],
        serde_json::json!(["csv", "ndjson"])
    );
}

/// The parameter `name` of `method path` in `doc`.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))
}

#[test]
fn document_states_ranges_bounds_and_every_answer() {
    // Broke: ranges were only in descriptions, u64s were int64, batches unbounded, extra fields allowed, and 401/403/415/429 undocumented.
    let doc = serde_json::to_value(hawk_server::openapi()).unwrap();
    let schema = |path, method, name| parameter(&doc, path, method, name)["schema"].clone();
    let per_page = schema("/v1/entries", "get", "per_page");
    assert_eq!(
        (per_page["minimum"].as_u64(), per_page["maximum"].as_u64()),
        (Some(1), Some(1000))
    );
    assert_eq!(per_page["format"], "uint64");
    assert_eq!(schema("/v1/entries", "get", "page")["minimum"], 1);
    let as_of = schema("/v1/entries", "get", "as_of");
    assert_eq!(
        (as_of["minimum"].as_u64(), as_of["maximum"].as_u64()),
        (Some(0), Some(u64::MAX))
    );
    for path in ["/v1/search", "/v1/actions"] {
        let limit = schema(path, "get", "limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(100)),
            "{path}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["Entry"]["properties"]["id"]["format"],
        "uint64"
    );
    let batch = &doc["components"]["schemas"]["EntriesInput"]["oneOf"][1];
    assert_eq!(
        (batch["minItems"].as_u64(), batch["maxItems"].as_u64()),
        (Some(1), Some(1000))
    );
    let new_entry = &doc["components"]["schemas"]["NewEntry"]["allOf"][0];
    assert_eq!(new_entry["additionalProperties"], false);
    assert_eq!(
        doc["components"]["schemas"]["EventInput"]["additionalProperties"],
        false
    );
    let answers = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    for status in ["400", "401", "403", "413", "415", "421", "422", "429"] {
        for (path, method) in [("/v1/entries", "post"), ("/v1/events", "post")] {
            assert!(
                answers(path, method).contains(&status.to_owned()),
                "{method} {path}: {status}"
            );
        }
    }
    assert_eq!(
        answers("/v1/entries", "get"),
        ["200", "400", "401", "421", "422", "429"]
    );
    assert_eq!(answers("/healthz", "get"), ["200", "400", "421", "500"]);
    for (path, method) in [
        ("/metrics", "get"),
        ("/v1/export", "get"),
        ("/v1/accounts/{account_id}/entries", "get"),
    ] {
        assert!(
            answers(path, method).contains(&"403".to_owned()),
            "{method} {path}"
        );
    }
    let retry = &doc["paths"]["/v1/search"]["get"]["responses"]["429"]["headers"]["Retry-After"];
    assert_eq!(retry["schema"]["type"], "integer");
}

#[tokio::test]
async fn action_pattern_matches_what_the_server_accepts() {
    // Broke: the action's rules (trimmed, 1–255 characters, no control characters) were only prose, so the document allowed actions the server refused.
    let doc = serde_json::to_value(hawk_server::openapi()).unwrap();
    let new_entry = &doc["components"]["schemas"]["NewEntry"]["allOf"][0];
    let pattern = new_entry["properties"]["action"]["pattern"]
        .as_str()
        .unwrap();
    let regex = regex::Regex::new(pattern).unwrap();
    let app = TestApp::new().await;
    let cases = [
        "a".to_owned(),
        " user.login \n".to_owned(),
        "a b".to_owned(),
        "x".repeat(255),
        format!("  {}  ", "x".repeat(255)),
        "😀".repeat(255),
        "x".repeat(256),
        String::new(),
        "   ".to_owned(),
        "\u{3000}".to_owned(),
        "a\u{7f}b".to_owned(),
        "a\tb".to_owned(),
        "a\u{1c}".to_owned(),
        "\u{85}a\u{a0}".to_owned(),
        "a\u{85}b".to_owned(),
    ];
    for action in cases {
        let body = serde_json::json!({ "action": action }).to_string();
        let accepted = app.post("/v1/entries", &body).await.status == StatusCode::CREATED;
        assert_eq!(regex.is_match(&action), accepted, "{action:?}");
    }
}

#[tokio::test]
async fn undocumented_method_is_405_before_the_key_is_checked() {
    // Broke: TRACE /v1/export with a bad `?key=` was answered 401 instead of 405: the key was checked before routing refused the method.
    let app = TestApp::new().await;
    app.audit
        .create_key(hawk_audit::Scope::Admin, None)
        .await
        .unwrap();
    let router = app.router();
    for (method, uri) in [
        (Method::TRACE, "/v1/export?format=csv&key=hawk_bad"),
        (Method::DELETE, "/v1/entries"),
        (Method::PUT, "/v1/proof/consistency?from=0&to=0"),
    ] {
        let reply = app
            .call_as(&router, Some("hawk_bad"), method.clone(), uri, None)
            .await;
        reply.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
    }
    // A documented method still needs the key.
    let reply = app
        .call_as(&router, None, Method::GET, "/v1/entries", None)
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", None);
}
