//! Link, network and transport layer parsing: turns one captured frame of a known link
//! type into addresses, ports and a TCP segment or UDP datagram. Everything below the Nano
//! protocol lives here; etherparse does the header work.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

/// Link types (pcap `LINKTYPE_*` values) that the analyzer understands.
pub mod linktype {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II (with optional VLAN tags).
    pub const ETHERNET: u32 = 1;
    /// Raw IP as written by some platforms under the DLT value.
    pub const RAW_DLT12: u32 = 12;
    /// Raw IP (v4 or v6, told apart by the version nibble).
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1 (`any` interface).
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// TCP control flags the reassembler cares about, and the acknowledgement number (valid
/// when `ack` is set): it tells the reassembler of the other direction which bytes the
/// receiver got, so a hole the capture missed is known lost without waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub ack: bool,
    pub ack_no: u32,
}

/// Transport payload of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp {
        seq: u32,
        flags: TcpFlags,
        payload: &'a [u8],
    },
    Udp {
        payload: &'a [u8],
    },
}

/// A frame reduced to what the Nano layers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport<'a>,
}

/// Why a frame could not be reduced to a [`Segment`]; these are counted as decode errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("fragmented IP packet (fragments are not reassembled)")]
    Fragmented,
}

/// Parses one frame. `Ok(None)` means the frame is valid but carries nothing the analyzer
/// looks at (ARP, ICMP, other protocols); those are skipped silently, not counted as errors.
pub fn parse_frame(link_type: u32, data: &[u8]) -> Result<Option<Segment<'_>>, NetError> {
    let sliced = match link_type {
        linktype::ETHERNET => SlicedPacket::from_ethernet(data),
        linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        linktype::LINUX_SLL2 => {
            // 20-byte header; the protocol (ether type) is the first field.
            if data.len() < 20 {
                return Err(NetError::Malformed("short Linux cooked v2 header".into()));
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[20..])
        }
        linktype::RAW | linktype::RAW_DLT12 | linktype::IPV4 | linktype::IPV6 => {
            SlicedPacket::from_ip(data)
        }
        linktype::NULL | linktype::LOOP => {
            // The family word's byte order depends on the writer; the IP version nibble
            // right after it is unambiguous.
            if data.len() < 4 {
                return Err(NetError::Malformed("short loopback header".into()));
            }
            match data.get(4).map(|b| b >> 4) {
                Some(4) | Some(6) => SlicedPacket::from_ip(&data[4..]),
                _ => return Ok(None),
            }
        }
        other => return Err(NetError::UnsupportedLinkType(other)),
    };
    let sliced = sliced.map_err(|e| NetError::Malformed(e.to_string()))?;
    let (src_ip, dst_ip, fragmented): (IpAddr, IpAddr, bool) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
            v4.is_payload_fragmented(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
            v6.is_payload_fragmented(),
        ),
        _ => return Ok(None),
    };
    if fragmented {
        return Err(NetError::Fragmented);
    }
    let transport = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => Transport::Tcp {
            seq: tcp.sequence_number(),
            flags: TcpFlags {
                syn: tcp.syn(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                ack: tcp.ack(),
                ack_no: tcp.acknowledgment_number(),
            },
            payload: tcp.payload(),
        },
        Some(TransportSlice::Udp(udp)) => Transport::Udp {
            payload: udp.payload(),
        },
        _ => return Ok(None),
    };
    let (sp, dp) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        _ => return Ok(None),
    };
    Ok(Some(Segment {
        src: SocketAddr::new(src_ip, sp),
        dst: SocketAddr::new(dst_ip, dp),
        transport,
    }))
}
