//! The vote rules under random input: generated ledgers with forks and receives, votes
//! of other representatives (normal and final, for any block, in any order),
//! confirm_reqs, and restarts of the node on the same ledger. Every vote the node's own
//! representative sends is checked at the moment it leaves:
//!
//! * the block is in the node's ledger and its dependents (previous; the source of a
//!   receive) are cemented;
//! * never two final votes for different blocks at one qualified root (across restarts);
//! * never a normal vote contradicting the node's own final vote at that root.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use nano_core::{
    Account, Amount, Block, BlockHash, Epoch, KeyPair, Network, PublicKey, QualifiedRoot,
};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;
use nano_messages::{ConfirmReq, Message, Vote};
use nano_node::consensus::{wait_until, BlockSource, Consensus, ConsensusConfig};
use nano_node::events::EventBus;
use nano_node::interfaces::{ChannelId, ChannelInfo, Inbound, Outbound, TrafficType};
use nano_node::stats::Stats;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the test knows about a block it made.
#[derive(Clone)]
struct Made {
    block: Block,
    /// The send a receive consumes.
    source: Option<BlockHash>,
}

#[derive(Default)]
struct Record {
    finals: HashMap<QualifiedRoot, BlockHash>,
    normal_votes: usize,
    final_votes: usize,
    violations: Vec<String>,
}

/// The network as the node sees it: checks every vote of the local representative.
struct Recorder {
    local: Account,
    ledger: RwLock<Option<Arc<Ledger>>>,
    made: Mutex<HashMap<BlockHash, Made>>,
    record: Mutex<Record>,
}

impl Recorder {
    fn check(&self, msg: &Message) {
        let Message::ConfirmAck(ack) = msg else {
            return;
        };
        let vote = &ack.vote;
        if vote.account != self.local {
            return;
        }
        let ledger = self
            .ledger
            .read()
            .unwrap()
            .clone()
            .expect("ledger attached");
        let made = self.made.lock().unwrap();
        let mut rec = self.record.lock().unwrap();
        let is_final = vote.timestamp == Vote::FINAL_TIMESTAMP;
        let txn = ledger.read_txn().unwrap();
        for h in &vote.hashes {
            let Some(m) = made.get(h) else {
                rec.violations.push(format!("vote for unknown block {h}"));
                continue;
            };
            if !ledger.block_exists(&txn, h).unwrap() {
                rec.violations
                    .push(format!("vote for {h}, not in the ledger"));
            }
            let prev = m.block.previous();
            let cemented = |x: &BlockHash| ledger.block_confirmed(&txn, x).unwrap();
            if !prev.is_zero() && !cemented(&prev) {
                rec.violations
                    .push(format!("vote for {h} with uncemented previous {prev}"));
            }
            if let Some(s) = m.source {
                if !cemented(&s) {
                    rec.violations
                        .push(format!("vote for {h} with uncemented source {s}"));
                }
            }
            let root = m.block.qualified_root();
            match (rec.finals.get(&root).copied(), is_final) {
                (Some(f), true) if f != *h => rec
                    .violations
                    .push(format!("second final vote at a root: {f} then {h}")),
                (Some(f), false) if f != *h => rec
                    .violations
                    .push(format!("normal vote for {h} after final vote for {f}")),
                (None, true) => {
                    rec.finals.insert(root, *h);
                }
                _ => {}
            }
            if is_final {
                rec.final_votes += 1;
            } else {
                rec.normal_votes += 1;
            }
        }
    }
}

impl Outbound for Recorder {
    fn send(&self, _channel: ChannelId, msg: &Message, _traffic: TrafficType) -> bool {
        self.check(msg);
        true
    }
    fn flood(&self, msg: &Message, _scale: f32) -> usize {
        self.check(msg);
        1
    }
    fn broadcast(&self, msg: &Message) -> usize {
        self.check(msg);
        1
    }
    fn channels(&self) -> Vec<ChannelInfo> {
        vec![peer()]
    }
}

