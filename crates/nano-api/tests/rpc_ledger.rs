//! HTTP RPC ledger queries on a populated dev ledger: genesis sends to two accounts, one
//! of them receives, and part of genesis' chain is cemented. Each answer is checked
//! field by field against what the ledger must hold, with bad-input cases.

mod common;

use std::sync::Arc;

use common::{ledger_fixture as fixture, post, start_with};
use nano_core::Amount;
use nano_ledger::{Ledger, StoreOptions};
use serde_json::json;

/// The ledger keeps in memory only representatives at or above the vote minimum (as
/// the reference); the weight actions answer a lighter one (account A, 1,000 raw) the
/// same as when every representative was cached, reading its weight from the table.
#[test]
fn light_representatives_answer_the_same_when_only_heavy_ones_are_cached() {
    let f = fixture();
    let path = f._dir.path().join("data.ldb");
    let a = f.a.account;
    let genesis = f.genesis.account;
    let requests = [
        json!({"action": "account_weight", "account": a.encode_account()}),
        json!({"action": "account_weight", "account": genesis.encode_account()}),
        json!({"action": "delegators", "account": a.encode_account()}),
        json!({"action": "delegators_count", "account": a.encode_account()}),
        json!({"action": "representatives"}),
        json!({"action": "representatives", "sorting": "true"}),
        json!({"action": "account_info", "account": a.encode_account(), "weight": "true"}),
    ];
    let answers = |ledger: Arc<Ledger>| {
        let rpc = start_with(false, Some(ledger));
        requests
            .iter()
            .map(|r| post(rpc.addr, r.clone()))
            .collect::<Vec<_>>()
    };
    let every_rep_cached = answers(f.ledger.clone());
    assert_eq!(every_rep_cached[0]["weight"], "1000");
    assert_eq!(
        every_rep_cached[4]["representatives"][a.encode_account()],
        "1000"
    );
    let common::LedgerFixture { _dir, ledger, .. } = f;
    drop(ledger);
    let options = StoreOptions {
        rep_weight_cache_minimum: Amount::nano(10).unwrap(),
        ..StoreOptions::default()
    };
    let ledger = Arc::new(Ledger::open_with(&path, nano_core::Network::Dev, &options).unwrap());
    assert!(ledger
        .store()
        .with_rep_weights_cached(|w| w.contains_key(&genesis) && !w.contains_key(&a)));
    assert_eq!(answers(ledger), every_rep_cached);
}

