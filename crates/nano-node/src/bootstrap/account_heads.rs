//! The two blocks the ascending client remembers per account it is pulling: the head a
//! peer reported (the pull's target) and the last block received (where the pull
//! continues). Each behaves as its own bounded map that forgets its oldest insert first
//! (the [`RecentMap`](crate::recent_map::RecentMap) rules: an update keeps the entry's
//! place), with its own bound and order; the two only share storage.
//!
//! During a large sync both hold about as many accounts as are blocked and queued
//! (250–300 Ki each on the 10M ledger's middle millions), and nearly the same accounts:
//! as two maps every account was stored twice, with two records and two index slots
//! (164 bytes for an account in both, measured at the bound). Here an account has one
//! record holding both blocks and the links of both orders (112 bytes), and one 4-byte
//! slot in one index: 135 bytes measured, the slab's last growth step included (see the
//! test at the end).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use nano_core::{Account, BlockHash};

use crate::hash_churn::insert_index;

/// Which of the two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// The head a peer reported for the account.
    Target = 0,
    /// The last block received for the account.
    PulledTo = 1,
}

/// The end of an order list.
const NIL: u32 = u32::MAX;
/// In a record's `older` link of one map: the account is not in that map. A record
/// absent from both is free (its `newer[0]` links the next free record).
const ABSENT: u32 = u32::MAX - 1;

/// Slabs at most this many records long are never compacted: their free records cost
/// little, and compacting them would only add work.
const COMPACT_FLOOR: usize = 4096;

#[derive(Debug)]
struct Record {
    account: Account,
    heads: [BlockHash; 2],
    /// Per map: the neighbour inserted before (NIL: the oldest), or ABSENT.
    older: [u32; 2],
    /// Per map: the neighbour inserted after (NIL: the newest).
    newer: [u32; 2],
}

impl Record {
    fn is_free(&self) -> bool {
        self.older == [ABSENT, ABSENT]
    }
}

#[derive(Debug, Clone, Copy)]
struct Order {
    oldest: u32,
    newest: u32,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct AccountHeads {
    records: Vec<Record>,
    free: u32,
    /// Index of every record in use (in either map), by its account.
    index: HashTable<u32>,
    orders: [Order; 2],
    /// Keyed hashing: accounts come from peers.
    hasher: RandomState,
    /// Entries each map keeps at most.
    max: usize,
}

impl AccountHeads {
    /// Two maps of at most `max` accounts each.
    pub(crate) fn new(max: usize) -> Self {
        let empty = Order {
            oldest: NIL,
            newest: NIL,
            len: 0,
        };
        AccountHeads {
            records: Vec::new(),
            free: NIL,
            index: HashTable::new(),
            orders: [empty; 2],
            hasher: RandomState::new(),
            // Records number at most twice the bound (an account in one map each), and
            // their indices stay below the markers.
            max: max.clamp(1, (ABSENT as usize - 1) / 2),
        }
    }

    fn find(&self, k: &Account) -> Option<u32> {
        let records = &self.records;
        self.index
            .find(self.hasher.hash_one(k), |&i| {
                records[i as usize].account == *k
            })
            .copied()
    }

    /// Record `i`'s place in map `h`, if it is in it.
    fn find_in(&self, h: Head, k: &Account) -> Option<u32> {
        self.find(k)
            .filter(|&i| self.records[i as usize].older[h as usize] != ABSENT)
    }

    pub(crate) fn get(&self, h: Head, k: &Account) -> Option<&BlockHash> {
        self.find_in(h, k)
            .map(|i| &self.records[i as usize].heads[h as usize])
    }

    pub(crate) fn contains_key(&self, h: Head, k: &Account) -> bool {
        self.find_in(h, k).is_some()
    }

    pub(crate) fn len(&self, h: Head) -> usize {
        self.orders[h as usize].len
    }

