//! Every query under a filter: [`Audit::filtered`] gives a view whose methods are the
//! listing, typeahead, suggestions and forward walk of [`Audit`], each answering only
//! for the entries the filter keeps. The unfiltered methods of `Audit` are this view
//! with the empty filter, and an account's history is the view of `account:ID`: there
//! is one way to narrow any query, and an account-bound caller narrows with it.
//!
//! A filter that names only an account or only one search term is answered by the
//! stores' own numbering (an account's sequence, the action blocks), as before filters
//! existed; any other filter by the filter index (`postings::index`), which holds a
//! bitmap of ids per value and chunk. Both answer exactly, at any page.

use serde::Serialize;

use crate::audit::{Audit, MAX_BATCH};
use crate::entry::Entry;
use crate::error::{Invalid, Result, Rule};
use crate::filter::{Filter, Predicate};
use crate::postings::index::Snapshot;
use crate::postings::{Dim, Eval, NONE, pair_key};
use crate::query::{ActionCount, MAX_LIMIT, Page, Recent, Term, check_range, suggestions};
use crate::store;
use crate::store::index_ops::{IndexAnswer, IndexOp};

/// Values a suggestion list first counts exactly under a filter: the most frequent
/// values with the prefix in the whole log. When fewer than asked for have matches
/// (a narrow filter, such as an account-bound key's), ten times as many are counted,
/// up to [`MAX_CANDIDATES`].
const CANDIDATES: u64 = 200;

/// Most values one suggestion list counts.
const MAX_CANDIDATES: u64 = 20_000;

/// Longest prefix a suggestion list takes, in characters.
const MAX_PREFIX_CHARS: usize = 255;

/// An actor or a resource and how many entries (within the filter) name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubjectCount {
    /// Its type, e.g. `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Entries naming it.
    pub count: u64,
}

/// A type of actor or resource and how many entries (within the filter) name one of
/// that type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeCount {
    /// The type, e.g. `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entries naming an actor (or resource) of the type.
    pub count: u64,
}

/// An account and how many entries (within the filter) belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountCount {
    /// The account's id.
    pub account_id: String,
    /// Entries of the account.
    pub count: u64,
}

/// Queries narrowed by one [`Filter`]; see [`Audit::filtered`].
#[derive(Clone)]
pub struct Filtered<'a> {
    audit: &'a Audit,
    filter: Filter,
    /// Checked already, as an account lookup is (`Audit::for_account_page` and
    /// kin): an id no entry can hold, with a control character, finds nothing
    /// there rather than failing as it does in a filter.
    checked: bool,
}

impl Audit {
    /// The queries of this log narrowed by `filter`: listings, typeahead, suggestions
    /// and forward walks all answer only for the entries it keeps, with exact totals.
    ///
    /// ```
    /// # use hawk_audit::{Audit, Filter, NewEntry, Recent, Ref};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> hawk_audit::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let audit = Audit::open(&format!("sqlite:{}", dir.path().join("h.db").display())).await?;
    /// audit.track(Some(&Ref::new("user", 7)), "project.deleted", None).await?;
    /// audit.track(None, "backup.finished", None).await?;
    /// let filter = Filter::parse("actor:user:7 -is:system")?;
    /// let page = audit.filtered(filter).recent(Recent::default()).await?;
    /// assert_eq!(page.total_count, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn filtered(&self, filter: Filter) -> Filtered<'_> {
        Filtered {
            audit: self,
            filter,
            checked: false,
        }
    }

    /// The view of one account's entries, its id checked as a lookup checks it.
    pub(crate) fn for_account_filter(&self, account_id: &str) -> Result<Filtered<'_>> {
        let account = crate::entry::parse_account_id(account_id)?;
        Ok(Filtered {
            audit: self,
            filter: Filter::new().account(account),
            checked: true,
        })
    }
}

