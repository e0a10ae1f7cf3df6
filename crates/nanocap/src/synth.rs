//! Synthetic captures for tests and benchmarks: frames for every supported link type,
//! TCP conversations with controllable segmentation (split, coalesced, retransmitted,
//! reordered), UDP datagrams, and sample Nano messages encoded with `nano-messages`.
//! Nothing here is used by the analyzer itself.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::PacketBuilder;
use nano_core::{Amount, Block, BlockHash, Link, Network, PublicKey, Signature, StateBlock};
use nano_messages::{Keepalive, Message, Publish};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::net::linktype;

/// TCP flags for [`frame`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    /// Acknowledgment number written when `ack` is set: the peer's next sequence
    /// number, so other tools (tshark) see a consistent conversation.
    pub ack_no: u32,
}

/// Builds one frame of `link` carrying a TCP segment (`Some(flags)`) or a UDP datagram.
pub fn frame(
    link: u32,
    src: SocketAddr,
    dst: SocketAddr,
    tcp: Option<(u32, Flags)>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let ip_step = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if link == linktype::ETHERNET {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
                    s.octets(),
                    d.octets(),
                    64,
                )
            } else {
                PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            }
        }
        (s, d) => {
            let s6 = match s {
                IpAddr::V6(v) => v,
                IpAddr::V4(v) => v.to_ipv6_mapped(),
            };
            let d6 = match d {
                IpAddr::V6(v) => v,
                IpAddr::V4(v) => v.to_ipv6_mapped(),
            };
            if link == linktype::ETHERNET {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(
                    s6.octets(),
                    d6.octets(),
                    64,
                )
            } else {
                PacketBuilder::ipv6(s6.octets(), d6.octets(), 64)
            }
        }
    };
    let res = match tcp {
        Some((seq, f)) => {
            let mut t = ip_step.tcp(src.port(), dst.port(), seq, 65535);
            if f.syn {
                t = t.syn();
            }
            if f.ack {
                t = t.ack(f.ack_no);
            }
            if f.fin {
                t = t.fin();
            }
            if f.rst {
                t = t.rst();
            }
            t.write(&mut out, payload)
        }
        None => ip_step.udp(src.port(), dst.port()).write(&mut out, payload),
    };
    if res.is_err() {
        return Vec::new();
    }
    let is_v4 = out
        .get(if link == linktype::ETHERNET { 14 } else { 0 })
        .map(|b| b >> 4)
        == Some(4);
    let ether_type: u16 = if is_v4 { 0x0800 } else { 0x86dd };
    match link {
        linktype::ETHERNET | linktype::RAW | linktype::IPV4 | linktype::IPV6 => out,
        linktype::LINUX_SLL => {
            let mut h = vec![0u8, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            h.extend_from_slice(&ether_type.to_be_bytes());
            h.extend_from_slice(&out);
            h
        }
        linktype::LINUX_SLL2 => {
            let mut h = Vec::with_capacity(20 + out.len());
            h.extend_from_slice(&ether_type.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            h.extend_from_slice(&out);
            h
        }
        linktype::NULL | linktype::LOOP => {
            let fam: u32 = if is_v4 { 2 } else { 30 };
            let mut h = if link == linktype::NULL {
                fam.to_le_bytes().to_vec()
            } else {
                fam.to_be_bytes().to_vec()
            };
            h.extend_from_slice(&out);
            h
        }
        _ => out,
    }
}

/// Collects frames and writes them as pcap or pcapng.
pub struct CaptureBuilder {
    link: u32,
    frames: Vec<(u64, Vec<u8>)>,
    ts_usec: u64,
}

impl CaptureBuilder {
    /// Frames of one link type; timestamps start at 2024-01-01 and advance 1 ms per frame.
    pub fn new(link: u32) -> CaptureBuilder {
        CaptureBuilder {
            link,
            frames: Vec::new(),
            ts_usec: 1_704_067_200_000_000,
        }
    }

    pub fn link(&self) -> u32 {
        self.link
    }

    /// Adds a raw frame.
    pub fn raw(&mut self, data: Vec<u8>) {
        self.ts_usec += 1000;
        self.frames.push((self.ts_usec, data));
    }

    /// Adds a TCP segment.
    pub fn tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: Flags,
        payload: &[u8],
    ) {
        let f = frame(self.link, src, dst, Some((seq, flags)), payload);
        self.raw(f);
    }

    /// Adds a UDP datagram.
    pub fn udp(&mut self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        let f = frame(self.link, src, dst, None, payload);
        self.raw(f);
    }

    /// Frames added so far.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Classic pcap bytes (microsecond timestamps).
    pub fn to_pcap(&self) -> Vec<u8> {
        let header = PcapHeader {
            datalink: DataLink::from(self.link),
            ..PcapHeader::default()
        };
        let Ok(mut w) = PcapWriter::with_header(Vec::new(), header) else {
            return Vec::new();
        };
        for (ts, data) in &self.frames {
            let p = PcapPacket::new(Duration::from_micros(*ts), data.len() as u32, data);
            let _ = w.write_packet(&p);
        }
        w.into_writer()
    }

    /// pcapng bytes (one interface, default microsecond resolution).
    pub fn to_pcapng(&self) -> Vec<u8> {
        let Ok(mut w) = PcapNgWriter::new(Vec::new()) else {
            return Vec::new();
        };
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::from(self.link),
            snaplen: 0,
            options: vec![],
        };
        let _ = w.write_pcapng_block(idb);
        for (ts, data) in &self.frames {
            let epb = EnhancedPacketBlock {
                interface_id: 0,
                // The writer stores this value raw; with the default resolution it is µs.
                timestamp: Duration::from_nanos(*ts),
                original_len: data.len() as u32,
                data: Cow::Borrowed(data),
                options: vec![],
            };
            let _ = w.write_pcapng_block(epb);
        }
        w.into_inner()
    }
}

