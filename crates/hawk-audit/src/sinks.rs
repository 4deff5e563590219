//! Log streams: sinks that receive every entry (or those a filter keeps), in id
//! order, at least once.
//!
//! A sink is a row of the log's own database, so every process on one PostgreSQL
//! shares it: its name, kind and settings (what the delivery code of that kind reads),
//! a secret that listings never show, an optional filter phrase, its batch size, a
//! *cursor* (the newest id delivered) and its state. Delivery itself lives outside this
//! crate (`hawk-streams`); this module keeps the state it needs to be exact:
//!
//! - a *lease*: one holder at a time delivers a sink, renewing the lease as it goes; a
//!   holder that dies lets it expire, and another takes it over;
//! - the batch *in flight*: before it sends, the holder records the last id of the
//!   batch, so a holder that starts after a crash sends exactly that batch again
//!   (under the same delivery id) before anything newer;
//! - the cursor moves only when the receiver accepted the batch, and only from where
//!   the holder read it: a replay or another holder in between makes the move fail,
//!   and the holder starts again from the stored cursor.

use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::Audit;
use crate::entry::{is_control, micros, serialize_optional_time, serialize_time, time_from_micros};
use crate::error::{Error, Invalid, Result, Rule};
use crate::filter::Filter;
use crate::store::sink_ops::{self, SinkAnswer, SinkOp, SinkRow, Value};

/// Longest sink name, in characters.
pub const MAX_SINK_NAME: usize = 64;

/// Largest batch a sink may send at once.
pub const MAX_SINK_BATCH: u64 = crate::audit::MAX_BATCH as u64;

/// A sink to add; see [`Audit::add_sink`].
#[derive(Debug, Clone)]
pub struct NewSink {
    /// Unique; letters, digits, `-`, `_` and `.`, at most [`MAX_SINK_NAME`].
    pub name: String,
    /// What delivers it (`webhook`, `nats`, `s3`), read by the delivery code.
    pub kind: String,
    /// The kind's settings (a URL, a subject …), shown in listings.
    pub settings: serde_json::Value,
    /// A secret the kind needs (a signing key), kept but never listed.
    pub secret: Option<String>,
    /// Only entries this query phrase keeps (see [`Filter::parse`]).
    pub query: Option<String>,
    /// Most entries per delivery, 1–[`MAX_SINK_BATCH`].
    pub batch: u64,
    /// Deliver entries after this id (`None`: from the head, i.e. only new entries).
    pub after: Option<u64>,
}

/// Whether a sink delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SinkState {
    /// Delivering (or waiting for entries).
    Active,
    /// Stopped by `pause` until `resume`; entries wait at the cursor.
    Paused,
}

