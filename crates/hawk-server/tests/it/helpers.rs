//! Shared scaffolding: a fresh log with its server state, requests through
//! `oneshot`, and a real server on a loopback port.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hawk_audit::{Audit, Entry, Events, NewEntry, Options};
use http_body_util::BodyExt;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// A fresh log in its own directory, opened with a bus, and the app over it.
pub(crate) struct TestApp {
    pub(crate) audit: Audit,
    pub(crate) bus: Events,
    pub(crate) url: String,
    _dir: TempDir,
}

/// What a request got back.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// Asserts this is the error object with `status`, `code` and `field`.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: StatusCode, code: &str, field: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.content_type(), "application/json", "{}", self.text);
        let body = self.json();
        let error = &body["error"];
        assert_eq!(error["code"], code, "body: {body}");
        assert_eq!(error["field"].as_str(), field, "body: {body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {body}"
        );
    }
}

impl TestApp {
    pub(crate) async fn new() -> TestApp {
        TestApp::with_options(Options::default()).await
    }

    /// A fresh log opened with `options` (and a bus).
    pub(crate) async fn with_options(options: Options) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("hawk.db").display());
        TestApp::open(url, dir, options).await
    }

    /// The app over the log at `url` (with `dir` kept as long as the app).
    pub(crate) async fn open(url: String, dir: TempDir, options: Options) -> TestApp {
        let bus = Events::new();
        let audit = Audit::open_with(&url, options.events(bus.clone()))
            .await
            .expect("open the log");
        TestApp {
            audit,
            bus,
            url,
            _dir: dir,
        }
    }

    /// The database file.
    pub(crate) fn path(&self) -> std::path::PathBuf {
        self._dir.path().join("hawk.db")
    }

    pub(crate) fn router(&self) -> Router {
        hawk_server::router(hawk_server::AppState::new(
            self.audit.clone(),
            self.bus.clone(),
        ))
    }

    /// `method uri` with an optional JSON body, through a fresh router.
    pub(crate) async fn call(&self, method: Method, uri: &str, body: Option<&str>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        send(self.router(), req).await
    }

    /// `method uri` with an optional JSON body and `Authorization: Bearer key`,
    /// through `router`.
    pub(crate) async fn call_as(
        &self,
        router: &Router,
        key: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        send(router.clone(), req).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    pub(crate) async fn post(&self, uri: &str, body: &str) -> Reply {
        self.call(Method::POST, uri, Some(body)).await
    }

    /// `POST /v1/entries` with `body` and the header `Idempotency-Key: key` (raw bytes),
    /// through a fresh router.
    pub(crate) async fn post_with_key(&self, key: &[u8], body: &str) -> Reply {
        let req = Request::post("/v1/entries")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                "Idempotency-Key",
                axum::http::HeaderValue::from_bytes(key).unwrap(),
            )
            .body(Body::from(body.to_owned()))
            .unwrap();
        send(self.router(), req).await
    }

    /// Records `action` with optional account.
    pub(crate) async fn track(&self, action: &str, account: Option<&str>) -> Entry {
        let mut entry = NewEntry::new(action);
        entry.account_id = account.map(str::to_owned);
        self.audit.record(entry).await.expect("record")
    }

    /// The newest id.
    pub(crate) async fn head(&self) -> u64 {
        self.audit.head().await.unwrap()
    }
}

/// Sends one request through `app` and reads the whole reply.
pub(crate) async fn send(app: Router, req: Request<Body>) -> Reply {
    let response = app.oneshot(req).await.expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("a body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

/// The ids of a JSON array of entries.
pub(crate) fn ids(entries: &Value) -> Vec<u64> {
    entries
        .as_array()
        .unwrap_or_else(|| panic!("an array: {entries}"))
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

/// The real server on a loopback port, serving until `stop` is called.
pub(crate) struct Running {
    pub(crate) base: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) async fn start(app: &TestApp) -> Running {
        Running::start_with(app, hawk_server::ServeOptions::default()).await
    }

    /// The server over `app` with connection limits of its own.
    pub(crate) async fn start_with(app: &TestApp, options: hawk_server::ServeOptions) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state =
            hawk_server::AppState::new(app.audit.clone(), app.bus.clone()).serve_options(options);
        let task = tokio::spawn(hawk_server::serve_state(listener, state, async move {
            let _ = stopped.await;
        }));
        Running {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signals shutdown and waits for `serve` to return.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().expect("serve ends cleanly");
    }
}
