//! Checkpoints, proofs and `verify` on a log that nobody tampered with.

use std::time::Duration;

use hawk_audit::checkpoint::{Cadence, SigningKey};
use hawk_audit::merkle::{self, Hash};
use hawk_audit::{NewEntry, Options, Verify};

use crate::helpers::{TestDb, conformance};

conformance!(
    a_written_checkpoint_is_signed_stored_and_not_repeated,
    checkpoints_follow_the_cadence_and_one_is_written_at_close,
    new_entries_get_a_checkpoint_after_the_interval,
    inclusion_and_consistency_proofs_verify_against_checkpoints,
    proofs_in_a_larger_log_read_stored_subtrees_also_after_an_upgrade,
    a_clean_log_verifies_with_checkpoints_and_anchors,
    verify_sees_one_snapshot_while_entries_and_checkpoints_arrive,
);

async fn fill(audit: &hawk_audit::Audit, n: u64) {
    for i in 0..n {
        audit
            .record(NewEntry::new(format!("thing.{}", i % 3)).account(format!("a{}", i % 2)))
            .await
            .unwrap();
    }
}

async fn a_written_checkpoint_is_signed_stored_and_not_repeated(db: TestDb) {
    let audit = db.open().await;
    let key = SigningKey::generate("example.com/hawk").unwrap();
    assert_eq!(audit.checkpoint().await.unwrap(), None);
    fill(&audit, 5).await;
    let first = audit.write_checkpoint(&key).await.unwrap();
    assert_eq!(first.size, 5);
    let (size, root) = audit.tree_head().await.unwrap();
    assert_eq!((first.size, merkle::to_hex(&first.root)), (size, root));
    let parsed = key.verifier().verify(&first.note).unwrap();
    assert_eq!((parsed.size, parsed.root), (5, first.root));
    // Nothing new: the same checkpoint.
    assert_eq!(audit.write_checkpoint(&key).await.unwrap(), first);
    fill(&audit, 2).await;
    let second = audit.write_checkpoint(&key).await.unwrap();
    assert_eq!(second.size, 7);
    assert_eq!(audit.checkpoint().await.unwrap(), Some(second));
    assert_eq!(audit.checkpoint_at(5).await.unwrap(), Some(first));
}

