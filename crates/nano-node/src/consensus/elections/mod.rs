//! Elections: [`election`] holds one election's candidates and tallies,
//! [`active`] bounds the running set and remembers recent confirmations, and
//! [`scheduler`] decides which blocks get an election. The functions here apply votes to
//! elections and carry out what the elections decided ([`Effects`]).

pub mod active;
pub mod election;
pub(crate) mod scheduler;

use std::collections::HashMap;
use std::time::Instant;

use nano_core::{Amount, Block, BlockHash, QualifiedRoot, Root};
use nano_messages::{ConfirmReq, Message, Publish, Vote};

use active::{ActiveElections, InsertOutcome};
use election::{Behavior, BucketSlot, ElectionSummary, VoteOutcome};

use super::{lock, Shared};
use crate::events::NodeEvent;
use crate::interfaces::{
    fanout, ChannelId, Outbound, PrincipalRep, TrafficType, PLAIN_FLOOD_SCALE, RELAY_FLOOD_SCALE,
};

/// A confirmed election waiting to be cemented.
pub(crate) struct Confirmed {
    pub summary: ElectionSummary,
    pub winner: Option<Block>,
}

/// Consequences of election changes, applied after the elections lock is released.
#[derive(Default)]
pub(crate) struct Effects {
    pub normal: Vec<(QualifiedRoot, BlockHash)>,
    pub finals: Vec<(QualifiedRoot, BlockHash)>,
    pub confirmed: Vec<Confirmed>,
    pub started: Vec<BlockHash>,
    pub stopped: Vec<BlockHash>,
    /// New election leaders to put in the ledger (rolling back what holds their root).
    pub forced: Vec<Block>,
    /// Winners of just-confirmed elections to publish once more, with who voted for
    /// what ([`ConfirmedWinner`]).
    pub publish: Vec<ConfirmedWinner>,
}

/// A confirmed election's winner and its representatives' last votes, waiting for the
/// next tick to publish it (the reference publishes at a confirmed election's last
/// tick, `election::transition_time`, unless it published that winner within the
/// broadcast interval).
pub(crate) struct ConfirmedWinner {
    pub block: Block,
    pub votes: HashMap<nano_core::Account, BlockHash>,
}

/// Reference `election::vote`: outside the dev network, a vote from a representative
/// weighing no more than the minimum principal weight (trended online weight / 1000,
/// `node::minimum_principal_weight`) is not counted by elections, whether it arrives live
/// or from the vote cache. `minimum` is `None` on the dev network, where every vote counts.
pub(crate) fn counts_in_elections(weight: Amount, minimum: Option<Amount>) -> bool {
    minimum.is_none_or(|m| weight > m)
}

/// The minimum principal weight for [`counts_in_elections`]: `None` on the dev network.
pub(crate) fn principal_minimum(network: nano_core::Network, trended: Amount) -> Option<Amount> {
    (network != nano_core::Network::Dev).then_some(Amount(
        trended.0 / crate::network::rep_crawler::PRINCIPAL_WEIGHT_FACTOR,
    ))
}

impl Shared {
    /// Starts an election of `behavior` for `block` (or adds it to its root's election
    /// as a fork candidate) and applies the votes cached for it. `slot` is the priority
    /// bucket that started it. The caller checked the behaviour's vacancy.
    pub(crate) fn start_election_as(
        &self,
        active: &mut ActiveElections,
        block: Block,
        delta: Amount,
        fx: &mut Effects,
        behavior: Behavior,
        slot: Option<BucketSlot>,
    ) -> bool {
        let hash = block.hash();
        let root = block.qualified_root();
        match active.insert_as(block, behavior, slot) {
            InsertOutcome::Started => {
                self.stats.inc("election", "start", "in");
                fx.started.push(hash);
                // The generator applies the vote rules; a refused vote is asked for
                // again by the election tick until the rules allow it.
                if self.config.enable_voting && !self.reps().is_empty() {
                    fx.normal.push((root, hash));
                }
            }
            InsertOutcome::AddedCandidate => {}
            _ => return false,
        }
        let cached = lock(&self.vote_cache).take(&hash);
        for v in cached {
            let w = self.ledger.weight(&v.representative);
            self.apply_vote_locked(active, v.representative, w, v.timestamp, hash, delta, fx);
        }
        true
    }

