//! The streams panel: each sink with where it delivers, its lag and its last error.

use std::time::Duration;

use fantoccini::key::Key;
use hawk_audit::NewSink;
use serde_json::json;

use super::{
    DESKTOP, PATIENCE, PHONE, Session, assert_accessible, assert_no_horizontal_scroll, axe_script,
    click, eval, press, seed, texts, wait_until,
};
use crate::helpers::TestApp;

/// Two sinks: one failing (its receiver refuses connections) and one paused.
async fn sinks(app: &TestApp) {
    let sink = |name: &str| NewSink {
        name: name.into(),
        kind: "webhook".into(),
        settings: json!({"url": "http://127.0.0.1:9/hook", "format": "standard"}),
        secret: Some("whsec_c2VjcmV0".into()),
        query: None,
        batch: 100,
        after: Some(0),
    };
    app.audit.add_sink(sink("siem")).await.unwrap();
    app.audit.add_sink(sink("archive")).await.unwrap();
    app.audit.set_sink_paused("archive", true).await.unwrap();
    let ttl = Duration::from_secs(60);
    assert!(
        app.audit
            .lease_sink("siem", "h", ttl)
            .await
            .unwrap()
            .is_some()
    );
    app.audit
        .sink_failed("siem", "h", "error sending request: connection refused")
        .await
        .unwrap();
}

async fn walk(size: (u32, u32), what: &str) {
    let app = TestApp::new().await;
    seed(&app).await;
    sinks(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, size).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        wait_until(
            browser,
            "the streams button",
            "!document.getElementById('streams-button').hidden",
        )
        .await;
        click(browser, "#streams-button").await;
        wait_until(
            browser,
            "the sinks",
            "document.querySelectorAll('#sinks li.sink').length === 2",
        )
        .await;
        assert_eq!(
            texts(browser, "#sinks .sink-name").await,
            ["archive", "siem"]
        );
        assert_eq!(
            texts(browser, "#sinks .sink-state").await,
            ["paused", "failing"]
        );
        let lag = texts(browser, "#sinks .sink-lag").await;
        assert!(
            lag[1].starts_with("cursor 0 · 125 entries owed, oldest "),
            "{lag:?}"
        );
        assert_eq!(
            texts(browser, "#sinks .sink-error").await,
            ["1 failed: error sending request: connection refused"]
        );
        assert_eq!(
            texts(browser, "#sinks .sink-target").await[1],
            "webhook http://127.0.0.1:9/hook"
        );
        assert_no_horizontal_scroll(browser, what).await;
        assert_accessible(browser, axe.as_deref(), what).await;
        // Escape closes it, and the focus goes back to the button.
        press(browser, Key::Escape).await;
        wait_until(
            browser,
            "the panel closed",
            "document.getElementById('streams').hidden",
        )
        .await;
        assert_eq!(
            eval(browser, "return document.activeElement.id;").await,
            json!("streams-button")
        );
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_show_each_sink_with_its_lag_and_last_error() {
    walk(DESKTOP, "the streams panel").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_fit_a_phone() {
    walk(PHONE, "the streams panel at 390 px").await;
}
