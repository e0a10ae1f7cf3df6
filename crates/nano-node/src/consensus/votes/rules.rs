//! The rules a local representative votes by. Every vote this node signs (election
//! votes from the generator, answers to confirm_req) passes one of these checks first;
//! nothing else decides whether to vote.
//!
//! They follow the reference node's `vote_generator::should_vote` (nano/node/
//! vote_generator.cpp) and its request aggregator, plus one rule the reference keeps
//! implicitly through its election state and this node keeps across restarts through
//! the `final_votes` table: never a normal vote against this node's own final vote.

use nano_core::{Block, BlockHash, QualifiedRoot};
use nano_ledger::{Ledger, Txn, WriteTxn};

/// Why a vote was refused (kept as a stat detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The block is not in this node's ledger (reference: `block != nullptr`).
    NotInLedger,
    /// Its previous block or its source is not cemented yet (reference:
    /// `ledger.dependents_confirmed`).
    DependentsUnconfirmed,
    /// This node final-voted another block at the same qualified root.
    ContradictsFinalVote,
    /// The store could not answer; refusing is the safe side.
    Store,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::NotInLedger => "not_in_ledger",
            Refusal::DependentsUnconfirmed => "dependents_unconfirmed",
            Refusal::ContradictsFinalVote => "contradicts_final_vote",
            Refusal::Store => "store_error",
        }
    }
}

/// The block `hash` from the ledger, if its dependents are cemented. Reference rule
/// shared by normal and final votes: `block != nullptr &&
/// ledger.dependents_confirmed(transaction, *block)`.
fn votable_block<T: Txn>(ledger: &Ledger, txn: &T, hash: &BlockHash) -> Result<Block, Refusal> {
    let block = match ledger.block(txn, hash) {
        Ok(Some(b)) => b.block,
        Ok(None) => return Err(Refusal::NotInLedger),
        Err(_) => return Err(Refusal::Store),
    };
    match ledger.dependents_confirmed(txn, hash) {
        Ok(true) => Ok(block),
        Ok(false) => Err(Refusal::DependentsUnconfirmed),
        Err(_) => Err(Refusal::Store),
    }
}

/// May local representatives sign a normal vote for `hash`? Reference
/// `vote_generator::should_vote` (non-final): in the ledger with dependents confirmed.
/// Added: no final vote of this node for another block at the same root (a normal vote
/// for a different block would contradict it, and the record survives restarts).
pub(crate) fn may_vote_normal<T: Txn>(
    ledger: &Ledger,
    txn: &T,
    hash: &BlockHash,
) -> Result<QualifiedRoot, Refusal> {
    let block = votable_block(ledger, txn, hash)?;
    let root = block.qualified_root();
    match ledger.store().final_vote(txn, &root) {
        Ok(Some(h)) if h != *hash => Err(Refusal::ContradictsFinalVote),
        Ok(_) => Ok(root),
        Err(_) => Err(Refusal::Store),
    }
}

/// May local representatives sign a final vote for `hash`? Reference
/// `vote_generator::should_vote` (final): in the ledger, dependents confirmed, and
/// `final_vote.put(qualified_root, hash)` succeeds — checked and written in `txn`, the
/// same write transaction that decides, so two final votes for different blocks at one
/// root are impossible even across restarts. The caller commits `txn` before any vote
/// is signed.
pub(crate) fn may_vote_final(
    ledger: &Ledger,
    txn: &mut WriteTxn<'_>,
    hash: &BlockHash,
) -> Result<QualifiedRoot, Refusal> {
    let block = votable_block(ledger, txn, hash)?;
    let root = block.qualified_root();
    match txn.put_final_vote(&root, hash) {
        Ok(true) => Ok(root),
        Ok(false) => Err(Refusal::ContradictsFinalVote),
        Err(_) => Err(Refusal::Store),
    }
}

/// Which kind of vote a confirm_req for `hash` gets, before the rules above are applied.
/// Reference `request_aggregator`: a final vote when this node recorded one for the
/// block's root (for the recorded block) or the block is cemented; otherwise a normal
/// vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Final(BlockHash),
    Normal(BlockHash),
}

pub(crate) fn answer_kind<T: Txn>(
    ledger: &Ledger,
    txn: &T,
    root: &QualifiedRoot,
    hash: &BlockHash,
) -> Answer {
    match ledger.store().final_vote(txn, root) {
        Ok(Some(recorded)) => Answer::Final(recorded),
        _ if ledger.block_confirmed(txn, hash).unwrap_or(false) => Answer::Final(*hash),
        _ => Answer::Normal(*hash),
    }
}
