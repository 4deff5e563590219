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
    assert_eq!(lines.len(), 5, "{lines:?}");
    for line in &lines[..4] {
        sh(dir.path(), line);
    }
    // The filtered listing finds the entry tracked above.
    assert!(
        sh(dir.path(), &lines[2]).contains("project.deleted"),
        "{}",
        lines[2]
    );
    if Command::new("jq").arg("--version").output().is_ok() {
        assert_eq!(sh(dir.path(), &lines[4]), "1\n", "{}", lines[4]);
    }
}

/// Paths a document names: the targets of its relative Markdown links, and code spans
/// that look like a file or directory of the repository (a `/` and a file extension
/// or a trailing `/`). Fenced code blocks are examples, not references, and skipped.
fn named_paths(doc: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let mut paths = Vec::new();
    for link in prose.split("](").skip(1) {
        let target = link.split([')', '#', ' ']).next().unwrap_or("");
        if !target.is_empty() && !target.contains(':') {
            paths.push(target.to_owned());
        }
    }
    for span in prose.split('`').skip(1).step_by(2) {
        let path_like = span.contains('/')
            && !span.starts_with('/')
            && span
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
        let file_like = span.ends_with('/')
            || [
                ".rs", ".md", ".sh", ".toml", ".json", ".js", ".css", ".html", ".svg",
            ]
            .iter()
            .any(|ext| span.ends_with(ext));
        if path_like && file_like {
            paths.push(span.to_owned());
        }
    }
    paths
}

#[test]
fn docs_name_only_paths_that_exist() {
    // Moving text between README.md, BENCHMARKS.md, ARCHITECTURE.md and the module docs
    // can leave a link or a path pointing at nothing.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    // A path in a code map may be relative to a crate or to its sources.
    let mut bases = vec![root.to_path_buf()];
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        bases.push(krate.join("src"));
        bases.push(krate);
    }
    let docs = [
        "README.md",
        "ARCHITECTURE.md",
        "DESIGN.md",
        "BENCHMARKS.md",
        "VERIFYING.md",
        "STREAMS.md",
        "fuzz/README.md",
    ];
    let mut missing = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let dir = root.join(doc).parent().unwrap().to_path_buf();
        for path in named_paths(&text) {
            if !bases
                .iter()
                .chain([&dir])
                .any(|base| base.join(&path).exists())
            {
                missing.push(format!("{doc}: {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "named but missing: {missing:#?}");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        named_paths(&readme).contains(&"BENCHMARKS.md".to_owned()),
        "the README links the benchmarks"
    );
}
