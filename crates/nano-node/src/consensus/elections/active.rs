//! The set of running elections: indexed by root and by candidate hash, counted by
//! behaviour and by priority bucket, with the history of recent confirmations for
//! `confirmation_history`. It does not decide which elections may start or must stop:
//! the schedulers ask [`ActiveElections::vacancy`] before inserting and the priority
//! buckets cancel their own overflow, as in the reference (`active_elections::insert`
//! checks nothing but duplicates and recent confirmations).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use nano_core::{Block, BlockHash, QualifiedRoot};

use super::election::{Behavior, BucketSlot, Election, ElectionSummary, MAX_CANDIDATES};

/// What [`ActiveElections::insert_as`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new election.
    Started,
    /// The block joined an existing election as a fork candidate.
    AddedCandidate,
    /// The block is already a candidate.
    Existing,
    /// The root's election holds [`MAX_CANDIDATES`] blocks or is already confirmed.
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

fn behavior_index(b: Behavior) -> usize {
    match b {
        Behavior::Priority => 0,
        Behavior::Hinted => 1,
        Behavior::Optimistic => 2,
        Behavior::Manual => 3,
    }
}

/// The set of running elections, indexed by root and by candidate hash.
#[derive(Debug)]
pub struct ActiveElections {
    roots: HashMap<QualifiedRoot, Election>,
    by_hash: HashMap<BlockHash, QualifiedRoot>,
    max: usize,
    next_id: u64,
    /// Running elections per behaviour (reference `count_by_behavior`).
    counts: [usize; 4],
    /// Elections each priority bucket started, by (activity time, root): the bucket's
    /// count and its first-ordered election decide its vacancy and what it cancels.
    buckets: HashMap<usize, BTreeSet<(u64, QualifiedRoot)>>,
    history: VecDeque<ElectionSummary>,
    history_max: usize,
    recent: HashSet<BlockHash>,
    recent_roots: HashSet<QualifiedRoot>,
    recent_order: VecDeque<(BlockHash, QualifiedRoot)>,
    recent_max: usize,
    /// Where each ended election's duration is sampled (`stats` type `samples`).
    stats: Option<std::sync::Arc<crate::stats::Stats>>,
}

/// Range reported with the `active_election_duration` samples (ms): the reference's
/// expected 0 to 10 minutes.
const ELECTION_DURATION_RANGE_MS: (i64, i64) = (0, 10 * 60 * 1000);

impl ActiveElections {
    /// `max` is `active_elections.size`.
    pub fn new(max: usize, history_max: usize) -> Self {
        ActiveElections {
            roots: HashMap::new(),
            by_hash: HashMap::new(),
            max: max.max(1),
            next_id: 1,
            counts: [0; 4],
            buckets: HashMap::new(),
            history: VecDeque::new(),
            history_max: history_max.max(1),
            recent: HashSet::new(),
            recent_roots: HashSet::new(),
            recent_order: VecDeque::new(),
            recent_max: 65536,
            stats: None,
        }
    }