    /// Applies one (rep, hash) vote to the election holding `hash`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_vote_locked(
        &self,
        active: &mut ActiveElections,
        rep: nano_core::Account,
        weight: Amount,
        timestamp: u64,
        hash: BlockHash,
        delta: Amount,
        fx: &mut Effects,
    ) -> Option<VoteOutcome> {
        let root = active.root_of(&hash)?;
        let e = active.get_mut(&root)?;
        if !counts_in_elections(weight, *lock(&self.principal_minimum)) {
            return Some(VoteOutcome::Ignored);
        }
        let out = e.vote(rep, weight, timestamp, hash);
        if out == VoteOutcome::Vote {
            let ev = e.evaluate(delta, |rep| self.ledger.weight(rep));
            if let Some(w) = ev.leader_changed {
                // Reference `election::confirm_if_quorum`: the new winner is forced into
                // the ledger; until it is there the vote rules refuse to vote for it.
                if let Some(b) = e.blocks.get(&w) {
                    fx.forced.push(b.clone());
                }
            }
            if let Some(w) = ev.want_final {
                if !e.final_voted && self.config.enable_voting && !self.reps().is_empty() {
                    fx.finals.push((root, w));
                }
            }
            if let Some(w) = ev.confirmed {
                let winner = e.blocks.get(&w).cloned();
                let every = self.config.rebroadcast_interval;
                if let Some(b) = winner
                    .as_ref()
                    .filter(|_| broadcast_due(e.last_broadcast, w, Instant::now(), every))
                {
                    fx.publish.push(ConfirmedWinner {
                        block: b.clone(),
                        votes: e.votes.iter().map(|(a, v)| (*a, v.hash)).collect(),
                    });
                }
                if let Some(summary) = active.finish(&root) {
                    self.stats.inc("election", "confirmed", "in");
                    fx.confirmed.push(Confirmed { summary, winner });
                }
            }
        }
        Some(out)
    }

    /// Applies [`Effects`]: events, vote generation, cementing.
    pub(crate) fn dispatch(&self, fx: Effects) {
        for h in fx.started {
            self.publish(NodeEvent::ElectionStarted { hash: h });
        }
        for h in fx.stopped {
            self.stats.inc("election", "stopped_capacity", "in");
            self.publish(NodeEvent::ElectionStopped { hash: h });
        }
        if !fx.normal.is_empty() || !fx.finals.is_empty() {
            let mut g = lock(&self.generator);
            for (root, hash) in fx.normal {
                g.add(root, hash, false);
            }
            for (root, hash) in fx.finals {
                g.add(root, hash, true);
            }
            drop(g);
            // Wake the consensus loop: a chain confirmed one election after another
            // waits on exactly this vote. Taking the inbox lock first means the loop is
            // either before its emptiness check (and sees the generator) or waiting.
            drop(lock(&self.inbox));
            self.inbox_cv.notify_one();
        }
        if !fx.publish.is_empty() {
            let mut q = lock(&self.confirmed_winners);
            let room = CONFIRMED_WINNERS_MAX.saturating_sub(q.len());
            let skipped = fx.publish.len().saturating_sub(room);
            q.extend(fx.publish.into_iter().take(room));
            drop(q);
            self.stats
                .add("election", "broadcast_block_skipped", "out", skipped as u64);
        }
        for b in fx.forced {
            self.stats.inc("election", "leader_forced", "in");
            self.force(b, None, None);
        }
        if !fx.confirmed.is_empty() {
            lock(&self.queue).cement.extend(fx.confirmed);
            self.writer_cv.notify_one();
        }
    }

    /// Requests, rebroadcasts, expiry and late local votes for running elections.
    pub(crate) fn tick_elections(&self) {
        let now = Instant::now();
        let interval = self.config.request_interval;
        let have_reps = self.config.enable_voting && !self.reps().is_empty();
        let outbound = self.outbound();
        let mut solicitor = outbound.as_ref().map(|out| {
            Solicitor::new(
                out.principal_representatives(),
                out.channels().len(),
                self.config.network == nano_core::Network::Dev,
            )
        });
        let mut expired = Vec::new();
        let mut fx = Effects::default();
        // Winners of elections confirmed since the last tick come first: this is
        // their last chance, as a confirmed election's last tick is in the reference.
        let confirmed = std::mem::take(&mut *lock(&self.confirmed_winners));
        if let Some(sol) = solicitor.as_mut() {
            for c in &confirmed {
                if !sol.broadcast_winner(&c.block, |a| c.votes.get(a).copied()) {
                    self.stats.inc("election", "broadcast_block_skipped", "out");
                }
            }
        }
        {
            let mut active = lock(&self.active);
            let mut expired_roots = Vec::new();
            for e in active.iter_mut() {
                if e.confirmed {
                    continue;
                }
                let ttl = e.behavior.time_to_live(self.config.election_expiry);
                if now.duration_since(e.started) > ttl {
                    expired_roots.push(e.qualified_root);
                    continue;
                }
                if have_reps && !e.final_voted {
                    if e.quorum {
                        fx.finals.push((e.qualified_root, e.winner));
                    } else if e.voted_for != Some(e.winner) {
                        fx.normal.push((e.qualified_root, e.winner));
                    }
                }
                // An election asks and publishes once it has run one request interval
                // (the reference's passive phase), then as each interval comes round.
                let due = match e.last_request {
                    None => now.duration_since(e.started) >= interval,
                    Some(t) => now.duration_since(t) >= interval,
                };
                let Some(sol) = solicitor.as_mut() else {
                    continue;
                };
                if now.duration_since(e.started) >= interval
                    && broadcast_due(
                        e.last_broadcast,
                        e.winner,
                        now,
                        self.config.rebroadcast_interval,
                    )
                    && sol.broadcast(e)
                {
                    e.last_broadcast = Some((now, e.winner));
                }
                if due && sol.requested_elections < REQUESTED_ELECTIONS_MAX && sol.request(e) {
                    e.last_request = Some(now);
                    e.request_count += 1;
                }
            }
            for r in expired_roots {
                if let Some(e) = active.remove(&r) {
                    expired.push(e.winner);
                }
            }
        }
        for h in expired {
            self.stats.inc("election", "expired", "in");
            self.publish(NodeEvent::ElectionStopped { hash: h });
        }
        self.dispatch(fx);
        // Expired elections left room in their buckets.
        self.schedule_priority();
        if let (Some(out), Some(sol)) = (outbound, solicitor) {
            let (published, requests) = sol.flush(out.as_ref());
            self.stats
                .add("election", "broadcast_block", "out", published as u64);
            self.stats
                .add("confirm_req", "sent", "out", requests as u64);
        }
    }
}

