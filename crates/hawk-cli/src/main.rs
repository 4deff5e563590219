//! `hawk`: drive a Hawk audit log from the shell.
//!
//! Argument parsing and printing only; everything else lives in `hawk-audit`.
//! Exit status: 0 success, 2 bad input or usage, 1 anything else. Errors are one
//! line on stderr, `hawk: <message>`.

mod output;

use std::fmt;
use std::io::{self, IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use futures_util::TryStreamExt as _;
use hawk_audit::checkpoint::{self, Cadence, SigningKey, VerifierKey};
use hawk_audit::{Audit, Events, NewEntry, Options, Recent, Report, Scope, Verify};
use hawk_audit::{import, workload};
use hawk_server::export::{self, Format};
use hawk_server::proof::{ConsistencyBody, InclusionBody};

use crate::output::Out;

/// Reading a log builds every entry from a dozen small allocations on a reader thread
/// and frees them on another; mimalloc does that with a quarter less CPU than glibc's
/// malloc (README, "Streaming an account").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An append-only audit log: who did what to which resource.
#[derive(Debug, Parser)]
#[command(
    name = "hawk",
    version,
    after_help = "Run 'hawk COMMAND --help' for a command's options and an example."
)]
struct Cli {
    /// The log: a SQLite file (hawk.db, sqlite:PATH) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "HAWK_DATABASE_URL",
        hide_env_values = true,
        default_value = hawk_audit::DEFAULT_URL,
        value_name = "URL",
        help_heading = GLOBAL
    )]
    db: String,
    /// Print the HTTP API's JSON body instead of a table.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    /// The checkpoint signing key (default: a SQLite log's path and `.key`).
    #[arg(
        long,
        global = true,
        env = "HAWK_KEY_FILE",
        hide_env_values = true,
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    key_file: Option<PathBuf>,
    /// The name of a signing key created now (default: `hawk/` and random hex).
    #[arg(
        long,
        global = true,
        env = "HAWK_ORIGIN",
        hide_env_values = true,
        value_name = "NAME",
        help_heading = GLOBAL
    )]
    origin: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The heading of the options every command takes, apart from the command's own.
const GLOBAL: &str = "Global options";

/// Global options that mean nothing to some commands are hidden from their help (they
/// are still accepted, as global options are anywhere).
const HIDDEN_GLOBALS: [(&str, &[&str]); 4] = [
    ("db", &["bench"]),
    ("json", &["serve", "checkpoint public-key"]),
    (
        "key_file",
        &[
            "track", "recent", "search", "actions", "account", "prove", "keys", "export", "import",
            "demo", "bench",
        ],
    ),
    (
        "origin",
        &[
            "track", "recent", "search", "actions", "account", "verify", "prove", "keys", "export",
            "import", "demo", "bench",
        ],
    ),
];

