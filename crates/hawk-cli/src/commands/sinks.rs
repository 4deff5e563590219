//! `hawk sinks`: the log streams `hawk serve` delivers.

use hawk_audit::Filter;
use hawk_streams::NewKind;
use hawk_streams::webhook::Format;

use super::{Access, Context, open};
use crate::BadInput;
use crate::output::Out;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SinksCommand {
    /// Add a sink; `hawk serve` delivers it from then on.
    #[command(subcommand)]
    Add(AddKind),
    /// Every sink with its cursor, lag (entries not delivered yet, age of the oldest),
    /// state and last error; never a secret.
    #[command(after_help = "Example:\n  hawk sinks list")]
    List,
    /// Stop delivering NAME; entries wait at its cursor.
    #[command(after_help = "Example:\n  hawk sinks pause siem")]
    Pause { name: String },
    /// Deliver NAME again from where it stopped.
    #[command(after_help = "Example:\n  hawk sinks resume siem")]
    Resume { name: String },
    /// Remove NAME.
    #[command(after_help = "Example:\n  hawk sinks remove siem")]
    Remove { name: String },
    /// Deliver NAME again from entry ID on (a backfill).
    #[command(after_help = "Example:\n  hawk sinks replay siem --from 1")]
    Replay {
        name: String,
        /// The first id to deliver again.
        #[arg(long, value_name = "ID")]
        from: u64,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AddKind {
    /// POST batches to URL as JSON: signed as Standard Webhooks says (the secret is
    /// printed once), or shaped for Splunk HEC or Datadog (--format, --token).
    #[command(after_help = "Examples:\n  \
        hawk sinks add webhook https://siem.example/hawk --name siem\n  \
        hawk sinks add webhook https://splunk.example:8088/services/collector/event \\\n      \
        --format splunk-hec --token $HEC_TOKEN --query '-is:system'")]
    Webhook {
        /// The receiver's http(s) URL.
        url: String,
        /// standard, splunk-hec or datadog.
        #[arg(long, default_value = "standard", value_name = "FORMAT")]
        format: String,
        /// Splunk's HEC token or Datadog's API key; for the standard format, a
        /// `whsec_` secret of your own (default: one is made).
        #[arg(
            long,
            value_name = "TOKEN",
            env = "HAWK_SINK_TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        #[command(flatten)]
        common: SinkArgs,
    },
    /// Publish each entry as one JetStream message on SUBJECT (Nats-Msg-Id: the
    /// entry's id), acknowledged by the stream before the cursor moves.
    #[command(
        after_help = "Example:\n  hawk sinks add nats audit.entries --url nats://127.0.0.1:4222"
    )]
    Nats {
        /// The subject; a JetStream stream must capture it.
        subject: String,
        /// The NATS server.
        #[arg(long, default_value = hawk_streams::nats::DEFAULT_URL, value_name = "URL")]
        url: String,
        #[command(flatten)]
        common: SinkArgs,
    },
    /// Archive gzip NDJSON objects (PREFIX/YYYY/MM/DD/FIRSTID-LASTID.ndjson.gz), each
    /// beside the signed checkpoint covering it; credentials from AWS_* variables.
    #[command(
        after_help = "Example:\n  hawk sinks add s3 s3://audit-archive/hawk --batch 10000 --close-seconds 300"
    )]
    S3 {
        /// s3://BUCKET/PREFIX.
        url: String,
        /// An S3-compatible server (default: AWS, or AWS_ENDPOINT_URL).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The bucket's region (default: AWS_REGION).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Close an object this long after its oldest entry even if it is not full.
        #[arg(long, default_value_t = hawk_streams::s3::DEFAULT_CLOSE_SECONDS, value_name = "SECONDS")]
        close_seconds: u64,
        #[command(flatten)]
        common: SinkArgs,
    },
}

/// What every kind of sink takes.
#[derive(Debug, clap::Args)]
pub(crate) struct SinkArgs {
    /// Its name (default: the kind and a few random letters).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Deliver only the entries this query phrase keeps (as `hawk recent -q`).
    #[arg(short, long, value_name = "PHRASE", allow_hyphen_values = true)]
    query: Option<String>,
    /// Most entries per delivery, 1-10000.
    #[arg(long, default_value_t = 500, value_name = "N")]
    batch: u64,
    /// Deliver the entries from this id on (default: only those recorded from now).
    #[arg(long, value_name = "ID")]
    from: Option<u64>,
}

pub(crate) async fn run(cx: &Context, out: &mut Out, command: SinksCommand) -> anyhow::Result<()> {
    if let SinksCommand::Add(kind) = command {
        return add(cx, out, kind).await;
    }
    let access = match command {
        SinksCommand::List => Access::Read,
        _ => Access::Write,
    };
    let audit = open(&cx.db, access).await?;
    let changed = match command {
        SinksCommand::Add(_) => unreachable!("added above"),
        SinksCommand::List => {
            let statuses = audit.sink_statuses().await?;
            return Ok(out.sinks(&statuses)?);
        }
        SinksCommand::Pause { name } => audit.set_sink_paused(&name, true).await,
        SinksCommand::Resume { name } => audit.set_sink_paused(&name, false).await,
        SinksCommand::Replay { name, from } => audit.replay_sink(&name, from).await,
        SinksCommand::Remove { name } => {
            let removed = audit.remove_sink(&name).await;
            audit.close().await;
            removed?;
            return Ok(out.removed_sink(&name)?);
        }
    };
    audit.close().await;
    out.sink(&changed?)?;
    Ok(())
}

async fn add(cx: &Context, out: &mut Out, kind: AddKind) -> anyhow::Result<()> {
    let (kind, common) = match kind {
        AddKind::Webhook {
            url,
            format,
            token,
            common,
        } => {
            let format = Format::parse(&format).map_err(|e| BadInput(e.to_string()))?;
            (NewKind::Webhook { url, format, token }, common)
        }
        AddKind::S3 {
            url,
            endpoint,
            region,
            close_seconds,
            common,
        } => (
            NewKind::S3 {
                url,
                endpoint,
                region,
                close_seconds: Some(close_seconds),
            },
            common,
        ),
        AddKind::Nats {
            subject,
            url,
            common,
        } => (
            NewKind::Nats {
                subject,
                url: Some(url),
            },
            common,
        ),
    };
    // Checked before the log is opened: bad input writes nothing.
    if let Some(query) = &common.query {
        Filter::parse(query).map_err(|e| BadInput(e.to_string()))?;
    }
    let name = common.name.unwrap_or_else(|| kind.default_name());
    let after = common.from.map(|from| from.saturating_sub(1));
    let (sink, secret) = kind
        .into_sink(name, common.query, common.batch, after)
        .map_err(|e| BadInput(e.to_string()))?;
    let audit = open(&cx.db, Access::Create).await?;
    let added = audit.add_sink(sink).await;
    audit.close().await;
    out.new_sink(&added?, secret.as_deref())?;
    Ok(())
}
