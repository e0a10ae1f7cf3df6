//! The block processor's queue: one [`FairQueue`] sub-queue per source (local, each
//! peer, unchecked, bootstrap) with the shares of [`limits`], plus the confirmed
//! elections and forced blocks waiting for the writer.

use std::collections::HashSet;

use nano_core::Block;

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

/// Everything the writer thread works on.
pub(crate) struct WriterQueue {
    blocks: FairQueue<BlockSource, Entry>,
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
            cement: Vec::new(),
            forced: Vec::new(),
        }
    }

    pub fn total(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn idle(&self) -> bool {
        self.blocks.is_empty() && self.cement.is_empty() && self.forced.is_empty()
    }

    /// Queues `e` unless its source (or the whole queue) is full; then its callback is
    /// handed back with the reason.
    pub fn push(&mut self, e: Entry) -> Result<(), (Option<Done>, Rejected)> {
        self.blocks
            .push(e.source, e)
            .map_err(|(e, why)| (e.done, why))
    }

    /// Puts entries back at the front of their queues (a batch ran out of time).
    pub(crate) fn push_front(&mut self, entries: Vec<Entry>) {
        self.blocks
            .push_front(entries.into_iter().map(|e| (e.source, e)).collect());
    }

    /// Up to `max` entries in weighted round robin over sources.
    pub(crate) fn pop_batch(&mut self, max: usize) -> Vec<Entry> {
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
        let entries = self.blocks.drain().into_iter().map(|(_, e)| e).collect();
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
}
