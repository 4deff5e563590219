//! The tamper matrix: a real database (a SQLite file, a PostgreSQL database) is
//! changed behind Hawk's back, bypassing the append-only triggers as anyone holding
//! the file or the owner's role could, in every way there is; `verify` must name the
//! kind and the first id affected. A clean log never fails.

use hawk_audit::checkpoint::SigningKey;
use hawk_audit::merkle::{Frontier, Hash, hash_from_hex, leaf_hash};
use hawk_audit::{NewEntry, Ref, Report, TamperKind, Verify};
use serde_json::json;

use crate::helpers::{Engine, TestDb};

/// A log of 12 entries with checkpoints at 4, 8 and 12; the one at 12 is also
/// exported as an anchor. Entry 5 alone has the action `key.rotated`.
struct Fixture {
    db: TestDb,
    key: SigningKey,
    anchor: String,
}

async fn fixture(engine: Engine) -> Option<Fixture> {
    let db = TestDb::new(engine, "tamper").await?;
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let audit = db.open().await;
    let mut anchor = String::new();
    for i in 1..=12u64 {
        let action = if i == 5 {
            "key.rotated"
        } else {
            ["doc.edit", "doc.view", "user.login"][i as usize % 3]
        };
        audit
            .record(
                NewEntry::new(action)
                    .actor(Some(&Ref::new("user", i)))
                    .resource(Some(&Ref::new("doc", i * 10)))
                    .account(format!("acct{}", i % 3))
                    .metadata(json!({ "i": i, "note": "x".repeat(i as usize) })),
            )
            .await
            .unwrap();
        if i % 4 == 0 {
            anchor = audit.write_checkpoint(&key).await.unwrap().note;
        }
    }
    audit.close().await;
    Some(Fixture { db, key, anchor })
}

impl Fixture {
    /// Runs `sql` on the database with the append-only guards removed.
    async fn sql(&self, sql: &str) {
        let unguard = self.db.dialect(
            "DROP TRIGGER IF EXISTS entries_refuse_update;
             DROP TRIGGER IF EXISTS entries_refuse_delete;
             DROP TRIGGER IF EXISTS checkpoints_refuse_update;
             DROP TRIGGER IF EXISTS checkpoints_refuse_delete;",
            "ALTER TABLE entries DISABLE TRIGGER USER;
             ALTER TABLE checkpoints DISABLE TRIGGER USER;
             ALTER TABLE entries ALTER COLUMN hash DROP NOT NULL;",
        );
        self.db.batch_sql(&format!("{unguard}\n{sql}")).await;
    }

    /// Runs `sqlite` or `postgres`, whichever is this database's dialect (see `sql`).
    async fn sql_each(&self, sqlite: &str, postgres: &str) {
        self.sql(self.db.dialect(sqlite, postgres)).await
    }

    /// Stores the correct leaf hash of entry `id` as it now reads.
    async fn rehash(&self, id: u64) {
        let audit = self.db.open().await;
        let entry = audit
            .entries_after(id - 1, 1, None)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(entry.id, id);
        let leaf = self.db.blob_literal(&leaf_hash(&entry));
        self.sql(&format!("UPDATE entries SET hash = {leaf} WHERE id = {id}"))
            .await;
    }

    /// Rewrites the stored tree to match the stored leaf hashes: what an attacker
    /// who knows the format does after editing entries.
    async fn rewrite_tree(&self) -> (u64, Hash) {
        let mut frontier = Frontier::new();
        for hash in self
            .db
            .query_blobs("SELECT hash FROM entries ORDER BY id")
            .await
        {
            frontier.push(Hash::try_from(hash.as_slice()).unwrap());
        }
        let bytes = self.db.blob_literal(&frontier.to_bytes());
        let next = frontier.size() + 1;
        self.sql_each(
            &format!("UPDATE tree_frontier SET bytes = {bytes} WHERE id = 1"),
            &format!("UPDATE log_head SET frontier = {bytes}, next_id = {next} WHERE id = 1"),
        )
        .await;
        (frontier.size(), frontier.root())
    }

    /// Empties the stored tree, as if nothing had been appended.
    async fn wipe_tree(&self) {
        let empty = self.db.blob_literal(&Frontier::new().to_bytes());
        self.sql_each(
            "DELETE FROM tree_frontier",
            &format!("UPDATE log_head SET frontier = {empty} WHERE id = 1"),
        )
        .await;
    }

