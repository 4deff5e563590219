//! `hawk`: drive a Hawk audit log from the shell.
//!
//! Argument parsing and printing only; everything else lives in `hawk-audit`.
//! Exit status: 0 success, 2 bad input or usage, 1 anything else. Errors are one
//! line on stderr, `hawk: <message>`.

mod commands;
mod filter;
mod output;

use std::fmt;
use std::io::{self, IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use hawk_audit::import;

use crate::commands::{
    Context, KeyConfig, checkpoint, demo, entries, keys, prune, serve, sinks, transfer, verify,
};
use crate::filter::FilterArgs;
use crate::output::Out;

/// Reading a log builds every entry from a dozen small allocations on a reader thread
/// and frees them on another; mimalloc does that with a quarter less CPU than glibc's
/// malloc (BENCHMARKS.md, "Streaming an account").
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
            "track",
            "recent",
            "search",
            "actions",
            "account",
            "actors",
            "resources",
            "accounts",
            "prove",
            "keys",
            "export",
            "import",
            "demo",
            "bench",
        ],
    ),
    (
        "origin",
        &[
            "track",
            "recent",
            "search",
            "actions",
            "account",
            "actors",
            "resources",
            "accounts",
            "verify",
            "prove",
            "keys",
            "export",
            "import",
            "demo",
            "bench",
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
    Track(TrackArgs),
    /// List entries, newest first, a page at a time.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk recent --search invoice --per-page 20 --page 2\n  \
         hawk recent -q 'actor:user:42 created:>=2026-10-01 -action:login'\n  \
         hawk recent --resource-type project --since 2026-10-01 --until 2026-11-01"
    ))]
    Recent(RecentArgs),
    /// The newest entries whose action contains QUERY.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk search inv --limit 10\n  \
         hawk search inv -q 'account:acme created:2026-10-05'"
    ))]
    Search(SearchArgs),
    /// Actions containing QUERY with their counts, as a typeahead suggests them.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk actions inv --limit 5\n  \
         hawk actions --actor-type user -q 'created:>=2026-10-01'"
    ))]
    Actions(ActionsArgs),
    /// One account's entries, newest first: every entry, or one page of them.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk account acme --page 1 --per-page 20\n  \
         hawk account acme -q 'actor:user:42 -action:login'"
    ))]
    Account(AccountArgs),
    /// Actors whose TYPE:ID or id begins with PREFIX, with their counts, most first.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk actors user:4 --limit 5\n  \
         hawk actors --types -q 'account:acme created:>=2026-10-01'"
    ))]
    Actors(SubjectArgs),
    /// Resources whose TYPE:ID or id begins with PREFIX, with their counts, most first.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk resources project: --limit 5\n  \
         hawk resources --types -q 'actor:user:42 -is:system'"
    ))]
    Resources(SubjectArgs),
    /// Accounts whose id begins with PREFIX, with their counts, most first.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk accounts ac\n  \
         hawk accounts -q 'action:invoice.paid created:2026-10-05'"
    ))]
    Accounts(SuggestArgs),
    /// Serve the HTTP API and the dashboard until SIGINT or SIGTERM.
    #[command(after_help = "Example:\n  hawk serve --listen 127.0.0.1:7433")]
    Serve(ServeArgs),
    /// Check every entry, checkpoint and anchor: exit 0 intact, 1 tampered, 2 error.
    #[command(after_help = "Example:\n  hawk verify --anchor checkpoint.txt \
                            --public-key verifier.key")]
    Verify(VerifyArgs),
    /// Signed checkpoints of the log's Merkle tree.
    #[command(after_help = "Example:\n  hawk checkpoint export --output checkpoint.txt")]
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
    /// Print an inclusion proof of entry ID, or a consistency proof.
    #[command(after_help = "Examples:\n  hawk prove 42 --size 1000\n  \
                            hawk prove --consistency 1000 2000")]
    Prove(ProveArgs),
    /// Create, list and revoke the API keys `hawk serve` asks for.
    #[command(after_help = "Example:\n  hawk keys create --scope read --account acme")]
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Add, list, pause, resume, replay and remove the log streams `hawk serve`
    /// delivers.
    #[command(
        after_help = "Example:\n  hawk sinks add webhook https://siem.example/hawk --name siem"
    )]
    Sinks {
        #[command(subcommand)]
        command: sinks::SinksCommand,
    },
    /// Write every entry (or the matching ones), oldest first, as CSV or NDJSON.
    #[command(after_help = filter::help!(
        "Examples:\n  hawk export --format csv --output log.csv\n  \
         hawk export --format ndjson -q 'account:acme created:2026-10-01..2026-10-31'"
    ))]
    Export(ExportArgs),
    /// Import HawkEx's table or its CSV, or a Hawk export; nothing is imported twice.
    #[command(
        after_help = "Examples:\n  hawk import postgres://hawkex@db.internal/app\n  \
                            hawk import hawk_ex_audit_logs.csv"
    )]
    Import(ImportArgs),
    /// Remove the entries older than DATE, recording the prune as an entry.
    #[command(
        after_help = "Examples:\n  hawk prune --before 2025-01-01 --dry-run\n  \
                            hawk prune --before 2025-01-01 --yes"
    )]
    Prune(PruneArgs),
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
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct TrackArgs {
    /// What happened, conventionally `noun.verb`.
    pub(crate) action: String,
    /// Who acted (with --actor-id); without both, the system acted.
    #[arg(long, value_name = "T")]
    pub(crate) actor_type: Option<String>,
    /// The actor's id (with --actor-type).
    #[arg(long, value_name = "I")]
    pub(crate) actor_id: Option<String>,
    /// What it happened to (with --resource-id).
    #[arg(long, value_name = "T")]
    pub(crate) resource_type: Option<String>,
    /// The resource's id (with --resource-type).
    #[arg(long, value_name = "I")]
    pub(crate) resource_id: Option<String>,
    /// The entry's account (default: an `account` resource's id).
    #[arg(long, value_name = "ID")]
    pub(crate) account: Option<String>,
    /// Details, as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub(crate) metadata: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RecentArgs {
    /// Page number, from 1.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) page: u64,
    /// Entries per page, 1-1000.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub(crate) per_page: u64,
    /// Page the log as it was at entry ID (every page prints its as_of).
    #[arg(long, value_name = "ID")]
    pub(crate) as_of: Option<u64>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    /// Case-insensitive, literal part of the action.
    pub(crate) query: String,
    /// How many entries, 1-100.
    #[arg(long, default_value_t = hawk_audit::DEFAULT_SEARCH_LIMIT, value_name = "N")]
    pub(crate) limit: u64,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ActionsArgs {
    /// Case-insensitive, literal part of the action (none: every action).
    pub(crate) query: Option<String>,
    /// How many actions, 1-100.
    #[arg(long, default_value_t = hawk_audit::DEFAULT_ACTIONS_LIMIT, value_name = "N")]
    pub(crate) limit: u64,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SuggestArgs {
    /// The beginning of `TYPE:ID` or of the id (case-sensitive; none: every one).
    pub(crate) prefix: Option<String>,
    /// How many, 1-100.
    #[arg(long, default_value_t = hawk_audit::DEFAULT_ACTIONS_LIMIT, value_name = "N")]
    pub(crate) limit: u64,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SubjectArgs {
    /// List the types beginning with PREFIX instead, with their counts.
    #[arg(long)]
    pub(crate) types: bool,
    #[command(flatten)]
    pub(crate) suggest: SuggestArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountArgs {
    /// The account id.
    pub(crate) account_id: String,
    /// Print this page only (default: every entry).
    #[arg(long, value_name = "N")]
    pub(crate) page: Option<u64>,
    /// Entries per page, 1-1000 (implies paging).
    #[arg(long, value_name = "N")]
    pub(crate) per_page: Option<u64>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback only, until API keys exist).
    #[arg(long, default_value = hawk_server::DEFAULT_LISTEN, value_name = "ADDR")]
    pub(crate) listen: String,
    /// Requests per second per API key (bursts: twice as many).
    #[arg(long, default_value_t = 50, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate_limit: u32,
    /// Refuse writes past this SQLite file size, as on a full disk.
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_db_size: Option<u64>,
    /// Sign a checkpoint after this many new entries.
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) checkpoint_entries: u64,
    /// Sign a checkpoint at least this often while entries arrive.
    #[arg(long, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) checkpoint_interval: u64,
    /// Seconds before another server takes over a dead one's sinks
    #[arg(long, default_value_t = 15, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) sink_lease: u64,
    // From the connection's start, or from the previous response on a kept-alive
    // one (README, "The HTTP API").
    /// Close a connection whose headers take longer than this
    #[arg(long, default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) header_read_timeout: u64,
    // Closed after twice as long (live tails send comments often enough).
    /// Idle time after which a connection is no longer kept alive
    #[arg(long, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) idle_timeout: u64,
    /// Connections open at once; more wait until one closes.
    #[arg(long, default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,
    /// Log lines as text, or as one JSON object per line.
    #[arg(long, default_value = "text", value_name = "FORMAT",
          value_parser = ["text", "json"])]
    pub(crate) log_format: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// A checkpoint kept elsewhere (`hawk checkpoint export`); repeatable.
    #[arg(long, value_name = "FILE")]
    pub(crate) anchor: Vec<PathBuf>,
    /// The verifier key, or a file holding it (default: the key file's).
    #[arg(long, env = "HAWK_PUBLIC_KEY", value_name = "KEY|FILE")]
    pub(crate) public_key: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProveArgs {
    /// The entry to prove.
    #[arg(required_unless_present = "consistency")]
    pub(crate) id: Option<u64>,
    /// The tree size (default: the latest checkpoint's if it covers ID).
    #[arg(long, value_name = "N", conflicts_with = "consistency")]
    pub(crate) size: Option<u64>,
    /// Prove that the tree of N entries extends the tree of M entries.
    #[arg(long, num_args = 2, value_names = ["M", "N"], conflicts_with = "id")]
    pub(crate) consistency: Option<Vec<u64>>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// csv (with a header row) or ndjson (one entry per line).
    #[arg(long, value_parser = ["csv", "ndjson"], value_name = "FORMAT")]
    pub(crate) format: String,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// A file, or the postgres:// database that holds HawkEx's table.
    pub(crate) source: String,
    /// The HawkEx table to read from a postgres:// source.
    #[arg(long, default_value = import::HAWK_EX_TABLE, value_name = "NAME")]
    pub(crate) table: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// RFC 3339 time or YYYY-MM-DD (UTC midnight), not in the future.
    #[arg(long, value_name = "DATE")]
    pub(crate) before: String,
    /// Only print what would go: how many entries, their ids and times.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Remove without asking (required when stdin is not a terminal).
    #[arg(long, short)]
    pub(crate) yes: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// How many entries to load.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub(crate) entries: u64,
    /// The engine to measure.
    #[arg(long, value_enum, default_value_t = Engine::Sqlite)]
    pub(crate) engine: Engine,
    /// The PostgreSQL server to create the bench database on.
    #[arg(
        long,
        env = "HAWK_BENCH_POSTGRES",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        value_name = "URL"
    )]
    pub(crate) pg_url: String,
    /// Where the databases, bench.json and bench.svg go (new files only).
    #[arg(long, default_value = "hawk-bench", value_name = "DIR")]
    pub(crate) dir: std::path::PathBuf,
    /// Timed runs of each Hawk operation.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) samples: usize,
    /// Fewest timed runs of each HawkEx query; lower it on large logs.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub(crate) baseline_min_runs: usize,
    /// Keep the databases after the run.
    #[arg(long)]
    pub(crate) keep: bool,
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
        Command::Serve(args) => (
            tracing_subscriber::filter::LevelFilter::INFO,
            args.log_format == "json",
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

/// The error and its causes on one line. A storage error keeps the driver's error as
/// its source but already says what it says, so the causes end at the library's error.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause.to_string());
        let says_all = cause.is::<hawk_audit::Error>()
            || cause
                .downcast_ref::<import::ImportError>()
                .is_some_and(|e| matches!(e, import::ImportError::Log(_)));
        if says_all {
            break;
        }
    }
    line.replace(['\n', '\r'], " ")
}

