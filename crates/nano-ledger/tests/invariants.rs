//! A randomized ledger of thousands of blocks (sends, receives and opens, legacy and
//! state, changes, epoch upgrades, rollbacks, cementing) on the dev network, checking the
//! ledger invariants along the way: weights sum to the supply outside receivables, every
//! receivable has its send, heights are contiguous, caches match tables.

mod common;

use common::*;
use nano_core::{Account, Amount, Block, BlockHash, Epoch, KeyPair, Link, Network, Signature};
use nano_ledger::test_support::{dev_genesis_key, state_block, test_key, with_work};
use nano_ledger::{Ledger, Txn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: u32 = 24;
const TARGET_BLOCKS: usize = 2500;

struct World {
    keys: Vec<KeyPair>,
}

impl World {
    fn key_of(&self, a: &Account) -> &KeyPair {
        self.keys
            .iter()
            .find(|k| k.public() == *a)
            .expect("known key")
    }
}

fn head_is_legacy<T: Txn>(ledger: &Ledger, txn: &T, head: &BlockHash) -> bool {
    !ledger.block(txn, head).unwrap().unwrap().block.is_state()
}

/// Builds one random valid block from the ledger's current state, or `None` if the
/// chosen action is impossible right now.
fn random_block<T: Txn>(
    ledger: &Ledger,
    txn: &T,
    world: &World,
    rng: &mut StdRng,
) -> Option<Block> {
    let p = Network::Dev.params();
    let who = world.keys[rng.random_range(0..world.keys.len())].public();
    let info = ledger.account_info(txn, &who).unwrap();
    let key = world.key_of(&who);
    match rng.random_range(0..100) {
        // Send.
        0..=39 => {
            let info = info?;
            if info.balance.is_zero() {
                return None;
            }
            let amount = match rng.random_range(0..10) {
                0 => info.balance.0,
                1..=3 => rng.random_range(1..=info.balance.0),
                _ => rng.random_range(1..=info.balance.0.min(1_000_000)),
            };
            let dest = match rng.random_range(0..40) {
                0 => Account::ZERO,
                _ => world.keys[rng.random_range(0..world.keys.len())].public(),
            };
            let balance = Amount(info.balance.0 - amount);
            if head_is_legacy(ledger, txn, &info.head) && rng.random_bool(0.5) {
                let mut b = Block::Send(nano_core::SendBlock {
                    previous: info.head,
                    destination: dest,
                    balance,
                    signature: Signature::ZERO,
                    work: 0,
                });
                b.sign(key);
                return Some(with_work(b, p.work.epoch_1));
            }
            Some(state_block(
                key,
                who,
                info.head,
                info.representative,
                balance,
                dest.into(),
                p.work.threshold(info.epoch, false),
            ))
        }
        // Receive or open.
        40..=74 => {
            let pending: Vec<_> = ledger.receivable(txn, &who, Amount::ZERO, 8).unwrap();
            if pending.is_empty() {
                return None;
            }
            let (source, pinfo) = pending[rng.random_range(0..pending.len())];
            let legacy_ok = pinfo.epoch == Epoch::Epoch0
                && info.is_none_or(|i| head_is_legacy(ledger, txn, &i.head));
            if legacy_ok && rng.random_bool(0.4) {
                let mut b = match info {
                    None => Block::Open(nano_core::OpenBlock {
                        source,
                        representative: world.keys[rng.random_range(0..4)].public(),
                        account: who,
                        signature: Signature::ZERO,
                        work: 0,
                    }),
                    Some(i) => Block::Receive(nano_core::ReceiveBlock {
                        previous: i.head,
                        source,
                        signature: Signature::ZERO,
                        work: 0,
                    }),
                };
                b.sign(key);
                return Some(with_work(b, p.work.epoch_1));
            }
            let (previous, rep, balance, epoch) = match info {
                None => (BlockHash::ZERO, who, Amount::ZERO, Epoch::Epoch0),
                Some(i) => {
                    let rep = if i.representative.is_zero() {
                        who
                    } else {
                        i.representative
                    };
                    (i.head, rep, i.balance, i.epoch)
                }
            };
            Some(state_block(
                key,
                who,
                previous,
                rep,
                Amount(balance.0 + pinfo.amount.0),
                Link::from(source),
                p.work.threshold(epoch.max(pinfo.epoch), true),
            ))
        }
        // Change representative.
        75..=87 => {
            let info = info?;
            let rep = world.keys[rng.random_range(0..6)].public();
            if head_is_legacy(ledger, txn, &info.head) && rng.random_bool(0.5) {
                let mut b = Block::Change(nano_core::ChangeBlock {
                    previous: info.head,
                    representative: rep,
                    signature: Signature::ZERO,
                    work: 0,
                });
                b.sign(key);
                return Some(with_work(b, p.work.epoch_1));
            }
            Some(state_block(
                key,
                who,
                info.head,
                rep,
                info.balance,
                Link::ZERO,
                p.work.threshold(info.epoch, false),
            ))
        }
        // Epoch upgrade (or epoch open when something is receivable).
        _ => {
            let gk = dev_genesis_key();
            let (previous, rep, balance, epoch) = match info {
                Some(i) => (i.head, i.representative, i.balance, i.epoch.next()?),
                None => {
                    if !ledger.store().pending_any(txn, &who).unwrap() {
                        return None;
                    }
                    let e = if rng.random_bool(0.5) {
                        Epoch::Epoch1
                    } else {
                        Epoch::Epoch2
                    };
                    (BlockHash::ZERO, Account::ZERO, Amount::ZERO, e)
                }
            };
            let mut b = Block::State(nano_core::StateBlock {
                account: who,
                previous,
                representative: rep,
                balance,
                link: p.epoch_link(epoch).unwrap(),
                signature: Signature::ZERO,
                work: 0,
            });
            b.sign(&gk);
            Some(with_work(b, p.work.threshold(epoch, true)))
        }
    }
}

#[test]
fn randomized_ledger_keeps_invariants() {
    let (_d, ledger) = new_ledger();
    let mut keys = vec![dev_genesis_key()];
    keys.extend((0..ACCOUNTS).map(test_key));
    let world = World { keys };
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut processed = 0usize;
    let mut rollbacks = 0usize;
    let mut rolled_back_blocks = 0usize;
    let mut cemented = 0usize;
    let mut batches = 0usize;
    while processed < TARGET_BLOCKS {
        let mut txn = ledger.write_txn().unwrap();
        let batch = rng.random_range(1..60);
        for _ in 0..batch {
            match rng.random_range(0..100) {
                0..=1 => {
                    // Roll back a random uncemented head.
                    let who = world.keys[rng.random_range(0..world.keys.len())].public();
                    if let Some(info) = ledger.account_info(&txn, &who).unwrap() {
                        if !ledger.block_confirmed(&txn, &info.head).unwrap() {
                            let removed = ledger.rollback(&mut txn, &info.head).unwrap();
                            rollbacks += 1;
                            rolled_back_blocks += removed.len();
                        }
                    }
                }
                2..=4 => {
                    let who = world.keys[rng.random_range(0..world.keys.len())].public();
                    if let Some(info) = ledger.account_info(&txn, &who).unwrap() {
                        cemented += ledger.confirm(&mut txn, &info.head).unwrap().len();
                    }
                }
                _ => {
                    if let Some(b) = random_block(&ledger, &txn, &world, &mut rng) {
                        if let Err(e) = ledger.process(&mut txn, &b) {
                            panic!("generated block refused: {e}: {b:?}");
                        }
                        processed += 1;
                    }
                }
            }
        }
        // Occasionally abort a whole batch: it must leave no trace.
        if rng.random_range(0..20) == 0 {
            txn.abort();
        } else {
            txn.commit().unwrap();
        }
        batches += 1;
        if batches % 40 == 0 {
            check(&ledger);
        }
    }
    let r = check(&ledger);
    eprintln!(
        "{processed} processed, {rollbacks} rollbacks removing {rolled_back_blocks} blocks, \
         {cemented} cemented, final {r:?}"
    );
    assert!(
        rollbacks > 3 && rolled_back_blocks > 3 && cemented > 100,
        "{rollbacks} {cemented}"
    );
    assert!(r.blocks > 1000, "{r:?}");
    assert_eq!(r.cemented, ledger.cemented_count());
    // The weights, summed, equal the supply minus what is still receivable (including
    // everything sent to the burn account).
    let total_weight = ledger
        .store()
        .rep_weights_cached()
        .values()
        .fold(0u128, |a, w| a + w.0);
    assert_eq!(total_weight + r.total_receivable.0, u128::MAX);
    // Reopening rebuilds the same caches from disk.
    let snap = snapshot(&ledger);
    let dir = _d;
    drop(ledger);
    let reopened = open(&dir);
    assert_eq!(snapshot(&reopened), snap);
}
