//! What `hawk sinks` prints: a table (or `GET /v1/sinks`'s JSON), never a secret but
//! the one made at `add`, printed once.

use std::io::{self, Write};

use hawk_audit::time::OffsetDateTime;
use hawk_audit::{Sink, SinkState, SinkStatus};
use serde::Serialize;

use super::Out;
use super::table::{Column, col, count, grouped, visible};

const SINK_COLUMNS: [Column; 7] = [
    col("name", false, 1),
    col("target", false, 3),
    col("state", false, 0),
    col("cursor", true, 0),
    col("lag", true, 0),
    col("age", true, 0),
    col("last error", false, 3),
];

/// `GET /v1/sinks`'s body.
#[derive(Serialize)]
struct Sinks<'a> {
    sinks: &'a [SinkStatus],
}

/// `POST /v1/sinks`'s body: the sink, and its secret when one was made.
#[derive(Serialize)]
struct NewSink<'a> {
    #[serde(flatten)]
    sink: &'a Sink,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

/// Where a sink delivers, in a few words: `webhook https://…`, `splunk-hec https://…`.
fn target(sink: &Sink) -> String {
    let setting = |name: &str| sink.settings[name].as_str().unwrap_or_default().to_owned();
    match sink.kind.as_str() {
        "webhook" => match setting("format").as_str() {
            "standard" => format!("webhook {}", setting("url")),
            format => format!("{format} {}", setting("url")),
        },
        "nats" => format!("nats {} {}", setting("url"), setting("subject")),
        "s3" => format!("s3://{}/{}", setting("bucket"), setting("prefix")),
        kind => format!("{kind} {}", sink.settings),
    }
}

/// How long ago `at` was, in its largest unit: `45s`, `12m`, `3h`, `9d`.
fn age(at: OffsetDateTime) -> String {
    let seconds = (OffsetDateTime::now_utc() - at).whole_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn state(sink: &Sink) -> &'static str {
    match (sink.state, sink.failures) {
        (SinkState::Paused, _) => "paused",
        (SinkState::Active, 0) => "active",
        (SinkState::Active, _) => "failing",
    }
}

impl Out {
    /// Every sink with its lag.
    pub(crate) fn sinks(&mut self, statuses: &[SinkStatus]) -> io::Result<()> {
        if self.json {
            return self.json_line(&Sinks { sinks: statuses });
        }
        let rows: Vec<_> = statuses
            .iter()
            .map(|SinkStatus { sink, lag }| {
                let error = match (sink.failures, &sink.last_error) {
                    (0, _) | (_, None) => String::new(),
                    (n, Some(error)) => format!("{n}× {}", visible(error)),
                };
                [
                    visible(&sink.name).into_owned(),
                    visible(&target(sink)).into_owned(),
                    state(sink).into(),
                    sink.cursor.to_string(),
                    grouped(lag.entries),
                    lag.oldest.map(age).unwrap_or_default(),
                    error,
                ]
            })
            .collect();
        self.table(&SINK_COLUMNS, &rows)?;
        writeln!(self.w, "{}", count(statuses.len() as u64, "sink", "sinks"))
    }

    /// A sink just added, with the secret made for it, shown this once.
    pub(crate) fn new_sink(&mut self, sink: &Sink, secret: Option<&str>) -> io::Result<()> {
        if self.json {
            return self.json_line(&NewSink { sink, secret });
        }
        writeln!(
            self.w,
            "added sink {} ({}), delivering the entries after {}",
            visible(&sink.name),
            visible(&target(sink)),
            sink.cursor
        )?;
        if let Some(secret) = secret {
            writeln!(self.w, "signing secret: {secret}")?;
            let _ = writeln!(
                io::stderr(),
                "the signing secret is not shown again: give it to the receiver now"
            );
        }
        Ok(())
    }

    /// A sink removed.
    pub(crate) fn removed_sink(&mut self, name: &str) -> io::Result<()> {
        if self.json {
            return self.json_line(&serde_json::json!({ "removed": name }));
        }
        writeln!(self.w, "removed sink {}", visible(name))
    }

    /// A sink after a change (pause, resume, replay).
    pub(crate) fn sink(&mut self, sink: &Sink) -> io::Result<()> {
        if self.json {
            return self.json_line(sink);
        }
        writeln!(
            self.w,
            "sink {}: {}, cursor {}",
            visible(&sink.name),
            state(sink),
            sink.cursor
        )
    }
}
