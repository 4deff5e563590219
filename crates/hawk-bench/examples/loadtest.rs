//! Load test of a running `hawk serve` (see `scripts/loadtest.sh`, which starts one on
//! the reference workload): `CLIENTS` clients for `SECONDS` send a mix of reads (recent
//! pages, search, suggestions, account pages) and writes (`POST /v1/entries`); then
//! every acknowledged write is read back from the database file and compared with
//! what the server answered. Prints p50/p99 per operation, errors and lost writes;
//! exits 1 if there was any error or loss.
//!
//!     loadtest BASE_URL DB_URL [--clients 8] [--seconds 60]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hawk_audit::Audit;
use hawk_audit::workload::{DEMO_EPOCH, DEMO_SEED, Workload};
use serde_json::{Value, json};

/// Operations, with their share of the requests in percent.
const MIX: [(&str, u64); 5] = [
    ("recent", 30),
    ("search", 20),
    ("actions", 15),
    ("account", 15),
    ("write", 20),
];
/// Search and suggestion terms: whole nouns, fragments, and a term matching nothing.
const TERMS: [&str; 10] = [
    "invoice", "pay", "sub", "user.", ".created", "ship", "acc", "role.up", "tax", "zzz",
];

/// splitmix64, for the request mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<&'static str, u64>,
    first_errors: Vec<String>,
    acknowledged: Vec<Value>,
}

async fn client(
    http: reqwest::Client,
    base: String,
    actions: Vec<String>,
    seed: u64,
    until: Instant,
) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut n = 0u64;
    while Instant::now() < until {
        let mut pick = rng.below(100);
        let op = MIX
            .iter()
            .find(|(_, share)| {
                let hit = pick < *share;
                pick = pick.saturating_sub(*share);
                hit
            })
            .map_or("recent", |(op, _)| op);
        let term = TERMS[rng.below(TERMS.len() as u64) as usize];
        // Accounts of the workload are numbered 1…100,000, the small ones busiest.
        let account = 1 + rng.below(10) * rng.below(1000);
        let request = match op {
            "recent" => {
                let page = 1 + rng.below(20);
                let search = if rng.below(4) == 0 {
                    format!("&search={term}")
                } else {
                    String::new()
                };
                http.get(format!("{base}/v1/entries?page={page}&per_page=50{search}"))
            }
            "search" => http.get(format!("{base}/v1/search?q={term}&limit=10")),
            "actions" => http.get(format!("{base}/v1/actions?q={}&limit=10", &term[..2])),
            "account" => http.get(format!(
                "{base}/v1/accounts/{account}/entries?page=1&per_page=50"
            )),
            _ => {
                n += 1;
                let action = &actions[rng.below(actions.len() as u64) as usize];
                http.post(format!("{base}/v1/entries")).json(&json!({
                    "action": action,
                    "actor_type": "user",
                    "actor_id": rng.below(50_000) + 1,
                    "resource_type": "account",
                    "resource_id": account,
                    "metadata": {"loadtest": seed, "n": n},
                }))
            }
        };
        let started = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(body) if status.is_success() => Ok(body),
                    Ok(body) => Err(format!("{op}: {status} {}", String::from_utf8_lossy(&body))),
                    Err(err) => Err(format!("{op}: reading the body: {err}")),
                }
            }
            Err(err) => Err(format!("{op}: {err}")),
        };
        let elapsed = started.elapsed();
        match result {
            Ok(body) => {
                tally.latencies.entry(op).or_default().push(elapsed);
                if op == "write" {
                    let stored: Value = serde_json::from_slice(&body).expect("a JSON entry");
                    tally.acknowledged.push(stored);
                }
            }
            Err(message) => {
                *tally.errors.entry(op).or_default() += 1;
                if tally.first_errors.len() < 5 {
                    tally.first_errors.push(message);
                }
            }
        }
    }
    tally
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Every acknowledged write, read back from the file: how many are missing or differ.
async fn lost_writes(db_url: &str, acknowledged: &mut [Value]) -> (u64, u64) {
    let audit = Audit::open(db_url).await.expect("open the database");
    acknowledged.sort_by_key(|e| e["id"].as_u64());
    let (mut lost, mut changed) = (0, 0);
    let mut i = 0;
    while i < acknowledged.len() {
        let after = acknowledged[i]["id"].as_u64().unwrap() - 1;
        let chunk = audit.entries_after(after, 10_000, None).await.unwrap();
        let by_id: BTreeMap<u64, Value> = chunk
            .iter()
            .map(|e| (e.id, serde_json::to_value(e).unwrap()))
            .collect();
        let end = chunk.last().map_or(after, |e| e.id);
        while i < acknowledged.len() && acknowledged[i]["id"].as_u64().unwrap() <= end {
            let id = acknowledged[i]["id"].as_u64().unwrap();
            match by_id.get(&id) {
                None => lost += 1,
                Some(stored) if stored != &acknowledged[i] => changed += 1,
                Some(_) => {}
            }
            i += 1;
        }
        if chunk.is_empty() {
            lost += (acknowledged.len() - i) as u64;
            break;
        }
    }
    (lost, changed)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let (Some(base), Some(db_url)) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!("usage: loadtest BASE_URL DB_URL [--clients 8] [--seconds 60]");
        std::process::exit(2);
    };
    let clients = flag("--clients", 8);
    let seconds = flag("--seconds", 60);
    let actions = Workload::new(DEMO_SEED, 1, DEMO_EPOCH).actions().to_vec();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            tokio::spawn(client(
                http.clone(),
                base.clone(),
                actions.clone(),
                c + 1,
                until,
            ))
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a client task");
        for (op, mut latencies) in tally.latencies {
            total
                .latencies
                .entry(op)
                .or_default()
                .append(&mut latencies);
        }
        for (op, n) in tally.errors {
            *total.errors.entry(op).or_default() += n;
        }
        total.first_errors.extend(tally.first_errors);
        total.acknowledged.extend(tally.acknowledged);
    }
    let wall = started.elapsed().as_secs_f64();

    println!("{clients} clients, {wall:.1} s against {base}\n");
    println!(
        "| operation | requests | errors | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut requests = 0;
    for (op, _) in MIX {
        let mut latencies = total.latencies.remove(op).unwrap_or_default();
        latencies.sort_unstable();
        let errors = total.errors.get(op).copied().unwrap_or(0);
        requests += latencies.len() as u64 + errors;
        println!(
            "| {op} | {} | {errors} | {:.0} | {:.2} | {:.2} |",
            latencies.len(),
            latencies.len() as f64 / wall,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
        );
    }
    let errors: u64 = total.errors.values().sum();
    for message in &total.first_errors {
        eprintln!("error: {message}");
    }
    let (lost, changed) = lost_writes(&db_url, &mut total.acknowledged).await;
    println!(
        "\n{requests} requests ({:.0}/s), {errors} errors; {} writes acknowledged, {lost} lost, \
         {changed} changed",
        requests as f64 / wall,
        total.acknowledged.len()
    );
    if errors + lost + changed > 0 {
        std::process::exit(1);
    }
}