impl Filtered<'_> {
    /// The filter this view applies.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    fn validate(&self, filter: &Filter) -> Result<(), Invalid> {
        if self.checked {
            return Ok(());
        }
        filter.validate()
    }

    /// A page of matching entries, newest first, with exact totals; `opts.search`
    /// narrows further.
    pub async fn recent(&self, opts: Recent) -> Result<Page> {
        opts.validate()?;
        let filter = match opts.search.as_deref().map(str::trim) {
            Some(term) if !term.is_empty() => self.filter.clone().search(term),
            _ => self.filter.clone(),
        };
        self.validate(&filter)?;
        let store = self.audit.store();
        if let Some(simple) = simple(&filter) {
            return store.page(simple, opts).await;
        }
        let (offset, limit) = (opts.offset(), opts.per_page);
        let (as_of, answer) = self
            .evaluate(&filter, 0, opts.as_of, |eval| {
                Ok((eval.total(), eval.page(offset, limit)?))
            })
            .await?;
        let (total, ids) = answer.unwrap_or_default();
        let entries = entries(store, ids).await?;
        Ok(Page::new(entries, &opts, total, as_of))
    }

    /// Typeahead: the newest `limit` (1–100) matching entries whose action contains
    /// `query`.
    pub async fn search(&self, query: &str, limit: u64) -> Result<Vec<Entry>> {
        check_range("limit", limit, MAX_LIMIT)?;
        let page = self.recent(Recent::page(1, limit).search(query)).await?;
        Ok(page.entries)
    }

    /// Suggestions: the distinct actions containing `query` with how many matching
    /// entries carry each, prefix matches first, then by count; at most `limit`
    /// (1–100).
    pub async fn actions(&self, query: &str, limit: u64) -> Result<Vec<ActionCount>> {
        check_range("limit", limit, MAX_LIMIT)?;
        self.validate(&self.filter)?;
        let term = Term::parse(Some(query));
        let store = self.audit.store();
        match simple(&self.filter) {
            Some(store::Filter {
                account: None,
                term: None,
            }) => return store.actions(term, limit).await,
            Some(store::Filter {
                account: Some(account),
                term: None,
            }) => return store.account_actions(account, term, limit).await,
            _ => {}
        }
        let (_, counts) = self
            .evaluate(&self.filter, 0, None, |eval| {
                let actions: Vec<String> = eval
                    .values(Dim::Action)?
                    .into_iter()
                    .filter(|a| term.as_ref().is_none_or(|t| t.matches(a)))
                    .collect();
                let counts = eval.tally(Dim::Action, &actions)?;
                Ok(actions.into_iter().zip(counts).collect::<Vec<_>>())
            })
            .await?;
        let actions = counts
            .unwrap_or_default()
            .into_iter()
            .map(|(action, count)| ActionCount { action, count });
        Ok(suggestions(term.as_ref(), actions, limit))
    }

    /// How many matching entries have ids above `after`, exactly (a sink's lag).
    pub async fn count_after(&self, after: u64) -> Result<u64> {
        self.validate(&self.filter)?;
        let (_, total) = self
            .evaluate(&self.filter, after, None, |eval| Ok(eval.total()))
            .await?;
        Ok(total.unwrap_or(0))
    }

    /// Up to `limit` (1–10,000) matching entries with ids above `after`, oldest
    /// first: one step of a forward walk (export, live tail).
    pub async fn entries_after(&self, after: u64, limit: u64) -> Result<Vec<Entry>> {
        check_range("limit", limit, MAX_BATCH as u64)?;
        self.validate(&self.filter)?;
        let store = self.audit.store();
        if let Some(store::Filter {
            account,
            term: None,
        }) = simple(&self.filter)
        {
            return store.entries_after(after, limit, account).await;
        }
        let (_, ids) = self
            .evaluate(&self.filter, after, None, |eval| eval.after(after, limit))
            .await?;
        let ids = ids.unwrap_or_default();
        entries(store, ids).await
    }

    /// Actors whose `TYPE:ID` or id begins with `prefix` (case-sensitive), with how
    /// many matching entries each has, the most first; at most `limit` (1–100).
    pub async fn actors(&self, prefix: &str, limit: u64) -> Result<Vec<SubjectCount>> {
        let found = self
            .subjects(Dim::Actor, Dim::ActorType, prefix, limit)
            .await?;
        Ok(found)
    }

    /// Resources whose `TYPE:ID` or id begins with `prefix` (case-sensitive), with how
    /// many matching entries each has, the most first; at most `limit` (1–100).
    pub async fn resources(&self, prefix: &str, limit: u64) -> Result<Vec<SubjectCount>> {
        self.subjects(Dim::Resource, Dim::ResourceType, prefix, limit)
            .await
    }

    /// Actor types beginning with `prefix` (case-sensitive), with how many matching
    /// entries have an actor of each, the most first; at most `limit` (1–100).
    pub async fn actor_types(&self, prefix: &str, limit: u64) -> Result<Vec<TypeCount>> {
        self.types(Dim::ActorType, prefix, limit).await
    }

    /// Resource types beginning with `prefix` (case-sensitive), with how many
    /// matching entries name a resource of each, the most first; at most `limit`
    /// (1–100).
    pub async fn resource_types(&self, prefix: &str, limit: u64) -> Result<Vec<TypeCount>> {
        self.types(Dim::ResourceType, prefix, limit).await
    }

    async fn types(&self, dim: Dim, prefix: &str, limit: u64) -> Result<Vec<TypeCount>> {
        let counted = self.values(dim, prefix, limit).await?;
        Ok(counted
            .into_iter()
            .map(|(kind, count)| TypeCount { kind, count })
            .collect())
    }

    /// Accounts whose id begins with `prefix` (case-sensitive), with how many matching
    /// entries each has, the most first; at most `limit` (1–100).
    pub async fn accounts(&self, prefix: &str, limit: u64) -> Result<Vec<AccountCount>> {
        let counted = self.values(Dim::Account, prefix, limit).await?;
        Ok(counted
            .into_iter()
            .map(|(account_id, count)| AccountCount { account_id, count })
            .collect())
    }

    /// The values of `dim` beginning with `prefix`, with their counts within the
    /// filter, the most first; at most `limit`.
    async fn values(&self, dim: Dim, prefix: &str, limit: u64) -> Result<Vec<(String, u64)>> {
        check_range("limit", limit, MAX_LIMIT)?;
        check_prefix(prefix)?;
        // The tail must cover the log, or the newest values would not be offered.
        self.audit.index().follow_head(self.audit.store()).await?;
        self.suggest(dim, vec![prefix.to_owned()], limit).await
    }

    async fn subjects(
        &self,
        pair: Dim,
        kinds: Dim,
        prefix: &str,
        limit: u64,
    ) -> Result<Vec<SubjectCount>> {
        check_range("limit", limit, MAX_LIMIT)?;
        check_prefix(prefix)?;
        let index = self.audit.index();
        let store = self.audit.store();
        // The tail must cover the log, or the newest values would not be offered.
        index.follow_head(store).await?;
        // `TYPE:ID` splits at the first colon; without one the prefix may begin an id
        // of any type, or a type (every id of it).
        let prefixes: Vec<String> = match prefix.split_once(':') {
            Some((kind, id)) => vec![pair_key(kind, id)],
            None => index
                .values_with_prefix(store, kinds, "", u64::MAX)
                .await?
                .into_iter()
                .map(|(kind, _)| kind)
                .filter(|kind| kind != NONE)
                .flat_map(|kind| {
                    let all = kind.starts_with(prefix).then(|| pair_key(&kind, ""));
                    std::iter::once(pair_key(&kind, prefix)).chain(all)
                })
                .collect(),
        };
        let counted = self.suggest(pair, prefixes, limit).await?;
        Ok(counted
            .into_iter()
            .filter_map(|(key, count)| {
                let (kind, id) = key.split_once('\u{0}')?;
                Some(SubjectCount {
                    kind: kind.to_owned(),
                    id: id.to_owned(),
                    count,
                })
            })
            .collect())
    }

    /// The values of `dim` beginning with any of `prefixes` that the most matching
    /// entries hold, with their counts within the filter, at most `limit`.
    async fn suggest(
        &self,
        dim: Dim,
        prefixes: Vec<String>,
        limit: u64,
    ) -> Result<Vec<(String, u64)>> {
        let (index, store) = (self.audit.index(), self.audit.store());
        let mut want = CANDIDATES;
        loop {
            let mut candidates: Vec<(String, u64)> = Vec::new();
            let mut exhausted = true;
            for key_prefix in &prefixes {
                let found = index
                    .values_with_prefix(store, dim, key_prefix, want)
                    .await?;
                exhausted &= (found.len() as u64) < want;
                candidates.extend(found);
            }
            candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            candidates.dedup_by(|a, b| a.0 == b.0);
            let keys = candidates
                .into_iter()
                .map(|(key, _)| key)
                .filter(|key| key != NONE)
                .collect();
            let counted = self.count(dim, keys, limit).await?;
            if counted.len() as u64 >= limit || exhausted || want >= MAX_CANDIDATES {
                return Ok(counted);
            }
            want *= 10;
        }
    }

    /// Counts each of `keys` of `dim` within the filter; those with matches, the
    /// most first (then by key), at most `limit`.
    async fn count(&self, dim: Dim, keys: Vec<String>, limit: u64) -> Result<Vec<(String, u64)>> {
        self.validate(&self.filter)?;
        let (_, counts) = self
            .evaluate(&self.filter, 0, None, |eval| eval.tally(dim, &keys))
            .await?;
        let counts = counts.unwrap_or_else(|| vec![0; keys.len()]);
        let mut counted: Vec<(String, u64)> = keys
            .iter()
            .cloned()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counted.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(counted)
    }
}

