//! The browser's end of `/ws`: one socket per tab, shared by every page through the context.
//!
//! Pages subscribe with the event-log cursor their data is current to ([`Live::subscribe`]); they
//! get every logged update after it — replayed from a small buffer when the socket had already
//! seen it — and every live one (QR codes, typing, presence) from then on. The socket resumes
//! from its last cursor after a drop, with backoff and jitter; the server then sends exactly what
//! was missed. When that is more than it keeps, subscribers get [`Update::Reset`] and refetch.
//!
//! On the server (SSR) everything here is inert.

use leptos::prelude::*;
use serde::Deserialize;

use crate::fns::{AccountPayload, MessagePayload};

/// What a page hears.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Account(AccountPayload),
    AccountRemoved(String),
    /// A message was stored (or its placeholder completed).
    Message(MessagePayload),
    /// A message's status moved.
    MessageStatus(MessagePayload),
    /// Something live-only for one account.
    Live {
        account_id: String,
        event: LiveEvent,
    },
    /// Too much was missed: refetch the page's data.
    Reset,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    Qr {
        qr: String,
        expires_at: String,
        #[serde(default)]
        svg: Option<String>,
    },
    PairingCode {
        code: String,
        expires_at: String,
    },
    Typing {
        chat: String,
        state: String,
    },
    Presence {
        chat: String,
        available: bool,
        last_seen: Option<String>,
    },
    #[serde(other)]
    Other,
}

/// The socket's state, for the "reconnecting…" banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Idle,
    Connecting,
    Open,
    Reconnecting,
}

/// Handle in the context (cheap to copy).
#[derive(Clone, Copy)]
pub struct Live {
    pub connection: RwSignal<Connection>,
    #[cfg(feature = "hydrate")]
    inner: StoredValue<std::rc::Rc<std::cell::RefCell<client::Inner>>, LocalStorage>,
}

/// Call once in the dashboard frame.
pub fn provide_live() -> Live {
    let live = Live {
        connection: RwSignal::new(Connection::Idle),
        #[cfg(feature = "hydrate")]
        inner: StoredValue::new_local(std::rc::Rc::new(std::cell::RefCell::new(
            client::Inner::default(),
        ))),
    };
    provide_context(live);
    live
}

pub fn use_live() -> Option<Live> {
    use_context::<Live>()
}

