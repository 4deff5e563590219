//! Filters: which entries a listing, a count, an export or a live tail covers.
//!
//! A [`Filter`] is a conjunction of [`Clause`]s, each a [`Predicate`] that may be
//! negated. It is built either with the builder methods (what the HTTP parameters and
//! CLI flags map to) or from a query phrase ([`Filter::parse`], the `q` parameter),
//! and the two combine with [`Filter::and`]. Every value is checked before a store sees
//! it, so a store only ever answers filters that obey the entry's own rules.
//!
//! Time is a predicate like the others, but a store never needs a time index for it:
//! times never decrease as ids grow, so any time range is an id range.

mod phrase;

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use crate::entry::{Entry, MAX_FIELD_CHARS, is_control};
use crate::error::{Invalid, Rule};
use crate::query::Term;

/// Most conditions one query phrase may hold: a bound on the work a hostile query
/// can ask for.
pub const MAX_PHRASE_CLAUSES: usize = 32;

/// Most clauses one filter may hold. Twice a phrase's, so that a full phrase ANDed
/// with every separate parameter and an account-bound key's account still fits.
pub const MAX_CLAUSES: usize = 2 * MAX_PHRASE_CLAUSES;

/// Which entries to keep: those matching every clause. The default keeps all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

/// One condition of a [`Filter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Keep the entries that do *not* match the predicate.
    pub negated: bool,
    /// The condition.
    pub predicate: Predicate,
}

/// What a clause tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Predicate {
    /// Entries by an actor of this type, this id, or both (at least one is set).
    Actor {
        /// The actor's type, e.g. `user`.
        kind: Option<String>,
        /// The actor's id.
        id: Option<String>,
    },
    /// Entries with no actor: actions of the system.
    System,
    /// Entries on a resource of this type, this id, or both (at least one is set).
    Resource {
        /// The resource's type, e.g. `project`.
        kind: Option<String>,
        /// The resource's id.
        id: Option<String>,
    },
    /// Entries of this account.
    Account(String),
    /// Entries whose action is exactly this one (case-sensitive, as stored).
    Action(String),
    /// Entries whose action contains this term: literal, Unicode case-insensitive.
    /// Held trimmed and lowercased.
    Search(String),
    /// Entries inserted in this time range.
    Created(TimeRange),
}

/// A half-open time range: from `since` (inclusive) to `until` (exclusive); a missing
/// end is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// The first instant in the range.
    pub since: Option<OffsetDateTime>,
    /// The first instant after the range.
    pub until: Option<OffsetDateTime>,
}

impl TimeRange {
    /// The range `[since, until)`; refused when it is empty (`since` ≥ `until`), since
    /// an empty range is almost always a mistake and would answer with an empty page.
    pub fn new(
        since: Option<OffsetDateTime>,
        until: Option<OffsetDateTime>,
    ) -> Result<Self, Invalid> {
        let range = TimeRange { since, until };
        if range.is_empty() {
            return Err(Invalid::new(
                "until",
                Rule::Malformed("must be after since"),
            ));
        }
        Ok(range)
    }

