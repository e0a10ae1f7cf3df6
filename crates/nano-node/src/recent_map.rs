//! A map that keeps at most a fixed number of entries, forgetting the oldest inserted
//! first: for what the ascending bootstrap client remembers per account or per
//! dependency (the pull retries, when a dependency was asked, the blocked accounts;
//! the pull targets and last blocks received share a record per account, see
//! `bootstrap::account_heads`; sets of this kind are [`crate::recent_set`]), where
//! forgetting an entry costs at most a request or a re-download, and an unbounded map
//! would grow with the ledger's accounts over a round.
//!
//! These maps hold up to `priorities_max + blocking_max` (512 Ki) accounts each during
//! a large sync, so the layout is chosen for memory: the entries live in one slab of
//! records (key, value, and the two links of the insertion order), and the lookup is a
//! hash table of 4-byte record indices. A std map plus an order queue repeated the
//! 32-byte key in the queue and kept two map slots of key and value per entry under
//! churn: about 170 bytes per entry of a 32-byte value, measured at 1M blocks; this
//! takes the record plus about 10 bytes (see the test at the end).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::hash_churn::insert_index;

/// The end of the order list.
const NIL: u32 = u32::MAX;
/// Marks a record in the free list (its `newer` links the next free record).
const FREE: u32 = u32::MAX - 1;

/// Slabs at most this many records long are never compacted: their free records cost
/// little, and compacting them would only add work.
const COMPACT_FLOOR: usize = 4096;

#[derive(Debug)]
struct Record<K, V> {
    key: K,
    value: V,
    /// The neighbour inserted before (NIL: the oldest), or FREE.
    older: u32,
    /// The neighbour inserted after (NIL: the newest); in a free record, the next free.
    newer: u32,
}

#[derive(Debug)]
pub(crate) struct RecentMap<K, V> {
    records: Vec<Record<K, V>>,
    free: u32,
    /// Index of every live record, by its key.
    index: HashTable<u32>,
    oldest: u32,
    newest: u32,
    /// Keyed hashing: accounts and hashes come from peers.
    hasher: RandomState,
    max: usize,
}

impl<K: Hash + Eq + Copy, V: Copy> RecentMap<K, V> {
    pub(crate) fn new(max: usize) -> Self {
        RecentMap {
            records: Vec::new(),
            free: NIL,
            index: HashTable::new(),
            oldest: NIL,
            newest: NIL,
            hasher: RandomState::new(),
            max: max.clamp(1, FREE as usize - 1),
        }
    }

    fn find(&self, k: &K) -> Option<u32> {
        let records = &self.records;
        self.index
            .find(self.hasher.hash_one(k), |&i| records[i as usize].key == *k)
            .copied()
    }

    /// Sets `k` to `v` (a present key keeps its place in the order).
    pub(crate) fn insert(&mut self, k: K, v: V) {
        match self.find(&k) {
            Some(i) => self.records[i as usize].value = v,
            None => {
                self.add(k, v);
            }
        }
    }

    /// Adds the absent key `k` as the newest entry, forgetting the oldest first when
    /// full. Returns its record.
    fn add(&mut self, k: K, v: V) -> u32 {
        while self.len() >= self.max && self.oldest != NIL {
            self.unlink(self.oldest);
        }
        let record = Record {
            key: k,
            value: v,
            older: self.newest,
            newer: NIL,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.records[i as usize].newer;
            self.records[i as usize] = record;
            i
        } else {
            // Grow by a quarter, never past the bound: doubling would leave up to half
            // of a large slab unused.
            if self.records.len() == self.records.capacity() {
                let more = (self.records.len() / 4)
                    .max(16)
                    .min(self.max - self.records.len());
                self.records.reserve_exact(more.max(1));
            }
            self.records.push(record);
            (self.records.len() - 1) as u32
        };
        if self.newest == NIL {
            self.oldest = i;
        } else {
            self.records[self.newest as usize].newer = i;
        }
        self.newest = i;
        let (records, hasher) = (&self.records, &self.hasher);
        insert_index(&mut self.index, hasher.hash_one(k), i, |&j| {
            hasher.hash_one(records[j as usize].key)
        });
        i
    }

