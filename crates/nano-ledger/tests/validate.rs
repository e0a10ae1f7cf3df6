//! `Ledger::validate`: a good ledger of every block kind passes; each kind of damage
//! written behind the ledger's back is reported against the right block or account, and
//! validation carries on past it.

mod common;

use common::*;
use nano_core::{Account, BlockHash, Epoch, Signature};
use nano_ledger::test_support::{bad_work, test_key, Chain};
use nano_ledger::{ConfirmationHeightInfo, Ledger, Problem, Subject, ValidationSummary};

/// Genesis sends to a and b; a opens (state), upgrades to epoch 1 and sends back; b opens
/// with a legacy open and receives legacy; an unopened account gets an epoch-2 open. The
/// genesis chain is cemented up to its second send.
fn build(ledger: &Ledger) -> (Chain, Chain, Chain, Vec<BlockHash>) {
    let gk = Chain::dev_genesis().key;
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut b = Chain::unopened(test_key(2));
    let mut c = Chain::unopened(test_key(3));
    let mut hashes = Vec::new();
    let mut go = |blk: nano_core::Block| {
        ok(ledger, &blk);
        hashes.push(blk.hash());
        blk
    };
    // Legacy blocks cannot follow a state block: genesis sends legacy first.
    let s2 = go(g.legacy_send(&b.account, 50));
    let s1 = go(g.send(&a.account, 100));
    go(a.receive(&s1.hash(), 100, Epoch::Epoch0));
    go(a.epoch_block(Epoch::Epoch1, &gk));
    let s3 = go(a.send(&g.account, 10));
    go(b.legacy_open(&s2.hash(), 50, &b.account.clone()));
    let s4 = go(g.send(&b.account, 5));
    go(b.legacy_receive(&s4.hash(), 5));
    go(g.receive(&s3.hash(), 10, Epoch::Epoch1));
    let s5 = go(g.send(&c.account, 1));
    go(c.epoch_block(Epoch::Epoch2, &gk));
    let _ = s5;
    let mut t = ledger.write_txn().unwrap();
    ledger.confirm(&mut t, &s2.hash()).unwrap();
    t.commit().unwrap();
    (g, a, b, hashes)
}

fn validate(ledger: &Ledger, threads: usize) -> (ValidationSummary, Vec<Problem>) {
    let txn = ledger.read_txn().unwrap();
    let mut problems = Vec::new();
    let sum = ledger
        .validate(&txn, threads, |p| problems.push(p.clone()))
        .unwrap();
    (sum, problems)
}

#[test]
fn a_good_ledger_has_no_problems() {
    let (_d, ledger) = new_ledger();
    let (_, _, _, hashes) = build(&ledger);
    check(&ledger);
    for threads in [1, 3] {
        let (sum, problems) = validate(&ledger, threads);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(
            sum,
            ValidationSummary {
                blocks: hashes.len() as u64 + 1,
                accounts: 4,
                confirmation_heights: 1,
                problems: 0,
            }
        );
    }
}