    fn is_empty(&self) -> bool {
        matches!((self.since, self.until), (Some(s), Some(u)) if s >= u)
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

impl Filter {
    /// A filter that keeps every entry.
    pub fn new() -> Self {
        Filter::default()
    }

    /// Parses a query phrase such as
    /// `actor:user:42 -action:login created:>=2026-10-01 "order paid"`.
    ///
    /// Qualifiers: `actor:TYPE:ID`, `actor_type:T`, `actor_id:I`, `is:system`,
    /// `resource:TYPE:ID`, `resource_type:T`, `resource_id:I`, `account:ID`,
    /// `action:NAME` and `created:` with `>=T`, `>T`, `<T`, `<=T`, `A..B` (`*` for an open
    /// end) or a date; any of them negated by a leading `-`. Other words must all occur
    /// in the action (case-insensitive); `-word` must not. Values with spaces or special
    /// characters are double-quoted, with `\"` and `\\` inside quotes; `TYPE:ID` splits
    /// at the first colon outside quotes, so ids may contain colons. In the phrase a
    /// date means its whole UTC day: `created:2026-10-05` is that day, `>=D` from its
    /// start, `>D` from the next day, `<D` before it, `<=D` through its end, `A..B`
    /// from the start of A through the end of B; with timestamps `A..B` is A inclusive
    /// to B exclusive.
    ///
    /// Errors name the field `q` and the character position of the problem.
    pub fn parse(phrase: &str) -> Result<Self, Invalid> {
        phrase::parse(phrase)
    }

    /// Both filters at once.
    pub fn and(mut self, other: Filter) -> Self {
        self.clauses.extend(other.clauses);
        self
    }

    /// Adds a clause keeping the entries that match `predicate`.
    pub fn with(mut self, predicate: Predicate) -> Self {
        self.clauses.push(Clause {
            negated: false,
            predicate,
        });
        self
    }

    /// Adds a clause keeping the entries that do not match `predicate`.
    pub fn without(mut self, predicate: Predicate) -> Self {
        self.clauses.push(Clause {
            negated: true,
            predicate,
        });
        self
    }

    /// Only entries by this actor.
    pub fn actor(self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.with(Predicate::Actor {
            kind: Some(kind.into()),
            id: Some(id.into()),
        })
    }

    /// Only entries by actors of this type.
    pub fn actor_type(self, kind: impl Into<String>) -> Self {
        self.with(Predicate::Actor {
            kind: Some(kind.into()),
            id: None,
        })
    }

    /// Only entries by actors with this id (of any type).
    pub fn actor_id(self, id: impl Into<String>) -> Self {
        self.with(Predicate::Actor {
            kind: None,
            id: Some(id.into()),
        })
    }

    /// Only system actions (`true`), or only actions with an actor (`false`).
    pub fn system(self, system: bool) -> Self {
        if system {
            self.with(Predicate::System)
        } else {
            self.without(Predicate::System)
        }
    }

    /// Only entries on this resource.
    pub fn resource(self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.with(Predicate::Resource {
            kind: Some(kind.into()),
            id: Some(id.into()),
        })
    }

    /// Only entries on resources of this type.
    pub fn resource_type(self, kind: impl Into<String>) -> Self {
        self.with(Predicate::Resource {
            kind: Some(kind.into()),
            id: None,
        })
    }

    /// Only entries on resources with this id (of any type).
    pub fn resource_id(self, id: impl Into<String>) -> Self {
        self.with(Predicate::Resource {
            kind: None,
            id: Some(id.into()),
        })
    }

    /// Only entries of this account.
    pub fn account(self, account_id: impl Into<String>) -> Self {
        self.with(Predicate::Account(account_id.into()))
    }

    /// Only entries with exactly this action (surrounding whitespace is trimmed).
    pub fn action(self, action: impl AsRef<str>) -> Self {
        self.with(Predicate::Action(action.as_ref().trim().to_owned()))
    }

    /// Only entries whose action contains `term` (literal, case-insensitive); a blank
    /// term adds nothing, as a blank search box filters nothing.
    pub fn search(self, term: impl AsRef<str>) -> Self {
        match Term::parse(Some(term.as_ref())) {
            Some(term) => self.with(Predicate::Search(term.into_inner())),
            None => self,
        }
    }

    /// Only entries inserted at or after `since`.
    pub fn since(self, since: OffsetDateTime) -> Self {
        self.with(Predicate::Created(TimeRange {
            since: Some(since),
            until: None,
        }))
    }

    /// Only entries inserted before `until`.
    pub fn until(self, until: OffsetDateTime) -> Self {
        self.with(Predicate::Created(TimeRange {
            since: None,
            until: Some(until),
        }))
    }

    /// The clauses, in the order they were added.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Whether the filter keeps every entry.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Whether `entry` passes every clause. Stores answer filters from their indexes;
    /// this is the definition they are tested against, and what a live tail applies
    /// to each new entry.
    pub fn matches(&self, entry: &Entry) -> bool {
        self.clauses
            .iter()
            .all(|c| c.predicate.matches(entry) != c.negated)
    }

    /// The time range every kept entry lies in: the intersection of the positive
    /// `created` clauses. Since times never decrease with ids, this is an id range,
    /// which bounds every other clause's work.
    pub fn time_bounds(&self) -> TimeRange {
        let mut bounds = TimeRange::default();
        for clause in self.clauses.iter().filter(|c| !c.negated) {
            if let Predicate::Created(range) = clause.predicate {
                bounds.since = bounds.since.max(range.since);
                bounds.until = match (bounds.until, range.until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        bounds
    }

    /// Checks every value against the rules of the entry's fields, naming the field
    /// the value came from. Every query checks its filter this way before a store
    /// sees it; call it to check a filter that is kept for later.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.clauses.len() > MAX_CLAUSES {
            return Err(Invalid::new(
                "q",
                Rule::Malformed("holds more than 64 conditions"),
            ));
        }
        for clause in &self.clauses {
            clause.predicate.validate()?;
        }
        Ok(())
    }
}

impl Predicate {
    /// Whether `entry` matches (ignoring negation).
    pub fn matches(&self, entry: &Entry) -> bool {
        let part = |want: &Option<String>, have: &Option<String>| {
            want.is_none() || want.as_deref() == have.as_deref()
        };
        match self {
            Predicate::Actor { kind, id } => {
                entry.actor_type.is_some()
                    && part(kind, &entry.actor_type)
                    && part(id, &entry.actor_id)
            }
            Predicate::System => entry.actor_type.is_none(),
            Predicate::Resource { kind, id } => {
                entry.resource_type.is_some()
                    && part(kind, &entry.resource_type)
                    && part(id, &entry.resource_id)
            }
            Predicate::Account(account) => entry.account_id.as_deref() == Some(account),
            Predicate::Action(action) => entry.action == *action,
            Predicate::Search(term) => entry.action.to_lowercase().contains(term.as_str()),
            Predicate::Created(range) => range.contains(entry.inserted_at),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        let pair = |kind: &Option<String>, id: &Option<String>, names: [&'static str; 2]| {
            if kind.is_none() && id.is_none() {
                return Err(Invalid::new(names[0], Rule::Required));
            }
            check_value(names[0], kind.as_deref())?;
            check_value(names[1], id.as_deref())
        };
        match self {
            Predicate::Actor { kind, id } => pair(kind, id, ["actor_type", "actor_id"]),
            Predicate::Resource { kind, id } => pair(kind, id, ["resource_type", "resource_id"]),
            Predicate::Account(account) => check_value("account_id", Some(account)),
            Predicate::Action(action) => check_value("action", Some(action)),
            Predicate::Search(term) => check_value("search", Some(term)),
            Predicate::Created(range) if range.is_empty() => Err(Invalid::new(
                "until",
                Rule::Malformed("must be after since"),
            )),
            Predicate::System | Predicate::Created(_) => Ok(()),
        }
    }
}

/// The canonical query phrase of the filter: [`Filter::parse`] of it gives back an
/// equal filter. Times are written as exact RFC 3339 instants, values quoted where
/// they must be. This is how a filter travels in a URL or is stored with a stream.
impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if clause.negated {
                f.write_str("-")?;
            }
            let pair = |name: &str, kind: &Option<String>, id: &Option<String>| match (kind, id) {
                (Some(kind), Some(id)) => format!("{name}:{}:{}", quoted(kind), quoted(id)),
                (Some(kind), None) => format!("{name}_type:{}", quoted(kind)),
                (None, Some(id)) => format!("{name}_id:{}", quoted(id)),
                (None, None) => format!("{name}_id:\"\""),
            };
            match &clause.predicate {
                Predicate::Actor { kind, id } => f.write_str(&pair("actor", kind, id))?,
                Predicate::Resource { kind, id } => f.write_str(&pair("resource", kind, id))?,
                Predicate::System => f.write_str("is:system")?,
                Predicate::Account(account) => write!(f, "account:{}", quoted(account))?,
                Predicate::Action(action) => write!(f, "action:{}", quoted(action))?,
                Predicate::Search(term) => f.write_str(&quoted(term))?,
                Predicate::Created(range) => {
                    let at =
                        |t: Option<OffsetDateTime>| t.map_or("*".to_owned(), crate::format_time);
                    write!(f, "created:{}..{}", at(range.since), at(range.until))?
                }
            }
        }
        Ok(())
    }
}

/// `value` as one word of a phrase: as it is when nothing in it has a meaning there,
/// else in double quotes with `"` and `\\` escaped.
fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.starts_with('-')
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | ':'));
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A filter value obeys the rule of the entry field it is compared with: 1–255
/// characters, no control characters. (A longer value could never match.)
fn check_value(field: &'static str, value: Option<&str>) -> Result<(), Invalid> {
    let Some(value) = value else { return Ok(()) };
    if value.is_empty() {
        return Err(Invalid::new(field, Rule::Empty));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(Invalid::new(
            field,
            Rule::TooLong {
                max: MAX_FIELD_CHARS,
                unit: "characters",
            },
        ));
    }
    if value.chars().any(is_control) {
        return Err(Invalid::new(field, Rule::ControlCharacter));
    }
    Ok(())
}

