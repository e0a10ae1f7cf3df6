//! Votes in and out, and the consensus loop's periodic work.
//!
//! In: confirm_acks are queued by network threads, de-duplicated by vote hash, verified
//! in batches, and applied to elections. A vote for a block in the ledger without an
//! election starts one (so a representative voting on a chain's head confirms blocks a
//! node has batched differently); a vote for an unknown block waits in the vote cache.
//! New, valid votes with weight are relayed.
//!
//! Out: the generator batches the hashes local representatives should vote for (up to
//! 255 per vote, flushed after `vote_generator_delay`), normal and final separately.
//! Every final vote is first recorded in the store's `final_votes` table (qualified root
//! → hash) in one transaction per flush; a root already final-voted for another block is
//! skipped, so this node never final-votes two blocks for one root, even across restarts.
//! confirm_req from peers is answered with votes for the blocks the ledger holds (final
//! votes for cemented blocks).
//!
//! Periodic (every 100 ms): confirm_req for unconfirmed elections, re-publishing their
//! winners, expiry, starting elections for accounts with uncemented blocks (backlog), and
//! online/trended weight with the quorum delta.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nano_core::{Amount, Block, BlockHash, QualifiedRoot, Root};
use nano_ledger::Ledger;
use nano_messages::{ConfirmAck, ConfirmReq, Message, Publish, Vote};

use super::block_processor::{confirmed_event, Confirmed};
use super::election::{now_ms, ActiveElections, InsertOutcome, VoteOutcome};
use super::online::{trended, OnlineReps, QuorumInfo};
use super::vote_cache::CachedVote;
use super::{lock, BlockConfirmOutcome, ConsensusError, Shared};
use crate::events::{ConfirmationType, NodeEvent};
use crate::interfaces::{ChannelId, TrafficType};

const VOTE_INBOX_MAX: usize = 64 * 1024;
const REQUEST_INBOX_MAX: usize = 4096;
const ONLINE_SAMPLE_PERIOD: Duration = Duration::from_secs(300);

/// Messages waiting for the consensus thread.
#[derive(Default)]
pub(crate) struct Inbox {
    votes: VecDeque<(Vote, Option<ChannelId>)>,
    requests: VecDeque<(ChannelId, Vec<(BlockHash, Root)>)>,
}

/// Hashes local representatives still have to vote for.
#[derive(Default)]
pub(crate) struct Generator {
    normal: Vec<(QualifiedRoot, BlockHash)>,
    normal_since: Option<Instant>,
    finals: Vec<(QualifiedRoot, BlockHash)>,
    finals_since: Option<Instant>,
}

/// Online weight bookkeeping and the last computed quorum numbers.
pub(crate) struct OnlineState {
    reps: OnlineReps,
    samples: Vec<Amount>,
    minimum: Amount,
    last_sample: Instant,
    pub(crate) info: QuorumInfo,
}

impl OnlineState {
    /// `minimum` is `online_weight_minimum`; `weight_minimum` is
    /// `representative_vote_weight_minimum`.
    pub(crate) fn load(ledger: &Ledger, minimum: Amount, weight_minimum: Amount) -> OnlineState {
        let mut samples = Vec::new();
        if let Ok(txn) = ledger.read_txn() {
            if let Ok(it) = ledger.store().iter_online_weight(&txn) {
                samples = it.filter_map(|r| r.ok().map(|(_, w)| w)).collect();
            }
        }
        let t = trended(&samples, minimum);
        OnlineState {
            reps: OnlineReps::new(weight_minimum),
            samples,
            minimum,
            last_sample: Instant::now(),
            info: QuorumInfo::compute(Amount::ZERO, t, minimum, Amount::ZERO),
        }
    }
}

