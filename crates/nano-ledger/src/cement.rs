//! Confirmation height (cementing): marking a block and everything it depends on as
//! final. Cementing a block cements its chain below it and, first, the sends its receives
//! consumed in other accounts (recursively), so a cemented block never depends on an
//! uncemented one. The walk uses an explicit stack and only ever moves forward from each
//! account's current confirmation height, so every block is visited once.
//!
//! Every cemented block is also appended to the store's confirmation log in the same
//! write transaction, so its confirmation sequence number is exactly as durable as its
//! confirmation height: blocks returned by one [`Ledger::confirm`] call hold consecutive
//! sequence numbers ending at [`Store::confirmation_head`](nano_store::Store).

use nano_core::BlockHash;
use nano_store::{ConfirmationHeightInfo, ConfirmationOrigin, Txn, WriteTxn};

use crate::rollback::received_from;
use crate::{Ledger, LedgerError};

/// What one bounded cementing step ([`Ledger::confirm_limited`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cementing {
    /// Blocks cemented by this call, dependencies first, each account in chain order.
    pub cemented: Vec<BlockHash>,
    /// Whether the target is now cemented. When not, the caller commits and calls again
    /// in a new transaction; the walk resumes from the stored confirmation heights.
    pub complete: bool,
}

impl Ledger {
    /// Cements `hash` with all its dependencies; returns the newly cemented blocks in the
    /// order they were cemented (dependencies first, each account in chain order). An
    /// already cemented block yields an empty list. Each cemented block gets the next
    /// confirmation sequence number, in the order of the returned list. Unbounded: a
    /// node cementing what peers sent uses [`Ledger::confirm_limited`].
    pub fn confirm(
        &self,
        txn: &mut WriteTxn<'_>,
        hash: &BlockHash,
    ) -> Result<Vec<BlockHash>, LedgerError> {
        Ok(self.confirm_limited(txn, hash, usize::MAX)?.cemented)
    }

    /// Cements at most `max_blocks` blocks towards `hash` (at least one when any is
    /// left), so a very long unconfirmed chain (a bootstrapped ledger, an account with
    /// millions of blocks) is cemented in bounded write transactions and bounded memory.
    /// Any prefix of the walk is a consistent state: a block is cemented only after
    /// everything it depends on, so committing after any call, or crashing between
    /// calls, leaves confirmation heights that only ever moved forward over cemented
    /// dependencies, with the confirmation log holding exactly those blocks.
    pub fn confirm_limited(
        &self,
        txn: &mut WriteTxn<'_>,
        hash: &BlockHash,
        max_blocks: usize,
    ) -> Result<Cementing, LedgerError> {
        let max_blocks = max_blocks.max(1);
        let mut cemented = Vec::new();
        // One entry per account whose walk waits for a dependency: an account cannot
        // appear twice (that would be a dependency cycle), so this is bounded by the
        // accounts involved, not by the blocks.
        let mut targets = vec![*hash];
        while let Some(&target) = targets.last() {
            let sb = self
                .store
                .block_sideband(txn, &target)?
                .ok_or(LedgerError::BlockNotFound(target))?;
            let account = sb.account;
            let conf = self.store.confirmation_height(txn, &account)?;
            if sb.height <= conf.height {
                targets.pop();
                continue;
            }
            // First uncemented block of the account.
            let mut cur = if conf.height == 0 {
                self.store
                    .account(txn, &account)?
                    .ok_or_else(|| LedgerError::Inconsistent(format!("account {account} missing")))?
                    .open_block
            } else {
                self.store
                    .block_sideband(txn, &conf.frontier)?
                    .ok_or_else(|| {
                        LedgerError::Inconsistent(format!("frontier {} missing", conf.frontier))
                    })?
                    .successor
            };
            let mut height = conf.height;
            let mut frontier = conf.frontier;
            let mut blocked_on = None;
            let mut limited = false;
            loop {
                if cemented.len() >= max_blocks {
                    limited = true;
                    break;
                }
                let b = self.store.block(txn, &cur)?.ok_or_else(|| {
                    LedgerError::Inconsistent(format!("chain of {account} broken at {cur}"))
                })?;
                if let Some(source) = received_from(&b.block, &b.sideband) {
                    if !self.source_cemented(txn, &source)? {
                        blocked_on = Some(source);
                        break;
                    }
                }
                height += 1;
                frontier = cur;
                let origin = if cur == *hash {
                    ConfirmationOrigin::Elected
                } else {
                    ConfirmationOrigin::Dependency
                };
                txn.append_confirmation(&cur, origin)?;
                cemented.push(cur);
                if cur == target {
                    break;
                }
                cur = b.sideband.successor;
                if cur.is_zero() {
                    return Err(LedgerError::Inconsistent(format!(
                        "{target} not reachable from {account}'s cemented frontier"
                    )));
                }
            }
            if height > conf.height {
                txn.put_confirmation_height(
                    &account,
                    &ConfirmationHeightInfo { height, frontier },
                )?;
            }
            if limited {
                return Ok(Cementing {
                    cemented,
                    complete: false,
                });
            }
            match blocked_on {
                Some(source) => targets.push(source),
                None => {
                    targets.pop();
                }
            }
        }
        Ok(Cementing {
            cemented,
            complete: true,
        })
    }