    /// Sets `k` to `v` in map `h` (a present key keeps its place in that map's order).
    pub(crate) fn insert(&mut self, h: Head, k: Account, v: BlockHash) {
        *self.get_or_insert_with(h, k, || v) = v;
    }

    /// The value of `k` in map `h`, inserting `make()` first when absent.
    pub(crate) fn get_or_insert_with(
        &mut self,
        h: Head,
        k: Account,
        make: impl FnOnce() -> BlockHash,
    ) -> &mut BlockHash {
        let i = match self.find_in(h, &k) {
            Some(i) => i,
            None => self.add(h, k, make()),
        };
        &mut self.records[i as usize].heads[h as usize]
    }

    pub(crate) fn remove(&mut self, h: Head, k: &Account) -> Option<BlockHash> {
        let i = self.find_in(h, k)?;
        let v = self.leave(h, i);
        self.compact_sparse();
        Some(v)
    }

    /// Adds `k`, absent from map `h`, as that map's newest entry, forgetting the map's
    /// oldest first when it is full. Returns its record.
    fn add(&mut self, h: Head, k: Account, v: BlockHash) -> u32 {
        let s = h as usize;
        while self.orders[s].len >= self.max && self.orders[s].oldest != NIL {
            // Never `k`'s own record: `k` is not in this map. Nothing moves here, so
            // a record found before stays where it is.
            self.leave(h, self.orders[s].oldest);
        }
        let i = match self.find(&k) {
            Some(i) => i,
            None => self.allocate(k),
        };
        let newest = self.orders[s].newest;
        let r = &mut self.records[i as usize];
        r.heads[s] = v;
        r.older[s] = newest;
        r.newer[s] = NIL;
        if newest == NIL {
            self.orders[s].oldest = i;
        } else {
            self.records[newest as usize].newer[s] = i;
        }
        self.orders[s].newest = i;
        self.orders[s].len += 1;
        i
    }

    /// A record for `k` in neither map yet, indexed.
    fn allocate(&mut self, k: Account) -> u32 {
        let record = Record {
            account: k,
            heads: [BlockHash::ZERO; 2],
            older: [ABSENT; 2],
            newer: [NIL; 2],
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.records[i as usize].newer[0];
            self.records[i as usize] = record;
            i
        } else {
            // Grow by an eighth, never past what both maps full can hold: doubling
            // would leave up to half of a large slab unused. A large slab has its own
            // mapping (see `heap_trim`), which grows in place without a copy.
            if self.records.len() == self.records.capacity() {
                let more = (self.records.len() / 8)
                    .max(16)
                    .min((2 * self.max).saturating_sub(self.records.len()));
                self.records.reserve_exact(more.max(1));
            }
            self.records.push(record);
            (self.records.len() - 1) as u32
        };
        let (records, hasher) = (&self.records, &self.hasher);
        insert_index(&mut self.index, hasher.hash_one(k), i, |&j| {
            hasher.hash_one(records[j as usize].account)
        });
        i
    }

    /// Takes record `i` out of map `h`'s order; frees it when it is in neither map.
    fn leave(&mut self, h: Head, i: u32) -> BlockHash {
        let s = h as usize;
        let r = &self.records[i as usize];
        let (value, older, newer) = (r.heads[s], r.older[s], r.newer[s]);
        if older == NIL {
            self.orders[s].oldest = newer;
        } else {
            self.records[older as usize].newer[s] = newer;
        }
        if newer == NIL {
            self.orders[s].newest = older;
        } else {
            self.records[newer as usize].older[s] = older;
        }
        self.orders[s].len -= 1;
        let r = &mut self.records[i as usize];
        r.older[s] = ABSENT;
        r.newer[s] = NIL;
        if r.is_free() {
            let account = r.account;
            r.newer[0] = self.free;
            self.free = i;
            if let Ok(e) = self
                .index
                .find_entry(self.hasher.hash_one(account), |&j| j == i)
            {
                e.remove();
            }
        }
        value
    }

