//! The `nats` kind: one JetStream message per entry on a subject, the entry as the API
//! shows it, acknowledged by the stream before the cursor moves.
//!
//! `Nats-Msg-Id` is the entry's id (after a replay, `ID.EPOCH`), so JetStream's
//! duplicate window drops what a retry or a crash sends twice, and a replay is not
//! taken for one. A subject no stream captures fails (no responders) and is retried,
//! like a receiver that is down.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use hawk_audit::{Invalid, Rule};

use crate::Batch;

/// The server a sink publishes to when it names none.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// Checks a subject to publish to: a literal subject (no wildcards, no white space).
pub fn check_subject(subject: &str) -> Result<(), Invalid> {
    let tokens_ok = !subject.is_empty()
        && subject
            .split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">")
        && !subject.chars().any(|c| c.is_whitespace() || c.is_control());
    if !tokens_ok {
        return Err(Invalid::new(
            "subject",
            Rule::Malformed(
                "must be a NATS subject without wildcards or white space, e.g. audit.entries",
            ),
        ));
    }
    if subject.len() > 255 {
        return Err(Invalid::new(
            "subject",
            Rule::TooLong {
                max: 255,
                unit: "bytes",
            },
        ));
    }
    Ok(())
}

/// Checks a server URL: `nats://`, `tls://`, `ws://` or `wss://` with a host.
pub fn check_url(url: &str) -> Result<(), Invalid> {
    let ok = reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "nats" | "tls" | "ws" | "wss") && u.host_str().is_some()
    });
    if !ok {
        return Err(Invalid::new(
            "url",
            Rule::Malformed("must be a nats:// (or tls://) URL with a host"),
        ));
    }
    Ok(())
}

/// Publishes batches to one subject.
#[derive(Debug, Clone)]
pub(crate) struct Nats {
    context: jetstream::Context,
    subject: String,
}

impl Nats {
    pub(crate) async fn connect(url: &str, subject: &str) -> Result<Nats, String> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)))
            .connect(url)
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        Ok(Nats {
            context: jetstream::new(client),
            subject: subject.to_owned(),
        })
    }

    /// Publishes every entry of `batch`, then waits for every acknowledgement.
    pub(crate) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let mut acks = Vec::with_capacity(batch.entries.len());
        for entry in &batch.entries {
            let payload = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
            let id = match batch.epoch {
                0 => entry.id.to_string(),
                epoch => format!("{}.{epoch}", entry.id),
            };
            let message = PublishMessage::build()
                .payload(payload.into())
                .message_id(id);
            let ack = self
                .context
                .send_publish(self.subject.clone(), message)
                .await
                .map_err(|e| format!("publishing to {}: {e}", self.subject))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| {
                format!(
                    "JetStream did not acknowledge a message on {}: {e}",
                    self.subject
                )
            })?;
        }
        Ok(())
    }
}
