//! Opening a log safely: which commands may create one, reading copies without write
//! access, a database file that is whole on its own after a clean stop, `backup`, and
//! errors that say what is wrong with `--db`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{Log, PgDb, failed, hawk, parse_json, succeeded};
use crate::serve::{http, start_server};

/// `hawk ARGS --db DB`.
fn run(db: &str, args: &[&str]) -> Output {
    hawk()
        .args(args)
        .args(["--db", db])
        .output()
        .expect("running hawk")
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn demo_into_a_log_with_real_entries_is_refused_and_writes_nothing() {
    // `demo` appended to a real log, and a second `demo` dated entries into the
    // coming weeks, so every later real entry was stamped in the future, for good.
    let log = Log::new();
    log.track("user.login", &[]);
    let message = failed(&log.run(&["demo", "--entries", "100"]), 2);
    assert!(message.starts_with("--db: "), "{message}");
    assert!(message.contains("already holds 1 entries"), "{message}");
    assert_eq!(log.total_count(), 1);

    // Into a new log it writes, all in the past; a second run is refused too.
    let demo = Log::new();
    demo.ok(&["demo", "--entries", "300"]);
    failed(&demo.run(&["demo", "--entries", "300"]), 2);
    assert_eq!(demo.total_count(), 300);
    let newest = &demo.all()[0];
    let now = hawk_now();
    let newest_time = newest["inserted_at"].as_str().unwrap();
    assert!(newest_time < now.as_str(), "{newest_time} is after {now}");
    // A real entry tracked afterwards keeps the real time.
    let tracked = demo.track("user.login", &[]);
    let tracked_time = tracked["inserted_at"].as_str().unwrap();
    assert_eq!(&tracked_time[..10], &now[..10], "{tracked_time} vs {now}");
}

/// Now, as `hawk track` formats times, from a throwaway log.
fn hawk_now() -> String {
    let log = Log::new();
    log.track("clock.read", &[])["inserted_at"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn read_commands_on_a_missing_path_fail_and_create_nothing() {
    // `hawk --db sqlite:tpyo.db verify` created an empty log and reported it intact.
    let log = Log::new();
    let path = log.path("tpyo.db");
    let db = format!("sqlite:{}", path.display());
    let cases: &[(&[&str], i32)] = &[
        (&["recent"], 1),
        (&["search", "a"], 1),
        (&["actions"], 1),
        (&["account", "acme"], 1),
        (&["export", "--format", "csv"], 1),
        (&["prove", "1"], 1),
        (&["prove", "--consistency", "1", "2"], 1),
        (&["keys", "list"], 1),
        (&["keys", "revoke", "1"], 1),
        (&["prune", "--before", "2020-01-01"], 1),
        (&["checkpoint", "export"], 1),
        (&["backup", "copy.db"], 1),
        // verify's own contract: 2 when the check could not be made (1 is tampering).
        (&["verify"], 2),
    ];
    for (args, code) in cases {
        let message = failed(&run(&db, args), *code);
        assert!(
            message.contains(&format!("no log at {}", path.display())),
            "hawk {args:?}: {message}"
        );
        assert!(!path.exists(), "hawk {args:?} created {}", path.display());
        assert!(
            !log.path("tpyo.db.key").exists(),
            "hawk {args:?} made a key"
        );
    }
    // The same for a plain path, and for an empty PostgreSQL database.
    let plain = path.display().to_string();
    failed(&run(&plain, &["verify"]), 2);
    assert!(!path.exists());
    if let Some(pg) = PgDb::create() {
        let message = failed(&run(&pg.url(), &["recent"]), 1);
        assert!(message.contains("no log in this database"), "{message}");
        // Nothing was created: a writing command still starts the log afterwards.
        let out = run(&pg.url(), &["track", "first.entry", "--json"]);
        assert_eq!(parse_json(&succeeded(&out, &["track"]))["id"], 1);
    }
    // Commands that write start a new log.
    succeeded(&run(&db, &["track", "a.b"]), &["track"]);
    assert!(path.exists());
}

/// Runs `hawk` as a user who cannot write the log: `nobody` when the tests run as
/// root (whom file permissions do not stop), else the current user.
fn as_reader(db: &Path, args: &[&str]) -> Output {
    let me = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&me.stdout).trim() == "0";
    let mut cmd = if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_hawk")]);
        cmd
    } else {
        Command::new(env!("CARGO_BIN_EXE_hawk"))
    };
    cmd.env_remove("HAWK_DATABASE_URL")
        .env_remove("RUST_LOG")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("running hawk as another user")
}

#[test]
fn a_read_only_copy_can_be_read_and_verified() {
    // Read commands on a copy without write access to it or its directory failed
    // with "attempt to write a readonly database".
    let log = Log::new();
    log.ok(&["demo", "--entries", "1500"]);
    log.track("user.login", &[]);
    let key = log.ok(&["checkpoint", "public-key"]);
    let evidence = log.path("evidence");
    std::fs::create_dir(&evidence).unwrap();
    let copy = evidence.join("copy.db");
    // `demo` and `track` closed the log: the file alone is the whole log.
    std::fs::copy(log.path("hawk.db"), &copy).unwrap();
    // A write-ahead log full of commits, without its index, cannot be read without
    // creating the index: the error must say so rather than hide those commits.
    let with_wal = evidence.join("with-wal.db");
    std::fs::copy(log.path("hawk.db"), &with_wal).unwrap();
    std::fs::write(evidence.join("with-wal.db-wal"), vec![1u8; 4096]).unwrap();
    chmod(log.dir(), 0o755);
    chmod(&copy, 0o444);
    chmod(&evidence, 0o555);

    let recent = as_reader(&copy, &["recent", "--json"]);
    let page = parse_json(&succeeded(&recent, &["recent"]));
    assert_eq!(page["total_count"], 1501);
    let verify = as_reader(&copy, &["verify", "--json", "--public-key", key.trim()]);
    let report = parse_json(&succeeded(&verify, &["verify"]));
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["entries"], 1501, "{report}");
    let exported = as_reader(&copy, &["export", "--format", "ndjson"]);
    assert_eq!(succeeded(&exported, &["export"]).lines().count(), 1501);
    succeeded(&as_reader(&copy, &["prove", "7"]), &["prove"]);
    // The situation is real: a write fails, naming the file.
    let message = failed(&as_reader(&copy, &["track", "x.y"]), 1);
    assert!(message.contains(&copy.display().to_string()), "{message}");
    let message = failed(&as_reader(&with_wal, &["recent"]), 1);
    assert!(message.contains("with-wal.db-wal"), "{message}");
    // Reading created nothing beside the copy.
    let mut names: Vec<String> = std::fs::read_dir(&evidence)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["copy.db", "with-wal.db", "with-wal.db-wal"]);
    chmod(&evidence, 0o755);
}

