//! The comparison baseline: HawkEx's own schema and SQL, on the same engine and data.
//!
//! This crate speaks SQL only for the baseline; Hawk itself is measured through its
//! public API. HawkEx keeps second-resolution timestamps, an index on each of
//! `actor_id`, `action`, `resource_id` and `inserted_at`, counts with `count(id)`,
//! pages with `ORDER BY inserted_at DESC LIMIT/OFFSET`, searches with an unescaped
//! `action ILIKE '%term%'` (on SQLite, `LIKE`, which is case-insensitive for ASCII),
//! and finds an account's entries with `WHERE resource_id = $1`.
//!
//! The operations and their SQL are written once, in [`Op`]; each engine only says
//! how it spells a case-insensitive match and the current time, and runs statements.

mod postgres;
mod sqlite;

use crate::BoxError;

pub(crate) use postgres::{PgBaseline, connect};
pub(crate) use sqlite::SqliteBaseline;

/// The columns HawkEx's queries return.
const COLUMNS: &str =
    "id, actor_id, actor_type, action, resource_id, resource_type, metadata, inserted_at";

/// A bound parameter of a baseline statement.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// What differs between the engines' SQL.
pub(crate) struct Dialect {
    /// The case-insensitive pattern match: `ILIKE` on PostgreSQL, `LIKE` on SQLite.
    pub(crate) like: &'static str,
    /// The current time as HawkEx stores it.
    pub(crate) now: &'static str,
    /// What follows a parameter holding a time as text to compare it with
    /// `inserted_at`.
    pub(crate) time_cast: &'static str,
}

/// One condition of a filtered listing on HawkEx's columns, as a careful user writes
/// it (each an indexed column where HawkEx has an index).
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// `actor_type = $ AND actor_id = $`.
    Actor(String, String),
    /// `actor_id IS NULL`: system entries.
    System,
    /// `resource_type = $`.
    ResourceType(String),
    /// `resource_type = $ AND resource_id = $`.
    Resource(String, String),
    /// `resource_id = $`: how HawkEx finds an account's entries.
    Account(String),
    /// `action LIKE '%term%'`.
    Term(String),
    /// `action NOT LIKE '%term%'`.
    NotTerm(String),
    /// `inserted_at >= $` (text `YYYY-MM-DDTHH:MM:SS`, as HawkEx stores times).
    Since(String),
    /// `inserted_at < $`.
    Until(String),
}

impl Cond {
    /// The SQL of the condition with its parameters numbered from `next`.
    fn sql(&self, d: &Dialect, params: &mut Vec<Param>) -> String {
        let mut param = |value: &str| {
            params.push(Param::Text(value.to_owned()));
            format!("${}", params.len())
        };
        match self {
            Cond::Actor(kind, id) => {
                format!("actor_type = {} AND actor_id = {}", param(kind), param(id))
            }
            Cond::System => "actor_id IS NULL".to_owned(),
            Cond::ResourceType(kind) => format!("resource_type = {}", param(kind)),
            Cond::Resource(kind, id) => format!(
                "resource_type = {} AND resource_id = {}",
                param(kind),
                param(id)
            ),
            Cond::Account(id) => format!("resource_id = {}", param(id)),
            Cond::Term(term) => format!("action {} {}", d.like, param(&format!("%{term}%"))),
            Cond::NotTerm(term) => {
                format!("action NOT {} {}", d.like, param(&format!("%{term}%")))
            }
            Cond::Since(at) => format!("inserted_at >= {}{}", param(at), d.time_cast),
            Cond::Until(at) => format!("inserted_at < {}{}", param(at), d.time_cast),
        }
    }
}

/// One HawkEx operation, as the dashboard and the application call it.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `recent/1`: a count, then a page by OFFSET, optionally filtered by action.
    Recent {
        page: u64,
        per_page: u64,
        term: Option<String>,
    },
    /// `search/2`: the newest `limit` entries whose action matches.
    Search { query: String, limit: u64 },
    /// Suggestions the HawkEx way (it has none): group the matching rows by action.
    Actions { query: String, limit: u64 },
    /// An account's first page: `WHERE resource_id = $1`, counted and paged.
    AccountPage { account: String, per_page: u64 },
    /// `for_account/1`: every entry of the account, newest first.
    AccountAll { account: String },
    /// A filtered listing: a count, then a page by OFFSET, newest first.
    Filtered {
        conds: Vec<Cond>,
        page: u64,
        per_page: u64,
    },
    /// `track/3`: one row per transaction, as an Ecto insert does.
    Track { action: String },
}

/// One statement to run: a count, rows to materialize, `(action, count)` groups, or a
/// write.
enum Statement {
    Count(String, Vec<Param>),
    Rows(String, Vec<Param>),
    Groups(String, Vec<Param>),
    Execute(String, Vec<Param>),
}

