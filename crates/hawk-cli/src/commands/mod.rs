//! One function per command: each opens the log as it needs, calls the library and
//! prints through [`Out`](crate::output::Out). What several commands share (opening
//! the log, the signing key) is here.

pub(crate) mod checkpoint;
pub(crate) mod demo;
pub(crate) mod entries;
pub(crate) mod keys;
pub(crate) mod prune;
pub(crate) mod serve;
pub(crate) mod sinks;
pub(crate) mod transfer;
pub(crate) mod verify;

use std::path::PathBuf;

use hawk_audit::checkpoint::{self as checkpoints, SigningKey, VerifierKey};
use hawk_audit::{Audit, Options};

use crate::BadInput;

/// What every command is given: the global options.
pub(crate) struct Context {
    /// The log's URL (`--db`).
    pub(crate) db: String,
    /// `--json`.
    pub(crate) json: bool,
    pub(crate) keys: KeyConfig,
}

/// Where the signing key lives and what to call a new one.
pub(crate) struct KeyConfig {
    pub(crate) url: String,
    pub(crate) file: Option<PathBuf>,
    pub(crate) origin: Option<String>,
}

impl KeyConfig {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.file {
            Some(path) => Ok(path.clone()),
            None => checkpoints::default_key_file_for(&self.url).ok_or_else(|| {
                BadInput("--key-file: required for this database URL".into()).into()
            }),
        }
    }

    /// The signing key when there is a place for it: a SQLite log's key file lies
    /// beside it; other URLs sign only with `--key-file`.
    fn signing_key_if_any(&self) -> anyhow::Result<Option<SigningKey>> {
        if self.file.is_none() && checkpoints::default_key_file_for(&self.url).is_none() {
            return Ok(None);
        }
        self.signing_key().map(Some)
    }

    /// The signing key, created on first use.
    fn signing_key(&self) -> anyhow::Result<SigningKey> {
        Ok(checkpoints::load_or_create_key(
            &self.path()?,
            self.origin.as_deref(),
        )?)
    }

    /// The verifier key: given (a key line, or a file holding one), else the signing
    /// key file's, if there is one.
    fn verifier_key(&self, given: Option<&str>) -> anyhow::Result<Option<VerifierKey>> {
        if let Some(given) = given {
            if let Ok(key) = VerifierKey::parse(given) {
                return Ok(Some(key));
            }
            let text = std::fs::read_to_string(given).map_err(|e| {
                BadInput(format!(
                    "--public-key: neither a verifier key nor a readable file ({e})"
                ))
            })?;
            let key = VerifierKey::parse(&text)
                .map_err(|e| BadInput(format!("--public-key: {given}: {e}")))?;
            return Ok(Some(key));
        }
        // A PostgreSQL log has no key file beside it: without --key-file or
        // --public-key, signatures are not checked (the report says so).
        let Some(path) = self
            .file
            .clone()
            .or_else(|| checkpoints::default_key_file_for(&self.url))
        else {
            return Ok(None);
        };
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(checkpoints::load_key(&path)?.verifier()))
    }
}

/// What a command does to the log, which decides how it is opened.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Only reads: opened read-only, so an archived or evidence copy without write
    /// access can be read and verified, and a mistyped path is not made a new log.
    Read,
    /// Writes to a log that must exist already.
    Write,
    /// Writes, and may start a new log.
    Create,
}

async fn open(url: &str, access: Access) -> anyhow::Result<Audit> {
    let options = match access {
        Access::Read => Options::default().read_only(true),
        Access::Write => Options::default().create(false),
        Access::Create => Options::default(),
    };
    Audit::open_with(url, options).await.map_err(missing_log)
}

/// A missing log, said so that a mistyped path is recognised as one.
fn missing_log(err: hawk_audit::Error) -> anyhow::Error {
    match err {
        hawk_audit::Error::NotFound(what) => anyhow::anyhow!(
            "{what}; check --db (only track, serve, demo, import and keys create start a \
             new log)"
        ),
        err => err.into(),
    }
}

/// Whether `url` names a PostgreSQL database (else a SQLite file, or nothing valid).
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with the password of a `postgres://user:password@host/…` URL replaced by
/// `***`, for logs.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn logged_urls_hide_passwords() {
        assert_eq!(
            redact_password("postgres://hawk:s3cr@t@db:5432/audit?sslmode=disable"),
            "postgres://hawk:***@db:5432/audit?sslmode=disable"
        );
        assert_eq!(
            redact_password("postgres://hawk@db/audit"),
            "postgres://hawk@db/audit"
        );
        assert_eq!(redact_password("sqlite:hawk.db"), "sqlite:hawk.db");
        assert_eq!(
            redact_password("postgresql://db/audit?user=a@b"),
            "postgresql://db/audit?user=a@b"
        );
    }
}
