//! Fetching what gap blocks wait for, until a full bootstrap client exists: for each
//! dependency in [`super::unchecked`], ask a peer (the one that sent the waiting block if
//! known) with an `asc_pull_req` for blocks forward from what this node has of the
//! account (its head, or the account's first block), or from the missing hash itself
//! when the account is unknown. A full answer (128 blocks) is followed at once by the
//! next request, so a node that was offline streams the missing chain forward.
//!
//! The serving side answers `asc_pull_req` for blocks (walking successors, at most 128)
//! and account info from the ledger. It can be turned off when a bootstrap server is
//! attached to the node instead ([`super::ConsensusConfig::serve_asc_pull`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nano_core::{Account, Block, BlockHash};
use nano_messages::{
    AccountInfoAck, AscPullAck, AscPullAckPayload, AscPullReq, AscPullReqPayload, HashOrAccount,
    HashType, Message,
};

use super::{lock, BlockSource, Shared};
use crate::interfaces::{ChannelId, TrafficType};

const RETRY: Duration = Duration::from_secs(1);
const MAX_PENDING: usize = 1024;
const PER_TICK: usize = 32;

/// Outstanding requests and when each dependency was last asked for.
#[derive(Default)]
pub(crate) struct GapFetch {
    pending: HashMap<u64, (ChannelId, Instant)>,
    asked: HashMap<BlockHash, Instant>,
    next_id: u64,
}

impl Shared {
    fn asc_request(&self, channel: ChannelId, start: HashOrAccount, start_type: HashType) {
        let Some(out) = self.outbound() else { return };
        let id = {
            let mut g = lock(&self.gap_fetch);
            let now = Instant::now();
            g.pending
                .retain(|_, (_, t)| now.duration_since(*t) < RETRY * 10);
            if g.pending.len() >= MAX_PENDING {
                return;
            }
            g.next_id = g.next_id.wrapping_add(1);
            let id = g.next_id ^ 0x6761_7066_6574_6368;
            g.pending.insert(id, (channel, now));
            id
        };
        let msg = Message::AscPullReq(AscPullReq {
            id,
            payload: AscPullReqPayload::Blocks {
                start,
                count: AscPullAck::MAX_BLOCKS as u8,
                start_type,
            },
        });
        self.stats.inc("gap_fetch", "request", "out");
        out.send(channel, &msg, TrafficType::Bootstrap);
    }

