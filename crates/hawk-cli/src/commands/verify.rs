//! `hawk verify` and `hawk backup`, which verifies its copy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use hawk_audit::{Report, Verify, checkpoint};

use super::{Access, Context, KeyConfig, open, redact_password};
use crate::output::{self, Out};
use crate::{BadInput, VerifyArgs, one_line, report};

/// `hawk verify`: exit 0 intact, 1 tampered, 2 when the check cannot be made.
pub(crate) async fn run(cx: &Context, out: &mut Out, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let public_key = args.public_key.as_deref();
    let report = match verify(&cx.db, &cx.keys, &args.anchor, public_key).await {
        Ok(report) => report,
        Err(err) => {
            report(&one_line(&err));
            return Ok(ExitCode::from(2));
        }
    };
    out.verify_report(&report)?;
    Ok(exit_code(&report))
}

/// `hawk backup FILE`: copies the SQLite log, then verifies the copy.
pub(crate) async fn backup(cx: &Context, out: &mut Out, file: &Path) -> anyhow::Result<ExitCode> {
    let audit = open(&cx.db, Access::Read).await?;
    audit
        .backup(file)
        .await
        .with_context(|| format!("backing up to {}", file.display()))?;
    drop(audit);
    let copy = format!("sqlite:{}", file.display());
    // The copy is checked against the original's key: a copy that verifies
    // only against a key of its own proves nothing.
    let report = verify(&copy, &cx.keys, &[], None).await?;
    let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
    if !cx.json {
        writeln!(
            out.writer(),
            "backed up {} to {} ({bytes} bytes); verifying the copy:",
            redact_password(&cx.db),
            file.display()
        )?;
    }
    out.verify_report(&report)?;
    if !cx.json
        && let Some(path) = cx.keys.path().ok().filter(|path| path.exists())
    {
        writeln!(
            out.writer(),
            "the signing key {} is not in the backup: copy it apart and keep it \
             secret",
            path.display()
        )?;
    }
    Ok(exit_code(&report))
}

fn exit_code(report: &Report) -> ExitCode {
    if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Verifies the log with a progress bar on a terminal.
pub(crate) async fn verify(
    url: &str,
    keys: &KeyConfig,
    anchors: &[PathBuf],
    public_key: Option<&str>,
) -> anyhow::Result<Report> {
    let mut opts = Verify::default();
    if let Some(key) = keys.verifier_key(public_key)? {
        opts = opts.key(key);
    }
    for path in anchors {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--anchor: reading {}", path.display()))?;
        let anchor = checkpoint::parse_unverified(&text)
            .map_err(|e| BadInput(format!("--anchor: {}: {e}", path.display())))?;
        if let Some(key) = &opts.key
            && anchor.origin != key.name()
        {
            return Err(BadInput(format!(
                "--anchor: {} is a checkpoint of {:?}, but the verifier key is {:?}'s: the \
                 key does not match the log's signer",
                path.display(),
                anchor.origin,
                key.name()
            ))
            .into());
        }
        opts = opts.anchor(path.display().to_string(), text);
    }
    let audit = open(url, Access::Read).await?;
    let bar = output::progress_bar(audit.head().await?);
    let progress = bar.clone();
    let report = audit
        .verify(opts, move |n| progress.set_position(n))
        .await
        .context("verifying the log")?;
    bar.finish_and_clear();
    Ok(report)
}
