//! The set of running elections: bounded in number (the lowest-priority election is
//! evicted when a more important one needs room), indexed by root and by candidate hash,
//! with the history of recent confirmations for `confirmation_history`.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet, VecDeque};

use nano_core::{Amount, Block, BlockHash, QualifiedRoot};

use super::election::{Behavior, Election, ElectionSummary, Priority, MAX_CANDIDATES};

/// What [`ActiveElections::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new election; `evicted` lists the winners of elections dropped to make room.
    Started { evicted: Vec<BlockHash> },
    /// The block joined an existing election as a fork candidate.
    AddedCandidate,
    /// The block is already a candidate.
    Existing,
    /// No room, and the block is not more important than any running election.
    Full,
    /// The root's election was confirmed recently; nothing to do.
    RecentlyConfirmed,
}

/// Share of `active_elections.size` hinted elections may hold: reference
/// `active_elections.hinted_limit_percentage` default.
pub const HINTED_LIMIT_PERCENT: usize = 20;
/// Share optimistic elections may hold: reference
/// `active_elections.optimistic_limit_percentage` default.
pub const OPTIMISTIC_LIMIT_PERCENT: usize = 10;

/// The set of running elections, indexed by root and by candidate hash.
#[derive(Debug)]
pub struct ActiveElections {
    roots: HashMap<QualifiedRoot, Election>,
    by_hash: HashMap<BlockHash, QualifiedRoot>,
    max: usize,
    next_id: u64,
    arrival: u64,
    history: VecDeque<ElectionSummary>,
    history_max: usize,
    recent: HashSet<BlockHash>,
    recent_roots: HashSet<QualifiedRoot>,
    recent_order: VecDeque<(BlockHash, QualifiedRoot)>,
    recent_max: usize,
}

