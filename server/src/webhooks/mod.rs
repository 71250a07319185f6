//! Webhook deliveries: the worker that posts what the database queued (see the webhooks
//! migration for how deliveries are queued and ordered) and the client that posts them.
//!
//! Each delivery is a JSON body `{"type", "timestamp", "data"}` signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `id.timestamp.body`, with the endpoint's `whsec_` secret), posted through a client that follows
//! no redirect, uses no proxy, times out, reads at most [`RESPONSE_CAP`] of the answer and
//! connects only to addresses the SSRF guard allows ([`destination`]). A 2xx answer delivers it;
//! anything else is tried again after [`retry_delay`] until a day has passed since the event,
//! then it is failed. Any instance may run the worker: claims are leased rows.

pub mod destination;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use store::{DeliveryJob, DeliveryOutcome, Store};

use destination::{GuardedResolver, Lookup, Policy, Refused};

/// The channel the database notifies when it queues deliveries.
pub const CHANNEL: &str = "rarity_webhooks";
/// How long one attempt may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a receiver's answer that is read (and then dropped).
pub const RESPONSE_CAP: usize = 16 * 1024;
/// How long deliveries are retried after their event.
pub const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Deliveries claimed per round, and posted at once.
const BATCH: i32 = 32;
const PARALLEL: usize = 16;
/// A claim is someone else's again after this (a crashed worker's deliveries are retried).
const LEASE: Duration = Duration::from_secs(60);
/// The longest the worker sleeps without a notification (retries come due on their own).
const POLL: Duration = Duration::from_secs(1);
/// Settled deliveries are kept this long for the delivery log.
const KEEP_DAYS: i32 = 30;

/// How long to wait after the `attempt`-th failed attempt (1-based): 5 s, 30 s, 2 min, 10 min,
/// 30 min, 1 h, 2 h, 4 h, then every 8 h — about ten attempts in the day before it fails.
pub fn retry_delay(attempt: i32) -> Duration {
    const SCHEDULE: [u64; 8] = [5, 30, 120, 600, 1800, 3600, 7200, 14_400];
    let secs = usize::try_from(attempt.max(1) - 1)
        .ok()
        .and_then(|i| SCHEDULE.get(i).copied())
        .unwrap_or(28_800);
    Duration::from_secs(secs)
}

/// The webhook side of the app state: the save-time URL check and the sender.
#[derive(Clone)]
pub struct Webhooks {
    pub sender: Sender,
    lookup: Arc<dyn Lookup>,
}

impl Webhooks {
    /// With the system resolver.
    pub fn new(policy: Policy) -> Self {
        Self::with_lookup(policy, Arc::new(destination::SystemLookup))
    }

    pub fn with_lookup(policy: Policy, lookup: Arc<dyn Lookup>) -> Self {
        Self {
            sender: Sender::new(policy, lookup.clone()),
            lookup,
        }
    }

