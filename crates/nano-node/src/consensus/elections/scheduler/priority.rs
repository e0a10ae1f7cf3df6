//! The priority scheduler (reference `scheduler::priority`): an account with uncemented
//! blocks offers its FIRST uncemented block, and only once that block's dependents
//! (previous, and the source of a receive) are cemented, because a representative may
//! vote only for such a block. The candidate goes to the [`bucket`](super::bucket) of
//! `max(its balance, the balance before it)`, ordered there by the account's last
//! activity (`AccountInfo::modified`). Each bucket starts elections within its own
//! limit ([`super::bucket::election_vacancy`]) and cancels its first-ordered election
//! when it holds too many ([`super::bucket::election_overfill`], checked every second).
//! When a block is cemented the account's next block is offered, and so is the
//! receiving account of a cemented send (reference `activate_successors`).
//!
//! An account with more than [`OPTIMISTIC_GAP`] uncemented blocks also gets an
//! optimistic election for its head (reference `scheduler::optimistic`), within the
//! optimistic share of the active elections: a node catching up with representatives
//! that already cemented the chain gets their final votes for the head and cements the
//! whole chain in one election. This node's own representative does not vote for that
//! head until the rules allow it.

use nano_core::{Account, Amount, Block};
use nano_ledger::Txn;

use super::bucket::{
    bucket_index, bucket_minimums, election_overfill, election_vacancy, Bucket, BucketElections,
    BucketLimits,
};
use crate::consensus::elections::active::ActiveElections;
use crate::consensus::elections::election::{Behavior, BucketSlot};
use crate::consensus::elections::Effects;
use crate::consensus::{limits, lock, Shared};

/// Uncemented blocks above which an account's head gets an optimistic election:
/// reference `optimistic_scheduler.gap_threshold` default.
pub const OPTIMISTIC_GAP: u64 = 32;

/// The buckets and their candidates.
#[derive(Debug)]
pub(crate) struct PriorityScheduler {
    minimums: Vec<u128>,
    buckets: Vec<Bucket>,
    limits: BucketLimits,
}

impl PriorityScheduler {
    pub(crate) fn new(limits: BucketLimits) -> Self {
        let minimums = bucket_minimums();
        let buckets = minimums.iter().map(|_| Bucket::default()).collect();
        PriorityScheduler {
            minimums,
            buckets,
            limits,
        }
    }

    /// Candidates waiting in each bucket.
    pub(crate) fn bucket_sizes(&self) -> Vec<usize> {
        self.buckets.iter().map(Bucket::len).collect()
    }
}

/// What the priority scheduler found for an account.
struct Candidate {
    block: Block,
    /// The account's last activity (seconds), the order within a bucket.
    time: u64,
    /// `max(balance after, balance before)`: picks the bucket.
    balance: u128,
}

/// An account's candidates.
struct Span {
    /// Its first uncemented block, if the block's dependents are cemented.
    first: Option<Candidate>,
    /// The head of a chain longer than [`OPTIMISTIC_GAP`] uncemented blocks.
    long_head: Option<Block>,
}

/// The view of bucket `i`'s elections its rules take.
fn bucket_elections(active: &ActiveElections, i: usize, winners: i64) -> BucketElections {
    BucketElections {
        count: active.bucket_count(i),
        lowest: active.bucket_lowest(i).map(|(t, _)| t),
        vacancy: active.vacancy(Behavior::Priority).min(winners),
    }
}

impl Shared {
    /// Room left by the cementing backlog (reference `election_winners_vacancy`): no
    /// election of any scheduler starts while confirmed winners wait to be cemented
    /// beyond [`limits::MAX_ELECTION_WINNERS`].
    pub(crate) fn winners_vacancy(&self) -> i64 {
        limits::MAX_ELECTION_WINNERS as i64 - lock(&self.queue).cement.len() as i64
    }

