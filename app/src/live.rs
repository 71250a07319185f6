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

/// A live-only event for one account (the `event` of a `live` frame, by its `type`).
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    Qr {
        qr: String,
        expires_at: String,
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
    /// A type this page does not know.
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

/// The close code of a `/ws` socket whose web session ended (signed out, expired): the server
/// sends it (`server::ws`), the page then goes to the sign-in page. 4000–4999 are for
/// applications.
pub const SESSION_ENDED: u16 = 4401;

/// A frame from `/ws`, read (see [`parse_frame`]).
#[derive(Debug, PartialEq)]
#[allow(dead_code)] // read only in the browser
#[allow(clippy::large_enum_variant)] // one frame at a time, dropped right after it is handled
enum Frame {
    Hello {
        cursor: i64,
    },
    Reset {
        cursor: i64,
    },
    /// A logged event; `update` is `None` for kinds no page needs (its cursor still counts).
    Event {
        cursor: i64,
        update: Option<Update>,
    },
    Live {
        account_id: String,
        event: LiveEvent,
    },
    Heartbeat,
}

// Frames are read in two passes over the same text: the fields every frame may have, then — for
// an event or a live frame — its payload as the type its kind names. That replaces a tagged
// enum over `serde_json::Value`, whose buffering and generic value code cost the browser bundle
// tens of kilobytes more than these few structs; and everything is read with `from_slice`, the
// reader server function answers use too, so each payload type's decoder is compiled once.

/// What any frame may carry besides its payload.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    frame: String,
    cursor: Option<i64>,
    kind: Option<String>,
    account_id: Option<String>,
}

/// A frame's `payload`, as the type its kind names.
#[derive(Deserialize)]
struct Payload<T> {
    payload: T,
}

/// The payload of `account_removed`.
#[derive(Deserialize)]
struct Removed {
    id: String,
}

/// A live frame's `event`.
#[derive(Deserialize)]
struct LiveFrame {
    event: LiveFields,
}

/// Every field a live event may have; [`live_event`] checks the ones its type needs.
#[derive(Deserialize)]
struct LiveFields {
    #[serde(rename = "type")]
    kind: String,
    qr: Option<String>,
    expires_at: Option<String>,
    svg: Option<String>,
    code: Option<String>,
    chat: Option<String>,
    state: Option<String>,
    available: Option<bool>,
    last_seen: Option<String>,
}

/// Reads a frame; `None` for one that is not valid (it is ignored).
#[allow(dead_code)] // read only in the browser
fn parse_frame(text: &str) -> Option<Frame> {
    let bytes = text.as_bytes();
    let head: Head = serde_json::from_slice(bytes).ok()?;
    Some(match head.frame.as_str() {
        "hello" => Frame::Hello {
            cursor: head.cursor?,
        },
        "reset" => Frame::Reset {
            cursor: head.cursor?,
        },
        "heartbeat" => Frame::Heartbeat,
        "event" => Frame::Event {
            cursor: head.cursor?,
            update: logged_update(&head.kind?, bytes),
        },
        "live" => Frame::Live {
            account_id: head.account_id?,
            event: live_event(serde_json::from_slice::<LiveFrame>(bytes).ok()?.event)?,
        },
        _ => return None,
    })
}

/// A logged event's payload as an update (`None` for kinds a page does not need, or a payload
/// that is not what its kind says).
fn logged_update(kind: &str, frame: &[u8]) -> Option<Update> {
    fn payload<T: serde::de::DeserializeOwned>(frame: &[u8]) -> Option<T> {
        serde_json::from_slice::<Payload<T>>(frame)
            .ok()
            .map(|p| p.payload)
    }
    Some(match kind {
        "account" => Update::Account(payload(frame)?),
        "account_removed" => Update::AccountRemoved(payload::<Removed>(frame)?.id),
        "message" => Update::Message(payload(frame)?),
        "message_status" => Update::MessageStatus(payload(frame)?),
        _ => return None,
    })
}

