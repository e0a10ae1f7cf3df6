//! Peers that must not become channels: another network (header magic), another
//! genesis (v2 handshake), our own node id (self-connection).

mod network_support;

use std::time::Duration;

use futures::SinkExt;
use nano_core::{BlockHash, KeyPair, Network};
use nano_messages::{Message, NodeIdHandshake};
use nano_node::network::{NetworkFlags, NODE_ID_FILE};
use network_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_network_other_genesis_and_self_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Refusal at `accept` (the kernel filter's fallback, which also covers the moment
    // before the filter lists an address); `network_kernel_filter` tests the filter.
    let flags = NetworkFlags {
        kernel_filter: false,
        ..NetworkFlags::default()
    };
    let node = start_node(dir.path(), dev_config(0, vec![]), flags).await;
    let port = node.net.local_port();

    // Each hostile client uses its own loopback address: the node excludes addresses
    // that speak another network or genesis.
    let other_net: std::net::IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 2).into();
    let other_genesis: std::net::IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 3).into();

    // Another network: a handshake with the test network's magic is closed at the header.
    let mut c = raw_connect_from(other_net, port, Network::Test).await;
    c.send(Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(
        [1; 32],
    ))))
    .await
    .unwrap();
    assert!(
        closed_by_peer(&mut c, Duration::from_secs(10)).await,
        "other network closed"
    );

    // Another genesis: a correctly signed v2 response naming a different genesis.
    let stranger = KeyPair::random();
    if let Some(mut c) =
        raw_handshake_from(other_genesis, port, &stranger, BlockHash([0xAB; 32])).await
    {
        assert!(
            closed_by_peer(&mut c, Duration::from_secs(10)).await,
            "other genesis closed"
        );
    }
    assert!(node.stats.get("handshake_failed", "wrong_genesis", "") >= 1);
    // Both addresses are now excluded: their next connections are closed unread.
    for src in [other_net, other_genesis] {
        let mut c = raw_connect_from(src, port, Network::Dev).await;
        assert!(closed_by_peer(&mut c, Duration::from_secs(10)).await);
    }
    assert!(
        wait_until(Duration::from_secs(5), || node.stats.get(
            "tcp",
            "refused_excluded",
            "in"
        ) >= 2)
        .await
    );

    // The right genesis is accepted (control for the test above).
    let friend = KeyPair::random();
    let genesis = Network::Dev.params().genesis_hash;
    let _good = raw_handshake(port, &friend, genesis)
        .await
        .expect("handshake");
    assert!(wait_until(Duration::from_secs(10), || node.tcp_peers() == 1).await);

    // Dialling our own endpoint never yields a channel.
    node.net
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)));

    // A second service with the same node id (a self-connection in disguise) is refused
    // by the handshake on both ends.
    let twin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join(NODE_ID_FILE),
        twin_dir.path().join(NODE_ID_FILE),
    )
    .unwrap();
    let twin = start_node(
        twin_dir.path(),
        dev_config(0, vec![node.peer_string()]),
        NetworkFlags::default(),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(10), || twin.stats.get(
            "handshake_failed",
            "own_node_id",
            ""
        ) >= 1)
        .await,
        "twin refused"
    );
    assert_eq!(twin.tcp_peers(), 0);
    assert_eq!(node.tcp_peers(), 1, "only the friendly raw peer");
    assert!(node
        .net
        .peers()
        .iter()
        .all(|p| p.node_id == friend.public()));

    // A node of another network never connects.
    let other_dir = tempfile::tempdir().unwrap();
    let other = {
        use std::sync::Arc;
        let key = KeyPair::random();
        let ledger = Arc::new(
            nano_ledger::Ledger::open(&other_dir.path().join("data.ldb"), Network::Test).unwrap(),
        );
        let mut cfg = nano_node::config::DaemonConfig::defaults(Network::Test).node;
        cfg.peering_port = 0;
        cfg.allow_local_peers = true;
        cfg.preconfigured_peers = vec![node.peer_string()];
        let net = nano_node::network::NetworkService::new(nano_node::network::NetworkInit {
            params: Network::Test.params(),
            config: cfg,
            node_id: key,
            ledger,
            stats: Arc::new(nano_node::stats::Stats::new()),
            events: Default::default(),
            flags: NetworkFlags::default(),
        });
        net.start().await.unwrap();
        net
    };
    assert!(
        wait_until(Duration::from_secs(10), || node
            .stats
            .get("error", "header", "in")
            >= 2)
        .await,
        "test-network handshake closed at the header"
    );
    assert!(other.peers().is_empty());
    assert!(node
        .net
        .peers()
        .iter()
        .all(|p| p.node_id == friend.public()));
    other.stop().await;
    twin.shutdown().await;
    node.shutdown().await;
}
