//! The JSON handlers of DESIGN.md section 4.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use hawk_audit::{ActionCount, Entry, Page, Recent};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Access;
use crate::error::{ApiError, ErrorBody};
use crate::export::{self, Format};
use crate::filters::{self, Phrase};
use crate::input::{self, JsonBody, Params};

/// Entries per chunk of a streamed response: fewer, larger writes.
const STREAM_CHUNK: usize = 256;

/// Track one entry (an object) or a batch (an array of up to 1000), all or nothing.
#[utoipa::path(
    post,
    path = "/v1/entries",
    tag = "entries",
    request_body(content = crate::openapi::EntriesInput, description = "One entry, or an array of 1 to 1000 entries"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a repeat with the same body within 24 hours stores nothing and answers 201 with the entries stored the first time (same ids); another body under the key is 422. 1 to 255 printable ASCII characters.")),
    responses(
        (status = 201, description = "The stored entry (for an object) or entries (for an array), in order", body = EntriesOutput),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 403, description = "A read key, or a key bound to an account", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "An entry breaks a rule, or `Idempotency-Key` is malformed or was used for a different body; nothing was written", body = ErrorBody),
    )
)]
pub(crate) async fn create_entries(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = input::idempotency_key(&headers)?;
    let audit = &state.audit;
    // A repeat under a key answers the entries stored the first time, as a 201 again.
    let (stored, count) = match input::new_entries(body)? {
        input::NewEntries::Batch(entries) => {
            let stored = match key {
                None => audit.record_batch(entries).await?,
                Some(key) => audit
                    .record_batch_idempotent(key, entries)
                    .await
                    .map_err(input::key_error)?,
            };
            let count = stored.len();
            (EntriesOutput::Many(stored), count)
        }
        input::NewEntries::One(entry) => {
            let stored = match key {
                None => audit.record(entry).await?,
                Some(key) => audit
                    .record_idempotent(key, entry)
                    .await
                    .map_err(input::key_error)?,
            };
            (EntriesOutput::One(stored), 1)
        }
    };
    state.metrics.add_entries(count);
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// The stored entry, or the stored batch in order.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum EntriesOutput {
    One(Entry),
    Many(Vec<Entry>),
}

