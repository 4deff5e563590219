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

/// The S3-compatible server the archive tests write to (`HAWK_TEST_S3`, which
/// `.ci/run` starts); `None`, loudly, without one, and a failure under `CI`.
fn s3_endpoint() -> Option<String> {
    match std::env::var("HAWK_TEST_S3") {
        Ok(endpoint) => Some(endpoint),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("HAWK_TEST_S3 is not set under CI: .ci/run starts moto's server for it")
        }
        Err(_) => {
            eprintln!("SKIPPED: set HAWK_TEST_S3 to an S3-compatible server (moto_server -p 5533)");
            None
        }
    }
}

#[test]
fn an_s3_archive_holds_every_entry_beside_a_checkpoint_that_verifies_it() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let bucket: String = format!(
        "hawk-test-{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let created = runtime
        .block_on(
            reqwest::Client::new()
                .put(format!("{endpoint}/{bucket}"))
                .send(),
        )
        .unwrap();
    assert!(
        created.status().is_success(),
        "create the bucket: {}",
        created.status()
    );

    let log = Log::new();
    log.track("first", &[]);
    log.ok(&[
        "sinks",
        "add",
        "s3",
        &format!("s3://{bucket}/hawk/prod"),
        "--endpoint",
        &endpoint,
        "--region",
        "us-east-1",
        "--batch",
        "40",
        "--close-seconds",
        "1",
        "--from",
        "1",
    ]);
    let mut serve = log.cmd(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--checkpoint-entries",
        "25",
        "--checkpoint-interval",
        "1",
    ]);
    serve
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut server = serve.spawn().unwrap();
    for i in 0..150 {
        log.track(&format!("archived.{i}"), &[]);
    }
    let head = log.total_count();
    let started = Instant::now();
    while log.json(&["sinks", "list"])["sinks"][0]["cursor"] != head {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the archive catches up"
        );
        thread::sleep(Duration::from_millis(100));
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // Read the archive back as a verifier would, with nothing but the bucket.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let objects = runtime.block_on(archive(&store));
    let mut batches = Vec::new();
    for (key, body) in &objects {
        let Some(name) = key.strip_suffix(".ndjson.gz") else {
            continue;
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        let batch: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (first, last) = (
            batch[0]["id"].as_u64().unwrap(),
            batch.last().unwrap()["id"].as_u64().unwrap(),
        );
        let day = &batch[0]["inserted_at"].as_str().unwrap()[..10];
        assert_eq!(
            name,
            format!("hawk/prod/{}/{first}-{last}", day.replace('-', "/"))
        );
        batches.push((first, name.to_owned(), batch));
    }
    batches.sort_by_key(|(first, ..)| *first);
    let mut entries: Vec<serde_json::Value> = Vec::new();
    let mut checked = 0;
    for (_, name, batch) in batches {
        let last = batch.last().unwrap()["id"].as_u64().unwrap();
        entries.extend(batch);
        // Beside it, a signed checkpoint covering its last entry, whose root the
        // archive's own leaf hashes recompute.
        let note = objects
            .get(&format!("{name}.checkpoint"))
            .unwrap_or_else(|| panic!("{name}.checkpoint is missing"));
        let note = String::from_utf8(note.clone()).unwrap();
        let mut lines = note.lines();
        lines.next();
        let size: u64 = lines.next().unwrap().parse().unwrap();
        let root = lines.next().unwrap().to_owned();
        assert!(size >= last, "{name}: a checkpoint of {size} entries");
        checked += usize::from(size <= entries.len() as u64 && verify_root(&entries, size, &root));
    }
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=head).collect::<Vec<_>>(),
        "every entry once, in order"
    );
    assert!(
        checked > 0,
        "some checkpoint was recomputed from the archive alone"
    );
}

/// Every object of the bucket, by key.
async fn archive(
    store: &impl object_store::ObjectStore,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use futures_util::TryStreamExt as _;
    use object_store::ObjectStoreExt as _;
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut objects = std::collections::BTreeMap::new();
    for meta in listed {
        let body = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        objects.insert(meta.location.to_string(), body.to_vec());
    }
    objects
}

/// Whether the first `size` archived entries' leaf hashes make the tree whose root
/// is `root` (base64, as the checkpoint says).
fn verify_root(entries: &[serde_json::Value], size: u64, root: &str) -> bool {
    let mut tree = hawk_audit::merkle::Frontier::new();
    for entry in &entries[..size as usize] {
        let hex = entry["hash"].as_str().unwrap();
        let leaf: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        tree.push(leaf.try_into().unwrap());
    }
    use base64::Engine as _;
    let computed = base64::engine::general_purpose::STANDARD.encode(tree.root());
    assert_eq!(
        computed, root,
        "the archive's leaves recompute the signed root"
    );
    true
}
