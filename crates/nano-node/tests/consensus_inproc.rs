//! Consensus over the in-memory loopback transport: several consensus instances with
//! their own ledgers in one process, the dev genesis key voting on node A (slot 0).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nano_core::{Block, BlockHash, KeyPair, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::{BlockStatus, Ledger};
use nano_messages::Vote;
use nano_node::consensus::loopback::{LoopbackHub, LoopbackOutbound};
use nano_node::consensus::{dev_voting_config, wait_until, Consensus, ConsensusConfig};
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use nano_node::stats::Stats;

const DEADLINE: Duration = Duration::from_secs(30);

struct TestNode {
    dir: PathBuf,
    ledger: Arc<Ledger>,
    consensus: Arc<Consensus>,
    events: EventBus,
    stats: Arc<Stats>,
    slot: usize,
}

impl TestNode {
    fn start(hub: &Arc<LoopbackHub>, slot: Option<usize>, dir: PathBuf, voting: bool) -> TestNode {
        let ledger = Arc::new(Ledger::open(&dir, Network::Dev).unwrap());
        let config = if voting {
            dev_voting_config()
        } else {
            ConsensusConfig::for_network(Network::Dev)
        };
        let events = EventBus::default();
        let stats = Arc::new(Stats::new());
        let c = Consensus::new(ledger.clone(), config, stats.clone(), events.clone());
        // A restarted node takes over its old slot.
        let out = match slot {
            Some(s) => Arc::new(LoopbackOutbound::for_slot(hub, s)),
            None => hub.join(),
        };
        let slot = out.slot();
        c.set_outbound(out);
        hub.attach(slot, c.clone());
        c.start().unwrap();
        TestNode {
            dir,
            ledger,
            consensus: c,
            events,
            stats,
            slot,
        }
    }

    fn cemented(&self, h: &BlockHash) -> bool {
        let txn = self.ledger.read_txn().unwrap();
        self.ledger.block_confirmed(&txn, h).unwrap_or(false)
            && self.ledger.block_exists(&txn, h).unwrap_or(false)
    }

    fn exists(&self, h: &BlockHash) -> bool {
        let txn = self.ledger.read_txn().unwrap();
        self.ledger.block_exists(&txn, h).unwrap()
    }

    fn process(&self, b: Block) -> BlockStatus {
        self.consensus
            .process_local_blocking(b, DEADLINE)
            .expect("processed")
    }
}

fn cluster(n: usize) -> (tempfile::TempDir, Arc<LoopbackHub>, Vec<TestNode>) {
    let tmp = tempfile::tempdir().unwrap();
    let hub = LoopbackHub::new();
    let nodes = (0..n)
        .map(|i| TestNode::start(&hub, None, tmp.path().join(format!("n{i}")), i == 0))
        .collect();
    (tmp, hub, nodes)
}

fn chain_blocks(n: usize) -> Vec<Block> {
    let mut g = Chain::dev_genesis();
    let dest = test_key(1).public();
    (0..n).map(|_| g.send(&dest, 1)).collect()
}

