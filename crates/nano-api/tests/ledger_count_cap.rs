//! `ledger` answers at most LEDGER_MAX_COUNT accounts: `count` -1 (which the reference
//! reads as "every account") or any count above the maximum is refused with a clear
//! error, and so is a call without `count` on a ledger holding more accounts than the
//! maximum; smaller answers are unchanged.

mod common;

use std::sync::Arc;

use common::{post, start_with};
use nano_api::actions::{ledger_too_many, LEDGER_MAX_COUNT};
use nano_core::{Amount, BlockHash, Epoch, PublicKey};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;
use serde_json::json;

fn open() -> (tempfile::TempDir, Arc<Ledger>) {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("data.ldb"), nano_core::Network::Dev).unwrap());
    (dir, ledger)
}

#[test]
fn counts_above_the_maximum_and_minus_one_are_refused() {
    let (_dir, ledger) = open();
    let mut genesis = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let send = genesis.send(&a.account, 1_000);
    let open = a.receive(&send.hash(), 1_000, Epoch::Epoch0);
    let mut txn = ledger.write_txn().unwrap();
    for b in [&send, &open] {
        ledger.process(&mut txn, b).unwrap();
    }
    txn.commit().unwrap();
    let rpc = start_with(true, Some(ledger));
    let too_many = ledger_too_many();
    for count in ["-1".to_string(), (LEDGER_MAX_COUNT + 1).to_string()] {
        let r = post(rpc.addr, json!({"action": "ledger", "count": count}));
        assert_eq!(r["error"], too_many, "count {count}: {r}");
        let r = post(
            rpc.addr,
            json!({"action": "ledger", "count": count, "sorting": "true"}),
        );
        assert_eq!(r["error"], too_many, "sorted, count {count}: {r}");
    }
    assert_eq!(
        post(rpc.addr, json!({"action": "ledger", "count": "-2"}))["error"],
        "Invalid count"
    );
    for req in [
        json!({"action": "ledger"}),
        json!({"action": "ledger", "count": LEDGER_MAX_COUNT.to_string()}),
    ] {
        let r = post(rpc.addr, req.clone());
        let accounts = r["accounts"]
            .as_object()
            .unwrap_or_else(|| panic!("{req}: {r}"));
        assert_eq!(accounts.len(), 2, "{r}");
    }
    // The sorted walk keeps the largest balances only.
    let r = post(
        rpc.addr,
        json!({"action": "ledger", "count": "1", "sorting": "true"}),
    );
    let accounts = r["accounts"].as_object().unwrap();
    assert_eq!(
        accounts.keys().collect::<Vec<_>>(),
        [&genesis.account.encode_account()],
        "{r}"
    );
    let r = post(rpc.addr, json!({"action": "ledger", "count": "1"}));
    assert_eq!(r["accounts"].as_object().unwrap().len(), 1, "{r}");
}

#[test]
fn a_ledger_call_without_count_on_a_larger_ledger_is_refused() {
    let (_dir, ledger) = open();
    // Account rows only (no blocks): the call must refuse before it builds entries.
    let mut txn = ledger.write_txn().unwrap();
    for i in 0..=LEDGER_MAX_COUNT {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i + 1).to_be_bytes());
        let info = nano_ledger::AccountInfo {
            head: BlockHash(key),
            representative: PublicKey(key),
            open_block: BlockHash(key),
            balance: Amount::raw(1),
            modified: 0,
            block_count: 1,
            epoch: Epoch::Epoch0,
        };
        txn.put_account(&PublicKey(key), &info).unwrap();
    }
    txn.commit().unwrap();
    let rpc = start_with(true, Some(ledger));
    for req in [
        json!({"action": "ledger"}),
        json!({"action": "ledger", "sorting": "true"}),
    ] {
        let r = post(rpc.addr, req.clone());
        assert_eq!(r["error"], ledger_too_many(), "{req}: {r}");
    }
}
