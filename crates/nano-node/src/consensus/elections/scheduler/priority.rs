//! The priority scheduler: an account with uncemented blocks gets an election for its
//! FIRST uncemented block (reference `scheduler::priority::activate`), never for a block
//! further up its chain, because a representative may only vote for a block whose
//! dependents are confirmed. When that block is cemented the account's next block is
//! activated, and so is the receiving account of a cemented send (reference
//! `activate_successors`).

use nano_core::{Account, Amount, Block};
use nano_ledger::Txn;

use crate::consensus::elections::Effects;
use crate::consensus::{lock, Shared};

impl Shared {
    /// The first uncemented block of `account` and its balance, if the account has one.
    pub(crate) fn first_unconfirmed<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Option<(Block, Amount)> {
        let info = self.ledger.account_info(txn, account).ok()??;
        let conf = self.ledger.store().confirmation_height(txn, account).ok()?;
        if conf.height >= info.block_count {
            return None;
        }
        let hash = if conf.height == 0 {
            info.open_block
        } else {
            self.ledger.successor(txn, &conf.frontier).ok()??
        };
        let sb = self.ledger.block(txn, &hash).ok()??;
        Some((sb.block, sb.sideband.balance))
    }

    /// Starts elections for the first uncemented block of each account that has one and
    /// no election for it yet. Returns how many accounts had an uncemented block.
    pub(crate) fn activate_accounts(&self, accounts: &[Account]) -> usize {
        if accounts.is_empty() {
            return 0;
        }
        let Ok(txn) = self.ledger.read_txn() else {
            return 0;
        };
        let candidates: Vec<(Block, Amount)> = accounts
            .iter()
            .filter_map(|a| self.first_unconfirmed(&txn, a))
            .collect();
        drop(txn);
        let unconfirmed = candidates.len();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for (block, balance) in candidates {
                let h = block.hash();
                if active.contains_hash(&h) || active.recently_confirmed(&h) {
                    continue;
                }
                if self.start_election_locked(&mut active, block, balance, delta, &mut fx) {
                    self.stats.inc("election_scheduler", "activated", "in");
                }
            }
        }
        self.dispatch(fx);
        unconfirmed
    }
}
