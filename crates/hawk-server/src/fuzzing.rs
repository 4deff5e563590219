//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not part of the
//! API and not covered by semver. Each reads its input exactly as the handlers do and
//! answers with what the client would see: success, or the status of the error.

use axum::http::Uri;

use crate::error::ApiError;
use crate::input::{self, NewEntries, Params};

/// Reads a `POST /v1/entries` body and validates every entry as the library would
/// before writing: the number of entries that would be stored, or the status.
pub fn entries_body(body: &[u8]) -> Result<usize, u16> {
    let value = serde_json::from_slice(body).map_err(|_| 400u16)?;
    let entries = match input::new_entries(value).map_err(status)? {
        NewEntries::One(entry) => vec![entry],
        NewEntries::Batch(entries) => entries,
    };
    let count = entries.len();
    for (i, entry) in entries.into_iter().enumerate() {
        hawk_audit::fuzzing::complete(entry, i as u64 + 1, 0)
            .map_err(|invalid| status(hawk_audit::Error::from(invalid).into()))?;
    }
    Ok(count)
}

/// Reads a `POST /v1/events` body and checks the event as `emit` would: the status
/// on error.
pub fn event_body(body: &[u8]) -> Result<(), u16> {
    let value = serde_json::from_slice(body).map_err(|_| 400u16)?;
    let (name, payload) = input::event(value).map_err(status)?;
    hawk_audit::fuzzing::check_event(name, payload)
        .map_err(|invalid| status(hawk_audit::Error::from(invalid).into()))
}

/// Reads the parameters of `GET /v1/entries`, `/v1/search` and `/v1/actions` from a
/// request target (`/path?query`): the status on error. Targets that are not a URI
/// are refused by the HTTP layer before any handler runs, and answer 400 here.
pub fn query(target: &str) -> Result<(), u16> {
    let uri: Uri = target.parse().map_err(|_| 400u16)?;
    let params = Params::from_uri(&uri).map_err(status)?;
    let opts = crate::routes::recent(&params).map_err(status)?;
    hawk_audit::fuzzing::check_recent(&opts)
        .map_err(|invalid| status(hawk_audit::Error::from(invalid).into()))?;
    let _ = params.str("q");
    params.u64("limit").map_err(status)?;
    Ok(())
}

fn status(err: ApiError) -> u16 {
    err.status().as_u16()
}
