//! The filter parameters and the query phrase on every listing, and the suggestion
//! routes, on both engines: each parameter alone and combined, exact totals, export and
//! the live tail following the filter, and the errors that name their field.

use axum::http::StatusCode;
use hawk_audit::{NewEntry, Ref, Subject};
use serde_json::{Value, json};

use super::{INVALID, check_errors, get};
use crate::helpers::{Running, TestApp, ids};
use crate::socket::EventReader;

/// Runs the async test function `$test(TestApp)` on a fresh SQLite log and on a fresh
/// PostgreSQL database (a failure under `CI=true` when PostgreSQL is unreachable).
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test(crate::helpers::TestApp::new().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let name = concat!(module_path!(), "::postgres");
                let Some(db) = hawk_testing::PgDb::new(name).await else {
                    return;
                };
                let dir = tempfile::tempdir().expect("a temporary directory");
                let app =
                    crate::helpers::TestApp::open(db.url(), dir, hawk_audit::Options::default())
                        .await;
                super::$test(app).await;
            }
        }
    )*};
}
pub(super) use on_both_engines;

on_both_engines!(
    each_parameter_alone_and_combined,
    the_phrase_combines_with_the_parameters,
    typeahead_and_account_routes_take_the_filter,
    bad_filters_are_refused_naming_their_field,
    export_follows_the_filter,
    live_tail_follows_the_filter,
    suggestions_count_within_the_filter,
);

/// | id | day (2026-10-…, 10:00 UTC) | actor | action | resource | account |
/// |---|---|---|---|---|---|
/// | 1 | 01 | user:1 | order.paid | order:7 | acme |
/// | 2 | 02 | user:2 | order.refunded | order:8 | acme |
/// | 3 | 03 | — | backup.finished | — | — |
/// | 4 | 04 | user:1 | user.login | account:globex | globex |
/// | 5 | 05 | bot:1 | order.paid | order:9 | globex |
/// | 6 | 06 | svc:urn:x:1 | Order.Paid | project:7 | acme |
pub(super) async fn seed(app: &TestApp) {
    let entry = |actor: Option<(&str, &str)>, action, resource: Option<(&str, &str)>| {
        let actor = actor.map(|(t, i)| Ref::new(t, i));
        let resource = resource.map(|(t, i)| Ref::new(t, i));
        NewEntry::new(action)
            .actor(actor.as_ref().map(|a| a as &dyn Subject))
            .resource(resource.as_ref().map(|r| r as &dyn Subject))
    };
    let at = |day: u8| {
        hawk_audit::parse_time_bound("at", &format!("2026-10-{day:02}T10:00:00Z")).unwrap()
    };
    let entries = vec![
        (
            at(1),
            entry(Some(("user", "1")), "order.paid", Some(("order", "7"))).account("acme"),
        ),
        (
            at(2),
            entry(Some(("user", "2")), "order.refunded", Some(("order", "8"))).account("acme"),
        ),
        (at(3), entry(None, "backup.finished", None)),
        (
            at(4),
            entry(
                Some(("user", "1")),
                "user.login",
                Some(("account", "globex")),
            ),
        ),
        (
            at(5),
            entry(Some(("bot", "1")), "order.paid", Some(("order", "9"))).account("globex"),
        ),
        (
            at(6),
            entry(
                Some(("svc", "urn:x:1")),
                "Order.Paid",
                Some(("project", "7")),
            )
            .account("acme"),
        ),
    ];
    let stored = app.audit.import(entries).await.expect("import the seed");
    assert_eq!(stored.last().map(|e| e.id), Some(6));
    assert_eq!(stored[3].account_id.as_deref(), Some("globex"));
}

/// Asserts each `(uri, ids)`: the page's entries, newest first, and its exact total.
async fn pages(app: &TestApp, cases: &[(&str, &[u64])]) {
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let body = reply.json();
        assert_eq!(ids(&body["entries"]), *want, "{uri}");
        assert_eq!(body["total_count"], want.len(), "{uri}");
    }
}

