//! One account's entries, streamed or paged.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{BAD, INVALID, check_errors, get};
use crate::helpers::{TestApp, ids};

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
