//! The ascending client's pull queue: the accounts waiting to be pulled, in the order
//! they are pulled, each at most once, with where its pull starts and why it was
//! queued.
//!
//! It holds up to `priorities_max` (256 Ki) accounts during a large sync, so the layout
//! is chosen for memory and for the lookup a queued account's update needs: the pulls
//! live once, in a ring in pull order, and a hash table of 4-byte tickets (a pull's
//! place counted from a moving origin, so popping the front renumbers nothing) finds an
//! account's pull. A deque of pulls plus a std set of the queued accounts kept every
//! account twice (66 + 33 bytes and their growth room), and updating a queued
//! account's start scanned the deque from the front.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use nano_core::{Account, BlockHash};

use super::pull_stats::Why;
use super::shrink::Shrinkable;
use crate::hash_churn::insert_index;

/// One account waiting to be pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pull {
    pub(crate) account: Account,
    /// Continue from this block (inclusive on the wire; we skip it); `None`: from the
    /// local head, or the open block when the account is new.
    pub(crate) from: Option<BlockHash>,
    pub(crate) why: Why,
}

#[derive(Debug)]
pub(crate) struct PullQueue {
    ring: VecDeque<Pull>,
    /// The ticket of `ring[0]`; `ring[i]` holds ticket `origin + i` (wrapping: fewer
    /// than 2^32 pulls are ever queued at once, so tickets are distinct).
    origin: u32,
    /// The ticket of every queued pull, by its account.
    index: HashTable<u32>,
    /// Keyed hashing: accounts come from peers.
    hasher: RandomState,
}

