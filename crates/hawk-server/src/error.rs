//! The one error type of the API and its JSON shape:
//! `{"error": {"code", "message", "field"}}` (plus `index` for an item of a batch).

use std::any::Any;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to a client. Storage failures are logged and answered with a
/// generic 500: internals never reach the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    index: Option<usize>,
    position: Option<usize>,
}

/// Every error.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
struct ErrorDetail<'a> {
    /// Stable machine-readable code, e.g. `required`, `too_long`, `malformed`.
    code: &'a str,
    /// For people.
    message: &'a str,
    /// The input field at fault, when there is one.
    field: Option<&'a str>,
    /// For a batch, the 0-based position of the offending entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    index: Option<usize>,
    /// For a malformed query phrase (`q`, or `filter` beside a typeahead's `q`), the
    /// 1-based character position of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    position: Option<usize>,
}

impl ApiError {
    /// An error with `status`, a stable `code` and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            index: None,
            position: None,
        }
    }

    /// The same error, naming the input field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same error, at position `index` of a batch (the message says so too).
    pub(crate) fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self.message = format!("item {index}: {}", self.message);
        self
    }

    /// A malformed query parameter: 400, naming it.
    pub(crate) fn bad_param(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("{field}: {}", message.into()),
        )
        .field(field)
    }

    /// The library's refusal of an input, reported under `field`: the name the client
    /// used, which may differ from the library's (`filter` for the phrase it calls `q`).
    pub(crate) fn invalid(invalid: &hawk_audit::Invalid, field: &str) -> Self {
        let message = invalid.to_string();
        let message = match message.strip_prefix(invalid.field()) {
            Some(rule) if field != invalid.field() && rule.starts_with(':') => {
                format!("{field}{rule}")
            }
            _ => message,
        };
        let position = match invalid.rule() {
            hawk_audit::Rule::Phrase { position, .. } => Some(position),
            _ => None,
        };
        ApiError {
            position,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, invalid.code(), message).field(field)
        }
    }

    /// A body field of the wrong JSON type: 422, naming it.
    pub(crate) fn invalid_type(field: &str, expected: &str) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            format!("{field}: must be {expected}"),
        )
        .field(field)
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its stable code, e.g. `too_long`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// The error a bare status stands for (405 from routing, 413 from the limit …).
    fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "request body is larger than 1 MiB"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ),
            StatusCode::BAD_REQUEST => ("bad_request", "bad request"),
            s if s.is_server_error() => {
                return ApiError {
                    status: s,
                    ..ApiError::internal()
                };
            }
            _ => ("error", status.canonical_reason().unwrap_or("error")),
        };
        ApiError::new(status, code, message)
    }
}

impl From<hawk_audit::Error> for ApiError {
    fn from(err: hawk_audit::Error) -> Self {
        match err {
            hawk_audit::Error::Invalid(invalid) => ApiError {
                // The library's message already starts with "item N: " in a batch.
                index: invalid.index(),
                ..ApiError::invalid(&invalid, invalid.field())
            },
            hawk_audit::Error::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("not found: {what}"),
            ),
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                index: self.index,
                position: self.position,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Unknown routes: a JSON 404.
pub(crate) async fn not_found() -> ApiError {
    ApiError::from_status(StatusCode::NOT_FOUND)
}

/// A handler that panicked: logged, answered with a generic 500.
pub(crate) fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = what, "handler panicked");
    ApiError::internal().into_response()
}

/// Turns every error answered without a JSON body (405 from routing, 413 or 415 from
/// axum's extractors …) into the error object, keeping its headers (`Allow`).
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let replacement = ApiError::from_status(status).into_response();
    let (new_parts, body) = replacement.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        new_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/json")),
    );
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: ApiError) -> serde_json::Value {
        serde_json::json!({ "code": error.code, "message": error.message, "field": error.field })
    }

    #[test]
    fn storage_errors_do_not_leak_internals() {
        let error = ApiError::from(hawk_audit::Error::Storage {
            message: "disk I/O error at /secret/path/hawk.db".into(),
            source: None,
        });
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body(error).to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("internal server error"), "{text}");
        let closed = ApiError::from(hawk_audit::Error::Closed);
        assert_eq!(closed.code(), "internal");
    }

    #[test]
    fn bare_statuses_become_error_objects() {
        let cases = [
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (StatusCode::NOT_FOUND, "not_found"),
            (StatusCode::BAD_GATEWAY, "internal"),
            (StatusCode::IM_A_TEAPOT, "error"),
        ];
        for (status, code) in cases {
            let error = ApiError::from_status(status);
            assert_eq!((error.status(), error.code()), (status, code), "{status}");
        }
    }
}
