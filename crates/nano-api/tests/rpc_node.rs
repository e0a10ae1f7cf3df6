//! Node-backed RPC actions against a real running node (dev network, peering on
//! 127.0.0.1 with an OS-assigned port, no voting so elections stay open): each answer is
//! checked against what the node really holds, not against a double with fixed answers.

mod common;

use std::sync::Arc;

use common::{post, wait_until};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_ledger::test_support::{test_key, Chain};
use nano_node::node::{Node, NodeOptions};
use nano_node::test_utils::{dev_node_config, loopback_peer};
use serde_json::{json, Value};

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
    start_with(false, |_| {})
}

/// A node voting with the dev genesis key (its elections confirm at once) or not, with
/// the API context adjusted by `tweak` before it is served.
fn start_with(voting: bool, tweak: impl FnOnce(&mut ApiContext)) -> LiveNode {
    start_opts(voting, |_| {}, tweak)
}

/// Like [`start_with`], with the node's options adjusted by `options` before it starts.
fn start_opts(
    voting: bool,
    options: impl FnOnce(&mut NodeOptions),
    tweak: impl FnOnce(&mut ApiContext),
) -> LiveNode {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let genesis = nano_ledger::test_support::dev_genesis_key();
    let c = dev_node_config(vec![], voting.then_some(&genesis));
    let mut opts = NodeOptions::new(c, Network::Dev, dir.path());
    options(&mut opts);
    let node = rt.block_on(async move { Node::start_with(opts).await.expect("node starts") });
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.attach(&node);
    ctx.work_threads = 1;
    tweak(&mut ctx);
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
    // A block behind the account's first uncemented one has no election until
    // block_confirm starts a manual one.
    let next = g.send(&test_key(1).public(), 1);
    assert_eq!(process(&n, &next)["hash"], next.hash().encode_hex());
    let r = post(
        n.rpc,
        json!({"action": "block_confirm", "hash": next.hash().encode_hex()}),
    );
    assert_eq!(r["started"], "1", "{r}");
    assert!(wait_until(|| n.node.active_elections().len() == 2));
    let r = post(n.rpc, json!({"action": "election_statistics"}));
    assert_eq!(
        (&r["manual"], &r["priority"], &r["total"]),
        (&json!("1"), &json!("1"), &json!("2")),
        "{r}"
    );
    let other = format!("{}{}", "0".repeat(64), hash.encode_hex());
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": other}));
    assert_eq!(r["error"], "Active confirmation not found");
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": "zz"}));
    assert_eq!(r["error"], "Invalid root hash");
    // A root is read as a 512-bit number: 1 to 128 hex digits, leading zeros optional.
    let short = root.trim_start_matches('0').to_lowercase();
    let r = post(n.rpc, json!({"action": "confirmation_info", "root": short}));
    assert_eq!(r["last_winner"], h, "{r}");
    let r = post(
        n.rpc,
        json!({"action": "confirmation_info", "root": "1".repeat(129)}),
    );
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
    // unchecked_keys from key "1" (00..01, read as the reference reads a hash) lists the
    // waiting block under the hash it waits for.
    let r = post(n.rpc, json!({"action": "unchecked_keys", "key": "1"}));
    assert_eq!(r["unchecked"][0]["key"], first.hash().encode_hex(), "{r}");
    assert_eq!(r["unchecked"][0]["hash"], second.hash().encode_hex(), "{r}");
    let r = post(
        n.rpc,
        json!({"action": "unchecked_keys", "key": "1".repeat(65)}),
    );
    assert_eq!(r["error"], "Bad key");
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
        assert_eq!(process(&n, b)["hash"], b.hash().encode_hex());
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

fn rpc(n: &LiveNode, req: Value) -> Value {
    post(n.rpc, req)
}

/// A wallet holding the dev genesis key (no precomputed work for it).
fn genesis_wallet(n: &LiveNode) -> String {
    let w = rpc(n, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();
    let key = nano_core::network::DEV_GENESIS_PRIVATE_KEY;
    let r = rpc(
        n,
        json!({"action": "wallet_add", "wallet": w, "key": key, "work": "false"}),
    );
    assert_eq!(
        r["account"],
        nano_ledger::test_support::dev_genesis_key()
            .public()
            .encode_account()
    );
    w
}

fn work_of(n: &LiveNode, wallet: &str, account: &str) -> u64 {
    let r = rpc(
        n,
        json!({"action": "work_get", "wallet": wallet, "account": account}),
    );
    u64::from_str_radix(r["work"].as_str().unwrap(), 16).unwrap()
}

fn confirmed(n: &LiveNode, hash: &str) -> bool {
    rpc(n, json!({"action": "block_info", "hash": hash}))["confirmed"] == "true"
}

#[test]
fn account_creation_precomputes_work_only_when_asked() {
    let n = start();
    let w = genesis_wallet(&n);
    let plain = rpc(
        &n,
        json!({"action": "account_create", "wallet": w, "work": "false"}),
    )["account"]
        .as_str()
        .unwrap()
        .to_string();
    let worked = rpc(&n, json!({"action": "account_create", "wallet": w}))["account"]
        .as_str()
        .unwrap()
        .to_string();
    let many = rpc(
        &n,
        json!({"action": "accounts_create", "wallet": w, "count": "2"}),
    )["accounts"]
        .clone();
    let base = Network::Dev.params().work.base;
    let mut pending = vec![worked.clone()];
    pending.extend(
        many.as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    for a in &pending {
        // Work for the open block: its root is the account itself.
        let root: nano_core::Root = nano_core::PublicKey::decode_account(a).unwrap().into();
        assert!(
            wait_until(|| {
                let w = work_of(&n, &w, a);
                w != 0 && nano_core::work::work_value(&root, w) >= base
            }),
            "no precomputed work for {a}"
        );
    }
    assert_eq!(work_of(&n, &w, &plain), 0, "work=false precomputed anyway");
}

#[test]
fn search_receivable_starts_and_receives_in_the_background() {
    let n = start_with(true, |_| {});
    let w = genesis_wallet(&n);
    let genesis = nano_ledger::test_support::dev_genesis_key()
        .public()
        .encode_account();
    let dest = rpc(&n, json!({"action": "account_create", "wallet": w}))["account"]
        .as_str()
        .unwrap()
        .to_string();
    let r = rpc(
        &n,
        json!({"action": "send", "wallet": w, "source": genesis, "destination": dest,
            "amount": "1000"}),
    );
    let send = r["block"].as_str().expect("sent").to_string();
    assert!(wait_until(|| confirmed(&n, &send)));
    // The default receive minimum (1 Nano) is above this send.
    rpc(&n, json!({"action": "receive_minimum_set", "amount": "1"}));
    let r = rpc(&n, json!({"action": "search_receivable", "wallet": w}));
    assert_eq!(r, json!({"started": "true"}));
    assert!(
        wait_until(
            || rpc(&n, json!({"action": "account_balance", "account": dest}))["balance"] == "1000"
        ),
        "never received"
    );
    // A locked wallet cannot sign: the search does not start.
    rpc(
        &n,
        json!({"action": "password_change", "wallet": w, "password": "p"}),
    );
    rpc(&n, json!({"action": "wallet_lock", "wallet": w}));
    let r = rpc(&n, json!({"action": "search_receivable", "wallet": w}));
    assert_eq!(r, json!({"started": "false"}));
}

/// With local work disabled (`work_threads = 0`), a wallet send gets its work from the
/// node's work peers, and the WebSocket `work` event names the peer as the source.
#[test]
fn wallet_sends_use_the_work_peers() {
    let peer = common::start(true);
    let peer_addr = peer.addr;
    let n = start_with(true, |ctx| {
        ctx.work_threads = 0;
        ctx.work_peers
            .lock()
            .unwrap()
            .push(("127.0.0.1".into(), peer_addr.port()));
    });
    let mut events = n.node.events.subscribe();
    let w = genesis_wallet(&n);
    let genesis = nano_ledger::test_support::dev_genesis_key()
        .public()
        .encode_account();
    let dest = test_key(5).public().encode_account();
    let before = peer.ctx.rpc_latency_count();
    let r = rpc(
        &n,
        json!({"action": "send", "wallet": w, "source": genesis, "destination": dest,
            "amount": "7"}),
    );
    // The answered block is the sender's new head and sends exactly what was asked.
    let sent = r["block"].as_str().expect("sent").to_string();
    let info = rpc(
        &n,
        json!({"action": "block_info", "hash": sent, "json_block": "true"}),
    );
    assert_eq!(info["subtype"], "send", "{info}");
    assert_eq!(info["amount"], "7");
    assert_eq!(info["contents"]["link_as_account"], dest.as_str());
    let head = rpc(&n, json!({"action": "account_info", "account": genesis}));
    assert_eq!(head["frontier"], sent.as_str());
    assert!(
        peer.ctx.rpc_latency_count() > before,
        "the work peer was never asked"
    );
    let source = format!("127.0.0.1:{}", peer_addr.port());
    let mut seen = false;
    while let Ok(e) = events.try_recv() {
        if let nano_node::events::NodeEvent::Work { message } = e {
            if message["success"] == "true" && message["result"]["source"] == source.as_str() {
                seen = true;
            }
        }
    }
    assert!(seen, "no work event from the peer");
    // Without peers either, work generation is refused with the reference's text.
    let m = start_with(false, |ctx| ctx.work_threads = 0);
    let w = genesis_wallet(&m);
    let r = rpc(
        &m,
        json!({"action": "send", "wallet": w, "source": genesis, "destination": dest,
            "amount": "7"}),
    );
    assert_eq!(r["error"], "Work generation is disabled");
}

/// `node.preconfigured_representatives` (set on the context by the daemon) decides a new
/// wallet's representative.
#[test]
fn new_wallets_take_a_configured_representative() {
    let rep = test_key(9).public();
    let n = start_with(false, |ctx| ctx.preconfigured_representatives = vec![rep]);
    let w = rpc(&n, json!({"action": "wallet_create"}))["wallet"].clone();
    let r = rpc(&n, json!({"action": "wallet_representative", "wallet": w}));
    assert_eq!(r["representative"], rep.encode_account());
}

/// `process` with `async` goes through the bounded queue and answers at once; with
/// `force` too (it used to do nothing: the thread it ran on had no runtime for the
/// forced path), so a fork replaces the unconfirmed block it competes with.
#[test]
fn process_async_is_queued_and_honours_force() {
    let n = start();
    let in_ledger = |h: nano_core::BlockHash| {
        post(
            n.rpc,
            json!({"action": "block_info", "hash": h.encode_hex()}),
        )
        .get("error")
        .is_none()
    };
    let async_process = |b: &nano_core::Block, force: bool| {
        let mut req = json!({"action": "process", "json_block": "true", "async": "true",
            "block": b.to_json()});
        if force {
            req["force"] = "true".into();
        }
        post(n.rpc, req)
    };
    let send = Chain::dev_genesis().send(&test_key(1).public(), 1000);
    assert_eq!(async_process(&send, false)["started"], "1");
    assert!(
        wait_until(|| in_ledger(send.hash())),
        "async block processed"
    );
    let fork = Chain::dev_genesis().send(&test_key(2).public(), 2000);
    assert_eq!(async_process(&fork, true)["started"], "1");
    assert!(
        wait_until(|| in_ledger(fork.hash()) && !in_ledger(send.hash())),
        "forced async fork replaced the unconfirmed block"
    );
}

/// The entry of sampler `name` in a `stats` answer of type `samples`.
fn sampler<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["entries"]
        .as_array()?
        .iter()
        .find(|e| e["sample"] == name)
}

fn sample_values(e: &Value) -> Vec<i64> {
    match &e["values"] {
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect(),
        v => {
            assert_eq!(v, "", "an empty list prints as an empty string");
            Vec::new()
        }
    }
}

#[test]
fn stats_samples_record_elections_and_votes_and_a_read_empties_them() {
    let n = start_with(true, |_| {});
    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1000);
    let hash = send.hash().encode_hex();
    let submitted = std::time::Instant::now();
    assert_eq!(process(&n, &send)["hash"], hash);
    assert!(wait_until(|| confirmed(&n, &hash)));
    // The election has ended, and the representative voted on its block.
    assert!(wait_until(|| n.node.active_elections().is_empty()));
    let r = rpc(&n, json!({"action": "stats", "type": "samples"}));
    assert_eq!(r["type"], "samples");
    let e = sampler(&r, "active_election_duration").expect("election duration sampled");
    assert_eq!((&e["min"], &e["max"]), (&json!("0"), &json!("600000")));
    let durations = sample_values(e);
    assert_eq!(durations.len(), 1, "{r}");
    // The election lasted no longer than the block has existed here.
    let lived = submitted.elapsed().as_millis() as i64;
    assert!((0..=lived).contains(&durations[0]), "{durations:?} {lived}");
    let hashes: Vec<i64> = ["vote_generator_hashes", "vote_generator_final_hashes"]
        .iter()
        .filter_map(|s| sampler(&r, s))
        .inspect(|e| assert_eq!(e["max"], "255"))
        .flat_map(sample_values)
        .collect();
    // Every vote the representative generated was for the one block there was.
    assert!(!hashes.is_empty(), "votes were generated: {r}");
    assert!(hashes.iter().all(|&h| h == 1), "{hashes:?}");
    // Reading took the values: the samplers are still listed, without values.
    let again = rpc(&n, json!({"action": "stats", "type": "samples"}));
    let e = sampler(&again, "active_election_duration").expect("still listed");
    assert!(sample_values(e).is_empty(), "{again}");
    // stats_clear drops the samplers.
    assert_eq!(rpc(&n, json!({"action": "stats_clear"}))["success"], "");
    assert_eq!(
        rpc(&n, json!({"action": "stats", "type": "samples"}))["entries"],
        ""
    );
}

#[test]
fn stats_objects_and_database_report_the_running_node() {
    let n = start();
    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1000);
    assert_eq!(process(&n, &send)["hash"], send.hash().encode_hex());
    assert!(wait_until(|| n.node.active_elections().len() == 1));
    let r = rpc(&n, json!({"action": "stats", "type": "objects"}));
    let active = &r["node"]["consensus"]["active_elections"];
    assert_eq!(active["count"], "1", "{r}");
    let one = std::mem::size_of::<nano_node::consensus::elections::election::Election>();
    assert_eq!(active["size"], one.to_string());
    // No peers: the network containers are empty, and the block processor is idle.
    assert_eq!(r["node"]["network"]["peers"]["count"], "0", "{r}");
    assert_eq!(r["node"]["network"]["peers"]["size"], "0");
    assert_eq!(r["node"]["consensus"]["block_processor"]["count"], "0");
    assert_eq!(r["node"]["consensus"]["unchecked"]["count"], "0");
    // One representative holds weight: genesis (the send is not received yet).
    assert_eq!(r["node"]["ledger"]["rep_weights"]["count"], "1", "{r}");

    // database: LMDB's statistics of the main database, whose entries are the named
    // tables (the ledger's ten and the confirmation log's two).
    let d = rpc(&n, json!({"action": "stats", "type": "database"}));
    let num = |k: &str| d[k].as_str().unwrap().parse::<u64>().unwrap();
    let stat = n.node.ledger.database_stat();
    assert_eq!(num("page_size"), u64::from(stat.page_size), "{d}");
    assert_eq!(num("entries"), 12, "{d}");
    // The main database only changes when a table is created: its tree is the store's.
    assert_eq!(
        (num("depth"), num("leaf_pages"), num("branch_pages")),
        (
            u64::from(stat.depth),
            stat.leaf_pages as u64,
            stat.branch_pages as u64
        ),
        "{d}"
    );
    assert_eq!(num("overflow_pages"), 0);
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "branch_pages",
            "depth",
            "entries",
            "leaf_pages",
            "overflow_pages",
            "page_size"
        ]
    );
}

