//! What crosses instances: commands stored for the instance holding an account (owner checked,
//! taken once, in order, stale ones dropped) and live-only events over LISTEN/NOTIFY.

use crate::support::{TestResult, a_cipher, a_linked_account, a_store, a_user, owner};
use serde_json::json;
use store::StoreError;

#[tokio::test]
async fn commands_reach_the_holder_once_in_order_and_only_for_the_owner() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let account = a_linked_account(&store, &engine, user).await?;
    let elsewhere = a_linked_account(&store, &engine, other).await?;
    let mut notices = store.listen(&[store::COMMAND_CHANNEL]).await?;

    engine
        .account_command_push(account, user, &json!({"command": "typing", "n": 1}))
        .await?;
    engine
        .account_command_push(account, user, &json!({"command": "typing", "n": 2}))
        .await?;
    engine
        .account_command_push(elsewhere, other, &json!({"command": "presence"}))
        .await?;
    let (channel, payload) = notices.next().await?;
    assert_eq!(channel, store::COMMAND_CHANNEL);
    assert_eq!(payload, account.to_string());
    // Someone else's account: refused, nothing stored.
    assert!(matches!(
        engine
            .account_command_push(elsewhere, user, &json!({"command": "typing"}))
            .await,
        Err(StoreError::NotFound)
    ));

    // The holder of `account` takes its two, in order; `elsewhere`'s stays for its holder.
    let taken = engine.account_commands_take(&[account]).await?;
    assert_eq!(
        taken
            .iter()
            .map(|(_, c)| c["n"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2)]
    );
    assert!(taken.iter().all(|(id, _)| *id == account));
    assert!(engine.account_commands_take(&[account]).await?.is_empty());
    assert!(engine.account_commands_take(&[]).await?.is_empty());

    // A command nobody took in time is dropped, not carried out late.
    let mut conn = owner(&url).await?;
    sqlx::query(
        "UPDATE app_private.account_commands SET created_at = now() - interval '10 minutes'",
    )
    .execute(&mut conn)
    .await?;
    assert!(engine.account_commands_take(&[elsewhere]).await?.is_empty());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM app_private.account_commands")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(left, 0);
    Ok(())
}

#[tokio::test]
async fn live_events_are_notified_and_oversized_ones_refused() -> TestResult {
    let (store, _url) = a_store().await?;
    let mut notices = store.listen(&[store::LIVE_CHANNEL]).await?;
    store.notify_live(r#"{"from":"x","event":{}}"#).await?;
    let (channel, payload) = notices.next().await?;
    assert_eq!(channel, store::LIVE_CHANNEL);
    assert_eq!(payload, r#"{"from":"x","event":{}}"#);
    let huge = "x".repeat(store::NOTIFY_MAX + 1);
    assert!(matches!(
        store.notify_live(&huge).await,
        Err(StoreError::Invalid { .. })
    ));
    Ok(())
}