/// A sink as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sink {
    /// Its unique name.
    pub name: String,
    /// What delivers it.
    pub kind: String,
    /// The kind's settings.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// The kind's secret: never serialized.
    #[serde(skip)]
    pub secret: Option<String>,
    /// Its filter phrase, if any.
    pub query: Option<String>,
    /// Most entries per delivery.
    pub batch: u64,
    /// The newest id delivered (or skipped by the filter).
    pub cursor: u64,
    /// The last id of the batch being delivered, if one is.
    pub in_flight: Option<u64>,
    /// Replays so far: deliveries of one batch share an id within an epoch.
    pub epoch: u64,
    /// Active or paused.
    pub state: SinkState,
    /// Entries delivered since it was added.
    pub delivered: u64,
    /// Deliveries failed since the last that succeeded.
    pub failures: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(serialize_with = "serialize_optional_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_error_at: Option<OffsetDateTime>,
    /// Who holds the lease (a process's holder id), if anyone.
    pub holder: Option<String>,
    /// Until when.
    #[serde(serialize_with = "serialize_optional_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub lease_until: Option<OffsetDateTime>,
    /// When it was added.
    #[serde(serialize_with = "serialize_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

impl Sink {
    /// The entries this sink delivers, from its phrase.
    pub fn filter(&self) -> Result<Filter> {
        match &self.query {
            Some(q) => Ok(Filter::parse(q)?),
            None => Ok(Filter::new()),
        }
    }
}

impl TryFrom<SinkRow> for Sink {
    type Error = Error;

    fn try_from(row: SinkRow) -> Result<Sink> {
        let settings = serde_json::from_str(&row.settings)
            .map_err(|e| Error::storage_from(format!("sink {}'s stored settings", row.name), e))?;
        Ok(Sink {
            name: row.name,
            kind: row.kind,
            settings,
            secret: row.secret,
            query: row.query,
            batch: row.batch as u64,
            cursor: row.cursor as u64,
            in_flight: row.in_flight.map(|id| id as u64),
            epoch: row.epoch as u64,
            state: if row.paused != 0 {
                SinkState::Paused
            } else {
                SinkState::Active
            },
            delivered: row.delivered as u64,
            failures: row.failures as u64,
            last_error: row.last_error,
            last_error_at: row.last_error_at.map(time_from_micros),
            holder: row.holder,
            lease_until: row.lease_until.map(time_from_micros),
            created_at: time_from_micros(row.created_at),
        })
    }
}

/// Checks a sink name: the rule `hawk sinks` and `/v1/sinks/{name}` share.
pub fn check_sink_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::new("name", Rule::Required));
    }
    if name.chars().count() > MAX_SINK_NAME {
        return Err(Invalid::new(
            "name",
            Rule::TooLong {
                max: MAX_SINK_NAME,
                unit: "characters",
            },
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Invalid::new(
            "name",
            Rule::Malformed("may hold only letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

fn op(sql: &'static str, params: Vec<Value>, answer: sink_ops::Answer) -> SinkOp {
    SinkOp {
        sql,
        params,
        answer,
    }
}

fn now() -> i64 {
    micros(OffsetDateTime::now_utc())
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no sink named {name}"))
}

/// What a sink still owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SinkLag {
    /// Entries its filter keeps above its cursor.
    pub entries: u64,
    /// When the oldest of them was recorded.
    #[serde(serialize_with = "serialize_optional_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub oldest: Option<OffsetDateTime>,
}

/// A sink with what it still owes: what `hawk sinks list` and `GET /v1/sinks` show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SinkStatus {
    /// The sink.
    #[serde(flatten)]
    pub sink: Sink,
    /// What it has not delivered yet.
    pub lag: SinkLag,
}

/// Managing sinks.
impl Audit {
    /// Every sink, by name, with its lag.
    pub async fn sink_statuses(&self) -> Result<Vec<SinkStatus>> {
        let mut statuses = Vec::new();
        for sink in self.sinks().await? {
            let lag = self.sink_lag(&sink).await?;
            statuses.push(SinkStatus { sink, lag });
        }
        Ok(statuses)
    }

    /// What `sink` has not delivered yet: the entries its filter keeps above its
    /// cursor, and the time of the oldest.
    pub async fn sink_lag(&self, sink: &Sink) -> Result<SinkLag> {
        let view = self.filtered(sink.filter()?);
        let entries = view.count_after(sink.cursor).await?;
        let oldest = match entries {
            0 => None,
            _ => view
                .entries_after(sink.cursor, 1)
                .await?
                .first()
                .map(|e| e.inserted_at),
        };
        Ok(SinkLag { entries, oldest })
    }

    /// Adds a sink; its cursor starts at `after` (default: the head, so it delivers
    /// the entries appended from now on). Refuses a taken name, naming `name`.
    pub async fn add_sink(&self, sink: NewSink) -> Result<Sink> {
        check_sink_name(&sink.name)?;
        if sink.kind.is_empty() || sink.kind.chars().any(is_control) {
            return Err(Invalid::new("kind", Rule::Required).into());
        }
        if let Some(query) = &sink.query {
            Filter::parse(query)?.validate()?;
        }
        if !(1..=MAX_SINK_BATCH).contains(&sink.batch) {
            return Err(Invalid::new(
                "batch",
                Rule::OutOfRange {
                    min: 1,
                    max: MAX_SINK_BATCH,
                },
            )
            .into());
        }
        self.writable()?;
        let cursor = match sink.after {
            Some(after) => after,
            None => self.head().await?,
        };
        let settings = sink.settings.to_string();
        let changed = self
            .sink_op(op(
                sink_ops::INSERT,
                vec![
                    sink.name.as_str().into(),
                    sink.kind.as_str().into(),
                    settings.as_str().into(),
                    sink.secret.clone().into(),
                    sink.query.clone().into(),
                    (sink.batch as i64).into(),
                    (cursor.min(i64::MAX as u64) as i64).into(),
                    now().into(),
                ],
                sink_ops::Answer::Changed,
            ))
            .await?;
        if changed == 0 {
            return Err(Invalid::new("name", Rule::Malformed("is taken by another sink")).into());
        }
        self.sink(&sink.name)
            .await?
            .ok_or_else(|| not_found(&sink.name))
    }

    /// Every sink, by name.
    pub async fn sinks(&self) -> Result<Vec<Sink>> {
        self.sink_rows(op(sink_ops::LIST, vec![], sink_ops::Answer::Rows))
            .await
    }

    /// The sink named `name`, if there is one.
    pub async fn sink(&self, name: &str) -> Result<Option<Sink>> {
        let rows = self
            .sink_rows(op(sink_ops::GET, vec![name.into()], sink_ops::Answer::Rows))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Pauses (`paused`) or resumes a sink; entries wait at its cursor meanwhile.
    pub async fn set_sink_paused(&self, name: &str, paused: bool) -> Result<Sink> {
        self.change_sink(
            name,
            op(
                sink_ops::SET_PAUSED,
                vec![name.into(), i64::from(paused).into()],
                sink_ops::Answer::Changed,
            ),
        )
        .await
    }

    /// Delivers again from id `from` on: the cursor moves to `from - 1`.
    pub async fn replay_sink(&self, name: &str, from: u64) -> Result<Sink> {
        if from == 0 {
            return Err(Invalid::new("from", Rule::AtLeast { min: 1 }).into());
        }
        let cursor = (from - 1).min(i64::MAX as u64) as i64;
        self.change_sink(
            name,
            op(
                sink_ops::REPLAY,
                vec![name.into(), cursor.into()],
                sink_ops::Answer::Changed,
            ),
        )
        .await
    }

    /// Removes a sink; what it delivered stays delivered.
    pub async fn remove_sink(&self, name: &str) -> Result<()> {
        self.writable()?;
        let removed = self
            .sink_op(op(
                sink_ops::REMOVE,
                vec![name.into()],
                sink_ops::Answer::Changed,
            ))
            .await?;
        if removed == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    async fn change_sink(&self, name: &str, change: SinkOp) -> Result<Sink> {
        self.writable()?;
        if self.sink_op(change).await? == 0 {
            return Err(not_found(name));
        }
        self.sink(name).await?.ok_or_else(|| not_found(name))
    }

    async fn sink_op(&self, op: SinkOp) -> Result<u64> {
        match self.store().sinks(op).await? {
            SinkAnswer::Changed(n) => Ok(n),
            SinkAnswer::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    async fn sink_rows(&self, op: SinkOp) -> Result<Vec<Sink>> {
        match self.store().sinks(op).await? {
            SinkAnswer::Rows(rows) => rows.into_iter().map(Sink::try_from).collect(),
            SinkAnswer::Changed(_) => Ok(Vec::new()),
        }
    }
}

/// What a delivery holder does with a sink it leases.
impl Audit {
    /// Takes (or renews) the lease of an active sink for `holder` for `ttl`; the sink
    /// when `holder` holds it now, `None` when another live holder does, it is paused
    /// or it is gone.
    pub async fn lease_sink(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Sink>> {
        self.writable()?;
        let now = now();
        let until = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
        let rows = self
            .sink_rows(op(
                sink_ops::LEASE,
                vec![name.into(), holder.into(), now.into(), until.into()],
                sink_ops::Answer::Rows,
            ))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Gives up `holder`'s lease of a sink, so another may take it at once.
    pub async fn release_sink(&self, name: &str, holder: &str) -> Result<()> {
        self.writable()?;
        self.sink_op(op(
            sink_ops::RELEASE,
            vec![name.into(), holder.into()],
            sink_ops::Answer::Changed,
        ))
        .await
        .map(drop)
    }

    /// Records that `holder` is about to send the entries above `cursor` through
    /// `last`; `false` (nothing recorded) when it no longer holds the sink, the sink
    /// was paused, or its cursor moved.
    pub async fn begin_sink_batch(
        &self,
        name: &str,
        holder: &str,
        cursor: u64,
        last: u64,
    ) -> Result<bool> {
        self.writable()?;
        let changed = self
            .sink_op(op(
                sink_ops::BEGIN,
                vec![
                    name.into(),
                    holder.into(),
                    (cursor as i64).into(),
                    (last as i64).into(),
                ],
                sink_ops::Answer::Changed,
            ))
            .await?;
        Ok(changed == 1)
    }

    /// The receiver accepted `delivered` entries above `from` through `to`: the cursor
    /// moves to `to`. `false` (nothing moved) when `holder` no longer holds the sink or
    /// its cursor is no longer `from`.
    pub async fn advance_sink(
        &self,
        name: &str,
        holder: &str,
        from: u64,
        to: u64,
        delivered: u64,
    ) -> Result<bool> {
        self.writable()?;
        let changed = self
            .sink_op(op(
                sink_ops::ADVANCE,
                vec![
                    name.into(),
                    holder.into(),
                    (from as i64).into(),
                    (to as i64).into(),
                    (delivered as i64).into(),
                ],
                sink_ops::Answer::Changed,
            ))
            .await?;
        Ok(changed == 1)
    }

    /// Records a failed delivery by `holder` with its error.
    pub async fn sink_failed(&self, name: &str, holder: &str, error: &str) -> Result<()> {
        self.writable()?;
        let error: String = error.chars().take(1000).collect();
        self.sink_op(op(
            sink_ops::FAILED,
            vec![
                name.into(),
                holder.into(),
                error.as_str().into(),
                now().into(),
            ],
            sink_ops::Answer::Changed,
        ))
        .await
        .map(drop)
    }
}
