//! The kinds of sink: how one is described when it is added, and the receiver a stored
//! sink becomes when it is delivered.

use hawk_audit::{Invalid, NewSink, Rule, Sink};
use serde_json::json;

use crate::Batch;
use crate::nats::{self, Nats};
use crate::s3::{self, S3};
use crate::webhook::{self, Format, Webhook};

/// A sink's kind and settings, as `hawk sinks add` and `POST /v1/sinks` give them.
#[derive(Debug, Clone)]
pub enum NewKind {
    /// POST each batch to `url`, shaped as `format` says. `token`: the signing secret
    /// (`whsec_…`; made when not given) for the standard format, the receiver's token
    /// (Splunk) or API key (Datadog) for the presets.
    Webhook {
        url: String,
        format: Format,
        token: Option<String>,
    },
    /// Publish each entry to `subject` on JetStream at `url` (default
    /// [`nats::DEFAULT_URL`]).
    Nats {
        subject: String,
        url: Option<String>,
    },
    /// Archive batches as gzip NDJSON objects at `url` (`s3://BUCKET/PREFIX`), each
    /// closed at the batch size or after `close_seconds` (default
    /// [`s3::DEFAULT_CLOSE_SECONDS`]); `endpoint` and `region` for S3-compatible
    /// servers (else the `AWS_*` environment variables).
    S3 {
        url: String,
        endpoint: Option<String>,
        region: Option<String>,
        close_seconds: Option<u64>,
    },
}

impl NewKind {
    /// A name for a sink not given one: the kind and six random letters.
    pub fn default_name(&self) -> String {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).expect("the operating system's random numbers");
        let letters: String = random.iter().map(|b| char::from(b'a' + b % 26)).collect();
        let kind = match self {
            NewKind::Webhook { .. } => "webhook",
            NewKind::Nats { .. } => "nats",
            NewKind::S3 { .. } => "s3",
        };
        format!("{kind}-{letters}")
    }

    /// The sink to store, and the secret to show once (a signing secret made here).
    /// Bad settings name their field.
    pub fn into_sink(
        self,
        name: String,
        query: Option<String>,
        batch: u64,
        after: Option<u64>,
    ) -> Result<(NewSink, Option<String>), Invalid> {
        let (kind, settings, secret, shown) = match self {
            NewKind::Webhook { url, format, token } => {
                let url = webhook::check_url(&url)?;
                let (secret, shown) = match (format, token) {
                    (Format::Standard, None) => {
                        let secret = webhook::new_secret();
                        (secret.clone(), Some(secret))
                    }
                    (Format::Standard, Some(secret)) => {
                        if webhook::sign(&secret, "", 0, b"").is_err() {
                            return Err(Invalid::new(
                                "token",
                                Rule::Malformed("must be whsec_ followed by base64"),
                            ));
                        }
                        (secret, None)
                    }
                    (_, Some(token)) if !token.is_empty() => (token, None),
                    (_, _) => return Err(Invalid::new("token", Rule::Required)),
                };
                let settings = json!({"url": url.as_str(), "format": format.as_str()});
                ("webhook", settings, Some(secret), shown)
            }
            NewKind::Nats { subject, url } => {
                nats::check_subject(&subject)?;
                let url = url.unwrap_or_else(|| nats::DEFAULT_URL.to_owned());
                nats::check_url(&url)?;
                ("nats", json!({"subject": subject, "url": url}), None, None)
            }
            NewKind::S3 {
                url,
                endpoint,
                region,
                close_seconds,
            } => {
                let (bucket, prefix) = s3::parse_url(&url)?;
                if let Some(endpoint) = &endpoint {
                    s3::check_endpoint(endpoint)?;
                }
                let close = close_seconds.unwrap_or(s3::DEFAULT_CLOSE_SECONDS);
                if !(1..=86_400).contains(&close) {
                    return Err(Invalid::new(
                        "close_seconds",
                        Rule::OutOfRange {
                            min: 1,
                            max: 86_400,
                        },
                    ));
                }
                let settings = json!({
                    "bucket": bucket, "prefix": prefix, "endpoint": endpoint,
                    "region": region, "close_seconds": close,
                });
                ("s3", settings, None, None)
            }
        };
        let sink = NewSink {
            name,
            kind: kind.into(),
            settings,
            secret,
            query,
            batch,
            after,
        };
        Ok((sink, shown))
    }
}

/// A stored sink's receiver.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Webhook(Webhook),
    Nats(Nats),
    S3(S3, std::time::Duration),
}

impl Kind {
    /// The receiver `sink` describes; why not, when its stored settings are wrong.
    pub(crate) async fn for_sink(sink: &Sink) -> Result<Kind, String> {
        let setting = |name: &str| {
            sink.settings[name]
                .as_str()
                .ok_or_else(|| format!("sink {} has no {name} setting", sink.name))
        };
        match sink.kind.as_str() {
            "webhook" => {
                let format = Format::parse(setting("format")?).map_err(|e| e.to_string())?;
                Webhook::new(setting("url")?, format, sink.secret.clone()).map(Kind::Webhook)
            }
            "nats" => Nats::connect(setting("url")?, setting("subject")?)
                .await
                .map(Kind::Nats),
            "s3" => {
                let optional = |name: &str| sink.settings[name].as_str();
                let s3 = S3::new(
                    setting("bucket")?,
                    optional("prefix").unwrap_or_default(),
                    optional("endpoint"),
                    optional("region"),
                )?;
                Ok(Kind::S3(s3, s3::close_after(&sink.settings)))
            }
            other => Err(format!(
                "sink {} has kind {other:?}, which this Hawk cannot deliver",
                sink.name
            )),
        }
    }

    /// Sends `batch`; `Ok` once the receiver accepted it.
    pub(crate) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        match self {
            Kind::Webhook(webhook) => webhook.deliver(batch).await,
            Kind::Nats(nats) => nats.deliver(batch).await,
            Kind::S3(s3, _) => s3.deliver(batch).await,
        }
    }

    /// How long a batch that is not full waits for more entries (`None`: it is sent
    /// at once).
    pub(crate) fn close_after(&self) -> Option<std::time::Duration> {
        match self {
            Kind::S3(_, close) => Some(*close),
            _ => None,
        }
    }

    /// Whether a batch is stored with the checkpoint that covers it.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        matches!(self, Kind::S3(..))
    }
}
