//! Who receives the votes a node sends, by the reference's rules: its own votes go to
//! every principal representative and to ceil(2·sqrt(peers)) random peers
//! (`vote_generator::broadcast_action`); a vote it received and applied is relayed to
//! ceil(0.5·sqrt(peers)) random peers, and not at all when the node itself votes with
//! half a principal representative's weight (`node` on `vote_processed`). A real node
//! on 127.0.0.1 with twenty raw UDP peers that record every confirm_ack.

mod consensus_support;
mod network_support;

use std::sync::Arc;
use std::time::Duration;

use consensus_support::{cemented, submit};
use nano_core::{Account, Block, Epoch, KeyPair, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_messages::{ConfirmAck, Message, Vote};
use nano_node::node::{Node, NodeOptions};
use nano_node::test_utils::dev_node_config;
use network_support::{raw_udp_peers, record_peers, send_datagram, wait_until, PeerLog};
use tokio::net::UdpSocket;

const PEERS: usize = 20;
const LIMIT: Duration = Duration::from_secs(30);
/// Most confirm_acks one peer records: far above what a test makes the node send.
const RECORD_MAX: usize = 10_000;

/// (peer index, account, rebroadcast flag) of every confirm_ack the peers received.
type Acks = PeerLog<(Account, bool)>;

/// Starts a dev node on 127.0.0.1 with UDP, voting with `rep` if given, after putting
/// `weights` (account, raw) into its ledger as sends from genesis, each account opened
/// and representing itself.
/// Returns the node and genesis's chain as it stands.
async fn start(
    dir: &std::path::Path,
    rep: Option<&KeyPair>,
    weights: &[(KeyPair, u128)],
) -> (Arc<Node>, Chain) {
    let mut c = dev_node_config(vec![], rep);
    c.enable_udp = true;
    let node = Node::start_with(NodeOptions::new(c, Network::Dev, dir))
        .await
        .expect("node starts");
    let mut g = Chain::dev_genesis();
    {
        let mut t = node.ledger.write_txn().unwrap();
        for (k, amount) in weights {
            let send = g.send(&k.public(), *amount);
            let open = Chain::unopened(k.clone()).receive(&send.hash(), *amount, Epoch::Epoch0);
            node.ledger.process(&mut t, &send).unwrap();
            node.ledger.process(&mut t, &open).unwrap();
            // Cemented, so the test's blocks are the first uncemented of genesis.
            node.ledger.confirm(&mut t, &open.hash()).unwrap();
        }
        t.commit().unwrap();
    }
    (node, g)
}

/// Handshakes `PEERS` raw UDP peers with `node` and records what each receives.
async fn peers(node: &Node) -> (Vec<Arc<UdpSocket>>, Acks, Vec<tokio::task::JoinHandle<()>>) {
    let socks = raw_udp_peers(node.local_endpoint().unwrap().port(), PEERS).await;
    let (acks, tasks) = record_peers(&socks, RECORD_MAX, |msg| match msg {
        Message::ConfirmAck(a) => vec![(a.vote.account, a.rebroadcast)],
        _ => Vec::new(),
    });
    assert!(
        wait_until(LIMIT, || node.peers().len() == PEERS).await,
        "peers: {}",
        node.peers().len()
    );
    (socks, acks, tasks)
}

/// A final vote (what confirms an election) of `key` for `block`, from `sock`.
async fn vote(sock: &UdpSocket, node: &Node, key: &KeyPair, block: &Block) {
    let msg = Message::ConfirmAck(Box::new(ConfirmAck {
        vote: Vote::new_final(key, vec![block.hash()]),
        rebroadcast: false,
    }));
    send_datagram(sock, node.local_endpoint().unwrap().port(), &msg).await;
}

fn count(acks: &Acks, f: impl Fn(&(usize, Account, bool)) -> bool) -> usize {
    acks.lock()
        .unwrap()
        .iter()
        .map(|&(i, (account, rebroadcast))| (i, account, rebroadcast))
        .filter(|a| f(a))
        .count()
}

/// Sends `blocks` genesis sends through `node`, each voted for by genesis from `voter`
/// once its election runs, and waits for each to be cemented.
async fn confirm_by_peer_votes(node: &Node, g: &mut Chain, voter: &UdpSocket, blocks: usize) {
    for i in 0..blocks {
        let b = g.send(&test_key(500 + i as u32).public(), 1);
        let h = submit(node, b.clone()).await;
        assert!(
            wait_until(LIMIT, || node
                .active_elections()
                .iter()
                .any(|e| e.winner == h)
                || cemented(node, &h))
            .await,
            "an election for block {i}"
        );
        vote(voter, node, &dev_genesis_key(), &b).await;
        assert!(
            wait_until(LIMIT, || cemented(node, &h)).await,
            "block {i} cemented"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_vote_is_relayed_to_half_the_plain_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut g) = start(dir.path(), None, &[]).await;
    let (socks, acks, tasks) = peers(&node).await;
    const BLOCKS: usize = 5;
    confirm_by_peer_votes(&node, &mut g, &socks[0], BLOCKS).await;
    // ceil(0.5·sqrt(20)) = 3 peers for each vote (the voter may be one of them); the old
    // rule sent each to ceil(sqrt(19)) = 5 others.
    let genesis = dev_genesis_key().public();
    let expected = 3 * BLOCKS;
    assert!(
        wait_until(LIMIT, || count(&acks, |a| a.1 == genesis && a.2)
            >= expected)
        .await,
        "relayed: {}",
        count(&acks, |a| a.1 == genesis && a.2)
    );
    // A quiet moment for any surplus to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&acks, |a| a.1 == genesis && a.2), expected);
    for t in tasks {
        t.abort();
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_voting_with_half_a_principal_weight_relays_no_vote() {
    let dir = tempfile::tempdir().unwrap();
    // 1% of the supply: far above half a principal representative's weight (0.05% of
    // the trended online weight, at most the supply), far below quorum.
    let rep = test_key(41);
    let share = u128::MAX / 100;
    let (node, mut g) = start(dir.path(), Some(&rep), &[(rep.clone(), share)]).await;
    let (socks, acks, tasks) = peers(&node).await;
    const BLOCKS: usize = 3;
    confirm_by_peer_votes(&node, &mut g, &socks[0], BLOCKS).await;
    // The node's own votes (by `rep`) did reach the peers, so they were listening.
    assert!(
        wait_until(LIMIT, || count(&acks, |a| a.1 == rep.public() && !a.2) > 0).await,
        "own votes"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let genesis = dev_genesis_key().public();
    assert_eq!(
        count(&acks, |a| a.1 == genesis),
        0,
        "genesis's votes relayed"
    );
    for t in tasks {
        t.abort();
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_votes_go_to_every_principal_representative_and_twice_the_plain_fan_out() {
    let dir = tempfile::tempdir().unwrap();
    // A principal representative among the peers: 10% of the supply.
    let pr = test_key(42);
    let (node, mut g) = start(
        dir.path(),
        Some(&dev_genesis_key()),
        &[(pr.clone(), u128::MAX / 10)],
    )
    .await;
    let (socks, acks, tasks) = peers(&node).await;
    // The crawler learns the principal representative from a vote of it.
    let probe = Chain::dev_genesis().send(&test_key(43).public(), 1);
    vote(&socks[0], &node, &pr, &probe).await;
    assert!(
        wait_until(LIMIT, || node
            .representatives_online()
            .iter()
            .any(|r| r.account == pr.public()))
        .await,
        "the principal representative is known"
    );
    // Genesis holds 90%: the node confirms its own blocks with its own votes.
    for i in 0..5u32 {
        let h = submit(&node, g.send(&test_key(600 + i).public(), 1)).await;
        assert!(wait_until(LIMIT, || cemented(&node, &h)).await);
    }
    let genesis = dev_genesis_key().public();
    let own = |a: &(usize, Account, bool)| a.1 == genesis && !a.2;
    // Every own vote reaches the principal representative (peer 0) ...
    let votes = count(&acks, |a| a.0 == 0 && own(a));
    assert!(votes > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let votes = count(&acks, |a| a.0 == 0 && own(a));
    // ... and ceil(2·sqrt(20)) = 9 random peers, so 8 or 9 of the other 19 (the old rule
    // sent each to ceil(sqrt(19)) = 5 of them).
    let others = count(&acks, |a| a.0 != 0 && own(a));
    assert!(
        (8 * votes..=9 * votes).contains(&others),
        "{votes} votes reached {others} other peers"
    );
    for t in tasks {
        t.abort();
    }
    node.stop().await;
}
