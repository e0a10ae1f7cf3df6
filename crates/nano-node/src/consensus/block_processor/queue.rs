//! The block processor's queue: one [`FairQueue`] sub-queue per source (local, each
//! peer, unchecked, bootstrap) with the shares of [`limits`], the blocks the checker
//! thread took from it and checked (at most one write batch), plus the confirmed
//! elections and forced blocks waiting for the writer.

use std::collections::{HashSet, VecDeque};

use nano_core::Block;
use nano_ledger::BlockStatus;

use super::forced::Forced;
use crate::consensus::elections::Confirmed;
use crate::consensus::fair_queue::{FairQueue, Rejected, SourceLimits};
use crate::consensus::{limits, BlockSource, ConsensusConfig, Done};
use crate::interfaces::ChannelId;

/// A queued block.
pub(crate) struct Entry {
    pub block: Block,
    pub source: BlockSource,
    pub done: Option<Done>,
}

/// An entry's checks made before the write transaction (see
/// [`Shared::precheck`](crate::consensus::Shared::precheck)): `Err(status)` rejects,
/// `Ok(true)` means its signature is verified.
pub(crate) type Check = Result<bool, BlockStatus>;

/// Everything the checker and writer threads work on.
pub(crate) struct WriterQueue {
    blocks: FairQueue<BlockSource, Entry>,
    /// Entries the checker took from `blocks` and checked, in the order taken; the
    /// writer takes them from the front. At most `checked_max` (one write batch), so the
    /// fair queue's round robin and bounds still decide what waits.
    checked: VecDeque<(Entry, Check)>,
    checked_max: usize,
    /// Entries the checker holds while it checks them (counted so `total` never
    /// reports an empty queue while blocks are on their way to the writer).
    in_check: usize,
    pub cement: Vec<Confirmed>,
    pub forced: Vec<Forced>,
}

impl WriterQueue {
    /// Sub-queue and total bounds from the configuration, shares from [`limits`].
    pub(crate) fn new(config: &ConsensusConfig) -> WriterQueue {
        let (local, peer, unchecked, system) = (
            config.local_queue_max,
            config.peer_queue_max,
            config.unchecked_max,
            config.system_queue_max,
        );
        let limits = Box::new(move |s: &BlockSource| match s {
            BlockSource::Local => SourceLimits {
                max: local,
                priority: limits::BLOCK_PRIORITY_LOCAL,
            },
            BlockSource::Peer(_) => SourceLimits {
                max: peer,
                priority: limits::BLOCK_PRIORITY_LIVE,
            },
            BlockSource::Unchecked => SourceLimits {
                max: unchecked,
                priority: limits::BLOCK_PRIORITY_BOOTSTRAP,
            },
            BlockSource::Bootstrap => SourceLimits {
                max: system,
                priority: limits::BLOCK_PRIORITY_BOOTSTRAP,
            },
        });
        WriterQueue {
            blocks: FairQueue::new(config.queue_max, limits),
            checked: VecDeque::new(),
            checked_max: config.batch_max.max(1),
            in_check: 0,
            cement: Vec::new(),
            forced: Vec::new(),
        }
    }

    /// Blocks queued, being checked, or checked and waiting for the writer.
    pub fn total(&self) -> usize {
        self.blocks.len() + self.checked_len()
    }

    /// Blocks in the fair queue (within its per-source and global bounds).
    pub fn queued_len(&self) -> usize {
        self.blocks.len()
    }

    /// Blocks the checker holds or checked, waiting for the writer: at most one batch.
    pub fn checked_len(&self) -> usize {
        self.in_check + self.checked.len()
    }

    /// Nothing for the writer: no checked block, confirmed election or forced block.
    pub(crate) fn idle(&self) -> bool {
        self.checked.is_empty() && self.cement.is_empty() && self.forced.is_empty()
    }

    /// Nothing for the checker: no queued block, or the checked entries fill a batch.
    pub(crate) fn checker_idle(&self) -> bool {
        self.blocks.is_empty() || self.checked.len() + self.in_check >= self.checked_max
    }

    /// Up to a batch of queued entries (what the checked entries leave room for) in
    /// weighted round robin over sources, for the checker; they count in `total` until
    /// [`WriterQueue::push_checked`] hands them on.
    pub(crate) fn take_for_check(&mut self, max: usize) -> Vec<Entry> {
        let room = self
            .checked_max
            .saturating_sub(self.checked.len() + self.in_check);
        let batch = self.pop_batch(max.min(room));
        self.in_check += batch.len();
        batch
    }

    /// The checker's results for entries taken with [`WriterQueue::take_for_check`].
    pub(crate) fn push_checked(&mut self, checked: Vec<(Entry, Check)>) {
        self.in_check = self.in_check.saturating_sub(checked.len());
        self.checked.extend(checked);
    }

