//! `/ws`: one authenticated WebSocket per browser tab, carrying this user's events with a cursor.
//!
//! Events that change data (a message stored, a status moved, an account changed) come from the
//! user's event log (`store::UserEvent`), which is written in the same transaction as the change:
//! a tab that reconnects with `?cursor=N` gets every event after `N` — after a network blip or a
//! server restart, nothing skipped, nothing doubled. The event hub only wakes the socket up; the
//! log is read after the cursor, so a lagging broadcast cannot lose anything either. Live-only
//! events (QR codes, pairing codes, typing, presence) go straight from the hub.
//!
//! Server → browser, JSON text frames:
//! - `{"type":"hello","cursor":N}` first; `{"type":"reset","cursor":N}` instead when the tab's
//!   cursor is older than the log keeps (it reloads its data, then carries on from `N`);
//! - `{"type":"event","cursor":N,"kind","account_id","payload"}`;
//! - `{"type":"live","account_id","event":{"type":"qr"|"pairing_code"|"typing"|"presence",…}}`
//!   (a QR event carries the code as an SVG too, rendered here);
//! - `{"type":"heartbeat","cursor":N}` every [`HEARTBEAT`], so the tab notices a dead socket.
//!
//! An embed view's socket (see `crate::embed`) gets only what its view shows: a chat embed the
//! events of its lead's messages and of the accounts (for the composer), an accounts embed the
//! account events and their QR and pairing codes; typing and presence go to neither.
//!
//! The browser sends nothing but pongs and its close. A request without a valid session cookie,
//! or from another site's page (`Origin`), is refused before the upgrade. A cookie session's
//! socket asks on every heartbeat whether its session still stands (without restarting its idle
//! clock) and closes with code [`SESSION_ENDED`] once it does not — signed out here or elsewhere,
//! idle or past its lifetime; the page then goes to the sign-in page.

use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sessions::{AccountEvent, HubEvent};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use app::ctx::{CurrentUser, EmbedScope, EmbedView};
pub use app::live::SESSION_ENDED;

use crate::api::ApiError;
use crate::auth::csrf::same_origin;
use crate::auth::session::SessionTokenHash;
use crate::state::AppState;

/// How often the server proves it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// Events read from the log per query.
const PAGE: i64 = 200;

#[derive(Deserialize)]
pub struct WsQuery {
    cursor: Option<i64>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Option<Extension<CurrentUser>>,
    scope: Option<Extension<EmbedScope>>,
    session: Option<Extension<SessionTokenHash>>,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(Extension(user)) = user else {
        return ApiError::Unauthorized.into_response();
    };
    // Cross-site WebSocket hijacking: a page elsewhere must not open a socket with our cookie.
    if !same_origin(&headers, state.settings.frontend_url.as_deref()) {
        return ApiError::Forbidden.into_response();
    }
    let Ok(Query(query)) = query else {
        return ApiError::BadRequest("cursor must be a whole number".into()).into_response();
    };
    if query.cursor.is_some_and(|c| c < 0) {
        return (StatusCode::BAD_REQUEST, "cursor must not be negative").into_response();
    }
    ws.max_message_size(4096)
        .on_upgrade(move |socket| async move {
            let view = scope.map(|Extension(scope)| scope.view);
            let session = session.map(|Extension(SessionTokenHash(hash))| hash);
            if let Err(e) = serve(socket, state, user.id, view, session, query.cursor).await {
                tracing::debug!(error = %e, "browser socket ended");
            }
        })
}

/// Why a socket ended early.
#[derive(Debug, thiserror::Error)]
enum SocketEnd {
    #[error("the browser went away")]
    Gone,
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
}

async fn send(socket: &mut WebSocket, value: Value) -> Result<(), SocketEnd> {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .map_err(|_| SocketEnd::Gone)
}

/// Sends every logged event after `cursor`; returns the new cursor.
async fn catch_up(
    socket: &mut WebSocket,
    state: &AppState,
    user_id: Uuid,
    view: Option<&EmbedView>,
    mut cursor: i64,
) -> Result<i64, SocketEnd> {
    loop {
        let mut tx = state.store.as_user(user_id).await?;
        let events = tx.events_after(cursor, PAGE).await?;
        tx.commit().await?;
        let full = events.len() as i64 == PAGE;
        for event in events {
            cursor = event.id;
            if !logged_visible(view, &event.kind, &event.payload) {
                continue;
            }
            send(
                socket,
                json!({
                    "type": "event",
                    "cursor": event.id,
                    "kind": event.kind,
                    "account_id": event.account_id,
                    "payload": event.payload,
                }),
            )
            .await?;
        }
        if !full {
            return Ok(cursor);
        }
    }
}

/// Whether an embed view's socket gets a logged event (every event outside an embed).
fn logged_visible(view: Option<&EmbedView>, kind: &str, payload: &Value) -> bool {
    match (view, kind) {
        (None, _) => true,
        (Some(_), "account" | "account_removed") => true,
        (Some(EmbedView::Chat { lead_id }), "message" | "message_status") => {
            payload.get("lead_id").and_then(Value::as_str) == Some(lead_id.to_string().as_str())
        }
        (Some(_), _) => false,
    }
}