impl Default for PullQueue {
    fn default() -> Self {
        PullQueue {
            ring: VecDeque::new(),
            origin: 0,
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

impl PullQueue {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    fn slot(&self, ticket: u32) -> usize {
        ticket.wrapping_sub(self.origin) as usize
    }

    fn find(&self, account: &Account) -> Option<usize> {
        let h = self.hasher.hash_one(account);
        self.index
            .find(h, |&t| self.ring[self.slot(t)].account == *account)
            .map(|&t| self.slot(t))
    }

    pub(crate) fn contains(&self, account: &Account) -> bool {
        self.find(account).is_some()
    }

    /// Queues `p` at the front or the back. An account already queued keeps its place;
    /// a continuation (`from` set) replaces its start and reason, a fresh start changes
    /// nothing. A new account is refused when `max` pulls are queued. True when `p`
    /// was added.
    pub(crate) fn push(&mut self, p: Pull, front: bool, max: usize) -> bool {
        if let Some(i) = self.find(&p.account) {
            if p.from.is_some() {
                let q = &mut self.ring[i];
                q.from = p.from;
                q.why = p.why;
            }
            return false;
        }
        if self.ring.len() >= max {
            return false;
        }
        self.add(p, front);
        true
    }

    /// Puts a pull just taken with [`pop_front`](Self::pop_front) back in its place,
    /// the bound aside (it left that room). An account queued again meanwhile stays as
    /// it is.
    pub(crate) fn put_back(&mut self, p: Pull) {
        if !self.contains(&p.account) {
            self.add(p, true);
        }
    }

    fn add(&mut self, p: Pull, front: bool) {
        let ticket = if front {
            self.origin = self.origin.wrapping_sub(1);
            self.ring.push_front(p);
            self.origin
        } else {
            self.ring.push_back(p);
            self.origin.wrapping_add(self.ring.len() as u32 - 1)
        };
        let (ring, origin, hasher) = (&self.ring, self.origin, &self.hasher);
        let rehash = |t: &u32| hasher.hash_one(ring[t.wrapping_sub(origin) as usize].account);
        insert_index(&mut self.index, hasher.hash_one(p.account), ticket, rehash);
    }

    /// Takes the next pull.
    pub(crate) fn pop_front(&mut self) -> Option<Pull> {
        let p = self.ring.pop_front()?;
        let ticket = self.origin;
        if let Ok(entry) = self
            .index
            .find_entry(self.hasher.hash_one(p.account), |&t| t == ticket)
        {
            entry.remove();
        }
        self.origin = self.origin.wrapping_add(1);
        Some(p)
    }

    /// The pulls in the order they will be taken.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Pull> + '_ {
        self.ring.iter()
    }

    /// Bytes the queue holds on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Pull>() + self.index.allocation_size()
    }
}

/// The ring's capacity decides; the index follows it down.
impl Shrinkable for PullQueue {
    fn len(&self) -> usize {
        self.ring.len()
    }
    fn capacity(&self) -> usize {
        self.ring.capacity()
    }
    fn shrink_to(&mut self, min: usize) {
        self.ring.shrink_to(min);
        let (ring, origin, hasher) = (&self.ring, self.origin, &self.hasher);
        self.index.shrink_to(min, |t: &u32| {
            hasher.hash_one(ring[t.wrapping_sub(origin) as usize].account)
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::bootstrap::shrink::shrink_sparse;
    use crate::recent_map::test_rng;

    const WHYS: [Why; 3] = [Why::Scan, Why::Continue, Why::Requeue];

    /// The former layout, as the ascending client kept it: a deque of pulls, a set of
    /// the queued accounts, the update found by a scan from the front.
    #[derive(Default)]
    struct Model {
        queue: VecDeque<Pull>,
        queued: HashSet<Account>,
    }

    impl Model {
        fn push(&mut self, p: Pull, front: bool, max: usize) -> bool {
            if !self.queued.insert(p.account) {
                if p.from.is_some() {
                    if let Some(q) = self.queue.iter_mut().find(|q| q.account == p.account) {
                        q.from = p.from;
                        q.why = p.why;
                    }
                }
                return false;
            }
            if self.queue.len() >= max {
                self.queued.remove(&p.account);
                return false;
            }
            if front {
                self.queue.push_front(p);
            } else {
                self.queue.push_back(p);
            }
            true
        }
        fn pop_front(&mut self) -> Option<Pull> {
            let p = self.queue.pop_front()?;
            self.queued.remove(&p.account);
            Some(p)
        }
        fn put_back(&mut self, p: Pull) {
            self.queue.push_front(p);
            self.queued.insert(p.account);
        }
    }

    fn account(n: u64) -> Account {
        let mut a = [0u8; 32];
        a[..8].copy_from_slice(&n.to_le_bytes());
        Account::from_bytes(a)
    }

    /// Random pushes at either end (fresh starts and continuations, many of accounts
    /// already queued), pops, and pops put back, against a bound of 300: every answer,
    /// the order, and every account's presence equal the former layout's. Runs long
    /// enough for the tickets to wrap and the index to rebuild.
    #[test]
    fn behaves_as_the_deque_and_set_it_replaces() {
        let mut rng = test_rng(18);
        let (mut q, mut m) = (PullQueue::new(), Model::default());
        // Tickets start just below the wrap, so they cross it.
        q.origin = u32::MAX - 1000;
        let max = 300;
        for step in 0..200_000u64 {
            let a = account(rng(500));
            let from = if rng(2) == 0 {
                None
            } else {
                Some(BlockHash::from_bytes([(step % 251) as u8; 32]))
            };
            let p = Pull {
                account: a,
                from,
                why: WHYS[rng(3) as usize],
            };
            match rng(10) {
                0..=4 => {
                    let front = rng(4) == 0;
                    assert_eq!(q.push(p, front, max), m.push(p, front, max), "step {step}");
                }
                5..=7 => assert_eq!(q.pop_front(), m.pop_front(), "step {step}"),
                8 => {
                    let (x, y) = (q.pop_front(), m.pop_front());
                    assert_eq!(x, y, "step {step}");
                    if let Some(x) = x {
                        q.put_back(x);
                        m.put_back(x);
                    }
                }
                _ => {
                    assert_eq!(q.contains(&a), m.queued.contains(&a), "step {step}");
                    shrink_sparse(&mut q);
                }
            }
            assert_eq!(q.len(), m.queue.len());
            if step % 1000 == 0 {
                assert!(q.iter().eq(m.queue.iter()), "step {step}");
            }
        }
        assert!(q.iter().eq(m.queue.iter()));
    }

    /// Drained after holding its bound, the queue gives its memory back.
    #[test]
    fn a_drained_queue_shrinks() {
        let mut q = PullQueue::new();
        for n in 0..100_000 {
            let p = Pull {
                account: account(n),
                from: None,
                why: Why::Scan,
            };
            assert!(q.push(p, false, usize::MAX));
        }
        let full = q.heap_bytes();
        for n in 0..99_900 {
            assert_eq!(q.pop_front().map(|p| p.account), Some(account(n)));
        }
        shrink_sparse(&mut q);
        assert!(q.heap_bytes() < full / 10, "{} of {full}", q.heap_bytes());
        assert!(q.contains(&account(99_999)));
        assert!(!q.contains(&account(0)));
    }

    /// At the default bound (`priorities_max`, 256 Ki) with churn (accounts popped
    /// from the front as new ones join at either end): a pull costs its 66-byte record
    /// and a 4-byte index slot with their growth room, under 80 bytes; the former deque
    /// and set took over 130 (its set's slots computed from its capacity as hashbrown
    /// sizes them: a power of two at most 7/8 full, 33 bytes each).
    #[test]
    fn bytes_per_queued_pull() {
        let bound = 262_144;
        let (mut q, mut m) = (PullQueue::new(), Model::default());
        let (mut most, mut most_model) = (0, 0);
        for n in 0..3 * bound as u64 {
            let p = Pull {
                account: account(n),
                from: Some(BlockHash::from_bytes([1; 32])),
                why: Why::Scan,
            };
            q.push(p, n % 7 == 0, bound);
            m.push(p, n % 7 == 0, bound);
            if q.len() == bound {
                q.pop_front();
                m.pop_front();
            }
            most = most.max(q.heap_bytes());
            let slots = (m.queued.capacity() * 8 / 7).next_power_of_two();
            most_model = most_model.max(m.queue.capacity() * 66 + slots * 33);
        }
        let (per_pull, per_model) = (most / bound, most_model / bound);
        eprintln!("pull queue: {per_pull} bytes per pull at its bound ({per_model} before)");
        assert!(per_pull < 80, "{per_pull} bytes per pull");
        assert!(per_model > 130, "{per_model} bytes per pull before");
    }
}
