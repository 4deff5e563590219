//! The query phrase: `actor:user:42 -action:login created:>=2026-10-01 paid`.
//!
//! Parsing is two steps. [`tokens`] splits the phrase at whitespace outside quotes
//! into words made of pieces, each piece quoted or not, so that a colon or a `-`
//! inside quotes never means anything. Each word then becomes one clause: a leading
//! unquoted `-` negates it, and a plain lowercase name before the first unquoted colon
//! makes it a qualifier. Every error names the field `q` and the 1-based character
//! position of the problem, so a user (or a dashboard) can point at it.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use super::{Filter, Instant, Predicate, TimeRange, end_of, midnight};
use crate::error::{Invalid, PhraseProblem, Rule};
use crate::query::Term;

/// Longest phrase accepted, in characters: room for many conditions, and a bound on
/// the work a hostile phrase can cause.
pub(crate) const MAX_PHRASE_CHARS: usize = 2048;

const QUALIFIERS: [&str; 10] = [
    "actor",
    "actor_type",
    "actor_id",
    "is",
    "resource",
    "resource_type",
    "resource_id",
    "account",
    "action",
    "created",
];

/// A run of characters inside a word, and whether it was quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    text: String,
    quoted: bool,
}

/// A whitespace-separated word of the phrase and where it starts.
#[derive(Debug)]
struct Word {
    position: usize,
    pieces: Vec<Piece>,
}

fn problem(position: usize, problem: PhraseProblem) -> Invalid {
    Invalid::new("q", Rule::Phrase { position, problem })
}

pub(super) fn parse(phrase: &str) -> Result<Filter, Invalid> {
    if phrase.chars().count() > MAX_PHRASE_CHARS {
        return Err(problem(MAX_PHRASE_CHARS + 1, PhraseProblem::TooLong));
    }
    let mut filter = Filter::new();
    for word in tokens(phrase)? {
        filter = clause(filter, word)?;
    }
    if filter.clauses.len() > super::MAX_PHRASE_CLAUSES {
        return Err(Invalid::new(
            "q",
            Rule::Malformed("holds more than 32 conditions"),
        ));
    }
    Ok(filter)
}

fn tokens(phrase: &str) -> Result<Vec<Word>, Invalid> {
    let mut words = Vec::new();
    let mut chars = phrase.chars().enumerate().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut plain = String::new();
        while let Some(&(at, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c != '"' {
                plain.push(c);
                continue;
            }
            if !plain.is_empty() {
                pieces.push(Piece {
                    text: std::mem::take(&mut plain),
                    quoted: false,
                });
            }
            let mut quoted = String::new();
            loop {
                match chars.next() {
                    None => return Err(problem(at + 1, PhraseProblem::UnterminatedQuote)),
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c @ ('"' | '\\'))) => quoted.push(c),
                        Some((bad, _)) => return Err(problem(bad + 1, PhraseProblem::BadEscape)),
                        None => return Err(problem(at + 1, PhraseProblem::UnterminatedQuote)),
                    },
                    Some((_, c)) => quoted.push(c),
                }
            }
            pieces.push(Piece {
                text: quoted,
                quoted: true,
            });
        }
        if !plain.is_empty() {
            pieces.push(Piece {
                text: plain,
                quoted: false,
            });
        }
        words.push(Word {
            position: start + 1,
            pieces,
        });
    }
    Ok(words)
}

/// Splits pieces at the first colon outside quotes: `(before, after)`, or `None`
/// when there is none.
fn split_colon(pieces: &[Piece]) -> Option<(Vec<Piece>, Vec<Piece>)> {
    let at = pieces
        .iter()
        .position(|p| !p.quoted && p.text.contains(':'))?;
    let (head, rest) = pieces[at].text.split_once(':')?;
    let mut before = pieces[..at].to_vec();
    if !head.is_empty() {
        before.push(Piece {
            text: head.to_owned(),
            quoted: false,
        });
    }
    let mut after = Vec::new();
    if !rest.is_empty() {
        after.push(Piece {
            text: rest.to_owned(),
            quoted: false,
        });
    }
    after.extend_from_slice(&pieces[at + 1..]);
    Some((before, after))
}

