//! Login brute-force limit, in memory.
//!
//! Failed logins are counted per email (5 per 15 minutes) and per client IP (20 per 15 minutes) in
//! fixed windows. Once either counter is at its limit, further attempts are refused with
//! `rate_limited` *before* the password is checked, so guessing stops even for correct passwords.
//! A successful login clears the email's counter.
//!
//! Why in memory: one process serves the dashboard today; counters reset on restart, which only
//! grants an attacker a few more guesses per restart. The map is bounded (`MAX_KEYS`): when full,
//! expired windows are pruned and, failing that, the oldest window is dropped, so a flood of random
//! emails cannot exhaust memory. The client IP is the TCP peer address; `X-Forwarded-For` is
//! deliberately ignored because anyone can forge it (a proxy deployment would need a trusted-proxy
//! setting).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_email: u32,
    pub per_ip: u32,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_email: 5,
            per_ip: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: Limits,
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether another attempt for this email / IP may be checked now.
    pub fn allows(&self, email: &str, ip: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let windows = self.lock();
        let count = |key: &Key| {
            windows
                .get(key)
                .filter(|w| now.duration_since(w.started) < self.limits.window)
                .map_or(0, |w| w.failures)
        };
        count(&Key::Email(email.to_owned())) < self.limits.per_email
            && ip.is_none_or(|ip| count(&Key::Ip(ip)) < self.limits.per_ip)
    }

    pub fn record_failure(&self, email: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut windows = self.lock();
        let keys = std::iter::once(Key::Email(email.to_owned())).chain(ip.map(Key::Ip));
        for key in keys {
            if !windows.contains_key(&key) && windows.len() >= MAX_KEYS {
                self.make_room(&mut windows, now);
            }
            let window = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(window.started) >= self.limits.window {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures = window.failures.saturating_add(1);
        }
    }

    pub fn record_success(&self, email: &str) {
        self.lock().remove(&Key::Email(email.to_owned()));
    }

    fn make_room(&self, windows: &mut HashMap<Key, Window>, now: Instant) {
        windows.retain(|_, w| now.duration_since(w.started) < self.limits.window);
        if windows.len() >= MAX_KEYS
            && let Some(oldest) = windows
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone())
        {
            windows.remove(&oldest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        // A panic while holding this lock cannot leave the counters inconsistent in a harmful way,
        // so recover from poisoning instead of failing every later login.
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));

    #[test]
    fn email_limit_applies_after_five_failures_and_success_resets_it() {
        let l = LoginLimiter::new(Limits::default());
        for _ in 0..5 {
            assert!(l.allows("a@x.io", IP));
            l.record_failure("a@x.io", IP);
        }
        assert!(!l.allows("a@x.io", IP));
        assert!(
            l.allows("b@x.io", IP),
            "another email from the same IP is still allowed"
        );
        l.record_success("a@x.io");
        assert!(l.allows("a@x.io", IP));
    }

    #[test]
    fn ip_limit_applies_across_emails() {
        let l = LoginLimiter::new(Limits::default());
        for i in 0..20 {
            l.record_failure(&format!("u{i}@x.io"), IP);
        }
        assert!(!l.allows("fresh@x.io", IP));
        assert!(l.allows("fresh@x.io", None));
    }

    #[test]
    fn windows_expire() {
        let l = LoginLimiter::new(Limits {
            per_email: 1,
            per_ip: 1,
            window: Duration::from_millis(20),
        });
        l.record_failure("a@x.io", IP);
        assert!(!l.allows("a@x.io", IP));
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.allows("a@x.io", IP));
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = LoginLimiter::new(Limits::default());
        for i in 0..(MAX_KEYS + 50) {
            l.record_failure(&format!("flood{i}@x.io"), None);
        }
        assert!(l.len() <= MAX_KEYS);
    }
}
