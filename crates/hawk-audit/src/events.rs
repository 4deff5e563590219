//! The in-process event bus and the supervised audit listener that records its events.
//!
//! Nothing is dropped silently: `emit` waits while a subscriber's queue is full
//! (back-pressure), the listener retries a failing store with backoff and restarts its
//! handler after a panic, keeping the event order, and [`Audit::flush`] waits until
//! every emitted event is durable.
//!
//! [`Audit::flush`]: crate::Audit::flush

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, mpsc, watch};

use crate::entry::{NewEntry, checked_metadata, parse_action, parse_entry_account_id};
use crate::error::{Invalid, Result, Rule};

/// Events a subscriber may have queued before `emit` waits for it.
const DEFAULT_CAPACITY: usize = 1024;
/// Most events the listener records in one transaction.
const LISTENER_BATCH: usize = 512;
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One event on the bus.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// Position on the bus: 1, 2, 3 … in emit order.
    pub seq: u64,
    /// The event name, e.g. `subscription.renewed`; recorded as the action.
    pub name: String,
    /// The payload object; `account_id` in it names the account.
    pub payload: Map<String, Value>,
}

impl Event {
    /// The entry the audit listener records for this event.
    pub(crate) fn to_entry(&self) -> NewEntry {
        let mut entry = NewEntry::new(self.name.clone());
        if let Some(account) = payload_account(&self.payload) {
            entry.resource_type = Some("account".into());
            entry.resource_id = Some(account.clone());
            entry.account_id = Some(account);
        }
        entry.metadata = Some(Value::Object(self.payload.clone()));
        entry
    }
}

/// `payload.account_id` as a string: strings as they are, integers in decimal.
fn payload_account(payload: &Map<String, Value>) -> Option<String> {
    match payload.get("account_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// The in-process event bus. Cheap to clone; every clone is the same bus.
#[derive(Clone)]
pub struct Events {
    bus: Arc<Bus>,
}

struct Bus {
    capacity: usize,
    /// Held across the sends of one emit, so every subscriber sees one order.
    subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
    /// The seq of the newest event handed to every subscriber.
    emitted: AtomicU64,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    /// A bus whose subscribers each queue up to 1024 events.
    pub fn new() -> Self {
        Events::with_capacity(DEFAULT_CAPACITY)
    }

    /// A bus whose subscribers each queue up to `capacity` events (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Events {
            bus: Arc::new(Bus {
                capacity: capacity.max(1),
                subscribers: Mutex::new(Vec::new()),
                emitted: AtomicU64::new(0),
            }),
        }
    }

    /// Emits an event to every subscriber, waiting while any of them is full.
    ///
    /// The name must be a valid action and the payload a JSON object of at most
    /// 64 KiB whose `account_id`, if present, is a string or an integer: an event the
    /// audit log could not record is refused here, at its source. Returns its `seq`.
    pub async fn emit(&self, name: impl Into<String>, payload: Value) -> Result<u64> {
        let event = check_event(name.into(), payload)?;
        let mut subscribers = self.bus.subscribers.lock().await;
        let seq = self.bus.emitted.load(Ordering::Acquire) + 1;
        let event = Event { seq, ..event };
        let mut gone = Vec::new();
        for (i, subscriber) in subscribers.iter().enumerate() {
            if subscriber.send(event.clone()).await.is_err() {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            subscribers.swap_remove(i);
        }
        self.bus.emitted.store(seq, Ordering::Release);
        Ok(seq)
    }

    /// A new subscription: it receives every event emitted from now on, in order.
    pub async fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::channel(self.bus.capacity);
        self.bus.subscribers.lock().await.push(tx);
        Subscription { rx }
    }

    /// The seq of the newest event delivered to every subscriber (0: none yet).
    pub fn emitted(&self) -> u64 {
        self.bus.emitted.load(Ordering::Acquire)
    }
}

pub(crate) fn check_event(name: String, payload: Value) -> Result<Event, Invalid> {
    let name = parse_action(&name).map_err(|e| e.renamed("name"))?;
    let (_, payload) = checked_metadata(payload).map_err(|e| e.renamed("payload"))?;
    match payload.get("account_id") {
        None | Some(Value::Null) => {}
        Some(_) => match payload_account(&payload) {
            Some(account) => {
                // Refused here, as the listener could never record it.
                parse_entry_account_id(&account).map_err(|e| e.renamed("payload.account_id"))?;
            }
            None => {
                return Err(Invalid::new(
                    "payload.account_id",
                    Rule::Malformed("must be a string or an integer"),
                ));
            }
        },
    }
    Ok(Event {
        seq: 0,
        name,
        payload,
    })
}