async fn each_parameter_alone_and_combined(app: TestApp) {
    seed(&app).await;
    pages(
        &app,
        &[
            ("/v1/entries", &[6, 5, 4, 3, 2, 1]),
            ("/v1/entries?actor_type=user&actor_id=1", &[4, 1]),
            ("/v1/entries?actor_id=urn:x:1", &[6]),
            ("/v1/entries?actor_type=user", &[4, 2, 1]),
            ("/v1/entries?actor_id=1", &[5, 4, 1]),
            ("/v1/entries?system=true", &[3]),
            ("/v1/entries?system=false", &[6, 5, 4, 2, 1]),
            ("/v1/entries?resource_type=order&resource_id=7", &[1]),
            ("/v1/entries?resource_type=order", &[5, 2, 1]),
            ("/v1/entries?resource_id=7", &[6, 1]),
            ("/v1/entries?account_id=acme", &[6, 2, 1]),
            ("/v1/entries?account_id=nobody", &[]),
            ("/v1/entries?action=order.paid", &[5, 1]),
            ("/v1/entries?action=%20order.paid%20", &[5, 1]),
            ("/v1/entries?since=2026-10-04", &[6, 5, 4]),
            ("/v1/entries?until=2026-10-03", &[2, 1]),
            (
                "/v1/entries?since=2026-10-02T10:00:00Z&until=2026-10-04T10:00:00Z",
                &[3, 2],
            ),
            (
                "/v1/entries?since=2026-10-02T12:00:00%2B02:00",
                &[6, 5, 4, 3, 2],
            ),
            ("/v1/entries?since=2026-10-05T10:00:00.000001Z", &[6]),
            // Combined, they all hold.
            ("/v1/entries?actor_type=user&account_id=acme", &[2, 1]),
            (
                "/v1/entries?resource_type=order&since=2026-10-02&account_id=globex",
                &[5],
            ),
            ("/v1/entries?actor_id=1&action=order.paid", &[5, 1]),
            ("/v1/entries?search=PAID&account_id=acme", &[6, 1]),
            (
                "/v1/entries?system=false&until=2026-10-04&resource_id=8",
                &[2],
            ),
            ("/v1/entries?actor_id=1&actor_type=bot&system=false", &[5]),
            (
                "/v1/entries?actor_type=user&actor_id=1&resource_type=order",
                &[1],
            ),
            // An empty value is no filter.
            (
                "/v1/entries?actor_id=&account_id=&since=&q=",
                &[6, 5, 4, 3, 2, 1],
            ),
        ],
    )
    .await;

    // Exact totals on every page, and pages past the end keep them.
    let cases: &[(&str, &[u64], u64, u64)] = &[
        ("/v1/entries?account_id=acme&per_page=1&page=2", &[2], 3, 3),
        ("/v1/entries?account_id=acme&per_page=2&page=2", &[1], 3, 2),
        ("/v1/entries?account_id=acme&per_page=2&page=9", &[], 3, 2),
        ("/v1/entries?actor_id=1&per_page=2&page=1", &[5, 4], 3, 2),
        ("/v1/entries?system=true&page=2", &[], 1, 1),
        ("/v1/entries?actor_type=nobody&page=3", &[], 0, 1),
        (
            "/v1/entries?actor_id=1&per_page=1&page=3&as_of=4",
            &[],
            2,
            2,
        ),
        (
            "/v1/entries?actor_id=1&per_page=1&page=2&as_of=4",
            &[1],
            2,
            2,
        ),
    ];
    for (uri, want, total, total_pages) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let body = reply.json();
        assert_eq!(ids(&body["entries"]), *want, "{uri}");
        assert_eq!(
            (body["total_count"].as_u64(), body["total_pages"].as_u64()),
            (Some(*total), Some(*total_pages)),
            "{uri}"
        );
    }
}

async fn the_phrase_combines_with_the_parameters(app: TestApp) {
    seed(&app).await;
    pages(
        &app,
        &[
            ("/v1/entries?q=order", &[6, 5, 2, 1]),
            ("/v1/entries?q=order%20-refunded", &[6, 5, 1]),
            ("/v1/entries?q=%22Order.Paid%22", &[6, 5, 1]),
            ("/v1/entries?q=actor:user:1", &[4, 1]),
            ("/v1/entries?q=actor:svc:urn:x:1", &[6]),
            ("/v1/entries?q=-is:system&account_id=acme", &[6, 2, 1]),
            ("/v1/entries?q=is:system", &[3]),
            ("/v1/entries?q=created:2026-10-05", &[5]),
            ("/v1/entries?q=created:%3E%3D2026-10-05&actor_id=1", &[5]),
            (
                "/v1/entries?q=created:2026-10-02..2026-10-04%20-is:system",
                &[4, 2],
            ),
            ("/v1/entries?q=action:order.paid&resource_id=9", &[5]),
            ("/v1/entries?q=-account:acme", &[5, 4, 3]),
            (
                "/v1/entries?q=resource_type:order%20-actor_type:bot",
                &[2, 1],
            ),
            ("/v1/entries?q=paid&search=order&since=2026-10-02", &[6, 5]),
            ("/v1/entries?q=paid&account_id=globex&per_page=1", &[5]),
        ],
    )
    .await;
}

