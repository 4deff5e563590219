//! The `s3` kind: an archive of gzip NDJSON objects in an S3 (or S3-compatible)
//! bucket, each beside the signed checkpoint that covers its last entry, so the
//! archive can be verified offline.
//!
//! An object holds a batch: `PREFIX/YYYY/MM/DD/FIRSTID-LASTID.ndjson.gz`, the date the
//! first entry's (UTC), one entry per line as the API shows it. A batch is closed when
//! it holds the sink's batch size, or when its oldest entry has waited the sink's
//! `close_seconds`. Beside it, `…/FIRSTID-LASTID.checkpoint` holds the log's latest
//! signed checkpoint when that covers LASTID (the signed note `hawk verify --anchor`
//! and VERIFYING.md check; with every object from id 1, the tree it signs can be
//! recomputed from the archive alone). A batch sent again writes the same objects.
//! Credentials and settings not given come from the standard `AWS_*` environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` …).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use hawk_audit::{Invalid, Rule};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use crate::Batch;

/// How long a batch that is not full waits for more entries, by default.
pub const DEFAULT_CLOSE_SECONDS: u64 = 60;

/// The bucket and prefix of an `s3://BUCKET/PREFIX` URL; names `url` when it is not
/// one.
pub fn parse_url(url: &str) -> Result<(String, String), Invalid> {
    let malformed = || Invalid::new("url", Rule::Malformed("must be s3://BUCKET/PREFIX"));
    let rest = url.strip_prefix("s3://").ok_or_else(malformed)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let prefix = prefix.trim_matches('/');
    let prefix_ok = prefix.len() <= 512
        && !prefix
            .split('/')
            .any(|part| part.is_empty() && !prefix.is_empty())
        && !prefix.chars().any(|c| c.is_control());
    if !bucket_ok || !prefix_ok {
        return Err(malformed());
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// Checks an endpoint: an absolute http(s) URL.
pub fn check_endpoint(endpoint: &str) -> Result<(), Invalid> {
    crate::webhook::check_url(endpoint).map(drop).map_err(|_| {
        Invalid::new(
            "endpoint",
            Rule::Malformed("must be an absolute http(s) URL"),
        )
    })
}

/// Writes batches as objects of one bucket.
#[derive(Debug, Clone)]
pub(crate) struct S3 {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl S3 {
    pub(crate) fn new(
        bucket: &str,
        prefix: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<S3, String> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = region {
            builder = builder.with_region(region);
        }
        let store = builder
            .build()
            .map_err(|e| format!("the S3 client for bucket {bucket}: {e}"))?;
        Ok(S3 {
            store: Arc::new(store),
            prefix: prefix.to_owned(),
        })
    }

    /// The object of `batch` (its entries' first and last ids, the first one's date).
    fn key(&self, batch: &Batch) -> Option<String> {
        let (first, last) = (batch.entries.first()?, batch.entries.last()?);
        let day = first.inserted_at.to_offset(time::UtcOffset::UTC).date();
        let name = format!(
            "{:04}/{:02}/{:02}/{}-{}.ndjson.gz",
            day.year(),
            u8::from(day.month()),
            day.day(),
            first.id,
            last.id
        );
        Some(match self.prefix.as_str() {
            "" => name,
            prefix => format!("{prefix}/{name}"),
        })
    }

    /// Writes the batch's object, then the checkpoint beside it.
    pub(crate) async fn deliver(&self, batch: &Batch) -> Result<(), String> {
        let Some(key) = self.key(batch) else {
            return Ok(());
        };
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for entry in &batch.entries {
            serde_json::to_writer(&mut gzip, entry).map_err(|e| e.to_string())?;
            gzip.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        let body = gzip.finish().map_err(|e| e.to_string())?;
        self.store
            .put(&Path::from(key.as_str()), PutPayload::from(body))
            .await
            .map_err(|e| format!("writing {key}: {e}"))?;
        if let Some(note) = &batch.checkpoint {
            let beside = key.replace(".ndjson.gz", ".checkpoint");
            self.store
                .put(
                    &Path::from(beside.as_str()),
                    PutPayload::from(note.clone().into_bytes()),
                )
                .await
                .map_err(|e| format!("writing {beside}: {e}"))?;
        }
        Ok(())
    }
}

/// How long a batch waits for more entries.
pub(crate) fn close_after(settings: &serde_json::Value) -> Duration {
    Duration::from_secs(
        settings["close_seconds"]
            .as_u64()
            .unwrap_or(DEFAULT_CLOSE_SECONDS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://audit-archive/hawk/prod").unwrap(),
            ("audit-archive".into(), "hawk/prod".into())
        );
        assert_eq!(
            parse_url("s3://audit-archive").unwrap(),
            ("audit-archive".into(), "".into())
        );
        assert_eq!(parse_url("s3://audit-archive/x/").unwrap().1, "x");
        for bad in [
            "",
            "http://b/p",
            "s3://",
            "s3://UPPER/x",
            "s3://a b/x",
            "s3://ok-bucket/a//b",
        ] {
            assert_eq!(parse_url(bad).unwrap_err().field(), "url", "{bad}");
        }
        assert_eq!(check_endpoint("ftp://x").unwrap_err().field(), "endpoint");
    }
}
