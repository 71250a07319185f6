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

/// A migrated store whose settings (e.g. the account limit) are `settings`.
pub async fn a_store_with(
    settings: store::StoreSettings,
) -> Result<(Store, String), Box<dyn std::error::Error + Send + Sync>> {
    let url = store::test_support::fresh_database().await?;
    let store = Store::connect_with(&StoreConfig::new(url.clone()), &settings).await?;
    Ok((store, url))
}

/// The session encryption key most tests use, and others for rotation.
pub fn a_cipher() -> store::SessionCipher {
    store::SessionCipher::new([0x42; 32])
}

pub fn another_cipher(byte: u8) -> store::SessionCipher {
    store::SessionCipher::new([byte; 32])
}

/// An account the user created and the engine linked (credentials stored).
pub async fn a_linked_account(
    store: &Store,
    engine: &store::EngineStore,
    user: Uuid,
) -> Result<Uuid, Box<dyn std::error::Error + Send + Sync>> {
    let session = an_account(store, user, "Sales phone").await?;
    engine
        .commit(
            session,
            user,
            store::EngineCommit {
                credentials: Some(b"noise key, identity key, adv secret".to_vec()),
                ..Default::default()
            },
        )
        .await?;
    Ok(session)
}

/// An account the user created (not linked).
pub async fn an_account(
    store: &Store,
    user: Uuid,
    name: &str,
) -> Result<Uuid, Box<dyn std::error::Error + Send + Sync>> {
    let mut tx = store.as_user(user).await?;
    let session = tx.whatsapp_session_create(name).await?;
    tx.commit().await?;
    Ok(session.id)
}

/// A contact's text message as the engine reports it.
pub fn a_contact_sends(message_id: &str, phone: &str, text: &str) -> store::InboundRecord {
    store::InboundRecord {
        message_id: message_id.to_owned(),
        contact_phone: Some(phone.to_owned()),
        contact_jid: Some(format!("{}@s.whatsapp.net", phone.trim_start_matches('+'))),
        contact_lid: None,
        push_name: None,
        from_me: false,
        text: Some(text.to_owned()),
        undecryptable: false,
        timestamp: chrono::Utc::now(),
        media: None,
    }
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate<T>(result: Result<T, sqlx::Error>) -> Option<String> {
    match result {
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}
