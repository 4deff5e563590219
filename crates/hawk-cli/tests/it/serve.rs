//! `hawk serve`: refuses non-loopback addresses without API keys, serves on loopback,
//! and on SIGTERM finishes what it accepted before exiting 0; `--max-db-size` caps the
//! file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use crate::helpers::{Log, failed, parse_json};

#[test]
fn serve_refuses_non_loopback_addresses_without_keys() {
    let log = Log::new();
    let cases: &[(&str, &str)] = &[
        (
            "0.0.0.0:0",
            "refusing to listen on 0.0.0.0:0: no API keys are configured",
        ),
        ("[::]:0", "refusing to listen on [::]:0"),
        ("not an address", "--listen: not an address"),
    ];
    for (addr, message) in cases {
        let out = log.run(&["serve", "--listen", addr]);
        let got = failed(&out, 2);
        assert!(got.starts_with(message), "{addr}: {got}");
    }
}

/// A running server, killed if the test fails before stopping it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap();
    (status, body)
}

#[test]
fn serve_answers_on_loopback_and_records_pending_events_on_sigterm() {
    let log = Log::new();
    let mut child = Server(
        log.cmd(&["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start hawk serve"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut started = String::new();
    stderr.read_line(&mut started).unwrap();
    assert!(started.contains("without auth"), "{started}");
    let port: u16 = started
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {started:?}"));

    let (status, body) = http(port, "GET", "/healthz", "");
    assert_eq!(status, 200);
    assert_eq!(
        parse_json(&body),
        serde_json::json!({"status": "ok", "head": 0})
    );
    let (status, _) = http(port, "POST", "/v1/entries", r#"{"action":"served.entry"}"#);
    assert_eq!(status, 201);
    for i in 0..20 {
        let event = format!(r#"{{"name":"served.event","payload":{{"n":{i}}}}}"#);
        assert_eq!(http(port, "POST", "/v1/events", &event).0, 202);
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(exit.success(), "{exit:?}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
    // Every event accepted before the signal was recorded before the exit.
    assert_eq!(log.total_count(), 21);
    // And a checkpoint of them all was signed on the way out.
    let report = log.json(&["verify"]);
    assert_eq!(report["intact"], true);
    assert_eq!(report["signatures_checked"], true);
    let note = log.ok(&["checkpoint", "export"]);
    assert_eq!(note.lines().nth(1), Some("21"), "{note}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 1);
}

/// One GET with `Authorization: Bearer KEY`; returns the status.
fn get_with_key(port: u16, path: &str, key: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply[9..12].parse().unwrap()
}

#[test]
fn serve_with_keys_binds_any_address_and_asks_for_a_key() {
    let log = Log::new();
    let created = log.json(&["keys", "create", "--scope", "read"]);
    let key = created["key"].as_str().unwrap();
    let mut child = Server(
        log.cmd(&["serve", "--listen", "0.0.0.0:0", "--rate-limit", "1000"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start hawk serve"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut started = String::new();
    stderr.read_line(&mut started).unwrap();
    assert!(started.contains("API keys are configured"), "{started}");
    let port: u16 = started
        .split("http://0.0.0.0:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {started:?}"));
    assert_eq!(http(port, "GET", "/healthz", "").0, 200);
    let (status, body) = http(port, "GET", "/v1/entries", "");
    assert_eq!(status, 401);
    assert_eq!(parse_json(&body)["error"]["code"], "unauthorized");
    assert_eq!(get_with_key(port, "/v1/entries", key), 200);
    assert_eq!(get_with_key(port, "/v1/entries", "hawk_nope"), 401);
    assert_eq!(
        http(port, "POST", "/v1/entries", r#"{"action":"a.b"}"#).0,
        401
    );
    drop(child);
    let got = failed(&log.run(&["serve", "--rate-limit", "0"]), 2);
    assert!(got.contains("--rate-limit"), "{got}");
}

/// With `--max-db-size` below the file's size, a write that needs a new page is
/// refused with a 500 and writes nothing; once space inside the file is freed the
/// same server takes it.
#[test]
fn serve_with_max_db_size_refuses_growth_until_space_is_freed() {
    let log = Log::new();
    log.track("before.cap", &[]);
    let conn = rusqlite::Connection::open(log.path("hawk.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE ballast (b BLOB NOT NULL);
         INSERT INTO ballast (b) VALUES (zeroblob(200000));",
    )
    .unwrap();
    let mut child = Server(
        log.cmd(&["serve", "--listen", "127.0.0.1:0", "--max-db-size", "65536"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start hawk serve"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut started = String::new();
    stderr.read_line(&mut started).unwrap();
    let port: u16 = started
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {started:?}"));
    let batch = serde_json::Value::Array(
        (0..200)
            .map(|i| serde_json::json!({"action": "over.cap", "metadata": {"i": i, "pad": "x".repeat(100)}}))
            .collect(),
    )
    .to_string();
    let (status, body) = http(port, "POST", "/v1/entries", &batch);
    assert_eq!(status, 500, "{body}");
    assert_eq!(parse_json(&body)["error"]["code"], "internal");
    assert_eq!(
        parse_json(&http(port, "GET", "/healthz", "").1)["head"],
        1,
        "a refused write wrote something"
    );

    conn.execute_batch("DELETE FROM ballast").unwrap();
    let (status, body) = http(port, "POST", "/v1/entries", &batch);
    assert_eq!(status, 201, "{body}");
    let stored = parse_json(&body);
    assert_eq!(stored[0]["id"], 2);
    assert_eq!(stored[199]["id"], 201);
    drop(child);

    let got = failed(&log.run(&["serve", "--max-db-size", "0"]), 2);
    assert!(got.contains("--max-db-size"), "{got}");
}
