//! The coordinator's address on the LAN, for invite links and the start-up message.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// `http://<LAN address>:<port>`: the address other devices of the LAN can reach. A
/// listener bound to a specific address uses it; one bound to all addresses uses the
/// address of the default route, or localhost when there is no network.
pub fn public_url(bound: Option<SocketAddr>) -> String {
    url("http", bound)
}

/// `<scheme>://<LAN address>:<port>`, as [`public_url`] picks the address.
pub fn url(scheme: &str, bound: Option<SocketAddr>) -> String {
    let bound = bound.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)));
    let ip =
        if bound.ip().is_unspecified() { lan_address().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)) } else { bound.ip() };
    match ip {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{}", bound.port()),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}", bound.port()),
    }
}

/// The host of a URL (`https://192.168.1.20:8443/x` → `192.168.1.20`), brackets of an
/// IPv6 literal removed.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Every address of this machine's interfaces, loopback included, for the names a
/// generated certificate covers.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> =
        if_addrs::get_if_addrs().map(|list| list.into_iter().map(|i| i.ip()).collect()).unwrap_or_default();
    addresses.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The local address the OS would use to reach a public address. Connecting a UDP socket
/// sends nothing; it only picks a route.
pub fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_public_url() {
        assert_eq!(host_of("https://192.168.1.20:8443/join?token=X").as_deref(), Some("192.168.1.20"));
        assert_eq!(host_of("https://swarm.lan").as_deref(), Some("swarm.lan"));
        assert_eq!(host_of("http://[fe80::1]:8080").as_deref(), Some("fe80::1"));
        assert_eq!(host_of("https://"), None);
    }

    #[test]
    fn a_specific_bind_address_is_used_as_is() {
        assert_eq!(public_url(Some(SocketAddr::from(([127, 0, 0, 1], 9000)))), "http://127.0.0.1:9000");
    }

    #[test]
    fn a_wildcard_bind_is_never_reported_as_unspecified() {
        let url = public_url(Some(SocketAddr::from(([0, 0, 0, 0], 8080))));
        assert!(!url.contains("0.0.0.0"), "{url}");
        assert!(url.ends_with(":8080"), "{url}");
    }
}
