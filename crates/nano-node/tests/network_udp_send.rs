//! What the node sends to UDP channels goes through one bounded queue and one sender
//! task that hands the kernel many datagrams per system call: raw UDP peers on
//! 127.0.0.1 receive every message meant for them, in order, with far fewer system
//! calls than datagrams; past one address's share of the queue (all these peers are one
//! host with many source ports), datagrams are refused and counted. The queue's overall
//! bound, which loopback's two subnetworks cannot reach past the shares, is unit-tested
//! in `udp_send`.

mod network_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use nano_messages::{decode_datagram, Message, Publish};
use nano_node::interfaces::Outbound;
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::net::UdpSocket;

const PEERS: usize = 16;

async fn node_with_udp_peers(dir: &std::path::Path) -> (TestNode, Vec<UdpSocket>) {
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let node = start_node(dir, cfg, NetworkFlags::default()).await;
    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let peers = handshaken_sockets(v4, node.net.local_port(), PEERS).await;
    assert_eq!(peers.len(), PEERS, "every peer handshook");
    assert!(
        wait_until(Duration::from_secs(10), || node.udp_peers() == PEERS).await,
        "{} UDP channels",
        node.udp_peers()
    );
    (node, peers)
}

fn publish(i: u32) -> Message {
    Message::Publish(Box::new(Publish {
        block: dev_block(i),
        originator: false,
    }))
}

/// Reads datagrams from `sock` until it has seen `n` publishes; their block hashes.
async fn publishes(sock: &UdpSocket, n: usize) -> Vec<nano_core::BlockHash> {
    let mut buf = vec![0u8; 2048];
    let mut got = Vec::new();
    // Bounded: the publishes plus the node's keepalives.
    for _ in 0..n + 100 {
        if got.len() == n {
            break;
        }
        let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf)).await
        else {
            break;
        };
        if let Ok((_, Message::Publish(p))) =
            decode_datagram(&buf[..len], Some(nano_core::Network::Dev))
        {
            got.push(p.block.hash());
        }
    }
    got
}

// One runtime thread: the broadcasts below all queue before the sender task first runs,
// so how they are batched does not depend on timing.
#[tokio::test(flavor = "current_thread")]
async fn every_udp_peer_receives_its_datagrams_with_few_system_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (node, peers) = node_with_udp_peers(dir.path()).await;
    const MESSAGES: u32 = 40;
    let calls_before = node.stats.get("udp", "send_calls", "out");
    let out_before = node.stats.get("message", "publish", "out");
    for i in 0..MESSAGES {
        assert_eq!(
            node.net.broadcast(&publish(i)),
            PEERS,
            "queued for every peer"
        );
    }
    let want: Vec<_> = (0..MESSAGES).map(|i| dev_block(i).hash()).collect();
    for (k, p) in peers.iter().enumerate() {
        assert_eq!(publishes(p, want.len()).await, want, "peer {k}");
    }
    let datagrams = MESSAGES as u64 * PEERS as u64;
    assert_eq!(
        node.stats.get("message", "publish", "out") - out_before,
        datagrams
    );
    assert_eq!(node.stats.get("drop", "udp_queue_full", "out"), 0);
    assert_eq!(node.stats.get("error", "udp_send", "out"), 0);
    let calls = node.stats.get("udp", "send_calls", "out") - calls_before;
    assert!(
        calls > 0 && calls * 16 <= datagrams,
        "{calls} system calls for {datagrams} datagrams"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn datagrams_past_one_addresss_share_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _peers) = node_with_udp_peers(dir.path()).await;
    // Let the establishment keepalives go out, so the queue starts empty.
    assert!(
        wait_until(Duration::from_secs(10), || node.stats.get(
            "message",
            "keepalive",
            "out"
        ) >= PEERS as u64)
        .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // One address's share (2,048, an eighth of the realtime bound, whatever its number
    // of channels) and 1,216 more, queued without yielding: each of the 16 channels stays
    // below its own share of 2,048.
    const SHARE: u64 = 2_048;
    let rounds = (SHARE as usize + 1_216) / PEERS;
    let before = node.stats.get("message", "publish", "out");
    let msg = publish(1);
    let mut queued = 0;
    for _ in 0..rounds {
        queued += node.net.broadcast(&msg);
    }
    assert_eq!(queued as u64, SHARE);
    assert_eq!(node.stats.get("message", "publish", "out") - before, SHARE);
    assert_eq!(node.stats.get("drop", "udp_address_share", "out"), 1_216);
    assert_eq!(node.stats.get("drop", "udp_channel_share", "out"), 0);
    assert_eq!(node.stats.get("drop", "udp_queue_full", "out"), 0);
    node.shutdown().await;
}