/// A live event from its fields; `None` when its type's required fields are missing.
fn live_event(f: LiveFields) -> Option<LiveEvent> {
    Some(match f.kind.as_str() {
        "qr" => LiveEvent::Qr {
            qr: f.qr?,
            expires_at: f.expires_at?,
            svg: f.svg,
        },
        "pairing_code" => LiveEvent::PairingCode {
            code: f.code?,
            expires_at: f.expires_at?,
        },
        "typing" => LiveEvent::Typing {
            chat: f.chat?,
            state: f.state?,
        },
        "presence" => LiveEvent::Presence {
            chat: f.chat?,
            available: f.available?,
            last_seen: f.last_seen,
        },
        _ => LiveEvent::Other,
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

    use super::{Connection, Frame, SESSION_ENDED, Update, parse_frame};

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
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                let current = inner.borrow_mut().socket.take();
                // The session behind the socket ended (signed out elsewhere, expired): a
                // reconnect would be refused, so sign in again instead of "reconnecting…".
                if event.code() == SESSION_ENDED {
                    let _ = window().location().set_href("/login");
                    return;
                }
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
        let Some(frame) = parse_frame(text) else {
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
            Frame::Heartbeat => return,
            Frame::Reset { cursor } => {
                let mut state = inner.borrow_mut();
                state.cursor = Some(cursor);
                state.buffer.clear();
                (Update::Reset, None)
            }
            Frame::Event { cursor, update } => {
                let mut state = inner.borrow_mut();
                if state.cursor.is_some_and(|c| cursor <= c) {
                    return; // already seen (a resend after a reconnect)
                }
                state.cursor = Some(cursor);
                let Some(update) = update else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frames_the_server_sends() {
        assert_eq!(
            parse_frame(r#"{"type":"hello","cursor":7}"#),
            Some(Frame::Hello { cursor: 7 })
        );
        assert_eq!(
            parse_frame(r#"{"type":"reset","cursor":9}"#),
            Some(Frame::Reset { cursor: 9 })
        );
        assert_eq!(
            parse_frame(r#"{"type":"heartbeat","cursor":9}"#),
            Some(Frame::Heartbeat)
        );
        let removed = r#"{"type":"event","cursor":3,"kind":"account_removed","account_id":null,"payload":{"id":"a1"}}"#;
        assert_eq!(
            parse_frame(removed),
            Some(Frame::Event {
                cursor: 3,
                update: Some(Update::AccountRemoved("a1".into()))
            })
        );
        let account = r#"{"type":"event","cursor":4,"kind":"account","account_id":"a1","payload":
            {"id":"a1","session_name":"Sales","phone_number":null,"status":"active","status_reason":null,
             "status_message":null,"linked_at":null,"last_seen":null}}"#;
        let Some(Frame::Event {
            cursor: 4,
            update: Some(Update::Account(a)),
        }) = parse_frame(account)
        else {
            panic!("account event not read");
        };
        assert_eq!(
            (a.id.as_str(), a.session_name.as_str(), a.status.as_deref()),
            ("a1", "Sales", Some("active"))
        );
        let message = r#"{"type":"event","cursor":5,"kind":"message","account_id":"a1","payload":
            {"id":"m1","account_id":"a1","lead_id":"l1","message_id":"X","direction":"inbound","type":"text",
             "text":"hi","status":"delivered","status_reason":null,"created_at":"2026-12-07T10:00:00.000Z",
             "phone_number":"15550001111"}}"#;
        let Some(Frame::Event {
            cursor: 5,
            update: Some(Update::Message(m)),
        }) = parse_frame(message)
        else {
            panic!("message event not read");
        };
        assert_eq!(
            (m.kind.as_str(), m.text.as_deref(), m.media),
            ("text", Some("hi"), None)
        );
        // A kind no page needs still moves the cursor.
        assert_eq!(
            parse_frame(r#"{"type":"event","cursor":6,"kind":"campaign","payload":{}}"#),
            Some(Frame::Event {
                cursor: 6,
                update: None
            })
        );
    }

    #[test]
    fn reads_live_events_and_refuses_incomplete_ones() {
        let qr = r#"{"type":"live","account_id":"a1","event":{"type":"qr","qr":"2@x","expires_at":"t","svg":"<svg/>"}}"#;
        assert_eq!(
            parse_frame(qr),
            Some(Frame::Live {
                account_id: "a1".into(),
                event: LiveEvent::Qr {
                    qr: "2@x".into(),
                    expires_at: "t".into(),
                    svg: Some("<svg/>".into())
                },
            })
        );
        let presence = r#"{"type":"live","account_id":"a1","event":{"type":"presence","chat":"1@s","available":false,"last_seen":null}}"#;
        assert_eq!(
            parse_frame(presence),
            Some(Frame::Live {
                account_id: "a1".into(),
                event: LiveEvent::Presence {
                    chat: "1@s".into(),
                    available: false,
                    last_seen: None
                },
            })
        );
        let typing = r#"{"type":"live","account_id":"a1","event":{"type":"typing","chat":"1@s","state":"composing"}}"#;
        assert!(matches!(
            parse_frame(typing),
            Some(Frame::Live {
                event: LiveEvent::Typing { .. },
                ..
            })
        ));
        let code = r#"{"type":"live","account_id":"a1","event":{"type":"pairing_code","code":"ABCD1234","expires_at":"t"}}"#;
        assert!(matches!(
            parse_frame(code),
            Some(Frame::Live {
                event: LiveEvent::PairingCode { .. },
                ..
            })
        ));
        let other = r#"{"type":"live","account_id":"a1","event":{"type":"receipt","ids":[]}}"#;
        assert!(matches!(
            parse_frame(other),
            Some(Frame::Live {
                event: LiveEvent::Other,
                ..
            })
        ));
        // Missing what the type needs, or not a frame at all: ignored.
        assert_eq!(
            parse_frame(r#"{"type":"live","account_id":"a1","event":{"type":"qr"}}"#),
            None
        );
        assert_eq!(parse_frame(r#"{"type":"hello"}"#), None);
        assert_eq!(parse_frame(r#"{"type":"surprise","cursor":1}"#), None);
        assert_eq!(parse_frame("not json"), None);
    }
}
