//! The walk-through on a desktop window: search, paging, an entry's details and the
//! live tail.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use hawk_audit::NewEntry;
use serde_json::{Value, json};

use super::{
    DESKTOP, PATIENCE, browser, click, open_browser, seed, start_driver, text, wait_until,
};
use crate::helpers::{Running, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_search_paging_detail_and_live_tail_in_a_browser() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let app = TestApp::new().await;
    seed(&app).await;
    let server = Running::start(&app).await;
    let driver = start_driver(&driver);
    let browser = open_browser(&driver, &chromium, DESKTOP).await;
    let result =
        tokio::time::timeout(PATIENCE * 6, walk_through(&app, &server.base, &browser)).await;
    let _ = browser.close().await;
    drop(driver);
    server.stop().await;
    result.expect("the walk through finishes in time");
}

async fn walk_through(app: &TestApp, base: &str, browser: &Client) {
    browser.goto(&format!("{base}/")).await.unwrap();
    wait_until(
        browser,
        "the first page",
        "document.querySelectorAll('#entries tbody tr').length === 50",
    )
    .await;
    assert!(text(browser, "#summary").await.contains("of 125 entries"));
    assert_eq!(text(browser, "#page-info").await, "Page 1 of 3");
    let top = text(browser, "#entries tbody tr:first-child td.col-id").await;
    assert_eq!(top, "125", "newest first");

    // Type, wait for the suggestions, pick the first with the keyboard.
    let search = browser.find(Locator::Id("search")).await.unwrap();
    search.click().await.unwrap();
    search.send_keys("inv").await.unwrap();
    wait_until(
        browser,
        "suggestions for 'inv'",
        "!document.getElementById('suggestions').hidden && \
         document.querySelectorAll('#suggestions li').length === 3",
    )
    .await;
    let first = text(browser, "#suggestions li:first-child").await;
    assert!(first.starts_with("action:invoice.paid"), "{first}");
    assert!(
        first.ends_with("60"),
        "prefix matches ranked by count: {first}"
    );
    search.send_keys(&Key::Down).await.unwrap();
    wait_until(
        browser,
        "the first suggestion highlighted",
        "document.querySelector('#suggestions li.active') !== null",
    )
    .await;
    search.send_keys(&Key::Enter).await.unwrap();
    wait_until(
        browser,
        "the filtered page",
        "document.getElementById('summary').textContent.includes('of 60 entries')",
    )
    .await;
    assert_eq!(
        text(browser, "#chips li .chip-text").await,
        "invoice.paid",
        "the picked action is a chip"
    );
    assert_eq!(text(browser, "#page-info").await, "Page 1 of 2");
    let actions: Value = browser
        .execute(
            "return [...document.querySelectorAll('#entries tbody .badge')].map(b => b.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 50);
    assert!(actions.iter().all(|a| a == "invoice.paid"), "{actions:?}");

    // Page forward.
    click(browser, "#next").await;
    wait_until(
        browser,
        "page 2",
        "document.getElementById('page-info').textContent === 'Page 2 of 2' && \
         document.querySelectorAll('#entries tbody tr').length === 10",
    )
    .await;
    assert!(text(browser, "#summary").await.starts_with("51–60 of 60"));

    // Open an entry (a click on its id: its values filter): its metadata is shown as
    // pretty JSON.
    let row = browser
        .find(Locator::Css("#entries tbody tr:first-child"))
        .await
        .unwrap();
    let id = row.attr("data-id").await.unwrap().unwrap();
    click(browser, "#entries tbody tr:first-child td.col-id").await;
    wait_until(
        browser,
        "the detail panel",
        "!document.getElementById('detail').hidden",
    )
    .await;
    assert_eq!(text(browser, "#detail-title").await, format!("Entry #{id}"));
    let metadata = text(browser, "#detail-metadata").await;
    let parsed: Value = serde_json::from_str(&metadata).expect("the metadata is JSON");
    let stored = app
        .audit
        .recent(hawk_audit::Recent::page(1, 200))
        .await
        .unwrap();
    let entry = stored
        .entries
        .iter()
        .find(|e| e.id.to_string() == id)
        .unwrap();
    assert_eq!(parsed, Value::Object(entry.metadata.clone()));
    assert!(metadata.contains("\n  \"amount\": "), "pretty: {metadata}");
    click(browser, "#detail-close").await;

    // Live tail: back to page 1, then a new entry appears on top, highlighted.
    click(browser, "label.live").await;
    wait_until(
        browser,
        "page 1 with the live tail on",
        "document.getElementById('live').checked && \
         document.getElementById('page-info').textContent === 'Page 1 of 2'",
    )
    .await;
    // The tail starts at the page's as_of: entries written from now on all arrive.
    let other = app
        .audit
        .record(NewEntry::new("user.invited"))
        .await
        .unwrap();
    let fresh = app
        .audit
        .record(
            NewEntry::new("invoice.paid")
                .account("acme")
                .metadata(json!({"amount": 4242})),
        )
        .await
        .unwrap();
    let top = wait_until(
        browser,
        "the new entry on top",
        &format!(
            "(() => {{ const tr = document.querySelector('#entries tbody tr'); \
             return tr && tr.dataset.id === '{}' && tr.classList.contains('fresh') && tr.dataset.id; }})()",
            fresh.id
        ),
    )
    .await;
    assert_eq!(top, fresh.id.to_string());
    let shown: Value = browser
        .execute(
            "return [...document.querySelectorAll('#entries tbody tr')].map(r => r.dataset.id);",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !shown.to_string().contains(&format!("\"{}\"", other.id)),
        "an entry outside the filter stays out"
    );
    assert_eq!(shown.as_array().unwrap().len(), 50);
    assert!(text(browser, "#summary").await.contains("of 61 entries"));
}