#[test]
fn account_queries() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let g = f.genesis.account.encode_account();
    let r = post(
        addr,
        json!({"action": "account_info", "account": g, "representative": "true",
        "weight": "true", "receivable": "true"}),
    );
    assert_eq!(r["frontier"], f.send_b.encode_hex());
    assert_eq!(
        r["open_block"],
        nano_core::Network::Dev.params().genesis_hash.encode_hex()
    );
    assert_eq!(r["balance"], Amount(u128::MAX - 1_500).encode_dec());
    assert_eq!(r["block_count"], "3");
    assert_eq!(r["account_version"], "0");
    assert_eq!(r["confirmation_height"], "2");
    assert_eq!(r["confirmation_height_frontier"], f.send_a.encode_hex());
    assert_eq!(r["representative"], g);
    // Weight: genesis balance plus account A's balance (A delegates to itself, so not).
    assert_eq!(r["weight"], Amount(u128::MAX - 1_500).encode_dec());
    assert_eq!(r["receivable"], "0");
    let r = post(
        addr,
        json!({"action": "account_info", "account": g, "include_confirmed": "true"}),
    );
    assert_eq!(r["confirmed_height"], "2");
    assert_eq!(
        r["confirmed_balance"],
        Amount(u128::MAX - 1_000).encode_dec()
    );
    assert_eq!(r["confirmation_height"], serde_json::Value::Null);
    assert_eq!(
        post(
            addr,
            json!({"action": "account_info", "account": f.b_account.encode_account()})
        )["error"],
        "Account not found"
    );
    assert_eq!(
        post(addr, json!({"action": "account_info", "account": "nano_x"}))["error"],
        "Bad account number"
    );

    // Balances: B has 500 receivable, but the send to B is not confirmed.
    let b = f.b_account.encode_account();
    let r = post(addr, json!({"action": "account_balance", "account": b}));
    assert_eq!(
        r,
        json!({"balance": "0", "pending": "0", "receivable": "0"})
    );
    let r = post(
        addr,
        json!({"action": "account_balance", "account": b, "include_only_confirmed": "false"}),
    );
    assert_eq!(
        r,
        json!({"balance": "0", "pending": "500", "receivable": "500"})
    );
    let r = post(
        addr,
        json!({"action": "accounts_balances", "accounts": [b, "nano_bad"], "include_only_confirmed": false}),
    );
    assert_eq!(r["balances"][&b]["receivable"], "500");
    assert_eq!(r["errors"]["nano_bad"], "Bad account number");

    let r = post(
        addr,
        json!({"action": "receivable", "account": b, "include_only_confirmed": "false"}),
    );
    assert_eq!(r["blocks"], json!([f.send_b.encode_hex()]));
    let r = post(
        addr,
        json!({"action": "receivable", "account": b, "include_only_confirmed": "false", "source": "true"}),
    );
    assert_eq!(r["blocks"][f.send_b.encode_hex()]["amount"], "500");
    assert_eq!(r["blocks"][f.send_b.encode_hex()]["source"], g);
    let r = post(
        addr,
        json!({"action": "pending", "account": b, "include_only_confirmed": "false", "threshold": "501"}),
    );
    assert_eq!(r["blocks"], "");
    assert_eq!(r["deprecated"], "1");
    let r = post(
        addr,
        json!({"action": "receivable_exists", "hash": f.send_b.encode_hex(), "include_only_confirmed": "false"}),
    );
    assert_eq!(r["exists"], "1");
    let r = post(
        addr,
        json!({"action": "receivable_exists", "hash": f.send_a.encode_hex()}),
    );
    assert_eq!(r["exists"], "0", "already received");

    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "10"}),
    );
    let h = r["history"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[0]["type"], "send");
    assert_eq!(h[0]["account"], b);
    assert_eq!(h[0]["amount"], "500");
    assert_eq!(h[0]["hash"], f.send_b.encode_hex());
    assert_eq!(h[0]["confirmed"], "false");
    assert_eq!(h[1]["confirmed"], "true");
    assert_eq!(h[2]["type"], "receive");
    assert_eq!(h[2]["height"], "1");
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "1"}),
    );
    assert_eq!(r["previous"], f.send_a.encode_hex());
    let r = post(
        addr,
        json!({"action": "account_history", "account": f.a.account.encode_account(), "count": "5", "raw": true}),
    );
    assert_eq!(r["history"][0]["subtype"], "receive");
    assert_eq!(r["history"][0]["account"], g);
    assert_eq!(
        post(addr, json!({"action": "account_history", "account": g}))["error"],
        "Invalid count"
    );

    assert_eq!(
        post(addr, json!({"action": "account_block_count", "account": g}))["block_count"],
        "3"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "account_representative", "account": f.a.account.encode_account()})
        )["representative"],
        f.a.account.encode_account()
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "account_weight", "account": f.a.account.encode_account()})
        )["weight"],
        "1000"
    );
    assert_eq!(post(addr, json!({"action": "account_count"}))["count"], "2");
    let r = post(
        addr,
        json!({"action": "accounts_frontiers", "accounts": [g, b]}),
    );
    assert_eq!(r["frontiers"][&g], f.send_b.encode_hex());
    assert_eq!(r["errors"][&b], "Account not found");
    let r = post(
        addr,
        json!({"action": "frontiers", "account": "nano_1111111111111111111111111111111111111111111111111111hifc8npp", "count": "10"}),
    );
    assert_eq!(r["frontiers"].as_object().unwrap().len(), 2);
    let r = post(addr, json!({"action": "delegators", "account": g}));
    assert_eq!(r["delegators"][&g], Amount(u128::MAX - 1_500).encode_dec());
    assert_eq!(
        post(addr, json!({"action": "delegators_count", "account": g}))["count"],
        "1"
    );
    let r = post(
        addr,
        json!({"action": "representatives", "sorting": "true"}),
    );
    let reps = r["representatives"].as_object().unwrap();
    assert_eq!(reps.keys().next().unwrap(), &g);
    assert_eq!(reps[&f.a.account.encode_account()], "1000");
    // Ledger actions are control-gated where the reference gates them.
    assert_eq!(
        post(addr, json!({"action": "ledger"}))["error"],
        "RPC control is disabled"
    );
}