    /// Periodic: asks peers for the dependencies of waiting gap blocks.
    pub(crate) fn request_gaps(&self) {
        if self
            .gap_fetch_paused
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        let waiting = lock(&self.unchecked).waiting(PER_TICK * 4);
        if waiting.is_empty() {
            return;
        }
        let Some(out) = self.outbound() else { return };
        let channels = out.channels();
        if channels.is_empty() {
            return;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let now = Instant::now();
        let mut sent = 0;
        for (i, (dep, block, source)) in waiting.into_iter().enumerate() {
            if sent >= PER_TICK {
                break;
            }
            {
                let mut g = lock(&self.gap_fetch);
                if g.asked
                    .get(&dep)
                    .is_some_and(|t| now.duration_since(*t) < RETRY)
                {
                    continue;
                }
                g.asked.insert(dep, now);
                if g.asked.len() > 4 * MAX_PENDING {
                    g.asked.retain(|_, t| now.duration_since(*t) < RETRY);
                }
            }
            let channel = match source {
                BlockSource::Peer(c) if channels.iter().any(|x| x.id == c) => c,
                _ => channels[i % channels.len()].id,
            };
            let missing_previous = block.previous() == dep;
            let (start, ty) = match (missing_previous, block.account_field()) {
                (true, Some(account)) => match self.ledger.account_info(&txn, &account) {
                    Ok(Some(info)) => (HashOrAccount(info.head.0), HashType::Block),
                    _ => (HashOrAccount(account.0), HashType::Account),
                },
                _ => (HashOrAccount(dep.0), HashType::Block),
            };
            self.asc_request(channel, start, ty);
            sent += 1;
        }
    }

    /// Serves a peer's asc_pull_req from the ledger.
    pub(crate) fn serve_asc_pull(&self, from: ChannelId, req: AscPullReq) {
        if !self.config.serve_asc_pull {
            return;
        }
        let Some(out) = self.outbound() else { return };
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let payload = match req.payload {
            AscPullReqPayload::Blocks {
                start,
                count,
                start_type,
            } => {
                let first = match start_type {
                    HashType::Block => {
                        let h = BlockHash(start.0);
                        self.ledger
                            .block_exists(&txn, &h)
                            .ok()
                            .filter(|e| *e)
                            .map(|_| h)
                    }
                    HashType::Account => self
                        .ledger
                        .account_info(&txn, &Account::from_bytes(start.0))
                        .ok()
                        .flatten()
                        .map(|i| i.open_block),
                };
                let mut blocks: Vec<Block> = Vec::new();
                let mut cur = first;
                let max = (count as usize).clamp(1, AscPullAck::MAX_BLOCKS);
                while let Some(h) = cur {
                    if blocks.len() >= max {
                        break;
                    }
                    match self.ledger.block(&txn, &h) {
                        Ok(Some(sb)) => {
                            blocks.push(sb.block);
                            cur = Some(sb.sideband.successor).filter(|s| !s.is_zero());
                        }
                        _ => break,
                    }
                }
                AscPullAckPayload::Blocks(blocks)
            }
            AscPullReqPayload::AccountInfo {
                target,
                target_type,
            } => {
                let account = match target_type {
                    HashType::Account => Some(Account::from_bytes(target.0)),
                    HashType::Block => self
                        .ledger
                        .block_account(&txn, &BlockHash(target.0))
                        .ok()
                        .flatten(),
                };
                let mut ack = AccountInfoAck {
                    account: account.unwrap_or(Account::from_bytes(target.0)),
                    ..Default::default()
                };
                if let Some(a) = account {
                    if let Ok(Some(info)) = self.ledger.account_info(&txn, &a) {
                        let conf = self.ledger.store().confirmation_height(&txn, &a).ok();
                        ack.open = info.open_block;
                        ack.head = info.head;
                        ack.block_count = info.block_count;
                        if let Some(c) = conf {
                            ack.conf_frontier = c.frontier;
                            ack.conf_height = c.height;
                        }
                    }
                }
                AscPullAckPayload::AccountInfo(ack)
            }
            AscPullReqPayload::Frontiers { start, count } => {
                let n = (count as usize).clamp(1, AscPullAck::MAX_FRONTIERS);
                AscPullAckPayload::Frontiers(
                    self.ledger.frontiers(&txn, &start, n).unwrap_or_default(),
                )
            }
        };
        self.stats.inc("asc_pull", "served", "out");
        let msg = Message::AscPullAck(AscPullAck {
            id: req.id,
            payload,
        });
        out.send(from, &msg, TrafficType::Bootstrap);
    }

    /// Feeds blocks from an answer to our request into the processor; a full answer is
    /// followed by the next request.
    pub(crate) fn on_asc_pull_ack(&self, from: ChannelId, ack: AscPullAck) {
        let ours = lock(&self.gap_fetch).pending.remove(&ack.id).is_some();
        if !ours {
            return;
        }
        let AscPullAckPayload::Blocks(blocks) = ack.payload else {
            return;
        };
        self.stats
            .add("gap_fetch", "blocks", "in", blocks.len() as u64);
        let full = blocks.len() >= AscPullAck::MAX_BLOCKS;
        let last = blocks.last().map(|b| b.hash());
        for b in blocks {
            self.submit(b, BlockSource::Bootstrap, None);
        }
        if let (true, Some(last)) = (full, last) {
            self.asc_request(from, HashOrAccount(last.0), HashType::Block);
        }
    }
}
