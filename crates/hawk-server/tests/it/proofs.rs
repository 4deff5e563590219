//! `GET /v1/checkpoint`, `GET /v1/proof/{id}` and `GET /v1/proof/consistency`: the
//! signed note as text, proofs that verify with `hawk_audit::merkle`, the error
//! objects, and a key bound to an account proving only its own entries.

use axum::http::{Method, StatusCode};
use hawk_audit::Scope;
use hawk_audit::checkpoint::SigningKey;
use hawk_audit::merkle::{self, Hash};
use serde_json::Value;

use crate::helpers::TestApp;

fn hash(v: &Value) -> Hash {
    merkle::hash_from_hex(v.as_str().unwrap()).unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

#[tokio::test]
async fn the_latest_checkpoint_is_served_as_a_signed_note() {
    let app = TestApp::new().await;
    app.get("/v1/checkpoint")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    for _ in 0..3 {
        app.track("doc.edit", Some("acme")).await;
    }
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let written = app.audit.write_checkpoint(&key).await.unwrap();
    let reply = app.get("/v1/checkpoint").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "text/plain; charset=utf-8");
    assert_eq!(reply.text, written.note);
    let checkpoint = key.verifier().verify(&reply.text).unwrap();
    assert_eq!(checkpoint.size, 3);
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains("\nhawk_checkpoint_size 3\n"), "{metrics}");
    assert!(metrics.contains("\nhawk_checkpoint_timestamp_seconds "));
}

#[tokio::test]
async fn proofs_verify_offline_and_bad_parameters_are_named() {
    let app = TestApp::new().await;
    let mut hashes_by_id = vec![String::new()];
    for i in 0..7 {
        let entry = app.track(&format!("doc.v{i}"), Some("acme")).await;
        hashes_by_id.push(entry.hash);
    }
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let five = app.audit.consistency_proof(5, 5).await.unwrap().to_root;
    app.audit.write_checkpoint(&key).await.unwrap();
    for id in 1..=7u64 {
        let reply = app.get(&format!("/v1/proof/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let body = reply.json();
        assert_eq!(body["id"], id);
        assert_eq!(body["leaf_index"], id - 1);
        assert_eq!(body["leaf_hash"], hashes_by_id[id as usize]);
        let size = body["tree_size"].as_u64().unwrap();
        assert!(merkle::verify_inclusion(
            &hash(&body["leaf_hash"]),
            id - 1,
            size,
            &hashes(&body["audit_path"]),
            &hash(&body["root"]),
        ));
        // The checkpoint in the body vouches for the root.
        let checkpoint = key
            .verifier()
            .verify(body["checkpoint"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            (checkpoint.size, checkpoint.root),
            (size, hash(&body["root"]))
        );
    }
    let body = app.get("/v1/proof/2?size=5").await.json();
    assert_eq!(body["tree_size"], 5);
    assert_eq!(hash(&body["root"]), five);
    assert_eq!(body["checkpoint"], Value::Null);

    let body = app.get("/v1/proof/consistency?from=5&to=7").await.json();
    assert!(merkle::verify_consistency(
        5,
        7,
        &hash(&body["from_root"]),
        &hash(&body["to_root"]),
        &hashes(&body["proof"]),
    ));
    assert_eq!(body["from_checkpoint"], Value::Null);
    assert!(body["to_checkpoint"].is_string());

    let cases = [
        ("/v1/proof/8", StatusCode::NOT_FOUND, "not_found", None),
        (
            "/v1/proof/0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            Some("id"),
        ),
        (
            "/v1/proof/x",
            StatusCode::BAD_REQUEST,
            "malformed",
            Some("id"),
        ),
        (
            "/v1/proof/3?size=x",
            StatusCode::BAD_REQUEST,
            "malformed",
            Some("size"),
        ),
        (
            "/v1/proof/3?size=2",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            Some("size"),
        ),
        (
            "/v1/proof/3?size=9",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            Some("size"),
        ),
        (
            "/v1/proof/consistency?from=1",
            StatusCode::BAD_REQUEST,
            "required",
            Some("to"),
        ),
        (
            "/v1/proof/consistency?to=1",
            StatusCode::BAD_REQUEST,
            "required",
            Some("from"),
        ),
        (
            "/v1/proof/consistency?from=3&to=9",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            Some("to"),
        ),
        (
            "/v1/proof/consistency?from=4&to=3",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            Some("from"),
        ),
    ];
    for (uri, status, code, field) in cases {
        app.get(uri).await.assert_error(status, code, field);
    }
}

#[tokio::test]
async fn a_key_bound_to_an_account_proves_only_its_own_entries() {
    let app = TestApp::new().await;
    app.track("invoice.paid", Some("acme")).await;
    app.track("secret.globex", Some("globex")).await;
    app.track("system.ran", None).await;
    let acme = app
        .audit
        .create_key(Scope::Read, Some("acme"))
        .await
        .unwrap()
        .0;
    let router = app.router();
    let get = |uri: &'static str| {
        let (app, router, acme) = (&app, &router, &acme);
        async move {
            app.call_as(router, Some(acme), Method::GET, uri, None)
                .await
        }
    };
    assert_eq!(get("/v1/proof/1").await.status, StatusCode::OK);
    for uri in ["/v1/proof/2", "/v1/proof/3", "/v1/proof/4"] {
        get(uri)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found", None);
    }
    // The tree's shape reveals no entry: consistency proofs are allowed.
    assert_eq!(
        get("/v1/proof/consistency?from=1&to=3").await.status,
        StatusCode::OK
    );
}
