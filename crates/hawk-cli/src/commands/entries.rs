//! `track`, and the queries that print entries: `recent`, `search`, `actions`,
//! `account`.

use futures_util::TryStreamExt as _;
use hawk_audit::{NewEntry, Recent};

use super::{Access, Context, open};
use crate::output::Out;
use crate::{AccountArgs, ActionsArgs, BadInput, RecentArgs, SearchArgs, TrackArgs};

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
        search,
        as_of,
    } = args;
    let opts = Recent {
        page,
        per_page,
        search,
        as_of,
    };
    let audit = open(&cx.db, Access::Read).await?;
    out.page(&audit.recent(opts).await?)?;
    Ok(())
}

/// `hawk search`.
pub(crate) async fn search(cx: &Context, out: &mut Out, args: SearchArgs) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    out.entries(&audit.search(&args.query, args.limit).await?)?;
    Ok(())
}

/// `hawk actions`.
pub(crate) async fn actions(cx: &Context, out: &mut Out, args: ActionsArgs) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    let query = args.query.as_deref().unwrap_or("");
    out.actions(&audit.actions(query, args.limit).await?)?;
    Ok(())
}

/// `hawk account`: one page when either paging option is given, else every entry,
/// streamed.
pub(crate) async fn account(cx: &Context, out: &mut Out, args: AccountArgs) -> anyhow::Result<()> {
    let AccountArgs {
        account_id,
        page,
        per_page,
    } = args;
    let audit = open(&cx.db, Access::Read).await?;
    if page.is_some() || per_page.is_some() {
        let defaults = Recent::default();
        let opts = Recent::page(
            page.unwrap_or(defaults.page),
            per_page.unwrap_or(defaults.per_page),
        );
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