#[test]
fn single_node_confirms_with_dev_genesis_vote() {
    let (_tmp, _hub, nodes) = cluster(1);
    let a = &nodes[0];
    let mut rx = a.events.subscribe();
    let blocks = chain_blocks(3);
    for b in &blocks {
        assert_eq!(a.process(b.clone()), BlockStatus::Progress);
    }
    assert_eq!(a.process(blocks[0].clone()), BlockStatus::Old);
    let head = blocks[2].hash();
    assert!(
        wait_until(DEADLINE, || a.cemented(&head)),
        "head not cemented"
    );
    assert_eq!(a.ledger.cemented_count(), 4);
    // Events: new blocks, election started, confirmations with the right types.
    let mut quorum = 0;
    let mut height = 0;
    let mut new_blocks = 0;
    let mut started = 0;
    let ok = wait_until(DEADLINE, || {
        while let Ok(e) = rx.try_recv() {
            match e {
                NodeEvent::BlockConfirmed {
                    confirmation_type, ..
                } => match confirmation_type {
                    ConfirmationType::ActiveQuorum => quorum += 1,
                    ConfirmationType::ActiveConfirmationHeight => height += 1,
                    ConfirmationType::Inactive => {}
                },
                NodeEvent::NewUnconfirmedBlock { .. } => new_blocks += 1,
                NodeEvent::ElectionStarted { .. } => started += 1,
                _ => {}
            }
        }
        quorum + height == 3
    });
    assert!(ok, "quorum {quorum} height {height}");
    assert!(quorum >= 1);
    assert_eq!(new_blocks, 3);
    assert!(started >= 1);
    assert!(!a.consensus.confirmation_history().is_empty());
    let q = a.consensus.confirmation_quorum();
    assert!(q.quorum_delta > nano_core::Amount::ZERO);
    // block_confirm on a cemented block announces it again, as the reference does, as
    // confirmed by confirmation height, under the next confirmation sequence (the three
    // cemented blocks hold 1..=3).
    assert_eq!(
        a.consensus.block_confirm(&head).unwrap(),
        nano_node::consensus::BlockConfirmOutcome::AlreadyConfirmed
    );
    let mut again = None;
    assert!(wait_until(DEADLINE, || {
        while let Ok(e) = rx.try_recv() {
            if let NodeEvent::BlockConfirmed {
                hash,
                confirmation_type,
                sequence,
                ..
            } = e
            {
                again = Some((hash, confirmation_type, sequence));
            }
        }
        again.is_some()
    }));
    assert_eq!(
        again,
        Some((head, ConfirmationType::ActiveConfirmationHeight, Some(4)))
    );
    assert!(a.consensus.block_confirm(&BlockHash([7; 32])).is_err());
}

#[test]
fn bad_blocks_are_rejected_before_the_ledger() {
    let (_tmp, _hub, nodes) = cluster(1);
    let a = &nodes[0];
    let mut blocks = chain_blocks(2);
    let mut bad_sig = blocks[0].clone();
    bad_sig.set_signature(nano_core::Signature([1; 64]));
    assert_eq!(a.process(bad_sig), BlockStatus::BadSignature);
    let mut bad_work = blocks[0].clone();
    bad_work.set_work(nano_ledger::test_support::bad_work(
        &bad_work.root(),
        Network::Dev.params().work.entry,
    ));
    assert_eq!(a.process(bad_work), BlockStatus::InsufficientWork);
    // Out of order: the second block waits as unchecked and goes in after the first.
    let second = blocks.pop().unwrap();
    let first = blocks.pop().unwrap();
    assert_eq!(a.process(second.clone()), BlockStatus::GapPrevious);
    assert_eq!(a.consensus.unchecked_len(), 1);
    assert_eq!(a.process(first), BlockStatus::Progress);
    let h = second.hash();
    assert!(wait_until(DEADLINE, || a.cemented(&h)));
    assert_eq!(a.consensus.unchecked_len(), 0);
}

/// The checker thread checks queued blocks beside the writer: a burst of more than two
/// write batches submitted at once (as bootstrap does) gets every answer, in chain order;
/// a forged block in the middle is refused with `bad_signature` and stays out, so the
/// blocks after it wait as gap blocks; the queue drains to nothing.
#[test]
fn checked_beside_the_writer_every_block_answered_forged_one_refused() {
    let (_tmp, _hub, nodes) = cluster(1);
    let a = &nodes[0];
    let n = 2 * nano_node::consensus::limits::BLOCK_BATCH_MAX + 100;
    let forged_at = nano_node::consensus::limits::BLOCK_BATCH_MAX + 50;
    let mut blocks = chain_blocks(n);
    blocks[forged_at].set_signature(nano_core::Signature([1; 64]));
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, b) in blocks.iter().enumerate() {
        let tx = tx.clone();
        let queued = a.consensus.submit(
            b.clone(),
            nano_node::consensus::BlockSource::Bootstrap,
            Some(Box::new(move |status| {
                let _ = tx.send((i, status));
            })),
        );
        assert!(queued, "block {i} refused by the queue");
    }
    let mut answers = vec![None; n];
    for _ in 0..n {
        let (i, status) = rx
            .recv_timeout(DEADLINE)
            .expect("an answer for every block");
        answers[i] = Some(status.expect("processed, not refused"));
    }
    for (i, st) in answers.iter().enumerate() {
        let want = match i.cmp(&forged_at) {
            std::cmp::Ordering::Less => BlockStatus::Progress,
            std::cmp::Ordering::Equal => BlockStatus::BadSignature,
            std::cmp::Ordering::Greater => BlockStatus::GapPrevious,
        };
        assert_eq!(*st, Some(want), "block {i}");
    }
    assert!(a.exists(&blocks[forged_at - 1].hash()));
    assert!(!a.exists(&blocks[forged_at].hash()));
    assert_eq!(a.consensus.queue_len(), 0);
}

