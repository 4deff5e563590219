//! The entry: what is stored, what callers hand in, and the rules between the two.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Invalid, Result, Rule};

/// Longest action, actor/resource type or id, and account id, in characters.
pub const MAX_FIELD_CHARS: usize = 255;
/// Largest metadata object, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// One stored audit entry. Entries are never updated.
///
/// The field docs are also the API's description of the JSON (the `openapi`
/// feature); in Rust, null is `None`. `inserted_at` never decreases as `id` grows,
/// and `hash` is [`merkle::leaf_hash`](crate::merkle::leaf_hash) of the entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "A stored entry."))]
#[non_exhaustive]
pub struct Entry {
    /// Assigned at commit: dense, ascending in commit order.
    pub id: u64,
    /// Commit time, RFC 3339 UTC with microseconds, e.g. `2026-11-26T13:45:01.123456Z`.
    #[serde(serialize_with = "serialize_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub inserted_at: OffsetDateTime,
    /// Who acted (e.g. `user`); null for system actions.
    pub actor_type: Option<String>,
    /// The actor's id; set exactly when `actor_type` is.
    pub actor_id: Option<String>,
    /// What happened, conventionally `noun.verb`.
    pub action: String,
    /// What it happened to (e.g. `project`); null when there is no resource.
    pub resource_type: Option<String>,
    /// The resource's id; set exactly when `resource_type` is.
    pub resource_id: Option<String>,
    /// The tenant the entry belongs to.
    pub account_id: Option<String>,
    /// Free-form details.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, serde_json::Value>))]
    pub metadata: Map<String, Value>,
    /// The entry's leaf hash in the log's Merkle tree: lowercase hex of
    /// SHA-256(0x00 ‖ entry_bytes), covering every field above.
    pub hash: String,
}

/// Formats a time as RFC 3339 UTC with exactly six fractional digits.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Serializes a time as [`format_time`] does: the one format of times on the wire.
pub(crate) fn serialize_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// [`serialize_time`] for a time that may be absent (null).
pub(crate) fn serialize_optional_time<S: Serializer>(
    t: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    t.map(format_time).serialize(s)
}

/// Converts microseconds since the Unix epoch, as stored, to a time.
pub(crate) fn time_from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Microseconds since the Unix epoch: the precision Hawk stores and hashes.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// Anything that can act or be acted upon: a type name and an id.
///
/// Implement it for your own structs in two lines:
///
/// ```
/// struct User { id: u64 }
/// impl hawk_audit::Subject for User {
///     fn subject_type(&self) -> std::borrow::Cow<'_, str> { "user".into() }
///     fn subject_id(&self) -> String { self.id.to_string() }
/// }
/// ```
pub trait Subject {
    /// The kind of thing, e.g. `user`, `project`, `account` (or `app::Account`).
    fn subject_type(&self) -> Cow<'_, str>;
    /// Its id as a string, so integer, UUID and slug ids all work.
    fn subject_id(&self) -> String;
}

/// A type and id given directly, for when no struct is at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The subject's type.
    pub kind: String,
    /// The subject's id.
    pub id: String,
}

impl Ref {
    /// A subject of type `kind` with id `id`.
    pub fn new(kind: impl Into<String>, id: impl ToString) -> Self {
        Ref {
            kind: kind.into(),
            id: id.to_string(),
        }
    }
}

impl Subject for Ref {
    fn subject_type(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.kind)
    }
    fn subject_id(&self) -> String {
        self.id.clone()
    }
}

/// An entry to be recorded with [`Audit::record`](crate::Audit::record), built with
/// the methods below and checked against every rule when recorded.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewEntry {
    /// The action (trimmed before it is checked and stored).
    pub action: String,
    /// Actor type; give both type and id, or neither.
    pub actor_type: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Resource type; give both type and id, or neither.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// The tenant; inferred from an `account` resource when not given.
    pub account_id: Option<String>,
    /// Metadata; must be a JSON object (`None` means `{}`).
    pub metadata: Option<Value>,
}

impl NewEntry {
    /// An entry with `action` and nothing else: a system action on no resource.
    pub fn new(action: impl Into<String>) -> Self {
        NewEntry {
            action: action.into(),
            ..NewEntry::default()
        }
    }

    /// Sets who acted (`None`: the system).
    pub fn actor(mut self, actor: Option<&dyn Subject>) -> Self {
        self.actor_type = actor.map(|a| a.subject_type().into_owned());
        self.actor_id = actor.map(|a| a.subject_id());
        self
    }

