//! Who is on the other end of a request: the client's address and the gateway's own public
//! address, believing `X-Forwarded-*` headers only from `server.trusted_proxies`. A header
//! anyone can write must never decide a rate limit, an access rule or a URL we hand out.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;
use crate::infra::config::ServerConfig;

/// The address of the client that made the request (behind trusted proxies: the address
/// they say they got it from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn of(parts: &Parts, config: &ServerConfig) -> ClientAddr {
        ClientAddr(client_ip(&config.trusted_proxies, peer(parts), &parts.headers))
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts, &state.config.server))
    }
}

/// Where the request really comes from, when that is known: a trusted proxy's forwarded
/// client, or the peer itself when nothing says it relays for someone else. `None` when an
/// untrusted peer (a proxy nobody declared) forwards for an unknown client: then its own
/// address, often loopback, must not grant anything.
pub fn origin(parts: &Parts, config: &ServerConfig) -> Option<IpAddr> {
    let peer = peer(parts);
    let relayed = FORWARDING_HEADERS.iter().any(|h| parts.headers.contains_key(*h));
    if relayed && !trusted(&config.trusted_proxies, peer) {
        return None;
    }
    Some(client_ip(&config.trusted_proxies, peer, &parts.headers))
}

/// Headers with which a proxy says it relays a request for someone else.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// The TCP peer; unspecified when the server was started without connect info.
fn peer(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip().to_canonical())
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The peer, or, when the peer is a trusted proxy, the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy (addresses further left were
/// written by the client and prove nothing).
pub fn client_ip(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted(proxies, peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    hops.iter().rev().find(|ip| !trusted(proxies, **ip)).or(hops.first()).copied().unwrap_or(peer)
}

/// Where clients reach the gateway (`https://gw.example.org`, no trailing slash):
/// `server.public_url`, else what a trusted proxy says in `X-Forwarded-Proto`/`-Host`.
/// `None` means only a relative URL is honest.
pub fn public_base(config: &ServerConfig, parts: &Parts) -> Option<String> {
    if !config.public_url.is_empty() {
        return Some(config.public_url.trim_end_matches('/').to_string());
    }
    if !trusted(&config.trusted_proxies, peer(parts)) {
        return None;
    }
    let header = |name: &str| {
        parts.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()).map(str::trim)
    };
    let host = header("x-forwarded-host").filter(|h| valid_host(h))?;
    let scheme = match header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}"))
}

/// A host with an optional port, nothing that could smuggle a path or credentials.
fn valid_host(host: &str) -> bool {
    !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        // A stranger's header is ignored.
        assert_eq!(client_ip(&proxies, stranger, &forwarded("1.2.3.4")), stranger);
        // Through a trusted proxy, the first untrusted hop from the right is the client,
        // whatever the client wrote further left.
        assert_eq!(
            client_ip(&proxies, proxy, &forwarded("6.6.6.6, 198.51.100.7, 10.9.9.9")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&proxies, proxy, &HeaderMap::new()), proxy);
        assert_eq!(client_ip(&[], "::ffff:127.0.0.1".parse().unwrap(), &HeaderMap::new()).to_string(), "127.0.0.1");
    }

    #[test]
    fn hosts_that_smuggle_paths_or_credentials_are_refused() {
        assert!(valid_host("gw.example.org:8443"));
        assert!(valid_host("[::1]:9090"));
        for bad in ["evil.org/x", "a@b", "", "x y", "h\\"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
