//! Reading requests: JSON bodies and query parameters, with errors that name the
//! field at fault. Bodies are read by hand rather than through serde derive so that a
//! wrong type or an unknown field is reported under its own name.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hawk_audit::NewEntry;
use serde_json::{Map, Value};

use crate::MAX_HTTP_BATCH;
use crate::error::ApiError;

/// A JSON body, parsed but not yet interpreted.
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "request body is larger than 1 MiB",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "could not read the request body",
                )
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("body: not valid JSON ({e})"),
            )
        })
    }
}

/// The query string as name/value pairs.
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Params::from_uri(&parts.uri)
    }
}

impl Params {
    /// The parameters of `uri`'s query string.
    pub(crate) fn from_uri(uri: &Uri) -> Result<Params, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                "the query string is not valid URL encoding",
            )
        })?;
        Ok(Params(pairs))
    }

    /// The last value given for `name`.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, given at most once, or `None` when it is absent or empty
    /// (an empty form field). A second value is refused rather than one of the two
    /// dropped: the caller meant something by each.
    pub(crate) fn once(&self, name: &str) -> Result<Option<&str>, ApiError> {
        Ok(self.once_raw(name)?.filter(|v| !v.is_empty()))
    }

    /// [`Params::once`], with an empty value kept.
    pub(crate) fn once_raw(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "repeated",
                format!("{name}: given more than once (a filter takes each parameter once)"),
            )
            .field(name));
        }
        Ok(first.map(String::as_str))
    }

    /// Whether `name` was given with a value.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.str(name).is_some_and(|v| !v.is_empty())
    }

    /// A whole number of at most 20 decimal digits (0 to 2^64 - 1), or `None` when
    /// absent. An empty value (`limit=`) is refused rather than taken as absent: a
    /// client that meant to send a number should hear that it sent none. So is a
    /// sign, which the document's `integer` does not allow.
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(raw) => raw
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| raw.parse::<u64>().ok())
                .flatten()
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_param(
                        name,
                        format!("must be a whole number from 0 to {}, not {raw:?}", u64::MAX),
                    )
                }),
        }
    }
}

/// The query parameters each documented operation takes, read from the OpenAPI
/// document itself so that the server refuses exactly what the document leaves out.
#[derive(Debug, Default)]
pub(crate) struct KnownParams(HashMap<(Method, String), Vec<String>>);

/// The table of the document `GET /openapi.json` serves, made once.
pub(crate) fn known_params() -> &'static KnownParams {
    static KNOWN: OnceLock<KnownParams> = OnceLock::new();
    KNOWN.get_or_init(|| KnownParams::from_document(&crate::openapi::openapi()))
}

impl KnownParams {
    /// Whether `route` is documented but not for `method`: routing answers 405, and
    /// nothing else (keys, parameters) should answer first.
    pub(crate) fn is_undocumented_method(&self, method: &Method, route: &str) -> bool {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        !self.0.contains_key(&(method, route.to_owned()))
            && self.0.keys().any(|(_, path)| path == route)
    }

    /// The query parameters of every operation of `doc`.
    pub(crate) fn from_document(doc: &utoipa::openapi::OpenApi) -> KnownParams {
        let doc = serde_json::to_value(doc).expect("the document serializes");
        let mut known = HashMap::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let names = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| resolve(&doc, p))
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                known.insert((method, path.clone()), names);
            }
        }
        KnownParams(known)
    }
}

/// A parameter of the document as it is, or the one its `$ref` points at (the filter
/// parameters are described once, under `components/parameters`).
fn resolve<'a>(doc: &'a Value, parameter: &'a Value) -> &'a Value {
    match parameter["$ref"].as_str() {
        Some(path) => path
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or(&Value::Null),
        None => parameter,
    }
}

/// Middleware: refuses a query parameter the matched operation does not take, with a
/// 400 naming it. Ignoring it would answer as if it were not there: `?actor_id=42` on
/// `/v1/entries` would list the whole log, which reads as "this filter matched
/// everything". Routes outside the document (the dashboard's files) are left alone.
pub(crate) async fn refuse_unknown_params(req: Request, next: Next) -> Response {
    let known = known_params();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let Some(allowed) = route.and_then(|r| known.0.get(&(method, r.to_owned()))) else {
        return next.run(req).await;
    };
    if req.uri().query().is_some() {
        let params = match Params::from_uri(req.uri()) {
            Ok(params) => params,
            Err(err) => return err.into_response(),
        };
        if let Some((name, _)) = params.0.iter().find(|(k, _)| !allowed.contains(k)) {
            let takes = if allowed.is_empty() {
                "this operation takes none".to_owned()
            } else {
                format!("this operation takes {}", allowed.join(", "))
            };
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_parameter",
                format!("{name}: unknown query parameter ({takes})"),
            )
            .field(name.as_str())
            .into_response();
        }
    }
    next.run(req).await
}

/// The body of `POST /v1/entries`: one entry or a batch.
pub(crate) enum NewEntries {
    One(NewEntry),
    Batch(Vec<NewEntry>),
}

