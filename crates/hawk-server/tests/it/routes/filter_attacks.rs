//! Filters as an attacker sends them: a key bound to one account reaching for another
//! through every filter parameter, phrase and suggestion route, and input a fuzzer
//! would send (huge phrases, broken quotes, control characters, absurd years, too many
//! conditions, repeated parameters), which is refused with a 4xx naming its field and
//! never answered with a 5xx. On both engines.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use hawk_audit::{NewEntry, Scope};

use super::filters::{on_both_engines, seed};
use crate::helpers::{Running, TestApp, ids};
use crate::socket::EventReader;

on_both_engines!(
    a_bound_key_never_sees_another_account,
    a_bound_key_never_tails_another_account,
    hostile_filters_are_refused_naming_their_field,
);

/// The key bound to `acme` reaching for `globex`: `(uri, status for that key, whether
/// an unbound key sees globex there)`.
const ATTACKS: &[(&str, u16, bool)] = &[
    ("/v1/entries?account_id=globex", 200, true),
    ("/v1/entries?q=account:globex", 200, true),
    ("/v1/entries?q=-account:acme", 200, true),
    ("/v1/entries?account_id=globex&q=-account:acme", 200, true),
    (
        "/v1/entries?resource_type=account&resource_id=globex",
        200,
        true,
    ),
    ("/v1/entries?q=resource_id:globex", 200, true),
    ("/v1/search?q=login&filter=account:globex", 200, true),
    ("/v1/search?filter=-account:acme", 200, true),
    ("/v1/search?account_id=globex&limit=100", 200, true),
    ("/v1/actions?filter=-account:acme", 200, false),
    ("/v1/actions?q=login&account_id=globex", 200, false),
    ("/v1/actors?filter=account:globex", 200, false),
    ("/v1/actors?account_id=globex", 200, false),
    ("/v1/actors?q=bot&filter=-account:acme", 200, false),
    ("/v1/resources?filter=account:globex", 200, true),
    ("/v1/resources?q=account", 200, true),
    ("/v1/resources?q=account:g&filter=-account:acme", 200, true),
    ("/v1/accounts", 200, true),
    ("/v1/accounts?q=", 200, true),
    ("/v1/accounts?q=g", 200, true),
    ("/v1/accounts?filter=account:globex", 200, true),
    ("/v1/accounts?filter=-account:acme", 200, true),
    ("/v1/accounts?account_id=globex", 200, true),
    ("/v1/accounts/acme/entries?q=account:globex", 200, false),
    ("/v1/accounts/acme/entries?q=-account:acme", 200, false),
    ("/v1/accounts/globex/entries", 403, true),
    ("/v1/accounts/globex/entries?q=account:globex", 403, true),
    ("/v1/accounts/globex/entries?actor_id=1", 403, true),
    ("/v1/export?format=ndjson&q=account:globex", 200, true),
    ("/v1/export?format=ndjson&q=-account:acme", 200, true),
    ("/v1/export?format=csv&resource_id=globex", 200, true),
    ("/v1/export?format=ndjson&account_id=globex", 403, true),
];

