//! Peering between several services on loopback: discovery through one preconfigured
//! peer, reconnection from the stored peers after a restart, and telemetry exchange.

mod network_support;

use std::time::Duration;

use nano_node::network::NetworkFlags;
use network_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_discover_each_other_and_reconnect_after_restart() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = start_node(
        dirs[0].path(),
        dev_config(0, vec![]),
        NetworkFlags::default(),
    )
    .await;
    let seed = first.peer_string();
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(
            start_node(
                d.path(),
                dev_config(0, vec![seed.clone()]),
                NetworkFlags::default(),
            )
            .await,
        );
    }
    let ok = wait_until(Duration::from_secs(15), || {
        nodes.iter().all(|n| n.tcp_peers() == 2)
    })
    .await;
    let counts: Vec<_> = nodes.iter().map(|n| n.tcp_peers()).collect();
    assert!(ok, "tcp peer counts {counts:?}");

    // Telemetry flows (dev interval 500 ms) with the sender's real counts.
    let ok = wait_until(Duration::from_secs(10), || {
        nodes.iter().all(|n| n.net.telemetry().len() >= 2)
    })
    .await;
    assert!(ok, "telemetry from every peer");
    let t = &nodes[0].net.telemetry()[0];
    assert_eq!(t.data.block_count, 1);
    assert_eq!(
        t.data.genesis_block,
        nano_core::Network::Dev.params().genesis_hash
    );
    assert_eq!(t.to_json()["block_count"], "1");

    // Restart on the same ports and data dirs, without preconfigured peers.
    let ports: Vec<u16> = nodes.iter().map(|n| n.net.local_port()).collect();
    for n in nodes.drain(..) {
        n.shutdown().await;
    }
    for (d, p) in dirs.iter().zip(&ports) {
        nodes.push(start_node(d.path(), dev_config(*p, vec![]), NetworkFlags::default()).await);
    }
    let ok = wait_until(Duration::from_secs(15), || {
        nodes.iter().all(|n| n.tcp_peers() == 2)
    })
    .await;
    let counts: Vec<_> = nodes.iter().map(|n| n.tcp_peers()).collect();
    assert!(ok, "after restart: tcp peer counts {counts:?}");
    for n in nodes {
        n.shutdown().await;
    }
}