#[derive(Debug, Subcommand)]
enum Command {
    /// Record one entry.
    #[command(
        after_help = "Example:\n  hawk track project.deleted --actor-type user \
                            --actor-id 42 --resource-type project --resource-id 7"
    )]
    Track {
        /// What happened, conventionally `noun.verb`.
        action: String,
        /// Who acted (with --actor-id); without both, the system acted.
        #[arg(long, value_name = "T")]
        actor_type: Option<String>,
        /// The actor's id (with --actor-type).
        #[arg(long, value_name = "I")]
        actor_id: Option<String>,
        /// What it happened to (with --resource-id).
        #[arg(long, value_name = "T")]
        resource_type: Option<String>,
        /// The resource's id (with --resource-type).
        #[arg(long, value_name = "I")]
        resource_id: Option<String>,
        /// The entry's account (default: an `account` resource's id).
        #[arg(long, value_name = "ID")]
        account: Option<String>,
        /// Details, as a JSON object.
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
    },
    /// List entries, newest first, a page at a time.
    #[command(after_help = "Example:\n  hawk recent --search invoice --per-page 20 --page 2")]
    Recent {
        /// Page number, from 1.
        #[arg(long, default_value_t = 1, value_name = "N")]
        page: u64,
        /// Entries per page, 1-1000.
        #[arg(long, default_value_t = 50, value_name = "N")]
        per_page: u64,
        /// Only actions containing TERM (case-insensitive, literal).
        #[arg(long, value_name = "TERM")]
        search: Option<String>,
        /// Page the log as it was at entry ID (every page prints its as_of).
        #[arg(long, value_name = "ID")]
        as_of: Option<u64>,
    },
    /// The newest entries whose action contains QUERY.
    #[command(after_help = "Example:\n  hawk search inv --limit 10")]
    Search {
        /// Case-insensitive, literal part of the action.
        query: String,
        /// How many entries, 1-100.
        #[arg(long, default_value_t = hawk_audit::DEFAULT_SEARCH_LIMIT, value_name = "N")]
        limit: u64,
    },
    /// Actions containing QUERY with their counts, as a typeahead suggests them.
    #[command(after_help = "Example:\n  hawk actions inv --limit 5")]
    Actions {
        /// Case-insensitive, literal part of the action (none: every action).
        query: Option<String>,
        /// How many actions, 1-100.
        #[arg(long, default_value_t = hawk_audit::DEFAULT_ACTIONS_LIMIT, value_name = "N")]
        limit: u64,
    },
    /// One account's entries, newest first: every entry, or one page of them.
    #[command(after_help = "Example:\n  hawk account acme --page 1 --per-page 20")]
    Account {
        /// The account id.
        account_id: String,
        /// Print this page only (default: every entry).
        #[arg(long, value_name = "N")]
        page: Option<u64>,
        /// Entries per page, 1-1000 (implies paging).
        #[arg(long, value_name = "N")]
        per_page: Option<u64>,
    },
    /// Serve the HTTP API and the dashboard until SIGINT or SIGTERM.
    #[command(after_help = "Example:\n  hawk serve --listen 127.0.0.1:7433")]
    Serve {
        /// Address to listen on (loopback only, until API keys exist).
        #[arg(long, default_value = hawk_server::DEFAULT_LISTEN, value_name = "ADDR")]
        listen: String,
        /// Requests per second per API key (bursts: twice as many).
        #[arg(long, default_value_t = 50, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..))]
        rate_limit: u32,
        /// Refuse writes past this SQLite file size, as on a full disk.
        #[arg(long, value_name = "BYTES",
              value_parser = clap::value_parser!(u64).range(1..))]
        max_db_size: Option<u64>,
        /// Sign a checkpoint after this many new entries.
        #[arg(long, default_value_t = 10_000, value_name = "N",
              value_parser = clap::value_parser!(u64).range(1..))]
        checkpoint_entries: u64,
        /// Sign a checkpoint at least this often while entries arrive.
        #[arg(long, default_value_t = 60, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(1..))]
        checkpoint_interval: u64,
        // From the connection's start, or from the previous response on a kept-alive
        // one (README, "The HTTP API").
        /// Close a connection whose headers take longer than this
        #[arg(long, default_value_t = 10, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(1..))]
        header_read_timeout: u64,
        // Closed after twice as long (live tails send comments often enough).
        /// Idle time after which a connection is no longer kept alive
        #[arg(long, default_value_t = 60, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout: u64,
        /// Connections open at once; more wait until one closes.
        #[arg(long, default_value_t = 512, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        /// Log lines as text, or as one JSON object per line.
        #[arg(long, default_value = "text", value_name = "FORMAT",
              value_parser = ["text", "json"])]
        log_format: String,
    },
    /// Check every entry, checkpoint and anchor: exit 0 intact, 1 tampered, 2 error.
    #[command(after_help = "Example:\n  hawk verify --anchor checkpoint.txt \
                            --public-key verifier.key")]
    Verify {
        /// A checkpoint kept elsewhere (`hawk checkpoint export`); repeatable.
        #[arg(long, value_name = "FILE")]
        anchor: Vec<PathBuf>,
        /// The verifier key, or a file holding it (default: the key file's).
        #[arg(long, env = "HAWK_PUBLIC_KEY", value_name = "KEY|FILE")]
        public_key: Option<String>,
    },
    /// Signed checkpoints of the log's Merkle tree.
    #[command(after_help = "Example:\n  hawk checkpoint export --output checkpoint.txt")]
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
    /// Print an inclusion proof of entry ID, or a consistency proof.
    #[command(after_help = "Examples:\n  hawk prove 42 --size 1000\n  \
                            hawk prove --consistency 1000 2000")]
    Prove {
        /// The entry to prove.
        #[arg(required_unless_present = "consistency")]
        id: Option<u64>,
        /// The tree size (default: the latest checkpoint's if it covers ID).
        #[arg(long, value_name = "N", conflicts_with = "consistency")]
        size: Option<u64>,
        /// Prove that the tree of N entries extends the tree of M entries.
        #[arg(long, num_args = 2, value_names = ["M", "N"], conflicts_with = "id")]
        consistency: Option<Vec<u64>>,
    },
    /// Create, list and revoke the API keys `hawk serve` asks for.
    #[command(after_help = "Example:\n  hawk keys create --scope read --account acme")]
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write every entry (or one account's), oldest first, as CSV or NDJSON.
    #[command(after_help = "Example:\n  hawk export --format csv --output log.csv")]
    Export {
        /// csv (with a header row) or ndjson (one entry per line).
        #[arg(long, value_parser = ["csv", "ndjson"], value_name = "FORMAT")]
        format: String,
        /// Only this account's entries.
        #[arg(long, value_name = "ID")]
        account: Option<String>,
        /// Write to FILE instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Import HawkEx's table or its CSV, or a Hawk export; nothing is imported twice.
    #[command(
        after_help = "Examples:\n  hawk import postgres://hawkex@db.internal/app\n  \
                            hawk import hawk_ex_audit_logs.csv"
    )]
    Import {
        /// A file, or the postgres:// database that holds HawkEx's table.
        source: String,
        /// The HawkEx table to read from a postgres:// source.
        #[arg(long, default_value = import::HAWK_EX_TABLE, value_name = "NAME")]
        table: String,
    },
    /// Remove the entries older than DATE, recording the prune as an entry.
    #[command(
        after_help = "Examples:\n  hawk prune --before 2025-01-01 --dry-run\n  \
                            hawk prune --before 2025-01-01 --yes"
    )]
    Prune {
        /// RFC 3339 time or YYYY-MM-DD (UTC midnight), not in the future.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// Only print what would go: how many entries, their ids and times.
        #[arg(long)]
        dry_run: bool,
        /// Remove without asking (required when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Write a verified copy of the SQLite log to FILE, safe while a server writes.
    #[command(
        after_help = "Example:\n  hawk backup /backups/hawk-$(date +%F).db\n\n\
        The signing key file (hawk.db.key) is not part of the copy: back it up apart."
    )]
    Backup {
        /// The new file to write (it must not exist).
        file: PathBuf,
    },
    /// Write seeded demo data (the reference workload, dated 2025) into a new, empty log.
    #[command(after_help = "Example:\n  hawk demo --entries 100000")]
    Demo {
        /// How many entries to write.
        #[arg(long, default_value_t = 100_000, value_name = "N")]
        entries: u64,
    },
    /// Time every query against HawkEx's SQL on a fresh reference log.
    #[command(after_help = "Example:\n  hawk bench --entries 100000 --dir /tmp/hawk-bench")]
    Bench {
        /// How many entries to load.
        #[arg(long, default_value_t = 1_000_000, value_name = "N")]
        entries: u64,
        /// The engine to measure.
        #[arg(long, value_enum, default_value_t = Engine::Sqlite)]
        engine: Engine,
        /// The PostgreSQL server to create the bench database on.
        #[arg(
            long,
            env = "HAWK_BENCH_POSTGRES",
            hide_env_values = true,
            default_value = "postgres://postgres@127.0.0.1:5432/postgres",
            value_name = "URL"
        )]
        pg_url: String,
        /// Where the databases, bench.json and bench.svg go (new files only).
        #[arg(long, default_value = "hawk-bench", value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Timed runs of each Hawk operation.
        #[arg(long, default_value_t = 200, value_name = "N")]
        samples: usize,
        /// Fewest timed runs of each HawkEx query; lower it on large logs.
        #[arg(long, default_value_t = 3, value_name = "N")]
        baseline_min_runs: usize,
        /// Keep the databases after the run.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CheckpointCommand {
    /// Write the latest signed checkpoint (signing one if entries were added).
    #[command(after_help = "Example:\n  hawk checkpoint export --output checkpoint.txt")]
    Export {
        /// Write to FILE instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the verifier key (`name+hash+base64`) to give to verifiers.
    #[command(after_help = "Example:\n  hawk checkpoint public-key > verifier.key")]
    PublicKey,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it, this once: only its SHA-256 is stored.
    #[command(after_help = "Example:\n  KEY=$(hawk keys create --scope read)")]
    Create {
        /// read: every GET; write: read, and record entries and events; admin: all.
        #[arg(long, value_parser = ["read", "write", "admin"], value_name = "SCOPE")]
        scope: String,
        /// Bind a read key to one account: it sees only that account's entries.
        #[arg(long, value_name = "ID")]
        account: Option<String>,
    },
    /// List every key (number, prefix, scope, account, times), never the keys.
    #[command(after_help = "Example:\n  hawk keys list")]
    List,
    /// Revoke key number ID: it authenticates nothing from now on.
    #[command(after_help = "Example:\n  hawk keys revoke 3")]
    Revoke {
        /// The key's number, as `hawk keys list` shows it.
        id: u64,
    },
}

