//! The hinted scheduler (reference `scheduler::hinted`): a block whose cached votes
//! (votes that arrived before it had an election) add up to the hinting threshold of
//! the trended online weight gets an election, even if it is not the first uncemented
//! block of its account. If its cached final votes do not reach the quorum delta and
//! its dependents are not cemented, the election goes to the first unconfirmed
//! dependents instead (a depth-first walk down previous and source blocks, at most
//! [`MAX_WALK`] steps): representatives voted for a chain this node has not confirmed
//! the bottom of, so the bottom is elected first. Once the cached final votes reach
//! the quorum, the block is elected at once and its confirmation cements its
//! dependents. This node's own vote still waits for the vote rules.
//!
//! Each hash above the threshold is examined at most once per cooldown; those examined
//! are looked at again every check interval while their votes stay cached, so a walk
//! that elected a dependent continues up the chain as the dependents are cemented.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use nano_core::{Amount, Block, BlockHash, Network};
use nano_ledger::Txn;
use nano_messages::Vote;

use crate::consensus::elections::election::Behavior;
use crate::consensus::elections::Effects;
use crate::consensus::{limits, lock, Shared};

/// Share of the trended online weight cached votes must reach: reference
/// `hinted_scheduler.hinting_threshold_percent` default.
pub const HINTING_THRESHOLD_PERCENT: u128 = 10;
/// Steps of the dependency walk per hinted block: reference `max_iterations`.
pub const MAX_WALK: usize = 64;

/// How long a hash examined is left alone: reference `hinted_scheduler.block_cooldown`
/// (10 s, 100 ms on the dev network).
fn block_cooldown(network: Network) -> Duration {
    if network == Network::Dev {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(10)
    }
}

/// How often examined hashes are looked at again: reference
/// `hinted_scheduler.check_interval` (1 s, 100 ms on the dev network).
pub(crate) fn check_interval(network: Network) -> Duration {
    if network == Network::Dev {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    }
}

/// Hashes examined recently, with the time each may be examined again. Bounded by
/// [`limits::VOTE_CACHE_HASHES`]: only hashes with cached votes enter, and the oldest
/// is forgotten first.
#[derive(Debug, Default)]
pub(crate) struct HintedCooldowns {
    until: HashMap<BlockHash, Instant>,
    order: VecDeque<BlockHash>,
}

impl HintedCooldowns {
    /// True if `hash` was examined within the cooldown; otherwise starts a new one.
    fn cooling(&mut self, hash: BlockHash, now: Instant, cooldown: Duration) -> bool {
        if self.until.get(&hash).is_some_and(|t| *t > now) {
            return true;
        }
        if self.until.insert(hash, now + cooldown).is_none() {
            self.order.push_back(hash);
            while self.order.len() > limits::VOTE_CACHE_HASHES {
                if let Some(old) = self.order.pop_front() {
                    self.until.remove(&old);
                }
            }
        }
        false
    }

    /// Hashes whose cooldown ended, forgetting those `keep` rejects.
    fn due(&mut self, now: Instant, keep: impl Fn(&BlockHash) -> bool) -> Vec<BlockHash> {
        self.until.retain(|h, _| keep(h));
        let until = &self.until;
        self.order.retain(|h| until.contains_key(h));
        self.order
            .iter()
            .filter(|h| until.get(h).is_some_and(|t| *t <= now))
            .copied()
            .collect()
    }
}

impl Shared {
    /// The weight cached votes must reach for a hinted election (reference
    /// `tally_threshold`: a share of the trended online weight).
    pub(crate) fn hinting_threshold(&self) -> Amount {
        let trended = lock(&self.online).info.trended_stake_total;
        Amount(trended.0 / 100 * HINTING_THRESHOLD_PERCENT)
    }

    /// Examines those of `hashes` whose cached votes reach the threshold (each at most
    /// once per cooldown) and starts hinted elections for them or their unconfirmed
    /// dependents.
    pub(crate) fn activate_hinted(&self, hashes: &[BlockHash]) {
        if hashes.is_empty() {
            return;
        }
        let threshold = self.hinting_threshold();
        let final_threshold = self.quorum_delta();
        let now = Instant::now();
        let cooldown = block_cooldown(self.config.network);
        // (hash, whether its cached final votes reach the quorum)
        let ready: Vec<(BlockHash, bool)> = {
            let vc = lock(&self.vote_cache);
            let mut cd = lock(&self.hinted);
            hashes
                .iter()
                .filter_map(|h| {
                    let (tally, final_tally) =
                        vc.votes(h).iter().fold((0u128, 0u128), |(t, f), v| {
                            let w = self.ledger.weight(&v.representative).0;
                            let f = if v.timestamp == Vote::FINAL_TIMESTAMP {
                                f.saturating_add(w)
                            } else {
                                f
                            };
                            (t.saturating_add(w), f)
                        });
                    let enough = tally >= threshold.0 && tally > 0;
                    (enough && !cd.cooling(*h, now, cooldown))
                        .then_some((*h, final_tally >= final_threshold.0))
                })
                .collect()
        };
        if ready.is_empty() {
            return;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let mut blocks = Vec::new();
        for (h, quorum) in ready {
            if quorum {
                self.stats.inc("hinting", "activate_immediate", "in");
            } else {
                self.stats.inc("hinting", "activate", "in");
            }
            self.hinted_targets(&txn, h, !quorum, &mut blocks);
        }
        drop(txn);
        let winners = self.winners_vacancy();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for block in blocks {
                if active.vacancy(Behavior::Hinted).min(winners) <= 0 {
                    self.stats.inc("hinting", "insert_failed", "in");
                    break;
                }
                let hinted = Behavior::Hinted;
                if self.start_election_as(&mut active, block, delta, &mut fx, hinted, None) {
                    self.stats.inc("election_scheduler", "hinted", "in");
                }
            }
        }
        self.dispatch(fx);
    }