#[test]
fn block_queries() {
    let f = fixture();
    let rpc = start_with(true, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex(), "json_block": "true"}),
    );
    assert_eq!(r["block_account"], f.genesis.account.encode_account());
    assert_eq!(r["amount"], "1000");
    assert_eq!(r["balance"], Amount(u128::MAX - 1_000).encode_dec());
    assert_eq!(r["height"], "2");
    assert_eq!(r["successor"], f.send_b.encode_hex());
    assert_eq!(r["confirmed"], "true");
    assert_eq!(r["subtype"], "send");
    assert_eq!(r["contents"]["type"], "state");
    // The reference's contents are the block alone; subtype sits beside them.
    assert!(r["contents"].get("subtype").is_none());
    assert_eq!(
        r["contents"]["link_as_account"],
        f.a.account.encode_account()
    );
    // Without json_block the contents are a JSON string that parses to the same block.
    let r2 = post(
        addr,
        json!({"action": "block", "hash": f.send_a.encode_hex()}),
    );
    let parsed: serde_json::Value = serde_json::from_str(r2["contents"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, r["contents"]);
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_b.encode_hex()}),
    );
    assert_eq!(r["confirmed"], "false");
    assert_eq!(r["successor"], "0".repeat(64));
    assert_eq!(
        post(
            addr,
            json!({"action": "block_info", "hash": "1".repeat(64)})
        )["error"],
        "Block not found"
    );
    assert_eq!(
        post(addr, json!({"action": "block_info", "hash": "xyz"}))["error"],
        "Bad hash number"
    );
    // The reference reads a hash as a number of up to 64 hex digits: a short one is a
    // valid (absent) hash, one digit too many is not.
    assert_eq!(
        post(addr, json!({"action": "block_info", "hash": "1"}))["error"],
        "Block not found"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "block_info", "hash": "1".repeat(65)})
        )["error"],
        "Bad hash number"
    );
    // It streams the text in hex: leading blanks and a `0x` prefix are read, within the
    // 64 characters (values: nano-core's unit tests); a blank text is zero.
    let hex = f.send_b.encode_hex();
    for (text, error) in [
        (format!(" \n{}", "1".repeat(62)), "Block not found"),
        (format!("0x{}", "1".repeat(62)), "Block not found"),
        (format!("\t0x{}", "1".repeat(61)), "Block not found"),
        ("  ".to_string(), "Block not found"),
        ("0x".to_string(), "Block not found"),
        (format!("0x{}", "1".repeat(63)), "Bad hash number"),
        (format!(" {hex}"), "Bad hash number"),
        (format!("{hex} "), "Bad hash number"),
        (format!("0X{}", "1".repeat(62)), "Bad hash number"),
    ] {
        let r = post(addr, json!({"action": "block_info", "hash": text}));
        assert_eq!(r["error"], error, "{text:?}");
    }

    let r = post(
        addr,
        json!({"action": "blocks_info", "hashes": [f.send_b.encode_hex(), "1".repeat(64)],
        "include_not_found": "true", "receivable": "true", "source": "true"}),
    );
    assert_eq!(r["blocks"][f.send_b.encode_hex()]["receivable"], "1");
    assert_eq!(r["blocks_not_found"], json!(["1".repeat(64)]));
    let r = post(
        addr,
        json!({"action": "blocks_info", "hashes": [f.open_a.encode_hex()], "source": "true"}),
    );
    assert_eq!(
        r["blocks"][f.open_a.encode_hex()]["source_account"],
        f.genesis.account.encode_account()
    );
    assert_eq!(r["blocks"][f.open_a.encode_hex()]["subtype"], "open");
    let r = post(
        addr,
        json!({"action": "blocks", "hashes": [f.send_a.encode_hex()], "json_block": true}),
    );
    assert_eq!(r["blocks"][f.send_a.encode_hex()]["type"], "state");
    assert_eq!(
        post(
            addr,
            json!({"action": "block_account", "hash": f.open_a.encode_hex()})
        )["account"],
        f.a.account.encode_account()
    );

    let r = post(addr, json!({"action": "block_count"}));
    assert_eq!(r, json!({"count": "4", "unchecked": "0", "cemented": "2"}));
    let r = post(
        addr,
        json!({"action": "chain", "block": f.send_b.encode_hex(), "count": "10"}),
    );
    assert_eq!(r["blocks"].as_array().unwrap().len(), 3);
    let r = post(
        addr,
        json!({"action": "successors", "block": f.send_a.encode_hex(), "count": "10"}),
    );
    assert_eq!(
        r["blocks"],
        json!([f.send_a.encode_hex(), f.send_b.encode_hex()])
    );
    let r = post(
        addr,
        json!({"action": "chain", "block": f.send_b.encode_hex(), "count": "1", "offset": "1"}),
    );
    assert_eq!(r["blocks"], json!([f.send_a.encode_hex()]));
    let r = post(addr, json!({"action": "available_supply"}));
    assert_eq!(r["available"], "1500");
    let r = post(
        addr,
        json!({"action": "ledger", "count": "1", "representative": true}),
    );
    let accounts = r["accounts"].as_object().unwrap();
    assert_eq!(accounts.len(), 1);
}

