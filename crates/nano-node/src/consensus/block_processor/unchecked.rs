//! Blocks that arrived before something they depend on (their previous block, or the send
//! a receive consumes). They wait here in memory, keyed by the missing hash, and go back to
//! the block processor when that hash is accepted. The map is bounded: when full, the
//! oldest entries are dropped (a peer can always send them again, and bootstrap refetches).
//! A second index by root (previous block, or account for an open) tells what the block
//! built on a chain's head waits for, so bootstrap can wait for that dependency instead
//! of pulling again blocks that are parked here.
//!
//! The table sits at its bound (64 Ki blocks by default) for most of a sync, so its
//! layout is chosen for memory: each waiting block is one record in a slab (the block,
//! its hash and dependency, its arrival time and the links of two lists), and the three
//! lookups (by hash, by dependency, by root) are hash tables of 4-byte slab indices
//! rather than maps repeating the keys. The arrival order and the blocks waiting for one
//! dependency are linked lists through the records, so eviction and release cost O(1)
//! however many blocks wait for the same hash. Measured at the bound, the earlier form
//! (four std maps keyed by hash plus an eviction queue) took about 920 bytes per block;
//! this one takes the record (`Waiting`) plus about 30 bytes of index. The record holds
//! the block in its wire form ([`WireBlock`]) and its arrival as 32-bit Unix seconds:
//! 320 bytes against 352 with the decoded block.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use nano_core::{Block, BlockHash, Root};

use super::BlockSource;
use crate::hash_churn::insert_index;
use crate::wire_block::WireBlock;

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

/// The end of a list, in the links between records.
const NIL: u32 = u32::MAX;

/// Slabs at most this many records long are never compacted: their free records cost
/// little, and compacting them would only add work.
const COMPACT_FLOOR: usize = 4096;

/// One waiting block and its places in the arrival order and in the ring of blocks
/// waiting for the same dependency.
#[derive(Debug)]
struct Waiting {
    block: WireBlock,
    source: BlockSource,
    /// Kept, not recomputed: every probe of the hash index compares it.
    hash: BlockHash,
    dependency: BlockHash,
    /// Unix seconds (32 bits last until 2106).
    arrived: u32,
    older: u32,
    newer: u32,
    /// The blocks waiting for one dependency form a ring in arrival order; the
    /// dependency index points at the oldest.
    dep_prev: u32,
    dep_next: u32,
}

/// Bounded in-memory map of gap blocks by the hash they wait for.
#[derive(Debug)]
pub struct Unchecked {
    /// Records by index; `None` marks a free record listed in `free`.
    slots: Vec<Option<Waiting>>,
    free: Vec<u32>,
    /// Index of every waiting block, by its hash.
    by_hash: HashTable<u32>,
    /// The oldest block waiting for each dependency, by that dependency.
    by_dependency: HashTable<u32>,
    /// The block waiting at each root; one block per root (a fork's later arrival
    /// takes the slot, and releasing it clears the root).
    by_root: HashTable<u32>,
    oldest: u32,
    newest: u32,
    /// Keyed hashing: the hashes come from peers.
    hasher: RandomState,
    max: usize,
}

