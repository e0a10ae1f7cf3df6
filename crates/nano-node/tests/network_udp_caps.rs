//! UDP channels obey caps: a hostile client completes node_id handshakes from 5,000
//! source ports (2,500 from `::1`, then 2,500 from `127.0.0.1`), each with its own node
//! id. The node keeps at most `max_peers_per_ip` UDP channels per address and
//! `tcp_incoming_connections_max` in all, and its memory does not grow with the flood.

mod network_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nano_core::{KeyPair, Network};
use nano_messages::{decode_datagram, HandshakeResponse, Message, NodeIdHandshake};
use nano_node::network::{NetworkFlags, Transport};
use network_support::*;
use tokio::net::UdpSocket;

const PORTS_PER_ADDRESS: usize = 2_500;
/// Handshakes in flight at once (the node answers 500 queries a second).
const CONCURRENCY: usize = 100;
/// The global cap for the test: above the per-IP cap (256 on dev), below two addresses'
/// worth, so both caps are reached.
const GLOBAL_CAP: u32 = 300;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One hostile handshake from a fresh source port on `src`; true when the node answered.
async fn udp_handshake(src: IpAddr, port: u16) -> bool {
    let dst = match src {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let Ok(sock) = UdpSocket::bind(SocketAddr::new(src, 0)).await else {
        return false;
    };
    let to = SocketAddr::new(dst, port);
    let query = Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(rand_cookie())));
    let bytes = query.to_bytes(Network::Dev).unwrap();
    let mut buf = vec![0u8; 2048];
    // The node rate-limits answers: ask again a few times before giving up.
    for _ in 0..5 {
        if sock.send_to(&bytes, to).await.is_err() {
            return false;
        }
        let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await
        else {
            continue;
        };
        let Ok((_, Message::NodeIdHandshake(h))) = decode_datagram(&buf[..n], Some(Network::Dev))
        else {
            continue;
        };
        let Some(cookie) = h.query else { return false };
        let key = KeyPair::random();
        let resp = HandshakeResponse::sign_v2(
            &cookie,
            rand_cookie(),
            Network::Dev.params().genesis_hash,
            &key,
        );
        let answer = Message::NodeIdHandshake(Box::new(NodeIdHandshake {
            query: None,
            response: Some(resp),
            v2: true,
        }));
        return sock
            .send_to(&answer.to_bytes(Network::Dev).unwrap(), to)
            .await
            .is_ok();
    }
    false
}

fn rand_cookie() -> [u8; 32] {
    rand::random()
}

async fn flood_from(src: IpAddr, port: u16) -> usize {
    let mut answered = 0;
    for chunk in 0..PORTS_PER_ADDRESS.div_ceil(CONCURRENCY) {
        let n = CONCURRENCY.min(PORTS_PER_ADDRESS - chunk * CONCURRENCY);
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(udp_handshake(src, port)))
            .collect();
        for t in tasks {
            if t.await.unwrap_or(false) {
                answered += 1;
            }
        }
    }
    answered
}

fn udp_channels_from(node: &TestNode, ip: IpAddr) -> usize {
    let ip = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    node.net
        .peers()
        .iter()
        .filter(|p| p.transport == Transport::Udp && *p.endpoint.ip() == ip)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_handshake_flood_stays_under_channel_caps() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    cfg.tcp_incoming_connections_max = GLOBAL_CAP;
    let node = start_node(dir.path(), cfg, NetworkFlags::default()).await;
    let port = node.net.local_port();
    let per_ip = Network::Dev.params().max_peers_per_ip;
    let rss_before = rss_kib();

    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let answered_v6 = flood_from(v6, port).await;
    let from_v6 = udp_channels_from(&node, v6);
    let answered_v4 = flood_from(v4, port).await;
    let from_v4 = udp_channels_from(&node, v4);
    let total = node.udp_peers();
    let rss_after = rss_kib();
    println!(
        "udp flood: answered {answered_v6} + {answered_v4} handshakes; channels ::1 {from_v6}, \
         127.0.0.1 {from_v4}, total {total} (per-IP cap {per_ip}, global cap {GLOBAL_CAP}); \
         RSS {rss_before} KiB -> {rss_after} KiB"
    );
    assert!(
        answered_v6 > per_ip,
        "the flood must exceed the per-IP cap to test it"
    );
    assert!(from_v6 <= per_ip, "{from_v6} UDP channels from ::1");
    assert!(from_v4 <= per_ip, "{from_v4} UDP channels from 127.0.0.1");
    assert!(total <= GLOBAL_CAP as usize, "{total} UDP channels in all");
    assert!(node.stats.get("udp", "refused_channel_ip_limit", "in") > 0);
    assert!(node.stats.get("udp", "refused_channel_limit", "in") > 0);
    // 5,000 handshakes leave at most GLOBAL_CAP channels: memory is bounded by the caps,
    // not by the number of source ports (a generous bound: 64 MiB).
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * 1024,
        "RSS grew by {} KiB",
        rss_after.saturating_sub(rss_before)
    );
    node.shutdown().await;
}
