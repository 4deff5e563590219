//! The global flags: `--db` before or after the subcommand or from
//! `HAWK_DATABASE_URL`, and `--json` anywhere on the line.

use crate::helpers::{Log, hawk, ids, parse_json, succeeded};

fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("running hawk");
    succeeded(&out, &[])
}

#[test]
fn db_is_taken_before_or_after_the_subcommand_or_from_the_environment() {
    let log = Log::new();
    let (before, after, env) = (
        log.other_url("before.db"),
        log.other_url("after.db"),
        log.other_url("env.db"),
    );
    run(hawk().args(["--db", &before, "track", "written.before"]));
    run(hawk().args(["track", "written.after", "--db", &after]));
    run(hawk()
        .args(["track", "written.env"])
        .env("HAWK_DATABASE_URL", &env));
    // The flag wins over the environment.
    run(hawk()
        .args(["track", "flag.wins", "--db", &after])
        .env("HAWK_DATABASE_URL", &env));

    let actions = |url: &str| -> Vec<String> {
        let page = parse_json(&run(hawk()
            .args(["recent", "--json"])
            .env("HAWK_DATABASE_URL", url)));
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(actions(&before), ["written.before"]);
    assert_eq!(actions(&after), ["flag.wins", "written.after"]);
    assert_eq!(actions(&env), ["written.env"]);
}

#[test]
fn db_defaults_to_hawk_db_in_the_working_directory() {
    let log = Log::new();
    run(hawk().arg("track").arg("default.db").current_dir(log.dir()));
    assert!(log.path("hawk.db").is_file());
    assert_eq!(log.total_count(), 1, "Log's own file is hawk.db too");
}

#[test]
fn json_is_taken_anywhere_on_the_line() {
    let log = Log::new();
    log.track("a.b", &[]);
    let url = log.url();
    for args in [
        &["--json", "recent", "--db", url][..],
        &["--json", "--db", url, "recent", "--per-page", "5"],
        &["recent", "--json", "--per-page", "5", "--db", url],
        &["recent", "--per-page", "5", "--db", url, "--json"],
    ] {
        let page = parse_json(&run(hawk().args(args)));
        assert_eq!(ids(page["entries"].as_array().unwrap()), [1], "{args:?}");
    }
    let entry = parse_json(&run(hawk().args(["--json", "track", "c.d", "--db", url])));
    assert_eq!(entry["id"], 2);
}