/// Polls until the latest checkpoint covers `size` entries (or 10 s pass).
async fn latest_reaches(audit: &hawk_audit::Audit, size: u64) -> Option<u64> {
    let mut latest = None;
    for _ in 0..1000 {
        latest = audit.checkpoint().await.unwrap().map(|c| c.size);
        if latest >= Some(size) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latest
}

async fn checkpoints_follow_the_cadence_and_one_is_written_at_close(db: TestDb) {
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let cadence = Cadence {
        entries: 4,
        interval: Duration::from_secs(3600),
    };
    let audit = db
        .open_with(Options::default().checkpoints(key.clone(), cadence))
        .await;
    fill(&audit, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        audit.checkpoint().await.unwrap(),
        None,
        "3 entries are not enough"
    );
    fill(&audit, 1).await;
    assert_eq!(latest_reaches(&audit, 4).await, Some(4), "after 4 entries");
    fill(&audit, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(audit.checkpoint().await.unwrap().unwrap().size, 4);
    audit.close().await;
    let audit = db.open().await;
    assert_eq!(
        audit.checkpoint().await.unwrap().unwrap().size,
        5,
        "at close"
    );
}

async fn new_entries_get_a_checkpoint_after_the_interval(db: TestDb) {
    let key = SigningKey::generate("example.com/hawk").unwrap();
    fill(&db.open().await, 2).await;
    let cadence = Cadence {
        entries: 1000,
        interval: Duration::from_millis(300),
    };
    let audit = db
        .open_with(Options::default().checkpoints(key.clone(), cadence))
        .await;
    // The log had entries past any checkpoint when opened: one at once.
    assert_eq!(latest_reaches(&audit, 2).await, Some(2));
    fill(&audit, 1).await;
    assert_eq!(
        latest_reaches(&audit, 3).await,
        Some(3),
        "after the interval"
    );
    let verified = key
        .verifier()
        .verify(&audit.checkpoint().await.unwrap().unwrap().note)
        .unwrap();
    assert_eq!(verified.size, 3);
}

fn hash(hex: &str) -> Hash {
    merkle::hash_from_hex(hex).unwrap()
}

async fn inclusion_and_consistency_proofs_verify_against_checkpoints(db: TestDb) {
    let audit = db.open().await;
    let key = SigningKey::generate("example.com/hawk").unwrap();
    fill(&audit, 6).await;
    let six = audit.write_checkpoint(&key).await.unwrap();
    fill(&audit, 7).await;
    let entries = audit.entries_after(0, 100, None).await.unwrap();
    for entry in &entries {
        // Default size: the latest checkpoint when it covers the entry.
        let proof = audit.inclusion_proof(entry.id, None).await.unwrap();
        let expected_size = if entry.id <= 6 { 6 } else { 13 };
        assert_eq!(proof.tree_size, expected_size);
        assert_eq!(proof.leaf_hash, hash(&entry.hash));
        assert!(merkle::verify_inclusion(
            &proof.leaf_hash,
            proof.leaf_index,
            proof.tree_size,
            &proof.audit_path,
            &proof.root
        ));
        if entry.id <= 6 {
            assert_eq!(proof.root, six.root);
            assert_eq!(proof.checkpoint.as_deref(), Some(six.note.as_str()));
        }
        for size in entry.id..=13 {
            let proof = audit.inclusion_proof(entry.id, Some(size)).await.unwrap();
            assert!(merkle::verify_inclusion(
                &proof.leaf_hash,
                proof.leaf_index,
                size,
                &proof.audit_path,
                &proof.root
            ));
        }
    }
    for m in 0..=13 {
        for n in m..=13 {
            let proof = audit.consistency_proof(m, n).await.unwrap();
            assert!(
                merkle::verify_consistency(m, n, &proof.from_root, &proof.to_root, &proof.path),
                "{m} -> {n}"
            );
        }
    }
    let err = |r: hawk_audit::Result<_>| r.map(|_: hawk_audit::InclusionProof| ()).unwrap_err();
    assert!(matches!(
        err(audit.inclusion_proof(14, None).await),
        hawk_audit::Error::NotFound(_)
    ));
    assert_eq!(
        err(audit.inclusion_proof(0, None).await)
            .as_invalid()
            .unwrap()
            .field(),
        "id"
    );
    assert_eq!(
        err(audit.inclusion_proof(5, Some(4)).await)
            .as_invalid()
            .unwrap()
            .field(),
        "size"
    );
    assert_eq!(
        err(audit.inclusion_proof(5, Some(14)).await)
            .as_invalid()
            .unwrap()
            .field(),
        "size"
    );
    assert!(audit.consistency_proof(5, 14).await.is_err());
    assert!(audit.consistency_proof(6, 5).await.is_err());
}

async fn check_proofs(audit: &hawk_audit::Audit, root: Hash) {
    let ids = [1, 2, 255, 256, 257, 300, 512, 513, 700, 999, 1000];
    let sizes = [1, 255, 256, 257, 511, 512, 513, 768, 777, 999, 1000];
    for &id in &ids {
        for &size in sizes.iter().filter(|&&s| s >= id) {
            let p = audit.inclusion_proof(id, Some(size)).await.unwrap();
            assert!(
                merkle::verify_inclusion(&p.leaf_hash, id - 1, size, &p.audit_path, &p.root),
                "{id} in {size}"
            );
            if size == 1000 {
                assert_eq!(p.root, root);
            }
        }
    }
    for &m in &sizes {
        for &n in sizes.iter().filter(|&&n| n >= m) {
            let p = audit.consistency_proof(m, n).await.unwrap();
            assert!(
                merkle::verify_consistency(m, n, &p.from_root, &p.to_root, &p.path),
                "{m} -> {n}"
            );
        }
    }
}

async fn proofs_in_a_larger_log_read_stored_subtrees_also_after_an_upgrade(db: TestDb) {
    let audit = db.open().await;
    // Batches of odd sizes, so subtrees complete inside and across commits.
    let mut written = 0;
    for batch in [1usize, 254, 2, 300, 443] {
        let entries = (0..batch)
            .map(|i| NewEntry::new(format!("bulk.{}", (written + i) % 7)))
            .collect();
        audit.record_batch(entries).await.unwrap();
        written += batch;
    }
    assert_eq!(written, 1000);
    let (_, root) = audit.tree_head().await.unwrap();
    let root = hash(&root);
    check_proofs(&audit, root).await;
    let nodes = || {
        db.query_integers("SELECT CAST(level AS bigint), idx FROM tree_nodes ORDER BY level, idx")
    };
    let stored = nodes().await;
    assert_eq!(stored, [[8, 0], [8, 1], [8, 2], [9, 0]]);
    audit.close().await;

    // A log from before stored subtrees gets them when opened.
    db.batch_sql(&crate::helpers::before_stored_subtrees(&db))
        .await;
    let audit = db.open().await;
    assert_eq!(nodes().await, stored);
    check_proofs(&audit, root).await;
}

async fn a_clean_log_verifies_with_checkpoints_and_anchors(db: TestDb) {
    let audit = db.open().await;
    let key = SigningKey::generate("example.com/hawk").unwrap();
    let empty = audit.verify(Verify::default(), |_| {}).await.unwrap();
    assert!(empty.is_intact(), "{empty:?}");
    assert_eq!(empty.root, merkle::EMPTY_ROOT);
    let zero = audit.write_checkpoint(&key).await.unwrap();
    fill(&audit, 9).await;
    let nine = audit.write_checkpoint(&key).await.unwrap();
    fill(&audit, 3).await;
    audit.write_checkpoint(&key).await.unwrap();
    let report = audit
        .verify(
            Verify::default()
                .key(key.verifier())
                .anchor("zero", zero.note)
                .anchor("nine", nine.note),
            |_| {},
        )
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 12);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.anchors, 2);
    assert!(report.signatures_checked);
    let (_, root) = audit.tree_head().await.unwrap();
    assert_eq!(merkle::to_hex(&report.root), root);
    // A malformed anchor is an error, not a finding.
    let err = audit
        .verify(Verify::default().anchor("junk", "not a note"), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().unwrap().field(), "anchor");
}

async fn verify_sees_one_snapshot_while_entries_and_checkpoints_arrive(db: TestDb) {
    let audit = db.open().await;
    let key = SigningKey::generate("example.com/hawk").unwrap();
    fill(&audit, 50).await;
    let writer = {
        let (audit, key) = (audit.clone(), key.clone());
        tokio::spawn(async move {
            for round in 0..40 {
                let batch = (0..25).map(|i| NewEntry::new(format!("w.{i}"))).collect();
                audit.record_batch(batch).await.unwrap();
                if round % 5 == 0 {
                    audit.write_checkpoint(&key).await.unwrap();
                }
            }
        })
    };
    let mut runs = 0;
    while !writer.is_finished() || runs < 3 {
        let report = audit
            .verify(Verify::default().key(key.verifier()), |_| {})
            .await
            .unwrap();
        assert!(report.is_intact(), "{report:?}");
        runs += 1;
    }
    writer.await.unwrap();
    let report = audit.verify(Verify::default(), |_| {}).await.unwrap();
    assert_eq!(report.entries, 1050);
}
