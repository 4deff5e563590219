//! `hawk export`: every entry (or one account's), oldest first, as CSV or NDJSON, to
//! stdout or a file.

use serde_json::Value;

use crate::helpers::{Log, failed, parse_json};

#[test]
fn export_writes_csv_and_ndjson_oldest_first() {
    let log = Log::new();
    log.track(
        "doc.shared",
        &[
            "--actor-type",
            "user",
            "--actor-id",
            "7",
            "--account",
            "acme",
            "--metadata",
            r#"{"a":"x,y"}"#,
        ],
    );
    log.track("system.tick", &[]);
    log.track("doc.read", &["--account", "acme"]);

    let csv = log.ok(&["export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "actor_id",
            "actor_type",
            "action",
            "resource_id",
            "resource_type",
            "inserted_at",
            "account_id",
            "metadata",
            "hash"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(
        (&rows[0][1], &rows[0][3], &rows[0][8]),
        ("7", "doc.shared", r#"{"a":"x,y"}"#)
    );
    let hashes: Vec<&str> = rows.iter().map(|r| &r[9]).collect();
    assert!(hashes.iter().all(|h| is_hash(h)), "{hashes:?}");
    let ndjson = log.ok(&["export", "--format", "ndjson"]);
    let first: Value = serde_json::from_str(ndjson.lines().next().unwrap()).unwrap();
    assert_eq!(first["hash"], hashes[0]);

    // (args, ids)
    let cases: &[(&[&str], &[u64])] = &[
        (&["export", "--format", "ndjson"], &[1, 2, 3]),
        (
            &["export", "--format", "ndjson", "--account", "acme"],
            &[1, 3],
        ),
        (
            &["export", "--account", "nobody", "--format", "ndjson"],
            &[],
        ),
    ];
    for (args, want) in cases {
        let text = log.ok(args);
        let ids: Vec<u64> = text
            .lines()
            .map(|l| parse_json(l)["id"].as_u64().unwrap())
            .collect();
        assert_eq!(&ids, want, "{args:?}");
    }

    // To a file: the same bytes, and a summary on stdout.
    let path = log.path("out.ndjson");
    let said = log.ok(&[
        "export",
        "--format",
        "ndjson",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert!(said.starts_with("exported 3 entries to "), "{said}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, log.ok(&["export", "--format", "ndjson"]));
    let first: Value = parse_json(written.lines().next().unwrap());
    assert_eq!(
        first,
        log.all()[2],
        "a line is the entry as the API returns it"
    );
    let summary = log.json(&[
        "export",
        "--format",
        "csv",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert_eq!(summary["entries"], 3);
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn export_refuses_bad_input() {
    let log = Log::new();
    // Reading commands never create a log: this one exists.
    log.track("setup.done", &[]);
    let long = "x".repeat(256);
    let cases: &[(&[&str], &str)] = &[
        (&["export"], "--format"),
        (&["export", "--format", "xml"], "invalid value 'xml'"),
        (
            &["export", "--format", "csv", "--account", ""],
            "account_id: ",
        ),
        (
            &["export", "--format", "csv", "--account", &long],
            "account_id: ",
        ),
    ];
    for (args, message) in cases {
        let got = failed(&log.run(args), 2);
        assert!(got.contains(message), "{args:?}: {got}");
    }
    let out = log.run(&[
        "export",
        "--format",
        "csv",
        "--output",
        "/nonexistent/dir/x.csv",
    ]);
    assert!(failed(&out, 1).contains("creating /nonexistent/dir/x.csv"));
}
