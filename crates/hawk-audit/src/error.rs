//! The one error type of the library.

use std::fmt;

/// Everything that can go wrong in Hawk.
///
/// Invalid input never reaches the store: it is refused with [`Error::Invalid`] before
/// anything is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller gave a value that breaks a rule; nothing was written.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed (I/O, disk full, corruption, lock timeout).
    #[error("storage error: {message}")]
    Storage {
        /// What failed, in words; already says what `source` says.
        message: String,
        /// The driver's (or the system's) error beneath it, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The audit log was closed or its writer stopped.
    #[error("the audit log is closed")]
    Closed,
    /// The checkpoint signing key cannot be read, created or used.
    #[error("signing key: {0}")]
    SigningKey(String),
}

impl Error {
    /// A storage failure said in `message`, with no error beneath it.
    pub(crate) fn storage(message: impl fmt::Display) -> Self {
        Error::Storage {
            message: message.to_string(),
            source: None,
        }
    }

    /// A storage failure said in `message`, caused by `source`.
    pub(crate) fn storage_from(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The same failure, its message prefixed with where it happened.
    pub(crate) fn in_context(self, context: impl fmt::Display) -> Self {
        match self {
            Error::Storage { message, source } => Error::Storage {
                message: format!("{context}: {message}"),
                source,
            },
            other => other,
        }
    }

    /// The validation error, if this is one.
    pub fn as_invalid(&self) -> Option<&Invalid> {
        match self {
            Error::Invalid(invalid) => Some(invalid),
            _ => None,
        }
    }
}

/// A driver's error. It becomes [`Error::Storage`] only inside the crate: a `From`
/// impl would make the driver's type, and so its version, part of the public API.
pub(crate) trait DriverError {
    /// The error as the library reports it, keeping `self` as its source.
    fn into_storage(self) -> Error;
}

/// No public conversion names a driver's type: outside the crate a driver's error
/// does not convert into [`Error`], though the drivers are in reach:
///
/// ```
/// fn drivers(_: rusqlite::Error, _: tokio_postgres::Error, _: deadpool_postgres::PoolError) {}
/// ```
///
/// ```compile_fail
/// fn storage(err: rusqlite::Error) -> hawk_audit::Error {
///     err.into()
/// }
/// ```
///
/// ```compile_fail
/// fn storage(err: tokio_postgres::Error) -> hawk_audit::Error {
///     err.into()
/// }
/// ```
///
/// ```compile_fail
/// fn storage(err: deadpool_postgres::PoolError) -> hawk_audit::Error {
///     err.into()
/// }
/// ```
#[cfg(doctest)]
pub struct NoDriverTypes;

/// `?` on a driver's result, as in `conn.execute(..).db()?`.
pub(crate) trait DbResult<T> {
    /// The result, its error as [`Error::Storage`].
    fn db(self) -> Result<T>;
}

impl<T, E: DriverError> DbResult<T> for std::result::Result<T, E> {
    fn db(self) -> Result<T> {
        self.map_err(E::into_storage)
    }
}

/// A broken input rule: which field, which rule, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    field: &'static str,
    rule: Rule,
    /// Position in a batch, when the input was one.
    index: Option<usize>,
}

/// The rule an input broke; stable machine-readable codes for HTTP and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// The field is required and was missing or empty.
    Required,
    /// The field is longer than its maximum (in characters or bytes).
    TooLong {
        /// The maximum allowed.
        max: usize,
        /// What is counted: `"characters"` or `"bytes"`.
        unit: &'static str,
    },
    /// The field is empty where at least one character is needed.
    Empty,
    /// The field holds a control character (U+0000–U+001F, U+007F).
    ControlCharacter,
    /// One of a type/id pair was given without the other.
    Pair {
        /// The field that must accompany this one.
        other: &'static str,
    },
    /// The metadata is not a JSON object.
    NotAnObject,
    /// A number below its minimum.
    AtLeast {
        /// Smallest allowed value.
        min: u64,
    },
    /// A number outside its allowed range.
    OutOfRange {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A value that cannot be parsed or is not allowed here.
    Malformed(&'static str),
    /// An idempotency key used before, within the last 24 hours, for other entries.
    Reused,
    /// A query phrase that cannot be parsed.
    Phrase {
        /// The 1-based character position of the problem in the phrase.
        position: usize,
        /// What is wrong there.
        problem: PhraseProblem,
    },
}

/// What is wrong in a query phrase (see [`Filter::parse`](crate::Filter::parse)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhraseProblem {
    /// A `name:` that is not one of the qualifiers.
    UnknownQualifier,
    /// A `"` without its closing `"`.
    UnterminatedQuote,
    /// A backslash inside quotes before anything but `"` or `\`.
    BadEscape,
    /// A qualifier without a value.
    EmptyValue,
    /// `actor:` or `resource:` without `TYPE:ID`.
    TypeAndId,
    /// `is:` with anything but `system`.
    UnknownIs,
    /// A time that is neither RFC 3339 nor a date, or a lone timestamp.
    BadTime,
    /// A time range whose start is not before its end.
    EmptyRange,
    /// A value over 255 characters.
    ValueTooLong,
    /// A value holding a control character.
    ControlCharacter,
    /// A phrase over 2,048 characters.
    TooLong,
}