fn joined(pieces: &[Piece]) -> String {
    pieces.iter().map(|p| p.text.as_str()).collect()
}

/// A qualifier's name: unquoted lowercase letters and underscores only.
fn qualifier_name(pieces: &[Piece]) -> Option<String> {
    match pieces {
        [
            Piece {
                text,
                quoted: false,
            },
        ] if !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            Some(text.clone())
        }
        _ => None,
    }
}

fn clause(filter: Filter, mut word: Word) -> Result<Filter, Invalid> {
    let mut negated = false;
    if let Some(first) = word.pieces.first_mut()
        && !first.quoted
        && first.text.len() > 1
        && first.text.starts_with('-')
    {
        first.text.remove(0);
        negated = true;
    } else if let [first, ..] = word.pieces.as_slice()
        && !first.quoted
        && first.text == "-"
        && word.pieces.len() > 1
    {
        word.pieces.remove(0);
        negated = true;
    }
    let position = word.position + usize::from(negated);
    let add = |filter: Filter, predicate| {
        if negated {
            filter.without(predicate)
        } else {
            filter.with(predicate)
        }
    };

    let Some((name, value)) = split_colon(&word.pieces) else {
        // A bare word: a term the action must contain.
        let Some(term) = Term::parse(Some(&joined(&word.pieces))) else {
            return Ok(filter);
        };
        let predicate = Predicate::Search(term.into_inner());
        return match predicate.validate() {
            Ok(()) => Ok(add(filter, predicate)),
            Err(invalid) => Err(problem(position, value_problem(&invalid))),
        };
    };
    let Some(name) = qualifier_name(&name) else {
        return Err(problem(position, PhraseProblem::UnknownQualifier));
    };
    if !QUALIFIERS.contains(&name.as_str()) {
        return Err(problem(position, PhraseProblem::UnknownQualifier));
    }
    let value_at = position + name.chars().count() + 1;
    if value.iter().all(|p| p.text.is_empty()) {
        return Err(problem(value_at, PhraseProblem::EmptyValue));
    }
    let text = joined(&value);
    if text.chars().count() > crate::entry::MAX_FIELD_CHARS {
        return Err(problem(value_at, PhraseProblem::ValueTooLong));
    }
    let type_and_id = || match split_colon(&value) {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
            Ok((Some(joined(&kind)), Some(joined(&id))))
        }
        _ => Err(problem(value_at, PhraseProblem::TypeAndId)),
    };
    let predicate = match name.as_str() {
        "actor" => {
            let (kind, id) = type_and_id()?;
            Predicate::Actor { kind, id }
        }
        "resource" => {
            let (kind, id) = type_and_id()?;
            Predicate::Resource { kind, id }
        }
        "actor_type" => Predicate::Actor {
            kind: Some(text),
            id: None,
        },
        "actor_id" => Predicate::Actor {
            kind: None,
            id: Some(text),
        },
        "resource_type" => Predicate::Resource {
            kind: Some(text),
            id: None,
        },
        "resource_id" => Predicate::Resource {
            kind: None,
            id: Some(text),
        },
        "account" => Predicate::Account(text),
        "action" => {
            let action = text.trim();
            if action.is_empty() {
                return Err(problem(value_at, PhraseProblem::EmptyValue));
            }
            Predicate::Action(action.to_owned())
        }
        "is" if text == "system" => Predicate::System,
        "is" => return Err(problem(value_at, PhraseProblem::UnknownIs)),
        "created" => Predicate::Created(created(&value, value_at)?),
        _ => return Err(problem(position, PhraseProblem::UnknownQualifier)),
    };
    if let Err(invalid) = predicate.validate() {
        return Err(problem(value_at, value_problem(&invalid)));
    }
    Ok(add(filter, predicate))
}

