//! API keys: shown once, stored hashed, scoped, owner-only, revocable at once.

use crate::support::{TestResult, a_store, a_user, owner};
use store::StoreError;

#[tokio::test]
async fn keys_are_stored_hashed_scoped_and_revoked_at_once() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let mut tx = store.as_user(user).await?;
    let created = tx
        .api_key_create("CRM sync", &["read".into(), "send".into(), "read".into()])
        .await?;
    tx.commit().await?;
    assert!(
        store::looks_like_api_key(&created.secret),
        "{}",
        created.secret
    );
    assert_eq!(created.key.scopes, ["read", "send"]);
    assert!(created.secret.starts_with(&created.key.prefix));

    // Never stored in clear: no column of the row holds the secret.
    let mut conn = owner(&url).await?;
    let row: String = sqlx::query_scalar("SELECT row_to_json(k)::text FROM public.api_keys k")
        .fetch_one(&mut conn)
        .await?;
    assert!(!row.contains(&created.secret[3..]), "{row}");

    // It authenticates as its owner with its scopes, and notes the use.
    let grant = store
        .accounts()
        .api_key(&created.secret)
        .await?
        .expect("a live key");
    assert_eq!(grant.user_id, user);
    assert_eq!(grant.scopes, ["read", "send"]);
    let mut tx = store.as_user(user).await?;
    assert!(tx.api_keys_list().await?[0].last_used_at.is_some());
    tx.commit().await?;
    // Unknown, malformed or someone's slightly wrong key: nothing.
    let mut wrong = created.secret.clone();
    wrong.replace_range(10..11, if &wrong[10..11] == "A" { "B" } else { "A" });
    assert!(store.accounts().api_key(&wrong).await?.is_none());
    assert!(store.accounts().api_key("rk_nope").await?.is_none());

    // Owners only: another user neither sees nor revokes it.
    let mut tx = store.as_user(other).await?;
    assert!(tx.api_keys_list().await?.is_empty());
    assert!(matches!(
        tx.api_key_revoke(created.key.id).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await?;

    // Revoked: refused at once, and revoking twice is NotFound.
    let mut tx = store.as_user(user).await?;
    let revoked = tx.api_key_revoke(created.key.id).await?;
    assert!(revoked.revoked_at.is_some());
    tx.commit().await?;
    assert!(store.accounts().api_key(&created.secret).await?.is_none());
    let mut tx = store.as_user(user).await?;
    assert!(matches!(
        tx.api_key_revoke(created.key.id).await,
        Err(StoreError::NotFound)
    ));

    // Bad input names the field.
    for (name, scopes, field) in [
        ("", vec!["read".to_owned()], "name"),
        ("x", vec![], "scopes"),
        ("x", vec!["admin".to_owned()], "scopes"),
    ] {
        match tx.api_key_create(name, &scopes).await {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{name:?} {scopes:?}: {other:?}"),
        }
    }
    tx.rollback().await?;
    Ok(())
}
