//! Where a log lives: its URL, parsed.

use std::path::PathBuf;

use crate::error::{Invalid, Result, Rule};

/// Where a log lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` connection URL, as given.
    Postgres(String),
}

impl Location {
    /// Parses `sqlite:PATH` (also `sqlite://PATH`) and `postgres://…` (also
    /// `postgresql://…`). Anything else without a scheme (`hawk.db`, `./x/y.db`,
    /// `/tmp/a.db`) is the path of a SQLite file: the first thing people type.
    pub(crate) fn parse(url: &str) -> Result<Location> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            return sqlite_path(path);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        if url.contains("://") || url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Err(Invalid::new(
                "url",
                Rule::Malformed(
                    "must be a file path, sqlite:PATH (e.g. sqlite:hawk.db) or postgres://…",
                ),
            )
            .into());
        }
        sqlite_path(url)
    }
}

fn sqlite_path(path: &str) -> Result<Location> {
    if path.is_empty() || path == ":memory:" {
        return Err(Invalid::new(
            "url",
            Rule::Malformed("needs a SQLite file path, e.g. hawk.db or sqlite:hawk.db"),
        )
        .into());
    }
    Ok(Location::Sqlite(PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_engine() {
        assert_eq!(
            Location::parse("sqlite:hawk.db").unwrap(),
            Location::Sqlite(PathBuf::from("hawk.db"))
        );
        for path in ["hawk.db", "./x/y.db", "/tmp/a.db"] {
            assert_eq!(
                Location::parse(path).unwrap(),
                Location::Sqlite(PathBuf::from(path))
            );
        }
        for url in [
            "postgres://hawk@db:5432/audit",
            "postgresql://hawk:secret@db/audit?connect_timeout=3",
        ] {
            assert_eq!(
                Location::parse(url).unwrap(),
                Location::Postgres(url.to_owned())
            );
        }
        for url in [
            "",
            "mysql://db/audit",
            "sqlite:",
            "postgres:/db",
            ":memory:",
        ] {
            let err = Location::parse(url).unwrap_err();
            assert_eq!(err.as_invalid().map(|i| i.field()), Some("url"), "{url}");
        }
    }
}
