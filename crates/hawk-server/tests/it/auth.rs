//! API keys: a table of (key, method, route) → status, account isolation on every
//! route (SSE and export included), and the error bodies of 401, 403 and 429.

use std::collections::BTreeSet;

use axum::Router;
use axum::http::{Method, StatusCode};
use hawk_audit::{NewEntry, Scope};
use hawk_server::{AppState, RateLimit};
use serde_json::Value;

use crate::helpers::{Reply, Running, TestApp, ids};
use crate::socket::EventReader;

/// The keys of a test: one of each kind.
struct Keys {
    admin: String,
    write: String,
    read: String,
    acme: String,
}

async fn keys(app: &TestApp) -> Keys {
    let make = |scope, account| {
        let audit = app.audit.clone();
        async move { audit.create_key(scope, account).await.unwrap().0 }
    };
    Keys {
        admin: make(Scope::Admin, None).await,
        write: make(Scope::Write, None).await,
        read: make(Scope::Read, None).await,
        acme: make(Scope::Read, Some("acme")).await,
    }
}

/// Entries of two accounts and none: acme has ids 1, 3, 5; globex 2, 4; 6 has none.
async fn seed(app: &TestApp) {
    for (action, account) in [
        ("invoice.paid", Some("acme")),
        ("invoice.paid", Some("globex")),
        ("invoice.sent", Some("acme")),
        ("secret.globex", Some("globex")),
        ("user.invited", Some("acme")),
        ("system.ran", None),
    ] {
        app.track(action, account).await;
    }
}

#[track_caller]
fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    reply.assert_error(status, code, None);
}

