//! keepalive (0x02): eight peer endpoints. Owns the IPv6-with-LE-port encoding and the
//! IPv4-mapped convention used for IPv4 peers.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::error::MessageError;
use crate::wire::Reader;

/// Eight peering endpoints; unused slots are `[::]:0`. Stored as IPv6 exactly as on the
/// wire (IPv4 peers appear IPv4-mapped), so decoding and encoding are lossless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    pub peers: [SocketAddrV6; 8],
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            peers: [SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0); 8],
        }
    }
}

/// IPv4 becomes IPv4-mapped IPv6, as the reference node speaks it; IPv6 is kept (flow
/// info and scope are not on the wire and are dropped).
pub fn to_wire_endpoint(addr: SocketAddr) -> SocketAddrV6 {
    match addr {
        SocketAddr::V4(v4) => SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        SocketAddr::V6(v6) => SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0),
    }
}

/// The inverse of [`to_wire_endpoint`]: IPv4-mapped addresses come back as IPv4.
pub fn from_wire_endpoint(addr: SocketAddrV6) -> SocketAddr {
    match addr.ip().to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(v4.into(), addr.port()),
        None => SocketAddr::V6(addr),
    }
}

impl Keepalive {
    pub const SIZE: usize = crate::header::KEEPALIVE_PAYLOAD_SIZE;

    /// Fills slots in order from `peers` (at most 8 used); the rest stay `[::]:0`.
    pub fn from_peers(peers: impl IntoIterator<Item = SocketAddr>) -> Keepalive {
        let mut k = Keepalive::default();
        for (slot, p) in k.peers.iter_mut().zip(peers) {
            *slot = to_wire_endpoint(p);
        }
        k
    }

    /// The endpoints with IPv4-mapped ones shown as IPv4, including empty slots.
    pub fn endpoints(&self) -> [SocketAddr; 8] {
        self.peers.map(from_wire_endpoint)
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Keepalive, MessageError> {
        let mut k = Keepalive::default();
        for slot in k.peers.iter_mut() {
            let ip: [u8; 16] = r.array()?;
            let port = u16::from_le_bytes(r.array()?);
            *slot = SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0);
        }
        Ok(k)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for p in &self.peers {
            out.extend_from_slice(&p.ip().octets());
            out.extend_from_slice(&p.port().to_le_bytes());
        }
    }
}
