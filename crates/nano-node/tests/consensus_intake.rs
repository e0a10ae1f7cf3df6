//! Online weight and vote intake between real nodes on loopback: which representatives
//! count online, that a block needs the quorum of online weight, and that a peer
//! flooding votes from accounts without weight does not keep a block from confirming.

mod consensus_support;
mod network_support;

use std::sync::Arc;
use std::time::Duration;

use consensus_support::{cemented, half_and_half, peer_of, start, submit};
use futures::SinkExt;
use nano_core::{Account, Amount, BlockHash, Network, PublicKey, Signature};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_messages::{ConfirmAck, Message, Vote};
use network_support::{raw_handshake, wait_until};

const DEADLINE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_counts_local_and_remote_reps_and_needs_their_weight() {
    let genesis = dev_genesis_key();
    let k = test_key(71);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two representatives of 50% each: genesis voting on A, K voting on B.
    let (a, b, mut g) = half_and_half(da.path(), db.path(), &k, DEADLINE).await;
    let half = a.ledger.weight(&k.public()).0;
    let ga: Account = genesis.public();
    let ka: Account = k.public();
    assert!(a.ledger.weight(&ka) >= Amount(half));
    // A block both representatives vote on: each node sees its own and the other's.
    let s2 = submit(&a, g.send(&test_key(72).public(), 1)).await;
    assert!(wait_until(DEADLINE, || cemented(&a, &s2) && cemented(&b, &s2)).await);
    let both = Amount(a.ledger.weight(&ga).0 + a.ledger.weight(&ka).0);
    for (name, n) in [("A", &a), ("B", &b)] {
        assert!(
            wait_until(DEADLINE, || n.confirmation_quorum().online_stake_total
                == both)
            .await,
            "node {name}: online {:?}, both reps {:?}",
            n.confirmation_quorum().online_stake_total,
            both
        );
    }

    // K goes away. Genesis alone (50%) is below 67% of the online weight, which still
    // counts K (heard within the window): a new block stays unconfirmed on A.
    b.stop().await;
    drop(b);
    let s3 = submit(&a, g.send(&test_key(73).public(), 1)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!cemented(&a, &s3), "confirmed by half of the online weight");
    // Online weight is the representatives' current weight (s3 took 1 raw from genesis).
    let both_now = Amount(a.ledger.weight(&ga).0 + a.ledger.weight(&ka).0);
    assert!(
        wait_until(DEADLINE, || a.confirmation_quorum().online_stake_total
            == both_now)
        .await
    );
    let e = a
        .active_elections()
        .into_iter()
        .find(|e| e.winner == s3)
        .expect("election still running");
    assert!(e.tally > Amount::ZERO, "A voted");
    a.stop().await;
}