/// The rule a value broke, said of the phrase: it points at the value, since the
/// field it would be compared with is not what the user typed.
fn value_problem(invalid: &Invalid) -> PhraseProblem {
    match invalid.rule() {
        Rule::ControlCharacter => PhraseProblem::ControlCharacter,
        Rule::TooLong { .. } => PhraseProblem::ValueTooLong,
        _ => PhraseProblem::EmptyValue,
    }
}

/// The value of `created:`: `>=T`, `>T`, `<T`, `<=T`, `A..B` or a date.
fn created(value: &[Piece], at: usize) -> Result<TimeRange, Invalid> {
    let text = joined(value);
    let text = text.trim();
    let bad = || problem(at, PhraseProblem::BadTime);
    let instant = |s: &str| parse_instant(s).ok_or_else(bad);
    let range = if let Some(rest) = text.strip_prefix(">=") {
        TimeRange {
            since: Some(start_of(instant(rest)?)),
            until: None,
        }
    } else if let Some(rest) = text.strip_prefix("<=") {
        TimeRange {
            since: None,
            until: Some(after(instant(rest)?)),
        }
    } else if let Some(rest) = text.strip_prefix('>') {
        TimeRange {
            since: Some(after(instant(rest)?)),
            until: None,
        }
    } else if let Some(rest) = text.strip_prefix('<') {
        TimeRange {
            since: None,
            until: Some(start_of(instant(rest)?)),
        }
    } else if let Some((a, b)) = text.split_once("..") {
        let bound = |s: &str| (s.trim() != "*").then(|| instant(s.trim())).transpose();
        TimeRange {
            since: bound(a)?.map(start_of),
            // A date runs through its whole day; a timestamp is the exclusive end.
            until: bound(b)?.map(|end| match end {
                Instant::Day(day) => end_of(day),
                Instant::Time(t) => t,
            }),
        }
    } else {
        match instant(text)? {
            Instant::Day(day) => TimeRange {
                since: Some(midnight(day)),
                until: Some(end_of(day)),
            },
            // One instant is a range of one microsecond: almost surely not meant.
            Instant::Time(_) => return Err(bad()),
        }
    };
    if range.is_empty() {
        return Err(problem(at, PhraseProblem::EmptyRange));
    }
    Ok(range)
}

fn start_of(instant: Instant) -> OffsetDateTime {
    match instant {
        Instant::Time(t) => t,
        Instant::Day(day) => midnight(day),
    }
}

/// The first instant after `instant`: the next microsecond (the precision times are
/// stored with), or the next day's midnight; saturating at the end of the calendar,
/// where nothing is stored.
fn after(instant: Instant) -> OffsetDateTime {
    match instant {
        Instant::Time(t) => t.saturating_add(Duration::MICROSECOND),
        Instant::Day(day) => end_of(day),
    }
}

