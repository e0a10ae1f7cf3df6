//! Answers to peers' confirm_req: votes for the blocks the ledger holds at the asked
//! roots, under the same vote rules as election votes ([`super::rules`]).

use std::collections::{HashMap, HashSet};

use nano_core::{Account, Block, BlockHash, QualifiedRoot, Root};
use nano_messages::{ConfirmAck, ConfirmReq, Message};

use super::generator::sign_votes;
use super::rules::{answer_kind, Answer};
use crate::consensus::Shared;
use crate::interfaces::{ChannelId, TrafficType};

impl Shared {
    /// Votes for the blocks peers asked about (the block held at the root for a fork),
    /// by the same rules as election votes: a final vote where this node recorded one or
    /// the block is cemented (checked and recorded like any final vote), else a normal
    /// vote if [`may_vote_normal`](super::rules::may_vote_normal) allows it.
    pub(crate) fn answer_requests(&self, requests: Vec<(ChannelId, Vec<(BlockHash, Root)>)>) {
        let reps = self.reps();
        if reps.is_empty() || !self.config.enable_voting {
            return;
        }
        let Some(out) = self.outbound() else { return };
        let mut asked: Vec<(ChannelId, Answer, QualifiedRoot)> = Vec::new();
        {
            let Ok(txn) = self.ledger.read_txn() else {
                return;
            };
            for (channel, pairs) in requests {
                for (hash, root) in pairs.into_iter().take(ConfirmReq::MAX_PAIRS) {
                    let Some((h, block)) = self.block_at_request(&txn, hash, root) else {
                        self.stats.inc("confirm_req", "unknown", "in");
                        continue;
                    };
                    let qroot = block.qualified_root();
                    asked.push((channel, answer_kind(&self.ledger, &txn, &qroot, &h), qroot));
                }
            }
        }
        let finals: Vec<(QualifiedRoot, BlockHash)> = asked
            .iter()
            .filter_map(|(_, a, r)| match a {
                Answer::Final(h) => Some((*r, *h)),
                Answer::Normal(_) => None,
            })
            .collect();
        let normal: Vec<(QualifiedRoot, BlockHash)> = asked
            .iter()
            .filter_map(|(_, a, r)| match a {
                Answer::Normal(h) => Some((*r, *h)),
                Answer::Final(_) => None,
            })
            .collect();
        let final_ok: HashSet<BlockHash> = self
            .record_final_votes(finals)
            .into_iter()
            .filter_map(|(r, h)| r.is_ok().then_some(h))
            .collect();
        let normal_ok: HashSet<BlockHash> = self
            .allowed_normal_votes(normal)
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        let mut per_channel: HashMap<ChannelId, (Vec<BlockHash>, Vec<BlockHash>)> = HashMap::new();
        for (channel, answer, _) in asked {
            let entry = per_channel.entry(channel).or_default();
            match answer {
                Answer::Normal(h) if normal_ok.contains(&h) => entry.0.push(h),
                Answer::Final(h) if final_ok.contains(&h) => entry.1.push(h),
                _ => self.stats.inc("confirm_req", "refused", "out"),
            }
        }
        for (channel, (normal, finals)) in per_channel {
            for v in sign_votes(&reps, &normal, &finals) {
                self.stats.inc("confirm_req", "answered", "out");
                let msg = Message::ConfirmAck(Box::new(ConfirmAck {
                    vote: v,
                    rebroadcast: false,
                }));
                out.send(channel, &msg, TrafficType::Realtime);
            }
        }
    }

    /// The block a request names: by hash, else the one the ledger holds at its root
    /// (the successor of a previous block, or an account's open block).
    fn block_at_request<T: nano_ledger::Txn>(
        &self,
        txn: &T,
        hash: BlockHash,
        root: Root,
    ) -> Option<(BlockHash, Block)> {
        if let Ok(Some(b)) = self.ledger.block(txn, &hash) {
            return Some((hash, b.block));
        }
        let by_prev = self
            .ledger
            .successor(txn, &BlockHash(root.0))
            .ok()
            .flatten();
        let h = by_prev.or_else(|| {
            self.ledger
                .account_info(txn, &Account::from_bytes(root.0))
                .ok()
                .flatten()
                .map(|i| i.open_block)
        })?;
        let b = self.ledger.block(txn, &h).ok().flatten()?;
        Some((h, b.block))
    }
}
