//! Embed tokens: what a host app hands to an iframe of `/embed/…`.
//!
//! `v1.<claims>.<tag>`: the claims are JSON (user, view, lead, host origin, expiry) in base64url,
//! the tag a 16-byte HMAC-SHA256 over `v1.<claims>` with a key derived from the session key for
//! this purpose alone (`embed-token-v1`). Nothing is stored: a token is checked by its signature
//! and its expiry, so issuing one costs no database row and no secret of the database is in it.
//! The claims are readable by whoever holds the token (they name a user id and a lead id, which
//! the holder may see anyway); they cannot be changed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use app::ctx::EmbedView;

use crate::auth::token::TokenKey;

const PREFIX: &str = "v1.";
/// Tokens longer than this are refused unread (a claim set is about 200 characters).
const MAX_LEN: usize = 1024;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedClaims {
    pub user_id: Uuid,
    pub view: EmbedView,
    /// The host page's origin: the only `postMessage` target, one of `EMBED_ALLOWED_ORIGINS`.
    pub origin: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    u: Uuid,
    v: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<Uuid>,
    o: String,
    e: i64,
}

/// Why a token is refused (all end as 401; the words are for the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmbedTokenError {
    #[error("this link is not a valid embed token")]
    Invalid,
    #[error("this embed link has expired; reload the page that shows it")]
    Expired,
}

pub fn sign(key: &TokenKey, claims: &EmbedClaims) -> String {
    let (v, l) = match claims.view {
        EmbedView::Chat { lead_id } => ("chat", Some(lead_id)),
        EmbedView::Accounts => ("accounts", None),
    };
    let wire = Wire {
        u: claims.user_id,
        v: v.to_owned(),
        l,
        o: claims.origin.clone(),
        e: claims.expires_at,
    };
    // Serialising a struct of strings and numbers cannot fail.
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
    let tag = key.tag(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks the signature first (nothing unsigned is parsed), then the expiry against `now`.
pub fn verify(key: &TokenKey, token: &str, now: i64) -> Result<EmbedClaims, EmbedTokenError> {
    use EmbedTokenError::Invalid;
    if token.len() > MAX_LEN || !token.starts_with(PREFIX) {
        return Err(Invalid);
    }
    let (signed, tag) = token.rsplit_once('.').ok_or(Invalid)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Invalid)?;
    if tag.len() != 16 || !key.verify(signed.as_bytes(), &tag) {
        return Err(Invalid);
    }
    let json = URL_SAFE_NO_PAD
        .decode(&signed[PREFIX.len()..])
        .map_err(|_| Invalid)?;
    let wire: Wire = serde_json::from_slice(&json).map_err(|_| Invalid)?;
    let view = match (wire.v.as_str(), wire.l) {
        ("chat", Some(lead_id)) => EmbedView::Chat { lead_id },
        ("accounts", None) => EmbedView::Accounts,
        _ => return Err(Invalid),
    };
    if wire.e <= now {
        return Err(EmbedTokenError::Expired);
    }
    Ok(EmbedClaims {
        user_id: wire.u,
        view,
        origin: wire.o,
        expires_at: wire.e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> EmbedClaims {
        EmbedClaims {
            user_id: Uuid::new_v4(),
            view: EmbedView::Chat {
                lead_id: Uuid::new_v4(),
            },
            origin: "https://app.example".into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let key = TokenKey::random();
        let claims = claims();
        let token = sign(&key, &claims);
        assert_eq!(verify(&key, &token, 999), Ok(claims));
        assert_eq!(verify(&key, &token, 1_000), Err(EmbedTokenError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_claim_is_invalid() {
        let key = TokenKey::random();
        let token = sign(&key, &claims());
        assert_eq!(
            verify(&TokenKey::random(), &token, 0),
            Err(EmbedTokenError::Invalid)
        );
        let (signed, tag) = token.rsplit_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&signed[3..]).unwrap()).unwrap();
        json["e"] = serde_json::json!(i64::MAX);
        let forged = format!(
            "v1.{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap())
        );
        assert_eq!(verify(&key, &forged, 0), Err(EmbedTokenError::Invalid));
        for junk in ["", "v1.", "v1..", "x.y.z", &"v1.a".repeat(400)] {
            assert_eq!(verify(&key, junk, 0), Err(EmbedTokenError::Invalid));
        }
    }
}