    /// The account's first uncemented block (if votable) and its head when more than
    /// [`OPTIMISTIC_GAP`] blocks are uncemented.
    fn unconfirmed_span<T: Txn>(&self, txn: &T, account: &Account) -> Option<Span> {
        let info = self.ledger.account_info(txn, account).ok()??;
        let conf = self.ledger.store().confirmation_height(txn, account).ok()?;
        if conf.height >= info.block_count {
            return None;
        }
        let hash = if conf.height == 0 {
            info.open_block
        } else {
            self.ledger.successor(txn, &conf.frontier).ok()??
        };
        let first = if self.ledger.dependents_confirmed(txn, &hash).ok()? {
            let sb = self.ledger.block(txn, &hash).ok()??;
            let before = if conf.height == 0 {
                0
            } else {
                self.ledger
                    .block(txn, &conf.frontier)
                    .ok()??
                    .sideband
                    .balance
                    .0
            };
            Some(Candidate {
                balance: sb.sideband.balance.0.max(before),
                block: sb.block,
                time: info.modified,
            })
        } else {
            self.stats
                .inc("election_scheduler", "activate_failed", "in");
            None
        };
        let long_head = if info.block_count - conf.height > OPTIMISTIC_GAP {
            Some(self.ledger.block(txn, &info.head).ok()??.block)
        } else {
            None
        };
        Some(Span { first, long_head })
    }

    /// Offers the first uncemented block of each account to its bucket, starts
    /// optimistic elections for long uncemented chains, then starts what the buckets
    /// allow. Returns how many accounts had an uncemented block.
    ///
    /// The accounts are read and offered a part at a time: a backlog step hands
    /// 10,000 accounts, and their candidate blocks all read first were a transient
    /// buffer of ~8 MB every second of a sync. Offering part by part gives the same
    /// buckets and elections: a first block offered and an optimistic head started are
    /// different blocks, and offering touches no election.
    pub(crate) fn activate_accounts(&self, accounts: &[Account]) -> usize {
        if accounts.is_empty() {
            return 0;
        }
        let winners = self.winners_vacancy();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        let mut unconfirmed = 0;
        // A fresh snapshot per part, so a long list does not keep the writer's freed
        // pages from being reused (see `SCAN_LOOKUPS_PER_TXN`).
        for part in accounts.chunks(nano_store::SCAN_LOOKUPS_PER_TXN) {
            let spans: Vec<Span> = {
                let Ok(txn) = self.ledger.read_txn() else {
                    break;
                };
                part.iter()
                    .filter_map(|a| self.unconfirmed_span(&txn, a))
                    .collect()
            };
            unconfirmed += spans.len();
            let mut active = lock(&self.active);
            self.offer_spans(&mut active, spans, winners, delta, &mut fx);
        }
        {
            let mut active = lock(&self.active);
            self.start_from_buckets(&mut active, winners, delta, &mut fx);
        }
        self.dispatch(fx);
        unconfirmed
    }

    /// Offers each span's first block to its bucket, then starts the optimistic
    /// elections of its long heads.
    fn offer_spans(
        &self,
        active: &mut ActiveElections,
        spans: Vec<Span>,
        winners: i64,
        delta: Amount,
        fx: &mut Effects,
    ) {
        {
            let mut sched = lock(&self.priority);
            let max_blocks = sched.limits.max_blocks;
            for c in spans.iter().filter_map(|s| s.first.as_ref()) {
                let h = c.block.hash();
                if active.contains_hash(&h) || active.recently_confirmed(&h) {
                    continue;
                }
                let i = bucket_index(&sched.minimums, c.balance);
                let added = sched.buckets[i].push(c.time, c.block.clone(), max_blocks);
                let detail = if added { "activated" } else { "activate_full" };
                self.stats.inc("election_scheduler", detail, "in");
            }
        }
        for head in spans.into_iter().filter_map(|s| s.long_head) {
            let h = head.hash();
            if active.contains_hash(&h)
                || active.recently_confirmed(&h)
                || active.vacancy(Behavior::Optimistic).min(winners) <= 0
            {
                continue;
            }
            if self.start_election_as(active, head, delta, fx, Behavior::Optimistic, None) {
                self.stats.inc("election_scheduler", "optimistic", "in");
            }
        }
    }

