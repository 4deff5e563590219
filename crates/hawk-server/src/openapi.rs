//! The OpenAPI document, generated from the handlers' annotations and these schemas.
//! The schemas describe the wire format only; the values come from `hawk-audit`'s
//! serializable types, whose field names are the contract (DESIGN.md section 1).

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::OpenApi as Document;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, proof, routes, stream};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hawk",
        description = "An append-only audit log: who did what to which resource.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "entries", description = "Recording and reading audit entries"),
        (name = "events", description = "The event bus the audit listener records"),
        (name = "proofs", description = "Signed checkpoints and Merkle proofs of the log (tamper evidence)"),
        (name = "operations", description = "Health, metrics and this document"),
    ),
    paths(openapi_json),
    modifiers(&BearerKeys),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// API keys as bearer tokens (needed once the log has a key; see `auth`).
struct BearerKeys;

impl utoipa::Modify for BearerKeys {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API key from `hawk keys create`, needed on every route but \
                         /healthz once the log has one (401 without, 403 outside its \
                         scope, 429 over its rate with Retry-After). /v1/stream and \
                         /v1/export also take it as `?key=`.",
                        ))
                        .build(),
                ),
            );
    }
}

/// The routes with their documentation.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::create_entries, routes::list_entries))
        .routes(routes!(routes::search))
        .routes(routes!(routes::actions))
        .routes(routes!(routes::account_entries))
        .routes(routes!(routes::emit_event))
        .routes(routes!(stream::live_tail))
        .routes(routes!(routes::export))
        .routes(routes!(proof::checkpoint))
        .routes(routes!(proof::consistency))
        .routes(routes!(proof::inclusion))
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::metrics))
}

/// The OpenAPI document of the API, as `GET /openapi.json` serves it.
pub fn openapi() -> Document {
    api_router().split_for_parts().1
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
#[allow(dead_code)] // Documents the route `router` serves from the split-off document.
fn openapi_json() {}

/// A stored entry.
#[derive(ToSchema)]
#[schema(as = Entry)]
#[allow(dead_code)]
pub(crate) struct EntrySchema {
    /// Assigned at commit: dense, ascending in commit order.
    id: u64,
    /// Commit time, RFC 3339 UTC with microseconds, e.g. `2026-11-26T13:45:01.123456Z`.
    #[schema(format = DateTime)]
    inserted_at: String,
    /// Who acted (e.g. `user`); null for system actions.
    actor_type: Option<String>,
    /// The actor's id; set exactly when `actor_type` is.
    actor_id: Option<String>,
    /// What happened, conventionally `noun.verb`.
    action: String,
    /// What it happened to (e.g. `project`); null when there is no resource.
    resource_type: Option<String>,
    /// The resource's id; set exactly when `resource_type` is.
    resource_id: Option<String>,
    /// The tenant the entry belongs to.
    account_id: Option<String>,
    /// Free-form details.
    metadata: BTreeMap<String, Value>,
    /// The entry's leaf hash in the log's Merkle tree: lowercase hex of
    /// SHA-256(0x00 ‖ entry_bytes), covering every field above.
    hash: String,
}

/// An entry to record. Ids may be given as strings or integers; unknown fields are
/// refused.
#[derive(ToSchema)]
#[schema(as = NewEntry)]
#[allow(dead_code)]
pub(crate) struct EntryInput {
    /// Required: 1–255 characters after trimming, no control characters.
    action: String,
    /// 1–255 characters, no control characters; give both type and id, or neither
    /// (a system action).
    actor_type: Option<String>,
    /// 1–255 characters, no control characters (an integer is taken in decimal).
    actor_id: Option<String>,
    /// 1–255 characters, no control characters; give both type and id, or neither.
    resource_type: Option<String>,
    /// 1–255 characters, no control characters (an integer is taken in decimal).
    resource_id: Option<String>,
    /// 1–255 characters, no control characters; defaults to the resource id when the
    /// resource type is `account`.
    account_id: Option<String>,
    /// A JSON object of at most 64 KiB; default `{}`.
    metadata: Option<BTreeMap<String, Value>>,
}

/// One entry, or a batch of 1–1000 recorded all or nothing.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum EntriesInput {
    One(EntryInput),
    Many(Vec<EntryInput>),
}

