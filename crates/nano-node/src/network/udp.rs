//! UDP on the peering port (a project extension; the reference node dropped UDP in V25):
//! keepalive, publish, confirm_req, confirm_ack and telemetry_ack as single datagrams,
//! after a cookie-checked node_id_handshake exchanged as datagrams. A UDP peer becomes a
//! channel like any other, so consensus does not care which transport carried a message.
//! What is queued for UDP channels is sent by `udp_send`; handshakes are sent here, at
//! once.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nano_messages::{decode_datagram, Header, Message, MessageType, NodeIdHandshake, HEADER_SIZE};
use tokio::net::UdpSocket;

use super::channel::Transport;
use super::endpoint::{self, from_wire_endpoint};
use super::handshake::{self, verify_response};
use super::udp_budget::Verdict;
use super::Inner;

pub(super) async fn bind(inner: &Inner, port: u16) -> std::io::Result<UdpSocket> {
    if inner.ipv6.load(Ordering::Relaxed) {
        UdpSocket::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)).await
    } else {
        UdpSocket::bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)).await
    }
}

pub(super) fn target(inner: &Inner, ep: SocketAddrV6) -> SocketAddr {
    if inner.ipv6.load(Ordering::Relaxed) {
        SocketAddr::V6(ep)
    } else {
        from_wire_endpoint(ep)
    }
}

/// Sends one datagram now, without queueing; a full socket buffer drops it.
fn send_now(inner: &Inner, ep: SocketAddrV6, msg: &Message) {
    let Some(sock) = inner.udp.get() else { return };
    let Some(bytes) = inner.encode(msg) else {
        return;
    };
    match sock.try_send_to(&bytes, target(inner, ep)) {
        Ok(_) => {
            capture(inner, local(inner), ep, &bytes);
            inner
                .stats
                .inc("message", msg.message_type().as_str(), "out")
        }
        Err(_) => inner.stats.inc("drop", "udp_send", "out"),
    }
}

/// Starts a UDP handshake with `ep` unless UDP is off or a UDP channel already exists.
pub(super) fn initiate(inner: &Inner, ep: SocketAddrV6) {
    if inner.udp.get().is_none()
        || !endpoint::is_acceptable_endpoint(&ep, inner.config.allow_local_peers)
        || inner.udp_channel(&ep).is_some()
    {
        return;
    }
    if let Some(cookie) = inner.udp_cookies.assign(ep) {
        let q = handshake::message(Some(cookie), None);
        send_now(inner, ep, &Message::NodeIdHandshake(Box::new(q)));
    }
}

pub(super) async fn receive_loop(inner: Arc<Inner>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let r = tokio::select! {
            _ = inner.token.cancelled() => break,
            r = sock.recv_from(&mut buf) => r,
        };
        match r {
            Ok((n, from)) => on_datagram(&inner, &buf[..n], endpoint::normalize(from)),
            // ICMP errors from earlier sends surface here; nothing to do.
            Err(_) => inner.stats.inc("error", "udp_receive", "in"),
        }
    }
}

pub(super) fn local(inner: &Inner) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::UNSPECIFIED,
        inner.port.load(Ordering::Relaxed),
        0,
        0,
    )
}

fn capture(inner: &Inner, src: SocketAddrV6, dst: SocketAddrV6, bytes: &[u8]) {
    if let Some(c) = inner.capture.get() {
        c.udp(src, dst, bytes);
    }
}

