//! The filter rows of `hawk bench`: each filter of the filters contract alone and in
//! pairs, on first, middle and last pages with exact totals, beside the SQL a careful
//! HawkEx user writes for the same question on HawkEx's table and indexes.

use hawk_audit::time::{Duration, OffsetDateTime};
use hawk_audit::workload::{self, Workload};
use hawk_audit::{Filter, Recent};

use crate::baseline::{Cond, Op};
use crate::{Bench, BoxError, Progress, Row, Stats};

/// One filter as both sides ask it.
struct Case {
    name: String,
    filter: Filter,
    conds: Vec<Cond>,
}

/// A time as HawkEx stores it: whole seconds, `YYYY-MM-DDTHH:MM:SS`.
fn hawkex_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Bench {
    /// Seals the filter index (timed: the cost a log pays once per chunk), then
    /// times every filter case.
    pub(crate) async fn filters(
        &mut self,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), BoxError> {
        progress(Progress::Phase("sealing the filter index".into()));
        self.audit.seal_filter_index().await?;
        // The seals the background task made while the load ran, each a whole chunk
        // read back from the entries and written as postings.
        let seals = self.audit.filter_index_seal_times();
        if !seals.is_empty() {
            self.rows.push(Row::latency(
                format!(
                    "filter index: seal one chunk of 65,536 entries ({} sealed during the load)",
                    seals.len()
                ),
                Stats::from_samples(seals),
                None,
            ));
        }
        for case in self.cases().await? {
            progress(Progress::Phase(format!("filter: {}", case.name)));
            let view = self.audit.filtered(case.filter.clone());
            let first = view.recent(Recent::page(1, 50)).await?;
            let pages = [
                ("first", 1),
                ("middle", first.total_pages.div_ceil(2)),
                ("last", first.total_pages),
            ];
            for (position, page) in pages {
                let audit = self.audit.clone();
                let filter = case.filter.clone();
                let hawk = self
                    .time_hawk(|| {
                        let (audit, filter) = (audit.clone(), filter.clone());
                        async move {
                            audit
                                .filtered(filter)
                                .recent(Recent::page(page, 50))
                                .await
                                .map(drop)
                        }
                    })
                    .await?;
                let base = self
                    .time_base(Op::Filtered {
                        conds: case.conds.clone(),
                        page,
                        per_page: 50,
                    })
                    .await?;
                self.rows.push(Row::latency(
                    format!(
                        "filter {}: {position} page ({} matches)",
                        case.name, first.total_count
                    ),
                    hawk,
                    Some(base),
                ));
            }
        }
        Ok(())
    }

    /// The cases: the heaviest and the median actor, a resource type, one resource,
    /// a day and a month of the log, and the pairs the contract names.
    async fn cases(&self) -> Result<Vec<Case>, BoxError> {
        let everything = self.audit.filtered(Filter::new());
        let heaviest = everything
            .actors("", 1)
            .await?
            .into_iter()
            .next()
            .ok_or("the log has no actor")?;
        let median = self.median_actor().await?;
        let newest = self.audit.recent(Recent::page(1, 50)).await?;
        let resource = newest
            .entries
            .iter()
            .find_map(|e| match (&e.resource_type, &e.resource_id) {
                (Some(kind), Some(id)) if kind != "account" => Some((kind.clone(), id.clone())),
                _ => None,
            })
            .ok_or("no entry on a resource")?;
        let end = newest
            .entries
            .first()
            .map(|e| e.inserted_at)
            .ok_or("the log is empty")?;
        let day = (end - Duration::days(2), end - Duration::days(1));
        let month = (end - Duration::days(60), end - Duration::days(30));
        let common =
            Workload::new(workload::DEMO_SEED, 1, workload::DEMO_EPOCH).actions()[0].clone();
        let window = |(since, until): (OffsetDateTime, OffsetDateTime)| {
            (
                Filter::new().since(since).until(until),
                vec![
                    Cond::Since(hawkex_time(since)),
                    Cond::Until(hawkex_time(until)),
                ],
            )
        };
        let actor = |kind: &str, id: &str| {
            (
                Filter::new().actor(kind, id),
                vec![Cond::Actor(kind.to_owned(), id.to_owned())],
            )
        };
        let both = |a: (Filter, Vec<Cond>), b: (Filter, Vec<Cond>)| {
            (a.0.and(b.0), a.1.into_iter().chain(b.1).collect())
        };
        let top = actor(&heaviest.kind, &heaviest.id);
        let term = |t: &str| (Filter::new().search(t), vec![Cond::Term(t.to_owned())]);
        let cases = [
            ("heaviest actor".to_owned(), top.clone()),
            ("median actor".to_owned(), actor(&median.0, &median.1)),
            (
                "resource type project".to_owned(),
                (
                    Filter::new().resource_type("project"),
                    vec![Cond::ResourceType("project".into())],
                ),
            ),
            (
                "one resource".to_owned(),
                (
                    Filter::new().resource(&resource.0, &resource.1),
                    vec![Cond::Resource(resource.0.clone(), resource.1.clone())],
                ),
            ),
            ("1-day window".to_owned(), window(day)),
            ("30-day window".to_owned(), window(month)),
            (
                "heaviest actor + 30 days".to_owned(),
                both(top.clone(), window(month)),
            ),
            (
                format!("\"{common}\" + 30 days"),
                both(term(&common), window(month)),
            ),
            (
                "resource type project + heaviest actor".to_owned(),
                both(
                    (
                        Filter::new().resource_type("project"),
                        vec![Cond::ResourceType("project".into())],
                    ),
                    top.clone(),
                ),
            ),
            (
                format!("heaviest account + \"{common}\""),
                both(
                    (Filter::new().account("1"), vec![Cond::Account("1".into())]),
                    term(&common),
                ),
            ),
            (
                format!("system + \"{common}\""),
                both(
                    (Filter::new().system(true), vec![Cond::System]),
                    term(&common),
                ),
            ),
            (
                "system + not \"e\" + 30 days".to_owned(),
                both(
                    (
                        Filter::new()
                            .system(true)
                            .without(hawk_audit::Predicate::Search("e".into())),
                        vec![Cond::System, Cond::NotTerm("e".into())],
                    ),
                    window(month),
                ),
            ),
        ];
        Ok(cases
            .into_iter()
            .map(|(name, (filter, conds))| Case {
                name,
                filter,
                conds,
            })
            .collect())
    }

    /// The median of the actors that have entries, found by counting every 97th user.
    async fn median_actor(&self) -> Result<(String, String), BoxError> {
        let mut counts = Vec::new();
        for id in (1..=workload::ACTORS).step_by(97) {
            let filter = Filter::new().actor("user", id.to_string());
            let page = self
                .audit
                .filtered(filter)
                .recent(Recent::page(1, 1))
                .await?;
            if page.total_count > 0 {
                counts.push((page.total_count, id));
            }
        }
        counts.sort_unstable();
        let (_, id) = counts.get(counts.len() / 2).copied().unwrap_or((0, 1));
        Ok(("user".to_owned(), id.to_string()))
    }
}
