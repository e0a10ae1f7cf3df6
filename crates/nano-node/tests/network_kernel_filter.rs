//! The kernel filter on the peering sockets (Linux): a cooled-down address gets no
//! accepted connection, and its datagrams never reach the node's receive loop, while
//! other addresses still peer; when the cooldown ends the address is heard again.
//! Elsewhere the filter is off and `network_admission` covers refusal at `accept`.

mod network_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::SinkExt;
use nano_core::{KeyPair, Network};
use nano_messages::Message;
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::net::UdpSocket;

/// Starts a dev node (UDP on when `udp`) and says whether its kernel filter is in place.
/// On Linux it must be: a failed attach fails the test instead of skipping its checks.
/// Elsewhere the filter is off and these tests have nothing to check.
async fn start_filtered(dir: &std::path::Path, udp: bool, flags: NetworkFlags) -> (TestNode, bool) {
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = udp;
    let node = start_node(dir, cfg, flags).await;
    let on = cfg!(target_os = "linux");
    assert_eq!(node.net.kernel_filter_enabled(), on);
    (node, on)
}

/// Sends one unparseable datagram from `sock` to the node.
async fn junk_datagram(sock: &UdpSocket, port: u16) {
    sock.send_to(
        b"not a nano header",
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
    )
    .await
    .unwrap();
}

/// A connection from `src` does not complete within a second, and the node accepts no
/// connection meanwhile.
async fn never_accepted(node: &TestNode, src: IpAddr, port: u16) {
    let accepted = node.stats.get("tcp", "accepted", "in");
    let attempt = tokio::time::timeout(Duration::from_secs(1), tcp_from(src, port)).await;
    assert!(
        attempt.is_err(),
        "connect from {src} completed: {attempt:?}"
    );
    assert_eq!(node.stats.get("tcp", "accepted", "in"), accepted);
}

