//! The keyboard path to an entry's details, audited with axe-core.

use fantoccini::key::Key;
use serde_json::{Value, json};

use super::{
    DESKTOP, PATIENCE, Session, assert_accessible, axe_script, eval, press, seed, text, wait_until,
};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_could_not_be_opened_from_the_keyboard() {
    // Rows took no focus, so an entry's details could not be opened without a mouse.
    let app = TestApp::new().await;
    seed(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        assert_accessible(browser, axe.as_deref(), "the dashboard").await;

        // Tab from the top of the page reaches the first row itself (not just the
        // account link inside it).
        let focused_row = "document.activeElement.matches('#entries tbody tr') \
                           ? document.activeElement.dataset.id : null";
        let mut presses = 0;
        while eval(browser, &format!("return {focused_row};")).await == Value::Null {
            presses += 1;
            assert!(presses <= 12, "Tab never reaches a row");
            assert!(
                eval(
                    browser,
                    "return document.activeElement.closest('#entries tbody tr') === null;"
                )
                .await
                    == Value::Bool(true),
                "Tab reaches a link in the first row, but not the row"
            );
            press(browser, Key::Tab).await;
        }
        let first = eval(browser, &format!("return {focused_row};")).await;
        assert_eq!(first, json!("125"), "the newest row first");
        let outline = eval(
            browser,
            "return getComputedStyle(document.activeElement).outlineStyle;",
        )
        .await;
        assert_ne!(outline, json!("none"), "the focused row is marked");

        // Arrows move between rows; Enter opens the details and moves focus there.
        press(browser, Key::Down).await;
        press(browser, Key::Down).await;
        assert_eq!(
            eval(browser, &format!("return {focused_row};")).await,
            json!("123")
        );
        press(browser, Key::Enter).await;
        wait_until(
            browser,
            "the detail panel",
            "!document.getElementById('detail').hidden",
        )
        .await;
        assert_eq!(text(browser, "#detail-title").await, "Entry #123");
        wait_until(
            browser,
            "the focus in the details",
            "document.getElementById('detail').contains(document.activeElement)",
        )
        .await;
        assert_accessible(browser, axe.as_deref(), "an entry's details").await;

        // Escape closes them and gives the focus back to the row.
        press(browser, Key::Escape).await;
        wait_until(
            browser,
            "the detail panel closed",
            "document.getElementById('detail').hidden",
        )
        .await;
        assert_eq!(
            eval(browser, &format!("return {focused_row};")).await,
            json!("123"),
            "the focus is back on the row"
        );
        // Space opens them too, as on a button.
        press(browser, Key::Space).await;
        wait_until(
            browser,
            "the detail panel again",
            "!document.getElementById('detail').hidden",
        )
        .await;
        assert_eq!(text(browser, "#detail-title").await, "Entry #123");
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}
