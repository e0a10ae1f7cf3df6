//! A confirmed winner on top of a long uncemented chain (what a bootstrapped ledger
//! leaves) is cemented in write transactions of at most `cement_batch_max` blocks: every
//! block is cemented once, reported once with the next confirmation sequence, the
//! winner last, as confirmed by its election.

use std::sync::Arc;
use std::time::Duration;

use nano_core::{BlockHash, Epoch, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::Ledger;
use nano_messages::Vote;
use nano_node::consensus::loopback::LoopbackHub;
use nano_node::consensus::{wait_until, Consensus, ConsensusConfig};
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use nano_node::stats::Stats;

const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn a_long_uncemented_chain_is_cemented_in_bounded_transactions() {
    const LIMIT: usize = 16;
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&tmp.path().join("data.ldb"), Network::Dev).unwrap());
    // Blocks written straight into the ledger, none cemented: two accounts paying
    // each other, so the winner depends on every block through both chains.
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let mut blocks = vec![g.send(&a.account, 1_000)];
    blocks.push(a.receive(&blocks[0].hash(), 1_000, Epoch::Epoch0));
    for _ in 0..60 {
        let s = a.send(&b.account, 5);
        let r = b.receive(&s.hash(), 5, Epoch::Epoch0);
        let s2 = b.send(&a.account, 2);
        let r2 = a.receive(&s2.hash(), 2, Epoch::Epoch0);
        blocks.extend([s, r, s2, r2]);
    }
    {
        let mut t = ledger.write_txn().unwrap();
        for blk in &blocks {
            ledger.process(&mut t, blk).unwrap();
        }
        t.commit().unwrap();
    }
    let winner = blocks.last().unwrap().hash();
    let total = blocks.len();
    assert!(total > 10 * LIMIT);

    // Not a voter itself: it votes only for blocks whose dependencies are cemented, so
    // the winner is confirmed by another representative's vote, as a bootstrapped
    // node's first confirmations are.
    let mut config = ConsensusConfig::for_network(Network::Dev);
    config.cement_batch_max = LIMIT;
    let events = EventBus::default();
    let stats = Arc::new(Stats::new());
    let c = Consensus::new(ledger.clone(), config, stats.clone(), events.clone());
    let hub = LoopbackHub::new();
    let out = hub.join();
    let slot = out.slot();
    c.set_outbound(out);
    hub.attach(slot, c.clone());
    let mut rx = events.subscribe();
    c.start().unwrap();
    c.block_confirm(&winner).unwrap();

    let mut seen: Vec<(BlockHash, ConfirmationType, Option<u64>)> = Vec::new();
    let mut polls = 0u32;
    let done = wait_until(DEADLINE, || {
        if polls % 50 == 0 && seen.is_empty() {
            c.process_vote(Vote::new_final(&dev_genesis_key(), vec![winner]), Some(0));
        }
        polls += 1;
        while let Ok(e) = rx.try_recv() {
            if let NodeEvent::BlockConfirmed {
                hash,
                confirmation_type,
                sequence,
                ..
            } = e
            {
                seen.push((hash, confirmation_type, sequence));
            }
        }
        seen.len() >= total
    });
    assert!(done, "{} of {total} confirmations reported", seen.len());
    assert_eq!(ledger.cemented_count(), 1 + total as u64);
    // Each block once, numbered 1, 2, 3, ... in the order they were cemented.
    let sequences: Vec<u64> = seen.iter().map(|s| s.2.unwrap()).collect();
    assert_eq!(sequences, (1..=total as u64).collect::<Vec<_>>());
    let mut hashes: Vec<BlockHash> = seen.iter().map(|s| s.0).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), total);
    let (last, kind, _) = seen.last().unwrap();
    assert_eq!(*last, winner);
    assert_eq!(*kind, ConfirmationType::ActiveQuorum);
    // Cementing stopped at its limit many times, each time in a committed transaction.
    let limited = stats.get("confirmation_height", "batch_limited", "in");
    assert!(
        limited as usize >= total / LIMIT - 1,
        "{limited} limited steps for {total} blocks"
    );
    let t = ledger.read_txn().unwrap();
    assert_eq!(
        ledger.store().confirmation_head(&t).unwrap(),
        Some(total as u64)
    );
    drop(t);
    c.stop();
}
