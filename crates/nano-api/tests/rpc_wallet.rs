//! HTTP RPC wallet actions over real wallet and ledger stores: creation from a seed with
//! the restore scan, accounts, passwords and locking, balances and receivables, work
//! cache, export, the unsafe gate of wallet_seed, and error texts.

mod common;

use std::sync::Arc;

use common::{post, start_full};
use nano_core::keys::public_from_private;
use nano_core::Epoch;
use nano_ledger::test_support::Chain;
use nano_ledger::Ledger;
use nano_wallet::{Wallets, WalletsConfig};
use serde_json::json;

const SEED0_ACCOUNT: &str = "nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7";

#[test]
fn wallet_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("ledger"), nano_core::Network::Dev).unwrap());
    let wallets = Arc::new(Wallets::open(dir.path(), WalletsConfig::dev()).unwrap());
    // Give seed-0 account 0 a receivable so the restore scan finds it.
    let seed0_index0 = nano_core::PublicKey::decode_account(SEED0_ACCOUNT).unwrap();
    let mut genesis = Chain::dev_genesis();
    let send = genesis.send(&seed0_index0, 777);
    let mut txn = ledger.write_txn().unwrap();
    ledger.process(&mut txn, &send).unwrap();
    ledger.confirm(&mut txn, &send.hash()).unwrap();
    txn.commit().unwrap();
    let rpc = start_full(true, Some(ledger.clone()), Some(wallets.clone()));
    let a = rpc.addr;

    let r = post(
        a,
        json!({"action": "wallet_create", "seed": "0".repeat(64)}),
    );
    let wid = r["wallet"].as_str().unwrap().to_string();
    assert_eq!(wid.len(), 64);
    assert_eq!(r["last_restored_account"], SEED0_ACCOUNT);
    assert_eq!(r["restored_count"], "1");
    let r = post(a, json!({"action": "account_list", "wallet": wid}));
    assert_eq!(r["accounts"], json!([SEED0_ACCOUNT]));
    let r = post(
        a,
        json!({"action": "accounts_create", "wallet": wid, "count": "2"}),
    );
    // The next two deterministic keys of seed 0, in index order.
    let seed = nano_core::RawKey::decode_hex(&"0".repeat(64)).unwrap();
    let of_index = |i: u32| public_from_private(&seed.derive(i));
    let (index1, index2) = (of_index(1), of_index(2));
    assert_eq!(
        r["accounts"],
        json!([index1.encode_account(), index2.encode_account()])
    );
    let r = post(
        a,
        json!({"action": "wallet_add", "wallet": wid, "key": "1".repeat(64)}),
    );
    let adhoc_key = nano_core::RawKey::decode_hex(&"1".repeat(64)).unwrap();
    let adhoc = public_from_private(&adhoc_key).encode_account();
    assert_eq!(r["account"], adhoc);
    let r = post(a, json!({"action": "wallet_info", "wallet": wid}));
    assert_eq!(r["accounts_count"], "4");
    assert_eq!(r["adhoc_count"], "1");
    assert_eq!(r["deterministic_count"], "3");
    assert_eq!(r["deterministic_index"], "3");
    assert_eq!(r["receivable"], "777");
    assert_eq!(r["balance"], "0");
    let r = post(
        a,
        json!({"action": "wallet_receivable", "wallet": wid, "source": "true"}),
    );
    assert_eq!(
        r["blocks"][SEED0_ACCOUNT][send.hash().encode_hex()]["amount"],
        "777"
    );
    let r = post(a, json!({"action": "wallet_balances", "wallet": wid}));
    assert_eq!(r["balances"][SEED0_ACCOUNT]["receivable"], "777");
    assert_eq!(
        post(
            a,
            json!({"action": "wallet_contains", "wallet": wid, "account": adhoc})
        )["exists"],
        "1"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "account_remove", "wallet": wid, "account": adhoc})
        )["removed"],
        "1"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "wallet_contains", "wallet": wid, "account": adhoc})
        )["exists"],
        "0"
    );

    // Work cache.
    assert_eq!(
        post(
            a,
            json!({"action": "work_set", "wallet": wid, "account": SEED0_ACCOUNT, "work": "00000000000000ab"})
        )["success"],
        ""
    );
    assert_eq!(
        post(
            a,
            json!({"action": "work_get", "wallet": wid, "account": SEED0_ACCOUNT})
        )["work"],
        "00000000000000ab"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_work_get", "wallet": wid}))["works"][SEED0_ACCOUNT],
        "00000000000000ab"
    );

    // Passwords and locking.
    assert_eq!(
        post(a, json!({"action": "password_valid", "wallet": wid}))["valid"],
        "1"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "password_change", "wallet": wid, "password": "hunter2"})
        )["changed"],
        "1"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_lock", "wallet": wid}))["locked"],
        "1"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_locked", "wallet": wid}))["locked"],
        "1"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "password_enter", "wallet": wid, "password": "wrong"})
        )["valid"],
        "0"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_locked", "wallet": wid}))["locked"],
        "1"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "password_enter", "wallet": wid, "password": "hunter2"})
        )["valid"],
        "1"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_locked", "wallet": wid}))["locked"],
        "0"
    );

    // Representative.
    let g = nano_core::Network::Dev
        .params()
        .genesis_account
        .encode_account();
    assert_eq!(
        post(
            a,
            json!({"action": "wallet_representative_set", "wallet": wid, "representative": g})
        )["set"],
        "1"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_representative", "wallet": wid}))["representative"],
        g
    );

    // wallet_seed is unsafe: HTTP on dev allows it (the reference's dev exception).
    assert_eq!(
        post(a, json!({"action": "wallet_seed", "wallet": wid}))["seed"],
        "0".repeat(64)
    );
    // wallet_export: the wallet's table, keys still encrypted. Its entries name the
    // representative just set and the three accounts left (the ad-hoc one was removed).
    let r = post(a, json!({"action": "wallet_export", "wallet": wid}));
    let export: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r["json"].as_str().unwrap()).unwrap();
    let genesis_key = nano_core::Network::Dev.params().genesis_account;
    assert_eq!(export["0004"], genesis_key.encode_hex());
    let mut accounts: Vec<&str> = export.keys().filter_map(|k| k.strip_prefix("01")).collect();
    accounts.sort_unstable();
    let mut expected = [seed0_index0, index1, index2].map(|k| k.encode_hex());
    expected.sort_unstable();
    assert_eq!(accounts, expected);
    let settings: Vec<&str> = export
        .keys()
        .map(String::as_str)
        .filter(|k| k.len() == 4)
        .collect();
    assert_eq!(
        settings,
        ["0000", "0001", "0002", "0003", "0004", "0005", "0006"]
    );

    // A wallet id, a key and a seed are read as the reference reads a 256-bit number: 1
    // to 64 hex digits of either case, leading zeros optional.
    let short_id = wid.trim_start_matches('0').to_lowercase();
    assert_eq!(
        post(a, json!({"action": "account_list", "wallet": short_id})),
        post(a, json!({"action": "account_list", "wallet": wid}))
    );
    assert_eq!(
        post(a, json!({"action": "account_list", "wallet": "1"}))["error"],
        "Wallet not found"
    );
    let one = nano_core::RawKey::decode_hex(&format!("{:0>64}", "1")).unwrap();
    assert_eq!(
        post(
            a,
            json!({"action": "wallet_add", "wallet": short_id, "key": "1"})
        )["account"],
        public_from_private(&one).encode_account()
    );
    assert_eq!(
        post(
            a,
            json!({"action": "wallet_add", "wallet": wid, "key": "1".repeat(65)})
        )["error"],
        "Bad private key"
    );
    let r = post(a, json!({"action": "wallet_create", "seed": "0"}));
    assert_eq!(r["last_restored_account"], SEED0_ACCOUNT, "{r}");
    // Streamed in hex as the reference reads it: `0x0` is the seed 0 too, `0X0` is not.
    let r0x = post(a, json!({"action": "wallet_create", "seed": "0x0"}));
    assert_eq!(r0x["last_restored_account"], SEED0_ACCOUNT, "{r0x}");
    assert_eq!(
        post(a, json!({"action": "wallet_create", "seed": "0X0"}))["error"],
        "Bad seed"
    );
    let target = r["wallet"].as_str().unwrap().to_string();
    assert_eq!(
        post(
            a,
            json!({"action": "account_move", "wallet": target, "source": "1",
                "accounts": [SEED0_ACCOUNT]})
        )["error"],
        "Wallet not found"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "account_move", "wallet": target, "source": "1".repeat(65),
                "accounts": [SEED0_ACCOUNT]})
        )["error"],
        "Bad wallet number"
    );

    // Errors.
    assert_eq!(
        post(a, json!({"action": "account_list", "wallet": "zz"}))["error"],
        "Bad wallet number"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "account_list", "wallet": "0".repeat(64)})
        )["error"],
        "Wallet not found"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "work_get", "wallet": wid, "account": g})
        )["error"],
        "Account not found in wallet"
    );
    assert_eq!(
        post(a, json!({"action": "wallet_destroy", "wallet": wid}))["destroyed"],
        "1"
    );
    assert_eq!(
        post(a, json!({"action": "account_list", "wallet": wid}))["error"],
        "Wallet not found"
    );
    let _ = Epoch::Epoch0;
}

