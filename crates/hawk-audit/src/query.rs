//! Query options and answers: what `recent`, `search`, `actions` and `for_account`
//! take and give back.

use serde::Serialize;

use crate::entry::Entry;
use crate::error::{Invalid, Rule};

/// Largest `per_page`.
pub const MAX_PER_PAGE: u64 = 1000;
/// Largest `limit` for [`Audit::search`](crate::Audit::search) and
/// [`Audit::actions`](crate::Audit::actions).
pub const MAX_LIMIT: u64 = 100;

/// Options of a paged, newest-first listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    /// 1-based page number (default 1).
    pub page: u64,
    /// Entries per page, 1–1000 (default 50).
    pub per_page: u64,
    /// Case-insensitive literal substring of the action; blank means no filter.
    pub search: Option<String>,
    /// Pins the listing to the log as it was at this id, so later pages neither
    /// repeat nor skip entries while new ones arrive. Every page returns it.
    pub as_of: Option<u64>,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            page: 1,
            per_page: 50,
            search: None,
            as_of: None,
        }
    }
}

impl Recent {
    /// Page `page` of `per_page` entries.
    pub fn page(page: u64, per_page: u64) -> Self {
        Recent {
            page,
            per_page,
            ..Recent::default()
        }
    }

    /// Only entries whose action contains `term`.
    pub fn search(mut self, term: impl Into<String>) -> Self {
        self.search = Some(term.into());
        self
    }

    /// Pins the listing to the log as it was when entry `as_of` was the newest.
    pub fn as_of(mut self, as_of: u64) -> Self {
        self.as_of = Some(as_of);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.page < 1 {
            return Err(Invalid::new("page", Rule::AtLeast { min: 1 }));
        }
        check_range("per_page", self.per_page, MAX_PER_PAGE)
    }

    /// Entries to skip before this page, saturating for absurd page numbers.
    pub(crate) fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

pub(crate) fn check_range(field: &'static str, value: u64, max: u64) -> Result<(), Invalid> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(field, Rule::OutOfRange { min: 1, max }))
    }
}

/// One page of entries, newest first, with exact totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Page {
    /// The entries of this page (empty past the end).
    pub entries: Vec<Entry>,
    /// The page number asked for.
    pub page: u64,
    /// Entries per page.
    pub per_page: u64,
    /// Exact number of matching entries up to `as_of`.
    pub total_count: u64,
    /// `max(1, ceil(total_count / per_page))`.
    pub total_pages: u64,
    /// The newest id this listing sees; pass it back to page on consistently.
    pub as_of: u64,
}

impl Page {
    pub(crate) fn new(entries: Vec<Entry>, opts: &Recent, total_count: u64, as_of: u64) -> Self {
        Page {
            entries,
            page: opts.page,
            per_page: opts.per_page,
            total_count,
            total_pages: total_count.div_ceil(opts.per_page).max(1),
            as_of,
        }
    }
}

/// An action name and how many entries carry it: a typeahead suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "An action and its number of entries.")
)]
pub struct ActionCount {
    /// The action name.
    pub action: String,
    /// Entries carrying it.
    pub count: u64,
}

/// A search term, normalized: trimmed and lowercased; `None` when blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term(String);

impl Term {
    pub(crate) fn parse(raw: Option<&str>) -> Option<Term> {
        let trimmed = raw?.trim();
        (!trimmed.is_empty()).then(|| Term(trimmed.to_lowercase()))
    }

    /// The normalized term: trimmed, lowercase.
    pub(crate) fn into_inner(self) -> String {
        self.0
    }

    /// Literal, case-insensitive (Unicode lowercase) substring match.
    pub(crate) fn matches(&self, action: &str) -> bool {
        self.matches_lowercase(&action.to_lowercase())
    }

    /// [`Term::matches`] for an action already lowercased.
    pub(crate) fn matches_lowercase(&self, lowercase_action: &str) -> bool {
        lowercase_action.contains(&self.0)
    }

    pub(crate) fn is_prefix_of(&self, action: &str) -> bool {
        action.to_lowercase().starts_with(&self.0)
    }
}

/// What a typeahead shows of `actions`: those with entries that `term` matches,
/// prefix matches first, then by count (highest first), then by name; at most `limit`.
pub(crate) fn suggestions(
    term: Option<&Term>,
    actions: impl IntoIterator<Item = ActionCount>,
    limit: u64,
) -> Vec<ActionCount> {
    let mut list: Vec<ActionCount> = actions
        .into_iter()
        .filter(|a| a.count > 0 && term.is_none_or(|t| t.matches(&a.action)))
        .collect();
    list.sort_by(|a, b| {
        let prefix = |x: &ActionCount| term.is_none_or(|t| t.is_prefix_of(&x.action));
        prefix(b)
            .cmp(&prefix(a))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.action.cmp(&b.action))
    });
    list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_literal_trimmed_and_case_insensitive() {
        assert_eq!(Term::parse(Some("   ")), None);
        assert_eq!(Term::parse(None), None);
        let t = Term::parse(Some(" 50%_Off ")).unwrap();
        assert!(t.matches("promo.50%_off.applied"));
        assert!(!t.matches("promo.50xyoff"));
        let t = Term::parse(Some("ÉTÉ")).unwrap();
        assert!(t.matches("résumé.été.saved"));
    }

    #[test]
    fn total_pages_is_at_least_one() {
        let opts = Recent::page(1, 50);
        assert_eq!(Page::new(vec![], &opts, 0, 0).total_pages, 1);
        assert_eq!(Page::new(vec![], &opts, 50, 50).total_pages, 1);
        assert_eq!(Page::new(vec![], &opts, 51, 51).total_pages, 2);
    }

    #[test]
    fn suggestions_rank_prefix_then_count() {
        let list = vec![
            ActionCount {
                action: "user.login".into(),
                count: 9,
            },
            ActionCount {
                action: "login.failed".into(),
                count: 1,
            },
            ActionCount {
                action: "login.ok".into(),
                count: 5,
            },
        ];
        let list = suggestions(Term::parse(Some("log")).as_ref(), list, 10);
        let names: Vec<_> = list.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(names, ["login.ok", "login.failed", "user.login"]);
    }
}
