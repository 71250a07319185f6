//! Which key the stored secrets are under: the start-up check, and rotation (`server rotate-key`).
//!
//! Rotation re-encrypts every row of one account in one transaction (rows locked), account after
//! account. A row already under the new key is skipped, so an interrupted rotation is finished by
//! running it again; a row under neither key stops it with an error naming the account (nothing of
//! that account changes). Run it with the server stopped: a running engine would keep writing under
//! the old key (running the rotation again would catch those rows too).

use super::EngineStore;
use super::cipher::SessionCipher;
use super::keys::{SecretRow, describe};
use crate::{Store, StoreError};
use uuid::Uuid;

/// What a rotation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Accounts that have secrets (all visited).
    pub sessions: usize,
    /// Rows re-encrypted from the old key to the new one.
    pub rows: usize,
    /// Rows that were already under the new key (an earlier, interrupted run).
    pub already_rotated: usize,
}

impl std::ops::AddAssign for RotationReport {
    fn add_assign(&mut self, other: RotationReport) {
        self.sessions += other.sessions;
        self.rows += other.rows;
        self.already_rotated += other.already_rotated;
    }
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    kind: String,
    name: String,
    #[sqlx(flatten)]
    secret: SecretRow,
}

impl EngineStore {
    /// Start-up check: every stored secret is under the configured key. Empty tables are fine. A
    /// row under another key is [`StoreError::WrongEncryptionKey`] naming both key ids; starting
    /// anyway would fail every account's login and tempt someone into re-linking them all.
    pub async fn check_key(&self) -> Result<(), StoreError> {
        let other: Option<String> = sqlx::query_scalar("SELECT app_api.whatsapp_other_key_id($1)")
            .bind(self.cipher.key_id())
            .fetch_one(&self.pool)
            .await?;
        match other {
            None => Ok(()),
            Some(stored) => Err(StoreError::WrongEncryptionKey {
                stored,
                configured: self.cipher.key_id().to_owned(),
            }),
        }
    }

    /// The key ids in use and how many rows each encrypts, most used first.
    pub async fn key_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT key_id, rows FROM app_api.whatsapp_key_ids()")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

impl Store {
    /// Re-encrypts every account's credentials and keys from `old` to `new`, one transaction per
    /// account (see the module docs). Safe to run again after an interruption.
    pub async fn rotate_encryption_key(
        &self,
        old: &SessionCipher,
        new: &SessionCipher,
    ) -> Result<RotationReport, StoreError> {
        let sessions: Vec<Uuid> =
            sqlx::query_scalar("SELECT app_api.whatsapp_sessions_with_secrets()")
                .fetch_all(&self.pool)
                .await?;
        let mut report = RotationReport::default();
        for session_id in sessions {
            report += self.rotate_session_key(session_id, old, new).await?;
        }
        Ok(report)
    }

    /// Rotation of one account, in one transaction.
    pub async fn rotate_session_key(
        &self,
        session_id: Uuid,
        old: &SessionCipher,
        new: &SessionCipher,
    ) -> Result<RotationReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<LockedRow> = sqlx::query_as(
            "SELECT kind, name, key_id, nonce, ciphertext FROM app_api.whatsapp_lock_secrets($1)",
        )
        .bind(session_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut report = RotationReport {
            sessions: 1,
            ..RotationReport::default()
        };
        let (mut kinds, mut names, mut key_ids, mut nonces, mut ciphertexts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            // The credentials row comes back as kind 'credentials'; its associated data says creds.
            let aad_kind = if row.kind == "credentials" {
                super::cipher::CREDS_KIND
            } else {
                row.kind.as_str()
            };
            if row.secret.key_id == new.key_id() {
                report.already_rotated += 1;
                continue;
            }
            if row.secret.key_id != old.key_id() {
                return Err(StoreError::UnknownEncryptionKey {
                    session_id,
                    key_id: row.secret.key_id,
                    old: old.key_id().to_owned(),
                    new: new.key_id().to_owned(),
                });
            }
            let aad = super::cipher::aad(session_id, aad_kind, &row.name);
            let plaintext = old
                .open(&aad, &row.secret.nonce, &row.secret.ciphertext)
                .ok_or_else(|| StoreError::Decryption {
                    session_id,
                    what: describe(aad_kind, &row.name),
                })?;
            let sealed = new
                .seal(&aad, &plaintext)
                .map_err(|_| StoreError::invalid("value", "is too large to encrypt"))?;
            kinds.push(row.kind);
            names.push(row.name);
            key_ids.push(sealed.key_id);
            nonces.push(sealed.nonce);
            ciphertexts.push(sealed.ciphertext);
        }
        if !kinds.is_empty() {
            let changed: i64 = sqlx::query_scalar(
                "SELECT app_api.whatsapp_reencrypt_secrets($1, $2, $3, $4, $5, $6)",
            )
            .bind(session_id)
            .bind(&kinds)
            .bind(&names)
            .bind(&key_ids)
            .bind(&nonces)
            .bind(&ciphertexts)
            .fetch_one(&mut *tx)
            .await?;
            report.rows = usize::try_from(changed).unwrap_or_default();
        }
        tx.commit().await?;
        Ok(report)
    }
}
