//! The dashboard page, its files and its icon.

use axum::http::{Method, StatusCode};

use crate::helpers::TestApp;

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
