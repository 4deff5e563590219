//! `hawk serve`: refuses non-loopback addresses without API keys, serves on loopback,
//! and on SIGTERM finishes what it accepted before exiting 0; `--max-db-size` caps the
//! file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
pub(crate) fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
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
    let running = start_server("127.0.0.1:0", &["--db", log.url()]);
    assert!(
        running.banner.contains("without auth"),
        "{}",
        running.banner
    );
    let port = running.port;

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

    let rest = running.stop();
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
    let child = start_server("0.0.0.0:0", &["--rate-limit", "1000", "--db", log.url()]);
    assert!(
        child.banner.contains("API keys are configured"),
        "{}",
        child.banner
    );
    let port = child.port;
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
    let child = start_server(
        "127.0.0.1:0",
        &["--max-db-size", "65536", "--db", log.url()],
    );
    let port = child.port;
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
    // A PostgreSQL database has no file to cap: refused before connecting.
    let out = crate::helpers::hawk()
        .args(["serve", "--max-db-size", "65536"])
        .args(["--db", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    let got = failed(&out, 2);
    assert!(got.contains("--max-db-size: caps a SQLite file"), "{got}");
}

/// A `hawk serve` on a free loopback port.
pub(crate) struct Running {
    server: Server,
    /// What it logs after its first line.
    stderr: BufReader<std::process::ChildStderr>,
    /// Its first log line, which names the address.
    banner: String,
    pub(crate) port: u16,
}

/// Starts `hawk serve --listen LISTEN ARGS` (port 0: a free one).
pub(crate) fn start_server(listen: &str, args: &[&str]) -> Running {
    start_server_with(listen, args, &[])
}

/// [`start_server`] with environment variables set.
fn start_server_with(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut server = Server(
        crate::helpers::hawk()
            .args(["serve", "--listen", listen])
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start hawk serve"),
    );
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    // "… on http://ADDR:PORT without auth…" or "… on http://ADDR:PORT: API keys…"
    let port: u16 = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.trim_end_matches(':').rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {banner:?}"));
    Running {
        server,
        stderr,
        banner,
        port,
    }
}

impl Running {
    /// Sends SIGTERM and waits: the exit must be clean. Returns the rest of the log.
    pub(crate) fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.server.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.server.0.wait().unwrap();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        assert!(exit.success(), "{exit:?}: {rest}");
        rest
    }
}

/// Two `hawk serve` processes on one PostgreSQL database, sixteen writers spread over
/// them: ids dense and each entry once, checkpoints signed by both with one key, and
/// `hawk verify` finds the log intact.
#[test]
fn two_servers_on_one_postgres_database_keep_one_verifiable_log() {
    let Some(db) = crate::helpers::PgDb::create() else {
        return;
    };
    let url = db.url();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hawk.key");
    let key = key.to_str().unwrap();
    let args = [
        "--db",
        &url,
        "--key-file",
        key,
        "--checkpoint-entries",
        "50",
    ];
    let a = start_server("127.0.0.1:0", &args);
    let b = start_server("127.0.0.1:0", &args);
    let (a_port, b_port) = (a.port, b.port);

    const WRITERS: usize = 16;
    const EACH: usize = 25;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let port = if w % 2 == 0 { a_port } else { b_port };
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|n| {
                        let body = format!(
                            r#"{{"action":"writer.{w}","account_id":"acct{}","metadata":{{"n":{n}}}}}"#,
                            w % 4
                        );
                        let (status, reply) = http(port, "POST", "/v1/entries", &body);
                        assert_eq!(status, 201, "{reply}");
                        let entry = parse_json(&reply);
                        (entry["id"].as_u64().unwrap(), w, n)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(u64, usize, usize)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    acked.sort();
    let total = WRITERS * EACH;
    let ids: Vec<u64> = acked.iter().map(|&(id, _, _)| id).collect();
    assert_eq!(
        ids,
        (1..=total as u64).collect::<Vec<_>>(),
        "dense, each once"
    );

    a.stop();
    b.stop();

    let hawk = |extra: &[&str]| {
        let out = crate::helpers::hawk()
            .args(extra)
            .args(["--db", &url, "--key-file", key])
            .output()
            .unwrap();
        crate::helpers::succeeded(&out, extra)
    };
    let report = parse_json(&hawk(&["verify", "--json"]));
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["entries"], total);
    assert_eq!(report["signatures_checked"], true);
    assert!(report["checkpoints"].as_u64().unwrap() >= 2, "{report}");
    let note = hawk(&["checkpoint", "export"]);
    assert_eq!(
        note.lines().nth(1),
        Some(total.to_string().as_str()),
        "{note}"
    );
    let proof = parse_json(&hawk(&["prove", "123", "--json"]));
    assert_eq!(proof["tree_size"], total, "{proof}");
}

