//! The README's commands, run as written in a fresh directory with `hawk` on the PATH.

use std::path::Path;
use std::process::Command;

/// The README's section under `heading`, up to the next heading of its level.
fn section(readme: &str, heading: &str) -> String {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &readme[start + heading.len() + 2..];
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The indented command lines of a section.
fn commands(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|line| line.strip_prefix("    "))
        .filter(|line| line.starts_with("hawk ") || line.starts_with("cargo "))
        .map(str::to_owned)
        .collect()
}

/// Runs `line` with `sh` in `dir`, the `hawk` under test first on the PATH.
fn sh(dir: &Path, line: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_hawk")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("HAWK_DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{line}: {:?}\n{stderr}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn readme_commands_ran_only_from_the_repository_root() {
    // The first screen ran `./target/release/hawk` and `cargo run`, which work only in
    // the repository, and never said how to put the `hawk` every later example uses on
    // the PATH.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let first = commands(&section(&readme, "## Two commands"));
    assert_eq!(
        first[..2],
        [
            "cargo install --locked --path crates/hawk-cli",
            "hawk demo --entries 100000 && hawk recent"
        ]
    );
    let http = commands(&section(&readme, "## The HTTP API"));
    assert_eq!(http.first().map(String::as_str), Some("hawk serve"));
    for line in readme.lines() {
        assert!(
            !line.contains("./target/release/hawk") && !line.contains("cargo run -p hawk-cli"),
            "runs only from the repository: {line}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let listed = sh(dir.path(), &first[1]);
    assert!(
        listed.ends_with("page 1 of 2,000 · 100,000 entries · as_of 100000\n"),
        "{listed}"
    );
    assert!(
        dir.path().join("hawk.db").exists(),
        "in the current directory"
    );
    let cli = section(&readme, "## The CLI");
    let example = cli.split("Example:").nth(1).expect("the CLI's example");
    let lines = commands(example);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines[..2] {
        sh(dir.path(), line);
    }
    if Command::new("jq").arg("--version").output().is_ok() {
        assert_eq!(sh(dir.path(), &lines[2]), "1\n", "{}", lines[2]);
    }
}
