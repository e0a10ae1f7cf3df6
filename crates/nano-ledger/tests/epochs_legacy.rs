//! Epoch blocks and legacy blocks, and chains mixing both kinds.

mod common;

use common::*;
use nano_core::{Amount, Epoch, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{BlockStatus, BlockSubtype};

#[test]
fn only_epoch_signers_may_sign_epoch_blocks() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    // The account's own key is not enough.
    let own = a.key.clone();
    rejected(
        &ledger,
        &a.clone().epoch_block(Epoch::Epoch1, &own),
        BlockStatus::BadSignature,
    );
    let p = ok(
        &ledger,
        &a.epoch_block(Epoch::Epoch1, &Chain::dev_genesis().key),
    );
    assert_eq!(p.subtype, BlockSubtype::Epoch);
    assert_eq!(p.amount, Amount::ZERO);
    assert!(p.sideband.details.is_epoch);
    check(&ledger);
}

#[test]
fn epoch_blocks_keep_balance_and_weight_and_upgrade_sequentially() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    let weight_before = ledger.weight(&a.account);
    ok(&ledger, &a.epoch_block(Epoch::Epoch1, &gk));
    ok(&ledger, &a.epoch_block(Epoch::Epoch2, &gk));
    assert_eq!(ledger.weight(&a.account), weight_before);
    let txn = ledger.read_txn().unwrap();
    let info = ledger.account_info(&txn, &a.account).unwrap().unwrap();
    assert_eq!(info.epoch, Epoch::Epoch2);
    assert_eq!(info.balance, Amount(10));
    assert_eq!(info.block_count, 3);
    drop(txn);
    // Nothing after epoch 2.
    let link2 = Network::Dev.params().epoch_2_link;
    let again = nano_ledger::test_support::state_block(
        &gk,
        a.account,
        a.head,
        a.representative,
        a.balance,
        link2,
        Network::Dev.params().work.epoch_2_receive,
    );
    rejected(&ledger, &again, BlockStatus::BlockPosition);
    // Sends from an epoch-2 account carry epoch 2 into the receivable.
    let mut b = Chain::unopened(test_key(2));
    let s2 = a.send(&b.account, 4);
    ok(&ledger, &s2);
    let txn = ledger.read_txn().unwrap();
    let r = ledger
        .receivable(&txn, &b.account, Amount::ZERO, 10)
        .unwrap();
    assert_eq!(r[0].1.epoch, Epoch::Epoch2);
    drop(txn);
    let p = ok(&ledger, &b.receive(&s2.hash(), 4, Epoch::Epoch2));
    assert_eq!(p.sideband.source_epoch, Epoch::Epoch2);
    check(&ledger);
}

#[test]
fn epoch_link_with_lower_balance_is_a_send() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let link_account = Network::Dev.params().epoch_1_link.as_account();
    let p = ok(&ledger, &g.send(&link_account, 5));
    assert_eq!(p.subtype, BlockSubtype::Send);
    let txn = ledger.read_txn().unwrap();
    assert_eq!(
        ledger
            .receivable(&txn, &link_account, Amount::ZERO, 5)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn epoch_open_then_receive() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    // An unopened account may open directly at epoch 2.
    let p = ok(&ledger, &a.epoch_block(Epoch::Epoch2, &gk));
    assert_eq!(p.sideband.height, 1);
    let txn = ledger.read_txn().unwrap();
    let info = ledger.account_info(&txn, &a.account).unwrap().unwrap();
    assert_eq!(info.epoch, Epoch::Epoch2);
    assert!(info.representative.is_zero());
    assert_eq!(info.balance, Amount::ZERO);
    assert_eq!(info.open_block, p.hash);
    drop(txn);
    assert_eq!(
        ledger.account_count(&ledger.read_txn().unwrap()).unwrap(),
        2
    );
    // The account then receives, picking a representative.
    a.representative = a.account;
    let r = ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    assert_eq!(r.subtype, BlockSubtype::Receive);
    assert_eq!(r.sideband.details.epoch, Epoch::Epoch2);
    assert_eq!(ledger.weight(&a.account), Amount(10));
    // Legacy blocks can never follow.
    rejected(
        &ledger,
        &a.clone().legacy_change(&a.account.clone()),
        BlockStatus::BlockPosition,
    );
    check(&ledger);
}

#[test]
fn legacy_and_state_blocks_in_one_chain() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let rep = test_key(3).public();
    let s1 = g.legacy_send(&a.account, 100);
    assert_eq!(ok(&ledger, &s1).subtype, BlockSubtype::Send);
    let o = ok(&ledger, &a.legacy_open(&s1.hash(), 100, &rep));
    assert_eq!(o.subtype, BlockSubtype::Open);
    assert_eq!(ledger.weight(&rep), Amount(100));
    let s2 = g.legacy_send(&a.account, 50);
    ok(&ledger, &s2);
    let r = ok(&ledger, &a.legacy_receive(&s2.hash(), 50));
    assert_eq!(r.subtype, BlockSubtype::Receive);
    assert_eq!(r.amount, Amount(50));
    assert_eq!(ledger.weight(&rep), Amount(150));
    let c = ok(&ledger, &a.legacy_change(&b.account));
    assert_eq!(c.subtype, BlockSubtype::Change);
    assert_eq!(ledger.weight(&rep), Amount::ZERO);
    assert_eq!(ledger.weight(&b.account), Amount(150));
    // A state block may follow legacy blocks...
    let s3 = a.send(&b.account, 30);
    ok(&ledger, &s3);
    ok(&ledger, &b.receive(&s3.hash(), 30, Epoch::Epoch0));
    // ...but no legacy block may follow a state block.
    rejected(
        &ledger,
        &a.clone().legacy_send(&b.account, 1),
        BlockStatus::BlockPosition,
    );
    rejected(
        &ledger,
        &a.clone().legacy_change(&rep),
        BlockStatus::BlockPosition,
    );
    // A legacy receive of a state send (epoch 0) is valid in a legacy chain.
    let mut c = Chain::unopened(test_key(4));
    let s4 = g.legacy_send(&c.account, 5);
    ok(&ledger, &s4);
    ok(&ledger, &c.legacy_open(&s4.hash(), 5, &rep));
    let s5 = a.send(&c.account, 7);
    ok(&ledger, &s5);
    ok(&ledger, &c.legacy_receive(&s5.hash(), 7));
    let txn = ledger.read_txn().unwrap();
    let hist = ledger.history(&txn, &a.account, None, 10, false).unwrap();
    let kinds: Vec<_> = hist.iter().map(|h| h.subtype.as_str()).collect();
    assert_eq!(kinds, ["send", "send", "change", "receive", "open"]);
    let asc = ledger.history(&txn, &a.account, None, 2, true).unwrap();
    assert_eq!(asc[0].hash, o.hash);
    assert_eq!(asc[1].hash, r.hash);
    let paged = ledger
        .history(&txn, &a.account, Some(hist[1].block.previous()), 2, false)
        .unwrap();
    assert_eq!(paged[0].hash, hist[2].hash);
    drop(txn);
    check(&ledger);
}