/// Whether an embed view's socket gets a live event: QR and pairing codes for the account
/// manager; typing and presence name contacts other than the embedded lead, so neither embed.
fn live_visible(view: Option<&EmbedView>, event: &AccountEvent) -> bool {
    match view {
        None => true,
        Some(EmbedView::Accounts) => {
            matches!(
                event,
                AccountEvent::Qr { .. } | AccountEvent::PairingCode { .. }
            )
        }
        Some(EmbedView::Chat { .. }) => false,
    }
}

/// A live-only hub event as the browser gets it.
fn live(event: &HubEvent) -> Option<Value> {
    let mut body = serde_json::to_value(&event.event).ok()?;
    if let AccountEvent::Qr { qr, .. } = &event.event {
        body["svg"] = Value::String(app::qr::svg(qr)?);
    }
    Some(json!({ "type": "live", "account_id": event.account_id, "event": body }))
}

async fn serve(
    mut socket: WebSocket,
    state: AppState,
    user_id: Uuid,
    view: Option<EmbedView>,
    session: Option<[u8; 32]>,
    resume_from: Option<i64>,
) -> Result<(), SocketEnd> {
    let view = view.as_ref();
    // Subscribe before reading the log: whatever happens meanwhile is in one or the other.
    let mut hub = state.sessions.hub().subscribe();
    let mut tx = state.store.as_user(user_id).await?;
    let latest = tx.latest_event_id().await?;
    let oldest = tx.oldest_event_id().await?;
    tx.commit().await?;
    let mut cursor = match resume_from {
        // A cursor from the future (another database, a forged value) cannot be trusted.
        Some(c) if c > latest => {
            send(&mut socket, json!({ "type": "reset", "cursor": latest })).await?;
            latest
        }
        // Older than what is kept: the tab must reload rather than miss pruned events.
        Some(c) if oldest > 0 && c < oldest - 1 => {
            send(&mut socket, json!({ "type": "reset", "cursor": latest })).await?;
            latest
        }
        Some(c) => {
            send(&mut socket, json!({ "type": "hello", "cursor": c })).await?;
            catch_up(&mut socket, &state, user_id, view, c).await?
        }
        None => {
            send(&mut socket, json!({ "type": "hello", "cursor": latest })).await?;
            latest
        }
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            received = hub.recv() => match received {
                Ok(event) if event.user_id != user_id => {}
                Ok(event) => match event.cursor {
                    Some(c) if c > cursor => {
                        cursor = catch_up(&mut socket, &state, user_id, view, cursor).await?;
                    }
                    Some(_) => {}
                    None if !live_visible(view, &event.event) => {}
                    None => {
                        if let Some(body) = live(&event) {
                            send(&mut socket, body).await?;
                        }
                    }
                },
                // The broadcast dropped events for this slow socket: the log has them.
                Err(RecvError::Lagged(_)) => {
                    cursor = catch_up(&mut socket, &state, user_id, view, cursor).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = heartbeat.tick() => {
                if let Some(hash) = &session
                    && !state
                        .store
                        .accounts()
                        .web_session_stands(hash, state.settings.session_lifetime)
                        .await?
                {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: SESSION_ENDED,
                            reason: "signed out".into(),
                        })))
                        .await;
                    return Ok(());
                }
                // A notice lost to a dropped listening connection is caught here at the latest.
                cursor = catch_up(&mut socket, &state, user_id, view, cursor).await?;
                send(&mut socket, json!({ "type": "heartbeat", "cursor": cursor })).await?;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_embed_gets_its_leads_messages_and_the_accounts_only() {
        let lead = Uuid::new_v4();
        let chat = EmbedView::Chat { lead_id: lead };
        let mine = json!({ "id": "m1", "lead_id": lead.to_string() });
        let other = json!({ "id": "m2", "lead_id": Uuid::new_v4().to_string() });
        let no_lead = json!({ "id": "m3", "lead_id": null });
        assert!(logged_visible(Some(&chat), "message", &mine));
        assert!(logged_visible(Some(&chat), "message_status", &mine));
        assert!(!logged_visible(Some(&chat), "message", &other));
        assert!(!logged_visible(Some(&chat), "message_status", &no_lead));
        assert!(logged_visible(Some(&chat), "account", &json!({})));
        assert!(!logged_visible(Some(&chat), "something_new", &mine));
        assert!(logged_visible(None, "message", &other));

        let accounts = EmbedView::Accounts;
        assert!(!logged_visible(Some(&accounts), "message", &mine));
        assert!(logged_visible(
            Some(&accounts),
            "account_removed",
            &json!({"id": "a"})
        ));
    }

    #[test]
    fn live_events_reach_an_embed_only_when_its_view_shows_them() {
        let qr = AccountEvent::Qr {
            qr: "2@x".into(),
            expires_at: chrono::Utc::now(),
        };
        let typing = AccountEvent::Typing {
            chat: "1555@s.whatsapp.net".into(),
            state: "composing".into(),
        };
        let chat = EmbedView::Chat {
            lead_id: Uuid::new_v4(),
        };
        assert!(live_visible(Some(&EmbedView::Accounts), &qr));
        assert!(!live_visible(Some(&EmbedView::Accounts), &typing));
        assert!(!live_visible(Some(&chat), &qr));
        assert!(!live_visible(Some(&chat), &typing));
        assert!(live_visible(None, &typing));
    }
}
