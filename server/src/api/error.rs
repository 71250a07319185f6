//! The one error type of the HTTP layer.
//!
//! Every failure becomes a status code and `{"error":{"code":"…","message":"…"}}` (plus `"field"` for
//! validation errors). 5xx causes are logged with their full chain and never sent to the client.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in, or send a valid bearer token")]
    Unauthorized,
    #[error("cross-origin request refused")]
    Forbidden,
    /// An API key without the scope a request needs: 403 `insufficient_scope`.
    #[error("{0}")]
    InsufficientScope(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// An upload over its own limit (CSV import): 413 `payload_too_large`.
    #[error("{0}")]
    FileTooLarge(std::borrow::Cow<'static, str>),
    /// An uploaded file whose content is not something we send, or not what it claims to be:
    /// 415 `unsupported_media_type` with the reason.
    #[error("{0}")]
    UnsupportedFile(String),
    #[error("{message}")]
    Validation {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    /// The recipient opted out of WhatsApp messages from this user: 409 `opted_out`.
    #[error("{0}")]
    OptedOut(String),
    #[error("temporarily unavailable")]
    Unavailable,
    /// Supabase mode: Supabase Auth could not be reached to sign in or to refresh a session.
    #[error("Supabase Auth is not reachable right now; try again in a moment")]
    AuthUnavailable,
    /// Supabase mode: accounts are created in the host app, not here (403 `signup_disabled`).
    #[error(
        "sign-up is off here: this dashboard signs in through Supabase Auth; create your account in the main app, then sign in"
    )]
    SignUpDisabled,
    /// A rate limit: 429 with `Retry-After` (seconds).
    #[error("too many requests; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// Too busy to take this request now (password hashing, session lookups): 503 with
    /// `Retry-After` (seconds).
    #[error("the server is busy; try again in {retry_after} s")]
    Overloaded { retry_after: u64 },
    /// WhatsApp could not be reached (or refused); the message says why in our own words.
    #[error("{0}")]
    WhatsappUnavailable(String),
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The body of every error answer: `{"error": {"code", "message", "field"?}}`. It is what
/// [`ApiError`] serialises, and its schema is `ErrorBody` in the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(description = "The body of every error answer.")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: switch on this, not on `message`.
    #[schema(schema_with = error_code_schema)]
    pub code: &'static str,
    /// For people; wording may change.
    pub message: String,
    /// The request field to fix (validation errors, 422, only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Every code [`ApiError::code`] can give (the `code` enum of the OpenAPI document; a unit test
/// keeps the two in step).
pub const ERROR_CODES: [&str; 16] = [
    "unauthorized",
    "forbidden",
    "insufficient_scope",
    "not_found",
    "bad_request",
    "method_not_allowed",
    "unsupported_media_type",
    "payload_too_large",
    "validation_failed",
    "conflict",
    "opted_out",
    "unavailable",
    "rate_limited",
    "overloaded",
    "whatsapp_unavailable",
    "internal",
];

fn error_code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_CODES))
        .examples(["validation_failed"])
        .build()
}

impl ApiError {
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::InsufficientScope(_) | Self::SignUpDisabled => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType | Self::UnsupportedFile(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::PayloadTooLarge | Self::FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) | Self::OptedOut(_) => StatusCode::CONFLICT,
            Self::Unavailable
            | Self::AuthUnavailable
            | Self::WhatsappUnavailable(_)
            | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType | Self::UnsupportedFile(_) => "unsupported_media_type",
            Self::PayloadTooLarge | Self::FileTooLarge(_) => "payload_too_large",
            Self::Validation { .. } => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::OptedOut(_) => "opted_out",
            Self::Unavailable => "unavailable",
            Self::AuthUnavailable => "auth_unavailable",
            Self::SignUpDisabled => "signup_disabled",
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded { .. } => "overloaded",
            Self::WhatsappUnavailable(_) => "whatsapp_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(error = %chain, "request failed");
        }
        let field = match &self {
            Self::Validation { field, .. } => field.clone(),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::RateLimited { retry_after } | Self::Overloaded { retry_after } = &self {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(*retry_after),
            );
        }
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        use store::StoreError as E;
        match err {
            E::Invalid { field, message } => Self::validation(field, message),
            E::EmailTaken => {
                Self::Conflict("an account with this email address already exists".to_owned())
            }
            E::Conflict { field, message } => Self::Conflict(format!("{field}: {message}")),
            E::LimitReached { .. } | E::QuotaReached { .. } | E::NotLinked => {
                Self::Conflict(err.to_string())
            }
            E::OptedOut => Self::OptedOut(err.to_string()),
            // RLS makes "someone else's row" and "no row" the same thing; so do we.
            E::NotFound | E::Forbidden => Self::NotFound,
            other => Self::internal(other),
        }
    }
}

impl From<sessions::SessionsError> for ApiError {
    fn from(err: sessions::SessionsError) -> Self {
        use sessions::SessionsError as E;
        use whatsapp::client::CommandError as C;
        match err {
            E::NotFound => Self::NotFound,
            E::Command(C::NotLinked | C::AlreadyLinked) | E::HeldElsewhere => {
                Self::Conflict(err.to_string())
            }
            E::Command(C::Invalid(message)) => match message.split_once(": ") {
                Some((field, message)) => Self::validation(field, message),
                None => Self::Validation {
                    field: None,
                    message,
                },
            },
            E::Command(C::Unavailable(why)) => {
                tracing::warn!(error = %why, "a WhatsApp command could not be carried out");
                Self::WhatsappUnavailable(format!("WhatsApp is not reachable right now: {why}"))
            }
            E::Command(C::Stopped) | E::Timeout => {
                tracing::warn!(error = %err, "a WhatsApp command could not be carried out");
                Self::Unavailable
            }
            E::Store(_) => Self::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let response = ApiError::internal("password=hunter2 connection refused").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let debug = format!("{:?}", response.body());
        assert!(!debug.contains("hunter2"));
    }

    #[test]
    fn every_code_is_in_the_documented_list() {
        let errors = [
            ApiError::Unauthorized,
            ApiError::Forbidden,
            ApiError::InsufficientScope(String::new()),
            ApiError::NotFound,
            ApiError::BadRequest(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::UnsupportedMediaType,
            ApiError::UnsupportedFile(String::new()),
            ApiError::PayloadTooLarge,
            ApiError::FileTooLarge("".into()),
            ApiError::validation("f", "m"),
            ApiError::Conflict(String::new()),
            ApiError::OptedOut(String::new()),
            ApiError::Unavailable,
            ApiError::RateLimited { retry_after: 1 },
            ApiError::Overloaded { retry_after: 1 },
            ApiError::WhatsappUnavailable(String::new()),
            ApiError::internal("x"),
        ];
        let mut seen: Vec<&str> = errors.iter().map(ApiError::code).collect();
        for code in &seen {
            assert!(
                ERROR_CODES.contains(code),
                "{code} is missing from ERROR_CODES"
            );
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            ERROR_CODES.len(),
            "ERROR_CODES lists a code no error has"
        );
    }
}
