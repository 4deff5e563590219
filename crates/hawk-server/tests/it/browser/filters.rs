//! Filters: the query phrase typed or built from suggestions, chips from the rows, the
//! time range, the address that keeps them, the export and live tail that follow
//! them, and a refused phrase.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use hawk_audit::{NewEntry, Ref};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{
    DESKTOP, PATIENCE, Session, assert_accessible, assert_no_horizontal_scroll,
    assert_wholly_visible, axe_script, click, eval, open_first_entry, press, seed, seed_over_time,
    text, texts, type_phrase, wait_total, wait_until,
};
use crate::helpers::TestApp;

/// Waits for the suggestions list, made for what the box says now, to be open
/// with an option labelled `label`.
async fn wait_suggestion(browser: &Client, label: &str) {
    wait_until(
        browser,
        &format!("the suggestion {label}"),
        &format!(
            "!document.getElementById('suggestions').hidden && \
             document.getElementById('suggestions').dataset.phrase === \
               document.getElementById('search').value && \
             [...document.querySelectorAll('#suggestions li .label')].some(l => l.textContent === {})",
            json!(label)
        ),
    )
    .await;
}

/// What the search box says.
async fn search_value(browser: &Client) -> Value {
    eval(browser, "return document.getElementById('search').value;").await
}

async fn hash(browser: &Client) -> Value {
    eval(browser, "return location.hash;").await
}

/// The clause of each chip, in order.
async fn chips(browser: &Client) -> Vec<String> {
    let value = eval(
        browser,
        "return [...document.querySelectorAll('#chips li')].map(li => li.dataset.clause);",
    )
    .await;
    serde_json::from_value(value).unwrap()
}

/// An RFC 3339 time about `days` days before now, at 30 seconds past the minute (a
/// datetime-local input leaves out seconds that are zero).
fn days_ago(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    let t = t.replace_nanosecond(0).unwrap().replace_second(30).unwrap();
    t.format(&Rfc3339).unwrap()
}