fn peer() -> ChannelInfo {
    ChannelInfo {
        id: 7,
        endpoint: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7075, 0, 0),
        node_id: PublicKey::from_bytes([7; 32]),
        protocol_version: nano_core::network::PROTOCOL_VERSION,
    }
}

/// Genesis spreads the supply over three representatives (40/30/30, a little left on
/// genesis to send from), all cemented before the node starts.
fn setup(dir: &Path, reps: &[KeyPair]) -> (Vec<Chain>, Vec<Made>) {
    let ledger = Ledger::open(&dir.join("data.ldb"), Network::Dev).unwrap();
    let mut g = Chain::dev_genesis();
    let tenth = u128::MAX / 10;
    let shares = [4 * tenth, 3 * tenth, 3 * tenth - 1_000_000];
    let mut chains = Vec::new();
    let mut made = Vec::new();
    let mut txn = ledger.write_txn().unwrap();
    for (k, share) in reps.iter().zip(shares) {
        let s = g.send(&k.public(), share);
        let mut c = Chain::unopened(k.clone());
        let o = c.receive(&s.hash(), share, Epoch::Epoch0);
        for b in [&s, &o] {
            ledger.process(&mut txn, b).unwrap();
        }
        ledger.confirm(&mut txn, &o.hash()).unwrap();
        made.push(Made {
            block: s.clone(),
            source: None,
        });
        made.push(Made {
            block: o,
            source: Some(s.hash()),
        });
        chains.push(c);
    }
    txn.commit().unwrap();
    chains.push(g);
    (chains, made)
}

struct Running {
    ledger: Arc<Ledger>,
    consensus: Arc<Consensus>,
}

fn start(dir: &Path, local: &KeyPair, rec: &Arc<Recorder>) -> Running {
    let ledger = Arc::new(Ledger::open(&dir.join("data.ldb"), Network::Dev).unwrap());
    let mut config = ConsensusConfig::for_network(Network::Dev);
    config.enable_voting = true;
    config.representative_keys = vec![local.clone()];
    config.vote_weight_minimum = Amount::ZERO;
    let c = Consensus::new(
        ledger.clone(),
        config,
        Arc::new(Stats::new()),
        EventBus::default(),
    );
    *rec.ledger.write().unwrap() = Some(ledger.clone());
    c.set_outbound(rec.clone());
    c.start().unwrap();
    Running {
        ledger,
        consensus: c,
    }
}

fn stop(r: Running, rec: &Recorder) {
    r.consensus.stop();
    r.consensus.detach();
    *rec.ledger.write().unwrap() = None;
    drop(r);
}

