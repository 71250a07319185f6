//! Where a webhook may point: the SSRF guard.
//!
//! A user chooses the URL, so without a guard our server would post to whatever it can reach —
//! the cloud metadata service, the database, an admin port on loopback. The rules:
//!
//! - `https` only; plain `http` only while `WEBHOOKS_ALLOW_LOOPBACK` is on (development), no
//!   credentials in the URL.
//! - Every address the host resolves to must be public: loopback, private (RFC 1918, unique
//!   local), link-local (which holds the metadata address 169.254.169.254), CGNAT, unspecified,
//!   multicast, broadcast, documentation and reserved ranges are refused, including IPv4 written
//!   inside IPv6 (mapped, NAT64). Loopback alone is let through by `WEBHOOKS_ALLOW_LOOPBACK`.
//! - The check runs when the URL is saved (a clear 422) **and at every connection**: the client
//!   resolves through [`GuardedResolver`], which hands the connector only the addresses that pass,
//!   so a name that answers differently later (DNS rebinding) still cannot reach a private
//!   address. Literal addresses never reach a resolver, so [`check_url`] checks them itself before
//!   each request.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::Url;

/// What the guard allows beyond public addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `WEBHOOKS_ALLOW_LOOPBACK`: loopback addresses and plain http (development only).
    pub allow_loopback: bool,
}

/// Why a URL is refused, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("is not a valid URL")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("has no host name")]
    NoHost,
    #[error("points to {0}, a private, loopback or reserved address that webhooks may not reach")]
    Blocked(IpAddr),
    #[error("does not resolve: {0}")]
    Unresolvable(String),
}

/// Whether the guard lets a connection go to `ip`.
pub fn check_ip(ip: IpAddr, policy: Policy) -> Result<(), Refused> {
    if is_public(ip) || (policy.allow_loopback && ip.is_loopback()) {
        Ok(())
    } else {
        Err(Refused::Blocked(ip))
    }
}

/// A globally routable unicast address (what a webhook receiver on the internet has).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96, RFC 6052): the IPv4 address inside decides.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // Deprecated site-local fec0::/10.
                || (s[0] & 0xffc0) == 0xfec0
                // Documentation 2001:db8::/32, and IPv4-compatible ::a.b.c.d (deprecated).
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0..6] == [0, 0, 0, 0, 0, 0])
                // Discard-only 100::/64.
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // "This network" 0.0.0.0/8.
        || a == 0
        // Shared address space (CGNAT) 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking 198.18.0.0/15.
        || (a == 198 && (b & 0xfe) == 18)
        // Reserved 240.0.0.0/4.
        || a >= 240)
}

/// The URL's own rules (scheme, credentials, a literal address); names are checked by resolving.
pub fn check_url(raw: &str, policy: Policy) -> Result<Url, Refused> {
    let url = Url::parse(raw.trim()).map_err(|_| Refused::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback => {}
        "http" => return Err(Refused::NotHttps),
        _ => return Err(Refused::Malformed),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    match url.host() {
        None => Err(Refused::NoHost),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy).map(|()| url),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy).map(|()| url),
        Some(url::Host::Domain(_)) => Ok(url),
    }
}

type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Name resolution, replaceable in tests (a name whose answer changes, without a DNS server).
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system resolver.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The addresses of `host` the guard lets through; an error when there are none.
pub async fn allowed_addresses(
    lookup: &dyn Lookup,
    host: &str,
    policy: Policy,
) -> Result<Vec<IpAddr>, Refused> {
    let all = lookup
        .lookup(host)
        .await
        .map_err(|e| Refused::Unresolvable(e.to_string()))?;
    let mut allowed = Vec::with_capacity(all.len());
    let mut first_blocked = None;
    for ip in all {
        match check_ip(ip, policy) {
            Ok(()) => allowed.push(ip),
            Err(_) => {
                first_blocked.get_or_insert(ip);
            }
        }
    }
    match (allowed.is_empty(), first_blocked) {
        (false, _) => Ok(allowed),
        (true, Some(ip)) => Err(Refused::Blocked(ip)),
        (true, None) => Err(Refused::Unresolvable("no addresses".into())),
    }
}

