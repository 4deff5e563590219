//! The deliveries of one process: a task per active sink, and one that starts and
//! ends them as sinks are added, paused, resumed and removed.
//!
//! A sink's task repeats one step while it holds the sink's lease:
//!
//! 1. read the batch: the entries above the cursor that the filter keeps, at most the
//!    sink's batch size; or, when a batch is recorded in flight (a crash came between
//!    its send and the cursor's move), exactly that batch again;
//! 2. record it in flight (its last id) before sending, so that what a receiver may
//!    have seen is always what is sent again, under the same batch id;
//! 3. send it; on success move the cursor to its last id, from the cursor it was read
//!    at. A failure is recorded on the sink and the step waits, doubling up to a cap
//!    with jitter, then tries the same batch again, for as long as it takes.
//!
//! Every write is conditional on the holder still holding the lease and the cursor
//! still being where it was read, so a replay, a pause, or another process taking an
//! expired lease makes the step stop and start over from what is stored: two
//! processes never move one cursor, and the cursor never passes an entry that was not
//! accepted. When the filter keeps none of the new entries, the cursor moves past
//! them (delivering nothing), so a sink's lag counts only what it still owes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hawk_audit::{Audit, Sink, SinkState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Batch;
use crate::backoff;
use crate::kind::Kind;

/// How the deliveries of a process run.
#[derive(Debug, Clone)]
pub struct StreamsOptions {
    /// This process's name in leases: unique among the processes sharing a log.
    pub holder: String,
    /// How long a lease lasts unless renewed; another process takes a sink over this
    /// long after its holder died.
    pub lease: Duration,
    /// How often sinks are looked for, and idle sinks look for entries that the head
    /// watch did not announce.
    pub poll: Duration,
    /// The first wait after a failure, doubled on each failure after it.
    pub retry_first: Duration,
    /// The longest wait between tries.
    pub retry_cap: Duration,
}

impl StreamsOptions {
    /// The defaults, with a holder name made of the host's process id and a random
    /// part (two processes never share one).
    pub fn new() -> Self {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).expect("the operating system's random numbers");
        let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
        StreamsOptions {
            holder: format!("{}-{random}", std::process::id()),
            lease: Duration::from_secs(15),
            poll: Duration::from_secs(1),
            retry_first: Duration::from_millis(250),
            retry_cap: Duration::from_secs(60),
        }
    }
}

impl Default for StreamsOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The running deliveries of one process; [`Streams::stop`] ends them.
pub struct Streams {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Streams {
    /// Starts delivering every active sink of `audit`'s log that no other process
    /// holds.
    pub fn start(audit: Audit, options: StreamsOptions) -> Streams {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(audit, options, stopped));
        Streams { stop, task }
    }

