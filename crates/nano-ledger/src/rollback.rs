//! Rollback: removing a block and everything that depends on it — the later blocks of its
//! own chain and, for a send that was already received, the receiving account's blocks
//! from the receive onwards (recursively). Cemented blocks are never removed.
//!
//! The walk is iterative (an explicit stack of targets), so long dependency chains across
//! accounts cannot overflow the thread's stack.

use nano_core::{Account, Amount, Block, BlockHash};
use nano_store::{AccountInfo, BlockSideband, PendingInfo, PendingKey, Txn, WriteTxn};

use crate::{Ledger, LedgerError};

fn inconsistent(msg: String) -> LedgerError {
    LedgerError::Inconsistent(msg)
}

impl Ledger {
    /// Removes `hash` and all blocks depending on it; returns the removed blocks in the
    /// order they were removed (dependents before the blocks they depend on).
    ///
    /// Fails with [`LedgerError::Cemented`] if that would remove a cemented block. On any
    /// error the transaction may hold a partial rollback and must be aborted.
    pub fn rollback(
        &self,
        txn: &mut WriteTxn<'_>,
        hash: &BlockHash,
    ) -> Result<Vec<Block>, LedgerError> {
        if !self.store.block_exists(txn, hash)? {
            return Err(LedgerError::BlockNotFound(*hash));
        }
        let mut removed = Vec::new();
        let mut targets = vec![*hash];
        while let Some(&target) = targets.last() {
            let Some(sb) = self.store.block_sideband(txn, &target)? else {
                targets.pop();
                continue;
            };
            let conf = self.store.confirmation_height(txn, &sb.account)?;
            if sb.height <= conf.height {
                return Err(LedgerError::Cemented(target));
            }
            let info = self
                .store
                .account(txn, &sb.account)?
                .ok_or_else(|| inconsistent(format!("account {} missing", sb.account)))?;
            let head = self
                .store
                .block(txn, &info.head)?
                .ok_or_else(|| inconsistent(format!("head {} missing", info.head)))?;
            // A received send can only go after the receive: roll the destination back
            // first, one head at a time, until the receivable reappears.
            if let Some(dest) = sent_to(&head.block, &head.sideband) {
                let key = PendingKey::new(dest, info.head);
                if self.store.pending(txn, &key)?.is_none() {
                    let dest_info = self.store.account(txn, &dest)?.ok_or_else(|| {
                        inconsistent(format!(
                            "send {} neither receivable nor received by {dest}",
                            info.head
                        ))
                    })?;
                    targets.push(dest_info.head);
                    continue;
                }
            }
            self.undo_head(txn, &sb.account, &info, &head.block, &head.sideband)?;
            removed.push(head.block);
        }
        Ok(removed)
    }

    /// Undoes the head block of `account`, which must not have dependents left.
    fn undo_head(
        &self,
        txn: &mut WriteTxn<'_>,
        account: &Account,
        info: &AccountInfo,
        block: &Block,
        sideband: &BlockSideband,
    ) -> Result<(), LedgerError> {
        let hash = info.head;
        let previous = block.previous();
        let before = if previous.is_zero() {
            None
        } else {
            let psb = self
                .store
                .block_sideband(txn, &previous)?
                .ok_or_else(|| inconsistent(format!("predecessor {previous} missing")))?;
            let rep = self.representative_at(txn, &previous)?;
            Some((psb, rep))
        };
        // Weight: the account state before the block replaces the state after it.
        self.move_weight(
            txn,
            Some((info.representative, info.balance)),
            before.map(|(psb, rep)| (rep, psb.balance)),
        )?;
        let previous_balance = before.map_or(Amount::ZERO, |(psb, _)| psb.balance);
        if let Some(dest) = sent_to(block, sideband) {
            txn.del_pending(&PendingKey::new(dest, hash))?;
        }
        if let Some(source) = received_from(block, sideband) {
            let source_account = match self.store.block_sideband(txn, &source)? {
                Some(ssb) => ssb.account,
                None => {
                    return Err(inconsistent(format!(
                        "source {source} of {hash} missing (pruned?)"
                    )))
                }
            };
            txn.put_pending(
                &PendingKey::new(*account, source),
                &PendingInfo {
                    source: source_account,
                    amount: sideband.balance.abs_diff(previous_balance),
                    epoch: sideband.source_epoch,
                },
            )?;
        }
        match before {
            None => {
                txn.del_account(account)?;
            }
            Some((psb, rep)) => {
                txn.put_account(
                    account,
                    &AccountInfo {
                        head: previous,
                        representative: rep,
                        open_block: info.open_block,
                        balance: psb.balance,
                        modified: psb.timestamp,
                        block_count: info.block_count - 1,
                        epoch: psb.details.epoch,
                    },
                )?;
                txn.set_successor(&previous, &BlockHash::ZERO)?;
            }
        }
        txn.del_block(&hash)?;
        Ok(())
    }

    /// The account's representative as of block `hash`: the nearest block at or before it
    /// that names one (legacy send and receive blocks do not).
    pub fn representative_at<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Account, LedgerError> {
        let mut cur = *hash;
        loop {
            let b = self
                .store
                .block(txn, &cur)?
                .ok_or(LedgerError::BlockNotFound(cur))?;
            if let Some(rep) = b.block.representative_field() {
                return Ok(rep);
            }
            cur = b.block.previous();
            if cur.is_zero() {
                return Err(inconsistent(format!(
                    "chain of {hash} names no representative"
                )));
            }
        }
    }
}

/// The destination of a send block (legacy send, or state block classified as a send).
pub(crate) fn sent_to(block: &Block, sideband: &BlockSideband) -> Option<Account> {
    match block {
        Block::Send(b) => Some(b.destination),
        Block::State(b) if sideband.details.is_send => Some(b.link.as_account()),
        _ => None,
    }
}

/// The send a receiving block consumed (legacy receive/open, or state receive/open).
pub(crate) fn received_from(block: &Block, sideband: &BlockSideband) -> Option<BlockHash> {
    match block {
        Block::Receive(b) => Some(b.source),
        Block::Open(b) => Some(b.source),
        Block::State(b) if sideband.details.is_receive => Some(b.link.as_block_hash()),
        _ => None,
    }
}
