//! The WhatsApp REST API against the offline WhatsApp: accounts, linking by QR and by code,
//! sending and receiving through the engine, conversations, logout — and the bad inputs.

use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, request, spawn_app_with, unique_email};

/// A test app whose engine talks to `fake` (plus `extra` variables).
pub(crate) async fn app_for(fake: &FakeWhatsApp, extra: &[(&str, &str)]) -> TestApp {
    let root = hex(&fake.root_public_key());
    let url = fake.url();
    let mut vars = vec![
        ("WHATSAPP_SERVER_URL", url.as_str()),
        ("WHATSAPP_ROOT_PUBLIC_KEY", root.as_str()),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn create_account(app: &TestApp, cookie: &str, name: &str) -> String {
    let r = app
        .json(
            Method::POST,
            "/api/accounts",
            Some(cookie),
            &json!({"session_name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Polls the account until `want` holds for its JSON.
pub(crate) async fn account_until(
    app: &TestApp,
    cookie: &str,
    id: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let r = app.get(&format!("/api/accounts/{id}"), Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let account = r.json();
        if want(&account) {
            return account;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("account {id} never reached the expected state");
}

/// Links an account by QR through the API; returns the QR string.
pub(crate) async fn link_by_qr(
    app: &TestApp,
    fake: &FakeWhatsApp,
    cookie: &str,
    id: &str,
) -> String {
    let r = app
        .json(
            Method::POST,
            &format!("/api/accounts/{id}/link"),
            Some(cookie),
            &json!({"method": "qr"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let qr = r.json()["qr"].as_str().unwrap().to_owned();
    assert!(
        qr.starts_with("https://wa.me/settings/linked_devices#"),
        "{qr}"
    );
    let shown = app
        .get(&format!("/api/accounts/{id}/qr"), Some(cookie))
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.json()["qr"], qr.as_str());
    assert!(shown.json()["expires_at"].is_string());
    fake.phone()
        .scan(&qr)
        .expect("the phone scans the QR the API returned");
    account_until(app, cookie, id, |a| a["status"] == "active").await;
    qr
}

async fn send(app: &TestApp, cookie: &str, body: &Value, key: Option<&str>) -> TestResponse {
    let mut req = request(
        Method::POST,
        "/api/messages",
        Some(cookie),
        Some(body.to_string()),
    );
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    if let Some(key) = key {
        req.headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    app.send(req).await
}

async fn message_until(app: &TestApp, cookie: &str, id: &str, status: &str) -> Value {
    for _ in 0..200 {
        let r = app.get(&format!("/api/messages/{id}"), Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if r.json()["status"] == status {
            return r.json();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} never became {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_send_receive_and_log_out_through_the_api() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let app = app_for(&fake, &[]).await;
    let cookie = app.signup(&unique_email()).await;
    let id = create_account(&app, &cookie, "Sales line").await;
    let fresh = app
        .get(&format!("/api/accounts/{id}"), Some(&cookie))
        .await
        .json();
    assert_eq!(fresh["status"], "inactive");
    let none = app
        .get(&format!("/api/accounts/{id}/qr"), Some(&cookie))
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT, "no QR before linking");

    link_by_qr(&app, &fake, &cookie, &id).await;
    let linked = app
        .get(&format!("/api/accounts/{id}"), Some(&cookie))
        .await
        .json();
    assert_eq!(linked["phone_number"], "+15550001111");
    assert_eq!(linked["status_reason"], "connected");
    for field in [
        "id",
        "session_name",
        "status",
        "status_message",
        "last_seen",
    ] {
        assert!(!linked[field].is_null(), "{field} in {linked}");
    }
    let gone = app
        .get(&format!("/api/accounts/{id}/qr"), Some(&cookie))
        .await;
    assert_eq!(gone.status, StatusCode::CONFLICT, "no QR once linked");
    let again = app
        .json(
            Method::POST,
            &format!("/api/accounts/{id}/link"),
            Some(&cookie),
            &json!({"method": "qr"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // Outbound: queued at once, then sent, delivered and read as the contact's phone answers.
    let body = json!({"account_id": id, "to": "+1 555 000 2222", "text": "Hello from the CRM ✓"});
    let r = send(&app, &cookie, &body, Some("order-42")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let message = r.json();
    assert_eq!(message["status"], "queued");
    assert_eq!(message["direction"], "out");
    assert_eq!(message["type"], "text");
    let message_id = message["id"].as_str().unwrap().to_owned();
    let wa_id = message["message_id"].as_str().unwrap().to_owned();
    let same = send(&app, &cookie, &body, Some("order-42")).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(
        same.json()["id"],
        message_id.as_str(),
        "same key, same message"
    );
    let other = send(
        &app,
        &cookie,
        &json!({"account_id": id, "to": "+15550002222", "text": "different"}),
        Some("order-42"),
    )
    .await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.body);
    message_until(&app, &cookie, &message_id, "delivered").await;
    let received: Vec<_> = contact
        .received()
        .into_iter()
        .filter(|r| r.id == wa_id)
        .collect();
    assert_eq!(received.len(), 1, "sent once despite the repeated request");
    assert_eq!(received[0].text.as_deref(), Some("Hello from the CRM ✓"));
    contact
        .send_receipt("15550001111", std::slice::from_ref(&wa_id), Some("read"))
        .unwrap();
    message_until(&app, &cookie, &message_id, "read").await;

    // Inbound: stored, linked to the lead, listed as a conversation with one unread.
    let incoming = contact
        .send_text("15550001111", "Interested, call me")
        .await
        .unwrap();
    let mut conversation = Value::Null;
    for _ in 0..100 {
        let list = app.get("/api/conversations", Some(&cookie)).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        if let Some(c) = list.json().as_array().and_then(|a| a.first()).cloned()
            && c["last_message"]["message_id"] == incoming.as_str()
        {
            conversation = c;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        conversation["phone_number"], "+15550002222",
        "{conversation}"
    );
    assert_eq!(conversation["account_id"], id.as_str());
    assert_eq!(conversation["unread_count"], 1);
    assert_eq!(conversation["last_message"]["text"], "Interested, call me");
    let lead_id = conversation["lead_id"].as_str().unwrap().to_owned();
    let page = app
        .get(
            &format!("/api/conversations/{lead_id}/messages?limit=1"),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = page.json();
    assert_eq!(
        page["messages"][0]["message_id"],
        incoming.as_str(),
        "newest first"
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let older = app
        .get(
            &format!("/api/conversations/{lead_id}/messages?limit=10&before={cursor}"),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(older["messages"][0]["id"], message_id.as_str());
    assert!(older["next_cursor"].is_null(), "the last page");

    // Logout: the phone forgets the device, the account is not linked any more.
    let r = app
        .json(
            Method::POST,
            &format!("/api/accounts/{id}/logout"),
            Some(&cookie),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let account = account_until(&app, &cookie, &id, |a| a["status"] == "inactive").await;
    assert_eq!(account["status_reason"], "logged_out_by_user");
    assert!(fake.devices().is_empty());
    let r = send(
        &app,
        &cookie,
        &json!({"account_id": id, "to": "+15550002222", "text": "hi"}),
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "an unlinked account cannot send: {}",
        r.body
    );

    // Delete logs out (already) and removes the account.
    let r = app
        .send(request(
            Method::DELETE,
            &format!("/api/accounts/{id}"),
            Some(&cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.get(&format!("/api/accounts/{id}"), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_links_through_the_api() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let app = app_for(&fake, &[]).await;
    let cookie = app.signup(&unique_email()).await;
    let id = create_account(&app, &cookie, "By code").await;
    let r = app
        .json(
            Method::POST,
            &format!("/api/accounts/{id}/link"),
            Some(&cookie),
            &json!({"method": "code", "phone": "+15550001111"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let code = r.json()["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9, "ABCD-EFGH: {code}");
    assert!(r.json()["expires_at"].is_string());
    fake.enter_pairing_code(&code).unwrap();
    let account = account_until(&app, &cookie, &id, |a| a["status"] == "active").await;
    assert_eq!(account["phone_number"], "+15550001111");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx_and_other_users_see_nothing() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let app = app_for(&fake, &[("WHATSAPP_MAX_SESSIONS_PER_USER", "2")]).await;
    let alice = app.signup(&unique_email()).await;
    let bob = app.signup(&unique_email()).await;
    let id = create_account(&app, &alice, "Alice 1").await;
    create_account(&app, &alice, "Alice 2").await;
    let over = app
        .json(
            Method::POST,
            "/api/accounts",
            Some(&alice),
            &json!({"session_name": "Alice 3"}),
        )
        .await;
    assert_eq!(over.status, StatusCode::CONFLICT, "{}", over.body);
    assert!(over.body.contains("at most 2"), "{}", over.body);
    let blank = app
        .json(
            Method::POST,
            "/api/accounts",
            Some(&bob),
            &json!({"session_name": "  "}),
        )
        .await;
    assert_eq!(
        blank.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        blank.body
    );

    // Link requests.
    let link = |body: Value| {
        let app = &app;
        let alice = alice.clone();
        let id = id.clone();
        async move {
            app.json(
                Method::POST,
                &format!("/api/accounts/{id}/link"),
                Some(&alice),
                &body,
            )
            .await
        }
    };
    assert_eq!(
        link(json!({"method": "carrier pigeon"})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        link(json!({"method": "code"})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        link(json!({"method": "code", "phone": "call me"}))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let unknown = link(json!({"method": "code", "phone": "+19998887777"})).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.contains("no WhatsApp account"),
        "{}",
        unknown.body
    );
    let mut malformed = request(
        Method::POST,
        &format!("/api/accounts/{id}/link"),
        Some(&alice),
        Some("{not json".into()),
    );
    malformed
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    assert_eq!(app.send(malformed).await.status, StatusCode::BAD_REQUEST);

    // Messages.
    let cases = [
        (
            json!({"account_id": id, "to": "+15550002222", "text": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"account_id": id, "to": "+15550002222", "text": "x".repeat(4097)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"account_id": id, "to": "not a number", "text": "hi"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"account_id": id, "to": "+15550002222"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"account_id": "00000000-0000-0000-0000-000000000000", "to": "+15550002222", "text": "hi"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"account_id": "nope", "to": "+15550002222", "text": "hi"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"account_id": id, "to": "+15550002222", "text": "not linked"}),
            StatusCode::CONFLICT,
        ),
    ];
    for (body, status) in cases {
        let r = send(&app, &alice, &body, None).await;
        assert_eq!(r.status, status, "{body} → {}", r.body);
        assert!(r.json()["error"]["message"].is_string());
    }
    let huge = send(
        &app,
        &alice,
        &json!({"account_id": id, "to": "+1", "text": "x".repeat(70_000)}),
        None,
    )
    .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let limit = app
        .get(
            "/api/conversations/00000000-0000-0000-0000-000000000000/messages?limit=0",
            Some(&alice),
        )
        .await;
    assert_eq!(
        limit.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        limit.body
    );

    // Another user's account id is a 404 everywhere.
    for path in [
        format!("/api/accounts/{id}"),
        format!("/api/accounts/{id}/qr"),
    ] {
        assert_eq!(
            app.get(&path, Some(&bob)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for (path, body) in [
        (format!("/api/accounts/{id}/link"), json!({"method": "qr"})),
        (format!("/api/accounts/{id}/logout"), json!({})),
    ] {
        let r = app.json(Method::POST, &path, Some(&bob), &body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = app
        .json(
            Method::PATCH,
            &format!("/api/accounts/{id}"),
            Some(&bob),
            &json!({"session_name": "mine"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .send(request(
            Method::DELETE,
            &format!("/api/accounts/{id}"),
            Some(&bob),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &app,
        &bob,
        &json!({"account_id": id, "to": "+15550002222", "text": "hi"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(app.get("/api/accounts", Some(&bob)).await.json(), json!([]));
    // Not signed in at all.
    assert_eq!(
        app.get("/api/accounts", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Alice's account is untouched by all of that.
    let mine = app
        .get(&format!("/api/accounts/{id}"), Some(&alice))
        .await
        .json();
    assert_eq!(mine["session_name"], "Alice 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_accounts_messages_and_events_stay_apart() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let bob_phone = fake
        .add_account("15550003333", "100000000000003", "Bob's phone")
        .unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let app = app_for(&fake, &[]).await;
    let mut events = app.sessions.hub().subscribe();
    let alice = app.signup(&unique_email()).await;
    let bob = app.signup(&unique_email()).await;
    let alice_id = create_account(&app, &alice, "Alice").await;
    let bob_id = create_account(&app, &bob, "Bob").await;
    link_by_qr(&app, &fake, &alice, &alice_id).await;
    // Bob's account links to a different WhatsApp number.
    let r = app
        .json(
            Method::POST,
            &format!("/api/accounts/{bob_id}/link"),
            Some(&bob),
            &json!({"method": "qr"}),
        )
        .await;
    bob_phone.scan(r.json()["qr"].as_str().unwrap()).unwrap();
    account_until(&app, &bob, &bob_id, |a| a["status"] == "active").await;

    // The same contact writes to both: each user gets their own message and their own lead.
    let to_alice = contact.send_text("15550001111", "for Alice").await.unwrap();
    let to_bob = contact.send_text("15550003333", "for Bob").await.unwrap();
    let owners = [
        (
            alice_id.as_str(),
            &alice,
            to_alice.as_str(),
            to_bob.as_str(),
        ),
        (bob_id.as_str(), &bob, to_bob.as_str(), to_alice.as_str()),
    ];
    for (_, cookie, mine, theirs) in owners {
        let mut found = false;
        for _ in 0..100 {
            let list = app.get("/api/conversations", Some(cookie)).await.json();
            let ids: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["last_message"]["message_id"].as_str())
                .collect();
            assert!(
                !ids.contains(&theirs),
                "the other user's message leaked: {list}"
            );
            if ids.contains(&mine) {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(found, "{mine} reached its owner");
    }
    let alice_lead = app.get("/api/conversations", Some(&alice)).await.json()[0]["lead_id"].clone();
    let bob_lead = app.get("/api/conversations", Some(&bob)).await.json()[0]["lead_id"].clone();
    assert_ne!(
        alice_lead, bob_lead,
        "one lead per user for the same contact"
    );
    let r = app
        .get(
            &format!(
                "/api/conversations/{}/messages",
                alice_lead.as_str().unwrap()
            ),
            Some(&bob),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "Bob cannot read Alice's conversation"
    );

    // Every hub event names the owner of its account.
    let owner_of = |account: uuid::Uuid| {
        if account.to_string() == alice_id {
            Some("alice")
        } else if account.to_string() == bob_id {
            Some("bob")
        } else {
            None
        }
    };
    let alice_user = app.get("/api/me", Some(&alice)).await.json()["id"].clone();
    let bob_user = app.get("/api/me", Some(&bob)).await.json()["id"].clone();
    let mut seen_messages = 0;
    while let Ok(event) = events.try_recv() {
        let expected = match owner_of(event.account_id) {
            // Log-growth notices name the user only.
            _ if event.event == sessions::AccountEvent::Logged => {
                assert!(
                    [alice_user.as_str(), bob_user.as_str()]
                        .contains(&Some(event.user_id.to_string().as_str())),
                    "{event:?}"
                );
                continue;
            }
            Some("alice") => &alice_user,
            Some("bob") => &bob_user,
            _ => panic!("an event for an unknown account: {event:?}"),
        };
        assert_eq!(
            event.user_id.to_string(),
            expected.as_str().unwrap(),
            "{event:?}"
        );
        if let sessions::AccountEvent::Message { message_id, .. } = &event.event {
            seen_messages += 1;
            let owner = owner_of(event.account_id);
            assert!(
                (owner == Some("alice") && *message_id == to_alice)
                    || (owner == Some("bob") && *message_id == to_bob),
                "{event:?}"
            );
        }
    }
    assert_eq!(seen_messages, 2, "one stored-message event each");
}