/// An RFC 3339 time (normalised to UTC) or a `YYYY-MM-DD` date. A time whose UTC
/// instant lies outside the calendar (`9999-12-31T23:00:00-01:00`) is none.
pub(super) fn parse_instant(s: &str) -> Option<Instant> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return t.checked_to_offset(UtcOffset::UTC).map(Instant::Time);
    }
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(Instant::Day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::PrimitiveDateTime;
    use time::macros::datetime;

    fn clauses(phrase: &str) -> Vec<(bool, Predicate)> {
        Filter::parse(phrase)
            .unwrap_or_else(|e| panic!("{phrase}: {e}"))
            .clauses
            .into_iter()
            .map(|c| (c.negated, c.predicate))
            .collect()
    }

    fn error(phrase: &str) -> (usize, PhraseProblem) {
        let err = Filter::parse(phrase).unwrap_err();
        assert_eq!(err.field(), "q", "{phrase}");
        match err.rule() {
            Rule::Phrase { position, problem } => (position, problem),
            other => panic!("{phrase}: {other:?}"),
        }
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn qualifiers_and_words_become_clauses() {
        assert_eq!(
            clauses("actor:user:42 resource_type:project account:acme action:order.paid is:system"),
            vec![
                (
                    false,
                    Predicate::Actor {
                        kind: some("user"),
                        id: some("42")
                    }
                ),
                (
                    false,
                    Predicate::Resource {
                        kind: some("project"),
                        id: None
                    }
                ),
                (false, Predicate::Account("acme".into())),
                (false, Predicate::Action("order.paid".into())),
                (false, Predicate::System),
            ]
        );
        assert_eq!(
            clauses("  Order  -PAID actor_id:7 resource_id:9 resource:doc:a actor_type:bot "),
            vec![
                (false, Predicate::Search("order".into())),
                (true, Predicate::Search("paid".into())),
                (
                    false,
                    Predicate::Actor {
                        kind: None,
                        id: some("7")
                    }
                ),
                (
                    false,
                    Predicate::Resource {
                        kind: None,
                        id: some("9")
                    }
                ),
                (
                    false,
                    Predicate::Resource {
                        kind: some("doc"),
                        id: some("a")
                    }
                ),
                (
                    false,
                    Predicate::Actor {
                        kind: some("bot"),
                        id: None
                    }
                ),
            ]
        );
        assert!(clauses("   ").is_empty());
    }

    #[test]
    fn quotes_keep_spaces_colons_and_escapes() {
        assert_eq!(
            clauses(r#"actor:user:"Jane Doe" resource:"a:b":c:d "x \"y\" \\z""#),
            vec![
                (
                    false,
                    Predicate::Actor {
                        kind: some("user"),
                        id: some("Jane Doe")
                    }
                ),
                (
                    false,
                    Predicate::Resource {
                        kind: some("a:b"),
                        id: some("c:d")
                    }
                ),
                (false, Predicate::Search(r#"x "y" \z"#.into())),
            ]
        );
        // A quoted word is never a qualifier, nor negated.
        assert_eq!(
            clauses(r#""actor:x" "-login""#),
            vec![
                (false, Predicate::Search("actor:x".into())),
                (false, Predicate::Search("-login".into())),
            ]
        );
        // An id may contain colons: TYPE:ID splits at the first one.
        assert_eq!(
            clauses("actor:svc:urn:x:1"),
            vec![(
                false,
                Predicate::Actor {
                    kind: some("svc"),
                    id: some("urn:x:1")
                }
            )]
        );
    }

    #[test]
    fn any_qualifier_can_be_negated() {
        assert_eq!(
            clauses(r#"-is:system -account:acme -action:login -"#),
            vec![
                (true, Predicate::System),
                (true, Predicate::Account("acme".into())),
                (true, Predicate::Action("login".into())),
                (false, Predicate::Search("-".into())),
            ]
        );
        assert_eq!(
            clauses(r#"-"user login""#),
            vec![(true, Predicate::Search("user login".into()))]
        );
    }

    fn range(phrase: &str) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
        match clauses(phrase).as_slice() {
            [(false, Predicate::Created(r))] => (r.since, r.until),
            other => panic!("{phrase}: {other:?}"),
        }
    }

    #[test]
    fn a_date_means_its_whole_utc_day() {
        let d5 = Some(datetime!(2026-10-05 0:00 UTC));
        let d6 = Some(datetime!(2026-10-06 0:00 UTC));
        let d8 = Some(datetime!(2026-10-08 0:00 UTC));
        assert_eq!(range("created:2026-10-05"), (d5, d6));
        assert_eq!(range("created:>=2026-10-05"), (d5, None));
        assert_eq!(range("created:>2026-10-05"), (d6, None));
        assert_eq!(range("created:<2026-10-05"), (None, d5));
        assert_eq!(range("created:<=2026-10-05"), (None, d6));
        assert_eq!(range("created:2026-10-05..2026-10-07"), (d5, d8));
        assert_eq!(range("created:2026-10-05..*"), (d5, None));
        assert_eq!(range("created:*..2026-10-07"), (None, d8));
    }

    #[test]
    fn timestamps_are_exact_and_b_is_exclusive() {
        let t = datetime!(2026-10-05 02:00 UTC);
        assert_eq!(range("created:>=2026-10-05T02:00:00Z"), (Some(t), None));
        assert_eq!(
            range("created:>2026-10-05T04:00:00+02:00"),
            (Some(t + Duration::MICROSECOND), None)
        );
        assert_eq!(
            range("created:<=2026-10-05T02:00:00Z").1,
            Some(t + Duration::MICROSECOND)
        );
        assert_eq!(
            range("created:2026-10-05T02:00:00Z..2026-10-05T03:00:00Z"),
            (Some(t), Some(datetime!(2026-10-05 03:00 UTC)))
        );
        assert_eq!(
            range(r#"created:"2026-10-05T02:00:00Z..2026-10-06""#),
            (Some(t), Some(datetime!(2026-10-07 0:00 UTC)))
        );
    }

    #[test]
    fn errors_name_q_and_point_at_the_problem() {
        assert_eq!(
            error("paid colour:red"),
            (6, PhraseProblem::UnknownQualifier)
        );
        assert_eq!(error("Actor:user:1"), (1, PhraseProblem::UnknownQualifier));
        assert_eq!(
            error(r#"x actor:user:"Jane"#),
            (14, PhraseProblem::UnterminatedQuote)
        );
        assert_eq!(error(r#""a\n""#), (4, PhraseProblem::BadEscape));
        assert_eq!(error("actor_id:"), (10, PhraseProblem::EmptyValue));
        assert_eq!(error(r#"account:"""#), (9, PhraseProblem::EmptyValue));
        assert_eq!(error("-actor:user"), (8, PhraseProblem::TypeAndId));
        assert_eq!(error("actor::42"), (7, PhraseProblem::TypeAndId));
        assert_eq!(error("is:admin"), (4, PhraseProblem::UnknownIs));
        assert_eq!(error("created:yesterday"), (9, PhraseProblem::BadTime));
        assert_eq!(
            error("created:2026-10-05T02:00:00Z"),
            (9, PhraseProblem::BadTime)
        );
        assert_eq!(error("created:2026-02-30"), (9, PhraseProblem::BadTime));
        assert_eq!(
            error("created:2026-10-07..2026-10-05"),
            (9, PhraseProblem::EmptyRange)
        );
        let long = format!("account:{}", "a".repeat(256));
        assert_eq!(error(&long), (9, PhraseProblem::ValueTooLong));
        assert_eq!(
            error("account:\u{1b}[2J"),
            (9, PhraseProblem::ControlCharacter)
        );
        let huge = "a ".repeat(MAX_PHRASE_CHARS);
        assert_eq!(error(&huge).1, PhraseProblem::TooLong);
        // Positions count characters, not bytes.
        assert_eq!(error("été bad:x"), (5, PhraseProblem::UnknownQualifier));
        let message = Filter::parse("paid colour:red").unwrap_err().to_string();
        assert!(
            message.starts_with("q: at character 6: unknown qualifier"),
            "{message}"
        );
    }

    #[test]
    fn times_at_the_end_of_the_calendar_saturate_rather_than_panic() {
        // Broke: `created:9999-12-31` panicked adding a day past year 9999, `>T` at its last microsecond adding one, and an offset carrying a time past it converting to UTC.
        let last = PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(
            range("created:9999-12-31"),
            (Some(datetime!(9999-12-31 0:00 UTC)), Some(last))
        );
        assert_eq!(range("created:>9999-12-31").0, Some(last));
        assert_eq!(range("created:<=9999-12-31").1, Some(last));
        assert_eq!(range("created:>9999-12-31T23:59:59.999999Z").0, Some(last));
        assert_eq!(
            error("created:>=9999-12-31T23:59:59-01:00"),
            (9, PhraseProblem::BadTime)
        );
        assert!(super::super::parse_time_bound("since", "9999-12-31T23:00:00-01:00").is_err());
    }

    #[test]
    fn too_many_conditions_are_refused() {
        let phrase = "a ".repeat(super::super::MAX_PHRASE_CLAUSES + 1);
        assert_eq!(Filter::parse(&phrase).unwrap_err().field(), "q");
    }
}
