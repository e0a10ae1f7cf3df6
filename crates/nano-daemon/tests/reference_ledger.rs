//! `nano_node --daemon` on a data path holding the reference node's `data.ldb` (the
//! shared dev fixture written by RsNano) just runs: it answers RPC from that file with
//! every fact of the fixture's `expected.json`, accepts new blocks on it, and after a
//! restart serves them back.
//!
//! The fixture lives in the repository's sibling `shared/` directory; a missing fixture
//! fails this test (it is not a skip).

mod common;

use std::path::Path;

use common::{rpc, start_daemon};
use nano_core::{Amount, BlockHash, Epoch, Network, PublicKey};
use nano_ledger::test_support::{dev_genesis_key, reference_fixture, test_key, Chain};
use serde_json::{json, Value};

fn unpack(name: &str, dest: &Path) -> Value {
    let dir = reference_fixture(name, dest);
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap()
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

#[test]
fn the_daemon_serves_and_extends_a_reference_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let e = unpack("reference-ledger-dev-5k", &dir.path().join("data.ldb"));
    // The file's one online-weight sample, read before the node runs.
    let sample = {
        let l = nano_ledger::Ledger::open(&dir.path().join("data.ldb"), Network::Dev).unwrap();
        let t = l.read_txn().unwrap();
        let v: Vec<_> = l
            .store()
            .iter_online_weight(&t)
            .unwrap()
            .map(|x| x.unwrap().1)
            .collect();
        assert_eq!(v.len(), 1);
        v[0]
    };
    let d = start_daemon(dir.path(), false, &[]);

    let bc = rpc(d.rpc, json!({"action": "block_count"}));
    assert_eq!(bc["count"], e["block_count"].to_string(), "{bc}");
    assert_eq!(bc["cemented"], e["cemented_count"].to_string(), "{bc}");

    for a in e["random_accounts"]["accounts"].as_array().unwrap() {
        let r = rpc(
            d.rpc,
            json!({"action": "account_info", "account": a["account"], "representative": "true",
                   "receivable": "true"}),
        );
        assert_eq!(r["frontier"], a["frontier"], "{r}");
        assert_eq!(r["open_block"], a["open_block"], "{r}");
        assert_eq!(r["balance"], a["balance"], "{r}");
        assert_eq!(r["block_count"], a["block_count"].to_string(), "{r}");
        assert_eq!(r["representative"], a["representative"], "{r}");
        assert_eq!(
            r["confirmation_height"],
            a["confirmation_height"].to_string(),
            "{r}"
        );
        assert_eq!(r["account_version"], a["epoch"].to_string(), "{r}");
        let rc = rpc(
            d.rpc,
            json!({"action": "receivable", "account": a["account"], "count": "100"}),
        );
        let n = match &rc["blocks"] {
            Value::Array(v) => v.len(),
            Value::Object(m) => m.len(),
            Value::String(x) if x.is_empty() => 0,
            other => panic!("receivable blocks {other}"),
        };
        assert_eq!(n as u64, a["receivable_count"].as_u64().unwrap(), "{rc}");
    }

    let reps = rpc(d.rpc, json!({"action": "representatives"}));
    for top in e["top_representatives"].as_array().unwrap() {
        assert_eq!(
            reps["representatives"][s(&top["representative"])],
            top["weight"],
            "{top}"
        );
    }
    assert_eq!(
        reps["representatives"].as_object().unwrap().len() as u64,
        e["rep_weights_count"].as_u64().unwrap()
    );

    for b in e["legacy_blocks"]
        .as_array()
        .unwrap()
        .iter()
        .chain(e["epoch_blocks"].as_array().unwrap())
    {
        let r = rpc(
            d.rpc,
            json!({"action": "block_info", "hash": b["hash"], "json_block": "true"}),
        );
        assert_eq!(r["block_account"], b["account"], "{r}");
        assert_eq!(r["height"], b["height"].to_string(), "{r}");
        assert_eq!(r["balance"], b["balance"], "{r}");
        assert_eq!(r["confirmed"], b["confirmed"].to_string(), "{r}");
        assert_eq!(r["contents"]["type"], b["type"], "{r}");
        if let Some(st) = b.get("subtype") {
            assert_eq!(&r["subtype"], st, "{r}");
        }
    }

    // The quorum comes from the file's representative weights and online-weight sample.
    let q = rpc(d.rpc, json!({"action": "confirmation_quorum"}));
    assert!(q.get("error").is_none(), "{q}");
    assert_eq!(q["trended_stake_total"], sample.encode_dec(), "{q}");

    // New blocks on the reference ledger: a send from genesis to a fresh account.
    let g_pub = Network::Dev.params().genesis_account;
    let gi = rpc(
        d.rpc,
        json!({"action": "account_info", "account": g_pub.encode_account(),
               "representative": "true"}),
    );
    let mut g = Chain::dev_genesis();
    g.key = dev_genesis_key();
    g.head = BlockHash::decode_hex(&s(&gi["frontier"])).unwrap();
    g.balance = Amount::decode_dec(&s(&gi["balance"])).unwrap();
    g.representative = PublicKey::decode_account(&s(&gi["representative"])).unwrap();
    g.height = s(&gi["block_count"]).parse().unwrap();
    g.epoch = match s(&gi["account_version"]).as_str() {
        "0" => Epoch::Epoch0,
        "1" => Epoch::Epoch1,
        _ => Epoch::Epoch2,
    };
    let dest = test_key(4242).public();
    let send = g.send(&dest, 1_000);
    let pr = rpc(
        d.rpc,
        json!({"action": "process", "json_block": "true", "subtype": "send",
               "block": send.to_json()}),
    );
    assert_eq!(pr["hash"], send.hash().encode_hex(), "{pr}");
    drop(d);

    // Restart on the same file: the new block is there, the rest unchanged.
    let d = start_daemon(dir.path(), false, &[]);
    let bc = rpc(d.rpc, json!({"action": "block_count"}));
    assert_eq!(
        bc["count"],
        (e["block_count"].as_u64().unwrap() + 1).to_string(),
        "{bc}"
    );
    let r = rpc(
        d.rpc,
        json!({"action": "block_info", "hash": send.hash().encode_hex()}),
    );
    assert_eq!(r["block_account"], g_pub.encode_account(), "{r}");
    assert_eq!(r["height"], (g.height).to_string(), "{r}");
    assert_eq!(r["subtype"], "send", "{r}");
    let rc = rpc(
        d.rpc,
        json!({"action": "receivable", "account": dest.encode_account(), "count": "10",
               "include_only_confirmed": "false", "include_active": "true"}),
    );
    assert!(rc.to_string().contains(&send.hash().encode_hex()), "{rc}");
}
