//! Admission before the handshake: an idle-connection flood from one address holds at
//! most that address's share of the inbound slots while a legitimate node still peers,
//! and addresses that send another network's frames or unframeable bytes are excluded.
//!
//! On loopback the attacker uses IPv4 (`127.0.0.x`, IPv4-mapped inside the node) and the
//! legitimate node `::1`: different addresses and subnetworks, as two hosts would be.

mod network_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use nano_core::{KeyPair, Network};
use nano_messages::{Message, NodeIdHandshake};
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Idle connections the attacker keeps open (more than `tcp_incoming_connections_max`).
const FLOOD: usize = 2_500;

async fn connect_from(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    tcp_from(src.into(), port).await
}

/// One attacker slot: connect, send nothing, and when the node closes the connection
/// open a new one: at once after a connection the node held (its handshake deadline
/// passed), after a pause after a refusal (so refusals do not become a busy loop).
async fn idle_slot(port: u16, stop: CancellationToken, opened: Arc<AtomicUsize>) {
    let mut buf = [0u8; 64];
    while !stop.is_cancelled() {
        let started = tokio::time::Instant::now();
        if let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(2),
            connect_from(Ipv4Addr::LOCALHOST, port),
        )
        .await
        {
            opened.fetch_add(1, Ordering::Relaxed);
            // Wait for the node to close it (or the test to end).
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                }
            }
        }
        if started.elapsed() >= Duration::from_secs(1) {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(1_000)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_flood_from_one_address_does_not_lock_out_peers() {
    let (dn, dg) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = false;
    let node = start_node(dn.path(), cfg, NetworkFlags::default()).await;
    let port = node.net.local_port();
    let per_ip = Network::Dev.params().max_peers_per_ip;
    let attacker: IpAddr = Ipv4Addr::LOCALHOST.into();

    let stop = CancellationToken::new();
    let opened = Arc::new(AtomicUsize::new(0));
    let mut slots = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        slots.push(tokio::spawn(idle_slot(port, stop.clone(), opened.clone())));
    }
    let mut held_max = 0;
    let mut sample = |net: &nano_node::network::NetworkService| {
        held_max = held_max.max(net.inbound_connections_from(attacker));
    };

    // The flood holds at least its per-IP share, and its first connections reach the
    // handshake deadline and are renewed.
    let renewed = wait_until(Duration::from_secs(30), || {
        sample(&node.net);
        node.net.inbound_connections_from(attacker) >= per_ip
            && node.stats.get("handshake_failed", "timeout", "") > 0
    })
    .await;
    assert!(
        renewed,
        "held {} timeouts {} opened {}",
        node.net.inbound_connections_from(attacker),
        node.stats.get("handshake_failed", "timeout", ""),
        opened.load(Ordering::Relaxed)
    );

    // A legitimate node (from ::1) still peers within 10 s, under the renewed flood.
    let good = start_node(
        dg.path(),
        dev_config(0, vec![node.peer_string()]),
        NetworkFlags::default(),
    )
    .await;
    let peered = wait_until(Duration::from_secs(10), || {
        sample(&node.net);
        node.tcp_peers() == 1 && good.tcp_peers() == 1
    })
    .await;
    let held_now = node.net.inbound_connections_from(attacker);
    stop.cancel();
    for s in slots {
        let _ = s.await;
    }
    println!(
        "flood: {} connections opened, node held at most {held_max} (cap {per_ip}), {} refused",
        opened.load(Ordering::Relaxed),
        node.stats.get("tcp", "refused_ip_limit", "in")
    );
    assert!(peered, "legitimate node did not peer under the flood");
    assert!(held_max <= per_ip, "held {held_max} > per-IP cap {per_ip}");
    assert!(held_now > 0, "the flood was still connected while peering");
    assert!(node.stats.get("tcp", "refused_ip_limit", "in") > 0);
    node.shutdown().await;
    good.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_addresses_are_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = false;
    // Refusal at `accept`, the kernel filter's fallback (`network_kernel_filter` tests
    // the filter, which makes these connections never complete instead).
    let flags = NetworkFlags {
        kernel_filter: false,
        ..NetworkFlags::default()
    };
    let node = start_node(dir.path(), cfg, flags).await;
    let port = node.net.local_port();

    // Another network's magic: excluded at once; the next connection from that address
    // is closed before anything is read.
    let wrong_net = Ipv4Addr::new(127, 0, 0, 2);
    let mut s = connect_from(wrong_net, port).await.unwrap();
    let bytes = Message::NodeIdHandshake(Box::new(NodeIdHandshake::query([1; 32])))
        .to_bytes(Network::Test)
        .unwrap();
    s.write_all(&bytes).await.unwrap();
    let mut buf = [0u8; 512];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "closed: {r:?}");
    assert!(node.stats.get("peer", "excluded", "in") >= 1);
    let mut again = connect_from(wrong_net, port).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), again.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "refused: {r:?}");
    assert!(
        wait_until(Duration::from_secs(5), || node.stats.get(
            "tcp",
            "refused_excluded",
            "in"
        ) >= 1)
        .await
    );

    // An unframeable header (invalid message type) is one strike: the connection is
    // closed and the address cooled down, so its next connection is closed unread
    // (a second strike would exclude it; see the admission unit tests).
    let garbler = Ipv4Addr::new(127, 0, 0, 3);
    send_unframeable_header(garbler.into(), port).await;
    assert!(
        wait_until(Duration::from_secs(5), || node
            .stats
            .get("peer", "cooldown", "in")
            == 1)
        .await
    );
    assert_eq!(
        node.stats.get("error", "header", "in"),
        2,
        "both offences counted"
    );
    let refused_before = node.stats.get("tcp", "refused_excluded", "in");
    let mut s = connect_from(garbler, port).await.unwrap();
    // Even a well-formed handshake is not read during the cooldown.
    let _ = s
        .write_all(
            &Message::NodeIdHandshake(Box::new(NodeIdHandshake::query([2; 32])))
                .to_bytes(Network::Dev)
                .unwrap(),
        )
        .await;
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "cooled down: {r:?}");
    assert!(
        wait_until(Duration::from_secs(5), || node.stats.get(
            "tcp",
            "refused_excluded",
            "in"
        ) > refused_before)
        .await
    );
    assert_eq!(
        node.stats.get("peer", "excluded", "in"),
        1,
        "one strike is no exclusion"
    );

    // Other addresses are unaffected: a correct handshake from ::1 becomes a channel.
    let genesis = Network::Dev.params().genesis_hash;
    let mut good = raw_handshake(port, &KeyPair::random(), genesis)
        .await
        .expect("handshake from ::1");
    assert!(wait_until(Duration::from_secs(10), || node.tcp_peers() == 1).await);
    good.send(Message::Keepalive(Box::default())).await.unwrap();
    node.shutdown().await;
}
