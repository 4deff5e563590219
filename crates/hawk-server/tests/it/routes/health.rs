//! Health, metrics and unknown routes.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::{check_errors, get, post};
use crate::helpers::TestApp;

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
