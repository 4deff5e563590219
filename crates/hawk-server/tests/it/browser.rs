//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`). Opens the dashboard on a seeded log, picks a search suggestion
//! with the keyboard, pages forward, opens an entry, and watches the live tail; checks
//! the layout on a phone-sized window, the keyboard path to an entry's details,
//! Back and Forward, and audits the page with axe-core.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
//! axe-core (`npm ci` in `tests/browser`, also run by `.ci/run`). Without them the tests
//! fail under CI (`CI=true`) and are skipped loudly elsewhere.

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hawk_audit::{NewEntry, Ref, Scope};
use serde_json::{Value, json};

use crate::helpers::{Running, TestApp};

/// How long any one step may take before the test fails (a broken page, not a slow
/// machine: every step normally takes well under a second).
const PATIENCE: Duration = Duration::from_secs(30);

/// The window sizes the dashboard is checked at: a desktop and a phone.
const DESKTOP: (u32, u32) = (1400, 900);
const PHONE: (u32, u32) = (390, 844);

/// `chromedriver`, stopped (with its browser) when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium it started, which would
        // otherwise outlive a test that fails half way.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
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
            skip(&missing);
            None
        }
    }
}

/// Fails under CI; elsewhere says loudly what is skipped.
fn skip(missing: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "CI=true and {missing}");
    // Straight to stderr: the test harness would hide `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED (part of) the dashboard browser test: {missing} !!!!!!!!\n"
    );
}

/// axe-core's script, installed by `npm ci` in `tests/browser`, or `None` (after
/// saying so) without it. Under CI its absence fails the test.
fn axe_script() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(e) => {
            skip(&format!(
                "the accessibility audit needs axe-core ({}: {e}): \
                 cd crates/hawk-server/tests/browser && npm ci",
                path.display()
            ));
            None
        }
    }
}

/// Runs axe-core on the page as it is now and fails on any violation of serious or
/// critical impact, listing each with the elements at fault.
async fn assert_accessible(browser: &Client, axe: Option<&str>, what: &str) {
    let Some(axe) = axe else {
        return;
    };
    let loaded = browser
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .unwrap();
    if loaded != Value::Bool(true) {
        browser.execute(axe, vec![]).await.expect("load axe-core");
    }
    let violations = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary),
               }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let violations = violations.as_array().expect("a list of violations");
    let by_impact = |impact: &str| violations.iter().filter(|v| v["impact"] == impact).count();
    // Straight to stderr, so a run shows the audit even when it passes.
    let _ = writeln!(
        std::io::stderr(),
        "axe-core on {what}: {} critical, {} serious, {} moderate, {} minor",
        by_impact("critical"),
        by_impact("serious"),
        by_impact("moderate"),
        by_impact("minor"),
    );
    let grave: Vec<&Value> = violations
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect();
    assert!(
        grave.is_empty(),
        "axe-core finds serious or critical violations on {what}:\n{}",
        serde_json::to_string_pretty(&grave).unwrap()
    );
}

fn start_driver(driver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .process_group(0)
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

/// A browser window of `width` × `height` CSS pixels. Narrower than a desktop window
/// can be, it is a phone's screen (emulated: a mobile viewport that honours the page's
/// `<meta name="viewport">` and zooms out when the page is wider, as phones do).
async fn open_browser(driver: &Driver, chromium: &Path, (width, height): (u32, u32)) -> Client {
    let mut options = json!({
        "binary": chromium,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--no-first-run", format!("--window-size={},{}", width.max(DESKTOP.0), height),
            format!("--user-data-dir={}", driver._profile.path().display()),
        ],
    });
    if width < DESKTOP.0 {
        options["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "mobile": true },
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
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

/// A server over `app`, chromedriver and a browser window of one size; `end` stops
/// all three.
struct Session {
    browser: Client,
    driver: Driver,
    server: Running,
}

impl Session {
    /// `None` (after saying so) without Chromium on a developer machine.
    async fn start(app: &TestApp, size: (u32, u32)) -> Option<Session> {
        let (chromium, driver) = browser()?;
        let server = Running::start(app).await;
        let driver = start_driver(&driver);
        let browser = open_browser(&driver, &chromium, size).await;
        Some(Session {
            browser,
            driver,
            server,
        })
    }

    /// Opens the dashboard at `path` and waits for its first page of `rows` entries.
    async fn open(&self, path: &str, rows: usize) {
        self.browser.goto(&self.server.url(path)).await.unwrap();
        wait_until(
            &self.browser,
            "the first page",
            &format!("document.querySelectorAll('#entries tbody tr').length === {rows}"),
        )
        .await;
    }

    async fn end(self) {
        let _ = self.browser.close().await;
        drop(self.driver);
        self.server.stop().await;
    }
}

/// Presses and releases `key` wherever the focus is.
async fn press(browser: &Client, key: Key) {
    let key = char::from(key);
    browser
        .perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key }),
        )
        .await
        .expect("press a key");
}

