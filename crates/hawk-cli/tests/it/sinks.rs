//! `hawk sinks` manages the log streams; `hawk serve` delivers them, and a server
//! killed (SIGKILL) at random moments while a receiver fails, answers slowly and
//! writers keep writing loses no entry: every one arrives, in order, signed, and only
//! a batch in flight at a kill arrives twice, whole and under its id.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hawk_testing::receiver::Receiver;
use serde_json::json;

use crate::crash::{Server, post};
use crate::helpers::{Log, failed};

#[test]
fn sinks_are_added_listed_paused_replayed_and_removed() {
    let log = Log::new();
    log.track("a", &[]);
    let added = log.json(&[
        "sinks",
        "add",
        "webhook",
        "http://127.0.0.1:9/hook",
        "--name",
        "siem",
        "-q",
        "-is:system",
    ]);
    assert_eq!(added["name"], "siem");
    assert_eq!(added["cursor"], 1, "from the head: only new entries");
    let secret = added["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{added}");

    let human = log.ok(&[
        "sinks",
        "add",
        "webhook",
        "https://dd.example/v2/logs",
        "--format",
        "datadog",
        "--token",
        "k",
        "--from",
        "0",
    ]);
    assert!(human.starts_with("added sink webhook-"), "{human}");
    assert!(
        !human.contains("secret"),
        "a token given is not printed: {human}"
    );

    let listed = log.json(&["sinks", "list"]);
    let sinks = listed["sinks"].as_array().unwrap();
    assert_eq!(sinks.len(), 2);
    assert!(
        !listed.to_string().contains("whsec_"),
        "listing shows no secret"
    );
    assert!(!listed.to_string().contains("\"k\""), "nor a token");
    let siem = sinks.iter().find(|s| s["name"] == "siem").unwrap();
    assert_eq!(siem["lag"], json!({"entries": 0, "oldest": null}));
    let dd = sinks.iter().find(|s| s["name"] != "siem").unwrap();
    assert_eq!(dd["lag"]["entries"], 1, "from 0: the one entry is owed");
    assert_eq!(dd["settings"]["format"], "datadog");
    let table = log.ok(&["sinks", "list"]);
    assert!(table.contains("webhook http://127.0.0.1:9"), "{table}");
    assert!(table.contains("2 sinks"), "{table}");

    assert!(log.ok(&["sinks", "pause", "siem"]).contains("paused"));
    assert!(log.ok(&["sinks", "resume", "siem"]).contains("active"));
    assert!(
        log.ok(&["sinks", "replay", "siem", "--from", "1"])
            .contains("cursor 0")
    );
    log.ok(&["sinks", "remove", "siem"]);
    assert_eq!(
        log.json(&["sinks", "list"])["sinks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Bad input names its field and rule, exits 2 and writes nothing.
    let cases: &[(&[&str], &str)] = &[
        (
            &["sinks", "add", "webhook", "ftp://x/y"],
            "url: must be an absolute http(s) URL",
        ),
        (
            &["sinks", "add", "webhook", "http://x", "--name", "a b"],
            "name: may hold only",
        ),
        (
            &["sinks", "add", "webhook", "http://x", "-q", "colour:red"],
            "q: at character 1",
        ),
        (
            &["sinks", "add", "webhook", "http://x", "--batch", "0"],
            "batch: must be between 1 and 10000",
        ),
        (
            &[
                "sinks",
                "add",
                "webhook",
                "http://x",
                "--format",
                "splunk-hec",
            ],
            "token: is required",
        ),
        (
            &["sinks", "add", "webhook", "http://x", "--format", "xml"],
            "format: must be standard",
        ),
        (
            &["sinks", "add", "nats", "audit.>"],
            "subject: must be a NATS subject",
        ),
        (
            &["sinks", "add", "nats", "audit", "--url", "http://x"],
            "url: must be a nats://",
        ),
    ];
    for (args, want) in cases {
        let message = failed(&log.run(args), 2);
        assert!(message.starts_with(want), "hawk {args:?}: {message:?}");
    }
    assert_eq!(
        log.json(&["sinks", "list"])["sinks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let message = failed(&log.run(&["sinks", "pause", "nope"]), 1);
    assert!(message.contains("no sink named nope"), "{message}");
}

#[test]
fn a_server_killed_while_delivering_delivers_every_entry_after_a_restart() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(Receiver::start());
    receiver.fail_percent(20);
    receiver.slow(30);
    let log = Log::new();
    let url = receiver.url();
    let added = log.json(&[
        "sinks", "add", "webhook", &url, "--name", "siem", "--batch", "7", "--from", "0",
    ]);
    receiver.expect_signed_with(added["secret"].as_str().unwrap().to_owned());

    let mut kills = 0;
    for round in 0..6u64 {
        let server = Server::start_with(&log, &["--sink-lease", "1"]);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (port, stop) = (server.port, Arc::clone(&stop));
                thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body = json!({"action": format!("r{round}.w{w}.{n}")}).to_string();
                        if post(port, "/v1/entries", &body).is_none() {
                            return;
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(150 + round * 60));
        server.kill();
        kills += 1;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }

    // A last server delivers whatever is owed.
    let head = log.total_count();
    assert!(head > 0);
    let server = Server::start_with(&log, &["--sink-lease", "1"]);
    let started = Instant::now();
    loop {
        let mut ids = receiver.ids();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() as u64 == head {
            assert_eq!(ids, (1..=head).collect::<Vec<_>>());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} of {head} entries arrived",
            ids.len()
        );
        thread::sleep(Duration::from_millis(50));
    }
    server.kill();

    // In order; anything twice is a batch sent again whole, under its own id.
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut newest = 0;
    let mut again = 0;
    for batch in receiver.accepted() {
        assert!(batch.ids.windows(2).all(|w| w[0] < w[1]), "{batch:?}");
        if let Some(before) = seen.get(&batch.id) {
            assert_eq!(*before, batch.ids, "{} sent again changed", batch.id);
            again += 1;
            continue;
        }
        assert_eq!(batch.ids[0], newest + 1, "{} skips or repeats", batch.id);
        newest = *batch.ids.last().unwrap();
        seen.insert(batch.id.clone(), batch.ids);
    }
    eprintln!(
        "{head} entries over {kills} kills: {} batches, {again} sent again, {} refused",
        seen.len(),
        receiver.refused()
    );
    assert!(receiver.refused() > 0);
}
