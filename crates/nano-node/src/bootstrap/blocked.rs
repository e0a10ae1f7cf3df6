//! The accounts the ascending client holds back because a block of theirs needs a block
//! that is not in the ledger yet (a receive's source), each with that dependency, and
//! the turn in which they are looked at again (a window of them per tick, front to
//! back, so every one is looked at however many there are).
//!
//! Up to `blocking_max` (256 Ki by default) accounts stay blocked for most of a large
//! sync, so the set takes the layout of [`RecentMap`]: one slab of (account, dependency,
//! order links) records and a table of 4-byte record indices, the insertion order being
//! the turn. The std map of account to dependency plus a queue of the accounts for the
//! turn held the account twice and two map slots per entry under churn: about 160-190
//! bytes per blocked account at the bound, where this takes about 85 (see the test at
//! the end).

use nano_core::{Account, BlockHash};

use crate::recent_map::RecentMap;

pub(crate) struct BlockedSet {
    map: RecentMap<Account, BlockHash>,
    max: usize,
}

impl BlockedSet {
    pub(crate) fn new(max: usize) -> Self {
        BlockedSet {
            map: RecentMap::new(max),
            max,
        }
    }

    /// Blocks `account` on `dep`, at the back of the turn (an account blocked already
    /// takes the new dependency and keeps its place); false when `max` accounts are
    /// blocked already.
    pub(crate) fn block(&mut self, account: Account, dep: BlockHash) -> bool {
        if self.map.len() >= self.max && !self.map.contains_key(&account) {
            return false;
        }
        self.map.insert(account, dep);
        true
    }

    /// The dependency `account` is blocked on.
    pub(crate) fn get(&self, account: &Account) -> Option<&BlockHash> {
        self.map.get(account)
    }

    pub(crate) fn contains_key(&self, account: &Account) -> bool {
        self.map.contains_key(account)
    }

    pub(crate) fn remove(&mut self, account: &Account) -> Option<BlockHash> {
        self.map.remove(account)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The next `n` accounts of the turn with their dependencies (each at most once),
    /// every one moved to the back of the turn as it is yielded.
    pub(crate) fn take_turns(
        &mut self,
        n: usize,
    ) -> impl Iterator<Item = (Account, BlockHash)> + '_ {
        let n = n.min(self.map.len());
        (0..n).map_while(move |_| {
            let (account, dep) = self.map.oldest()?;
            self.map.renew(&account);
            Some((account, dep))
        })
    }

    /// Moves `account` to the back of the turn.
    pub(crate) fn send_back(&mut self, account: &Account) {
        self.map.renew(account);
    }