#[test]
fn remaining_catalogue_actions() {
    let f = fixture();
    let rpc = start_with(true, Some(f.ledger.clone()));
    let addr = rpc.addr;
    // B has a receivable but no account yet.
    let r = post(addr, json!({"action": "unopened"}));
    assert_eq!(r["accounts"][f.b_account.encode_account()], "500");
    assert_eq!(r["accounts"].as_object().unwrap().len(), 1);
    let r = post(addr, json!({"action": "unopened", "threshold": "501"}));
    // An empty list prints as "" in the reference's property-tree JSON.
    assert_eq!(r["accounts"], "");
    let r = post(
        addr,
        json!({"action": "history", "hash": f.send_b.encode_hex(), "count": "1"}),
    );
    assert_eq!(r["deprecated"], "1");
    assert_eq!(r["history"][0]["hash"], f.send_b.encode_hex());
    let r = post(addr, json!({"action": "active_difficulty"}));
    assert_eq!(r["network_minimum"], "ffc0000000000000");
    assert_eq!(r["multiplier"], "1");
    assert_eq!(
        post(addr, json!({"action": "node_id_delete"}))["deprecated"],
        "1"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "pruned_exists", "hash": f.send_a.encode_hex()})
        )["error"],
        "Pruning is disabled"
    );
    assert_eq!(
        post(addr, json!({"action": "database_txn_tracker"}))["error"],
        "Database transaction tracking is not enabled in the config"
    );
    // Node-backed actions without a node say so.
    assert_eq!(
        post(addr, json!({"action": "peers"}))["error"],
        "This action needs the running node, which is not attached"
    );
}

#[test]
fn ledger_actions_without_ledger_say_so() {
    let rpc = common::start(false);
    let r = post(rpc.addr, json!({"action": "block_count"}));
    assert_eq!(
        r["error"], "This action needs the node's ledger, which is not running",
        "{r}"
    );
}

/// The keys of an answer object, in order.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(|k| k.as_str()).collect()
}

#[test]
fn account_history_matches_reference_shape() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let p = nano_core::Network::Dev.params();
    let g = f.genesis.account.encode_account();
    let a = f.a.account.encode_account();
    let b = f.b_account.encode_account();
    // Raw state send: the block's fields in the reference's order, not the block JSON.
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "1", "raw": "true"}),
    );
    let e = &r["history"][0];
    assert_eq!(
        keys(e),
        [
            "type",
            "representative",
            "link",
            "balance",
            "previous",
            "subtype",
            "account",
            "amount",
            "local_timestamp",
            "height",
            "hash",
            "confirmed",
            "work",
            "signature"
        ]
    );
    assert_eq!(e["type"], "state");
    assert_eq!(e["subtype"], "send");
    assert_eq!(e["account"], b);
    assert_eq!(e["amount"], "500");
    assert_eq!(e["previous"], f.send_a.encode_hex());
    assert_eq!(r["previous"], f.send_a.encode_hex());
    // Raw legacy open (genesis): type open, the opened account, the genesis amount.
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "1", "offset": "2", "raw": true}),
    );
    let e = &r["history"][0];
    assert_eq!(
        keys(e)[..6],
        [
            "type",
            "representative",
            "source",
            "opened",
            "account",
            "amount"
        ]
    );
    assert_eq!(e["type"], "open");
    assert_eq!(e["opened"], g);
    assert_eq!(e["amount"], p.genesis_amount.encode_dec());
    assert!(r.get("previous").is_none(), "{r}");
    // Non-raw entries.
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "1"}),
    );
    assert_eq!(
        keys(&r["history"][0]),
        [
            "type",
            "account",
            "amount",
            "local_timestamp",
            "height",
            "hash",
            "confirmed"
        ]
    );
    // offset counts blocks, whether or not the filter lists them; the filter does not
    // apply to legacy opens (reference visitor), so the genesis open still shows.
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "10", "offset": "1",
        "account_filter": [a]}),
    );
    let h = r["history"].as_array().unwrap();
    assert_eq!(h.len(), 2, "{r}");
    assert_eq!(h[0]["hash"], f.send_a.encode_hex());
    assert_eq!(h[1]["type"], "receive");
    assert_eq!(h[1]["height"], "1");
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "10", "account_filter": [b]}),
    );
    assert_eq!(r["history"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["history"][0]["hash"], f.send_b.encode_hex());
    // count 0 is refused; reverse on an unknown account is "Account not found"; an
    // unknown account otherwise answers an empty history.
    assert_eq!(
        post(
            addr,
            json!({"action": "account_history", "account": g, "count": "0"})
        )["error"],
        "Invalid count"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "account_history", "account": b, "count": "1", "reverse": true})
        )["error"],
        "Account not found"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "account_history", "account": b, "count": "1"})
        ),
        json!({"account": b, "history": ""})
    );
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "2", "reverse": true}),
    );
    assert_eq!(r["history"][1]["hash"], f.send_a.encode_hex());
    assert_eq!(r["next"], f.send_b.encode_hex());
}