impl Live {
    /// Delivers live-only updates (QR codes, typing, presence) to `on_update` until the calling
    /// component is cleaned up. Does not start the socket.
    pub fn subscribe_live(&self, on_update: impl Fn(Update) + 'static) {
        #[cfg(feature = "hydrate")]
        {
            let id = client::subscribe_live(&self.inner.get_value(), std::rc::Rc::new(on_update));
            let handle = self.inner;
            on_cleanup(move || {
                if let Some(inner) = handle.try_get_value() {
                    client::unsubscribe(&inner, id);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = on_update;
        }
    }

    /// Delivers updates after `cursor` to `on_update` until the calling component is cleaned up.
    /// Starts the socket (from `cursor`) if it is not running yet.
    pub fn subscribe(&self, cursor: i64, on_update: impl Fn(Update) + 'static) {
        #[cfg(feature = "hydrate")]
        {
            let id = client::subscribe(
                &self.inner.get_value(),
                self.connection,
                cursor,
                std::rc::Rc::new(on_update),
            );
            let handle = self.inner;
            on_cleanup(move || {
                if let Some(inner) = handle.try_get_value() {
                    client::unsubscribe(&inner, id);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (cursor, on_update);
        }
    }
}

/// A `/ws` frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)] // read only in the browser
enum Frame {
    Hello {
        cursor: i64,
    },
    Reset {
        cursor: i64,
    },
    Event {
        cursor: i64,
        kind: String,
        payload: serde_json::Value,
    },
    Live {
        account_id: String,
        event: LiveEvent,
    },
    Heartbeat {
        cursor: i64,
    },
}

/// A logged event as an update (`None` for kinds a page does not need).
#[allow(dead_code)] // read only in the browser
fn logged_update(kind: &str, payload: serde_json::Value) -> Option<Update> {
    Some(match kind {
        "account" => Update::Account(serde_json::from_value(payload).ok()?),
        "account_removed" => Update::AccountRemoved(payload.get("id")?.as_str()?.to_owned()),
        "message" => Update::Message(serde_json::from_value(payload).ok()?),
        "message_status" => Update::MessageStatus(serde_json::from_value(payload).ok()?),
        _ => return None,
    })
}

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{Connection, Frame, Update, logged_update};

    /// Logged updates kept for late subscribers.
    const BUFFER: usize = 500;
    /// A socket that has said nothing for this long (the server beats every 20 s) is dead.
    const SILENCE_MS: f64 = 50_000.0;

    type Callback = Rc<dyn Fn(Update)>;

    pub struct Subscriber {
        id: u64,
        /// Logged updates after this cursor; `None` = live-only updates.
        from: Option<i64>,
        callback: Callback,
    }

    /// Whether a subscriber wants an update logged at `cursor` (`None` = a live update).
    fn accepts(s: &Subscriber, cursor: Option<i64>) -> bool {
        match (s.from, cursor) {
            (Some(from), Some(c)) => c > from,
            (None, Some(_)) => false,
            (_, None) => true,
        }
    }

    #[derive(Default)]
    pub struct Inner {
        socket: Option<WebSocket>,
        /// The last event-log cursor seen (`None` until started).
        cursor: Option<i64>,
        subscribers: Vec<Subscriber>,
        next_id: u64,
        buffer: VecDeque<(i64, Update)>,
        attempts: u32,
        last_frame: f64,
        watchdog: bool,
        handlers: Vec<Box<dyn std::any::Any>>,
    }

    fn now() -> f64 {
        js_sys::Date::now()
    }

    /// Live-only updates; does not start the socket (the pages' data subscribers do).
    pub fn subscribe_live(inner: &Rc<RefCell<Inner>>, callback: Callback) -> u64 {
        let mut state = inner.borrow_mut();
        let id = state.next_id;
        state.next_id += 1;
        state.subscribers.push(Subscriber {
            id,
            from: None,
            callback,
        });
        id
    }

    pub fn subscribe(
        inner: &Rc<RefCell<Inner>>,
        connection: RwSignal<Connection>,
        cursor: i64,
        callback: Callback,
    ) -> u64 {
        let (id, replay, reset, start) = {
            let mut state = inner.borrow_mut();
            let id = state.next_id;
            state.next_id += 1;
            state.subscribers.push(Subscriber {
                id,
                from: Some(cursor),
                callback: callback.clone(),
            });
            let start = state.cursor.is_none();
            if start {
                state.cursor = Some(cursor);
            }
            let oldest = state.buffer.front().map(|(c, _)| *c);
            let seen = state.cursor.unwrap_or(cursor);
            // The socket is ahead of the page and the buffer no longer reaches back to it.
            let reset = seen > cursor && oldest.is_none_or(|o| o > cursor + 1);
            let replay: Vec<Update> = if reset {
                Vec::new()
            } else {
                state
                    .buffer
                    .iter()
                    .filter(|(c, _)| *c > cursor)
                    .map(|(_, u)| u.clone())
                    .collect()
            };
            (id, replay, reset, start)
        };
        if reset {
            callback(Update::Reset);
        }
        for update in replay {
            callback(update);
        }
        if start {
            connect(inner.clone(), connection);
            start_watchdog(inner.clone());
        }
        id
    }

    pub fn unsubscribe(inner: &Rc<RefCell<Inner>>, id: u64) {
        inner.borrow_mut().subscribers.retain(|s| s.id != id);
    }

    fn url(cursor: i64) -> Option<String> {
        let location = window().location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}/ws?cursor={cursor}",
            location.host().ok()?
        ))
    }

    fn connect(inner: Rc<RefCell<Inner>>, connection: RwSignal<Connection>) {
        let cursor = inner.borrow().cursor.unwrap_or(0);
        let Some(url) = url(cursor) else { return };
        let Ok(socket) = WebSocket::new(&url) else {
            schedule_reconnect(inner, connection);
            return;
        };
        connection.set(if inner.borrow().attempts == 0 {
            Connection::Connecting
        } else {
            Connection::Reconnecting
        });
        let on_open = {
            let inner = inner.clone();
            Closure::<dyn FnMut()>::new(move || {
                let mut state = inner.borrow_mut();
                state.attempts = 0;
                state.last_frame = now();
                drop(state);
                connection.set(Connection::Open);
            })
        };
        let on_message = {
            let inner = inner.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    handle(&inner, &text);
                }
            })
        };
        let on_close = {
            let inner = inner.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
                let current = inner.borrow_mut().socket.take();
                if current.is_some() {
                    schedule_reconnect(inner.clone(), connection);
                }
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut state = inner.borrow_mut();
        state.handlers = vec![Box::new(on_open), Box::new(on_message), Box::new(on_close)];
        state.socket = Some(socket);
        state.last_frame = now();
    }

