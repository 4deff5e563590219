//! Suggestions for the filter boxes: actors, resources, their types and accounts whose
//! names begin with what was typed (`q`), each with how many entries name it. The counts are taken
//! within the filter parameters and the phrase `filter`, and within the account of a
//! key bound to one, so a suggestion never names what the caller cannot list.

use axum::Json;
use axum::extract::State;
use hawk_audit::{AccountCount, Filtered, SubjectCount, TypeCount};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Access;
use crate::error::{ApiError, ErrorBody};
use crate::filters::{self, Phrase};
use crate::input::Params;

/// The prefix and the number of suggestions of a request, and the view of the log
/// they are counted in.
fn read<'a>(
    state: &'a AppState,
    access: &Access,
    params: &'a Params,
) -> Result<(Filtered<'a>, &'a str, u64), ApiError> {
    let limit = params
        .u64("limit")?
        .unwrap_or(hawk_audit::DEFAULT_ACTIONS_LIMIT);
    let prefix = params.str("q").unwrap_or("");
    let filter = filters::filter(params, access, Phrase::Filter)?;
    Ok((state.audit.filtered(filter), prefix, limit))
}

/// Actor suggestions.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActorsBody {
    /// The most entries first.
    actors: Vec<SubjectCount>,
}

/// Suggestions: actors whose `TYPE:ID`, id or type begins with `q`, with their counts.
#[utoipa::path(
    get,
    path = "/v1/actors",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "The beginning of an actor's `TYPE:ID` (`user:4`), of its id (`4`) or of its type (`us`); case-sensitive; empty: every actor. At most 255 characters, without U+0000.", max_length = 255, pattern = r"^[^\x00]*$"),
        ("limit" = Option<u64>, Query, description = "How many actors, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Actors with entries within the filter, the most entries first", body = ActorsBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range, `q` too long, or a filter parameter breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn actors(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<ActorsBody>, ApiError> {
    let (view, prefix, limit) = read(&state, &access, &params)?;
    let actors = view.actors(prefix, limit).await?;
    Ok(Json(ActorsBody { actors }))
}

/// Resource suggestions.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResourcesBody {
    /// The most entries first.
    resources: Vec<SubjectCount>,
}

/// Suggestions: resources whose `TYPE:ID`, id or type begins with `q`, with their
/// counts.
#[utoipa::path(
    get,
    path = "/v1/resources",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "The beginning of a resource's `TYPE:ID` (`project:7`), of its id (`7`) or of its type (`proj`); case-sensitive; empty: every resource. At most 255 characters, without U+0000.", max_length = 255, pattern = r"^[^\x00]*$"),
        ("limit" = Option<u64>, Query, description = "How many resources, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Resources with entries within the filter, the most entries first", body = ResourcesBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range, `q` too long, or a filter parameter breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn resources(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<ResourcesBody>, ApiError> {
    let (view, prefix, limit) = read(&state, &access, &params)?;
    let resources = view.resources(prefix, limit).await?;
    Ok(Json(ResourcesBody { resources }))
}

/// Account suggestions.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountsBody {
    /// The most entries first.
    accounts: Vec<AccountCount>,
}

/// Suggestions: accounts whose id begins with `q`, with their counts.
#[utoipa::path(
    get,
    path = "/v1/accounts",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "The beginning of an account id; case-sensitive; empty: every account. At most 255 characters, without U+0000.", max_length = 255, pattern = r"^[^\x00]*$"),
        ("limit" = Option<u64>, Query, description = "How many accounts, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Accounts with entries within the filter, the most entries first; a key bound to an account sees only its own", body = AccountsBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range, `q` too long, or a filter parameter breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn accounts(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<AccountsBody>, ApiError> {
    let (view, prefix, limit) = read(&state, &access, &params)?;
    let accounts = view.accounts(prefix, limit).await?;
    Ok(Json(AccountsBody { accounts }))
}

/// Type suggestions.
#[derive(Serialize, ToSchema)]
pub(crate) struct TypesBody {
    /// The most entries first.
    types: Vec<TypeCount>,
}

/// Suggestions: actor types beginning with `q`, with their counts.
#[utoipa::path(
    get,
    path = "/v1/actor_types",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "The beginning of an actor type (`us`); case-sensitive; empty: every type. At most 255 characters, without U+0000.", max_length = 255, pattern = r"^[^\x00]*$"),
        ("limit" = Option<u64>, Query, description = "How many types, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Actor types with entries within the filter, the most entries first", body = TypesBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range, `q` too long, or a filter parameter breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn actor_types(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<TypesBody>, ApiError> {
    let (view, prefix, limit) = read(&state, &access, &params)?;
    let types = view.actor_types(prefix, limit).await?;
    Ok(Json(TypesBody { types }))
}

/// Suggestions: resource types beginning with `q`, with their counts.
#[utoipa::path(
    get,
    path = "/v1/resource_types",
    tag = "entries",
    params(
        ("q" = Option<String>, Query, description = "The beginning of a resource type (`proj`); case-sensitive; empty: every type. At most 255 characters, without U+0000.", max_length = 255, pattern = r"^[^\x00]*$"),
        ("limit" = Option<u64>, Query, description = "How many types, 1–100 (default 10).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "Resource types with entries within the filter, the most entries first", body = TypesBody),
        (status = 400, description = "`limit` is empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`limit` is out of range, `q` too long, or a filter parameter breaks its rule", body = ErrorBody),
    )
)]
pub(crate) async fn resource_types(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<TypesBody>, ApiError> {
    let (view, prefix, limit) = read(&state, &access, &params)?;
    let types = view.resource_types(prefix, limit).await?;
    Ok(Json(TypesBody { types }))
}
