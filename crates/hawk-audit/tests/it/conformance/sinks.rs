//! Log streams' state: sinks added, listed without their secrets, paused, replayed
//! and removed; one holder at a time; a cursor that moves only from where it was.

use std::time::Duration;

use hawk_audit::{Error, NewSink, SinkState};
use serde_json::json;

use crate::helpers::{TestDb, conformance};

conformance!(
    sinks_are_added_listed_paused_replayed_and_removed,
    one_holder_at_a_time_and_the_cursor_moves_only_from_where_it_was,
);

fn webhook(name: &str) -> NewSink {
    NewSink {
        name: name.into(),
        kind: "webhook".into(),
        settings: json!({"url": "http://127.0.0.1:9/hook"}),
        secret: Some("whsec_c2VjcmV0".into()),
        query: Some("-is:system".into()),
        batch: 100,
        after: None,
    }
}

fn field(err: Error) -> String {
    err.as_invalid()
        .map(|i| i.field().to_owned())
        .unwrap_or_else(|| err.to_string())
}

async fn sinks_are_added_listed_paused_replayed_and_removed(db: TestDb) {
    let audit = db.open().await;
    for _ in 0..3 {
        audit.track(None, "a", None).await.unwrap();
    }
    let added = audit.add_sink(webhook("siem")).await.unwrap();
    assert_eq!(added.cursor, 3, "a new sink starts at the head");
    assert_eq!(added.state, SinkState::Active);
    assert_eq!(added.secret.as_deref(), Some("whsec_c2VjcmV0"));
    let mut backfill = webhook("lake");
    backfill.after = Some(0);
    backfill.query = None;
    let lake = audit.add_sink(backfill).await.unwrap();
    assert_eq!(lake.cursor, 0);

    // Lag: what the filter keeps above the cursor, and when the oldest was recorded.
    let first = audit.entries_after(0, 1, None).await.unwrap().remove(0);
    let lag = audit.sink_lag(&lake).await.unwrap();
    assert_eq!((lag.entries, lag.oldest), (3, Some(first.inserted_at)));
    let mut none = added.clone();
    none.cursor = 0;
    let lag = audit.sink_lag(&none).await.unwrap();
    assert_eq!(
        (lag.entries, lag.oldest),
        (0, None),
        "-is:system keeps none of them"
    );

    // Another handle (another process) sees both, by name; listing never shows the
    // secret.
    let other = db.open().await;
    let names: Vec<_> = other
        .sinks()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["lake", "siem"]);
    let listed = serde_json::to_string(&other.sinks().await.unwrap()).unwrap();
    assert!(!listed.contains("whsec_"), "{listed}");
    assert!(listed.contains("\"settings\":{\"url\":\"http://127.0.0.1:9/hook\"}"));

    // Bad input names its field and writes nothing.
    let bad = [
        (
            NewSink {
                name: "".into(),
                ..webhook("x")
            },
            "name",
        ),
        (
            NewSink {
                name: "a b".into(),
                ..webhook("x")
            },
            "name",
        ),
        (
            NewSink {
                name: "x".repeat(65),
                ..webhook("x")
            },
            "name",
        ),
        (webhook("siem"), "name"),
        (
            NewSink {
                query: Some("colour:red".into()),
                ..webhook("x")
            },
            "q",
        ),
        (
            NewSink {
                batch: 0,
                ..webhook("x")
            },
            "batch",
        ),
        (
            NewSink {
                batch: 10_001,
                ..webhook("x")
            },
            "batch",
        ),
        (
            NewSink {
                kind: "".into(),
                ..webhook("x")
            },
            "kind",
        ),
    ];
    for (sink, want) in bad {
        let name = sink.name.clone();
        assert_eq!(
            field(audit.add_sink(sink).await.unwrap_err()),
            want,
            "{name:?}"
        );
    }
    assert_eq!(audit.sinks().await.unwrap().len(), 2);

    let paused = audit.set_sink_paused("siem", true).await.unwrap();
    assert_eq!(paused.state, SinkState::Paused);
    assert!(
        audit
            .lease_sink("siem", "h1", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "a paused sink is not delivered"
    );
    let resumed = audit.set_sink_paused("siem", false).await.unwrap();
    assert_eq!(resumed.state, SinkState::Active);
    assert_eq!(audit.replay_sink("siem", 2).await.unwrap().cursor, 1);
    assert_eq!(
        field(audit.replay_sink("siem", 0).await.unwrap_err()),
        "from"
    );

    audit.remove_sink("siem").await.unwrap();
    assert!(audit.sink("siem").await.unwrap().is_none());
    for err in [
        audit.remove_sink("siem").await.unwrap_err(),
        audit.set_sink_paused("siem", true).await.unwrap_err(),
        audit.replay_sink("siem", 1).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }
}

async fn one_holder_at_a_time_and_the_cursor_moves_only_from_where_it_was(db: TestDb) {
    let audit = db.open().await;
    let mut sink = webhook("siem");
    sink.after = Some(0);
    audit.add_sink(sink).await.unwrap();
    let ttl = Duration::from_secs(30);

    let held = audit.lease_sink("siem", "h1", ttl).await.unwrap().unwrap();
    assert_eq!(held.holder.as_deref(), Some("h1"));
    assert!(audit.lease_sink("siem", "h2", ttl).await.unwrap().is_none());
    assert!(
        audit.lease_sink("siem", "h1", ttl).await.unwrap().is_some(),
        "renewed"
    );

    // h1 sends 1..=10: recorded first, then the cursor moves from 0.
    assert!(!audit.begin_sink_batch("siem", "h2", 0, 10).await.unwrap());
    assert!(audit.begin_sink_batch("siem", "h1", 0, 10).await.unwrap());
    assert_eq!(
        audit.sink("siem").await.unwrap().unwrap().in_flight,
        Some(10)
    );
    audit
        .sink_failed("siem", "h1", "connection refused")
        .await
        .unwrap();
    let failing = audit.sink("siem").await.unwrap().unwrap();
    assert_eq!(failing.failures, 1);
    assert_eq!(failing.last_error.as_deref(), Some("connection refused"));
    assert!(failing.last_error_at.is_some());
    assert!(!audit.advance_sink("siem", "h2", 0, 10, 10).await.unwrap());
    assert!(!audit.advance_sink("siem", "h1", 5, 10, 10).await.unwrap());
    assert!(audit.advance_sink("siem", "h1", 0, 10, 10).await.unwrap());
    let moved = audit.sink("siem").await.unwrap().unwrap();
    assert_eq!(
        (
            moved.cursor,
            moved.in_flight,
            moved.delivered,
            moved.failures
        ),
        (10, None, 10, 0)
    );

    // A replay in between makes the holder's next move fail: it starts again.
    assert!(audit.begin_sink_batch("siem", "h1", 10, 20).await.unwrap());
    audit.replay_sink("siem", 5).await.unwrap();
    assert!(!audit.advance_sink("siem", "h1", 10, 20, 10).await.unwrap());
    let replayed = audit.sink("siem").await.unwrap().unwrap();
    assert_eq!(
        (replayed.cursor, replayed.in_flight, replayed.epoch),
        (4, None, 1)
    );

    // A released lease, or an expired one, is another holder's to take.
    audit.release_sink("siem", "h1").await.unwrap();
    assert!(
        audit
            .lease_sink("siem", "h2", Duration::ZERO)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taken = audit.lease_sink("siem", "h3", ttl).await.unwrap().unwrap();
    assert_eq!(taken.holder.as_deref(), Some("h3"));
    assert!(!audit.advance_sink("siem", "h2", 4, 9, 5).await.unwrap());
}
