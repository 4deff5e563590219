//! NATS sinks against the real JetStream server on 127.0.0.1:4222: one message per
//! entry, in order, each acknowledged; what a crash sends twice is dropped by the
//! stream's duplicate window, under the entry's id.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use hawk_audit::NewEntry;
use hawk_streams::nats::DEFAULT_URL;
use hawk_streams::{NewKind, Streams, StreamsOptions};

use crate::{Log, both_engines};

both_engines!(
    every_entry_is_one_acknowledged_message_in_order,
    what_a_crash_sends_again_the_stream_drops_as_a_duplicate,
);

/// A JetStream context on the test server, or `None` (loudly) without one; under
/// `CI` a missing server fails the test.
async fn jetstream() -> Option<jetstream::Context> {
    match async_nats::connect(DEFAULT_URL).await {
        Ok(client) => Some(jetstream::new(client)),
        Err(err) if std::env::var_os("CI").is_some() => {
            panic!("NATS on {DEFAULT_URL} is unreachable under CI: {err}")
        }
        Err(err) => {
            eprintln!(
                "SKIPPED: NATS on {DEFAULT_URL} is unreachable ({err}); start nats-server -js"
            );
            None
        }
    }
}

/// A fresh stream capturing one fresh subject; its name and subject.
async fn fresh_stream(js: &jetstream::Context) -> (String, String) {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let tag: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let (name, subject) = (format!("HAWK_TEST_{tag}"), format!("hawk.test.{tag}"));
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .expect("create a test stream");
    (name, subject)
}

/// The entry ids of every message in stream `name`, in stream order (waits up to
/// 30 s for `want` of them).
async fn ids_in(js: &jetstream::Context, name: &str, want: u64) -> Vec<u64> {
    let started = std::time::Instant::now();
    let mut stream = js.get_stream(name).await.unwrap();
    loop {
        let count = stream.info().await.unwrap().state.messages;
        if count >= want {
            let mut ids = Vec::new();
            for seq in 1..=count {
                let message = stream.get_raw_message(seq).await.unwrap();
                let entry: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                let id = entry["id"].as_u64().unwrap();
                let msg_id = message
                    .headers
                    .get("Nats-Msg-Id")
                    .unwrap()
                    .as_str()
                    .to_owned();
                assert_eq!(msg_id, id.to_string(), "Nats-Msg-Id is the entry's id");
                ids.push(id);
            }
            return ids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{count} of {want} messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quick() -> StreamsOptions {
    StreamsOptions {
        holder: "p1".into(),
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        retry_first: Duration::from_millis(10),
        retry_cap: Duration::from_millis(100),
    }
}

async fn add(audit: &hawk_audit::Audit, subject: &str, batch: u64) {
    let kind = NewKind::Nats {
        subject: subject.into(),
        url: None,
    };
    let (sink, secret) = kind.into_sink("bus".into(), None, batch, Some(0)).unwrap();
    assert_eq!(secret, None);
    audit.add_sink(sink).await.unwrap();
}

async fn every_entry_is_one_acknowledged_message_in_order(log: Log) {
    let Some(js) = jetstream().await else { return };
    let (name, subject) = fresh_stream(&js).await;
    let audit = log.open().await;
    add(&audit, &subject, 16).await;
    let streams = Streams::start(audit.clone(), quick());
    for i in 0..100 {
        audit.record(NewEntry::new(format!("n.{i}"))).await.unwrap();
    }
    assert_eq!(ids_in(&js, &name, 100).await, (1..=100).collect::<Vec<_>>());
    streams.stop().await;
    let sink = audit.sink("bus").await.unwrap().unwrap();
    assert_eq!((sink.cursor, sink.delivered, sink.failures), (100, 100, 0));
    js.delete_stream(&name).await.unwrap();
}

async fn what_a_crash_sends_again_the_stream_drops_as_a_duplicate(log: Log) {
    let Some(js) = jetstream().await else { return };
    let (name, subject) = fresh_stream(&js).await;
    let audit = log.open().await;
    add(&audit, &subject, 100).await;
    for i in 0..10 {
        audit.record(NewEntry::new(format!("n.{i}"))).await.unwrap();
    }
    // A holder recorded 1..=6 in flight, published them, and died before moving the
    // cursor.
    assert!(
        audit
            .lease_sink("bus", "dead", Duration::ZERO)
            .await
            .unwrap()
            .is_some()
    );
    assert!(audit.begin_sink_batch("bus", "dead", 0, 6).await.unwrap());
    for entry in audit.entries_after(0, 6, None).await.unwrap() {
        let message = jetstream::message::PublishMessage::build()
            .payload(serde_json::to_vec(&entry).unwrap().into())
            .message_id(entry.id.to_string());
        js.send_publish(subject.clone(), message)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2)).await;

    let streams = Streams::start(audit.clone(), quick());
    let started = std::time::Instant::now();
    while audit.sink("bus").await.unwrap().unwrap().cursor < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the sink catches up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    streams.stop().await;
    assert_eq!(
        ids_in(&js, &name, 10).await,
        (1..=10).collect::<Vec<_>>(),
        "each once"
    );
    js.delete_stream(&name).await.unwrap();
}