/// Entries newest first, a page at a time, with exact totals.
#[utoipa::path(
    get,
    path = "/v1/entries",
    tag = "entries",
    params(
        ("page" = Option<u64>, Query, description = "Page number from 1 (default 1).", minimum = 1),
        ("per_page" = Option<u64>, Query, description = "Entries per page, 1–1000 (default 50).", minimum = 1, maximum = 1000),
        ("search" = Option<String>, Query, description = "Case-insensitive literal substring of the action (empty: every entry)."),
        ("as_of" = Option<u64>, Query, description = "Pin paging to the log as it was at this id (every page returns it)."),
    ),
    responses(
        (status = 200, description = "The page", body = Page),
        (status = 400, description = "A whole-number parameter is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "A parameter is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn list_entries(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Page>, ApiError> {
    let opts = recent(&params)?;
    let filter = filters::filter(&params, &access, Phrase::Q)?;
    Ok(Json(state.audit.filtered(filter).recent(opts).await?))
}

/// Paging options from the query; absent ones take the library's defaults.
pub(crate) fn recent(params: &Params) -> Result<Recent, ApiError> {
    let defaults = Recent::default();
    Ok(Recent {
        page: params.u64("page")?.unwrap_or(defaults.page),
        per_page: params.u64("per_page")?.unwrap_or(defaults.per_page),
        search: params.str("search").map(str::to_owned),
        as_of: params.u64("as_of")?,
    })
}

/// Typeahead results.
#[derive(Serialize, ToSchema)]
pub(crate) struct EntriesBody {
    /// The newest matching entries.
    entries: Vec<Entry>,
}

/// Typeahead: the newest entries whose action contains `q`.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "Case-insensitive literal substring of the action; empty matches all."),
        ("limit" = Option<u64>, Query, description = "How many entries, 1–100 (default 5).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "The newest matching entries", body = EntriesBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = params
        .u64("limit")?
        .unwrap_or(hawk_audit::DEFAULT_SEARCH_LIMIT);
    let q = params.str("q").unwrap_or("");
    let filter = filters::filter(&params, &access, Phrase::Filter)?;
    let entries = state.audit.filtered(filter).search(q, limit).await?;
    Ok(Json(EntriesBody { entries }).into_response())
}

/// Action suggestions.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActionsBody {
    /// Prefix matches first, then by count.
    actions: Vec<ActionCount>,
}

/// Suggestions: distinct actions containing `q` with their counts.
#[utoipa::path(
    get,
    path = "/v1/actions",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "Case-insensitive literal substring of the action; empty matches all."),
        ("limit" = Option<u64>, Query, description = "How many actions, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Matching actions, prefix matches first, then by count", body = ActionsBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn actions(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = params
        .u64("limit")?
        .unwrap_or(hawk_audit::DEFAULT_ACTIONS_LIMIT);
    let q = params.str("q").unwrap_or("");
    let filter = filters::filter(&params, &access, Phrase::Filter)?;
    let actions = state.audit.filtered(filter).actions(q, limit).await?;
    Ok(Json(ActionsBody { actions }).into_response())
}

/// One account's entries, newest first: every entry as a streamed JSON array, or
/// with `page`, `per_page`, `search` or `as_of` one page.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account_id}/entries",
    tag = "entries",
    params(
        ("account_id" = String, Path, description = "The account: 1–255 characters", min_length = 1, max_length = 255),
        ("page" = Option<u64>, Query, description = "Page number from 1; asks for the page object.", minimum = 1),
        ("per_page" = Option<u64>, Query, description = "Entries per page, 1–1000; asks for the page object.", minimum = 1, maximum = 1000),
        ("search" = Option<String>, Query, description = "Case-insensitive literal substring of the action; when not empty, asks for the\npage object."),
        ("as_of" = Option<u64>, Query, description = "Pin paging to the log as it was at this id; asks for the page object."),
    ),
    responses(
        (status = 200, description = "Without `page`, `per_page`, `as_of` and a non-empty `search`: a JSON array of every entry, newest first, streamed. With any of them: the page object.", body = AccountOutput),
        (status = 400, description = "A whole-number parameter is empty or not a whole number", body = ErrorBody),
        (status = 403, description = "A key bound to another account", body = ErrorBody),
        (status = 422, description = "Bad account id or a parameter out of range", body = ErrorBody),
    )
)]
pub(crate) async fn account_entries(
    State(state): State<AppState>,
    access: Access,
    Path(account_id): Path<String>,
    params: Params,
) -> Result<AccountOutput, ApiError> {
    access.check_account(&account_id)?;
    let opts = recent(&params)?;
    let filter = filters::of_account(&account_id, &params, &access)?;
    // Filtering or pinning only make sense on pages: they ask for the page object too,
    // rather than being ignored by the full listing. An empty `search` filters nothing.
    if ["page", "per_page", "as_of"]
        .iter()
        .any(|p| params.str(p).is_some())
        || params.has("search")
        || filters::given(&params, Phrase::Q)
    {
        let page = state.audit.filtered(filter).recent(opts).await?;
        return Ok(AccountOutput::Page(page));
    }
    let mut entries = Box::pin(state.audit.for_account_stream(&account_id).fuse());
    // A bad account id fails the first item: answer it with a status, not a cut body.
    let first = entries.try_next().await?;
    let rest = futures_util::stream::iter(first.map(Ok)).chain(entries);
    let mut first_item = true;
    let items = rest.ready_chunks(STREAM_CHUNK).map(move |chunk| {
        let mut out = Vec::new();
        for entry in chunk {
            if !first_item {
                out.push(b',');
            }
            first_item = false;
            serde_json::to_writer(&mut out, &entry?).expect("an entry always serializes");
        }
        Ok::<_, hawk_audit::Error>(out)
    });
    let body = futures_util::stream::once(async { Ok(b"[".to_vec()) })
        .chain(items)
        .chain(futures_util::stream::once(async { Ok(b"]".to_vec()) }))
        .inspect_err(|err| tracing::error!(error = %err, "account stream failed"));
    Ok(AccountOutput::All(Body::from_stream(
        crate::auth::until_revoked(&state, &access, body),
    )))
}

/// A whole account: every entry (streamed array), or one page.
#[derive(ToSchema)]
// Written by `into_response`, one kind or the other; `untagged` says so to the schema.
#[serde(untagged)]
pub(crate) enum AccountOutput {
    // A JSON array written as the entries are read.
    #[schema(value_type = Vec<Entry>)]
    All(Body),
    Page(Page),
}