fn on_datagram(inner: &Arc<Inner>, data: &[u8], from: SocketAddrV6) {
    capture(inner, from, local(inner), data);
    if !endpoint::is_acceptable_endpoint(&from, inner.config.allow_local_peers) {
        inner.stats.inc("drop", "udp_address", "in");
        return;
    }
    // Excluded addresses (misbehaved over TCP or failed a genesis check) are not heard
    // over UDP either. Malformed datagrams themselves add no strike: their source
    // address can be forged, and a strike would let anyone exclude a victim.
    if inner.admission.is_excluded(from.ip()) {
        inner.stats.inc("drop", "udp_excluded", "in");
        return;
    }
    // Many source ports of one host are one host: its address and subnetwork have a
    // budget of datagrams (and of handshakes) per window, charged before any decoding.
    if inner.flags.udp_receive_budget {
        let verdict = inner
            .udp_budget
            .charge(from.ip(), data, std::time::Instant::now());
        if verdict != Verdict::Pass {
            inner.stats.inc("drop", verdict.as_str(), "in");
            return;
        }
    }
    // The header alone says whether the datagram can be used; the body is decoded (and
    // allocated) only for a handshake or a message from a known peer within its rate.
    let Ok(header) = Header::decode_for(data, inner.params.network) else {
        inner.stats.inc("drop", "udp_invalid", "in");
        return;
    };
    let channel = match header.message_type {
        MessageType::NodeIdHandshake => None,
        MessageType::Keepalive
        | MessageType::Publish
        | MessageType::ConfirmReq
        | MessageType::ConfirmAck
        | MessageType::TelemetryAck => {
            let Some(ch) = inner.udp_channel(&from) else {
                inner.stats.inc("drop", "udp_unknown_peer", "in");
                return;
            };
            if !inner.admit(&ch) {
                return;
            }
            Some(ch)
        }
        _ => {
            inner.stats.inc("drop", "udp_not_realtime", "in");
            return;
        }
    };
    let (header, msg) = match decode_datagram(data, Some(inner.params.network)) {
        Ok(x) => x,
        Err(_) => {
            inner.stats.inc("drop", "udp_invalid", "in");
            return;
        }
    };
    match (msg, channel) {
        (Message::NodeIdHandshake(h), None) => {
            inner.stats.inc("message", "node_id_handshake", "in");
            on_handshake(inner, from, &header, *h);
        }
        (msg, Some(ch)) => {
            let size = header.payload_size();
            let payload = &data[HEADER_SIZE..HEADER_SIZE + size];
            inner.process_realtime(&ch, &header, payload, msg);
        }
        // The body decoded as the type its header named, so this does not happen.
        _ => inner.stats.inc("drop", "udp_invalid", "in"),
    }
}

fn on_handshake(inner: &Arc<Inner>, from: SocketAddrV6, header: &Header, h: NodeIdHandshake) {
    // A source already at a channel cap could not become a channel whatever it answers:
    // refused before a signature is made for it or checked from it, and before it costs
    // a share of the handshake rate that sources below their caps need.
    if let Some(cap) = inner.udp_cap_reached(&from) {
        inner.stats.inc("udp", cap, "in");
        if h.response.is_some() {
            // The cookie it answers is spent either way.
            let _ = inner.udp_cookies.take(&from);
        }
        return;
    }
    if let Some(resp) = &h.response {
        match verify_response(
            &inner.udp_cookies,
            &from,
            resp,
            &inner.node_id,
            &inner.params.genesis_hash,
        ) {
            Ok(node_id) => establish(inner, from, node_id, header.version_using),
            Err(f) => {
                inner.fail_handshake(f, &from);
                return;
            }
        }
    }
    if let Some(query) = h.query {
        // Answering costs a signature and sends more than it received: rate limited.
        if !inner.udp_handshakes.try_take(1) {
            inner.stats.inc("drop", "udp_handshake_rate", "in");
            return;
        }
        let ours = handshake::respond(&query, h.v2, &inner.key, inner.params.genesis_hash);
        // Ask back unless this message already answered our query or one is pending.
        let ask = if h.response.is_none() {
            inner.udp_cookies.assign(from)
        } else {
            None
        };
        let reply = handshake::message(ask, Some(ours));
        send_now(inner, from, &Message::NodeIdHandshake(Box::new(reply)));
    }
}

fn establish(inner: &Arc<Inner>, from: SocketAddrV6, node_id: nano_core::PublicKey, version: u8) {
    let ch = inner.new_channel(from, node_id, version, Transport::Udp, false, Some(from));
    if let Err(f) = inner.register(&ch) {
        inner.fail_handshake(f, &from);
        return;
    }
    inner.stats.inc("handshake", "ok", "");
    inner.on_channel_established(&ch);
}
