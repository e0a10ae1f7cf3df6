//! UDP channels obey caps: a hostile client completes node_id handshakes from 5,000
//! source ports (2,500 from `::1`, then 2,500 from `127.0.0.1`), each with its own node
//! id. The node keeps at most `max_peers_per_ip` UDP channels per address and
//! `tcp_incoming_connections_max` in all, and its memory does not grow with the flood.
//! A source already at a cap is refused before the node signs or checks anything.

mod network_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nano_core::Network;
use nano_messages::{Message, NodeIdHandshake};
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
    let Ok(sock) = UdpSocket::bind(SocketAddr::new(src, 0)).await else {
        return false;
    };
    handshake_on(&sock, node_addr(src, port)).await
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
    // Each cap refuses at the handshake (before any signature) once the source is at it,
    // or at registration when it was reached while the handshake was under way.
    let refused = |cap: &str| {
        node.stats
            .get("udp", &format!("refused_handshake_{cap}"), "in")
            + node
                .stats
                .get("udp", &format!("refused_channel_{cap}"), "in")
    };
    assert!(refused("ip_limit") > 0, "the per-IP cap refused none");
    assert!(refused("limit") > 0, "the global cap refused none");
    // 5,000 handshakes leave at most GLOBAL_CAP channels: memory is bounded by the caps,
    // not by the number of source ports (a generous bound: 64 MiB).
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * 1024,
        "RSS grew by {} KiB",
        rss_after.saturating_sub(rss_before)
    );
    node.shutdown().await;
}

/// Once an address holds `max_peers_per_ip` UDP channels, handshakes from its other
/// ports are refused before the node signs an answer or checks a signature, and they
/// take nothing from the handshake rate: another address still peers, and an endpoint
/// that already has a channel is still answered (its new handshake replaces the old).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_from_an_address_at_its_cap_are_refused_before_any_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let node = start_node(dir.path(), cfg, NetworkFlags::default()).await;
    let port = node.net.local_port();
    let per_ip = Network::Dev.params().max_peers_per_ip;
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();

    let held = handshaken_sockets(v4, port, per_ip).await;
    assert_eq!(
        held.len(),
        per_ip,
        "every handshake below the cap is answered"
    );
    assert!(
        wait_until(Duration::from_secs(10), || udp_channels_from(&node, v4)
            == per_ip)
        .await,
        "{} UDP channels from 127.0.0.1",
        udp_channels_from(&node, v4)
    );

    let answers_before = node.stats.get("message", "node_id_handshake", "out");
    let rate_drops_before = node.stats.get("drop", "udp_handshake_rate", "in");
    const REFUSED: u64 = 100;
    let query = Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(rand_cookie())))
        .to_bytes(Network::Dev)
        .unwrap();
    let mut fresh = Vec::new();
    for _ in 0..REFUSED {
        let sock = UdpSocket::bind(SocketAddr::new(v4, 0)).await.unwrap();
        sock.send_to(&query, node_addr(v4, port)).await.unwrap();
        fresh.push(sock);
    }
    let refused = || node.stats.get("udp", "refused_handshake_ip_limit", "in");
    assert!(
        wait_until(Duration::from_secs(10), || refused() >= REFUSED).await,
        "{} of {REFUSED} refused at the per-IP cap",
        refused()
    );
    assert_eq!(
        node.stats.get("message", "node_id_handshake", "out"),
        answers_before,
        "no answer was signed for a source at its cap"
    );
    assert_eq!(
        node.stats.get("drop", "udp_handshake_rate", "in"),
        rate_drops_before,
        "refused queries do not spend the handshake rate"
    );
    let mut buf = [0u8; 2048];
    for s in &fresh {
        assert!(
            s.try_recv_from(&mut buf).is_err(),
            "a refused port got an answer"
        );
    }

    // An endpoint that has a channel may handshake again.
    assert!(handshake_on(&held[0], node_addr(v4, port)).await);
    // Another address is unaffected.
    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    assert_eq!(handshaken_sockets(v6, port, 1).await.len(), 1);
    assert!(
        wait_until(Duration::from_secs(10), || udp_channels_from(&node, v6)
            == 1)
        .await,
        "a handshake from ::1 made a channel"
    );
    assert_eq!(udp_channels_from(&node, v4), per_ip);
    node.shutdown().await;
}
