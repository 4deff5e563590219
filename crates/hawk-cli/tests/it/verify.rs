//! `hawk checkpoint`, `hawk verify` and `hawk prove`: the key file, exit statuses
//! 0 / 1 / 2, anchors, and proofs whose JSON verifies offline.

use hawk_audit::merkle::{self, Hash};
use serde_json::Value;

use crate::helpers::{Log, failed, parse_json};

fn seeded(n: usize) -> Log {
    let log = Log::new();
    for i in 0..n {
        log.track(
            "doc.edit",
            &["--actor-type", "user", "--actor-id", &i.to_string()],
        );
    }
    log
}

/// Drops the append-only triggers and runs `sql` on the log's file.
fn tamper(log: &Log, sql: &str) {
    let conn = rusqlite::Connection::open(log.path("hawk.db")).unwrap();
    conn.execute_batch("DROP TRIGGER entries_refuse_update; DROP TRIGGER entries_refuse_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn a_clean_log_verifies_with_its_key_and_an_exported_anchor() {
    let log = seeded(5);
    let anchor = log.path("anchor.txt");
    let said = log.ok(&["checkpoint", "export", "--output", anchor.to_str().unwrap()]);
    assert!(said.starts_with("checkpoint of 5 entries (root "), "{said}");
    let key_file = log.path("hawk.db.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let public = log.ok(&["checkpoint", "public-key"]);
    let verifier = hawk_audit::checkpoint::VerifierKey::parse(&public).unwrap();
    let note = std::fs::read_to_string(&anchor).unwrap();
    assert_eq!(verifier.verify(&note).unwrap().size, 5);
    // Export again with nothing new: the same note, on stdout.
    assert_eq!(log.ok(&["checkpoint", "export"]), note);

    log.track("doc.edit", &[]);
    let out = log.ok(&["verify", "--anchor", anchor.to_str().unwrap()]);
    assert!(
        out.starts_with("intact: 6 entries, 1 stored checkpoint and 1 anchor checked\n"),
        "{out}"
    );
    // The public key given on the line, or in a file, instead of the key file.
    std::fs::rename(&key_file, log.path("elsewhere.key")).unwrap();
    let report = log.json(&["verify", "--public-key", public.trim()]);
    assert_eq!(report["intact"], true);
    assert_eq!(report["signatures_checked"], true);
    assert_eq!(report["entries"], 6);
    let (_, root) = tree_head(&log);
    assert_eq!(report["root"], root);
    std::fs::write(log.path("public.txt"), &public).unwrap();
    let report = log.json(&[
        "verify",
        "--public-key",
        log.path("public.txt").to_str().unwrap(),
    ]);
    assert_eq!(report["intact"], true);
    // No key at all: still checked, but signatures are not.
    let report = log.json(&["verify"]);
    assert_eq!(report["signatures_checked"], false);
    assert_eq!(report["intact"], true);
}

fn tree_head(log: &Log) -> (u64, String) {
    let conn = rusqlite::Connection::open(log.path("hawk.db")).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT bytes FROM tree_frontier", [], |row| row.get(0))
        .unwrap();
    let frontier = merkle::Frontier::from_bytes(&bytes).unwrap();
    (frontier.size(), merkle::to_hex(&frontier.root()))
}

#[test]
fn tampering_exits_1_and_names_the_kind_and_the_first_bad_id() {
    let log = seeded(6);
    log.ok(&["checkpoint", "export"]);
    tamper(&log, "UPDATE entries SET actor_id = 'mallory' WHERE id = 4");
    let out = log.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("TAMPERED: modified at entry 4\n"),
        "{stdout}"
    );
    let out = log.run(&["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = parse_json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(report["intact"], false);
    assert_eq!(report["tamper"]["kind"], "modified");
    assert_eq!(report["tamper"]["id"], 4);

    let log = seeded(6);
    tamper(&log, "DELETE FROM entries WHERE id = 2");
    let report = parse_json(&String::from_utf8(log.run(&["verify", "--json"]).stdout).unwrap());
    assert_eq!(
        (&report["tamper"]["kind"], &report["tamper"]["id"]),
        (&Value::from("removed"), &Value::from(2))
    );
}

#[test]
fn verify_exits_2_when_it_cannot_check() {
    let log = seeded(2);
    let missing = log.path("missing.txt");
    let message = failed(
        &log.run(&["verify", "--anchor", missing.to_str().unwrap()]),
        2,
    );
    assert!(message.contains("--anchor"), "{message}");
    std::fs::write(log.path("junk.txt"), "not a checkpoint\n").unwrap();
    let message = failed(
        &log.run(&["verify", "--anchor", log.path("junk.txt").to_str().unwrap()]),
        2,
    );
    assert!(message.contains("malformed note"), "{message}");
    let message = failed(&log.run(&["verify", "--public-key", "nonsense"]), 2);
    assert!(message.contains("--public-key"), "{message}");
    // An anchor of another log.
    let other = seeded(1);
    let anchor = other.path("other.txt");
    other.ok(&[
        "checkpoint",
        "export",
        "-o",
        anchor.to_str().unwrap(),
        "--origin",
        "other.example/log",
    ]);
    log.ok(&["checkpoint", "public-key", "--origin", "mine.example/log"]);
    let message = failed(
        &log.run(&["verify", "--anchor", anchor.to_str().unwrap()]),
        2,
    );
    assert!(message.contains("other.example/log"), "{message}");
    assert!(
        message.contains("the key does not match the log's signer"),
        "{message}"
    );
    // An unreadable database.
    std::fs::write(
        log.path("garbage.db"),
        "this is not SQLite, it is long enough to tell",
    )
    .unwrap();
    let mut cmd = crate::helpers::hawk();
    let url = log.other_url("garbage.db");
    let out = cmd.args(["verify", "--db", &url]).output().unwrap();
    failed(&out, 2);
}

// Regression: the public key of another log made every stored checkpoint a `forged
// checkpoint` (exit 1), while an anchor of another origin was a usage error (exit 2).
#[test]
fn a_public_key_of_another_log_exits_2_saying_it_does_not_match() {
    let log = seeded(3);
    log.ok(&["checkpoint", "export"]);
    let anchor = log.path("anchor.txt");
    log.ok(&["checkpoint", "export", "-o", anchor.to_str().unwrap()]);
    let other = seeded(1);
    let key = other.ok(&["checkpoint", "public-key"]);
    let key = key.trim();
    for args in [
        vec!["verify", "--public-key", key],
        vec![
            "verify",
            "--public-key",
            key,
            "--anchor",
            anchor.to_str().unwrap(),
        ],
        vec!["verify", "--json", "--public-key", key],
    ] {
        let message = failed(&log.run(&args), 2);
        assert!(
            message.contains("does not match the log's signer"),
            "{args:?}: {message}"
        );
    }
    // The log's own key still verifies.
    let own = log.ok(&["checkpoint", "public-key"]);
    assert_eq!(
        log.json(&["verify", "--public-key", own.trim()])["intact"],
        true
    );
}

// Regression: with the stored tree and checkpoints wiped after a rewrite, verify
// stopped at the first row past the empty stored tree and never read the anchor given.
#[test]
fn the_anchor_given_is_checked_when_the_stored_tree_was_wiped() {
    let log = seeded(6);
    let anchor = log.path("anchor.txt");
    log.ok(&["checkpoint", "export", "-o", anchor.to_str().unwrap()]);
    tamper(
        &log,
        "UPDATE entries SET actor_id = 'mallory' WHERE id = 3;
         DROP TRIGGER checkpoints_refuse_delete;
         DELETE FROM checkpoints; DELETE FROM tree_frontier;",
    );
    let out = log.run(&["verify", "--anchor", anchor.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "TAMPERED: modified at entry 1", "{stdout}");
    assert!(
        lines[1].contains(&format!(
            "differs from the anchor {}: an entry from 1 to 6 was rewritten",
            anchor.display()
        )),
        "{stdout}"
    );
    assert!(lines[2].ends_with("and 1 anchor checked"), "{stdout}");
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let log = seeded(1);
    log.ok(&["checkpoint", "public-key"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let path = log.path("hawk.db.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let message = failed(&log.run(&["checkpoint", "export"]), 1);
        assert!(message.contains("readable by others"), "{message}");
    }
    // --key-file puts it elsewhere.
    let elsewhere = log.path("keys.key");
    log.ok(&[
        "checkpoint",
        "export",
        "--key-file",
        elsewhere.to_str().unwrap(),
    ]);
    assert!(elsewhere.exists());
}

fn hash(v: &Value) -> Hash {
    merkle::hash_from_hex(v.as_str().unwrap()).unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

#[test]
fn proofs_print_and_their_json_verifies_offline() {
    let log = seeded(6);
    log.ok(&["checkpoint", "export"]);
    log.track("doc.edit", &[]);
    let proof = log.json(&["prove", "3"]);
    assert_eq!(proof["tree_size"], 6, "the latest checkpoint's size");
    assert!(merkle::verify_inclusion(
        &hash(&proof["leaf_hash"]),
        2,
        6,
        &hashes(&proof["audit_path"]),
        &hash(&proof["root"])
    ));
    assert!(proof["checkpoint"].as_str().unwrap().starts_with("hawk/"));
    let proof = log.json(&["prove", "7", "--size", "7"]);
    assert_eq!(proof["checkpoint"], Value::Null);
    let human = log.ok(&["prove", "3"]);
    assert!(
        human.starts_with("entry 3 (leaf index 2) is in the tree of 6 entries\n"),
        "{human}"
    );

    let proof = log.json(&["prove", "--consistency", "2", "7"]);
    assert!(merkle::verify_consistency(
        2,
        7,
        &hash(&proof["from_root"]),
        &hash(&proof["to_root"]),
        &hashes(&proof["proof"])
    ));
    let human = log.ok(&["prove", "--consistency", "2", "7"]);
    assert!(
        human.starts_with("the tree of 7 entries extends the tree of 2 entries\n"),
        "{human}"
    );

    assert!(failed(&log.run(&["prove", "9"]), 1).contains("not found"));
    assert!(failed(&log.run(&["prove", "3", "--size", "2"]), 2).contains("size"));
    failed(&log.run(&["prove"]), 2);
}