    /// Sets what was acted upon (`None`: nothing in particular).
    pub fn resource(mut self, resource: Option<&dyn Subject>) -> Self {
        self.resource_type = resource.map(|r| r.subject_type().into_owned());
        self.resource_id = resource.map(|r| r.subject_id());
        self
    }

    /// Sets the tenant the entry belongs to.
    pub fn account(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Sets the metadata; anything but a JSON object is refused when recorded.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Checks every rule of the entry and returns the value to store.
    pub(crate) fn validate(self) -> Result<ValidEntry, Invalid> {
        let action = parse_action(&self.action)?;
        let (actor_type, actor_id) =
            pair("actor_type", self.actor_type, "actor_id", self.actor_id)?;
        let (resource_type, resource_id) = pair(
            "resource_type",
            self.resource_type,
            "resource_id",
            self.resource_id,
        )?;
        let account_id = match self.account_id {
            Some(account) => Some(parse_entry_account_id(&account)?.to_owned()),
            None => match (&resource_type, &resource_id) {
                (Some(kind), Some(id)) if is_account_type(kind) => Some(id.clone()),
                _ => None,
            },
        };
        let (metadata_json, metadata) = match self.metadata {
            None => (String::from("{}"), Map::new()),
            Some(value) => checked_metadata(value)?,
        };
        Ok(ValidEntry {
            action,
            actor_type,
            actor_id,
            resource_type,
            resource_id,
            account_id,
            metadata,
            metadata_json,
        })
    }
}

/// An entry that passed every rule; only these reach the store.
#[derive(Debug, Clone)]
pub(crate) struct ValidEntry {
    pub(crate) action: String,
    pub(crate) actor_type: Option<String>,
    pub(crate) actor_id: Option<String>,
    pub(crate) resource_type: Option<String>,
    pub(crate) resource_id: Option<String>,
    pub(crate) account_id: Option<String>,
    pub(crate) metadata: Map<String, Value>,
    /// `metadata`, serialized: what is stored.
    pub(crate) metadata_json: String,
}

impl ValidEntry {
    /// The entry as the log holds it once committed with `id` at time `at` (µs), `hash`
    /// being its leaf hash in lowercase hex.
    pub(crate) fn into_entry(self, id: u64, at: i64, hash: String) -> Entry {
        Entry {
            id,
            inserted_at: time_from_micros(at),
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            account_id: self.account_id,
            metadata: self.metadata,
            hash,
        }
    }
}

/// Checks and trims an action: 1–255 characters, no control characters.
pub(crate) fn parse_action(raw: &str) -> Result<String, Invalid> {
    let action = raw.trim();
    if action.is_empty() {
        return Err(Invalid::new("action", Rule::Required));
    }
    check_text("action", action)?;
    Ok(action.to_owned())
}

/// Checks an account id to look up: 1–255 characters. Control characters are not
/// refused here, so that accounts an older log holds can still be read.
pub(crate) fn parse_account_id(raw: &str) -> Result<&str, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new("account_id", Rule::Empty));
    }
    check_chars("account_id", raw)?;
    Ok(raw)
}

/// Checks an account id to record: also free of control characters.
pub(crate) fn parse_entry_account_id(raw: &str) -> Result<&str, Invalid> {
    check_text("account_id", parse_account_id(raw)?)?;
    Ok(raw)
}

/// The control characters no string field may hold: U+0000–U+001F and U+007F.
pub(crate) fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}')
}

fn check_chars(field: &'static str, value: &str) -> Result<(), Invalid> {
    // Cheap first: 255 chars are at most 1020 bytes, at least 255.
    if value.len() > MAX_FIELD_CHARS && value.chars().count() > MAX_FIELD_CHARS {
        return Err(Invalid::new(
            field,
            Rule::TooLong {
                max: MAX_FIELD_CHARS,
                unit: "characters",
            },
        ));
    }
    Ok(())
}

/// Every string field of an entry: at most 255 characters, and no control characters,
/// which would reach terminals and line-based logs as escapes and line breaks. This
/// also keeps U+0000 out, which PostgreSQL's text cannot hold, so both engines refuse
/// the same entries.
fn check_text(field: &'static str, value: &str) -> Result<(), Invalid> {
    check_chars(field, value)?;
    if value.chars().any(is_control) {
        return Err(Invalid::new(field, Rule::ControlCharacter));
    }
    Ok(())
}

fn pair(
    type_field: &'static str,
    kind: Option<String>,
    id_field: &'static str,
    id: Option<String>,
) -> Result<(Option<String>, Option<String>), Invalid> {
    match (kind, id) {
        (None, None) => Ok((None, None)),
        (Some(_), None) => Err(Invalid::new(id_field, Rule::Pair { other: type_field })),
        (None, Some(_)) => Err(Invalid::new(type_field, Rule::Pair { other: id_field })),
        (Some(kind), Some(id)) => {
            for (field, value) in [(type_field, &kind), (id_field, &id)] {
                if value.is_empty() {
                    return Err(Invalid::new(field, Rule::Empty));
                }
                check_text(field, value)?;
            }
            Ok((Some(kind), Some(id)))
        }
    }
}

