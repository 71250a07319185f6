//! Dashboard sessions backed by a Supabase Auth session (Supabase mode).
//!
//! Our cookie works as in standalone mode (signed random token, hash in the database, idle and
//! absolute limits), but the row also holds a GoTrue session of our own — its access and refresh
//! tokens, sealed with AES-256-GCM under a key derived from `SESSION_ENCRYPTION_KEY` and bound to
//! the row's token hash — and when its access token expires. A request after that time refreshes
//! first (`grant_type=refresh_token`); a refused refresh ends our session too, so it never outlives
//! the Supabase one (signed out elsewhere, user deleted or banned, session time-boxed). One
//! refresher at a time per session (a claim in the row, across tabs and instances): GoTrue's
//! refresh tokens are single-use, and a second use is read as theft and revokes the session.

use std::time::Duration;

use aes_gcm::aead::{Aead as _, OsRng, Payload};
use aes_gcm::{AeadCore as _, Aes256Gcm, Key, KeyInit as _, Nonce};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use super::jwt::JwtUser;
use super::supabase::{GoTrueError, Tokens};
use super::token;
use crate::state::AppState;

/// How long one request may hold the right to refresh a session. Others carry on meanwhile.
const REFRESH_CLAIM: Duration = Duration::from_secs(15);
/// Refresh this long before the access token's `exp`, so a request never races the clock.
const EXPIRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
const NONCE_LEN: usize = 12;

/// Seals the tokens kept with a session.
#[derive(Clone)]
pub struct TokenSeal(Aes256Gcm);

impl TokenSeal {
    /// A key of its own (HKDF-SHA256 of the session key), as for the cookie signing keys.
    pub fn derive(master: &[u8; 32]) -> Self {
        let mut out = [0u8; 32];
        // Cannot fail: 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        let _ = hkdf::Hkdf::<Sha256>::new(Some(b"rarity-leads"), master)
            .expand(b"supabase-tokens-v1", &mut out);
        Self(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&out)))
    }

    pub fn random() -> Self {
        Self::derive(&rand::random())
    }

    /// `nonce ‖ ciphertext` of the tokens, bound to the session's token hash.
    pub fn seal(&self, session: &[u8; 32], tokens: &Tokens) -> Vec<u8> {
        let plain = serde_json::json!({
            "a": tokens.access.expose_secret(),
            "r": tokens.refresh.as_ref().map(|r| r.expose_secret()),
        })
        .to_string();
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.0.encrypt(
            &nonce,
            Payload {
                msg: plain.as_bytes(),
                aad: session,
            },
        );
        // AES-GCM encryption fails only for messages beyond 64 GiB.
        let sealed = sealed.unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The tokens, or `None` when they were sealed under another key (a rotated
    /// `SESSION_ENCRYPTION_KEY`) or for another session.
    pub fn open(&self, session: &[u8; 32], sealed: &[u8]) -> Option<Tokens> {
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: session,
                },
            )
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&plain).ok()?;
        Some(Tokens {
            access: SecretString::from(value.get("a")?.as_str()?.to_owned()),
            refresh: value
                .get("r")
                .and_then(|r| r.as_str())
                .map(|r| SecretString::from(r.to_owned())),
        })
    }
}

impl std::fmt::Debug for TokenSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSeal([REDACTED])")
    }
}

