//! Device cookies: proof that this browser signed in to an account before.
//!
//! Sign-in limits protect accounts by refusing attempts, which an attacker can use against
//! everyone else: failing on purpose from an office's shared address (or from behind a reverse
//! proxy that is not in `TRUSTED_PROXIES`) would lock out every colleague, and failing on purpose
//! for one email locks that person out. So, as OWASP suggests, a successful sign-in leaves a
//! signed cookie naming the account (a hash of its email); an attempt that presents it for the
//! same email is exempt from the per-IP limit and from the account's lock-out. It gets its own
//! small budget instead (`Limits::logins_per_device`), so a stolen device cookie buys only a few
//! guesses.
//!
//! Format: base64url of `SHA-256(email)[..16] ‖ issued (u64 seconds) ‖ nonce (8) ‖ tag (16)`;
//! the tag is an HMAC under a key derived from `SESSION_ENCRYPTION_KEY`. Valid for 30 days.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};
use sha2::{Digest as _, Sha256};

use super::token::{TokenKey, cookie_header, cookie_value};

pub const COOKIE_NAME: &str = "rl_device";
pub const SECURE_COOKIE_NAME: &str = "__Host-rl_device";
/// How long a device cookie stays valid (and its `Max-Age`).
pub const LIFETIME_SECS: u64 = 30 * 86_400;

const BODY_LEN: usize = 16 + 8 + 8;
const TAG_LEN: usize = 16;

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

fn email_digest(email: &str) -> [u8; 16] {
    let full = Sha256::digest(email.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A valid device cookie from the request: which email it vouches for, and its nonce (the key of
/// its own attempt budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    email: [u8; 16],
    pub nonce: [u8; 8],
}

impl Device {
    /// Whether this cookie was issued for `email` (normalised).
    pub fn vouches_for(&self, email: &str) -> bool {
        self.email == email_digest(email)
    }
}

/// The request's device cookie, if it is present, ours and not expired.
pub fn from_headers(headers: &HeaderMap, key: &TokenKey, secure: bool) -> Option<Device> {
    let value = cookie_value(headers, cookie_name(secure))?;
    let bytes = URL_SAFE_NO_PAD.decode(value.as_bytes()).ok()?;
    if bytes.len() != BODY_LEN + TAG_LEN {
        return None;
    }
    let (body, tag) = bytes.split_at(BODY_LEN);
    if !key.verify(body, tag) {
        return None;
    }
    let issued = u64::from_be_bytes(body[16..24].try_into().ok()?);
    if now_secs().saturating_sub(issued) > LIFETIME_SECS {
        return None;
    }
    Some(Device {
        email: body[..16].try_into().ok()?,
        nonce: body[24..32].try_into().ok()?,
    })
}

/// `Set-Cookie` for a browser that just signed in to `email` (normalised).
pub fn set_cookie(email: &str, key: &TokenKey, secure: bool) -> HeaderValue {
    let mut body = Vec::with_capacity(BODY_LEN + TAG_LEN);
    body.extend_from_slice(&email_digest(email));
    body.extend_from_slice(&now_secs().to_be_bytes());
    body.extend_from_slice(&rand::random::<[u8; 8]>());
    let tag = key.tag(&body);
    body.extend_from_slice(&tag);
    cookie_header(
        cookie_name(secure),
        &URL_SAFE_NO_PAD.encode(body),
        secure,
        &format!("; Max-Age={LIFETIME_SECS}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn request_with(cookie: &HeaderValue) -> HeaderMap {
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        headers
    }

    #[test]
    fn a_device_cookie_vouches_for_its_email_only() {
        let key = TokenKey::random();
        let cookie = set_cookie("ana@example.com", &key, true);
        assert!(cookie.to_str().unwrap().starts_with("__Host-rl_device="));
        let device = from_headers(&request_with(&cookie), &key, true).unwrap();
        assert!(device.vouches_for("ana@example.com"));
        assert!(!device.vouches_for("bob@example.com"));
        assert!(from_headers(&request_with(&cookie), &TokenKey::random(), true).is_none());
        assert!(
            from_headers(&request_with(&cookie), &key, false).is_none(),
            "read under the deployment's name only"
        );
    }
}
