//! The OpenAPI document, generated from the handlers' annotations and from the body
//! types themselves: each JSON body is one type deriving both `Serialize` and
//! `ToSchema` (`hawk-audit`'s `Entry`, `Page` and `ActionCount` through its `openapi`
//! feature), so the document cannot describe a body other than the one sent. Field
//! names are the contract (DESIGN.md section 1).

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApi as Document;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, proof, routes, sinks, stream, suggestions};

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
        (name = "sinks", description = "Log streams: every entry delivered to webhooks and the tools security teams read (admin keys)"),
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
        .routes(routes!(suggestions::actors))
        .routes(routes!(suggestions::resources))
        .routes(routes!(suggestions::accounts))
        .routes(routes!(suggestions::actor_types))
        .routes(routes!(suggestions::resource_types))
        .routes(routes!(routes::account_entries))
        .routes(routes!(routes::emit_event))
        .routes(routes!(stream::live_tail))
        .routes(routes!(routes::export))
        .routes(routes!(proof::checkpoint))
        .routes(routes!(proof::consistency))
        .routes(routes!(proof::inclusion))
        .routes(routes!(sinks::list, sinks::add))
        .routes(routes!(sinks::get, sinks::remove))
        .routes(routes!(sinks::pause))
        .routes(routes!(sinks::resume))
        .routes(routes!(sinks::replay))
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::metrics))
}

/// The OpenAPI document of the API, as `GET /openapi.json` serves it.
pub fn openapi() -> Document {
    let mut doc = api_router().split_for_parts().1;
    crate::filters::document(&mut doc);
    exact::apply(&mut doc);
    doc
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    let json = JSON.get_or_init(|| openapi().to_json().expect("the document serializes").into());
    ([(header::CONTENT_TYPE, "application/json")], json.clone())
}

/// The body of `POST /v1/entries`; its schema (and `NewEntry`'s) is built by hand in
/// `exact`, since the rules across fields (both or neither of a pair) need `allOf`.
pub(crate) struct EntriesInput;

impl utoipa::PartialSchema for EntriesInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("EntriesInput").into()
    }
}

impl ToSchema for EntriesInput {}

/// The body of `POST /v1/events`; its schema is built by hand in `exact`.
pub(crate) struct EventInput;

impl utoipa::PartialSchema for EventInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("EventInput").into()
    }
}

impl ToSchema for EventInput {}

/// What the derived document cannot say by itself: the input schemas (rules across
/// fields, patterns), the upper bound of every whole-number parameter, and the
/// answers every operation may give besides its own (400 for a parameter it does not
/// take; 401 and 429 once the log has keys).
pub(crate) mod exact {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::schema::{
        AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ArrayItems, KnownFormat,
        ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
    };
    use utoipa::openapi::{HeaderBuilder, OpenApi as Document, Ref, RefOr};

    use crate::MAX_HTTP_BATCH;

