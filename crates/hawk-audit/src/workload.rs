//! The reference workload: one seeded, deterministic data set so that demos and
//! benchmarks are comparable everywhere.
//!
//! About 300 `noun.verb` actions (40 nouns × 15 verbs) with a Zipf-like skew; 20%
//! system entries, the rest from 50,000 actors; 30% of entries on `account` resources
//! out of 100,000 accounts (skewed), the rest on other resource types; half with a
//! 100–200 byte metadata object; timestamps spread evenly over one year, in order.

use serde_json::{Map, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::audit::{Audit, MAX_BATCH};
use crate::entry::{NewEntry, Ref};
use crate::error::{Invalid, Result, Rule};

/// The seed of `hawk demo` and `hawk bench`, so both write the same data.
pub const DEMO_SEED: u64 = 42;
/// Where the demo's year starts on an empty log.
pub const DEMO_EPOCH: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);

const NOUNS: [&str; 40] = [
    "account",
    "user",
    "project",
    "invoice",
    "subscription",
    "payment",
    "team",
    "member",
    "role",
    "permission",
    "api_key",
    "webhook",
    "session",
    "document",
    "folder",
    "comment",
    "task",
    "label",
    "report",
    "export",
    "import",
    "integration",
    "plan",
    "coupon",
    "refund",
    "customer",
    "order",
    "shipment",
    "product",
    "price",
    "tax_rate",
    "domain",
    "certificate",
    "backup",
    "deployment",
    "environment",
    "secret",
    "audit_policy",
    "notification",
    "invite",
];
const VERBS: [&str; 15] = [
    "created", "updated", "deleted", "viewed", "exported", "archived", "restored", "renamed",
    "shared", "approved", "rejected", "enabled", "disabled", "failed", "renewed",
];
const OTHER_RESOURCES: [&str; 8] = [
    "project",
    "invoice",
    "subscription",
    "user",
    "api_key",
    "webhook",
    "team",
    "document",
];
/// Actions drawn from the 600 noun/verb pairs.
pub const ACTIONS: usize = 300;
/// Distinct actors.
pub const ACTORS: u64 = 50_000;
/// Distinct accounts.
pub const ACCOUNTS: u64 = 100_000;

/// SplitMix64: tiny, fast and fixed forever, so a seed gives the same data in every
/// version (a general-purpose RNG crate promises no such thing).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A Zipf-like distribution over ranks `0..n`: rank k has weight 1/(k+1)^s.
#[derive(Debug, Clone)]
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.cumulative.last().copied().unwrap_or(0.0);
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }
}

/// A generator of `total` reference-workload entries starting at `start`.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    actions: Vec<String>,
    action_dist: Zipf,
    actor_dist: Zipf,
    account_dist: Zipf,
    start: OffsetDateTime,
    /// Microseconds between consecutive entries' slots.
    step_us: f64,
    total: u64,
    made: u64,
}

impl Workload {
    /// `total` entries spread over one year from `start`, drawn from `seed`.
    pub fn new(seed: u64, total: u64, start: OffsetDateTime) -> Self {
        let mut rng = Rng(seed);
        let mut pairs: Vec<String> = NOUNS
            .iter()
            .flat_map(|n| VERBS.iter().map(move |v| format!("{n}.{v}")))
            .collect();
        // Fisher–Yates, so which 300 pairs (and their popularity) depends on the seed.
        for i in (1..pairs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            pairs.swap(i, j);
        }
        pairs.truncate(ACTIONS);
        let year_us = Duration::days(365).whole_microseconds() as f64;
        Workload {
            rng,
            actions: pairs,
            action_dist: Zipf::new(ACTIONS, 1.1),
            actor_dist: Zipf::new(ACTORS as usize, 0.8),
            account_dist: Zipf::new(ACCOUNTS as usize, 1.0),
            start,
            step_us: year_us / total.max(1) as f64,
            total,
            made: 0,
        }
    }

    /// The actions this workload draws from, most frequent first.
    pub fn actions(&self) -> &[String] {
        &self.actions
    }

    fn entry(&mut self) -> (OffsetDateTime, NewEntry) {
        let rng = &mut self.rng;
        // Each entry gets a random time inside its own slot, so times never decrease.
        let offset = (self.made as f64 + rng.unit()) * self.step_us;
        let at = self.start + Duration::microseconds(offset as i64);
        let action = &self.actions[self.action_dist.sample(rng)];
        let mut entry = NewEntry::new(action.clone());
        if rng.below(100) >= 20 {
            let kind = if rng.below(10) == 0 {
                "api_key"
            } else {
                "user"
            };
            let actor = Ref::new(kind, self.actor_dist.sample(rng) + 1);
            entry = entry.actor(Some(&actor));
        }
        let resource = if rng.below(100) < 30 {
            Ref::new("account", self.account_dist.sample(rng) + 1)
        } else {
            let kind = OTHER_RESOURCES[rng.below(OTHER_RESOURCES.len() as u64) as usize];
            Ref::new(kind, rng.below(1_000_000) + 1)
        };
        entry = entry.resource(Some(&resource));
        if rng.below(2) == 0 {
            entry = entry.metadata(metadata(rng));
        }
        self.made += 1;
        (at, entry)
    }
}