#[test]
fn wallet_control_actions_are_gated() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = Arc::new(Wallets::open(dir.path(), WalletsConfig::dev()).unwrap());
    let rpc = start_full(false, None, Some(wallets));
    for action in [
        "wallet_create",
        "account_create",
        "wallet_seed",
        "password_change",
        "work_set",
    ] {
        assert_eq!(
            post(rpc.addr, json!({"action": action}))["error"],
            "RPC control is disabled",
            "{action}"
        );
    }
}

#[test]
fn wallet_answers_match_reference_shape() {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("ledger"), nano_core::Network::Dev).unwrap());
    let wallets = Arc::new(Wallets::open(dir.path(), WalletsConfig::dev()).unwrap());
    let seed0_index0 = nano_core::PublicKey::decode_account(SEED0_ACCOUNT).unwrap();
    let mut genesis = Chain::dev_genesis();
    let send = genesis.send(&seed0_index0, 777);
    let mut txn = ledger.write_txn().unwrap();
    ledger.process(&mut txn, &send).unwrap();
    ledger.confirm(&mut txn, &send.hash()).unwrap();
    txn.commit().unwrap();
    let rpc = start_full(true, Some(ledger.clone()), Some(wallets.clone()));
    let a = rpc.addr;
    let wid = post(
        a,
        json!({"action": "wallet_create", "seed": "0".repeat(64)}),
    )["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(a, json!({"action": "wallet_info", "wallet": wid}));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "balance",
            "pending",
            "receivable",
            "accounts_count",
            "accounts_block_count",
            "accounts_cemented_block_count",
            "deterministic_count",
            "adhoc_count",
            "deterministic_index"
        ]
    );
    // wallet_receivable: a zero threshold keeps the plain list; min_version adds the epoch.
    let h = send.hash().encode_hex();
    let r = post(
        a,
        json!({"action": "wallet_receivable", "wallet": wid, "threshold": "0"}),
    );
    assert_eq!(r["blocks"], json!({SEED0_ACCOUNT: [h.clone()]}));
    let r = post(
        a,
        json!({"action": "wallet_receivable", "wallet": wid, "threshold": "1", "min_version": "true"}),
    );
    assert_eq!(
        r["blocks"],
        json!({SEED0_ACCOUNT: {h.clone(): {"amount": "777", "min_version": "0"}}})
    );
    // send: a zero amount and a bad source have the reference's texts.
    let send_req = |amount: &str, source: &str| {
        post(
            a,
            json!({"action": "send", "wallet": wid, "source": source,
            "destination": SEED0_ACCOUNT, "amount": amount}),
        )["error"]
            .clone()
    };
    assert_eq!(send_req("0", SEED0_ACCOUNT), "Invalid amount number");
    assert_eq!(send_req("1", "nano_bad"), "Bad source");
    // receive checks the wallet account before the block.
    let other = genesis.account.encode_account();
    let r = post(
        a,
        json!({"action": "receive", "wallet": wid, "account": other, "block": "1".repeat(64)}),
    );
    assert_eq!(r["error"], "Account not found in wallet");
    // wallet_ledger reads modified_since like strtoul; wallet_history refuses a bad one.
    let r = post(
        a,
        json!({"action": "wallet_ledger", "wallet": wid, "modified_since": "x"}),
    );
    assert!(r.get("error").is_none(), "{r}");
    let r = post(
        a,
        json!({"action": "wallet_history", "wallet": wid, "modified_since": "x"}),
    );
    assert_eq!(r["error"], "Invalid timestamp");
    // wallet_history entries: the visitor's type, account, amount, then block_account,
    // hash and local_timestamp.
    let genesis_key = nano_ledger::test_support::dev_genesis_key();
    post(
        a,
        json!({"action": "wallet_add", "wallet": wid, "key": genesis_key.private().encode_hex()}),
    );
    let r = post(
        a,
        json!({"action": "wallet_history", "wallet": wid, "modified_since": "0"}),
    );
    let e = &r["history"][0];
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "type",
            "account",
            "amount",
            "block_account",
            "hash",
            "local_timestamp"
        ]
    );
    assert_eq!(e["type"], "send");
    assert_eq!(e["account"], SEED0_ACCOUNT);
    assert_eq!(e["amount"], "777");
    assert_eq!(e["block_account"], other);
    let open = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(open["type"], "receive");
    assert_eq!(open["account"], other);
}