async fn a_bound_key_never_sees_another_account(app: TestApp) {
    seed(&app).await;
    let key = |scope, account| {
        let audit = app.audit.clone();
        async move { audit.create_key(scope, account).await.unwrap().0 }
    };
    let acme = key(Scope::Read, Some("acme")).await;
    let unbound = [
        key(Scope::Read, None).await,
        key(Scope::Write, None).await,
        key(Scope::Admin, None).await,
    ];
    let router = app.router();
    for &(uri, status, leaks) in ATTACKS {
        let reply = app
            .call_as(&router, Some(&acme), Method::GET, uri, None)
            .await;
        assert_eq!(reply.status.as_u16(), status, "{uri}: {}", reply.text);
        assert!(!reply.text.contains("globex"), "{uri}: {}", reply.text);
        if status == 403 {
            reply.assert_error(StatusCode::FORBIDDEN, "forbidden", None);
        }
        for key in &unbound {
            let reply = app
                .call_as(&router, Some(key), Method::GET, uri, None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
            assert_eq!(
                reply.text.contains("globex"),
                leaks,
                "{uri}: {}",
                reply.text
            );
        }
    }
    // What the bound key does see is its own account's.
    let own = [
        ("/v1/entries?q=account:acme", vec![6, 2, 1]),
        ("/v1/entries?account_id=acme&actor_type=user", vec![2, 1]),
        ("/v1/entries?q=-account:globex", vec![6, 2, 1]),
        // A phrase of the most conditions allowed still fits beside the key's account.
        (
            &*format!("/v1/entries?q={}", "-account:globex+".repeat(32)),
            vec![6, 2, 1],
        ),
    ];
    for (uri, want) in own {
        let reply = app
            .call_as(&router, Some(&acme), Method::GET, uri, None)
            .await;
        assert_eq!(ids(&reply.json()["entries"]), want, "{uri}");
        assert_eq!(reply.json()["total_count"], want.len(), "{uri}");
    }
    let reply = app
        .call_as(&router, Some(&acme), Method::GET, "/v1/accounts", None)
        .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"accounts": [{"account_id": "acme", "count": 3}]})
    );
    // Type counts too are counted within the key's account: globex's order and
    // account resources are not.
    let reply = app
        .call_as(
            &router,
            Some(&acme),
            Method::GET,
            "/v1/resource_types?filter=-account:acme",
            None,
        )
        .await;
    assert_eq!(reply.json(), serde_json::json!({"types": []}));
    let reply = app
        .call_as(
            &router,
            Some(&acme),
            Method::GET,
            "/v1/resource_types",
            None,
        )
        .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"types": [{"type": "order", "count": 2}, {"type": "project", "count": 1}]})
    );
}

async fn a_bound_key_never_tails_another_account(app: TestApp) {
    seed(&app).await;
    let (acme, _) = app
        .audit
        .create_key(Scope::Read, Some("acme"))
        .await
        .unwrap();
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();
    let open = |query: &str| {
        let request = client
            .get(server.url(&format!("/v1/stream?after=0&{query}")))
            .bearer_auth(&acme);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            EventReader::new(response)
        }
    };
    let mut attacks = Vec::new();
    for query in [
        "account_id=globex",
        "q=account:globex",
        "q=-account:acme",
        "resource_id=globex",
    ] {
        attacks.push((query, open(query).await));
    }
    let mut own = open("q=order").await;
    assert_eq!(own.next().await.0, 1);
    assert_eq!(own.next().await.0, 2);
    assert_eq!(own.next().await.0, 6);
    let theirs = app
        .audit
        .record(NewEntry::new("order.secret").account("globex"))
        .await
        .unwrap();
    let mine = app
        .audit
        .record(NewEntry::new("order.mine").account("acme"))
        .await
        .unwrap();
    assert_eq!(own.next().await.0, mine.id, "not {}", theirs.id);
    for (query, mut tail) in attacks {
        let got = tokio::time::timeout(Duration::from_millis(300), tail.next()).await;
        assert!(got.is_err(), "{query}: {:?}", got.map(|(id, _)| id));
    }
    server.stop().await;
}