async fn typeahead_and_account_routes_take_the_filter(app: TestApp) {
    seed(&app).await;
    let cases: &[(&str, Value)] = &[
        ("/v1/search?q=paid&filter=account:acme", json!([6, 1])),
        ("/v1/search?q=order&actor_type=user", json!([2, 1])),
        ("/v1/search?q=order&limit=1&account_id=globex", json!([5])),
        (
            "/v1/search?filter=-is:system&since=2026-10-05",
            json!([6, 5]),
        ),
        ("/v1/accounts/acme/entries", json!([6, 2, 1])),
        ("/v1/accounts/acme/entries?actor_id=", json!([6, 2, 1])),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let body = reply.json();
        let entries = if body.is_array() {
            &body
        } else {
            &body["entries"]
        };
        assert_eq!(json!(ids(entries)), *want, "{uri}");
    }
    // A filter asks an account's entries for the page object.
    pages(
        &app,
        &[
            ("/v1/accounts/acme/entries?actor_type=user", &[2, 1]),
            ("/v1/accounts/acme/entries?q=paid", &[6, 1]),
            ("/v1/accounts/acme/entries?q=account:globex", &[]),
            ("/v1/accounts/globex/entries?since=2026-10-05", &[5]),
        ],
    )
    .await;
    let cases: &[(&str, Value)] = &[
        (
            "/v1/actions?q=order&account_id=globex",
            json!([{"action": "order.paid", "count": 1}]),
        ),
        (
            "/v1/actions?filter=actor_id:1",
            json!([{"action": "order.paid", "count": 2}, {"action": "user.login", "count": 1}]),
        ),
        (
            "/v1/actions?q=paid&since=2026-10-02",
            json!([{"action": "Order.Paid", "count": 1}, {"action": "order.paid", "count": 1}]),
        ),
        ("/v1/actions?system=true&q=order", json!([])),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(reply.json()["actions"], *want, "{uri}");
    }
}

