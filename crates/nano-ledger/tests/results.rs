//! One test per process result, plus the check-order cases where two rules compete.

mod common;

use common::*;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use nano_core::keys::verify;
use nano_core::{Account, Amount, Block, BlockHash, Epoch, Link, Network, SendBlock, Signature};
use nano_ledger::test_support::{bad_work, state_block, test_key, with_work, Chain};
use nano_ledger::BlockStatus;

fn dev() -> &'static nano_core::NetworkParams {
    Network::Dev.params()
}

/// The all-zero public key decodes to a point of order 4, so a signature "by" the burn
/// account can be forged: pick R = rB, S = r and retry until the challenge k is a
/// multiple of 4 (then k·A is the identity and S·B − k·A = R). This lets the tests reach
/// the `opened_burn_account` rule, which comes after the signature check.
fn forge_burn_signature(hash: &BlockHash) -> Signature {
    for r in 1u64.. {
        let s = Scalar::from(r);
        let big_r = EdwardsPoint::mul_base(&s).compress();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        let sig = Signature(sig);
        if verify(&Account::ZERO, &hash.0, &sig) {
            return sig;
        }
    }
    unreachable!()
}

#[test]
fn progress() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1);
    assert_eq!(
        process(&ledger, &send).map(|_| BlockStatus::Progress),
        Ok(BlockStatus::Progress)
    );
    check(&ledger);
}

#[test]
fn bad_signature() {
    let (_d, ledger) = new_ledger();
    let g = Chain::dev_genesis();
    // State block signed by someone other than the account.
    let b = state_block(
        &test_key(9),
        g.account,
        g.head,
        g.account,
        Amount(g.balance.0 - 1),
        test_key(1).public().into(),
        dev().work.epoch_1,
    );
    rejected(&ledger, &b, BlockStatus::BadSignature);
    // Legacy send signed by the wrong key (the signer is the chain's owner).
    let mut lg = Chain::dev_genesis();
    lg.key = test_key(9);
    rejected(
        &ledger,
        &lg.legacy_send(&test_key(1).public(), 1),
        BlockStatus::BadSignature,
    );
    // A tampered signature.
    let mut g2 = Chain::dev_genesis();
    let mut s = g2.send(&test_key(1).public(), 1);
    let mut sig = s.signature();
    sig.0[5] ^= 1;
    s.set_signature(sig);
    rejected(&ledger, &s, BlockStatus::BadSignature);
}

#[test]
fn old() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1);
    ok(&ledger, &send);
    rejected(&ledger, &send, BlockStatus::Old);
    rejected(&ledger, &dev().genesis, BlockStatus::Old);
}

#[test]
fn negative_spend() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    ok(&ledger, &g.legacy_send(&test_key(1).public(), 100));
    // A legacy send whose balance is above the current one.
    let mut b = Block::Send(SendBlock {
        previous: g.head,
        destination: test_key(1).public(),
        balance: Amount(g.balance.0 + 1),
        signature: Signature::ZERO,
        work: 0,
    });
    b.sign(&g.key);
    let b = with_work(b, dev().work.epoch_1);
    rejected(&ledger, &b, BlockStatus::NegativeSpend);
    // insufficient_work is checked before negative_spend for legacy sends.
    let mut bw = b.clone();
    bw.set_work(bad_work(&bw.root(), dev().work.epoch_1));
    rejected(&ledger, &bw, BlockStatus::InsufficientWork);
}

#[test]
fn fork() {
    let (_d, ledger) = new_ledger();
    let g = Chain::dev_genesis();
    let mut g1 = g.clone();
    let mut g2 = g.clone();
    ok(&ledger, &g1.send(&test_key(1).public(), 1));
    rejected(
        &ledger,
        &g2.send(&test_key(2).public(), 1),
        BlockStatus::Fork,
    );
    // Legacy fork too.
    let mut g3 = g.clone();
    rejected(
        &ledger,
        &g3.legacy_send(&test_key(2).public(), 1),
        BlockStatus::Fork,
    );
    // A second open (previous = 0) of an opened account.
    let mut a = Chain::unopened(test_key(1));
    let s1 = g1.send(&a.account, 10);
    ok(&ledger, &s1);
    ok(&ledger, &a.receive(&s1.hash(), 10, Epoch::Epoch0));
    let mut a2 = Chain::unopened(test_key(1));
    a2.representative = test_key(7).public();
    rejected(
        &ledger,
        &a2.receive(&s1.hash(), 10, Epoch::Epoch0),
        BlockStatus::Fork,
    );
    // Legacy open of an opened account.
    let mut a3 = Chain::unopened(test_key(1));
    rejected(
        &ledger,
        &a3.legacy_open(&s1.hash(), 10, &a3.account.clone()),
        BlockStatus::Fork,
    );
}

