//! The vote processor: confirm_acks are queued by network threads, de-duplicated by vote
//! hash, verified in batches, and applied to elections. A vote for a block in the ledger
//! without an election starts one; a vote for an unknown block waits in the vote cache.
//! A vote that changed an election is relayed, by the reference's rule ([`RELAY_FLOOD_SCALE`]).

use nano_core::{Amount, BlockHash};
use nano_messages::{ConfirmAck, Message, Vote};

use super::cache::CachedVote;
use super::vote_json;
use crate::consensus::elections::election::VoteOutcome;
use crate::consensus::elections::Effects;
use crate::consensus::{lock, Shared};
use crate::events::NodeEvent;
use crate::interfaces::{ChannelId, RELAY_FLOOD_SCALE};
use crate::network::rep_crawler::PRINCIPAL_WEIGHT_FACTOR;

impl Shared {
    /// Whether one of `reps` holds at least half a principal representative's weight
    /// (the trended online weight / 1000 / 2), the reference's `wallets::check_rep` and
    /// `have_half_rep`.
    pub(crate) fn hosts_half_principal(&self, reps: &[nano_core::KeyPair]) -> bool {
        let trended = lock(&self.online).info.trended_stake_total;
        let half = trended.0 / PRINCIPAL_WEIGHT_FACTOR / 2;
        reps.iter()
            .any(|k| self.ledger.weight(&k.public()).0 >= half)
    }

    /// Verifies (unless `trusted`), applies and relays a batch of votes.
    pub(crate) fn process_votes(&self, votes: Vec<(Vote, Option<ChannelId>)>, trusted: bool) {
        // Drop votes seen before (relays of relays).
        let votes: Vec<(Vote, Option<ChannelId>)> = {
            let mut seen = lock(&self.seen_votes);
            votes
                .into_iter()
                .filter(|(v, _)| {
                    // The vote hash does not cover the account: key by both.
                    let key = nano_core::hash::blake2b_256(&[&v.hash().0, &v.account.0]);
                    let fresh = seen.insert(BlockHash(key));
                    if !fresh {
                        self.stats.inc("vote", "duplicate", "in");
                    }
                    fresh
                })
                .collect()
        };
        if votes.is_empty() {
            return;
        }
        let valid: Vec<bool> = if trusted {
            vec![true; votes.len()]
        } else {
            let refs: Vec<&Vote> = votes.iter().map(|(v, _)| v).collect();
            Vote::verify_many(&refs)
        };
        let votes: Vec<(Vote, Option<ChannelId>)> = votes
            .into_iter()
            .zip(valid)
            .filter_map(|(v, ok)| {
                if !ok {
                    self.stats.inc("vote", "invalid", "in");
                }
                ok.then_some(v)
            })
            .collect();
        let delta = self.quorum_delta();
        // A vote below the vote weight minimum counts as one without weight: it is not
        // relayed, cached, counted online, and starts no election.
        let minimum = self.config.vote_weight_minimum;
        let weights: Vec<Amount> = votes
            .iter()
            .map(|(v, _)| {
                let w = self.ledger.weight(&v.account);
                if w < minimum {
                    Amount::ZERO
                } else {
                    w
                }
            })
            .collect();
        {
            let mut online = lock(&self.online);
            for ((v, _), w) in votes.iter().zip(&weights) {
                online.reps.observe(v.account, *w);
            }
        }
        let mut fx = Effects::default();
        // Hashes whose votes went to the vote cache; the hinted scheduler looks at them.
        let mut cached_hashes: Vec<BlockHash> = Vec::new();
        let notify = self.events.has_subscribers();
        let outbound = self.outbound();
        // The reference's vote relay (`node` on `vote_router.vote_processed`): a vote that
        // changed an election is sent on to half the plain fan-out, unless it is one of
        // this node's representatives' or this node votes with half a principal
        // representative's weight (it is then relayed by the votes it makes itself).
        let reps = self.reps();
        let relays = outbound.is_some() && !self.hosts_half_principal(&reps);
        let own: Vec<nano_core::Account> = reps.iter().map(|k| k.public()).collect();
        {
            let mut active = lock(&self.active);
            for ((vote, from), weight) in votes.iter().zip(&weights) {
                let mut applied = false;
                let mut replay = false;
                for h in &vote.hashes {
                    match self.apply_vote_locked(
                        &mut active,
                        vote.account,
                        *weight,
                        vote.timestamp,
                        *h,
                        delta,
                        &mut fx,
                    ) {
                        Some(VoteOutcome::Vote) => applied = true,
                        Some(VoteOutcome::Replay) => replay = true,
                        // Counted as indeterminate and not relayed, as the reference's
                        // `election::vote` answers for a light representative.
                        Some(VoteOutcome::Ignored) => {}
                        None => {
                            if active.recently_confirmed(h) {
                                replay = true;
                            } else if !weight.is_zero() {
                                lock(&self.vote_cache).insert(
                                    *h,
                                    CachedVote {
                                        representative: vote.account,
                                        timestamp: vote.timestamp,
                                    },
                                );
                                cached_hashes.push(*h);
                            }
                        }
                    }
                }
                let kind = if weight.is_zero() {
                    "indeterminate"
                } else if applied {
                    "vote"
                } else if replay {
                    "replay"
                } else {
                    "indeterminate"
                };
                self.stats.inc("vote", kind, "in");
                if notify {
                    self.publish(NodeEvent::Vote {
                        vote: vote_json(vote),
                        representative: vote.account,
                        kind: kind.to_string(),
                    });
                }
                if from.is_some() && !weight.is_zero() && applied && relays {
                    if let Some(out) = &outbound {
                        if !own.contains(&vote.account) {
                            let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                                vote: vote.clone(),
                                rebroadcast: true,
                            }));
                            out.flood(&msg, RELAY_FLOOD_SCALE);
                        }
                    }
                }
            }
        }
        self.dispatch(fx);
        if !cached_hashes.is_empty() {
            cached_hashes.sort_unstable();
            cached_hashes.dedup();
            self.activate_hinted(&cached_hashes);
        }
    }
}
