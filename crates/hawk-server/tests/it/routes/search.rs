//! Search and the action typeahead.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{BAD, INVALID, check_errors, get};
use crate::helpers::{TestApp, ids};

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
