//! Answers to peers' confirm_req: votes for the blocks the ledger holds at the asked
//! roots (final votes where this node recorded one).

use nano_core::{BlockHash, Root};
use nano_messages::{ConfirmAck, ConfirmReq, Message, Vote};

use crate::consensus::elections::election::now_ms;
use crate::consensus::Shared;
use crate::interfaces::{ChannelId, TrafficType};

impl Shared {
    /// Votes for the blocks peers asked about (the block held at the root for a fork).
    pub(crate) fn answer_requests(&self, requests: Vec<(ChannelId, Vec<(BlockHash, Root)>)>) {
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
}
