//! Rollback restores the exact prior state; cementing follows dependencies.

mod common;

use common::*;
use nano_core::{Amount, Epoch};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::LedgerError;

/// Processes every block, snapshotting before each; then rolls back the first block and
/// expects the very first snapshot back, with every block removed.
#[test]
fn rollback_restores_exact_prior_state() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    // Legacy history before the state blocks.
    let mut l = Chain::unopened(test_key(9));
    let ls = g.legacy_send(&l.account, 40);
    ok(&ledger, &ls);
    ok(
        &ledger,
        &l.legacy_open(&ls.hash(), 40, &test_key(8).public()),
    );
    let before = snapshot(&ledger);

    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let mut c = Chain::unopened(test_key(3));
    let s1 = g.send(&a.account, 1000);
    let blocks = vec![
        s1.clone(),
        a.receive(&s1.hash(), 1000, Epoch::Epoch0),
        a.change(&test_key(7).public()),
        a.epoch_block(Epoch::Epoch1, &gk),
    ];
    let mut all = blocks.clone();
    for blk in &blocks {
        ok(&ledger, blk);
    }
    let s2 = a.send(&b.account, 300);
    ok(&ledger, &s2);
    let bo = b.receive(&s2.hash(), 300, Epoch::Epoch1);
    ok(&ledger, &bo);
    let s3 = b.send(&c.account, 100);
    ok(&ledger, &s3);
    let s4 = b.send(&l.account, 50);
    ok(&ledger, &s4);
    ok(&ledger, &c.receive(&s3.hash(), 100, Epoch::Epoch1));
    let lr = l.receive(&s4.hash(), 50, Epoch::Epoch1);
    ok(&ledger, &lr);
    // A send that nobody received yet.
    let s5 = a.send(&test_key(4).public(), 1);
    ok(&ledger, &s5);
    all.extend([s2, bo, s3, s4, lr, s5]);
    let mid = check(&ledger);
    // genesis, the legacy pair, `all` and c's open.
    assert_eq!(mid.blocks, 3 + all.len() as u64 + 1);

    let mut txn = ledger.write_txn().unwrap();
    let removed = ledger.rollback(&mut txn, &s1.hash()).unwrap();
    txn.commit().unwrap();
    // Every block from s1 on was removed, plus c's open; s1 last (dependents first).
    assert_eq!(removed.len(), all.len() + 1);
    assert_eq!(removed.last().unwrap().hash(), s1.hash());
    for blk in &all {
        assert!(removed.iter().any(|r| r.hash() == blk.hash()));
    }
    assert_eq!(snapshot(&ledger), before);
    check(&ledger);
}

#[test]
fn rollback_of_each_kind_restores_state() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut l = Chain::unopened(test_key(2));
    let mut steps = Vec::new();
    let ls = g.legacy_send(&l.account, 10);
    steps.push(ls.clone());
    steps.push(l.legacy_open(&ls.hash(), 10, &test_key(5).public()));
    let ls2 = g.legacy_send(&l.account, 5);
    steps.push(ls2.clone());
    steps.push(l.legacy_receive(&ls2.hash(), 5));
    steps.push(l.legacy_change(&test_key(6).public()));
    let s = g.send(&a.account, 100);
    steps.push(s.clone());
    steps.push(a.epoch_block(Epoch::Epoch1, &gk)); // epoch open
    a.representative = test_key(5).public();
    steps.push(a.receive(&s.hash(), 100, Epoch::Epoch0));
    steps.push(a.change(&test_key(6).public()));
    steps.push(a.send(&l.account, 20));
    steps.push(a.epoch_block(Epoch::Epoch2, &gk));
    let last = steps.last().unwrap().hash();
    let _ = last;
    // Process one block at a time; roll each back and reprocess: state must round trip.
    for blk in &steps {
        let before = snapshot(&ledger);
        ok(&ledger, blk);
        let mut txn = ledger.write_txn().unwrap();
        let removed = ledger.rollback(&mut txn, &blk.hash()).unwrap();
        txn.commit().unwrap();
        assert_eq!(removed, vec![blk.clone()]);
        assert_eq!(snapshot(&ledger), before, "rollback of {blk:?}");
        ok(&ledger, blk);
        check(&ledger);
    }
}