    /// When under a quarter of the slab's records are in use (accounts pulled to the
    /// end leave both maps), moves them to a slab of their size and rebuilds the index,
    /// so the memory follows the accounts held now, not the most ever held. Costs the
    /// records in use, paid for by the three times as many freed since the slab was
    /// last this long.
    fn compact_sparse(&mut self) {
        let (live, len) = (self.index.len(), self.records.len());
        if len <= COMPACT_FLOOR || live * 4 >= len {
            return;
        }
        let mut moved_to = vec![NIL; len];
        let mut records = Vec::with_capacity(live + live / 4);
        for (old, r) in self.records.iter().enumerate() {
            if !r.is_free() {
                moved_to[old] = records.len() as u32;
                records.push(Record {
                    account: r.account,
                    heads: r.heads,
                    older: r.older,
                    newer: r.newer,
                });
            }
        }
        let map = |i: u32| match i {
            NIL | ABSENT => i,
            i => moved_to[i as usize],
        };
        for r in &mut records {
            for s in 0..2 {
                if r.older[s] != ABSENT {
                    r.older[s] = map(r.older[s]);
                    r.newer[s] = map(r.newer[s]);
                }
            }
        }
        for o in &mut self.orders {
            o.oldest = map(o.oldest);
            o.newest = map(o.newest);
        }
        let hasher = &self.hasher;
        let mut index = HashTable::with_capacity(live);
        for (at, r) in records.iter().enumerate() {
            index.insert_unique(hasher.hash_one(r.account), at as u32, |&j: &u32| {
                hasher.hash_one(records[j as usize].account)
            });
        }
        self.records = records;
        self.index = index;
        self.free = NIL;
    }

    /// Bytes the two maps hold on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Record>() + self.index.allocation_size()
    }

