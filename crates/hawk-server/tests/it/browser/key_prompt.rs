//! The prompt for an API key.

use fantoccini::Locator;
use fantoccini::key::Key;
use hawk_audit::Scope;
use serde_json::Value;

use super::{
    DESKTOP, PATIENCE, Session, assert_accessible, axe_script, browser, open_browser, seed,
    start_driver, text, wait_until,
};
use crate::helpers::{Running, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_asks_for_a_key_and_uses_it() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let app = TestApp::new().await;
    seed(&app).await;
    let (key, _) = app
        .audit
        .create_key(Scope::Read, Some("globex"))
        .await
        .unwrap();
    let server = Running::start(&app).await;
    let driver = start_driver(&driver);
    let browser = open_browser(&driver, &chromium, DESKTOP).await;
    let walk = async {
        browser.goto(&format!("{}/", server.base)).await.unwrap();
        wait_until(
            &browser,
            "the key prompt",
            "!document.getElementById('key-dialog').hidden",
        )
        .await;
        let input = browser.find(Locator::Id("key-input")).await.unwrap();
        input.send_keys(&key).await.unwrap();
        input.send_keys(&Key::Enter).await.unwrap();
        wait_until(
            &browser,
            "the key's entries",
            "document.getElementById('summary').textContent.includes('of 25 entries')",
        )
        .await;
        let accounts: Value = browser
            .execute(
                "return [...document.querySelectorAll('#entries tbody td.col-account')].map(td => td.textContent);",
                vec![],
            )
            .await
            .unwrap();
        let accounts = accounts.as_array().unwrap();
        assert_eq!(accounts.len(), 25);
        assert!(accounts.iter().all(|a| a == "globex"), "{accounts:?}");
        let export = browser
            .find(Locator::Id("export-csv"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(export.contains(&format!("key={key}")), "{export}");
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    let _ = browser.close().await;
    drop(driver);
    server.stop().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_dialog_showed_literal_backticks() {
    // The key prompt read "Create one with `hawk keys create --scope read`", backticks
    // and all.
    let app = TestApp::new().await;
    seed(&app).await;
    app.audit.create_key(Scope::Read, None).await.unwrap();
    let axe = axe_script();
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        browser.goto(&session.server.url("/")).await.unwrap();
        wait_until(
            browser,
            "the key prompt",
            "!document.getElementById('key-dialog').hidden",
        )
        .await;
        let reason = text(browser, "#key-reason").await;
        assert!(!reason.contains('`'), "{reason}");
        assert!(reason.contains("hawk keys create --scope read"), "{reason}");
        assert_eq!(
            text(browser, "#key-reason code").await,
            "hawk keys create --scope read"
        );
        assert_accessible(browser, axe.as_deref(), "the key prompt").await;
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}