/// Consequences of election changes, applied after the elections lock is released.
#[derive(Default)]
pub(crate) struct Effects {
    pub normal: Vec<(QualifiedRoot, BlockHash)>,
    pub finals: Vec<(QualifiedRoot, BlockHash)>,
    pub confirmed: Vec<Confirmed>,
    pub started: Vec<BlockHash>,
    pub stopped: Vec<BlockHash>,
}

/// The reference prints vote signatures as one big decimal number.
fn decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            let v = (*d as u32) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| (b'0' + d) as char).collect()
}

/// The vote JSON of the WebSocket `vote` topic (without `type`).
pub fn vote_json(vote: &Vote) -> serde_json::Value {
    serde_json::json!({
        "account": vote.account.encode_account(),
        "signature": decimal(&vote.signature.0),
        "sequence": vote.timestamp.to_string(),
        "timestamp": vote.timestamp.to_string(),
        "duration": vote.duration_code().to_string(),
        "blocks": vote.hashes.iter().map(|h| h.encode_hex()).collect::<Vec<_>>(),
    })
}

impl Shared {
    pub(crate) fn enqueue_vote(&self, vote: Vote, from: Option<ChannelId>) {
        if vote.account.is_zero() || vote.hashes.is_empty() {
            return;
        }
        // Checked before the signature: a flood of votes from accounts without weight
        // (anyone can sign those) costs a weight lookup each, never a verification.
        let weight = self.ledger.weight(&vote.account);
        if weight.is_zero() || weight < self.config.vote_weight_minimum {
            self.stats.inc("vote", "below_minimum", "in");
            return;
        }
        let mut inbox = lock(&self.inbox);
        if inbox.votes.len() >= VOTE_INBOX_MAX {
            self.stats.inc("vote", "overflow", "in");
            return;
        }
        inbox.votes.push_back((vote, from));
        drop(inbox);
        self.inbox_cv.notify_one();
    }

    pub(crate) fn enqueue_request(&self, from: ChannelId, pairs: Vec<(BlockHash, Root)>) {
        if !self.config.enable_voting || self.reps().is_empty() {
            return;
        }
        let mut inbox = lock(&self.inbox);
        if inbox.requests.len() >= REQUEST_INBOX_MAX {
            self.stats.inc("confirm_req", "overflow", "in");
            return;
        }
        inbox.requests.push_back((from, pairs));
        drop(inbox);
        self.inbox_cv.notify_one();
    }

