//! Node-backed RPC actions against a real running node (dev network, peering on
//! 127.0.0.1 with an OS-assigned port, no voting so elections stay open): each answer is
//! checked against what the node really holds, not against a double with fixed answers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::post;
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_ledger::test_support::{test_key, Chain};
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);

struct LiveNode {
    rpc: std::net::SocketAddr,
    node: Arc<Node>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Drop for LiveNode {
    fn drop(&mut self) {
        let n = self.node.clone();
        self.rt.block_on(async move { n.stop().await });
    }
}

fn start() -> LiveNode {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.enable_udp = false;
    c.enable_voting = false;
    let path = dir.path().to_path_buf();
    let node = rt.block_on(async move {
        Node::start_with(NodeOptions::new(c, Network::Dev, &path))
            .await
            .expect("node starts")
    });
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(node.ledger.clone());
    ctx.wallets = Some(node.wallets.clone());
    ctx.stats = node.stats.clone();
    ctx.node = Some(Arc::new(nano_api::node_glue::NodeGlue(node.clone())));
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    cfg.enable_control = true;
    let ctx = Arc::new(ctx);
    let rpc = rt
        .block_on(nano_api::http::serve(ctx, &cfg, std::future::pending()))
        .unwrap();
    LiveNode {
        rpc,
        node,
        rt,
        _dir: dir,
    }
}

fn process(n: &LiveNode, b: &nano_core::Block) -> Value {
    post(
        n.rpc,
        json!({"action": "process", "json_block": "true", "block": b.to_json()}),
    )
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn version_reports_the_stores_schema_version() {
    let n = start();
    let r = post(n.rpc, json!({"action": "version"}));
    let t = n.node.ledger.read_txn().unwrap();
    let stored = n
        .node
        .ledger
        .store()
        .version(&t)
        .unwrap()
        .expect("versioned");
    assert_eq!(r["store_version"], stored.to_string());
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(&keys[..2], ["rpc_version", "store_version"]);
}

#[test]
fn elections_are_reported_as_the_node_holds_them() {
    let n = start();
    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1000);
    let hash = send.hash();
    let root = send.qualified_root().encode_hex();
    assert_eq!(process(&n, &send)["hash"], hash.encode_hex());
    assert!(wait_until(|| !n.node.active_elections().is_empty()));

    let r = post(n.rpc, json!({"action": "confirmation_active"}));
    assert_eq!(r["confirmations"], json!([root]));
    assert_eq!(r["unconfirmed"], "1");
    assert_eq!(r["confirmed"], "0");
    // An announcement floor above what any election sent filters it out.
    let r = post(
        n.rpc,
        json!({"action": "confirmation_active", "announcements": "4000000000"}),
    );
    assert_eq!(r["confirmations"], "");
    assert_eq!(r["unconfirmed"], "0");

    let r = post(n.rpc, json!({"action": "election_statistics"}));
    assert_eq!(r["total"], "1");
    assert_eq!(r["priority"], "1");
    assert_eq!(r["manual"], "0");
    assert_eq!(r["aec_utilization_percentage"], "0.02", "1 of 5000: {r}");
    assert!(r.get("normal").is_none(), "not a reference key: {r}");

    // confirmation_info: contents by default (as text), as an object with json_block,
    // left out with contents=false; representatives on request (none voted here).
    let h = hash.encode_hex();
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": root}));
    assert_eq!(r["last_winner"], h);
    assert_eq!(r["voters"], "0");
    assert_eq!(r["total_tally"], "0");
    assert_eq!(r["final_tally"], "0");
    let entry = &r["blocks"][&h];
    assert_eq!(entry["tally"], "0");
    let text = entry["contents"].as_str().expect("contents as text");
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed["link"], test_key(1).public().encode_hex());
    assert!(entry.get("representatives").is_none());
    let r = post(
        n.rpc,
        json!({"action": "confirmation_info", "root": root, "json_block": "true",
            "representatives": "true"}),
    );
    let entry = &r["blocks"][&h];
    assert_eq!(entry["contents"]["previous"], send.previous().encode_hex());
    assert_eq!(entry["representatives"], "");
    let r = post(
        n.rpc,
        json!({"action": "confirmation_info", "root": root, "contents": "false"}),
    );
    assert!(r["blocks"][&h].get("contents").is_none(), "{r}");
    let other = format!("{}{}", "0".repeat(64), hash.encode_hex());
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": other}));
    assert_eq!(r["error"], "Active confirmation not found");
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": "zz"}));
    assert_eq!(r["error"], "Invalid root hash");
}

