//! A full consistency check of the ledger: the invariants every accepted block must
//! preserve. O(ledger size); meant for tests, crash recovery checks and a debug CLI
//! command, not for the hot path.

use std::collections::HashMap;

use nano_core::{Account, Amount, Block};
use nano_store::Txn;

use crate::rollback::sent_to;
use crate::{Ledger, LedgerError};

/// Totals gathered by [`Ledger::check_consistency`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub accounts: u64,
    pub blocks: u64,
    pub receivables: u64,
    pub cemented: u64,
    /// Sum of all account balances (= sum of all weights).
    pub total_balance: Amount,
    /// Sum of all receivable amounts.
    pub total_receivable: Amount,
}

impl Ledger {
    /// Verifies that: every chain is contiguous (heights 1..=block_count, successor and
    /// previous links agree, sideband account matches, head balance and representative
    /// match the account info); the blocks table holds exactly the chains' blocks;
    /// persisted and cached weights equal the balances delegated to each representative;
    /// balances plus receivables equal the genesis supply; every receivable has its send;
    /// confirmation heights lie within their chains.
    pub fn check_consistency<T: Txn>(&self, txn: &T) -> Result<ConsistencyReport, LedgerError> {
        let fail = |m: String| Err(LedgerError::Inconsistent(m));
        let s = &self.store;
        let mut report = ConsistencyReport::default();
        let mut weights: HashMap<Account, Amount> = HashMap::new();
        for r in s.accounts_from(txn, &Account::ZERO)? {
            let (account, info) = r?;
            report.accounts += 1;
            report.total_balance = report
                .total_balance
                .checked_add(info.balance)
                .ok_or_else(|| LedgerError::Inconsistent("balances overflow".into()))?;
            if !info.balance.is_zero() {
                let w = weights.entry(info.representative).or_default();
                *w = w.checked_add(info.balance).unwrap_or(Amount::MAX);
            }
            // Walk the chain down from the head.
            let mut cur = info.head;
            let mut expect_height = info.block_count;
            let mut successor = nano_core::BlockHash::ZERO;
            let mut first = true;
            while !cur.is_zero() {
                let Some(b) = s.block(txn, &cur)? else {
                    return fail(format!("{account}: block {cur} missing"));
                };
                let sb = b.sideband;
                if sb.account != account {
                    return fail(format!(
                        "{cur}: sideband account {} != {account}",
                        sb.account
                    ));
                }
                if sb.height != expect_height {
                    return fail(format!(
                        "{cur}: height {} expected {expect_height}",
                        sb.height
                    ));
                }
                if sb.successor != successor {
                    return fail(format!(
                        "{cur}: successor {} expected {successor}",
                        sb.successor
                    ));
                }
                if first {
                    if sb.balance != info.balance {
                        return fail(format!("{account}: head balance differs from info"));
                    }
                    if sb.details.epoch != info.epoch && b.block.is_state() {
                        return fail(format!("{account}: head epoch differs from info"));
                    }
                    if self.representative_at(txn, &cur)? != info.representative {
                        return fail(format!("{account}: representative differs from chain"));
                    }
                    first = false;
                }
                report.blocks += 1;
                if b.block.previous().is_zero() && cur != info.open_block {
                    return fail(format!(
                        "{account}: open block {cur} != {}",
                        info.open_block
                    ));
                }
                successor = cur;
                cur = b.block.previous();
                expect_height = expect_height.saturating_sub(1);
            }
            if expect_height != 0 {
                return fail(format!(
                    "{account}: chain ends at height {}",
                    expect_height + 1
                ));
            }
            let conf = s.confirmation_height(txn, &account)?;
            if conf.height > info.block_count {
                return fail(format!("{account}: confirmation height above chain"));
            }
            if conf.height > 0 {
                match s.block_sideband(txn, &conf.frontier)? {
                    Some(f) if f.account == account && f.height == conf.height => {}
                    _ => return fail(format!("{account}: bad confirmed frontier")),
                }
            }
            report.cemented += conf.height;
        }
        let stored_blocks = s.block_count(txn)?;
        if stored_blocks != report.blocks {
            return fail(format!(
                "blocks table holds {stored_blocks}, chains hold {}",
                report.blocks
            ));
        }
        // Weights: table, cache and recomputation agree (zero weights are absent).
        let mut table = HashMap::new();
        for r in s.iter_rep_weights(txn)? {
            let (rep, w) = r?;
            table.insert(rep, w);
        }
        if table != weights {
            return fail(format!(
                "rep_weights table ({} reps) differs from delegated balances ({} reps)",
                table.len(),
                weights.len()
            ));
        }
        for r in s.pending_from(
            txn,
            &nano_store::PendingKey::new(Account::ZERO, Default::default()),
        )? {
            let (key, info) = r?;
            report.receivables += 1;
            report.total_receivable = report
                .total_receivable
                .checked_add(info.amount)
                .ok_or_else(|| LedgerError::Inconsistent("receivables overflow".into()))?;
            let Some(send) = s.block(txn, &key.hash)? else {
                return fail(format!("receivable {} has no send", key.hash));
            };
            if sent_to(&send.block, &send.sideband) != Some(key.account) {
                return fail(format!(
                    "receivable {} is not a send to {}",
                    key.hash, key.account
                ));
            }
            if send.sideband.account != info.source {
                return fail(format!("receivable {} has wrong source", key.hash));
            }
            let prev = send.block.previous();
            let before = s
                .block_sideband(txn, &prev)?
                .map(|p| p.balance)
                .unwrap_or_default();
            if before.checked_sub(send.sideband.balance) != Some(info.amount) {
                return fail(format!("receivable {} amount differs from send", key.hash));
            }
            if matches!(send.block, Block::Send(_)) && info.epoch != nano_core::Epoch::Epoch0 {
                return fail(format!("legacy send {} with epoch", key.hash));
            }
        }
        let supply = report.total_balance.checked_add(report.total_receivable);
        if supply != Some(self.params.genesis_amount) {
            return fail(format!(
                "balances {} + receivables {} != supply {}",
                report.total_balance, report.total_receivable, self.params.genesis_amount
            ));
        }
        Ok(report)
    }

    /// True if the cached weights equal the persisted ones at or above the cache's
    /// minimum (they may differ only while a write transaction is open, or after an
    /// aborted commit).
    pub fn weights_cache_matches<T: Txn>(&self, txn: &T) -> Result<bool, LedgerError> {
        let minimum = self.store.rep_weight_cache_minimum();
        let mut table = HashMap::new();
        for r in self.store.iter_rep_weights(txn)? {
            let (rep, w) = r?;
            if w >= minimum {
                table.insert(rep, w);
            }
        }
        Ok(table == self.store.rep_weights_cached())
    }
}