impl Unchecked {
    pub fn new(max: usize) -> Self {
        Unchecked {
            slots: Vec::new(),
            free: Vec::new(),
            by_hash: HashTable::new(),
            by_dependency: HashTable::new(),
            by_root: HashTable::new(),
            oldest: NIL,
            newest: NIL,
            hasher: RandomState::new(),
            max: max.clamp(1, NIL as usize - 1),
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn at(&self, i: u32) -> &Waiting {
        slot(&self.slots, i)
    }

    fn at_mut(&mut self, i: u32) -> &mut Waiting {
        self.slots[i as usize]
            .as_mut()
            .expect("indices in the lists and tables name live records")
    }

    fn find_hash(&self, hash: &BlockHash) -> Option<u32> {
        let slots = &self.slots;
        self.by_hash
            .find(self.hasher.hash_one(hash), |&i| {
                slot(slots, i).hash == *hash
            })
            .copied()
    }

    fn find_dependency(&self, dependency: &BlockHash) -> Option<u32> {
        let slots = &self.slots;
        self.by_dependency
            .find(self.hasher.hash_one(dependency), |&i| {
                slot(slots, i).dependency == *dependency
            })
            .copied()
    }

    /// Keeps `item` until `dependency` arrives. Returns false for a block already waiting.
    pub fn insert(&mut self, dependency: BlockHash, item: UncheckedItem) -> bool {
        let hash = item.block.hash();
        if self.find_hash(&hash).is_some() {
            return false;
        }
        while self.len() >= self.max && self.oldest != NIL {
            self.remove(self.oldest);
        }
        let root = item.block.root();
        let record = Waiting {
            block: WireBlock::new(&item.block),
            source: item.source,
            hash,
            dependency,
            arrived: unix_now(),
            older: self.newest,
            newer: NIL,
            dep_prev: NIL,
            dep_next: NIL,
        };
        let i = self.allocate(record);
        // Arrival order.
        if self.newest == NIL {
            self.oldest = i;
        } else {
            let newest = self.newest;
            self.at_mut(newest).newer = i;
        }
        self.newest = i;
        // Ring of its dependency, as the newest (before the oldest).
        match self.find_dependency(&dependency) {
            Some(head) => {
                let tail = self.at(head).dep_prev;
                self.at_mut(tail).dep_next = i;
                let w = self.at_mut(i);
                w.dep_prev = tail;
                w.dep_next = head;
                self.at_mut(head).dep_prev = i;
            }
            None => {
                let w = self.at_mut(i);
                w.dep_prev = i;
                w.dep_next = i;
                let (slots, hasher) = (&self.slots, &self.hasher);
                insert_index(
                    &mut self.by_dependency,
                    hasher.hash_one(dependency),
                    i,
                    |&j| hasher.hash_one(slot(slots, j).dependency),
                );
            }
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        insert_index(&mut self.by_hash, hasher.hash_one(hash), i, |&j| {
            hasher.hash_one(slot(slots, j).hash)
        });
        let at_root = self.by_root.find_mut(hasher.hash_one(root), |&j| {
            slot(slots, j).block.root() == root
        });
        match at_root {
            Some(j) => *j = i,
            None => {
                insert_index(&mut self.by_root, hasher.hash_one(root), i, |&j| {
                    hasher.hash_one(slot(slots, j).block.root())
                });
            }
        }
        true
    }

    /// Puts `record` in a free record, or at the end of the slab, which grows by a quarter
    /// and never past the bound (doubling would leave up to half of it unused).
    fn allocate(&mut self, record: Waiting) -> u32 {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(record);
            return i;
        }
        if self.slots.len() == self.slots.capacity() {
            let more = (self.slots.len() / 4)
                .max(16)
                .min(self.max - self.slots.len());
            self.slots.reserve_exact(more.max(1));
        }
        self.slots.push(Some(record));
        (self.slots.len() - 1) as u32
    }

    /// Takes record `i` out of every list and table and frees it.
    fn remove(&mut self, i: u32) -> Waiting {
        let w = self.slots[i as usize]
            .take()
            .expect("indices in the lists and tables name live records");
        self.free.push(i);
        let h = self.hasher.hash_one(w.hash);
        if let Ok(e) = self.by_hash.find_entry(h, |&j| j == i) {
            e.remove();
        }
        let h = self.hasher.hash_one(w.block.root());
        if let Ok(e) = self.by_root.find_entry(h, |&j| j == i) {
            e.remove();
        }
        let h = self.hasher.hash_one(w.dependency);
        if w.dep_next == i {
            if let Ok(e) = self.by_dependency.find_entry(h, |&j| j == i) {
                e.remove();
            }
        } else {
            self.at_mut(w.dep_prev).dep_next = w.dep_next;
            self.at_mut(w.dep_next).dep_prev = w.dep_prev;
            if let Some(head) = self.by_dependency.find_mut(h, |&j| j == i) {
                *head = w.dep_next;
            }
        }
        if w.older == NIL {
            self.oldest = w.newer;
        } else {
            self.at_mut(w.older).newer = w.newer;
        }
        if w.newer == NIL {
            self.newest = w.older;
        } else {
            self.at_mut(w.newer).older = w.older;
        }
        w
    }

    /// Releases every block waiting for `dependency`.
    pub fn take(&mut self, dependency: &BlockHash) -> Vec<UncheckedItem> {
        let Some(head) = self.find_dependency(dependency) else {
            return Vec::new();
        };
        let mut items = Vec::with_capacity(1);
        let mut i = head;
        loop {
            let next = self.at(i).dep_next;
            let w = self.remove(i);
            items.push(UncheckedItem {
                block: w.block.block(),
                source: w.source,
            });
            // The ring closes behind each removal: its last record points at itself.
            if next == i || next == head {
                break;
            }
            i = next;
        }
        self.compact_sparse();
        items
    }

    /// When under a quarter of the slab's records are live (the table drained after a
    /// sync), moves them to a slab of their size and shrinks the tables, so the memory
    /// follows what waits now rather than the most that ever waited. Costs the slab's
    /// length, paid for by the three quarters of it released since it was last this long.
    fn compact_sparse(&mut self) {
        let (live, len) = (self.len(), self.slots.len());
        if len <= COMPACT_FLOOR || live * 4 >= len {
            return;
        }
        let mut moved_to = vec![NIL; len];
        let mut slots = Vec::with_capacity(live);
        for (old, s) in self.slots.iter_mut().enumerate() {
            if let Some(w) = s.take() {
                moved_to[old] = slots.len() as u32;
                slots.push(Some(w));
            }
        }
        let map = |i: u32| if i == NIL { NIL } else { moved_to[i as usize] };
        for w in slots.iter_mut().flatten() {
            w.older = map(w.older);
            w.newer = map(w.newer);
            w.dep_prev = map(w.dep_prev);
            w.dep_next = map(w.dep_next);
        }
        self.oldest = map(self.oldest);
        self.newest = map(self.newest);
        // Keys are unchanged, so each index keeps its buckets: only the values move.
        for t in [
            &mut self.by_hash,
            &mut self.by_dependency,
            &mut self.by_root,
        ] {
            for i in t.iter_mut() {
                *i = map(*i);
            }
        }
        self.slots = slots;
        self.free = Vec::new();
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_hash
            .shrink_to(0, |&j| hasher.hash_one(slot(slots, j).hash));
        self.by_dependency
            .shrink_to(0, |&j| hasher.hash_one(slot(slots, j).dependency));
        self.by_root
            .shrink_to(0, |&j| hasher.hash_one(slot(slots, j).block.root()));
    }

    /// Whether the block `hash` waits here.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.find_hash(hash).is_some()
    }

    /// What the waiting block built on `root` (a chain's head block, or an account
    /// without blocks) waits for, if such a block waits here.
    pub fn dependency_at(&self, root: &Root) -> Option<BlockHash> {
        let slots = &self.slots;
        self.by_root
            .find(self.hasher.hash_one(root), |&i| {
                slot(slots, i).block.root() == *root
            })
            .map(|&i| slot(slots, i).dependency)
    }

    /// Up to `max` missing hashes with one block waiting for each (the oldest), to
    /// re-request them.
    pub fn waiting(&self, max: usize) -> Vec<(BlockHash, Block, BlockSource)> {
        self.by_dependency
            .iter()
            .take(max)
            .map(|&i| {
                let w = self.at(i);
                (w.dependency, w.block.block(), w.source)
            })
            .collect()
    }

    /// Up to `max` waiting blocks whose dependency is at or after `start`, ordered by
    /// (dependency, hash) like the reference node's unchecked table.
    pub fn entries(&self, start: &BlockHash, max: usize) -> Vec<UncheckedEntry> {
        let mut keys: Vec<&Waiting> = self
            .slots
            .iter()
            .flatten()
            .filter(|w| w.dependency.as_bytes() >= start.as_bytes())
            .collect();
        keys.sort_unstable_by(|a, b| {
            (a.dependency.as_bytes(), a.hash.as_bytes())
                .cmp(&(b.dependency.as_bytes(), b.hash.as_bytes()))
        });
        keys.into_iter().take(max).map(entry_of).collect()
    }

    /// The waiting block `hash`, if any.
    pub fn entry(&self, hash: &BlockHash) -> Option<UncheckedEntry> {
        self.find_hash(hash).map(|i| entry_of(self.at(i)))
    }

    pub fn clear(&mut self) {
        *self = Unchecked::new(self.max);
    }

    /// Bytes the table holds on the heap (the blocks it holds own none of their own).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Waiting>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.by_hash.allocation_size()
            + self.by_dependency.allocation_size()
            + self.by_root.allocation_size()
    }
}

