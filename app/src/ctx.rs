//! What the server hands to every page render and server function (server side only).
//!
//! Contract between `server/` (which builds these per request) and `app/` (which reads them):
//! - `AppContext` is provided for every request.
//! - `CurrentUser` is provided only when the request carries a valid, unexpired session cookie.
//!   Dashboard pages are already protected by the server (unauthenticated → 303 to /login), but server
//!   functions must still call [`require_user`] themselves: they are reachable by URL.

use leptos::prelude::*;
use leptos::server_fn::error::ServerFnError;

/// Process-wide state that server functions may use.
#[derive(Clone)]
pub struct AppContext {
    pub store: store::Store,
    /// The WhatsApp sessions' command handle (the same one the REST API uses).
    pub sessions: sessions::Sessions,
    /// `WHATSAPP_MAX_SESSIONS_PER_USER`.
    pub max_sessions_per_user: u32,
    /// `SESSION_IDLE_TIMEOUT`, shown on the Settings page.
    pub session_idle_timeout: std::time::Duration,
    /// The offline WhatsApp of demo mode; `None` (the default) when demo mode is off.
    pub demo: Option<crate::demo::world::DemoWorld>,
    /// The server's webhook URL guard (SSRF): `Err` says in words why a URL is refused.
    pub check_webhook_url: CheckWebhookUrl,
}

/// See [`AppContext::check_webhook_url`].
pub type CheckWebhookUrl = std::sync::Arc<
    dyn Fn(
            String,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// The signed-in user of this request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: uuid::Uuid,
    pub email: String,
}

pub fn app_context() -> Result<AppContext, ServerFnError> {
    use_context::<AppContext>().ok_or_else(|| ServerFnError::new("server context missing"))
}

/// The current user, or an error that the client shows as "please sign in again".
pub fn require_user() -> Result<CurrentUser, ServerFnError> {
    use_context::<CurrentUser>().ok_or_else(|| ServerFnError::new("not signed in"))
}

/// Which embed view a request of an embed session may serve (see the server's `embed` module).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbedView {
    /// One lead's chat: server functions about any other lead are refused.
    Chat { lead_id: uuid::Uuid },
    /// The account manager.
    Accounts,
}

/// Present when the request comes from an embedded view (`/embed/…`, or a server function or
/// socket of one): the user is the token's, and only this view's data may be served.
#[derive(Clone, Debug)]
pub struct EmbedScope {
    pub view: EmbedView,
    /// The host page's origin (where the page posts its height).
    pub origin: String,
}

/// Refuses (as not found, like a lead of somebody else's) a lead other than the embedded chat's
/// own. Server functions that take a lead id call this; outside an embed it always passes.
pub fn check_embed_lead(lead_id: uuid::Uuid) -> Result<(), ServerFnError> {
    match use_context::<EmbedScope>().map(|scope| scope.view) {
        None => Ok(()),
        Some(EmbedView::Chat { lead_id: own }) if own == lead_id => Ok(()),
        Some(_) => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(http::StatusCode::NOT_FOUND);
            }
            Err(ServerFnError::new("not found"))
        }
    }
}
