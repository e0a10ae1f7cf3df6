//! A set that keeps at most a fixed number of items, forgetting the oldest inserted
//! first (inserting an item already present changes nothing): the ascending bootstrap
//! client's accounts pulled to the end, and the votes seen recently, where forgetting
//! an item costs at most a pull or a vote checked twice.
//!
//! Both sit at their bound (256 Ki items) for most of a large sync or a busy network,
//! and nothing leaves them but the oldest, so the items live in a ring in insertion
//! order: the slot after the newest is the next one overwritten, and no order links are
//! needed. The lookup is a hash table of 4-byte ring positions. An item of 32 bytes
//! costs its slot and its index entry, 42 bytes measured at the bound, where the
//! [`RecentMap`](crate::recent_map::RecentMap) of no values it replaces took 53 (two
//! links per record and the slab's growth room), and a std set and order queue about
//! 100 (see the test at the end).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::hash_churn::insert_index;

#[derive(Debug)]
pub(crate) struct RecentSet<T = nano_core::BlockHash> {
    /// The items in insertion order, from `next` round to `next - 1` once full.
    ring: Vec<T>,
    /// Once the ring is full: the oldest item's position, the next one overwritten.
    next: usize,
    /// Position of every item in the ring, by the item.
    index: HashTable<u32>,
    /// Keyed hashing: the items come from peers.
    hasher: RandomState,
    max: usize,
}

impl<T: Hash + Eq + Copy> RecentSet<T> {
    pub(crate) fn new(max: usize) -> Self {
        RecentSet {
            ring: Vec::new(),
            next: 0,
            index: HashTable::new(),
            hasher: RandomState::new(),
            max: max.clamp(1, u32::MAX as usize),
        }
    }

    /// True if `item` was not in the set (it is now, as the newest).
    pub(crate) fn insert(&mut self, item: T) -> bool {
        if self.contains(&item) {
            return false;
        }
        let at = if self.ring.len() < self.max {
            // Grow by a quarter, never past the bound: doubling would leave up to half
            // of a large ring unused.
            if self.ring.len() == self.ring.capacity() {
                let more = (self.ring.len() / 4)
                    .max(16)
                    .min(self.max - self.ring.len());
                self.ring.reserve_exact(more.max(1));
            }
            self.ring.push(item);
            self.ring.len() - 1
        } else {
            // Full: the oldest item's slot takes the new one.
            let at = self.next;
            let oldest = self.ring[at];
            if let Ok(e) = self
                .index
                .find_entry(self.hasher.hash_one(oldest), |&j| j as usize == at)
            {
                e.remove();
            }
            self.ring[at] = item;
            self.next = (at + 1) % self.max;
            at
        };
        let (ring, hasher) = (&self.ring, &self.hasher);
        insert_index(&mut self.index, hasher.hash_one(item), at as u32, |&j| {
            hasher.hash_one(ring[j as usize])
        });
        true
    }

    pub(crate) fn contains(&self, item: &T) -> bool {
        let ring = &self.ring;
        self.index
            .find(self.hasher.hash_one(item), |&j| ring[j as usize] == *item)
            .is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The items, oldest first.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let (newer, older) = self.ring.split_at(self.next);
        older.iter().chain(newer).copied()
    }

    /// Bytes the set holds on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<T>() + self.index.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recent_map::{test_key, test_rng};

    /// Random inserts over a key space larger than the bound: every answer, and the
    /// order, equals a set and a queue of the insertion order that forget the front
    /// when full (the set's first layout).
    #[test]
    fn set_matches_a_set_and_queue() {
        for (max, keys) in [(1usize, 3u64), (64, 200), (5_000, 8_000)] {
            let mut set = RecentSet::new(max);
            let mut model: (
                std::collections::HashSet<u64>,
                std::collections::VecDeque<u64>,
            ) = Default::default();
            let mut rnd = test_rng(0x51_7CC1_B727_220A ^ max as u64);
            for op in 0..40_000u64 {
                let k = rnd(keys);
                let fresh = model.0.insert(k);
                if fresh {
                    model.1.push_back(k);
                    if model.1.len() > max {
                        let old = model.1.pop_front().unwrap();
                        model.0.remove(&old);
                    }
                }
                assert_eq!(set.insert(k), fresh, "insert at {op}");
                assert_eq!(set.len(), model.0.len());
                let probe = (k * 7 + op) % keys;
                assert_eq!(set.contains(&probe), model.0.contains(&probe), "at {op}");
                if op % 499 == 0 {
                    assert!(set.iter().eq(model.1.iter().copied()), "order at {op}");
                }
            }
            assert!(set.iter().eq(model.1.iter().copied()));
        }
    }

    /// A set of 32-byte items at its bound with churn (the ascending client's accounts
    /// pulled to the end, the votes seen): the 32-byte slot and the index, under 48
    /// bytes per item, where the set as a `RecentMap` of no values took 53.
    #[test]
    fn set_memory_per_item_at_the_bound() {
        let bound = 100_000;
        let mut set = RecentSet::new(bound);
        let mut most = 0;
        for n in 0..400_000u64 {
            assert!(set.insert(test_key(n)));
            most = most.max(set.heap_bytes());
        }
        assert_eq!(set.len(), bound);
        assert!(set.contains(&test_key(399_999)) && !set.contains(&test_key(299_999)));
        let per_item = most / bound;
        eprintln!("recent set of 32-byte items: {per_item} bytes per item at its bound");
        assert!(per_item < 48, "{per_item} bytes per item");
    }
}