impl Op {
    /// The statements of this operation in `dialect`, in order.
    fn statements(&self, d: &Dialect) -> Vec<Statement> {
        use Param::{Int, Text};
        use Statement::{Count, Execute, Groups, Rows};
        let like = d.like;
        match self {
            Op::Recent {
                page,
                per_page,
                term,
            } => {
                let offset = Int(((page - 1) * per_page) as i64);
                let limit = Int(*per_page as i64);
                match term {
                    None => vec![
                        Count("SELECT count(id) FROM hawk_ex_audit_logs".into(), vec![]),
                        Rows(
                            format!(
                                "SELECT {COLUMNS} FROM hawk_ex_audit_logs
                                 ORDER BY inserted_at DESC LIMIT $1 OFFSET $2"
                            ),
                            vec![limit, offset],
                        ),
                    ],
                    Some(term) => {
                        let pattern = Text(format!("%{term}%"));
                        vec![
                            Count(
                                format!(
                                    "SELECT count(id) FROM hawk_ex_audit_logs WHERE action {like} $1"
                                ),
                                vec![pattern.clone()],
                            ),
                            Rows(
                                format!(
                                    "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE action {like} $1
                                     ORDER BY inserted_at DESC LIMIT $2 OFFSET $3"
                                ),
                                vec![pattern, limit, offset],
                            ),
                        ]
                    }
                }
            }
            Op::Search { query, limit } => vec![Rows(
                format!(
                    "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE action {like} $1
                     ORDER BY inserted_at DESC LIMIT $2"
                ),
                vec![Text(format!("%{query}%")), Int(*limit as i64)],
            )],
            Op::Actions { query, limit } => vec![Groups(
                format!(
                    "SELECT action, count(id) FROM hawk_ex_audit_logs WHERE action {like} $1
                     GROUP BY action ORDER BY count(id) DESC LIMIT $2"
                ),
                vec![Text(format!("%{query}%")), Int(*limit as i64)],
            )],
            Op::AccountPage { account, per_page } => vec![
                Count(
                    "SELECT count(id) FROM hawk_ex_audit_logs WHERE resource_id = $1".into(),
                    vec![Text(account.clone())],
                ),
                Rows(
                    format!(
                        "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE resource_id = $1
                         ORDER BY inserted_at DESC LIMIT $2"
                    ),
                    vec![Text(account.clone()), Int(*per_page as i64)],
                ),
            ],
            Op::AccountAll { account } => vec![Rows(
                format!(
                    "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE resource_id = $1
                     ORDER BY inserted_at DESC"
                ),
                vec![Text(account.clone())],
            )],
            Op::Filtered {
                conds,
                page,
                per_page,
            } => {
                let mut params = Vec::new();
                let wheres: Vec<String> = conds.iter().map(|c| c.sql(d, &mut params)).collect();
                let wheres = wheres.join(" AND ");
                let count = Count(
                    format!("SELECT count(id) FROM hawk_ex_audit_logs WHERE {wheres}"),
                    params.clone(),
                );
                let n = params.len();
                params.push(Int(*per_page as i64));
                params.push(Int(((page - 1) * per_page) as i64));
                let rows = Rows(
                    format!(
                        "SELECT {COLUMNS} FROM hawk_ex_audit_logs WHERE {wheres}
                         ORDER BY inserted_at DESC LIMIT ${} OFFSET ${}",
                        n + 1,
                        n + 2
                    ),
                    params,
                );
                vec![count, rows]
            }
            Op::Track { action } => vec![Execute(
                format!(
                    "INSERT INTO hawk_ex_audit_logs (actor_id, actor_type, action, inserted_at)
                     VALUES ('1', 'user', $1, {})",
                    d.now
                ),
                vec![Text(action.clone())],
            )],
        }
    }
}

/// HawkEx's table on one engine.
pub(crate) enum Baseline {
    Sqlite(SqliteBaseline),
    Postgres(PgBaseline),
}

impl Baseline {
    /// Runs `op`; returns the rows it materialized (or the count it read).
    pub(crate) async fn run(&self, op: &Op) -> Result<u64, BoxError> {
        let dialect = match self {
            Baseline::Sqlite(_) => sqlite::DIALECT,
            Baseline::Postgres(_) => postgres::DIALECT,
        };
        let mut last = 0;
        for statement in op.statements(&dialect) {
            last = match (self, statement) {
                (Baseline::Sqlite(b), Statement::Count(sql, p)) => b.count(&sql, &p)?,
                (Baseline::Sqlite(b), Statement::Rows(sql, p)) => b.rows(&sql, &p)?,
                (Baseline::Sqlite(b), Statement::Groups(sql, p)) => b.groups(&sql, &p)?,
                (Baseline::Sqlite(b), Statement::Execute(sql, p)) => b.execute(&sql, &p)?,
                (Baseline::Postgres(b), Statement::Count(sql, p)) => b.count(&sql, &p).await?,
                (Baseline::Postgres(b), Statement::Rows(sql, p)) => b.rows(&sql, &p).await?,
                (Baseline::Postgres(b), Statement::Groups(sql, p)) => b.groups(&sql, &p).await?,
                (Baseline::Postgres(b), Statement::Execute(sql, p)) => b.execute(&sql, &p).await?,
            };
        }
        Ok(last)
    }
}
