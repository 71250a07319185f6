//! `/metrics` in Prometheus' text format, through the `metrics` facade and its Prometheus exporter.
//!
//! Where each series comes from:
//! - **Engine counters** (`rarity_whatsapp_messages_total{direction}`, `…_decrypt_failures_total`,
//!   `…_send_failures_total`, `…_reconnects_total`) and the **accounts held** gauge are counted by
//!   `sessions::telemetry` in this process, where commits succeed and account tasks run.
//! - **Accounts per status** and the **outbox** (depth, age of the oldest queued message) are read
//!   from the database when scraped — they are facts about the whole deployment, not this process —
//!   at most once per [`SNAPSHOT_TTL`], so scrapes cannot load the database.
//! - **HTTP latency** is a histogram per method, route template and status, recorded by
//!   [`track`]; **pool use** is read from the pool when scraped.
//! - **Webhook backlog** (deliveries pending, age of the oldest) is read from the database like the
//!   outbox; **webhook attempts** by outcome (delivered, retry, failed) are counted by the worker.
//!
//! Access: with `METRICS_TOKEN` set, `Authorization: Bearer <token>` is required; without it, only
//! a loopback peer that did not come through a proxy (no `X-Forwarded-For`/`Forwarded`) is
//! answered, so a public deployment does not publish its numbers by accident.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sessions::telemetry as engine;
use sha2::{Digest as _, Sha256};

use crate::state::AppState;

/// Database-derived gauges are refreshed at most this often.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);

const HTTP_DURATION: &str = "rarity_http_request_duration_seconds";
const ACCOUNTS: &str = "rarity_whatsapp_accounts";
const OUTBOX_DEPTH: &str = "rarity_whatsapp_outbox_depth";
const OUTBOX_AGE: &str = "rarity_whatsapp_outbox_oldest_age_seconds";
const WEBHOOK_BACKLOG: &str = "rarity_webhook_backlog";
const WEBHOOK_AGE: &str = "rarity_webhook_oldest_age_seconds";
/// Webhook delivery attempts by outcome (`delivered`, `retry`, `failed`).
pub const WEBHOOK_ATTEMPTS: &str = "rarity_webhook_attempts_total";
const POOL_CONNECTIONS: &str = "rarity_db_pool_connections";
const POOL_MAX: &str = "rarity_db_pool_max_connections";
const RATE_LIMITED: &str = "rarity_rate_limited_total";
const BUILD_INFO: &str = "rarity_build_info";

/// Latency buckets in seconds: 5 ms to 10 s.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its handle (`None` if another
/// recorder was installed first, which only a test harness could do).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
                .map_err(|e| tracing::error!(error = %e, "metrics buckets refused"))
                .ok()?;
            let handle = builder
                .install_recorder()
                .map_err(|e| tracing::error!(error = %e, "cannot install the metrics recorder"))
                .ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