    /// The save-time check of a URL; `Err` says why in words (for a 422 on `url`).
    pub async fn check(&self, url: &str) -> Result<(), String> {
        destination::check_destination(url, self.sender.policy, self.lookup.as_ref())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Posts deliveries.
#[derive(Clone)]
pub struct Sender {
    /// Built on first use; a failure to build it fails attempts (with the reason), never sends
    /// through an unguarded client.
    client: Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
    lookup: Arc<dyn Lookup>,
    policy: Policy,
}

impl Sender {
    pub fn new(policy: Policy, lookup: Arc<dyn Lookup>) -> Self {
        Self {
            client: Arc::default(),
            lookup,
            policy,
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .timeout(TIMEOUT)
                    .connect_timeout(Duration::from_secs(5))
                    .pool_idle_timeout(Duration::from_secs(30))
                    .user_agent(concat!("Rarity-Webhooks/", env!("CARGO_PKG_VERSION")))
                    .dns_resolver(Arc::new(GuardedResolver {
                        lookup: self.lookup.clone(),
                        policy: self.policy,
                    }))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// One attempt at `job`, and what to record.
    pub async fn deliver(&self, job: &DeliveryJob, now: DateTime<Utc>) -> DeliveryOutcome {
        let (status, error) = match self.post(job, now).await {
            Ok(status) if (200..300).contains(&status) => {
                return DeliveryOutcome::Delivered { status };
            }
            Ok(status) => (Some(status), format!("the receiver answered HTTP {status}")),
            Err(error) => (None, error),
        };
        let at = now
            + chrono::TimeDelta::from_std(jittered(retry_delay(job.attempts)))
                .unwrap_or(chrono::TimeDelta::hours(8));
        if at > job.created_at + GIVE_UP_AFTER {
            DeliveryOutcome::Failed {
                status,
                error: format!("{error}; gave up after {} attempts", job.attempts),
            }
        } else {
            DeliveryOutcome::Retry { status, error, at }
        }
    }

    async fn post(&self, job: &DeliveryJob, now: DateTime<Utc>) -> Result<u16, String> {
        let url =
            destination::check_url(&job.url, self.policy).map_err(|e| format!("the URL {e}"))?;
        let body = serde_json::to_vec(&serde_json::json!({
            "type": job.event_type,
            "timestamp": job.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": job.payload,
        }))
        .map_err(|e| format!("cannot encode the event: {e}"))?;
        let timestamp = now.timestamp();
        let signature = standardwebhooks::Webhook::new(&job.secret)
            .and_then(|w| w.sign(&job.event_id, timestamp, &body))
            .map_err(|_| "the endpoint's secret is unusable; rotate it".to_owned())?;
        let response = self
            .client()?
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &job.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        // Read a little of the answer so the connection can be reused, never more.
        let mut stream = response.bytes_stream();
        let mut read = 0usize;
        while read < RESPONSE_CAP {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}

/// ±10 % so endpoints that failed together do not retry together.
fn jittered(delay: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    delay.mul_f64(factor)
}

/// A transport error in words for the delivery log (the guard's refusal named as such).
fn describe(error: reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return format!("refused: the host {refused}");
        }
        source = e.source();
    }
    if error.is_timeout() {
        "the receiver did not answer in time".into()
    } else if error.is_connect() {
        "cannot connect to the receiver".into()
    } else {
        "the request failed before an answer".into()
    }
}

/// Runs deliveries until aborted.
pub fn spawn(store: Store, sender: Sender) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut notices = None;
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            if notices.is_none() {
                match store.listen(&[CHANNEL]).await {
                    Ok(n) => notices = Some(n),
                    Err(e) => tracing::warn!(error = %e, "webhooks: cannot listen; polling"),
                }
            }
            let claimed = round(&store, &sender).await;
            if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
                match store.webhook_prune(KEEP_DAYS).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(deleted = n, "webhooks: old deliveries pruned")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhooks: cannot prune deliveries"),
                }
                last_prune = Some(tokio::time::Instant::now());
            }
            if claimed >= BATCH as usize {
                continue;
            }
            match notices.as_mut() {
                Some(n) => match tokio::time::timeout(POLL, n.next()).await {
                    Ok(Ok(_)) | Err(_) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "webhooks: notification channel lost");
                        notices = None;
                    }
                },
                None => tokio::time::sleep(POLL).await,
            }
        }
    })
}