/// Storage engines `hawk bench` can measure.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Engine {
    /// The embedded SQLite file.
    Sqlite,
    /// A fresh database on the PostgreSQL server of --pg-url, dropped afterwards.
    Postgres,
}

/// Bad input the binary catches itself before the library sees it: exit status 2.
#[derive(Debug)]
struct BadInput(String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    let cli = match command()
        .try_get_matches()
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
    {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let (default_level, json) = match &cli.command {
        Command::Serve { log_format, .. } => (
            tracing_subscriber::filter::LevelFilter::INFO,
            log_format == "json",
        ),
        _ => (tracing_subscriber::filter::LevelFilter::WARN, false),
    };
    init_tracing(default_level, json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err).context("starting the runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => fail(&err),
    }
}

/// The command line, with [`HIDDEN_GLOBALS`] hidden where they mean nothing.
fn command() -> clap::Command {
    let mut command = Cli::command();
    // Built first, so that every subcommand holds its own copy of the global options.
    command.build();
    for (arg, commands) in HIDDEN_GLOBALS {
        for path in commands {
            command = hide_in(command, &path.split(' ').collect::<Vec<_>>(), arg);
        }
    }
    command
}

/// Hides `arg` in the subcommand at `path` of `command` and in every command below it.
fn hide_in(command: clap::Command, path: &[&str], arg: &str) -> clap::Command {
    match path.split_first() {
        Some((name, rest)) => command.mut_subcommand(name, |sub| hide_in(sub, rest, arg)),
        None => {
            let names: Vec<String> = command
                .get_subcommands()
                .map(|sub| sub.get_name().to_owned())
                .collect();
            // In place: the built command finds its options by position.
            let command = command.mut_args(|a| if a.get_id() == arg { a.hide(true) } else { a });
            names
                .iter()
                .fold(command, |command, name| hide_in(command, &[name], arg))
        }
    }
}

/// Logs (e.g. a retried busy database) go to stderr; quiet unless `RUST_LOG` says more
/// (`serve` says what it does at info level, and logs each request); `json` writes one
/// JSON object per line.
fn init_tracing(default_level: tracing_subscriber::filter::LevelFilter, json: bool) {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(default_level.into())
        .from_env_lossy();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    if json {
        logs.json().flatten_event(true).init();
    } else {
        logs.with_ansi(io::stderr().is_terminal()).init();
    }
}

/// Help and version print as clap prints them; every other usage error becomes one
/// line, like any other error, with exit status 2.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    // clap's message is its first paragraph (a list of missing arguments spans
    // several lines); tips and usage follow after a blank line.
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    report(&format!("{message} (see 'hawk --help')"));
    ExitCode::from(2)
}

