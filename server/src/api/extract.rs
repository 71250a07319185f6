//! Extractors whose rejections are our JSON errors instead of axum's plain-text ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use app::ctx::CurrentUser;

use super::ApiError;
use crate::state::AppState;

/// A JSON body: malformed → 400, wrong type/missing field → 422, not JSON → 415, too big → 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::BadRequest(format!("malformed JSON: {}", e.body_text()))
                }
                JsonRejection::JsonDataError(e) => ApiError::Validation {
                    field: None,
                    message: e.body_text(),
                },
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::BadRequest(other.body_text()),
            }),
        }
    }
}

/// The authenticated user of an API request: a bearer JWT when an `Authorization` header is present
/// (and then only that), otherwise the session cookie.
#[derive(Debug, Clone)]
pub struct ApiUser {
    pub id: Uuid,
    pub email: Option<String>,
    /// For an API key: the key (its scopes were checked against this request already);
    /// `None` for a signed-in user (session cookie or Supabase token), who may do everything.
    pub api_key: Option<Uuid>,
}

/// What an API key needs for a request (`Err` = no key may do it: managing API keys and deleting
/// the account need a signed-in user). `path` is under `/api`.
pub fn required_scope(method: &Method, path: &str) -> Result<&'static str, ()> {
    let path = path.strip_prefix("/api").unwrap_or(path);
    if path == "/keys" || path.starts_with("/keys/") || path == "/me/delete" {
        return Err(());
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok("read");
    }
    if *method == Method::POST && matches!(path, "/messages" | "/messages/media") {
        return Ok("send");
    }
    Ok("manage")
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthorized)?;
            if store::looks_like_api_key(token.trim()) {
                return api_key_user(parts, state, token.trim()).await;
            }
            let verifier = state.jwt.as_ref().ok_or(ApiError::Unauthorized)?;
            let user = verifier.verify(token.trim()).await.map_err(|e| {
                tracing::info!(error = %e, "bearer token refused");
                ApiError::Unauthorized
            })?;
            limit_token_user(state, user.id)?;
            state
                .store
                .accounts()
                .ensure_jwt_user(user.id, user.email.as_deref())
                .await
                .map_err(ApiError::internal)?;
            return Ok(Self {
                id: user.id,
                email: user.email,
                api_key: None,
            });
        }
        parts
            .extensions
            .get::<CurrentUser>()
            .map(|u| Self {
                id: u.id,
                email: Some(u.email.clone()),
                api_key: None,
            })
            .ok_or(ApiError::Unauthorized)
    }
}

/// Cookie users are limited by `throttle::limit_by_user`; token and key users here, once the
/// token names them.
fn limit_token_user(state: &AppState, user: Uuid) -> Result<(), ApiError> {
    state
        .limits
        .requests_per_user
        .check(&user)
        .map_err(|retry| ApiError::RateLimited {
            retry_after: retry.seconds(),
        })
}

/// An API key's user, after checking the key grants what this request needs.
async fn api_key_user(parts: &Parts, state: &AppState, secret: &str) -> Result<ApiUser, ApiError> {
    let grant = state
        .store
        .accounts()
        .api_key(secret)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::Unauthorized)?;
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |o| o.path().to_owned());
    match required_scope(&parts.method, &path) {
        Err(()) => {
            return Err(ApiError::InsufficientScope(
                "API keys cannot manage API keys or delete the account: sign in for that".into(),
            ));
        }
        Ok(scope) if !grant.scopes.iter().any(|s| s == scope) => {
            return Err(ApiError::InsufficientScope(format!(
                "this API key lacks the {scope} scope"
            )));
        }
        Ok(_) => {}
    }
    limit_token_user(state, grant.user_id)?;
    Ok(ApiUser {
        id: grant.user_id,
        email: None,
        api_key: Some(grant.key_id),
    })
}

/// A resource id from the path. Anything that is not a UUID cannot name a row: 404, like a missing one.
pub struct ResourceId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| ApiError::NotFound)
    }
}