    /// Exponential backoff from 0.5 s to 15 s, with up to 50 % jitter.
    fn schedule_reconnect(inner: Rc<RefCell<Inner>>, connection: RwSignal<Connection>) {
        connection.set(Connection::Reconnecting);
        let attempts = {
            let mut state = inner.borrow_mut();
            state.attempts += 1;
            state.attempts
        };
        let base = (500.0 * 2f64.powi(attempts.min(5) as i32)).min(15_000.0);
        let delay = base * (0.5 + js_sys::Math::random() * 0.5);
        set_timeout(
            move || connect(inner, connection),
            std::time::Duration::from_millis(delay as u64),
        );
    }

    /// Closes a socket that went silent (a dead network does not always say so); its close
    /// handler then reconnects.
    fn start_watchdog(inner: Rc<RefCell<Inner>>) {
        if std::mem::replace(&mut inner.borrow_mut().watchdog, true) {
            return;
        }
        let _ = set_interval_with_handle(
            move || {
                let state = inner.borrow();
                if now() - state.last_frame > SILENCE_MS
                    && let Some(socket) = &state.socket
                {
                    let _ = socket.close();
                }
            },
            std::time::Duration::from_secs(10),
        );
    }

    fn handle(inner: &Rc<RefCell<Inner>>, text: &str) {
        inner.borrow_mut().last_frame = now();
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            return;
        };
        let (update, cursor) = match frame {
            Frame::Hello { cursor } => {
                let mut state = inner.borrow_mut();
                if state.cursor.is_none_or(|c| c < cursor) {
                    state.cursor = Some(cursor);
                }
                return;
            }
            Frame::Heartbeat { .. } => return,
            Frame::Reset { cursor } => {
                let mut state = inner.borrow_mut();
                state.cursor = Some(cursor);
                state.buffer.clear();
                (Update::Reset, None)
            }
            Frame::Event {
                cursor,
                kind,
                payload,
            } => {
                let mut state = inner.borrow_mut();
                if state.cursor.is_some_and(|c| cursor <= c) {
                    return; // already seen (a resend after a reconnect)
                }
                state.cursor = Some(cursor);
                let Some(update) = logged_update(&kind, payload) else {
                    return;
                };
                state.buffer.push_back((cursor, update.clone()));
                if state.buffer.len() > BUFFER {
                    state.buffer.pop_front();
                }
                (update, Some(cursor))
            }
            Frame::Live { account_id, event } => (Update::Live { account_id, event }, None),
        };
        // Call the subscribers without holding the borrow: they may subscribe or unsubscribe
        // (a Reset makes pages refetch, which replaces their components), so each one is looked
        // up again right before its call.
        let ids: Vec<u64> = inner
            .borrow()
            .subscribers
            .iter()
            .filter(|s| accepts(s, cursor))
            .map(|s| s.id)
            .collect();
        for id in ids {
            let target = inner
                .borrow()
                .subscribers
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.callback.clone());
            if let Some(f) = target {
                f(update.clone());
            }
        }
    }
}
