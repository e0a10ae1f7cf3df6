//! Blocks that arrived before something they depend on (their previous block, or the send
//! a receive consumes). They wait here in memory, keyed by the missing hash, and go back to
//! the block processor when that hash is accepted. The map is bounded: when full, the
//! oldest entries are dropped (a peer can always send them again, and bootstrap refetches).
//! A second index by root (previous block, or account for an open) tells what the block
//! built on a chain's head waits for, so bootstrap can wait for that dependency instead
//! of pulling again blocks that are parked here.

use std::collections::{HashMap, HashSet, VecDeque};

use nano_core::{Block, BlockHash, Root};

use super::BlockSource;
use crate::hash_churn::reclaim_deleted;

/// A block waiting for `dependency`.
#[derive(Debug, Clone)]
pub struct UncheckedItem {
    pub block: Block,
    pub source: BlockSource,
}

/// One gap block as the RPC lists it: what it waits for, its hash, the block, and when
/// it arrived (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct UncheckedEntry {
    pub dependency: BlockHash,
    pub hash: BlockHash,
    pub block: Block,
    pub arrived: u64,
}

/// Bounded in-memory map of gap blocks by the hash they wait for.
#[derive(Debug)]
pub struct Unchecked {
    by_dependency: HashMap<BlockHash, Vec<UncheckedItem>>,
    /// Insertion order (dependency, block hash) for eviction; may hold stale pairs of
    /// entries already released, which eviction skips.
    order: VecDeque<(BlockHash, BlockHash)>,
    hashes: HashSet<BlockHash>,
    /// Root of each waiting block → (its hash, its dependency); one block per root (a
    /// fork's later arrival takes the slot).
    by_root: HashMap<Root, (BlockHash, BlockHash)>,
    /// Arrival time (Unix seconds) of each waiting block, for the RPC's
    /// `modified_timestamp`.
    arrived: HashMap<BlockHash, u64>,
    max: usize,
}

impl Unchecked {
    pub fn new(max: usize) -> Self {
        Unchecked {
            by_dependency: HashMap::new(),
            order: VecDeque::new(),
            hashes: HashSet::new(),
            by_root: HashMap::new(),
            arrived: HashMap::new(),
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
        // The table sits at its bound for a whole sync, every block in evicting or
        // releasing one: without this its four tables double (see `hash_churn`).
        reclaim_deleted(&mut self.hashes);
        reclaim_deleted(&mut self.arrived);
        reclaim_deleted(&mut self.by_root);
        reclaim_deleted(&mut self.by_dependency);
        if !self.hashes.insert(hash) {
            return false;
        }
        while self.hashes.len() > self.max {
            let Some((dep, h)) = self.order.pop_front() else {
                break;
            };
            self.remove_one(&dep, &h);
        }
        self.arrived.insert(hash, unix_now());
        self.by_root.insert(item.block.root(), (hash, dependency));
        // Almost every missing hash has one block waiting for it; a default Vec would
        // reserve four items (~1 KB) on the first push, which at the table's 64 Ki
        // bound was most of a bootstrapping node's heap.
        self.by_dependency
            .entry(dependency)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(item);
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
        self.arrived.remove(hash);
        let root = self
            .by_dependency
            .get(dep)
            .and_then(|v| v.iter().find(|i| i.block.hash() == *hash))
            .map(|i| i.block.root());
        if let Some(root) = root {
            self.unindex(&root, hash);
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
            let hash = i.block.hash();
            self.hashes.remove(&hash);
            self.arrived.remove(&hash);
            self.unindex(&i.block.root(), &hash);
        }
        items
    }

    fn unindex(&mut self, root: &Root, hash: &BlockHash) {
        if self.by_root.get(root).is_some_and(|(h, _)| h == hash) {
            self.by_root.remove(root);
        }
    }

    /// Whether the block `hash` waits here.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.hashes.contains(hash)
    }

    /// What the waiting block built on `root` (a chain's head block, or an account
    /// without blocks) waits for, if such a block waits here.
    pub fn dependency_at(&self, root: &Root) -> Option<BlockHash> {
        self.by_root.get(root).map(|(_, dep)| *dep)
    }

