//! The layout on a phone-sized window.

use serde_json::json;

use super::{
    DESKTOP, PATIENCE, PHONE, Session, assert_accessible, assert_no_horizontal_scroll,
    assert_wholly_visible, axe_script, click, eval, open_first_entry, record_long_action, seed,
    wait_until,
};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_overflowed_a_phone_screen() {
    // At 390 px the page laid itself out 568 px wide: a 26 px search box, Export,
    // NDJSON and Key off screen, and the details pane clipped.
    let app = TestApp::new().await;
    seed(&app).await;
    record_long_action(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, PHONE).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        let width = eval(browser, "return innerWidth;").await;
        assert_eq!(width, json!(PHONE.0), "the window is phone sized");
        assert_no_horizontal_scroll(browser, "no horizontal scrolling").await;
        let search = eval(
            browser,
            "return document.getElementById('search').getBoundingClientRect().width;",
        )
        .await;
        assert!(search.as_f64().unwrap() >= 240.0, "search box {search} px");
        for css in [
            "#search",
            "label.live",
            "#export-csv",
            "#export-ndjson",
            "#key-button",
            "#entries tbody tr:first-child td.col-time",
        ] {
            assert_wholly_visible(browser, css).await;
        }
        let wide_rows = eval(
            browser,
            "return [...document.querySelectorAll('#entries tbody tr, #entries tbody td')]
               .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
               .length;",
        )
        .await;
        assert_eq!(wide_rows, json!(0), "every row and cell fits the width");
        assert_accessible(browser, axe.as_deref(), "the dashboard at 390 px").await;

        // A long account and search in the chips stay inside the width too.
        let search = "invoice.".to_owned() + &"a".repeat(150);
        browser
            .goto(
                &session
                    .server
                    .url(&format!("/#account=acme&search={search}")),
            )
            .await
            .unwrap();
        wait_until(
            browser,
            "the long action's entry alone",
            "document.getElementById('summary').textContent.startsWith('1–1 of 1 entry')",
        )
        .await;
        assert_no_horizontal_scroll(browser, "no horizontal scrolling with a long search").await;
        assert_wholly_visible(browser, "#chips li:last-child .chip-remove").await;

        // The details open over the whole screen, close button included.
        open_first_entry(browser).await;
        assert_wholly_visible(browser, "#detail-title").await;
        assert_wholly_visible(browser, "#detail-close").await;
        let sheet = eval(
            browser,
            "const r = document.getElementById('detail').getBoundingClientRect();
             return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight].map(Math.round);",
        )
        .await;
        let [left, top, right, bottom, w, h] = serde_json::from_value::<[i64; 6]>(sheet).unwrap();
        assert_eq!(
            (left, top, right, bottom),
            (0, 0, w, h),
            "a full-screen sheet"
        );
        assert_accessible(browser, axe.as_deref(), "an entry's details at 390 px").await;
        click(browser, "#detail-close").await;
        wait_until(
            browser,
            "the detail panel closed",
            "document.getElementById('detail').hidden",
        )
        .await;
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_action_hid_every_other_column() {
    // One action of 160 characters widened its column past the window, for the whole
    // page: actor, resource, account and time were pushed out of sight.
    let app = TestApp::new().await;
    seed(&app).await;
    let long = record_long_action(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        assert_no_horizontal_scroll(browser, "no horizontal scrolling").await;
        // Every cell of every row is inside the table, and none but the long action
        // is cut short.
        let clipped = eval(
            browser,
            "const wrap = document.querySelector('.table-wrap').getBoundingClientRect();
             return [...document.querySelectorAll('#entries tbody td')].filter(td => {
               const r = td.getBoundingClientRect();
               return r.width < 1 || r.right > wrap.right + 0.5 || td.scrollWidth > td.clientWidth;
             }).map(td => td.parentElement.dataset.id + ': ' + td.textContent);",
        )
        .await;
        assert_eq!(clipped, json!([]), "cells cut or out of the table");
        let badge = eval(
            browser,
            "const b = document.querySelector('#entries tbody tr:first-child .badge');
             return { text: b.textContent, title: b.title, cut: b.scrollWidth > b.clientWidth,
                      overflow: getComputedStyle(b).textOverflow,
                      share: b.getBoundingClientRect().width / innerWidth };",
        )
        .await;
        assert_eq!(badge["text"], json!(long));
        assert_eq!(badge["title"], json!(long), "the whole action on hover");
        assert_eq!(badge["cut"], json!(true), "{badge}");
        assert_eq!(badge["overflow"], json!("ellipsis"), "{badge}");
        assert!(badge["share"].as_f64().unwrap() < 0.5, "{badge}");

        // The details show it whole.
        open_first_entry(browser).await;
        let whole = eval(
            browser,
            "const b = document.querySelector('#detail-fields .badge');
             const d = document.getElementById('detail').getBoundingClientRect();
             const r = b.getBoundingClientRect();
             return { text: b.textContent, cut: b.scrollWidth > b.clientWidth,
                      inside: r.left >= d.left && r.right <= d.right };",
        )
        .await;
        assert_eq!(whole, json!({ "text": long, "cut": false, "inside": true }));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}