/// Values a fuzzer sends to the filter parameters.
fn hostile() -> Vec<(&'static str, String)> {
    let mut values: Vec<(&str, String)> = Vec::new();
    let phrases = [
        "a".repeat(3000),
        "a ".repeat(33),
        "-is:system ".repeat(40),
        "\"".into(),
        "a\"b".into(),
        "\"\"\"".into(),
        "actor:\"user:1".into(),
        "\"\\n\"".into(),
        "\\".into(),
        "\0".into(),
        "a\0b".into(),
        "actor_id:\0".into(),
        "\u{1b}[2J".into(),
        "x\u{7f}".into(),
        "account:\u{1}".into(),
        ":".into(),
        "-".into(),
        "--".into(),
        "-\"\"".into(),
        "actor:".into(),
        "actor:::".into(),
        "created:9999-12-31".into(),
        "created:>9999-12-31".into(),
        "created:<=9999-12-31".into(),
        "created:>9999-12-31T23:59:59.999999Z".into(),
        "created:>=9999-12-31T23:59:59-01:00".into(),
        "created:<0000-01-01T00:00:00+01:00".into(),
        "created:0000-01-01".into(),
        "created:<0000-01-01".into(),
        "created:99999-01-01".into(),
        "created:-0001-01-01".into(),
        "created:*..*".into(),
        "created:..".into(),
        "created:1970-01-01..9999-12-31".into(),
        "created:9999-12-31..0000-01-01".into(),
        "is:".into(),
        "Is:system".into(),
        "💥 actor:💥:💥".into(),
    ];
    for phrase in phrases {
        values.push(("phrase", phrase));
    }
    for (name, value) in [
        ("since", "9999-12-31T23:59:59-01:00"),
        ("since", "9999-12-31"),
        ("until", "0000-01-01T00:00:00+23:59"),
        ("until", "0000-01-01"),
        ("since", "+10000-01-01"),
        ("since", "2026-10-05T25:00:00Z"),
        ("until", "\u{0}"),
        ("actor_id", ":"),
        ("resource_type", "\u{85}"),
        ("system", "TRUE"),
        ("system", "1"),
        ("action", "\n"),
        ("action", "\u{0}"),
        ("account_id", "\u{0}"),
        ("account_id", "\u{1b}"),
        ("actor_type", "\u{0}"),
    ] {
        values.push((name, value.to_owned()));
    }
    values
}

/// Percent-encodes every byte but unreserved ASCII.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn hostile_filters_are_refused_naming_their_field(app: TestApp) {
    seed(&app).await;
    let server = Running::start(&app).await;
    let client = reqwest::Client::new();
    // (route with its own parameters, the name of its phrase parameter)
    let routes = [
        ("/v1/entries?", "q"),
        ("/v1/search?q=a&", "filter"),
        ("/v1/actions?", "filter"),
        ("/v1/actors?q=u&", "filter"),
        ("/v1/resources?", "filter"),
        ("/v1/accounts?", "filter"),
        ("/v1/accounts/acme/entries?", "q"),
        ("/v1/export?format=csv&", "q"),
        ("/v1/stream?after=0&", "q"),
    ];
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    for (route, phrase) in routes {
        for (name, value) in hostile() {
            let name = if name == "phrase" { phrase } else { name };
            let value = encode(&value);
            cases.push((format!("{route}{name}={value}"), vec![name.to_owned()]));
        }
        // Every filter parameter given twice.
        for name in ["actor_id", "since", phrase, "system"] {
            let twice = format!("{route}{name}=1&{name}=1");
            cases.push((twice, vec![name.to_owned()]));
        }
        let both = format!("{route}since=2026-10-05&until=2026-10-05&{phrase}=%22");
        cases.push((both, vec!["until".into(), phrase.to_owned()]));
    }
    for (uri, fields) in cases {
        let response = client.get(server.url(&uri)).send().await.unwrap();
        let status = response.status();
        assert!(!status.is_server_error(), "{uri}: {status}");
        if uri.starts_with("/v1/stream") && status.is_success() {
            // An open tail: its filter was taken.
            continue;
        }
        let text = response.text().await.unwrap();
        if status.is_client_error() {
            // 422 for a bad value; 400 for `account_id` where the path names the account.
            assert!(
                [StatusCode::UNPROCESSABLE_ENTITY, StatusCode::BAD_REQUEST].contains(&status),
                "{uri}: {text}"
            );
            let body: serde_json::Value = serde_json::from_str(&text).unwrap();
            let field = body["error"]["field"].as_str().unwrap_or_default();
            assert!(fields.iter().any(|f| f == field), "{uri}: {text}");
        } else {
            assert_eq!(status, StatusCode::OK, "{uri}: {text}");
        }
    }
    server.stop().await;
}