/// A time bound as the HTTP parameters `since` and `until` take it: RFC 3339, or a
/// date meaning that day's UTC midnight.
pub fn parse_time_bound(field: &'static str, raw: &str) -> Result<OffsetDateTime, Invalid> {
    match phrase::parse_instant(raw.trim()) {
        Some(Instant::Time(t)) => Ok(t),
        Some(Instant::Day(day)) => Ok(midnight(day)),
        None => Err(Invalid::new(
            field,
            Rule::Malformed("must be an RFC 3339 time or a YYYY-MM-DD date"),
        )),
    }
}

/// A point in time as written: an exact instant, or a whole UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instant {
    Time(OffsetDateTime),
    Day(Date),
}

fn midnight(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_utc()
}

/// The instant after the whole of `day`: the next day's midnight (saturating at the
/// end of the calendar, where nothing is stored anyway).
fn end_of(day: Date) -> OffsetDateTime {
    match day.next_day() {
        Some(next) => midnight(next),
        None => midnight(day).saturating_add(Duration::DAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use time::macros::datetime;

    fn entry(actor: Option<(&str, &str)>, action: &str, resource: Option<(&str, &str)>) -> Entry {
        Entry {
            id: 1,
            inserted_at: datetime!(2026-10-05 12:00 UTC),
            actor_type: actor.map(|a| a.0.to_owned()),
            actor_id: actor.map(|a| a.1.to_owned()),
            action: action.to_owned(),
            resource_type: resource.map(|r| r.0.to_owned()),
            resource_id: resource.map(|r| r.1.to_owned()),
            account_id: Some("acme".into()),
            metadata: Map::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_predicate_matches_by_its_definition() {
        let e = entry(Some(("user", "42")), "Order.Paid", Some(("order", "7")));
        let keeps = |f: Filter| f.matches(&e);
        assert!(keeps(Filter::new()));
        assert!(keeps(Filter::new().actor("user", "42")));
        assert!(!keeps(Filter::new().actor("user", "4")));
        assert!(keeps(Filter::new().actor_type("user").actor_id("42")));
        assert!(!keeps(Filter::new().actor_id("42").actor_type("bot")));
        assert!(!keeps(Filter::new().system(true)));
        assert!(keeps(Filter::new().system(false)));
        assert!(keeps(Filter::new().resource("order", "7").account("acme")));
        assert!(!keeps(Filter::new().resource_type("project")));
        assert!(keeps(Filter::new().action(" Order.Paid ")));
        assert!(
            !keeps(Filter::new().action("order.paid")),
            "exact is case-sensitive"
        );
        assert!(keeps(Filter::new().search("ORDER.p").search("paid")));
        assert!(!keeps(Filter::new().search("order").search("login")));
        assert!(
            keeps(Filter::new().search("   ")),
            "a blank term filters nothing"
        );
        assert!(keeps(Filter::new().since(datetime!(2026-10-05 12:00 UTC))));
        assert!(!keeps(Filter::new().until(datetime!(2026-10-05 12:00 UTC))));
        assert!(keeps(
            Filter::new().without(Predicate::Account("beta".into()))
        ));

        let system = entry(None, "cron.ran", None);
        assert!(Filter::new().system(true).matches(&system));
        assert!(!Filter::new().actor_id("42").matches(&system));
        assert!(
            Filter::new()
                .without(Predicate::Resource {
                    kind: None,
                    id: Some("7".into())
                })
                .matches(&system)
        );
    }

    #[test]
    fn values_follow_the_rules_of_entry_fields() {
        let field = |f: Filter| f.validate().unwrap_err().field();
        assert_eq!(field(Filter::new().actor_id("")), "actor_id");
        assert_eq!(
            field(Filter::new().resource_type("x".repeat(256))),
            "resource_type"
        );
        assert_eq!(field(Filter::new().account("a\u{1b}[2J")), "account_id");
        assert_eq!(field(Filter::new().action("   ")), "action");
        let range = Predicate::Created(TimeRange {
            since: Some(datetime!(2026-10-05 0:00 UTC)),
            until: Some(datetime!(2026-10-05 0:00 UTC)),
        });
        assert_eq!(field(Filter::new().with(range)), "until");
        let mut many = Filter::new();
        for i in 0..=MAX_CLAUSES {
            many = many.actor_id(i.to_string());
        }
        assert_eq!(field(many), "q");
        assert!(
            Filter::new()
                .actor_type("user")
                .search("x")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn time_bounds_intersect_the_positive_ranges() {
        let f = Filter::new()
            .since(datetime!(2026-01-01 0:00 UTC))
            .since(datetime!(2026-02-01 0:00 UTC))
            .until(datetime!(2026-06-01 0:00 UTC))
            .without(Predicate::Created(TimeRange {
                since: None,
                until: Some(datetime!(2026-03-01 0:00 UTC)),
            }));
        let b = f.time_bounds();
        assert_eq!(b.since, Some(datetime!(2026-02-01 0:00 UTC)));
        assert_eq!(b.until, Some(datetime!(2026-06-01 0:00 UTC)));
    }

    fn value() -> impl proptest::strategy::Strategy<Value = String> {
        // Mostly the characters that mean something in a phrase.
        proptest::string::string_regex(r#"[a-zé:" \\\-\.*<>=0-9]{1,12}"#).unwrap()
    }

    fn predicate() -> impl proptest::strategy::Strategy<Value = Predicate> {
        use proptest::prelude::*;
        let id = || proptest::option::of(value());
        let time = || {
            proptest::option::of(
                (0i64..4_000_000_000_000_000).prop_map(crate::entry::time_from_micros),
            )
        };
        prop_oneof![
            (id(), id())
                .prop_filter("one part", |(k, i)| k.is_some() || i.is_some())
                .prop_map(|(kind, id)| Predicate::Actor { kind, id }),
            (id(), id())
                .prop_filter("one part", |(k, i)| k.is_some() || i.is_some())
                .prop_map(|(kind, id)| Predicate::Resource { kind, id }),
            Just(Predicate::System),
            value().prop_map(Predicate::Account),
            value()
                .prop_filter("trimmed", |v| !v.trim().is_empty())
                .prop_map(|v| Predicate::Action(v.trim().to_owned())),
            value().prop_filter_map("a term", |v| {
                Term::parse(Some(&v)).map(|t| Predicate::Search(t.into_inner()))
            }),
            (time(), time())
                .prop_filter(
                    "not empty",
                    |(s, u)| !matches!((s, u), (Some(s), Some(u)) if s >= u)
                )
                .prop_map(|(since, until)| Predicate::Created(TimeRange { since, until })),
        ]
    }

    proptest::proptest! {
        #[test]
        fn a_filter_parses_back_from_its_phrase(
            clauses in proptest::collection::vec((proptest::bool::ANY, predicate()), 0..6)
        ) {
            let mut filter = Filter::new();
            for (negated, predicate) in clauses {
                filter = if negated { filter.without(predicate) } else { filter.with(predicate) };
            }
            let phrase = filter.to_string();
            let parsed = Filter::parse(&phrase);
            proptest::prop_assert_eq!(parsed.as_ref().ok(), Some(&filter), "{} {:?}", phrase, parsed);
        }

        #[test]
        fn any_phrase_parses_or_is_refused_without_panicking(phrase in "\\PC{0,64}") {
            let _ = Filter::parse(&phrase);
        }
    }

    #[test]
    fn http_time_bounds_take_rfc3339_or_a_date_at_midnight() {
        assert_eq!(
            parse_time_bound("since", "2026-10-05").unwrap(),
            datetime!(2026-10-05 0:00 UTC)
        );
        assert_eq!(
            parse_time_bound("until", "2026-10-05T02:30:00+02:00").unwrap(),
            datetime!(2026-10-05 0:30 UTC)
        );
        let err = parse_time_bound("until", "yesterday").unwrap_err();
        assert_eq!(err.field(), "until");
        assert!(
            TimeRange::new(
                Some(datetime!(2026-10-05 0:00 UTC)),
                Some(datetime!(2026-10-04 0:00 UTC))
            )
            .is_err()
        );
    }
}
