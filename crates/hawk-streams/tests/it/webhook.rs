//! Webhook sinks against a real receiver: every entry arrives, in order, signed; a
//! failing receiver gets the same batches again until it takes them; pauses, replays,
//! filters, crashes between a send and its acknowledgement, and two processes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hawk_audit::{Audit, NewEntry, Ref};
use hawk_streams::webhook::Format;
use hawk_streams::{NewKind, Streams, StreamsOptions};

use crate::{Log, both_engines};
use hawk_testing::receiver::Receiver;

both_engines!(
    every_entry_arrives_in_order_and_signed_through_a_failing_receiver,
    a_batch_in_flight_at_a_crash_is_sent_again_whole_under_its_id,
    paused_sinks_wait_and_replays_deliver_again,
    a_filter_keeps_its_entries_and_the_cursor_passes_the_rest,
    two_processes_deliver_each_batch_once,
    presets_shape_the_delivery_for_splunk_and_datadog,
);

/// Quick retries and polls, so tests do not wait for production timings.
fn quick(holder: &str) -> StreamsOptions {
    StreamsOptions {
        holder: holder.into(),
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        retry_first: Duration::from_millis(10),
        retry_cap: Duration::from_millis(100),
    }
}

/// Adds a standard webhook sink to `receiver`; its signing secret.
async fn add(
    audit: &Audit,
    name: &str,
    receiver_url: String,
    query: Option<&str>,
    batch: u64,
) -> String {
    let kind = NewKind::Webhook {
        url: receiver_url,
        format: Format::Standard,
        token: None,
    };
    let (sink, secret) = kind
        .into_sink(name.into(), query.map(Into::into), batch, Some(0))
        .unwrap();
    audit.add_sink(sink).await.unwrap();
    secret.expect("a standard webhook's secret is made and shown once")
}

/// Writes `n` entries from 8 concurrent writers.
async fn write(audit: &Audit, n: u64) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let audit = audit.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(8) {
                let actor = Ref::new("user", i % 5);
                audit
                    .record(NewEntry::new(format!("a.{}", i % 3)).actor(Some(&actor)))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Asserts that ids arrived in order: each batch's ids ascend, every batch starts
/// after the newest id accepted before it unless it repeats an earlier batch whole
/// (same delivery id, same ids).
fn assert_in_order(receiver: &Receiver) {
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut newest = 0;
    for batch in receiver.accepted() {
        assert!(batch.ids.windows(2).all(|w| w[0] < w[1]), "{batch:?}");
        if let Some(before) = seen.get(&batch.id) {
            assert_eq!(*before, batch.ids, "a batch sent again is the same batch");
            continue;
        }
        let first = *batch.ids.first().expect("no empty batch is sent");
        assert!(first > newest, "{} after {newest}", batch.id);
        newest = *batch.ids.last().unwrap();
        seen.insert(batch.id.clone(), batch.ids.clone());
    }
}

async fn every_entry_arrives_in_order_and_signed_through_a_failing_receiver(log: Log) {
    let audit = log.open().await;
    let receiver = Receiver::start().await;
    let secret = add(&audit, "siem", receiver.url(), None, 25).await;
    receiver.expect_signed_with(secret);
    receiver.fail_percent(30);
    let streams = Streams::start(audit.clone(), quick("p1"));
    write(&audit, 400).await;
    let ids = receiver.wait_for(400).await;
    assert_eq!(ids, (1..=400).collect::<Vec<_>>());
    assert!(
        receiver.refused() > 0,
        "the receiver refused some deliveries"
    );
    assert_in_order(&receiver);
    streams.stop().await;
    let sink = audit.sink("siem").await.unwrap().unwrap();
    assert_eq!((sink.cursor, sink.in_flight, sink.failures), (400, None, 0));
    assert!(sink.delivered >= 400);
    assert!(sink.last_error.unwrap().contains("503"));
    assert_eq!(sink.holder, None, "a stopped process gives its leases up");
}

async fn a_batch_in_flight_at_a_crash_is_sent_again_whole_under_its_id(log: Log) {
    let audit = log.open().await;
    let receiver = Receiver::start().await;
    let secret = add(&audit, "siem", receiver.url(), None, 100).await;
    receiver.expect_signed_with(secret);
    write(&audit, 5).await;
    // A process leased the sink, recorded entries 1..=3 in flight, and died (its
    // lease runs out at once); entries 4 and 5 came after.
    assert!(
        audit
            .lease_sink("siem", "dead", Duration::ZERO)
            .await
            .unwrap()
            .is_some()
    );
    assert!(audit.begin_sink_batch("siem", "dead", 0, 3).await.unwrap());
    tokio::time::sleep(Duration::from_millis(2)).await;

    let streams = Streams::start(audit.clone(), quick("p1"));
    receiver.wait_for(5).await;
    streams.stop().await;
    let batches = receiver.accepted();
    assert_eq!(
        batches[0].ids,
        [1, 2, 3],
        "exactly the batch in flight, first"
    );
    assert_eq!(batches[0].id, "msg_siem_0_0_3");
    assert_eq!(batches[1].ids, [4, 5]);
    assert_eq!(batches[1].id, "msg_siem_0_3_5");
    let first = audit.entries_after(0, 1, None).await.unwrap().remove(0);
    assert_eq!(
        batches[0].body["entries"][0],
        serde_json::to_value(&first).unwrap(),
        "each entry as the API shows it"
    );
}

async fn paused_sinks_wait_and_replays_deliver_again(log: Log) {
    let audit = log.open().await;
    let receiver = Receiver::start().await;
    add(&audit, "siem", receiver.url(), None, 1000).await;
    let streams = Streams::start(audit.clone(), quick("p1"));
    write(&audit, 10).await;
    receiver.wait_for(10).await;

    audit.set_sink_paused("siem", true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = receiver.ids().len();
    write(&audit, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.ids().len(),
        before,
        "a paused sink delivers nothing"
    );
    let paused = audit.sink("siem").await.unwrap().unwrap();
    assert_eq!(paused.cursor, 10);

    audit.set_sink_paused("siem", false).await.unwrap();
    assert_eq!(receiver.wait_for(20).await, (1..=20).collect::<Vec<_>>());

    // A replay from 15 sends 15..=20 again, in a batch of a new epoch.
    audit.replay_sink("siem", 15).await.unwrap();
    let started = std::time::Instant::now();
    while receiver.ids().iter().filter(|&&id| id == 20).count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the replay arrives"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    streams.stop().await;
    let last = receiver.accepted().pop().unwrap();
    assert_eq!(last.ids, [15, 16, 17, 18, 19, 20]);
    assert!(last.id.starts_with("msg_siem_1_14_"), "{}", last.id);
    assert_in_order_within_epochs(&receiver);
}

/// Each epoch's batches (the part of the id before the cursor) arrive in order.
fn assert_in_order_within_epochs(receiver: &Receiver) {
    let mut newest: HashMap<String, u64> = HashMap::new();
    for batch in receiver.accepted() {
        let epoch: String = batch.id.split('_').take(3).collect::<Vec<_>>().join("_");
        let newest = newest.entry(epoch).or_default();
        assert!(batch.ids[0] > *newest, "{batch:?}");
        *newest = *batch.ids.last().unwrap();
    }
}

async fn a_filter_keeps_its_entries_and_the_cursor_passes_the_rest(log: Log) {
    let audit = log.open().await;
    let receiver = Receiver::start().await;
    add(
        &audit,
        "user-1",
        receiver.url(),
        Some("actor:user:1 -action:a.2"),
        1000,
    )
    .await;
    let streams = Streams::start(audit.clone(), quick("p1"));
    write(&audit, 60).await;
    // What the filter keeps, by a scan of the whole log.
    let want: Vec<u64> = audit
        .entries_after(0, 1000, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor_id.as_deref() == Some("1") && e.action != "a.2")
        .map(|e| e.id)
        .collect();
    assert_eq!(want.len(), 8);
    assert_eq!(receiver.wait_for(want.len()).await, want);
    // The cursor reaches the head though the last entries are not the filter's.
    let started = std::time::Instant::now();
    while audit.sink("user-1").await.unwrap().unwrap().cursor < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the cursor reaches 60"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    streams.stop().await;
    assert_eq!(receiver.ids(), want, "nothing else, nothing twice");
}

async fn two_processes_deliver_each_batch_once(log: Log) {
    let (one, two) = (log.open().await, log.open().await);
    let receiver = Receiver::start().await;
    add(&one, "siem", receiver.url(), None, 10).await;
    let first = Streams::start(one.clone(), quick("p1"));
    let second = Streams::start(two.clone(), quick("p2"));
    write(&one, 100).await;
    write(&two, 100).await;
    assert_eq!(receiver.wait_for(200).await, (1..=200).collect::<Vec<_>>());
    first.stop().await;
    second.stop().await;
    let ids = receiver.ids();
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), distinct.len(), "no entry delivered twice");
    assert_in_order(&receiver);
}