/// Most elections one tick asks representatives about: bounds the requests a tick
/// builds (each election asks at most [`ELECTION_REQUESTS_MAX`] representatives); the
/// rest ask on a later tick.
const REQUESTED_ELECTIONS_MAX: usize = Vote::MAX_HASHES * 8;

/// Most principal representatives one election asks in one round, not counting those
/// that voted for another candidate: the reference's `max_election_requests`.
const ELECTION_REQUESTS_MAX: usize = 50;

/// Most elections whose winner one tick publishes: the reference's
/// `max_block_broadcasts` (30, and 4 on the dev network), so a full set of elections
/// does not flood a block per election every tick.
const BLOCK_BROADCASTS_MAX: usize = 30;
const BLOCK_BROADCASTS_MAX_DEV: usize = 4;

/// Most confirmed winners waiting for the next tick: a tick publishes at most
/// [`BLOCK_BROADCASTS_MAX`] winners, and the reference skips the broadcasts of a loop
/// past that limit, so more could never be sent.
const CONFIRMED_WINNERS_MAX: usize = BLOCK_BROADCASTS_MAX;

/// Whether a winner `hash` is published again, given the election's last broadcast:
/// none yet, another winner then, or the broadcast interval passed (the reference's
/// `election::broadcast_block_predicate`).
fn broadcast_due(
    last: Option<(Instant, BlockHash)>,
    hash: BlockHash,
    now: Instant,
    every: std::time::Duration,
) -> bool {
    match last {
        None => true,
        Some((at, last_hash)) => last_hash != hash || now.duration_since(at) >= every,
    }
}

