//! `hawk checkpoint` and `hawk prove`.

use std::path::Path;

use anyhow::Context as _;
use hawk_server::proof::{ConsistencyBody, InclusionBody};

use super::{Access, Context, open};
use crate::output::Out;
use crate::{BadInput, ProveArgs};

/// `hawk checkpoint export`: signs a checkpoint if entries were added, and writes the
/// latest.
pub(crate) async fn export(
    cx: &Context,
    out: &mut Out,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    // Opened first, so that a mistyped --db gets no key file either.
    let audit = open(&cx.db, Access::Write).await?;
    let key = cx.keys.signing_key()?;
    let checkpoint = audit.write_checkpoint(&key).await;
    audit.close().await;
    let checkpoint = checkpoint?;
    match output {
        Some(path) => {
            std::fs::write(path, &checkpoint.note)
                .with_context(|| format!("writing {}", path.display()))?;
            out.checkpoint_summary(&checkpoint, path)?;
        }
        None => out.writer().write_all(checkpoint.note.as_bytes())?,
    }
    Ok(())
}

/// `hawk checkpoint public-key`.
pub(crate) fn public_key(cx: &Context, out: &mut Out) -> anyhow::Result<()> {
    let key = cx.keys.signing_key()?;
    writeln!(out.writer(), "{}", key.verifier())?;
    Ok(())
}

/// `hawk prove ID [--size N]` or `hawk prove --consistency M N`.
pub(crate) async fn prove(cx: &Context, out: &mut Out, args: ProveArgs) -> anyhow::Result<()> {
    let (id, size, consistency) = (args.id, args.size, args.consistency.as_deref());
    if let Some(&[m, n]) = consistency
        && m > n
    {
        return Err(BadInput(format!(
            "--consistency M N: M must be at most N (got M = {m}, N = {n})"
        ))
        .into());
    }
    let audit = open(&cx.db, Access::Read).await?;
    match (id, consistency) {
        (_, Some(&[from, to])) => {
            let proof = audit
                .consistency_proof(from, to)
                .await
                .map_err(consistency_args)?;
            out.consistency(&ConsistencyBody::from(proof))?;
        }
        (Some(id), _) => {
            let proof = audit.inclusion_proof(id, size).await?;
            out.inclusion(&InclusionBody::from(proof))?;
        }
        _ => return Err(BadInput("give an entry id or --consistency M N".into()).into()),
    }
    Ok(())
}

/// `prove --consistency M N` names the sizes as the command line does.
fn consistency_args(err: hawk_audit::Error) -> anyhow::Error {
    let renamed = err.as_invalid().and_then(|invalid| {
        let name = match invalid.field() {
            "from" => "M",
            "to" => "N",
            _ => return None,
        };
        let text = invalid.to_string();
        let rule = text
            .split_once(": ")
            .map_or(text.as_str(), |(_, rule)| rule);
        Some(BadInput(format!("--consistency M N: {name} {rule}")))
    });
    match renamed {
        Some(bad) => bad.into(),
        None => err.into(),
    }
}
