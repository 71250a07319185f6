//! Rate limits: 429 with `Retry-After` per IP (IPv6 per /64), per user, on sign-up and sign-in —
//! and the ways around them that must fail: forged `X-Forwarded-For`, bursts that overshoot,
//! flooding the limiter's memory, and locking everyone out from behind one shared address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Method, Request, StatusCode, header};
use server::auth::rate_limit::{Limits, per};

use crate::helpers::{
    PASSWORD, TestApp, TestResponse, credentials, request, spawn_app_limited, unique_email,
};

/// Generous limits except where a test tightens one.
fn limits() -> Limits {
    Limits {
        requests_per_ip: per(Duration::from_secs(60), 1000),
        requests_per_user: per(Duration::from_secs(60), 1000),
        signups_per_ip: per(Duration::from_secs(60), 1000),
        logins_per_ip: per(Duration::from_secs(60), 1000),
        logins_per_device: per(Duration::from_secs(60), 1000),
        ..Limits::default()
    }
}

fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let ip: IpAddr = ip.parse().unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
    req
}

fn get(path: &str, cookie: Option<&str>, ip: &str) -> Request<Body> {
    from(request(Method::GET, path, cookie, None), ip)
}

fn form(path: &str, body: &str, cookie: Option<&str>, ip: &str) -> Request<Body> {
    let mut req = request(Method::POST, path, cookie, Some(body.to_owned()));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    from(req, ip)
}

fn assert_limited(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        response.body
    );
    let retry: u64 = response.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(retry >= 1, "{retry}");
}