impl fmt::Display for PhraseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhraseProblem::UnknownQualifier => {
                "unknown qualifier (known: actor, actor_type, actor_id, is, resource, \
                 resource_type, resource_id, account, action, created; quote a word \
                 to search for a colon)"
            }
            PhraseProblem::UnterminatedQuote => "unterminated quote",
            PhraseProblem::BadEscape => r#"inside quotes only \" and \\ are escapes"#,
            PhraseProblem::EmptyValue => "the qualifier has no value",
            PhraseProblem::TypeAndId => "expected TYPE:ID (e.g. actor:user:42)",
            PhraseProblem::UnknownIs => "is: takes only system",
            PhraseProblem::BadTime => {
                "expected a date (YYYY-MM-DD) or, after >=, >, <, <= or in A..B, an \
                 RFC 3339 time"
            }
            PhraseProblem::EmptyRange => {
                "the time range is empty (its start is not before its end)"
            }
            PhraseProblem::ValueTooLong => "a value must be at most 255 characters",
            PhraseProblem::ControlCharacter => {
                "a value must not contain control characters (U+0000-U+001F, U+007F)"
            }
            PhraseProblem::TooLong => "the phrase must be at most 2048 characters",
        })
    }
}

impl Invalid {
    /// `field` breaks `rule`: for code built on this crate (sinks' settings) to
    /// report bad input as the log itself does.
    pub fn new(field: &'static str, rule: Rule) -> Self {
        Invalid {
            field,
            rule,
            index: None,
        }
    }

    /// The same broken rule, reported under another field name.
    pub(crate) fn renamed(self, field: &'static str) -> Self {
        Invalid { field, ..self }
    }

    /// The same broken rule, at position `index` of a batch.
    pub(crate) fn at(self, index: usize) -> Self {
        Invalid {
            index: Some(index),
            ..self
        }
    }

    /// For a batch, the 0-based position of the offending item.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// The input field at fault, e.g. `action` or `metadata`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule that was broken.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// A short stable code for the rule, e.g. `too_long`.
    pub fn code(&self) -> &'static str {
        match self.rule {
            Rule::Required => "required",
            Rule::TooLong { .. } => "too_long",
            Rule::Empty => "empty",
            Rule::ControlCharacter => "control_character",
            Rule::Pair { .. } => "incomplete_pair",
            Rule::NotAnObject => "not_an_object",
            Rule::AtLeast { .. } | Rule::OutOfRange { .. } => "out_of_range",
            Rule::Malformed(_) => "malformed",
            Rule::Reused => "reused",
            Rule::Phrase { .. } => "malformed_query",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        if let Some(index) = self.index {
            write!(f, "item {index}: ")?;
        }
        match self.rule {
            Rule::Required => write!(f, "{field}: is required"),
            Rule::TooLong { max, unit } => write!(f, "{field}: must be at most {max} {unit}"),
            Rule::Empty => write!(f, "{field}: must not be empty"),
            Rule::ControlCharacter => write!(
                f,
                "{field}: must not contain control characters (U+0000-U+001F, U+007F)"
            ),
            Rule::Pair { other } => {
                write!(
                    f,
                    "{field}: must be given together with {other} (both or neither)"
                )
            }
            Rule::NotAnObject => write!(f, "{field}: must be a JSON object"),
            Rule::AtLeast { min } => write!(f, "{field}: must be at least {min}"),
            Rule::OutOfRange { min, max } => {
                write!(f, "{field}: must be between {min} and {max}")
            }
            Rule::Malformed(what) => write!(f, "{field}: {what}"),
            Rule::Reused => write!(
                f,
                "{field}: was used within the last 24 hours for a different body; \
                 a key may only be repeated with the same entries"
            ),
            Rule::Phrase { position, problem } => {
                write!(f, "{field}: at character {position}: {problem}")
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
