//! Intake of peers' votes and confirm_reqs: the fair queues network threads fill and the
//! consensus thread drains ([`Inbox`]).
//!
//! Votes are queued per (representative tier, channel), as the reference's vote
//! processor does: a principal representative's votes have their own sub-queue on each
//! channel and are served up to 27 times as often as a light account's, so one peer
//! flooding votes fills only its own sub-queues. A vote from an account below the vote
//! weight minimum (or without weight) is dropped here, before its signature is checked:
//! it could change nothing, and anyone can produce such votes for free.
//!
//! confirm_reqs are queued per channel. Once a second the sub-queues of closed channels
//! are forgotten (those of the block processor too).

use std::collections::HashSet;

use nano_core::{BlockHash, Root};
use nano_messages::Vote;

use super::fair_queue::{FairQueue, Rejected};
use super::online::{RepTier, RepTiers};
use super::{limits, lock, Shared};
use crate::interfaces::ChannelId;

/// Where a queued vote came from: the tier of its representative and its channel (None
/// for votes handed in locally).
pub(crate) type VoteSource = (RepTier, Option<ChannelId>);

/// Messages waiting for the consensus thread.
pub(crate) struct Inbox {
    votes: FairQueue<VoteSource, Vote>,
    requests: FairQueue<ChannelId, Vec<(BlockHash, Root)>>,
    /// Representative tiers, recomputed by the consensus loop every
    /// [`super::online::rep_tiers_interval`].
    tiers: RepTiers,
    /// The trended online weight `tiers` were computed against; None when they were
    /// set by other means (the next update computes them whole).
    tiers_trended: Option<nano_core::Amount>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            votes: FairQueue::new(
                limits::VOTE_QUEUE_GLOBAL,
                Box::new(|(tier, _): &VoteSource| limits::vote_tier_limits(*tier)),
            ),
            requests: FairQueue::new(
                limits::REQUEST_QUEUE_GLOBAL,
                Box::new(|_: &ChannelId| limits::request_channel_limits()),
            ),
            tiers: RepTiers::default(),
            tiers_trended: None,
        }
    }
}

impl Inbox {
    pub(crate) fn is_empty(&self) -> bool {
        self.votes.is_empty() && self.requests.is_empty()
    }

    /// The next batch of votes, in weighted round robin over tiers and channels.
    pub(crate) fn take_votes(&mut self) -> Vec<(Vote, Option<ChannelId>)> {
        self.votes
            .pop_batch(limits::VOTE_BATCH)
            .into_iter()
            .map(|((_, ch), v)| (v, ch))
            .collect()
    }

    /// The next batch of confirm_reqs, round robin over channels.
    pub(crate) fn take_requests(&mut self) -> Vec<(ChannelId, Vec<(BlockHash, Root)>)> {
        self.requests.pop_batch(limits::REQUEST_BATCH)
    }

    #[cfg(test)]
    pub(crate) fn set_tiers(&mut self, tiers: RepTiers) {
        self.tiers = tiers;
        self.tiers_trended = None;
    }
}

fn tier_detail(t: RepTier) -> &'static str {
    match t {
        RepTier::None => "none",
        RepTier::Tier1 => "tier_1",
        RepTier::Tier2 => "tier_2",
        RepTier::Tier3 => "tier_3",
    }
}

impl Shared {
    pub(crate) fn enqueue_vote(&self, vote: Vote, from: Option<ChannelId>) {
        if vote.account.is_zero() || vote.hashes.is_empty() {
            return;
        }
        // Checked before the signature: a flood of votes from accounts without weight
        // costs a weight lookup each, never a verification.
        let weight = self.ledger.weight(&vote.account);
        if weight.is_zero() || weight < self.config.vote_weight_minimum {
            self.stats.inc("vote", "below_minimum", "in");
            return;
        }
        let mut inbox = lock(&self.inbox);
        let tier = inbox.tiers.tier(&vote.account);
        match inbox.votes.push((tier, from), vote) {
            Ok(()) => {
                drop(inbox);
                self.inbox_cv.notify_one();
            }
            Err((_, why)) => {
                drop(inbox);
                self.stats.inc("vote", "overflow", "in");
                let detail = match why {
                    Rejected::GlobalFull => "global",
                    Rejected::SourceFull => tier_detail(tier),
                };
                self.stats.inc("vote_processor_overfill", detail, "in");
            }
        }
    }

    pub(crate) fn enqueue_request(&self, from: ChannelId, pairs: Vec<(BlockHash, Root)>) {
        if !self.config.enable_voting || self.reps().is_empty() {
            return;
        }
        let pushed = lock(&self.inbox).requests.push(from, pairs);
        match pushed {
            Ok(()) => self.inbox_cv.notify_one(),
            Err(_) => self.stats.inc("confirm_req", "overflow", "in"),
        }
    }

