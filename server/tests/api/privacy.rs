//! Consent and GDPR over REST, with the real engine and the offline WhatsApp where it matters: a
//! contact's STOP blocks every send (409 `opted_out`) and is confirmed; a send racing the STOP
//! never leaves after the opt-out is stored; export streams a ZIP; erasure and account deletion;
//! settings and the audit log; and the bad inputs.

use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, request, spawn_app, unique_email};

/// A linked account of a new user: (cookie, account id).
async fn a_linked_account(app: &TestApp, fake: &FakeWhatsApp) -> (String, String) {
    let cookie = app.signup(&unique_email()).await;
    let id = crate::whatsapp::create_account(app, &cookie, "Sales").await;
    crate::whatsapp::link_by_qr(app, fake, &cookie, &id).await;
    (cookie, id)
}

/// A new lead of the user behind `cookie`; returns its id.
async fn create_lead(app: &TestApp, cookie: &str, name: &str, phone: &str) -> String {
    let r = app
        .json(
            Method::POST,
            "/api/leads",
            Some(cookie),
            &json!({"name": name, "phone": phone}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Polls `check` (every 100 ms, up to 20 s) until it returns something.
async fn until<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the expected state never came");
}

async fn lead_id_for(app: &TestApp, cookie: &str, phone: &str) -> String {
    until(|| async {
        let list = app.get("/api/leads", Some(cookie)).await.json();
        let items = list
            .get("items")
            .or(Some(&list))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        items
            .iter()
            .find(|l| l["phone"] == phone)
            .and_then(|l| l["id"].as_str().map(str::to_owned))
    })
    .await
}

async fn consent_state(app: &TestApp, cookie: &str, lead: &str) -> Value {
    let r = app
        .get(&format!("/api/leads/{lead}/consent"), Some(cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()
}

async fn send(
    app: &TestApp,
    cookie: &str,
    account: &str,
    to: &str,
    text: &str,
) -> (StatusCode, Value) {
    let r = app
        .json(
            Method::POST,
            "/api/messages",
            Some(cookie),
            &json!({"account_id": account, "to": to, "text": text}),
        )
        .await;
    let status = r.status;
    (status, r.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_from_the_contact_blocks_sending_is_confirmed_and_only_an_opt_in_lifts_it() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let app = crate::whatsapp::app_for(&fake, &[]).await;
    let (cookie, account) = a_linked_account(&app, &fake).await;
    let r = app
        .json(
            Method::PUT,
            "/api/privacy/settings",
            Some(&cookie),
            &json!({"opt_out_reply": "You will not get more messages from us."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    contact.send_text("15550001111", "Stop!").await.unwrap();
    let lead = lead_id_for(&app, &cookie, "+15550002222").await;
    until(|| async {
        (consent_state(&app, &cookie, &lead).await["state"] == "opted_out").then_some(())
    })
    .await;
    let consent = consent_state(&app, &cookie, &lead).await;
    assert_eq!(consent["events"][0]["source"], "keyword");
    assert_eq!(consent["events"][0]["evidence"], "Stop!");

    // The confirmation reaches the phone (the engine was woken for it), and nothing else does.
    let texts = until(|| async {
        let texts: Vec<String> = contact
            .received()
            .into_iter()
            .filter_map(|r| r.text)
            .collect();
        (!texts.is_empty()).then_some(texts)
    })
    .await;
    assert_eq!(
        texts,
        vec!["You will not get more messages from us.".to_owned()]
    );

    // Every send path refuses it: the REST API (409 opted_out) in any spelling of the number.
    for to in ["+15550002222", "+1 555 000 2222"] {
        let (status, body) = send(&app, &cookie, &account, to, "One more offer").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "opted_out");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("opted out"),
            "{body}"
        );
    }
    // The server function the dashboard uses for the lead list shows it.
    let fn_states = app
        .send(request(
            Method::POST,
            "/fn/leads/consents",
            Some(&cookie),
            Some(String::new()),
        ))
        .await;
    assert_eq!(fn_states.status, StatusCode::OK, "{}", fn_states.body);
    assert!(fn_states.body.contains("opted_out"), "{}", fn_states.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        contact.received().len(),
        1,
        "nothing but the confirmation was sent"
    );

    // An explicit, recorded opt-in lifts it.
    let bad = app
        .json(
            Method::POST,
            &format!("/api/leads/{lead}/consent"),
            Some(&cookie),
            &json!({"kind": "opt_in", "source": "keyword", "evidence": "x"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.json()["error"]["field"], "source");
    let r = app
        .json(
            Method::POST,
            &format!("/api/leads/{lead}/consent"),
            Some(&cookie),
            &json!({"kind": "opt_in", "source": "chat", "evidence": "Asked to hear from us again, call of 6 Dec"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (status, body) = send(&app, &cookie, &account, "+15550002222", "Welcome back").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    until(|| async {
        contact
            .received()
            .iter()
            .any(|r| r.text.as_deref() == Some("Welcome back"))
            .then_some(())
    })
    .await;
}

/// The real engine sending a stream of messages while the contact's STOP arrives. A test-only
/// trigger numbers, from one sequence, the moment the opt-out is stored and each send attempt the
/// database accepts; both happen under the recipient's consent lock, so the numbers are in commit
/// order. Every message the phone received must have an accepted attempt numbered before the
/// opt-out: none began after it was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_racing_an_incoming_stop_never_gets_out_after_the_opt_out_is_stored() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550002222", "100000000000002", "Carol")
        .unwrap();
    let app = crate::whatsapp::app_for(&fake, &[]).await;
    let (cookie, account) = a_linked_account(&app, &fake).await;
    let mut owner = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    for sql in [
        "CREATE SEQUENCE race_seq",
        "CREATE TABLE race_log (seq bigint NOT NULL DEFAULT nextval('race_seq'), what text NOT NULL, message_id text)",
        "CREATE FUNCTION race_attempt() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ \
         BEGIN INSERT INTO public.race_log (what, message_id) VALUES ('attempt', NEW.message_id); RETURN NULL; END $$",
        "CREATE TRIGGER race_attempt AFTER UPDATE OF attempts ON whatsapp_messages FOR EACH ROW \
         WHEN (NEW.attempts > OLD.attempts) EXECUTE FUNCTION race_attempt()",
        "CREATE FUNCTION race_stop() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ \
         BEGIN INSERT INTO public.race_log (what) VALUES ('opt_out'); RETURN NULL; END $$",
        "CREATE TRIGGER race_stop AFTER INSERT ON app_private.suppressions FOR EACH ROW EXECUTE FUNCTION race_stop()",
    ] {
        sqlx::query(sql).execute(&mut owner).await.unwrap();
    }

    // Sends keep coming; the STOP lands in the middle of them.
    let sender = {
        let app_cookie = cookie.clone();
        let account = account.clone();
        let app = &app;
        async move {
            let mut outcomes = Vec::new();
            for i in 0..40 {
                let (status, body) = send(
                    app,
                    &app_cookie,
                    &account,
                    "+15550002222",
                    &format!("offer {i}"),
                )
                .await;
                outcomes.push((status, body));
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            outcomes
        }
    };
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        contact.send_text("15550001111", "STOP").await.unwrap();
    };
    let (outcomes, ()) = tokio::join!(sender, stopper);
    let accepted: Vec<String> = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b["message_id"].as_str().unwrap().to_owned())
        .collect();
    let refused = outcomes
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "opted_out")
        .count();
    assert_eq!(
        accepted.len() + refused,
        40,
        "every send was queued or refused as opted out"
    );
    assert!(refused > 0, "the STOP landed before the last send");

    // Settle: nothing of ours stays queued (sent, or failed as opted out).
    until(|| async {
        let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
        let queued: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM whatsapp_messages WHERE direction = 'out' AND status = 'queued' AND attempts = 0",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        (queued == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let log: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT seq, what, message_id FROM race_log ORDER BY seq")
            .fetch_all(&mut owner)
            .await
            .unwrap();
    let stop_seq = log
        .iter()
        .find(|(_, what, _)| what == "opt_out")
        .map(|(s, _, _)| *s)
        .expect("the opt-out was stored");
    let received: Vec<String> = contact.received().into_iter().map(|r| r.id).collect();
    for id in &received {
        let first_attempt = log
            .iter()
            .find(|(_, what, m)| what == "attempt" && m.as_deref() == Some(id.as_str()))
            .map(|(s, _, _)| *s)
            .unwrap_or_else(|| panic!("{id} reached the phone without an accepted attempt"));
        assert!(
            first_attempt < stop_seq,
            "{id} began (#{first_attempt}) after the opt-out (#{stop_seq})"
        );
    }
    let after: Vec<_> = log
        .iter()
        .filter(|(s, what, _)| what == "attempt" && *s > stop_seq)
        .collect();
    assert!(
        after.is_empty(),
        "attempts accepted after the opt-out: {after:?}"
    );
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM whatsapp_messages WHERE status_reason = 'opted_out'",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    eprintln!(
        "race: {} queued, {refused} refused at the API, {} reached the phone, {failed} failed as opted out",
        accepted.len(),
        received.len()
    );
    assert_eq!(
        received.len() as i64 + failed,
        accepted.len() as i64,
        "each queued message was sent or failed, never both"
    );
}

use sqlx::Connection as _;

#[tokio::test]
async fn export_streams_a_zip_and_bad_ids_are_refused() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let other = app.signup(&unique_email()).await;
    let r = app
        .json(
            Method::POST,
            "/api/leads",
            Some(&cookie),
            &json!({"name": "Export Me", "phone": "+447700900001"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let lead = r.json()["id"].as_str().unwrap().to_owned();

    let r = app.get("/api/export", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/zip");
    let disposition = r.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"rarity-export-"),
        "{disposition}"
    );
    assert!(r.body.starts_with("PK"), "a ZIP");
    assert!(r.body.contains("leads.csv") && r.body.contains("messages.json"));
    // Streamed, so no Content-Length; an estimate for the dashboard's progress bar instead.
    let estimate: usize = r.headers["x-export-estimated-bytes"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(estimate > 0 && estimate < 1_000_000, "{estimate}");
    let r = app
        .get(&format!("/api/leads/{lead}/export"), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    for (path, who, want) in [
        (
            format!("/api/leads/{lead}/export"),
            Some(other.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/leads/00000000-0000-0000-0000-000000000000/export".to_owned(),
            Some(cookie.as_str()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/leads/not-a-uuid/export".to_owned(),
            Some(cookie.as_str()),
            StatusCode::NOT_FOUND,
        ),
        ("/api/export".to_owned(), None, StatusCode::UNAUTHORIZED),
        (
            format!("/api/leads/{lead}/consent"),
            Some(other.as_str()),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = app.get(&path, who).await;
        assert_eq!(r.status, want, "{path}: {}", r.body);
    }
    // Other users' audit logs do not show this export.
    let mine = app.get("/api/audit", Some(&cookie)).await.json();
    assert!(
        mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export")
    );
    let theirs = app.get("/api/audit", Some(&other)).await.json();
    assert!(
        !theirs["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export")
    );
}

#[tokio::test]
async fn settings_consent_and_audit_refuse_bad_input_with_4xx() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let lead = create_lead(&app, &cookie, "L", "+447700900001").await;
    // (method, path, body, expected status, the field the error names)
    type Case<'a> = (Method, String, Option<String>, StatusCode, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            Method::PUT,
            "/api/privacy/settings".into(),
            Some(json!({"retention_messages_days": 0}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("retention_messages_days"),
        ),
        (
            Method::PUT,
            "/api/privacy/settings".into(),
            Some(json!({"retention_media_days": "ten"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            Method::PUT,
            "/api/privacy/settings".into(),
            Some(json!({"opt_out_keywords": []}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("opt_out_keywords"),
        ),
        (
            Method::PUT,
            "/api/privacy/settings".into(),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            Method::POST,
            format!("/api/leads/{lead}/consent"),
            Some(json!({"kind": "maybe", "source": "form", "evidence": "x"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("kind"),
        ),
        (
            Method::POST,
            format!("/api/leads/{lead}/consent"),
            Some(json!({"kind": "opt_in", "source": "form", "evidence": ""}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("evidence"),
        ),
        (
            Method::POST,
            "/api/leads/00000000-0000-0000-0000-000000000000/consent".into(),
            Some(json!({"kind": "opt_in", "source": "form", "evidence": "x"}).to_string()),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::GET,
            "/api/audit?limit=0".into(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            Method::GET,
            "/api/audit?limit=abc".into(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("limit"),
        ),
        (
            Method::GET,
            "/api/audit?before=-3".into(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("before"),
        ),
        (
            Method::POST,
            "/api/leads/00000000-0000-0000-0000-000000000000/erase".into(),
            Some(String::new()),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::POST,
            "/api/me/delete".into(),
            Some(json!({"confirm": "yes"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("confirm"),
        ),
    ];
    for (method, path, body, want, field) in cases {
        let mut req = request(method.clone(), &path, Some(&cookie), body);
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let r = app.send(req).await;
        assert_eq!(r.status, want, "{method} {path}: {}", r.body);
        if let Some(field) = field {
            assert_eq!(r.json()["error"]["field"], field, "{path}");
        }
    }
    // Good input round-trips, and the change is audited.
    let r = app
        .json(
            Method::PUT,
            "/api/privacy/settings",
            Some(&cookie),
            &json!({"retention_messages_days": 30, "retention_closed_leads_days": 365, "opt_out_keywords": ["stop", "Arrêt"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let settings = app.get("/api/privacy/settings", Some(&cookie)).await.json();
    assert_eq!(settings["retention_messages_days"], 30);
    assert_eq!(settings["opt_out_keywords"], json!(["STOP", "ARRET"]));
    let audit = app.get("/api/audit?limit=1", Some(&cookie)).await.json();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    assert!(audit["next_before"].is_i64());
}

#[tokio::test]
async fn erasing_a_lead_and_deleting_the_account_over_rest() {
    let app = spawn_app().await;
    let cookie = app.signup(&unique_email()).await;
    let lead = create_lead(&app, &cookie, "Erase Me", "+447700900001").await;
    let r = app
        .send(request(
            Method::POST,
            &format!("/api/leads/{lead}/erase"),
            Some(&cookie),
            Some(String::new()),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["messages"], 0);
    let again = app
        .send(request(
            Method::POST,
            &format!("/api/leads/{lead}/erase"),
            Some(&cookie),
            Some(String::new()),
        ))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/leads/{lead}"), Some(&cookie))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let r = app
        .json(
            Method::POST,
            "/api/me/delete",
            Some(&cookie),
            &json!({"confirm": "delete my account"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.get("/api/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