    /// Up to 255 characters that are neither control characters (U+0000–U+001F,
    /// U+007F) nor, at either end, white space as Rust's `str::trim` sees it, with
    /// any white space around them (which is trimmed): what `hawk_audit` accepts as
    /// an action.
    pub(crate) const ACTION_PATTERN: &str = concat!(
        r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*",
        r"[^\x00-\x20\x7f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        r"(?:[^\x00-\x1f\x7f]{0,253}",
        r"[^\x00-\x20\x7f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?",
        r"[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
    );

    /// No control characters (U+0000–U+001F, U+007F): the rule of every string field
    /// of an entry.
    pub(crate) const FIELD_PATTERN: &str = r"^[^\x00-\x1f\x7f]*$";

    pub(super) fn apply(doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("NewEntry".into(), new_entry().into());
        components
            .schemas
            .insert("EntriesInput".into(), entries_input().into());
        components
            .schemas
            .insert("EventInput".into(), event_input().into());
        for schema in components.schemas.values_mut() {
            unsigned(schema);
        }
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                bound_whole_numbers(operation);
                idempotency_key(operation);
                common_answers(operation);
            }
        }
    }

    fn string(min: usize, max: usize) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(min))
            .max_length(Some(max))
    }

    fn null() -> Schema {
        ObjectBuilder::new().schema_type(Type::Null).build().into()
    }

    /// An integer id: at most 2^53 - 1 in magnitude (see `input::MAX_JSON_INTEGER`).
    fn any_integer() -> ObjectBuilder {
        let max = crate::input::MAX_JSON_INTEGER as isize;
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(-max))
            .maximum(Some(max))
    }

    fn id(description: &str) -> Schema {
        OneOfBuilder::new()
            .item(string(1, 255).pattern(Some(FIELD_PATTERN)))
            .item(any_integer())
            .item(null())
            .description(Some(description))
            .build()
            .into()
    }

    fn text(description: &str) -> Schema {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some(FIELD_PATTERN))
            .description(Some(description))
            .build()
            .into()
    }

    fn action(description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ACTION_PATTERN))
            .description(Some(description))
    }

    fn free_object(description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .description(Some(description))
    }

    /// Both fields given (not null), or neither.
    fn pair(kind: &str, id: &str) -> Schema {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property(kind, ObjectBuilder::new().schema_type(Type::String))
                    .property(
                        id,
                        ObjectBuilder::new()
                            .schema_type(SchemaType::from_iter([Type::String, Type::Integer])),
                    )
                    .required(kind)
                    .required(id),
            )
            .item(
                ObjectBuilder::new()
                    .property(kind, null())
                    .property(id, null()),
            )
            .build()
            .into()
    }

    fn new_entry() -> Schema {
        let fields = ObjectBuilder::new()
            .property(
                "action",
                action("Required: 1–255 characters after trimming white space, no control characters."),
            )
            .required("action")
            .property(
                "actor_type",
                text("1–255 characters, no control characters; give both type and id, or neither (a system action)."),
            )
            .property(
                "actor_id",
                id("1–255 characters without control characters, or an integer of at most 2^53 - 1 in magnitude (taken in decimal)."),
            )
            .property(
                "resource_type",
                text("1–255 characters, no control characters; give both type and id, or neither."),
            )
            .property(
                "resource_id",
                id("1–255 characters without control characters, or an integer of at most 2^53 - 1 in magnitude (taken in decimal)."),
            )
            .property(
                "account_id",
                id("1–255 characters without control characters, or an integer of at most 2^53 - 1 in \
                    magnitude (taken in decimal); defaults to the resource id when the resource type is `account`."),
            )
            .property(
                "metadata",
                free_object("A JSON object of at most 64 KiB (serialized); default `{}`."),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        AllOfBuilder::new()
            .item(fields)
            .item(pair("actor_type", "actor_id"))
            .item(pair("resource_type", "resource_id"))
            .description(Some(
                "An entry to record. Ids may be given as strings or integers; unknown \
                 fields are refused.",
            ))
            .build()
            .into()
    }

    fn entries_input() -> Schema {
        let entry = || Ref::from_schema_name("NewEntry");
        OneOfBuilder::new()
            .item(entry())
            .item(
                ArrayBuilder::new()
                    .items(entry())
                    .min_items(Some(1))
                    .max_items(Some(MAX_HTTP_BATCH)),
            )
            .description(Some(format!(
                "One entry, or a batch of 1–{MAX_HTTP_BATCH} recorded all or nothing."
            )))
            .build()
            .into()
    }

    fn event_input() -> Schema {
        let payload = free_object(
            "A JSON object of at most 64 KiB (serialized), default `{}`; its \
             `account_id` names the account.",
        )
        .property(
            "account_id",
            id("1–255 characters without control characters, or an integer of at most 2^53 - 1 in magnitude (taken in decimal)."),
        );
        ObjectBuilder::new()
            .property(
                "name",
                action("The event name, recorded as the action (same rules)."),
            )
            .required("name")
            .property("payload", payload)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("An event for the bus."))
            .build()
            .into()
    }

    /// utoipa writes a `u64` as `int64` with `minimum: 0`, which caps it at 2^63 - 1;
    /// Hawk's whole numbers are `u64` throughout.
    fn unsigned(schema: &mut RefOr<Schema>) {
        let RefOr::T(schema) = schema else { return };
        match schema {
            Schema::Object(object) => {
                let is_u64 = object.format == Some(SchemaFormat::KnownFormat(KnownFormat::Int64))
                    && object.minimum.is_some();
                if is_u64 {
                    object.format = Some(SchemaFormat::Custom("uint64".into()));
                }
                object.properties.values_mut().for_each(unsigned);
            }
            Schema::Array(array) => {
                if let ArrayItems::RefOrSchema(items) = &mut array.items {
                    unsigned(items);
                }
            }
            Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(unsigned),
            Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(unsigned),
            Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(unsigned),
            _ => {}
        }
    }

    /// An idempotency key is 1–255 printable ASCII characters; HTTP drops white space
    /// around a header's value, so the key neither starts nor ends with a space.
    fn idempotency_key(operation: &mut Operation) {
        for parameter in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter
                && parameter.name == crate::input::IDEMPOTENCY_KEY
                && let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema
            {
                schema.schema_type = SchemaType::Type(Type::String);
                schema.min_length = Some(1);
                schema.max_length = Some(255);
                schema.pattern = Some(r"^[!-~](?:[ -~]*[!-~])?$".into());
            }
        }
    }

    /// Whole-number parameters (query, path and `Last-Event-ID`) are read as `u64`:
    /// larger ones are refused with 400.
    fn bound_whole_numbers(operation: &mut Operation) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema else {
                continue;
            };
            // An absent parameter is not a null one: `Option` only makes it optional.
            if schema.schema_type == SchemaType::from_iter([Type::Integer, Type::Null]) {
                schema.schema_type = SchemaType::Type(Type::Integer);
            }
            if schema.schema_type == SchemaType::Type(Type::Integer) {
                schema.format = Some(SchemaFormat::Custom("uint64".into()));
                if schema.maximum.is_none() {
                    schema.maximum = Some((u64::MAX as usize).into());
                }
            }
        }
    }

    fn error(description: &str) -> ResponseBuilder {
        ResponseBuilder::new().description(description).content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
    }

    fn common_answers(operation: &mut Operation) {
        let responses = &mut operation.responses.responses;
        const UNKNOWN: &str = "a query parameter this operation does not take";
        match responses.get_mut("400") {
            Some(RefOr::T(bad)) => bad.description = format!("{}; or {UNKNOWN}", bad.description),
            _ => {
                let mut first = UNKNOWN.to_owned();
                first[..1].make_ascii_uppercase();
                responses.insert("400".into(), error(&first).build().into());
            }
        }
        responses.insert(
            "421".into(),
            error(
                "The log has no API keys and the request is addressed to a host name other \
                 than localhost, 127.0.0.1 or [::1]",
            )
            .build()
            .into(),
        );
        let public = operation
            .security
            .as_ref()
            .is_some_and(|s| serde_json::to_value(s).ok() == Some(serde_json::json!([{}])));
        if public {
            return;
        }
        responses.insert(
            "401".into(),
            error("The log has API keys and none was sent, or the one sent is unknown or revoked")
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .description(Some("`Bearer`"))
                        .build(),
                )
                .build()
                .into(),
        );
        responses.insert(
            "429".into(),
            error("This key is over its rate")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        ))
                        .description(Some("Seconds until a request will be let through"))
                        .build(),
                )
                .build()
                .into(),
        );
    }
}
