//! `demo`: the reference workload, seeded and deterministic, quiet when piped.

use crate::helpers::{Log, ids, parse_json};

#[test]
fn demo_writes_the_requested_entries_with_one_summary_line() {
    let log = Log::new();
    // stderr is a pipe here, so the progress bar must stay hidden: `ok` checks that
    // stderr is empty.
    let out = log.ok(&["demo", "--entries", "2000"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("wrote 2,000 entries in "), "{out}");
    assert!(lines[0].ends_with(" entries/s)"), "{out}");

    let page = log.json(&["recent", "--per-page", "1000", "--page", "2"]);
    assert_eq!(page["total_count"], 2000);
    let first_page = log.json(&["recent", "--per-page", "1000"]);
    let mut all = ids(first_page["entries"].as_array().unwrap());
    all.extend(ids(page["entries"].as_array().unwrap()));
    assert_eq!(all, (1..=2000).rev().collect::<Vec<u64>>());

    let oldest = &page["entries"][999];
    assert_eq!(oldest["id"], 1);
    assert!(
        oldest["inserted_at"]
            .as_str()
            .unwrap()
            .starts_with("2025-01-01T"),
        "an empty log's demo data starts on 2025-01-01: {oldest}"
    );

    // `--json` prints the summary as one object.
    let other = Log::new();
    let raw = other.ok(&["demo", "--entries", "500", "--json"]);
    assert!(raw.starts_with(r#"{"entries":500,"seconds":"#), "{raw}");
    let summary = crate::helpers::parse_json(&raw);
    assert!(summary["seconds"].as_f64().unwrap() >= 0.0);
    assert!(
        summary["entries_per_second"].as_u64().is_some(),
        "{summary}"
    );
    assert_eq!(summary.as_object().unwrap().len(), 3);

    let newest = other.json(&["recent", "--per-page", "500"]);
    assert_eq!(newest["total_count"], 500);
    let times: Vec<&str> = newest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["inserted_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "times never decrease"
    );
}

#[test]
fn demo_is_deterministic() {
    let log = Log::new();
    let (a, b) = (log.other_url("a.db"), log.other_url("b.db"));
    let listing = |url: &str| -> Vec<String> {
        (1..=2)
            .map(|page| {
                let page = page.to_string();
                let args = ["recent", "--json", "--per-page", "1000", "--page", &page];
                let out = crate::helpers::hawk()
                    .args(args)
                    .args(["--db", url])
                    .output()
                    .unwrap();
                crate::helpers::succeeded(&out, &args)
            })
            .collect()
    };
    for url in [&a, &b] {
        let out = crate::helpers::hawk()
            .args(["demo", "--entries", "2000", "--db", url])
            .output()
            .unwrap();
        crate::helpers::succeeded(&out, &["demo"]);
    }
    let (first, second) = (listing(&a), listing(&b));
    assert!(
        first[0].len() > 100_000,
        "real data: {} bytes",
        first[0].len()
    );
    assert_eq!(first, second);
}

/// `hawk bench` prints the comparison table, writes its JSON and SVG, and removes
/// its databases unless asked to keep them.
#[test]
fn bench_writes_its_report_and_cleans_up() {
    let log = Log::new();
    let dir = log.path("run");
    let dir_arg = dir.to_str().unwrap();
    let table = log.ok(&[
        "bench",
        "--entries",
        "2000",
        "--samples",
        "2",
        "--dir",
        dir_arg,
    ]);
    assert!(
        table.contains("| op | Hawk p50 / p99 | HawkEx p50 / p99 | ratio (p50) |"),
        "{table}"
    );
    assert!(
        table.contains("| recent, rare term: middle page"),
        "{table}"
    );
    let json = parse_json(&std::fs::read_to_string(dir.join("bench.json")).unwrap());
    assert_eq!(json["entries"], 2000);
    assert!(
        std::fs::read_to_string(dir.join("bench.svg"))
            .unwrap()
            .starts_with("<svg")
    );
    assert!(!dir.join("hawk.db").exists() && !dir.join("hawkex.db").exists());
    // Reusing the directory works since the databases are gone.
    log.ok(&[
        "bench",
        "--entries",
        "1000",
        "--samples",
        "1",
        "--dir",
        dir_arg,
        "--keep",
    ]);
    assert!(dir.join("hawk.db").exists());
}