    /// Recomputes the representative tiers from the ledger's weights against the
    /// trended online weight (reference `rep_tiers::calculate_tiers`).
    ///
    /// While the trended weight holds, only the representatives whose weight changed
    /// since the last update are looked at again (the same tiers as a whole pass): the
    /// whole pass costs the entire weights cache (809k representatives on the 10M-block
    /// test ledger: most of a serving node's consensus thread on the dev network's
    /// 500 ms interval, and every commit waits for it to release the cache).
    pub(crate) fn update_rep_tiers(&self) {
        let trended = lock(&self.online).info.trended_stake_total;
        let store = self.ledger.store();
        // Taken before the weights are read: a commit in between is in the next take.
        let changed = store.take_weight_changes();
        let same_trend = lock(&self.inbox).tiers_trended == Some(trended);
        match changed {
            Some(reps) if same_trend => {
                if reps.is_empty() {
                    self.stats.inc("rep_tiers", "unchanged", "in");
                    return;
                }
                let now: Vec<(nano_core::Account, nano_core::Amount)> = store
                    .with_rep_weights_cached(|w| {
                        reps.iter()
                            .map(|r| (*r, w.get(r).copied().unwrap_or_default()))
                            .collect()
                    });
                lock(&self.inbox).tiers.update(now, trended);
            }
            _ => {
                let tiers = store.with_rep_weights_cached(|w| {
                    RepTiers::compute(w.iter().map(|(rep, weight)| (*rep, *weight)), trended)
                });
                let mut inbox = lock(&self.inbox);
                inbox.tiers = tiers;
                inbox.tiers_trended = Some(trended);
            }
        }
        self.stats.inc("rep_tiers", "updated", "in");
    }

    /// Forgets the intake sub-queues of channels that closed.
    pub(crate) fn refresh_intake(&self) {
        let live: Option<HashSet<ChannelId>> = self
            .outbound()
            .map(|o| o.channels().into_iter().map(|c| c.id).collect());
        {
            let mut inbox = lock(&self.inbox);
            if let Some(live) = &live {
                inbox.votes.retain_sources(|(_, ch)| match ch {
                    Some(id) => live.contains(id),
                    None => true,
                });
                inbox.requests.retain_sources(|id| live.contains(id));
            }
        }
        if let Some(live) = &live {
            lock(&self.queue).retain_peers(live);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::KeyPair;

    fn vote(k: &KeyPair) -> Vote {
        Vote::new_final(k, vec![BlockHash([1; 32])])
    }

    #[test]
    fn a_votes_tier_is_the_last_computed_one() {
        let config = super::super::ConsensusConfig::for_network(nano_core::Network::Dev);
        let (_d, c) = super::super::unstarted_for_test(|_| {}, config);
        let s = &c.shared;
        let genesis = nano_ledger::test_support::dev_genesis_key();
        // Computed at creation: the genesis account holds all the weight (tier 3).
        assert_eq!(lock(&s.inbox).tiers.tier(&genesis.public()), RepTier::Tier3);
        // Until the tiers are recomputed a vote keeps the tier they say, whatever its
        // weight: with no tiers the genesis votes queue as a non-principal's (32).
        lock(&s.inbox).set_tiers(RepTiers::default());
        for _ in 0..limits::VOTE_NON_PR_QUEUE + 8 {
            s.enqueue_vote(vote(&genesis), Some(3));
        }
        assert_eq!(s.stats.get("vote_processor_overfill", "none", "in"), 8);
        s.update_rep_tiers();
        assert_eq!(s.stats.get("rep_tiers", "updated", "in"), 2);
        // Nothing changed since: the next interval keeps them without a pass.
        s.update_rep_tiers();
        assert_eq!(s.stats.get("rep_tiers", "updated", "in"), 2);
        assert_eq!(s.stats.get("rep_tiers", "unchanged", "in"), 1);
        for _ in 0..limits::VOTE_PR_QUEUE {
            s.enqueue_vote(vote(&genesis), Some(3));
        }
        assert_eq!(s.stats.get("vote_processor_overfill", "tier_3", "in"), 0);
        let queued = lock(&s.inbox).votes.len();
        assert_eq!(queued, limits::VOTE_NON_PR_QUEUE + limits::VOTE_PR_QUEUE);
    }

    #[test]
    fn a_flooding_light_channel_does_not_delay_a_principal_representative() {
        let mut inbox = Inbox::default();
        let light = nano_ledger::test_support::test_key(1);
        let pr = nano_ledger::test_support::test_key(2);
        for _ in 0..limits::VOTE_NON_PR_QUEUE * 4 {
            let _ = inbox.votes.push((RepTier::None, Some(7)), vote(&light));
        }
        assert_eq!(inbox.votes.len(), limits::VOTE_NON_PR_QUEUE);
        assert_eq!(
            inbox.votes.dropped_of(&(RepTier::None, Some(7))),
            3 * limits::VOTE_NON_PR_QUEUE as u64
        );
        for _ in 0..10 {
            inbox
                .votes
                .push((RepTier::Tier3, Some(8)), vote(&pr))
                .unwrap();
        }
        // Tier 3 is served 27 votes per turn for one of the light channel.
        let first: Vec<_> = inbox.take_votes().into_iter().take(11).collect();
        let from_pr = first
            .iter()
            .filter(|(v, _)| v.account == pr.public())
            .count();
        assert_eq!(
            from_pr, 10,
            "all the representative's votes in the first 11"
        );
    }
}
