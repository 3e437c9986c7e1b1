//! Where an admin may point the gateway: a DHIS2 server added or moved through the API must
//! be out on the network, not the gateway's own host, its private networks or a cloud
//! metadata service. Otherwise an admin token (or whoever holds one) could make the gateway
//! probe, or send DHIS2 credentials to, what only the gateway can reach.
//! `server.allow_private_dhis2_addresses` lifts the rule for sites whose DHIS2 is on a
//! private network; servers in the configuration files are the operator's word and are not
//! checked.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::infra::error::{AppError, AppResult};

/// Cloud metadata services reached by name.
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "metadata"];

/// Refuses a base URL whose host is, or resolves to, an address that is not public.
pub async fn check_public(base_url: &str) -> AppResult<()> {
    let url = Url::parse(base_url).map_err(|e| AppError::invalid_field("base_url", e))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![ip.into()],
        Some(Host::Ipv6(ip)) => vec![ip.into()],
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&name.as_str()) {
                return Err(refused(&name, "a cloud metadata service"));
            }
            tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| AppError::invalid_field("base_url", format!("the host {name} cannot be resolved: {e}")))?
                .map(|a| a.ip())
                .collect()
        }
        None => return Err(AppError::invalid_field("base_url", "has no host")),
    };
    match addresses.into_iter().find(|ip| !is_public(*ip)) {
        Some(ip) => Err(refused(&ip.to_string(), "not a public address")),
        None => Ok(()),
    }
}

/// The same rule when connecting, for servers added through the API: a name that resolves
/// to an inner address now (whatever it resolved to when the server was added: DNS
/// rebinding) is not connected to.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{name} resolves to no public address (server.allow_private_dhis2_addresses is off)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// A base URL whose host is an inner address written as such (no name to resolve).
pub fn inner_literal(base_url: &str) -> Option<IpAddr> {
    let ip: IpAddr = match Url::parse(base_url).ok()?.host()? {
        Host::Ipv4(ip) => ip.into(),
        Host::Ipv6(ip) => ip.into(),
        Host::Domain(_) => return None,
    };
    (!is_public(ip)).then_some(ip)
}

fn refused(what: &str, why: &str) -> AppError {
    AppError::invalid_field(
        "base_url",
        format!(
            "{what} is {why}; DHIS2 servers added through the API must be public \
             (set server.allow_private_dhis2_addresses for a DHIS2 on a private network)"
        ),
    )
}

/// Not loopback, private, shared (CGNAT), link-local (cloud metadata lives there), unique
/// local, multicast, documentation or otherwise reserved.
fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let [first, second, ..] = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || first == 0
                || first >= 240
                || (first == 100 && (64..128).contains(&second)))
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && a.segments()[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_addresses_are_not_public() {
        for inner in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(inner.parse().unwrap()), "{inner}");
        }
        for public in ["41.210.141.10", "8.8.8.8", "2a00:1450:4001::1", "100.128.0.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
