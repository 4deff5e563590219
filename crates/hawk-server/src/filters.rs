//! The filter parameters of every listing: what they mean, how they become one
//! [`hawk_audit::Filter`], and how the document describes them (once, under
//! `components/parameters`, referred to by each route that takes them).
//!
//! The parameters and the query phrase are ANDed, and a key bound to an account ANDs
//! its account last, so no parameter or phrase can widen what the key sees. Each
//! value obeys the rule of the entry field it is compared with and is refused with a
//! 422 naming the parameter; an empty value is the same as none (an empty form field),
//! and a parameter given twice is refused rather than one of its values dropped.

use hawk_audit::{Filter, Predicate, Rule, TimeRange, parse_time_bound};
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};

use crate::auth::Access;
use crate::error::ApiError;
use crate::input::Params;
use crate::openapi::exact::{ACTION_PATTERN, FIELD_PATTERN};

/// The parameter that carries the query phrase. Listings take it as `q`; routes where
/// `q` is what is typed into a typeahead (a term, a prefix) take it as `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phrase {
    Q,
    Filter,
}

impl Phrase {
    fn name(self) -> &'static str {
        match self {
            Phrase::Q => "q",
            Phrase::Filter => "filter",
        }
    }

    /// Its key under `components/parameters`, where `q` alone would be ambiguous.
    fn component(self) -> &'static str {
        match self {
            Phrase::Q => "q_phrase",
            Phrase::Filter => "filter_phrase",
        }
    }

    fn description(self) -> String {
        let what = match self {
            Phrase::Q => "A query phrase narrowing the listing.",
            Phrase::Filter => {
                "A query phrase narrowing what is searched and counted (`q` is what is typed)."
            }
        };
        format!("{what} {PHRASE}{ONCE}")
    }
}

/// The routes that take the filter parameters: their phrase parameter, and whether
/// `account_id` is among them (`/v1/export` documents its own, older one; an account's
/// entries are named by the path).
const ROUTES: &[(&str, Phrase, bool)] = &[
    ("/v1/entries", Phrase::Q, true),
    ("/v1/search", Phrase::Filter, true),
    ("/v1/actions", Phrase::Filter, true),
    ("/v1/actors", Phrase::Filter, true),
    ("/v1/resources", Phrase::Filter, true),
    ("/v1/accounts", Phrase::Filter, true),
    ("/v1/actor_types", Phrase::Filter, true),
    ("/v1/resource_types", Phrase::Filter, true),
    ("/v1/accounts/{account_id}/entries", Phrase::Q, false),
    ("/v1/export", Phrase::Q, false),
    ("/v1/stream", Phrase::Q, true),
];

/// The filter of a listing's query, within what `access` may see.
pub(crate) fn filter(params: &Params, access: &Access, phrase: Phrase) -> Result<Filter, ApiError> {
    within(Filter::new(), params, access, phrase)
}

/// The filter of `/v1/accounts/{account_id}/entries`: the account's entries, narrowed
/// by the query.
pub(crate) fn of_account(
    account_id: &str,
    params: &Params,
    access: &Access,
) -> Result<Filter, ApiError> {
    within(account(account_id), params, access, Phrase::Q)
}

/// Whether the query holds a filter parameter or a phrase with a value.
pub(crate) fn given(params: &Params, phrase: Phrase) -> bool {
    PARAMS
        .iter()
        .map(|p| p.name)
        .chain(["since", "until", phrase.name()])
        .any(|name| params.has(name))
}

/// The entries of `account`, found as an account lookup finds them: an id with a
/// control character, which no entry can hold (DESIGN.md section 1), finds nothing
/// rather than being refused as other filter values are. A too long id is refused
/// when the filter is checked, naming `account_id`.
pub(crate) fn account(account: &str) -> Filter {
    let filter = Filter::new().account(account);
    match filter.validate() {
        Err(invalid) if invalid.rule() == Rule::ControlCharacter => {
            // No entry is both a system action and not one.
            Filter::new().system(true).system(false)
        }
        _ => filter,
    }
}

