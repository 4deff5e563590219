//! API keys: what `hawk keys create` makes and the HTTP server checks.
//!
//! A key is `hawk_` followed by 64 hex digits (32 random bytes from the operating
//! system). It is shown once, when it is created; the store keeps only its SHA-256,
//! its scope, the account it is bound to (if any) and a short prefix so people can
//! tell keys apart in a listing.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::entry::{serialize_optional_time, serialize_time};
use crate::error::{Error, Invalid, Result, Rule};

/// What every key starts with, so a leaked one is easy to recognise.
pub const KEY_PREFIX: &str = "hawk_";
/// Characters of a key kept in clear (`hawk_` and the first 8 hex digits).
const SHOWN: usize = KEY_PREFIX.len() + 8;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Scope {
    /// Read entries (every `GET`); bound to an account, only that account's.
    Read,
    /// Read, and record entries and events.
    Write,
    /// Everything.
    Admin,
}

impl Scope {
    /// The name used on the command line and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Whether a key of this scope may do what `needed` allows.
    pub fn covers(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            _ => Err(Invalid::new(
                "scope",
                Rule::Malformed("must be read, write or admin"),
            )),
        }
    }
}

/// What is known about a key; never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's number, in creation order.
    pub id: u64,
    /// The key's first characters (`hawk_` and 8 hex digits), to tell keys apart.
    pub prefix: String,
    /// What it may do.
    pub scope: Scope,
    /// The one account whose entries it sees, for a read key bound to one.
    pub account_id: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "serialize_time")]
    pub created_at: OffsetDateTime,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(serialize_with = "serialize_optional_time")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A key being created, as the store records it.
#[derive(Debug)]
pub(crate) struct NewKey {
    pub(crate) hash: String,
    pub(crate) prefix: String,
    pub(crate) scope: Scope,
    pub(crate) account_id: Option<String>,
}

/// A fresh random key and what the store keeps of it.
pub(crate) fn generate(scope: Scope, account_id: Option<&str>) -> Result<(String, NewKey)> {
    if let Some(account) = account_id {
        crate::entry::parse_account_id(account)?;
        if scope != Scope::Read {
            return Err(Invalid::new(
                "account_id",
                Rule::Malformed("only read keys can be bound to an account"),
            )
            .into());
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::storage_from(format!("no randomness from the system: {e}"), e))?;
    let key = format!("{KEY_PREFIX}{}", hex(&bytes));
    let new = NewKey {
        hash: hash(&key),
        prefix: key[..SHOWN].to_owned(),
        scope,
        account_id: account_id.map(str::to_owned),
    };
    Ok((key, new))
}

/// The SHA-256 of a key, in lowercase hex: what the store looks keys up by.
pub(crate) fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_stored_hashed() {
        let (a, stored) = generate(Scope::Write, None).unwrap();
        let (b, _) = generate(Scope::Write, None).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("hawk_"));
        assert_eq!(a.len(), 5 + 64);
        assert!(a[5..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(stored.prefix, &a[..13]);
        assert_eq!(stored.hash, hash(&a));
        assert_eq!(stored.hash.len(), 64);
        assert!(!stored.hash.contains(&a[5..]));
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_times_are_written_as_entry_times_are() {
        // Key times and entry times share one formatter: RFC 3339 UTC, six digits.
        let created_at = time::macros::datetime!(2026-11-26 14:45:01.1234567 +01:00);
        let mut info = KeyInfo {
            id: 1,
            prefix: "hawk_0123abcd".into(),
            scope: Scope::Read,
            account_id: None,
            created_at,
            revoked_at: None,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["created_at"], "2026-11-26T13:45:01.123456Z");
        assert_eq!(json["revoked_at"], serde_json::Value::Null);
        assert_eq!(json["scope"], "read");
        info.revoked_at = Some(created_at + time::Duration::SECOND);
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["revoked_at"], "2026-11-26T13:45:02.123456Z");
    }

    #[test]
    fn scopes_parse_order_and_refuse_accounts_on_writers() {
        assert_eq!(" Admin ".parse::<Scope>(), Ok(Scope::Admin));
        assert_eq!(
            "root".parse::<Scope>().unwrap_err().to_string(),
            "scope: must be read, write or admin"
        );
        assert!(Scope::Admin.covers(Scope::Write));
        assert!(Scope::Write.covers(Scope::Read));
        assert!(!Scope::Read.covers(Scope::Write));
        let err = generate(Scope::Write, Some("acme")).unwrap_err();
        assert_eq!(err.as_invalid().unwrap().field(), "account_id");
        assert!(generate(Scope::Read, Some("")).is_err());
        assert!(generate(Scope::Read, Some("acme")).is_ok());
    }
}
