//! Cementing a long unconfirmed chain in bounded steps (`confirm_limited`): each step
//! cements at most its limit, the steps together cement exactly what one unbounded call
//! would, in the same order with the same confirmation sequence numbers, and every
//! committed state between steps (also after an aborted step and a reopen, i.e. a crash)
//! has confirmation heights over cemented dependencies only.

mod common;

use common::*;
use nano_core::{Account, BlockHash, Epoch};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;

/// Three accounts paying each other in turn: every receive depends on a send of another
/// account, so the walk keeps switching chains. Returns the last block (which depends on
/// every other) and all accounts.
fn build(ledger: &Ledger, rounds: usize) -> (BlockHash, Vec<Account>) {
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let s = g.send(&a.account, 1_000_000);
    ok(ledger, &s);
    ok(ledger, &a.receive(&s.hash(), 1_000_000, Epoch::Epoch0));
    let mut last = BlockHash::ZERO;
    for i in 0..rounds {
        let s = a.send(&b.account, 10);
        ok(ledger, &s);
        let r = b.receive(&s.hash(), 10, Epoch::Epoch0);
        ok(ledger, &r);
        let s = b.send(&a.account, 3);
        ok(ledger, &s);
        let r = a.receive(&s.hash(), 3, Epoch::Epoch0);
        ok(ledger, &r);
        last = r.hash();
        if i % 10 == 0 {
            let s = g.send(&b.account, 1);
            ok(ledger, &s);
            let r = b.receive(&s.hash(), 1, Epoch::Epoch0);
            ok(ledger, &r);
        }
    }
    // The last block of a depends on b's sends, which depend on a's and genesis's.
    (last, vec![g.account, a.account, b.account])
}

/// Every cemented block's dependencies are cemented (heights moved forward over
/// cemented dependencies only).
fn assert_cemented_in_dependency_order(ledger: &Ledger, accounts: &[Account]) -> u64 {
    let t = ledger.read_txn().unwrap();
    let s = ledger.store();
    let mut cemented = 0;
    for a in accounts {
        let conf = s.confirmation_height(&t, a).unwrap();
        let mut h = s.account(&t, a).unwrap().unwrap().open_block;
        for height in 1..=conf.height {
            assert!(
                ledger.dependents_confirmed(&t, &h).unwrap(),
                "{a}: block {h} at cemented height {height} has an uncemented dependency"
            );
            if height == conf.height {
                assert_eq!(h, conf.frontier);
            }
            h = s.block_sideband(&t, &h).unwrap().unwrap().successor;
        }
        cemented += conf.height;
    }
    cemented
}

fn log_hashes(ledger: &Ledger) -> Vec<BlockHash> {
    let t = ledger.read_txn().unwrap();
    ledger
        .store()
        .confirmations_from(&t, 1, 1_000_000)
        .unwrap()
        .iter()
        .map(|r| r.hash)
        .collect()
}

#[test]
fn a_long_chain_is_cemented_in_bounded_steps_consistent_after_a_crash_between_them() {
    const ROUNDS: usize = 150;
    const LIMIT: usize = 37;
    // The unbounded walk, for comparison.
    let (_d1, whole) = new_ledger();
    let (target, accounts) = build(&whole, ROUNDS);
    let mut t = whole.write_txn().unwrap();
    let all = whole.confirm(&mut t, &target).unwrap();
    t.commit().unwrap();
    assert!(all.len() > 600, "{}", all.len());

    let dir = tempfile::tempdir().unwrap();
    let mut ledger = open(&dir);
    build(&ledger, ROUNDS);
    let mut steps: Vec<Vec<BlockHash>> = Vec::new();
    let mut crashed = false;
    loop {
        let mut t = ledger.write_txn().unwrap();
        let step = ledger.confirm_limited(&mut t, &target, LIMIT).unwrap();
        assert!(step.cemented.len() <= LIMIT);
        if steps.len() == 5 && !crashed {
            // A crash in the middle of a step: nothing of it is kept, and the node
            // restarts on the last committed step.
            drop(t);
            drop(ledger);
            ledger = open(&dir);
            crashed = true;
            let cemented = assert_cemented_in_dependency_order(&ledger, &accounts);
            let done: usize = steps.iter().map(Vec::len).sum();
            assert_eq!(
                cemented,
                1 + done as u64,
                "genesis plus the committed steps"
            );
            assert_eq!(log_hashes(&ledger).len(), done);
            continue;
        }
        t.commit().unwrap();
        let complete = step.complete;
        if !complete {
            assert_eq!(step.cemented.len(), LIMIT, "a step stops only at its limit");
        }
        steps.push(step.cemented);
        let cemented = assert_cemented_in_dependency_order(&ledger, &accounts);
        let done: Vec<BlockHash> = steps.concat();
        assert_eq!(cemented, 1 + done.len() as u64);
        // The confirmation sequence holds exactly the committed steps, in order.
        assert_eq!(log_hashes(&ledger), done);
        if complete {
            break;
        }
        assert!(steps.len() < 1000, "cementing does not finish");
    }
    assert!(crashed);
    assert!(steps.len() > all.len() / LIMIT, "{} steps", steps.len());
    assert_eq!(
        steps.concat(),
        all,
        "the steps cement what one call does, in order"
    );
    let t = ledger.read_txn().unwrap();
    assert!(ledger.block_confirmed(&t, &target).unwrap());
    drop(t);
    // Nothing left: another step cements nothing and is complete.
    let mut t = ledger.write_txn().unwrap();
    let again = ledger.confirm_limited(&mut t, &target, LIMIT).unwrap();
    assert!(again.complete && again.cemented.is_empty());
}