/// Whether the server closed `stream` within `within` (rather than leaving it open).
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn slow_and_silent_connections_are_closed_and_healthz_still_answers() {
    // Broke: connections trickling their headers and silent ones were never closed,
    // so a few hundred of them held the server's sockets for as long as they liked.
    let log = Log::new();
    let running = start_server(
        "127.0.0.1:0",
        &[
            "--db",
            log.url(),
            "--header-read-timeout",
            "1",
            "--idle-timeout",
            "2",
            "--max-connections",
            "8",
        ],
    );
    let port = running.port;
    let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Every place taken: four trickle their headers, four send nothing.
    let mut silent: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    let trickling: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    let mut trickled: Vec<TcpStream> = trickling.iter().map(|s| s.try_clone().unwrap()).collect();
    let trickler = std::thread::spawn(move || {
        for s in &mut trickled {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
        }
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(200));
            for s in &mut trickled {
                let _ = s.write_all(b"X-Slow: a\r\n");
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));

    // A new client waits for a place, which the timeouts free.
    let asked = Instant::now();
    let (status, body) = http(port, "GET", "/healthz", "");
    assert_eq!(status, 200, "{body}");
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(4), "/healthz took {waited:?}");

    for s in silent.iter_mut().chain(
        trickling
            .iter()
            .map(|s| s.try_clone().unwrap())
            .collect::<Vec<_>>()
            .iter_mut(),
    ) {
        assert!(
            closed_by_server(s, Duration::from_secs(3)),
            "a slow connection is still open"
        );
    }
    trickler.join().unwrap();

    // A kept-alive connection left idle after its response is closed too.
    let mut idle = connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = Vec::new();
    idle.read_to_end(&mut reply)
        .expect("the idle connection is closed within 5 s");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    running.stop();
}

#[test]
fn the_access_log_names_each_request_and_never_its_key() {
    // Broke: requests went unlogged (only start and stop), and at debug level the
    // request trace printed the whole URI, `?key=` included.
    let log = Log::new();
    let created = log.json(&["keys", "create", "--scope", "read"]);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_u64().unwrap();
    let running = start_server_with(
        "127.0.0.1:0",
        &["--db", log.url(), "--log-format", "json"],
        &[("RUST_LOG", "info,hawk_server=debug")],
    );
    let port = running.port;
    assert_eq!(get_with_key(port, "/v1/accounts/acme/entries", &key), 200);
    let (status, _) = http(port, "GET", &format!("/v1/export?format=csv&key={key}"), "");
    assert_eq!(status, 200);
    assert_eq!(http(port, "GET", "/v1/entries", "").0, 401);
    let banner = running.banner.clone();
    let rest = running.stop();
    let logged = format!("{banner}{rest}");
    assert!(!logged.contains(&key), "the key was logged:\n{logged}");
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "hawk_server::access" && l["level"] == "INFO")
        .collect();
    let find = |route: &str| {
        access
            .iter()
            .find(|l| l["route"] == route)
            .unwrap_or_else(|| panic!("no access line for {route}:\n{logged}"))
    };
    let account = find("/v1/accounts/{account_id}/entries");
    assert_eq!(account["method"], "GET");
    assert_eq!(account["status"], 200);
    assert_eq!(account["key_id"], id);
    assert!(account["duration_ms"].as_f64().is_some(), "{account}");
    let export = find("/v1/export");
    assert_eq!(
        (export["status"].as_u64(), export["key_id"].as_u64()),
        (Some(200), Some(id))
    );
    let refused = find("/v1/entries");
    assert_eq!(refused["status"], 401);
    assert!(refused.get("key_id").is_none(), "{refused}");
    // The debug line with the URI has the key redacted.
    assert!(
        lines.iter().any(|l| l["uri"]
            .as_str()
            .is_some_and(|u| u == "/v1/export?format=csv&key=REDACTED")),
        "{logged}"
    );
}