fn within(
    mut filter: Filter,
    params: &Params,
    access: &Access,
    phrase: Phrase,
) -> Result<Filter, ApiError> {
    for param in PARAMS {
        let value = if param.empty_is_none {
            params.once(param.name)?
        } else {
            params.once_raw(param.name)?
        };
        if let Some(value) = value {
            let clause = (param.read)(value)?;
            clause
                .validate()
                .map_err(|invalid| ApiError::invalid(&invalid, param.name))?;
            filter = filter.and(clause);
        }
    }
    filter = filter.and(time_range(params)?);
    if let Some(raw) = params.once(phrase.name())? {
        let parsed =
            Filter::parse(raw).map_err(|invalid| ApiError::invalid(&invalid, phrase.name()))?;
        filter = filter.and(parsed);
    }
    if let Some(own) = access.account() {
        // Asked for already (the path, or `account_id` naming it): a second equal
        // clause would only cost the stores' own numbering of an account.
        let scoped = filter
            .clauses()
            .iter()
            .any(|c| !c.negated && matches!(&c.predicate, Predicate::Account(a) if a == own));
        if !scoped {
            filter = filter.and(account(own));
        }
    }
    filter.validate().map_err(|invalid| {
        // Only the count of conditions is left to break, which the phrase makes.
        let field = match invalid.field() {
            "q" => phrase.name(),
            other => other,
        };
        ApiError::invalid(&invalid, field)
    })?;
    Ok(filter)
}

/// `since` and `until`, one range: refused when it is empty, naming `until`.
fn time_range(params: &Params) -> Result<Filter, ApiError> {
    let bound = |name: &'static str| {
        params
            .once(name)?
            .map(|raw| parse_time_bound(name, raw).map_err(|e| ApiError::invalid(&e, name)))
            .transpose()
    };
    let (since, until) = (bound("since")?, bound("until")?);
    if since.is_none() && until.is_none() {
        return Ok(Filter::new());
    }
    let range = TimeRange::new(since, until).map_err(|e| ApiError::invalid(&e, "until"))?;
    Ok(Filter::new().with(Predicate::Created(range)))
}

fn boolean(raw: &str) -> Result<bool, ApiError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            format!("system: must be true or false, not {raw:?}"),
        )
        .field("system")),
    }
}

/// A filter parameter: its name, the clause a value becomes, and its document.
struct Param {
    name: &'static str,
    read: fn(&str) -> Result<Filter, ApiError>,
    /// An empty value is no filter, as an empty form field; a boolean has no empty
    /// spelling, so `system=` is refused rather than ignored.
    empty_is_none: bool,
    description: &'static str,
    schema: fn() -> Schema,
}

/// Every filter parameter but the time range (`since`, `until`, one clause) and the
/// phrase.
const PARAMS: &[Param] = &[
    Param {
        name: "actor_type",
        read: |raw| Ok(Filter::new().actor_type(raw)),
        empty_is_none: true,
        description: "Only entries by actors of this type, e.g. `user`.",
        schema: field,
    },
    Param {
        name: "actor_id",
        read: |raw| Ok(Filter::new().actor_id(raw)),
        empty_is_none: true,
        description: "Only entries by actors with this id, of any type.",
        schema: field,
    },
    Param {
        name: "system",
        read: |raw| boolean(raw).map(|system| Filter::new().system(system)),
        empty_is_none: false,
        description: "`true`: only system actions (no actor); `false`: only actions with an \
                      actor.",
        schema: || ObjectBuilder::new().schema_type(Type::Boolean).into(),
    },
    Param {
        name: "resource_type",
        read: |raw| Ok(Filter::new().resource_type(raw)),
        empty_is_none: true,
        description: "Only entries on resources of this type.",
        schema: field,
    },
    Param {
        name: "resource_id",
        read: |raw| Ok(Filter::new().resource_id(raw)),
        empty_is_none: true,
        description: "Only entries on resources with this id, of any type.",
        schema: field,
    },
    Param {
        name: "account_id",
        read: |raw| Ok(account(raw)),
        empty_is_none: true,
        description: "Only this account's entries. An id with a control character, which no \
                      entry holds, finds nothing. A key bound to an account sees only that \
                      account's entries whatever this says.",
        schema: || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(255))
                .into()
        },
    },
    Param {
        name: "action",
        read: |raw| Ok(Filter::new().action(raw)),
        empty_is_none: true,
        description: "Only entries with exactly this action (case-sensitive; white space \
                      around it is trimmed).",
        schema: || {
            let inner = &ACTION_PATTERN[1..ACTION_PATTERN.len() - 1];
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^(?:{inner})?$")))
                .into()
        },
    },
];

