//! Keeping a bounded hash table that is constantly inserted into and removed from at
//! the size its entries need.
//!
//! std's `HashMap` (hashbrown) marks a removed slot "deleted" rather than empty when
//! its neighbourhood is full, and a deleted slot is not reused by a new key's probe
//! until the table is rehashed. Once deleted slots have used up the room left, the
//! next insert rehashes — in place only when the table is at most half full;
//! otherwise it allocates a table of twice the slots. A table held near its bound
//! with churn (the gap table at its 64 Ki blocks, the ascending client's sets at
//! theirs) therefore ends up with four slots per entry instead of two: measured on
//! the 10M-block sync at 1.5M blocks, the gap table's four hash tables held 262,144
//! slots each for 65,536 blocks (51 MB of the 94 MB it took). [`reclaim_deleted`],
//! called before an insert, rebuilds such a table at its current size instead.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Tables under this many entries are left to grow as they do: their slots are
/// small, and rebuilding them would only add work.
const RECLAIM_FLOOR: usize = 1024;

/// A hash table whose slots can be counted and rebuilt.
pub(crate) trait Rebuild {
    fn len(&self) -> usize;
    /// Entries it can hold before it must rehash (entries + free slots).
    fn capacity(&self) -> usize;
    /// Moves every entry into a fresh table with room for `capacity` entries.
    fn rebuild(&mut self, capacity: usize);
}

impl<K: Hash + Eq, V, S: BuildHasher + Clone> Rebuild for HashMap<K, V, S> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn capacity(&self) -> usize {
        HashMap::capacity(self)
    }
    fn rebuild(&mut self, capacity: usize) {
        let mut fresh = HashMap::with_capacity_and_hasher(capacity, self.hasher().clone());
        fresh.extend(self.drain());
        *self = fresh;
    }
}

impl<K: Hash + Eq, S: BuildHasher + Clone> Rebuild for HashSet<K, S> {
    fn len(&self) -> usize {
        HashSet::len(self)
    }
    fn capacity(&self) -> usize {
        HashSet::capacity(self)
    }
    fn rebuild(&mut self, capacity: usize) {
        let mut fresh = HashSet::with_capacity_and_hasher(capacity, self.hasher().clone());
        fresh.extend(self.drain());
        *self = fresh;
    }
}

/// Call before inserting a new key into `t`: when the insert would make the table
/// rehash (no room left, whether taken by entries or by deleted slots), the table is
/// rebuilt here with room for a quarter more than it holds. Deleted slots are dropped,
/// so a table whose room was eaten by them keeps its number of slots; a table really
/// full grows to the size its own rehash would have chosen. Each rebuild costs the
/// table's entries and is followed by at least a quarter of that many inserts before
/// the next, so the cost per insert stays constant.
pub(crate) fn reclaim_deleted<T: Rebuild>(t: &mut T) {
    let len = t.len();
    if len >= RECLAIM_FLOOR && len >= t.capacity() {
        t.rebuild(len + 1 + len / 4);
    }
}

/// [`reclaim_deleted`] for a table of slab indices (`hashbrown::HashTable<u32>`, as the
/// gap table and the ascending client's maps keep), followed by the insert of `value`
/// at `hash`: a rebuild needs the hash of the record each index names, which `rehash`
/// gives.
pub(crate) fn insert_index(
    t: &mut HashTable<u32>,
    hash: u64,
    value: u32,
    rehash: impl Fn(&u32) -> u64,
) {
    let len = t.len();
    if len >= RECLAIM_FLOOR && len >= t.capacity() {
        let mut fresh = HashTable::with_capacity(len + 1 + len / 4);
        for &i in t.iter() {
            fresh.insert_unique(rehash(&i), i, &rehash);
        }
        *t = fresh;
    }
    t.insert_unique(hash, value, rehash);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Churns `m` at `live` entries (insert a new key, remove the oldest) for `rounds`
    /// inserts, calling `reclaim_deleted` before each insert when `reclaim`. Returns
    /// the largest capacity seen.
    fn churn(live: u64, rounds: u64, reclaim: bool) -> usize {
        let mut m: HashMap<u64, [u8; 32]> = HashMap::new();
        let mut most = 0;
        for k in 0..live + rounds {
            if reclaim {
                reclaim_deleted(&mut m);
            }
            m.insert(k, [0; 32]);
            if k >= live {
                m.remove(&(k - live));
            }
            most = most.max(m.capacity());
        }
        most
    }

    #[test]
    fn a_churned_table_keeps_its_slots() {
        // 65,536 live entries need 131,072 slots (room for 114,688 entries).
        let live = 65_536;
        let kept = churn(live, 2_000_000, true);
        assert!(kept <= 114_688, "capacity {kept}");
        // Without it the deleted slots make the table double (the reason for this
        // module; if std's table stops doing that, this helper can go).
        let grown = churn(live, 2_000_000, false);
        assert!(grown > 114_688, "capacity {grown}");
    }

    #[test]
    fn a_table_really_full_still_grows_and_small_ones_are_left_alone() {
        let mut m: HashSet<u32> = HashSet::new();
        for k in 0..100_000 {
            reclaim_deleted(&mut m);
            m.insert(k);
        }
        assert_eq!(m.len(), 100_000);
        assert!((0..100_000).all(|k| m.contains(&k)));
        assert!(m.capacity() >= 100_000);
        let mut small: HashSet<u32> = (0..3).collect();
        let before = small.capacity();
        reclaim_deleted(&mut small);
        assert_eq!(small.capacity(), before);
    }

    #[test]
    fn a_churned_index_keeps_its_buckets() {
        // An index of 65,536 live records under churn, as the gap table at its bound.
        let hash = |i: &u32| u64::from(*i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let live = 65_536u32;
        let mut t: HashTable<u32> = HashTable::new();
        let mut most = 0;
        for i in 0..live * 20 {
            insert_index(&mut t, hash(&i), i, hash);
            if i >= live {
                let old = i - live;
                let Ok(e) = t.find_entry(hash(&old), |&j| j == old) else {
                    panic!("{old} indexed");
                };
                e.remove();
            }
            most = most.max(t.capacity());
        }
        assert_eq!(t.len(), live as usize);
        assert!(most <= 114_688, "capacity {most}");
        let last = live * 20 - 1;
        assert_eq!(t.find(hash(&last), |&j| j == last), Some(&last));
    }
}