#[test]
fn unreceivable() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    // Legacy part first: genesis is a legacy chain until its first state block.
    let mut la = Chain::unopened(test_key(3));
    let mut lb = Chain::unopened(test_key(4));
    let s3 = g.legacy_send(&la.account, 7);
    ok(&ledger, &s3);
    ok(
        &ledger,
        &la.legacy_open(&s3.hash(), 7, &test_key(3).public()),
    );
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    // Receiving the same send again.
    let mut again = a.clone();
    again.representative = test_key(8).public();
    rejected(
        &ledger,
        &again.receive(&s.hash(), 10, Epoch::Epoch0),
        BlockStatus::Unreceivable,
    );
    // Receiving a send addressed to someone else.
    let s2 = g.send(&test_key(2).public(), 10);
    ok(&ledger, &s2);
    let mut a2 = a.clone();
    rejected(
        &ledger,
        &a2.receive(&s2.hash(), 10, Epoch::Epoch0),
        BlockStatus::Unreceivable,
    );
    // A legacy receive of an epoch_1 send is refused; so is a legacy open of one.
    ok(
        &ledger,
        &g.epoch_block(Epoch::Epoch1, &Chain::dev_genesis().key),
    );
    let s4 = g.send(&la.account, 3);
    ok(&ledger, &s4);
    rejected(
        &ledger,
        &la.clone().legacy_receive(&s4.hash(), 3),
        BlockStatus::Unreceivable,
    );
    let s5 = g.send(&lb.account, 3);
    ok(&ledger, &s5);
    rejected(
        &ledger,
        &lb.legacy_open(&s5.hash(), 3, &test_key(4).public()),
        BlockStatus::Unreceivable,
    );
    // A state receive of the same epoch_1 send works and upgrades the account.
    let p = ok(&ledger, &la.receive(&s4.hash(), 3, Epoch::Epoch1));
    assert_eq!(p.sideband.details.epoch, Epoch::Epoch1);
    check(&ledger);
}

#[test]
fn gap_previous() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    g.head = BlockHash([7; 32]);
    rejected(
        &ledger,
        &g.clone().send(&test_key(1).public(), 1),
        BlockStatus::GapPrevious,
    );
    rejected(
        &ledger,
        &g.clone().legacy_send(&test_key(1).public(), 1),
        BlockStatus::GapPrevious,
    );
    rejected(
        &ledger,
        &g.clone().legacy_change(&test_key(1).public()),
        BlockStatus::GapPrevious,
    );
    rejected(
        &ledger,
        &g.clone().legacy_receive(&BlockHash([1; 32]), 0),
        BlockStatus::GapPrevious,
    );
    // A first block of an unopened account that has a previous.
    let mut a = Chain::unopened(test_key(1));
    a.head = BlockHash([8; 32]);
    a.height = 1;
    rejected(
        &ledger,
        &a.receive(&dev().genesis_hash, 1, Epoch::Epoch0),
        BlockStatus::GapPrevious,
    );
    // An epoch block with unknown previous, validly signed: gap_previous...
    let mut e = Chain::dev_genesis();
    e.head = BlockHash([9; 32]);
    rejected(
        &ledger,
        &e.clone()
            .epoch_block(Epoch::Epoch1, &Chain::dev_genesis().key),
        BlockStatus::GapPrevious,
    );
    // ...but signed by neither account nor epoch signer: bad_signature.
    let mut f = Chain::unopened(test_key(5));
    f.head = BlockHash([9; 32]);
    f.height = 1;
    rejected(
        &ledger,
        &f.epoch_block(Epoch::Epoch1, &test_key(6)),
        BlockStatus::BadSignature,
    );
}

