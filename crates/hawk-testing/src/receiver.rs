//! A webhook receiver on loopback that checks every Standard Webhooks signature,
//! keeps every batch it accepts, and can be told to refuse a share of them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One batch as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub ids: Vec<u64>,
    pub body: Value,
    pub raw: String,
}

#[derive(Default)]
struct Inner {
    /// When set, a request whose signature does not verify with it fails the test.
    secret: Option<String>,
    accepted: Vec<Received>,
    refused: u64,
    /// Percent of deliveries refused with a 503.
    fail_percent: u64,
    /// Each answer comes after a random wait of up to this many milliseconds.
    slow_ms: u64,
    /// The headers of every request.
    headers: Vec<HeaderMap>,
}

/// The receiver: its address and what it got.
#[allow(missing_debug_implementations)]
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on the current runtime.
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Receiver { addr, inner };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(accept))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// From now on, every request must be signed with `secret`.
    pub fn expect_signed_with(&self, secret: String) {
        self.inner.lock().unwrap().secret = Some(secret);
    }

    /// From now on, each answer waits up to `ms` milliseconds, at random.
    pub fn slow(&self, ms: u64) {
        self.inner.lock().unwrap().slow_ms = ms;
    }

    pub fn fail_percent(&self, percent: u64) {
        self.inner.lock().unwrap().fail_percent = percent;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.inner.lock().unwrap().accepted.clone()
    }

    pub fn refused(&self) -> u64 {
        self.inner.lock().unwrap().refused
    }

    pub fn all_headers(&self) -> Vec<HeaderMap> {
        self.inner.lock().unwrap().headers.clone()
    }

    /// Every entry id accepted, in arrival order (duplicates included).
    pub fn ids(&self) -> Vec<u64> {
        self.accepted().into_iter().flat_map(|r| r.ids).collect()
    }

    /// Waits until `want` distinct ids have arrived (at most 30 s).
    pub async fn wait_for(&self, want: usize) -> Vec<u64> {
        let started = std::time::Instant::now();
        loop {
            let mut ids = self.ids();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() >= want {
                return ids;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{} of {want} entries arrived",
                ids.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn accept(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let slow_ms = receiver.inner.lock().unwrap().slow_ms;
    if slow_ms > 0 {
        let mut random = [0u8; 2];
        getrandom::fill(&mut random).unwrap();
        let wait = u64::from(u16::from_le_bytes(random)) % slow_ms;
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
    let secret = receiver.inner.lock().unwrap().secret.clone();
    if let Some(secret) = &secret {
        let timestamp: i64 = header("webhook-timestamp").parse().expect("a timestamp");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - timestamp).abs() < 300, "a fresh timestamp");
        let expected = hawk_streams::webhook::sign(secret, &id, timestamp, &body).unwrap();
        assert_eq!(
            header("webhook-signature"),
            expected,
            "the signature verifies"
        );
    }
    let mut inner = receiver.inner.lock().unwrap();
    inner.headers.push(headers.clone());
    let mut random = [0u8; 1];
    getrandom::fill(&mut random).unwrap();
    if u64::from(random[0]) * 100 / 256 < inner.fail_percent {
        inner.refused += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ids = body["entries"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["id"].as_u64().unwrap()).collect())
        .unwrap_or_default();
    inner.accepted.push(Received { id, ids, body, raw });
    StatusCode::NO_CONTENT
}