/// Runs a script and returns its value.
async fn eval(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// An action of 160 characters (up to 255 are allowed), recorded last.
async fn record_long_action(app: &TestApp) -> String {
    let action = format!("invoice.{}.paid", "a".repeat(150));
    app.audit
        .record(
            NewEntry::new(action.as_str())
                .actor(Some(&Ref::new("user", "u_1")))
                .resource(Some(&Ref::new("invoice", "inv_42")))
                .account("acme"),
        )
        .await
        .unwrap();
    action
}

/// Whether the element `css` is wholly inside the viewport and what is drawn at its
/// center is itself (not covered by something else): `null` when so, else why not.
const WHOLLY_VISIBLE: &str = "const [css] = arguments;
    const el = document.querySelector(css);
    if (!el) return css + ' is missing';
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return css + ' has no size';
    const [w, h] = [document.documentElement.clientWidth, document.documentElement.clientHeight];
    if (r.left < 0 || r.top < 0 || r.right > w + 0.5 || r.bottom > h + 0.5)
      return css + ' is at ' + JSON.stringify(r) + ', outside the ' + w + 'x' + h + ' viewport';
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(el === hit || el.contains(hit))) return css + ' is covered by ' + (hit && hit.outerHTML.slice(0, 80));
    return null;";

/// Fails unless the page fits its window's width.
async fn assert_no_horizontal_scroll(browser: &Client, what: &str) {
    let overflow = eval(
        browser,
        "const d = document.documentElement; return d.scrollWidth > d.clientWidth;",
    )
    .await;
    assert_eq!(overflow, json!(false), "{what}");
}

/// Clicks the first row's id and waits for its details.
async fn open_first_entry(browser: &Client) {
    browser
        .find(Locator::Css("#entries tbody tr:first-child td.col-id"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        browser,
        "the detail panel",
        "!document.getElementById('detail').hidden",
    )
    .await;
}

async fn assert_wholly_visible(browser: &Client, css: &str) {
    let why = browser
        .execute(WHOLLY_VISIBLE, vec![json!(css)])
        .await
        .unwrap();
    assert_eq!(why, Value::Null, "{why}");
}

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

        // A long account and search in the breadcrumbs stay inside the width too.
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
        assert_wholly_visible(browser, "#clear-search").await;

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
        browser
            .find(Locator::Id("detail-close"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
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
                    document.getElementById('crumbs')?.textContent + ' | ' + \
                    document.getElementById('page-info')?.textContent + ' | ' + \
                    document.getElementById('summary')?.textContent";
        let shows = |what: &'static str, expect: String| {
            let expr = format!("({view}).includes({})", json!(expect));
            async move {
                wait_until(browser, what, &expr).await;
            }
        };
        shows("every entry", "/ | All entries | Page 1 of 3 |".into()).await;

        browser
            .find(Locator::Css("#entries tbody [data-account=acme]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shows(
            "acme's entries",
            "/ | All entries›Account acme | Page 1 of 2 |".into(),
        )
        .await;
        browser
            .find(Locator::Id("next"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shows(
            "acme's page 2",
            "/ | All entries›Account acme | Page 2 of 2 |".into(),
        )
        .await;

        browser.back().await.unwrap();
        shows(
            "Back: acme's page 1",
            "/ | All entries›Account acme | Page 1 of 2 |".into(),
        )
        .await;
        browser.back().await.unwrap();
        shows(
            "Back: every entry",
            "/ | All entries | Page 1 of 3 |".into(),
        )
        .await;
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
        assert_eq!(hash, json!("#search=user.invited"));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
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