/// `process` answers the block processor's verdict on each block with the reference's
/// text, and a forced fork (sync, not async) replaces the block holding its root.
#[test]
fn process_answers_the_ledger_verdict_in_the_reference_text() {
    let n = start();
    let error = |b: &nano_core::Block| process(&n, b)["error"].as_str().map(str::to_string);

    let mut g = Chain::dev_genesis();
    let send = g.send(&test_key(1).public(), 1000);
    let after_send = g.send(&test_key(1).public(), 1000);
    assert_eq!(error(&after_send).as_deref(), Some("Gap previous block"));
    assert_eq!(process(&n, &send)["hash"], send.hash().encode_hex());
    assert_eq!(error(&send).as_deref(), Some("Old block"));

    let fork = Chain::dev_genesis().send(&test_key(2).public(), 2000);
    assert_eq!(error(&fork).as_deref(), Some("Fork"));

    let unknown_source = nano_core::BlockHash([7; 32]);
    let gap_source =
        Chain::unopened(test_key(3)).receive(&unknown_source, 1, nano_core::Epoch::Epoch0);
    assert_eq!(error(&gap_source).as_deref(), Some("Gap source block"));

    let mut forged = Chain::dev_genesis().send(&test_key(4).public(), 4000);
    if let nano_core::Block::State(b) = &mut forged {
        b.signature = nano_core::Signature::ZERO;
    }
    assert_eq!(error(&forged).as_deref(), Some("Bad signature"));

    let req = json!({"action": "process", "json_block": "true", "force": "true",
        "block": fork.to_json()});
    assert_eq!(post(n.rpc, req)["hash"], fork.hash().encode_hex());
    let t = n.node.ledger.read_txn().unwrap();
    let stored = n.node.ledger.block(&t, &fork.hash()).unwrap();
    assert_eq!(stored.map(|s| s.block), Some(fork));
    assert!(n.node.ledger.block(&t, &send.hash()).unwrap().is_none());
}

