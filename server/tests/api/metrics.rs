//! `/metrics`, read by a Prometheus text-format parser: every named series is there, and it moves
//! as an account links, receives, sends, fails to decrypt and reconnects against the offline
//! WhatsApp.
//!
//! The recorder is process-wide, so other tests running in this binary add to the same counters:
//! counters are asserted to grow by at least what this test caused; the database gauges come from
//! this test's own database and are exact.

use std::collections::HashMap;
use std::time::Duration;

use fake_whatsapp::{Config as FakeConfig, FakeWhatsApp};
use http::{Method, StatusCode, header};
use prometheus_parse::{Scrape, Value};
use serde_json::{Value as Json, json};

use crate::helpers::{TestApp, request, spawn_app_with, unique_email};

const TOKEN: &str = "metrics-token-for-tests-0123456789";

async fn scrape(app: &TestApp) -> Scrape {
    let mut req = request(Method::GET, "/metrics", None, None);
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    let response = app.send(req).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(
        response.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    Scrape::parse(response.body.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text format")
}

/// The value of `name` with exactly these labels (counters, gauges and untyped samples).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

fn must(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or_else(|| {
        let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        panic!("{name}{labels:?} missing; have {names:?}")
    })
}

/// Requests counted by the latency histogram for one route (all methods and statuses).
fn http_requests(scrape: &Scrape, route: &str) -> u64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "rarity_http_request_duration_seconds")
        .filter(|s| s.labels.get("route") == Some(route))
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.last().map_or(0, |b| b.count as u64),
            _ => 0,
        })
        .sum()
}