    /// The blocked accounts and their dependencies, in turn.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Account, BlockHash)> + '_ {
        self.map.iter()
    }

    /// Bytes the set holds on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::*;
    use crate::recent_map::test_rng;

    fn account(n: u64) -> Account {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&n.to_le_bytes());
        Account::from_bytes(b)
    }

    fn hash(n: u64) -> BlockHash {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&n.to_le_bytes());
        BlockHash::from_bytes(b)
    }

    /// The client's former layout, as its unblock pass used it: a map and a queue of
    /// the turn, a window popped from the front and pushed back, the accounts found
    /// ready either removed or (when they cannot be moved on) pushed back after the rest.
    struct Model {
        map: HashMap<Account, BlockHash>,
        order: VecDeque<Account>,
        max: usize,
    }

    impl Model {
        fn block(&mut self, account: Account, dep: BlockHash) -> bool {
            if self.map.len() >= self.max && !self.map.contains_key(&account) {
                return false;
            }
            if self.map.insert(account, dep).is_none() {
                self.order.push_back(account);
            }
            true
        }

        fn unblock(&mut self, window: usize, ready: impl Fn(&BlockHash) -> Option<bool>) {
            let (mut removed, mut kept) = (Vec::new(), Vec::new());
            for _ in 1..=self.order.len().min(window) {
                let a = self.order.pop_front().unwrap();
                let dep = self.map[&a];
                match ready(&dep) {
                    Some(true) => removed.push(a),
                    Some(false) => kept.push(a),
                    None => self.order.push_back(a),
                }
            }
            for a in removed {
                self.map.remove(&a);
            }
            self.order.extend(kept);
        }
    }

    /// The same pass on the slab, as the client runs it.
    fn unblock(set: &mut BlockedSet, window: usize, ready: impl Fn(&BlockHash) -> Option<bool>) {
        let (mut removed, mut kept) = (Vec::new(), Vec::new());
        for (a, dep) in set.take_turns(window) {
            match ready(&dep) {
                Some(true) => removed.push(a),
                Some(false) => kept.push(a),
                None => {}
            }
        }
        for a in removed {
            set.remove(&a);
        }
        for a in kept {
            set.send_back(&a);
        }
    }

    /// Random blocks, re-blocks, removals and unblock passes over a small key space:
    /// every answer and the turn equal the former map and queue.
    #[test]
    fn matches_the_map_and_queue_it_replaces() {
        for (max, keys, ops) in [
            (1usize, 4u64, 3_000u64),
            (50, 150, 30_000),
            (6_000, 9_000, 60_000),
        ] {
            let mut set = BlockedSet::new(max);
            let mut model = Model {
                map: HashMap::new(),
                order: VecDeque::new(),
                max,
            };
            let mut rnd = test_rng(0x2545_F491_4F6C_DD1D ^ max as u64);
            for op in 0..ops {
                let k = account(rnd(keys));
                // Mostly blocking in the first half, mostly releasing in the second.
                let releasing = if op * 2 < ops { 15 } else { 50 };
                let r = rnd(100);
                if r < releasing {
                    assert_eq!(set.remove(&k), model.map.remove(&k), "remove at {op}");
                    model.order.retain(|a| *a != k);
                } else if r < releasing + 5 {
                    // A pass: dependencies by their number are ready, stuck or waiting.
                    let window = 1 + rnd(max as u64 / 2 + 2) as usize;
                    let salt = rnd(3);
                    let ready = |d: &BlockHash| match (d.as_bytes()[31] as u64 + salt) % 3 {
                        0 => Some(true),
                        1 => Some(false),
                        _ => None,
                    };
                    unblock(&mut set, window, ready);
                    model.unblock(window, ready);
                } else {
                    let dep = hash(rnd(1 << 20));
                    assert_eq!(set.block(k, dep), model.block(k, dep), "block at {op}");
                }
                assert_eq!(set.len(), model.map.len(), "len at {op}");
                assert_eq!(set.is_empty(), model.map.is_empty());
                let probe = account(rnd(keys));
                assert_eq!(set.get(&probe), model.map.get(&probe), "get at {op}");
                assert_eq!(set.contains_key(&probe), model.map.contains_key(&probe));
                if op % 499 == 0 {
                    assert!(set.iter().map(|(a, _)| a).eq(model.order.iter().copied()));
                }
            }
            assert!(set.iter().map(|(a, _)| a).eq(model.order.iter().copied()));
            assert!(set.iter().all(|(a, d)| model.map[&a] == d));
            assert!(set.len() <= max);
        }
    }

    /// At its bound with churn (accounts released and blocked while the set stays
    /// full), a blocked account costs its 72-byte record, the slab's growth room and the
    /// index: under 100 bytes, where the map and queue took about 160-190.
    #[test]
    fn memory_per_entry_at_the_bound() {
        let bound = 100_000;
        let mut set = BlockedSet::new(bound);
        let mut most = 0;
        let mut next = 0u64;
        for round in 0..40u64 {
            while set.block(account(next), hash(next)) {
                next += 1;
            }
            // A pass releases every third account of a window.
            let released: Vec<Account> = set
                .take_turns(8192)
                .filter(|(_, d)| (d.as_bytes()[31] as u64 + round) % 3 == 0)
                .map(|(a, _)| a)
                .collect();
            for a in &released {
                set.remove(a);
            }
            most = most.max(set.heap_bytes());
        }
        assert!(set.len() > bound * 9 / 10, "{}", set.len());
        let per_entry = most / bound;
        eprintln!("blocked set: {per_entry} bytes per blocked account at its bound");
        assert!(per_entry < 100, "{per_entry} bytes per entry");
    }
}
