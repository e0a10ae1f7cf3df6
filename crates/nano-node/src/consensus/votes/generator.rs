//! The vote generator: batches the hashes local representatives should vote for (up to
//! 255 per vote, flushed after `vote_generator_delay`), normal and final separately.
//! Every final vote is first recorded in the store's `final_votes` table (qualified root
//! -> hash) in one transaction per flush; a root already final-voted for another block is
//! skipped, so this node never final-votes two blocks for one root, even across restarts.

use std::time::Instant;

use nano_core::{BlockHash, QualifiedRoot};
use nano_messages::{ConfirmAck, Message, Vote};

use crate::consensus::elections::election::now_ms;
use crate::consensus::{lock, Shared};

/// Hashes local representatives still have to vote for.
#[derive(Default)]
pub(crate) struct Generator {
    pub(crate) normal: Vec<(QualifiedRoot, BlockHash)>,
    pub(crate) normal_since: Option<Instant>,
    pub(crate) finals: Vec<(QualifiedRoot, BlockHash)>,
    pub(crate) finals_since: Option<Instant>,
}

impl Shared {
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
    pub(crate) fn record_final_votes(
        &self,
        finals: Vec<(QualifiedRoot, BlockHash)>,
    ) -> Vec<BlockHash> {
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
}