/// Whether a resource type names an account: `account` in any case, alone or as the
/// last segment of a path such as `app::Account` or `MyApp.Account`.
pub fn is_account_type(kind: &str) -> bool {
    let last = kind.rsplit(['.', ':']).next().unwrap_or(kind);
    last.eq_ignore_ascii_case("account")
}

/// Checks that metadata is an object of at most 64 KiB; gives it serialized too.
pub(crate) fn checked_metadata(value: Value) -> Result<(String, Map<String, Value>), Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::new("metadata", Rule::NotAnObject));
    };
    let json = serde_json::to_string(&map).unwrap_or_default();
    if json.len() > MAX_METADATA_BYTES {
        return Err(Invalid::new(
            "metadata",
            Rule::TooLong {
                max: MAX_METADATA_BYTES,
                unit: "bytes",
            },
        ));
    }
    Ok((json, map))
}

/// Metadata read back from the JSON a store keeps. Half the entries of a typical log
/// have none, stored as `{}`: those skip the parser, which long reads feel.
pub(crate) fn metadata_from_json(json: &str) -> serde_json::Result<Map<String, Value>> {
    if json == "{}" {
        return Ok(Map::new());
    }
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(entry: NewEntry) -> String {
        entry.validate().unwrap_err().to_string()
    }

    #[test]
    fn action_is_trimmed_and_checked() {
        let valid = NewEntry::new("  project.deleted \n").validate().unwrap();
        assert_eq!(valid.action, "project.deleted");
        assert_eq!(err(NewEntry::new("   ")), "action: is required");
        assert_eq!(
            err(NewEntry::new("a\u{7f}b")),
            "action: must not contain control characters (U+0000-U+001F, U+007F)"
        );
        assert_eq!(
            err(NewEntry::new("x".repeat(256))),
            "action: must be at most 255 characters"
        );
        // 255 four-byte characters are 255 characters, not 1020.
        assert!(NewEntry::new("😀".repeat(255)).validate().is_ok());
    }

    #[test]
    fn pairs_are_both_or_neither() {
        let mut e = NewEntry::new("a.b");
        e.actor_type = Some("user".into());
        assert_eq!(
            err(e),
            "actor_id: must be given together with actor_type (both or neither)"
        );
        let mut e = NewEntry::new("a.b");
        e.resource_id = Some("1".into());
        assert_eq!(
            err(e),
            "resource_type: must be given together with resource_id (both or neither)"
        );
        let e = NewEntry::new("a.b").actor(Some(&Ref::new("", 1)));
        assert_eq!(err(e), "actor_type: must not be empty");
    }

    #[test]
    fn account_is_inferred_from_account_resources() {
        for kind in ["account", "Account", "app::Account", "MyApp.ACCOUNT"] {
            let valid = NewEntry::new("a.b")
                .resource(Some(&Ref::new(kind, "acme")))
                .validate()
                .unwrap();
            assert_eq!(valid.account_id.as_deref(), Some("acme"), "{kind}");
        }
        for kind in ["accounts", "account_user", "project"] {
            let valid = NewEntry::new("a.b")
                .resource(Some(&Ref::new(kind, "acme")))
                .validate()
                .unwrap();
            assert_eq!(valid.account_id, None, "{kind}");
        }
        let valid = NewEntry::new("a.b")
            .resource(Some(&Ref::new("account", "acme")))
            .account("other")
            .validate()
            .unwrap();
        assert_eq!(valid.account_id.as_deref(), Some("other"));
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert_eq!(
            err(NewEntry::new("a.b").metadata(json!([1]))),
            "metadata: must be a JSON object"
        );
        let big = json!({ "k": "x".repeat(MAX_METADATA_BYTES) });
        assert_eq!(
            err(NewEntry::new("a.b").metadata(big)),
            "metadata: must be at most 65536 bytes"
        );
        assert_eq!(NewEntry::new("a.b").validate().unwrap().metadata_json, "{}");
    }

    #[test]
    fn times_format_with_six_digits() {
        let t = time::macros::datetime!(2026-11-26 13:45:01.1234567 UTC);
        assert_eq!(format_time(t), "2026-11-26T13:45:01.123456Z");
        assert_eq!(
            format_time(time_from_micros(micros(t))),
            "2026-11-26T13:45:01.123456Z"
        );
    }
}