async fn account_until(app: &TestApp, cookie: &str, id: &str, want: impl Fn(&Json) -> bool) {
    for _ in 0..300 {
        let r = app.get(&format!("/api/accounts/{id}"), Some(cookie)).await;
        if want(&r.json()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("account {id} never reached the expected state");
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_every_named_series_moving() {
    let fake = FakeWhatsApp::start(FakeConfig::default()).await.unwrap();
    let contact = fake
        .add_account("15550004444", "100000000000044", "Dana")
        .unwrap();
    let root: String = fake
        .root_public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let url = fake.url();
    let app = spawn_app_with(&[
        ("WHATSAPP_SERVER_URL", url.as_str()),
        ("WHATSAPP_ROOT_PUBLIC_KEY", root.as_str()),
        ("METRICS_TOKEN", TOKEN),
    ])
    .await;

    // Not public: without the token there is nothing to see.
    assert_eq!(
        app.get("/metrics", None).await.status,
        StatusCode::NOT_FOUND
    );
    let mut wrong = request(Method::GET, "/metrics", None, None);
    wrong
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer guess".parse().unwrap());
    assert_eq!(app.send(wrong).await.status, StatusCode::NOT_FOUND);

    let before = scrape(&app).await;
    for (name, labels) in [
        ("rarity_whatsapp_accounts_held", vec![]),
        ("rarity_whatsapp_messages_total", vec![("direction", "in")]),
        ("rarity_whatsapp_messages_total", vec![("direction", "out")]),
        ("rarity_whatsapp_decrypt_failures_total", vec![]),
        ("rarity_whatsapp_send_failures_total", vec![]),
        ("rarity_whatsapp_reconnects_total", vec![]),
        ("rarity_whatsapp_outbox_depth", vec![]),
        ("rarity_whatsapp_outbox_oldest_age_seconds", vec![]),
        ("rarity_webhook_backlog", vec![]),
        ("rarity_webhook_oldest_age_seconds", vec![]),
        (
            "rarity_webhook_attempts_total",
            vec![("outcome", "delivered")],
        ),
        ("rarity_webhook_attempts_total", vec![("outcome", "retry")]),
        ("rarity_webhook_attempts_total", vec![("outcome", "failed")]),
        ("rarity_db_pool_connections", vec![("state", "idle")]),
        ("rarity_db_pool_connections", vec![("state", "in_use")]),
        ("rarity_db_pool_max_connections", vec![]),
        ("rarity_build_info", vec![]),
    ] {
        must(&before, name, &labels);
    }
    for status in ["inactive", "connecting", "active", "expired", "error"] {
        assert_eq!(
            must(&before, "rarity_whatsapp_accounts", &[("status", status)]),
            0.0
        );
    }
    assert_eq!(must(&before, "rarity_db_pool_max_connections", &[]), 10.0);

    // An account: created, linked by QR, active.
    let cookie = app.signup(&unique_email()).await;
    let id = crate::whatsapp::create_account(&app, &cookie, "Metrics").await;
    crate::whatsapp::link_by_qr(&app, &fake, &cookie, &id).await;

    // A webhook for incoming messages. This in-process app runs no delivery worker (the binary
    // does: see blackbox.rs), so its deliveries stay pending: the backlog.
    let hook = app
        .json(
            Method::POST,
            "/api/webhooks",
            Some(&cookie),
            &json!({"url": "https://93.184.216.34/hook", "event_types": ["message.inbound"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);

    // In, out, undecryptable, then a dropped connection that reconnects.
    contact
        .send_text("15550001111", "hello metrics")
        .await
        .unwrap();
    let sent = app
        .json(
            Method::POST,
            "/api/messages",
            Some(&cookie),
            &json!({"account_id": id, "to": "+15550004444", "text": "hi"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let sent_id = sent.json()["id"].as_str().unwrap().to_owned();
    contact.send_undecryptable("15550001111").unwrap();
    until("the message is sent", async || {
        let m = app
            .get(&format!("/api/messages/{sent_id}"), Some(&cookie))
            .await;
        m.json()["status"] != "queued"
    })
    .await;
    until(
        "the contact's message and the placeholder are stored",
        async || {
            let list = app.get("/api/conversations", Some(&cookie)).await.json();
            list.as_array().is_some_and(|a| !a.is_empty())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.drop_sockets() >= 1);
    account_until(&app, &cookie, &id, |a| a["status_reason"] == "reconnecting").await;
    account_until(&app, &cookie, &id, |a| a["status"] == "active").await;

    // A message that stays queued: WhatsApp stops acknowledging, the phone stops confirming.
    let mut faults = fake.faults();
    faults.withhold_acks = true;
    faults.withhold_receipts = true;
    fake.set_faults(faults);
    let stuck = app
        .json(
            Method::POST,
            "/api/messages",
            Some(&cookie),
            &json!({"account_id": id, "to": "+15550004444", "text": "are you there?"}),
        )
        .await;
    assert_eq!(stuck.status, StatusCode::ACCEPTED);
    // The database gauges are cached for 5 s; let the cache expire and the message age.
    tokio::time::sleep(Duration::from_millis(5_500)).await;

    let after = scrape(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        must(&after, name, labels) - must(&before, name, labels)
    };
    assert!(grew("rarity_whatsapp_messages_total", &[("direction", "in")]) >= 1.0);
    assert!(grew("rarity_whatsapp_messages_total", &[("direction", "out")]) >= 1.0);
    assert!(grew("rarity_whatsapp_decrypt_failures_total", &[]) >= 1.0);
    assert!(grew("rarity_whatsapp_reconnects_total", &[]) >= 1.0);
    assert!(must(&after, "rarity_whatsapp_accounts_held", &[]) >= 1.0);
    assert_eq!(
        must(&after, "rarity_whatsapp_accounts", &[("status", "active")]),
        1.0
    );
    assert_eq!(must(&after, "rarity_whatsapp_outbox_depth", &[]), 1.0);
    assert!(must(&after, "rarity_whatsapp_outbox_oldest_age_seconds", &[]) >= 5.0);
    assert!(must(&after, "rarity_webhook_backlog", &[]) >= 1.0);
    assert!(must(&after, "rarity_webhook_oldest_age_seconds", &[]) >= 5.0);
    let routes: HashMap<&str, ()> = after
        .samples
        .iter()
        .filter(|s| s.metric == "rarity_http_request_duration_seconds")
        .filter_map(|s| s.labels.get("route").map(|r| (r, ())))
        .collect();
    assert!(
        http_requests(&after, "/api/accounts/:id") > http_requests(&before, "/api/accounts/:id"),
        "{routes:?}"
    );
    assert!(http_requests(&after, "/api/messages") >= 2, "{routes:?}");
    assert!(
        routes.keys().all(|r| !r.contains(&id)),
        "route labels are templates, never ids: {routes:?}"
    );
    // Release the stuck message so the account's task can end cleanly.
    fake.set_faults(Default::default());
}