/// The stored entry, or the stored batch in order.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum EntriesOutput {
    One(EntrySchema),
    Many(Vec<EntrySchema>),
}

/// One page of entries, newest first, with exact totals.
#[derive(ToSchema)]
#[schema(as = Page)]
#[allow(dead_code)]
pub(crate) struct PageSchema {
    /// The entries of this page (empty past the end).
    entries: Vec<EntrySchema>,
    /// The page number asked for.
    page: u64,
    /// Entries per page.
    per_page: u64,
    /// Exact number of matching entries up to `as_of`.
    total_count: u64,
    /// `max(1, ceil(total_count / per_page))`.
    total_pages: u64,
    /// The newest id this listing sees; pass it back to page on consistently.
    as_of: u64,
}

/// A whole account: every entry (streamed array), or one page.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum AccountOutput {
    All(Vec<EntrySchema>),
    Page(PageSchema),
}

/// Typeahead results.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct EntriesBody {
    /// The newest matching entries.
    entries: Vec<EntrySchema>,
}

/// An action and its number of entries.
#[derive(ToSchema)]
#[schema(as = ActionCount)]
#[allow(dead_code)]
pub(crate) struct ActionCountSchema {
    /// The action name.
    action: String,
    /// Entries carrying it.
    count: u64,
}

/// Action suggestions.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ActionsBody {
    /// Prefix matches first, then by count.
    actions: Vec<ActionCountSchema>,
}

/// An event for the bus.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct EventInput {
    /// The event name, recorded as the action (same rules).
    name: String,
    /// A JSON object (default `{}`); its `account_id` (string or integer) names the
    /// account.
    payload: Option<BTreeMap<String, Value>>,
}

/// The event was emitted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct EventAccepted {
    /// Its position on the bus.
    seq: u64,
}

/// Liveness.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Health {
    /// Always `ok`.
    status: String,
    /// The newest entry's id.
    head: u64,
}

/// Every error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `required`, `too_long`, `malformed`.
    code: String,
    /// For people.
    message: String,
    /// The input field at fault, when there is one.
    field: Option<String>,
    /// For a batch, the 0-based position of the offending entry.
    index: Option<u64>,
}

/// Paging of `GET /v1/entries`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct EntriesQuery {
    /// Page number from 1 (default 1).
    page: Option<u64>,
    /// Entries per page, 1–1000 (default 50).
    per_page: Option<u64>,
    /// Case-insensitive literal substring of the action.
    search: Option<String>,
    /// Pin paging to the log as it was at this id (every page returns it).
    as_of: Option<u64>,
}

/// Paging of an account; with none of these every entry is streamed.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AccountQuery {
    /// Page number from 1; asks for the page object.
    page: Option<u64>,
    /// Entries per page, 1–1000; asks for the page object.
    per_page: Option<u64>,
    /// Case-insensitive literal substring of the action; asks for the page object.
    search: Option<String>,
    /// Pin paging to the log as it was at this id; asks for the page object.
    as_of: Option<u64>,
}

/// Typeahead query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SearchQuery {
    /// Case-insensitive literal substring of the action; empty matches all.
    q: Option<String>,
    /// How many entries, 1–100 (default 5).
    limit: Option<u64>,
}

/// Suggestions query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ActionsQuery {
    /// Case-insensitive literal substring of the action; empty matches all.
    q: Option<String>,
    /// How many actions, 1–100 (default 10).
    limit: Option<u64>,
}

/// Where the live tail starts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct StreamQuery {
    /// Replay every entry after this id first (the `Last-Event-ID` header, sent by
    /// a reconnecting client, takes precedence). Default: only new entries.
    after: Option<u64>,
    /// The API key, for clients that cannot send `Authorization` (`EventSource`).
    key: Option<String>,
}

/// What to export.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ExportQuery {
    /// `csv` or `ndjson` (required).
    format: String,
    /// Only this account's entries.
    account_id: Option<String>,
    /// The API key, for clients that cannot send `Authorization` (download links).
    key: Option<String>,
}
