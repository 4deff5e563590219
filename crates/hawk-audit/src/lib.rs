//! Hawk: an append-only audit log for Rust services.
//!
//! Hawk records who did what to which resource and answers the questions an admin
//! dashboard asks: newest first with exact totals on any page, typeahead over actions,
//! one account's full history. It runs embedded on a SQLite file, or on PostgreSQL
//! (`postgres://…`) when several processes share one log.
//!
//! ```
//! use hawk_audit::{Audit, NewEntry, Recent, Ref};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> hawk_audit::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
//! let audit = Audit::open(&url).await?;
//! let alice = Ref::new("user", 42);
//! let acme = Ref::new("account", "acme");
//!
//! // Who did what to which resource; the account is inferred from the resource.
//! let entry = audit.track(Some(&alice), "plan.upgraded", Some(&acme)).await?;
//! assert_eq!(entry.account_id.as_deref(), Some("acme"));
//!
//! // The builder adds an account and metadata.
//! audit
//!     .record(
//!         NewEntry::new("invoice.paid")
//!             .account("acme")
//!             .metadata(serde_json::json!({ "amount": 1200 })),
//!     )
//!     .await?;
//!
//! let page = audit.recent(Recent::default().search("PLAN")).await?;
//! assert_eq!(page.total_count, 1);
//! assert_eq!(audit.for_account("acme").await?.len(), 2);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod audit;
pub mod checkpoint;
mod entry;
mod error;
mod events;
mod filter;
mod filtered;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod idempotency;
pub mod import;
mod keys;
mod location;
pub mod merkle;
mod postings;
mod proof;
mod query;
mod retention;
mod sinks;
mod store;
mod verify;
pub mod workload;

pub use audit::{
    Audit, DEFAULT_ACTIONS_LIMIT, DEFAULT_SEARCH_LIMIT, DEFAULT_URL, MAX_BATCH, Options,
};
pub use entry::{
    Entry, MAX_FIELD_CHARS, MAX_METADATA_BYTES, NewEntry, Ref, Subject, format_time,
    is_account_type,
};
pub use error::{Error, Invalid, PhraseProblem, Result, Rule};
pub use events::{Event, Events, ListenerStats, Subscription};
pub use filter::{
    Clause, Filter, MAX_CLAUSES, MAX_PHRASE_CLAUSES, Predicate, TimeRange, parse_time_bound,
};
pub use filtered::{AccountCount, Filtered, SubjectCount, TypeCount};
pub use keys::{KEY_PREFIX, KeyInfo, Scope};
pub use proof::{ConsistencyProof, InclusionProof};
pub use query::{ActionCount, MAX_LIMIT, MAX_PER_PAGE, Page, Recent};
pub use retention::{PrunePlan, Pruned};
pub use sinks::{
    MAX_SINK_BATCH, MAX_SINK_NAME, NewSink, Sink, SinkLag, SinkState, SinkStatus, check_sink_name,
};
/// The time crate, whose `OffsetDateTime` appears in this API.
pub use time;
pub use verify::{Report, Tamper, TamperKind, Verify};
