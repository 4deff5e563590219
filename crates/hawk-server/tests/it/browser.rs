//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`). Opens the dashboard on a seeded log, picks a search suggestion
//! with the keyboard, pages forward, opens an entry, and watches the live tail.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! them the test fails under CI (`CI=true`) and is skipped loudly elsewhere.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hawk_audit::{NewEntry, Scope};
use serde_json::{Value, json};

use crate::helpers::{Running, TestApp};

/// How long any one step may take before the test fails (a broken page, not a slow
/// machine: every step normally takes well under a second).
const PATIENCE: Duration = Duration::from_secs(30);

/// `chromedriver`, stopped (with its browser) when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates.iter().find_map(|name| {
        let name = Path::new(name);
        if name.is_absolute() {
            return name.is_file().then(|| name.to_owned());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Chromium and chromedriver, or `None` (after saying so) on a developer machine
/// without them. Under CI their absence fails the test.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find(&["chromedriver", "/usr/lib/chromium/chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        (chromium, driver) => {
            let missing = format!(
                "the browser test needs chromium ({}) and chromedriver ({}): \
                 apt-get install -y chromium chromium-driver",
                if chromium.is_some() {
                    "found"
                } else {
                    "missing"
                },
                if driver.is_some() { "found" } else { "missing" },
            );
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(!ci, "CI=true and {missing}");
            // Straight to stderr: the test harness would hide `eprintln!` of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPED the dashboard browser test: {missing} !!!!!!!!\n"
            );
            None
        }
    }
}

fn start_driver(driver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("a profile directory"),
    }
}

async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--window-size=1400,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Polls `expr` (JavaScript) until it is truthy; fails with `what` and a look at the
/// page otherwise.
async fn wait_until(browser: &Client, what: &str, expr: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = browser
            .execute(&format!("return ({expr});"), vec![])
            .await
            .expect("run a script");
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > PATIENCE {
            let page = browser
                .execute(
                    "return document.querySelector('main').innerText.slice(0, 2000);",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what} ({expr}); the page shows:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// 60 `invoice.paid` (acme, with an amount), 25 `invoice.refunded`, 40 `user.invited`,
/// interleaved.
async fn seed(app: &TestApp) {
    let mut batch = Vec::new();
    for i in 0..125u32 {
        let entry = match i % 5 {
            0 | 2 | 4 if i < 100 => NewEntry::new("invoice.paid")
                .account("acme")
                .metadata(json!({ "amount": 1000 + i, "currency": "EUR" })),
            1 | 3 if i < 100 => NewEntry::new("user.invited"),
            _ => NewEntry::new("invoice.refunded").account("globex"),
        };
        batch.push(entry);
    }
    app.audit.record_batch(batch).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_search_paging_detail_and_live_tail_in_a_browser() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let app = TestApp::new().await;
    seed(&app).await;
    let server = Running::start(&app).await;
    let driver = start_driver(&driver);
    let browser = open_browser(&driver, &chromium).await;
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
    assert!(first.starts_with("invoice.paid"), "{first}");
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
    assert!(text(browser, "#crumbs").await.contains("invoice.paid"));
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
    browser
        .find(Locator::Id("next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        browser,
        "page 2",
        "document.getElementById('page-info').textContent === 'Page 2 of 2' && \
         document.querySelectorAll('#entries tbody tr').length === 10",
    )
    .await;
    assert!(text(browser, "#summary").await.starts_with("51–60 of 60"));

    // Open an entry: its metadata is shown as pretty JSON.
    let row = browser
        .find(Locator::Css("#entries tbody tr:first-child"))
        .await
        .unwrap();
    let id = row.attr("data-id").await.unwrap().unwrap();
    row.click().await.unwrap();
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
    browser
        .find(Locator::Id("detail-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Live tail: back to page 1, then a new entry appears on top, highlighted.
    browser
        .find(Locator::Css("label.live"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    let browser = open_browser(&driver, &chromium).await;
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
                "return [...document.querySelectorAll('#entries tbody [data-account]')].map(a => a.dataset.account);",
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