    /// Starts elections for the candidates the buckets' rules allow (after elections
    /// ended, or new candidates arrived).
    pub(crate) fn schedule_priority(&self) {
        let winners = self.winners_vacancy();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            self.start_from_buckets(&mut active, winners, delta, &mut fx);
        }
        self.dispatch(fx);
    }

    /// For each bucket, starts elections for its first candidates while
    /// [`election_vacancy`] allows. Bounded: every step takes a candidate.
    fn start_from_buckets(
        &self,
        active: &mut ActiveElections,
        winners: i64,
        delta: nano_core::Amount,
        fx: &mut Effects,
    ) {
        let mut sched = lock(&self.priority);
        let limits = sched.limits;
        for i in 0..sched.buckets.len() {
            while let Some(top) = sched.buckets[i].top_time() {
                if !election_vacancy(&limits, &bucket_elections(active, i, winners), top) {
                    break;
                }
                let Some((time, block)) = sched.buckets[i].pop() else {
                    break;
                };
                let slot = Some(BucketSlot { bucket: i, time });
                let started =
                    self.start_election_as(active, block, delta, fx, Behavior::Priority, slot);
                let detail = if started {
                    "activate_success"
                } else {
                    "activate_failed"
                };
                self.stats.inc("election_bucket", detail, "in");
            }
        }
    }

    /// Cancels the first-ordered election of each overfilled bucket (reference
    /// `bucket::update`, once a second): a bucket above its limit gives one back, and
    /// one at or above its reserved elections does when the active elections are over
    /// their size (manual, hinted and optimistic elections took the room).
    pub(crate) fn update_buckets(&self) {
        let winners = self.winners_vacancy();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            let sched = lock(&self.priority);
            for i in 0..sched.buckets.len() {
                if !election_overfill(&sched.limits, &bucket_elections(&active, i, winners)) {
                    continue;
                }
                let Some((_, root)) = active.bucket_lowest(i) else {
                    continue;
                };
                if let Some(e) = active.remove(&root) {
                    self.stats.inc("election_bucket", "cancel_lowest", "in");
                    fx.stopped.push(e.winner);
                }
            }
        }
        self.dispatch(fx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nano_core::{BlockHash, Network};
    use nano_ledger::test_support::{test_key, Chain};
    use nano_ledger::Ledger;

    use super::*;
    use crate::consensus::{unstarted_for_test, Consensus, ConsensusConfig};

    /// A node (threads not started) whose ledger holds, for each entry of `times`, an
    /// account opened by an uncemented receive of a cemented send from genesis, with
    /// `modified` set to that time. All opens hold the same balance (one bucket).
    struct Fixture {
        _dir: tempfile::TempDir,
        consensus: Arc<Consensus>,
        accounts: Vec<Account>,
        opens: Vec<BlockHash>,
    }

    fn fixture(times: &[u64], limits: BucketLimits, max_elections: usize) -> Fixture {
        let mut accounts = Vec::new();
        let mut opens = Vec::new();
        let setup = |ledger: &Ledger| {
            let mut g = Chain::dev_genesis();
            let mut txn = ledger.write_txn().unwrap();
            let mut sends = Vec::new();
            for i in 0..times.len() {
                let key = test_key(100 + i as u32);
                let send = g.send(&key.public(), 1000);
                ledger.process(&mut txn, &send).unwrap();
                sends.push((key, send.hash()));
            }
            let last = sends.last().unwrap().1;
            ledger.confirm(&mut txn, &last).unwrap();
            for ((key, send), time) in sends.into_iter().zip(times) {
                let account = key.public();
                let open = Chain::unopened(key).receive(&send, 1000, Default::default());
                ledger.process(&mut txn, &open).unwrap();
                let mut info = ledger.account_info(&txn, &account).unwrap().unwrap();
                info.modified = *time;
                txn.put_account(&account, &info).unwrap();
                accounts.push(account);
                opens.push(open.hash());
            }
            txn.commit().unwrap();
        };
        let mut config = ConsensusConfig::for_network(Network::Dev);
        config.max_elections = max_elections;
        let (dir, consensus) = unstarted_for_test(setup, config);
        *lock(&consensus.shared.priority) = PriorityScheduler::new(limits);
        Fixture {
            _dir: dir,
            consensus,
            accounts,
            opens,
        }
    }

    fn limits(reserved: usize, max: usize) -> BucketLimits {
        BucketLimits {
            max_blocks: 100,
            reserved_elections: reserved,
            max_elections: max,
        }
    }

    impl Fixture {
        fn active(&self, i: usize) -> bool {
            self.consensus.election_active(&self.opens[i])
        }
        fn started(&self) -> Vec<usize> {
            (0..self.opens.len()).filter(|i| self.active(*i)).collect()
        }
        fn queued(&self) -> usize {
            self.consensus.priority_candidates().iter().sum()
        }
        fn stat(&self, kind: &str, detail: &str) -> u64 {
            self.consensus.shared.stats.get(kind, detail, "in")
        }
    }

    #[test]
    fn a_bucket_starts_its_least_recently_active_candidates_up_to_its_limit() {
        let f = fixture(&[400, 100, 300, 200], limits(1, 2), 5000);
        assert_eq!(f.consensus.shared.activate_accounts(&f.accounts), 4);
        // Limit 2: the accounts active longest ago (100 and 200) get elections, in
        // whatever order their hashes sort; the others wait in the bucket.
        assert_eq!(f.started(), vec![1, 3]);
        assert_eq!(f.queued(), 2);
        // Offering them again changes nothing (duplicates, and running elections).
        f.consensus.shared.activate_accounts(&f.accounts);
        assert_eq!(f.started(), vec![1, 3]);
        assert_eq!(f.queued(), 2);
    }

    /// More accounts than one read part (600 against `SCAN_LOOKUPS_PER_TXN` = 256),
    /// activity times shuffled: the bucket keeps the 100 least recently active of all
    /// parts, each offer counted as the bucket's order decides it, and only then do
    /// elections start, for the two least recently active of the whole list.
    #[test]
    fn a_list_longer_than_one_read_part_is_offered_whole_before_elections_start() {
        let n = 2 * nano_store::SCAN_LOOKUPS_PER_TXN + 88;
        let times: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % n as u64).collect();
        let f = fixture(&times, limits(1, 2), 5000);
        assert_eq!(f.consensus.shared.activate_accounts(&f.accounts), n);
        // The model: a set of at most 100 times; an offer sorting last when full is
        // refused.
        let mut kept = std::collections::BTreeSet::new();
        let (mut added, mut full) = (0, 0);
        for t in &times {
            kept.insert(*t);
            if kept.len() > 100 && kept.pop_last() == Some(*t) {
                full += 1;
            } else {
                added += 1;
            }
        }
        assert_eq!(f.stat("election_scheduler", "activated"), added);
        assert_eq!(f.stat("election_scheduler", "activate_full"), full);
        assert!(full > 0);
        let lowest: Vec<usize> = (0..n).filter(|i| times[*i] < 2).collect();
        assert_eq!(f.started(), lowest);
        assert_eq!(f.queued(), 98);
    }

    #[test]
    fn an_overfilled_bucket_cancels_its_first_ordered_election() {
        let f = fixture(&[400, 100, 300, 200], limits(1, 2), 5000);
        f.consensus.shared.activate_accounts(&f.accounts);
        assert_eq!(f.started(), vec![1, 3]);
        // At its limit the bucket gives one election back: the first in its order
        // (smallest activity time, the reference's `cancel_lowest_election`).
        f.consensus.shared.update_buckets();
        assert_eq!(f.started(), vec![3]);
        assert_eq!(f.stat("election_bucket", "cancel_lowest"), 1);
        // The freed slot goes to the next candidate in order (300).
        f.consensus.shared.schedule_priority();
        assert_eq!(f.started(), vec![2, 3]);
        assert_eq!(f.queued(), 1);
    }

    #[test]
    fn a_candidate_sorting_first_may_exceed_the_limit_up_to_twice() {
        let f = fixture(&[200, 100, 50, 300], limits(1, 1), 5000);
        f.consensus.shared.activate_accounts(&f.accounts[..1]);
        assert_eq!(f.started(), vec![0]);
        // Bucket at its limit of 1 (election at 200). 50 sorts before 200 and starts
        // (the bucket may hold up to 2); then 100 does not sort before 50, and 300
        // never sorts first.
        f.consensus.shared.activate_accounts(&f.accounts[1..]);
        assert_eq!(f.started(), vec![0, 2]);
        assert_eq!(f.queued(), 2);
    }

    #[test]
    fn full_active_elections_hold_back_the_buckets_and_overflow_is_cancelled() {
        // Active size 3; buckets may reserve 1 and hold 5.
        let f = fixture(&[10, 20, 30, 40, 50], limits(1, 5), 3);
        f.consensus.shared.activate_accounts(&f.accounts[..2]);
        assert_eq!(f.started(), vec![0, 1]);
        // Manual elections ignore every limit: the active set now holds 4 of 3.
        for i in [3, 4] {
            f.consensus.block_confirm(&f.opens[i]).unwrap();
        }
        assert_eq!(f.consensus.active_elections().len(), 4);
        // No priority vacancy: the bucket starts nothing although below its limit.
        f.consensus.shared.activate_accounts(&f.accounts[2..3]);
        assert!(!f.active(2));
        assert_eq!(f.queued(), 1);
        // While running: the bucket (at or above its reserved 1) gives back its first
        // election as long as the active set is over its size, and then stops.
        f.consensus.shared.update_buckets();
        assert_eq!(f.started(), vec![1, 3, 4]);
        f.consensus.shared.update_buckets();
        assert_eq!(f.started(), vec![1, 3, 4]);
        assert_eq!(f.stat("election_bucket", "cancel_lowest"), 1);
    }

    #[test]
    fn a_block_with_an_unconfirmed_source_is_not_offered() {
        let f = fixture(&[10], limits(1, 2), 5000);
        // A second account whose open receives a send that is not cemented.
        let shared = &f.consensus.shared;
        let key = test_key(7);
        let (send, open) = {
            let ledger = &shared.ledger;
            let txn = ledger.read_txn().unwrap();
            let info = ledger.account_info(&txn, &shared.params.genesis_account);
            let info = info.unwrap().unwrap();
            drop(txn);
            let mut g = Chain::dev_genesis();
            g.head = info.head;
            g.balance = info.balance;
            g.height = info.block_count;
            let send = g.send(&key.public(), 5);
            let open = Chain::unopened(key.clone()).receive(&send.hash(), 5, Default::default());
            let mut txn = ledger.write_txn().unwrap();
            ledger.process(&mut txn, &send).unwrap();
            ledger.process(&mut txn, &open).unwrap();
            txn.commit().unwrap();
            (send, open)
        };
        shared.activate_accounts(&[key.public()]);
        assert!(!f.consensus.election_active(&open.hash()));
        assert_eq!(f.stat("election_scheduler", "activate_failed"), 1);
        // The send itself (genesis' first uncemented block) is offered and started.
        shared.activate_accounts(&[shared.params.genesis_account]);
        assert!(f.consensus.election_active(&send.hash()));
    }
}
