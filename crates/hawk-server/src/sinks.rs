//! `/v1/sinks`: the log streams, for admin keys not bound to an account (see
//! `auth::needs`). What `hawk sinks` does, over HTTP; `hawk serve` delivers them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hawk_audit::{Sink, SinkStatus};
use hawk_streams::NewKind;
use hawk_streams::webhook::Format;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::input::{JsonBody, text, unknown_field};

/// Every sink.
#[derive(Serialize, ToSchema)]
pub(crate) struct SinksBody {
    /// By name.
    sinks: Vec<SinkStatus>,
}

/// A sink just added, with the signing secret made for it: shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct NewSinkBody {
    #[serde(flatten)]
    sink: Sink,
    /// `whsec_…`, for the receiver to check signatures with (standard webhooks when
    /// no `token` was given); never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// `POST /v1/sinks`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; read by `new_sink`.
pub(crate) struct NewSinkInput {
    /// `webhook`, `nats` or `s3`.
    #[schema(pattern = "^(webhook|nats|s3)$")]
    kind: String,
    /// Unique: letters, digits, `-`, `_`, `.`, at most 64 (default: the kind and a
    /// few random letters).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    name: Option<String>,
    /// The receiver's http(s) URL (webhook), the NATS server's (nats; default
    /// `nats://127.0.0.1:4222`), or `s3://BUCKET/PREFIX` (s3).
    url: Option<String>,
    /// An S3-compatible server's http(s) URL (s3; default: AWS or `AWS_ENDPOINT_URL`).
    endpoint: Option<String>,
    /// The bucket's region (s3; default `AWS_REGION`).
    region: Option<String>,
    /// Close an object this long after its oldest entry, 1–86400 (s3; default 60).
    #[schema(minimum = 1, maximum = 86400)]
    close_seconds: Option<u64>,
    /// The subject each entry is published on (nats).
    subject: Option<String>,
    /// `standard` (default), `splunk-hec` or `datadog`.
    #[schema(pattern = "^(standard|splunk-hec|datadog)$")]
    format: Option<String>,
    /// Splunk's HEC token, Datadog's API key, or a `whsec_` secret of your own.
    token: Option<String>,
    /// Deliver only the entries this query phrase keeps.
    query: Option<String>,
    /// Most entries per delivery, 1–10000 (default 500).
    #[schema(minimum = 1, maximum = 10000)]
    batch: Option<u64>,
    /// Deliver the entries from this id on (default: only those recorded from now).
    from: Option<u64>,
}

const FIELDS: &[&str] = &[
    "kind",
    "name",
    "url",
    "subject",
    "format",
    "token",
    "endpoint",
    "region",
    "close_seconds",
    "query",
    "batch",
    "from",
];

/// Reads `POST /v1/sinks`'s body: the sink to store and the secret to show.
fn new_sink(body: Value) -> Result<(hawk_audit::NewSink, Option<String>), ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::invalid_type("sink", "a JSON object"));
    };
    let number = |key: &str, value: Value| match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid_type(key, "a whole number of at least 0")),
        _ => Err(ApiError::invalid_type(key, "a whole number or null")),
    };
    let (mut kind, mut name, mut url, mut format, mut token, mut query) =
        (None, None, None, None, None, None);
    let (mut batch, mut from, mut subject) = (None, None, None);
    let (mut endpoint, mut region, mut close_seconds) = (None, None, None);
    for (key, value) in map {
        let key = key.as_str();
        match key {
            "kind" => kind = text(key, value)?,
            "name" => name = text(key, value)?,
            "url" => url = text(key, value)?,
            "subject" => subject = text(key, value)?,
            "endpoint" => endpoint = text(key, value)?,
            "region" => region = text(key, value)?,
            "close_seconds" => close_seconds = number(key, value)?,
            "format" => format = text(key, value)?,
            "token" => token = text(key, value)?,
            "query" => query = text(key, value)?,
            "batch" => batch = number(key, value)?,
            "from" => from = number(key, value)?,
            _ => return Err(unknown_field(key, FIELDS)),
        }
    }
    let required = |field: &'static str| {
        let invalid = hawk_audit::Invalid::new(field, hawk_audit::Rule::Required);
        ApiError::invalid(&invalid, field)
    };
    let kind = match kind.as_deref() {
        Some("webhook") => {
            let format = Format::parse(format.as_deref().unwrap_or("standard"))
                .map_err(|e| ApiError::invalid(&e, "format"))?;
            let url = url.ok_or_else(|| required("url"))?;
            NewKind::Webhook { url, format, token }
        }
        Some("nats") => {
            let subject = subject.ok_or_else(|| required("subject"))?;
            NewKind::Nats { subject, url }
        }
        Some("s3") => {
            let url = url.ok_or_else(|| required("url"))?;
            NewKind::S3 {
                url,
                endpoint,
                region,
                close_seconds,
            }
        }
        Some(_) => {
            let invalid = hawk_audit::Invalid::new(
                "kind",
                hawk_audit::Rule::Malformed("must be webhook, nats or s3"),
            );
            return Err(ApiError::invalid(&invalid, "kind"));
        }
        None => return Err(required("kind")),
    };
    let name = name.unwrap_or_else(|| kind.default_name());
    let (sink, secret) = kind
        .into_sink(
            name,
            query,
            batch.unwrap_or(500),
            from.map(|f| f.saturating_sub(1)),
        )
        .map_err(|e| ApiError::invalid(&e, e.field()))?;
    Ok((sink, secret))
}