    /// Up to `max` missing hashes with one block waiting for each (to re-request them).
    pub fn waiting(&self, max: usize) -> Vec<(BlockHash, Block, BlockSource)> {
        self.by_dependency
            .iter()
            .filter_map(|(d, v)| v.first().map(|i| (*d, i.block.clone(), i.source)))
            .take(max)
            .collect()
    }

    /// Up to `max` waiting blocks whose dependency is at or after `start`, ordered by
    /// (dependency, hash) like the reference node's unchecked table.
    pub fn entries(&self, start: &BlockHash, max: usize) -> Vec<UncheckedEntry> {
        let mut keys: Vec<(BlockHash, BlockHash, &UncheckedItem)> = self
            .by_dependency
            .iter()
            .filter(|(d, _)| d.as_bytes() >= start.as_bytes())
            .flat_map(|(d, v)| v.iter().map(move |i| (*d, i.block.hash(), i)))
            .collect();
        keys.sort_unstable_by(|a, b| {
            (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
        });
        keys.into_iter()
            .take(max)
            .map(|(dependency, hash, i)| UncheckedEntry {
                dependency,
                hash,
                block: i.block.clone(),
                arrived: self.arrived.get(&hash).copied().unwrap_or(0),
            })
            .collect()
    }

    /// The waiting block `hash`, if any.
    pub fn entry(&self, hash: &BlockHash) -> Option<UncheckedEntry> {
        if !self.hashes.contains(hash) {
            return None;
        }
        self.by_dependency.iter().find_map(|(d, v)| {
            v.iter()
                .find(|i| i.block.hash() == *hash)
                .map(|i| UncheckedEntry {
                    dependency: *d,
                    hash: *hash,
                    block: i.block.clone(),
                    arrived: self.arrived.get(hash).copied().unwrap_or(0),
                })
        })
    }

    /// Entries the four hash tables can hold before they must rehash (their slots).
    #[cfg(test)]
    fn table_capacity(&self) -> usize {
        self.hashes.capacity()
            + self.arrived.capacity()
            + self.by_root.capacity()
            + self.by_dependency.capacity()
    }

    pub fn clear(&mut self) {
        self.arrived.clear();
        self.by_dependency.clear();
        self.order.clear();
        self.hashes.clear();
        self.by_root.clear();
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_ledger::test_support::{test_key, Chain};

    #[test]
    fn entries_are_listed_in_key_order_from_a_start_and_found_by_hash() {
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..6).map(|i| c.send(&test_key(i).public(), 1)).collect();
        let mut u = Unchecked::new(16);
        let before = unix_now();
        // Each block waits for its previous block.
        for b in &blocks {
            let item = UncheckedItem {
                block: b.clone(),
                source: BlockSource::Local,
            };
            assert!(u.insert(b.previous(), item));
        }
        let all = u.entries(&BlockHash::ZERO, usize::MAX);
        assert_eq!(all.len(), 6);
        let mut want: Vec<(BlockHash, BlockHash)> =
            blocks.iter().map(|b| (b.previous(), b.hash())).collect();
        want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let got: Vec<(BlockHash, BlockHash)> = all.iter().map(|e| (e.dependency, e.hash)).collect();
        assert_eq!(got, want);
        assert!(all
            .iter()
            .all(|e| e.arrived >= before && e.arrived <= unix_now()));
        assert!(all.iter().all(|e| e.block.hash() == e.hash));
        // From the third key on, at most two.
        let from = u.entries(&want[2].0, 2);
        assert_eq!(
            from.iter().map(|e| e.hash).collect::<Vec<_>>(),
            vec![want[2].1, want[3].1]
        );
        // Lookup by hash; released blocks are gone from every view.
        let e = u.entry(&blocks[3].hash()).unwrap();
        assert_eq!(e.dependency, blocks[3].previous());
        assert_eq!(u.take(&blocks[3].previous()).len(), 1);
        assert!(u.entry(&blocks[3].hash()).is_none());
        assert_eq!(u.entries(&BlockHash::ZERO, usize::MAX).len(), 5);
        u.clear();
        assert!(u.entries(&BlockHash::ZERO, usize::MAX).is_empty());
    }

    /// One block waiting for a hash reserves room for one, not the four a default
    /// Vec reserves (the table holds up to 64 Ki entries of ~250 bytes each).
    #[test]
    fn a_single_waiter_reserves_one_slot() {
        let mut c = Chain::dev_genesis();
        let a = c.send(&test_key(1).public(), 1);
        let b = c.send(&test_key(2).public(), 1);
        let mut u = Unchecked::new(8);
        let item = |b: &Block| UncheckedItem {
            block: b.clone(),
            source: BlockSource::Bootstrap,
        };
        assert!(u.insert(a.hash(), item(&b)));
        assert_eq!(u.by_dependency[&a.hash()].capacity(), 1);
        // A second waiter on the same hash still fits.
        let other = Chain::dev_genesis().send(&test_key(3).public(), 2);
        assert!(u.insert(a.hash(), item(&other)));
        assert_eq!(u.take(&a.hash()).len(), 2);
    }

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

    /// At its bound with churn (a sync: every block in evicts or releases one), the
    /// table keeps the slots its entries need: 4,096 entries fit tables of 8,192 slots
    /// (room for 7,168 each); without `reclaim_deleted` their deleted slots made them
    /// double.
    #[test]
    fn a_full_table_with_churn_keeps_its_slots() {
        use nano_core::{Amount, Link, PublicKey, Signature, StateBlock};
        let bound = 4096;
        let mut u = Unchecked::new(bound);
        let block = |n: u128| {
            Block::State(StateBlock {
                account: PublicKey::ZERO,
                previous: BlockHash::ZERO,
                representative: PublicKey::ZERO,
                balance: Amount(n),
                link: Link::ZERO,
                signature: Signature::ZERO,
                work: 0,
            })
        };
        let dep = |n: u128| {
            let mut b = [0u8; 32];
            b[..16].copy_from_slice(&n.to_be_bytes());
            BlockHash::from_bytes(b)
        };
        let mut most = 0;
        for n in 0..300_000u128 {
            let b = block(n);
            // Half wait on their own dependency, released later; half are evicted.
            u.insert(
                dep(n),
                UncheckedItem {
                    block: b,
                    source: BlockSource::Bootstrap,
                },
            );
            if n % 2 == 0 && n >= 1000 {
                u.take(&dep(n - 1000));
            }
            most = most.max(u.table_capacity());
        }
        assert!(u.len() <= bound);
        assert!(most <= 4 * 7168, "slots for {most} entries");
    }

    #[test]
    fn dependency_at_the_root_follows_insert_release_and_eviction() {
        let mut g = Chain::dev_genesis();
        let mut a = Chain::unopened(test_key(1));
        let s1 = g.send(&a.account, 10);
        let s2 = g.send(&a.account, 10);
        let open = a.receive(&s1.hash(), 10, g.epoch);
        let r2 = a.receive(&s2.hash(), 10, g.epoch);
        let item = |b: &Block| UncheckedItem {
            block: b.clone(),
            source: BlockSource::Bootstrap,
        };
        let mut u = Unchecked::new(2);
        // An open waits at the account, a receive at its previous block.
        assert!(u.insert(s1.hash(), item(&open)));
        assert!(u.insert(s2.hash(), item(&r2)));
        assert_eq!(u.dependency_at(&a.account.into()), Some(s1.hash()));
        assert_eq!(u.dependency_at(&open.hash().into()), Some(s2.hash()));
        assert_eq!(u.dependency_at(&r2.hash().into()), None);
        assert!(u.contains(&r2.hash()) && !u.contains(&s2.hash()));
        // Released: gone from the index.
        assert_eq!(u.take(&s1.hash()).len(), 1);
        assert_eq!(u.dependency_at(&a.account.into()), None);
        // Evicted: gone too.
        let s3 = g.send(&a.account, 10);
        let other = Chain::unopened(test_key(2)).receive(&s3.hash(), 10, g.epoch);
        let s4 = g.send(&a.account, 10);
        let other2 = Chain::unopened(test_key(3)).receive(&s4.hash(), 10, g.epoch);
        assert!(u.insert(s3.hash(), item(&other)));
        assert!(u.insert(s4.hash(), item(&other2)));
        assert_eq!(u.len(), 2);
        assert_eq!(u.dependency_at(&open.hash().into()), None);
        assert!(!u.contains(&r2.hash()));
        u.clear();
        assert_eq!(u.dependency_at(&test_key(2).public().into()), None);
    }
}
