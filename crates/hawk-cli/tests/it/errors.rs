//! Exit statuses: 0 success, 2 bad input or usage, 1 anything else; every error is one
//! line on stderr and bad input writes nothing.

use crate::helpers::{Log, failed, hawk};

#[test]
fn bad_input_exits_2_naming_the_field_and_writes_nothing() {
    let log = Log::new();
    let cases: &[(&[&str], &str)] = &[
        (&["track", ""], "action: is required"),
        (&["track", "   "], "action: is required"),
        (
            &["track", "user.\u{1}login"],
            "action: must not contain control",
        ),
        (
            &["track", "user.\u{7f}login"],
            "action: must not contain control",
        ),
        (&["track", &"x".repeat(256)], "action: must be at most 255"),
        (&["track", "a.b", "--actor-type", "user"], "actor_id: "),
        (&["track", "a.b", "--actor-id", "7"], "actor_type: "),
        (
            &["track", "a.b", "--resource-type", "project"],
            "resource_id: ",
        ),
        (&["track", "a.b", "--account", ""], "account_id: "),
        (
            &["track", "a.b", "--metadata", "[1]"],
            "metadata: must be a JSON object",
        ),
        (
            &["track", "a.b", "--metadata", "\"text\""],
            "metadata: must be a JSON object",
        ),
        (&["track", "a.b", "--metadata", "{not json"], "metadata: "),
        (&["track", "a.b", "--metadata", ""], "metadata: "),
        (&["recent", "--per-page", "0"], "per_page: "),
        (&["recent", "--per-page", "1001"], "per_page: "),
        (&["recent", "--page", "0"], "page: "),
        (&["search", "a", "--limit", "0"], "limit: "),
        (&["search", "a", "--limit", "101"], "limit: "),
        (&["actions", "--limit", "0"], "limit: "),
        (&["account", "acme", "--per-page", "0"], "per_page: "),
        (&["account", "acme", "--page", "0"], "page: "),
        (&["account", ""], "account_id: "),
        (&["account", "", "--page", "1"], "account_id: "),
    ];
    for (args, expected) in cases {
        let message = failed(&log.run(args), 2);
        assert!(
            message.starts_with(expected),
            "hawk {args:?}: {message:?} should start with {expected:?}"
        );
    }
    assert_eq!(log.total_count(), 0);
}

// Regression: control characters were refused in the action only; an actor, resource
// or account holding ESC or CR was stored and printed as it was.
#[test]
fn control_characters_in_any_field_exit_2_naming_it_and_write_nothing() {
    let log = Log::new();
    let bad = "\u{1b}[2Jx\ry";
    let cases: &[(&[&str], &str)] = &[
        (
            &["track", "a.b", "--actor-type", bad, "--actor-id", "1"],
            "actor_type",
        ),
        (
            &["track", "a.b", "--actor-type", "user", "--actor-id", bad],
            "actor_id",
        ),
        (
            &["track", "a.b", "--resource-type", bad, "--resource-id", "1"],
            "resource_type",
        ),
        (
            &[
                "track",
                "a.b",
                "--resource-type",
                "doc",
                "--resource-id",
                bad,
            ],
            "resource_id",
        ),
        (&["track", "a.b", "--account", bad], "account_id"),
    ];
    for (args, field) in cases {
        let message = failed(&log.run(args), 2);
        assert_eq!(
            message,
            format!("{field}: must not contain control characters (U+0000-U+001F, U+007F)"),
            "hawk {args:?}"
        );
    }
    assert_eq!(log.total_count(), 0);
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let log = Log::new();
    let cases: &[(&[&str], &str)] = &[
        (&["track"], "<ACTION>"),
        (&["recent", "--page", "x"], "--page"),
        (&["recent", "--page", "-1"], "-1"),
        (&["recent", "--bogus"], "--bogus"),
        (&["frobnicate"], "frobnicate"),
        (&["search"], "<QUERY>"),
    ];
    for (args, expected) in cases {
        let message = failed(&log.run(args), 2);
        assert!(message.contains(expected), "hawk {args:?}: {message:?}");
    }
    assert!(!log.path("hawk.db").exists(), "nothing was created");
}

#[test]
fn a_bad_database_url_exits_2_and_a_failing_store_exits_1() {
    let log = Log::new();
    let out = hawk()
        .args(["recent", "--db", "mysql://localhost/hawk"])
        .output()
        .unwrap();
    assert!(failed(&out, 2).starts_with("url: "));

    let missing_dir = log.path("no/such/dir/hawk.db");
    let out = hawk()
        .args(["track", "a.b", "--db"])
        .arg(format!("sqlite:{}", missing_dir.display()))
        .output()
        .unwrap();
    let message = failed(&out, 1);
    assert!(message.contains("does not exist"), "{message}");
    let out = hawk()
        .args(["recent", "--db"])
        .arg(format!("sqlite:{}", missing_dir.display()))
        .output()
        .unwrap();
    let message = failed(&out, 1);
    assert!(message.contains("no log at"), "{message}");
}

#[test]
fn help_and_version_exit_0() {
    let out = hawk().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["track", "recent", "search", "actions", "account", "demo"] {
        assert!(help.contains(command), "{help}");
    }
    let out = hawk().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("hawk "));
}
