//! Forced processing: a block replaces whatever the ledger holds at its root (rolled back
//! with its dependents unless cemented), for election winners and RPC `process` with
//! `force`.

use nano_core::{Block, BlockHash};
use nano_ledger::{BlockStatus, LedgerError, ProcessError};

use crate::consensus::elections::election::ElectionSummary;
use crate::consensus::notify::block_json;
use crate::consensus::{lock, BlockSource, Done, ProcessStatus, Shared, SubmitError};
use crate::events::NodeEvent;

/// A block to put in the ledger regardless of what holds its root (fork resolution or
/// RPC `process` with `force`).
pub(crate) struct Forced {
    pub block: Block,
    pub done: Option<Done>,
    /// The confirmed election that decided it (the block is cemented afterwards).
    pub confirmed: Option<ElectionSummary>,
}

/// The block the ledger holds at `block`'s root, if any (the other side of a fork).
pub(crate) fn ledger_block_at_root<T: nano_ledger::Txn>(
    s: &Shared,
    txn: &T,
    block: &Block,
) -> Option<BlockHash> {
    let previous = block.previous();
    if previous.is_zero() {
        let account = block.account_field()?;
        s.ledger
            .account_info(txn, &account)
            .ok()
            .flatten()
            .map(|i| i.open_block)
    } else {
        s.ledger.successor(txn, &previous).ok().flatten()
    }
}

impl Shared {
    /// Queues forced processing of `block` (see [`Forced`]).
    pub(crate) fn force(
        &self,
        block: Block,
        done: Option<Done>,
        confirmed: Option<ElectionSummary>,
    ) {
        lock(&self.queue).forced.push(Forced {
            block,
            done,
            confirmed,
        });
        self.writer_cv.notify_one();
    }

    /// Rolls back whatever holds the block's root, processes the block and (for an
    /// election winner) cements it, all in one transaction.
    pub(crate) fn apply_forced(&self, f: Forced) {
        let Forced {
            block,
            done,
            confirmed,
        } = f;
        let hash = block.hash();
        let reply = |d: Option<Done>, r: ProcessStatus| {
            if let Some(d) = d {
                d(r);
            }
        };
        let mut txn = match self.ledger.write_txn() {
            Ok(t) => t,
            Err(e) => return reply(done, Err(SubmitError::Store(e.to_string()))),
        };
        let mut rolled_back: Vec<Block> = Vec::new();
        let exists = self.ledger.block_exists(&txn, &hash).unwrap_or(false);
        let mut status = BlockStatus::Old;
        let mut processed = None;
        if !exists {
            if let Some(existing) = ledger_block_at_root(self, &txn, &block) {
                match self.ledger.rollback(&mut txn, &existing) {
                    Ok(list) => rolled_back = list,
                    Err(LedgerError::Cemented(_)) => {
                        drop(txn);
                        self.stats.inc("rollback", "cemented", "in");
                        return reply(done, Ok(BlockStatus::Fork));
                    }
                    Err(e) => {
                        drop(txn);
                        tracing::warn!("rollback for {hash} failed: {e}");
                        return reply(done, Err(SubmitError::Store(e.to_string())));
                    }
                }
            }
            match self.ledger.process(&mut txn, &block) {
                Ok(p) => {
                    status = BlockStatus::Progress;
                    processed = Some(p);
                }
                Err(ProcessError::Rejected(st)) => {
                    // Keep the rollback only if something replaced it; otherwise undo.
                    drop(txn);
                    return reply(done, Ok(st));
                }
                Err(ProcessError::Store(e)) => {
                    drop(txn);
                    return reply(done, Err(SubmitError::Store(e.to_string())));
                }
            }
        }
        let mut cemented = Vec::new();
        if let Some(s) = &confirmed {
            // Bounded as every cementing step; the rest continues with the queued
            // winners in the writer's next transactions.
            match self
                .ledger
                .confirm_limited(&mut txn, &hash, self.config.cement_batch_max)
            {
                Ok(step) => {
                    let head = self.ledger.store().confirmation_head(&txn).ok().flatten();
                    if step.complete {
                        cemented.push((Some(s.clone()), hash, step.cemented, head))
                    } else {
                        cemented.push((None, hash, step.cemented, head));
                        lock(&self.queue).cement.insert(
                            0,
                            crate::consensus::elections::Confirmed {
                                summary: s.clone(),
                                winner: None,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!("cementing forced {hash}: {e}"),
            }
        }
        if let Err(e) = txn.commit() {
            return reply(done, Err(SubmitError::Store(e.to_string())));
        }
        self.stats
            .add("rollback", "blocks", "in", rolled_back.len() as u64);
        let rolled_hashes: Vec<BlockHash> = rolled_back.iter().map(|b| b.hash()).collect();
        self.forget_local_blocks(&rolled_hashes, "rollback");
        // Elections of rolled-back blocks are over.
        {
            let mut stopped = Vec::new();
            let mut active = lock(&self.active);
            for b in &rolled_back {
                let h = b.hash();
                if let Some(root) = active.root_of(&h) {
                    // The election that chose this block goes on (a leader change) or
                    // is already finished (a confirmed winner).
                    if root == block.qualified_root() {
                        continue;
                    }
                    if let Some(e) = active.remove(&root) {
                        stopped.push(e.winner);
                    }
                }
            }
            drop(active);
            for h in stopped {
                self.publish(NodeEvent::ElectionStopped { hash: h });
            }
        }
        if let Some(p) = processed {
            if self.events.has_subscribers() {
                self.publish(NodeEvent::NewUnconfirmedBlock {
                    block: block_json(&block, p.subtype),
                    hash,
                });
            }
            for item in lock(&self.unchecked).take(&hash) {
                self.submit(item.block, BlockSource::Unchecked, None);
            }
            self.activate_accounts(&[p.account]);
        }
        reply(done, Ok(status));
        self.after_cement(cemented);
    }
}