impl Filtered<'_> {
    /// Runs `run` on the filter index's evaluation of `filter` over the live ids
    /// above `after` up to `as_of` (default and at most: the head). Gives the `as_of`
    /// used, and `None` for the answer when no live id is in that range.
    async fn evaluate<R>(
        &self,
        filter: &Filter,
        after: u64,
        as_of: Option<u64>,
        run: impl Fn(&Eval<'_, Snapshot<'_>>) -> Result<R>,
    ) -> Result<(u64, Option<R>)> {
        let store = self.audit.store();
        let head = store.head().await?;
        let as_of = as_of.map_or(head, |a| a.min(head));
        let Some(first) = store
            .entries_after(after, 1, None)
            .await?
            .first()
            .map(|e| e.id)
        else {
            return Ok((as_of, None));
        };
        if first > as_of {
            return Ok((as_of, None));
        }
        let answer = self
            .audit
            .index()
            .evaluate(store, filter, first, as_of, run)
            .await?;
        Ok((as_of, Some(answer)))
    }
}

/// The store-level filter of a filter that names at most an account or one search
/// term, which the stores answer without the filter index.
fn simple(filter: &Filter) -> Option<store::Filter> {
    let mut simple = store::Filter::default();
    for clause in filter.clauses() {
        if clause.negated {
            return None;
        }
        match &clause.predicate {
            Predicate::Account(account) if simple.account.is_none() => {
                simple.account = Some(account.clone());
            }
            Predicate::Search(term) if simple.term.is_none() => {
                simple.term = Some(Term::parse(Some(term))?);
            }
            _ => return None,
        }
    }
    // Both together the stores count over the account's entries, one by one; the
    // index intersects two bitmaps per chunk instead.
    if simple.account.is_some() && simple.term.is_some() {
        return None;
    }
    Some(simple)
}

fn check_prefix(prefix: &str) -> Result<(), Invalid> {
    if prefix.chars().count() > MAX_PREFIX_CHARS {
        return Err(Invalid::new(
            "q",
            Rule::TooLong {
                max: MAX_PREFIX_CHARS,
                unit: "characters",
            },
        ));
    }
    if prefix.contains('\u{0}') {
        return Err(Invalid::new("q", Rule::Malformed("must not hold U+0000")));
    }
    Ok(())
}

async fn entries(store: &store::Store, ids: Vec<u64>) -> Result<Vec<Entry>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    match store.index(IndexOp::Entries { ids }).await? {
        IndexAnswer::Entries(entries) => Ok(entries),
        _ => Err(crate::Error::storage(
            "the store answered a read of entries with another kind of answer",
        )),
    }
}