/// What a request signed in through Supabase carries (request extension): the sealed tokens as
/// read (or just refreshed) and when the access token expires. Sign-out uses them.
#[derive(Clone)]
pub struct SupabaseLink {
    pub sealed: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// Why a Supabase session could not become one of ours.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the access token is not valid: {0}")]
    Token(#[from] super::jwt::JwtError),
    #[error("the session is for another user")]
    OtherUser,
    #[error(transparent)]
    GoTrue(#[from] GoTrueError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

fn expiry(user: &JwtUser) -> DateTime<Utc> {
    DateTime::from_timestamp(user.expires_at, 0).unwrap_or_else(Utc::now)
}

/// Verifies a fresh GoTrue session's access token, makes sure its user has a row, and stores a
/// dashboard session for it. Returns the cookie's token and the user. `expected` guards a session
/// GoTrue opened for a user we already know (it must be that user).
pub async fn start(
    state: &AppState,
    tokens: &Tokens,
    expected: Option<Uuid>,
) -> Result<(String, JwtUser), StartError> {
    let verifier = state
        .jwt
        .as_ref()
        .ok_or(GoTrueError::Unavailable("no verifier".into()))?;
    let user = verifier.verify(tokens.access.expose_secret()).await?;
    if expected.is_some_and(|id| id != user.id) {
        return Err(StartError::OtherUser);
    }
    let accounts = state.store.accounts();
    accounts
        .ensure_jwt_user(user.id, user.email.as_deref())
        .await?;
    let cookie = token::generate(&state.keys.session);
    let hash = token::hash(&cookie);
    let sealed = state.keys.supabase.seal(&hash, tokens);
    accounts
        .start_supabase_web_session(
            user.id,
            &hash,
            state.settings.session_lifetime,
            &sealed,
            expiry(&user),
        )
        .await?;
    Ok((cookie, user))
}

/// What [`keep_alive`] found.
pub enum Alive {
    /// The session stands (its access token is current, was just refreshed, or another request
    /// is refreshing it right now).
    Yes(SupabaseLink),
    /// Supabase refused the refresh (or the tokens could not be read): our session was ended.
    Ended,
    /// Supabase Auth could not be asked; nothing changed, a later request tries again.
    Unavailable,
}

/// Refreshes the session behind `hash` when its access token has expired.
pub async fn keep_alive(
    state: &AppState,
    hash: &[u8; 32],
    user_id: Uuid,
    link: SupabaseLink,
) -> Result<Alive, store::StoreError> {
    if link.expires_at - EXPIRY_MARGIN > Utc::now() {
        return Ok(Alive::Yes(link));
    }
    let accounts = state.store.accounts();
    let Some(sealed) = accounts.claim_supabase_refresh(hash, REFRESH_CLAIM).await? else {
        // Someone else is refreshing it (for at most REFRESH_CLAIM), or it is gone: this request
        // goes on; the next one sees the outcome.
        return Ok(Alive::Yes(link));
    };
    let (Some(gotrue), Some(tokens)) = (&state.gotrue, state.keys.supabase.open(hash, &sealed))
    else {
        accounts.end_web_session(hash).await?;
        return Ok(Alive::Ended);
    };
    let Some(refresh) = tokens.refresh else {
        tracing::info!(%user_id, "a Supabase session without a refresh token expired: signed out");
        accounts.end_web_session(hash).await?;
        return Ok(Alive::Ended);
    };
    match gotrue.refresh(&refresh).await {
        Ok(fresh) => {
            let verified = match &state.jwt {
                Some(verifier) => verifier.verify(fresh.access.expose_secret()).await.ok(),
                None => None,
            };
            match verified {
                Some(user) if user.id == user_id => {
                    let sealed = state.keys.supabase.seal(hash, &fresh);
                    let expires_at = expiry(&user);
                    accounts
                        .finish_supabase_refresh(hash, Some((&sealed, expires_at)))
                        .await?;
                    Ok(Alive::Yes(SupabaseLink { sealed, expires_at }))
                }
                _ => {
                    tracing::warn!(%user_id, "Supabase refreshed the session with a token we do not accept: signed out");
                    accounts.end_web_session(hash).await?;
                    Ok(Alive::Ended)
                }
            }
        }
        Err(GoTrueError::Refused { code }) => {
            tracing::info!(%user_id, %code, "Supabase refused to refresh the session: signed out");
            accounts.end_web_session(hash).await?;
            Ok(Alive::Ended)
        }
        Err(e) => {
            tracing::warn!(%user_id, error = %e, "could not refresh a Supabase session");
            accounts.finish_supabase_refresh(hash, None).await?;
            Ok(Alive::Unavailable)
        }
    }
}

/// Ends the GoTrue session behind our session (best effort: our own sign-out never waits on it
/// failing). `global` ends every GoTrue session of the user ("sign out everywhere").
pub async fn sign_out(state: &AppState, hash: &[u8; 32], link: &SupabaseLink, global: bool) {
    let (Some(gotrue), Some(tokens)) =
        (&state.gotrue, state.keys.supabase.open(hash, &link.sealed))
    else {
        return;
    };
    let scope = if global { "global" } else { "local" };
    // GoTrue's logout needs a current access token; an expired one is refreshed first.
    let access = if link.expires_at - EXPIRY_MARGIN > Utc::now() {
        Some(tokens.access)
    } else {
        match &tokens.refresh {
            Some(refresh) => gotrue.refresh(refresh).await.ok().map(|t| t.access),
            None => None,
        }
    };
    if let Some(access) = access
        && let Err(e) = gotrue.logout(&access, scope).await
    {
        tracing::warn!(error = %e, "could not end the Supabase session at sign-out");
    }
}
