//! The runtime role (`rarity_app`) cannot get around RLS.

use crate::support::{TestResult, a_store, a_user, owner};
use sqlx::Row;

fn sqlstate(result: Result<impl Sized, sqlx::Error>) -> Option<String> {
    match result {
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn the_runtime_role_has_no_power_of_its_own() -> TestResult {
    let (store, url) = a_store().await?;
    let pool = store.runtime_pool();

    let row = sqlx::query(
        "SELECT current_user::text, rolsuper, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(row.get::<String, _>(0), "rarity_app");
    for (i, attr) in [
        (1, "superuser"),
        (2, "bypassrls"),
        (3, "inherit"),
        (4, "createrole"),
        (5, "createdb"),
    ] {
        assert!(!row.get::<bool, _>(i), "rarity_app must not have {attr}");
    }

    let owned: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid) \
              + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) \
              + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) \
         FROM pg_roles r WHERE r.rolname = 'rarity_app'",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(owned, 0, "rarity_app must own nothing");

    // Without switching to `authenticated` (NOINHERIT), no table is readable at all.
    for sql in [
        "SELECT count(*) FROM public.leads",
        "SELECT count(*) FROM public.whatsapp_messages",
        "SELECT count(*) FROM app_private.credentials",
        "SELECT count(*) FROM app_private.web_sessions",
        "SELECT count(*) FROM auth.users",
    ] {
        let state = sqlstate(sqlx::query(sql).fetch_one(pool).await);
        assert_eq!(
            state.as_deref(),
            Some("42501"),
            "{sql} must be refused for rarity_app"
        );
    }

    // It cannot become the owner (or any superuser).
    let mut conn = owner(&url).await?;
    let owner_name: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await?;
    let mut tx = pool.begin().await?;
    let state = sqlstate(
        sqlx::query(&format!("SET ROLE \"{owner_name}\""))
            .execute(&mut *tx)
            .await,
    );
    assert_eq!(
        state.as_deref(),
        Some("42501"),
        "SET ROLE {owner_name} must be refused"
    );
    Ok(())
}

#[tokio::test]
async fn acting_as_a_user_cannot_switch_rls_off_or_reach_private_data() -> TestResult {
    let (store, url) = a_store().await?;
    let a = a_user(&store, "a@example.com").await?;
    let b = a_user(&store, "b@example.com").await?;
    let mut conn = owner(&url).await?;
    sqlx::query("INSERT INTO leads (user_id, name, phone) VALUES ($1, 'B lead', '+442079460002')")
        .bind(b)
        .execute(&mut conn)
        .await?;

    // row_security = off makes PostgreSQL raise instead of filtering silently (42501).
    let mut tx = store.as_user(a).await?;
    sqlx::query("SET LOCAL row_security = off")
        .execute(tx.connection_for_tests())
        .await?;
    let state = sqlstate(
        sqlx::query("SELECT count(*) FROM leads")
            .fetch_one(tx.connection_for_tests())
            .await,
    );
    assert_eq!(
        state.as_deref(),
        Some("42501"),
        "row_security = off must error, not reveal rows"
    );
    drop(tx);

    let cases = [
        "SELECT count(*) FROM app_private.credentials",
        "SELECT count(*) FROM app_private.web_sessions",
        "SELECT count(*) FROM auth.users",
        "SELECT * FROM app_api.credentials('b@example.com')",
        "SELECT app_api.end_all_web_sessions(gen_random_uuid())",
        // (SET ROLE back to the login role itself is always allowed and gains nothing: see above.)
        "SET ROLE service_role",
        "ALTER TABLE leads DISABLE ROW LEVEL SECURITY",
        "DROP POLICY \"Users can manage their own leads\" ON leads",
        "CREATE TABLE public.sneaky (x int)",
        "CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA sneaky",
    ];
    for sql in cases {
        let mut tx = store.as_user(a).await?;
        let state = sqlstate(sqlx::query(sql).execute(tx.connection_for_tests()).await);
        assert!(
            matches!(state.as_deref(), Some("42501")),
            "{sql} must be refused as a user, got {state:?}"
        );
    }

    // Claims are transaction-local: once a user's transaction ends, the pooled connection that
    // served it carries no claims into the next request.
    let mut tx = store.as_user(a).await?;
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(tx.connection_for_tests())
        .await?;
    assert_eq!(visible, 0);
    tx.commit().await?;
    let leaked: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('request.jwt.claims', true), '')")
            .fetch_one(store.runtime_pool())
            .await?;
    assert_eq!(leaked, None);
    Ok(())
}
