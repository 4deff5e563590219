//! Input rules: bad entries, batches and query options are refused and write nothing.

use hawk_audit::{Error, NewEntry, Recent, Ref, Rule};
use serde_json::json;
use time::OffsetDateTime;

use super::{ids, track};
use crate::helpers::{TestDb, conformance};

conformance!(
    bad_input_writes_nothing,
    bad_batch_writes_nothing,
    control_characters_are_refused_in_every_string_field,
    bad_query_options_are_refused,
);

async fn bad_input_writes_nothing(db: TestDb) {
    let audit = db.open().await;
    let mut no_actor_id = NewEntry::new("a.b");
    no_actor_id.actor_type = Some("user".into());
    let mut no_resource_type = NewEntry::new("a.b");
    no_resource_type.resource_id = Some("1".into());
    let cases: Vec<(NewEntry, &str, Rule)> = vec![
        (NewEntry::new(""), "action", Rule::Required),
        (NewEntry::new(" \t "), "action", Rule::Required),
        (
            NewEntry::new("x".repeat(256)),
            "action",
            Rule::TooLong {
                max: 255,
                unit: "characters",
            },
        ),
        (NewEntry::new("a\nb"), "action", Rule::ControlCharacter),
        (NewEntry::new("a\u{0}b"), "action", Rule::ControlCharacter),
        (
            no_actor_id,
            "actor_id",
            Rule::Pair {
                other: "actor_type",
            },
        ),
        (
            no_resource_type,
            "resource_type",
            Rule::Pair {
                other: "resource_id",
            },
        ),
        (
            NewEntry::new("a.b").actor(Some(&Ref::new("user", ""))),
            "actor_id",
            Rule::Empty,
        ),
        (
            NewEntry::new("a.b").resource(Some(&Ref::new("t".repeat(256), 1))),
            "resource_type",
            Rule::TooLong {
                max: 255,
                unit: "characters",
            },
        ),
        (NewEntry::new("a.b").account(""), "account_id", Rule::Empty),
        (
            NewEntry::new("a.b").metadata(json!("text")),
            "metadata",
            Rule::NotAnObject,
        ),
        (
            NewEntry::new("a.b").metadata(json!(null)),
            "metadata",
            Rule::NotAnObject,
        ),
        (
            NewEntry::new("a.b").metadata(json!({"big": "x".repeat(70_000)})),
            "metadata",
            Rule::TooLong {
                max: 65536,
                unit: "bytes",
            },
        ),
    ];
    for (entry, field, rule) in cases {
        let err = audit.record(entry).await.unwrap_err();
        let invalid = err
            .as_invalid()
            .unwrap_or_else(|| panic!("not invalid: {err}"));
        assert_eq!((invalid.field(), invalid.rule()), (field, rule), "{err}");
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    }
    assert_eq!(audit.head().await.unwrap(), 0);
    assert!(audit.actions("", 10).await.unwrap().is_empty());
}

// Regression: control characters (ESC, CR, NUL, BEL …) were refused in `action` only;
// in the other string fields they reached terminals and line-based logs as they were,
// and U+0000 was refused by PostgreSQL's store alone.
async fn control_characters_are_refused_in_every_string_field(db: TestDb) {
    let audit = db.open().await;
    for bad in [
        "\u{1b}[31mred",
        "a\rb",
        "a\0b",
        "bell\u{7}",
        "del\u{7f}",
        "tab\t",
    ] {
        let cases = [
            (
                "actor_type",
                NewEntry::new("a.b").actor(Some(&Ref::new(bad, 1))),
            ),
            (
                "actor_id",
                NewEntry::new("a.b").actor(Some(&Ref::new("user", bad))),
            ),
            (
                "resource_type",
                NewEntry::new("a.b").resource(Some(&Ref::new(bad, 1))),
            ),
            (
                "resource_id",
                NewEntry::new("a.b").resource(Some(&Ref::new("doc", bad))),
            ),
            // Inferred from an account resource: refused as the resource id it is.
            (
                "resource_id",
                NewEntry::new("a.b").resource(Some(&Ref::new("account", bad))),
            ),
            ("account_id", NewEntry::new("a.b").account(bad)),
            ("action", NewEntry::new(format!("x{bad}y"))),
        ];
        for (field, entry) in cases {
            let err = audit.record(entry.clone()).await.unwrap_err();
            let invalid = err
                .as_invalid()
                .unwrap_or_else(|| panic!("{field} {bad:?}: not invalid: {err}"));
            assert_eq!(
                (invalid.field(), invalid.rule()),
                (field, Rule::ControlCharacter),
                "{bad:?}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!("{field}: must not contain control characters (U+0000-U+001F, U+007F)")
            );
            let err = audit
                .record_batch(vec![NewEntry::new("fine"), entry])
                .await
                .unwrap_err();
            let invalid = err.as_invalid().expect("invalid");
            assert_eq!((invalid.field(), invalid.index()), (field, Some(1)));
        }
    }
    let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000);
    let err = audit
        .import(vec![(t, NewEntry::new("a.b").account("acme\n"))])
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    assert_eq!(audit.head().await.unwrap(), 0, "nothing written");
    assert!(audit.actions("", 10).await.unwrap().is_empty());

    // Metadata is stored as JSON text on both engines, where every control character,
    // U+0000 included, is an escape: free-form details keep their line breaks.
    let metadata = json!({"text": "line 1\r\nline 2\u{0}\u{1b}", "k\u{0}\t": ["\u{7}"]});
    let entry = audit
        .record(NewEntry::new("meta.kept").metadata(metadata.clone()))
        .await
        .unwrap();
    assert_eq!(serde_json::Value::Object(entry.metadata.clone()), metadata);
    assert_eq!(audit.entries_after(0, 10, None).await.unwrap(), vec![entry]);
}

async fn bad_batch_writes_nothing(db: TestDb) {
    let audit = db.open().await;
    let batch = vec![
        NewEntry::new("ok.one"),
        NewEntry::new("ok.two"),
        NewEntry::new("bad\u{7f}"),
    ];
    let err = audit.record_batch(batch).await.unwrap_err();
    let invalid = err.as_invalid().unwrap();
    assert_eq!((invalid.field(), invalid.index()), ("action", Some(2)));
    assert_eq!(audit.head().await.unwrap(), 0);
    let err = audit.record_batch(Vec::new()).await.unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "entries");
    let stored = audit
        .record_batch(vec![NewEntry::new("ok.one"), NewEntry::new("ok.two")])
        .await
        .unwrap();
    assert_eq!(ids(&stored), vec![1, 2]);
}

async fn bad_query_options_are_refused(db: TestDb) {
    let audit = db.open().await;
    track(&audit, "a.b").await;
    fn field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        r.unwrap_err().as_invalid().unwrap().field()
    }
    assert_eq!(field(audit.recent(Recent::page(0, 10)).await), "page");
    assert_eq!(field(audit.recent(Recent::page(1, 0)).await), "per_page");
    assert_eq!(field(audit.recent(Recent::page(1, 1001)).await), "per_page");
    assert_eq!(field(audit.search("a", 0).await), "limit");
    assert_eq!(field(audit.search("a", 101).await), "limit");
    assert_eq!(field(audit.actions("a", 0).await), "limit");
    assert_eq!(
        field(audit.for_account_page("x", Recent::page(1, 2000)).await),
        "per_page"
    );
    assert_eq!(
        audit
            .recent(Recent::page(1, 0))
            .await
            .unwrap_err()
            .to_string(),
        "per_page: must be between 1 and 1000"
    );
    assert!(audit.recent(Recent::page(1, 1000)).await.is_ok());
}
