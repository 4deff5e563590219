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

pub(crate) use hawk_testing::PgDb;