/// A metadata object of 100–200 bytes, serialized.
fn metadata(rng: &mut Rng) -> Value {
    let mut map = Map::new();
    let ip = format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.below(256)
    );
    map.insert("ip".into(), Value::String(ip));
    map.insert(
        "request_id".into(),
        Value::String(format!("{:016x}", rng.next())),
    );
    map.insert(
        "user_agent".into(),
        Value::String("Mozilla/5.0 (X11; Linux x86_64)".into()),
    );
    // The three fields above are ~100 bytes with braces and quotes; pad to 100–200.
    let base = Value::Object(map.clone()).to_string().len();
    let want = 100 + rng.below(101) as usize;
    let pad = want.saturating_sub(base + r#","note":"""#.len() + 1);
    map.insert("note".into(), Value::String("x".repeat(pad)));
    Value::Object(map)
}

/// Writes `total` entries of the workload drawn from `seed` into `audit`, an empty
/// log, spread over the year from [`DEMO_EPOCH`] (or, should that year not be over
/// yet, the year up to today's UTC midnight: no entry is dated in the future), through
/// the durable write path in batches of [`MAX_BATCH`]. `progress` hears each batch's
/// size once it is committed. Returns how many were written.
///
/// A log that holds entries is refused ([`Error::Invalid`](crate::Error::Invalid),
/// field `log`), writing nothing: made-up entries must never mix with real ones, and
/// since times never decrease, demo entries dated after the newest one would push
/// every later real entry's time forward.
pub async fn load(
    audit: &Audit,
    seed: u64,
    total: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    if audit.head().await? > 0 {
        return Err(Invalid::new(
            "log",
            Rule::Malformed("must be empty: demo data goes into a new log only"),
        )
        .into());
    }
    let start = demo_start(OffsetDateTime::now_utc());
    let mut workload = Workload::new(seed, total, start);
    let mut written = 0;
    // The next batch is generated while the previous one commits; batches still
    // reach the store one after another, so ids follow the workload's order.
    let mut pending: Option<tokio::task::JoinHandle<Result<usize>>> = None;
    loop {
        let batch: Vec<_> = workload.by_ref().take(MAX_BATCH).collect();
        if let Some(import) = pending.take() {
            let n = import.await.map_err(crate::Error::storage)??;
            written += n as u64;
            progress(n as u64);
        }
        if batch.is_empty() {
            break;
        }
        let audit = audit.clone();
        pending = Some(tokio::spawn(async move {
            audit.import(batch).await.map(|stored| stored.len())
        }));
    }
    Ok(written)
}

/// Where the demo's year starts when loaded at `now`: [`DEMO_EPOCH`], or a year before
/// today's UTC midnight while that year is not over, so no entry is dated after `now`.
fn demo_start(now: OffsetDateTime) -> OffsetDateTime {
    let today = now.replace_time(time::Time::MIDNIGHT);
    DEMO_EPOCH.min(today - Duration::days(365))
}

impl Iterator for Workload {
    type Item = (OffsetDateTime, NewEntry);

    fn next(&mut self) -> Option<Self::Item> {
        (self.made < self.total).then(|| self.entry())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.total - self.made) as usize;
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> Vec<(OffsetDateTime, NewEntry)> {
        Workload::new(7, n, OffsetDateTime::UNIX_EPOCH).collect()
    }

    #[test]
    fn demo_data_is_never_dated_after_now() {
        // A demo loaded before its year was over dated entries in the future, and
        // since times never decrease, every later real entry with them.
        let now = datetime!(2025-06-15 10:30 UTC);
        let start = demo_start(now);
        assert_eq!(start, datetime!(2024-06-15 0:00 UTC));
        let data: Vec<_> = Workload::new(DEMO_SEED, 5_000, start).collect();
        assert!(data.iter().all(|(at, _)| *at <= now));
        // Once the year is over, the data is the reference data set.
        assert_eq!(demo_start(datetime!(2026-12-07 15:00 UTC)), DEMO_EPOCH);
    }

    #[test]
    fn same_seed_same_data() {
        assert_eq!(sample(500), sample(500));
        let other: Vec<_> = Workload::new(8, 500, OffsetDateTime::UNIX_EPOCH).collect();
        assert_ne!(sample(500), other);
    }

    #[test]
    fn shape_matches_the_reference_workload() {
        let data = sample(20_000);
        assert!(data.windows(2).all(|w| w[0].0 <= w[1].0), "times in order");
        let span = data.last().unwrap().0 - data[0].0;
        assert!(span > Duration::days(364) && span <= Duration::days(365));
        let share = |f: &dyn Fn(&NewEntry) -> bool| {
            data.iter().filter(|(_, e)| f(e)).count() as f64 / data.len() as f64
        };
        let system = share(&|e| e.actor_type.is_none());
        let accounts = share(&|e| e.resource_type.as_deref() == Some("account"));
        let with_meta = share(&|e| e.metadata.is_some());
        assert!((0.18..0.22).contains(&system), "{system}");
        assert!((0.28..0.32).contains(&accounts), "{accounts}");
        assert!((0.48..0.52).contains(&with_meta), "{with_meta}");
        for (_, e) in &data {
            if let Some(meta) = &e.metadata {
                let len = meta.to_string().len();
                assert!((100..=200).contains(&len), "metadata of {len} bytes");
            }
            e.clone().validate().unwrap();
        }
        let distinct: std::collections::HashSet<_> = data.iter().map(|(_, e)| &e.action).collect();
        assert!(distinct.len() > 200 && distinct.len() <= ACTIONS);
    }
}