#[tokio::test]
async fn without_keys_the_api_is_open() {
    let app = TestApp::new().await;
    let router = app.router();
    let reply = app
        .call_as(&router, None, Method::GET, "/v1/entries", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // A key that is not one is refused even then.
    let reply = app
        .call_as(&router, Some("hawk_x"), Method::GET, "/v1/entries", None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn each_scope_reaches_exactly_its_routes() {
    let app = TestApp::new().await;
    seed(&app).await;
    let k = keys(&app).await;
    let router = app.router();
    const OK: u16 = 200;
    const CREATED: u16 = 201;
    const ACCEPTED: u16 = 202;
    const NO_KEY: u16 = 401;
    const DENIED: u16 = 403;
    let entry = r#"{"action":"a.b"}"#;
    let event = r#"{"name":"e.f","payload":{}}"#;
    // (method, uri, body, [no key, bad key, read, acme-bound read, write, admin])
    let table: Vec<(Method, &str, Option<&str>, [u16; 6])> = vec![
        (Method::GET, "/healthz", None, [OK; 6]),
        (Method::GET, "/", None, [OK; 6]),
        (Method::GET, "/assets/app.js", None, [OK; 6]),
        (Method::GET, "/favicon.ico", None, [OK; 6]),
        (
            Method::GET,
            "/v1/entries",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/v1/search?q=inv",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/v1/actions",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/v1/accounts/acme/entries",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/v1/accounts/globex/entries?page=1",
            None,
            [NO_KEY, NO_KEY, OK, DENIED, OK, OK],
        ),
        (
            Method::GET,
            "/v1/export?format=csv",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/v1/export?format=csv&account_id=globex",
            None,
            [NO_KEY, NO_KEY, OK, DENIED, OK, OK],
        ),
        (
            Method::GET,
            "/metrics",
            None,
            [NO_KEY, NO_KEY, OK, DENIED, OK, OK],
        ),
        (
            Method::GET,
            "/openapi.json",
            None,
            [NO_KEY, NO_KEY, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/no/such/route",
            None,
            [NO_KEY, NO_KEY, 404, 404, 404, 404],
        ),
        (
            Method::POST,
            "/v1/entries",
            Some(entry),
            [NO_KEY, NO_KEY, DENIED, DENIED, CREATED, CREATED],
        ),
        (
            Method::POST,
            "/v1/events",
            Some(event),
            [NO_KEY, NO_KEY, DENIED, DENIED, ACCEPTED, ACCEPTED],
        ),
        // A method no route serves is 405 before any key is looked at.
        (
            Method::DELETE,
            "/v1/entries",
            None,
            [405, 405, 405, 405, 405, 405],
        ),
    ];
    // The admin key with its last hex digit changed (to one it does not already have).
    let last = if k.admin.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{last}", &k.admin[..k.admin.len() - 1]);
    let callers: [Option<&str>; 6] = [
        None,
        Some(&bad),
        Some(&k.read),
        Some(&k.acme),
        Some(&k.write),
        Some(&k.admin),
    ];
    let names = ["no key", "bad key", "read", "acme read", "write", "admin"];
    for (method, uri, body, want) in table {
        for ((caller, name), status) in callers.iter().zip(names).zip(want) {
            let reply = app
                .call_as(&router, *caller, method.clone(), uri, body)
                .await;
            assert_eq!(
                reply.status.as_u16(),
                status,
                "{name}: {method} {uri}: {}",
                reply.text
            );
            match status {
                NO_KEY => {
                    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
                    assert_eq!(reply.headers["www-authenticate"], "Bearer");
                }
                DENIED => assert_error(&reply, StatusCode::FORBIDDEN, "forbidden"),
                _ => {}
            }
        }
    }
}

async fn body_as(app: &TestApp, router: &Router, key: &str, uri: &str) -> Value {
    let reply = app.call_as(router, Some(key), Method::GET, uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    reply.json()
}

#[tokio::test]
async fn a_key_bound_to_an_account_sees_only_that_account_everywhere() {
    let app = TestApp::new().await;
    seed(&app).await;
    let k = keys(&app).await;
    let router = app.router();
    let acme = k.acme.as_str();

    let page = body_as(&app, &router, acme, "/v1/entries").await;
    assert_eq!(ids(&page["entries"]), vec![5, 3, 1]);
    assert_eq!(
        (&page["total_count"], &page["total_pages"]),
        (&3.into(), &1.into())
    );
    let page = body_as(&app, &router, acme, "/v1/entries?per_page=2&page=2&as_of=6").await;
    assert_eq!(ids(&page["entries"]), vec![1]);
    let page = body_as(&app, &router, acme, "/v1/entries?search=invoice").await;
    assert_eq!(ids(&page["entries"]), vec![3, 1]);
    assert_eq!(page["total_count"], 2);

    let hits = body_as(&app, &router, acme, "/v1/search?q=&limit=10").await;
    assert_eq!(ids(&hits["entries"]), vec![5, 3, 1]);
    let hits = body_as(&app, &router, acme, "/v1/search?q=secret").await;
    assert_eq!(ids(&hits["entries"]), Vec::<u64>::new());

    let actions = body_as(&app, &router, acme, "/v1/actions").await;
    let got: BTreeSet<(String, u64)> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, u64)> = [
        ("invoice.paid", 1),
        ("invoice.sent", 1),
        ("user.invited", 1),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_owned(), n))
    .collect();
    assert_eq!(got, want, "counted over acme's entries only");
    let reply = app
        .call_as(
            &router,
            Some(acme),
            Method::GET,
            "/v1/actions?limit=0",
            None,
        )
        .await;
    reply.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "out_of_range",
        Some("limit"),
    );

    let all = body_as(&app, &router, acme, "/v1/accounts/acme/entries").await;
    assert_eq!(ids(&all), vec![5, 3, 1]);
    for uri in [
        "/v1/accounts/globex/entries",
        "/v1/accounts/globex/entries?page=1",
    ] {
        let reply = app
            .call_as(&router, Some(acme), Method::GET, uri, None)
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
        assert!(!reply.text.contains("secret"), "{}", reply.text);
    }

    // Export: forced to the account, asked or not; another account is refused.
    for uri in [
        "/v1/export?format=ndjson",
        "/v1/export?format=ndjson&account_id=acme",
    ] {
        let reply = app
            .call_as(&router, Some(acme), Method::GET, uri, None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let got: Vec<u64> = reply
            .text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(got, vec![1, 3, 5], "{uri}");
    }
    // The same key in the query string, which exports (download links) accept.
    let reply = app
        .call_as(
            &router,
            None,
            Method::GET,
            &format!("/v1/export?format=csv&key={acme}"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.text.lines().count(), 4, "header and three rows");
    assert!(!reply.text.contains("globex"));
    // ... and nothing else does.
    let reply = app
        .call_as(
            &router,
            None,
            Method::GET,
            &format!("/v1/entries?key={acme}"),
            None,
        )
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // An unbound read key sees everything.
    let page = body_as(&app, &router, &k.read, "/v1/entries").await;
    assert_eq!(page["total_count"], 6);
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let app = TestApp::new().await;
    let (key, info) = app.audit.create_key(Scope::Read, None).await.unwrap();
    let (other, _) = app.audit.create_key(Scope::Read, None).await.unwrap();
    let router = app.router();
    let get = |key: String| {
        let (app, router) = (&app, &router);
        async move {
            app.call_as(router, Some(&key), Method::GET, "/v1/entries", None)
                .await
        }
    };
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);
    app.audit.revoke_key(info.id).await.unwrap();
    assert_error(
        &get(key.clone()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(get(other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn over_the_rate_a_key_gets_429_with_retry_after() {
    let app = TestApp::new().await;
    let k = keys(&app).await;
    let router = hawk_server::router(
        AppState::new(app.audit.clone(), app.bus.clone()).rate_limit(RateLimit {
            per_second: 0.5,
            burst: 3.0,
        }),
    );
    for _ in 0..3 {
        let reply = app
            .call_as(&router, Some(&k.read), Method::GET, "/v1/entries", None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = app
        .call_as(&router, Some(&k.read), Method::GET, "/v1/entries", None)
        .await;
    assert_error(&reply, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Other keys have buckets of their own; liveness is never limited.
    let reply = app
        .call_as(&router, Some(&k.admin), Method::GET, "/v1/entries", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = app
        .call_as(&router, Some(&k.read), Method::GET, "/healthz", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_show_the_write_queue_depth() {
    let app = TestApp::new().await;
    let text = app.get("/metrics").await.text;
    assert!(
        text.contains("# TYPE hawk_write_queue_depth gauge"),
        "{text}"
    );
    assert!(text.contains("\nhawk_write_queue_depth 0\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_of_a_bound_key_carries_only_its_account() {
    let app = TestApp::new().await;
    seed(&app).await;
    let k = keys(&app).await;
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();

    let response = client
        .get(server.url("/v1/stream?after=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    // EventSource cannot send headers: the key comes in the query string.
    let response = client
        .get(server.url(&format!("/v1/stream?after=0&key={}", k.acme)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut tail = EventReader::new(response);
    for want in [1, 3, 5] {
        assert_eq!(tail.next().await.0, want, "replayed");
    }
    // Many entries of other accounts, then one of acme's: only that one arrives.
    let others: Vec<NewEntry> = (0..1200)
        .map(|i| NewEntry::new("noise.made").account(if i % 2 == 0 { "globex" } else { "initech" }))
        .collect();
    app.audit.record_batch(others).await.unwrap();
    let mine = app.track("acme.live", Some("acme")).await;
    let (id, entry) = tail.next().await;
    assert_eq!((id, entry["action"].as_str()), (mine.id, Some("acme.live")));

    // A header key works as well, and an unbound key sees everything.
    let response = client
        .get(server.url("/v1/stream?after=5"))
        .bearer_auth(&k.read)
        .send()
        .await
        .unwrap();
    let mut all = EventReader::new(response);
    assert_eq!(all.next().await.0, 6);
    assert_eq!(all.next().await.0, 7);
    server.stop().await;
}
