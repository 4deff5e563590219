//! `hawk prune`.

use std::io::{self, IsTerminal as _, Write as _};

use hawk_audit::checkpoint::Cadence;
use hawk_audit::{Audit, Options, import};

use super::{Access, Context, missing_log, open};
use crate::output::{self, Out};
use crate::{BadInput, PruneArgs};

/// `hawk prune --before DATE`: prints the plan with `dry_run`, else removes after
/// [`confirm_prune`].
pub(crate) async fn run(cx: &Context, out: &mut Out, args: PruneArgs) -> anyhow::Result<()> {
    let PruneArgs {
        before,
        dry_run,
        yes,
    } = args;
    let when = import::parse_time(&before).ok_or_else(|| {
        BadInput(format!(
            "--before: not a time: {before:?} (RFC 3339, or YYYY-MM-DD for UTC midnight)"
        ))
    })?;
    if dry_run {
        let audit = open(&cx.db, Access::Read).await?;
        out.prune_plan(audit.prune_plan(when).await?.as_ref())?;
        return Ok(());
    }
    // A missing log is reported before a key file is made beside it.
    drop(open(&cx.db, Access::Write).await?);
    // With the log's signing key, the prune point gets a signed checkpoint.
    let mut options = Options::default();
    if let Some(key) = cx.keys.signing_key_if_any()? {
        options = options.checkpoints(key, Cadence::default());
    }
    let audit = Audit::open_with(&cx.db, options.create(false))
        .await
        .map_err(missing_log)?;
    let plan = audit.prune_plan(when).await?;
    confirm_prune(plan.as_ref(), yes)?;
    let pruned = match plan {
        Some(_) => audit.prune(when).await,
        None => Ok(None),
    };
    audit.close().await;
    out.prune_summary(pruned?.as_ref())?;
    Ok(())
}

/// Removing entries cannot be undone: without `--yes`, ask on a terminal, and refuse
/// when there is none to ask on (a script must say `--yes`).
fn confirm_prune(plan: Option<&hawk_audit::PrunePlan>, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let what = plan.map_or_else(
        || "no entry is that old now".to_owned(),
        |plan| format!("this removes {}", output::describe_plan(plan)),
    );
    if !io::stdin().is_terminal() {
        return Err(BadInput(format!(
            "--yes: required when stdin is not a terminal ({what}; --dry-run only shows it)"
        ))
        .into());
    }
    let Some(plan) = plan else {
        return Ok(());
    };
    let mut stderr = io::stderr();
    write!(stderr, "{what}.\nRemove them for good? [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "not confirmed; nothing removed (the {} stay)",
            if plan.removed == 1 {
                "entry"
            } else {
                "entries"
            }
        ))
    }
}