/// Reports `err` as one line on stderr and picks the exit status.
fn fail(err: &anyhow::Error) -> ExitCode {
    // The reader went away (`hawk account X | head`): nothing to report.
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let bad_input = err.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause
                .downcast_ref::<hawk_audit::Error>()
                .is_some_and(|e| e.as_invalid().is_some())
            || cause
                .downcast_ref::<import::ImportError>()
                .is_some_and(import::ImportError::is_invalid)
    });
    report(&one_line(err));
    ExitCode::from(if bad_input { 2 } else { 1 })
}

/// Prints `hawk: <message>` on stderr; a closed stderr is no reason to panic.
fn report(message: &str) {
    let _ = writeln!(io::stderr(), "hawk: {message}");
}

/// The error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace(['\n', '\r'], " ")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = Out::new(cli.json);
    let keys = KeyConfig {
        url: cli.db.clone(),
        file: cli.key_file,
        origin: cli.origin,
    };
    match cli.command {
        Command::Track {
            action,
            actor_type,
            actor_id,
            resource_type,
            resource_id,
            account,
            metadata,
        } => {
            let metadata = metadata
                .map(|raw| {
                    serde_json::from_str::<serde_json::Value>(&raw)
                        .map_err(|e| BadInput(format!("metadata: must be valid JSON ({e})")))
                })
                .transpose()?;
            let mut entry = NewEntry::new(action);
            entry.actor_type = actor_type;
            entry.actor_id = actor_id;
            entry.resource_type = resource_type;
            entry.resource_id = resource_id;
            entry.account_id = account;
            entry.metadata = metadata;
            let audit = open(&cli.db, Access::Create).await?;
            let stored = audit.record(entry).await;
            audit.close().await;
            out.entry(&stored?)?;
        }
        Command::Recent {
            page,
            per_page,
            search,
            as_of,
        } => {
            let audit = open(&cli.db, Access::Read).await?;
            let page = audit
                .recent(Recent {
                    page,
                    per_page,
                    search,
                    as_of,
                })
                .await?;
            out.page(&page)?;
        }
        Command::Search { query, limit } => {
            let audit = open(&cli.db, Access::Read).await?;
            let entries = audit.search(&query, limit).await?;
            out.entries(&entries)?;
        }
        Command::Actions { query, limit } => {
            let audit = open(&cli.db, Access::Read).await?;
            let actions = audit.actions(query.as_deref().unwrap_or(""), limit).await?;
            out.actions(&actions)?;
        }
        Command::Account {
            account_id,
            page,
            per_page,
        } => {
            let audit = open(&cli.db, Access::Read).await?;
            if page.is_some() || per_page.is_some() {
                let defaults = Recent::default();
                let opts = Recent::page(
                    page.unwrap_or(defaults.page),
                    per_page.unwrap_or(defaults.per_page),
                );
                let page = audit.for_account_page(&account_id, opts).await?;
                out.page(&page)?;
            } else {
                let mut stream = std::pin::pin!(audit.for_account_stream(&account_id));
                // A bad account id fails the first item: report it before printing.
                let first = stream.try_next().await?;
                let mut listing = out.start_stream()?;
                if let Some(entry) = first {
                    listing.entry(&entry)?;
                    while let Some(entry) = stream.try_next().await? {
                        listing.entry(&entry)?;
                    }
                }
                listing.finish()?;
            }
        }
        Command::Serve {
            listen,
            rate_limit,
            max_db_size,
            checkpoint_entries,
            checkpoint_interval,
            header_read_timeout,
            idle_timeout,
            max_connections,
            log_format: _,
        } => {
            let cadence = Cadence {
                entries: checkpoint_entries,
                interval: std::time::Duration::from_secs(checkpoint_interval),
            };
            let limits = hawk_server::ServeOptions {
                header_read_timeout: std::time::Duration::from_secs(header_read_timeout),
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
                max_connections,
            };
            serve(
                &cli.db,
                &listen,
                rate_limit,
                max_db_size,
                &keys,
                cadence,
                limits,
            )
            .await?
        }
        Command::Verify { anchor, public_key } => {
            // Exit 2 for anything that keeps the check from being made.
            let report = match verify(&cli.db, &keys, &anchor, public_key.as_deref()).await {
                Ok(report) => report,
                Err(err) => {
                    report(&one_line(&err));
                    return Ok(ExitCode::from(2));
                }
            };
            out.verify_report(&report)?;
            out.flush()?;
            return Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Checkpoint { command } => match command {
            CheckpointCommand::Export { output } => {
                // Opened first, so that a mistyped --db gets no key file either.
                let audit = open(&cli.db, Access::Write).await?;
                let key = keys.signing_key()?;
                let checkpoint = audit.write_checkpoint(&key).await;
                audit.close().await;
                let checkpoint = checkpoint?;
                match &output {
                    Some(path) => {
                        std::fs::write(path, &checkpoint.note)
                            .with_context(|| format!("writing {}", path.display()))?;
                        out.checkpoint_summary(&checkpoint, path)?;
                    }
                    None => out.writer().write_all(checkpoint.note.as_bytes())?,
                }
            }
            CheckpointCommand::PublicKey => {
                let key = keys.signing_key()?;
                writeln!(out.writer(), "{}", key.verifier())?;
            }
        },
        Command::Prove {
            id,
            size,
            consistency,
        } => {
            if let Some(&[m, n]) = consistency.as_deref()
                && m > n
            {
                return Err(BadInput(format!(
                    "--consistency M N: M must be at most N (got M = {m}, N = {n})"
                ))
                .into());
            }
            let audit = open(&cli.db, Access::Read).await?;
            match (id, consistency.as_deref()) {
                (_, Some(&[from, to])) => {
                    let proof = audit
                        .consistency_proof(from, to)
                        .await
                        .map_err(consistency_args)?;
                    out.consistency(&ConsistencyBody::from(proof))?;
                }
                (Some(id), _) => {
                    let proof = audit.inclusion_proof(id, size).await?;
                    out.inclusion(&InclusionBody::from(proof))?;
                }
                _ => return Err(BadInput("give an entry id or --consistency M N".into()).into()),
            }
        }
        Command::Keys { command } => {
            let access = match command {
                KeysCommand::Create { .. } => Access::Create,
                KeysCommand::List => Access::Read,
                KeysCommand::Revoke { .. } => Access::Write,
            };
            let audit = open(&cli.db, access).await?;
            match command {
                KeysCommand::Create { scope, account } => {
                    let scope: Scope = scope.parse()?;
                    let created = audit.create_key(scope, account.as_deref()).await;
                    audit.close().await;
                    let (key, info) = created?;
                    out.new_key(&key, &info)?;
                }
                KeysCommand::List => out.keys(&audit.keys().await?)?,
                KeysCommand::Revoke { id } => {
                    let revoked = audit.revoke_key(id).await;
                    audit.close().await;
                    out.keys(&[revoked?])?
                }
            }
        }
        Command::Export {
            format,
            account,
            output,
        } => {
            let format: Format = format
                .parse()
                .map_err(|e| BadInput(format!("--format: {e}")))?;
            let audit = open(&cli.db, Access::Read).await?;
            let exported = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut file = io::BufWriter::new(file);
                    let n = export_to(&audit, format, account, &mut file).await?;
                    file.flush()
                        .with_context(|| format!("writing {}", path.display()))?;
                    n
                }
                None => export_to(&audit, format, account, out.writer()).await?,
            };
            if let Some(path) = output {
                out.export_summary(exported, &path)?;
            }
        }
        Command::Import { source, table } => {
            let audit = open(&cli.db, Access::Create).await?;
            let bar = output::progress_bar(0);
            let progress = |progress| match progress {
                import::Progress::Total(n) => bar.set_length(n),
                import::Progress::Imported(n) => bar.inc(n),
                _ => {}
            };
            let summary = if is_postgres(&source) {
                import::table(&audit, &source, &table, progress).await
            } else {
                import::file(&audit, std::path::Path::new(&source), progress).await
            };
            audit.close().await;
            let summary = summary.map_err(|err| match err {
                // The command line names the table by its option.
                import::ImportError::Table(rule) => BadInput(format!("--table: {rule}")).into(),
                err => anyhow::Error::new(err),
            })?;
            bar.finish_and_clear();
            out.import_summary(&summary)?;
        }
        Command::Prune {
            before,
            dry_run,
            yes,
        } => {
            let when = import::parse_time(&before).ok_or_else(|| {
                BadInput(format!(
                    "--before: not a time: {before:?} (RFC 3339, or YYYY-MM-DD for UTC midnight)"
                ))
            })?;
            if dry_run {
                let audit = open(&cli.db, Access::Read).await?;
                out.prune_plan(audit.prune_plan(when).await?.as_ref())?;
            } else {
                // A missing log is reported before a key file is made beside it.
                drop(open(&cli.db, Access::Write).await?);
                // With the log's signing key, the prune point gets a signed checkpoint.
                let mut options = Options::default();
                if let Some(key) = keys.signing_key_if_any()? {
                    options = options.checkpoints(key, Cadence::default());
                }
                let audit = Audit::open_with(&cli.db, options.create(false))
                    .await
                    .map_err(missing_log)?;
                let plan = audit.prune_plan(when).await?;
                confirm_prune(plan.as_ref(), yes)?;
                let pruned = match plan {
                    Some(_) => audit.prune(when).await,
                    None => Ok(None),
                };
                audit.close().await;
                out.prune_summary(pruned?.as_ref())?;
            }
        }
        Command::Backup { file } => {
            let audit = open(&cli.db, Access::Read).await?;
            audit
                .backup(&file)
                .await
                .with_context(|| format!("backing up to {}", file.display()))?;
            drop(audit);
            let copy = format!("sqlite:{}", file.display());
            // The copy is checked against the original's key: a copy that verifies
            // only against a key of its own proves nothing.
            let report = verify(&copy, &keys, &[], None).await?;
            let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
            if !cli.json {
                writeln!(
                    out.writer(),
                    "backed up {} to {} ({bytes} bytes); verifying the copy:",
                    redact_password(&cli.db),
                    file.display()
                )?;
            }
            out.verify_report(&report)?;
            if !cli.json
                && let Some(path) = keys.path().ok().filter(|path| path.exists())
            {
                writeln!(
                    out.writer(),
                    "the signing key {} is not in the backup: copy it apart and keep it \
                     secret",
                    path.display()
                )?;
            }
            out.flush()?;
            return Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Demo { entries } => {
            let audit = open(&cli.db, Access::Create).await?;
            let started = Instant::now();
            let written = demo(&audit, &cli.db, entries).await;
            audit.close().await;
            out.demo_summary(written?, started.elapsed())?;
        }
        Command::Bench {
            entries,
            engine,
            pg_url,
            dir,
            samples,
            baseline_min_runs,
            keep,
        } => {
            let mut opts = hawk_bench::Options::new(entries, &dir);
            opts.samples = samples;
            opts.baseline_min_samples = baseline_min_runs.max(1);
            if let Engine::Postgres = engine {
                opts.engine = hawk_bench::Engine::Postgres {
                    server: pg_url,
                    keep,
                };
            }
            let report = bench(&opts).await?;
            std::fs::write(dir.join("bench.json"), report.json())?;
            std::fs::write(dir.join("bench.svg"), report.svg())?;
            if !keep && matches!(engine, Engine::Sqlite) {
                for file in [
                    "hawk.db",
                    "hawk.db-wal",
                    "hawk.db-shm",
                    "hawkex.db",
                    "hawkex.db-wal",
                    "hawkex.db-shm",
                ] {
                    let _ = std::fs::remove_file(dir.join(file));
                }
            }
            out.bench(&report)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Removing entries cannot be undone: without `--yes`, ask on a terminal, and refuse
/// when there is none to ask on (a script must say `--yes`).
fn confirm_prune(plan: Option<&hawk_audit::PrunePlan>, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let what = plan.map_or_else(
        || "no entry is that old now".to_owned(),
        |plan| format!("this removes {}", output::describe_plan(plan)),
    );
    if !io::stdin().is_terminal() {
        return Err(BadInput(format!(
            "--yes: required when stdin is not a terminal ({what}; --dry-run only shows it)"
        ))
        .into());
    }
    let Some(plan) = plan else {
        return Ok(());
    };
    let mut stderr = io::stderr();
    write!(stderr, "{what}.\nRemove them for good? [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "not confirmed; nothing removed (the {} stay)",
            if plan.removed == 1 {
                "entry"
            } else {
                "entries"
            }
        ))
    }
}

