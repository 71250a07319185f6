//! `/ws`: the browser's event socket. Refused without a session or from another site; carries
//! the user's events with a cursor; a reconnect with the last cursor gets exactly what was missed;
//! another user's events never show.

use std::net::SocketAddr;
use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use futures_util::StreamExt as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::unique_email;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(
    addr: SocketAddr,
    cookie: Option<&str>,
    cursor: Option<i64>,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let url = match cursor {
        Some(c) => format!("ws://{addr}/ws?cursor={c}"),
        None => format!("ws://{addr}/ws"),
    };
    let mut request = url.into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("unexpected socket error: {e}"),
    }
}

/// The next JSON frame that is not a heartbeat.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame within 20 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "heartbeat" {
                return value;
            }
        }
    }
}

/// Frames until `want` holds for one; returns all of them.
async fn until(socket: &mut Socket, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next(socket).await;
        let done = want(&frame);
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_live_and_a_reconnect_gets_exactly_what_it_missed() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let app = crate::whatsapp::app_for(&fake, &[]).await;
    let addr = app.listen().await;
    let alice = app.signup(&unique_email()).await;
    let bob = app.signup(&unique_email()).await;

    // Refused: no session, a forged one, another site's page.
    assert_eq!(open(addr, None, None, None).await.err(), Some(401));
    assert_eq!(
        open(addr, Some("rl_session=forged"), None, None)
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        open(addr, Some(&alice), None, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );

    let mut socket = open(addr, Some(&alice), None, Some(&format!("http://{addr}")))
        .await
        .unwrap();
    let mut bobs = open(addr, Some(&bob), None, None).await.unwrap();
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(next(&mut bobs).await["type"], "hello");

    // An account created through the API shows up as an event.
    let r = app
        .json(
            Method::POST,
            "/api/accounts",
            Some(&alice),
            &json!({"session_name": "Live"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let created = next(&mut socket).await;
    assert_eq!(created["type"], "event");
    assert_eq!(created["kind"], "account");
    assert_eq!(created["payload"]["id"], id.as_str());

    // Linking: the QR arrives live (with its SVG), the state changes as logged events.
    let r = app
        .json(
            Method::POST,
            &format!("/api/accounts/{id}/link"),
            Some(&alice),
            &json!({"method": "qr"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let frames = until(&mut socket, |f| {
        f["type"] == "live" && f["event"]["type"] == "qr"
    })
    .await;
    let qr = frames.last().unwrap();
    assert!(qr["event"]["svg"].as_str().unwrap().contains("<svg"));
    fake.phone()
        .scan(qr["event"]["qr"].as_str().unwrap())
        .unwrap();
    until(&mut socket, |f| {
        f["kind"] == "account" && f["payload"]["status"] == "active"
    })
    .await;

    // A message arrives live, with a cursor.
    let first = contact.send_text("15550001111", "first").await.unwrap();
    let frames = until(&mut socket, |f| {
        f["kind"] == "message" && f["payload"]["message_id"] == first.as_str()
    })
    .await;
    let cursor = frames.last().unwrap()["cursor"].as_i64().unwrap();
    assert_eq!(frames.last().unwrap()["payload"]["text"], "first");

    // The tab goes away; two more arrive; it comes back with its cursor and gets exactly those.
    socket.close(None).await.unwrap();
    let missed = [
        contact
            .send_text("15550001111", "while you were away")
            .await
            .unwrap(),
        contact
            .send_text("15550001111", "and this too")
            .await
            .unwrap(),
    ];
    let mut stored = 0;
    for _ in 0..100 {
        let page = app.get("/api/conversations", Some(&alice)).await.json();
        stored = page.as_array().map_or(0, |a| a.len());
        if page[0]["last_message"]["message_id"] == missed[1].as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, 1);
    let mut again = open(addr, Some(&alice), Some(cursor), None).await.unwrap();
    assert_eq!(
        next(&mut again).await,
        json!({"type": "hello", "cursor": cursor})
    );
    let mut messages = Vec::new();
    let mut last = cursor;
    while messages.len() < missed.len() {
        let frame = next(&mut again).await;
        assert_eq!(frame["type"], "event", "{frame}");
        let at = frame["cursor"].as_i64().unwrap();
        assert!(at > last, "cursors only grow: {at} after {last}");
        last = at;
        if frame["kind"] == "message" {
            messages.push(frame["payload"]["message_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        messages, missed,
        "exactly the missed messages, in order, once"
    );

    // A cursor from the future cannot be trusted: the tab is told to reload.
    let mut future = open(addr, Some(&alice), Some(last + 1_000_000), None)
        .await
        .unwrap();
    assert_eq!(next(&mut future).await["type"], "reset");

    // Bob saw nothing of any of it: only heartbeats, if anything.
    let quiet = tokio::time::timeout(Duration::from_millis(500), next(&mut bobs)).await;
    assert!(quiet.is_err(), "another user's event leaked: {quiet:?}");
}

/// The next frame that is not text (a heartbeat or an event): the close, or the end.
async fn closed_within(socket: &mut Socket, limit: Duration) -> Option<u16> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket closed in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_session_ends_and_only_that_one() {
    use crate::helpers::spawn_app;
    let app = spawn_app().await;
    let addr = app.listen().await;
    let email = unique_email();
    let first = app.signup(&email).await;
    let second = app.login(&email).await;
    let mut ended = open(addr, Some(&first), None, None).await.unwrap();
    let mut kept = open(addr, Some(&second), None, None).await.unwrap();
    assert_eq!(next(&mut ended).await["type"], "hello");
    assert_eq!(next(&mut kept).await["type"], "hello");

    // Signed out elsewhere (another tab, the same cookie): the open socket closes at its next
    // heartbeat with the "session ended" code, so the page can send its user to sign in.
    let response = app.post_form("/auth/logout", "", Some(&first)).await;
    assert_eq!(response.location(), Some("/login"));
    let code = closed_within(&mut ended, server::ws::HEARTBEAT + Duration::from_secs(10)).await;
    assert_eq!(code, Some(server::ws::SESSION_ENDED));

    // The user's other session keeps its socket: it goes on getting heartbeats.
    let beat = tokio::time::timeout(server::ws::HEARTBEAT + Duration::from_secs(10), async {
        loop {
            match kept.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "heartbeat" {
                        return value;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    panic!("the other session's socket closed: {frame:?}")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error: {e}"),
                None => panic!("the other session's socket ended"),
            }
        }
    })
    .await
    .expect("a heartbeat in time");
    assert_eq!(beat["type"], "heartbeat");
    // And a new socket with the dead cookie is refused.
    assert_eq!(open(addr, Some(&first), None, None).await.err(), Some(401));
}
