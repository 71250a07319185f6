//! The HTTP control API on loopback, for driving a standalone fake from another process (a Node
//! test, a demo). Plain text or JSON; every route maps to a [`FakeWhatsApp`] method.
//!
//! - `GET /root-key` → hex root public key
//! - `GET /refs` → `[[ref, …], …]` per registering connection
//! - `POST /scan` (body: the QR string) → the new device JID, or 400 with the reason
//! - `POST /kick/{code}` → `{"kicked": n}` (stream error to every logged-in connection)
//! - `POST /drop` → `{"dropped": n}`
//! - `GET /devices` → `[{"user", "device", "lid"}]`
//! - `GET /stats` → `{"connections", "logins"}`

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::FakeError;
use crate::server::FakeWhatsApp;

type Fake = State<Arc<FakeWhatsApp>>;

pub fn router(fake: Arc<FakeWhatsApp>) -> Router {
    Router::new()
        .route("/root-key", get(root_key))
        .route("/refs", get(refs))
        .route("/scan", post(scan))
        .route("/kick/{code}", post(kick))
        .route("/drop", post(drop_sockets))
        .route("/devices", get(devices))
        .route("/stats", get(stats))
        .with_state(fake)
}

/// Serves the control API on `bind`; returns the bound address and the server task.
pub async fn serve(
    fake: Arc<FakeWhatsApp>,
    bind: SocketAddr,
) -> Result<(SocketAddr, JoinHandle<()>), FakeError> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(fake)).await {
            eprintln!("fake-whatsapp: control API stopped: {e}");
        }
    });
    Ok((addr, task))
}

async fn root_key(State(fake): Fake) -> String {
    hex::encode(fake.root_public_key())
}

async fn refs(State(fake): Fake) -> axum::Json<Value> {
    axum::Json(json!(fake.pair_refs()))
}

async fn scan(State(fake): Fake, body: String) -> (StatusCode, String) {
    match fake.phone().scan(&body) {
        Ok(jid) => (StatusCode::OK, jid.to_string()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn kick(State(fake): Fake, Path(code): Path<u16>) -> axum::Json<Value> {
    axum::Json(json!({ "kicked": fake.kick(code) }))
}

async fn drop_sockets(State(fake): Fake) -> axum::Json<Value> {
    axum::Json(json!({ "dropped": fake.drop_sockets() }))
}

async fn devices(State(fake): Fake) -> axum::Json<Value> {
    let list: Vec<Value> = fake
        .devices()
        .iter()
        .map(|d| json!({ "user": d.user, "device": d.device, "lid": d.lid_user }))
        .collect();
    axum::Json(Value::Array(list))
}

async fn stats(State(fake): Fake) -> axum::Json<Value> {
    axum::Json(json!({ "connections": fake.connections(), "logins": fake.logins() }))
}
