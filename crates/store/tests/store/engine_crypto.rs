//! Encryption at rest of the engine's secrets: nothing readable in a dump, rows bound to their
//! place, a wrong key caught at start-up, and key rotation that can be resumed.

use crate::support::{
    TestResult, a_cipher, a_linked_account, a_store, a_user, another_cipher, owner,
};
use store::{EngineCommit, KeyKind, KeyWrite, RotationReport, StoreError};
use uuid::Uuid;

/// Distinctive secret bytes, so a dump can be searched for them.
fn secret(tag: u8) -> Vec<u8> {
    (0..48u8).map(|i| i.wrapping_mul(37) ^ tag).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An account with credentials and three keys, all known plaintexts.
async fn an_account_with_secrets(
    store: &store::Store,
    engine: &store::EngineStore,
    user: Uuid,
    tag: u8,
) -> Result<Uuid, Box<dyn std::error::Error + Send + Sync>> {
    let session = a_linked_account(store, engine, user).await?;
    engine
        .commit(
            session,
            user,
            EngineCommit {
                credentials: Some(secret(tag)),
                keys: vec![
                    KeyWrite {
                        kind: KeyKind::PreKey,
                        name: "1".into(),
                        value: Some(secret(tag + 1)),
                    },
                    KeyWrite {
                        kind: KeyKind::PreKey,
                        name: "2".into(),
                        value: Some(secret(tag + 2)),
                    },
                    KeyWrite {
                        kind: KeyKind::Identity,
                        name: "447700900010.0".into(),
                        value: Some(secret(tag + 3)),
                    },
                ],
                ..Default::default()
            },
        )
        .await?;
    Ok(session)
}

async fn everything_readable(
    engine: &store::EngineStore,
    session: Uuid,
    tag: u8,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    assert_eq!(engine.load_credentials(session).await?, Some(secret(tag)));
    let mut pre = engine
        .load_keys(session, KeyKind::PreKey, &["1".into(), "2".into()])
        .await?;
    pre.sort();
    assert_eq!(
        pre,
        vec![("1".into(), secret(tag + 1)), ("2".into(), secret(tag + 2))]
    );
    assert_eq!(
        engine
            .load_keys(session, KeyKind::Identity, &["447700900010.0".into()])
            .await?,
        vec![("447700900010.0".into(), secret(tag + 3))]
    );
    Ok(())
}

#[tokio::test]
async fn a_raw_dump_of_the_secret_tables_contains_no_key_bytes() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = an_account_with_secrets(&store, &engine, user, 10).await?;
    everything_readable(&engine, session, 10).await?;

    let mut conn = owner(&url).await?;
    let dump: String = sqlx::query_scalar(
        "SELECT string_agg(t, E'\\n') FROM ( \
           SELECT c::text AS t FROM app_private.whatsapp_credentials c \
           UNION ALL SELECT k::text FROM app_private.whatsapp_keys k \
           UNION ALL SELECT s::text FROM public.whatsapp_sessions s) rows",
    )
    .fetch_one(&mut conn)
    .await?;
    assert!(dump.contains(engine.key_id()), "key ids are stored");
    for tag in 10..=13 {
        let plain = secret(tag);
        // Any 8-byte window of a secret, in hex or raw.
        for window in plain.windows(8) {
            assert!(
                !dump.contains(&hex(window)),
                "secret {tag} is visible in the dump"
            );
            assert!(!dump.as_bytes().windows(8).any(|w| w == window));
        }
    }
    Ok(())
}

