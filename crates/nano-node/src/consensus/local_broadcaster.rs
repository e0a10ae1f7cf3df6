//! The local block broadcaster: the blocks this node originates (RPC `process`, wallet
//! sends) are published to every principal representative and a sqrt of the other
//! peers at once, and again, less and less often, until they are cemented, as the
//! reference's `local_block_broadcaster`. A block from a peer is never republished
//! from here: its election publishes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use nano_core::{Block, BlockHash};
use nano_messages::{Message, Publish};

use super::{lock, Shared};
use crate::network::limiter::TokenBucket;

/// Most local blocks followed at once: the reference's `max_size` (8 Ki). The oldest is
/// dropped first; a wallet that sends faster than blocks are cemented only loses the
/// rebroadcasts of its oldest blocks, which were published at least once.
pub(crate) const LOCAL_BLOCKS_MAX: usize = 8 * 1024;

/// Broadcasts per second, with a burst of [`BROADCAST_BURST_RATIO`] seconds' worth: the
/// reference's `broadcast_rate_limit` (32) and `broadcast_rate_burst_ratio` (3), so a
/// full set of rebroadcasts costs a steady trickle, not a burst of 8 Ki floods.
pub(crate) const BROADCASTS_PER_SEC: u64 = 32;
pub(crate) const BROADCAST_BURST_RATIO: f64 = 3.0;

/// The n-th rebroadcast comes n steps after the previous one, at most
/// [`REBROADCAST_INTERVAL_MAX`] after it: the reference's `rebroadcast_interval` (3 s,
/// 1 s on the dev network) and `max_rebroadcast_interval` (60 s).
pub(crate) const REBROADCAST_STEP: Duration = Duration::from_secs(3);
pub(crate) const REBROADCAST_STEP_DEV: Duration = Duration::from_secs(1);
pub(crate) const REBROADCAST_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// How often blocks cemented by a path the cementing hook did not see (or rolled back)
/// are looked up in the ledger and forgotten: the reference's `cleanup_interval` (60 s,
/// 1 s on the dev network).
pub(crate) const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
pub(crate) const CLEANUP_INTERVAL_DEV: Duration = Duration::from_secs(1);

struct Entry {
    block: Block,
    /// Insertion number: the key of `order`.
    seq: u64,
    next_broadcast: Instant,
    broadcasts: u32,
}

/// The followed blocks, by hash, by age and by when each is next due.
pub(crate) struct LocalBlocks {
    entries: HashMap<BlockHash, Entry>,
    order: BTreeMap<u64, BlockHash>,
    due: BTreeSet<(Instant, u64)>,
    next_seq: u64,
    limiter: TokenBucket,
    step: Duration,
    cleanup_every: Duration,
    last_cleanup: Instant,
}