    /// Samples the duration of every election that ends into `stats`.
    pub(crate) fn with_stats(mut self, stats: std::sync::Arc<crate::stats::Stats>) -> Self {
        self.stats = Some(stats);
        self
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
    /// priority the whole size, hinted and optimistic their percentage of it, manual
    /// no limit.
    pub fn limit(&self, behavior: Behavior) -> i64 {
        match behavior {
            Behavior::Priority => self.max as i64,
            Behavior::Hinted => (HINTED_LIMIT_PERCENT * self.max / 100) as i64,
            Behavior::Optimistic => (OPTIMISTIC_LIMIT_PERCENT * self.max / 100) as i64,
            Behavior::Manual => i64::MAX,
        }
    }

    /// Room left for `behavior` (reference `active_elections::vacancy`, without the
    /// cementing backlog, which the caller applies): priority counts every running
    /// election against the whole size, hinted and optimistic only their own kind
    /// against their share. Negative when over.
    pub fn vacancy(&self, behavior: Behavior) -> i64 {
        match behavior {
            Behavior::Manual => i64::MAX,
            Behavior::Priority => self.limit(behavior) - self.roots.len() as i64,
            Behavior::Hinted | Behavior::Optimistic => {
                self.limit(behavior) - self.count(behavior) as i64
            }
        }
    }

    /// Running elections started by `behavior`.
    pub fn count(&self, behavior: Behavior) -> usize {
        self.counts[behavior_index(behavior)]
    }

    /// Running elections priority bucket `bucket` started.
    pub fn bucket_count(&self, bucket: usize) -> usize {
        self.buckets.get(&bucket).map_or(0, |s| s.len())
    }

    /// The first of bucket `bucket`'s elections in its priority order (smallest
    /// activity time; the reference's `elections.get<tag_priority>().begin()`).
    pub fn bucket_lowest(&self, bucket: usize) -> Option<(u64, QualifiedRoot)> {
        self.buckets
            .get(&bucket)
            .and_then(|s| s.iter().next().copied())
    }

    /// Starts a priority election for `block` or adds it to its root's election as a fork.
    pub fn insert(&mut self, block: Block) -> InsertOutcome {
        self.insert_as(block, Behavior::Priority, None)
    }

    /// As [`ActiveElections::insert`] for an election of `behavior`, recorded in priority
    /// bucket `slot` when the bucket started it. Nothing but duplicates and recent
    /// confirmations is refused: the caller checked [`ActiveElections::vacancy`].
    pub fn insert_as(
        &mut self,
        block: Block,
        behavior: Behavior,
        slot: Option<BucketSlot>,
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
        let id = self.next_id;
        self.next_id += 1;
        self.by_hash.insert(hash, root);
        let mut e = Election::new(id, block);
        e.behavior = behavior;
        e.bucket = slot;
        self.counts[behavior_index(behavior)] += 1;
        if let Some(s) = slot {
            self.buckets
                .entry(s.bucket)
                .or_default()
                .insert((s.time, root));
        }
        self.roots.insert(root, e);
        InsertOutcome::Started
    }

    /// Removes an election (cancellation, expiry, rollback, or confirmation).
    pub fn remove(&mut self, root: &QualifiedRoot) -> Option<Election> {
        let e = self.roots.remove(root)?;
        for h in e.blocks.keys() {
            self.by_hash.remove(h);
        }
        let c = &mut self.counts[behavior_index(e.behavior)];
        *c = c.saturating_sub(1);
        if let Some(s) = e.bucket {
            if let Some(set) = self.buckets.get_mut(&s.bucket) {
                set.remove(&(s.time, *root));
                if set.is_empty() {
                    self.buckets.remove(&s.bucket);
                }
            }
        }
        if let Some(s) = &self.stats {
            let ms = i64::try_from(e.started.elapsed().as_millis()).unwrap_or(i64::MAX);
            s.sample("active_election_duration", ms, ELECTION_DURATION_RANGE_MS);
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
    use nano_core::{Account, Amount};
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
        let mut e = Election::new(1, b);
        assert_eq!(e.vote(rep(1), Amount(60), 10, h), VoteOutcome::Vote);
        assert_eq!(e.vote(rep(1), Amount(60), 9, h), VoteOutcome::Replay);
        let ev = e.evaluate(Amount(50), |_| Amount(60));
        assert_eq!(ev.want_final, Some(h));
        assert_eq!(ev.confirmed, None);
        assert_eq!(
            e.vote(rep(1), Amount(60), Vote::FINAL_TIMESTAMP, h),
            VoteOutcome::Vote
        );
        assert_eq!(e.evaluate(Amount(50), |_| Amount(60)).confirmed, Some(h));
        // A zero-weight representative never confirms.
        let mut c2 = Chain::dev_genesis();
        let b2 = c2.send(&test_key(2).public(), 1);
        let h2 = b2.hash();
        let mut e2 = Election::new(2, b2);
        e2.vote(rep(2), Amount::ZERO, Vote::FINAL_TIMESTAMP, h2);
        assert_eq!(
            e2.evaluate(Amount(1), |_| Amount::ZERO),
            Evaluation::default()
        );
    }

    #[test]
    fn each_tally_weighs_votes_with_the_weight_the_ledger_gives_now() {
        // Reference `election::tally_impl`: a vote counts with its representative's
        // current weight, so a final vote cast while the representative had nothing
        // confirms once delegations give it a quorum.
        let mut c = Chain::dev_genesis();
        let b = c.send(&test_key(1).public(), 1);
        let h = b.hash();
        let mut e = Election::new(1, b);
        assert_eq!(
            e.vote(rep(1), Amount::ZERO, Vote::FINAL_TIMESTAMP, h),
            VoteOutcome::Vote
        );
        assert_eq!(
            e.evaluate(Amount(50), |_| Amount::ZERO),
            Evaluation::default()
        );
        let ev = e.evaluate(Amount(50), |r| {
            if *r == rep(1) {
                Amount(60)
            } else {
                Amount::ZERO
            }
        });
        assert_eq!(ev.confirmed, Some(h));
        assert_eq!(e.summary().tally, Amount(60));
        // And the other way: weight moved away before the tally no longer counts.
        let mut c2 = Chain::dev_genesis();
        let b2 = c2.send(&test_key(2).public(), 1);
        let h2 = b2.hash();
        let mut e2 = Election::new(2, b2);
        e2.vote(rep(2), Amount(60), Vote::FINAL_TIMESTAMP, h2);
        assert_eq!(e2.evaluate(Amount(50), |_| Amount(10)).confirmed, None);
        assert_eq!(e2.summary().final_tally, Amount(10));
    }

    #[test]
    fn fork_leader_replaces_winner() {
        let mut c = Chain::dev_genesis();
        let mut c2 = c.clone();
        let a = c.send(&test_key(1).public(), 1);
        let b = c2.send(&test_key(2).public(), 1);
        let mut active = ActiveElections::new(10, 10);
        assert_eq!(active.insert(a.clone()), InsertOutcome::Started);
        assert_eq!(active.insert(b.clone()), InsertOutcome::AddedCandidate);
        let root = a.qualified_root();
        let e = active.get_mut(&root).unwrap();
        e.vote(rep(1), Amount(100), Vote::FINAL_TIMESTAMP, b.hash());
        let ev = e.evaluate(Amount(67), |_| Amount(100));
        assert_eq!(ev.confirmed, Some(b.hash()));
        assert_eq!(e.winner, b.hash());
        let s = active.finish(&root).unwrap();
        assert_eq!(s.winner, b.hash());
        assert_eq!(active.insert(a), InsertOutcome::RecentlyConfirmed);
    }

    #[test]
    fn vacancy_per_behaviour_as_the_reference_computes_it() {
        let mut active = ActiveElections::new(10, 10);
        let mut c = Chain::dev_genesis();
        let mut next = || c.send(&test_key(7).public(), 1);
        // Hinted: 20% of 10 = 2; optimistic: 10% of 10 = 1; priority: all 10.
        assert_eq!(active.limit(Behavior::Hinted), 2);
        assert_eq!(active.limit(Behavior::Optimistic), 1);
        for _ in 0..2 {
            active.insert_as(next(), Behavior::Hinted, None);
        }
        assert_eq!(active.vacancy(Behavior::Hinted), 0);
        assert_eq!(active.vacancy(Behavior::Optimistic), 1);
        // Priority vacancy counts every running election, of any behaviour.
        assert_eq!(active.vacancy(Behavior::Priority), 8);
        for _ in 0..9 {
            active.insert(next());
        }
        assert_eq!(active.vacancy(Behavior::Priority), -1, "over the size");
        // Hinted and optimistic vacancy count only their own kind.
        assert_eq!(active.vacancy(Behavior::Optimistic), 1);
        assert_eq!(active.vacancy(Behavior::Manual), i64::MAX);
        let hinted: Vec<QualifiedRoot> = active
            .iter()
            .filter(|e| e.behavior == Behavior::Hinted)
            .map(|e| e.qualified_root)
            .collect();
        active.remove(&hinted[0]);
        assert_eq!(active.count(Behavior::Hinted), 1);
        assert_eq!(active.vacancy(Behavior::Hinted), 1);
        assert_eq!(active.vacancy(Behavior::Priority), 0);
    }

    #[test]
    fn bucket_index_follows_running_elections() {
        let mut active = ActiveElections::new(10, 10);
        let mut c = Chain::dev_genesis();
        let a = c.send(&test_key(1).public(), 1);
        let b = c.send(&test_key(2).public(), 1);
        let slot = |time| Some(BucketSlot { bucket: 3, time });
        active.insert_as(a.clone(), Behavior::Priority, slot(50));
        active.insert_as(b.clone(), Behavior::Priority, slot(20));
        assert_eq!(active.bucket_count(3), 2);
        assert_eq!(active.bucket_lowest(3), Some((20, b.qualified_root())));
        active.finish(&b.qualified_root());
        assert_eq!(active.bucket_lowest(3), Some((50, a.qualified_root())));
        active.remove(&a.qualified_root());
        assert_eq!(active.bucket_count(3), 0);
        assert_eq!(active.bucket_lowest(3), None);
    }
}
