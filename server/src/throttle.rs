//! Where the rate limits apply: two middlewares around the session lookup, and the 429 answer.
//!
//! `limit_by_ip` runs *before* the session cookie is looked up, so a flood from one address is cut
//! off before it reaches the database; `limit_by_user` runs after, so one account cannot flood from
//! many addresses. Bearer-token users are limited when the API extractor has verified their token
//! (`api::ApiUser`). Static files, probes and `/metrics` are never limited.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use app::ctx::CurrentUser;

use crate::api::ApiError;
use crate::auth::rate_limit::{KeyedLimit, Limits, RetryAfter};
use crate::client_ip::{ClientIp, IpKey};
use crate::state::AppState;

/// Every limiter of the process.
pub struct RateLimits {
    pub limits: Limits,
    pub requests_per_ip: KeyedLimit<IpKey>,
    pub requests_per_user: KeyedLimit<Uuid>,
    pub signups_per_ip: KeyedLimit<IpKey>,
    pub logins_per_ip: KeyedLimit<IpKey>,
    pub logins_per_device: KeyedLimit<[u8; 8]>,
    pub hashing: HashingGate,
    /// Bounds the session-cookie lookups that run at once (see `auth::session`).
    pub session_lookups: Arc<Semaphore>,
}

impl RateLimits {
    pub fn new(limits: Limits) -> Self {
        let keys = limits.max_keys;
        Self {
            requests_per_ip: KeyedLimit::new("requests_per_ip", limits.requests_per_ip, keys),
            requests_per_user: KeyedLimit::new("requests_per_user", limits.requests_per_user, keys),
            signups_per_ip: KeyedLimit::new("signups_per_ip", limits.signups_per_ip, keys),
            logins_per_ip: KeyedLimit::new("logins_per_ip", limits.logins_per_ip, keys),
            logins_per_device: KeyedLimit::new("logins_per_device", limits.logins_per_device, keys),
            hashing: HashingGate::new(limits.hashing_concurrency, limits.hashing_queue),
            session_lookups: Arc::new(Semaphore::new(limits.session_lookups.max(1))),
            limits,
        }
    }
}

/// Paths no limit applies to: static files, probes and metrics.
pub fn unlimited(path: &str) -> bool {
    ["/pkg/", "/fonts/", "/favicon"]
        .iter()
        .any(|p| path.starts_with(p))
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub async fn limit_by_ip(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !unlimited(request.uri().path())
        && let Some(ClientIp(Some(ip))) = request.extensions().get::<ClientIp>().copied()
        && let Err(retry) = state.limits.requests_per_ip.check(&IpKey::from(ip))
    {
        tracing::warn!(%ip, "request rate limit (per IP)");
        return too_many_requests(retry, request.headers());
    }
    next.run(request).await
}

pub async fn limit_by_user(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !unlimited(request.uri().path())
        && let Some(user) = request.extensions().get::<CurrentUser>()
        && let Err(retry) = state.limits.requests_per_user.check(&user.id)
    {
        tracing::warn!(user_id = %user.id, "request rate limit (per user)");
        return too_many_requests(retry, request.headers());
    }
    next.run(request).await
}

/// 429 with `Retry-After`: our JSON error for API callers, a short page for a browser's
/// navigation or form post (which cannot show a JSON body).
pub fn too_many_requests(retry: RetryAfter, headers: &HeaderMap) -> Response {
    let seconds = retry.seconds();
    if wants_html(headers) {
        let minutes = seconds.div_ceil(60);
        let wait = if seconds < 90 {
            format!("{seconds} seconds")
        } else {
            format!("{minutes} minutes")
        };
        let page = format!(
            "<!DOCTYPE html><html lang=\"en\" class=\"dark\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Too many attempts · Rarity Leads</title>\
             <link rel=\"stylesheet\" href=\"/pkg/rarity.css\"></head>\
             <body><main class=\"flex min-h-screen flex-col items-center justify-center gap-3 px-4 text-center\">\
             <h1 class=\"text-xl font-medium\">Too many attempts</h1>\
             <p class=\"text-sm text-muted\" data-testid=\"retry-after\">Wait {wait} and try again.</p>\
             <a href=\"/login\" class=\"text-sm text-muted underline underline-offset-4\">Back to sign in</a>\
             </main></body></html>"
        );
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    ApiError::RateLimited {
        retry_after: seconds,
    }
    .into_response()
}

pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Password hashing (argon2id: 19 MiB and tens of milliseconds each) runs at most `concurrency`
/// at a time on the blocking pool; up to `queue` more wait for a slot, and beyond that sign-ups
/// and sign-ins are turned away at once with 503 + `Retry-After`, so a flood of them costs
/// neither unbounded CPU nor unbounded memory.
pub struct HashingGate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// How long a request waits for a hashing slot before giving up.
const HASHING_WAIT: Duration = Duration::from_secs(10);

impl HashingGate {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` (a password hash or check) on the blocking pool once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(ApiError::internal)
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let busy = || {
            metrics::counter!("rarity_rate_limited_total", "limit" => "password_hashing")
                .increment(1);
            ApiError::Overloaded { retry_after: 2 }
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let acquired =
            tokio::time::timeout(HASHING_WAIT, Arc::clone(&self.slots).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hashing_gate_turns_away_what_it_cannot_queue() {
        let gate = Arc::new(HashingGate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let running = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.run(move || hold.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.run(|| 2).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = gate.run(|| 3).await;
        assert!(matches!(
            refused,
            Err(ApiError::Overloaded { retry_after: 2 })
        ));
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().ok(), Some(2));
    }

    #[test]
    fn static_files_and_probes_are_never_limited() {
        for path in [
            "/pkg/rarity.wasm",
            "/fonts/inter.woff2",
            "/healthz",
            "/metrics",
        ] {
            assert!(unlimited(path), "{path}");
        }
        for path in ["/", "/api/leads", "/fn/leads/list", "/auth/login"] {
            assert!(!unlimited(path), "{path}");
        }
    }
}