/// Where the signing key lives and what to call a new one.
struct KeyConfig {
    url: String,
    file: Option<PathBuf>,
    origin: Option<String>,
}

impl KeyConfig {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.file {
            Some(path) => Ok(path.clone()),
            None => checkpoint::default_key_file_for(&self.url).ok_or_else(|| {
                BadInput("--key-file: required for this database URL".into()).into()
            }),
        }
    }

    /// The signing key when there is a place for it: a SQLite log's key file lies
    /// beside it; other URLs sign only with `--key-file`.
    fn signing_key_if_any(&self) -> anyhow::Result<Option<SigningKey>> {
        if self.file.is_none() && checkpoint::default_key_file_for(&self.url).is_none() {
            return Ok(None);
        }
        self.signing_key().map(Some)
    }

    /// The signing key, created on first use.
    fn signing_key(&self) -> anyhow::Result<SigningKey> {
        Ok(checkpoint::load_or_create_key(
            &self.path()?,
            self.origin.as_deref(),
        )?)
    }

    /// The verifier key: given (a key line, or a file holding one), else the signing
    /// key file's, if there is one.
    fn verifier_key(&self, given: Option<&str>) -> anyhow::Result<Option<VerifierKey>> {
        if let Some(given) = given {
            if let Ok(key) = VerifierKey::parse(given) {
                return Ok(Some(key));
            }
            let text = std::fs::read_to_string(given).map_err(|e| {
                BadInput(format!(
                    "--public-key: neither a verifier key nor a readable file ({e})"
                ))
            })?;
            let key = VerifierKey::parse(&text)
                .map_err(|e| BadInput(format!("--public-key: {given}: {e}")))?;
            return Ok(Some(key));
        }
        // A PostgreSQL log has no key file beside it: without --key-file or
        // --public-key, signatures are not checked (the report says so).
        let Some(path) = self
            .file
            .clone()
            .or_else(|| checkpoint::default_key_file_for(&self.url))
        else {
            return Ok(None);
        };
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(checkpoint::load_key(&path)?.verifier()))
    }
}

