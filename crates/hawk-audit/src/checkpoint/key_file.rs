//! The signing key's file beside the log: where it is, reading it, creating it once.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::SigningKey;

/// The default key file of a database file: beside it, with `.key` appended
/// (`hawk.db` → `hawk.db.key`).
pub fn default_key_file(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// The default key file of the log at `url`: beside a SQLite file (see
/// [`default_key_file`]); `None` for other URLs.
pub fn default_key_file_for(url: &str) -> Option<PathBuf> {
    match crate::location::Location::parse(url).ok()? {
        crate::location::Location::Sqlite(path) => Some(default_key_file(&path)),
        crate::location::Location::Postgres(_) => None,
    }
}

/// A fresh origin for a new log: `hawk/` and 16 random hexadecimal digits.
pub fn random_origin() -> crate::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::Error::SigningKey(format!("the system gave no random bytes: {e}")))?;
    Ok(format!("hawk/{}", crate::merkle::to_hex(&bytes)))
}

/// Reads the signing key at `path`, refusing a file that others can read.
pub fn load_key(path: &Path) -> crate::Result<SigningKey> {
    let err = |msg: String| crate::Error::SigningKey(format!("{}: {msg}", path.display()));
    check_private(path).map_err(err)?;
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    SigningKey::parse(&text).map_err(|e| err(e.to_string()))
}

/// Reads the signing key at `path`, or creates it (mode 0600) with a new key named
/// `origin` (a [`random_origin`] when `None`) if there is no file yet. Two processes
/// creating it at once end up with the same key: the file appears whole or not at all.
pub fn load_or_create_key(path: &Path, origin: Option<&str>) -> crate::Result<SigningKey> {
    if path.exists() {
        return load_key(path);
    }
    let err = |msg: String| crate::Error::SigningKey(format!("{}: {msg}", path.display()));
    let name = match origin {
        Some(origin) => origin.to_owned(),
        None => random_origin()?,
    };
    let key = SigningKey::generate(&name)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(format!("{}\n", key.to_private_line()).as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(format!("cannot create the key file: {e}")));
    }
    // A hard link fails if the name exists: whoever links first wins, whole.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_key(path),
        Err(e) => Err(err(format!("cannot create the key file: {e}"))),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file is readable by others (mode {:o}); run chmod 600 on it",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}