impl ActiveElections {
    pub fn new(max: usize, history_max: usize) -> Self {
        ActiveElections {
            roots: HashMap::new(),
            by_hash: HashMap::new(),
            max: max.max(1),
            next_id: 1,
            arrival: 0,
            history: VecDeque::new(),
            history_max: history_max.max(1),
            recent: HashSet::new(),
            recent_roots: HashSet::new(),
            recent_order: VecDeque::new(),
            recent_max: 65536,
        }
    }

    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.max
    }

    pub fn vacancy(&self) -> usize {
        self.max.saturating_sub(self.roots.len())
    }

    pub fn get(&self, root: &QualifiedRoot) -> Option<&Election> {
        self.roots.get(root)
    }

    pub fn get_mut(&mut self, root: &QualifiedRoot) -> Option<&mut Election> {
        self.roots.get_mut(root)
    }

    pub fn root_of(&self, hash: &BlockHash) -> Option<QualifiedRoot> {
        self.by_hash.get(hash).copied()
    }

    pub fn contains_hash(&self, hash: &BlockHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn recently_confirmed(&self, hash: &BlockHash) -> bool {
        self.recent.contains(hash)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Election> {
        self.roots.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Election> {
        self.roots.values_mut()
    }

    /// How many elections `behavior` may hold (reference `active_elections::limit`):
    /// priority the whole cap, hinted and optimistic their shares, manual no limit.
    pub fn limit(&self, behavior: Behavior) -> usize {
        match behavior {
            Behavior::Priority => self.max,
            Behavior::Hinted => (self.max * HINTED_LIMIT_PERCENT / 100).max(1),
            Behavior::Optimistic => (self.max * OPTIMISTIC_LIMIT_PERCENT / 100).max(1),
            Behavior::Manual => usize::MAX,
        }
    }

    /// Running elections started by `behavior`.
    pub fn count(&self, behavior: Behavior) -> usize {
        self.roots
            .values()
            .filter(|e| e.behavior == behavior)
            .count()
    }

    /// Starts a priority election for `block` or adds it to its root's election as a fork.
    pub fn insert(&mut self, block: Block, balance: Amount) -> InsertOutcome {
        self.insert_as(block, balance, Behavior::Priority)
    }

    /// As [`ActiveElections::insert`] for an election of `behavior`: hinted and
    /// optimistic elections are refused beyond their share or the cap, a manual one is
    /// always started, a priority one may evict a less important election when full.
    pub fn insert_as(
        &mut self,
        block: Block,
        balance: Amount,
        behavior: Behavior,
    ) -> InsertOutcome {
        let hash = block.hash();
        if self.by_hash.contains_key(&hash) {
            return InsertOutcome::Existing;
        }
        let root = block.qualified_root();
        if self.recent.contains(&hash) || self.recent_roots.contains(&root) {
            return InsertOutcome::RecentlyConfirmed;
        }
        if let Some(e) = self.roots.get_mut(&root) {
            if e.blocks.len() >= MAX_CANDIDATES || e.confirmed {
                return InsertOutcome::Full;
            }
            e.blocks.insert(hash, block);
            self.by_hash.insert(hash, root);
            return InsertOutcome::AddedCandidate;
        }
        self.arrival += 1;
        let priority = Priority {
            balance,
            arrival: Reverse(self.arrival),
        };
        let mut evicted = Vec::new();
        let shared = matches!(behavior, Behavior::Hinted | Behavior::Optimistic);
        if shared && (self.count(behavior) >= self.limit(behavior) || self.roots.len() >= self.max)
        {
            return InsertOutcome::Full;
        }
        if behavior == Behavior::Priority && self.roots.len() >= self.max {
            let lowest = self
                .roots
                .values()
                .filter(|e| !e.confirmed)
                .min_by_key(|e| e.priority)
                .map(|e| (e.qualified_root, e.priority));
            match lowest {
                Some((r, p)) if p < priority => {
                    if let Some(e) = self.remove(&r) {
                        evicted.push(e.winner);
                    }
                }
                _ => return InsertOutcome::Full,
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_hash.insert(hash, root);
        let mut e = Election::new(id, block, priority);
        e.behavior = behavior;
        self.roots.insert(root, e);
        InsertOutcome::Started { evicted }
    }

    /// Removes an election (capacity, expiry, rollback, or confirmation).
    pub fn remove(&mut self, root: &QualifiedRoot) -> Option<Election> {
        let e = self.roots.remove(root)?;
        for h in e.blocks.keys() {
            self.by_hash.remove(h);
        }
        Some(e)
    }

    /// Moves a confirmed election to history and remembers its root as settled.
    pub fn finish(&mut self, root: &QualifiedRoot) -> Option<ElectionSummary> {
        let e = self.remove(root)?;
        let s = e.summary();
        self.remember(s.winner, s.qualified_root);
        self.history.push_back(s.clone());
        while self.history.len() > self.history_max {
            self.history.pop_front();
        }
        Some(s)
    }

    /// Remembers a cemented block so late votes and re-publishes are recognised cheaply.
    pub fn remember(&mut self, hash: BlockHash, root: QualifiedRoot) {
        if self.recent.insert(hash) {
            self.recent_roots.insert(root);
            self.recent_order.push_back((hash, root));
            while self.recent_order.len() > self.recent_max {
                if let Some((h, r)) = self.recent_order.pop_front() {
                    self.recent.remove(&h);
                    self.recent_roots.remove(&r);
                }
            }
        }
    }

    /// Forgets a settled root (after a forced rollback, its slot is open again).
    pub fn forget_root(&mut self, root: &QualifiedRoot) {
        self.recent_roots.remove(root);
    }

    pub fn history(&self) -> Vec<ElectionSummary> {
        self.history.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::election::{Evaluation, VoteOutcome};
    use super::*;
    use nano_core::Account;
    use nano_ledger::test_support::{test_key, Chain};
    use nano_messages::Vote;

    fn rep(i: u8) -> Account {
        Account::from_bytes([i; 32])
    }

    #[test]
    fn final_votes_confirm_and_replays_do_not_count() {
        let mut c = Chain::dev_genesis();
        let b = c.send(&test_key(1).public(), 1);
        let h = b.hash();
        let mut e = Election::new(
            1,
            b,
            Priority {
                balance: Amount::ZERO,
                arrival: Reverse(0),
            },
        );
        assert_eq!(e.vote(rep(1), Amount(60), 10, h), VoteOutcome::Vote);
        assert_eq!(e.vote(rep(1), Amount(60), 9, h), VoteOutcome::Replay);
        let ev = e.evaluate(Amount(50));
        assert_eq!(ev.want_final, Some(h));
        assert_eq!(ev.confirmed, None);
        assert_eq!(
            e.vote(rep(1), Amount(60), Vote::FINAL_TIMESTAMP, h),
            VoteOutcome::Vote
        );
        assert_eq!(e.evaluate(Amount(50)).confirmed, Some(h));
        // A zero-weight representative never confirms.
        let mut c2 = Chain::dev_genesis();
        let b2 = c2.send(&test_key(2).public(), 1);
        let h2 = b2.hash();
        let mut e2 = Election::new(
            2,
            b2,
            Priority {
                balance: Amount::ZERO,
                arrival: Reverse(0),
            },
        );
        e2.vote(rep(2), Amount::ZERO, Vote::FINAL_TIMESTAMP, h2);
        assert_eq!(e2.evaluate(Amount(1)), Evaluation::default());
    }

    #[test]
    fn fork_leader_replaces_winner() {
        let mut c = Chain::dev_genesis();
        let mut c2 = c.clone();
        let a = c.send(&test_key(1).public(), 1);
        let b = c2.send(&test_key(2).public(), 1);
        let mut active = ActiveElections::new(10, 10);
        assert!(matches!(
            active.insert(a.clone(), Amount(1)),
            InsertOutcome::Started { .. }
        ));
        assert_eq!(
            active.insert(b.clone(), Amount(1)),
            InsertOutcome::AddedCandidate
        );
        let root = a.qualified_root();
        let e = active.get_mut(&root).unwrap();
        e.vote(rep(1), Amount(100), Vote::FINAL_TIMESTAMP, b.hash());
        let ev = e.evaluate(Amount(67));
        assert_eq!(ev.confirmed, Some(b.hash()));
        assert_eq!(e.winner, b.hash());
        let s = active.finish(&root).unwrap();
        assert_eq!(s.winner, b.hash());
        assert_eq!(
            active.insert(a, Amount(1)),
            InsertOutcome::RecentlyConfirmed
        );
    }

    #[test]
    fn capacity_evicts_lowest_priority() {
        let mut active = ActiveElections::new(2, 10);
        let mut c = Chain::dev_genesis();
        let blocks: Vec<Block> = (0..3).map(|i| c.send(&test_key(i).public(), 1)).collect();
        assert!(matches!(
            active.insert(blocks[0].clone(), Amount(5)),
            InsertOutcome::Started { .. }
        ));
        assert!(matches!(
            active.insert(blocks[1].clone(), Amount(1)),
            InsertOutcome::Started { .. }
        ));
        match active.insert(blocks[2].clone(), Amount(3)) {
            InsertOutcome::Started { evicted } => assert_eq!(evicted, vec![blocks[1].hash()]),
            o => panic!("{o:?}"),
        }
        let mut c3 = Chain::dev_genesis();
        for i in 0..4 {
            c3.send(&test_key(i).public(), 1);
        }
        let low = c3.send(&test_key(9).public(), 1);
        assert_eq!(active.insert(low, Amount(0)), InsertOutcome::Full);
    }

    #[test]
    fn behaviours_have_their_shares_of_the_cap() {
        let mut active = ActiveElections::new(10, 10);
        let mut c = Chain::dev_genesis();
        let mut next = || c.send(&test_key(7).public(), 1);
        // Hinted: 20% of 10 = 2; optimistic: 10% of 10 = 1.
        for _ in 0..2 {
            let b = next();
            assert!(matches!(
                active.insert_as(b, Amount(1), Behavior::Hinted),
                InsertOutcome::Started { .. }
            ));
        }
        assert_eq!(
            active.insert_as(next(), Amount(1), Behavior::Hinted),
            InsertOutcome::Full
        );
        assert!(matches!(
            active.insert_as(next(), Amount(1), Behavior::Optimistic),
            InsertOutcome::Started { .. }
        ));
        assert_eq!(
            active.insert_as(next(), Amount(1), Behavior::Optimistic),
            InsertOutcome::Full
        );
        // Priority fills the rest of the cap; then hinted is refused even below its
        // share, and manual still starts.
        for _ in 0..7 {
            assert!(matches!(
                active.insert(next(), Amount(5)),
                InsertOutcome::Started { .. }
            ));
        }
        assert_eq!(active.len(), 10);
        assert!(matches!(
            active.insert_as(next(), Amount(1), Behavior::Manual),
            InsertOutcome::Started { .. }
        ));
        assert_eq!(active.len(), 11);
        assert_eq!(active.count(Behavior::Hinted), 2);
        assert_eq!(active.count(Behavior::Manual), 1);
    }
}