#[test]
fn receivable_and_account_lists_match_reference_shape() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let g = f.genesis.account.encode_account();
    let b = f.b_account.encode_account();
    let sb = f.send_b.encode_hex();
    let recv = |extra: serde_json::Value| {
        let mut req =
            json!({"action": "receivable", "account": b, "include_only_confirmed": "false"});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        post(addr, req)["blocks"].clone()
    };
    // A zero threshold keeps the plain list; sorting or min_version ask for amounts.
    assert_eq!(recv(json!({"threshold": "0"})), json!([sb]));
    assert_eq!(recv(json!({"sorting": "true"})), json!({sb.clone(): "500"}));
    assert_eq!(
        recv(json!({"min_version": "true"})),
        json!({sb.clone(): {"amount": "500", "min_version": "0"}})
    );
    let v = recv(json!({"source": "true", "min_version": "true"}));
    assert_eq!(keys(&v[&sb]), ["amount", "source", "min_version"]);
    assert_eq!(recv(json!({"offset": "1"})), "");
    // Unconfirmed sends are left out by default: an empty list prints as "".
    assert_eq!(
        post(addr, json!({"action": "receivable", "account": b}))["blocks"],
        ""
    );
    // accounts_receivable keys accounts by their nano_ address and leaves out empty ones.
    let xrb_b = b.replacen("nano_", "xrb_", 1);
    let r = post(
        addr,
        json!({"action": "accounts_receivable", "accounts": [xrb_b, g],
        "include_only_confirmed": "false", "sorting": "true"}),
    );
    assert_eq!(r["blocks"], json!({b.clone(): {sb.clone(): "500"}}));
    let r = post(
        addr,
        json!({"action": "accounts_receivable", "accounts": [b], "threshold": "0",
        "include_only_confirmed": "false"}),
    );
    assert_eq!(r["blocks"], json!({b.clone(): [sb.clone()]}));
    // accounts_frontiers keys found accounts by nano_ address; lists with nothing found
    // are left out, as in the reference.
    let xrb_g = g.replacen("nano_", "xrb_", 1);
    let r = post(
        addr,
        json!({"action": "accounts_frontiers", "accounts": [xrb_g]}),
    );
    assert_eq!(r, json!({"frontiers": {g.clone(): f.send_b.encode_hex()}}));
    let r = post(
        addr,
        json!({"action": "accounts_frontiers", "accounts": [b]}),
    );
    assert_eq!(r, json!({"errors": {b.clone(): "Account not found"}}));
    let r = post(
        addr,
        json!({"action": "accounts_balances", "accounts": ["nano_bad"]}),
    );
    assert_eq!(r, json!({"errors": {"nano_bad": "Bad account number"}}));
    let r = post(
        addr,
        json!({"action": "accounts_representatives", "accounts": [b]}),
    );
    assert_eq!(r, json!({"errors": {b.clone(): "Account not found"}}));
    // Nothing confirmed on A: the confirmed representative is the zero account.
    let r = post(
        addr,
        json!({"action": "account_info", "account": f.a.account.encode_account(),
        "representative": "true", "include_confirmed": "true"}),
    );
    assert_eq!(
        r["confirmed_representative"],
        "nano_1111111111111111111111111111111111111111111111111111hifc8npp"
    );
    assert_eq!(r["confirmed_height"], "0");
}

#[test]
fn blocks_and_ledger_match_reference_shape() {
    let f = fixture();
    let rpc = start_with(true, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let g = f.genesis.account.encode_account();
    // contents as text: the property-tree writer's 4-space indent and final newline.
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex()}),
    );
    let text = r["contents"].as_str().unwrap();
    assert!(
        text.starts_with("{\n    \"type\": \"state\",\n    \"account\": "),
        "{text}"
    );
    assert!(text.ends_with("\"\n}\n"), "{text}");
    // receive_hash: the receiving block of a received send, zero for a receivable one.
    let r = post(
        addr,
        json!({"action": "blocks_info", "hashes": [f.send_a.encode_hex(), f.send_b.encode_hex()],
        "receive_hash": "true", "include_not_found": "true"}),
    );
    assert_eq!(
        r["blocks"][f.send_a.encode_hex()]["receive_hash"],
        f.open_a.encode_hex()
    );
    assert_eq!(
        r["blocks"][f.send_b.encode_hex()]["receive_hash"],
        "0".repeat(64)
    );
    assert!(r["blocks"][f.send_b.encode_hex()]
        .get("receivable")
        .is_none());
    assert_eq!(r["blocks_not_found"], "");
    // chain: count 0 is refused; an unknown start answers an empty list as "".
    assert_eq!(
        post(
            addr,
            json!({"action": "chain", "block": f.send_b.encode_hex(), "count": "0"})
        )["error"],
        "Invalid count"
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "chain", "block": "1".repeat(64), "count": "1"})
        ),
        json!({"blocks": ""})
    );
    // ledger: the receivable total comes first; the threshold then counts balance plus
    // receivable; sorting orders by balance.
    let r = post(
        addr,
        json!({"action": "ledger", "receivable": "true", "threshold": "1000"}),
    );
    let accounts = r["accounts"].as_object().unwrap();
    let a = f.a.account.encode_account();
    assert_eq!(accounts.len(), 2, "{r}");
    assert_eq!(
        keys(&accounts[&a])[..3],
        ["pending", "receivable", "frontier"]
    );
    let r = post(addr, json!({"action": "ledger", "sorting": "true"}));
    let order: Vec<&String> = r["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(order, [&g, &a]);
    let r = post(addr, json!({"action": "ledger", "threshold": "1001"}));
    assert_eq!(r["accounts"].as_object().unwrap().len(), 1);
    assert_eq!(
        post(addr, json!({"action": "ledger", "modified_since": "x"}))["error"],
        "Invalid timestamp"
    );
}

