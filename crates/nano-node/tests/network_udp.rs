//! With TCP realtime disabled, two services still handshake over UDP datagrams and
//! exchange publish and votes; the rep crawler finds the voting peer over UDP too.

mod network_support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nano_core::KeyPair;
use nano_ledger::test_support::dev_genesis_key;
use nano_messages::{ConfirmAck, Message, Publish, Vote};
use nano_node::interfaces::{ChannelInfo, Inbound, Outbound, TrafficType};
use nano_node::network::{NetworkFlags, NetworkService, Transport};
use network_support::*;

/// Records everything and answers confirm_req with a vote by the dev genesis key, like
/// a voting representative would.
struct Voter {
    net: OnceLock<NetworkService>,
    key: KeyPair,
    rec: Recorder,
}

impl Inbound for Voter {
    fn on_message(&self, from: &ChannelInfo, msg: Message) {
        if let Message::ConfirmReq(r) = &msg {
            let hashes = r.pairs.iter().map(|(h, _)| *h).collect();
            let vote = Vote::new_signed(&self.key, 1_700_000_000_000, 9, hashes);
            if let Some(net) = self.net.get() {
                net.send(
                    from.id,
                    &Message::ConfirmAck(Box::new(ConfirmAck {
                        vote,
                        rebroadcast: false,
                    })),
                    TrafficType::Realtime,
                );
            }
        }
        self.rec.on_message(from, msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_votes_flow_over_udp_when_tcp_realtime_is_off() {
    let flags = NetworkFlags {
        disable_tcp_realtime: true,
        rep_crawler_period: Some(Duration::from_millis(200)),
        ..NetworkFlags::default()
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_node(da.path(), dev_config(0, vec![]), flags.clone()).await;
    let b = start_node(db.path(), dev_config(0, vec![a.peer_string()]), flags).await;
    let rec_a = Arc::new(Recorder::default());
    a.net.set_inbound(rec_a.clone());
    let voter = Arc::new(Voter {
        net: OnceLock::new(),
        key: dev_genesis_key(),
        rec: Recorder::default(),
    });
    let _ = voter.net.set(b.net.clone());
    b.net.set_inbound(voter.clone());

    assert!(
        wait_until(Duration::from_secs(10), || a.udp_peers() == 1
            && b.udp_peers() == 1)
        .await,
        "udp channels: a {:?} b {:?}",
        a.net.peers(),
        b.net.peers()
    );
    assert_eq!(a.tcp_peers() + b.tcp_peers(), 0, "no TCP realtime");
    let info = &a.net.peers()[0];
    assert_eq!(info.transport, Transport::Udp);
    assert_eq!(info.node_id, b.net.node_id());

    // publish A -> B, twice: the duplicate is filtered.
    let block = dev_block(1);
    let publish = Message::Publish(Box::new(Publish {
        block: block.clone(),
        originator: true,
    }));
    // One peer: ceil(sqrt(1)) = 1.
    assert_eq!(a.net.flood(&publish, 1.0), 1);
    assert!(
        wait_until(Duration::from_secs(10), || voter
            .rec
            .count(|m| matches!(m, Message::Publish(_)))
            == 1)
        .await
    );
    assert_eq!(a.net.broadcast(&publish), 1);
    assert!(
        wait_until(Duration::from_secs(10), || b.stats.get(
            "drop",
            "duplicate",
            "in"
        ) >= 1)
        .await
    );
    assert_eq!(voter.rec.count(|m| matches!(m, Message::Publish(_))), 1);

    // A vote B -> A over UDP.
    let vote = Vote::new_signed(&dev_genesis_key(), 1_700_000_000_016, 9, vec![block.hash()]);
    let ack = Message::ConfirmAck(Box::new(ConfirmAck {
        vote,
        rebroadcast: false,
    }));
    assert_eq!(b.net.broadcast(&ack), 1);
    assert!(
        wait_until(Duration::from_secs(10), || rec_a
            .count(|m| matches!(m, Message::ConfirmAck(_)))
            >= 1)
        .await
    );

    // A's rep crawler asks B, B votes with the genesis key: B is a representative.
    assert!(
        wait_until(Duration::from_secs(10), || !a
            .net
            .representatives()
            .is_empty())
        .await,
        "representative found"
    );
    let reps = a.net.representatives();
    assert_eq!(reps[0].account, dev_genesis_key().public());
    assert_eq!(reps[0].channel.node_id, b.net.node_id());
    assert_eq!(a.net.online_weight(), nano_core::Amount::MAX);
    let before = nano_store::online_weight_key(std::time::SystemTime::now());
    a.net.sample_online_weight();
    let after = nano_store::online_weight_key(std::time::SystemTime::now());
    assert_eq!(a.net.trended_online_weight(), nano_core::Amount::MAX);
    // The sample's key is the reference's: u64 big-endian nanoseconds since the epoch
    // (fact sheet §10), read back through the store's decoding of that layout.
    {
        let store = a.ledger.store();
        let t = store.read_txn().unwrap();
        let samples: Vec<(u64, nano_core::Amount)> = store
            .iter_online_weight(&t)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(samples.len(), 1, "{samples:?}");
        let (key, weight) = samples[0];
        assert!(
            before <= key && key <= after,
            "{before} <= {key} <= {after}"
        );
        assert!(
            key > 1_600_000_000_000_000_000,
            "nanoseconds, not ms: {key}"
        );
        assert_eq!(weight, nano_core::Amount::MAX);
    }
    assert!(b.net.representatives().is_empty(), "A has no weight");

    a.shutdown().await;
    b.shutdown().await;
}
