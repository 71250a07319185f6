//! Migrations apply once, re-apply as a no-op, and readiness reports their state.

use crate::support::{TestResult, a_store, owner};
use store::{MIGRATOR, Store, StoreConfig, StoreError};

#[tokio::test]
async fn a_second_connect_is_a_no_op_and_readiness_is_ok() -> TestResult {
    let (store, url) = a_store().await?;
    store.readiness().await?;
    let mut conn = owner(&url).await?;
    let applied = "SELECT count(*), max(installed_on)::text FROM _sqlx_migrations WHERE success";
    let first: (i64, Option<String>) = sqlx::query_as(applied).fetch_one(&mut conn).await?;
    assert_eq!(first.0, MIGRATOR.iter().count() as i64);

    let again = Store::connect(&StoreConfig::new(url.clone())).await?;
    again.readiness().await?;
    let second: (i64, Option<String>) = sqlx::query_as(applied).fetch_one(&mut conn).await?;
    assert_eq!(
        second, first,
        "the second connect must not re-apply anything"
    );
    Ok(())
}

#[tokio::test]
async fn readiness_reports_missing_migrations() -> TestResult {
    let (store, url) = a_store().await?;
    let mut conn = owner(&url).await?;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&mut conn)
    .await?;
    match store.readiness().await {
        Err(StoreError::NotMigrated(detail)) => assert!(detail.contains("missing"), "{detail}"),
        other => panic!("expected NotMigrated, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    // Port 1 on localhost: nothing listens there.
    let result = Store::connect(&StoreConfig::new(
        "postgres://postgres@127.0.0.1:1/postgres",
    ))
    .await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert!(!result.err().is_some_and(|e| e.is_client_error()));
}

#[tokio::test]
async fn a_bad_url_is_a_config_error() {
    let result = Store::connect(&StoreConfig::new("not a url")).await;
    assert!(matches!(result, Err(StoreError::Config(_))), "{result:?}");
}

#[tokio::test]
async fn tests_fail_loudly_when_postgresql_is_unreachable() {
    let result =
        store::test_support::fresh_database_on("postgres://postgres@127.0.0.1:1/postgres").await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("cannot reach the test PostgreSQL"),
        "{message}"
    );
}
