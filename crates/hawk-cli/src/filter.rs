//! The filter options every listing takes, and the [`Filter`] they mean.
//!
//! Each flag is one clause, and `--query` adds the clauses of a phrase; all of them
//! hold at once. Errors name the field as the HTTP API names its parameters
//! (`actor_type`, `since`, `q` …), so both report the same mistake the same way.

use hawk_audit::{Filter, TimeRange, parse_time_bound};

/// Which entries a listing covers. Shown under its own heading in each command's help.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "Filters")]
pub(crate) struct FilterArgs {
    /// Only entries by actors of this type.
    #[arg(long, value_name = "T")]
    pub(crate) actor_type: Option<String>,
    /// Only entries by actors with this id.
    #[arg(long, value_name = "I")]
    pub(crate) actor_id: Option<String>,
    /// Only entries the system recorded (no actor).
    #[arg(long, conflicts_with = "no_system")]
    pub(crate) system: bool,
    /// Only entries with an actor.
    #[arg(long)]
    pub(crate) no_system: bool,
    /// Only entries on resources of this type.
    #[arg(long, value_name = "T")]
    pub(crate) resource_type: Option<String>,
    /// Only entries on resources with this id.
    #[arg(long, value_name = "I")]
    pub(crate) resource_id: Option<String>,
    /// Only entries of this account.
    #[arg(long, value_name = "ID")]
    pub(crate) account: Option<String>,
    /// Only entries with exactly this action (case-sensitive).
    #[arg(long, value_name = "NAME")]
    pub(crate) action: Option<String>,
    /// Only actions containing TERM (case-insensitive, literal).
    #[arg(long, value_name = "TERM")]
    pub(crate) search: Option<String>,
    /// From this time on: RFC 3339, or YYYY-MM-DD (UTC midnight); inclusive.
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Before this time: RFC 3339, or YYYY-MM-DD (UTC midnight); exclusive.
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// A query phrase, e.g. 'actor:user:42 created:>=2026-10-01 -action:login'.
    // Its own id: `search` and `actions` take a QUERY of their own.
    #[arg(
        long = "query",
        short = 'q',
        value_name = "PHRASE",
        allow_hyphen_values = true
    )]
    pub(crate) phrase: Option<String>,
}

/// `EXAMPLES`, then what the query phrase takes: the help after the options of every
/// command with filters. (A macro, since clap's attributes take literals.)
macro_rules! help {
    ($examples:literal) => {
        concat!(
            $examples,
            "\n\n",
            "Filters hold together: every flag and every word of --query must match.\n",
            "A phrase holds qualifiers and words; a leading - negates any of them:\n",
            "  actor:TYPE:ID  actor_type:T  actor_id:I  is:system\n",
            "  resource:TYPE:ID  resource_type:T  resource_id:I  account:ID  action:NAME\n",
            "  created:2026-10-05 (that UTC day)  created:>=DATE  created:<TIME  created:A..B\n",
            "Other words must occur in the action; quote values with spaces: \"order paid\"."
        )
    };
}
pub(crate) use help;

impl FilterArgs {
    /// The filter of the flags and the phrase, checked: a value that breaks a rule
    /// is refused naming its field, before any log is opened.
    pub(crate) fn filter(&self) -> Result<Filter, hawk_audit::Error> {
        let mut filter = Filter::new();
        match (&self.actor_type, &self.actor_id) {
            (Some(kind), Some(id)) => filter = filter.actor(kind, id),
            (Some(kind), None) => filter = filter.actor_type(kind),
            (None, Some(id)) => filter = filter.actor_id(id),
            (None, None) => {}
        }
        if self.system || self.no_system {
            filter = filter.system(self.system);
        }
        match (&self.resource_type, &self.resource_id) {
            (Some(kind), Some(id)) => filter = filter.resource(kind, id),
            (Some(kind), None) => filter = filter.resource_type(kind),
            (None, Some(id)) => filter = filter.resource_id(id),
            (None, None) => {}
        }
        if let Some(account) = &self.account {
            filter = filter.account(account);
        }
        if let Some(action) = &self.action {
            filter = filter.action(action);
        }
        if let Some(term) = &self.search {
            filter = filter.search(term);
        }
        let since = self
            .since
            .as_deref()
            .map(|raw| parse_time_bound("since", raw))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|raw| parse_time_bound("until", raw))
            .transpose()?;
        TimeRange::new(since, until)?;
        if let Some(since) = since {
            filter = filter.since(since);
        }
        if let Some(until) = until {
            filter = filter.until(until);
        }
        if let Some(phrase) = &self.phrase {
            filter = filter.and(Filter::parse(phrase)?);
        }
        filter.validate()?;
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> FilterArgs {
        FilterArgs::default()
    }

    fn field(args: &FilterArgs) -> &'static str {
        args.filter()
            .unwrap_err()
            .as_invalid()
            .expect("invalid input")
            .field()
    }

    #[test]
    fn flags_and_the_phrase_make_one_filter() {
        let filter = FilterArgs {
            actor_type: Some("user".into()),
            actor_id: Some("42".into()),
            no_system: true,
            account: Some("acme".into()),
            since: Some("2026-10-01".into()),
            phrase: Some("-action:login paid".into()),
            ..args()
        }
        .filter()
        .unwrap();
        assert_eq!(
            filter.to_string(),
            "actor:user:42 -is:system account:acme \
             created:2026-10-01T00:00:00.000000Z..* -action:login paid"
        );
        assert!(args().filter().unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_parameter() {
        let until_first = FilterArgs {
            since: Some("2026-10-02".into()),
            until: Some("2026-10-01".into()),
            ..args()
        };
        assert_eq!(field(&until_first), "until");
        let bad_since = FilterArgs {
            since: Some("yesterday".into()),
            ..args()
        };
        assert_eq!(field(&bad_since), "since");
        let long = FilterArgs {
            resource_id: Some("x".repeat(256)),
            ..args()
        };
        assert_eq!(field(&long), "resource_id");
        let phrase = FilterArgs {
            phrase: Some("colour:red".into()),
            ..args()
        };
        assert_eq!(field(&phrase), "q");
    }
}