/// Bootstrap parks the tail of an answer behind a missing source itself
/// (`Consensus::park_chain`): the parked blocks go in once their dependency does, in
/// chain order, and are checked by the processor then (a forged one stays out).
#[test]
fn parked_chains_go_in_after_their_dependency_and_are_checked_then() {
    let (_tmp, _hub, nodes) = cluster(1);
    let a = &nodes[0];
    let blocks = chain_blocks(5);
    let mut forged = blocks[3].clone();
    forged.set_signature(nano_core::Signature([1; 64]));
    // Dependency missing: all three wait, none is in the ledger.
    a.consensus.park_chain(
        blocks[0].hash(),
        vec![blocks[1].clone(), blocks[2].clone(), forged],
    );
    assert_eq!(a.consensus.unchecked_len(), 3);
    assert!(!a.exists(&blocks[1].hash()));
    assert_eq!(a.process(blocks[0].clone()), BlockStatus::Progress);
    let h2 = blocks[2].hash();
    assert!(wait_until(DEADLINE, || a.exists(&h2)
        && a.consensus.unchecked_len() == 0));
    // Dependency already in the ledger: released at once. The genuine block 3 goes in
    // (the forged copy, released before it, was refused) and block 4 after it.
    a.consensus
        .park_chain(h2, vec![blocks[3].clone(), blocks[4].clone()]);
    let h4 = blocks[4].hash();
    assert!(wait_until(DEADLINE, || a.exists(&h4)));
    let txn = a.ledger.read_txn().unwrap();
    let stored = a.ledger.block(&txn, &blocks[3].hash()).unwrap().unwrap();
    assert_eq!(stored.block.signature(), blocks[3].signature());
    assert_eq!(a.consensus.unchecked_len(), 0);
}

/// A watcher (the ascending bootstrap client) hears of every send the writer inserts,
/// with its destination: submitted ones after their own answer, and ones released from
/// the gap table (which answer nobody); receives are not reported.
#[test]
fn inserted_sends_are_reported_to_a_watcher_after_their_answers() {
    let (_tmp, _hub, nodes) = cluster(1);
    let a = &nodes[0];
    a.consensus.watch_inserted_sends(true);
    let key = test_key(1);
    let to = key.public();
    let sends = chain_blocks(4);
    let mut opened = Chain::unopened(key);
    let open = opened.receive(&sends[0].hash(), 1, nano_core::Epoch::Epoch0);
    // Two sends wait in the gap table for the first, and go in when it does.
    a.consensus
        .park_chain(sends[0].hash(), vec![sends[1].clone(), sends[2].clone()]);
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let submit = |b: &Block| {
        let answered = answered.clone();
        let queued = a.consensus.submit(
            b.clone(),
            nano_node::consensus::BlockSource::Bootstrap,
            Some(Box::new(move |st| {
                assert_eq!(st.unwrap(), BlockStatus::Progress);
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })),
        );
        assert!(queued);
    };
    submit(&sends[0]);
    let mut heard = Vec::new();
    let mut buf = Vec::new();
    let mut take_until = |last: BlockHash, answers: usize| {
        wait_until(DEADLINE, || {
            assert!(!a.consensus.take_inserted_sends(&mut buf), "none missed");
            for s in &buf {
                if s.0 == sends[0].hash() || s.0 == sends[3].hash() {
                    // Its own answer came first.
                    assert!(answered.load(std::sync::atomic::Ordering::SeqCst) >= answers);
                }
            }
            heard.append(&mut buf);
            heard.last().is_some_and(|s| s.0 == last)
        })
    };
    assert!(take_until(sends[2].hash(), 1), "heard {heard:?}");
    // The open is a receive: only the send after it is reported.
    submit(&open);
    submit(&sends[3]);
    assert!(take_until(sends[3].hash(), 3), "heard {heard:?}");
    let want: Vec<(BlockHash, nano_core::Account)> = sends.iter().map(|s| (s.hash(), to)).collect();
    assert_eq!(heard, want);
    assert!(a.exists(&open.hash()));
}

