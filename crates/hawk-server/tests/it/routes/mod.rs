//! Every route with good and bad input, in memory through `oneshot`: a table of cases
//! per route, one file per topic.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

mod accounts;
mod dashboard;
mod entries;
mod events;
mod export;
mod filter_attacks;
mod filters;
mod health;
mod search;
mod sinks;

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
