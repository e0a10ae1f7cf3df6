//! Backlog population (reference `backlog_population`): walks every account in key
//! order, a bounded batch per step, and hands accounts with uncemented blocks to the
//! priority scheduler. Blocks that arrive live are activated at once; the walk finds
//! what that missed (a previous run's backlog, bootstrapped chains, elections that were
//! full or expired). It keeps only a cursor, so its memory does not grow with the
//! ledger, and it reaches every account however many there are.

use nano_core::Account;

use crate::consensus::{lock, Shared};

/// Accounts read per step (one step per second): the reference's `backlog_scan`
/// default batch of 10,000, a few milliseconds of reads.
pub const BACKLOG_BATCH: usize = 10_000;

/// Where the walk continues.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    cursor: Account,
    /// Completed passes over all accounts (tests watch it).
    pub(crate) passes: u64,
}

impl Shared {
    /// One step of the walk: up to [`BACKLOG_BATCH`] accounts from the cursor; wraps to
    /// the first account after the last. It runs whether or not elections have room:
    /// the buckets keep the candidates (bounded) until they do.
    pub(crate) fn activate_backlog(&self) {
        let start = lock(&self.backlog).cursor;
        let mut accounts = Vec::new();
        let mut scanned = 0usize;
        let mut at_end = true;
        {
            let Ok(txn) = self.ledger.read_txn() else {
                return;
            };
            let store = self.ledger.store();
            let Ok(iter) = store.accounts_from(&txn, &start) else {
                return;
            };
            for item in iter {
                let Ok((account, info)) = item else { break };
                if scanned >= BACKLOG_BATCH {
                    at_end = false;
                    lock(&self.backlog).cursor = account;
                    break;
                }
                let conf = store
                    .confirmation_height(&txn, &account)
                    .map(|c| c.height)
                    .unwrap_or(0);
                scanned += 1;
                if conf < info.block_count {
                    accounts.push(account);
                }
            }
        }
        if at_end {
            let mut b = lock(&self.backlog);
            b.cursor = Account::ZERO;
            b.passes += 1;
        }
        self.activate_accounts(&accounts);
    }

    /// Restarts the walk from the first account (RPC `populate_backlog`, node start).
    pub(crate) fn restart_backlog(&self) {
        lock(&self.backlog).cursor = Account::ZERO;
    }
}