#[test]
fn send_on_b_is_cemented_on_all_three() {
    let (_tmp, _hub, nodes) = cluster(3);
    let b = chain_blocks(1).remove(0);
    let h = b.hash();
    assert_eq!(nodes[1].process(b), BlockStatus::Progress);
    for (i, n) in nodes.iter().enumerate() {
        assert!(wait_until(DEADLINE, || n.cemented(&h)), "node {i}");
    }
}

#[test]
fn burst_of_1000_is_cemented_everywhere() {
    let (_tmp, _hub, nodes) = cluster(3);
    // A chain from genesis plus opens and sends over a few accounts.
    let mut g = Chain::dev_genesis();
    let mut blocks = Vec::new();
    let mut accounts: Vec<Chain> = (0..10)
        .map(|i| Chain::unopened(test_key(100 + i)))
        .collect();
    for acc in accounts.iter_mut() {
        let s = g.send(&acc.account, 1000);
        let h = s.hash();
        blocks.push(s);
        blocks.push(acc.receive(&h, 1000, nano_core::Epoch::Epoch0));
    }
    while blocks.len() < 1000 {
        let i = blocks.len() % 10;
        blocks.push(accounts[i].send(&g.account, 1));
    }
    let last: Vec<BlockHash> = accounts.iter().map(|a| a.head).chain([g.head]).collect();
    let c = nodes[1].consensus.clone();
    for b in blocks {
        assert!(c.submit(b, nano_node::consensus::BlockSource::Local, None));
    }
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            wait_until(DEADLINE, || last.iter().all(|h| n.cemented(h))),
            "node {i}: cemented {}",
            n.ledger.cemented_count()
        );
        assert_eq!(n.ledger.cemented_count(), 1001);
    }
}

#[test]
fn fork_resolves_to_one_winner_everywhere() {
    let (_tmp, _hub, nodes) = cluster(3);
    let g = Chain::dev_genesis();
    let (mut g1, mut g2) = (g.clone(), g);
    let s1 = g1.send(&test_key(1).public(), 10);
    let s2 = g2.send(&test_key(2).public(), 20);
    // Both sides submitted at once on B and C.
    let (c1, c2) = (nodes[1].consensus.clone(), nodes[2].consensus.clone());
    let (b1, b2) = (s1.clone(), s2.clone());
    let t1 = std::thread::spawn(move || c1.process_local_blocking(b1, DEADLINE));
    let t2 = std::thread::spawn(move || c2.process_local_blocking(b2, DEADLINE));
    let _ = t1.join().unwrap();
    let _ = t2.join().unwrap();
    let (h1, h2) = (s1.hash(), s2.hash());
    let ok = wait_until(DEADLINE, || {
        let w1 = nodes.iter().all(|n| n.cemented(&h1) && !n.exists(&h2));
        let w2 = nodes.iter().all(|n| n.cemented(&h2) && !n.exists(&h1));
        w1 || w2
    });
    for (i, n) in nodes.iter().enumerate() {
        eprintln!("node {i}: s1 {} s2 {}", n.exists(&h1), n.exists(&h2));
    }
    assert!(ok, "no single winner everywhere");
    for n in &nodes {
        let txn = n.ledger.read_txn().unwrap();
        n.ledger.check_consistency(&txn).expect("consistent ledger");
    }
}