/// A subscriber's end of the bus.
pub struct Subscription {
    rx: mpsc::Receiver<Event>,
}

impl Subscription {
    /// The next event; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

/// Where the listener writes; the audit store in production, a faulty one in tests.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Records the entries of `events` atomically, in order.
    fn record(&self, events: Vec<Event>) -> impl Future<Output = Result<()>> + Send;
}

/// Counters of the audit listener, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStats {
    /// Events recorded.
    pub recorded: u64,
    /// Failed attempts to record (store errors), each retried.
    pub retries: u64,
    /// Handler panics, each followed by a restart.
    pub restarts: u64,
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    retries: AtomicU64,
    restarts: AtomicU64,
}

/// The running audit listener.
pub(crate) struct Listener {
    bus: Events,
    /// Seq of the newest event recorded durably.
    recorded: watch::Receiver<u64>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Subscribes to `bus` now (no event emitted after this returns is missed) and
    /// starts recording into `sink`.
    pub(crate) async fn start<S: Sink>(bus: Events, sink: Arc<S>) -> Listener {
        let subscription = bus.subscribe().await;
        // Events already on the bus before we subscribed are not ours to wait for.
        let (progress, recorded) = watch::channel(bus.emitted());
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(supervise(
            sink,
            subscription,
            progress,
            Arc::clone(&counters),
        ));
        Listener {
            bus,
            recorded,
            counters,
            task,
        }
    }

    /// Waits until every event emitted before the call is durable.
    pub(crate) async fn flush(&self) {
        let target = self.bus.emitted();
        let mut recorded = self.recorded.clone();
        // The listener only stops when the bus is gone, which `self.bus` prevents.
        let _ = recorded.wait_for(|&seq| seq >= target).await;
    }

    /// Waits until event `seq` (and every one before it) is durable; `false` if the
    /// listener stopped first.
    pub(crate) async fn recorded(&self, seq: u64) -> bool {
        let mut recorded = self.recorded.clone();
        recorded.wait_for(|&done| done >= seq).await.is_ok()
    }

    /// Whether this listener records `bus`.
    pub(crate) fn records(&self, bus: &Events) -> bool {
        Arc::ptr_eq(&self.bus.bus, &bus.bus)
    }