#[test]
fn waiting_blocks_reach_telemetry_and_block_count() {
    let n = start();
    let mut g = Chain::dev_genesis();
    let first = g.send(&test_key(1).public(), 1);
    let second = g.send(&test_key(1).public(), 1);
    // The second send arrives without its previous block: it waits.
    let r = process(&n, &second);
    assert_eq!(r["error"], "Gap previous block", "{r}");
    assert!(wait_until(|| n.node.consensus.unchecked_len() == 1));
    let r = post(n.rpc, json!({"action": "telemetry"}));
    assert_eq!(r["unchecked_count"], "1", "{r}");
    assert_eq!(r["block_count"], "1");
    let r = post(n.rpc, json!({"action": "block_count"}));
    assert_eq!(r["unchecked"], "1");
    // Our own address and peering port answer the local telemetry too.
    let port = n.node.local_endpoint().unwrap().port();
    for address in ["127.0.0.1", "::1"] {
        let r = post(
            n.rpc,
            json!({"action": "telemetry", "address": address, "port": port.to_string()}),
        );
        assert_eq!(r["unchecked_count"], "1", "{address}: {r}");
        assert_eq!(
            r["genesis_block"],
            nano_core::Network::Dev.params().genesis_hash.encode_hex()
        );
    }
    let r = post(
        n.rpc,
        json!({"action": "telemetry", "address": "127.0.0.1", "port": (port ^ 1).to_string()}),
    );
    assert_eq!(r["error"], "Peer not found");
    // The missing block arrives: both are in the ledger and nothing waits.
    assert_eq!(process(&n, &first)["hash"], first.hash().encode_hex());
    let second_hash = second.hash();
    assert!(wait_until(|| {
        let t = n.node.ledger.read_txn().unwrap();
        n.node.ledger.block_exists(&t, &second_hash).unwrap()
    }));
    assert!(wait_until(|| n.node.consensus.unchecked_len() == 0));
    let r = post(n.rpc, json!({"action": "telemetry"}));
    assert_eq!(r["unchecked_count"], "0");
    assert_eq!(r["block_count"], "3");
}

#[test]
fn unopened_counts_receivables_of_accounts_without_blocks() {
    let n = start();
    let mut g = Chain::dev_genesis();
    let (k1, k2) = (test_key(1).public(), test_key(2).public());
    let mut blocks = vec![g.send(&k1, 100), g.send(&k1, 20), g.send(&k2, 5)];
    // k1 opens with the first send; only k2 and the burn account stay unopened.
    let mut a = Chain::unopened(test_key(1));
    let first = blocks[0].hash();
    let burn = g.send(&nano_core::Account::ZERO, 7);
    blocks.push(a.receive(&first, 100, nano_core::Epoch::Epoch0));
    blocks.push(burn);
    for b in &blocks {
        assert!(process(&n, b)["hash"].is_string());
    }
    let k2_text = k2.encode_account();
    let r = post(n.rpc, json!({"action": "unopened"}));
    assert_eq!(
        r["accounts"],
        json!({k2_text.clone(): "5"}),
        "burn account excluded"
    );
    let r = post(
        n.rpc,
        json!({"action": "unopened", "account": nano_core::Account::ZERO.encode_account()}),
    );
    let accounts = r["accounts"].as_object().unwrap();
    assert_eq!(accounts[&nano_core::Account::ZERO.encode_account()], "7");
    assert_eq!(accounts[&k2_text], "5");
    let r = post(
        n.rpc,
        json!({"action": "unopened", "account": nano_core::Account::ZERO.encode_account(),
            "count": "1"}),
    );
    assert_eq!(r["accounts"].as_object().unwrap().len(), 1);
    let r = post(n.rpc, json!({"action": "unopened", "threshold": "6"}));
    assert_eq!(r["accounts"], "");
    let r = post(n.rpc, json!({"action": "unopened", "threshold": "x"}));
    assert_eq!(r["error"], "Bad threshold number");
}