/// Claims a batch and delivers it; returns how many were claimed.
async fn round(store: &Store, sender: &Sender) -> usize {
    let jobs = match store.webhook_claim_due(BATCH, LEASE).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: cannot claim deliveries");
            return 0;
        }
    };
    let claimed = jobs.len();
    futures_util::stream::iter(jobs)
        .for_each_concurrent(PARALLEL, |job| async move {
            let outcome = sender.deliver(&job, Utc::now()).await;
            let label = match &outcome {
                DeliveryOutcome::Delivered { .. } => "delivered",
                DeliveryOutcome::Retry { .. } => "retry",
                DeliveryOutcome::Failed { .. } => "failed",
            };
            metrics::counter!(crate::stats::WEBHOOK_ATTEMPTS, "outcome" => label).increment(1);
            if let DeliveryOutcome::Failed { error, .. } = &outcome {
                tracing::info!(delivery = job.delivery_id, webhook = %job.webhook_id, %error, "webhook delivery failed for good");
            }
            if let Err(e) = store.webhook_settle(job.delivery_id, &outcome).await {
                // The lease runs out and the delivery is tried again: at least once, never lost.
                tracing::warn!(delivery = job.delivery_id, error = %e, "webhooks: cannot record an attempt");
            }
        })
        .await;
    claimed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use hmac::Mac as _;
    use tokio::sync::mpsc;

    /// Answers 127.0.0.1 the first time and 10.0.0.1 afterwards: DNS rebinding.
    struct Rebinding(AtomicUsize);
    impl Lookup for Rebinding {
        fn lookup(
            &self,
            _host: &str,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::io::Result<Vec<std::net::IpAddr>>> + Send>,
        > {
            let first = self.0.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                Ok(vec![if first {
                    "127.0.0.1".parse().unwrap()
                } else {
                    "10.0.0.1".parse().unwrap()
                }])
            })
        }
    }

    type Seen = mpsc::UnboundedReceiver<(String, HeaderMap, Bytes)>;

    /// A receiver on loopback: `/hook` takes it (204), `/moved` redirects to `/hook`, `/big`
    /// answers 200 with 4 MiB.
    async fn receiver() -> (std::net::SocketAddr, Seen) {
        let (tx, rx) = mpsc::unbounded_channel();
        let hook = {
            let tx = tx.clone();
            move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(("/hook".to_owned(), headers, body));
                    http::StatusCode::NO_CONTENT
                }
            }
        };
        let moved = {
            let tx = tx.clone();
            move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(("/moved".to_owned(), headers, body));
                    (http::StatusCode::FOUND, [(http::header::LOCATION, "/hook")])
                }
            }
        };
        let big = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(("/big".to_owned(), headers, body));
                vec![b'x'; 4 << 20]
            }
        };
        let app = Router::new()
            .route("/hook", post(hook))
            .route("/moved", post(moved))
            .route("/big", post(big));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, rx)
    }

    fn job(url: String, created_at: DateTime<Utc>) -> DeliveryJob {
        DeliveryJob {
            delivery_id: 1,
            webhook_id: uuid::Uuid::new_v4(),
            url,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            event_id: "evt_42".into(),
            event_type: "message.inbound".into(),
            payload: serde_json::json!({"text": "Hello", "phone_number": "+447700900001"}),
            attempts: 1,
            created_at,
        }
    }

    #[tokio::test]
    async fn deliveries_are_signed_and_a_name_that_rebinds_to_a_private_address_is_never_reached() {
        let (addr, mut seen) = receiver().await;
        let dev = Policy {
            allow_loopback: true,
        };
        let lookup: Arc<dyn Lookup> = Arc::new(Rebinding(AtomicUsize::new(0)));
        let sender = Sender::new(dev, lookup.clone());
        let now = Utc::now();
        let url = format!("http://rebind.test:{}/hook", addr.port());

        let outcome = sender.deliver(&job(url.clone(), now), now).await;
        assert_eq!(outcome, DeliveryOutcome::Delivered { status: 204 });
        let (path, headers, body) = seen.recv().await.unwrap();
        assert_eq!(path, "/hook");
        // The reference library accepts the signature...
        standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .verify(&body, &headers)
            .expect("a valid Standard Webhooks signature");
        // ...and so does the scheme computed by hand: HMAC-SHA256(key, "id.timestamp.body").
        let timestamp = headers["webhook-timestamp"].to_str().unwrap();
        assert_eq!(headers["webhook-id"], "evt_42");
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("evt_42.{timestamp}.").as_bytes());
        mac.update(&body);
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(headers["webhook-signature"], expected.as_str());
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(sent["type"], "message.inbound");
        assert_eq!(sent["data"]["text"], "Hello");

        // The same name now answers 10.0.0.1: the next connection (a fresh client: pooled
        // connections stay with the address vetted when they opened) is refused before it is
        // made, and the delivery retried later.
        let outcome = Sender::new(dev, lookup).deliver(&job(url, now), now).await;
        match outcome {
            DeliveryOutcome::Retry {
                status: None,
                error,
                at,
            } => {
                assert!(error.contains("10.0.0.1"), "{error}");
                assert!(at > now);
            }
            other => panic!("{other:?}"),
        }
        assert!(seen.try_recv().is_err(), "nothing reached the receiver");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_answers_are_capped_and_old_events_fail() {
        let (addr, mut seen) = receiver().await;
        let dev = Policy {
            allow_loopback: true,
        };
        let sender = Sender::new(dev, Arc::new(destination::SystemLookup));
        let now = Utc::now();
        let base = format!("http://127.0.0.1:{}", addr.port());

        let outcome = sender
            .deliver(&job(format!("{base}/moved"), now), now)
            .await;
        assert!(
            matches!(
                &outcome,
                DeliveryOutcome::Retry {
                    status: Some(302),
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(seen.recv().await.unwrap().0, "/moved");
        assert!(seen.try_recv().is_err(), "the redirect was not followed");

        let outcome = sender.deliver(&job(format!("{base}/big"), now), now).await;
        assert_eq!(outcome, DeliveryOutcome::Delivered { status: 200 });

        // A day after the event, a failure is final.
        let old = now - chrono::TimeDelta::hours(23) - chrono::TimeDelta::minutes(59);
        let mut late = job(format!("{base}/moved"), old);
        late.attempts = 9;
        match sender.deliver(&late, now).await {
            DeliveryOutcome::Failed {
                status: Some(302),
                error,
            } => {
                assert!(error.contains("gave up after 9 attempts"), "{error}");
            }
            other => panic!("{other:?}"),
        }

        // Without the development switch, loopback and plain http are refused outright.
        let prod = Sender::new(Policy::default(), Arc::new(destination::SystemLookup));
        while seen.try_recv().is_ok() {}
        match prod.deliver(&job(format!("{base}/hook"), now), now).await {
            DeliveryOutcome::Retry { error, .. } => assert!(error.contains("https"), "{error}"),
            other => panic!("{other:?}"),
        }
        let https_loopback = format!("https://127.0.0.1:{}/hook", addr.port());
        match prod.deliver(&job(https_loopback, now), now).await {
            DeliveryOutcome::Retry { error, .. } => assert!(error.contains("127.0.0.1"), "{error}"),
            other => panic!("{other:?}"),
        }
        assert!(seen.try_recv().is_err());
    }

    /// The Settings page keeps its own copy of the list (the browser build has no store).
    #[test]
    fn the_settings_page_offers_exactly_the_event_types_the_store_knows() {
        let page: Vec<&str> = app::webhooks::EVENT_TYPES.iter().map(|(t, _)| *t).collect();
        assert_eq!(page, store::WEBHOOK_EVENT_TYPES);
    }

    #[test]
    fn retries_back_off_and_stop_within_a_day() {
        assert_eq!(retry_delay(1), Duration::from_secs(5));
        assert_eq!(retry_delay(2), Duration::from_secs(30));
        assert_eq!(retry_delay(8), Duration::from_secs(4 * 3600));
        assert_eq!(retry_delay(30), Duration::from_secs(8 * 3600));
        let mut total = Duration::ZERO;
        let mut attempts = 0;
        while total < Duration::from_secs(24 * 3600) {
            attempts += 1;
            total += retry_delay(attempts);
        }
        assert!((8..=14).contains(&attempts), "{attempts} attempts in a day");
    }
}
