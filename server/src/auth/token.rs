//! Session tokens and the session cookie.
//!
//! A token is 32 random bytes followed by a 16-byte HMAC-SHA256 tag over them, base64url without
//! padding (64 characters). The tag key is derived from `SESSION_ENCRYPTION_KEY`, so a cookie we
//! did not issue is recognised without touching the database: a flood of random cookies cannot
//! queue up session lookups and starve the connection pool. Only the token's SHA-256 is stored, so
//! a database leak does not hand out live sessions.
//!
//! The cookie is `__Host-rl_session` when it is `Secure` (the `__Host-` prefix makes browsers
//! refuse it unless it is Secure, host-only and `Path=/`, so a sibling subdomain cannot plant or
//! overwrite it), and `rl_session` on plain-http development setups, where browsers drop Secure
//! cookies and the prefix is therefore impossible.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest as _, Sha256};

/// The cookie's name on plain http (development) …
pub const COOKIE_NAME: &str = "rl_session";
/// … and wherever it is `Secure`.
pub const SECURE_COOKIE_NAME: &str = "__Host-rl_session";

const RANDOM_LEN: usize = 32;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 64; // base64url of 48 bytes

/// The HMAC key that signs session tokens (and, under another label, device cookies).
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// Derives a purpose-bound key from the session encryption key (HKDF-SHA256), so the key that
    /// encrypts WhatsApp credentials is never used directly for anything else.
    pub fn derive(master: &[u8; 32], purpose: &str) -> Self {
        let mut out = [0u8; 32];
        // Cannot fail: 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        let _ = hkdf::Hkdf::<Sha256>::new(Some(b"rarity-leads"), master)
            .expand(purpose.as_bytes(), &mut out);
        Self(out)
    }

    /// A random key (tests, and a server started without a session key).
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub(crate) fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Constant-time check of a tag made by [`TokenKey::tag`].
    pub(crate) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(data);
        mac.verify_truncated_left(tag).is_ok()
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([REDACTED])")
    }
}

/// A fresh signed token (the cookie value).
pub fn generate(key: &TokenKey) -> String {
    let random: [u8; RANDOM_LEN] = rand::random();
    let mut bytes = Vec::with_capacity(RANDOM_LEN + TAG_LEN);
    bytes.extend_from_slice(&random);
    bytes.extend_from_slice(&key.tag(&random));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` is one we issued (well-formed and correctly signed).
pub fn is_signed(key: &TokenKey, token: &str) -> bool {
    if token.len() != TOKEN_LEN {
        return false;
    }
    match URL_SAFE_NO_PAD.decode(token) {
        Ok(bytes) if bytes.len() == RANDOM_LEN + TAG_LEN => {
            let (random, tag) = bytes.split_at(RANDOM_LEN);
            key.verify(random, tag)
        }
        _ => false,
    }
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The session cookie's name for this deployment.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, if present.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// The session token from the request, if a session cookie is present and carries a token we
/// signed. `Some(Err(()))` = a cookie is present but forged or malformed (the caller clears it).
pub fn from_headers(
    headers: &HeaderMap,
    key: &TokenKey,
    secure: bool,
) -> Option<Result<String, ()>> {
    let value = cookie_value(headers, cookie_name(secure))?;
    Some(if is_signed(key, &value) {
        Ok(value)
    } else {
        Err(())
    })
}

/// HttpOnly so scripts cannot read it, SameSite=Lax so cross-site POSTs do not carry it, no Max-Age:
/// the server enforces the idle timeout and the absolute lifetime, and the browser drops the
/// cookie when it closes.
pub fn set_cookie(token: &str, secure: bool) -> HeaderValue {
    cookie_header(cookie_name(secure), token, secure, "")
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    cookie_header(cookie_name(secure), "", secure, "; Max-Age=0")
}

/// `name=value` with our fixed attributes (`HttpOnly; SameSite=Lax; Path=/`, plus `Secure`).
pub fn cookie_header(name: &str, value: &str, secure: bool, extra: &str) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/{secure}{extra}");
    // Names and values are ASCII we wrote (base64url), so this cannot fail; fall back to a
    // clearing cookie rather than panic if it ever did.
    HeaderValue::from_str(&text).unwrap_or_else(|_| {
        HeaderValue::from_static("rl_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_and_only_ours_pass() {
        let key = TokenKey::random();
        let a = generate(&key);
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, generate(&key));
        assert!(is_signed(&key, &a));
        assert!(
            !is_signed(&TokenKey::random(), &a),
            "another key's token is refused"
        );
        let mut forged = a.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert!(!is_signed(&key, &String::from_utf8(forged).unwrap()));
        assert!(!is_signed(&key, &"A".repeat(43)), "the old unsigned format");

        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE_NAME}={a}")).unwrap(),
        );
        assert_eq!(from_headers(&headers, &key, false), Some(Ok(a.clone())));
        assert_eq!(
            from_headers(&headers, &key, true),
            None,
            "a Secure deployment reads only __Host-rl_session"
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("rl_session=../etc"),
        );
        assert_eq!(from_headers(&headers, &key, false), Some(Err(())));
        assert_eq!(from_headers(&HeaderMap::new(), &key, false), None);
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let master = [7u8; 32];
        let a = TokenKey::derive(&master, "one");
        let b = TokenKey::derive(&master, "two");
        assert_ne!(a.tag(b"x"), b.tag(b"x"));
        assert_eq!(a.tag(b"x"), TokenKey::derive(&master, "one").tag(b"x"));
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            set_cookie("abc", true),
            "__Host-rl_session=abc; HttpOnly; SameSite=Lax; Path=/; Secure"
        );
        assert_eq!(
            set_cookie("abc", false),
            "rl_session=abc; HttpOnly; SameSite=Lax; Path=/"
        );
        assert!(clear_cookie(false).to_str().unwrap().ends_with("Max-Age=0"));
    }
}