    /// The value of `k`, inserting `make()` first when absent.
    pub(crate) fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Some(i) => i,
            None => self.add(k, make()),
        };
        &mut self.records[i as usize].value
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.find(k).map(|i| &self.records[i as usize].value)
    }

    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_some()
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.find(k)?;
        let v = self.unlink(i);
        self.compact_sparse();
        Some(v)
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest entry: the next one forgotten.
    pub(crate) fn oldest(&self) -> Option<(K, V)> {
        (self.oldest != NIL).then(|| {
            let r = &self.records[self.oldest as usize];
            (r.key, r.value)
        })
    }

    /// Makes `k` the newest entry, as if it had just been inserted; false when absent.
    pub(crate) fn renew(&mut self, k: &K) -> bool {
        let Some(i) = self.find(k) else {
            return false;
        };
        if i == self.newest {
            return true;
        }
        let (older, newer) = {
            let r = &self.records[i as usize];
            (r.older, r.newer)
        };
        // Out of its place (it is not the newest, so `newer` is a record)...
        if older == NIL {
            self.oldest = newer;
        } else {
            self.records[older as usize].newer = newer;
        }
        self.records[newer as usize].older = older;
        // ...and in after the newest.
        let r = &mut self.records[i as usize];
        r.older = self.newest;
        r.newer = NIL;
        self.records[self.newest as usize].newer = i;
        self.newest = i;
        true
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        let mut i = self.oldest;
        std::iter::from_fn(move || {
            (i != NIL).then(|| {
                let r = &self.records[i as usize];
                i = r.newer;
                (r.key, r.value)
            })
        })
    }

    /// Takes live record `i` out of the index and the order and frees it.
    fn unlink(&mut self, i: u32) -> V {
        let r = &self.records[i as usize];
        let (key, value, older, newer) = (r.key, r.value, r.older, r.newer);
        if let Ok(e) = self
            .index
            .find_entry(self.hasher.hash_one(key), |&j| j == i)
        {
            e.remove();
        }
        if older == NIL {
            self.oldest = newer;
        } else {
            self.records[older as usize].newer = newer;
        }
        if newer == NIL {
            self.newest = older;
        } else {
            self.records[newer as usize].older = older;
        }
        let r = &mut self.records[i as usize];
        r.older = FREE;
        r.newer = self.free;
        self.free = i;
        value
    }

    /// When under a quarter of the slab's records are live (entries removed again, as
    /// pull targets are once an account is pulled), moves them to a slab of their size
    /// and rebuilds the index, so the memory follows the live keys, not the most the
    /// map ever held. Costs the live entries, paid for by the three times as many
    /// removed since the slab was last this long.
    fn compact_sparse(&mut self) {
        let (live, len) = (self.len(), self.records.len());
        if len <= COMPACT_FLOOR || live * 4 >= len {
            return;
        }
        let mut records = Vec::with_capacity(live + live / 4);
        let mut i = self.oldest;
        while i != NIL {
            let r = &self.records[i as usize];
            let at = records.len() as u32;
            records.push(Record {
                key: r.key,
                value: r.value,
                older: if at == 0 { NIL } else { at - 1 },
                newer: at + 1,
            });
            i = r.newer;
        }
        if let Some(last) = records.last_mut() {
            last.newer = NIL;
        }
        let hasher = &self.hasher;
        let mut index = HashTable::with_capacity(live);
        for (at, r) in records.iter().enumerate() {
            index.insert_unique(hasher.hash_one(r.key), at as u32, |&j: &u32| {
                hasher.hash_one(records[j as usize].key)
            });
        }
        self.oldest = if records.is_empty() { NIL } else { 0 };
        self.newest = records.len().checked_sub(1).map_or(NIL, |n| n as u32);
        self.records = records;
        self.index = index;
        self.free = NIL;
    }

    /// Bytes the map holds on the heap.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Record<K, V>>() + self.index.allocation_size()
    }
}