impl LocalBlocks {
    pub(crate) fn new(dev: bool) -> LocalBlocks {
        LocalBlocks {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            due: BTreeSet::new(),
            next_seq: 0,
            limiter: TokenBucket::with_burst(BROADCASTS_PER_SEC, BROADCAST_BURST_RATIO),
            step: if dev {
                REBROADCAST_STEP_DEV
            } else {
                REBROADCAST_STEP
            },
            cleanup_every: if dev {
                CLEANUP_INTERVAL_DEV
            } else {
                CLEANUP_INTERVAL
            },
            last_cleanup: Instant::now(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Follows `block`, due at once; returns how many old blocks were dropped to make
    /// room. A block already followed is left as it is.
    pub(crate) fn insert(&mut self, block: Block, now: Instant) -> usize {
        let hash = block.hash();
        if self.entries.contains_key(&hash) {
            return 0;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, hash);
        self.due.insert((now, seq));
        self.entries.insert(
            hash,
            Entry {
                block,
                seq,
                next_broadcast: now,
                broadcasts: 0,
            },
        );
        let mut dropped = 0;
        while self.entries.len() > LOCAL_BLOCKS_MAX {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.due.remove(&(e.next_broadcast, e.seq));
                dropped += 1;
            }
        }
        dropped
    }

    pub(crate) fn remove(&mut self, hash: &BlockHash) -> bool {
        let Some(e) = self.entries.remove(hash) else {
            return false;
        };
        self.order.remove(&e.seq);
        self.due.remove(&(e.next_broadcast, e.seq));
        true
    }

    /// The blocks due at `now`, as many as the rate limit lets through, each scheduled
    /// for its next broadcast; the rest stay due.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Block> {
        let mut out = Vec::new();
        while let Some(&(at, seq)) = self.due.first() {
            if at > now || !self.limiter.try_take_at(1, now) {
                break;
            }
            self.due.pop_first();
            let Some(hash) = self.order.get(&seq).copied() else {
                continue;
            };
            let Some(e) = self.entries.get_mut(&hash) else {
                continue;
            };
            e.broadcasts += 1;
            e.next_broadcast = now + rebroadcast_interval(self.step, e.broadcasts);
            self.due.insert((e.next_broadcast, seq));
            out.push(e.block.clone());
        }
        out
    }

    /// The hashes to look up in the ledger when a cleanup is due at `now`: those
    /// broadcast at least once (a block never sent is kept until it has been).
    pub(crate) fn cleanup_candidates(&mut self, now: Instant) -> Option<Vec<BlockHash>> {
        if now.duration_since(self.last_cleanup) < self.cleanup_every {
            return None;
        }
        self.last_cleanup = now;
        Some(
            self.entries
                .iter()
                .filter(|(_, e)| e.broadcasts > 0)
                .map(|(h, _)| *h)
                .collect(),
        )
    }
}

/// How long after its `broadcasts`-th broadcast a block is sent again: `step` times
/// the count, capped (the reference's `local_block_broadcaster::rebroadcast_interval`).
pub(crate) fn rebroadcast_interval(step: Duration, broadcasts: u32) -> Duration {
    step.saturating_mul(broadcasts)
        .min(REBROADCAST_INTERVAL_MAX)
}

impl Shared {
    /// Follows the blocks this node just put in the ledger and sends what is due (the
    /// new blocks at once, within the rate limit).
    pub(crate) fn add_local_blocks(&self, blocks: Vec<Block>) {
        if blocks.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut dropped = 0;
        {
            let mut l = lock(&self.local_blocks);
            for b in blocks {
                self.stats.inc("local_block_broadcaster", "insert", "in");
                dropped += l.insert(b, now);
            }
        }
        self.stats.add(
            "local_block_broadcaster",
            "erase_oldest",
            "in",
            dropped as u64,
        );
        self.broadcast_local_blocks();
    }

    /// Forgets blocks that were cemented or rolled back (`why`, the stat detail).
    pub(crate) fn forget_local_blocks<'a>(
        &self,
        hashes: impl IntoIterator<Item = &'a BlockHash>,
        why: &'static str,
    ) {
        let mut l = lock(&self.local_blocks);
        if l.len() == 0 {
            return;
        }
        let removed = hashes.into_iter().filter(|h| l.remove(h)).count();
        drop(l);
        self.stats
            .add("local_block_broadcaster", why, "in", removed as u64);
    }

