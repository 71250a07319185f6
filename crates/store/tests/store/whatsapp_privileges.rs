//! What a user (`authenticated`, so also Supabase's PostgREST) may do to WhatsApp accounts: read
//! its own accounts' state, create one by name, rename, delete — and nothing else. The engine's
//! secrets are out of reach for users and for the runtime role alike.

use crate::support::{
    TestResult, a_cipher, a_linked_account, a_store, a_user, an_account, owner, sqlstate,
};
use sqlx::Row;
use store::StoreError;

/// Each runs as the account's owner with `$1` = the account id; each must be refused (42501).
const REFUSED: &[&str] = &[
    "UPDATE whatsapp_sessions SET status = 'active' WHERE id = $1",
    "UPDATE whatsapp_sessions SET status_reason = 'linked' WHERE id = $1",
    "UPDATE whatsapp_sessions SET status_message = 'fine' WHERE id = $1",
    "UPDATE whatsapp_sessions SET session_data = '{}' WHERE id = $1",
    "UPDATE whatsapp_sessions SET qr_code = 'x' WHERE id = $1",
    "UPDATE whatsapp_sessions SET phone_number = '+442079460001' WHERE id = $1",
    "UPDATE whatsapp_sessions SET jid = 'x@s.whatsapp.net' WHERE id = $1",
    "UPDATE whatsapp_sessions SET lid = 'x@lid' WHERE id = $1",
    "UPDATE whatsapp_sessions SET push_name = 'x' WHERE id = $1",
    "UPDATE whatsapp_sessions SET last_seen = now() WHERE id = $1",
    "UPDATE whatsapp_sessions SET linked_at = now() WHERE id = $1",
    "UPDATE whatsapp_sessions SET user_id = user_id WHERE id = $1",
    "SELECT session_data FROM whatsapp_sessions WHERE id = $1",
    "SELECT qr_code FROM whatsapp_sessions WHERE id = $1",
    "SELECT * FROM whatsapp_sessions WHERE id = $1",
    "INSERT INTO whatsapp_sessions (session_name, status) SELECT 'x', 'active' WHERE $1::uuid IS NOT NULL",
    // Not even naming oneself as the owner: the owner is always the default, auth.uid().
    "INSERT INTO whatsapp_sessions (user_id, session_name) SELECT auth.uid(), 'x' WHERE $1::uuid IS NOT NULL",
    "INSERT INTO whatsapp_sessions (session_name, session_data) SELECT 'x', '{}' WHERE $1::uuid IS NOT NULL",
    "SELECT count(*) FROM app_private.whatsapp_credentials WHERE session_id = $1",
    "SELECT count(*) FROM app_private.whatsapp_keys WHERE session_id = $1",
    "SELECT count(*) FROM app_private.settings WHERE $1::uuid IS NOT NULL",
    "SELECT * FROM app_api.whatsapp_load_credentials($1)",
    "SELECT * FROM app_api.whatsapp_load_keys($1, 'session', ARRAY['x'])",
    "SELECT app_api.whatsapp_update_session($1, 'active', NULL, NULL, NULL, NULL, NULL, NULL, NULL, false)",
    "SELECT app_api.whatsapp_wipe_credentials($1)",
    "SELECT * FROM app_api.whatsapp_accounts_to_start() WHERE $1::uuid IS NOT NULL",
];

#[tokio::test]
async fn users_write_only_the_name_of_their_accounts_and_never_see_secrets() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut allowed_through = Vec::new();
    for sql in REFUSED {
        let mut tx = store.as_user(user).await?;
        let state = sqlstate(
            sqlx::query(sql)
                .bind(session)
                .fetch_all(tx.connection_for_tests())
                .await,
        );
        if state.as_deref() != Some("42501") {
            allowed_through.push(format!("{sql}: {state:?}"));
        }
    }
    assert!(
        allowed_through.is_empty(),
        "a user could:\n{}",
        allowed_through.join("\n")
    );

    // What users may do, through the store API.
    let mut tx = store.as_user(user).await?;
    let renamed = tx.whatsapp_session_rename(session, "  Support  ").await?;
    assert_eq!(renamed.session_name, "Support");
    assert_eq!(tx.whatsapp_session_get(session).await?, renamed);
    assert_eq!(renamed.status.as_deref(), Some("inactive"));
    tx.commit().await?;

    // Nothing the refused statements tried stuck; the secrets are there, for the engine only.
    let mut conn = owner(&url).await?;
    let row = sqlx::query(
        "SELECT status, session_data IS NULL, qr_code IS NULL, \
                (SELECT count(*) FROM app_private.whatsapp_credentials c WHERE c.session_id = s.id) \
         FROM whatsapp_sessions s WHERE id = $1",
    )
    .bind(session)
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(row.get::<Option<String>, _>(0).as_deref(), Some("inactive"));
    assert!(row.get::<bool, _>(1) && row.get::<bool, _>(2));
    assert_eq!(row.get::<i64, _>(3), 1);

    // The runtime role cannot read the private tables directly either.
    for sql in [
        "SELECT count(*) FROM app_private.whatsapp_credentials",
        "SELECT count(*) FROM app_private.whatsapp_keys",
        "SELECT count(*) FROM app_private.settings",
    ] {
        let state = sqlstate(sqlx::query(sql).fetch_one(store.runtime_pool()).await);
        assert_eq!(state.as_deref(), Some("42501"), "{sql} as rarity_app");
    }
    Ok(())
}

#[tokio::test]
async fn another_users_account_cannot_be_read_renamed_or_deleted() -> TestResult {
    let (store, url) = a_store().await?;
    let a = a_user(&store, "a@example.com").await?;
    let b = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let theirs = a_linked_account(&store, &engine, b).await?;

    let mut tx = store.as_user(a).await?;
    assert!(matches!(
        tx.whatsapp_session_get(theirs).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.whatsapp_session_rename(theirs, "mine").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.whatsapp_session_delete(theirs).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.whatsapp_session_rename(theirs, "  ").await,
        Err(StoreError::Invalid {
            field: "session_name",
            ..
        })
    ));
    drop(tx);

    // The owner deletes it: credentials and keys go with it.
    let mut tx = store.as_user(b).await?;
    tx.whatsapp_session_delete(theirs).await?;
    tx.commit().await?;
    let mut conn = owner(&url).await?;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM app_private.whatsapp_credentials) \
              + (SELECT count(*) FROM app_private.whatsapp_keys) \
              + (SELECT count(*) FROM whatsapp_sessions)",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(left, 0);
    Ok(())
}

#[tokio::test]
async fn a_new_account_belongs_to_its_creator_whatever_the_request_says() -> TestResult {
    let (store, _) = a_store().await?;
    let a = a_user(&store, "a@example.com").await?;
    let session = an_account(&store, a, "Mine").await?;
    let mut tx = store.as_user(a).await?;
    let created = tx.whatsapp_session_get(session).await?;
    assert_eq!(
        (
            created.user_id,
            created.status.as_deref(),
            created.linked_at
        ),
        (a, Some("inactive"), None)
    );
    Ok(())
}