async fn presets_shape_the_delivery_for_splunk_and_datadog(log: Log) {
    let audit = log.open().await;
    let receiver = Receiver::start().await;
    for (name, format) in [("splunk", Format::SplunkHec), ("datadog", Format::Datadog)] {
        let kind = NewKind::Webhook {
            url: receiver.url(),
            format,
            token: Some(format!("{name}-token")),
        };
        let (sink, shown) = kind.into_sink(name.into(), None, 10, Some(0)).unwrap();
        assert_eq!(shown, None, "a token given is not shown back");
        audit.add_sink(sink).await.unwrap();
    }
    write(&audit, 3).await;
    let streams = Streams::start(audit.clone(), quick("p1"));
    let started = std::time::Instant::now();
    while receiver.accepted().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "both presets deliver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    streams.stop().await;
    for batch in receiver.accepted() {
        if batch.body.is_array() {
            // Datadog: an array of logs, the entry as the message.
            let logs = batch.body.as_array().unwrap();
            let ids: Vec<_> = logs
                .iter()
                .map(|l| l["message"]["id"].as_u64().unwrap())
                .collect();
            assert_eq!(ids, [1, 2, 3]);
            assert_eq!(logs[0]["ddsource"], "hawk");
        } else {
            // Splunk HEC: one event object per line.
            let events: Vec<serde_json::Value> = batch
                .raw
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let ids: Vec<_> = events
                .iter()
                .map(|e| e["event"]["id"].as_u64().unwrap())
                .collect();
            assert_eq!(ids, [1, 2, 3]);
            assert_eq!(events[0]["sourcetype"], "hawk:audit");
            assert!(events[0]["time"].as_f64().unwrap() > 1.7e9);
        }
    }
    let headers = receiver.all_headers();
    let auth: HashSet<_> = headers
        .iter()
        .filter_map(|h| h.get("authorization").or(h.get("dd-api-key")))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        auth,
        HashSet::from(["Splunk splunk-token".to_owned(), "datadog-token".to_owned()])
    );

    // A preset needs its token; a standard secret must be one.
    for (format, token) in [(Format::SplunkHec, None), (Format::Standard, Some("x"))] {
        let kind = NewKind::Webhook {
            url: receiver.url(),
            format,
            token: token.map(Into::into),
        };
        let err = kind.into_sink("x".into(), None, 10, None).unwrap_err();
        assert_eq!(err.field(), "token");
    }
}
