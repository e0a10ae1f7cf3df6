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
        let mut cursor = lock(&self.backlog).cursor;
        let mut accounts = Vec::new();
        let mut scanned = 0usize;
        let at_end = loop {
            // A fresh snapshot every `SCAN_LOOKUPS_PER_TXN` accounts, the walk going on
            // from the next account: a whole step in one snapshot (10,000 accounts,
            // hundreds of milliseconds on a loaded machine) kept the pages the writer
            // freed meanwhile from being reused, and the ledger file grew by them.
            let Ok(txn) = self.ledger.read_txn() else {
                return;
            };
            let store = self.ledger.store();
            let Ok(iter) = store.accounts_from(&txn, &cursor) else {
                return;
            };
            let mut next = None;
            for (in_part, item) in iter.enumerate() {
                let Ok((account, info)) = item else { break };
                if scanned >= BACKLOG_BATCH || in_part >= nano_store::SCAN_LOOKUPS_PER_TXN {
                    next = Some(account);
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
            match next {
                None => break true,
                Some(a) => {
                    cursor = a;
                    if scanned >= BACKLOG_BATCH {
                        break false;
                    }
                }
            }
        };
        {
            let mut b = lock(&self.backlog);
            if at_end {
                b.cursor = Account::ZERO;
                b.passes += 1;
            } else {
                b.cursor = cursor;
            }
        }
        self.activate_accounts(&accounts);
    }

    /// Restarts the walk from the first account (RPC `populate_backlog`, node start).
    pub(crate) fn restart_backlog(&self) {
        lock(&self.backlog).cursor = Account::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use nano_core::Network;
    use nano_ledger::test_support::{test_key, Chain};
    use nano_ledger::Ledger;

    use crate::consensus::{lock, unstarted_for_test, ConsensusConfig};

    /// One step walks more accounts than one snapshot reads (600 against
    /// `SCAN_LOOKUPS_PER_TXN` = 256): every account with an uncemented block is offered
    /// once, none twice, and the pass ends at the last account.
    #[test]
    fn a_step_spanning_several_snapshots_offers_every_account_once() {
        let n = 2 * nano_store::SCAN_LOOKUPS_PER_TXN + 88;
        let setup = |ledger: &Ledger| {
            let mut g = Chain::dev_genesis();
            let mut txn = ledger.write_txn().unwrap();
            let mut sends = Vec::new();
            for i in 0..n {
                let key = test_key(1000 + i as u32);
                let send = g.send(&key.public(), 1000);
                ledger.process(&mut txn, &send).unwrap();
                sends.push((key, send.hash()));
            }
            ledger.confirm(&mut txn, &sends.last().unwrap().1).unwrap();
            for (key, send) in sends {
                let open = Chain::unopened(key).receive(&send, 1000, Default::default());
                ledger.process(&mut txn, &open).unwrap();
            }
            txn.commit().unwrap();
        };
        let (_dir, consensus) =
            unstarted_for_test(setup, ConsensusConfig::for_network(Network::Dev));
        let sh = &consensus.shared;
        sh.activate_backlog();
        let offered = sh.stats.get("election_scheduler", "activated", "in")
            + sh.stats.get("election_scheduler", "activate_full", "in");
        assert_eq!(offered, n as u64);
        let b = lock(&sh.backlog);
        assert_eq!(b.passes, 1);
        assert_eq!(b.cursor, nano_core::Account::ZERO);
    }
}