#[test]
fn process_checks_subtype_like_the_reference() {
    let mut f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let send = f.genesis.send(&f.b_account, 1);
    let process = |block: serde_json::Value, extra: serde_json::Value| {
        let mut req = json!({"action": "process", "json_block": "true", "block": block});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        post(addr, req)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // The subtype is checked against the account's balance: a send is not a receive.
    assert_eq!(
        process(send.to_json(), json!({"subtype": "receive"})),
        "Invalid block balance for given subtype"
    );
    assert_eq!(
        process(send.to_json(), json!({"subtype": "change"})),
        "Invalid block balance for given subtype"
    );
    assert_eq!(
        process(send.to_json(), json!({"subtype": "bogus"})),
        "Invalid block subtype"
    );
    // A right subtype passes the checks and only then needs the node.
    let e = process(send.to_json(), json!({"subtype": "send"}));
    assert_eq!(
        e, "This action needs the running node, which is not attached",
        "{e}"
    );
    // An unknown previous is a gap before any subtype rule.
    let mut gap = send.to_json();
    gap["previous"] = "1".repeat(64).into();
    assert_eq!(
        process(gap, json!({"subtype": "open"})),
        "Gap previous block"
    );
}

/// A node double for the node-backed answers: two peers, one representative, and
/// two recent elections.
struct FakeNode {
    rep: nano_core::PublicKey,
    elections: Vec<serde_json::Value>,
    active: Vec<nano_core::QualifiedRoot>,
}

impl nano_api::context::NodeHandle for FakeNode {
    fn status(&self) -> nano_api::context::NodeStatus {
        Default::default()
    }
    fn process(
        &self,
        _: nano_core::Block,
        _: bool,
    ) -> Result<nano_core::BlockHash, nano_api::error::ProcessRefusal> {
        Err(nano_api::error::ProcessRefusal::Rejected(
            nano_ledger::BlockStatus::RepresentativeMismatch,
        ))
    }
    fn block_confirm(&self, _: nano_core::BlockHash) -> bool {
        false
    }
    fn peers(&self) -> Vec<nano_api::context::PeerEntry> {
        let peer = |ep: &str, peering: &str| nano_api::context::PeerEntry {
            endpoint: ep.into(),
            peering: peering.into(),
            protocol_version: 21,
            node_id: nano_core::PublicKey::ZERO,
            transport: "tcp",
        };
        vec![
            peer("[::ffff:10.0.0.1]:7075", "[::ffff:10.0.0.1]:7075"),
            peer("[::ffff:10.0.0.2]:50123", "[::ffff:10.0.0.2]:7075"),
        ]
    }
    fn representatives_online(&self) -> Vec<(nano_core::PublicKey, Amount)> {
        vec![(self.rep, Amount(1))]
    }
    fn representative_peers(&self) -> Vec<(nano_core::PublicKey, String)> {
        vec![(self.rep, "[::ffff:10.0.0.1]:7075".into())]
    }
    fn confirmation_quorum(&self) -> serde_json::Value {
        json!({"quorum_delta": "0"})
    }
    fn telemetry(&self) -> Vec<serde_json::Value> {
        vec![
            json!({"block_count": "7", "node_id": "node_peer", "signature": "00",
        "address": "::ffff:10.0.0.2", "port": "7075"}),
        ]
    }
    fn local_telemetry(&self) -> Option<serde_json::Value> {
        Some(json!({"block_count": "4", "node_id": "node_self", "signature": "11"}))
    }
    fn node_id(&self) -> nano_core::PublicKey {
        nano_core::PublicKey::ZERO
    }
    fn republish(&self, _: Vec<nano_core::Block>) {}
    fn confirmation_history(&self) -> Vec<serde_json::Value> {
        self.elections.clone()
    }
    fn active_elections(&self) -> Vec<nano_node::consensus::ElectionSummary> {
        self.active
            .iter()
            .map(|root| nano_node::consensus::ElectionSummary {
                id: 1,
                behavior: nano_node::consensus::Behavior::Priority,
                qualified_root: *root,
                winner: nano_core::BlockHash::ZERO,
                tally: Amount::ZERO,
                final_tally: Amount::ZERO,
                blocks: 1,
                voters: 0,
                request_count: 0,
                started_ms: 0,
                duration: std::time::Duration::ZERO,
                confirmed: false,
                tallies: Vec::new(),
                votes: Vec::new(),
            })
            .collect()
    }
    fn election(
        &self,
        _: &nano_core::QualifiedRoot,
    ) -> Option<(nano_node::consensus::ElectionSummary, Vec<nano_core::Block>)> {
        None
    }
    fn max_elections(&self) -> usize {
        5000
    }
    fn peering_port(&self) -> Option<u16> {
        None
    }
    fn connect(&self, _: std::net::SocketAddr) {}
    fn unchecked_count(&self) -> usize {
        3
    }
    fn unchecked_entries(
        &self,
        _: &nano_core::BlockHash,
        _: usize,
    ) -> Vec<nano_node::consensus::UncheckedEntry> {
        Vec::new()
    }
    fn unchecked_entry(
        &self,
        _: &nano_core::BlockHash,
    ) -> Option<nano_node::consensus::UncheckedEntry> {
        None
    }
    fn unchecked_clear(&self) {}
    fn bootstrap_legacy(&self, _: nano_node::bootstrap::LegacyRequest) -> bool {
        false
    }
    fn bootstrap_ascending(&self) -> bool {
        false
    }
    fn bootstrap_status(&self) -> Option<serde_json::Value> {
        None
    }
    fn bootstrap_priorities(&self) -> Option<nano_api::context::BootstrapPriorities> {
        None
    }
    fn populate_backlog(&self) {}
    fn container_info(&self) -> serde_json::Value {
        serde_json::json!({"node": {}})
    }
}

#[test]
fn node_answers_match_reference_shape() {
    let f = fixture();
    let g = f.genesis.account;
    let election = |hash: &nano_core::BlockHash, ms: u64| {
        json!({"hash": hash.encode_hex(), "duration": ms.to_string(), "time": "0",
        "tally": "1", "final": "1", "blocks": "1", "voters": "1", "request_count": "0"})
    };
    // The send to B (unconfirmed) is in an active election.
    let send_b_root = {
        let t = f.ledger.read_txn().unwrap();
        let b = f.ledger.block(&t, &f.send_b).unwrap().unwrap();
        b.block.qualified_root()
    };
    let node = FakeNode {
        rep: g,
        elections: vec![election(&f.send_a, 100), election(&f.send_b, 300)],
        active: vec![send_b_root],
    };
    let rpc = common::start_node(false, Some(f.ledger.clone()), None, Some(Arc::new(node)));
    let addr = rpc.addr;
    // peers: keyed by the channel's remote endpoint, with the peering endpoint.
    let r = post(addr, json!({"action": "peers", "peer_details": "true"}));
    let p = &r["peers"]["[::ffff:10.0.0.2]:50123"];
    assert_eq!(keys(p), ["protocol_version", "node_id", "type", "peering"]);
    assert_eq!(p["peering"], "[::ffff:10.0.0.2]:7075");
    assert_eq!(
        post(addr, json!({"action": "peers"}))["peers"]["[::ffff:10.0.0.1]:7075"],
        "21"
    );
    // confirmation_quorum peer details: account, the channel's address, ledger weight.
    let r = post(
        addr,
        json!({"action": "confirmation_quorum", "peer_details": "true"}),
    );
    assert_eq!(
        r["peers"],
        json!([{"account": g.encode_account(), "ip": "[::ffff:10.0.0.1]:7075",
        "weight": Amount(u128::MAX - 1_500).encode_dec()}])
    );
    // confirmation_history: the average divides the total of all recent elections by
    // the number listed, and is absent when nothing is listed.
    let r = post(
        addr,
        json!({"action": "confirmation_history", "hash": f.send_a.encode_hex()}),
    );
    assert_eq!(
        r["confirmation_stats"],
        json!({"count": "1", "average": "400"})
    );
    let r = post(
        addr,
        json!({"action": "confirmation_history", "hash": "1".repeat(64)}),
    );
    assert_eq!(
        r,
        json!({"confirmation_stats": {"count": "0"}, "confirmations": ""})
    );
    // block_count: unchecked blocks are the node's (in memory).
    let r = post(addr, json!({"action": "block_count"}));
    assert_eq!(r, json!({"count": "4", "unchecked": "3", "cemented": "2"}));
    // include_only_confirmed false leaves out sends in active elections unless
    // include_active is set (the reference's block_confirmed filter).
    let b = f.b_account.encode_account();
    let r = post(
        addr,
        json!({"action": "receivable", "account": b, "include_only_confirmed": "false"}),
    );
    assert_eq!(r["blocks"], "");
    let r = post(
        addr,
        json!({"action": "receivable", "account": b, "include_only_confirmed": "false",
        "include_active": "true"}),
    );
    assert_eq!(r["blocks"], json!([f.send_b.encode_hex()]));
    let r = post(
        addr,
        json!({"action": "receivable_exists", "hash": f.send_b.encode_hex(),
        "include_only_confirmed": "false"}),
    );
    assert_eq!(r["exists"], "0");
    // representatives_online with weight: the ledger's weight, not the one last seen.
    let r = post(
        addr,
        json!({"action": "representatives_online", "weight": "true"}),
    );
    assert_eq!(
        r["representatives"][g.encode_account()]["weight"],
        Amount(u128::MAX - 1_500).encode_dec()
    );
    let r = post(addr, json!({"action": "representatives_online"}));
    assert_eq!(r["representatives"], json!([g.encode_account()]));
    // telemetry: this node's own by default; a peer's without address and port.
    assert_eq!(
        post(addr, json!({"action": "telemetry"})),
        json!({"block_count": "4", "node_id": "node_self", "signature": "11"})
    );
    assert_eq!(
        post(
            addr,
            json!({"action": "telemetry", "address": "10.0.0.2", "port": "7075"})
        ),
        json!({"block_count": "7", "node_id": "node_peer", "signature": "00"})
    );
    let r = post(addr, json!({"action": "telemetry", "raw": "true"}));
    assert_eq!(r["metrics"][0]["port"], "7075");
    let tele_err = |req: serde_json::Value| post(addr, req)["error"].clone();
    assert_eq!(
        tele_err(json!({"action": "telemetry", "address": "10.0.0.2"})),
        "Both port and address required"
    );
    assert_eq!(
        tele_err(json!({"action": "telemetry", "address": "10.0.0.2", "port": "x"})),
        "Invalid port"
    );
    assert_eq!(
        tele_err(json!({"action": "telemetry", "address": "nowhere", "port": "1"})),
        "Invalid IP address"
    );
    assert_eq!(
        tele_err(json!({"action": "telemetry", "address": "10.0.0.3", "port": "7075"})),
        "Peer not found"
    );
}

#[test]
fn deprecated_actions_match_reference_shape() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    // history is account_history from head = hash, account included, marked first.
    let r = post(
        addr,
        json!({"action": "history", "hash": f.send_b.encode_hex(), "count": "1"}),
    );
    assert_eq!(keys(&r)[..3], ["deprecated", "account", "history"]);
    assert_eq!(r["account"], f.genesis.account.encode_account());
    let r = post(
        addr,
        json!({"action": "active_difficulty", "include_trend": "true"}),
    );
    assert_eq!(keys(&r)[0], "deprecated");
    assert_eq!(r["difficulty_trend"], json!(["1.000000000000000"]));
}

