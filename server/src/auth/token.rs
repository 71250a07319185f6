//! Session tokens and the `rl_session` cookie.
//!
//! A token is 32 random bytes, base64url without padding (43 characters). Only its SHA-256 is stored,
//! so a database leak does not hand out live sessions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest as _, Sha256};

pub const COOKIE_NAME: &str = "rl_session";
const TOKEN_LEN: usize = 43;

/// A fresh random token (the cookie value).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token from the request's `Cookie` headers, if one is present and well-formed.
/// `Some(Err(()))` = a cookie is present but malformed (the caller clears it).
pub fn from_headers(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())?;
    let well_formed = value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    Some(if well_formed { Ok(value) } else { Err(()) })
}

/// HttpOnly so scripts cannot read it, SameSite=Lax so cross-site POSTs do not carry it, no Max-Age:
/// the server enforces the idle timeout and the browser drops the cookie when it closes.
pub fn set_cookie(token: &str, secure: bool) -> HeaderValue {
    cookie_header(token, secure, "")
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    cookie_header("", secure, "; Max-Age=0")
}

fn cookie_header(value: &str, secure: bool, extra: &str) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{COOKIE_NAME}={value}; HttpOnly; SameSite=Lax; Path=/{secure}{extra}");
    // The token is base64url and the rest is ASCII we wrote, so this cannot fail; fall back to a
    // clearing cookie rather than panic if it ever did.
    HeaderValue::from_str(&text).unwrap_or_else(|_| {
        HeaderValue::from_static("rl_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_43_char_base64url() {
        let a = generate();
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, generate());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE_NAME}={a}")).unwrap(),
        );
        assert_eq!(from_headers(&headers), Some(Ok(a)));
    }

    #[test]
    fn malformed_cookie_is_flagged() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("rl_session=../etc"),
        );
        assert_eq!(from_headers(&headers), Some(Err(())));
        assert_eq!(from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("abc", true);
        assert_eq!(c, "rl_session=abc; HttpOnly; SameSite=Lax; Path=/; Secure");
        assert!(clear_cookie(false).to_str().unwrap().ends_with("Max-Age=0"));
    }
}
