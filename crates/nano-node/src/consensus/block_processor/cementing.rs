//! Cementing: confirmed election winners are cemented (with their unconfirmed
//! dependencies) in the writer's transaction, then reported.

use std::collections::HashMap;

use nano_core::{Account, Block, BlockHash};
use nano_ledger::WriteTxn;

use super::forced::Forced;
use crate::consensus::elections::election::ElectionSummary;
use crate::consensus::elections::Confirmed;
use crate::consensus::notify::confirmed_event;
use crate::consensus::{lock, Shared};
use crate::events::ConfirmationType;

/// A cementing result: the election that decided it (if any), its winner, and every
/// block newly cemented, dependencies first.
/// An election summary (when an election decided), the block cemented for it, every
/// block that call cemented in order, and the confirmation sequence of the last of them.
type Cemented = (
    Option<ElectionSummary>,
    BlockHash,
    Vec<BlockHash>,
    Option<u64>,
);

impl Shared {
    /// Cements confirmed winners in `txn`, at most `cement_batch_max` blocks in all;
    /// winners missing from the ledger (a fork candidate won) come back as forced work.
    /// A winner whose chain needs more than the rest of the budget is cemented part-way
    /// and goes back to the front of the queue with the winners after it, for the next
    /// transaction: the walk resumes from the committed confirmation heights, so each
    /// commit is a consistent prefix of the cementing order.
    pub(crate) fn cement_in(
        &self,
        txn: &mut WriteTxn<'_>,
        cement: Vec<Confirmed>,
    ) -> (Vec<Cemented>, Vec<Forced>) {
        let mut done = Vec::new();
        let mut forced = Vec::new();
        let mut budget = self.config.cement_batch_max.max(1);
        let mut pending = cement.into_iter();
        while let Some(c) = pending.next() {
            let w = c.summary.winner;
            match self.ledger.block_exists(txn, &w) {
                Ok(true) => match self.ledger.confirm_limited(txn, &w, budget) {
                    Ok(step) => {
                        budget = budget.saturating_sub(step.cemented.len());
                        let head = self.ledger.store().confirmation_head(txn).ok().flatten();
                        if step.complete {
                            done.push((Some(c.summary), w, step.cemented, head));
                        } else {
                            // Reported as dependencies now; the election's own
                            // confirmation comes with the step that reaches the winner.
                            self.stats.inc("confirmation_height", "batch_limited", "in");
                            done.push((None, w, step.cemented, head));
                            let mut q = lock(&self.queue);
                            let mut rest: Vec<Confirmed> = std::iter::once(c).collect();
                            rest.extend(pending.by_ref());
                            rest.append(&mut q.cement);
                            q.cement = rest;
                            break;
                        }
                    }
                    Err(e) => {
                        self.stats.inc("confirmation_height", "error", "in");
                        tracing::warn!("cementing {w}: {e}");
                    }
                },
                Ok(false) => {
                    if let Some(block) = c.winner {
                        forced.push(Forced {
                            block,
                            done: None,
                            confirmed: Some(c.summary),
                        });
                    }
                }
                Err(e) => tracing::warn!("cementing {w}: {e}"),
            }
        }
        (done, forced)
    }

    /// Events and bookkeeping for newly cemented blocks.
    pub(crate) fn after_cement(&self, cemented: Vec<Cemented>) {
        if cemented.is_empty() {
            return;
        }
        self.forget_local_blocks(
            cemented.iter().flat_map(|(_, _, list, _)| list.iter()),
            "cemented",
        );
        let notify = self.events.has_subscribers();
        let txn = self.ledger.read_txn().ok();
        let mut accounts: HashMap<Account, ()> = HashMap::new();
        let mut total = 0u64;
        for (summary, winner, list, head) in &cemented {
            // The list holds consecutive sequence numbers ending at `head`.
            let first = head.map(|h| h + 1 - list.len() as u64);
            total += list.len() as u64;
            {
                let mut active = lock(&self.active);
                for h in list {
                    // Elections of blocks cemented below a winner are settled too.
                    if let Some(root) = active.root_of(h) {
                        active.remove(&root);
                        active.remember(*h, root);
                    } else if h == winner {
                        if let Some(s) = summary {
                            active.remember(*h, s.qualified_root);
                        }
                    }
                }
            }
            let Some(txn) = &txn else { continue };
            for (i, h) in list.iter().enumerate() {
                let Ok(Some(info)) = self.ledger.block_info(txn, h) else {
                    continue;
                };
                accounts.insert(info.account(), ());
                if let Some(dest) = send_destination(&info) {
                    accounts.insert(dest, ());
                }
                if !notify {
                    continue;
                }
                let (kind, election) = if h == winner && summary.is_some() {
                    (
                        ConfirmationType::ActiveQuorum,
                        summary.as_ref().map(|s| s.election_info_json()),
                    )
                } else {
                    (ConfirmationType::ActiveConfirmationHeight, None)
                };
                let sequence = first.map(|f| f + i as u64);
                self.publish(confirmed_event(&info, kind, election, sequence));
            }
        }
        self.stats
            .add("confirmation_height", "blocks_confirmed", "in", total);
        // Reference `activate_successors`: the next block of each account with newly
        // cemented blocks, and the receiving side of each cemented send, may now be voted.
        drop(txn);
        let accounts: Vec<Account> = accounts.into_keys().collect();
        self.activate_accounts(&accounts);
    }
}

/// The account a cemented send pays, whose receive may now be voted.
fn send_destination(info: &nano_ledger::BlockInfo) -> Option<Account> {
    if info.subtype != nano_ledger::BlockSubtype::Send {
        return None;
    }
    match &info.block {
        Block::Send(b) => Some(b.destination),
        Block::State(b) => Some(b.link.as_account()),
        _ => None,
    }
}
