//! What an outside security test of the real server found, each fixed: metric labels
//! from a closed set, a server that saw keys staying closed, streams ending with their
//! key, loopback host names only without keys, and a cap on open connections.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hawk_audit::{Audit, NewEntry, Scope};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Running, TestApp};

/// One raw HTTP/1.1 request (`Connection: close`) to the server; the status and body.
async fn raw(server: &Running, method: &str, path: &str, host: &str, extra: &str) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {reply:?}"));
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_grow_the_metrics() {
    // Broke: /metrics labelled series with the raw method, before auth, so requests
    // with invented methods (no key) grew it without bound. They are answered 405
    // (no route takes them, which is said before the key is asked for).
    let app = TestApp::new().await;
    let (admin, _) = app.audit.create_key(Scope::Admin, None).await.unwrap();
    let server = Running::start(&app).await;
    const REQUESTS: u64 = 300;
    for i in 0..REQUESTS {
        let method = format!("M{i}{}", "X".repeat(4096));
        let (status, _) = raw(&server, &method, "/v1/entries", "localhost", "").await;
        assert_eq!(status, 405);
    }
    let auth = format!("Authorization: Bearer {admin}\r\n");
    let (status, metrics) = raw(&server, "GET", "/metrics", "localhost", &auth).await;
    assert_eq!(status, 200, "{metrics}");
    assert!(
        !metrics.contains("XXXX"),
        "an invented method became a label"
    );
    assert!(
        metrics.len() < 20_000,
        "/metrics grew to {} bytes",
        metrics.len()
    );
    let others: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("hawk_http_requests_total{method=\"OTHER\""))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(others, REQUESTS, "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_last_key_keeps_a_running_server_closed() {
    // Broke: once the last key was revoked, a server started with keys let every
    // request in, reads and writes, on whatever address keys had allowed.
    let app = TestApp::new().await;
    let (_, info) = app.audit.create_key(Scope::Admin, None).await.unwrap();
    let server = Running::start(&app).await;
    // Revoked before the server answered anything, by another handle on the file.
    let other = Audit::open(&app.url).await.unwrap();
    other.revoke_key(info.id).await.unwrap();
    assert!(!app.audit.has_keys().await.unwrap());
    for (method, path) in [
        ("GET", "/v1/entries"),
        ("POST", "/v1/entries"),
        ("GET", "/metrics"),
    ] {
        let (status, body) = raw(&server, method, path, "localhost", "").await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    assert_eq!(
        raw(&server, "GET", "/healthz", "localhost", "").await.0,
        200
    );
    assert_eq!(app.head().await, 0, "a refused request wrote something");
    server.stop().await;
    other.close().await;

    // A keyless server that sees a key created while it runs stays closed too.
    let app = TestApp::new().await;
    let server = Running::start(&app).await;
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "localhost", "").await.0,
        200
    );
    let (key, info) = app.audit.create_key(Scope::Read, None).await.unwrap();
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "localhost", "").await.0,
        401
    );
    let auth = format!("Authorization: Bearer {key}\r\n");
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "localhost", &auth)
            .await
            .0,
        200
    );
    app.audit.revoke_key(info.id).await.unwrap();
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "localhost", "").await.0,
        401
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_server_refuses_other_host_names() {
    // Broke: without keys the server trusted any Host, so a web page could read and
    // write through a DNS name rebound to 127.0.0.1.
    let app = TestApp::new().await;
    let server = Running::start(&app).await;
    let port = server.base.rsplit_once(':').unwrap().1.to_owned();
    for host in [
        "evil.example",
        "evil.example:80",
        "localhost.evil.example",
        "127.0.0.2",
    ] {
        for (method, path) in [
            ("GET", "/v1/entries"),
            ("POST", "/v1/entries"),
            ("GET", "/"),
        ] {
            let (status, body) = raw(&server, method, path, host, "").await;
            assert_eq!(status, 421, "{host} {method} {path}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], "misdirected", "{body}");
            assert_eq!(body["error"]["field"], "Host", "{body}");
        }
    }
    assert_eq!(app.head().await, 0, "a refused request wrote something");
    for host in [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, body) = raw(&server, "GET", "/v1/entries", &host, "").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // With keys, any name is fine: the key is what is checked.
    let (key, _) = app.audit.create_key(Scope::Read, None).await.unwrap();
    let auth = format!("Authorization: Bearer {key}\r\n");
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "hawk.example", &auth)
            .await
            .0,
        200
    );
    assert_eq!(
        raw(&server, "GET", "/v1/entries", "hawk.example", "")
            .await
            .0,
        401
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_their_key_is_revoked() {
    // Broke: a live tail or an export opened with a key kept delivering after the key
    // was revoked.
    let app = TestApp::new().await;
    streams_end_when_their_key_is_revoked_on(&app).await;
}

/// Entries in the log for the export: more than socket buffers hold, so the server is
/// still writing when the key is revoked.
const EXPORTED: usize = 30_000;

/// A live tail and an export, opened with one key, both end within about a second of
/// its revocation through another handle on the same log (as another process would
/// revoke it, with no signal inside this one).
pub(crate) async fn streams_end_when_their_key_is_revoked_on(app: &TestApp) {
    for _ in 0..EXPORTED / 1000 {
        let batch = (0..1000).map(|_| NewEntry::new("bulk.entry")).collect();
        app.audit.record_batch(batch).await.unwrap();
    }
    let (key, info) = app.audit.create_key(Scope::Read, None).await.unwrap();
    let server = Running::start(app).await;
    let revoker = Audit::open(&app.url).await.unwrap();
    let client = reqwest::Client::new();

    let tail = client
        .get(server.url(&format!("/v1/stream?key={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 200);
    let mut tail = tail.bytes_stream();
    let export = client
        .get(server.url("/v1/export?format=ndjson"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let mut export = export.bytes_stream();
    let first = export.next().await.unwrap().unwrap();
    let mut lines = first.iter().filter(|&&b| b == b'\n').count();

    revoker.revoke_key(info.id).await.unwrap();
    let revoked = Instant::now();
    let ended = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Some(Ok(_)) = tail.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live tail is still open 1.5 s after revocation"
    );

    // The export stops too, cut off rather than complete; reading slowly, so what the
    // server sends after the revocation is bounded by the socket buffers.
    let mut cut = false;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = export.next().await {
            match chunk {
                Ok(bytes) => lines += bytes.iter().filter(|&&b| b == b'\n').count(),
                Err(_) => {
                    cut = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the export ends");
    assert!(cut, "the export ended as if complete, {lines} lines");
    assert!(lines < EXPORTED, "the whole export was sent: {lines} lines");
    assert!(revoked.elapsed() < Duration::from_secs(30));

    let again = client
        .get(server.url(&format!("/v1/stream?key={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    server.stop().await;
    revoker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_a_client_waits_for_a_place() {
    // Broke: nothing bounded the connections open at once, so silent clients could
    // take every socket the process may open.
    let app = TestApp::new().await;
    let options = hawk_server::ServeOptions {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 2,
    };
    let server = Running::start_with(&app, options).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(700), third.read_to_end(&mut reply)).await;
    assert!(
        early.is_err(),
        "answered over the cap: {:?}",
        String::from_utf8_lossy(&reply)
    );
    // A place frees: the waiting client is served.
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut reply))
        .await
        .expect("served once a place is free")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(second);
    server.stop().await;
}