/// One tick's confirmation requests and winner broadcasts, as the reference's
/// `confirmation_solicitor`: requests go to principal representatives only, bundled per
/// channel; a winner goes to the principal representatives that have not voted for it
/// and to half the plain fan-out of random peers.
struct Solicitor {
    /// Heaviest first.
    reps: Vec<PrincipalRep>,
    /// Directed copies of one winner, not counting representatives that voted for
    /// another candidate: the reference's `max_election_broadcasts`, half the plain
    /// fan-out (at least one).
    broadcast_reps_max: usize,
    broadcasts_left: usize,
    /// Winners to publish: the block and the representatives' channels it goes to.
    broadcasts: Vec<(Block, Vec<ChannelId>)>,
    requests: HashMap<ChannelId, Vec<(BlockHash, Root)>>,
    requested_elections: usize,
}

impl Solicitor {
    fn new(reps: Vec<PrincipalRep>, channels: usize, dev: bool) -> Solicitor {
        Solicitor {
            reps,
            broadcast_reps_max: (fanout(channels, PLAIN_FLOOD_SCALE) / 2).max(1),
            broadcasts_left: if dev {
                BLOCK_BROADCASTS_MAX_DEV
            } else {
                BLOCK_BROADCASTS_MAX
            },
            broadcasts: Vec::new(),
            requests: HashMap::new(),
            requested_elections: 0,
        }
    }

    /// Queues `e`'s winner for publishing; false when this tick's broadcasts are used
    /// up (`confirmation_solicitor::broadcast`).
    fn broadcast(&mut self, e: &election::Election) -> bool {
        let Some(block) = e.blocks.get(&e.winner) else {
            return false;
        };
        self.broadcast_winner(block, |a| e.votes.get(a).map(|v| v.hash))
    }

    /// Queues `block` for publishing, given what each representative last voted for
    /// (`voted`); false when this tick's broadcasts are used up.
    fn broadcast_winner(
        &mut self,
        block: &Block,
        voted: impl Fn(&nano_core::Account) -> Option<BlockHash>,
    ) -> bool {
        if self.broadcasts_left == 0 {
            return false;
        }
        let winner = block.hash();
        self.broadcasts_left -= 1;
        let mut directed = Vec::new();
        let mut counted = 0;
        for rep in &self.reps {
            if counted >= self.broadcast_reps_max {
                break;
            }
            let voted = voted(&rep.account);
            let different = voted.is_some_and(|h| h != winner);
            if voted.is_none() || different {
                directed.push(rep.channel);
                counted += usize::from(!different);
            }
        }
        self.broadcasts.push((block.clone(), directed));
        true
    }

    /// Queues a request for `e`'s winner to each principal representative that still
    /// has something to say about it; false when none has
    /// (`confirmation_solicitor::add`).
    fn request(&mut self, e: &election::Election) -> bool {
        let mut counted = 0;
        let mut any = false;
        for rep in &self.reps {
            if counted >= ELECTION_REQUESTS_MAX {
                break;
            }
            let voted = e.votes.get(&rep.account);
            // Before quorum a representative that voted has answered; after it, only
            // its final vote has.
            let answered = voted.is_some_and(|v| !e.quorum || v.is_final());
            let different = voted.is_some_and(|v| v.hash != e.winner);
            if !answered || different {
                self.requests
                    .entry(rep.channel)
                    .or_default()
                    .push((e.winner, e.qualified_root.root));
                counted += usize::from(!different);
                any = true;
            }
        }
        self.requested_elections += usize::from(any);
        any
    }

