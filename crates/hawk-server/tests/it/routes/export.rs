//! The CSV and NDJSON export.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use super::{BAD, INVALID, check_errors, get};
use crate::helpers::{TestApp, ids};

// Regression: the CSV export wrote cells starting with `=`, `+`, `-` or `@` as they
// were, and a spreadsheet opening it ran them as formulas.
#[tokio::test]
async fn export_csv_escapes_cells_a_spreadsheet_would_run_and_ndjson_does_not() {
    let app = TestApp::new().await;
    let dde = "=cmd|' /C calc'!A0";
    app.audit
        .record(
            hawk_audit::NewEntry::new("@SUM(1+1)")
                .actor(Some(&hawk_audit::Ref::new("user", dde)))
                .account("-1"),
        )
        .await
        .unwrap();
    let reply = app.get("/v1/export?format=csv").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut rows = csv::Reader::from_reader(reply.text.as_bytes());
    let row = rows.records().next().unwrap().unwrap();
    assert_eq!(
        (&row[1], &row[3], &row[7]),
        (format!("'{dde}").as_str(), "'@SUM(1+1)", "'-1")
    );
    let reply = app.get("/v1/export?format=ndjson").await;
    let entry: Value = serde_json::from_str(reply.text.trim()).unwrap();
    assert_eq!(
        (&entry["actor_id"], &entry["action"], &entry["account_id"]),
        (&json!(dde), &json!("@SUM(1+1)"), &json!("-1"))
    );
}

#[tokio::test]
async fn export_streams_csv_and_ndjson_oldest_first() {
    let app = TestApp::new().await;
    app.audit
        .record(
            hawk_audit::NewEntry::new("doc.shared")
                .actor(Some(&hawk_audit::Ref::new("user", 42)))
                .account("acme")
                .metadata(json!({"note": "a, \"quoted\" value"})),
        )
        .await
        .unwrap();
    app.track("system.tick", None).await;
    app.track("doc.read", Some("acme")).await;

    let reply = app.get("/v1/export?format=csv").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.content_type(), "text/csv; charset=utf-8");
    assert!(
        reply.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("hawk-export.csv")
    );
    let mut rows = csv::Reader::from_reader(reply.text.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
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
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], "1");
    assert_eq!(&rows[0][1], "42");
    assert_eq!(&rows[0][2], "user");
    assert_eq!(&rows[0][3], "doc.shared");
    assert_eq!(&rows[0][7], "acme");
    let metadata: Value = serde_json::from_str(&rows[0][8]).unwrap();
    assert_eq!(metadata["note"], "a, \"quoted\" value");
    assert_eq!((&rows[1][1], &rows[1][7]), ("", ""), "nulls are empty");
    let hash = &rows[0][9];
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{hash:?}"
    );
    assert_ne!(&rows[0][9], &rows[1][9]);

    // (uri, ids)
    let cases: Vec<(&str, Vec<u64>)> = vec![
        ("/v1/export?format=ndjson", vec![1, 2, 3]),
        ("/v1/export?format=ndjson&account_id=acme", vec![1, 3]),
        ("/v1/export?format=ndjson&account_id=", vec![1, 2, 3]),
        ("/v1/export?format=ndjson&account_id=nobody", vec![]),
    ];
    for (uri, want) in cases {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/x-ndjson");
        let lines: Vec<Value> = reply
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ids(&Value::from(lines)), want, "{uri}");
    }
    let entries = app.get("/v1/entries").await.json()["entries"].clone();
    let first: Value = serde_json::from_str(
        app.get("/v1/export?format=ndjson")
            .await
            .text
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first, entries[2],
        "an NDJSON line is the entry as the API returns it"
    );

    let long = format!("/v1/export?format=csv&account_id={}", "x".repeat(256));
    let cases = vec![
        get("no format", "/v1/export", BAD, "required", Some("format")),
        get(
            "unknown format",
            "/v1/export?format=xml",
            BAD,
            "malformed",
            Some("format"),
        ),
        get(
            "account id too long",
            &long,
            INVALID,
            "too_long",
            Some("account_id"),
        ),
    ];
    check_errors(&app, cases).await;
}