async fn bad_filters_are_refused_naming_their_field(app: TestApp) {
    seed(&app).await;
    let long = "x".repeat(256);
    let mut cases = vec![
        get(
            "since not a time",
            "/v1/entries?since=yesterday",
            INVALID,
            "malformed",
            Some("since"),
        ),
        get(
            "until not a date",
            "/v1/entries?until=2026-13-01",
            INVALID,
            "malformed",
            Some("until"),
        ),
        get(
            "until equal to since",
            "/v1/entries?since=2026-10-05&until=2026-10-05",
            INVALID,
            "malformed",
            Some("until"),
        ),
        get(
            "until before since",
            "/v1/entries?since=2026-10-06T00:00:00Z&until=2026-10-05",
            INVALID,
            "malformed",
            Some("until"),
        ),
        get(
            "unknown qualifier",
            "/v1/entries?q=colour:red",
            INVALID,
            "malformed_query",
            Some("q"),
        ),
        get(
            "system is a boolean",
            "/v1/entries?system=yes",
            INVALID,
            "malformed",
            Some("system"),
        ),
        get(
            "system without a value",
            "/v1/entries?system=",
            INVALID,
            "malformed",
            Some("system"),
        ),
        get(
            "blank action",
            "/v1/entries?action=%20%20",
            INVALID,
            "empty",
            Some("action"),
        ),
        get(
            "control character",
            "/v1/entries?actor_id=a%01b",
            INVALID,
            "control_character",
            Some("actor_id"),
        ),
        get(
            "repeated",
            "/v1/entries?actor_id=1&actor_id=2",
            INVALID,
            "repeated",
            Some("actor_id"),
        ),
        get(
            "repeated phrase",
            "/v1/entries?q=a&q=b",
            INVALID,
            "repeated",
            Some("q"),
        ),
        get(
            "phrase on search is filter",
            "/v1/search?filter=colour:red",
            INVALID,
            "malformed_query",
            Some("filter"),
        ),
        get(
            "phrase on actions",
            "/v1/actions?filter=%22open",
            INVALID,
            "malformed_query",
            Some("filter"),
        ),
        get(
            "phrase on an account",
            "/v1/accounts/acme/entries?q=is:admin",
            INVALID,
            "malformed_query",
            Some("q"),
        ),
        get(
            "phrase on the export",
            "/v1/export?format=csv&q=created:never",
            INVALID,
            "malformed_query",
            Some("q"),
        ),
        get(
            "phrase on the tail",
            "/v1/stream?q=%22",
            INVALID,
            "malformed_query",
            Some("q"),
        ),
        get(
            "time on the tail",
            "/v1/stream?until=soon",
            INVALID,
            "malformed",
            Some("until"),
        ),
        get(
            "suggestion prefix too long",
            &format!("/v1/actors?q={long}"),
            INVALID,
            "too_long",
            Some("q"),
        ),
        get(
            "suggestion prefix with NUL",
            "/v1/accounts?q=a%00",
            INVALID,
            "malformed",
            Some("q"),
        ),
        get(
            "suggestion filter",
            "/v1/resources?filter=actor:x",
            INVALID,
            "malformed_query",
            Some("filter"),
        ),
    ];
    for name in [
        "actor_type",
        "actor_id",
        "resource_type",
        "resource_id",
        "account_id",
        "action",
    ] {
        cases.push(get(
            "over 255 characters",
            &format!("/v1/entries?{name}={long}"),
            INVALID,
            "too_long",
            Some(name),
        ));
    }
    for route in [
        "/v1/actors",
        "/v1/resources",
        "/v1/accounts",
        "/v1/actor_types",
        "/v1/resource_types",
        "/v1/search",
        "/v1/actions",
    ] {
        cases.push(get(
            "over 255 characters",
            &format!("{route}?actor_id={long}"),
            INVALID,
            "too_long",
            Some("actor_id"),
        ));
    }
    check_errors(&app, cases).await;

    // A phrase's error points at the problem, in the message and the body.
    for (uri, position) in [
        ("/v1/entries?q=paid%20colour:red", 6),
        ("/v1/entries?q=x%20actor:user:%22Jane", 14),
        ("/v1/search?filter=%C3%A9t%C3%A9%20bad:x", 5),
    ] {
        let reply = app.get(uri).await;
        let error = &reply.json()["error"];
        assert_eq!(error["position"], position, "{uri}: {}", reply.text);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("at character {position}:")),
            "{uri}: {message}"
        );
    }
    let reply = app.get("/v1/entries?actor_id=1&actor_id=2").await;
    assert!(
        reply.json()["error"].get("position").is_none(),
        "{}",
        reply.text
    );
}

async fn export_follows_the_filter(app: TestApp) {
    seed(&app).await;
    let cases: &[(&str, &[u64])] = &[
        ("/v1/export?format=ndjson&actor_id=1", &[1, 4, 5]),
        (
            "/v1/export?format=ndjson&q=order%20-account:globex",
            &[1, 2, 6],
        ),
        (
            "/v1/export?format=ndjson&account_id=acme&since=2026-10-02",
            &[2, 6],
        ),
        ("/v1/export?format=ndjson&system=true", &[3]),
        ("/v1/export?format=ndjson&q=is:system%20-is:system", &[]),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let got: Vec<u64> = reply
            .text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(got, *want, "{uri}");
    }
    let reply = app.get("/v1/export?format=csv&resource_type=order").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut rows = csv::Reader::from_reader(reply.text.as_bytes());
    let got: Vec<String> = rows.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(got, ["1", "2", "5"]);
}

async fn live_tail_follows_the_filter(app: TestApp) {
    seed(&app).await;
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();
    let open = |uri: &str| {
        let request = client.get(server.url(uri));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            EventReader::new(response)
        }
    };
    // The replay after `after` follows the filter, and so do live entries.
    let mut tail = open("/v1/stream?after=1&actor_type=user").await;
    let mut phrase = open("/v1/stream?after=0&q=account:acme%20paid").await;
    assert_eq!(tail.next().await.0, 2);
    assert_eq!(tail.next().await.0, 4);
    assert_eq!(phrase.next().await.0, 1);
    assert_eq!(phrase.next().await.0, 6);

    let bot = Ref::new("bot", "2");
    let user = Ref::new("user", "3");
    // Each live entry matches one tail and not the other.
    let by_bot = app
        .audit
        .record(
            NewEntry::new("order.paid")
                .actor(Some(&bot))
                .account("acme"),
        )
        .await
        .unwrap();
    let by_user = app
        .audit
        .record(
            NewEntry::new("invoice.sent")
                .actor(Some(&user))
                .account("globex"),
        )
        .await
        .unwrap();
    let (id, entry) = tail.next().await;
    assert_eq!((id, &entry["action"]), (by_user.id, &json!("invoice.sent")));
    assert_eq!(phrase.next().await.0, by_bot.id);
    let last = app
        .audit
        .record(
            NewEntry::new("order.paid")
                .actor(Some(&user))
                .account("acme"),
        )
        .await
        .unwrap();
    assert_eq!(tail.next().await.0, last.id);
    assert_eq!(phrase.next().await.0, last.id);
    drop((tail, phrase));
    server.stop().await;
}

