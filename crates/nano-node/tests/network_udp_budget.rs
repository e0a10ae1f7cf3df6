//! The UDP receive budget on loopback: one host floods from 64 source ports (each a
//! handshaken channel of its own, each below its channel's inbound rate) while a
//! legitimate peer on another address publishes. The flooding address's datagrams are
//! held to its budget per window, all its ports together, and the legitimate peer's
//! messages all reach consensus. On Linux, the kernel filter on the UDP socket then
//! drops what is over a budget until its window ends.

mod network_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::Network;
use nano_messages::{Keepalive, Message, NodeIdHandshake, Publish};
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::net::UdpSocket;

/// Datagrams per second one channel, and so one address over UDP, may have handled.
const RATE: u64 = 1_000;
const ATTACKER_PORTS: usize = 64;
/// Rounds of one keepalive from every attacker port: 64 × 60 = 3,840 datagrams, well
/// past one window's budget, each channel far below its own rate.
const ROUNDS: usize = 60;
const LEGIT_PUBLISHES: u32 = 20;

fn keepalive_bytes() -> Vec<u8> {
    Message::Keepalive(Box::<Keepalive>::default())
        .to_bytes(Network::Dev)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_ports_of_one_address_hold_one_budget_and_another_peer_is_heard() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let flags = NetworkFlags {
        inbound_messages_per_sec: RATE,
        ..NetworkFlags::default()
    };
    let node = start_node(dir.path(), cfg, flags).await;
    let rec = Arc::new(Recorder::default());
    node.net.set_inbound(rec.clone());
    let port = node.net.local_port();

    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let attacker = handshaken_sockets(v4, port, ATTACKER_PORTS).await;
    assert_eq!(attacker.len(), ATTACKER_PORTS);
    let legit = handshaken_sockets(v6, port, 1).await;
    assert_eq!(legit.len(), 1, "the legitimate peer handshakes");
    assert!(
        wait_until(Duration::from_secs(10), || node.udp_peers()
            == ATTACKER_PORTS + 1)
        .await,
        "{} UDP channels",
        node.udp_peers()
    );
    // Blocks made before the flood, so the legitimate peer sends as fast as it can.
    let blocks: Vec<_> = (0..LEGIT_PUBLISHES).map(|i| dev_block(100 + i)).collect();

    let keepalive = keepalive_bytes();
    let handled = || node.stats.get("message", "keepalive", "in");
    let over = || node.stats.get("drop", "udp_address_budget", "in");
    let (handled_before, over_before) = (handled(), over());
    let to = node_addr(v4, port);
    let started = Instant::now();
    let mut legit_sent = 0;
    for round in 0..ROUNDS {
        for s in &attacker {
            let _ = s.send_to(&keepalive, to).await;
        }
        // Once the attacker's address is over its budget, the legitimate peer publishes
        // amid the flood.
        if over() > over_before && legit_sent < LEGIT_PUBLISHES {
            for b in &blocks {
                let publish = Message::Publish(Box::new(Publish {
                    block: b.clone(),
                    originator: true,
                }));
                legit[0]
                    .send_to(
                        &publish.to_bytes(Network::Dev).unwrap(),
                        node_addr(v6, port),
                    )
                    .await
                    .unwrap();
            }
            legit_sent = LEGIT_PUBLISHES;
        }
        // Paced so the node's socket buffer does not overflow: what is measured is the
        // budget, not the kernel's drops.
        if round % 4 == 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let flood_time = started.elapsed();
    assert_eq!(
        legit_sent, LEGIT_PUBLISHES,
        "the attacker's address never went over its budget"
    );
    let from_legit = || {
        rec.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(from, m)| {
                *from.endpoint.ip() == Ipv6Addr::LOCALHOST && matches!(m, Message::Publish(_))
            })
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || from_legit()
            == LEGIT_PUBLISHES as usize)
        .await,
        "{} of {LEGIT_PUBLISHES} legitimate publishes reached consensus",
        from_legit()
    );
    // Let the node finish what it received.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let handled_flood = handled() - handled_before;
    // The windows the flood (and the node's reading of it) can have spanned.
    let windows = (flood_time + Duration::from_millis(200)).as_secs() + 2;
    let sent = (ATTACKER_PORTS * ROUNDS) as u64;
    println!(
        "{sent} attacker datagrams in {flood_time:?}: {handled_flood} handled, {} dropped over \
         the address budget in user space; {} legitimate publishes handled",
        over() - over_before,
        from_legit()
    );
    assert!(
        handled_flood <= RATE * windows,
        "{handled_flood} attacker keepalives handled in at most {windows} windows of {RATE}"
    );
    assert!(
        handled_flood < sent,
        "every one of {sent} attacker datagrams was handled"
    );
    node.shutdown().await;
}

/// Counters the kernel-filter probes read.
fn counts(node: &TestNode) -> [u64; 4] {
    [
        node.stats.get("message", "node_id_handshake", "in")
            + node.stats.get("drop", "udp_handshake_budget", "in"),
        node.stats.get("message", "keepalive", "in"),
        node.stats.get("drop", "udp_address_budget", "in"),
        node.stats.get("kernel_filter", "rebuilt", "udp"),
    ]
}

