//! The vote generator: batches the hashes elections want local representatives to vote
//! for (up to 255 per vote), normal and final separately, and signs them only after the
//! vote rules ([`super::rules`]) allow each one: normal votes are checked in a read
//! transaction, final votes are checked and recorded in the `final_votes` table in one
//! write transaction per flush, committed before anything is signed. A batch goes out
//! when it is full, older than `vote_generator_delay`, or nothing else is waiting (an
//! idle node has nothing to batch with, and waiting would only slow a chain that is
//! confirmed one election after another).

use std::collections::HashSet;
use std::time::Instant;

use nano_core::{BlockHash, KeyPair, QualifiedRoot};
use nano_messages::{ConfirmAck, Message, Vote};

use super::rules::{may_vote_final, may_vote_normal, Refusal};
use crate::consensus::elections::election::now_ms;
use crate::consensus::{lock, Shared};

/// Hashes local representatives still have to vote for.
#[derive(Default)]
pub(crate) struct Generator {
    normal: Vec<(QualifiedRoot, BlockHash)>,
    normal_since: Option<Instant>,
    finals: Vec<(QualifiedRoot, BlockHash)>,
    finals_since: Option<Instant>,
    /// (hash, final) already queued: elections ask again every tick until voted.
    queued: HashSet<(BlockHash, bool)>,
}

impl Generator {
    /// Queues a vote request unless the same one is already waiting.
    pub(crate) fn add(&mut self, root: QualifiedRoot, hash: BlockHash, is_final: bool) {
        if !self.queued.insert((hash, is_final)) {
            return;
        }
        if is_final {
            self.finals_since.get_or_insert_with(Instant::now);
            self.finals.push((root, hash));
        } else {
            self.normal_since.get_or_insert_with(Instant::now);
            self.normal.push((root, hash));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.normal.is_empty() && self.finals.is_empty()
    }

    fn take(&mut self, is_final: bool) -> Vec<(QualifiedRoot, BlockHash)> {
        let taken = if is_final {
            self.finals_since = None;
            std::mem::take(&mut self.finals)
        } else {
            self.normal_since = None;
            std::mem::take(&mut self.normal)
        };
        for (_, h) in &taken {
            self.queued.remove(&(*h, is_final));
        }
        taken
    }
}

/// Signs `normal` and `finals` with every key (255 hashes per vote at most).
pub(crate) fn sign_votes(
    keys: &[KeyPair],
    normal: &[BlockHash],
    finals: &[BlockHash],
) -> Vec<Vote> {
    let now = now_ms();
    let mut votes = Vec::new();
    for chunk in normal.chunks(Vote::MAX_HASHES) {
        for k in keys {
            votes.push(Vote::new_signed(
                k,
                now,
                Vote::DEFAULT_DURATION_CODE,
                chunk.to_vec(),
            ));
        }
    }
    for chunk in finals.chunks(Vote::MAX_HASHES) {
        for k in keys {
            votes.push(Vote::new_final(k, chunk.to_vec()));
        }
    }
    votes
}

impl Shared {
    /// Signs and sends queued votes the rules allow when a batch is due (full, old
    /// enough, or `idle`).
    pub(crate) fn flush_generator(&self, idle: bool) {
        // Applying our own normal votes can ask for final votes: flush those right after.
        for _ in 0..3 {
            let (normal, finals) = {
                let mut g = lock(&self.generator);
                let delay = self.config.vote_generator_delay;
                let due = |len: usize, since: Option<Instant>| {
                    len > 0
                        && (idle
                            || len >= Vote::MAX_HASHES
                            || since.is_some_and(|t| t.elapsed() >= delay))
                };
                let normal = if due(g.normal.len(), g.normal_since) {
                    g.take(false)
                } else {
                    Vec::new()
                };
                let finals = if due(g.finals.len(), g.finals_since) {
                    g.take(true)
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
            let normal = self.allowed_normal_votes(normal);
            self.mark_voted(&normal, &finals);
            let normal: Vec<BlockHash> = normal.into_iter().map(|(_, h)| h).collect();
            let final_hashes: Vec<BlockHash> = finals
                .iter()
                .filter_map(|(r, h)| r.is_ok().then_some(*h))
                .collect();
            let own = sign_votes(&reps, &normal, &final_hashes);
            if own.is_empty() {
                continue;
            }
            self.stats
                .add("vote_generator", "generated", "out", own.len() as u64);
            for v in &own {
                let name = if v.is_final() {
                    "vote_generator_final_hashes"
                } else {
                    "vote_generator_hashes"
                };
                self.stats
                    .sample(name, v.hashes.len() as i64, (0, Vote::MAX_HASHES as i64));
            }
            if let Some(out) = self.outbound() {
                for v in &own {
                    let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                        vote: v.clone(),
                        rebroadcast: false,
                    }));
                    out.flood_own_vote(&msg);
                }
            }
            self.process_votes(own.into_iter().map(|v| (v, None)).collect(), true);
        }
    }

    /// The requested normal votes the rules allow ([`may_vote_normal`]).
    pub(crate) fn allowed_normal_votes(
        &self,
        normal: Vec<(QualifiedRoot, BlockHash)>,
    ) -> Vec<(QualifiedRoot, BlockHash)> {
        if normal.is_empty() {
            return normal;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return Vec::new();
        };
        normal
            .into_iter()
            .filter(|(_, h)| match may_vote_normal(&self.ledger, &txn, h) {
                Ok(_) => true,
                Err(r) => {
                    self.stats.inc("vote_generator", r.as_str(), "out");
                    false
                }
            })
            .collect()
    }

    /// Checks and records final votes ([`may_vote_final`]) in one write transaction;
    /// each request comes back with the rules' answer. Nothing is allowed unless the
    /// transaction committed.
    pub(crate) fn record_final_votes(
        &self,
        finals: Vec<(QualifiedRoot, BlockHash)>,
    ) -> Vec<(Result<(), Refusal>, BlockHash)> {
        if finals.is_empty() {
            return Vec::new();
        }
        let refuse_all = |finals: Vec<(QualifiedRoot, BlockHash)>| {
            finals
                .into_iter()
                .map(|(_, h)| (Err(Refusal::Store), h))
                .collect()
        };
        let Ok(mut txn) = self.ledger.write_txn() else {
            return refuse_all(finals);
        };
        let mut out = Vec::with_capacity(finals.len());
        for (_, hash) in &finals {
            let r = may_vote_final(&self.ledger, &mut txn, hash).map(|_| ());
            if let Err(e) = r {
                self.stats.inc("vote_generator", e.as_str(), "out");
            }
            out.push((r, *hash));
        }
        if txn.commit().is_err() {
            return refuse_all(finals);
        }
        out
    }

    /// Tells elections what was voted, so they stop asking; a final vote refused because
    /// this node final-voted another block at the root will never be allowed.
    fn mark_voted(
        &self,
        normal: &[(QualifiedRoot, BlockHash)],
        finals: &[(Result<(), Refusal>, BlockHash)],
    ) {
        let mut active = lock(&self.active);
        for (root, h) in normal {
            if let Some(e) = active.get_mut(root) {
                e.voted_for = Some(*h);
            }
        }
        for (r, h) in finals {
            let done = matches!(r, Ok(()) | Err(Refusal::ContradictsFinalVote));
            if let Some(root) = active.root_of(h) {
                if let Some(e) = active.get_mut(&root) {
                    e.final_voted |= done;
                }
            }
        }
    }
}