/// The document's description of the time range and the phrase, beside [`PARAMS`].
const SINCE: &str = "Only entries inserted at or after this time: RFC 3339 \
                     (`2026-10-05T13:45:00Z`), or a date (`2026-10-05`) meaning that day's UTC \
                     midnight.";
const UNTIL: &str = "Only entries inserted before this time (exclusive), written as `since`; \
                     when both are given it must be after `since` (422 naming `until`).";
const PHRASE: &str = "ANDed with the other filter parameters. Qualifiers: `actor:TYPE:ID`, \
     `actor_type:T`, `actor_id:I`, `is:system`, `resource:TYPE:ID`, `resource_type:T`, \
     `resource_id:I`, `account:ID`, `action:NAME` and `created:` with `>=T`, `>T`, `<T`, `<=T`, \
     `A..B` (`*` for an open end) or a date (its whole UTC day); a leading `-` negates any of \
     them. Other words must all occur in the action (case-insensitive), `-word` must not. \
     Double quotes keep spaces, colons and a leading `-` (`\\\"` and `\\\\` inside them). At \
     most 2048 characters and 32 conditions; a malformed phrase is 422 naming this \
     parameter, with the character `position` of the problem.";
const ONCE: &str = " Empty: no filter. At most once (else 422).";
const ONCE_NOT_EMPTY: &str = " At most once (else 422).";

/// Up to 255 characters without control characters, or empty.
fn field() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(255))
        .pattern(Some(FIELD_PATTERN))
        .into()
}

/// RFC 3339, a date, or empty.
fn time() -> Schema {
    let format = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(format)))
    };
    use utoipa::openapi::KnownFormat;
    AnyOfBuilder::new()
        .item(format(KnownFormat::DateTime))
        .item(format(KnownFormat::Date))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(0)),
        )
        .into()
}

fn phrase_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(2048))
        .into()
}

/// Describes the filter parameters under `components/parameters` and refers to them
/// from each route of [`ROUTES`], after the route's own parameters.
pub(crate) fn document(doc: &mut Document) {
    let mut described: Vec<(&str, &str, String, Schema)> = PARAMS
        .iter()
        .map(|p| {
            let once = if p.empty_is_none {
                ONCE
            } else {
                ONCE_NOT_EMPTY
            };
            let description = format!("{}{once}", p.description);
            (p.name, p.name, description, (p.schema)())
        })
        .collect();
    described.push(("since", "since", format!("{SINCE}{ONCE}"), time()));
    described.push(("until", "until", format!("{UNTIL}{ONCE}"), time()));
    for phrase in [Phrase::Q, Phrase::Filter] {
        let description = phrase.description();
        described.push((
            phrase.component(),
            phrase.name(),
            description,
            phrase_schema(),
        ));
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for (key, name, description, schema) in described {
        components
            .parameters
            .insert(key.to_owned(), query(name, &description, schema).into());
    }
    for &(path, phrase, with_account) in ROUTES {
        let Some(operation) = doc
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| item.get.as_mut())
        else {
            continue;
        };
        let names = PARAMS
            .iter()
            .map(|p| p.name)
            .filter(|name| with_account || *name != "account_id")
            .chain(["since", "until", phrase.component()]);
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        for name in names {
            parameters.push(RefOr::Ref(Ref::new(format!(
                "#/components/parameters/{name}"
            ))));
        }
    }
}

fn query(name: &str, description: &str, schema: Schema) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_documented() {
        let doc = crate::openapi::openapi();
        for (path, _, _) in ROUTES {
            assert!(
                doc.paths
                    .paths
                    .get(*path)
                    .and_then(|i| i.get.as_ref())
                    .is_some(),
                "{path}"
            );
        }
    }
}
