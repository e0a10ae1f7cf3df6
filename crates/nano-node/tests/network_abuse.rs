//! Hostile peers: garbage bytes, an invalid header, a malformed payload and a message
//! flood. Each is dropped or disconnected while the node keeps serving a good peer.

mod network_support;

use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use nano_core::{KeyPair, Network};
use nano_messages::{Message, Publish};
use nano_node::interfaces::Outbound;
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_cut_off_while_good_peers_are_served() {
    let flags = NetworkFlags {
        inbound_messages_per_sec: 2_000,
        ..NetworkFlags::default()
    };
    let (dn, dg) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = false;
    let node = start_node(dn.path(), cfg, flags).await;
    let rec = Arc::new(Recorder::default());
    node.net.set_inbound(rec.clone());
    let port = node.net.local_port();
    let good = start_node(
        dg.path(),
        dev_config(0, vec![node.peer_string()]),
        NetworkFlags::default(),
    )
    .await;
    assert!(wait_until(Duration::from_secs(10), || node.tcp_peers() == 1).await);
    let genesis = Network::Dev.params().genesis_hash;

    // Hostile clients come from their own loopback addresses: the node excludes an
    // address after its second unframeable stream.
    let garbler: std::net::IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 2).into();
    let breaker: std::net::IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 3).into();

    // Garbage as the first bytes: closed.
    let mut s = raw_connect_from(garbler, port, Network::Dev).await;
    s.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_peer(&mut s, Duration::from_secs(10)).await,
        "garbage closed"
    );

    // On a realtime channel: a malformed payload is dropped, the channel survives; an
    // invalid message type (unframeable) closes it.
    let mut c = raw_handshake_from(breaker, port, &KeyPair::random(), genesis)
        .await
        .expect("handshake");
    // confirm_req with an all-zero pair: framed, refused as a message.
    let mut bad =
        nano_messages::Header::new(Network::Dev, nano_messages::MessageType::ConfirmReq, 0x1100)
            .encode()
            .to_vec();
    bad.extend_from_slice(&[0u8; 64]);
    c.get_mut().write_all(&bad).await.unwrap();
    let publish = |i| {
        Message::Publish(Box::new(Publish {
            block: dev_block(i),
            originator: false,
        }))
    };
    c.send(publish(7)).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || rec
            .count(|m| matches!(m, Message::Publish(_)))
            == 1)
        .await,
        "message after a bad payload still delivered"
    );
    assert!(node.stats.get("drop", "invalid_payload", "in") >= 1);
    let mut bad_type =
        nano_messages::Header::new(Network::Dev, nano_messages::MessageType::Keepalive, 0).encode();
    bad_type[5] = 0x09;
    c.get_mut().write_all(&bad_type).await.unwrap();
    assert!(
        closed_by_peer(&mut c, Duration::from_secs(10)).await,
        "invalid type closed"
    );

    // A flood far above the per-channel rate: disconnected.
    let mut f = raw_handshake(port, &KeyPair::random(), genesis)
        .await
        .expect("handshake");
    let burst: Vec<u8> = (0..20_000)
        .flat_map(|_| {
            nano_messages::Header::new(Network::Dev, nano_messages::MessageType::TelemetryReq, 0)
                .encode()
        })
        .collect();
    let flood = async {
        for _ in 0..50 {
            if f.get_mut().write_all(&burst).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), flood).await;
    assert!(
        wait_until(Duration::from_secs(10), || node
            .stats
            .get("channel", "flood", "closed")
            == 1)
        .await,
        "flooder disconnected"
    );
    assert!(closed_by_peer(&mut f, Duration::from_secs(10)).await);

    // The good peer is still served, both ways.
    let p = publish(8);
    assert_eq!(good.net.broadcast(&p), 1);
    assert!(
        wait_until(Duration::from_secs(10), || rec
            .count(|m| matches!(m, Message::Publish(_)))
            == 2)
        .await,
        "good peer still delivers"
    );
    assert_eq!(node.tcp_peers(), 1);
    node.shutdown().await;
    good.shutdown().await;
}
