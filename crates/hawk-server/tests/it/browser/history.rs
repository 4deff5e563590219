//! Back and Forward.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use super::{DESKTOP, PATIENCE, Session, click, eval, seed, wait_until};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_back_left_the_dashboard() {
    // Views replaced each other in the history, so Back left the dashboard instead of
    // returning to the previous view.
    let app = TestApp::new().await;
    seed(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        // Null-safe: after a Back out of the dashboard none of these exist.
        let view = "location.pathname + ' | ' + \
                    [...document.querySelectorAll('#chips li')].map(li => li.dataset.clause).join(',') + ' | ' + \
                    document.getElementById('page-info')?.textContent + ' | ' + \
                    document.getElementById('summary')?.textContent";
        let shows = |what: &'static str, expect: String| {
            let expr = format!("({view}).includes({})", json!(expect));
            async move {
                wait_until(browser, what, &expr).await;
            }
        };
        shows("every entry", "/ |  | Page 1 of 3 |".into()).await;

        click(browser, "#entries tbody [data-clause='account:acme']").await;
        shows("acme's entries", "/ | account:acme | Page 1 of 2 |".into()).await;
        click(browser, "#next").await;
        shows("acme's page 2", "/ | account:acme | Page 2 of 2 |".into()).await;

        browser.back().await.unwrap();
        shows(
            "Back: acme's page 1",
            "/ | account:acme | Page 1 of 2 |".into(),
        )
        .await;
        browser.back().await.unwrap();
        shows("Back: every entry", "/ |  | Page 1 of 3 |".into()).await;
        assert_eq!(
            browser.current_url().await.unwrap().as_str(),
            session.server.url("/"),
            "still on the dashboard"
        );

        let search = browser.find(Locator::Id("search")).await.unwrap();
        search.click().await.unwrap();
        search.send_keys("user.invited").await.unwrap();
        search.send_keys(&Key::Enter).await.unwrap();
        shows("the search", "of 40 entries".into()).await;
        browser.back().await.unwrap();
        shows("Back: no search", "of 125 entries".into()).await;
        assert_eq!(
            eval(browser, "return document.getElementById('search').value;").await,
            json!("")
        );
        browser.forward().await.unwrap();
        shows("Forward: the search again", "of 40 entries".into()).await;
        assert_eq!(
            eval(browser, "return document.getElementById('search').value;").await,
            json!("user.invited")
        );
        let hash = eval(browser, "return location.hash;").await;
        assert_eq!(hash, json!("#q=user.invited"));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}
