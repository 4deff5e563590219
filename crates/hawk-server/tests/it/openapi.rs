//! The OpenAPI document: served at `/openapi.json` and snapshot-tested, so a change
//! to the API shows up in review.

use axum::http::StatusCode;

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
