//! Opening a log: read-only and no-create modes, imports, and storage errors.

use hawk_audit::{Audit, Error, Events, NewEntry, Options, Recent, Scope};
use time::OffsetDateTime;

use super::track;
use crate::helpers::{TestDb, conformance};

conformance!(
    imports_keep_time_order,
    resumable_imports_write_each_batch_once,
    read_only_and_no_create_opens_never_make_or_change_a_log,
    storage_errors_dropped_the_drivers_error,
);

async fn read_only_and_no_create_opens_never_make_or_change_a_log(db: TestDb) {
    // Reading a mistyped path made an empty log that then verified as intact.
    for options in [
        Options::default().create(false),
        Options::default().read_only(true),
    ] {
        let err = Audit::open_with(db.url(), options)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, Error::NotFound(_)), "{err}");
    }
    if !db.is_postgres() {
        assert!(!db.path().exists(), "no file was created");
    }
    let err = Audit::open_with(
        db.url(),
        Options::default().read_only(true).events(Events::new()),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("events"));

    let writer = db.open().await;
    track(&writer, "first.entry").await;
    let reader = db.open_with(Options::default().read_only(true)).await;
    assert!(reader.is_read_only());
    assert_eq!(reader.head().await.unwrap(), 1);
    // Every write is refused before it reaches the store.
    let refused = [
        reader.track(None, "x.y", None).await.err(),
        reader.create_key(Scope::Read, None).await.err(),
        reader.prune(OffsetDateTime::now_utc()).await.err(),
    ];
    for err in refused {
        let err = err.expect("refused");
        assert!(err.to_string().contains("opened read-only"), "{err}");
    }
    // It follows what a writer appends, and verifies.
    track(&writer, "second.entry").await;
    assert_eq!(reader.head().await.unwrap(), 2);
    assert_eq!(
        reader.recent(Recent::default()).await.unwrap().total_count,
        2
    );
    crate::helpers::assert_intact(&reader).await;
    reader.close().await;
    writer.close().await;

    // A log that needs a migration is not migrated read-only, and says so.
    let older = if db.is_postgres() {
        crate::helpers::downgrade_postgres_sql(4)
    } else {
        crate::helpers::downgrade_sql(8)
    };
    db.batch_sql(&older).await;
    let err = Audit::open_with(db.url(), Options::default().read_only(true))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("cannot migrate"), "{err}");
    // A writing open migrates it; then it reads.
    db.open().await.close().await;
    let reader = db.open_with(Options::default().read_only(true)).await;
    assert_eq!(reader.head().await.unwrap(), 2);
}

async fn imports_keep_time_order(db: TestDb) {
    let audit = db.open().await;
    let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + s);
    let stored = audit
        .import(vec![
            (t(0), NewEntry::new("old.one")),
            (t(5), NewEntry::new("old.two")),
        ])
        .await
        .unwrap();
    assert_eq!(stored[1].inserted_at, t(5));
    let err = audit
        .import(vec![(t(9), NewEntry::new("x")), (t(8), NewEntry::new("y"))])
        .await
        .unwrap_err();
    let invalid = err.as_invalid().unwrap();
    assert_eq!((invalid.field(), invalid.index()), ("inserted_at", Some(1)));
    let err = audit
        .import(vec![(t(1), NewEntry::new("x"))])
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "inserted_at");
    assert_eq!(audit.head().await.unwrap(), 2);
    // Live entries after an import still move forward in time.
    assert!(track(&audit, "live").await.inserted_at >= t(5));
}

async fn resumable_imports_write_each_batch_once(db: TestDb) {
    let audit = db.open().await;
    let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + s);
    assert_eq!(audit.import_position("src").await.unwrap(), None);
    let first = vec![
        (t(0), NewEntry::new("a.one")),
        (t(1), NewEntry::new("a.two")),
    ];
    audit.import_from("src", None, "2", first).await.unwrap();
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("2")
    );

    // A second reader of the old position (a concurrent or repeated run) is refused
    // and writes nothing.
    let again = vec![(t(2), NewEntry::new("a.three"))];
    let err = audit
        .import_from("src", None, "3", again.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(audit.head().await.unwrap(), 2);

    // A bad entry in a batch leaves the position where it was.
    let bad = vec![(t(2), NewEntry::new("  "))];
    let err = audit
        .import_from("src", Some("2"), "3", bad)
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "action");
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("2")
    );

    audit
        .import_from("src", Some("2"), "3", again)
        .await
        .unwrap();
    // Sources are independent, and the position survives reopening.
    audit
        .import_from("other", None, "x", vec![(t(3), NewEntry::new("b.one"))])
        .await
        .unwrap();
    audit.close().await;
    let audit = db.open().await;
    assert_eq!(
        audit.import_position("src").await.unwrap().as_deref(),
        Some("3")
    );
    assert_eq!(
        audit.import_position("other").await.unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(audit.head().await.unwrap(), 4);
}

async fn storage_errors_dropped_the_drivers_error(db: TestDb) {
    // A storage error kept only the driver's message: `source()` was `None`, so a
    // caller could not reach the driver's error (its SQLite or SQLSTATE code).
    let audit = db.open().await;
    audit.track(None, "a.b", None).await.unwrap();
    db.execute_sql("ALTER TABLE entries RENAME TO entries_gone")
        .await
        .unwrap();
    let err = audit.recent(Recent::default()).await.unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    let source = std::error::Error::source(&err).expect("the driver's error is the source");
    if db.is_postgres() {
        let driver = source
            .downcast_ref::<tokio_postgres::Error>()
            .expect("a tokio-postgres error");
        let server = driver.as_db_error().expect("the server's error");
        assert_eq!(
            *server.code(),
            tokio_postgres::error::SqlState::UNDEFINED_TABLE
        );
        // The message is the one printed before the source was kept.
        assert_eq!(
            err.to_string(),
            format!("storage error: {} (42P01)", server.message())
        );
    } else {
        let driver = source
            .downcast_ref::<rusqlite::Error>()
            .expect("a rusqlite error");
        assert!(driver.to_string().contains("no such table"), "{driver}");
        assert_eq!(err.to_string(), format!("storage error: {driver}"));
    }
}

#[tokio::test]
async fn sqlite_opening_a_file_that_is_not_a_database_dropped_the_drivers_error() {
    // Opening a file that is not a SQLite database said so, but dropped rusqlite's
    // error (and with it SQLite's NOTADB code) from the error's source.
    let db = TestDb::sqlite();
    std::fs::write(db.path(), vec![b'x'; 4096]).unwrap();
    let Err(err) = Audit::open(db.url()).await else {
        panic!("a file of x's opened as a log");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "storage error: {}: file is not a database",
            db.path().display()
        )
    );
    let source = std::error::Error::source(&err).expect("the driver's error is the source");
    let driver = source
        .downcast_ref::<rusqlite::Error>()
        .expect("a rusqlite error");
    assert_eq!(
        driver.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase)
    );
}
