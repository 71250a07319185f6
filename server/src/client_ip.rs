//! Who is on the other end: the client's IP address, as rate limits and logs need it.
//!
//! Without configuration the client is the TCP peer: `X-Forwarded-For` is ignored, because anyone
//! can send it. Behind a reverse proxy every request would then come from the proxy, so
//! `TRUSTED_PROXIES` lists the proxies' addresses (or ranges): when the peer is one of them, the
//! client is the right-most `X-Forwarded-For` entry that is *not* a trusted proxy (each proxy
//! appends the address it received the request from, so entries left of the first untrusted one
//! were written by the client and prove nothing).
//!
//! Rate limits key IPv6 clients by their /64: one subscriber or host usually gets a whole /64, so
//! keying by the full address would give an attacker 2^64 fresh buckets for free.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `TRUSTED_PROXIES`: addresses and ranges whose `X-Forwarded-For` we believe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma- or space-separated list of IP addresses and CIDR ranges.
    pub fn parse(name: &str, raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "{name} must be a comma-separated list of IP addresses or CIDR ranges \
                         (e.g. 10.0.0.0/8, ::1), got {item:?}"
                    )
                })?;
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address given the TCP peer and the request's headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // All X-Forwarded-For headers in order form one list; walk it from the right.
        let entries: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.iter().rev() {
            // A garbled entry ends the walk: the last address we could read sent it.
            let Some(ip) = parse_forwarded(entry) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address of this request, resolved once by [`resolve`] (`None` when the server was
/// started without connect info, as in router tests that do not set it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| {
                ClientIp(
                    parts
                        .extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|c| c.0.ip().to_canonical()),
                )
            }))
    }
}

/// Middleware: works out the client address once and stores it as a [`ClientIp`] extension.
pub async fn resolve(trusted: TrustedProxies, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = peer.map(|peer| trusted.client_ip(peer, request.headers()));
    request.extensions_mut().insert(ClientIp(client));
    next.run(request).await
}

/// What rate limits count per: an IPv4 address, or the /64 an IPv6 address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpKey {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(v4),
            IpAddr::V6(v6) => IpKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("203.0.113.9"), &xff(&["1.1.1.1"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
        let trusted = TrustedProxies::parse("T", "10.0.0.0/8, 127.0.0.1").unwrap();
        // The client forged "6.6.6.6"; the edge proxy appended the real peer, 198.51.100.4.
        let headers = xff(&["6.6.6.6, 198.51.100.4", "10.1.2.3"]);
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &headers),
            ip("198.51.100.4")
        );
        // A peer that is not a trusted proxy cannot choose its address.
        assert_eq!(
            trusted.client_ip(ip("198.51.100.7"), &headers),
            ip("198.51.100.7")
        );
        // Only proxies in the chain, or a garbled entry: the last readable hop.
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &xff(&["10.0.0.5"])),
            ip("10.0.0.5")
        );
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &xff(&["garbage, 10.0.0.5"])),
            ip("10.0.0.5")
        );
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &xff(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:127.0.0.1"), &xff(&["192.0.2.1"])),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn the_list_is_validated() {
        assert!(TrustedProxies::parse("T", "10.0.0.1 ::1,fd00::/8").is_ok());
        let err = TrustedProxies::parse("TRUSTED_PROXIES", "10.0.0.0/33").unwrap_err();
        assert!(err.starts_with("TRUSTED_PROXIES must be"), "{err}");
        assert!(TrustedProxies::parse("T", "proxy.local").is_err());
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        let a = IpKey::from(ip("2001:db8:1:2:aaaa::1"));
        let b = IpKey::from(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = IpKey::from(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            IpKey::from(ip("::ffff:192.0.2.1")),
            IpKey::from(ip("192.0.2.1"))
        );
    }
}