/// Runs the command, then flushes what it printed.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = Out::new(cli.json);
    let cx = Context {
        db: cli.db.clone(),
        json: cli.json,
        keys: KeyConfig {
            url: cli.db,
            file: cli.key_file,
            origin: cli.origin,
        },
    };
    let code = match cli.command {
        Command::Track(args) => success(entries::track(&cx, &mut out, args).await)?,
        Command::Recent(args) => success(entries::recent(&cx, &mut out, args).await)?,
        Command::Search(args) => success(entries::search(&cx, &mut out, args).await)?,
        Command::Actions(args) => success(entries::actions(&cx, &mut out, args).await)?,
        Command::Account(args) => success(entries::account(&cx, &mut out, args).await)?,
        Command::Actors(args) => success(entries::actors(&cx, &mut out, args).await)?,
        Command::Resources(args) => success(entries::resources(&cx, &mut out, args).await)?,
        Command::Accounts(args) => success(entries::accounts(&cx, &mut out, args).await)?,
        Command::Serve(args) => success(serve::serve(&cx, args).await)?,
        Command::Verify(args) => verify::run(&cx, &mut out, args).await?,
        Command::Checkpoint { command } => match command {
            CheckpointCommand::Export { output } => {
                success(checkpoint::export(&cx, &mut out, output.as_deref()).await)?
            }
            CheckpointCommand::PublicKey => success(checkpoint::public_key(&cx, &mut out))?,
        },
        Command::Prove(args) => success(checkpoint::prove(&cx, &mut out, args).await)?,
        Command::Keys { command } => success(keys::run(&cx, &mut out, command).await)?,
        Command::Sinks { command } => success(sinks::run(&cx, &mut out, command).await)?,
        Command::Export(args) => success(transfer::export(&cx, &mut out, args).await)?,
        Command::Import(args) => success(transfer::import(&cx, &mut out, args).await)?,
        Command::Prune(args) => success(prune::run(&cx, &mut out, args).await)?,
        Command::Backup { file } => verify::backup(&cx, &mut out, &file).await?,
        Command::Demo { entries } => success(demo::demo(&cx, &mut out, entries).await)?,
        Command::Bench(args) => success(demo::bench(&mut out, args).await)?,
    };
    out.flush()?;
    Ok(code)
}

/// A command that printed its result has succeeded.
fn success(done: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    done.map(|()| ExitCode::SUCCESS)
}