/// Help texts, and every counter at zero so the series exist before the first event.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        engine::ACCOUNTS_HELD,
        "WhatsApp account tasks running in this process"
    );
    describe_gauge!(
        ACCOUNTS,
        "WhatsApp accounts in the database, by status (all instances)"
    );
    describe_counter!(
        engine::MESSAGES,
        "Messages stored from contacts (in) and sent and acknowledged by WhatsApp (out), by this process"
    );
    describe_counter!(
        engine::DECRYPT_FAILURES,
        "Incoming messages that could not be decrypted"
    );
    describe_counter!(engine::SEND_FAILURES, "Outgoing messages that ended failed");
    describe_counter!(
        engine::RECONNECTS,
        "Lost WhatsApp connections scheduled to reconnect"
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        "Outgoing messages queued and not yet sent (all instances)"
    );
    describe_gauge!(
        OUTBOX_AGE,
        "Age of the oldest queued outgoing message, 0 when none"
    );
    describe_gauge!(
        WEBHOOK_BACKLOG,
        "Webhook deliveries pending, including those waiting for a retry (all instances)"
    );
    describe_gauge!(
        WEBHOOK_AGE,
        "Age of the oldest pending webhook delivery, 0 when none"
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by this process, by outcome (delivered, retry, failed)"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method, route and status"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Runtime database pool connections by state (idle, in_use)"
    );
    describe_gauge!(POOL_MAX, "Runtime database pool size limit");
    describe_counter!(
        RATE_LIMITED,
        "Requests refused by a rate limit or the hashing gate, by limit"
    );
    describe_gauge!(BUILD_INFO, "The running version");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!(engine::ACCOUNTS_HELD).increment(0.0);
    for direction in ["in", "out"] {
        metrics::counter!(engine::MESSAGES, "direction" => direction).increment(0);
    }
    for outcome in ["delivered", "retry", "failed"] {
        metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(0);
    }
    for name in [
        engine::DECRYPT_FAILURES,
        engine::SEND_FAILURES,
        engine::RECONNECTS,
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Histogram upkeep (folding raw samples into buckets) between scrapes, so memory stays flat
/// however rarely Prometheus scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Middleware: one latency sample per request, labelled with the route *template* (`/api/leads/:id`,
/// never the id itself, so label values stay few).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    // The outer router only knows a nested router's prefix; the nested one tags its own template
    // on the response (`tag_route`).
    let outer = match request.extensions().get::<MatchedPath>() {
        Some(m) if !m.as_str().contains("{*") => m.as_str().to_owned(),
        _ => route_group(request.uri().path()),
    };
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or(outer, |r| r.0.clone())
        // `/api/leads/{id}` → `/api/leads/:id`: the usual spelling in dashboards, and braces trip
        // some text-format parsers.
        .replace('{', ":")
        .replace('}', "");
    metrics::histogram!(
        HTTP_DURATION,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The route template a nested router matched, carried out to [`track`] on the response.
#[derive(Clone)]
struct RouteLabel(String);

/// Route layer for nested routers (`/api`): tags the response with the matched template.
pub async fn tag_route(request: Request, next: Next) -> Response {
    let label = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(label) = label {
        response.extensions_mut().insert(RouteLabel(label));
    }
    response
}

/// Routes without a template (static files, the pages' fallback): a fixed group, never the path.
fn route_group(path: &str) -> String {
    for prefix in ["/pkg", "/fonts", "/api", "/fn"] {
        if path.starts_with(&format!("{prefix}/")) {
            return format!("{prefix}/*");
        }
    }
    "other".to_owned()
}

/// The last database snapshot and when it was taken.
#[derive(Default)]
pub struct SnapshotCache(Mutex<Option<(Instant, store::OpsSnapshot)>>);

pub async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    if !allowed(&state, request.headers(), &request) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let Some(handle) = state.metrics.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not available").into_response();
    };
    refresh_database_gauges(&state).await;
    let pool = state.store.pool_stats();
    metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use()));
    metrics::gauge!(POOL_MAX).set(f64::from(pool.max));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

async fn refresh_database_gauges(state: &AppState) {
    let fresh = {
        let cache = state
            .metrics_cache
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .as_ref()
            .filter(|(at, _)| at.elapsed() < SNAPSHOT_TTL)
            .map(|(_, snapshot)| snapshot.clone())
    };
    let snapshot = match fresh {
        Some(snapshot) => snapshot,
        None => match state.store.ops_snapshot().await {
            Ok(snapshot) => {
                *state
                    .metrics_cache
                    .0
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some((Instant::now(), snapshot.clone()));
                snapshot
            }
            Err(e) => {
                // Keep the last values; the scrape still answers with everything else.
                tracing::warn!(error = %e, "metrics: could not read the database snapshot");
                return;
            }
        },
    };
    for (status, n) in &snapshot.accounts_by_status {
        metrics::gauge!(ACCOUNTS, "status" => *status).set(*n as f64);
    }
    metrics::gauge!(OUTBOX_DEPTH).set(snapshot.outbox_depth as f64);
    let age = snapshot.outbox_oldest.map_or(0.0, |oldest| {
        (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!(OUTBOX_AGE).set(age);
    metrics::gauge!(WEBHOOK_BACKLOG).set(snapshot.webhook_backlog as f64);
    let age = snapshot.webhook_oldest.map_or(0.0, |oldest| {
        (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!(WEBHOOK_AGE).set(age);
}

fn allowed(state: &AppState, headers: &HeaderMap, request: &Request) -> bool {
    match &state.settings.metrics_token_hash {
        Some(expected) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| {
                let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
                // Comparing digests: equal length, and timing reveals nothing about the token.
                given == *expected
            }),
        None => {
            let local_peer = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|c| c.0.ip().to_canonical().is_loopback());
            let proxied =
                headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
            local_peer && !proxied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmatched_paths_fall_into_a_few_groups() {
        assert_eq!(route_group("/pkg/rarity.wasm"), "/pkg/*");
        assert_eq!(route_group("/api/nope/123"), "/api/*");
        assert_eq!(route_group("/some/page/with-an-id-123"), "other");
    }
}
