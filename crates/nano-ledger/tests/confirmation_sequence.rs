//! Confirmation sequence numbers: one per cemented block, +1 each, written with the
//! confirmation height (so an aborted transaction leaves neither), kept across reopen,
//! trimmed to the configured history, and appended again for a re-notification.

mod common;

use common::*;
use nano_core::Epoch;
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::{ConfirmationOrigin, LedgerError};

#[test]
fn sequences_follow_cementing_order_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(&dir);
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let g1 = g.send(&a.account, 100);
    let a1 = a.receive(&g1.hash(), 100, Epoch::Epoch0);
    let g2 = g.send(&a.account, 5);
    let a2 = a.receive(&g2.hash(), 5, Epoch::Epoch0);
    for b in [&g1, &a1, &g2, &a2] {
        ok(&ledger, b);
    }
    let store = ledger.store();
    assert_eq!(
        store
            .confirmation_head(&ledger.read_txn().unwrap())
            .unwrap(),
        None
    );

    let mut txn = ledger.write_txn().unwrap();
    let first = ledger.confirm(&mut txn, &a1.hash()).unwrap();
    assert_eq!(first, vec![g1.hash(), a1.hash()]);
    assert_eq!(store.confirmation_head(&txn).unwrap(), Some(2));
    // Aborted: neither the height nor the sequence is kept.
    let aborted = ledger.confirm(&mut txn, &a2.hash()).unwrap();
    assert_eq!(aborted.len(), 2);
    drop(txn);
    let mut txn = ledger.write_txn().unwrap();
    ledger.confirm(&mut txn, &a1.hash()).unwrap();
    txn.commit().unwrap();
    // Nothing was committed before: the first commit holds sequences 1 and 2.
    let t = ledger.read_txn().unwrap();
    assert_eq!(store.confirmation_head(&t).unwrap(), Some(2));
    drop(t);
    let mut txn = ledger.write_txn().unwrap();
    ledger.confirm(&mut txn, &a2.hash()).unwrap();
    txn.commit().unwrap();
    drop(ledger);

    let ledger = open(&dir);
    let store = ledger.store();
    let t = ledger.read_txn().unwrap();
    let rows = store.confirmations_from(&t, 1, 100).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.sequence, r.hash, r.origin))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, g1.hash(), ConfirmationOrigin::Dependency),
            (2, a1.hash(), ConfirmationOrigin::Elected),
            (3, g2.hash(), ConfirmationOrigin::Dependency),
            (4, a2.hash(), ConfirmationOrigin::Elected),
        ]
    );
    assert_eq!(
        store.confirmations_from(&t, 3, 1).unwrap()[0].hash,
        g2.hash()
    );
    drop(t);

    // Re-notification of a cemented block takes the next number; an uncemented one
    // is refused.
    let g3 = g.send(&a.account, 1);
    ok(&ledger, &g3);
    let mut txn = ledger.write_txn().unwrap();
    assert_eq!(ledger.renotify(&mut txn, &a1.hash()).unwrap(), 5);
    assert!(matches!(
        ledger.renotify(&mut txn, &g3.hash()),
        Err(LedgerError::BlockNotFound(_))
    ));
    txn.commit().unwrap();
    let t = ledger.read_txn().unwrap();
    let last = store.confirmations_from(&t, 5, 10).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].origin, ConfirmationOrigin::Renotified);
    assert_eq!(last[0].hash, a1.hash());
}

#[test]
fn history_is_trimmed_to_the_limit_without_breaking_the_sequence() {
    let (_d, ledger) = new_ledger();
    let store = ledger.store();
    store.set_confirmation_history_limit(3).unwrap();
    let mut g = Chain::dev_genesis();
    let mut sends = Vec::new();
    for i in 0..5 {
        let s = g.send(&test_key(10 + i).public(), 1);
        ok(&ledger, &s);
        sends.push(s);
    }
    for s in &sends {
        let mut txn = ledger.write_txn().unwrap();
        ledger.confirm(&mut txn, &s.hash()).unwrap();
        txn.commit().unwrap();
    }
    let t = ledger.read_txn().unwrap();
    assert_eq!(store.confirmation_head(&t).unwrap(), Some(5));
    assert_eq!(store.confirmation_oldest(&t).unwrap(), Some(3));
    let rows = store.confirmations_from(&t, 0, 10).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.hash).collect::<Vec<_>>(),
        sends[2..].iter().map(|s| s.hash()).collect::<Vec<_>>()
    );
    drop(t);
    // Lowering the limit trims at once; the head stays.
    store.set_confirmation_history_limit(1).unwrap();
    let t = ledger.read_txn().unwrap();
    assert_eq!(store.confirmation_oldest(&t).unwrap(), Some(5));
    assert_eq!(store.confirmation_head(&t).unwrap(), Some(5));
    drop(t);
    // Cursors are kept per consumer.
    let mut txn = ledger.write_txn().unwrap();
    txn.put_confirmation_cursor("callback", 4).unwrap();
    txn.commit().unwrap();
    let t = ledger.read_txn().unwrap();
    assert_eq!(store.confirmation_cursor(&t, "callback").unwrap(), Some(4));
    assert_eq!(store.confirmation_cursor(&t, "other").unwrap(), None);
}
