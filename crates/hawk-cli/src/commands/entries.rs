//! `track`, and the queries that print entries: `recent`, `search`, `actions`,
//! `account`.

use futures_util::TryStreamExt as _;
use hawk_audit::{NewEntry, Recent};

use super::{Access, Context, open};
use crate::BadInput;
use crate::output::Out;

/// `hawk track`: records `entry`, its metadata given as JSON text.
pub(crate) async fn track(
    cx: &Context,
    out: &mut Out,
    mut entry: NewEntry,
    metadata: Option<String>,
) -> anyhow::Result<()> {
    entry.metadata = metadata
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
pub(crate) async fn recent(cx: &Context, out: &mut Out, opts: Recent) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    out.page(&audit.recent(opts).await?)?;
    Ok(())
}

/// `hawk search`.
pub(crate) async fn search(
    cx: &Context,
    out: &mut Out,
    query: &str,
    limit: u64,
) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    out.entries(&audit.search(query, limit).await?)?;
    Ok(())
}

/// `hawk actions`.
pub(crate) async fn actions(
    cx: &Context,
    out: &mut Out,
    query: Option<&str>,
    limit: u64,
) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    out.actions(&audit.actions(query.unwrap_or(""), limit).await?)?;
    Ok(())
}

/// `hawk account`: one page when either paging option is given, else every entry,
/// streamed.
pub(crate) async fn account(
    cx: &Context,
    out: &mut Out,
    account_id: &str,
    page: Option<u64>,
    per_page: Option<u64>,
) -> anyhow::Result<()> {
    let audit = open(&cx.db, Access::Read).await?;
    if page.is_some() || per_page.is_some() {
        let defaults = Recent::default();
        let opts = Recent::page(
            page.unwrap_or(defaults.page),
            per_page.unwrap_or(defaults.per_page),
        );
        let page = audit.for_account_page(account_id, opts).await?;
        return Ok(out.page(&page)?);
    }
    let mut stream = std::pin::pin!(audit.for_account_stream(account_id));
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