    /// Sends what the tick queued: winners (the directed copies, then a flood of half
    /// the plain fan-out) and each channel's requests in confirm_reqs of at most
    /// [`ConfirmReq::MAX_PAIRS`] pairs. Returns the winners published and the
    /// confirm_reqs sent.
    fn flush(self, out: &dyn Outbound) -> (usize, usize) {
        let published = self.broadcasts.len();
        for (block, directed) in self.broadcasts {
            let msg = Message::Publish(Box::new(Publish {
                block,
                originator: false,
            }));
            for c in directed {
                out.send(c, &msg, TrafficType::Realtime);
            }
            out.flood(&msg, RELAY_FLOOD_SCALE);
        }
        let mut sent = 0;
        for (channel, pairs) in self.requests {
            for chunk in pairs.chunks(ConfirmReq::MAX_PAIRS) {
                let msg = Message::ConfirmReq(ConfirmReq {
                    pairs: chunk.to_vec(),
                });
                sent += usize::from(out.send(channel, &msg, TrafficType::Realtime));
            }
        }
        (published, sent)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nano_core::Network;
    use nano_ledger::test_support::{test_key, Chain};
    use nano_ledger::Ledger;

    use super::*;
    use crate::consensus::{unstarted_for_test, ConsensusConfig};

    #[test]
    fn the_principal_minimum_applies_outside_the_dev_network_only() {
        assert_eq!(principal_minimum(Network::Dev, Amount(5_000)), None);
        assert_eq!(
            principal_minimum(Network::Live, Amount(5_000)),
            Some(Amount(5))
        );
        assert!(counts_in_elections(Amount::ZERO, None));
        assert!(!counts_in_elections(Amount(5), Some(Amount(5))));
        assert!(counts_in_elections(Amount(6), Some(Amount(5))));
    }

    #[test]
    fn a_representative_at_or_below_the_principal_minimum_is_not_counted() {
        let mut block = None;
        let setup = |ledger: &Ledger| {
            let mut g = Chain::dev_genesis();
            let mut txn = ledger.write_txn().unwrap();
            let b = g.send(&test_key(1).public(), 1);
            ledger.process(&mut txn, &b).unwrap();
            txn.commit().unwrap();
            block = Some(b);
        };
        let (_d, c) = unstarted_for_test(setup, ConsensusConfig::for_network(Network::Dev));
        let s = &c.shared;
        let block = block.expect("block");
        let hash = block.hash();
        lock(&s.active).insert_as(block, Behavior::Priority, None);
        let genesis = nano_ledger::test_support::dev_genesis_key();
        let weight = s.ledger.weight(&genesis.public());
        assert!(!weight.is_zero());

        // The genesis representative weighs exactly the minimum: its final vote, which
        // alone would confirm, is not counted.
        *lock(&s.principal_minimum) = Some(weight);
        s.process_votes(vec![(Vote::new_final(&genesis, vec![hash]), None)], true);
        assert!(c.election_active(&hash));
        assert_eq!(s.stats.get("vote", "indeterminate", "in"), 1);
        assert_eq!(s.stats.get("election", "confirmed", "in"), 0);

        // One raw unit lighter minimum: a final vote of the same representative confirms.
        *lock(&s.principal_minimum) = Some(Amount(weight.0 - 1));
        let other = BlockHash([7; 32]);
        s.process_votes(
            vec![(Vote::new_final(&genesis, vec![hash, other]), None)],
            true,
        );
        assert_eq!(s.stats.get("vote", "vote", "in"), 1);
        assert_eq!(s.stats.get("election", "confirmed", "in"), 1);
        assert!(!c.election_active(&hash));
    }

    #[test]
    fn hinted_and_optimistic_elections_expire_sooner_than_priority_ones() {
        let mut blocks = Vec::new();
        let setup = |ledger: &Ledger| {
            let mut g = Chain::dev_genesis();
            let mut txn = ledger.write_txn().unwrap();
            for _ in 0..4 {
                let b = g.send(&test_key(1).public(), 1);
                ledger.process(&mut txn, &b).unwrap();
                blocks.push(b);
            }
            txn.commit().unwrap();
        };
        let (_d, c) = unstarted_for_test(setup, ConsensusConfig::for_network(Network::Dev));
        let s = &c.shared;
        let kinds = [
            Behavior::Priority,
            Behavior::Hinted,
            Behavior::Optimistic,
            Behavior::Manual,
        ];
        // Each election started 31 s ago: past the 30 s of hinted and optimistic
        // elections, within the 300 s of the others.
        let age = Duration::from_secs(31);
        let then = Instant::now().checked_sub(age).expect("uptime over 31 s");
        {
            let mut active = lock(&s.active);
            for (b, kind) in blocks.iter().zip(kinds) {
                active.insert_as(b.clone(), kind, None);
                active.get_mut(&b.qualified_root()).unwrap().started = then;
            }
        }
        s.tick_elections();
        let running: Vec<Behavior> = c.active_elections().iter().map(|e| e.behavior).collect();
        assert_eq!(running.len(), 2);
        assert!(running.contains(&Behavior::Priority) && running.contains(&Behavior::Manual));
        assert_eq!(s.stats.get("election", "expired", "in"), 2);
    }
}