    /// Up to `max` checked entries, oldest first, for the writer.
    pub(crate) fn pop_checked(&mut self, max: usize) -> Vec<(Entry, Check)> {
        let n = max.min(self.checked.len());
        self.checked.drain(..n).collect()
    }

    /// Queues `e` unless its source (or the whole queue) is full; then its callback is
    /// handed back with the reason.
    pub fn push(&mut self, e: Entry) -> Result<(), (Option<Done>, Rejected)> {
        self.blocks
            .push(e.source, e)
            .map_err(|(e, why)| (e.done, why))
    }

    /// Puts checked entries back in front of the others (a batch ran out of time).
    pub(crate) fn push_front_checked(&mut self, entries: Vec<(Entry, Check)>) {
        for e in entries.into_iter().rev() {
            self.checked.push_front(e);
        }
    }

    /// Up to `max` entries in weighted round robin over sources.
    fn pop_batch(&mut self, max: usize) -> Vec<Entry> {
        self.blocks
            .pop_batch(max)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// Forgets the sub-queues of peers whose channel closed (once they are empty).
    pub(crate) fn retain_peers(&mut self, live: &HashSet<ChannelId>) {
        self.blocks.retain_sources(|s| match s {
            BlockSource::Peer(id) => live.contains(id),
            _ => true,
        });
    }

    pub fn drain_all(&mut self) -> (Vec<Entry>, Vec<Forced>) {
        let mut entries: Vec<Entry> = self.checked.drain(..).map(|(e, _)| e).collect();
        entries.extend(self.blocks.drain().into_iter().map(|(_, e)| e));
        self.cement.clear();
        (entries, std::mem::take(&mut self.forced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_ledger::test_support::{test_key, Chain};

    fn entry(b: &Block, source: BlockSource) -> Entry {
        Entry {
            block: b.clone(),
            source,
            done: None,
        }
    }

    /// The queue's bounds are the configuration's (`[node.block_processor]`), per
    /// source and in all: what a peer, bootstrap or a local client can make the node
    /// hold before a block is refused.
    #[test]
    fn configured_bounds_hold_per_source_and_in_all() {
        let mut config = ConsensusConfig::for_network(nano_core::Network::Dev);
        config.system_queue_max = 3;
        config.peer_queue_max = 2;
        config.local_queue_max = 4;
        config.queue_max = 8;
        let mut q = WriterQueue::new(&config);
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..12).map(|i| c.send(&test_key(i).public(), 1)).collect();
        let mut pushed = |source: BlockSource, blocks: &[Block]| {
            blocks
                .iter()
                .map(|b| q.push(entry(b, source)).err().map(|(_, why)| why))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pushed(BlockSource::Bootstrap, &blocks[0..4]),
            [None, None, None, Some(Rejected::SourceFull)]
        );
        assert_eq!(
            pushed(BlockSource::Peer(1), &blocks[4..7]),
            [None, None, Some(Rejected::SourceFull)]
        );
        // 5 queued; the local source has room for 4 but the whole queue for 3 more.
        assert_eq!(
            pushed(BlockSource::Local, &blocks[7..11]),
            [None, None, None, Some(Rejected::GlobalFull)]
        );
        assert_eq!(q.total(), 8);
    }

    /// The checked stage holds at most one write batch: the checker takes only what
    /// leaves room for it, the entries it holds count as queued, and the writer gets
    /// them in the order taken (those put back first).
    #[test]
    fn checked_entries_stay_within_one_batch_and_in_order() {
        let mut config = ConsensusConfig::for_network(nano_core::Network::Dev);
        config.batch_max = 4;
        let mut q = WriterQueue::new(&config);
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..10).map(|i| c.send(&test_key(i).public(), 1)).collect();
        for b in &blocks {
            assert!(q.push(entry(b, BlockSource::Bootstrap)).is_ok());
        }
        assert!(q.idle() && !q.checker_idle());
        let taken = q.take_for_check(100);
        assert_eq!(taken.len(), 4);
        // Taken but not yet checked: still counted, and no room for more.
        assert_eq!(q.total(), 10);
        assert!(q.checker_idle() && q.take_for_check(100).is_empty());
        q.push_checked(taken.into_iter().map(|e| (e, Ok(true))).collect());
        assert!(!q.idle() && q.checker_idle());
        let mut first = q.pop_checked(3);
        assert_eq!(first.len(), 3);
        // Room for three again.
        assert_eq!(q.take_for_check(100).len(), 3);
        let rest = first.split_off(1);
        q.push_front_checked(rest);
        let order: Vec<_> = q
            .pop_checked(10)
            .iter()
            .map(|(e, _)| e.block.hash())
            .collect();
        let want: Vec<_> = blocks[1..4].iter().map(|b| b.hash()).collect();
        assert_eq!(order, want);
        let (left, _) = q.drain_all();
        assert_eq!(left.len(), 3);
    }
}
