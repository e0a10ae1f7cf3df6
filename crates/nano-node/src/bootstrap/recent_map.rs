//! A map that keeps at most a fixed number of entries, forgetting the oldest inserted
//! first: for what the ascending bootstrap client remembers per account or per
//! dependency (pull targets, the last block received, when a dependency was asked),
//! where forgetting an entry costs at most a request or a re-download and an unbounded
//! map would grow with the ledger's accounts over a round.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::shrink::shrink_sparse;
use crate::hash_churn::reclaim_deleted;

/// The order queue is compacted once it holds twice (the live keys + this), within
/// twice the bound: the slack keeps a map of few live keys from compacting on every
/// insert.
const COMPACT_FLOOR: usize = 1024;

#[derive(Debug)]
pub(crate) struct RecentMap<K, V> {
    map: HashMap<K, V>,
    /// Keys in insertion order. A removed key stays here until it reaches the front
    /// (or the queue is compacted), so a key removed and inserted again may be
    /// forgotten earlier than its second insertion alone would make it.
    order: VecDeque<K>,
    max: usize,
}

impl<K: Hash + Eq + Copy, V> RecentMap<K, V> {
    pub(crate) fn new(max: usize) -> Self {
        RecentMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Sets `k` to `v` (a present key keeps its place in the order).
    pub(crate) fn insert(&mut self, k: K, v: V) {
        if let Some(old) = self.map.get_mut(&k) {
            *old = v;
            return;
        }
        // Held at its bound with churn: keep the slots it needs (see `hash_churn`).
        reclaim_deleted(&mut self.map);
        self.map.insert(k, v);
        self.order.push_back(k);
        self.trim();
    }

    /// The value of `k`, inserting `make()` first when absent.
    pub(crate) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&k) {
            self.insert(k, make());
        }
        self.map
            .get_mut(&k)
            .expect("just inserted; trimming keeps the newest entry")
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn trim(&mut self) {
        while self.map.len() > self.max {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&k);
        }
        // Removed keys pile up in `order`; drop them once the queue passes twice the
        // bound, or once they outnumber the live keys: a map whose keys are mostly
        // removed again, as pull targets are once an account is pulled, would
        // otherwise keep a queue of up to twice the bound of dead keys, its memory
        // growing with the accounts a round has seen. Compacting costs the queue's
        // length, paid for by the removals since the last compaction (at least as
        // many as the live keys then, plus the floor).
        if self.order.len() > 2 * self.max.min(self.map.len() + COMPACT_FLOOR) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let map = &self.map;
        let mut seen = std::collections::HashSet::with_capacity(map.len());
        // A key inserted, removed and inserted again appears twice: keep its first
        // place, once.
        self.order
            .retain(|k| map.contains_key(k) && seen.insert(*k));
        // Neither container gives memory back by itself: a map that once held its
        // bound keeps that many slots however few keys remain.
        shrink_sparse(&mut self.map);
        shrink_sparse(&mut self.order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max_forgetting_the_oldest() {
        let mut m = RecentMap::new(3);
        for i in 0..5u32 {
            m.insert(i, i * 10);
        }
        assert_eq!(m.len(), 3);
        assert!(!m.contains_key(&0) && !m.contains_key(&1));
        assert_eq!(m.get(&4), Some(&40));
        // Updating a present key neither grows the map nor moves the key.
        m.insert(2, 99);
        m.insert(5, 50);
        assert_eq!(m.len(), 3);
        assert!(!m.contains_key(&2), "2 was the oldest");
        assert_eq!(m.get(&3), Some(&30));
    }

    #[test]
    fn removed_keys_do_not_grow_the_order_queue() {
        let mut m = RecentMap::new(4);
        for i in 0..10_000u32 {
            m.insert(i, ());
            m.remove(&i);
        }
        assert_eq!(m.len(), 0);
        assert!(m.order.len() <= 8, "{}", m.order.len());
        *m.get_or_insert_with(7, || ()) = ();
        assert!(m.contains_key(&7));
    }

    #[test]
    fn memory_follows_the_live_keys_not_the_keys_seen() {
        // Far below its bound, a map whose keys come and go (pull targets of accounts
        // pulled to the end) keeps its order queue and its slots near the live keys.
        let mut m = RecentMap::new(1 << 20);
        for i in 0..200_000u32 {
            m.insert(i, [0u8; 32]);
            if i >= 100 {
                m.remove(&(i - 100));
            }
        }
        assert_eq!(m.len(), 100);
        assert!(
            m.order.len() <= 2 * (m.len() + COMPACT_FLOOR),
            "order queue {} for {} live keys",
            m.order.len(),
            m.len()
        );
        assert!(
            m.order.capacity() <= 4 * 2 * (100 + COMPACT_FLOOR),
            "{}",
            m.order.capacity()
        );
        assert!(
            m.map.capacity() <= 4 * 2 * (100 + COMPACT_FLOOR),
            "{}",
            m.map.capacity()
        );
        // A map that filled up and emptied gives its slots back.
        for i in 0..100_000u32 {
            m.insert(i, [1u8; 32]);
        }
        for i in 0..100_000u32 {
            m.remove(&i);
        }
        m.insert(u32::MAX, [2u8; 32]);
        for i in 0..(4 * COMPACT_FLOOR as u32) {
            m.insert(1_000_000 + i, [3u8; 32]);
            m.remove(&(1_000_000 + i));
        }
        assert!(m.map.capacity() < 100_000 / 4, "{}", m.map.capacity());
        assert_eq!(m.get(&u32::MAX), Some(&[2u8; 32]));
    }

    #[test]
    fn get_or_insert_with_counts_in_place() {
        let mut m = RecentMap::new(2);
        *m.get_or_insert_with(1u8, || 0u8) += 1;
        *m.get_or_insert_with(1u8, || 0u8) += 1;
        assert_eq!(m.get(&1), Some(&2));
        m.insert(2, 5);
        m.insert(3, 6);
        assert_eq!(m.get(&1), None);
        assert_eq!(m.len(), 2);
    }
}
