//! The hinted scheduler (reference `scheduler::hinted`): a block whose cached votes
//! (votes that arrived before it had an election) add up to the hinting threshold of
//! online weight gets an election, even if it is not the first uncemented block of its
//! account. Its confirmation cements the block and its dependents; this node's own
//! vote for it still waits for the vote rules.

use nano_core::{Amount, BlockHash};

use crate::consensus::elections::election::Behavior;
use crate::consensus::elections::Effects;
use crate::consensus::{lock, Shared};

/// Share of the online weight cached votes must reach: reference
/// `hinted_scheduler.hinting_threshold_percent` default.
pub const HINTING_THRESHOLD_PERCENT: u128 = 10;

impl Shared {
    /// The weight cached votes must reach for a hinted election.
    pub(crate) fn hinting_threshold(&self) -> Amount {
        let base = lock(&self.online).info.base();
        Amount(base.0 / 100 * HINTING_THRESHOLD_PERCENT)
    }

    /// Starts hinted elections for those of `hashes` in the ledger, not cemented, whose
    /// cached votes reach the threshold.
    pub(crate) fn activate_hinted(&self, hashes: &[BlockHash]) {
        if hashes.is_empty() {
            return;
        }
        let threshold = self.hinting_threshold();
        let ready: Vec<BlockHash> = {
            let vc = lock(&self.vote_cache);
            hashes
                .iter()
                .filter(|h| {
                    let tally = vc.votes(h).iter().fold(0u128, |acc, v| {
                        acc.saturating_add(self.ledger.weight(&v.representative).0)
                    });
                    tally >= threshold.0 && tally > 0
                })
                .copied()
                .collect()
        };
        if ready.is_empty() {
            return;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let mut blocks = Vec::new();
        for h in ready {
            if let Ok(Some(sb)) = self.ledger.block(&txn, &h) {
                if !self.ledger.block_confirmed(&txn, &h).unwrap_or(true) {
                    blocks.push(sb.block);
                }
            }
        }
        drop(txn);
        let winners = self.winners_vacancy();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for block in blocks {
                if active.vacancy(Behavior::Hinted).min(winners) <= 0 {
                    self.stats.inc("election_scheduler", "hinted_full", "in");
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
}
