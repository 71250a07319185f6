//! Request rate limits: per client IP (an IPv6 client by its /64) and per user on everything but
//! static files and probes, stricter ones per IP on sign-up and sign-in, and the password-hashing
//! gate. Limits answer **429 with `Retry-After`**.
//!
//! The limiters are governor's GCRA buckets (a rate plus a burst), one bucket per key in a map.
//! Keys come from attacker-controlled input (addresses), so every map is **bounded**
//! ([`Limits::max_keys`]): keys whose bucket is full again are swept out regularly, and while a
//! map is full of live keys every request of that kind shares one extra bucket with the same
//! quota ("overflow") until entries age out — memory stays bounded, and an attacker who fills the
//! map gains nothing over the quota he already had. Sign-in failures per *account* are counted in
//! the database instead (see `forms::login`), where no flood of random keys can evict them.
//!
//! Why in memory: governor is exact and costs no round trip; with several instances each keeps its
//! own buckets, so the effective per-IP quota grows with the number of instances. The per-account
//! sign-in limit, which matters most, is shared through the database already.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The numbers behind every limit. [`Limits::default`] is what the server runs with; tests use
/// smaller ones.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Every request but static files, probes and metrics, per client IP.
    pub requests_per_ip: Quota,
    /// Every request of a signed-in user (cookie or bearer token), per user.
    pub requests_per_user: Quota,
    /// `POST /auth/signup`, per client IP.
    pub signups_per_ip: Quota,
    /// `POST /auth/login` attempts per client IP, counted before the password is checked.
    /// Browsers that signed in to that account before (a device cookie) are not counted here.
    pub logins_per_ip: Quota,
    /// Sign-in attempts through one device cookie (a stolen cookie buys only this many guesses).
    pub logins_per_device: Quota,
    /// Failed sign-ins per account within [`Limits::login_window`] before the account refuses
    /// attempts from browsers without its device cookie (counted in the database).
    pub login_failures_per_account: u32,
    pub login_window: Duration,
    /// Keys each limiter remembers at most.
    pub max_keys: usize,
    /// Password hashes (argon2id, 19 MiB each) computed at once.
    pub hashing_concurrency: usize,
    /// Sign-ups/sign-ins waiting for a hashing slot before new ones are turned away (503).
    pub hashing_queue: usize,
    /// Session-cookie lookups in the database at once (the pool has 10 connections).
    pub session_lookups: usize,
    /// The least time between two fetches of Supabase's JWKS (a token naming an unknown key id
    /// asks for one), so a flood of made-up key ids cannot hammer the endpoint.
    pub jwks_refetch_gap: Duration,
}

/// `burst` requests at once, then one more every `period`.
pub fn per(period: Duration, burst: u32) -> Quota {
    // `burst` is a non-zero literal at every call site; 1 is the safe fallback.
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// `n` requests per second with bursts of `10 n` (a page load is one HTML request and a few server
/// functions; static files are not counted).
fn per_second(n: u32) -> Quota {
    let n = n.max(1);
    per(
        Duration::from_nanos(1_000_000_000 / u64::from(n)),
        n.saturating_mul(10),
    )
}

impl Limits {
    /// The defaults with `RATE_LIMIT_PER_IP` and `RATE_LIMIT_PER_USER` applied.
    pub fn for_config(config: &crate::config::Config) -> Self {
        Self {
            requests_per_ip: per_second(config.rate_limit_per_ip),
            requests_per_user: per_second(config.rate_limit_per_user),
            ..Self::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_ip: per_second(100),
            requests_per_user: per_second(50),
            // 10 sign-ups per hour.
            signups_per_ip: per(Duration::from_secs(360), 10),
            // 20 attempts per 15 minutes.
            logins_per_ip: per(Duration::from_secs(45), 20),
            // 10 attempts per 15 minutes.
            logins_per_device: per(Duration::from_secs(90), 10),
            login_failures_per_account: 5,
            login_window: Duration::from_secs(15 * 60),
            max_keys: 100_000,
            hashing_concurrency: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
            hashing_queue: 64,
            session_lookups: 5,
            jwks_refetch_gap: Duration::from_secs(30),
        }
    }
}

/// How long the client should wait (the `Retry-After` header, in whole seconds, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    pub fn seconds(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// How often a limiter forgets keys whose bucket is full again.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// One keyed limit with a bounded map (see the module docs).
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    name: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
    overflow: DefaultDirectRateLimiter,
    max_keys: usize,
    last_sweep: Mutex<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn new(name: &'static str, quota: Quota, max_keys: usize) -> Self {
        Self {
            name,
            limiter: RateLimiter::dashmap(quota),
            overflow: RateLimiter::direct(quota),
            max_keys: max_keys.max(1),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Takes one unit from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), RetryAfter> {
        self.sweep_if_due();
        let outcome = if self.limiter.len() >= self.max_keys {
            self.overflow.check()
        } else {
            self.limiter.check_key(key)
        };
        outcome.map_err(|not_until| {
            metrics::counter!("rarity_rate_limited_total", "limit" => self.name).increment(1);
            RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Forgets fresh-again keys every [`SWEEP_EVERY`], and at most once a second while full.
    fn sweep_if_due(&self) {
        let full = self.limiter.len() >= self.max_keys;
        let due = {
            let mut last = self
                .last_sweep
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let wait = if full {
                Duration::from_secs(1)
            } else {
                SWEEP_EVERY
            };
            let due = last.elapsed() >= wait;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_says_when_to_retry() {
        let limit = KeyedLimit::new("test", per(Duration::from_secs(60), 2), 10);
        assert!(limit.check(&1).is_ok());
        assert!(limit.check(&1).is_ok());
        let retry = limit.check(&1).unwrap_err();
        assert!((55..=60).contains(&retry.seconds()), "{retry:?}");
        assert!(limit.check(&2).is_ok(), "another key has its own bucket");
    }

    #[test]
    fn a_full_map_does_not_grow_and_does_not_free_a_limited_key() {
        let limit = KeyedLimit::new("test", per(Duration::from_secs(60), 1), 100);
        assert!(limit.check(&0u32).is_ok());
        assert!(limit.check(&0u32).is_err());
        // Fill the map with fresh keys: it stops growing, and everyone shares one bucket.
        let mut refused = 0;
        for key in 1..10_000u32 {
            if limit.check(&key).is_err() {
                refused += 1;
            }
        }
        assert!(limit.len() <= 100, "{}", limit.len());
        assert!(refused >= 9_800, "the overflow bucket is shared: {refused}");
        assert!(
            limit.check(&0u32).is_err(),
            "filling the map did not reset key 0"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(1500)).seconds(), 2);
        assert_eq!(RetryAfter(Duration::ZERO).seconds(), 1);
    }
}
