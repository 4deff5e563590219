//! Runs the real `hawk` binary against a log in a fresh temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

/// `hawk` with a clean environment: no database URL or log filter from the caller.
pub(crate) fn hawk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hawk"));
    cmd.env_remove("HAWK_DATABASE_URL").env_remove("RUST_LOG");
    cmd
}

/// A log in its own temporary directory.
pub(crate) struct Log {
    dir: TempDir,
    url: String,
}

impl Log {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        Log { dir, url }
    }

    /// The log at `url` (any engine), with a fresh temporary directory for files.
    pub(crate) fn at(url: String) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Log { dir, url }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Another database file in the same directory.
    pub(crate) fn other_url(&self, name: &str) -> String {
        format!("sqlite:{}", self.path(name).display())
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hawk ARGS --db URL`.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = hawk();
        cmd.args(args).args(["--db", &self.url]);
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running hawk")
    }

    /// Runs a command that must succeed quietly; returns its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args), args)
    }

    /// Runs a command with `--json`; returns the parsed output.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        parse_json(&self.ok(&args))
    }

    /// `hawk track ACTION EXTRA… --json`: the stored entry.
    pub(crate) fn track(&self, action: &str, extra: &[&str]) -> Value {
        let mut args = vec!["track", action];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// Every entry, newest first, through `recent --per-page 1000`.
    pub(crate) fn all(&self) -> Vec<Value> {
        let page = self.json(&["recent", "--per-page", "1000"]);
        assert!(page["total_count"].as_u64().unwrap() <= 1000);
        page["entries"].as_array().unwrap().clone()
    }

    pub(crate) fn total_count(&self) -> u64 {
        self.json(&["recent"])["total_count"].as_u64().unwrap()
    }
}

/// Asserts a run exited 0 with nothing on stderr; returns its stdout.
pub(crate) fn succeeded(out: &Output, what: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "hawk {what:?}: {:?}\nstderr: {stderr}",
        out.status
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

pub(crate) fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a run failed with `code` and exactly one stderr line, `hawk: …`, and
/// printed nothing on stdout; returns the message after `hawk: `.
pub(crate) fn failed(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).expect("UTF-8 stderr");
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    lines[0]
        .strip_prefix("hawk: ")
        .unwrap_or_else(|| panic!("starts with 'hawk: ': {stderr:?}"))
        .to_owned()
}

/// The ids of a list of entries, in order.
pub(crate) fn ids(entries: &[Value]) -> Vec<u64> {
    entries.iter().map(|e| e["id"].as_u64().unwrap()).collect()
}

/// A fresh PostgreSQL database on the test server (`HAWK_TEST_POSTGRES`, default the
/// local one), dropped when this value is. `None`, after a loud message, when no server
/// answers, unless `CI` is set: there it must be reachable and the test fails.
pub(crate) struct PgDb {
    admin: String,
    name: String,
}

impl PgDb {
    pub(crate) fn create() -> Option<PgDb> {
        let admin = std::env::var("HAWK_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("hawk_t_cli_{}_{nanos}", std::process::id());
        let created = Command::new("psql")
            .args([&admin, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output();
        match created {
            Ok(out) if out.status.success() => Some(PgDb { admin, name }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(err) => format!("psql: {err}"),
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "PostgreSQL at {admin} is required under CI: {why}"
                );
                eprintln!("SKIPPED: no PostgreSQL at {admin} ({why}); set HAWK_TEST_POSTGRES");
                None
            }
        }
    }

    /// The database's URL.
    pub(crate) fn url(&self) -> String {
        match self.admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", self.name),
            None => panic!("HAWK_TEST_POSTGRES must end with /DATABASE"),
        }
    }

    /// Runs SQL through psql, which must succeed.
    pub(crate) fn sql(&self, sql: &str) {
        let out = Command::new("psql")
            .args([&self.url(), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([&self.admin, "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}
