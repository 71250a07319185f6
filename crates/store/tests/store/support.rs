//! Arrange helpers named after the domain.

use sqlx::{Connection, PgConnection};
use store::{Store, StoreConfig};
use uuid::Uuid;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A migrated store on a fresh database, and the owner URL of that database.
pub async fn a_store() -> Result<(Store, String), Box<dyn std::error::Error + Send + Sync>> {
    let url = store::test_support::fresh_database().await?;
    let store = Store::connect(&StoreConfig::new(url.clone())).await?;
    Ok((store, url))
}

/// A signed-up user.
pub async fn a_user(store: &Store, email: &str) -> Result<Uuid, store::StoreError> {
    store
        .accounts()
        .create_user(email, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
}

/// A connection as the database owner (bypasses RLS), for arranging and inspecting.
pub async fn owner(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(url).await
}
