//! Backlog activation: accounts with uncemented blocks (from a previous run, or when
//! elections were full) get elections as capacity frees up.

use nano_core::Account;

use crate::consensus::elections::Effects;
use crate::consensus::{lock, Shared};

impl Shared {
    /// (after a restart, or when elections were full).
    pub(crate) fn activate_backlog(&self) {
        let vacancy = lock(&self.active).vacancy();
        if vacancy == 0 {
            return;
        }
        let accounts: Vec<nano_core::Account> = lock(&self.unconfirmed_accounts)
            .iter()
            .take(vacancy.min(1024))
            .copied()
            .collect();
        if accounts.is_empty() {
            return;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let mut done = Vec::new();
        let mut start = Vec::new();
        {
            let active = lock(&self.active);
            for a in accounts {
                let Ok(Some(info)) = self.ledger.account_info(&txn, &a) else {
                    done.push(a);
                    continue;
                };
                let conf = self
                    .ledger
                    .store()
                    .confirmation_height(&txn, &a)
                    .map(|c| c.height)
                    .unwrap_or(0);
                if conf >= info.block_count {
                    done.push(a);
                    continue;
                }
                if active.contains_hash(&info.head) || active.recently_confirmed(&info.head) {
                    continue;
                }
                if let Ok(Some(sb)) = self.ledger.block(&txn, &info.head) {
                    start.push((sb.block, sb.sideband.balance));
                }
            }
        }
        {
            let mut u = lock(&self.unconfirmed_accounts);
            for a in done {
                u.remove(&a);
            }
        }
        if start.is_empty() {
            return;
        }
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for (b, bal) in start {
                self.start_election_locked(&mut active, b, bal, delta, &mut fx);
            }
        }
        self.dispatch(fx);
    }

    /// Accounts whose chains are not fully cemented (from a previous run), so the backlog
    /// activation starts elections for them. Bounded scan.
    pub(crate) fn load_unconfirmed_accounts(&self) {
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        let store = self.ledger.store();
        let Ok(iter) = store.accounts_from(&txn, &Account::ZERO) else {
            return;
        };
        let mut set = lock(&self.unconfirmed_accounts);
        for item in iter.take(1_000_000) {
            let Ok((account, info)) = item else { break };
            let conf = store
                .confirmation_height(&txn, &account)
                .map(|c| c.height)
                .unwrap_or(0);
            if conf < info.block_count {
                set.insert(account);
            }
        }
    }
}
