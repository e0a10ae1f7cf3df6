//! State blocks: each subtype's effects on balances, weights, receivables and sidebands.

mod common;

use common::*;
use nano_core::{Amount, Epoch, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{BlockSubtype, PendingKey};

#[test]
fn genesis_is_written_once_and_cemented() {
    let (dir, ledger) = new_ledger();
    let p = Network::Dev.params();
    let txn = ledger.read_txn().unwrap();
    let info = ledger
        .account_info(&txn, &p.genesis_account)
        .unwrap()
        .unwrap();
    assert_eq!(info.head, p.genesis_hash);
    assert_eq!(info.balance, Amount::MAX);
    assert_eq!(ledger.weight(&p.genesis_account), Amount::MAX);
    assert_eq!(ledger.block_count(&txn).unwrap(), 1);
    assert_eq!(ledger.cemented_count(), 1);
    assert!(ledger.block_confirmed(&txn, &p.genesis_hash).unwrap());
    drop(txn);
    drop(ledger);
    let ledger = open(&dir);
    let txn = ledger.read_txn().unwrap();
    assert_eq!(ledger.block_count(&txn).unwrap(), 1);
    assert_eq!(ledger.cemented_count(), 1);
    check(&ledger);
}

#[test]
fn send_receive_change_move_funds_and_weight() {
    let (_dir, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let send = g.send(&a.account, 1000);
    let p = ok(&ledger, &send);
    assert_eq!(p.subtype, BlockSubtype::Send);
    assert_eq!(p.amount, Amount(1000));
    assert_eq!(p.sideband.height, 2);
    assert_eq!(ledger.weight(&g.account), Amount(u128::MAX - 1000));
    {
        let txn = ledger.read_txn().unwrap();
        let r = ledger.receivable(&txn, &a.account, Amount(1), 10).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, send.hash());
        assert_eq!(r[0].1.amount, Amount(1000));
        assert!(ledger
            .receivable(&txn, &a.account, Amount(1001), 10)
            .unwrap()
            .is_empty());
    }
    let open = a.receive(&send.hash(), 1000, Epoch::Epoch0);
    let p = ok(&ledger, &open);
    assert_eq!(p.subtype, BlockSubtype::Open);
    assert_eq!(ledger.weight(&a.account), Amount(1000));
    let recv_send = g.send(&a.account, 5);
    ok(&ledger, &recv_send);
    let r = ok(&ledger, &a.receive(&recv_send.hash(), 5, Epoch::Epoch0));
    assert_eq!(r.subtype, BlockSubtype::Receive);
    assert_eq!(r.amount, Amount(5));
    let c = ok(&ledger, &a.change(&g.account));
    assert_eq!(c.subtype, BlockSubtype::Change);
    assert_eq!(ledger.weight(&a.account), Amount::ZERO);
    assert_eq!(ledger.weight(&g.account), Amount(u128::MAX));
    let txn = ledger.read_txn().unwrap();
    let info = ledger.account_info(&txn, &a.account).unwrap().unwrap();
    assert_eq!(info.block_count, 3);
    assert_eq!(info.balance, Amount(1005));
    assert_eq!(info.open_block, open.hash());
    assert!(ledger
        .store()
        .pending(&txn, &PendingKey::new(a.account, send.hash()))
        .unwrap()
        .is_none());
    let bi = ledger.block_info(&txn, &send.hash()).unwrap().unwrap();
    assert_eq!(bi.amount, Amount(1000));
    assert_eq!(bi.subtype, BlockSubtype::Send);
    assert!(!bi.confirmed);
    assert_eq!(
        ledger.successor(&txn, &send.hash()).unwrap(),
        Some(recv_send.hash())
    );
    drop(txn);
    let r = check(&ledger);
    assert_eq!(r.blocks, 6);
    assert_eq!(r.accounts, 2);
}