/// A confirm_ack from `account` (a random one if None) with a random signature naming 12
/// random hashes.
fn junk_vote(rng: &mut impl rand::Rng, account: Option<PublicKey>) -> Message {
    let mut sig = [0u8; 64];
    rng.fill(&mut sig[..]);
    let hashes = (0..12).map(|_| BlockHash(rng.random())).collect();
    Message::ConfirmAck(Box::new(ConfirmAck {
        vote: Vote {
            account: account.unwrap_or_else(|| PublicKey(rng.random())),
            signature: Signature(sig),
            timestamp: rng.random(),
            hashes,
        },
        rebroadcast: false,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_vote_flood_does_not_stop_confirmation() {
    let n = flood_while_confirming(None).await;
    assert_eq!(
        n.stats.get("vote", "invalid", "in"),
        0,
        "junk was never verified"
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_votes_of_a_light_representative_do_not_stop_confirmation() {
    // Votes naming an account with a little weight (above the vote weight minimum, far
    // below the first tier) pass the weight check and are verified: they queue in that
    // channel's bounded non-principal sub-queue, behind R's tier.
    let light = test_key(950);
    let n = flood_while_confirming(Some(light.public())).await;
    assert!(
        n.stats.get("vote", "invalid", "in") > 0,
        "the forgeries were verified"
    );
    n.stop().await;
}

/// R votes with genesis; N does not vote and relies on R. A hostile peer floods N over
/// two connections with junk votes (from `account`, or random accounts) while five
/// sends submitted to N must be cemented. Returns N (R is stopped).
async fn flood_while_confirming(account: Option<PublicKey>) -> Arc<nano_node::node::Node> {
    let (dr, dn) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = start(dr.path(), vec![], Some(&dev_genesis_key())).await;
    let n = start(dn.path(), vec![peer_of(&r)], None).await;
    assert!(wait_until(DEADLINE, || !n.peers().is_empty()).await);
    let mut g = Chain::dev_genesis();
    if let Some(a) = account {
        // The named account gets 11 Nano and represents itself.
        let amount = Amount::nano(11).unwrap().0;
        let send = submit(&n, g.send(&a, amount)).await;
        let mut ac = Chain::unopened(test_key(950));
        assert_eq!(ac.account, a, "the light account is test_key(950)");
        let open = submit(&n, ac.receive(&send, amount, nano_core::Epoch::Epoch0)).await;
        assert!(wait_until(DEADLINE, || cemented(&n, &open)).await);
    }

    // A hostile peer handshakes with N and floods it with votes from accounts that
    // hold no weight, while blocks are submitted to N.
    let port = n.local_endpoint().unwrap().port();
    let genesis_hash = Network::Dev.params().genesis_hash;
    let mut conns = Vec::new();
    for i in 0..2u32 {
        let id = test_key(900 + i);
        conns.push(
            raw_handshake(port, &id, genesis_hash)
                .await
                .expect("hostile peer handshakes"),
        );
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut floods = Vec::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        let stop = stop.clone();
        floods.push(tokio::spawn(async move {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(i as u64);
            let mut sent = 0u64;
            // Bounded: stops on request, on a closed connection, or after 2 M votes.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 2_000_000 {
                for _ in 0..64 {
                    if c.feed(junk_vote(&mut rng, account)).await.is_err() {
                        return sent;
                    }
                    sent += 1;
                }
                if SinkExt::<Message>::flush(&mut c).await.is_err() {
                    return sent;
                }
            }
            sent
        }));
    }
    let stats = n.stats.clone();
    let (kind, detail) = match account {
        None => ("drop", "vote_without_weight"),
        Some(_) => ("vote", "invalid"),
    };
    assert!(
        wait_until(DEADLINE, || stats.get(kind, detail, "in") > 100).await,
        "the flood reaches N's vote intake"
    );
    let mut hashes = Vec::new();
    for i in 0..5 {
        hashes.push(submit(&n, g.send(&test_key(800 + i).public(), 1)).await);
    }
    let confirmed = wait_until(DEADLINE, || hashes.iter().all(|h| cemented(&n, h))).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for f in floods {
        sent += f.await.unwrap_or(0);
    }
    assert!(
        confirmed,
        "blocks confirmed on N during a flood of {sent} junk votes"
    );
    r.stop().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_below_the_weight_minimum_do_not_count_online() {
    use nano_node::node::{Node, NodeOptions};
    let d = tempfile::tempdir().unwrap();
    let mut c = nano_node::DaemonConfig::defaults(Network::Dev).node;
    c.enable_voting = false;
    // 1,000 raw: K below gets 999, K above 1,000.
    c.representative_vote_weight_minimum = "1000".into();
    let mut opts = NodeOptions::new(c, Network::Dev, d.path());
    opts.enable_network = false;
    let node = Node::start_with(opts).await.expect("node starts");
    let (below, above) = (test_key(61), test_key(62));
    let mut g = Chain::dev_genesis();
    for (k, amount) in [(&below, 999u128), (&above, 1000)] {
        let send = submit(&node, g.send(&k.public(), amount)).await;
        let mut kc = Chain::unopened(k.clone());
        submit(&node, kc.receive(&send, amount, nano_core::Epoch::Epoch0)).await;
    }
    assert_eq!(node.ledger.weight(&below.public()), Amount(999));
    let h = g.head;
    node.consensus
        .process_vote(Vote::new_final(&below, vec![h]), Some(1));
    node.consensus
        .process_vote(Vote::new_final(&above, vec![h]), Some(1));
    assert!(
        wait_until(DEADLINE, || node.confirmation_quorum().online_stake_total
            == Amount(1000))
        .await,
        "only the representative at the minimum is online: {:?}",
        node.confirmation_quorum().online_stake_total
    );
    assert_eq!(node.stats.get("vote", "below_minimum", "in"), 1);
    node.stop().await;
}