    /// Stops every delivery (a batch being sent is sent again by the next holder) and
    /// gives up the leases, so another process may take the sinks at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts a task for each active sink without one, every `poll`, until stopped; then
/// waits for the tasks to end.
async fn supervise(audit: Audit, options: StreamsOptions, mut stopped: watch::Receiver<bool>) {
    let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        match audit.sinks().await {
            Ok(sinks) => {
                for sink in sinks {
                    if sink.state == SinkState::Active && !running.contains_key(&sink.name) {
                        let task = tokio::spawn(deliver(
                            audit.clone(),
                            sink.name.clone(),
                            options.clone(),
                            stopped.clone(),
                        ));
                        running.insert(sink.name, task);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not list the sinks"),
        }
        tokio::select! {
            _ = tokio::time::sleep(options.poll) => {}
            _ = stopped.changed() => break,
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

/// How long a batch waits for a signed checkpoint that covers it (see
/// `Delivery::checkpoint_covering`).
const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(600);

/// How long ago `entry` was recorded.
fn age(entry: &hawk_audit::Entry) -> Duration {
    let elapsed = time::OffsetDateTime::now_utc() - entry.inserted_at;
    elapsed.try_into().unwrap_or_default()
}

/// Why a step ended without delivering.
enum Pause {
    /// Nothing new: wait for the head to move.
    Idle,
    /// A batch waits to fill or to be covered by a checkpoint: look again after a
    /// poll, not at every commit (each look reads the batch again).
    Hold,
    /// The lease or the cursor changed under this holder: read the sink again.
    Lost,
    /// The delivery failed: wait, then try the same batch again.
    Failed(String),
}

/// The state of one sink's task between steps.
struct Delivery {
    audit: Audit,
    name: String,
    options: StreamsOptions,
    /// The sink as last leased, with the cursor and batch in flight kept current.
    sink: Option<Sink>,
    renewed: Instant,
    /// The receiver, built from the settings it was built for.
    kind: Option<(serde_json::Value, Kind)>,
    failures: u64,
}

/// Delivers sink `name` while it exists, is active and this process may hold it.
async fn deliver(
    audit: Audit,
    name: String,
    options: StreamsOptions,
    mut stopped: watch::Receiver<bool>,
) {
    let mut heads = audit.subscribe_head();
    let mut delivery = Delivery {
        audit,
        name,
        options,
        sink: None,
        renewed: Instant::now(),
        kind: None,
        failures: 0,
    };
    while !*stopped.borrow() {
        // How long to wait, and whether a new commit ends the wait early.
        let poll = delivery.options.poll;
        let (wait, on_commit) = match delivery.lease().await {
            Ok(true) => match delivery.step().await {
                Ok(()) => continue,
                Err(Pause::Idle) => (poll, true),
                Err(Pause::Hold) => (poll, false),
                Err(Pause::Lost) => {
                    delivery.sink = None;
                    continue;
                }
                Err(Pause::Failed(error)) => (delivery.failed(&error).await, false),
            },
            // Held by another process: look again within a lease.
            Ok(false) => match delivery.audit.sink(&delivery.name).await {
                Ok(Some(sink)) if sink.state == SinkState::Active => {
                    (delivery.options.lease / 3, false)
                }
                // Removed or paused: the supervisor starts a new task if it comes back.
                Ok(_) => break,
                Err(_) => (poll, false),
            },
            Err(err) => {
                tracing::warn!(sink = %delivery.name, error = %err, "could not lease the sink");
                (poll, false)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = heads.changed(), if on_commit => {}
            _ = stopped.changed() => {}
        }
    }
    if delivery.sink.is_some() {
        let _ = delivery
            .audit
            .release_sink(&delivery.name, &delivery.options.holder)
            .await;
    }
}

impl Delivery {
    /// Takes or renews the lease when a third of it has passed; whether it is held.
    async fn lease(&mut self) -> hawk_audit::Result<bool> {
        if self.sink.is_some() && self.renewed.elapsed() < self.options.lease / 3 {
            return Ok(true);
        }
        let started = Instant::now();
        let leased = self
            .audit
            .lease_sink(&self.name, &self.options.holder, self.options.lease)
            .await?;
        match leased {
            Some(sink) => {
                self.renewed = started;
                self.sink = Some(sink);
                Ok(true)
            }
            None => {
                self.sink = None;
                Ok(false)
            }
        }
    }

    /// Reads, records, sends and acknowledges one batch.
    async fn step(&mut self) -> Result<(), Pause> {
        let sink = self.sink.clone().ok_or(Pause::Lost)?;
        let kind = self.kind_for(&sink).await.map_err(Pause::Failed)?;
        let filter = sink.filter().map_err(|e| Pause::Failed(e.to_string()))?;
        let (cursor, batch_size, in_flight) = (sink.cursor, sink.batch, sink.in_flight);
        let failed = |e: hawk_audit::Error| Pause::Failed(e.to_string());
        let head = self.audit.head().await.map_err(failed)?;
        let found = self
            .audit
            .filtered(filter)
            .entries_after(cursor, batch_size)
            .await
            .map_err(failed)?;
        let (last, entries) = match in_flight {
            Some(last) => (last, found.into_iter().filter(|e| e.id <= last).collect()),
            None => {
                let newest = found.last().map_or(0, |e| e.id);
                // A short batch holds every kept entry up to the head read before it:
                // it covers the ids the filter skipped too.
                let last = if (found.len() as u64) < batch_size {
                    head.max(newest)
                } else {
                    newest
                };
                if last <= cursor {
                    return Err(Pause::Idle);
                }
                // A kind that closes batches by size or age (an archive's objects)
                // waits for more while the oldest entry is young enough.
                if let (Some(close), Some(oldest)) = (kind.close_after(), found.first())
                    && (found.len() as u64) < batch_size
                    && age(oldest) < close
                {
                    return Err(Pause::Hold);
                }
                if !self.begin(cursor, last).await? {
                    return Err(Pause::Lost);
                }
                (last, found)
            }
        };
        let checkpoint = match (kind.wants_checkpoint(), entries.last()) {
            (true, Some(newest)) => self.checkpoint_covering(newest, &entries[0]).await?,
            _ => None,
        };
        let batch = Batch {
            sink: self.name.clone(),
            epoch: sink.epoch,
            after: cursor,
            last,
            entries,
            checkpoint,
        };
        if !batch.entries.is_empty() {
            kind.deliver(&batch).await.map_err(Pause::Failed)?;
        }
        let moved = self
            .audit
            .advance_sink(
                &self.name,
                &self.options.holder,
                cursor,
                last,
                batch.entries.len() as u64,
            )
            .await
            .map_err(failed)?;
        if !moved {
            return Err(Pause::Lost);
        }
        self.failures = 0;
        if let Some(sink) = &mut self.sink {
            sink.cursor = last;
            sink.in_flight = None;
        }
        Ok(())
    }

    /// The latest signed checkpoint's note when it covers `newest`. While it does not
    /// yet, the step waits (the log signs one every few seconds to a minute), unless
    /// the log signs none or the batch's `oldest` entry has waited ten minutes: then
    /// the batch goes without.
    async fn checkpoint_covering(
        &self,
        newest: &hawk_audit::Entry,
        oldest: &hawk_audit::Entry,
    ) -> Result<Option<String>, Pause> {
        let latest = self
            .audit
            .checkpoint()
            .await
            .map_err(|e| Pause::Failed(e.to_string()))?;
        match latest {
            Some(checkpoint) if checkpoint.size >= newest.id => Ok(Some(checkpoint.note)),
            Some(_) if age(oldest) < CHECKPOINT_PATIENCE => Err(Pause::Hold),
            _ => Ok(None),
        }
    }

    /// Records the batch above `cursor` through `last` in flight; `false` when the
    /// sink moved on under this holder.
    async fn begin(&mut self, cursor: u64, last: u64) -> Result<bool, Pause> {
        let begun = self
            .audit
            .begin_sink_batch(&self.name, &self.options.holder, cursor, last)
            .await
            .map_err(|e| Pause::Failed(e.to_string()))?;
        if begun && let Some(sink) = &mut self.sink {
            sink.in_flight = Some(last);
        }
        Ok(begun)
    }

    /// The receiver of `sink`'s current settings, built once per settings.
    async fn kind_for(&mut self, sink: &Sink) -> Result<Kind, String> {
        if let Some((settings, kind)) = &self.kind
            && *settings == sink.settings
        {
            return Ok(kind.clone());
        }
        let kind = Kind::for_sink(sink).await?;
        self.kind = Some((sink.settings.clone(), kind.clone()));
        Ok(kind)
    }

    /// Records a failure on the sink; how long to wait before the next try.
    async fn failed(&mut self, error: &str) -> Duration {
        self.failures += 1;
        tracing::warn!(sink = %self.name, failures = self.failures, error, "delivery failed");
        if let Err(err) = self
            .audit
            .sink_failed(&self.name, &self.options.holder, error)
            .await
        {
            tracing::warn!(sink = %self.name, error = %err, "could not record a failed delivery");
        }
        backoff::delay(
            self.options.retry_first,
            self.options.retry_cap,
            self.failures,
        )
    }
}
