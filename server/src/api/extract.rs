//! Extractors whose rejections are our JSON errors instead of axum's plain-text ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::{StatusCode, header};
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
            let verifier = state.jwt.as_ref().ok_or(ApiError::Unauthorized)?;
            let user = verifier.verify(token.trim()).map_err(|e| {
                tracing::info!(error = %e, "bearer token refused");
                ApiError::Unauthorized
            })?;
            // Cookie users are limited by `throttle::limit_by_user`; token users here, once the
            // token names them.
            state
                .limits
                .requests_per_user
                .check(&user.id)
                .map_err(|retry| ApiError::RateLimited {
                    retry_after: retry.seconds(),
                })?;
            state
                .store
                .accounts()
                .ensure_jwt_user(user.id, user.email.as_deref())
                .await
                .map_err(ApiError::internal)?;
            return Ok(Self {
                id: user.id,
                email: user.email,
            });
        }
        parts
            .extensions
            .get::<CurrentUser>()
            .map(|u| Self {
                id: u.id,
                email: Some(u.email.clone()),
            })
            .ok_or(ApiError::Unauthorized)
    }
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