/// A connection from `src` completes and the node accepts it.
async fn accepted(node: &TestNode, src: IpAddr, port: u16) {
    let before = node.stats.get("tcp", "accepted", "in");
    let conn = tokio::time::timeout(Duration::from_secs(5), tcp_from(src, port))
        .await
        .unwrap_or_else(|_| panic!("{src} connects"))
        .unwrap_or_else(|e| panic!("{src} connects: {e}"));
    assert!(
        wait_until(Duration::from_secs(5), || node
            .stats
            .get("tcp", "accepted", "in")
            > before)
        .await,
        "{src} accepted"
    );
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooled_down_address_costs_no_accept_and_no_datagram() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough to test during, short enough to see it end.
    let cooldown = Duration::from_secs(4);
    let flags = NetworkFlags {
        misbehaviour_cooldown: cooldown,
        ..NetworkFlags::default()
    };
    let (node, on) = start_filtered(dir.path(), true, flags).await;
    if !on {
        return;
    }
    let port = node.net.local_port();
    let garbler = Ipv4Addr::new(127, 0, 0, 4);
    let mapped = garbler.to_ipv6_mapped();

    // One unframeable header: a strike, the connection closed, the address cooled down.
    send_unframeable_header(garbler.into(), port).await;
    assert!(
        wait_until(Duration::from_secs(5), || {
            node.net.kernel_filtered(false).contains(&mapped)
                && node.net.kernel_filtered(true).contains(&mapped)
        })
        .await,
        "listed on both sockets: {:?} {:?}",
        node.net.kernel_filtered(false),
        node.net.kernel_filtered(true)
    );

    // A new connection from it never completes, and the node never accepts it.
    let refused = node.stats.get("tcp", "refused_excluded", "in");
    never_accepted(&node, garbler.into(), port).await;
    assert_eq!(node.stats.get("tcp", "refused_excluded", "in"), refused);

    // Its datagrams are not seen; another address's datagram sent after them is.
    let cooled_udp = UdpSocket::bind(SocketAddr::new(garbler.into(), 0))
        .await
        .unwrap();
    let other_udp = UdpSocket::bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, 5).into(), 0))
        .await
        .unwrap();
    let invalid = node.stats.get("drop", "udp_invalid", "in");
    for _ in 0..10 {
        junk_datagram(&cooled_udp, port).await;
    }
    junk_datagram(&other_udp, port).await;
    assert!(
        wait_until(Duration::from_secs(5), || node.stats.get(
            "drop",
            "udp_invalid",
            "in"
        ) > invalid)
        .await,
        "the other address's datagram arrives"
    );
    assert_eq!(
        node.stats.get("drop", "udp_excluded", "in"),
        0,
        "the cooled-down address's datagrams reached the node"
    );
    assert_eq!(node.stats.get("drop", "udp_invalid", "in"), invalid + 1);

    // Other addresses still peer (a handshake from ::1 becomes a channel).
    let genesis = Network::Dev.params().genesis_hash;
    let mut good = raw_handshake(port, &KeyPair::random(), genesis)
        .await
        .expect("handshake from ::1");
    assert!(wait_until(Duration::from_secs(10), || node.tcp_peers() == 1).await);
    good.send(Message::Keepalive(Box::default())).await.unwrap();

    // The cooldown ends: the filter lets the address in again.
    assert!(
        wait_until(cooldown + Duration::from_secs(5), || !node
            .net
            .kernel_filtered(false)
            .contains(&mapped))
        .await,
        "still listed after the cooldown"
    );
    assert!(!node.net.kernel_filtered(true).contains(&mapped));
    accepted(&node, garbler.into(), port).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_at_its_connection_cap_is_listed_until_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let (node, on) = start_filtered(dir.path(), true, NetworkFlags::default()).await;
    if !on {
        return;
    }
    let port = node.net.local_port();
    let per_ip = Network::Dev.params().max_peers_per_ip;
    let src = Ipv4Addr::new(127, 0, 0, 6);
    let mapped = src.to_ipv6_mapped();
    let mut held = Vec::with_capacity(per_ip);
    for _ in 0..per_ip {
        held.push(tcp_from(IpAddr::V4(src), port).await.unwrap());
    }
    assert!(
        wait_until(Duration::from_secs(10), || node
            .net
            .kernel_filtered(false)
            .contains(&mapped))
        .await,
        "at the cap: listed on the listener"
    );
    // Its datagrams may come from the peers it holds: never listed on the UDP socket.
    assert!(!node.net.kernel_filtered(true).contains(&mapped));
    never_accepted(&node, IpAddr::V4(src), port).await;
    assert_eq!(node.stats.get("tcp", "refused_ip_limit", "in"), 0);
    // The dev network's per-subnetwork cap equals its per-IP cap: 127.0.0.0/24 is full
    // too, so another address of it is dropped in the kernel as well.
    assert_eq!(params_subnet_cap(), per_ip);
    let subnet = Ipv4Addr::new(127, 0, 0, 0).to_ipv6_mapped();
    assert!(
        wait_until(Duration::from_secs(10), || node
            .net
            .kernel_filtered_subnets()
            .contains(&subnet))
        .await,
        "the full subnetwork is listed"
    );
    let neighbour = Ipv4Addr::new(127, 0, 0, 7);
    assert!(!node
        .net
        .kernel_filtered(false)
        .contains(&neighbour.to_ipv6_mapped()));
    never_accepted(&node, IpAddr::V4(neighbour), port).await;
    assert_eq!(node.stats.get("tcp", "refused_subnetwork_limit", "in"), 0);

    held.pop();
    assert!(
        wait_until(Duration::from_secs(10), || !node
            .net
            .kernel_filtered(false)
            .contains(&mapped)
            && node.net.kernel_filtered_subnets().is_empty())
        .await,
        "below the caps: no longer listed"
    );
    accepted(&node, IpAddr::V4(src), port).await;
    drop(held);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_source_is_dropped_too() {
    let dir = tempfile::tempdir().unwrap();
    let (node, on) = start_filtered(dir.path(), false, NetworkFlags::default()).await;
    if !on {
        return;
    }
    let port = node.net.local_port();
    let v6 = std::net::Ipv6Addr::LOCALHOST;
    send_unframeable_header(v6.into(), port).await;
    assert!(
        wait_until(Duration::from_secs(5), || node
            .net
            .kernel_filtered(false)
            .contains(&v6))
        .await
    );
    never_accepted(&node, v6.into(), port).await;
    // An IPv4 peer is unaffected by the IPv6 entry.
    accepted(&node, Ipv4Addr::LOCALHOST.into(), port).await;
    node.shutdown().await;
}

fn params_subnet_cap() -> usize {
    Network::Dev.params().max_peers_per_subnetwork
}