    async fn verify(&self, anchors: bool) -> Report {
        let mut opts = Verify::default().key(self.key.verifier());
        if anchors {
            opts = opts.anchor("anchor-12.txt", self.anchor.clone());
        }
        self.db.open().await.verify(opts, |_| {}).await.unwrap()
    }
}

/// One row of the matrix: what was done, and what `verify` must say.
struct Case {
    name: &'static str,
    expect: Option<(TamperKind, u64)>,
    anchors: bool,
}

async fn run(
    engine: Engine,
    case: Case,
    tamper: impl AsyncFnOnce(&Fixture),
) -> (String, String, String) {
    let fixture = fixture(engine).await.expect("a test database");
    tamper(&fixture).await;
    let report = fixture.verify(case.anchors).await;
    let found = report.tamper.as_ref().map(|t| (t.kind, t.id));
    assert_eq!(found, case.expect, "{}: {report:?}", case.name);
    match &report.tamper {
        None => (case.name.into(), "intact".into(), "-".into()),
        Some(t) => (case.name.into(), t.kind.to_string(), t.id.to_string()),
    }
}

fn case(name: &'static str, kind: TamperKind, id: u64) -> Case {
    Case {
        name,
        expect: Some((kind, id)),
        anchors: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_kind_of_tampering_is_detected_and_named() {
    every_kind_of_tampering_is_detected_and_named(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_kind_of_tampering_is_detected_and_named() {
    every_kind_of_tampering_is_detected_and_named(Engine::Postgres).await
}

async fn every_kind_of_tampering_is_detected_and_named(engine: Engine) {
    use TamperKind::*;
    if TestDb::new(engine, "every_kind_of_tampering_is_detected_and_named")
        .await
        .is_none()
    {
        return;
    }
    let mut table = Vec::new();
    let clean = Case {
        name: "nothing changed",
        expect: None,
        anchors: true,
    };
    table.push(run(engine, clean, async |_| {}).await);
    let columns = [
        (
            "action (entry 5 points at another action)",
            "UPDATE entries SET action_id = (SELECT id FROM actions WHERE name = 'doc.view') WHERE id = 5",
        ),
        (
            "action (its name renamed in the dictionary)",
            "UPDATE actions SET name = 'key.stolen' WHERE name = 'key.rotated'",
        ),
        (
            "actor_type",
            "UPDATE entries SET actor_type = 'admin' WHERE id = 5",
        ),
        (
            "actor_id",
            "UPDATE entries SET actor_id = 'mallory' WHERE id = 5",
        ),
        (
            "resource_type",
            "UPDATE entries SET resource_type = 'file' WHERE id = 5",
        ),
        (
            "resource_id",
            "UPDATE entries SET resource_id = '999' WHERE id = 5",
        ),
        (
            "account_id",
            "UPDATE entries SET account_id = 'acct9' WHERE id = 5",
        ),
        (
            "account_id (set to null)",
            "UPDATE entries SET account_id = NULL WHERE id = 5",
        ),
        (
            "metadata",
            r#"UPDATE entries SET metadata = '{"i":5,"note":"y"}' WHERE id = 5"#,
        ),
        (
            "metadata (keys reordered only)",
            r#"UPDATE entries SET metadata = '{"note":"xxxxx","i":5}' WHERE id = 5"#,
        ),
        (
            "inserted_at (1 µs earlier)",
            "UPDATE entries SET inserted_at = inserted_at - 1 WHERE id = 5",
        ),
        (
            "hash",
            "UPDATE entries SET hash = randomblob(32) WHERE id = 5",
        ),
        (
            "hash (set to null)",
            "UPDATE entries SET hash = NULL WHERE id = 5",
        ),
    ];
    for (column, sql) in columns {
        // Reordering the keys of the metadata does not change what it says, nor its
        // hash: the metadata is hashed in canonical form.
        let expect = if column.starts_with("metadata (keys") {
            None
        } else {
            Some((Modified, 5))
        };
        let name: &'static str = Box::leak(format!("column changed: {column}").into_boxed_str());
        let c = Case {
            name,
            expect,
            anchors: true,
        };
        table.push(run(engine, c, async |f| f.sql_each(sql, &pg(sql)).await).await);
    }
    table.push(
        run(
            engine,
            case("row deleted in the middle (6)", Removed, 6),
            async |f| f.sql("DELETE FROM entries WHERE id = 6").await,
        )
        .await,
    );
    table.push(
        run(
            engine,
            case("rows 6 and 7 deleted, later rows kept", Removed, 6),
            async |f| f.sql("DELETE FROM entries WHERE id IN (6, 7)").await,
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "tail 10-12 deleted below the exported anchor, tree and checkpoint 12 rewritten",
                Truncated,
                10,
            ),
            async |f| {
                f.sql("DELETE FROM entries WHERE id >= 10; DELETE FROM checkpoints WHERE size > 9")
                    .await;
                assert_eq!(f.rewrite_tree().await.0, 9);
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            Case {
                name: "tail 10-12 deleted (no anchor given; stored tree left)",
                expect: Some((Truncated, 10)),
                anchors: false,
            },
            async |f| f.sql("DELETE FROM entries WHERE id >= 10").await,
        )
        .await,
    );
    table.push(
        run(
            engine,
            case("rows 3 and 7 swapped", Reordered, 3),
            async |f| {
                f.sql(
                    "UPDATE entries SET id = -3 WHERE id = 3;
                 UPDATE entries SET id = 3 WHERE id = 7;
                 UPDATE entries SET id = 7 WHERE id = -3;",
                )
                .await
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case("rows 8 and 9 swapped", Reordered, 8),
            async |f| {
                f.sql(
                    "UPDATE entries SET id = -8 WHERE id = 8;
                 UPDATE entries SET id = 8 WHERE id = 9;
                 UPDATE entries SET id = 9 WHERE id = -8;",
                )
                .await
            },
        )
        .await,
    );
    // Hashed afterwards by `rehash`; PostgreSQL also wants the row's action_seq.
    let backdated = (
        "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
             resource_type, resource_id, account_id, metadata, account_seq, hash)
         SELECT 13, inserted_at - 1000000, 'user', 'mallory', action_id, NULL, NULL, NULL,
             '{}', NULL, NULL FROM entries WHERE id = 2",
        "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
             resource_type, resource_id, account_id, metadata, action_seq, account_seq, hash)
         SELECT 13, inserted_at - interval '1 second', 'user', 'mallory', action_id, NULL,
             NULL, NULL, '{}', 99, NULL, NULL FROM entries WHERE id = 2",
    );
    table.push(
        run(
            engine,
            case("backdated row inserted with a valid hash", Inserted, 13),
            async |f| {
                f.sql_each(backdated.0, backdated.1).await;
                f.rehash(13).await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "backdated row inserted with a valid hash, tree rewritten",
                Inserted,
                13,
            ),
            async |f| {
                f.sql_each(backdated.0, backdated.1).await;
                f.rehash(13).await;
                f.rewrite_tree().await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "entry 6 content and hash rewritten together, tree rewritten",
                Modified,
                5,
            ),
            async |f| {
                f.sql("UPDATE entries SET actor_id = 'mallory' WHERE id = 6")
                    .await;
                f.rehash(6).await;
                f.rewrite_tree().await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            Case {
                name: "entry 10 content and hash rewritten, tree rewritten, checkpoint 12 deleted (anchor catches it)",
                expect: Some((Modified, 9)),
                anchors: true,
            },
            async |f| {
                f.sql(
                    "UPDATE entries SET metadata = '{}' WHERE id = 10;
                     DELETE FROM checkpoints WHERE size = 12;",
                )
                .await;
                f.rehash(10).await;
                f.rewrite_tree().await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "entry 6 rewritten with its hash and tree, checkpoints 8 and 12 re-signed by another key",
                ForgedCheckpoint,
                8,
            ),
            async |f| {
                f.sql("UPDATE entries SET actor_id = 'mallory' WHERE id = 6")
                    .await;
                f.rehash(6).await;
                f.rewrite_tree().await;
                forge_checkpoints(f, &[8, 12]).await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "checkpoint forged at size 10 (right root, another key)",
                ForgedCheckpoint,
                10,
            ),
            async |f| forge_checkpoints(f, &[10]).await,
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "stored checkpoint 8: root column changed",
                ForgedCheckpoint,
                8,
            ),
            async |f| {
                let sql = "UPDATE checkpoints SET root = randomblob(32) WHERE size = 8";
                f.sql_each(sql, &pg(sql)).await
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case("stored checkpoint 4: note text edited", ForgedCheckpoint, 4),
            async |f| {
                let sql = "UPDATE checkpoints SET note = replace(note, char(10) || '4' || char(10), char(10) || '3' || char(10)) WHERE size = 4";
                f.sql_each(sql, &pg(sql)).await
            },
        )
        .await,
    );

    // Regression: a row put in the middle (later ids moved up one, the new row's hash
    // made right) was named `reordered`, as if two rows had changed places.
    let shift_up = "UPDATE entries SET id = -id WHERE id >= 6;
         UPDATE entries SET id = 1 - id WHERE id < 0;";
    let inserted_at_6 = (
        "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
             resource_type, resource_id, account_id, metadata, account_seq, hash)
         SELECT 6, inserted_at, 'user', 'mallory', action_id, NULL, NULL, NULL,
             '{}', NULL, NULL FROM entries WHERE id = 5",
        "INSERT INTO entries (id, inserted_at, actor_type, actor_id, action_id,
             resource_type, resource_id, account_id, metadata, action_seq, account_seq, hash)
         SELECT 6, inserted_at, 'user', 'mallory', action_id, NULL,
             NULL, NULL, '{}', 99, NULL, NULL FROM entries WHERE id = 5",
    );
    table.push(
        run(
            engine,
            case(
                "row inserted at 6 with a valid hash, later ids moved up one",
                Inserted,
                6,
            ),
            async |f| {
                f.sql(shift_up).await;
                f.sql_each(inserted_at_6.0, inserted_at_6.1).await;
                f.rehash(6).await;
            },
        )
        .await,
    );
    table.push(
        run(
            engine,
            case(
                "row inserted at 6 without a hash, later ids moved up one",
                Inserted,
                6,
            ),
            async |f| {
                f.sql(shift_up).await;
                f.sql_each(inserted_at_6.0, inserted_at_6.1).await;
            },
        )
        .await,
    );

    let width = table
        .iter()
        .map(|(n, _, _)| n.chars().count())
        .max()
        .unwrap();
    println!("{:width$} | kind              | first bad id", "case");
    for (name, kind, id) in &table {
        println!("{name:width$} | {kind:17} | {id}");
    }
}

/// Replaces (or adds) stored checkpoints at `sizes` with notes of the tree as it is
/// now, signed by a key of the same name that is not the log's.
async fn forge_checkpoints(f: &Fixture, sizes: &[u64]) {
    let forger = SigningKey::generate(f.key.name()).unwrap();
    let audit = f.db.open().await;
    for &size in sizes {
        let root = audit.consistency_proof(size, size).await.unwrap().to_root;
        let root_literal = f.db.blob_literal(&root);
        let note = forger.sign_checkpoint(size, root).replace('\'', "''");
        let created_at = f.db.dialect("0", "to_timestamp(0)");
        f.sql(&format!(
            "DELETE FROM checkpoints WHERE size = {size};
             INSERT INTO checkpoints (size, root, note, created_at)
             VALUES ({size}, {root_literal}, '{note}', {created_at});"
        ))
        .await;
    }
}

crate::helpers::conformance!(
    the_anchors_given_are_checked_after_a_first_finding,
    a_key_that_signed_no_checkpoint_does_not_match_the_log,
    a_clean_log_with_entries_in_one_batch_verifies,
    a_tampered_older_log_still_opens_and_is_caught,
);

/// The PostgreSQL spelling of a tampering statement written for SQLite.
fn pg(sql: &str) -> String {
    sql.replace(
        "randomblob(32)",
        "decode(md5(random()::text) || md5(random()::text), 'hex')",
    )
    .replace(
        "inserted_at - 1 ",
        "inserted_at - interval '1 microsecond' ",
    )
    .replace("char(10)", "chr(10)")
}

async fn a_clean_log_with_entries_in_one_batch_verifies(db: TestDb) {
    let audit = db.open().await;
    let batch = (0..50)
        .map(|i| NewEntry::new(format!("bulk.{}", i % 4)))
        .collect();
    audit.record_batch(batch).await.unwrap();
    let report = audit.verify(Verify::default(), |_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 50);
    let (_, root) = audit.tree_head().await.unwrap();
    assert_eq!(Some(report.root), hash_from_hex(&root));
}

/// Regression: a log from before stored subtrees whose hash was tampered with failed
/// its migration, so it could not even be opened to be verified.
async fn a_tampered_older_log_still_opens_and_is_caught(db: TestDb) {
    let engine = if db.is_postgres() {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    drop(db);
    let f = fixture(engine).await.expect("a test database");
    f.sql(&format!(
        "UPDATE entries SET hash = NULL WHERE id = 5; {}",
        crate::helpers::before_stored_subtrees(&f.db)
    ))
    .await;
    let report = f.verify(true).await;
    let found = report.tamper.map(|t| (t.kind, t.id));
    assert_eq!(found, Some((TamperKind::Modified, 5)));
}

/// Regression: with the stored tree and checkpoints wiped after a rewrite, the walk
/// stopped at the first row past the (empty) stored tree and named it `inserted`; the
/// anchor given, the one piece of evidence kept outside the database, was never read.
async fn the_anchors_given_are_checked_after_a_first_finding(db: TestDb) {
    let engine = if db.is_postgres() {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    drop(db);
    let f = fixture(engine).await.expect("a test database");
    f.sql("UPDATE entries SET actor_id = 'mallory' WHERE id = 6; DELETE FROM checkpoints;")
        .await;
    f.rehash(6).await;
    f.wipe_tree().await;
    let report = f.verify(true).await;
    assert_eq!(report.anchors, 1, "{report:?}");
    let t = report.tamper.expect("tampered");
    assert_eq!((t.kind, t.id), (TamperKind::Modified, 1), "{}", t.detail);
    assert!(
        t.detail.starts_with(
            "the root of entries 1 to 12 differs from the anchor anchor-12.txt: an entry \
             from 1 to 12 was rewritten; also: inserted at entry 1: entry 1 is past the \
             stored tree, which covers 0 entries"
        ),
        "{}",
        t.detail
    );
    // Without the anchor, the stored tree is all there is to go by.
    let report = f.verify(false).await;
    assert_eq!(report.anchors, 0);
    let t = report.tamper.expect("tampered");
    assert_eq!((t.kind, t.id), (TamperKind::Inserted, 1), "{}", t.detail);

    // A first finding that the anchor confirms keeps its place; the anchor's word is
    // added, and anchors beyond the log are named too.
    let f = fixture(engine).await.expect("a test database");
    f.sql("UPDATE entries SET actor_id = 'mallory' WHERE id = 6")
        .await;
    let beyond = f.key.sign_checkpoint(20, [7; 32]);
    let audit = f.db.open().await;
    let report = audit
        .verify(
            Verify::default()
                .key(f.key.verifier())
                .anchor("anchor-12.txt", f.anchor.clone())
                .anchor("anchor-20.txt", beyond),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(report.anchors, 2, "{report:?}");
    let t = report.tamper.expect("tampered");
    assert_eq!((t.kind, t.id), (TamperKind::Modified, 6), "{}", t.detail);
    assert!(
        t.detail.ends_with(
            "; anchor anchor-12.txt: entries 1 to 12 as they read now differ from it; \
             anchor anchor-20.txt covers 20 entries, the log holds 12"
        ),
        "{}",
        t.detail
    );
}

/// Regression: a key that is not the log's made every stored checkpoint a `forged
/// checkpoint` (exit 1), where an anchor of another origin was a usage error (exit 2).
async fn a_key_that_signed_no_checkpoint_does_not_match_the_log(db: TestDb) {
    let engine = if db.is_postgres() {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    drop(db);
    let f = fixture(engine).await.expect("a test database");
    let audit = f.db.open().await;
    for name in ["example.com/hawk", "other.example/log"] {
        let wrong = SigningKey::generate(name).unwrap().verifier();
        let err = audit
            .verify(Verify::default().key(wrong.clone()), |_| {})
            .await
            .unwrap_err();
        let invalid = err.as_invalid().expect("invalid");
        assert_eq!(invalid.field(), "key", "{err}");
        assert!(
            err.to_string()
                .starts_with("key: does not match the log's signer"),
            "{err}"
        );
        // The same with the log's anchor: it is not signed by that key either.
        let err = audit
            .verify(
                Verify::default().key(wrong).anchor("a", f.anchor.clone()),
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.as_invalid().map(|i| i.field()), Some("key"), "{err}");
    }
    // With the log's key, every checkpoint re-signed by another is still forged once
    // one of them (here the anchor) is signed by the key.
    forge_checkpoints(&f, &[4, 8, 12]).await;
    let report = f.verify(true).await;
    let t = report.tamper.expect("tampered");
    assert_eq!(
        (t.kind, t.id),
        (TamperKind::ForgedCheckpoint, 4),
        "{}",
        t.detail
    );
    // And a rewrite found in the rows is reported even when no checkpoint is signed
    // by the key given.
    f.sql("UPDATE entries SET actor_id = 'mallory' WHERE id = 6")
        .await;
    let report = f.verify(false).await;
    let t = report.tamper.expect("tampered");
    assert_eq!((t.kind, t.id), (TamperKind::Modified, 6), "{}", t.detail);
    assert!(
        t.detail
            .ends_with("no stored checkpoint or anchor carries a signature by the key given"),
        "{}",
        t.detail
    );
}
