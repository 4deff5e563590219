//! `hawk keys`: a key is printed once on creation, listed without it, and revoked.

use crate::helpers::{Log, failed};

#[test]
fn keys_are_created_once_listed_without_the_key_and_revoked() {
    let log = Log::new();
    let out = log.run(&["keys", "create", "--scope", "read", "--account", "acme"]);
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.trim_end();
    assert!(key.starts_with("hawk_") && key.len() == 69, "{key:?}");
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(
        note.contains("created key 1 (read scope bound to account acme)"),
        "{note}"
    );

    let created = log.json(&["keys", "create", "--scope", "admin"]);
    let admin = created["key"].as_str().unwrap();
    assert_eq!(created["id"], 2);
    assert_eq!(created["scope"], "admin");
    assert_eq!(created["account_id"], serde_json::Value::Null);
    assert!(admin.starts_with(created["prefix"].as_str().unwrap()));

    let listing = log.ok(&["keys", "list"]);
    assert!(
        listing.contains("acme") && listing.contains("2 keys"),
        "{listing}"
    );
    for secret in [&key[13..], &admin[13..]] {
        assert!(!listing.contains(secret), "{listing}");
    }
    let list = log.json(&["keys", "list"]);
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&key[13..]));

    let revoked = log.json(&["keys", "revoke", "1"]);
    assert!(revoked["keys"][0]["revoked_at"].is_string(), "{revoked}");
    let got = failed(&log.run(&["keys", "revoke", "7"]), 1);
    assert_eq!(got, "not found: key 7");
    // Only read keys can be bound to an account; the scope is checked by the parser.
    let got = failed(
        &log.run(&["keys", "create", "--scope", "write", "--account", "acme"]),
        2,
    );
    assert!(got.contains("only read keys can be bound"), "{got}");
    let got = failed(&log.run(&["keys", "create", "--scope", "root"]), 2);
    assert!(got.contains("root"), "{got}");
}
