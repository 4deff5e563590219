//! `track`, and the queries that print entries: `recent`, `search`, `actions`,
//! `account`, and the suggestions `actors`, `resources`, `accounts`.

use futures_util::TryStreamExt as _;
use hawk_audit::{Filter, Filtered, NewEntry, Recent};

use super::{Access, Context, open};
use crate::output::{Out, Subjects};
use crate::{
    AccountArgs, ActionsArgs, BadInput, RecentArgs, SearchArgs, SubjectArgs, SuggestArgs, TrackArgs,
};

/// `hawk track`: records one entry, its metadata given as JSON text.
pub(crate) async fn track(cx: &Context, out: &mut Out, args: TrackArgs) -> anyhow::Result<()> {
    let mut entry = NewEntry::new(args.action);
    entry.actor_type = args.actor_type;
    entry.actor_id = args.actor_id;
    entry.resource_type = args.resource_type;
    entry.resource_id = args.resource_id;
    entry.account_id = args.account;
    entry.metadata = args
        .metadata
        .map(|raw| {
            serde_json::from_str::<serde_json::Value>(&raw)
                .map_err(|e| BadInput(format!("metadata: must be valid JSON ({e})")))
        })
        .transpose()?;
    let audit = open(&cx.db, Access::Create).await?;
    let stored = audit.record(entry).await;
    audit.close().await;
    out.entry(&stored?)?;
    Ok(())
}

/// `hawk recent`.
pub(crate) async fn recent(cx: &Context, out: &mut Out, args: RecentArgs) -> anyhow::Result<()> {
    let RecentArgs {
        page,
        per_page,
        as_of,
        filter,
    } = args;
    let filter = filter.filter()?;
    let opts = Recent {
        page,
        per_page,
        search: None,
        as_of,
    };
    let audit = open(&cx.db, Access::Read).await?;
    out.page(&audit.filtered(filter).recent(opts).await?)?;
    Ok(())
}

/// `hawk search`.
pub(crate) async fn search(cx: &Context, out: &mut Out, args: SearchArgs) -> anyhow::Result<()> {
    let filter = args.filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let found = audit
        .filtered(filter)
        .search(&args.query, args.limit)
        .await?;
    out.entries(&found)?;
    Ok(())
}

/// `hawk actions`: counted within the filter.
pub(crate) async fn actions(cx: &Context, out: &mut Out, args: ActionsArgs) -> anyhow::Result<()> {
    let filter = args.filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let query = args.query.as_deref().unwrap_or("");
    out.actions(&audit.filtered(filter).actions(query, args.limit).await?)?;
    Ok(())
}

/// `hawk actors`.
pub(crate) async fn actors(cx: &Context, out: &mut Out, args: SubjectArgs) -> anyhow::Result<()> {
    subjects(cx, out, args, Subjects::Actors).await
}

/// `hawk resources`.
pub(crate) async fn resources(
    cx: &Context,
    out: &mut Out,
    args: SubjectArgs,
) -> anyhow::Result<()> {
    subjects(cx, out, args, Subjects::Resources).await
}

/// Actors or resources (or their types, with `--types`) by prefix.
async fn subjects(
    cx: &Context,
    out: &mut Out,
    args: SubjectArgs,
    what: Subjects,
) -> anyhow::Result<()> {
    let SuggestArgs {
        prefix,
        limit,
        filter,
    } = args.suggest;
    let filter = filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let view = audit.filtered(filter);
    let prefix = prefix.as_deref().unwrap_or("");
    match (what, args.types) {
        (Subjects::Actors, false) => out.subjects(what, &view.actors(prefix, limit).await?)?,
        (Subjects::Resources, false) => {
            out.subjects(what, &view.resources(prefix, limit).await?)?
        }
        (Subjects::Actors, true) => out.types(&view.actor_types(prefix, limit).await?)?,
        (Subjects::Resources, true) => out.types(&view.resource_types(prefix, limit).await?)?,
    }
    Ok(())
}

/// `hawk accounts`.
pub(crate) async fn accounts(cx: &Context, out: &mut Out, args: SuggestArgs) -> anyhow::Result<()> {
    let filter = args.filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let prefix = args.prefix.as_deref().unwrap_or("");
    out.accounts(&audit.filtered(filter).accounts(prefix, args.limit).await?)?;
    Ok(())
}

/// `hawk account`: one page when either paging option is given, else every entry,
/// streamed. Filters narrow the account's entries further.
pub(crate) async fn account(cx: &Context, out: &mut Out, args: AccountArgs) -> anyhow::Result<()> {
    let AccountArgs {
        account_id,
        page,
        per_page,
        filter,
    } = args;
    let filter = filter.filter()?;
    let audit = open(&cx.db, Access::Read).await?;
    let paged = page.is_some() || per_page.is_some();
    let defaults = Recent::default();
    let opts = Recent::page(
        page.unwrap_or(defaults.page),
        per_page.unwrap_or(defaults.per_page),
    );
    if !filter.is_empty() {
        let view = audit.filtered(Filter::new().account(account_id).and(filter));
        if paged {
            return Ok(out.page(&view.recent(opts).await?)?);
        }
        return stream_pages(out, &view).await;
    }
    if paged {
        let page = audit.for_account_page(&account_id, opts).await?;
        return Ok(out.page(&page)?);
    }
    let mut stream = std::pin::pin!(audit.for_account_stream(&account_id));
    // A bad account id fails the first item: report it before printing.
    let first = stream.try_next().await?;
    let mut listing = out.start_stream()?;
    if let Some(entry) = first {
        listing.entry(&entry)?;
        while let Some(entry) = stream.try_next().await? {
            listing.entry(&entry)?;
        }
    }
    listing.finish()?;
    Ok(())
}

/// Prints every entry of `view`, newest first, as `account` streams: page after
/// page of the log pinned at the first page's `as_of`, so none repeats or is skipped.
async fn stream_pages(out: &mut Out, view: &Filtered<'_>) -> anyhow::Result<()> {
    let per_page = hawk_audit::MAX_PER_PAGE;
    // The first page also checks the filter before anything is printed.
    let mut page = view.recent(Recent::page(1, per_page)).await?;
    let mut listing = out.start_stream()?;
    loop {
        for entry in &page.entries {
            listing.entry(entry)?;
        }
        if page.page >= page.total_pages {
            break;
        }
        let next = Recent {
            as_of: Some(page.as_of),
            ..Recent::page(page.page + 1, per_page)
        };
        page = view.recent(next).await?;
    }
    listing.finish()?;
    Ok(())
}