/// Reads `POST /v1/entries`: an object is one entry, an array of 1 to
/// `MAX_HTTP_BATCH` a batch (an error in an item names its index).
pub(crate) fn new_entries(body: Value) -> Result<NewEntries, ApiError> {
    match body {
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_HTTP_BATCH {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "out_of_range",
                    format!(
                        "entries: a batch holds 1 to {MAX_HTTP_BATCH} entries, not {}",
                        items.len()
                    ),
                )
                .field("entries"));
            }
            let entries = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| new_entry(item).map_err(|e| e.at(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(NewEntries::Batch(entries))
        }
        other => new_entry(other).map(NewEntries::One),
    }
}

const ENTRY_FIELDS: &[&str] = &[
    "action",
    "actor_type",
    "actor_id",
    "resource_type",
    "resource_id",
    "account_id",
    "metadata",
];

/// One entry of `POST /v1/entries`. Ids may be strings or integers; unknown fields
/// are refused (a misspelt `acount_id` must not be dropped silently).
pub(crate) fn new_entry(value: Value) -> Result<NewEntry, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_type("entry", "a JSON object"));
    };
    let mut entry = NewEntry::new("");
    for (key, value) in map {
        match key.as_str() {
            "action" => entry.action = text(&key, value)?.unwrap_or_default(),
            "actor_type" => entry.actor_type = text(&key, value)?,
            "actor_id" => entry.actor_id = id(&key, value)?,
            "resource_type" => entry.resource_type = text(&key, value)?,
            "resource_id" => entry.resource_id = id(&key, value)?,
            "account_id" => entry.account_id = id(&key, value)?,
            "metadata" => entry.metadata = (!value.is_null()).then_some(value),
            _ => return Err(unknown_field(&key, ENTRY_FIELDS)),
        }
    }
    Ok(entry)
}

/// The `{"name", "payload"}` of `POST /v1/events`.
pub(crate) fn event(value: Value) -> Result<(String, Value), ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_type("event", "a JSON object"));
    };
    let mut name = String::new();
    let mut payload = Value::Object(Map::new());
    for (key, value) in map {
        match key.as_str() {
            "name" => name = text(&key, value)?.unwrap_or_default(),
            "payload" if value.is_null() => {}
            "payload" => payload = integral_account(value)?,
            _ => return Err(unknown_field(&key, &["name", "payload"])),
        }
    }
    Ok((name, payload))
}

/// A payload's `account_id` is an id like an entry's: an integer spelt as a float
/// (`7.0`) is carried as the integer; one beyond [`MAX_JSON_INTEGER`] is refused.
fn integral_account(mut payload: Value) -> Result<Value, ApiError> {
    if let Some(account) = payload.get_mut("account_id")
        && let Value::Number(n) = account
    {
        let whole = integer(n)
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .ok_or_else(|| ApiError::invalid_type("payload.account_id", INTEGER_ID))?;
        *account = whole;
    }
    Ok(payload)
}

const INTEGER_ID: &str = "a string, an integer of at most 2^53 - 1 in magnitude, or null";

pub(crate) fn unknown_field(key: &str, known: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_field",
        format!(
            "{key}: unknown field (expected one of {})",
            known.join(", ")
        ),
    )
    .field(key)
}

pub(crate) fn text(key: &str, value: Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(ApiError::invalid_type(key, "a string or null")),
    }
}

/// Ids are strings; integers are taken in decimal so numeric ids work as they are.
fn id(key: &str, value: Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => integer(&n)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_type(key, INTEGER_ID)),
        _ => Err(ApiError::invalid_type(key, INTEGER_ID)),
    }
}

/// The header that makes `POST /v1/entries` safe to retry.
pub(crate) const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The `Idempotency-Key` header, if sent. Its rules are the library's (checked when
/// the entries are recorded); only bytes that are not text are refused here.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    value.to_str().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            format!("{IDEMPOTENCY_KEY}: must be printable ASCII (U+0020-U+007E)"),
        )
        .field(IDEMPOTENCY_KEY)
    })
}

/// The library's error about the idempotency key, reported under the header's name.
pub(crate) fn key_error(err: hawk_audit::Error) -> ApiError {
    match err.as_invalid() {
        Some(invalid) if invalid.field() == "idempotency_key" => {
            let message = invalid.to_string();
            let rule = message.strip_prefix("idempotency_key").unwrap_or(&message);
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                invalid.code(),
                format!("{IDEMPOTENCY_KEY}{rule}"),
            )
            .field(IDEMPOTENCY_KEY)
        }
        _ => err.into(),
    }
}

/// Largest magnitude of an integer id: what a JSON number holds exactly (2^53 - 1),
/// so that `7.0` and `7` are the same integer, as JSON Schema (and so the document)
/// has it. Larger ids are sent as strings.
pub(crate) const MAX_JSON_INTEGER: u64 = (1 << 53) - 1;

/// An integer id in decimal, however JSON spells it (`7` or `7.0`), or `None` for a
/// fraction or a magnitude over [`MAX_JSON_INTEGER`].
fn integer(n: &serde_json::Number) -> Option<String> {
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() <= MAX_JSON_INTEGER).then(|| i.to_string());
    }
    if n.is_u64() {
        return None;
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() <= MAX_JSON_INTEGER as f64).then(|| (f as i64).to_string())
}
