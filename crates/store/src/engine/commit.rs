//! One engine commit = one transaction: what decrypting (or sending) changed in the account's
//! secrets, the messages that arrived, the statuses that moved, the sends that began. The engine
//! sends its receipt/ack only after [`EngineStore::commit`] returns, so a crash at any point either
//! leaves WhatsApp owing us the message or has it stored together with the key changes that
//! decrypted it.

use super::EngineStore;
use super::cipher::{CREDS_KIND, SessionCipher, aad};
use super::inbound::{self, InboundOutcome, InboundRecord, ValidInbound};
use super::keys::{KeyKind, KeyWrite, check_name};
use super::outgoing::count_attempts;
use super::statuses::{self, StatusChange, ValidStatusChange};
use crate::StoreError;
use crate::domain::MessageStatus;
use crate::events::{EventKind, append_as_user};
use crate::user_tx::act_as;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// Everything one step of the engine wants stored, atomically.
#[derive(Clone, Default)]
pub struct EngineCommit {
    /// New plaintext credentials (the engine's opaque blob); `None` keeps the stored ones.
    pub credentials: Option<Vec<u8>>,
    pub keys: Vec<KeyWrite>,
    pub inbound: Vec<InboundRecord>,
    pub statuses: Vec<StatusChange>,
    /// Outgoing WhatsApp message ids about to be written to the socket: their `attempts` go up by 1.
    pub attempts: Vec<String>,
}

impl std::fmt::Debug for EngineCommit {
    // Counts only: credentials, keys and message texts stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineCommit")
            .field("credentials", &self.credentials.is_some())
            .field("keys", &self.keys.len())
            .field("inbound", &self.inbound.len())
            .field("statuses", &self.statuses.len())
            .field("attempts", &self.attempts.len())
            .finish()
    }
}

impl EngineCommit {
    pub fn is_empty(&self) -> bool {
        self.credentials.is_none()
            && self.keys.is_empty()
            && self.inbound.is_empty()
            && self.statuses.is_empty()
            && self.attempts.is_empty()
    }
}

/// What a commit did, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Per inbound record: (WhatsApp message id, outcome).
    pub inbound: Vec<(String, InboundOutcome)>,
    /// Status changes that took effect: (WhatsApp message id, row id, new status). Ignored ones
    /// (unknown id, not a step forward) are absent.
    pub statuses: Vec<(String, Uuid, MessageStatus)>,
    /// The user's event log cursor after the events this commit appended (messages stored,
    /// statuses moved), if it appended any.
    pub last_event: Option<i64>,
}