    pub(crate) fn stats(&self) -> ListenerStats {
        ListenerStats {
            recorded: self.counters.recorded.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            restarts: self.counters.restarts.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

/// The supervisor: takes events in order, hands each batch to a fresh handler task
/// and keeps the batch until that task reports it durable. A store error is retried
/// with exponential backoff; a panic restarts the handler on the same batch. The
/// handler commits all of a batch or none of it, so a retry never records twice.
async fn supervise<S: Sink>(
    sink: Arc<S>,
    mut subscription: Subscription,
    progress: watch::Sender<u64>,
    counters: Arc<Counters>,
) {
    let mut pending: Vec<Event> = Vec::new();
    let mut backoff = MIN_BACKOFF;
    loop {
        if pending.is_empty() {
            match subscription.recv().await {
                Some(event) => pending.push(event),
                None => return,
            }
            while pending.len() < LISTENER_BATCH {
                match subscription.rx.try_recv() {
                    Ok(event) => pending.push(event),
                    Err(_) => break,
                }
            }
        }
        let handler = {
            let sink = Arc::clone(&sink);
            let batch = pending.clone();
            tokio::spawn(async move { sink.record(batch).await })
        };
        match handler.await {
            Ok(Ok(())) => {
                let last = pending.last().map_or(0, |e| e.seq);
                counters
                    .recorded
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                pending.clear();
                progress.send_replace(last);
                backoff = MIN_BACKOFF;
                continue;
            }
            Ok(Err(err)) => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, events = pending.len(), ?backoff,
                    "audit listener could not record events; retrying");
            }
            Err(join) if join.is_panic() => {
                counters.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    events = pending.len(),
                    ?backoff,
                    "audit listener handler panicked; restarting it"
                );
            }
            Err(_) => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn emit_refuses_what_could_not_be_recorded() {
        let bus = Events::new();
        let err = bus.emit(" ", json!({})).await.unwrap_err();
        assert_eq!(err.to_string(), "name: is required");
        let err = bus.emit("a.b", json!([1])).await.unwrap_err();
        assert_eq!(err.to_string(), "payload: must be a JSON object");
        let err = bus
            .emit("a.b", json!({"account_id": true}))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload.account_id: must be a string or an integer"
        );
        let err = bus
            .emit("a.b", json!({"account_id": ""}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "payload.account_id: must not be empty");
        assert_eq!(bus.emitted(), 0);
    }

    // Regression: an account id with control characters passed `emit`, but the entry
    // rules refuse it, so the listener could never have recorded the event.
    #[tokio::test]
    async fn emit_refuses_an_account_id_with_control_characters() {
        let bus = Events::new();
        let err = bus
            .emit("a.b", json!({"account_id": "acme\u{1b}[2J"}))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload.account_id: must not contain control characters (U+0000-U+001F, U+007F)"
        );
        assert_eq!(bus.emitted(), 0);
    }

    #[tokio::test]
    async fn every_subscriber_sees_every_event_in_order() {
        let bus = Events::with_capacity(2);
        let mut a = bus.subscribe().await;
        let mut b = bus.subscribe().await;
        let emitter = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    bus.emit("tick", json!({ "i": i })).await.unwrap();
                }
            })
        };
        for expected in 1..=50 {
            assert_eq!(a.recv().await.unwrap().seq, expected);
            assert_eq!(b.recv().await.unwrap().seq, expected);
        }
        emitter.await.unwrap();
    }

    #[test]
    fn events_become_account_entries() {
        let event = check_event(
            "plan.changed".into(),
            json!({"account_id": 42, "plan": "pro"}),
        )
        .unwrap();
        let entry = event.to_entry().validate().unwrap();
        assert_eq!(entry.action, "plan.changed");
        assert_eq!(entry.resource_type.as_deref(), Some("account"));
        assert_eq!(entry.resource_id.as_deref(), Some("42"));
        assert_eq!(entry.account_id.as_deref(), Some("42"));
        assert_eq!(entry.actor_type, None);
        assert_eq!(entry.metadata_json, r#"{"account_id":42,"plan":"pro"}"#);
        let entry = check_event("tick".into(), json!({})).unwrap().to_entry();
        let entry = entry.validate().unwrap();
        assert_eq!((entry.resource_id, entry.account_id), (None, None));
    }
}

/// Fault injection: a store that fails on command and a handler that panics, under
/// which every event must still be recorded exactly once, in order.
#[cfg(test)]
mod fault_tests {
    use std::sync::atomic::{AtomicBool, AtomicU32};

    use serde_json::json;

    use super::*;
    use crate::location::Location;
    use crate::store::{Mode, Store};
    use crate::{Audit, Recent};

    struct FaultySink {
        store: Store,
        /// Attempts still to fail with a storage error.
        failures_left: AtomicU32,
        /// While set, every attempt fails (a store that is down).
        down: AtomicBool,
        /// Seqs whose batch panics (once each) before anything is written.
        panic_at: std::sync::Mutex<Vec<u64>>,
        /// When set to k, every k-th call panics before anything is written.
        panic_every: AtomicU64,
        calls: AtomicU64,
        panics: AtomicU64,
    }