    pub(crate) fn run_consensus(&self) {
        let mut last_tick = Instant::now();
        let mut last_second = Instant::now() - Duration::from_secs(2);
        let mut last_reps = Instant::now();
        let mut last_gap = Instant::now();
        while !self.is_stopped() {
            let (votes, requests) = {
                let mut inbox = lock(&self.inbox);
                if inbox.votes.is_empty() && inbox.requests.is_empty() {
                    inbox = self
                        .inbox_cv
                        .wait_timeout(inbox, Duration::from_millis(10))
                        .map(|r| r.0)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                let n = inbox.votes.len().min(8192);
                let votes: Vec<_> = inbox.votes.drain(..n).collect();
                let m = inbox.requests.len().min(256);
                let reqs: Vec<_> = inbox.requests.drain(..m).collect();
                (votes, reqs)
            };
            if self.is_stopped() {
                break;
            }
            if last_second.elapsed() >= Duration::from_secs(1) {
                last_second = Instant::now();
                self.update_online();
                self.activate_backlog();
            }
            if last_gap.elapsed() >= Duration::from_millis(250) {
                last_gap = Instant::now();
                self.request_gaps();
            }
            if last_reps.elapsed() >= Duration::from_secs(5) {
                last_reps = Instant::now();
                self.refresh_reps();
            }
            if !votes.is_empty() {
                self.process_votes(votes, false);
            }
            if !requests.is_empty() {
                self.answer_requests(requests);
            }
            self.flush_generator(false);
            if last_tick.elapsed() >= Duration::from_millis(100) {
                last_tick = Instant::now();
                self.tick_elections();
            }
        }
    }

    /// Starts an election (or adds a fork candidate) and applies cached votes for it.
    pub(crate) fn start_election_locked(
        &self,
        active: &mut ActiveElections,
        block: Block,
        balance: Amount,
        delta: Amount,
        fx: &mut Effects,
    ) -> bool {
        let hash = block.hash();
        let root = block.qualified_root();
        match active.insert(block, balance) {
            InsertOutcome::Started { evicted } => {
                self.stats.inc("election", "start", "in");
                fx.stopped.extend(evicted);
                fx.started.push(hash);
                if self.config.enable_voting && !self.reps().is_empty() {
                    if let Some(e) = active.get_mut(&root) {
                        e.voted = true;
                    }
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
        let out = e.vote(rep, weight, timestamp, hash);
        if out == VoteOutcome::Vote {
            let ev = e.evaluate(delta);
            if let Some(w) = ev.want_final {
                if !e.final_voted && self.config.enable_voting && !self.reps().is_empty() {
                    e.final_voted = true;
                    fx.finals.push((root, w));
                }
            }
            if let Some(w) = ev.confirmed {
                let winner = e.blocks.get(&w).cloned();
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
            if !fx.normal.is_empty() {
                g.normal_since.get_or_insert_with(Instant::now);
                g.normal.extend(fx.normal);
            }
            if !fx.finals.is_empty() {
                g.finals_since.get_or_insert_with(Instant::now);
                g.finals.extend(fx.finals);
            }
        }
        if !fx.confirmed.is_empty() {
            lock(&self.queue).cement.extend(fx.confirmed);
            self.writer_cv.notify_one();
        }
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
        // Hashes without an election: those in the ledger and not cemented get one.
        let unknown: Vec<BlockHash> = {
            let active = lock(&self.active);
            let mut u: Vec<BlockHash> = votes
                .iter()
                .zip(&weights)
                .filter(|(_, w)| !w.is_zero())
                .flat_map(|((v, _), _)| v.hashes.iter().copied())
                .filter(|h| !active.contains_hash(h) && !active.recently_confirmed(h))
                .collect();
            u.sort_unstable();
            u.dedup();
            u
        };
        let mut fx = Effects::default();
        let mut to_start = Vec::new();
        if !unknown.is_empty() {
            if let Ok(txn) = self.ledger.read_txn() {
                for h in unknown {
                    if let Ok(Some(sb)) = self.ledger.block(&txn, &h) {
                        if !self.ledger.block_confirmed(&txn, &h).unwrap_or(true) {
                            to_start.push((sb.block, sb.sideband.balance));
                        }
                    }
                }
            }
        }
        let notify = self.events.has_subscribers();
        let outbound = self.outbound();
        {
            let mut active = lock(&self.active);
            for (block, balance) in to_start {
                self.start_election_locked(&mut active, block, balance, delta, &mut fx);
            }
            for ((vote, from), weight) in votes.iter().zip(&weights) {
                let mut applied = false;
                let mut replay = false;
                let mut cached = false;
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
                                cached = true;
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
                // Relay new votes that carry weight and said something new.
                if from.is_some() && !weight.is_zero() && (applied || cached) {
                    if let Some(out) = &outbound {
                        let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                            vote: vote.clone(),
                            rebroadcast: true,
                        }));
                        out.flood(&msg, 2, *from);
                    }
                }
            }
        }
        self.dispatch(fx);
    }

    /// Signs and sends queued votes when a batch is full or old enough.
    pub(crate) fn flush_generator(&self, force: bool) {
        // Applying our own normal votes can ask for final votes: flush those right after.
        for _ in 0..3 {
            let (normal, finals) = {
                let mut g = lock(&self.generator);
                let delay = self.config.vote_generator_delay;
                let due = |len: usize, since: Option<Instant>| {
                    len > 0
                        && (force
                            || len >= Vote::MAX_HASHES
                            || since.is_some_and(|t| t.elapsed() >= delay))
                };
                let normal = if due(g.normal.len(), g.normal_since) {
                    g.normal_since = None;
                    std::mem::take(&mut g.normal)
                } else {
                    Vec::new()
                };
                let finals = if due(g.finals.len(), g.finals_since) {
                    g.finals_since = None;
                    std::mem::take(&mut g.finals)
                } else {
                    Vec::new()
                };
                (normal, finals)
            };
            if normal.is_empty() && finals.is_empty() {
                return;
            }
            let reps = self.reps();
            if reps.is_empty() || !self.config.enable_voting {
                return;
            }
            let finals = self.record_final_votes(finals);
            let mut own = Vec::new();
            let now = now_ms();
            for chunk in normal.chunks(Vote::MAX_HASHES) {
                let hashes: Vec<BlockHash> = chunk.iter().map(|(_, h)| *h).collect();
                for k in reps.iter() {
                    own.push(Vote::new_signed(
                        k,
                        now,
                        Vote::DEFAULT_DURATION_CODE,
                        hashes.clone(),
                    ));
                }
            }
            for chunk in finals.chunks(Vote::MAX_HASHES) {
                let hashes: Vec<BlockHash> = chunk.to_vec();
                for k in reps.iter() {
                    own.push(Vote::new_final(k, hashes.clone()));
                }
            }
            self.stats
                .add("vote_generator", "generated", "out", own.len() as u64);
            if let Some(out) = self.outbound() {
                for v in &own {
                    let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                        vote: v.clone(),
                        rebroadcast: false,
                    }));
                    out.flood(&msg, 16, None);
                }
            }
            self.process_votes(own.into_iter().map(|v| (v, None)).collect(), true);
        }
    }

    /// Persists final votes; returns the hashes that may be final-voted (a root already
    /// final-voted for another block is dropped).
    fn record_final_votes(&self, finals: Vec<(QualifiedRoot, BlockHash)>) -> Vec<BlockHash> {
        if finals.is_empty() {
            return Vec::new();
        }
        let Ok(mut txn) = self.ledger.write_txn() else {
            return Vec::new();
        };
        let mut ok = Vec::new();
        for (root, hash) in finals {
            match txn.put_final_vote(&root, &hash) {
                Ok(true) => ok.push(hash),
                Ok(false) => self.stats.inc("vote_generator", "final_conflict", "out"),
                Err(_) => return Vec::new(),
            }
        }
        if txn.commit().is_err() {
            return Vec::new();
        }
        ok
    }

    /// Votes for the blocks peers asked about (the block held at the root for a fork).
    fn answer_requests(&self, requests: Vec<(ChannelId, Vec<(BlockHash, Root)>)>) {
        let reps = self.reps();
        if reps.is_empty() || !self.config.enable_voting {
            return;
        }
        let Some(out) = self.outbound() else { return };
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let store = self.ledger.store();
        for (channel, pairs) in requests {
            let mut normal = Vec::new();
            let mut finals = Vec::new();
            for (hash, root) in pairs.into_iter().take(ConfirmReq::MAX_PAIRS) {
                let target = match self.ledger.block(&txn, &hash) {
                    Ok(Some(b)) => Some((hash, b.block)),
                    _ => {
                        let by_prev = self
                            .ledger
                            .successor(&txn, &BlockHash(root.0))
                            .ok()
                            .flatten();
                        let h = by_prev.or_else(|| {
                            self.ledger
                                .account_info(&txn, &nano_core::Account::from_bytes(root.0))
                                .ok()
                                .flatten()
                                .map(|i| i.open_block)
                        });
                        h.and_then(|h| {
                            self.ledger
                                .block(&txn, &h)
                                .ok()
                                .flatten()
                                .map(|b| (h, b.block))
                        })
                    }
                };
                let Some((h, block)) = target else { continue };
                let cemented = self.ledger.block_confirmed(&txn, &h).unwrap_or(false);
                let recorded = store
                    .final_vote(&txn, &block.qualified_root())
                    .ok()
                    .flatten();
                let final_ok = match recorded {
                    Some(r) => r == h,
                    None => cemented,
                };
                if final_ok {
                    finals.push(h);
                } else {
                    normal.push(h);
                }
            }
            let now = now_ms();
            let mut votes = Vec::new();
            for chunk in normal.chunks(Vote::MAX_HASHES) {
                for k in reps.iter() {
                    votes.push(Vote::new_signed(
                        k,
                        now,
                        Vote::DEFAULT_DURATION_CODE,
                        chunk.to_vec(),
                    ));
                }
            }
            for chunk in finals.chunks(Vote::MAX_HASHES) {
                for k in reps.iter() {
                    votes.push(Vote::new_final(k, chunk.to_vec()));
                }
            }
            for v in votes {
                self.stats.inc("confirm_req", "answered", "out");
                let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                    vote: v,
                    rebroadcast: false,
                }));
                out.send(channel, &msg, TrafficType::Realtime);
            }
        }
    }

    /// Requests, rebroadcasts, expiry and late local votes for running elections.
    fn tick_elections(&self) {
        let now = Instant::now();
        let interval = self.config.request_interval;
        let have_reps = self.config.enable_voting && !self.reps().is_empty();
        let mut requests: Vec<(BlockHash, Root)> = Vec::new();
        let mut rebroadcast: Vec<Block> = Vec::new();
        let mut expired = Vec::new();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            let mut expired_roots = Vec::new();
            for e in active.iter_mut() {
                if e.confirmed {
                    continue;
                }
                if now.duration_since(e.started) > self.config.election_expiry {
                    expired_roots.push(e.qualified_root);
                    continue;
                }
                if have_reps && !e.voted {
                    e.voted = true;
                    fx.normal.push((e.qualified_root, e.winner));
                }
                let due = match e.last_request {
                    None => now.duration_since(e.started) >= interval,
                    Some(t) => now.duration_since(t) >= interval,
                };
                if due && requests.len() < Vote::MAX_HASHES * 8 {
                    e.last_request = Some(now);
                    e.request_count += 1;
                    requests.push((e.winner, e.qualified_root.root));
                }
                if now.duration_since(e.last_broadcast) >= self.config.rebroadcast_interval
                    && rebroadcast.len() < 512
                {
                    e.last_broadcast = now;
                    if let Some(b) = e.blocks.get(&e.winner) {
                        rebroadcast.push(b.clone());
                    }
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
        let Some(out) = self.outbound() else { return };
        for chunk in requests.chunks(ConfirmReq::MAX_PAIRS) {
            let msg = Message::ConfirmReq(ConfirmReq {
                pairs: chunk.to_vec(),
            });
            self.stats.inc("confirm_req", "sent", "out");
            out.broadcast(&msg);
        }
        for b in rebroadcast {
            let msg = Message::Publish(Box::new(Publish {
                block: b,
                originator: false,
            }));
            out.flood(&msg, 2, None);
        }
    }

    /// Starts elections for the heads of accounts with uncemented blocks that have none
    /// (after a restart, or when elections were full).
    fn activate_backlog(&self) {
        let vacancy = lock(&self.active).vacancy();
        if vacancy == 0 {
            return;
        }
        let accounts: Vec<nano_core::Account> = lock(&self.unconfirmed_accounts)
            .iter()
            .take(vacancy.min(1024))
            .copied()
            .collect();
        if accounts.is_empty() {
            return;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let mut done = Vec::new();
        let mut start = Vec::new();
        {
            let active = lock(&self.active);
            for a in accounts {
                let Ok(Some(info)) = self.ledger.account_info(&txn, &a) else {
                    done.push(a);
                    continue;
                };
                let conf = self
                    .ledger
                    .store()
                    .confirmation_height(&txn, &a)
                    .map(|c| c.height)
                    .unwrap_or(0);
                if conf >= info.block_count {
                    done.push(a);
                    continue;
                }
                if active.contains_hash(&info.head) || active.recently_confirmed(&info.head) {
                    continue;
                }
                if let Ok(Some(sb)) = self.ledger.block(&txn, &info.head) {
                    start.push((sb.block, sb.sideband.balance));
                }
            }
        }
        {
            let mut u = lock(&self.unconfirmed_accounts);
            for a in done {
                u.remove(&a);
            }
        }
        if start.is_empty() {
            return;
        }
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for (b, bal) in start {
                self.start_election_locked(&mut active, b, bal, delta, &mut fx);
            }
        }
        self.dispatch(fx);
    }

    /// Recomputes online weight, samples it every 5 minutes, and updates the quorum.
    fn update_online(&self) {
        let source = self.online_source.read().ok().and_then(|s| s.clone());
        let net_peers = source.as_ref().and_then(|s| s.peers_weight());
        let mut st = lock(&self.online);
        let online = st.reps.online_weight(|r| self.ledger.weight(r));
        if st.last_sample.elapsed() >= ONLINE_SAMPLE_PERIOD {
            st.last_sample = Instant::now();
            st.samples.push(online);
            let max = self.params.max_weight_samples;
            if st.samples.len() > max {
                let excess = st.samples.len() - max;
                st.samples.drain(..excess);
            }
            self.store_online_sample(online);
        }
        let t = trended(&st.samples, st.minimum);
        let peers = net_peers.unwrap_or(online);
        st.info = QuorumInfo::compute(online, t, st.minimum, peers);
    }

    fn store_online_sample(&self, online: Amount) {
        let Ok(mut txn) = self.ledger.write_txn() else {
            return;
        };
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let _ = txn.put_online_weight(ts, online);
        let store = self.ledger.store();
        let max = self.params.max_weight_samples as u64;
        let count = store.online_weight_count(&txn).unwrap_or(0);
        if count > max {
            let old: Vec<u64> = store
                .iter_online_weight(&txn)
                .map(|it| {
                    it.filter_map(|r| r.ok().map(|(t, _)| t))
                        .take((count - max) as usize)
                        .collect()
                })
                .unwrap_or_default();
            for t in old {
                let _ = txn.del_online_weight(t);
            }
        }
        let _ = txn.commit();
    }

    pub(crate) fn block_confirm(
        &self,
        hash: &BlockHash,
    ) -> Result<BlockConfirmOutcome, ConsensusError> {
        let txn = self
            .ledger
            .read_txn()
            .map_err(|e| ConsensusError::Store(e.to_string()))?;
        let info = self
            .ledger
            .block_info(&txn, hash)
            .map_err(|e| ConsensusError::Store(e.to_string()))?
            .ok_or(ConsensusError::BlockNotFound)?;
        if info.confirmed {
            self.publish(confirmed_event(&info, ConfirmationType::Inactive, None));
            return Ok(BlockConfirmOutcome::AlreadyConfirmed);
        }
        drop(txn);
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            if !active.contains_hash(hash) {
                let bal = info.sideband.balance;
                self.start_election_locked(&mut active, info.block, bal, delta, &mut fx);
            }
        }
        self.dispatch(fx);
        Ok(BlockConfirmOutcome::Started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_signature() {
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[1, 0]), "256");
        assert_eq!(decimal(&[0xff, 0xff, 0xff, 0xff]), "4294967295");
    }

    #[test]
    fn vote_json_shape() {
        let k = nano_ledger::test_support::dev_genesis_key();
        let v = Vote::new_final(&k, vec![BlockHash([1; 32])]);
        let j = vote_json(&v);
        assert_eq!(j["timestamp"], "18446744073709551615");
        assert_eq!(j["blocks"][0], BlockHash([1; 32]).encode_hex());
    }
}