/// `bootstrap_status` after a real sync: a fresh node dials a voting node holding a
/// cemented chain of sends and pulls it in one ascending attempt (the next automatic
/// round is an hour away), so every counter is known: each block received once and
/// processed, none a duplicate or rejected, no connection left.
#[test]
fn bootstrap_status_counts_a_real_sync() {
    const SENDS: u64 = 6;
    let server = start_with(true, |_| {});
    let mut g = Chain::dev_genesis();
    let mut last = String::new();
    for _ in 0..SENDS {
        let s = g.send(&test_key(1).public(), 1);
        last = s.hash().encode_hex();
        assert_eq!(process(&server, &s)["hash"], last);
    }
    // Cemented first, so the server has no election left to republish to the client:
    // the client learns the blocks from bootstrap alone. A confirmed election publishes
    // its winner once more at the next election tick (the reference's
    // `election::transition_time`), so two ticks pass before the client exists and
    // those publishes reach no one.
    assert!(wait_until(|| confirmed(&server, &last)));
    let tick = nano_node::consensus::ConsensusConfig::for_network(nano_core::Network::Dev)
        .request_interval;
    std::thread::sleep(tick * 2);
    let peer = loopback_peer(&server.node);
    let client = start_opts(
        false,
        |o| {
            o.config.preconfigured_peers = vec![peer];
            o.bootstrap.enable_ascending = true;
            o.bootstrap.interval = std::time::Duration::from_secs(3600);
        },
        |_| {},
    );
    let synced = (SENDS + 1).to_string();
    assert!(wait_until(|| rpc(
        &client,
        json!({"action": "block_count"})
    )["count"]
        == synced.as_str()));
    assert!(wait_until(|| rpc(
        &client,
        json!({"action": "bootstrap_status"})
    )["running_attempts_count"]
        == "0"));
    let st = rpc(&client, json!({"action": "bootstrap_status"}));
    let n = SENDS.to_string();
    assert_eq!(
        st,
        json!({
            "bootstrap_threads": "1",
            "running_attempts_count": "0",
            "total_attempts_count": "1",
            "connections": {"clients": "0", "connections": "0", "idle": "0",
                "target_connections": "0", "pulls": "0"},
            "attempts": "",
            "serving_connections": "0",
            "blocks_received": n,
            "blocks_processed": n,
            "blocks_duplicate": "0",
            "blocks_rejected": "0",
            "bad_peers": "",
        }),
        "{st}"
    );
    // The server served the pulls and pulled nothing itself.
    let st = rpc(&server, json!({"action": "bootstrap_status"}));
    assert_eq!(
        (&st["blocks_received"], &st["blocks_processed"]),
        (&json!("0"), &json!("0")),
        "{st}"
    );
}

