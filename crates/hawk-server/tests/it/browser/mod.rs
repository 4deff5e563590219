//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`). Opens the dashboard on a seeded log, picks a search suggestion
//! with the keyboard, pages forward, opens an entry, and watches the live tail; filters
//! with the query phrase, its suggestions, chips from the rows and the time range, and
//! checks that the address, the export and the live tail keep them; checks the layout
//! on phone-sized windows, the keyboard path to an entry's details, Back and Forward,
//! and audits the page with axe-core.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and
//! axe-core (`npm ci` in `tests/browser`, also run by `.ci/run`). Without them the tests
//! fail under CI (`CI=true`) and are skipped loudly elsewhere.
//!
//! This module holds the driver, the session and the page helpers; the tests live in
//! one submodule per topic.

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hawk_audit::{NewEntry, Ref};
use serde_json::{Value, json};

use crate::helpers::{Running, TestApp};

mod desktop;
mod filters;
mod history;
mod key_prompt;
mod keyboard;
mod phone;
mod streams;

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

/// Clicks the element `css`; fails naming it when it is not on the page.
async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
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

/// 60 `invoice.paid` (acme, with an amount, by `user:u_0`, `user:u_1` and `user:u_2`
/// in turn, each on an invoice of its own), 25 `invoice.refunded` (the system's, for
/// globex), 40 `user.invited` (by `user:Jane Doe`), interleaved.
async fn seed(app: &TestApp) {
    let mut batch = Vec::new();
    let mut paid = 0;
    for i in 0..125u32 {
        let entry = match i % 5 {
            0 | 2 | 4 if i < 100 => {
                paid += 1;
                NewEntry::new("invoice.paid")
                    .actor(Some(&Ref::new("user", format!("u_{}", paid % 3))))
                    .resource(Some(&Ref::new("invoice", format!("inv_{i}"))))
                    .account("acme")
                    .metadata(json!({ "amount": 1000 + i, "currency": "EUR" }))
            }
            1 | 3 if i < 100 => NewEntry::new("user.invited")
                .actor(Some(&Ref::new("user", "Jane Doe")))
                .resource(Some(&Ref::new("user", format!("new_{i}")))),
            _ => NewEntry::new("invoice.refunded").account("globex"),
        };
        batch.push(entry);
    }
    app.audit.record_batch(batch).await.unwrap();
}

/// Entries from before today, then [`seed`]'s 125: 5 `invoice.paid` 40 days ago (acme,
/// by `user:u_old`), 7 `user.login` 10 days ago (globex, by `user:u_1`) and 4
/// `invoice.voided` two hours ago (the system's, for acme). 141 in all: 125 in the
/// last hour, 129 in the last 24 hours and 7 days, 136 in the last 30 days.
async fn seed_over_time(app: &TestApp) {
    let now = time::OffsetDateTime::now_utc();
    let mut old = Vec::new();
    for i in 0..5 {
        old.push((
            now - time::Duration::days(40) + time::Duration::minutes(i),
            NewEntry::new("invoice.paid")
                .actor(Some(&Ref::new("user", "u_old")))
                .account("acme"),
        ));
    }
    for i in 0..7 {
        old.push((
            now - time::Duration::days(10) + time::Duration::minutes(i),
            NewEntry::new("user.login")
                .actor(Some(&Ref::new("user", "u_1")))
                .account("globex"),
        ));
    }
    for i in 0..4 {
        old.push((
            now - time::Duration::hours(2) + time::Duration::minutes(i),
            NewEntry::new("invoice.voided").account("acme"),
        ));
    }
    app.audit.import(old).await.unwrap();
    seed(app).await;
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
    click(browser, "#entries tbody tr:first-child td.col-id").await;
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

/// Replaces what the search box says with `phrase`, typed key by key, and returns the
/// box (focused).
async fn type_phrase(browser: &Client, phrase: &str) -> fantoccini::elements::Element {
    let search = browser.find(Locator::Id("search")).await.unwrap();
    search.click().await.unwrap();
    eval(browser, "document.getElementById('search').value = '';").await;
    search.send_keys(phrase).await.unwrap();
    search
}

/// Waits until the summary counts `total` entries.
async fn wait_total(browser: &Client, what: &str, total: u64) {
    let said = match total {
        0 => "'0 entries'".to_owned(),
        1 => "'of 1 entry'".to_owned(),
        n => format!("'of {n} entries'"),
    };
    wait_until(
        browser,
        what,
        &format!("document.getElementById('summary').textContent.includes({said})"),
    )
    .await;
}

/// The text of each element `css` matches, in order.
async fn texts(browser: &Client, css: &str) -> Vec<String> {
    let value = browser
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}