    /// Records a new notification of the already cemented `hash` (`block_confirm` on a
    /// cemented block) in the confirmation log; returns its sequence number.
    pub fn renotify(&self, txn: &mut WriteTxn<'_>, hash: &BlockHash) -> Result<u64, LedgerError> {
        if !self.block_confirmed(txn, hash)? {
            return Err(LedgerError::BlockNotFound(*hash));
        }
        Ok(txn.append_confirmation(hash, ConfirmationOrigin::Renotified)?)
    }

    /// A pruned (absent) source counts as cemented: only cemented blocks are pruned.
    fn source_cemented<T: Txn>(&self, txn: &T, source: &BlockHash) -> Result<bool, LedgerError> {
        match self.store.block_sideband(txn, source)? {
            None => Ok(true),
            Some(sb) => Ok(sb.height <= self.store.confirmation_height(txn, &sb.account)?.height),
        }
    }

    /// Whether every block `hash` depends on is cemented: its previous block and, for a
    /// receive or open, the send it consumes (a pruned source counts as cemented). A
    /// representative may vote for a block only when this holds (the reference's
    /// `ledger::dependents_confirmed`, required by `vote_generator::should_vote`).
    /// `Ok(false)` for a block not in the ledger.
    pub fn dependents_confirmed<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<bool, LedgerError> {
        let Some(b) = self.store.block(txn, hash)? else {
            return Ok(false);
        };
        let previous = b.block.previous();
        if !previous.is_zero() && !self.block_confirmed(txn, &previous)? {
            return Ok(false);
        }
        match received_from(&b.block, &b.sideband) {
            Some(source) => self.source_cemented(txn, &source),
            None => Ok(true),
        }
    }

    /// The blocks `hash` depends on (reference `ledger::dependent_blocks`): its previous
    /// block and, for a receive or open, the send it consumes; empty for a block not in
    /// the ledger.
    pub fn dependent_blocks<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Vec<BlockHash>, LedgerError> {
        let Some(b) = self.store.block(txn, hash)? else {
            return Ok(Vec::new());
        };
        let previous = b.block.previous();
        let source = received_from(&b.block, &b.sideband);
        Ok([Some(previous), source]
            .into_iter()
            .flatten()
            .filter(|h| !h.is_zero())
            .collect())
    }

    /// True if `hash` is at or below its account's confirmation height.
    pub fn block_confirmed<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<bool, LedgerError> {
        match self.store.block_sideband(txn, hash)? {
            None => Ok(self.store.pruned_exists(txn, hash)?),
            Some(sb) => Ok(sb.height <= self.store.confirmation_height(txn, &sb.account)?.height),
        }
    }
}