#[test]
fn gap_source() {
    let (_d, ledger) = new_ledger();
    let mut a = Chain::unopened(test_key(1));
    rejected(
        &ledger,
        &a.clone().receive(&BlockHash([3; 32]), 1, Epoch::Epoch0),
        BlockStatus::GapSource,
    );
    // First state block with a zero link.
    let z = state_block(
        &a.key,
        a.account,
        BlockHash::ZERO,
        a.account,
        Amount(0),
        Link::ZERO,
        dev().work.epoch_1,
    );
    rejected(&ledger, &z, BlockStatus::GapSource);
    rejected(
        &ledger,
        &a.legacy_open(&BlockHash([3; 32]), 1, &test_key(1).public()),
        BlockStatus::GapSource,
    );
    let mut g = Chain::dev_genesis();
    rejected(
        &ledger,
        &g.legacy_receive(&BlockHash([3; 32]), 0),
        BlockStatus::GapSource,
    );
}

#[test]
fn gap_epoch_open_pending() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut a = Chain::unopened(test_key(1));
    rejected(
        &ledger,
        &a.clone().epoch_block(Epoch::Epoch1, &gk),
        BlockStatus::GapEpochOpenPending,
    );
    // With a receivable entry it is accepted (an epoch open).
    let mut g = Chain::dev_genesis();
    ok(&ledger, &g.send(&a.account, 5));
    let p = ok(&ledger, &a.epoch_block(Epoch::Epoch1, &gk));
    assert_eq!(p.subtype, nano_ledger::BlockSubtype::Epoch);
    check(&ledger);
}

#[test]
fn opened_burn_account() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    // A state send with a zero link pays the burn account.
    let burn = g.send(&Account::ZERO, 100);
    ok(&ledger, &burn);
    let mut legacy_burn = g.legacy_send(&Account::ZERO, 50);
    legacy_burn = legacy_burn.clone();
    // The legacy send cannot follow a state block.
    rejected(&ledger, &legacy_burn, BlockStatus::BlockPosition);
    // State open of the burn account, with a signature that verifies for the zero key.
    let mut open = Block::State(nano_core::StateBlock {
        account: Account::ZERO,
        previous: BlockHash::ZERO,
        representative: Account::ZERO,
        balance: Amount(100),
        link: burn.hash().into(),
        signature: Signature::ZERO,
        work: 0,
    });
    open.set_signature(forge_burn_signature(&open.hash()));
    let open = with_work(open, dev().work.epoch_2_receive);
    rejected(&ledger, &open, BlockStatus::OpenedBurnAccount);
    // Legacy open of the burn account.
    let mut lopen = Block::Open(nano_core::OpenBlock {
        source: burn.hash(),
        representative: Account::ZERO,
        account: Account::ZERO,
        signature: Signature::ZERO,
        work: 0,
    });
    lopen.set_signature(forge_burn_signature(&lopen.hash()));
    let lopen = with_work(lopen, dev().work.epoch_1);
    rejected(&ledger, &lopen, BlockStatus::OpenedBurnAccount);
    // Without the forged signature the signature rule fires first.
    let mut unsigned = open.clone();
    unsigned.set_signature(Signature::ZERO);
    rejected(&ledger, &unsigned, BlockStatus::BadSignature);
    // An epoch block for the burn account.
    let mut e = Chain::unopened(test_key(1));
    e.account = Account::ZERO;
    rejected(
        &ledger,
        &e.epoch_block(Epoch::Epoch1, &Chain::dev_genesis().key),
        BlockStatus::OpenedBurnAccount,
    );
    // Burned funds stay receivable forever and count for nobody.
    let r = check(&ledger);
    assert_eq!(r.total_receivable, Amount(100));
    assert_eq!(ledger.weight(&g.account), Amount(u128::MAX - 100));
}

#[test]
fn balance_mismatch() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    // Claims more than was sent.
    rejected(
        &ledger,
        &a.clone().receive(&s.hash(), 11, Epoch::Epoch0),
        BlockStatus::BalanceMismatch,
    );
    ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    // Zero link with a raised balance.
    let b = state_block(
        &a.key,
        a.account,
        a.head,
        a.account,
        Amount(20),
        Link::ZERO,
        dev().work.epoch_1,
    );
    rejected(&ledger, &b, BlockStatus::BalanceMismatch);
}

#[test]
fn representative_mismatch() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let s = g.send(&a.account, 10);
    ok(&ledger, &s);
    // Epoch open must have a zero representative.
    let mut e = a.clone();
    e.representative = test_key(3).public();
    rejected(
        &ledger,
        &e.epoch_block(Epoch::Epoch1, &gk),
        BlockStatus::RepresentativeMismatch,
    );
    ok(&ledger, &a.receive(&s.hash(), 10, Epoch::Epoch0));
    // An epoch block may not change the representative.
    let mut e2 = a.clone();
    e2.representative = test_key(3).public();
    rejected(
        &ledger,
        &e2.epoch_block(Epoch::Epoch1, &gk),
        BlockStatus::RepresentativeMismatch,
    );
}

