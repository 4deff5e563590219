//! Tamper evidence over HTTP: the latest signed checkpoint, inclusion proofs and
//! consistency proofs. The bodies are public so that `hawk prove --json` prints
//! exactly what the API returns.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hawk_audit::merkle::to_hex;
use hawk_audit::{ConsistencyProof, InclusionProof};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Access;
use crate::error::{ApiError, ErrorBody};
use crate::input::Params;

/// An inclusion proof as JSON: hashes in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InclusionBody {
    /// The entry.
    pub id: u64,
    /// Its leaf index in the tree: `id - 1`.
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The entry's leaf hash (its `hash`).
    pub leaf_hash: String,
    /// The audit path, nearest sibling first (RFC 9162 section 2.1.3).
    pub audit_path: Vec<String>,
    /// The root of the tree of `tree_size` entries.
    pub root: String,
    /// The signed checkpoint of `tree_size`, when one is stored.
    pub checkpoint: Option<String>,
}

impl From<InclusionProof> for InclusionBody {
    fn from(p: InclusionProof) -> Self {
        InclusionBody {
            id: p.id,
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            leaf_hash: to_hex(&p.leaf_hash),
            audit_path: p.audit_path.iter().map(|h| to_hex(h)).collect(),
            root: to_hex(&p.root),
            checkpoint: p.checkpoint,
        }
    }
}

/// A consistency proof as JSON: hashes in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The older tree's root.
    pub from_root: String,
    /// The newer tree's root.
    pub to_root: String,
    /// The proof (RFC 9162 section 2.1.4).
    pub proof: Vec<String>,
    /// The signed checkpoint of `from`, when one is stored.
    pub from_checkpoint: Option<String>,
    /// The signed checkpoint of `to`, when one is stored.
    pub to_checkpoint: Option<String>,
}

impl From<ConsistencyProof> for ConsistencyBody {
    fn from(p: ConsistencyProof) -> Self {
        ConsistencyBody {
            from: p.from,
            to: p.to,
            from_root: to_hex(&p.from_root),
            to_root: to_hex(&p.to_root),
            proof: p.path.iter().map(|h| to_hex(h)).collect(),
            from_checkpoint: p.from_checkpoint,
            to_checkpoint: p.to_checkpoint,
        }
    }
}

/// The latest signed checkpoint: a C2SP signed note (origin, tree size, base64 root,
/// then the Ed25519 signature line).
#[utoipa::path(
    get,
    path = "/v1/checkpoint",
    tag = "proofs",
    responses(
        (status = 200, description = "The signed note", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, description = "No checkpoint has been written yet", body = ErrorBody),
    )
)]
pub(crate) async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let latest = state.audit.checkpoint().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "not found: no checkpoint yet",
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        latest.note,
    )
        .into_response())
}

/// The inclusion proof of an entry. A key bound to an account may prove only that
/// account's entries.
#[utoipa::path(
    get,
    path = "/v1/proof/{id}",
    tag = "proofs",
    params(
        ("id" = u64, Path, description = "The entry's id, from 1", minimum = 1),
        ("size" = Option<u64>, Query, description = "The tree size to prove inclusion in (from `id` to the log's size). Default:\nthe latest checkpoint's when it covers the entry, else the whole log."),
    ),
    responses(
        (status = 200, description = "The proof", body = InclusionBody),
        (status = 400, description = "`id` or `size` is empty or not a whole number", body = ErrorBody),
        (status = 404, description = "No such entry (or not one this key may see)", body = ErrorBody),
        (status = 422, description = "`size` is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn inclusion(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_param("id", format!("must be a whole number, not {id:?}")))?;
    let size = params.u64("size")?;
    if let Some(own) = access.account() {
        let entry = state
            .audit
            .entries_after(id.saturating_sub(1), 1, None)
            .await?;
        if entry
            .first()
            .is_none_or(|e| e.id != id || e.account_id.as_deref() != Some(own))
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("not found: entry {id}"),
            ));
        }
    }
    let proof = state.audit.inclusion_proof(id, size).await?;
    Ok(Json(InclusionBody::from(proof)).into_response())
}

/// The consistency proof between two tree sizes.
#[utoipa::path(
    get,
    path = "/v1/proof/consistency",
    tag = "proofs",
    params(
        ("from" = u64, Query, description = "The older tree size (required)."),
        ("to" = u64, Query, description = "The newer tree size, from `from` to the log's size (required)."),
    ),
    responses(
        (status = 200, description = "The proof", body = ConsistencyBody),
        (status = 400, description = "`from` or `to` is missing, empty or not a whole number", body = ErrorBody),
        (status = 422, description = "`from` or `to` is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let required = |name: &str| -> Result<u64, ApiError> {
        params.u64(name)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "required",
                format!("{name}: is required"),
            )
            .field(name)
        })
    };
    let (from, to) = (required("from")?, required("to")?);
    let proof = state.audit.consistency_proof(from, to).await?;
    Ok(Json(ConsistencyBody::from(proof)).into_response())
}