#[test]
fn rollback_refuses_cemented_blocks_and_unknown_blocks() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    let o = a.receive(&s.hash(), 10, Epoch::Epoch0);
    ok(&ledger, &o);
    let mut txn = ledger.write_txn().unwrap();
    ledger.confirm(&mut txn, &s.hash()).unwrap();
    txn.commit().unwrap();
    let mut txn = ledger.write_txn().unwrap();
    assert!(matches!(
        ledger.rollback(&mut txn, &s.hash()),
        Err(LedgerError::Cemented(_))
    ));
    drop(txn);
    let mut txn = ledger.write_txn().unwrap();
    assert!(matches!(
        ledger.rollback(&mut txn, &nano_core::BlockHash([1; 32])),
        Err(LedgerError::BlockNotFound(_))
    ));
    // The receive is not cemented and can go.
    assert_eq!(ledger.rollback(&mut txn, &o.hash()).unwrap().len(), 1);
    txn.commit().unwrap();
    check(&ledger);
}

#[test]
fn cementing_follows_receive_sources_first() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let g1 = g.send(&a.account, 100);
    let a1 = a.receive(&g1.hash(), 100, Epoch::Epoch0);
    let a2 = a.send(&b.account, 40);
    let g2 = g.send(&b.account, 1);
    let b1 = b.receive(&a2.hash(), 40, Epoch::Epoch0);
    let b2 = b.receive(&g2.hash(), 1, Epoch::Epoch0);
    let b3 = b.change(&a.account);
    for blk in [&g1, &a1, &a2, &g2, &b1, &b2, &b3] {
        ok(&ledger, blk);
    }
    let mut txn = ledger.write_txn().unwrap();
    let cemented = ledger.confirm(&mut txn, &b2.hash()).unwrap();
    txn.commit().unwrap();
    // b1 needs a2 (needs a1, needs g1); b2 needs g2 (after g1 in genesis' chain).
    let expect = vec![
        g1.hash(),
        a1.hash(),
        a2.hash(),
        b1.hash(),
        g2.hash(),
        b2.hash(),
    ];
    assert_eq!(cemented, expect);
    assert_eq!(ledger.cemented_count(), 1 + 6);
    let txn = ledger.read_txn().unwrap();
    assert!(ledger.block_confirmed(&txn, &b2.hash()).unwrap());
    assert!(!ledger.block_confirmed(&txn, &b3.hash()).unwrap());
    let info = ledger.block_info(&txn, &a2.hash()).unwrap().unwrap();
    assert!(info.confirmed);
    assert_eq!(
        ledger
            .store()
            .confirmation_height(&txn, &b.account)
            .unwrap()
            .frontier,
        b2.hash()
    );
    drop(txn);
    // Confirming again does nothing; the next block cements alone.
    let mut txn = ledger.write_txn().unwrap();
    assert!(ledger.confirm(&mut txn, &b1.hash()).unwrap().is_empty());
    assert_eq!(
        ledger.confirm(&mut txn, &b3.hash()).unwrap(),
        vec![b3.hash()]
    );
    txn.commit().unwrap();
    assert_eq!(ledger.cemented_count(), 8);
    let r = check(&ledger);
    assert_eq!(r.cemented, 8);
}

#[test]
fn aborted_batch_leaves_no_trace() {
    let (_d, ledger) = new_ledger();
    let before = snapshot(&ledger);
    let mut g = Chain::dev_genesis();
    let mut txn = ledger.write_txn().unwrap();
    for i in 0..20 {
        ledger
            .process(&mut txn, &g.send(&test_key(i).public(), 1))
            .unwrap();
    }
    ledger.confirm(&mut txn, &g.head).unwrap();
    drop(txn);
    assert_eq!(snapshot(&ledger), before);
    assert_eq!(ledger.weight(&g.account), Amount::MAX);
}
