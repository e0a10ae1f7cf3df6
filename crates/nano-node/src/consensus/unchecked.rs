//! Blocks that arrived before something they depend on (their previous block, or the send
//! a receive consumes). They wait here in memory, keyed by the missing hash, and go back to
//! the block processor when that hash is accepted. The map is bounded: when full, the
//! oldest entries are dropped (a peer can always send them again, and bootstrap refetches).

use std::collections::{HashMap, HashSet, VecDeque};

use nano_core::{Block, BlockHash};

use super::BlockSource;

/// A block waiting for `dependency`.
#[derive(Debug, Clone)]
pub struct UncheckedItem {
    pub block: Block,
    pub source: BlockSource,
}

/// Bounded in-memory map of gap blocks by the hash they wait for.
#[derive(Debug)]
pub struct Unchecked {
    by_dependency: HashMap<BlockHash, Vec<UncheckedItem>>,
    /// Insertion order (dependency, block hash) for eviction; may hold stale pairs of
    /// entries already released, which eviction skips.
    order: VecDeque<(BlockHash, BlockHash)>,
    hashes: HashSet<BlockHash>,
    max: usize,
}

impl Unchecked {
    pub fn new(max: usize) -> Self {
        Unchecked {
            by_dependency: HashMap::new(),
            order: VecDeque::new(),
            hashes: HashSet::new(),
            max: max.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Keeps `item` until `dependency` arrives. Returns false for a block already waiting.
    pub fn insert(&mut self, dependency: BlockHash, item: UncheckedItem) -> bool {
        let hash = item.block.hash();
        if !self.hashes.insert(hash) {
            return false;
        }
        while self.hashes.len() > self.max {
            let Some((dep, h)) = self.order.pop_front() else {
                break;
            };
            self.remove_one(&dep, &h);
        }
        self.by_dependency.entry(dependency).or_default().push(item);
        self.order.push_back((dependency, hash));
        // Stale pairs accumulate only as fast as entries are released; trim them when the
        // queue holds many more pairs than live entries.
        if self.order.len() > 2 * self.max {
            let live = &self.hashes;
            self.order.retain(|(_, h)| live.contains(h));
        }
        true
    }

    fn remove_one(&mut self, dep: &BlockHash, hash: &BlockHash) {
        if !self.hashes.remove(hash) {
            return;
        }
        if let Some(v) = self.by_dependency.get_mut(dep) {
            v.retain(|i| i.block.hash() != *hash);
            if v.is_empty() {
                self.by_dependency.remove(dep);
            }
        }
    }

    /// Releases every block waiting for `dependency`.
    pub fn take(&mut self, dependency: &BlockHash) -> Vec<UncheckedItem> {
        let items = self.by_dependency.remove(dependency).unwrap_or_default();
        for i in &items {
            self.hashes.remove(&i.block.hash());
        }
        items
    }

    /// Up to `max` missing hashes with one block waiting for each (to re-request them).
    pub fn waiting(&self, max: usize) -> Vec<(BlockHash, Block, BlockSource)> {
        self.by_dependency
            .iter()
            .filter_map(|(d, v)| v.first().map(|i| (*d, i.block.clone(), i.source)))
            .take(max)
            .collect()
    }

    pub fn clear(&mut self) {
        self.by_dependency.clear();
        self.order.clear();
        self.hashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_ledger::test_support::{test_key, Chain};

    #[test]
    fn bounded_and_released_by_dependency() {
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..5).map(|i| c.send(&test_key(i).public(), 1)).collect();
        let mut u = Unchecked::new(3);
        for b in &blocks {
            let item = UncheckedItem {
                block: b.clone(),
                source: BlockSource::Local,
            };
            assert!(u.insert(b.previous(), item));
        }
        assert_eq!(u.len(), 3);
        // The two oldest were evicted.
        assert!(u.take(&blocks[0].previous()).is_empty());
        let got = u.take(&blocks[4].previous());
        assert_eq!(got.len(), 1);
        assert_eq!(u.len(), 2);
    }
}
