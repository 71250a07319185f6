//! The media retry ("re-upload") request and answer, pure. When a download fails because the
//! media host no longer has the file, a client asks the sender's phone to upload it again: it
//! sends `ServerErrorReceipt{stanzaId}` encrypted with AES-256-GCM under HKDF(media key, info
//! "WhatsApp Media Retry Notification", 32 bytes), a random 12-byte IV and the message id as
//! associated data; the phone answers a `MediaRetryNotification{stanzaId, directPath, result}`
//! encrypted the same way (facts: Baileys 7.0.0-rc14 `encryptMediaRetryRequest` /
//! `decryptMediaRetryData`). Only someone holding the media key can ask or read the answer.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use prost::Message as _;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

use super::MediaError;
use crate::proto::{MediaRetryNotification, ServerErrorReceipt, media_retry_notification};

const INFO: &[u8] = b"WhatsApp Media Retry Notification";

/// An encrypted retry payload: `<enc_p>` and `<enc_iv>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub iv: [u8; 12],
}

fn cipher(media_key: &[u8]) -> Result<Aes256Gcm, MediaError> {
    if media_key.len() != 32 {
        return Err(MediaError::BadKey(media_key.len()));
    }
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, media_key).expand(INFO, &mut key);
    Aes256Gcm::new_from_slice(&key).map_err(|_| MediaError::BadKey(key.len()))
}

fn seal(media_key: &[u8], message_id: &str, plain: &[u8]) -> Result<Sealed, MediaError> {
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);
    let ciphertext = cipher(media_key)?
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: plain,
                aad: message_id.as_bytes(),
            },
        )
        .map_err(|_| MediaError::RetryUndecryptable)?;
    Ok(Sealed { ciphertext, iv })
}

fn open(media_key: &[u8], message_id: &str, sealed: &Sealed) -> Result<Vec<u8>, MediaError> {
    cipher(media_key)?
        .decrypt(
            Nonce::from_slice(&sealed.iv),
            Payload {
                msg: &sealed.ciphertext,
                aad: message_id.as_bytes(),
            },
        )
        .map_err(|_| MediaError::RetryUndecryptable)
}

/// The request a receiver sends for message `message_id`.
pub fn seal_request(media_key: &[u8], message_id: &str) -> Result<Sealed, MediaError> {
    let receipt = ServerErrorReceipt {
        stanza_id: Some(message_id.to_owned()),
    };
    seal(media_key, message_id, &receipt.encode_to_vec())
}

/// The sender's side: checks a request was made with this media key for this message.
pub fn open_request(media_key: &[u8], message_id: &str, sealed: &Sealed) -> Result<(), MediaError> {
    let plain = open(media_key, message_id, sealed)?;
    let receipt =
        ServerErrorReceipt::decode(plain.as_slice()).map_err(|_| MediaError::RetryUndecryptable)?;
    match receipt.stanza_id.as_deref() {
        Some(id) if id == message_id => Ok(()),
        _ => Err(MediaError::RetryUndecryptable),
    }
}

/// What the sender's phone answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Uploaded again: download from this direct path.
    Reuploaded { direct_path: String },
    /// The phone no longer has the file.
    NotFound,
    /// The phone could not read the request (or failed otherwise).
    Failed,
}

/// The sender's answer.
pub fn seal_answer(
    media_key: &[u8],
    message_id: &str,
    outcome: &RetryOutcome,
) -> Result<Sealed, MediaError> {
    use media_retry_notification::ResultType;
    let (result, direct_path) = match outcome {
        RetryOutcome::Reuploaded { direct_path } => {
            (ResultType::Success, Some(direct_path.clone()))
        }
        RetryOutcome::NotFound => (ResultType::NotFound, None),
        RetryOutcome::Failed => (ResultType::GeneralError, None),
    };
    let notification = MediaRetryNotification {
        stanza_id: Some(message_id.to_owned()),
        direct_path,
        result: Some(result as i32),
        message_secret: None,
    };
    seal(media_key, message_id, &notification.encode_to_vec())
}

/// The receiver reads the answer.
pub fn open_answer(
    media_key: &[u8],
    message_id: &str,
    sealed: &Sealed,
) -> Result<RetryOutcome, MediaError> {
    use media_retry_notification::ResultType;
    let plain = open(media_key, message_id, sealed)?;
    let n = MediaRetryNotification::decode(plain.as_slice())
        .map_err(|_| MediaError::RetryUndecryptable)?;
    if n.stanza_id.as_deref() != Some(message_id) {
        return Err(MediaError::RetryUndecryptable);
    }
    Ok(match n.result.and_then(|r| ResultType::try_from(r).ok()) {
        Some(ResultType::Success) => match n.direct_path {
            Some(p) if p.starts_with('/') => RetryOutcome::Reuploaded { direct_path: p },
            _ => RetryOutcome::Failed,
        },
        Some(ResultType::NotFound) => RetryOutcome::NotFound,
        _ => RetryOutcome::Failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_open_only_with_the_same_key_and_message_id() {
        let key = [5u8; 32];
        let request = seal_request(&key, "3EB0AA").unwrap();
        open_request(&key, "3EB0AA", &request).unwrap();
        assert_eq!(
            open_request(&key, "3EB0AB", &request),
            Err(MediaError::RetryUndecryptable)
        );
        assert_eq!(
            open_request(&[6; 32], "3EB0AA", &request),
            Err(MediaError::RetryUndecryptable)
        );
        for outcome in [
            RetryOutcome::Reuploaded {
                direct_path: "/v/t62/x.enc?a=1".into(),
            },
            RetryOutcome::NotFound,
            RetryOutcome::Failed,
        ] {
            let answer = seal_answer(&key, "3EB0AA", &outcome).unwrap();
            assert_eq!(open_answer(&key, "3EB0AA", &answer).unwrap(), outcome);
            let mut bad = answer.clone();
            bad.ciphertext[0] ^= 1;
            assert_eq!(
                open_answer(&key, "3EB0AA", &bad),
                Err(MediaError::RetryUndecryptable)
            );
        }
        assert_eq!(seal_request(&key[..3], "x"), Err(MediaError::BadKey(3)));
    }
}