/// Verifies the log with a progress bar on a terminal.
async fn verify(
    url: &str,
    keys: &KeyConfig,
    anchors: &[PathBuf],
    public_key: Option<&str>,
) -> anyhow::Result<Report> {
    let mut opts = Verify::default();
    if let Some(key) = keys.verifier_key(public_key)? {
        opts = opts.key(key);
    }
    for path in anchors {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--anchor: reading {}", path.display()))?;
        let anchor = checkpoint::parse_unverified(&text)
            .map_err(|e| BadInput(format!("--anchor: {}: {e}", path.display())))?;
        if let Some(key) = &opts.key
            && anchor.origin != key.name()
        {
            return Err(BadInput(format!(
                "--anchor: {} is a checkpoint of {:?}, but the verifier key is {:?}'s: the \
                 key does not match the log's signer",
                path.display(),
                anchor.origin,
                key.name()
            ))
            .into());
        }
        opts = opts.anchor(path.display().to_string(), text);
    }
    let audit = open(url, Access::Read).await?;
    let bar = output::progress_bar(audit.head().await?);
    let progress = bar.clone();
    let report = audit
        .verify(opts, move |n| progress.set_position(n))
        .await
        .context("verifying the log")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Runs the benchmark with a progress bar for the load and one line per phase, both
/// only on a terminal.
async fn bench(opts: &hawk_bench::Options) -> anyhow::Result<hawk_bench::Report> {
    let bar = output::progress_bar(opts.entries);
    let report = hawk_bench::run(opts, |progress| match progress {
        hawk_bench::Progress::Loaded(n) => bar.inc(n),
        hawk_bench::Progress::Phase(phase) => bar.set_message(phase),
        _ => {}
    })
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))
    .context("running the benchmark")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Serves the HTTP API until SIGINT or SIGTERM, then finishes the requests in flight