#[tokio::test]
async fn tampered_or_swapped_ciphertexts_fail_to_decrypt() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let first = an_account_with_secrets(&store, &engine, user, 10).await?;
    let second = an_account_with_secrets(&store, &engine, user, 20).await?;
    let mut conn = owner(&url).await?;

    // One flipped bit.
    sqlx::query(
        "UPDATE app_private.whatsapp_keys SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) \
         WHERE session_id = $1 AND kind = 'pre-key' AND name = '1'",
    )
    .bind(first)
    .execute(&mut conn)
    .await?;
    let tampered = engine
        .load_keys(first, KeyKind::PreKey, &["1".into()])
        .await;
    assert!(
        matches!(&tampered, Err(StoreError::Decryption { session_id, what }) if *session_id == first && what.contains("pre-key")),
        "{tampered:?}"
    );
    assert!(!tampered.err().is_some_and(|e| e.is_client_error()));

    // Pre-key 2 given pre-key 1's (valid) ciphertext of the other account; the identity key moved
    // to another kind's row; the credentials swapped between accounts.
    sqlx::raw_sql(&format!(
        "UPDATE app_private.whatsapp_keys k SET nonce = o.nonce, ciphertext = o.ciphertext \
         FROM app_private.whatsapp_keys o \
         WHERE k.session_id = '{first}' AND k.kind = 'pre-key' AND k.name = '2' \
           AND o.session_id = '{second}' AND o.kind = 'pre-key' AND o.name = '2'; \
         UPDATE app_private.whatsapp_keys k SET nonce = o.nonce, ciphertext = o.ciphertext \
         FROM app_private.whatsapp_keys o \
         WHERE k.session_id = '{second}' AND k.kind = 'pre-key' AND k.name = '1' \
           AND o.session_id = '{second}' AND o.kind = 'pre-key' AND o.name = '2'; \
         UPDATE app_private.whatsapp_credentials c SET nonce = o.nonce, ciphertext = o.ciphertext \
         FROM app_private.whatsapp_credentials o \
         WHERE c.session_id = '{first}' AND o.session_id = '{second}';"
    ))
    .execute(&mut conn)
    .await?;
    for (session, kind, name) in [
        (first, KeyKind::PreKey, "2"),
        (second, KeyKind::PreKey, "1"),
    ] {
        let outcome = engine.load_keys(session, kind, &[name.into()]).await;
        assert!(
            matches!(outcome, Err(StoreError::Decryption { session_id, .. }) if session_id == session),
            "{kind} {name}: {outcome:?}"
        );
    }
    let creds = engine.load_credentials(first).await;
    assert!(
        matches!(&creds, Err(StoreError::Decryption { what, .. }) if what == "credentials"),
        "{creds:?}"
    );
    // Untouched rows still decrypt.
    assert_eq!(engine.load_credentials(second).await?, Some(secret(20)));
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_fails_the_start_up_check_with_a_clear_error() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    // Nothing stored yet: any key is fine.
    store.engine(another_cipher(9)).check_key().await?;

    let engine = store.engine(a_cipher());
    let session = an_account_with_secrets(&store, &engine, user, 10).await?;
    engine.check_key().await?;

    let wrong = store.engine(another_cipher(9));
    let err = wrong
        .check_key()
        .await
        .err()
        .ok_or("the wrong key passed the check")?;
    match &err {
        StoreError::WrongEncryptionKey { stored, configured } => {
            assert_eq!(
                (stored.as_str(), configured.as_str()),
                (engine.key_id(), wrong.key_id())
            );
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    for part in [
        engine.key_id(),
        wrong.key_id(),
        "SESSION_ENCRYPTION_KEY",
        "rotate-key",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(matches!(
        wrong.load_credentials(session).await,
        Err(StoreError::WrongEncryptionKey { .. })
    ));
    assert_eq!(
        engine.key_ids().await?,
        vec![(engine.key_id().to_owned(), 4)]
    );
    Ok(())
}

#[tokio::test]
async fn rotation_re_encrypts_everything_and_an_interrupted_run_is_finished_by_running_it_again()
-> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let (old, new) = (a_cipher(), another_cipher(0x77));
    let old_engine = store.engine(a_cipher());
    let first = an_account_with_secrets(&store, &old_engine, user, 10).await?;
    let second = an_account_with_secrets(&store, &old_engine, user, 20).await?;

    // Interrupted: only the first account got rotated.
    let partial = store.rotate_session_key(first, &old, &new).await?;
    assert_eq!(
        partial,
        RotationReport {
            sessions: 1,
            rows: 4,
            already_rotated: 0
        }
    );
    let new_engine = store.engine(another_cipher(0x77));
    assert!(matches!(
        new_engine.check_key().await,
        Err(StoreError::WrongEncryptionKey { .. })
    ));

    // A key that is neither old nor new stops the run before it changes that account.
    let stray = store
        .rotate_encryption_key(&another_cipher(1), &another_cipher(2))
        .await;
    assert!(
        matches!(&stray, Err(StoreError::UnknownEncryptionKey { session_id, .. }) if *session_id == first.min(second)),
        "{stray:?}"
    );

    let report = store.rotate_encryption_key(&old, &new).await?;
    assert_eq!(
        report,
        RotationReport {
            sessions: 2,
            rows: 4,
            already_rotated: 4
        }
    );
    new_engine.check_key().await?;
    everything_readable(&new_engine, first, 10).await?;
    everything_readable(&new_engine, second, 20).await?;
    assert!(matches!(
        old_engine.load_credentials(first).await,
        Err(StoreError::WrongEncryptionKey { .. })
    ));
    assert_eq!(
        new_engine.key_ids().await?,
        vec![(new_engine.key_id().to_owned(), 8)]
    );

    // Running it once more is a no-op.
    let again = store.rotate_encryption_key(&old, &new).await?;
    assert_eq!((again.rows, again.already_rotated), (0, 8));
    Ok(())
}