impl EngineStore {
    /// Stores `commit` for account `session_id` of `user_id` in ONE transaction; nothing is written
    /// if any part fails.
    ///
    /// 1. Credentials and key writes, encrypted here, through `app_api` (system path; the function
    ///    checks that the account is `user_id`'s).
    /// 2. Then, acting as `user_id` under RLS (as a [`crate::UserTx`] does):
    ///    - each inbound record is inserted once per `(session_id, message_id)`: an existing
    ///      placeholder is completed, an existing real message is a `Duplicate` left unchanged; it
    ///      is linked to the user's lead with the same E.164 phone number, and a lead (source
    ///      `whatsapp`, named after the push name or the number) is created when there is none;
    ///    - status changes move forward only (`queued < sent < delivered < read`; `failed` only
    ///      from `queued`); unknown message ids are ignored;
    ///    - `attempts` of the listed outgoing messages go up by one.
    ///
    /// An account that is not `user_id`'s (or no longer exists) is [`StoreError::NotFound`].
    pub async fn commit(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        commit: EngineCommit,
    ) -> Result<CommitReport, StoreError> {
        // Validate and encrypt before opening the transaction: no connection is held for CPU work.
        let secrets = SealedSecrets::seal(
            &self.cipher,
            session_id,
            commit.credentials.as_deref(),
            commit.keys,
        )?;
        let inbound = commit
            .inbound
            .into_iter()
            .map(ValidInbound::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = commit
            .statuses
            .into_iter()
            .map(ValidStatusChange::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let acts_as_user =
            !inbound.is_empty() || !statuses.is_empty() || !commit.attempts.is_empty();
        let mut report = CommitReport::default();
        if secrets.is_empty() && !acts_as_user {
            return Ok(report);
        }

        let mut tx = self.pool.begin().await?;
        if !secrets.is_empty() {
            secrets.write(&mut tx, session_id, user_id).await?;
        }
        if acts_as_user {
            act_as(&mut tx, user_id).await?;
            if secrets.is_empty() {
                // The secrets function checked ownership; without it, RLS does.
                ensure_visible(&mut tx, session_id).await?;
            }
            let mut keywords = crate::consent::KeywordCache::default();
            report.inbound =
                inbound::store_all(&mut tx, &mut keywords, session_id, user_id, inbound).await?;
            for change in statuses {
                if let Some(id) = statuses::apply(&mut tx, session_id, &change).await? {
                    report.statuses.push((change.message_id, id, change.status));
                }
            }
            count_attempts(&mut tx, session_id, &commit.attempts).await?;
            report.last_event = append_message_events(&mut tx, user_id, &report).await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// The event log entries for what the commit stored: each new or completed message and each
/// status change, with the message as the API shows it.
async fn append_message_events(
    conn: &mut PgConnection,
    user_id: Uuid,
    report: &CommitReport,
) -> Result<Option<i64>, StoreError> {
    // A placeholder and its resend in one batch are one message: one event, as it now stands.
    let mut seen = std::collections::HashSet::new();
    let stored: Vec<Uuid> = report
        .inbound
        .iter()
        .filter_map(|(_, outcome)| match outcome {
            InboundOutcome::Inserted { id, .. } | InboundOutcome::Completed { id, .. } => Some(*id),
            InboundOutcome::Duplicate { .. } => None,
        })
        .filter(|id| seen.insert(*id))
        .collect();
    let moved: Vec<Uuid> = report.statuses.iter().map(|(_, id, _)| *id).collect();
    if stored.is_empty() && moved.is_empty() {
        return Ok(None);
    }
    let mut all = stored.clone();
    all.extend(&moved);
    let rows = crate::messages::messages_by_ids(conn, &all).await?;
    let mut events = Vec::with_capacity(stored.len() + moved.len());
    for (ids, kind) in [
        (&stored, EventKind::Message),
        (&moved, EventKind::MessageStatus),
    ] {
        for id in ids {
            if let Some(message) = rows.iter().find(|m| m.id == *id) {
                events.push(crate::messages::message_event(kind, message)?);
            }
        }
    }
    append_as_user(conn, user_id, &events).await
}

/// [`StoreError::NotFound`] unless the account is visible to the user the transaction acts as.
async fn ensure_visible(conn: &mut PgConnection, session_id: Uuid) -> Result<(), StoreError> {
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM public.whatsapp_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(conn)
            .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// The secret half of a commit, encrypted and laid out as the parallel arrays
/// `app_api.whatsapp_write_secrets` takes.
#[derive(Default)]
struct SealedSecrets {
    creds: Option<(String, Vec<u8>, Vec<u8>)>,
    kinds: Vec<&'static str>,
    names: Vec<String>,
    key_ids: Vec<String>,
    nonces: Vec<Vec<u8>>,
    ciphertexts: Vec<Vec<u8>>,
    delete_kinds: Vec<&'static str>,
    delete_names: Vec<String>,
}

impl SealedSecrets {
    fn seal(
        cipher: &SessionCipher,
        session_id: Uuid,
        credentials: Option<&[u8]>,
        keys: Vec<KeyWrite>,
    ) -> Result<SealedSecrets, StoreError> {
        let sealing_failed = || StoreError::invalid("value", "is too large to encrypt");
        let mut out = SealedSecrets::default();
        if let Some(creds) = credentials {
            let sealed = cipher
                .seal(&aad(session_id, CREDS_KIND, ""), creds)
                .map_err(|_| sealing_failed())?;
            out.creds = Some((sealed.key_id, sealed.nonce, sealed.ciphertext));
        }
        // Last write of a (kind, name) wins; one statement may not touch a row twice.
        let mut last: HashMap<(KeyKind, String), Option<Vec<u8>>> = HashMap::new();
        for write in keys {
            check_name(&write.name)?;
            last.insert((write.kind, write.name), write.value);
        }
        for ((kind, name), value) in last {
            match value {
                Some(value) => {
                    let sealed = cipher
                        .seal(&aad(session_id, kind.as_str(), &name), &value)
                        .map_err(|_| sealing_failed())?;
                    out.kinds.push(kind.as_str());
                    out.names.push(name);
                    out.key_ids.push(sealed.key_id);
                    out.nonces.push(sealed.nonce);
                    out.ciphertexts.push(sealed.ciphertext);
                }
                None => {
                    out.delete_kinds.push(kind.as_str());
                    out.delete_names.push(name);
                }
            }
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.creds.is_none() && self.kinds.is_empty() && self.delete_kinds.is_empty()
    }

    async fn write(
        &self,
        conn: &mut PgConnection,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StoreError> {
        let (creds_key_id, creds_nonce, creds_ciphertext) = match &self.creds {
            Some((key_id, nonce, ciphertext)) => (Some(key_id), Some(nonce), Some(ciphertext)),
            None => (None, None, None),
        };
        sqlx::query(
            "SELECT app_api.whatsapp_write_secrets($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(creds_key_id)
        .bind(creds_nonce)
        .bind(creds_ciphertext)
        .bind(&self.kinds)
        .bind(&self.names)
        .bind(&self.key_ids)
        .bind(&self.nonces)
        .bind(&self.ciphertexts)
        .bind(&self.delete_kinds)
        .bind(&self.delete_names)
        .execute(conn)
        .await?;
        Ok(())
    }
}
