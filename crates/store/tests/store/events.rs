//! The per-user event log: written with the change, read only by its user, pruned by age.

use crate::support::*;

#[tokio::test]
async fn events_are_the_users_own_and_old_ones_are_pruned() -> TestResult {
    let (store, url) = a_store().await?;
    let alice = a_user(&store, "events-alice@example.test").await?;
    let bob = a_user(&store, "events-bob@example.test").await?;
    let first = an_account(&store, alice, "Sales").await?;
    an_account(&store, bob, "Bob's").await?;

    let mut tx = store.as_user(alice).await?;
    let events = tx.events_after(0, 100).await?;
    let latest = tx.latest_event_id().await?;
    tx.commit().await?;
    assert_eq!(
        events.len(),
        1,
        "creating an account is one event: {events:?}"
    );
    assert_eq!(events[0].account_id, Some(first));
    assert_eq!(events[0].id, latest);

    // Bob's event is not Alice's, and hers are not his.
    let mut tx = store.as_user(bob).await?;
    let his = tx.events_after(0, 100).await?;
    tx.commit().await?;
    assert_eq!(his.len(), 1);
    assert_ne!(his[0].id, latest);

    // Alice's event ages past the retention; a newer one stays.
    sqlx::query(
        "UPDATE public.user_events SET created_at = now() - interval '8 days' WHERE user_id = $1",
    )
    .bind(alice)
    .execute(&mut owner(&url).await?)
    .await?;
    an_account(&store, alice, "Support").await?;
    let pruned = store
        .prune_events(std::time::Duration::from_secs(7 * 86_400))
        .await?;
    assert_eq!(pruned, 1);

    let mut tx = store.as_user(alice).await?;
    let left = tx.events_after(0, 100).await?;
    let oldest = tx.oldest_event_id().await?;
    tx.commit().await?;
    assert_eq!(left.len(), 1);
    assert!(left[0].id > latest, "cursors keep growing after a prune");
    // A tab whose cursor is below the oldest kept event missed pruned ones (the socket resets it).
    assert_eq!(oldest, left[0].id);
    Ok(())
}

/// Event rows have no foreign keys (checking them held the user's event lock for a third of each
/// append); deleting an account or a user still deletes its events, in the same statement.
#[tokio::test]
async fn deleting_an_account_or_a_user_deletes_their_events() -> TestResult {
    let (store, url) = a_store().await?;
    let alice = a_user(&store, "cascade-alice@example.test").await?;
    let bob = a_user(&store, "cascade-bob@example.test").await?;
    let sales = an_account(&store, alice, "Sales").await?;
    let support = an_account(&store, alice, "Support").await?;
    an_account(&store, bob, "Bob's").await?;
    let mut conn = owner(&url).await?;
    let count = |user: uuid::Uuid, account: Option<uuid::Uuid>| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM public.user_events \
             WHERE user_id = $1 AND ($2::uuid IS NULL OR account_id = $2)",
        )
        .bind(user)
        .bind(account)
    };
    assert_eq!(count(alice, Some(sales)).fetch_one(&mut conn).await?, 1);

    sqlx::query("DELETE FROM public.whatsapp_sessions WHERE id = $1")
        .bind(sales)
        .execute(&mut conn)
        .await?;
    assert_eq!(count(alice, Some(sales)).fetch_one(&mut conn).await?, 0);
    assert_eq!(count(alice, Some(support)).fetch_one(&mut conn).await?, 1);

    sqlx::query("DELETE FROM auth.users WHERE id = $1")
        .bind(alice)
        .execute(&mut conn)
        .await?;
    assert_eq!(count(alice, None).fetch_one(&mut conn).await?, 0);
    assert_eq!(
        count(bob, None).fetch_one(&mut conn).await?,
        1,
        "Bob's stay"
    );
    Ok(())
}