async fn suggestions_count_within_the_filter(app: TestApp) {
    seed(&app).await;
    let subject =
        |kind: &str, id: &str, count: u64| json!({"type": kind, "id": id, "count": count});
    let account = |id: &str, count: u64| json!({"account_id": id, "count": count});
    let kind = |kind: &str, count: u64| json!({"type": kind, "count": count});
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "/v1/actors",
            "actors",
            json!([
                subject("user", "1", 2),
                subject("bot", "1", 1),
                subject("svc", "urn:x:1", 1),
                subject("user", "2", 1)
            ]),
        ),
        (
            "/v1/actors?q=user",
            "actors",
            json!([subject("user", "1", 2), subject("user", "2", 1)]),
        ),
        (
            "/v1/actors?q=user:2",
            "actors",
            json!([subject("user", "2", 1)]),
        ),
        (
            "/v1/actors?q=svc:urn:",
            "actors",
            json!([subject("svc", "urn:x:1", 1)]),
        ),
        (
            "/v1/actors?q=1",
            "actors",
            json!([subject("user", "1", 2), subject("bot", "1", 1)]),
        ),
        (
            "/v1/actors?q=1&limit=1",
            "actors",
            json!([subject("user", "1", 2)]),
        ),
        (
            "/v1/actors?account_id=globex",
            "actors",
            json!([subject("bot", "1", 1), subject("user", "1", 1)]),
        ),
        (
            "/v1/actors?filter=action:order.paid&q=u",
            "actors",
            json!([subject("user", "1", 1)]),
        ),
        ("/v1/actors?q=nobody", "actors", json!([])),
        (
            "/v1/resources?q=order",
            "resources",
            json!([
                subject("order", "7", 1),
                subject("order", "8", 1),
                subject("order", "9", 1)
            ]),
        ),
        (
            "/v1/resources?q=7",
            "resources",
            json!([subject("order", "7", 1), subject("project", "7", 1)]),
        ),
        (
            "/v1/resources?q=7&until=2026-10-02",
            "resources",
            json!([subject("order", "7", 1)]),
        ),
        (
            "/v1/accounts",
            "accounts",
            json!([account("acme", 3), account("globex", 2)]),
        ),
        (
            "/v1/accounts?q=g",
            "accounts",
            json!([account("globex", 2)]),
        ),
        ("/v1/accounts?q=G", "accounts", json!([])),
        (
            "/v1/accounts?limit=1",
            "accounts",
            json!([account("acme", 3)]),
        ),
        (
            "/v1/accounts?filter=actor_type:bot",
            "accounts",
            json!([account("globex", 1)]),
        ),
        (
            "/v1/accounts?system=false&q=a",
            "accounts",
            json!([account("acme", 3)]),
        ),
        (
            "/v1/actor_types",
            "types",
            json!([kind("user", 3), kind("bot", 1), kind("svc", 1)]),
        ),
        ("/v1/actor_types?q=s", "types", json!([kind("svc", 1)])),
        ("/v1/actor_types?system=true", "types", json!([])),
        (
            "/v1/resource_types?account_id=acme",
            "types",
            json!([kind("order", 2), kind("project", 1)]),
        ),
        (
            "/v1/resource_types?filter=-action:order.paid",
            "types",
            json!([kind("account", 1), kind("order", 1), kind("project", 1)]),
        ),
    ];
    for (uri, key, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(reply.json(), json!({ key: want }), "{uri}");
    }
    let cases = vec![
        get(
            "limit 0",
            "/v1/actors?limit=0",
            INVALID,
            "out_of_range",
            Some("limit"),
        ),
        get(
            "limit 101",
            "/v1/resources?limit=101",
            INVALID,
            "out_of_range",
            Some("limit"),
        ),
        get(
            "limit text",
            "/v1/accounts?limit=ten",
            super::BAD,
            "malformed",
            Some("limit"),
        ),
    ];
    check_errors(&app, cases).await;
}