    /// Map `h`'s entries, oldest first.
    #[cfg(test)]
    fn entries(&self, h: Head) -> Vec<(Account, BlockHash)> {
        let s = h as usize;
        let mut out = Vec::new();
        let mut i = self.orders[s].oldest;
        while i != NIL {
            let r = &self.records[i as usize];
            out.push((r.account, r.heads[s]));
            i = r.newer[s];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recent_map::{test_key, test_rng, RecentMap};

    fn account(n: u64) -> Account {
        Account::from_bytes(test_key(n))
    }

    /// Distinct from every account's bytes.
    fn hash(n: u64) -> BlockHash {
        BlockHash::from_bytes(test_key(n | 1 << 63))
    }

    /// Random inserts, updates, counted updates and removals in both maps over a small
    /// key space: every answer, and each map's order, equals two independent
    /// `RecentMap`s (the form this replaces) given the same operations.
    #[test]
    fn behaves_as_two_recent_maps() {
        for (max, keys, ops) in [
            (1usize, 4u64, 3_000u64),
            (40, 120, 60_000),
            (6_000, 9_000, 200_000),
        ] {
            let mut m = AccountHeads::new(max);
            let mut models = [RecentMap::new(max), RecentMap::new(max)];
            let mut rnd = test_rng(0xA5A5_1234_5678_9ABC ^ max as u64);
            let mut compacted = false;
            for op in 0..ops {
                let h = if rnd(2) == 0 {
                    Head::Target
                } else {
                    Head::PulledTo
                };
                let model = &mut models[h as usize];
                let k = account(rnd(keys));
                let v = hash(rnd(1 << 20));
                match rnd(8) {
                    0..=2 => {
                        m.insert(h, k, v);
                        model.insert(k, v);
                    }
                    3 => {
                        let a = *m.get_or_insert_with(h, k, || v);
                        let b = *model.get_or_insert_with(k, || v);
                        assert_eq!(a, b);
                    }
                    4..=5 => {
                        let before = m.records.len();
                        assert_eq!(m.remove(h, &k), model.remove(&k));
                        compacted |= m.records.len() < before;
                    }
                    _ => {
                        assert_eq!(m.get(h, &k), model.get(&k));
                        assert_eq!(m.contains_key(h, &k), model.contains_key(&k));
                    }
                }
                if op % 997 == 0 || max < 50 {
                    for h in [Head::Target, Head::PulledTo] {
                        let model = &models[h as usize];
                        assert_eq!(m.len(h), model.len());
                        assert_eq!(m.entries(h), model.iter().collect::<Vec<_>>());
                    }
                    // One record per account in either map.
                    let mut both: Vec<Account> = models
                        .iter()
                        .flat_map(|mm| mm.iter().map(|(k, _)| k))
                        .collect();
                    both.sort_unstable_by_key(|a| *a.as_bytes());
                    both.dedup();
                    assert_eq!(m.index.len(), both.len());
                }
            }
            // The last phase empties the maps enough to compact the large slab.
            if max > COMPACT_FLOOR {
                for n in 0..keys {
                    for h in [Head::Target, Head::PulledTo] {
                        let before = m.records.len();
                        assert_eq!(
                            m.remove(h, &account(n)),
                            models[h as usize].remove(&account(n))
                        );
                        compacted |= m.records.len() < before;
                    }
                }
                assert!(compacted, "the slab was compacted at least once");
                assert_eq!(m.len(Head::Target), 0);
                assert_eq!(m.len(Head::PulledTo), 0);
            }
        }
    }

    /// Each map forgets its own oldest when full; the other keeps the account.
    #[test]
    fn each_map_keeps_its_own_bound_and_order() {
        let mut m = AccountHeads::new(2);
        m.insert(Head::Target, account(1), hash(1));
        m.insert(Head::PulledTo, account(1), hash(11));
        m.insert(Head::Target, account(2), hash(2));
        m.insert(Head::Target, account(3), hash(3));
        assert_eq!(m.get(Head::Target, &account(1)), None);
        assert_eq!(m.get(Head::PulledTo, &account(1)), Some(&hash(11)));
        // An update keeps the entry's place: account 2 is still the oldest target.
        m.insert(Head::Target, account(2), hash(22));
        m.insert(Head::Target, account(4), hash(4));
        assert_eq!(
            m.entries(Head::Target),
            vec![(account(3), hash(3)), (account(4), hash(4))]
        );
        assert_eq!(m.remove(Head::PulledTo, &account(1)), Some(hash(11)));
        assert_eq!(m.len(Head::PulledTo), 0);
        assert_eq!(m.index.len(), 2);
    }

    /// Both maps at their bound over the same accounts, with churn: bytes per account
    /// against the two maps this replaces.
    #[test]
    fn memory_per_account_in_both_maps() {
        let bound = 1u64 << 17;
        let mut m = AccountHeads::new(bound as usize);
        let mut targets = RecentMap::new(bound as usize);
        let mut pulled = RecentMap::new(bound as usize);
        let (mut most, mut most_two) = (0, 0);
        for n in 0..bound * 3 {
            for h in [Head::Target, Head::PulledTo] {
                m.insert(h, account(n), hash(n));
            }
            targets.insert(account(n), hash(n));
            pulled.insert(account(n), hash(n));
            // Accounts pulled to the end leave both (and their records are reused).
            if n >= bound / 2 && n % 3 == 0 {
                let gone = account(n - bound / 2);
                m.remove(Head::Target, &gone);
                m.remove(Head::PulledTo, &gone);
                targets.remove(&gone);
                pulled.remove(&gone);
            }
            most = most.max(m.heap_bytes());
            most_two = most_two.max(targets.heap_bytes() + pulled.heap_bytes());
        }
        let per = most / bound as usize;
        let per_two = most_two / bound as usize;
        eprintln!("account heads: {per} bytes per account in both maps ({per_two} as two maps)");
        assert!(per < 140, "{per} bytes per account");
        assert!(per * 8 < per_two * 7, "{per} against {per_two}");
    }
}