/// `confirmation_info` with `representatives` lists who voted for each candidate, with
/// their ledger weight: the node votes with a key holding half the supply,
/// below the quorum an online weight minimum of the whole supply sets, so its elections
/// stay open with that one vote in them.
#[test]
fn confirmation_info_lists_the_representatives_that_voted() {
    let k = test_key(7);
    let key = k.private().encode_hex();
    let n = start_opts(
        false,
        |o| {
            o.config.enable_voting = true;
            o.config.representative_key = key;
            o.config.online_weight_minimum = u128::MAX.to_string();
        },
        |_| {},
    );
    let mut g = Chain::dev_genesis();
    let half = g.balance.0 / 2;
    let send = g.send(&k.public(), half);
    assert_eq!(process(&n, &send)["hash"], send.hash().encode_hex());
    // k opens on itself: it now represents half the supply.
    let open = Chain::unopened(k.clone()).receive(&send.hash(), half, nano_core::Epoch::Epoch0);
    assert_eq!(process(&n, &open)["hash"], open.hash().encode_hex());
    let root = send.qualified_root().encode_hex();
    let h = send.hash().encode_hex();
    let voters = json!({ k.public().encode_account(): half.to_string() });
    let ask = || {
        rpc(
            &n,
            json!({"action": "confirmation_info", "root": root, "representatives": "true",
                "contents": "false"}),
        )
    };
    assert!(
        wait_until(|| ask()["blocks"][&h]["representatives"] == voters),
        "{}",
        ask()
    );
    let r = ask();
    assert_eq!(r["voters"], "1", "{r}");
    assert_eq!(r["last_winner"], h);
    assert_eq!(r["final_tally"], "0", "no quorum, so no final vote: {r}");
    // (The tally is not checked: the election weighed k's vote when it arrived, before
    // the open gave k its weight, where the reference re-weighs every vote with the
    // current ledger weight at each tally; reported to the consensus owners.)
}
