//! The writer's blocks per write transaction, end to end: a burst submitted at once (as
//! bootstrap does) on a new ledger is written in transactions no larger than the floor
//! the small file allows (`limits::BLOCK_BATCH_MIN`, though the configured batch is
//! larger), and a configured `batch_max` below that floor is never exceeded. Every
//! block is answered and lands either way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nano_core::{Block, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{BlockStatus, Ledger};
use nano_node::consensus::limits::{BLOCK_BATCH_MAX, BLOCK_BATCH_MIN};
use nano_node::consensus::{BlockSource, Consensus, ConsensusConfig};
use nano_node::events::EventBus;
use nano_node::stats::Stats;

const DEADLINE: Duration = Duration::from_secs(60);
/// Blocks of the burst: eleven floor-sized batches and a part.
const BURST: usize = 11 * BLOCK_BATCH_MIN + 20;
// The configured batch would take the whole burst at once.
const _: () = assert!(BLOCK_BATCH_MAX > BURST);

/// Writes a burst of `BURST` chain blocks through a processor with `batch_max`, all
/// queued before its threads start (so the checker hands the writer the whole burst
/// at once); returns the writer's counters.
fn write_burst(batch_max: usize) -> HashMap<String, u64> {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&tmp.path().join("data.ldb"), Network::Dev).unwrap());
    let mut config = ConsensusConfig::for_network(Network::Dev);
    config.batch_max = batch_max;
    let c = Consensus::new(
        ledger.clone(),
        config,
        Arc::new(Stats::new()),
        EventBus::default(),
    );
    let mut g = Chain::dev_genesis();
    let dest = test_key(1).public();
    let blocks: Vec<Block> = (0..BURST).map(|_| g.send(&dest, 1)).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    for b in &blocks {
        let tx = tx.clone();
        let queued = c.submit(
            b.clone(),
            BlockSource::Bootstrap,
            Some(Box::new(move |status| {
                let _ = tx.send(status);
            })),
        );
        assert!(queued);
    }
    c.start().unwrap();
    for i in 0..BURST {
        let status = rx
            .recv_timeout(DEADLINE)
            .expect("an answer for every block");
        assert_eq!(
            status.expect("processed"),
            BlockStatus::Progress,
            "block {i}"
        );
    }
    let txn = ledger.read_txn().unwrap();
    assert!(ledger
        .block_exists(&txn, &blocks[BURST - 1].hash())
        .unwrap());
    drop(txn);
    let stats = c.writer_stats().into_iter().collect();
    c.stop();
    stats
}

/// Every block of the burst was written, in transactions of at most `bound` blocks.
fn assert_written_within(s: &HashMap<String, u64>, bound: usize) {
    assert_eq!(s["blocks"], BURST as u64);
    let largest = s["largest_batch"] as usize;
    assert!(
        largest > 0 && largest <= bound,
        "largest batch {largest}, bound {bound}"
    );
    assert!(s["commits"] as usize >= BURST.div_ceil(bound), "{s:?}");
}

#[test]
fn a_new_ledger_is_written_in_floor_sized_transactions() {
    assert_written_within(&write_burst(BLOCK_BATCH_MAX), BLOCK_BATCH_MIN);
}

#[test]
fn a_configured_batch_below_the_floor_is_honoured() {
    const CONFIGURED: usize = 16;
    assert_written_within(&write_burst(CONFIGURED), CONFIGURED);
}