/// Runs one random scenario; returns the (normal, final) votes checked.
fn run(seed: u64) -> (usize, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let reps: Vec<KeyPair> = (0..3).map(|i| test_key(500 + i)).collect();
    let (mut chains, setup_blocks) = setup(tmp.path(), &reps);
    let rec = Arc::new(Recorder {
        local: reps[0].public(),
        ledger: RwLock::new(None),
        made: Mutex::new(
            setup_blocks
                .iter()
                .map(|m| (m.block.hash(), m.clone()))
                .collect(),
        ),
        record: Mutex::new(Record::default()),
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut node = start(tmp.path(), &reps[0], &rec);
    let mut all: Vec<BlockHash> = setup_blocks.iter().map(|m| m.block.hash()).collect();
    // Sends to the chains' accounts not yet received: (chain index, send hash).
    let mut pending: Vec<(usize, BlockHash)> = Vec::new();
    let mut ts = 1u64;
    let n = chains.len();
    for step in 0..150 {
        let mut new_blocks = Vec::new();
        match rng.random_range(0..10) {
            0..=2 => {
                let i = rng.random_range(0..n);
                let j = rng.random_range(0..n);
                let dest = chains[j].account;
                let b = chains[i].send(&dest, 1);
                pending.push((j, b.hash()));
                new_blocks.push(Made {
                    block: b,
                    source: None,
                });
            }
            3 => {
                // A fork: two sends at one root, both published.
                let i = rng.random_range(0..n);
                let mut alt = chains[i].clone();
                let dest = chains[(i + 1) % n].account;
                let a = chains[i].send(&dest, 1);
                let b = alt.send(&test_key(900 + step).public(), 1);
                pending.push(((i + 1) % n, a.hash()));
                if rng.random_bool(0.5) {
                    // The node may see the other side first; the test's chain follows it.
                    chains[i] = alt;
                }
                for x in [a, b] {
                    new_blocks.push(Made {
                        block: x,
                        source: None,
                    });
                }
            }
            4 if !pending.is_empty() => {
                let k = rng.random_range(0..pending.len());
                let (j, s) = pending.swap_remove(k);
                let b = chains[j].receive(&s, 1, Epoch::Epoch0);
                new_blocks.push(Made {
                    block: b,
                    source: Some(s),
                });
            }
            5..=7 if !all.is_empty() => {
                // Other representatives vote for random blocks, in any order.
                let who = &reps[rng.random_range(1..3)];
                let hashes: Vec<BlockHash> = (0..rng.random_range(1..4))
                    .map(|_| all[rng.random_range(0..all.len())])
                    .collect();
                ts += 1;
                let v = if rng.random_bool(0.3) {
                    Vote::new_final(who, hashes)
                } else {
                    Vote::new_signed(who, ts, Vote::DEFAULT_DURATION_CODE, hashes)
                };
                node.consensus.process_vote(v, Some(7));
            }
            8 if !all.is_empty() => {
                let pairs = (0..rng.random_range(1..4))
                    .map(|_| {
                        let h = all[rng.random_range(0..all.len())];
                        let m = rec.made.lock().unwrap()[&h].clone();
                        (h, m.block.root())
                    })
                    .collect();
                node.consensus
                    .on_message(&peer(), Message::ConfirmReq(ConfirmReq { pairs }));
            }
            9 => {
                stop(node, &rec);
                node = start(tmp.path(), &reps[0], &rec);
            }
            _ => {}
        }
        for m in new_blocks {
            let h = m.block.hash();
            rec.made.lock().unwrap().insert(h, m.clone());
            all.push(h);
            node.consensus.submit(m.block, BlockSource::Peer(7), None);
        }
        if rng.random_bool(0.3) {
            std::thread::sleep(Duration::from_millis(rng.random_range(1..30)));
        }
    }
    // Let queued work finish, then check the store agrees with what went out.
    wait_until(Duration::from_secs(2), || node.consensus.queue_len() == 0);
    std::thread::sleep(Duration::from_millis(300));
    let ledger = node.ledger.clone();
    stop(node, &rec);
    let rec = rec.record.lock().unwrap();
    assert!(
        rec.violations.is_empty(),
        "seed {seed}: {:#?}",
        rec.violations
    );
    let txn = ledger.read_txn().unwrap();
    for (root, h) in &rec.finals {
        assert_eq!(
            ledger.store().final_vote(&txn, root).unwrap(),
            Some(*h),
            "seed {seed}: final_votes table disagrees with the final vote sent"
        );
    }
    eprintln!(
        "seed {seed}: {} normal and {} final votes checked",
        rec.normal_votes, rec.final_votes
    );
    (rec.normal_votes, rec.final_votes)
}

#[test]
fn local_votes_follow_the_rules_under_random_input() {
    let (mut normal, mut finals) = (0, 0);
    for seed in 0..6 {
        let (n, f) = run(seed);
        normal += n;
        finals += f;
    }
    // The checks above only mean something if the node did vote.
    assert!(normal > 0 && finals > 0, "normal {normal} final {finals}");
}
