//! Credentials and Signal keys: what kinds there are, how a row is named, and the loads and wipes.
//! Writes happen in [`EngineStore::commit`], so key changes land together with the messages that
//! caused them.

use super::EngineStore;
use super::cipher::{CREDS_KIND, SessionCipher, aad};
use crate::StoreError;
use uuid::Uuid;

/// Kinds of engine keys; the strings are `app_private.whatsapp_keys.kind`'s CHECK list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    PreKey,
    SignedPreKey,
    Session,
    Identity,
    SenderKey,
    AppStateKey,
    DeviceList,
}

impl KeyKind {
    pub const ALL: [KeyKind; 7] = [
        KeyKind::PreKey,
        KeyKind::SignedPreKey,
        KeyKind::Session,
        KeyKind::Identity,
        KeyKind::SenderKey,
        KeyKind::AppStateKey,
        KeyKind::DeviceList,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::PreKey => "pre-key",
            KeyKind::SignedPreKey => "signed-pre-key",
            KeyKind::Session => "session",
            KeyKind::Identity => "identity",
            KeyKind::SenderKey => "sender-key",
            KeyKind::AppStateKey => "app-state-key",
            KeyKind::DeviceList => "device-list",
        }
    }

    pub fn parse(input: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.as_str() == input)
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key change in a commit: `value: None` deletes the key. Within one commit the last write of
/// a (kind, name) wins.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyWrite {
    pub kind: KeyKind,
    pub name: String,
    pub value: Option<Vec<u8>>,
}

impl std::fmt::Debug for KeyWrite {
    // Never the key bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWrite")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field(
                "value",
                &self.value.as_ref().map(|v| format!("<{} bytes>", v.len())),
            )
            .finish()
    }
}

const NAME_MAX: usize = 512;

pub(crate) fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(StoreError::invalid("name", "must be 1 to 512 characters"));
    }
    Ok(())
}

/// A stored, encrypted value.
#[derive(sqlx::FromRow)]
pub(crate) struct SecretRow {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct NamedSecretRow {
    name: String,
    #[sqlx(flatten)]
    secret: SecretRow,
}

/// Decrypts one row of `session_id` named (`kind`, `name`) — `kind` is [`CREDS_KIND`] for the
/// credentials. A row under another key is [`StoreError::WrongEncryptionKey`]; one that does not
/// authenticate under ours is [`StoreError::Decryption`].
pub(crate) fn open_row(
    cipher: &SessionCipher,
    session_id: Uuid,
    kind: &str,
    name: &str,
    row: &SecretRow,
) -> Result<Vec<u8>, StoreError> {
    if row.key_id != cipher.key_id() {
        return Err(StoreError::WrongEncryptionKey {
            stored: row.key_id.clone(),
            configured: cipher.key_id().to_owned(),
        });
    }
    cipher
        .open(&aad(session_id, kind, name), &row.nonce, &row.ciphertext)
        .ok_or_else(|| StoreError::Decryption {
            session_id,
            what: describe(kind, name),
        })
}

pub(crate) fn describe(kind: &str, name: &str) -> String {
    if kind == CREDS_KIND {
        "credentials".to_owned()
    } else {
        format!("{kind} key {name:?}")
    }
}

impl EngineStore {
    /// The account's credentials (the engine's opaque blob), `None` when it is not linked.
    pub async fn load_credentials(&self, session_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<SecretRow> = sqlx::query_as(
            "SELECT key_id, nonce, ciphertext FROM app_api.whatsapp_load_credentials($1)",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| open_row(&self.cipher, session_id, CREDS_KIND, "", &row))
            .transpose()
    }

    /// The stored keys of one kind among `names`, as (name, value); names not stored are absent.
    pub async fn load_keys(
        &self,
        session_id: Uuid,
        kind: KeyKind,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<NamedSecretRow> = sqlx::query_as(
            "SELECT name, key_id, nonce, ciphertext FROM app_api.whatsapp_load_keys($1, $2, $3)",
        )
        .bind(session_id)
        .bind(kind.as_str())
        .bind(names)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let value = open_row(
                    &self.cipher,
                    session_id,
                    kind.as_str(),
                    &row.name,
                    &row.secret,
                )?;
                Ok((row.name, value))
            })
            .collect()
    }

    /// Forgets the account's credentials and every key (logged out, device removed); the account
    /// is no longer linked (`linked_at` cleared). Its row, status and messages stay.
    pub async fn wipe_credentials(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT app_api.whatsapp_wipe_credentials($1)")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