/// Numbers below `n` from a seed, the same run for the same seed (xorshift64*): for the
/// model tests of the bounded containers.
#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut s = seed | 1;
    move |n| {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// 32 bytes that differ for every `n` (an account or hash for the model tests).
#[cfg(test)]
pub(crate) fn test_key(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_le_bytes());
    b
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
    fn removed_keys_free_their_records_for_new_ones() {
        let mut m = RecentMap::new(4);
        for i in 0..10_000u32 {
            m.insert(i, ());
            assert_eq!(m.remove(&i), Some(()));
        }
        assert_eq!(m.len(), 0);
        assert_eq!(m.records.len(), 1);
        *m.get_or_insert_with(7, || ()) = ();
        assert!(m.contains_key(&7));
        assert_eq!(m.remove(&8), None);
    }

    #[test]
    fn memory_follows_the_live_keys_not_the_keys_seen() {
        // Far below its bound, a map whose keys come and go (pull targets of accounts
        // pulled to the end) keeps its records near the live keys.
        let mut m = RecentMap::new(1 << 20);
        for i in 0..200_000u32 {
            m.insert(i, [0u8; 32]);
            if i >= 100 {
                m.remove(&(i - 100));
            }
        }
        assert_eq!(m.len(), 100);
        assert!(
            m.records.capacity() <= 2 * 100 + 16,
            "{}",
            m.records.capacity()
        );
        // A map that filled up and emptied gives its memory back.
        for i in 0..100_000u32 {
            m.insert(i, [1u8; 32]);
        }
        let full = m.heap_bytes();
        m.insert(u32::MAX, [2u8; 32]);
        for i in 0..100_000u32 {
            m.remove(&i);
        }
        assert!(
            m.records.capacity() <= COMPACT_FLOOR,
            "{}",
            m.records.capacity()
        );
        assert!(m.heap_bytes() < full / 10, "{} of {full}", m.heap_bytes());
        assert_eq!(m.get(&u32::MAX), Some(&[2u8; 32]));
        // The 100 keys of the first loop, and the last one.
        assert_eq!(m.len(), 101);
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

    /// Random inserts, updates, counts, renewals and removals over a small key space:
    /// every answer, and the order, equals a plain list in insertion order that forgets
    /// its front when full.
    #[test]
    fn matches_a_simple_model() {
        for (max, keys, ops) in [
            (1usize, 4u64, 2_000u64),
            (40, 120, 40_000),
            (6_000, 9_000, 120_000),
        ] {
            let mut m: RecentMap<u64, u64> = RecentMap::new(max);
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut rnd = test_rng(0x9E37_79B9_7F4A_7C15 ^ max as u64);
            let mut compacted = false;
            for op in 0..ops {
                let k = rnd(keys);
                // Fill, then remove mostly (compacts a large map), then mix.
                let removing = match op * 3 / ops {
                    0 => 20,
                    1 => 90,
                    _ => 45,
                };
                let r = rnd(100);
                let pos = model.iter().position(|(x, _)| *x == k);
                if r < removing {
                    let want = pos.map(|p| model.remove(p).1);
                    let before = m.records.len();
                    assert_eq!(m.remove(&k), want, "remove at {op}");
                    compacted |= m.records.len() < before;
                } else if r < removing + 5 {
                    assert_eq!(m.renew(&k), pos.is_some(), "renew at {op}");
                    if let Some(p) = pos {
                        let e = model.remove(p);
                        model.push(e);
                    }
                } else if r < removing + 15 {
                    *m.get_or_insert_with(k, || 0) += 1;
                    match pos {
                        Some(p) => model[p].1 += 1,
                        None => {
                            if model.len() >= max {
                                model.remove(0);
                            }
                            model.push((k, 1));
                        }
                    }
                } else {
                    m.insert(k, op);
                    match pos {
                        Some(p) => model[p].1 = op,
                        None => {
                            if model.len() >= max {
                                model.remove(0);
                            }
                            model.push((k, op));
                        }
                    }
                }
                assert_eq!(m.len(), model.len(), "len at {op}");
                let probe = rnd(keys);
                let want = model.iter().find(|(x, _)| *x == probe).map(|(_, v)| v);
                assert_eq!(m.get(&probe), want, "get at {op}");
                assert_eq!(m.contains_key(&probe), want.is_some());
                assert_eq!(m.oldest(), model.first().copied(), "oldest at {op}");
                assert_eq!(m.is_empty(), model.is_empty());
                if op % 997 == 0 {
                    assert!(m.iter().eq(model.iter().copied()), "order at {op}");
                }
            }
            assert!(m.iter().eq(model.iter().copied()));
            for k in 0..keys {
                let want = model.iter().find(|(x, _)| *x == k).map(|(_, v)| v);
                assert_eq!(m.get(&k), want);
            }
            if max > COMPACT_FLOOR {
                assert!(compacted, "the run never compacted the slab");
            }
        }
    }

    /// At its bound with churn (accounts coming and going while the map stays full),
    /// an entry of a 32-byte key and value costs its 72-byte record plus the slab's
    /// quarter of growth room and the index: under 112 bytes, where the std map and
    /// order queue took about 170.
    #[test]
    fn memory_per_entry_at_the_bound() {
        let bound = 100_000;
        let mut m: RecentMap<[u8; 32], [u8; 32]> = RecentMap::new(bound);
        let key = |n: u64| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&n.to_le_bytes());
            b
        };
        let mut most = 0;
        for n in 0..400_000u64 {
            m.insert(key(n), [0; 32]);
            if n % 3 == 0 {
                m.remove(&key(n / 2));
            }
            most = most.max(m.heap_bytes());
            assert!(m.records.capacity() <= bound);
        }
        assert!(m.len() > bound * 9 / 10);
        let per_entry = most / bound;
        eprintln!(
            "recent map of 32-byte keys and values: {per_entry} bytes per entry at its bound"
        );
        assert!(per_entry < 112, "{per_entry} bytes per entry");
    }
}