    /// The blocks to elect for hinted `hash` (reference `hinted::activate`): `hash`
    /// itself, unless `check_dependents` and one of its dependents is unconfirmed; then
    /// the first unconfirmed dependents found walking down previous and source blocks.
    /// Cemented blocks met on the way leave the vote cache.
    fn hinted_targets<T: Txn>(
        &self,
        txn: &T,
        hash: BlockHash,
        check_dependents: bool,
        out: &mut Vec<Block>,
    ) {
        let mut visited = HashSet::new();
        let mut stack = vec![hash];
        let mut steps = 0;
        while steps < MAX_WALK {
            let Some(current) = stack.pop() else { break };
            steps += 1;
            let Ok(Some(sb)) = self.ledger.block(txn, &current) else {
                self.stats.inc("hinting", "missing_block", "in");
                continue;
            };
            if self.ledger.block_confirmed(txn, &current).unwrap_or(true) {
                self.stats.inc("hinting", "already_confirmed", "in");
                lock(&self.vote_cache).take(&current);
                continue;
            }
            if check_dependents
                && !self
                    .ledger
                    .dependents_confirmed(txn, &current)
                    .unwrap_or(false)
            {
                self.stats.inc("hinting", "dependent_unconfirmed", "in");
                for d in self
                    .ledger
                    .dependent_blocks(txn, &current)
                    .unwrap_or_default()
                {
                    if visited.insert(d) {
                        stack.push(d);
                    }
                }
                continue;
            }
            out.push(sb.block);
        }
    }

    /// Looks again at the hashes examined before whose cooldown ended and whose votes
    /// are still cached (every check interval).
    pub(crate) fn recheck_hinted(&self) {
        let due = {
            let vc = lock(&self.vote_cache);
            lock(&self.hinted).due(Instant::now(), |h| vc.contains(h))
        };
        self.activate_hinted(&due);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nano_core::Network;
    use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
    use nano_ledger::Ledger;

    use super::*;
    use crate::consensus::votes::cache::CachedVote;
    use crate::consensus::{unstarted_for_test, Consensus, ConsensusConfig};

    /// A node (threads not started) with `n` uncemented sends from genesis, which holds
    /// all the weight.
    fn node(n: usize) -> (tempfile::TempDir, Arc<Consensus>, Vec<BlockHash>) {
        let mut hashes = Vec::new();
        let setup = |ledger: &Ledger| {
            let mut g = Chain::dev_genesis();
            let mut txn = ledger.write_txn().unwrap();
            for _ in 0..n {
                let b = g.send(&test_key(1).public(), 1);
                ledger.process(&mut txn, &b).unwrap();
                hashes.push(b.hash());
            }
            txn.commit().unwrap();
        };
        let config = ConsensusConfig::for_network(Network::Dev);
        let (dir, c) = unstarted_for_test(setup, config);
        (dir, c, hashes)
    }

    fn cache_vote(c: &Consensus, hash: BlockHash, timestamp: u64) {
        lock(&c.shared.vote_cache).insert(
            hash,
            CachedVote {
                representative: dev_genesis_key().public(),
                timestamp,
            },
        );
    }

    #[test]
    fn hinted_block_with_unconfirmed_dependents_elects_the_first_unconfirmed_one() {
        let (_d, c, h) = node(3);
        // Normal votes of all the weight for the third send: above the hinting
        // threshold, but no final votes, and sends 1 and 2 are not cemented.
        cache_vote(&c, h[2], 5);
        c.shared.activate_hinted(&[h[2]]);
        assert!(c.election_active(&h[0]), "the first unconfirmed dependent");
        assert!(!c.election_active(&h[1]));
        assert!(!c.election_active(&h[2]));
        let e = c.active_elections();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].behavior, Behavior::Hinted);
        assert_eq!(
            c.shared.stats.get("hinting", "dependent_unconfirmed", "in"),
            2
        );
        // Within the cooldown the same hash is not examined again.
        c.shared.activate_hinted(&[h[2]]);
        assert_eq!(c.shared.stats.get("hinting", "activate", "in"), 1);
    }

    #[test]
    fn cached_final_votes_reaching_quorum_elect_the_block_itself() {
        let (_d, c, h) = node(3);
        cache_vote(&c, h[2], Vote::FINAL_TIMESTAMP);
        c.shared.activate_hinted(&[h[2]]);
        // The votes went into the new election, which they confirm at once.
        assert!(!c.election_active(&h[0]));
        assert_eq!(c.shared.stats.get("hinting", "activate_immediate", "in"), 1);
        assert_eq!(c.shared.stats.get("election_scheduler", "hinted", "in"), 1);
        assert_eq!(c.shared.stats.get("election", "confirmed", "in"), 1);
        let history = c.confirmation_history();
        assert_eq!(history.last().map(|s| s.winner), Some(h[2]));
    }

    #[test]
    fn votes_below_the_threshold_start_nothing() {
        let (_d, c, h) = node(2);
        // A representative without weight: nothing reaches 10% of the trended weight.
        lock(&c.shared.vote_cache).insert(
            h[1],
            CachedVote {
                representative: test_key(9).public(),
                timestamp: Vote::FINAL_TIMESTAMP,
            },
        );
        c.shared.activate_hinted(&[h[1]]);
        assert!(c.active_elections().is_empty());
    }
}