/// Every sink with its cursor, lag (entries not delivered yet, time of the oldest),
/// state and last error; never a secret.
#[utoipa::path(
    get,
    path = "/v1/sinks",
    tag = "sinks",
    responses(
        (status = 200, description = "Every sink, by name", body = SinksBody),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<SinksBody>, ApiError> {
    let sinks = state.audit.sink_statuses().await?;
    Ok(Json(SinksBody { sinks }))
}

/// Add a sink; every `hawk serve` on this log delivers it from then on (one at a
/// time). A receiver that cannot be reached yet is accepted and shown as failing.
#[utoipa::path(
    post,
    path = "/v1/sinks",
    tag = "sinks",
    request_body = NewSinkInput,
    responses(
        (status = 201, description = "The sink, with the signing secret made for it (shown this once)", body = NewSinkBody),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "A field breaks its rule, or the name is taken; nothing was stored", body = ErrorBody),
    )
)]
pub(crate) async fn add(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (sink, secret) = new_sink(body)?;
    // The phrase is `query` here, where the library calls it `q`.
    let sink = state.audit.add_sink(sink).await.map_err(|err| match err {
        hawk_audit::Error::Invalid(invalid) if invalid.field() == "q" => {
            ApiError::invalid(&invalid, "query")
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(NewSinkBody { sink, secret })).into_response())
}

/// One sink with its lag.
#[utoipa::path(
    get,
    path = "/v1/sinks/{name}",
    tag = "sinks",
    params(("name" = String, Path, description = "The sink's name")),
    responses(
        (status = 200, description = "The sink", body = SinkStatus),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 404, description = "No sink has this name", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SinkStatus>, ApiError> {
    let sink = state
        .audit
        .sink(&name)
        .await?
        .ok_or_else(|| hawk_audit::Error::NotFound(format!("no sink named {name}")))?;
    let lag = state.audit.sink_lag(&sink).await?;
    Ok(Json(SinkStatus { sink, lag }))
}

/// Remove a sink.
#[utoipa::path(
    delete,
    path = "/v1/sinks/{name}",
    tag = "sinks",
    params(("name" = String, Path, description = "The sink's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 404, description = "No sink has this name", body = ErrorBody),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.audit.remove_sink(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop delivering a sink; entries wait at its cursor.
#[utoipa::path(
    post,
    path = "/v1/sinks/{name}/pause",
    tag = "sinks",
    params(("name" = String, Path, description = "The sink's name")),
    responses(
        (status = 200, description = "The paused sink", body = Sink),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 404, description = "No sink has this name", body = ErrorBody),
    )
)]
pub(crate) async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Sink>, ApiError> {
    Ok(Json(state.audit.set_sink_paused(&name, true).await?))
}

/// Deliver a sink again from where it stopped.
#[utoipa::path(
    post,
    path = "/v1/sinks/{name}/resume",
    tag = "sinks",
    params(("name" = String, Path, description = "The sink's name")),
    responses(
        (status = 200, description = "The active sink", body = Sink),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 404, description = "No sink has this name", body = ErrorBody),
    )
)]
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Sink>, ApiError> {
    Ok(Json(state.audit.set_sink_paused(&name, false).await?))
}

/// `POST /v1/sinks/{name}/replay`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; read by `replay`.
pub(crate) struct ReplayInput {
    /// The first id to deliver again, at least 1.
    #[schema(minimum = 1)]
    from: u64,
}

/// Deliver a sink again from an id on (a backfill).
#[utoipa::path(
    post,
    path = "/v1/sinks/{name}/replay",
    tag = "sinks",
    params(("name" = String, Path, description = "The sink's name")),
    request_body = ReplayInput,
    responses(
        (status = 200, description = "The sink, its cursor moved back", body = Sink),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a key bound to an account", body = ErrorBody),
        (status = 404, description = "No sink has this name", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "`from` is missing or not a whole number of at least 1", body = ErrorBody),
    )
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Sink>, ApiError> {
    let from = match &body {
        Value::Object(map) => {
            if let Some(other) = map.keys().find(|k| *k != "from") {
                return Err(unknown_field(other, &["from"]));
            }
            map.get("from")
        }
        _ => return Err(ApiError::invalid_type("replay", "a JSON object")),
    };
    let from = from
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::invalid_type("from", "a whole number of at least 1"))?;
    Ok(Json(state.audit.replay_sink(&name, from).await?))
}
