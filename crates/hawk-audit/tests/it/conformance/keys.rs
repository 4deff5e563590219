//! API keys: stored hashed, scoped and revocable.

use hawk_audit::{Error, Scope};

use crate::helpers::{TestDb, conformance};

conformance!(api_keys_are_stored_hashed_scoped_and_revocable);

async fn api_keys_are_stored_hashed_scoped_and_revocable(db: TestDb) {
    let audit = db.open().await;
    assert!(!audit.has_keys().await.unwrap());
    assert!(audit.keys().await.unwrap().is_empty());

    let (admin, admin_info) = audit.create_key(Scope::Admin, None).await.unwrap();
    let (reader, reader_info) = audit.create_key(Scope::Read, Some("acme")).await.unwrap();
    assert!(admin.starts_with(hawk_audit::KEY_PREFIX));
    assert_ne!(admin, reader);
    assert_eq!((admin_info.id, reader_info.id), (1, 2));
    assert_eq!(admin_info.scope, Scope::Admin);
    assert_eq!(admin_info.account_id, None);
    assert_eq!(reader_info.account_id.as_deref(), Some("acme"));
    assert!(admin.starts_with(&admin_info.prefix));
    assert!(audit.has_keys().await.unwrap());

    // Another handle (another process) sees the keys; only hashes are stored.
    let other = db.open().await;
    assert_eq!(
        other.authenticate(&admin).await.unwrap(),
        Some(admin_info.clone())
    );
    assert_eq!(
        other.authenticate(&reader).await.unwrap(),
        Some(reader_info.clone())
    );
    assert_eq!(
        other.keys().await.unwrap(),
        vec![admin_info.clone(), reader_info.clone()]
    );
    let listing = serde_json::to_string(&other.keys().await.unwrap()).unwrap();
    assert!(!listing.contains(&admin[13..]) && !listing.contains(&reader[13..]));

    // Near misses are not keys.
    let mut altered = admin.clone();
    altered.pop();
    altered.push(if admin.ends_with('0') { '1' } else { '0' });
    for wrong in [
        "",
        "hawk_",
        admin.as_str().trim_start_matches("hawk_"),
        &altered,
        &admin.to_uppercase(),
    ] {
        assert_eq!(audit.authenticate(wrong).await.unwrap(), None, "{wrong:?}");
    }

    // Bad input writes nothing.
    let err = audit
        .create_key(Scope::Write, Some("acme"))
        .await
        .unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    let err = audit.create_key(Scope::Read, Some("")).await.unwrap_err();
    assert_eq!(err.as_invalid().map(|i| i.field()), Some("account_id"));
    assert_eq!(audit.keys().await.unwrap().len(), 2);

    // Revoked keys authenticate nothing; the listing keeps them.
    let revoked = audit.revoke_key(1).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(audit.authenticate(&admin).await.unwrap(), None);
    assert!(audit.has_keys().await.unwrap(), "the reader is still live");
    assert_eq!(
        audit.revoke_key(1).await.unwrap().revoked_at,
        revoked.revoked_at
    );
    assert!(matches!(audit.revoke_key(9).await, Err(Error::NotFound(_))));
    audit.revoke_key(2).await.unwrap();
    assert!(!audit.has_keys().await.unwrap());
    assert_eq!(audit.keys().await.unwrap().len(), 2);
    // Keys are not entries.
    assert_eq!(audit.head().await.unwrap(), 0);
}
