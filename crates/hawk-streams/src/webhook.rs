//! The `webhook` kind: a batch POSTed as JSON, signed as the Standard Webhooks
//! specification says, or shaped for Splunk's HTTP Event Collector or Datadog's logs
//! intake.
//!
//! Standard format: the body is `{"entries":[…]}` (each entry as the API shows it),
//! with `webhook-id` (the batch's id: the same on every retry of the batch),
//! `webhook-timestamp` (seconds since the epoch) and
//! `webhook-signature: v1,BASE64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`, the key
//! being the base64 after `whsec_` in the sink's secret. Any 2xx is delivered; any
//! other status, a timeout or a refused connection is a failure to retry.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hawk_audit::{Invalid, Rule};
use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::json;

use crate::Batch;

/// What every Standard Webhooks secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long one delivery may take, connection to last byte of the answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How a webhook's body and headers are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `{"entries":[…]}`, signed as Standard Webhooks says.
    Standard,
    /// Splunk HTTP Event Collector: one `{"time","event","sourcetype"}` object per
    /// entry, `Authorization: Splunk TOKEN`.
    SplunkHec,
    /// Datadog logs intake: a JSON array of log objects, `DD-API-KEY: KEY`.
    Datadog,
}

impl Format {
    /// The name `--format` takes and settings store.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::SplunkHec => "splunk-hec",
            Format::Datadog => "datadog",
        }
    }

    /// Parses a `--format` value, naming `format` when it is none of them.
    pub fn parse(name: &str) -> Result<Format, Invalid> {
        match name {
            "standard" => Ok(Format::Standard),
            "splunk-hec" => Ok(Format::SplunkHec),
            "datadog" => Ok(Format::Datadog),
            _ => Err(Invalid::new(
                "format",
                Rule::Malformed("must be standard, splunk-hec or datadog"),
            )),
        }
    }
}

/// A new signing secret: `whsec_` and the base64 of 24 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).expect("the operating system's random numbers");
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The `webhook-signature` value of `body` sent as message `id` at `timestamp`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| BASE64.decode(b64).ok())
        .ok_or("the sink's secret is not whsec_ followed by base64")?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Checks a receiver's URL: absolute, `http` or `https`, with a host; names `url`.
pub fn check_url(url: &str) -> Result<reqwest::Url, Invalid> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| Invalid::new("url", Rule::Malformed("must be an absolute http(s) URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Invalid::new(
            "url",
            Rule::Malformed("must be an absolute http(s) URL"),
        ));
    }
    Ok(parsed)
}

/// The standard body, `{"entries":[…]}`, written straight from the entries.
#[derive(Serialize)]
struct Entries<'a> {
    entries: &'a [hawk_audit::Entry],
}

/// Delivers batches to one URL.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    format: Format,
    /// The signing secret (standard) or the receiver's token (the presets).
    secret: Option<String>,
}

impl Webhook {
    pub(crate) fn new(url: &str, format: Format, secret: Option<String>) -> Result<Self, String> {
        let url = check_url(url).map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Webhook {
            client,
            url,
            format,
            secret,
        })
    }

    /// POSTs `batch`; `Ok` once the receiver answered 2xx.
    pub(crate) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json");
        let request = match self.format {
            Format::Standard => {
                let body = serde_json::to_vec(&Entries {
                    entries: &batch.entries,
                })
                .map_err(|e| e.to_string())?;
                let id = batch.id();
                let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
                let secret = self.secret.as_deref().ok_or("the sink has no secret")?;
                let signature = sign(secret, &id, timestamp, &body)?;
                request
                    .header("webhook-id", id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
            }
            Format::SplunkHec => {
                let mut body = Vec::new();
                for entry in &batch.entries {
                    let event = json!({
                        "time": entry.inserted_at.unix_timestamp_nanos() as f64 / 1e9,
                        "event": entry,
                        "sourcetype": "hawk:audit",
                    });
                    serde_json::to_writer(&mut body, &event).map_err(|e| e.to_string())?;
                    body.push(b'\n');
                }
                let token = self.secret.as_deref().unwrap_or_default();
                request
                    .header("authorization", format!("Splunk {token}"))
                    .header("x-splunk-request-channel", batch.id())
                    .body(body)
            }
            Format::Datadog => {
                let logs: Vec<_> = batch
                    .entries
                    .iter()
                    .map(|entry| {
                        json!({
                            "ddsource": "hawk",
                            "service": "hawk",
                            "ddtags": format!("sink:{}", batch.sink),
                            "message": entry,
                        })
                    })
                    .collect();
                let body = serde_json::to_vec(&logs).map_err(|e| e.to_string())?;
                let key = self.secret.as_deref().unwrap_or_default();
                request.header("dd-api-key", key).body(body)
            }
        };
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(format!("{} answered {status}: {text}", self.url))
    }
}

/// A transport error with its causes, which reqwest keeps in its source chain.
fn describe(err: reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_specification_does() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(sign("nope", id, 1, body).is_err());
    }

    #[test]
    fn urls_and_formats_are_checked() {
        assert!(check_url("https://siem.example/hook").is_ok());
        for bad in ["", "siem.example/hook", "ftp://x/y", "http://"] {
            assert_eq!(check_url(bad).unwrap_err().field(), "url", "{bad}");
        }
        assert_eq!(Format::parse("datadog").unwrap(), Format::Datadog);
        assert_eq!(Format::parse("splunk").unwrap_err().field(), "format");
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() == 6 + 32);
        assert_ne!(secret, new_secret());
    }
}