async fn sign_up(app: &TestApp, email: &str) {
    let r = app
        .send(form(
            "/auth/signup",
            &credentials(email, PASSWORD),
            None,
            "192.0.2.200",
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn requests_per_ip_answer_429_with_retry_after_and_ipv6_counts_per_64() {
    let app = spawn_app_limited(
        &[],
        Some(Limits {
            requests_per_ip: per(Duration::from_secs(30), 3),
            ..limits()
        }),
    )
    .await;
    for _ in 0..3 {
        let r = app.send(get("/api/me", None, "198.51.100.1")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.send(get("/api/me", None, "198.51.100.1")).await;
    assert_limited(&r);
    assert_eq!(r.error_code(), "rate_limited");
    let r = app.send(get("/api/me", None, "198.51.100.2")).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "another address is not affected"
    );
    // Static files and probes are never limited.
    let probe = app.send(get("/healthz", None, "198.51.100.1")).await;
    assert_eq!(probe.status, StatusCode::OK);

    // Fresh addresses inside one /64 share a bucket; the next /64 has its own.
    for i in 0..3 {
        let r = app
            .send(get("/api/me", None, &format!("2001:db8:7:7::{i:x}")))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&app.send(get("/api/me", None, "2001:db8:7:7:ffff::1")).await);
    let other = app.send(get("/api/me", None, "2001:db8:7:8::1")).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    let tight = Limits {
        requests_per_ip: per(Duration::from_secs(30), 2),
        ..limits()
    };
    // No TRUSTED_PROXIES: a client cannot pick a new address per request.
    let app = spawn_app_limited(&[], Some(tight)).await;
    for i in 0..2 {
        let mut req = get("/api/me", None, "203.0.113.5");
        req.headers_mut()
            .insert("x-forwarded-for", format!("10.9.9.{i}").parse().unwrap());
        assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
    }
    let mut req = get("/api/me", None, "203.0.113.5");
    req.headers_mut()
        .insert("x-forwarded-for", "10.9.9.99".parse().unwrap());
    assert_limited(&app.send(req).await);

    // Behind a trusted proxy: each client has its own bucket, and a client's forged entries
    // (left of what the proxy appended) change nothing.
    let app = spawn_app_limited(&[("TRUSTED_PROXIES", "127.0.0.1")], Some(tight)).await;
    let via_proxy = |xff: &str| {
        let mut req = get("/api/me", None, "127.0.0.1");
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
        req
    };
    for i in 0..2 {
        let r = app
            .send(via_proxy(&format!("6.6.6.{i}, 198.51.100.77")))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&app.send(via_proxy("6.6.6.200, 198.51.100.77")).await);
    let neighbour = app.send(via_proxy("198.51.100.78")).await;
    assert_eq!(
        neighbour.status,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own bucket"
    );
}

#[tokio::test]
async fn one_user_is_limited_across_addresses_and_with_a_bearer_token_too() {
    let app = spawn_app_limited(
        &[],
        Some(Limits {
            requests_per_user: per(Duration::from_secs(30), 3),
            ..limits()
        }),
    )
    .await;
    let cookie = app.signup(&unique_email()).await;
    for i in 0..3 {
        let r = app
            .send(get("/api/me", Some(&cookie), &format!("192.0.2.{i}")))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_limited(&app.send(get("/api/me", Some(&cookie), "192.0.2.50")).await);
    let other_user = app.signup(&unique_email()).await;
    assert_eq!(app.me(&other_user).await.status, StatusCode::OK);

    let token = bearer_token(uuid::Uuid::new_v4());
    let bearer = |ip: &str| {
        let mut req = get("/api/me", None, ip);
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        req
    };
    for i in 0..3 {
        let r = app.send(bearer(&format!("192.0.2.{}", 100 + i))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_limited(&app.send(bearer("192.0.2.150")).await);
}

#[tokio::test]
async fn sign_ups_per_ip_are_limited() {
    let app = spawn_app_limited(
        &[],
        Some(Limits {
            signups_per_ip: per(Duration::from_secs(600), 2),
            ..limits()
        }),
    )
    .await;
    for _ in 0..2 {
        let r = app
            .send(form(
                "/auth/signup",
                &credentials(&unique_email(), PASSWORD),
                None,
                "198.51.100.9",
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let mut refused = form(
        "/auth/signup",
        &credentials(&unique_email(), PASSWORD),
        None,
        "198.51.100.9",
    );
    refused
        .headers_mut()
        .insert(header::ACCEPT, "text/html".parse().unwrap());
    let r = app.send(refused).await;
    assert_limited(&r);
    assert!(
        r.body.contains("Too many attempts"),
        "a browser gets a page: {}",
        r.body
    );
    assert!(r.session_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_sign_ins_cannot_overshoot_either_limit() {
    let app = std::sync::Arc::new(
        spawn_app_limited(
            &[],
            Some(Limits {
                logins_per_ip: per(Duration::from_secs(600), 3),
                ..limits()
            }),
        )
        .await,
    );
    let email = unique_email();
    sign_up(&app, &email).await;

    // Per IP: 12 wrong passwords at once from one address; only 3 reach the password check.
    let attempts = (0..12).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            app.send(form(
                "/auth/login",
                &credentials(&unique_email(), "wrong password!!"),
                None,
                "203.0.113.40",
            ))
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = futures_join(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (3, 9), "{statuses:?}");

    // Per account: 12 wrong passwords at once for one email (from 12 addresses); only 5 are
    // checked, the rest are refused before any hashing.
    let attempts = (0..12).map(|i| {
        let app = app.clone();
        let email = email.clone();
        tokio::spawn(async move {
            app.send(form(
                "/auth/login",
                &credentials(&email, "wrong password!!"),
                None,
                &format!("198.51.100.{}", 100 + i),
            ))
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = futures_join(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(checked, 5, "{statuses:?}");
    let right = app
        .send(form(
            "/auth/login",
            &credentials(&email, PASSWORD),
            None,
            "198.51.100.250",
        ))
        .await;
    assert_limited(&right);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn flooding_the_limiters_with_random_keys_frees_nobody() {
    let app = spawn_app_limited(
        &[],
        Some(Limits {
            logins_per_ip: per(Duration::from_secs(600), 2),
            max_keys: 50,
            ..limits()
        }),
    )
    .await;
    // The account limit: 5 failures lock the account …
    let victim = unique_email();
    sign_up(&app, &victim).await;
    for _ in 0..5 {
        let r = app
            .post_form(
                "/auth/login",
                &credentials(&victim, "wrong password!!"),
                None,
            )
            .await;
        assert_eq!(r.location(), Some("/login?error=invalid_credentials"));
    }
    // … and 400 attempts with fresh emails do not push it out of anything: it is counted on the
    // account's row in the database, not in a map.
    for _ in 0..400 {
        app.post_form(
            "/auth/login",
            &credentials(&unique_email(), "wrong password!!"),
            None,
        )
        .await;
    }
    assert_limited(
        &app.post_form("/auth/login", &credentials(&victim, PASSWORD), None)
            .await,
    );

    // The per-IP limit: an exhausted address stays limited while 400 fresh addresses fill the
    // limiter (it keeps 50 keys; beyond that they all share one bucket).
    let attacker = "203.0.113.66";
    for _ in 0..2 {
        app.send(form(
            "/auth/login",
            &credentials(&unique_email(), "wrong password!!"),
            None,
            attacker,
        ))
        .await;
    }
    let attempt = || {
        form(
            "/auth/login",
            &credentials(&unique_email(), "x-wrong-password"),
            None,
            attacker,
        )
    };
    assert_limited(&app.send(attempt()).await);
    let mut flood_limited = 0;
    for i in 0..400u32 {
        let ip = format!("10.{}.{}.1", i / 250, i % 250);
        let r = app
            .send(form(
                "/auth/login",
                &credentials(&unique_email(), "wrong password!!"),
                None,
                &ip,
            ))
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            flood_limited += 1;
        }
    }
    assert!(
        flood_limited >= 300,
        "the flood shares one bucket: {flood_limited}"
    );
    assert_limited(&app.send(attempt()).await);
}

/// Signs in and returns (session cookie, device cookie) as `name=value`.
async fn sign_in_for_cookies(app: &TestApp, email: &str, ip: &str) -> String {
    let r = app
        .send(form("/auth/login", &credentials(email, PASSWORD), None, ip))
        .await;
    assert_eq!(r.location(), Some("/"), "{}", r.body);
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rl_device="))
        .and_then(|v| v.split(';').next())
        .expect("a device cookie")
        .to_owned()
}

#[tokio::test]
async fn an_attacker_behind_a_shared_address_cannot_lock_out_known_browsers() {
    let app = spawn_app_limited(
        &[],
        Some(Limits {
            logins_per_ip: per(Duration::from_secs(600), 5),
            logins_per_device: per(Duration::from_secs(600), 3),
            ..limits()
        }),
    )
    .await;
    // An office behind one address (a NAT, or a proxy not listed in TRUSTED_PROXIES).
    let office = "192.0.2.77";
    let alice = unique_email();
    sign_up(&app, &alice).await;
    let device = sign_in_for_cookies(&app, &alice, office).await;

    // Someone fails on purpose, from the office and elsewhere: the office's address is exhausted,
    // and Alice's account has five failures, which locks it.
    for ip in [office, office, office, office, "198.51.100.33"] {
        let r = app
            .send(form(
                "/auth/login",
                &credentials(&alice, "wrong password!!"),
                None,
                ip,
            ))
            .await;
        assert_eq!(r.location(), Some("/login?error=invalid_credentials"));
    }
    assert_limited(
        &app.send(form(
            "/auth/login",
            &credentials(&alice, PASSWORD),
            None,
            office,
        ))
        .await,
    );

    // Alice's browser proves it signed in before: it still gets in, from the same address.
    let r = app
        .send(form(
            "/auth/login",
            &credentials(&alice, PASSWORD),
            Some(&device),
            office,
        ))
        .await;
    assert_eq!(r.location(), Some("/"), "{}", r.body);
    assert!(r.session_cookie().is_some());

    // A stolen device cookie buys only its own small budget, and only for its own account.
    let bob = unique_email();
    sign_up(&app, &bob).await;
    let for_bob = app
        .send(form(
            "/auth/login",
            &credentials(&bob, PASSWORD),
            Some(&device),
            office,
        ))
        .await;
    assert_limited(&for_bob);
    for _ in 0..2 {
        app.send(form(
            "/auth/login",
            &credentials(&alice, "wrong password!!"),
            Some(&device),
            office,
        ))
        .await;
    }
    assert_limited(
        &app.send(form(
            "/auth/login",
            &credentials(&alice, "wrong password!!"),
            Some(&device),
            office,
        ))
        .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_hashing_has_bounded_concurrency() {
    let app = std::sync::Arc::new(
        spawn_app_limited(
            &[],
            Some(Limits {
                hashing_concurrency: 1,
                hashing_queue: 0,
                ..limits()
            }),
        )
        .await,
    );
    let attempts = (0..16).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            app.send(form(
                "/auth/signup",
                &credentials(&unique_email(), PASSWORD),
                None,
                "198.51.100.60",
            ))
            .await
        })
    });
    let responses = futures_join(attempts).await;
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::SEE_OTHER)
        .count();
    let busy: Vec<&TestResponse> = responses
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(created + busy.len(), 16, "nothing else (no 500)");
    assert!(created >= 1, "hashing still works");
    assert!(!busy.is_empty(), "the 16 did not all hash at once");
    for r in busy {
        assert_eq!(r.error_code(), "overloaded");
        assert!(r.headers.contains_key("retry-after"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_cookies_never_reach_the_database() {
    let app = std::sync::Arc::new(spawn_app_limited(&[], Some(limits())).await);
    let cookie = app.signup(&unique_email()).await;
    // Take every pooled connection hostage: any request that needs the database now hangs.
    // (Background listeners — outbox wake-ups, event notices — already hold some of them, so
    // take what is left until the pool has none to give.)
    let mut hostages = Vec::new();
    while let Ok(Ok(connection)) = tokio::time::timeout(
        Duration::from_millis(300),
        app.store.runtime_pool().acquire(),
    )
    .await
    {
        hostages.push(connection);
    }
    assert!(!hostages.is_empty(), "the pool had connections to take");
    let started = std::time::Instant::now();
    let flood = (0..300).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let forged = format!("rl_session={}", random_token(i));
            app.send(get("/api/me", Some(&forged), "203.0.113.99"))
                .await
        })
    });
    let responses = tokio::time::timeout(Duration::from_secs(10), futures_join(flood))
        .await
        .expect("random cookies are answered without waiting for the database");
    assert!(started.elapsed() < Duration::from_secs(10));
    for r in &responses {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0"),
            "the forged cookie is cleared"
        );
    }
    drop(hostages);
    assert_eq!(
        app.me(&cookie).await.status,
        StatusCode::OK,
        "the real session still works"
    );
}

/// A Supabase-style access token for `sub`, signed with the test secret.
fn bearer_token(sub: uuid::Uuid) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": sub.to_string(), "aud": "authenticated", "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// 64 base64url characters that look like a session token but carry no valid signature.
fn random_token(seed: usize) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..64)
        .map(|i| alphabet[(seed * 31 + i * 17 + (seed ^ i) * 7) % 64] as char)
        .collect()
}