    impl Sink for FaultySink {
        async fn record(&self, events: Vec<Event>) -> Result<()> {
            let trip = {
                let mut panic_at = self.panic_at.lock().unwrap();
                let hit = panic_at
                    .iter()
                    .position(|s| events.iter().any(|e| e.seq == *s));
                hit.map(|i| panic_at.remove(i))
            };
            if let Some(seq) = trip {
                panic!("injected panic at event {seq}");
            }
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let every = self.panic_every.load(Ordering::SeqCst);
            if every > 0 && call.is_multiple_of(every) {
                self.panics.fetch_add(1, Ordering::SeqCst);
                panic!("injected panic in call {call}");
            }
            if self.down.load(Ordering::SeqCst)
                || self
                    .failures_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(crate::Error::storage("injected failure"));
            }
            self.store.record(events).await
        }
    }

    async fn setup(
        failures: u32,
        panic_at: Vec<u64>,
        capacity: usize,
    ) -> (tempfile::TempDir, String, Arc<FaultySink>, Events, Listener) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        let store = Store::open(Location::parse(&url).unwrap(), None, Mode::default())
            .await
            .unwrap();
        let sink = Arc::new(FaultySink {
            store,
            failures_left: AtomicU32::new(failures),
            down: AtomicBool::new(false),
            panic_at: std::sync::Mutex::new(panic_at),
            panic_every: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        });
        let bus = Events::with_capacity(capacity);
        let listener = Listener::start(bus.clone(), Arc::clone(&sink)).await;
        (dir, url, sink, bus, listener)
    }

    /// Every event 0..n recorded exactly once, in emit order.
    async fn assert_recorded_once_in_order(url: &str, n: u64) {
        let audit = Audit::open(url).await.unwrap();
        let page = audit.recent(Recent::page(1, 1000)).await.unwrap();
        let got: Vec<u64> = page
            .entries
            .iter()
            .rev()
            .map(|e| e.metadata["i"].as_u64().unwrap())
            .collect();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_store_is_retried_until_every_event_is_recorded() {
        let (_dir, url, _sink, bus, listener) = setup(6, vec![], 16).await;
        for i in 0..200 {
            bus.emit("billing.charged", json!({ "i": i }))
                .await
                .unwrap();
        }
        listener.flush().await;
        assert_recorded_once_in_order(&url, 200).await;
        let stats = listener.stats();
        assert_eq!((stats.recorded, stats.retries, stats.restarts), (200, 6, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_is_restarted_without_losing_or_repeating_events() {
        let (_dir, url, _sink, bus, listener) = setup(0, vec![1, 50, 120], 16).await;
        for i in 0..200 {
            bus.emit("billing.charged", json!({ "i": i }))
                .await
                .unwrap();
        }
        listener.flush().await;
        assert_recorded_once_in_order(&url, 200).await;
        let stats = listener.stats();
        assert_eq!((stats.recorded, stats.restarts), (200, 3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_panicking_every_third_batch_under_concurrent_emits_loses_nothing() {
        const EMITTERS: u64 = 8;
        const EACH: u64 = 250;
        let (_dir, url, sink, bus, listener) = setup(0, vec![], 8).await;
        sink.panic_every.store(3, Ordering::SeqCst);
        let mut emitters = tokio::task::JoinSet::new();
        for e in 0..EMITTERS {
            let bus = bus.clone();
            emitters.spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let payload = json!({ "e": e, "i": i, "account_id": format!("a{e}") });
                    seqs.push((
                        bus.emit("load.tick", payload.clone()).await.unwrap(),
                        payload,
                    ));
                }
                seqs
            });
        }
        let mut by_seq: Vec<(u64, Value)> = emitters.join_all().await.concat();
        by_seq.sort_by_key(|(seq, _)| *seq);
        listener.flush().await;

        // The log was empty and the listener its only writer: entry n is event n.
        let audit = Audit::open(&url).await.unwrap();
        let total = EMITTERS * EACH;
        let stored = audit.entries_after(0, total + 1, None).await.unwrap();
        assert_eq!(stored.len() as u64, total, "lost or duplicated events");
        for (entry, (seq, payload)) in stored.iter().zip(&by_seq) {
            assert_eq!(entry.id, *seq);
            assert_eq!(
                &Value::Object(entry.metadata.clone()),
                payload,
                "event {seq}"
            );
        }
        let stats = listener.stats();
        let panics = sink.panics.load(Ordering::SeqCst);
        assert!(panics >= 3, "only {panics} panics: the load was too light");
        assert_eq!((stats.recorded, stats.restarts), (total, panics));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_holds_the_emitter_back_instead_of_dropping() {
        let (_dir, url, sink, bus, listener) = setup(0, vec![], 4).await;
        sink.down.store(true, Ordering::SeqCst);
        let emitter = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    bus.emit("billing.charged", json!({ "i": i }))
                        .await
                        .unwrap();
                }
            })
        };
        // With the store down, the listener holds one batch and the queue four more
        // events: the emitter must be waiting, not dropping.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!emitter.is_finished());
        assert!(bus.emitted() < 100, "emitted {}", bus.emitted());
        sink.down.store(false, Ordering::SeqCst);
        emitter.await.unwrap();
        listener.flush().await;
        assert_recorded_once_in_order(&url, 100).await;
        assert!(listener.stats().retries > 0);
    }
}
