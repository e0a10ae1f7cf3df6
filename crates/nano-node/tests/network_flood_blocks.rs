//! What an election sends, by the reference's `confirmation_solicitor`: confirm_reqs go
//! to principal representatives only, and the winner is published (not on arrival, as
//! the block processor republishes nothing) to the principal representatives that have
//! not voted for it and to ceil(0.5·sqrt(peers)) random peers. A real node on 127.0.0.1
//! with twenty raw UDP peers; the one of peer 0 is a principal representative.

mod consensus_support;
mod network_support;

use std::sync::Arc;
use std::time::Duration;

use consensus_support::cemented;
use nano_core::{Block, BlockHash, Epoch, KeyPair, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_messages::{ConfirmAck, Message, Publish, Vote};
use nano_node::node::{Node, NodeOptions};
use nano_node::test_utils::dev_node_config;
use network_support::{raw_udp_peers, record_peers, send_datagram, wait_until, PeerLog};
use tokio::net::UdpSocket;

const PEERS: usize = 20;
const LIMIT: Duration = Duration::from_secs(30);
/// Most messages one peer records: far above what the test makes the node send.
const RECORD_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// A block, and the originator flag.
    Publish(BlockHash, bool),
    ConfirmReq(BlockHash),
}

/// (peer index, what it received) for every publish and confirm_req hash.
type Log = PeerLog<Got>;

fn count(log: &Log, f: impl Fn(&(usize, Got)) -> bool) -> usize {
    log.lock().unwrap().iter().filter(|x| f(x)).count()
}

async fn send(sock: &UdpSocket, node: &Node, msg: Message) {
    send_datagram(sock, node.local_endpoint().unwrap().port(), &msg).await;
}

fn final_vote(key: &KeyPair, block: &Block) -> Message {
    Message::ConfirmAck(Box::new(ConfirmAck {
        vote: Vote::new_final(key, vec![block.hash()]),
        rebroadcast: false,
    }))
}

/// A node that does not vote, with twenty raw UDP peers recording what they get; the
/// peer of index 0 is known as a principal representative (10% of the supply).
struct Setup {
    node: Arc<Node>,
    socks: Vec<Arc<UdpSocket>>,
    log: Log,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Genesis's chain as it stands.
    g: Chain,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut c = dev_node_config(vec![], None);
    c.enable_udp = true;
    let mut opts = NodeOptions::new(c, Network::Dev, dir.path());
    // The crawler's queries (a random frontier, to random peers) would name the
    // election's block too; representatives are still learnt from their votes.
    opts.network_flags.disable_rep_crawler = true;
    let node = Node::start_with(opts).await.expect("node starts");
    let pr = test_key(42);
    let mut g = Chain::dev_genesis();
    {
        let amount = u128::MAX / 10;
        let send = g.send(&pr.public(), amount);
        let open = Chain::unopened(pr.clone()).receive(&send.hash(), amount, Epoch::Epoch0);
        let mut t = node.ledger.write_txn().unwrap();
        node.ledger.process(&mut t, &send).unwrap();
        node.ledger.process(&mut t, &open).unwrap();
        node.ledger.confirm(&mut t, &open.hash()).unwrap();
        t.commit().unwrap();
    }

    let socks = raw_udp_peers(node.local_endpoint().unwrap().port(), PEERS).await;
    let (log, tasks) = record_peers(&socks, RECORD_MAX, |msg| match msg {
        Message::Publish(p) => vec![Got::Publish(p.block.hash(), p.originator)],
        Message::ConfirmReq(r) => r.pairs.iter().map(|(h, _)| Got::ConfirmReq(*h)).collect(),
        _ => Vec::new(),
    });
    assert!(wait_until(LIMIT, || node.peers().len() == PEERS).await);

    // The crawler learns the principal representative from a vote of it.
    let probe = Chain::dev_genesis().send(&test_key(43).public(), 1);
    send(&socks[0], &node, final_vote(&pr, &probe)).await;
    assert!(
        wait_until(LIMIT, || node
            .representatives_online()
            .iter()
            .any(|r| r.account == pr.public()))
        .await,
        "the principal representative is known"
    );
    Setup {
        node,
        socks,
        log,
        tasks,
        g,
        _dir: dir,
    }
}

