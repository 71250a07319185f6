//! Wiring the WhatsApp engine into the server: the engine's configuration from ours, the
//! encryption key check, and the sessions supervisor.

use std::sync::Arc;

use sessions::{Hub, PgStoreFactory, Sessions};
use store::{SessionCipher, Store, StoreError};
use whatsapp::client::ClientConfig;

use crate::config::{Config, SessionKey};

/// The engine's configuration: where WhatsApp is and which root key its certificates chain to.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut client =
        ClientConfig::new(&config.whatsapp_server_url, config.whatsapp_root_public_key);
    client.timing.unreachable_after = config.whatsapp_session_timeout;
    client
}

/// The supervisor over `store`, after checking that `key` is the key the stored sessions were
/// encrypted with (a wrong key must stop start-up, not corrupt or lose sessions). Accounts are
/// not started yet: see [`Sessions::start_all`].
pub async fn sessions(
    config: &Config,
    store: &Store,
    key: &SessionKey,
) -> Result<Sessions, StoreError> {
    let engine = store.engine(SessionCipher::new(*key.bytes()));
    engine.check_key().await?;
    let hub = Hub::new();
    let factory = Arc::new(PgStoreFactory {
        engine: engine.clone(),
        hub: hub.clone(),
    });
    Ok(Sessions::new(
        engine,
        Arc::new(client_config(config)),
        hub,
        factory,
    ))
}
