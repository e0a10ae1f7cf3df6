//! A map that keeps at most a fixed number of entries, forgetting the oldest inserted
//! first: for what the ascending bootstrap client remembers per account or per
//! dependency (pull targets, the last block received, when a dependency was asked),
//! where forgetting an entry costs at most a request or a re-download and an unbounded
//! map would grow with the ledger's accounts over a round.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

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
        // Removed keys pile up in `order` only as fast as keys are removed; drop them
        // once they outnumber the live ones, so the queue stays within twice the bound.
        if self.order.len() > 2 * self.max {
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
