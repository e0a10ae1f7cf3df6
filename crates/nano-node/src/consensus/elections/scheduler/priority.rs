//! The priority scheduler: an account with uncemented blocks gets an election for its
//! FIRST uncemented block (reference `scheduler::priority::activate`), never for a block
//! further up its chain, because a representative may only vote for a block whose
//! dependents are confirmed. When that block is cemented the account's next block is
//! activated, and so is the receiving account of a cemented send (reference
//! `activate_successors`).
//!
//! An account with more than [`OPTIMISTIC_GAP`] uncemented blocks also gets an
//! optimistic election for its head (reference `scheduler::optimistic`): a node
//! catching up with representatives that already cemented the chain gets their final
//! votes for the head and cements the whole chain in one election. This node's own
//! representative does not vote for that head until the rules allow it.

use nano_core::{Account, Amount, Block};
use nano_ledger::Txn;

use crate::consensus::elections::election::Behavior;
use crate::consensus::elections::Effects;

/// Uncemented blocks above which an account's head gets an optimistic election:
/// reference `optimistic_scheduler.gap_threshold` default.
pub const OPTIMISTIC_GAP: u64 = 32;
use crate::consensus::{lock, Shared};

impl Shared {
    /// The account's first uncemented block, and its head when more than
    /// [`OPTIMISTIC_GAP`] blocks are uncemented.
    fn unconfirmed_span<T: Txn>(&self, txn: &T, account: &Account) -> Option<Span> {
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
        let long_head = if info.block_count - conf.height > OPTIMISTIC_GAP {
            let h = self.ledger.block(txn, &info.head).ok()??;
            Some((h.block, h.sideband.balance))
        } else {
            None
        };
        Some(Span {
            first: (sb.block, sb.sideband.balance),
            long_head,
        })
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
        let spans: Vec<Span> = accounts
            .iter()
            .filter_map(|a| self.unconfirmed_span(&txn, a))
            .collect();
        drop(txn);
        let unconfirmed = spans.len();
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for span in spans {
                let (block, balance) = span.first;
                let h = block.hash();
                if !active.contains_hash(&h)
                    && !active.recently_confirmed(&h)
                    && self.start_election_locked(&mut active, block, balance, delta, &mut fx)
                {
                    self.stats.inc("election_scheduler", "activated", "in");
                }
                if let Some((head, balance)) = span.long_head {
                    let h = head.hash();
                    if !active.contains_hash(&h)
                        && !active.recently_confirmed(&h)
                        && self.start_election_as(
                            &mut active,
                            head,
                            balance,
                            delta,
                            &mut fx,
                            Behavior::Optimistic,
                        )
                    {
                        self.stats.inc("election_scheduler", "optimistic", "in");
                    }
                }
            }
        }
        self.dispatch(fx);
        unconfirmed
    }
}

/// What the priority scheduler found for an account.
struct Span {
    first: (Block, Amount),
    /// The head of a chain longer than [`OPTIMISTIC_GAP`] uncemented blocks.
    long_head: Option<(Block, Amount)>,
}