impl IntoResponse for AccountOutput {
    fn into_response(self) -> Response {
        match self {
            AccountOutput::All(array) => {
                ([(header::CONTENT_TYPE, "application/json")], array).into_response()
            }
            AccountOutput::Page(page) => Json(page).into_response(),
        }
    }
}

/// Streamed export of every entry (or one account's), oldest first.
#[utoipa::path(
    get,
    path = "/v1/export",
    tag = "entries",
    params(
        ("format" = inline(Format), Query, description = "`csv` or `ndjson` (required)."),
        ("account_id" = Option<String>, Query, description = "Only this account's entries (empty: every account's).", max_length = 255),
        ("key" = Option<String>, Query, description = "The API key, for clients that cannot send `Authorization` (download links)."),
    ),
    responses(
        (status = 200, description = "CSV with a header row (id, actor_id, actor_type, action, resource_id, resource_type, inserted_at, account_id, metadata) or NDJSON, oldest first, streamed", content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Missing or unknown `format`", body = ErrorBody),
        (status = 403, description = "A key bound to another account", body = ErrorBody),
        (status = 422, description = "Bad account id", body = ErrorBody),
    )
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Response, ApiError> {
    let format: Format = match params.str("format") {
        None | Some("") => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "required",
                "format: is required (csv or ndjson)",
            )
            .field("format"));
        }
        // Exactly the document's enum: the CLI's looser spellings (`CSV`, `jsonl`)
        // are not part of the API.
        Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(raw) => {
            return Err(ApiError::bad_param(
                "format",
                export::UnknownFormat(raw.to_owned()).to_string(),
            ));
        }
    };
    let asked = params.str("account_id").filter(|a| !a.is_empty());
    if let Some(asked) = asked {
        access.check_account(asked)?;
    }
    // A key bound to an account exports that account, asked or not.
    let filter = filters::filter(&params, &access, Phrase::Q)?;
    let mut chunks = Box::pin(export::filtered_chunks(&state.audit, filter).fuse());
    let first = chunks.try_next().await?;
    let header = futures_util::stream::once(async move { Ok(format.header()) });
    let rows = futures_util::stream::iter(first.map(Ok))
        .chain(chunks)
        .map_ok(move |chunk| format.encode(&chunk))
        .inspect_err(|err| tracing::error!(error = %err, "export failed"));
    let filename = format!(
        "attachment; filename=\"hawk-export.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        // Ends (cut off, not complete) once the key is revoked.
        Body::from_stream(crate::auth::until_revoked(
            &state,
            &access,
            header.chain(rows),
        )),
    )
        .into_response())
}

/// Emit an event on the bus; the audit listener records it as an entry, and the
/// answer waits until that entry is durable.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body = crate::openapi::EventInput,
    responses(
        (status = 202, description = "Emitted, and recorded durably by the audit listener: it survives a crash as a 201 entry does", body = EventAccepted),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 403, description = "A read key, or a key bound to an account", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "Bad name or payload; nothing was emitted", body = ErrorBody),
    )
)]
pub(crate) async fn emit_event(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (name, payload) = input::event(body)?;
    let seq = state.events.emit(name, payload).await?;
    state.metrics.events_emitted.fetch_add(1, Ordering::Relaxed);
    // Accepted means durable: a crash after the answer must not lose the event.
    if !state.audit.recorded(&state.events, seq).await {
        tracing::error!(
            seq,
            "an emitted event cannot be confirmed durable: the log does not record this bus"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(EventAccepted { seq })).into_response())
}

/// The event was emitted.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventAccepted {
    /// Its position on the bus.
    seq: u64,
}

/// Liveness: the server answers and the log can be read.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Alive", body = Health),
        (status = 500, description = "The log cannot be read", body = ErrorBody),
    )
)]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let head = state.audit.head().await?;
    Ok(Json(Health { status: "ok", head }).into_response())
}

/// Liveness.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The newest entry's id.
    head: u64,
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 403, description = "A key bound to an account (the metrics count the whole log)", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let head = match state.audit.head().await {
        Ok(head) => Some(head),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot read the head");
            None
        }
    };
    let checkpoint = match state.audit.checkpoint().await {
        Ok(checkpoint) => checkpoint,
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot read the latest checkpoint");
            None
        }
    };
    let sinks = match state.audit.sink_statuses().await {
        Ok(sinks) => sinks,
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot read the sinks");
            Vec::new()
        }
    };
    let text = state
        .metrics
        .render(&state, head, checkpoint.as_ref(), &sinks);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
