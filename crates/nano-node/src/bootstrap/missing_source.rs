//! Where a pulled chain first receives from a block the ledger does not have yet.
//!
//! The block processor parks such a receive in its gap table, and with it every later
//! block of the chain (each waits for the one before). The table is bounded (64 Ki
//! blocks, the reference's `max_unchecked_blocks`) while a sync of a large ledger has
//! far more blocked accounts than that, so parked blocks are dropped before their
//! source arrives and fetched again. The ascending client uses this to submit a chain
//! only up to such a receive and park the rest directly (see `ascending::on_blocks`),
//! so the processor does not check those blocks twice.

use nano_core::keys::{verify_batch, VerifyItem};
use nano_core::{Account, Amount, Block, BlockHash, Link, Signature};

/// The source a block receives from, if it is a receive (or open). `prev_balance`: the
/// chain's balance before the block (zero before an open), `None` when unknown (after
/// a legacy block other than a send); a state block is a receive when its balance
/// rises, and not an epoch block.
fn source_of(
    b: &Block,
    prev_balance: Option<Amount>,
    is_epoch: &impl Fn(&Link) -> bool,
) -> Option<BlockHash> {
    match b {
        Block::Receive(_) | Block::Open(_) => b.source_field(),
        Block::State(s) => {
            let before = if s.previous.is_zero() {
                Some(Amount(0))
            } else {
                prev_balance
            };
            let rises = before.is_some_and(|p| s.balance.0 > p.0);
            (rises && !s.link.is_zero() && !is_epoch(&s.link)).then(|| s.link.as_block_hash())
        }
        _ => None,
    }
}

/// The index in `blocks` (a chain, each block the previous one's successor) of the
/// first receive whose source `have` says is missing, looking from `from` on.
/// `start_balance`: the balance before `blocks[from]` when known (the balance of the
/// block the pull started from). `is_epoch` tells epoch links, which are not sources.
pub(crate) fn first_missing_source(
    blocks: &[Block],
    from: usize,
    start_balance: Option<Amount>,
    is_epoch: impl Fn(&Link) -> bool,
    mut have: impl FnMut(&BlockHash) -> bool,
) -> Option<usize> {
    let mut balance = start_balance;
    for (i, b) in blocks.iter().enumerate().skip(from) {
        if let Some(src) = source_of(b, balance, &is_epoch) {
            // A send to itself earlier in the chain goes in before it.
            if !have(&src) && !blocks[..i].iter().any(|e| e.hash() == src) {
                return Some(i);
            }
        }
        balance = b.balance_field();
    }
    None
}

/// Whether every block of `blocks` (the part of a chain to be parked) is signed by
/// `signer`, the signatures verified as one batch, as the block processor's checker
/// does: one at a time they were the ascending client's largest cost on the 10M bench
/// ledger once the unblock pass had gone (BENCHMARKS.md).
pub(crate) fn signed_by(blocks: &[Block], signer: &Account) -> bool {
    let hashes: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
    let sigs: Vec<Signature> = blocks.iter().map(Block::signature).collect();
    let items: Vec<VerifyItem<'_>> = hashes
        .iter()
        .zip(&sigs)
        .map(|(h, sig)| VerifyItem {
            key: signer,
            msg: &h.0,
            sig,
        })
        .collect();
    verify_batch(&items).into_iter().all(|ok| ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::{PublicKey, StateBlock};
    use nano_ledger::test_support::{test_key, Chain};

    /// A signed chain passes as a batch and one by one; one forged signature anywhere,
    /// or another signer, fails it.
    #[test]
    fn a_batch_of_signatures_fails_on_any_forged_one() {
        let key = test_key(3);
        let mut g = Chain::dev_genesis();
        let to = key.public();
        let mut blocks: Vec<Block> = (0..9).map(|_| g.send(&to, 1)).collect();
        let signer = nano_ledger::test_support::dev_genesis_key().public();
        assert!(blocks.iter().all(|b| b.verify_signature(&signer)));
        assert!(signed_by(&blocks, &signer));
        assert!(signed_by(&blocks[..2], &signer), "below the batch size");
        assert!(!signed_by(&blocks, &to), "another signer");
        for at in [0, 4, 8] {
            let mut forged = blocks.clone();
            forged[at].set_signature(Signature([1; 64]));
            assert!(!signed_by(&forged, &signer), "forged at {at}");
        }
        let other = blocks[2].signature();
        blocks[1].set_signature(other);
        assert!(
            !signed_by(&blocks[..3], &signer),
            "a signature of another block"
        );
    }

    fn state(previous: BlockHash, balance: u128, link: [u8; 32]) -> Block {
        Block::State(StateBlock {
            account: PublicKey([7; 32]),
            previous,
            representative: PublicKey([1; 32]),
            balance: Amount(balance),
            link: Link(link),
            signature: Signature([0; 64]),
            work: 0,
        })
    }

    /// A chain from `balances` and `links`: an open, then each block on the one before.
    fn chain(steps: &[(u128, [u8; 32])]) -> Vec<Block> {
        let mut out: Vec<Block> = Vec::new();
        for (bal, link) in steps {
            let prev = out.last().map_or(BlockHash::ZERO, |b| b.hash());
            out.push(state(prev, *bal, *link));
        }
        out
    }

    const EPOCH: [u8; 32] = [0xEE; 32];

    #[test]
    fn finds_the_first_receive_whose_source_is_missing() {
        // open (receive of 1), send to 2, receive of 3, epoch, receive of 4.
        let c = chain(&[
            (10, [1; 32]),
            (4, [2; 32]),
            (9, [3; 32]),
            (9, EPOCH),
            (12, [4; 32]),
        ]);
        let is_epoch = |l: &Link| l.0 == EPOCH;
        let have = |missing: &'static [u8]| move |h: &BlockHash| !missing.contains(&h.0[0]);
        // Everything there.
        assert_eq!(first_missing_source(&c, 0, None, is_epoch, have(&[])), None);
        // The open's source missing.
        assert_eq!(
            first_missing_source(&c, 0, None, is_epoch, have(&[1])),
            Some(0)
        );
        // A send's destination is not a source; the later receive's is.
        assert_eq!(
            first_missing_source(&c, 0, None, is_epoch, have(&[2, 3])),
            Some(2)
        );
        // The epoch link (balance unchanged) is not a source.
        assert_eq!(
            first_missing_source(&c, 0, None, is_epoch, have(&[0xEE, 4])),
            Some(4)
        );
        // Looking from a later block on, with its balance before it known.
        assert_eq!(
            first_missing_source(&c, 3, Some(Amount(9)), is_epoch, have(&[1, 3, 4])),
            Some(4)
        );
    }

    #[test]
    fn a_receive_of_its_own_earlier_send_is_not_cut() {
        let mut c = chain(&[(10, [1; 32]), (6, [7; 32])]);
        let send = c[1].hash();
        c.push(state(send, 10, send.0));
        assert_eq!(
            first_missing_source(&c, 0, None, |_| false, |h| h.0[0] == 1),
            None
        );
    }

    #[test]
    fn an_unknown_balance_before_a_state_block_is_not_taken_for_a_receive() {
        let c = chain(&[(10, [1; 32]), (12, [3; 32])]);
        // From block 1 with its balance before unknown: not known to be a receive.
        assert_eq!(
            first_missing_source(&c, 1, None, |_| false, |_| false),
            None
        );
        // Known: it is one.
        assert_eq!(
            first_missing_source(&c, 1, Some(Amount(10)), |_| false, |_| false),
            Some(1)
        );
    }
}