/// One TCP connection between two endpoints with its own sequence numbers.
pub struct TcpConn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub client_seq: u32,
    pub server_seq: u32,
}

impl TcpConn {
    /// Initial sequence numbers close to the wrap point, to exercise wrap-around.
    pub fn new(client: SocketAddr, server: SocketAddr) -> TcpConn {
        TcpConn {
            client,
            server,
            client_seq: 0xFFFF_FF00,
            server_seq: 1000,
        }
    }

    fn ends(&self, from_client: bool) -> (SocketAddr, SocketAddr, u32) {
        if from_client {
            (self.client, self.server, self.client_seq)
        } else {
            (self.server, self.client, self.server_seq)
        }
    }

    /// The other side's next sequence number: what a segment from this side acknowledges.
    fn peer_seq(&self, from_client: bool) -> u32 {
        if from_client {
            self.server_seq
        } else {
            self.client_seq
        }
    }

    fn advance(&mut self, from_client: bool, n: u32) {
        if from_client {
            self.client_seq = self.client_seq.wrapping_add(n);
        } else {
            self.server_seq = self.server_seq.wrapping_add(n);
        }
    }

    /// SYN, SYN+ACK, ACK.
    pub fn open(&mut self, b: &mut CaptureBuilder) {
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        b.tcp(self.client, self.server, self.client_seq, syn, &[]);
        b.tcp(
            self.server,
            self.client,
            self.server_seq,
            Flags {
                ack: true,
                ack_no: self.client_seq.wrapping_add(1),
                ..syn
            },
            &[],
        );
        self.advance(true, 1);
        self.advance(false, 1);
        b.tcp(
            self.client,
            self.server,
            self.client_seq,
            Flags {
                ack: true,
                ack_no: self.server_seq,
                ..Flags::default()
            },
            &[],
        );
    }

    /// Sends `data` as one segment per piece, pieces cut at `cuts` (offsets into `data`).
    pub fn send(&mut self, b: &mut CaptureBuilder, from_client: bool, data: &[u8], cuts: &[usize]) {
        let (s, d, seq) = self.ends(from_client);
        let mut start = 0usize;
        let ack = Flags {
            ack: true,
            ack_no: self.peer_seq(from_client),
            ..Flags::default()
        };
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            let c = c.min(data.len());
            if c > start {
                b.tcp(s, d, seq.wrapping_add(start as u32), ack, &data[start..c]);
                start = c;
            }
        }
        self.advance(from_client, data.len() as u32);
    }

    /// Sends a segment at `offset` of the next bytes without advancing (for reordering
    /// and retransmission tests); follow with [`TcpConn::skip`].
    pub fn send_at(&self, b: &mut CaptureBuilder, from_client: bool, offset: u32, data: &[u8]) {
        let (s, d, seq) = self.ends(from_client);
        b.tcp(
            s,
            d,
            seq.wrapping_add(offset),
            Flags {
                ack: true,
                ack_no: self.peer_seq(from_client),
                ..Flags::default()
            },
            data,
        );
    }

    /// Advances a direction's sequence number by `n` bytes already emitted by `send_at`.
    pub fn skip(&mut self, from_client: bool, n: u32) {
        self.advance(from_client, n);
    }

    /// FIN from both sides.
    pub fn close(&mut self, b: &mut CaptureBuilder) {
        let fin = Flags {
            fin: true,
            ack: true,
            ..Flags::default()
        };
        let client_fin = Flags {
            ack_no: self.server_seq,
            ..fin
        };
        b.tcp(self.client, self.server, self.client_seq, client_fin, &[]);
        let server_fin = Flags {
            ack_no: self.client_seq.wrapping_add(1),
            ..fin
        };
        b.tcp(self.server, self.client, self.server_seq, server_fin, &[]);
        self.advance(true, 1);
        self.advance(false, 1);
    }

    /// RST from the client.
    pub fn reset(&mut self, b: &mut CaptureBuilder) {
        b.tcp(
            self.client,
            self.server,
            self.client_seq,
            Flags {
                rst: true,
                ..Flags::default()
            },
            &[],
        );
    }
}

/// A deterministic 32-byte value.
pub fn bytes32(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let h = nano_core::hash::blake2b_256(&[&seed.to_le_bytes()]);
    out.copy_from_slice(&h);
    out
}

/// A deterministic, unsigned state block (the analyzer does not verify signatures).
pub fn state_block(seed: u64) -> Block {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&bytes32(seed ^ 0x5151));
    Block::State(StateBlock {
        account: PublicKey(bytes32(seed)),
        previous: BlockHash(bytes32(seed + 1)),
        representative: PublicKey(bytes32(seed + 2)),
        balance: Amount(u128::from(seed) * 1_000_000),
        link: Link(bytes32(seed + 3)),
        signature: Signature(sig),
        work: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    })
}

/// Encodes a message for the live network.
pub fn encode(m: &Message) -> Vec<u8> {
    m.to_bytes(Network::Live).unwrap_or_default()
}

/// A publish of [`state_block`].
pub fn publish(seed: u64) -> Vec<u8> {
    encode(&Message::Publish(Box::new(Publish {
        block: state_block(seed),
        originator: false,
    })))
}

/// A keepalive listing `n` (≤ 8) IPv4 peers.
pub fn keepalive(n: usize) -> Vec<u8> {
    let peers = (0..n.min(8)).map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 7075)));
    encode(&Message::Keepalive(Box::new(Keepalive::from_peers(peers))))
}
