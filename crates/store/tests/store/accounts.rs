//! Sign-up, credentials and idle-expiring web sessions.

use crate::support::{TestResult, a_store, a_user, owner};
use std::time::Duration;
use store::{NewLead, StoreError};
use uuid::Uuid;

fn token(n: u8) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest([n; 32]).into()
}

#[tokio::test]
async fn sign_up_normalises_the_email_and_refuses_a_second_account() -> TestResult {
    let (store, _) = a_store().await?;
    let id = store
        .accounts()
        .create_user("  Ana@Example.COM ", "$argon2id$hash")
        .await?;
    let creds = store
        .accounts()
        .credentials("ana@example.com")
        .await?
        .ok_or("no credentials")?;
    assert_eq!(
        (
            creds.user_id,
            creds.email.as_str(),
            creds.password_hash.as_str()
        ),
        (id, "ana@example.com", "$argon2id$hash")
    );
    assert_eq!(
        store
            .accounts()
            .credentials("ANA@example.com ")
            .await?
            .map(|c| c.user_id),
        Some(id)
    );
    assert_eq!(
        store.accounts().credentials("nobody@example.com").await?,
        None
    );
    assert_eq!(store.accounts().credentials("not an email").await?, None);

    assert!(matches!(
        store
            .accounts()
            .create_user("ana@EXAMPLE.com", "$argon2id$other")
            .await,
        Err(StoreError::EmailTaken)
    ));
    assert!(matches!(
        store.accounts().create_user("ana", "$argon2id$x").await,
        Err(StoreError::Invalid { field: "email", .. })
    ));
    assert!(matches!(
        store.accounts().create_user("b@example.com", "").await,
        Err(StoreError::Invalid {
            field: "password_hash",
            ..
        })
    ));
    Ok(())
}

#[tokio::test]
async fn only_token_hashes_are_stored() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    store
        .accounts()
        .create_web_session(user, &token(1), Duration::from_secs(60))
        .await?;
    let mut conn = owner(&url).await?;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM app_private.web_sessions")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(stored, token(1).to_vec());
    Ok(())
}

#[tokio::test]
async fn sessions_slide_while_used_and_expire_when_idle() -> TestResult {
    let (store, _) = a_store().await?;
    let accounts = store.accounts();
    let user = a_user(&store, "a@example.com").await?;
    let idle = Duration::from_millis(1500);
    accounts.create_web_session(user, &token(1), idle).await?;

    // Used every second: alive after 3 s in total, because each use restarts the idle clock.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let who = accounts.resume_web_session(&token(1), idle).await?;
        assert_eq!(
            who.map(|u| (u.user_id, u.email)),
            Some((user, "a@example.com".to_owned()))
        );
    }
    // Then left alone for longer than the idle timeout: gone, and gone for good.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(accounts.resume_web_session(&token(1), idle).await?, None);
    assert_eq!(
        accounts
            .resume_web_session(&token(1), Duration::from_secs(3600))
            .await?,
        None
    );
    assert_eq!(
        accounts.resume_web_session(&token(9), idle).await?,
        None,
        "unknown token"
    );
    Ok(())
}

#[tokio::test]
async fn asking_whether_a_session_stands_does_not_keep_it_alive() -> TestResult {
    let (store, _) = a_store().await?;
    let accounts = store.accounts();
    let user = a_user(&store, "a@example.com").await?;
    let lifetime = store::SessionLifetime {
        idle: Duration::from_millis(1500),
        absolute: Duration::from_secs(3600),
    };
    accounts
        .create_web_session(user, &token(1), lifetime.idle)
        .await?;
    assert!(accounts.web_session_stands(&token(1), lifetime).await?);
    assert!(
        !accounts.web_session_stands(&token(9), lifetime).await?,
        "unknown token"
    );
    // Asked every half second (as the browser's socket asks on each heartbeat): unlike a use,
    // asking does not restart the idle clock, so the session still idles out.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        accounts.web_session_stands(&token(1), lifetime).await?;
    }
    assert!(!accounts.web_session_stands(&token(1), lifetime).await?);
    assert_eq!(
        accounts
            .resume_web_session(&token(1), lifetime.idle)
            .await?,
        None
    );
    // Past its absolute lifetime, or ended: no longer standing either.
    accounts
        .create_web_session(user, &token(2), Duration::from_secs(600))
        .await?;
    let short = store::SessionLifetime {
        idle: Duration::from_secs(600),
        absolute: Duration::from_millis(200),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!accounts.web_session_stands(&token(2), short).await?);
    let long = store::SessionLifetime {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
    };
    assert!(accounts.web_session_stands(&token(2), long).await?);
    accounts.end_web_session(&token(2)).await?;
    assert!(!accounts.web_session_stands(&token(2), long).await?);
    Ok(())
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_everywhere_ends_all() -> TestResult {
    let (store, _) = a_store().await?;
    let accounts = store.accounts();
    let idle = Duration::from_secs(600);
    let (a, b) = (
        a_user(&store, "a@example.com").await?,
        a_user(&store, "b@example.com").await?,
    );
    for (user, t) in [(a, 1), (a, 2), (a, 3), (b, 4)] {
        accounts.create_web_session(user, &token(t), idle).await?;
    }
    accounts.end_web_session(&token(1)).await?;
    assert_eq!(accounts.resume_web_session(&token(1), idle).await?, None);
    assert!(
        accounts
            .resume_web_session(&token(2), idle)
            .await?
            .is_some()
    );

    accounts.end_all_web_sessions(a).await?;
    assert_eq!(accounts.resume_web_session(&token(2), idle).await?, None);
    assert_eq!(accounts.resume_web_session(&token(3), idle).await?, None);
    assert!(
        accounts
            .resume_web_session(&token(4), idle)
            .await?
            .is_some(),
        "b stays logged in"
    );
    Ok(())
}

#[tokio::test]
async fn a_jwt_user_is_created_once_and_can_own_data() -> TestResult {
    let (store, url) = a_store().await?;
    let sub = Uuid::new_v4();
    store
        .accounts()
        .ensure_jwt_user(sub, Some("Jwt@Example.com"))
        .await?;
    store
        .accounts()
        .ensure_jwt_user(sub, Some("other@example.com"))
        .await?;
    let mut conn = owner(&url).await?;
    let emails: Vec<Option<String>> =
        sqlx::query_scalar("SELECT email FROM auth.users WHERE id = $1")
            .bind(sub)
            .fetch_all(&mut conn)
            .await?;
    assert_eq!(emails, vec![Some("jwt@example.com".to_owned())]);
    let mut tx = store.as_user(sub).await?;
    tx.lead_create(NewLead::new("Via JWT", "+14155552671"))
        .await?;
    tx.commit().await?;
    // A JWT user has no password: it cannot log in with one.
    assert_eq!(store.accounts().credentials("jwt@example.com").await?, None);
    Ok(())
}