/// One socket sending one datagram to the node.
struct Sender<'a> {
    sock: &'a UdpSocket,
    bytes: &'a [u8],
    to: SocketAddr,
}

impl Sender<'_> {
    async fn send(&self) {
        self.sock.send_to(self.bytes, self.to).await.unwrap();
    }
}

/// Sends `flood` `n` times (paced, so the node's socket buffer does not overflow before
/// the budget does) until `listed` says the kernel filter lists the flooder, then 20 of
/// `flood` and 20 keepalives of `heard` (which the filter passes); returns the counters
/// before and after the probe. A window may end between the listing and the probe (the
/// UDP filter is rebuilt): then it is all repeated, at most 5 times.
async fn probe_listing(
    node: &TestNode,
    listed: impl Fn() -> bool,
    flood: &Sender<'_>,
    n: usize,
    heard: &Sender<'_>,
) -> ([u64; 4], [u64; 4]) {
    for attempt in 0..5 {
        for i in 0..n {
            flood.send().await;
            if i % 25 == 24 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // On a loaded machine the node's socket buffer can overflow before the budget
        // does (the kernel drops what the receive loop has not read): flood again.
        if !wait_until(Duration::from_secs(5), &listed).await {
            println!("attempt {attempt}: the flooding address was not listed");
            continue;
        }
        // Flood datagrams queued on the node's socket before the filter was attached still
        // reach the receive loop (and its budget drop count). The loop reads one socket in
        // order, so once a marker sent now is heard, everything queued before it is counted.
        let marked = counts(node)[1];
        heard.send().await;
        assert!(
            wait_until(Duration::from_secs(5), || counts(node)[1] > marked).await,
            "the marker keepalive was not heard"
        );
        let before = counts(node);
        for _ in 0..20 {
            flood.send().await;
            heard.send().await;
        }
        assert!(
            wait_until(Duration::from_secs(5), || counts(node)[1] >= before[1] + 20).await,
            "the keepalives the filter passes were not heard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = counts(node);
        if after[3] == before[3] && listed() {
            return (before, after);
        }
        println!("attempt {attempt}: the window ended during the probe");
    }
    panic!("no probe found the flooder listed for a whole window");
}

/// On Linux, an address over its handshake budget has its node_id handshakes dropped by
/// the kernel filter on the UDP socket until the window ends, while its channels'
/// other datagrams still reach the node (the filter reads the message type).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_drops_handshakes_past_an_addresss_handshake_budget_only() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let node = start_node(dir.path(), cfg, NetworkFlags::default()).await;
    assert!(node.net.kernel_filter_enabled());
    let port = node.net.local_port();
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let to = node_addr(v4, port);
    let peer = handshaken_sockets(v4, port, 1).await.remove(0);
    let asker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(rand_cookie())))
        .to_bytes(Network::Dev)
        .unwrap();
    let keepalive = keepalive_bytes();
    let budget = 4 * Network::Dev.params().max_peers_per_ip;
    let listed = || {
        node.net
            .kernel_filtered_handshakes()
            .contains(&Ipv4Addr::LOCALHOST.to_ipv6_mapped())
    };
    let flood = Sender {
        sock: &asker,
        bytes: &query,
        to,
    };
    let heard = Sender {
        sock: &peer,
        bytes: &keepalive,
        to,
    };
    let (before, after) = probe_listing(&node, listed, &flood, budget + 100, &heard).await;
    assert_eq!(
        after[0], before[0],
        "handshakes from the listed address reached the node"
    );
    node.shutdown().await;
}

/// On Linux, an address over its datagram budget is dropped by the kernel filter until
/// the window ends, while another address is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_drops_an_address_over_its_budget_and_hears_another() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let flags = NetworkFlags {
        inbound_messages_per_sec: 200,
        ..NetworkFlags::default()
    };
    let node = start_node(dir.path(), cfg, flags).await;
    let port = node.net.local_port();
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let flooder = handshaken_sockets(v4, port, 1).await.remove(0);
    let other = handshaken_sockets(v6, port, 1).await.remove(0);
    let keepalive = keepalive_bytes();
    let listed = || {
        node.net
            .kernel_filtered(true)
            .contains(&Ipv4Addr::LOCALHOST.to_ipv6_mapped())
    };
    let flood = Sender {
        sock: &flooder,
        bytes: &keepalive,
        to: node_addr(v4, port),
    };
    let heard = Sender {
        sock: &other,
        bytes: &keepalive,
        to: node_addr(v6, port),
    };
    let (before, after) = probe_listing(&node, listed, &flood, 300, &heard).await;
    assert_eq!(
        after[1],
        before[1] + 20,
        "only the other address's keepalives"
    );
    assert_eq!(
        after[2], before[2],
        "the listed address's datagrams reached the node"
    );
    node.shutdown().await;
}