#[test]
fn a_log_that_needs_a_migration_is_not_migrated_read_only() {
    // A read-only open must not migrate, and must say why it cannot read the log.
    let log = Log::new();
    let old = log.path("old.db");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch("CREATE TABLE entries (id INTEGER PRIMARY KEY); PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&old).unwrap();
    let message = failed(&run(&old.display().to_string(), &["recent"]), 1);
    assert!(message.contains("schema version 3"), "{message}");
    assert!(message.contains("cannot migrate"), "{message}");
    assert_eq!(
        std::fs::read(&old).unwrap(),
        before,
        "the file is unchanged"
    );
}

/// Copies only `hawk.db` of `log` elsewhere and counts the copy's entries, verified.
fn entries_in_a_copy_of_the_file_alone(log: &Log) -> u64 {
    let copy = log.path("copied.db");
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(log.path("hawk.db"), &copy).unwrap();
    let db = copy.display().to_string();
    let out = run(&db, &["verify", "--json"]);
    let report = parse_json(&succeeded(&out, &["verify"]));
    assert_eq!(report["intact"], true, "{report}");
    report["entries"].as_u64().unwrap()
}

#[test]
fn the_database_file_alone_is_whole_after_demo_track_and_a_stopped_server() {
    // After `demo` or a stopped `serve` the commits sat in hawk.db-wal: a copy of
    // hawk.db alone was malformed or missing entries.
    let log = Log::new();
    log.ok(&["demo", "--entries", "3000"]);
    assert_eq!(entries_in_a_copy_of_the_file_alone(&log), 3000);
    log.track("user.login", &[]);
    assert_eq!(entries_in_a_copy_of_the_file_alone(&log), 3001);

    let running = start_server("127.0.0.1:0", &["--db", log.url()]);
    for i in 0..50 {
        let body = format!(r#"{{"action":"served.entry","metadata":{{"n":{i}}}}}"#);
        assert_eq!(http(running.port, "POST", "/v1/entries", &body).0, 201);
    }
    running.stop();
    let wal = log.path("hawk.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0,
        "the WAL is checkpointed into the file"
    );
    assert_eq!(entries_in_a_copy_of_the_file_alone(&log), 3051);
}

#[test]
fn backup_copies_a_live_log_and_verifies_the_copy() {
    // There was no safe way to back up a log while a server writes to it.
    let log = Log::new();
    log.ok(&["demo", "--entries", "2000"]);
    let running = start_server("127.0.0.1:0", &["--db", log.url()]);
    let port = running.port;
    let writer = std::thread::spawn(move || {
        for i in 0..300 {
            let body = format!(r#"{{"action":"during.backup","metadata":{{"n":{i}}}}}"#);
            assert_eq!(http(port, "POST", "/v1/entries", &body).0, 201);
        }
    });
    let target = log.path("backup.db");
    let out = log.run(&["backup", target.to_str().unwrap()]);
    let printed = succeeded(&out, &["backup"]);
    writer.join().unwrap();
    running.stop();
    assert!(printed.contains("intact: "), "{printed}");
    assert!(
        printed.contains("hawk.db.key"),
        "names the key file: {printed}"
    );

    // The copy is a whole log on its own (no -wal beside it), between the log's size
    // before and after the writes, and verifies.
    assert!(!log.path("backup.db-wal").exists());
    let db = target.display().to_string();
    let report = parse_json(&succeeded(&run(&db, &["verify", "--json"]), &["verify"]));
    assert_eq!(report["intact"], true, "{report}");
    let entries = report["entries"].as_u64().unwrap();
    assert!((2000..=2300).contains(&entries), "{entries}");

    // An existing file is never overwritten.
    let message = failed(&log.run(&["backup", target.to_str().unwrap()]), 1);
    assert!(message.contains("already exists"), "{message}");

    if let Some(pg) = PgDb::create() {
        succeeded(&run(&pg.url(), &["track", "a.b"]), &["track"]);
        let message = failed(&run(&pg.url(), &["backup", "x.db"]), 2);
        assert!(message.contains("pg_dump"), "{message}");
    }
}

#[test]
fn errors_about_the_database_say_what_is_wrong() {
    // A directory, an unreachable server and swapped proof sizes gave vague errors,
    // and a plain path was refused as a URL.
    let log = Log::new();
    let dir = log.path("somedir");
    std::fs::create_dir(&dir).unwrap();
    for db in [
        format!("sqlite:{}", dir.display()),
        dir.display().to_string(),
    ] {
        for args in [&["recent"][..], &["track", "a.b"][..]] {
            let message = failed(&run(&db, args), 1);
            assert!(message.contains("is a directory"), "{message}");
        }
    }

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let db = format!("postgres://postgres@127.0.0.1:{port}/hawk");
    let message = failed(&run(&db, &["track", "a.b"]), 1);
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("refused"),
        "{message}"
    );

    for db in [
        log.path("plain.db").display().to_string(),
        "./plain.db".to_owned(),
    ] {
        let out = hawk()
            .current_dir(log.dir())
            .args(["track", "a.b", "--json", "--db", &db])
            .output()
            .unwrap();
        succeeded(&out, &["track"]);
    }
    let listed = parse_json(&succeeded(
        &run(
            &log.path("plain.db").display().to_string(),
            &["recent", "--json"],
        ),
        &["recent"],
    ));
    assert_eq!(listed["total_count"], 2);

    let db = log.url();
    for _ in 0..5 {
        succeeded(&run(db, &["track", "a.b"]), &["track"]);
    }
    let message = failed(&run(db, &["prove", "--consistency", "4", "2"]), 2);
    assert_eq!(
        message,
        "--consistency M N: M must be at most N (got M = 4, N = 2)"
    );
    let message = failed(&run(db, &["prove", "--consistency", "2", "9"]), 2);
    assert_eq!(message, "--consistency M N: N must be between 0 and 5");

    let running = start_server("127.0.0.1:0", &["--db", db]);
    let (status, body) = http(running.port, "GET", "/v1/export?format=xml", "");
    running.stop();
    assert_eq!(status, 400);
    let message = parse_json(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(message, r#"format: must be csv or ndjson, not "xml""#);
}

#[test]
fn storage_errors_repeated_the_drivers_message() {
    // Storage errors keep the driver's error as their source, which the one-line
    // report walks: the driver's message, already in the error's, came twice.
    let log = Log::new();
    let path = log.path("garbage.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let db = path.display().to_string();
    for args in [&["recent"][..], &["track", "a.b"][..]] {
        let message = failed(&run(&db, args), 1);
        assert!(message.starts_with("storage error: "), "{message}");
        assert_eq!(
            message.matches("file is not a database").count(),
            1,
            "{message}"
        );
    }

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let db = format!("postgres://postgres@127.0.0.1:{port}/hawk");
    let message = failed(&run(&db, &["recent"]), 1);
    assert_eq!(message.matches("refused").count(), 1, "{message}");

    // A server error says it once too.
    let pg = PgDb::create();
    let Some(pg) = pg else { return };
    let missing = pg.url().replace(pg.name(), "hawk_no_such_database");
    let message = failed(&run(&missing, &["recent"]), 1);
    assert_eq!(message.matches("does not exist").count(), 1, "{message}");
}