/// and records every pending event before returning.
async fn serve(
    url: &str,
    listen: &str,
    rate_limit: u32,
    max_db_size: Option<u64>,
    keys: &KeyConfig,
    cadence: Cadence,
    limits: hawk_server::ServeOptions,
) -> anyhow::Result<()> {
    let addr = tokio::net::lookup_host(listen)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| BadInput(format!("--listen: not an address: {listen:?}")))?;
    let bus = Events::new();
    let mut options = Options::default().events(bus.clone());
    let key = keys.signing_key_if_any()?;
    if let Some(key) = &key {
        options = options.checkpoints(key.clone(), cadence);
    }
    if max_db_size.is_some() && is_postgres(url) {
        return Err(BadInput(
            "--max-db-size: caps a SQLite file; a PostgreSQL database's space is the \
             server's to limit"
                .into(),
        )
        .into());
    }
    if let Some(bytes) = max_db_size {
        options = options.max_size_bytes(bytes);
    }
    let audit = Audit::open_with(url, options).await?;

    let keys = audit.has_keys().await?;
    if !keys {
        hawk_server::require_loopback(&addr).map_err(BadInput)?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let url = redact_password(url);
    if keys {
        tracing::info!(
            "serving {url} on http://{local}: API keys are configured, so every request \
             but /healthz and the dashboard's files needs one (Authorization: Bearer KEY); \
             {rate_limit} requests/s per key"
        );
    } else {
        tracing::info!(
            "serving {url} on http://{local} without auth: no API keys are configured, \
             so only clients on this machine (loopback) can connect"
        );
    }
    match key {
        Some(key) => tracing::info!(
            "signing checkpoints every {} entries or {} s; verifier key {}",
            cadence.entries,
            cadence.interval.as_secs(),
            key.verifier()
        ),
        None => tracing::info!(
            "not signing checkpoints: give --key-file (or HAWK_KEY_FILE), the same file \
             on every server writing this database"
        ),
    }
    let state = hawk_server::AppState::new(audit, bus)
        .rate_limit(hawk_server::RateLimit::per_second(rate_limit))
        .serve_options(limits);
    hawk_server::serve_state(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped; every accepted entry and event is recorded");
    Ok(())
}

/// Whether `url` names a PostgreSQL database (else a SQLite file, or nothing valid).
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Writes the export to `w` in chunks, with a progress bar on a terminal; returns
/// how many entries were written.
async fn export_to(
    audit: &Audit,
    format: Format,
    account: Option<String>,
    w: &mut dyn Write,
) -> anyhow::Result<u64> {
    // Also checks the account id before anything is written.
    let total = export::count(audit, account.as_deref()).await?;
    let bar = output::progress_bar(total);
    w.write_all(&format.header())?;
    let mut chunks = std::pin::pin!(export::chunks(audit, account));
    let mut written = 0;
    while let Some(chunk) = chunks.try_next().await? {
        w.write_all(&format.encode(&chunk))?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// `url` with the password of a `postgres://user:password@host/…` URL replaced by
/// `***`, for logs.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// What a command does to the log, which decides how it is opened.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Only reads: opened read-only, so an archived or evidence copy without write
    /// access can be read and verified, and a mistyped path is not made a new log.
    Read,
    /// Writes to a log that must exist already.
    Write,
    /// Writes, and may start a new log.
    Create,
}

async fn open(url: &str, access: Access) -> anyhow::Result<Audit> {
    let options = match access {
        Access::Read => Options::default().read_only(true),
        Access::Write => Options::default().create(false),
        Access::Create => Options::default(),
    };
    Audit::open_with(url, options).await.map_err(missing_log)
}

/// A missing log, said so that a mistyped path is recognised as one.
fn missing_log(err: hawk_audit::Error) -> anyhow::Error {
    match err {
        hawk_audit::Error::NotFound(what) => anyhow::anyhow!(
            "{what}; check --db (only track, serve, demo, import and keys create start a \
             new log)"
        ),
        err => err.into(),
    }
}

/// `prove --consistency M N` names the sizes as the command line does.
fn consistency_args(err: hawk_audit::Error) -> anyhow::Error {
    let renamed = err.as_invalid().and_then(|invalid| {
        let name = match invalid.field() {
            "from" => "M",
            "to" => "N",
            _ => return None,
        };
        let text = invalid.to_string();
        let rule = text
            .split_once(": ")
            .map_or(text.as_str(), |(_, rule)| rule);
        Some(BadInput(format!("--consistency M N: {name} {rule}")))
    });
    match renamed {
        Some(bad) => bad.into(),
        None => err.into(),
    }
}

/// Imports `total` entries of the reference workload into the empty log at `url`,
/// with a progress bar on a terminal. Returns how many were written.
async fn demo(audit: &Audit, url: &str, total: u64) -> anyhow::Result<u64> {
    // Demo entries are made up and dated 2025; times never decrease, so mixed into a
    // real log they would push every later real entry's time forward, for good.
    let head = audit.head().await?;
    if head > 0 {
        return Err(BadInput(format!(
            "--db: {} already holds {head} entries; demo writes only into a new, empty \
             log, so that made-up entries never mix with real ones (give another file, \
             e.g. --db demo.db)",
            redact_password(url)
        ))
        .into());
    }
    let bar = output::progress_bar(total);
    let written = workload::load(audit, workload::DEMO_SEED, total, |n| bar.inc(n))
        .await
        .context("importing demo data")?;
    bar.finish_and_clear();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn logged_urls_hide_passwords() {
        assert_eq!(
            redact_password("postgres://hawk:s3cr@t@db:5432/audit?sslmode=disable"),
            "postgres://hawk:***@db:5432/audit?sslmode=disable"
        );
        assert_eq!(
            redact_password("postgres://hawk@db/audit"),
            "postgres://hawk@db/audit"
        );
        assert_eq!(redact_password("sqlite:hawk.db"), "sqlite:hawk.db");
        assert_eq!(
            redact_password("postgresql://db/audit?user=a@b"),
            "postgresql://db/audit?user=a@b"
        );
    }
}
