//! The block checker: the block processor's stage beside the writer. It takes queued
//! blocks (the queue's round robin decides which), checks what needs no ledger (entry
//! work threshold, signatures of non-epoch state blocks verified together with
//! `verify_batch`) and hands them to the writer, which does only ledger work. While the
//! writer holds its write transaction and commits, the checker checks the next batch,
//! on the other core; on the 10M bench ledger the signature batches had been 12–16% of
//! the writer thread's time.
//!
//! Bounded: the checked entries waiting for the writer never exceed one write batch
//! (`batch_max`), so blocks wait in the fair queue, whose per-source bounds apply, not
//! behind it. Every block is still fully checked before it goes in: a block the checker
//! rejects reaches the writer with its status and is answered (and its peer judged) as
//! before; epoch and legacy blocks, whose signer the ledger decides, are verified by the
//! ledger.

use nano_core::keys::{verify_batch, VerifyItem};
use nano_core::{Block, BlockHash};
use nano_ledger::BlockStatus;

use super::queue::{Check, Entry, WriterQueue};
use crate::consensus::{lock, Shared};

impl Shared {
    /// The checker thread: queued entries are checked and handed to the writer until
    /// the node stops (what is left then is answered `Stopped` by `fail_queued`).
    pub(crate) fn run_checker(&self) {
        while !self.is_stopped() {
            let batch = {
                let mut q = self.wait_queue(&self.checker_cv, WriterQueue::checker_idle);
                if self.is_stopped() {
                    break;
                }
                q.take_for_check(self.config.batch_max)
            };
            let checks = self.precheck(&batch);
            lock(&self.queue).push_checked(batch.into_iter().zip(checks).collect());
            self.writer_cv.notify_one();
        }
    }

    /// Entry checks done before the write transaction: `Err(status)` rejects, `Ok(true)`
    /// means the signature is already verified.
    pub(crate) fn precheck(&self, batch: &[Entry]) -> Vec<Check> {
        let hashes: Vec<BlockHash> = batch.iter().map(|e| e.block.hash()).collect();
        let mut out: Vec<Check> = Vec::with_capacity(batch.len());
        let mut items = Vec::new();
        let mut item_idx = Vec::new();
        let sigs: Vec<_> = batch.iter().map(|e| e.block.signature()).collect();
        for (i, e) in batch.iter().enumerate() {
            let b = &e.block;
            if !self
                .params
                .work
                .validate_entry(&b.root(), b.work(), b.is_state())
            {
                out.push(Err(BlockStatus::InsufficientWork));
                continue;
            }
            match b {
                // Epoch blocks are signed by the epoch signer; the ledger decides which
                // rule applies, so they (and legacy blocks, whose signer is the chain's
                // owner) are verified inside `process`.
                Block::State(sb) if self.params.epoch_of_link(&sb.link).is_none() => {
                    out.push(Ok(true));
                    items.push(VerifyItem {
                        key: &sb.account,
                        msg: &hashes[i].0,
                        sig: &sigs[i],
                    });
                    item_idx.push(i);
                }
                _ => out.push(Ok(false)),
            }
        }
        let valid = verify_batch(&items);
        for (k, ok) in valid.into_iter().enumerate() {
            if !ok {
                out[item_idx[k]] = Err(BlockStatus::BadSignature);
            }
        }
        out
    }
}