/// The save-time check: the URL's rules, and its host must resolve to an allowed address now.
pub async fn check_destination(
    raw: &str,
    policy: Policy,
    lookup: &dyn Lookup,
) -> Result<Url, Refused> {
    let url = check_url(raw, policy)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        allowed_addresses(lookup, name, policy).await?;
    }
    Ok(url)
}

/// The HTTP client's resolver: only allowed addresses ever reach the connector.
#[derive(Clone)]
pub struct GuardedResolver {
    pub lookup: Arc<dyn Lookup>,
    pub policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let ips = allowed_addresses(this.lookup.as_ref(), name.as_str(), this.policy)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        check_ip(ip.parse().unwrap(), Policy::default()).is_err()
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
            "100::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} must pass");
        }
    }

    #[test]
    fn loopback_is_allowed_only_by_the_development_switch_and_private_never() {
        let dev = Policy {
            allow_loopback: true,
        };
        assert!(check_ip("127.0.0.1".parse().unwrap(), dev).is_ok());
        assert!(check_ip("::1".parse().unwrap(), dev).is_ok());
        assert!(check_ip("10.0.0.1".parse().unwrap(), dev).is_err());
        assert!(check_ip("169.254.169.254".parse().unwrap(), dev).is_err());
    }

    #[test]
    fn urls_need_https_no_credentials_and_an_allowed_literal_address() {
        let prod = Policy::default();
        assert!(check_url("https://hooks.example.com/rarity", prod).is_ok());
        assert_eq!(
            check_url("http://hooks.example.com/", prod),
            Err(Refused::NotHttps)
        );
        assert_eq!(
            check_url("ftp://hooks.example.com/", prod),
            Err(Refused::Malformed)
        );
        assert_eq!(check_url("not a url", prod), Err(Refused::Malformed));
        assert_eq!(
            check_url("https://user:pw@hooks.example.com/", prod),
            Err(Refused::Credentials)
        );
        assert_eq!(
            check_url("https://10.0.0.1/hook", prod),
            Err(Refused::Blocked("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            check_url("https://[::1]:8443/hook", prod),
            Err(Refused::Blocked("::1".parse().unwrap()))
        );
        // Other spellings of an address are normalised by the URL parser first.
        assert_eq!(
            check_url("https://0x7f.1/", prod),
            Err(Refused::Blocked("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            check_url("https://2852039166/", prod),
            Err(Refused::Blocked("169.254.169.254".parse().unwrap()))
        );
        let dev = Policy {
            allow_loopback: true,
        };
        assert!(check_url("http://127.0.0.1:9000/hook", dev).is_ok());
        assert!(check_url("http://10.0.0.1/hook", dev).is_err());
    }

    struct Fixed(Vec<IpAddr>);
    impl Lookup for Fixed {
        fn lookup(&self, _host: &str) -> LookupFuture {
            let ips = self.0.clone();
            Box::pin(async move { Ok(ips) })
        }
    }

    #[tokio::test]
    async fn a_name_passes_only_with_an_allowed_address_and_keeps_only_those() {
        let prod = Policy::default();
        let private = Fixed(vec!["10.0.0.1".parse().unwrap()]);
        assert_eq!(
            check_destination("https://internal.example/", prod, &private).await,
            Err(Refused::Blocked("10.0.0.1".parse().unwrap()))
        );
        let mixed = Fixed(vec![
            "10.0.0.1".parse().unwrap(),
            "93.184.216.34".parse().unwrap(),
        ]);
        assert_eq!(
            allowed_addresses(&mixed, "mixed.example", prod).await,
            Ok(vec!["93.184.216.34".parse().unwrap()])
        );
        let none = Fixed(vec![]);
        assert!(matches!(
            check_destination("https://nothing.example/", prod, &none).await,
            Err(Refused::Unresolvable(_))
        ));
    }
}
