//! Two servers on one PostgreSQL database, as two processes would run them: what one
//! accepts, the other's live tail delivers.

use hawk_audit::Options;
use hawk_testing::PgDb;
use serde_json::json;

use crate::helpers::{Running, TestApp};
use crate::socket::EventReader;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tail_of_one_server_shows_what_another_accepted() {
    let Some(db) = PgDb::new("live_tail_of_one_server_shows_what_another_accepted").await else {
        return;
    };
    let dir = || tempfile::tempdir().expect("a temporary directory");
    let (a, b) = (
        TestApp::open(db.url(), dir(), Options::default()).await,
        TestApp::open(db.url(), dir(), Options::default()).await,
    );
    let (server_a, server_b) = (Running::start(&a).await, Running::start(&b).await);
    let client = reqwest::Client::new();
    let response = client
        .get(server_b.url("/v1/stream?after=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut tail = EventReader::new(response);

    let posted = client
        .post(server_a.url("/v1/entries"))
        .json(&json!({"action": "accepted.by.a", "account_id": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let (id, entry) = tail.next().await;
    assert_eq!((id, entry["action"].as_str()), (1, Some("accepted.by.a")));

    // And the other way round, through the bus of B, while A's tail listens.
    let response = client
        .get(server_a.url("/v1/stream?after=1"))
        .send()
        .await
        .unwrap();
    let mut tail_a = EventReader::new(response);
    let emitted = client
        .post(server_b.url("/v1/events"))
        .json(&json!({"name": "emitted.on.b", "payload": {"account_id": "acme"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(emitted.status(), 202);
    let (id, entry) = tail_a.next().await;
    assert_eq!((id, entry["action"].as_str()), (2, Some("emitted.on.b")));
    assert_eq!(tail.next().await.0, 2);

    // A checkpoint signed through A is B's to serve, and B proves A's entry against it.
    let key = hawk_audit::checkpoint::SigningKey::generate("example.com/hawk").unwrap();
    let signed = a.audit.write_checkpoint(&key).await.unwrap();
    let note = client
        .get(server_b.url("/v1/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(note, signed.note);
    let proof: serde_json::Value = client
        .get(server_b.url("/v1/proof/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hash = |v: &serde_json::Value| hawk_audit::merkle::hash_from_hex(v.as_str().unwrap());
    let path: Vec<_> = proof["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h).unwrap())
        .collect();
    assert_eq!(proof["tree_size"], 2);
    assert!(hawk_audit::merkle::verify_inclusion(
        &hash(&proof["leaf_hash"]).unwrap(),
        0,
        2,
        &path,
        &signed.root,
    ));

    server_a.stop().await;
    server_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_their_key_is_revoked_on_postgres() {
    // Broke: a live tail or an export opened with a key kept delivering after the key
    // was revoked (here by another handle on the shared database).
    let Some(db) = PgDb::new("streams_end_when_their_key_is_revoked_on_postgres").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = TestApp::open(db.url(), dir, Options::default()).await;
    crate::hardening::streams_end_when_their_key_is_revoked_on(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reaching_another_server_was_stored_twice() {
    // Retries of one POST under one Idempotency-Key that reach different servers on one
    // database (several at once) must store the entries once and answer each with them.
    let Some(db) = PgDb::new("a_retry_reaching_another_server_was_stored_twice").await else {
        return;
    };
    let dir = || tempfile::tempdir().expect("a temporary directory");
    let (a, b) = (
        TestApp::open(db.url(), dir(), Options::default()).await,
        TestApp::open(db.url(), dir(), Options::default()).await,
    );
    let body = json!([
        {"action": "order.placed", "account_id": "acme"},
        {"action": "order.paid", "account_id": "acme", "metadata": {"n": 1}},
    ])
    .to_string();
    let apps = std::sync::Arc::new([a, b]);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (apps, body) = (std::sync::Arc::clone(&apps), body.clone());
            tokio::spawn(async move { apps[i % 2].post_with_key(b"pay-42", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.text);
        answers.push(reply.json());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(crate::helpers::ids(&answers[0]), vec![1, 2]);
    let other = json!({"action": "order.refunded"}).to_string();
    apps[1].post_with_key(b"pay-42", &other).await.assert_error(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "reused",
        Some("Idempotency-Key"),
    );
    assert_eq!(apps[0].head().await, 2);
    assert_eq!(apps[1].head().await, 2);
}