#[test]
fn include_linked_account_as_documented() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    let g = f.genesis.account.encode_account();
    let a = f.a.account.encode_account();
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex(), "include_linked_account": "true"}),
    );
    assert_eq!(r["linked_account"], a);
    let r = post(
        addr,
        json!({"action": "blocks_info", "hashes": [f.open_a.encode_hex()], "include_linked_account": true}),
    );
    assert_eq!(r["blocks"][f.open_a.encode_hex()]["linked_account"], g);
    let r = post(
        addr,
        json!({"action": "account_history", "account": g, "count": "3", "include_linked_account": "true"}),
    );
    assert_eq!(r["history"][1]["linked_account"], a);
    // The genesis open has no sender in the ledger.
    assert_eq!(r["history"][2]["linked_account"], "0");
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex()}),
    );
    assert!(r.get("linked_account").is_none());
}

#[test]
fn unreadable_flags_take_their_default() {
    let f = fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let addr = rpc.addr;
    // The reference reads flags with a default and keeps it when the text is no boolean.
    let r = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex(), "json_block": "yes"}),
    );
    // Default false: the block as text, which is exactly the JSON form of the block.
    let text = r["contents"].as_str().expect("contents as text");
    let as_json = post(
        addr,
        json!({"action": "block_info", "hash": f.send_a.encode_hex(), "json_block": "true"}),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text).unwrap(),
        as_json["contents"]
    );
    assert_eq!(
        as_json["contents"]["link_as_account"],
        f.a.account.encode_account()
    );
    let r = post(
        addr,
        json!({"action": "account_balance", "account": f.b_account.encode_account(),
        "include_only_confirmed": "maybe"}),
    );
    assert_eq!(
        r["receivable"], "0",
        "default true: the send to B is unconfirmed"
    );
}