#[test]
fn damage_is_reported_per_block_and_account() {
    let (_d, ledger) = new_ledger();
    let (g, a, b, _) = build(&ledger);
    let t = ledger.read_txn().unwrap();
    let a_head = ledger.store().block(&t, &a.head).unwrap().unwrap();
    let b_head = ledger.store().block(&t, &b.head).unwrap().unwrap();
    let g_head = ledger.store().block(&t, &g.head).unwrap().unwrap();
    drop(t);
    let mut w = ledger.write_txn().unwrap();
    // a's head: a flipped signature byte (the hash does not cover the signature).
    let mut bad_sig = a_head.clone();
    let mut sig = bad_sig.block.signature().0;
    sig[0] ^= 1;
    bad_sig.block.set_signature(Signature(sig));
    w.put_block(&a.head, &bad_sig).unwrap();
    // b's head: work below the threshold.
    let mut bad_pow = b_head.clone();
    bad_pow
        .block
        .set_work(bad_work(&bad_pow.block.root(), u64::MAX));
    w.put_block(&b.head, &bad_pow).unwrap();
    // genesis head: a successor that does not exist.
    let mut dangling = g_head.clone();
    dangling.sideband.successor = BlockHash([9; 32]);
    w.put_block(&g.head, &dangling).unwrap();
    // b: a confirmation height above its chain.
    w.put_confirmation_height(
        &b.account,
        &ConfirmationHeightInfo {
            height: 7,
            frontier: b.head,
        },
    )
    .unwrap();
    // A confirmation height for an account that has no blocks.
    w.put_confirmation_height(
        &Account::from_bytes([4; 32]),
        &ConfirmationHeightInfo {
            height: 1,
            frontier: g.head,
        },
    )
    .unwrap();
    w.commit().unwrap();

    let (sum, problems) = validate(&ledger, 2);
    let about = |s: &Subject, needle: &str| {
        problems
            .iter()
            .any(|p| p.subject == *s && p.message.contains(needle))
    };
    assert!(
        about(&Subject::Block(a.head), "invalid signature"),
        "{problems:#?}"
    );
    assert!(
        about(&Subject::Block(b.head), "insufficient work"),
        "{problems:#?}"
    );
    assert!(
        about(&Subject::Block(g.head), "successor block"),
        "{problems:#?}"
    );
    assert!(
        about(&Subject::Account(g.account), "has successor"),
        "{problems:#?}"
    );
    assert!(
        about(&Subject::Account(b.account), "above block count"),
        "{problems:#?}"
    );
    assert!(
        about(
            &Subject::Account(Account::from_bytes([4; 32])),
            "without blocks"
        ),
        "{problems:#?}"
    );
    assert_eq!(sum.problems, problems.len() as u64);
    assert_eq!(sum.confirmation_heights, 3);
    // The line format names the subject.
    let line = problems
        .iter()
        .find(|p| p.subject == Subject::Block(a.head))
        .unwrap()
        .to_string();
    assert_eq!(
        line,
        format!("block {}: invalid signature", a.head.encode_hex())
    );
}

#[test]
fn a_missing_block_breaks_links_and_totals() {
    let (_d, ledger) = new_ledger();
    let (_, a, _, _) = build(&ledger);
    let t = ledger.read_txn().unwrap();
    let head = ledger.store().block(&t, &a.head).unwrap().unwrap();
    drop(t);
    let previous = head.block.previous();
    let mut w = ledger.write_txn().unwrap();
    w.del_block(&previous).unwrap();
    w.commit().unwrap();
    let (_, problems) = validate(&ledger, 1);
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter().any(|l| l.starts_with(&format!(
            "block {}: previous block {previous} missing",
            a.head.encode_hex()
        ))),
        "{text:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.subject == Subject::Ledger && p.message.contains("blocks table holds")),
        "{text:#?}"
    );
}

/// Signatures are checked per part together (one combined check, each alone only when
/// it fails): among hundreds of good blocks spread over threads, the two with a bad
/// signature are the only ones reported, each once, whatever the thread count.
#[test]
fn bad_signatures_among_many_are_each_reported_once() {
    let (_d, ledger) = new_ledger();
    let mut g = Chain::dev_genesis();
    let mut sends = Vec::new();
    for i in 0..300u32 {
        let blk = g.send(&test_key(100 + i).public(), 1);
        ok(&ledger, &blk);
        sends.push(blk.hash());
    }
    let mut w = ledger.write_txn().unwrap();
    for h in [sends[17], sends[250]] {
        let mut stored = ledger.store().block(&w, &h).unwrap().unwrap();
        let mut sig = stored.block.signature().0;
        sig[5] ^= 0x40;
        stored.block.set_signature(Signature(sig));
        w.put_block(&h, &stored).unwrap();
    }
    w.commit().unwrap();
    for threads in [1, 2, 4] {
        let (sum, problems) = validate(&ledger, threads);
        let mut bad: Vec<BlockHash> = problems
            .iter()
            .filter(|p| p.message == "invalid signature")
            .map(|p| match p.subject {
                Subject::Block(h) => h,
                _ => panic!("{p}"),
            })
            .collect();
        bad.sort();
        let mut want = vec![sends[17], sends[250]];
        want.sort();
        assert_eq!(bad, want, "threads {threads}: {problems:#?}");
        assert_eq!(sum.problems, 2, "threads {threads}: {problems:#?}");
        assert_eq!(sum.blocks, 301);
    }
}
