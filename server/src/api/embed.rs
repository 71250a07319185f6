//! `POST /api/embed/tokens`: a short-lived signed token for an embed view (see `crate::embed`).
//! The host app's backend calls this (with the user's Supabase token, a session, or an API key
//! with the `manage` scope: an embed can send messages and manage accounts) and puts the answer's
//! `url` in an iframe.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use app::ctx::EmbedView;

use super::{ApiError, ApiJson, ApiUser, ErrorBody};
use crate::embed::{EmbedClaims, token};
use crate::state::AppState;

/// Shortest, default and longest token lifetime (seconds).
const TTL_MIN: i64 = 60;
const TTL_DEFAULT: i64 = 900;
const TTL_MAX: i64 = 3600;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_token))
}

/// What to embed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEmbedToken {
    /// `chat` (one lead's conversation; needs `lead_id`) or `accounts` (the account manager).
    #[schema(example = "chat")]
    view: String,
    /// The lead whose chat to show (required for `chat`, refused for `accounts`).
    lead_id: Option<Uuid>,
    /// 60 to 3600; 900 when left out. The page must be loaded before then; a loaded page keeps
    /// working until the token expires (its server calls carry it as a cookie).
    ttl_seconds: Option<i64>,
    /// The host page's origin (one of `EMBED_ALLOWED_ORIGINS`): where the view posts its height.
    /// May be left out when only one origin is allowed.
    #[schema(example = "https://app.rarityleads.com")]
    origin: Option<String>,
}

/// A token and where to use it.
#[derive(Serialize, utoipa::ToSchema)]
struct EmbedToken {
    token: String,
    /// RFC 3339.
    expires_at: chrono::DateTime<chrono::Utc>,
    /// The iframe's `src`: the view's path with the token (add `&theme=light` for the light
    /// theme), absolute when `PUBLIC_URL` is set.
    #[schema(example = "/embed/chat/7d1c…?token=v1.…")]
    url: String,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation {
        field: Some(field.to_owned()),
        message: message.to_owned(),
    }
}

#[utoipa::path(
    post,
    path = "/embed/tokens",
    tag = "embed",
    operation_id = "create_embed_token",
    summary = "A short-lived token for an embedded chat or account manager",
    description = "Signed, never stored. Put `url` in an iframe on an origin listed in \
        `EMBED_ALLOWED_ORIGINS`. An API key needs the `manage` scope.",
    request_body = NewEmbedToken,
    responses(
        (status = 201, description = "The token", body = EmbedToken),
        (status = 404, description = "Embedding is off (`EMBED_ALLOWED_ORIGINS` unset), or the lead is not the user's", body = ErrorBody),
        (status = 422, description = "`view`, `lead_id`, `ttl_seconds` or `origin` is not valid", body = ErrorBody),
    ),
)]
async fn create_token(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(new): ApiJson<NewEmbedToken>,
) -> Result<Response, ApiError> {
    let origins = &state.settings.embed_origins;
    if origins.is_empty() {
        return Err(ApiError::NotFound);
    }
    let ttl = new.ttl_seconds.unwrap_or(TTL_DEFAULT);
    if !(TTL_MIN..=TTL_MAX).contains(&ttl) {
        return Err(invalid("ttl_seconds", "ttl_seconds must be 60 to 3600"));
    }
    let origin = match new.origin {
        Some(origin) => {
            let origin = origin.trim().trim_end_matches('/').to_owned();
            if !origins.contains(&origin) {
                return Err(invalid(
                    "origin",
                    "origin must be one of EMBED_ALLOWED_ORIGINS",
                ));
            }
            origin
        }
        None if origins.len() == 1 => origins[0].clone(),
        None => {
            return Err(invalid(
                "origin",
                "origin is required when several origins may embed",
            ));
        }
    };
    let (view, path) = match (new.view.as_str(), new.lead_id) {
        ("chat", Some(lead_id)) => {
            // Only the user's own lead (RLS): somebody else's is not found.
            let mut tx = state.store.as_user(user.id).await?;
            tx.lead_get(lead_id).await?;
            tx.commit().await?;
            (
                EmbedView::Chat { lead_id },
                format!("/embed/chat/{lead_id}"),
            )
        }
        ("chat", None) => return Err(invalid("lead_id", "lead_id is required for the chat view")),
        ("accounts", None) => (EmbedView::Accounts, "/embed/accounts".to_owned()),
        ("accounts", Some(_)) => {
            return Err(invalid("lead_id", "lead_id is only for the chat view"));
        }
        _ => return Err(invalid("view", "view must be chat or accounts")),
    };
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(ttl);
    let token = token::sign(
        &state.keys.embed,
        &EmbedClaims {
            user_id: user.id,
            view,
            origin,
            expires_at: expires_at.timestamp(),
        },
    );
    let base = state.settings.public_url.as_deref().unwrap_or("");
    let url = format!("{base}{path}?token={token}");
    let body = EmbedToken {
        token,
        expires_at,
        url,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