#[test]
fn votes_without_weight_confirm_nothing() {
    let (_tmp, _hub, nodes) = cluster(2);
    // Node B has no representative; A is the only rep: detach A's voting by using B alone.
    let b = &nodes[1];
    nodes[0].consensus.stop();
    let block = chain_blocks(1).remove(0);
    let h = block.hash();
    assert_eq!(b.process(block), BlockStatus::Progress);
    let nobody = KeyPair::random();
    for _ in 0..5 {
        b.consensus
            .process_vote(Vote::new_final(&nobody, vec![h]), Some(0));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        b.consensus
            .process_vote(Vote::new_signed(&nobody, now, 9, vec![h]), Some(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(!b.cemented(&h));
    // The genesis representative's final vote does confirm it.
    b.consensus
        .process_vote(Vote::new_final(&dev_genesis_key(), vec![h]), Some(0));
    let ok = wait_until(Duration::from_secs(5), || b.cemented(&h));
    eprintln!("elections {:?}", b.consensus.active_elections());
    eprintln!("quorum {:?}", b.consensus.confirmation_quorum());
    eprintln!("stats {:?}", b.stats.snapshot());
    assert!(ok);
}

#[test]
fn restarted_node_catches_up() {
    let (tmp, hub, mut nodes) = cluster(3);
    let blocks = chain_blocks(300);
    let c = nodes[1].consensus.clone();
    for b in &blocks[..100] {
        c.submit(b.clone(), nano_node::consensus::BlockSource::Local, None);
    }
    // Stop C in the middle of the burst.
    std::thread::sleep(Duration::from_millis(50));
    let stopped = nodes.remove(2);
    hub.detach(stopped.slot);
    stopped.consensus.stop();
    let dir = stopped.dir.clone();
    drop(stopped);
    for b in &blocks[100..] {
        c.submit(b.clone(), nano_node::consensus::BlockSource::Local, None);
    }
    let head = blocks.last().unwrap().hash();
    assert!(wait_until(DEADLINE, || nodes[1].cemented(&head)));
    // Restart C on the same ledger; one more block makes it notice the gap.
    let restarted = TestNode::start(&hub, Some(2), dir, false);
    let mut g = Chain::dev_genesis();
    for _ in 0..300 {
        g.send(&test_key(1).public(), 1);
    }
    let extra = g.send(&test_key(1).public(), 1);
    let eh = extra.hash();
    assert_eq!(nodes[1].process(extra), BlockStatus::Progress);
    let ok = wait_until(DEADLINE, || restarted.cemented(&eh));
    eprintln!(
        "restarted node: cemented {} unchecked {}",
        restarted.ledger.cemented_count(),
        restarted.consensus.unchecked_len()
    );
    assert!(ok, "restarted node did not catch up");
    drop(tmp);
}

/// The cementing order recorded in `n`'s confirmation log: (hash, elected?).
fn cementing_order(n: &TestNode) -> Vec<(BlockHash, bool)> {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger
        .store()
        .confirmations_from(&txn, 0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.hash, r.origin == nano_store::ConfirmationOrigin::Elected))
        .collect()
}

#[test]
fn chain_of_2000_is_cemented_in_dependency_order_one_election_each() {
    let (_tmp, _hub, nodes) = cluster(3);
    let blocks = chain_blocks(2000);
    let c = nodes[1].consensus.clone();
    for b in &blocks {
        assert!(c.submit(b.clone(), nano_node::consensus::BlockSource::Local, None));
    }
    let head = blocks.last().unwrap().hash();
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            wait_until(Duration::from_secs(120), || n.cemented(&head)),
            "node {i}: cemented {}",
            n.ledger.cemented_count()
        );
    }
    let index: std::collections::HashMap<BlockHash, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.hash(), i))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let order = cementing_order(n);
        let chain: Vec<(usize, bool)> = order
            .iter()
            .filter_map(|(h, e)| index.get(h).map(|&k| (k, *e)))
            .collect();
        assert_eq!(chain.len(), 2000, "node {i}: every chain block logged once");
        assert!(
            chain.windows(2).all(|w| w[0].0 + 1 == w[1].0),
            "node {i}: cemented in chain order"
        );
        if i == 0 {
            // The representative's node elects every block itself: it never votes
            // for a block above an unconfirmed one, so no block rides on a later
            // block's election there.
            assert!(
                chain.iter().all(|(_, elected)| *elected),
                "voting node: a block was cemented as a dependency"
            );
        }
    }
}

#[test]
fn node_started_with_an_unconfirmed_backlog_confirms_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backlog");
    let blocks = chain_blocks(500);
    {
        // A ledger left by a previous run: 500 blocks processed, none cemented.
        let ledger = Ledger::open(&dir, Network::Dev).unwrap();
        let mut txn = ledger.write_txn().unwrap();
        for b in &blocks {
            ledger.process(&mut txn, b).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(ledger.cemented_count(), 1);
    }
    let hub = LoopbackHub::new();
    let n = TestNode::start(&hub, None, dir, true);
    let head = blocks.last().unwrap().hash();
    assert!(
        wait_until(Duration::from_secs(60), || n.cemented(&head)),
        "backlog walk found the chain: cemented {}",
        n.ledger.cemented_count()
    );
    assert_eq!(n.ledger.cemented_count(), 501);
}
