//! One test per election scheduler, on a node that does not vote and starts on a
//! ledger left with uncemented blocks (the dev genesis key, holding all weight, votes
//! from "outside" through `process_vote`). Priority scheduling (each account's first
//! uncemented block, one election after another) is covered by consensus_inproc's
//! 2,000-block chain and backlog tests.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nano_core::{Block, BlockHash, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::Ledger;
use nano_messages::{Message, Vote};
use nano_node::consensus::{wait_until, Consensus, ConsensusConfig};
use nano_node::events::EventBus;
use nano_node::interfaces::{ChannelId, ChannelInfo, Outbound, PrincipalRep, TrafficType};
use nano_node::stats::Stats;

const DEADLINE: Duration = Duration::from_secs(30);

/// Records the hashes of every confirm_req the node sends.
#[derive(Default)]
struct Requests(Mutex<Vec<BlockHash>>);

impl Requests {
    fn record(&self, msg: &Message) {
        if let Message::ConfirmReq(r) = msg {
            self.0
                .lock()
                .unwrap()
                .extend(r.pairs.iter().map(|(h, _)| *h));
        }
    }
    fn asked(&self, h: &BlockHash) -> bool {
        self.0.lock().unwrap().contains(h)
    }
}

impl Outbound for Requests {
    fn send(&self, _c: ChannelId, msg: &Message, _t: TrafficType) -> bool {
        self.record(msg);
        true
    }
    fn flood(&self, msg: &Message, _scale: f32) -> usize {
        self.record(msg);
        1
    }
    fn broadcast(&self, msg: &Message) -> usize {
        self.record(msg);
        1
    }
    fn channels(&self) -> Vec<ChannelInfo> {
        Vec::new()
    }
    /// The dev genesis representative, whom elections ask for votes.
    fn principal_representatives(&self) -> Vec<PrincipalRep> {
        vec![PrincipalRep {
            account: dev_genesis_key().public(),
            channel: 1,
        }]
    }
}

struct TestNode {
    ledger: Arc<Ledger>,
    consensus: Arc<Consensus>,
    stats: Arc<Stats>,
    requests: Arc<Requests>,
}

impl TestNode {
    fn cemented(&self, h: &BlockHash) -> bool {
        let txn = self.ledger.read_txn().unwrap();
        self.ledger.block_confirmed(&txn, h).unwrap()
    }
}

/// A non-voting node on a ledger holding `n` uncemented sends from genesis.
fn node_with_backlog(dir: &Path, n: usize) -> (TestNode, Vec<Block>) {
    let mut g = Chain::dev_genesis();
    let blocks: Vec<Block> = (0..n).map(|_| g.send(&test_key(1).public(), 1)).collect();
    let ledger = Arc::new(Ledger::open(&dir.join("data.ldb"), Network::Dev).unwrap());
    let mut txn = ledger.write_txn().unwrap();
    for b in &blocks {
        ledger.process(&mut txn, b).unwrap();
    }
    txn.commit().unwrap();
    let stats = Arc::new(Stats::new());
    let c = Consensus::new(
        ledger.clone(),
        ConsensusConfig::for_network(Network::Dev),
        stats.clone(),
        EventBus::default(),
    );
    let requests = Arc::new(Requests::default());
    c.set_outbound(requests.clone());
    c.start().unwrap();
    let node = TestNode {
        ledger,
        consensus: c,
        stats,
        requests,
    };
    (node, blocks)
}

#[test]
fn hinted_election_for_a_block_with_enough_cached_votes() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, blocks) = node_with_backlog(tmp.path(), 3);
    let first = blocks[0].hash();
    // The priority scheduler elects the first uncemented block only.
    assert!(wait_until(DEADLINE, || n.consensus.election_active(&first)));
    let third = blocks[2].hash();
    assert!(!n.consensus.election_active(&third));
    // All the weight final-votes the third block: cached, then hinted into an
    // election, which confirms it and cements the two blocks below it.
    let v = Vote::new_final(&dev_genesis_key(), vec![third]);
    n.consensus.process_vote(v, Some(1));
    assert!(
        wait_until(DEADLINE, || n.cemented(&third)),
        "hinted elections {}",
        n.stats.get("election_scheduler", "hinted", "in")
    );
    assert!(n.cemented(&first));
    assert_eq!(n.stats.get("election_scheduler", "hinted", "in"), 1);
    n.consensus.stop();
}

#[test]
fn optimistic_election_for_the_head_of_a_long_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, blocks) = node_with_backlog(tmp.path(), 40);
    let head = blocks.last().unwrap().hash();
    // 40 uncemented blocks is more than the gap: the head gets an election and the
    // node asks representatives about it.
    assert!(wait_until(DEADLINE, || n.consensus.election_active(&head)
        && n.requests.asked(&head)));
    assert_eq!(n.stats.get("election_scheduler", "optimistic", "in"), 1);
    // A representative that cemented the chain answers with a final vote for the
    // head: one election cements all 40.
    let v = Vote::new_final(&dev_genesis_key(), vec![head]);
    n.consensus.process_vote(v, Some(1));
    assert!(wait_until(DEADLINE, || n.cemented(&head)));
    assert_eq!(n.ledger.cemented_count(), 41);
    n.consensus.stop();
}

#[test]
fn manual_election_for_any_uncemented_block() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, blocks) = node_with_backlog(tmp.path(), 3);
    let second = blocks[1].hash();
    assert!(wait_until(DEADLINE, || n
        .consensus
        .election_active(&blocks[0].hash())));
    assert!(!n.consensus.election_active(&second));
    assert_eq!(
        n.consensus.block_confirm(&second).unwrap(),
        nano_node::consensus::BlockConfirmOutcome::Started
    );
    assert!(n.consensus.election_active(&second));
    n.consensus.stop();
}