impl Setup {
    /// A genesis send to `test_key(key)`, published to the node by peer 1.
    async fn publish_from_peer_1(&mut self, key: u32) -> Block {
        let block = self.g.send(&test_key(key).public(), 1);
        let publish = Message::Publish(Box::new(Publish {
            block: block.clone(),
            originator: true,
        }));
        send(&self.socks[1], &self.node, publish).await;
        block
    }

    async fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        self.node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_asks_principal_representatives_and_publishes_its_winner_to_them_and_half_the_fan_out(
) {
    let mut s = setup().await;
    // Peer 1 publishes a block; its election asks peer 0 (twice, so it runs a while).
    let block = s.publish_from_peer_1(44).await;
    let h = block.hash();
    assert!(
        wait_until(LIMIT, || count(&s.log, |x| *x == (0, Got::ConfirmReq(h)))
            >= 2)
        .await,
        "the principal representative is asked"
    );
    // Genesis (90%) confirms it; the election ends.
    send(&s.socks[0], &s.node, final_vote(&dev_genesis_key(), &block)).await;
    assert!(wait_until(LIMIT, || cemented(&s.node, &h)).await);
    // A quiet moment for anything in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(
        count(&s.log, |x| x.0 != 0 && x.1 == Got::ConfirmReq(h)),
        0,
        "the election asked a peer that is no principal representative"
    );
    let published = s.node.stats.get("election", "broadcast_block", "out") as usize;
    assert!(published >= 1, "the election published its winner");
    // Each time: the principal representative (it had not voted), and ceil(0.5·sqrt(20))
    // = 3 random peers. Nothing on arrival (the old rule sent it to 5 at once).
    assert!(
        count(&s.log, |x| *x == (0, Got::Publish(h, false))) >= published,
        "the principal representative gets every copy"
    );
    assert_eq!(
        count(&s.log, |x| x.1 == Got::Publish(h, false)),
        4 * published
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_block_is_published_again_until_it_is_cemented() {
    let mut s = setup().await;
    let block = s.g.send(&test_key(45).public(), 1);
    let h = block.hash();
    assert_eq!(
        s.node.process_local(block.clone()).await,
        Ok(nano_ledger::BlockStatus::Progress)
    );
    // Nobody votes yet: the principal representative gets it at once and again after
    // 1 s and 2 s more (the dev network's step), as originator each time.
    assert!(
        wait_until(LIMIT, || count(&s.log, |x| *x
            == (0, Got::Publish(h, true)))
            >= 3)
        .await,
        "copies: {}",
        count(&s.log, |x| *x == (0, Got::Publish(h, true)))
    );
    assert!(!cemented(&s.node, &h));
    send(&s.socks[0], &s.node, final_vote(&dev_genesis_key(), &block)).await;
    assert!(wait_until(LIMIT, || cemented(&s.node, &h)).await);
    // Cemented: forgotten by the broadcaster.
    assert_eq!(
        s.node
            .stats
            .get("local_block_broadcaster", "cemented", "in"),
        1
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_confirmed_before_it_published_publishes_its_winner_once() {
    let mut s = setup().await;
    let block = s.publish_from_peer_1(46).await;
    let h = block.hash();
    // Confirmed by genesis as soon as its election runs, before the election has run
    // the request interval (500 ms on dev) after which it would publish.
    assert!(
        wait_until(LIMIT, || s
            .node
            .active_elections()
            .iter()
            .any(|e| e.winner == h))
        .await
    );
    send(&s.socks[0], &s.node, final_vote(&dev_genesis_key(), &block)).await;
    assert!(wait_until(LIMIT, || cemented(&s.node, &h)).await);
    // The next tick publishes the winner: to the principal representative (it had not
    // voted) and to ceil(0.5·sqrt(20)) = 3 random peers.
    assert!(
        wait_until(LIMIT, || count(&s.log, |x| x.1 == Got::Publish(h, false))
            >= 4)
        .await,
        "published to {}",
        count(&s.log, |x| x.1 == Got::Publish(h, false))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = s.node.stats.get("election", "broadcast_block", "out") as usize;
    assert_eq!(
        count(&s.log, |x| x.1 == Got::Publish(h, false)),
        4 * published
    );
    assert!(count(&s.log, |x| *x == (0, Got::Publish(h, false))) >= 1);
    s.stop().await;
}
