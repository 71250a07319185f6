//! App-state sync keys: the phone shares them with every new companion, and answers a
//! companion that asks for one it is missing.
//!
//! Why: app state (contacts, mutes, pins, labels…) is synced in patches encrypted with keys
//! only the account's devices hold. A real phone sends a newly linked companion its keys right
//! after pairing, as a peer message (`category="peer"`) holding a `protocolMessage` of type
//! `APP_STATE_SYNC_KEY_SHARE`; clients that behave like WhatsApp Web wait for it (about 10 s)
//! before they report themselves connected. A companion that meets a key id it does not have
//! sends `APP_STATE_SYNC_KEY_REQUEST` to its own devices; the phone answers with the keys it has.
//!
//! Facts (WAProto `Message.AppStateSyncKey*`, Baileys 7.0.0-rc14 `Utils/process-message.js`):
//! a key is `{keyId: {keyId}, keyData: {keyData (32 bytes), fingerprint: {rawId, currentIndex,
//! deviceIndexes}, timestamp (ms)}}`. Key ids are 6 bytes whose first four are zero, as they
//! appear in clients' stores (Baileys saves them as `app-state-sync-key-AAAAA….json`). The
//! fingerprint names the account's ADV identity: its raw id, the current key index and the key
//! indexes of the devices holding the key (0 is the phone).

use prost::Message as _;
use rand_core::{OsRng, RngCore};
use whatsapp::proto::Message;
use whatsapp::proto::message::{
    AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint, AppStateSyncKeyId,
    AppStateSyncKeyShare, ProtocolMessage, protocol_message,
};
use whatsapp_binary::{Jid, Node};

use crate::error::FakeError;
use crate::phone::{Phone, enc_node, new_message_id};
use crate::stanza;

/// One app-state sync key of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStateKey {
    pub id: [u8; 6],
    pub data: [u8; 32],
    /// When the phone made it (Unix milliseconds).
    pub timestamp_ms: i64,
}

impl AppStateKey {
    pub fn generate() -> Self {
        let mut id = [0u8; 6];
        OsRng.fill_bytes(&mut id[4..]);
        let mut data = [0u8; 32];
        OsRng.fill_bytes(&mut data);
        let now_ms = i64::try_from(stanza::now_unix())
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        Self {
            id,
            data,
            timestamp_ms: now_ms,
        }
    }
}

/// The key ids an `APP_STATE_SYNC_KEY_REQUEST` asks for, if `message` is one.
pub fn requested_key_ids(message: &Message) -> Option<Vec<Vec<u8>>> {
    let protocol = message.protocol_message.as_deref()?;
    if protocol.r#type != Some(protocol_message::Type::AppStateSyncKeyRequest as i32) {
        return None;
    }
    let request = protocol.app_state_sync_key_request.as_ref()?;
    Some(
        request
            .key_ids
            .iter()
            .filter_map(|k| k.key_id.clone())
            .collect(),
    )
}

impl Phone {
    /// Sends the companion `device` of this account an `APP_STATE_SYNC_KEY_SHARE` with the
    /// account's keys: all of them, or (answering a request) those of `only` it has.
    pub async fn share_app_state_keys(
        &self,
        device: u16,
        only: Option<&[Vec<u8>]>,
    ) -> Result<(), FakeError> {
        let (primary, keys, fingerprint) = self.state.with(|s| {
            let me = s
                .accounts
                .get(&self.user)
                .ok_or_else(|| FakeError::UnknownAccount(self.user.clone()))?;
            let indexes: Vec<u32> = s
                .companions_of(&self.user)
                .iter()
                .map(|d| d.key_index)
                .collect();
            let fingerprint = AppStateSyncKeyFingerprint {
                raw_id: Some(me.raw_id),
                current_index: Some(indexes.iter().copied().max().unwrap_or(0)),
                device_indexes: std::iter::once(0).chain(indexes).collect(),
            };
            let keys: Vec<AppStateKey> = me
                .app_state_keys
                .iter()
                .filter(|k| only.is_none_or(|ids| ids.iter().any(|id| id[..] == k.id[..])))
                .cloned()
                .collect();
            Ok::<_, FakeError>((me.primary.clone(), keys, fingerprint))
        })?;
        let share = AppStateSyncKeyShare {
            keys: keys
                .into_iter()
                .map(|k| AppStateSyncKey {
                    key_id: Some(AppStateSyncKeyId {
                        key_id: Some(k.id.to_vec()),
                    }),
                    key_data: Some(AppStateSyncKeyData {
                        key_data: Some(k.data.to_vec()),
                        fingerprint: Some(fingerprint.clone()),
                        timestamp: Some(k.timestamp_ms),
                    }),
                })
                .collect(),
        };
        let message = Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(protocol_message::Type::AppStateSyncKeyShare as i32),
                app_state_sync_key_share: Some(share),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.send_peer(&primary, device, &message).await
    }

    /// A peer message from this phone to its own companion `device` (`category="peer"`).
    pub(crate) async fn send_peer(
        &self,
        primary: &crate::party::Party,
        device: u16,
        message: &Message,
    ) -> Result<(), FakeError> {
        let Some(ciphertext) = self
            .encrypt_for(primary, &self.user, device, message.encode_to_vec())
            .await?
        else {
            return Err(FakeError::Signal(format!(
                "{}:{device} has no keys",
                self.user
            )));
        };
        let node = Node::new("message")
            .attr("from", Jid::pn(self.user.as_str())?)
            .attr("id", new_message_id())
            .attr("t", stanza::now_unix())
            .attr("type", "text")
            .attr("category", "peer")
            .child(enc_node(&ciphertext));
        self.state.with(|s| s.deliver(&self.user, device, node));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_like_the_real_ones() {
        let a = AppStateKey::generate();
        let b = AppStateKey::generate();
        assert_eq!(&a.id[..4], &[0; 4]);
        assert_ne!(a.data, b.data);
        assert!(a.timestamp_ms > 1_600_000_000_000, "milliseconds");
    }

    #[test]
    fn a_key_request_is_recognised_and_nothing_else() {
        let request = Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(protocol_message::Type::AppStateSyncKeyRequest as i32),
                app_state_sync_key_request: Some(
                    whatsapp::proto::message::AppStateSyncKeyRequest {
                        key_ids: vec![AppStateSyncKeyId {
                            key_id: Some(vec![0, 0, 0, 0, 1, 2]),
                        }],
                    },
                ),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            requested_key_ids(&request),
            Some(vec![vec![0, 0, 0, 0, 1, 2]])
        );
        let text = Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(requested_key_ids(&text), None);
    }
}