fn slot(slots: &[Option<Waiting>], i: u32) -> &Waiting {
    slots[i as usize]
        .as_ref()
        .expect("indices in the lists and tables name live records")
}

fn entry_of(w: &Waiting) -> UncheckedEntry {
    UncheckedEntry {
        dependency: w.dependency,
        hash: w.hash,
        block: w.block.block(),
        arrived: u64::from(w.arrived),
    }
}

/// Unix seconds, held at `u32::MAX` past 2106.
fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::{Amount, Link, PublicKey, Signature, StateBlock};
    use nano_ledger::test_support::{test_key, Chain};
    use std::collections::HashMap;

    fn item(b: &Block) -> UncheckedItem {
        UncheckedItem {
            block: b.clone(),
            source: BlockSource::Bootstrap,
        }
    }

    fn bytes32(n: u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&n.to_be_bytes());
        b
    }

    /// A state block with the given account and previous (zero: an open, rooted at the
    /// account) whose hash `n` makes unique.
    fn state(account: u64, previous: u64, n: u64) -> Block {
        Block::State(StateBlock {
            account: PublicKey::from_bytes(bytes32(account + 1)),
            previous: if previous == 0 {
                BlockHash::ZERO
            } else {
                BlockHash::from_bytes(bytes32(previous))
            },
            representative: PublicKey::ZERO,
            balance: Amount(u128::from(n)),
            link: Link::ZERO,
            signature: Signature::ZERO,
            work: 0,
        })
    }

    #[test]
    fn entries_are_listed_in_key_order_from_a_start_and_found_by_hash() {
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..6).map(|i| c.send(&test_key(i).public(), 1)).collect();
        let mut u = Unchecked::new(16);
        let before = u64::from(unix_now());
        // Each block waits for its previous block.
        for b in &blocks {
            assert!(u.insert(b.previous(), item(b)));
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
            .all(|e| e.arrived >= before && e.arrived <= u64::from(unix_now())));
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
        assert!(u.is_empty());
    }

    #[test]
    fn bounded_and_released_by_dependency() {
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..5).map(|i| c.send(&test_key(i).public(), 1)).collect();
        let mut u = Unchecked::new(3);
        for b in &blocks {
            assert!(u.insert(b.previous(), item(b)));
        }
        assert_eq!(u.len(), 3);
        // The two oldest were evicted.
        assert!(u.take(&blocks[0].previous()).is_empty());
        let got = u.take(&blocks[4].previous());
        assert_eq!(got.len(), 1);
        assert_eq!(u.len(), 2);
        // A block already waiting is refused.
        assert!(!u.insert(blocks[3].previous(), item(&blocks[3])));
        assert_eq!(u.len(), 2);
    }

    #[test]
    fn dependency_at_the_root_follows_insert_release_and_eviction() {
        let mut g = Chain::dev_genesis();
        let mut a = Chain::unopened(test_key(1));
        let s1 = g.send(&a.account, 10);
        let s2 = g.send(&a.account, 10);
        let open = a.receive(&s1.hash(), 10, g.epoch);
        let r2 = a.receive(&s2.hash(), 10, g.epoch);
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

    /// The blocks waiting for one hash come back in arrival order, also after one in
    /// the middle of them was evicted.
    #[test]
    fn blocks_waiting_for_one_hash_come_back_in_arrival_order() {
        let dep = BlockHash::from_bytes(bytes32(7));
        let other = BlockHash::from_bytes(bytes32(8));
        let mut u = Unchecked::new(4);
        let b: Vec<Block> = (0..6).map(|n| state(n, 0, n)).collect();
        assert!(u.insert(other, item(&b[0])));
        assert!(u.insert(dep, item(&b[1])));
        assert!(u.insert(dep, item(&b[2])));
        assert!(u.insert(dep, item(&b[3])));
        // Evicts b0 (another dependency), then b1 (the oldest waiting for `dep`).
        assert!(u.insert(dep, item(&b[4])));
        assert!(u.insert(other, item(&b[5])));
        let got: Vec<BlockHash> = u.take(&dep).iter().map(|i| i.block.hash()).collect();
        assert_eq!(got, vec![b[2].hash(), b[3].hash(), b[4].hash()]);
        assert_eq!(u.len(), 1);
        assert_eq!(u.waiting(10).len(), 1);
        assert_eq!(u.waiting(10)[0].1.hash(), b[5].hash());
    }

    /// What the old table did, in the plainest form: a list in arrival order and the
    /// root index with the same rule (a later block at a root takes it; releasing that
    /// block clears the root).
    struct Model {
        items: Vec<(BlockHash, Block)>,
        by_root: HashMap<Root, (BlockHash, BlockHash)>,
        max: usize,
    }

    impl Model {
        fn unindex(&mut self, b: &Block) {
            if self
                .by_root
                .get(&b.root())
                .is_some_and(|(h, _)| *h == b.hash())
            {
                self.by_root.remove(&b.root());
            }
        }
        fn insert(&mut self, dep: BlockHash, b: &Block) -> bool {
            if self.items.iter().any(|(_, x)| x.hash() == b.hash()) {
                return false;
            }
            if self.items.len() >= self.max {
                let (_, old) = self.items.remove(0);
                self.unindex(&old);
            }
            self.items.push((dep, b.clone()));
            self.by_root.insert(b.root(), (b.hash(), dep));
            true
        }
        fn take(&mut self, dep: &BlockHash) -> Vec<BlockHash> {
            let (out, keep): (Vec<_>, Vec<_>) = self.items.drain(..).partition(|(d, _)| d == dep);
            self.items = keep;
            for (_, b) in &out {
                self.unindex(b);
            }
            out.iter().map(|(_, b)| b.hash()).collect()
        }
    }

    /// Random inserts (new blocks and repeats, forks at shared roots, many blocks per
    /// dependency), releases and lookups: every answer equals the model's.
    fn check_against_model(max: usize, deps: u64, ops: u64, seed: u64) {
        let mut u = Unchecked::new(max);
        let mut m = Model {
            items: Vec::new(),
            by_root: HashMap::new(),
            max,
        };
        let mut state_rng = seed;
        let mut rnd = |n: u64| {
            // xorshift64*: deterministic, good enough to pick operations.
            state_rng ^= state_rng >> 12;
            state_rng ^= state_rng << 25;
            state_rng ^= state_rng >> 27;
            state_rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        };
        let mut made: Vec<(BlockHash, Block)> = Vec::new();
        let mut n = 0u64;
        let mut drained = false;
        for op in 0..ops {
            // Phases: fill for a while, then release mostly (drains the table, which
            // compacts a large one), then mix.
            let phase = (op * 4 / ops) as u32;
            let r = rnd(100);
            let insert = match phase {
                0 => r < 90,
                2 => r < 10,
                _ => r < 60,
            };
            if insert {
                let (dep, b) = if !made.is_empty() && rnd(10) == 0 {
                    made[rnd(made.len() as u64) as usize].clone()
                } else {
                    n += 1;
                    let b = state(rnd(8), rnd(9), n);
                    let dep = BlockHash::from_bytes(bytes32(1000 + rnd(deps)));
                    made.push((dep, b.clone()));
                    (dep, b)
                };
                assert_eq!(u.insert(dep, item(&b)), m.insert(dep, &b), "insert at {op}");
            } else {
                let dep = BlockHash::from_bytes(bytes32(1000 + rnd(deps)));
                let got: Vec<BlockHash> = u.take(&dep).iter().map(|i| i.block.hash()).collect();
                assert_eq!(got, m.take(&dep), "take at {op}");
            }
            assert_eq!(u.len(), m.items.len(), "len at {op}");
            drained |= phase == 2 && u.len() * 4 < max;
            for a in 0..8 {
                let root = Root::from(PublicKey::from_bytes(bytes32(a + 1)));
                assert_eq!(
                    u.dependency_at(&root),
                    m.by_root.get(&root).map(|(_, d)| *d),
                    "open root at {op}"
                );
            }
            for p in 1..9 {
                let root = Root::from(BlockHash::from_bytes(bytes32(p)));
                assert_eq!(
                    u.dependency_at(&root),
                    m.by_root.get(&root).map(|(_, d)| *d),
                    "root at {op}"
                );
            }
            if !made.is_empty() {
                let (_, probe) = &made[rnd(made.len() as u64) as usize];
                let want = m.items.iter().find(|(_, b)| b.hash() == probe.hash());
                assert_eq!(u.contains(&probe.hash()), want.is_some());
                assert_eq!(
                    u.entry(&probe.hash()).map(|e| (e.dependency, e.block)),
                    want.cloned()
                );
            }
            if op % (ops / 40).max(1) == 0 {
                let mut want: Vec<(BlockHash, BlockHash)> =
                    m.items.iter().map(|(d, b)| (*d, b.hash())).collect();
                want.sort_by(|a, b| {
                    (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
                });
                let got: Vec<(BlockHash, BlockHash)> = u
                    .entries(&BlockHash::ZERO, usize::MAX)
                    .iter()
                    .map(|e| (e.dependency, e.hash))
                    .collect();
                assert_eq!(got, want, "entries at {op}");
                let mut heads: Vec<BlockHash> =
                    u.waiting(usize::MAX).iter().map(|w| w.1.hash()).collect();
                heads.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                let mut oldest: HashMap<BlockHash, BlockHash> = HashMap::new();
                for (d, b) in &m.items {
                    oldest.entry(*d).or_insert(b.hash());
                }
                let mut want_heads: Vec<BlockHash> = oldest.into_values().collect();
                want_heads.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                assert_eq!(heads, want_heads, "waiting at {op}");
            }
        }
        if max > COMPACT_FLOOR {
            assert!(drained, "the run never drained the table");
        }
    }

    #[test]
    fn matches_a_simple_model_small() {
        check_against_model(50, 16, 20_000, 0x9E37_79B9_7F4A_7C15);
        check_against_model(1, 4, 2_000, 7);
    }

    /// Large enough for the slab to be compacted when the table drains.
    #[test]
    fn matches_a_simple_model_through_compaction() {
        check_against_model(6_000, 16, 24_000, 0xD1B5_4A32_D192_ED03);
    }

    /// At its bound with churn (a sync: every block in evicts or releases one) the
    /// table's heap stays at one record plus a few index bytes per block, the slab
    /// never reserves past the bound, and a drained table gives its memory back.
    #[test]
    fn memory_per_block_at_the_bound_and_after_draining() {
        let bound = 10_000; // not a power of two: the slab must not round up
        let mut u = Unchecked::new(bound);
        let dep = |n: u64| BlockHash::from_bytes(bytes32(n));
        let mut most = 0;
        for n in 0..60_000u64 {
            // Half wait on their own dependency, released later; half are evicted.
            u.insert(dep(n), item(&state(n % 64, 0, n)));
            if n % 2 == 0 && n >= 1000 {
                u.take(&dep(n - 1000));
            }
            most = most.max(u.heap_bytes());
            assert!(u.slots.capacity() <= bound);
        }
        assert_eq!(u.len(), bound);
        let record = std::mem::size_of::<Option<Waiting>>();
        let per_block = most / bound;
        eprintln!("gap table: {per_block} bytes per block at its bound (record {record})");
        // The block in its wire form: 352 bytes with the decoded block.
        assert!(record <= 320, "record {record}");
        assert!(
            per_block <= record + 48,
            "{per_block} bytes per block (record {record})"
        );
        for n in 0..60_000u64 {
            u.take(&dep(n));
        }
        assert!(u.is_empty());
        assert!(u.slots.capacity() < bound / 3, "{}", u.slots.capacity());
        assert!(u.heap_bytes() < most / 2, "{} of {most}", u.heap_bytes());
        // Still works after compacting.
        assert!(u.insert(dep(1), item(&state(1, 0, 1))));
        assert_eq!(u.take(&dep(1)).len(), 1);
    }
}