#[test]
fn block_position() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    ok(&ledger, &g.send(&test_key(1).public(), 1));
    // Legacy blocks after a state block.
    rejected(
        &ledger,
        &g.clone().legacy_send(&test_key(1).public(), 1),
        BlockStatus::BlockPosition,
    );
    rejected(
        &ledger,
        &g.clone().legacy_change(&test_key(1).public()),
        BlockStatus::BlockPosition,
    );
    rejected(
        &ledger,
        &g.clone().legacy_receive(&BlockHash([1; 32]), 0),
        BlockStatus::BlockPosition,
    );
    // Epoch 2 straight after epoch 0.
    rejected(
        &ledger,
        &g.clone().epoch_block(Epoch::Epoch2, &gk),
        BlockStatus::BlockPosition,
    );
    ok(&ledger, &g.epoch_block(Epoch::Epoch1, &gk));
    // Epoch 1 twice.
    rejected(
        &ledger,
        &g.clone().epoch_block(Epoch::Epoch1, &gk),
        BlockStatus::BlockPosition,
    );
}

#[test]
fn insufficient_work() {
    let (_d, ledger) = new_ledger();
    let gk = Chain::dev_genesis().key;
    let t = dev().work;
    let mut g = Chain::dev_genesis();
    let mut s = g.clone().send(&test_key(1).public(), 1);
    s.set_work(bad_work(&s.root(), t.epoch_1));
    rejected(&ledger, &s, BlockStatus::InsufficientWork);
    // At epoch 2 a send needs the epoch_2 threshold, a receive only epoch_2_receive.
    ok(&ledger, &g.epoch_block(Epoch::Epoch1, &gk));
    ok(&ledger, &g.epoch_block(Epoch::Epoch2, &gk));
    let mut s2 = g.clone().send(&test_key(1).public(), 1);
    let weak = (0u64..)
        .find(|n| {
            let v = nano_core::work::work_value(&s2.root(), *n);
            v >= t.epoch_1 && v < t.epoch_2
        })
        .unwrap();
    s2.set_work(weak);
    rejected(&ledger, &s2, BlockStatus::InsufficientWork);
    let s3 = g.send(&test_key(1).public(), 1);
    ok(&ledger, &s3);
    // An epoch_0 account receiving an epoch_2 send is evaluated at epoch 2 (receive).
    let mut a = Chain::unopened(test_key(1));
    let mut r = a.clone().receive(&s3.hash(), 1, Epoch::Epoch2);
    let weak_r = (0u64..)
        .find(|n| nano_core::work::work_value(&r.root(), *n) < t.epoch_2_receive)
        .unwrap();
    r.set_work(weak_r);
    rejected(&ledger, &r, BlockStatus::InsufficientWork);
    let p = ok(&ledger, &a.receive(&s3.hash(), 1, Epoch::Epoch2));
    assert_eq!(p.sideband.details.epoch, Epoch::Epoch2);
    assert_eq!(p.sideband.source_epoch, Epoch::Epoch2);
    check(&ledger);
}

#[test]
fn preverified_skips_only_the_signature() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut s = g.send(&test_key(1).public(), 1);
    s.set_signature(Signature::ZERO);
    let mut txn = ledger.write_txn().unwrap();
    // Work is still checked.
    let mut weak = s.clone();
    weak.set_work(bad_work(&weak.root(), dev().work.epoch_1));
    assert_eq!(
        ledger
            .process_preverified(&mut txn, &weak)
            .unwrap_err()
            .status(),
        Some(BlockStatus::InsufficientWork)
    );
    assert!(ledger.process_preverified(&mut txn, &s).is_ok());
    txn.commit().unwrap();
    check(&ledger);
}

#[test]
fn status_names_match_reference() {
    let names: Vec<_> = BlockStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "progress",
            "bad_signature",
            "old",
            "negative_spend",
            "fork",
            "unreceivable",
            "gap_previous",
            "gap_source",
            "gap_epoch_open_pending",
            "opened_burn_account",
            "balance_mismatch",
            "representative_mismatch",
            "block_position",
            "insufficient_work"
        ]
    );
}
