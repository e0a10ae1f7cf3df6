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

#[test]
fn a_ledger_of_another_network_is_refused() {
    let (dir, ledger) = new_ledger();
    drop(ledger);
    let err = nano_ledger::Ledger::open_with(
        &dir.path().join("data.ldb"),
        Network::Live,
        &nano_ledger::StoreOptions {
            map_size: 1 << 30,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err.cause(),
        nano_ledger::StoreError::WrongNetwork { .. }
    ));
    let msg = err.to_string();
    assert!(msg.contains("dev") && msg.contains("live"), "{msg}");
}

#[test]
fn queries_for_rpc() {
    let (_dir, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let s1 = g.send(&a.account, 100);
    let s2 = g.send(&b.account, 50);
    let s3 = g.send(&b.account, 5);
    for blk in [&s1, &s2, &s3] {
        ok(&ledger, blk);
    }
    ok(&ledger, &a.receive(&s1.hash(), 100, Epoch::Epoch0));
    b.representative = a.account;
    ok(&ledger, &b.receive(&s2.hash(), 50, Epoch::Epoch0));
    let txn = ledger.read_txn().unwrap();
    // Delegators of a: a itself (open with own rep) and b.
    let mut d = ledger.delegators(&txn, &a.account).unwrap();
    d.sort();
    let mut expect = vec![(a.account, Amount(100)), (b.account, Amount(50))];
    expect.sort();
    assert_eq!(d, expect);
    assert_eq!(ledger.weight(&a.account), Amount(150));
    assert_eq!(
        ledger.receivable_total(&txn, &b.account).unwrap(),
        Amount(5)
    );
    assert_eq!(
        ledger.block_account(&txn, &s2.hash()).unwrap(),
        Some(g.account)
    );
    assert_eq!(
        ledger.balance_at(&txn, &s1.hash()).unwrap(),
        Some(Amount(u128::MAX - 100))
    );
    assert_eq!(ledger.amount(&txn, &s3.hash()).unwrap(), Some(Amount(5)));
    assert_eq!(ledger.block_height(&txn, &s3.hash()).unwrap(), Some(4));
    assert_eq!(ledger.successor(&txn, &s3.hash()).unwrap(), None);
    assert_eq!(ledger.latest(&txn, &g.account).unwrap(), Some(s3.hash()));
    let f = ledger
        .frontiers(&txn, &nano_core::Account::ZERO, 10)
        .unwrap();
    assert_eq!(f.len(), 3);
    assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
    let from_b = ledger.frontiers(&txn, &b.account, 1).unwrap();
    assert_eq!(from_b, vec![(b.account, b.head)]);
    assert_eq!(ledger.account_count(&txn).unwrap(), 3);
    assert_eq!(ledger.block_count(&txn).unwrap(), 6);
    assert_eq!(
        ledger.account_balance(&txn, &b.account).unwrap(),
        Amount(50)
    );
    assert!(ledger
        .block_info(&txn, &nano_core::BlockHash([1; 32]))
        .unwrap()
        .is_none());
}

#[test]
fn ledger_is_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<nano_ledger::Ledger>();
}