    /// Publishes the due local blocks (as [`crate::interfaces::Outbound::flood_initial`])
    /// and, when its interval has come, forgets those the ledger cemented or no longer
    /// holds. Called by the consensus loop's tick and after new local blocks.
    pub(crate) fn broadcast_local_blocks(&self) {
        let now = Instant::now();
        let (due, candidates) = {
            let mut l = lock(&self.local_blocks);
            if l.len() == 0 {
                return;
            }
            (l.take_due(now), l.cleanup_candidates(now))
        };
        if let Some(candidates) = candidates {
            let settled: Vec<BlockHash> = match self.ledger.read_txn() {
                Ok(txn) => candidates
                    .into_iter()
                    .filter(|h| {
                        !self.ledger.block_exists(&txn, h).unwrap_or(true)
                            || self.ledger.block_confirmed(&txn, h).unwrap_or(false)
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            let mut l = lock(&self.local_blocks);
            let n = settled.iter().filter(|h| l.remove(h)).count();
            drop(l);
            self.stats.add(
                "local_block_broadcaster",
                "already_confirmed",
                "in",
                n as u64,
            );
        }
        if due.is_empty() {
            return;
        }
        self.stats.add(
            "local_block_broadcaster",
            "broadcast",
            "out",
            due.len() as u64,
        );
        if let Some(out) = self.outbound() {
            for block in due {
                out.flood_initial(&Message::Publish(Box::new(Publish {
                    block,
                    originator: true,
                })));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_ledger::test_support::{test_key, Chain};

    /// `n` distinct blocks, unsigned and without work (only their hashes matter here).
    fn chain_of(n: usize) -> Vec<Block> {
        let mut c = Chain::dev_genesis();
        c.defer_sealing = true;
        let to = test_key(1).public();
        (0..n).map(|_| c.send(&to, 1)).collect()
    }

    #[test]
    fn rebroadcasts_back_off_linearly_to_the_cap() {
        let s = Duration::from_secs(3);
        assert_eq!(rebroadcast_interval(s, 1), Duration::from_secs(3));
        assert_eq!(rebroadcast_interval(s, 5), Duration::from_secs(15));
        assert_eq!(rebroadcast_interval(s, 20), REBROADCAST_INTERVAL_MAX);
        assert_eq!(rebroadcast_interval(s, u32::MAX), REBROADCAST_INTERVAL_MAX);
    }

    #[test]
    fn a_block_is_due_at_once_then_after_each_growing_interval() {
        let mut l = LocalBlocks::new(false);
        let t0 = Instant::now();
        let b = chain_of(1).remove(0);
        l.insert(b.clone(), t0);
        assert_eq!(l.take_due(t0), vec![b.clone()]);
        assert!(l.take_due(t0 + Duration::from_millis(2_999)).is_empty());
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(l.take_due(t1), vec![b.clone()]);
        // Second interval: 6 s.
        assert!(l.take_due(t1 + Duration::from_millis(5_999)).is_empty());
        assert_eq!(l.take_due(t1 + Duration::from_secs(6)).len(), 1);
        assert!(l.remove(&b.hash()));
        assert!(l.take_due(t1 + Duration::from_secs(600)).is_empty());
    }

    #[test]
    fn the_rate_limit_holds_the_rest_due() {
        let mut l = LocalBlocks::new(false);
        let t0 = Instant::now();
        let blocks = chain_of(200);
        for b in &blocks {
            l.insert(b.clone(), t0);
        }
        let burst = (BROADCASTS_PER_SEC as f64 * BROADCAST_BURST_RATIO) as usize;
        let first = l.take_due(t0);
        assert_eq!(first.len(), burst);
        // Oldest first.
        assert_eq!(first[0], blocks[0]);
        // One second refills 32.
        let next = l.take_due(t0 + Duration::from_secs(1));
        assert_eq!(next.len(), BROADCASTS_PER_SEC as usize);
        assert_eq!(next[0], blocks[burst]);
    }

    #[test]
    fn the_set_is_bounded_and_drops_the_oldest() {
        let mut l = LocalBlocks::new(false);
        let t0 = Instant::now();
        let blocks = chain_of(LOCAL_BLOCKS_MAX + 3);
        let dropped: usize = blocks.iter().map(|b| l.insert(b.clone(), t0)).sum();
        assert_eq!(dropped, 3);
        assert_eq!(l.len(), LOCAL_BLOCKS_MAX);
        assert!(!l.remove(&blocks[2].hash()));
        assert!(l.remove(&blocks[3].hash()));
    }
}