/// Sets a datetime-local input as a user would, then lets the page know.
async fn set_time(browser: &Client, id: &str, value: &str) {
    browser
        .execute(
            "const input = document.getElementById(arguments[0]);
             input.value = arguments[1];
             input.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(id), json!(value)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_phrase_filters_the_list_and_its_total() {
    let app = TestApp::new().await;
    seed(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        let search = type_phrase(browser, "actor:user:u_1 paid").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "u_1's payments", 20).await;
        let rows = texts(browser, "#entries tbody tr td.col-actor").await;
        assert_eq!(rows.len(), 20);
        assert!(rows.iter().all(|r| r == "user u_1"), "{rows:?}");
        let actions = texts(browser, "#entries tbody .badge").await;
        assert!(actions.iter().all(|a| a == "invoice.paid"), "{actions:?}");
        assert_eq!(hash(browser).await, json!("#q=actor:user:u_1+paid"));
        assert_eq!(chips(browser).await, ["actor:user:u_1", "paid"]);
        assert_eq!(
            texts(browser, "#chips li .chip-key").await,
            ["actor", "action"]
        );

        // A quoted value, and a negated clause.
        let search = type_phrase(browser, r#"actor:user:"Jane Doe""#).await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "Jane Doe's invitations", 40).await;
        let search = type_phrase(browser, "-is:system invoice").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "invoices with an actor", 60).await;
        assert_eq!(chips(browser).await, ["-is:system", "invoice"]);
        assert_eq!(
            texts(browser, "#chips li .chip-not").await,
            ["is not", "contains"]
        );

        // An emptied box shows every entry again.
        let search = type_phrase(browser, "").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "every entry", 125).await;
        assert_eq!(chips(browser).await, Vec::<String>::new());
        assert_eq!(hash(browser).await, json!(""));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_offer_qualifiers_then_their_values() {
    let app = TestApp::new().await;
    seed(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;

        // The first letters of a qualifier offer it.
        let search = type_phrase(browser, "ac").await;
        wait_suggestion(browser, "actor:").await;
        let labels = texts(browser, "#suggestions li .label").await;
        assert_eq!(
            labels,
            ["actor:", "account:", "action:", "actor_type:", "actor_id:"],
            "qualifiers by prefix, the common ones first"
        );
        assert_eq!(
            eval(
                browser,
                "return document.getElementById('search').getAttribute('aria-expanded');"
            )
            .await,
            json!("true")
        );
        assert_accessible(browser, axe.as_deref(), "the suggestions open").await;

        // Down, Enter: the qualifier goes into the box and its values are offered,
        // with their counts.
        search.send_keys(&Key::Down).await.unwrap();
        let active = eval(
            browser,
            "const s = document.getElementById('search'); \
             const li = document.getElementById(s.getAttribute('aria-activedescendant')); \
             return li && li.getAttribute('aria-selected') === 'true' && li.textContent;",
        )
        .await;
        assert_eq!(active, json!("actor:who acted: TYPE:ID"));
        search.send_keys(&Key::Enter).await.unwrap();
        wait_suggestion(browser, "actor:user:Jane Doe").await;
        assert_eq!(search_value(browser).await, json!("actor:"));
        let counts = eval(
            browser,
            "return Object.fromEntries([...document.querySelectorAll('#suggestions li')]
               .map(li => [li.querySelector('.label').textContent, li.querySelector('.count').textContent]));",
        )
        .await;
        assert_eq!(
            counts,
            json!({
                "actor:user:Jane Doe": "40", "actor:user:u_0": "20",
                "actor:user:u_1": "20", "actor:user:u_2": "20",
            })
        );

        // Typing narrows them; picking one writes the clause, quoted, and applies it.
        search.send_keys("user:J").await.unwrap();
        wait_until(
            browser,
            "Jane Doe alone",
            "document.querySelectorAll('#suggestions li').length === 1",
        )
        .await;
        search.send_keys(&Key::Down).await.unwrap();
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "Jane Doe's entries", 40).await;
        assert_eq!(
            search_value(browser).await,
            json!(r#"actor:user:"Jane Doe" "#)
        );
        assert_eq!(chips(browser).await, [r#"actor:user:"Jane Doe""#]);
        assert!(
            eval(
                browser,
                "return document.getElementById('suggestions').hidden;"
            )
            .await
                == json!(true)
        );

        // A leading minus offers the negated qualifiers; a click picks a value.
        let search = type_phrase(browser, "-acc").await;
        wait_suggestion(browser, "-account:").await;
        search.send_keys(&Key::Down).await.unwrap();
        search.send_keys(&Key::Enter).await.unwrap();
        wait_suggestion(browser, "-account:acme").await;
        assert_eq!(search_value(browser).await, json!("-account:"));
        let acme = eval(
            browser,
            "return [...document.querySelectorAll('#suggestions li')]
               .find(li => li.querySelector('.label').textContent === '-account:acme').dataset.index;",
        )
        .await;
        let acme = acme.as_str().unwrap();
        click(browser, &format!("#suggestions li[data-index='{acme}']")).await;
        wait_total(browser, "everything but acme", 65).await;
        assert_eq!(search_value(browser).await, json!("-account:acme "));

        // Escape closes the list and leaves the box as it is.
        let search = type_phrase(browser, "-account:acme inv").await;
        wait_suggestion(browser, "action:user.invited").await;
        search.send_keys(&Key::Escape).await.unwrap();
        wait_until(
            browser,
            "the list closed",
            "document.getElementById('suggestions').hidden && \
             document.getElementById('search').getAttribute('aria-expanded') === 'false'",
        )
        .await;
        assert_eq!(search_value(browser).await, json!("-account:acme inv"));

        // A type qualifier offers the types, with their counts.
        let search = type_phrase(browser, "resource_type:").await;
        wait_suggestion(browser, "resource_type:invoice").await;
        let counts = eval(
            browser,
            "return [...document.querySelectorAll('#suggestions li')]
               .map(li => li.querySelector('.label').textContent + '=' + li.querySelector('.count').textContent);",
        )
        .await;
        assert_eq!(
            counts,
            json!(["resource_type:invoice=60", "resource_type:user=40"])
        );
        search.send_keys(&Key::Down).await.unwrap();
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "the invoices", 60).await;
        assert_eq!(chips(browser).await, ["resource_type:invoice"]);
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_in_rows_become_chips_that_negate_and_remove() {
    let app = TestApp::new().await;
    seed(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        // The newest entry is a refund by the system, for globex.
        click(
            browser,
            "#entries tbody tr:first-child td.col-account .facet",
        )
        .await;
        wait_total(browser, "globex's entries", 25).await;
        assert_eq!(chips(browser).await, ["account:globex"]);
        assert_eq!(
            (
                text(browser, "#chips li .chip-key").await,
                text(browser, "#chips li .chip-not").await,
                text(browser, "#chips li .chip-text").await
            ),
            ("account".into(), "is".into(), "globex".into())
        );
        click(browser, "#entries tbody tr:first-child td.col-actor .facet").await;
        wait_until(
            browser,
            "a second chip",
            "document.querySelectorAll('#chips li').length === 2",
        )
        .await;
        assert_eq!(chips(browser).await, ["account:globex", "is:system"]);
        assert_eq!(hash(browser).await, json!("#q=account:globex+is:system"));
        assert_eq!(
            search_value(browser).await,
            json!("account:globex is:system")
        );
        assert_accessible(browser, axe.as_deref(), "the dashboard with chips").await;

        // The verb negates its clause.
        click(browser, "#chips li:nth-child(2) .chip-not").await;
        wait_total(browser, "globex's entries with an actor", 0).await;
        assert_eq!(chips(browser).await, ["account:globex", "-is:system"]);
        assert_eq!(
            text(browser, "#empty").await,
            "No entries match these filters."
        );
        assert_eq!(
            eval(
                browser,
                "return document.activeElement.matches('#chips li:nth-child(2) .chip-not');"
            )
            .await,
            json!(true),
            "the focus stays on the verb"
        );

        // ✕ removes a clause, and the focus moves to the next chip's ✕.
        click(browser, "#chips li:first-child .chip-remove").await;
        wait_total(browser, "every entry with an actor", 100).await;
        assert_eq!(chips(browser).await, ["-is:system"]);
        assert_eq!(search_value(browser).await, json!("-is:system"));
        assert_eq!(
            eval(
                browser,
                "return document.activeElement.matches('#chips li:first-child .chip-remove');"
            )
            .await,
            json!(true)
        );
        press(browser, Key::Enter).await;
        wait_total(browser, "every entry again", 125).await;
        assert!(chips(browser).await.is_empty());
        assert_eq!(
            eval(browser, "return document.getElementById('chips').hidden;").await,
            json!(true)
        );

        // The details offer the same, for the keyboard: Exclude an action.
        open_first_entry(browser).await;
        click(
            browser,
            "#detail-fields [data-clause='-action:invoice.refunded']",
        )
        .await;
        wait_total(browser, "everything but refunds", 100).await;
        assert_eq!(chips(browser).await, ["-action:invoice.refunded"]);
        assert_eq!(
            eval(browser, "return document.getElementById('detail').hidden;").await,
            json!(true)
        );

        // Back undoes one step at a time.
        browser.back().await.unwrap();
        wait_total(browser, "Back: every entry", 125).await;
        browser.back().await.unwrap();
        wait_total(browser, "Back: every entry with an actor", 100).await;
        assert_eq!(chips(browser).await, ["-is:system"]);
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_range_narrows_the_list() {
    let app = TestApp::new().await;
    seed_over_time(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        wait_total(browser, "every entry", 141).await;
        let range = browser.find(Locator::Id("range")).await.unwrap();
        for (value, total) in [("1h", 125), ("24h", 129), ("7d", 129), ("30d", 136)] {
            range.select_by_value(value).await.unwrap();
            // Two ranges can hold the same entries: wait for the address to change.
            wait_until(
                browser,
                value,
                &format!("location.hash === '#range={value}'"),
            )
            .await;
            wait_total(browser, value, total).await;
        }
        range.select_by_value("").await.unwrap();
        wait_total(browser, "all time", 141).await;

        // A custom range: from 11 days ago, then until 9 days ago.
        range.select_by_value("custom").await.unwrap();
        wait_until(
            browser,
            "the custom range's inputs",
            "!document.getElementById('custom-range').hidden",
        )
        .await;
        let since = days_ago(11);
        let until = days_ago(9);
        set_time(browser, "since", &since[..19]).await;
        wait_total(browser, "since 11 days ago", 136).await;
        set_time(browser, "until", &until[..19]).await;
        wait_total(browser, "between 11 and 9 days ago", 7).await;
        let logins = texts(browser, "#entries tbody .badge").await;
        assert!(logins.iter().all(|a| a == "user.login"), "{logins:?}");
        assert_eq!(
            hash(browser).await,
            json!(format!("#since={since}&until={until}"))
        );

        // With a phrase too.
        range.select_by_value("1h").await.unwrap();
        wait_total(browser, "the last hour", 125).await;
        let search = type_phrase(browser, "paid").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "the last hour's payments", 60).await;
        assert_eq!(hash(browser).await, json!("#q=paid&range=1h"));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_with_filters_shows_the_same_view() {
    let app = TestApp::new().await;
    seed_over_time(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        let view = "document.getElementById('search').value + ' | ' + \
                    [...document.querySelectorAll('#chips li')].map(li => li.dataset.clause).join(',') + ' | ' + \
                    document.getElementById('range').value + ' | ' + \
                    document.getElementById('page-info').textContent + ' | ' + \
                    document.getElementById('summary').textContent";
        let expected =
            "-is:system paid | -is:system,paid | 30d | Page 2 of 2 | 51–60 of 60 entries";
        session
            .open("/#q=-is:system+paid&range=30d&page=2", 10)
            .await;
        assert!(
            eval(browser, &format!("return {view};"))
                .await
                .as_str()
                .unwrap()
                .starts_with(expected)
        );
        assert_eq!(
            hash(browser).await,
            json!("#q=-is:system+paid&range=30d&page=2")
        );
        browser.refresh().await.unwrap();
        wait_until(
            browser,
            "the same view after a reload",
            &format!("({view}).startsWith({})", json!(expected)),
        )
        .await;

        // A custom range, and times in the inputs.
        let since = days_ago(41);
        let path = format!("/#q=account:acme&since={since}&until=2100-01-01");
        session.open(&path, 50).await;
        wait_total(browser, "acme's entries", 69).await;
        let inputs = eval(
            browser,
            "return [document.getElementById('range').value, document.getElementById('custom-range').hidden,
                     document.getElementById('since').value, document.getElementById('until').value];",
        )
        .await;
        assert_eq!(
            inputs,
            json!(["custom", false, &since[..19], "2100-01-01T00:00"])
        );

        // An address from before the query phrase.
        session.open("/#account=acme&search=paid", 50).await;
        wait_total(browser, "acme's payments", 65).await;
        assert_eq!(search_value(browser).await, json!("account:acme paid"));
        assert_eq!(hash(browser).await, json!("#q=account:acme+paid"));
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_phrase_shows_its_error_beside_the_box() {
    let app = TestApp::new().await;
    seed(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/", 50).await;
        let search = type_phrase(browser, "actor:user:u_1 bogus:x").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_until(
            browser,
            "the phrase's error",
            "!document.getElementById('phrase-error').hidden",
        )
        .await;
        let message = text(browser, "#phrase-error .phrase-message").await;
        assert!(
            message.starts_with("Character 16: unknown qualifier"),
            "{message}"
        );
        assert_eq!(text(browser, "#phrase-error mark").await, "b");
        assert_eq!(
            text(browser, "#phrase-error .phrase-echo").await,
            "actor:user:u_1 bogus:x"
        );
        let input = eval(
            browser,
            "const s = document.getElementById('search');
             return [s.getAttribute('aria-invalid'), s.getAttribute('aria-describedby'), s.selectionStart];",
        )
        .await;
        assert_eq!(input, json!(["true", "phrase-error search-help", 15]));
        assert_wholly_visible(browser, "#phrase-error").await;
        // The list stays as it was.
        assert!(text(browser, "#summary").await.contains("of 125 entries"));
        assert_eq!(hash(browser).await, json!(""));
        assert_accessible(browser, axe.as_deref(), "a phrase's error").await;

        // Put right, the error goes.
        let search = type_phrase(browser, r#"actor:"user"#).await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_until(
            browser,
            "an unterminated quote",
            "document.getElementById('phrase-error').textContent.includes('Character 7: unterminated quote')",
        )
        .await;
        let search = type_phrase(browser, "actor:user:u_1").await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_total(browser, "u_1's entries", 20).await;
        assert_eq!(
            eval(
                browser,
                "const s = document.getElementById('search');
                 return [document.getElementById('phrase-error').hidden, s.getAttribute('aria-invalid')];"
            )
            .await,
            json!([true, null])
        );

        // An address with a refused phrase: the error, not a blank page.
        browser
            .goto(&session.server.url("/#q=is:nobody"))
            .await
            .unwrap();
        browser.refresh().await.unwrap();
        wait_until(
            browser,
            "the address's error",
            "!document.getElementById('phrase-error').hidden",
        )
        .await;
        assert!(
            text(browser, "#phrase-error")
                .await
                .contains("Character 4: is: takes only system")
        );
        assert_eq!(search_value(browser).await, json!("is:nobody"));
        assert_eq!(
            text(browser, "#empty").await,
            "Correct the filter above to see entries."
        );
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_and_the_live_tail_follow_the_filters() {
    let app = TestApp::new().await;
    seed(&app).await;
    let Some(session) = Session::start(&app, DESKTOP).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        session.open("/#q=account:globex", 25).await;
        let href = eval(
            browser,
            "return document.getElementById('export-csv').href;",
        )
        .await;
        let href = href.as_str().unwrap();
        assert!(
            href.ends_with("/v1/export?format=csv&q=account%3Aglobex"),
            "{href}"
        );
        let csv = reqwest::get(href).await.unwrap().text().await.unwrap();
        assert_eq!(csv.lines().count(), 1 + 25, "a header and globex's entries");

        click(browser, "label.live").await;
        wait_until(
            browser,
            "the live tail on",
            "document.getElementById('live').checked",
        )
        .await;
        let other = app
            .audit
            .record(NewEntry::new("invoice.paid").account("acme"))
            .await
            .unwrap();
        let fresh = app
            .audit
            .record(
                NewEntry::new("invoice.refunded")
                    .actor(Some(&Ref::new("user", "u_9")))
                    .account("globex"),
            )
            .await
            .unwrap();
        wait_until(
            browser,
            "globex's new entry on top",
            &format!(
                "document.querySelector('#entries tbody tr').dataset.id === '{}'",
                fresh.id
            ),
        )
        .await;
        let shown = texts(browser, "#entries tbody td.col-id").await;
        assert!(!shown.contains(&other.id.to_string()), "{shown:?}");
        wait_total(browser, "one more of globex's", 26).await;
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

/// Filters at a phone's width: the range, its inputs, the chips, the suggestions and
/// an error all stay inside the screen, and pass the audit.
async fn filters_on_a_phone(size: (u32, u32)) {
    let app = TestApp::new().await;
    seed(&app).await;
    let axe = axe_script();
    let Some(session) = Session::start(&app, size).await else {
        return;
    };
    let walk = async {
        let browser = &session.browser;
        let path = format!(
            "/#q=actor:user:%22Jane+Doe%22+-account:acme+invited&since={}&until=2100-01-01",
            days_ago(1)
        );
        session.open(&path, 40).await;
        assert_eq!(
            eval(browser, "return innerWidth;").await,
            json!(size.0),
            "the window is phone sized"
        );
        assert_no_horizontal_scroll(browser, "no horizontal scrolling with chips").await;
        for css in [
            "#range",
            "#since",
            "#until",
            "#chips li:first-child .chip-not",
            "#chips li:last-child .chip-remove",
            "#entries tbody tr:first-child td.col-time",
        ] {
            assert_wholly_visible(browser, css).await;
        }
        let search = type_phrase(browser, "actor:user:").await;
        wait_suggestion(browser, "actor:user:Jane Doe").await;
        assert_no_horizontal_scroll(browser, "no horizontal scrolling with suggestions").await;
        assert_wholly_visible(browser, "#suggestions li:first-child").await;
        assert_accessible(
            browser,
            axe.as_deref(),
            &format!("chips and suggestions at {} px", size.0),
        )
        .await;
        search.send_keys(&Key::Escape).await.unwrap();

        let search = type_phrase(browser, r#"actor:user:"Jane Doe" created:yesterday"#).await;
        search.send_keys(&Key::Enter).await.unwrap();
        wait_until(
            browser,
            "the phrase's error",
            "!document.getElementById('phrase-error').hidden",
        )
        .await;
        assert_no_horizontal_scroll(browser, "no horizontal scrolling with an error").await;
        assert_wholly_visible(browser, "#phrase-error").await;
        assert_accessible(
            browser,
            axe.as_deref(),
            &format!("a phrase's error at {} px", size.0),
        )
        .await;
    };
    let result = tokio::time::timeout(PATIENCE * 3, walk).await;
    session.end().await;
    result.expect("the walk through finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_fit_a_375_px_phone() {
    filters_on_a_phone((375, 812)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_fit_a_600_px_window() {
    filters_on_a_phone((600, 900)).await;
}
