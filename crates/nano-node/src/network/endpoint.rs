//! Peer addresses: the IPv6-only internal form (IPv4 as IPv4-mapped, as on the wire),
//! which addresses may be peers at all (reserved ranges never, local ranges only with
//! `allow_local_peers`), and parsing of `preconfigured_peers` entries.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

pub use nano_messages::keepalive::{from_wire_endpoint, to_wire_endpoint};

/// The unspecified endpoint `[::]:0` that fills empty keepalive slots.
pub const EMPTY_ENDPOINT: SocketAddrV6 = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0);

/// Normalises any socket address to the internal IPv6 form.
pub fn normalize(addr: SocketAddr) -> SocketAddrV6 {
    to_wire_endpoint(addr)
}

fn v4_of(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    ip.to_ipv4_mapped()
}

/// Addresses that can never be a peer: unspecified, multicast, broadcast, documentation
/// and reserved ranges.
pub fn is_reserved(ip: &Ipv6Addr) -> bool {
    if let Some(v4) = v4_of(ip) {
        let o = v4.octets();
        return v4.is_unspecified()
            || v4.is_broadcast()
            || v4.is_multicast()
            || v4.is_documentation()
            || o[0] == 0
            || o[0] >= 240;
    }
    let s = ip.segments();
    ip.is_unspecified() || ip.is_multicast() || (s[0] == 0x2001 && s[1] == 0x0db8)
}

/// Loopback, private, link-local and unique-local addresses: only peers when
/// `allow_local_peers` is set.
pub fn is_local(ip: &Ipv6Addr) -> bool {
    if let Some(v4) = v4_of(ip) {
        return v4.is_loopback() || v4.is_private() || v4.is_link_local();
    }
    let s = ip.segments();
    ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
}

/// True for an address we may connect to or accept from.
pub fn is_acceptable_ip(ip: &Ipv6Addr, allow_local: bool) -> bool {
    !is_reserved(ip) && (allow_local || !is_local(ip))
}

/// True for an endpoint we may dial: an acceptable address and a non-zero port.
pub fn is_acceptable_endpoint(ep: &SocketAddrV6, allow_local: bool) -> bool {
    ep.port() != 0 && is_acceptable_ip(ep.ip(), allow_local)
}

/// Loopback in either family (`127.0.0.0/8` mapped or `::1`).
pub fn is_loopback(ip: &Ipv6Addr) -> bool {
    v4_of(ip).map_or(ip.is_loopback(), |v4| v4.is_loopback())
}

/// Why a `preconfigured_peers` entry could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid peer address {0:?}: expected host, host:port or [ipv6]:port")]
pub struct PeerAddressError(pub String);

/// Splits a `preconfigured_peers` entry into host and port: `host`, `host:port`,
/// `[v6]:port`, `[v6]` or a bare IPv6 address; a missing port is `default_port`.
pub fn parse_peer(entry: &str, default_port: u16) -> Result<(String, u16), PeerAddressError> {
    let e = entry.trim();
    let err = || PeerAddressError(entry.to_string());
    if e.is_empty() {
        return Err(err());
    }
    if let Some(rest) = e.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(err)?;
        host.parse::<Ipv6Addr>().map_err(|_| err())?;
        let port = match after {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(err)?,
        };
        return Ok((host.to_string(), port));
    }
    if e.parse::<Ipv6Addr>().is_ok() {
        return Ok((e.to_string(), default_port));
    }
    match e.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => {
            Ok((host.to_string(), port.parse().map_err(|_| err())?))
        }
        Some(_) => Err(err()),
        None => Ok((e.to_string(), default_port)),
    }
}

/// Resolves a `preconfigured_peers` entry with DNS; every address found is returned.
pub async fn resolve_peer(entry: &str, default_port: u16) -> Vec<SocketAddrV6> {
    let Ok((host, port)) = parse_peer(entry, default_port) else {
        tracing::warn!(entry, "ignoring unparsable preconfigured peer");
        return Vec::new();
    };
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let found = tokio::net::lookup_host(target)
        .await
        .map(|addrs| addrs.map(normalize).collect::<Vec<_>>());
    match found {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(entry, error = %e, "cannot resolve preconfigured peer");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peer_forms() {
        assert_eq!(
            parse_peer("example.org", 7075).unwrap(),
            ("example.org".into(), 7075)
        );
        assert_eq!(
            parse_peer("example.org:9", 7075).unwrap(),
            ("example.org".into(), 9)
        );
        assert_eq!(
            parse_peer("[::1]:44000", 7075).unwrap(),
            ("::1".into(), 44000)
        );
        assert_eq!(parse_peer("[::1]", 7075).unwrap(), ("::1".into(), 7075));
        assert_eq!(parse_peer("::1", 7075).unwrap(), ("::1".into(), 7075));
        assert_eq!(
            parse_peer("1.2.3.4:5", 7075).unwrap(),
            ("1.2.3.4".into(), 5)
        );
        assert!(parse_peer("", 1).is_err());
        assert!(parse_peer("host:notaport", 1).is_err());
        assert!(parse_peer("[::1]x", 1).is_err());
        assert!(parse_peer("[zz]:1", 1).is_err());
    }

    #[test]
    fn classifies_addresses() {
        let m = |s: &str| s.parse::<Ipv4Addr>().unwrap().to_ipv6_mapped();
        assert!(is_local(&m("127.0.0.1")) && is_local(&m("10.1.2.3")));
        assert!(is_local(&Ipv6Addr::LOCALHOST));
        assert!(is_reserved(&m("0.0.0.0")) && is_reserved(&m("255.255.255.255")));
        assert!(is_reserved(&Ipv6Addr::UNSPECIFIED));
        assert!(!is_acceptable_ip(&m("127.0.0.1"), false));
        assert!(is_acceptable_ip(&m("127.0.0.1"), true));
        assert!(is_acceptable_ip(&m("8.8.8.8"), false));
        assert!(!is_acceptable_endpoint(
            &SocketAddrV6::new(m("8.8.8.8"), 0, 0, 0),
            false
        ));
    }
}
