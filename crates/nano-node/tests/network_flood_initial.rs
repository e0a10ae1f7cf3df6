//! What a node originates goes to every principal representative's channel and to about
//! sqrt of the other channels, as the reference's `flood_block_initial`: a representative
//! whose weight is under 0.1% of the trended online weight is one of the others. Twenty
//! raw UDP peers on 127.0.0.1; one votes with the dev genesis key (all the weight), one
//! with an account holding 1 raw.

mod network_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use nano_core::{Epoch, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_messages::{decode_datagram, ConfirmAck, Message, Publish, Vote};
use nano_node::interfaces::Outbound;
use nano_node::network::NetworkFlags;
use network_support::*;
use tokio::net::UdpSocket;

const PEERS: usize = 20;
const FLOODS: usize = 30;

async fn vote_from(sock: &UdpSocket, node: SocketAddr, key: &nano_core::KeyPair, i: u32) {
    let vote = Vote::new_signed(
        key,
        1_700_000_000_000 + i as u64,
        0,
        vec![dev_block(i).hash()],
    );
    let msg = Message::ConfirmAck(Box::new(ConfirmAck {
        vote,
        rebroadcast: false,
    }));
    sock.send_to(&msg.to_bytes(Network::Dev).unwrap(), node)
        .await
        .unwrap();
}

/// Publishes received on `sock` until `enough` came or none has come for `quiet`.
async fn count_publishes(sock: &UdpSocket, quiet: Duration, enough: usize) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    // Bounded: every flood plus keepalives and telemetry.
    for _ in 0..FLOODS * 4 {
        if n >= enough {
            break;
        }
        let Ok(Ok((len, _))) = tokio::time::timeout(quiet, sock.recv_from(&mut buf)).await else {
            break;
        };
        if let Ok((_, Message::Publish(_))) = decode_datagram(&buf[..len], Some(Network::Dev)) {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_blocks_go_to_principal_representatives_not_to_every_weighted_account() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.enable_udp = true;
    let node = start_node(dir.path(), cfg, NetworkFlags::default()).await;
    // An account with 1 raw of weight, its own representative.
    let light = test_key(77);
    {
        let mut g = Chain::dev_genesis();
        let mut l = Chain::unopened(light.clone());
        let send = g.send(&light.public(), 1);
        let open = l.receive(&send.hash(), 1, Epoch::Epoch0);
        let mut t = node.ledger.write_txn().unwrap();
        node.ledger.process(&mut t, &send).unwrap();
        node.ledger.process(&mut t, &open).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(node.ledger.weight(&light.public()).0, 1);

    let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let port = node.net.local_port();
    let peers = handshaken_sockets(v4, port, PEERS).await;
    assert_eq!(peers.len(), PEERS);
    assert!(wait_until(Duration::from_secs(10), || node.udp_peers() == PEERS).await);
    let to = node_addr(v4, port);
    let (principal, weighted) = (&peers[0], &peers[1]);
    vote_from(principal, to, &dev_genesis_key(), 1).await;
    vote_from(weighted, to, &light, 2).await;
    assert!(
        wait_until(Duration::from_secs(10), || node.net.representatives().len()
            == 2)
        .await,
        "both voters are representatives: {:?}",
        node.net.representatives()
    );

    for i in 0..FLOODS {
        let msg = Message::Publish(Box::new(Publish {
            block: dev_block(1_000 + i as u32),
            originator: true,
        }));
        // The principal's channel and ceil(sqrt(19)) = 5 of the other 19.
        assert_eq!(node.net.flood_initial(&msg), 6);
    }
    assert_eq!(
        count_publishes(principal, Duration::from_secs(2), FLOODS).await,
        FLOODS,
        "the principal representative gets every one"
    );
    // The 1-raw representative is drawn like any other peer, 5 times in 19: all 30 would
    // come with a probability of about 1e-17.
    let light_got = count_publishes(weighted, Duration::from_millis(500), FLOODS).await;
    assert!(
        light_got < FLOODS,
        "the 1-raw representative got {light_got} of {FLOODS}"
    );
    node.shutdown().await;
}
