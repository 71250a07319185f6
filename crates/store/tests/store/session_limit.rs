//! WHATSAPP_MAX_SESSIONS_PER_USER is enforced by the database, race-free.

use crate::support::{TestResult, a_store_with, a_user, owner};
use std::time::Duration;
use store::{StoreError, StoreSettings};

fn limit(n: u32) -> StoreSettings {
    StoreSettings {
        max_sessions_per_user: Some(n),
        ..StoreSettings::default()
    }
}

#[tokio::test]
async fn an_account_beyond_the_limit_is_refused_with_a_typed_error() -> TestResult {
    let (store, _) = a_store_with(limit(2)).await?;
    let a = a_user(&store, "a@example.com").await?;
    let b = a_user(&store, "b@example.com").await?;

    let mut tx = store.as_user(a).await?;
    let first = tx.whatsapp_session_create("One").await?;
    tx.whatsapp_session_create("Two").await?;
    tx.commit().await?;

    let mut tx = store.as_user(a).await?;
    let refused = tx.whatsapp_session_create("Three").await;
    let Err(err) = refused else {
        panic!("a third account was created: {refused:?}");
    };
    assert!(
        matches!(err, StoreError::LimitReached { limit: 2 }),
        "{err:?}"
    );
    assert!(err.is_client_error());
    assert_eq!(err.to_string(), "you can link at most 2 WhatsApp accounts");
    drop(tx);

    // Per user: another user still has room.
    let mut tx = store.as_user(b).await?;
    tx.whatsapp_session_create("B's").await?;
    tx.commit().await?;

    // Deleting one makes room again.
    let mut tx = store.as_user(a).await?;
    tx.whatsapp_session_delete(first.id).await?;
    tx.whatsapp_session_create("Three").await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn a_concurrent_create_at_the_limit_waits_then_is_refused() -> TestResult {
    let (store, url) = a_store_with(limit(1)).await?;
    let a = a_user(&store, "a@example.com").await?;

    let mut first = store.as_user(a).await?;
    first.whatsapp_session_create("One").await?;

    // The second insert for the same user waits for the first transaction...
    let store2 = store.clone();
    let second = tokio::spawn(async move {
        let mut tx = store2.as_user(a).await?;
        let created = tx.whatsapp_session_create("Two").await?;
        tx.commit().await?;
        Ok::<_, StoreError>(created)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second insert did not wait");

    // ...and once the first commits, it counts it and is refused.
    first.commit().await?;
    let outcome = second.await?;
    assert!(
        matches!(outcome, Err(StoreError::LimitReached { limit: 1 })),
        "{outcome:?}"
    );
    let mut conn = owner(&url).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM whatsapp_sessions")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(count, 1);
    Ok(())
}

#[tokio::test]
async fn many_concurrent_creates_stop_exactly_at_the_limit() -> TestResult {
    let (store, url) = a_store_with(limit(3)).await?;
    let a = a_user(&store, "a@example.com").await?;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.as_user(a).await?;
                tx.whatsapp_session_create(&format!("Phone {i}")).await?;
                tx.commit().await
            })
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached { limit: 3 }) => refused += 1,
            Err(other) => return Err(other.into()),
        }
    }
    assert_eq!((created, refused), (3, 5));
    let mut conn = owner(&url).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM whatsapp_sessions")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(count, 3);
    Ok(())
}

#[tokio::test]
async fn the_default_limit_is_five_and_each_start_up_writes_its_own() -> TestResult {
    let (store, url) = a_store_with(StoreSettings::default()).await?;
    let mut conn = owner(&url).await?;
    let read = "SELECT max_sessions_per_user FROM app_private.settings";
    let stored: i32 = sqlx::query_scalar(read).fetch_one(&mut conn).await?;
    assert_eq!(stored, 5);
    store.close().await;

    let config = store::StoreConfig::new(url.clone());
    let again = store::Store::connect_with(&config, &limit(7)).await?;
    let stored: i32 = sqlx::query_scalar(read).fetch_one(&mut conn).await?;
    assert_eq!(stored, 7);
    again.close().await;

    let refused = store::Store::connect_with(&config, &limit(0)).await;
    assert!(matches!(refused, Err(StoreError::Config(_))), "{refused:?}");
    Ok(())
}
