//! Wallet work precomputation goes through a bounded queue: with the one precompute
//! worker held by a work peer that never answers, a burst of new accounts leaves at most
//! 1 + PRECOMPUTE_QUEUE precomputations pending, the rest are dropped and counted, and
//! the requests answer at once instead of waiting for work.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::post;
use nano_api::context::PRECOMPUTE_QUEUE;
use nano_api::ApiContext;
use nano_core::Network;
use nano_wallet::{Wallets, WalletsConfig};
use serde_json::json;

const BURST: usize = 500;
const SINGLES: usize = 10;

#[test]
fn a_burst_of_precomputations_is_bounded_and_the_excess_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = Arc::new(Wallets::open(dir.path(), WalletsConfig::dev()).unwrap());
    // Accepts connections (in its backlog) and never answers: the precompute worker waits
    // on it for the peer timeout, so everything after the first precomputation queues.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.wallets = Some(wallets);
    ctx.work_threads = 0;
    ctx.work_peers = Mutex::new(vec![("127.0.0.1".to_string(), port)]);
    let rpc = common::start_ctx(true, ctx);
    let wid = post(rpc.addr, json!({"action": "wallet_create"}))["wallet"]
        .as_str()
        .unwrap()
        .to_string();

    let started = Instant::now();
    let r = post(
        rpc.addr,
        json!({"action": "accounts_create", "wallet": wid, "count": BURST.to_string()}),
    );
    assert_eq!(r["accounts"].as_array().map(Vec::len), Some(BURST), "{r}");
    let mut created = r["accounts"].as_array().unwrap().clone();
    for _ in 0..SINGLES {
        let r = post(rpc.addr, json!({"action": "account_create", "wallet": wid}));
        created.push(r["account"].clone());
    }
    // Every account was really created, each once, whatever happened to its work.
    let listed = post(rpc.addr, json!({"action": "account_list", "wallet": wid}));
    let mut listed = listed["accounts"].as_array().unwrap().clone();
    let key = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    listed.sort_by_key(key);
    created.sort_by_key(key);
    assert_eq!(created, listed);
    created.dedup();
    assert_eq!(created.len(), BURST + SINGLES);
    println!(
        "{BURST} accounts and {SINGLES} more created in {:?} with the precompute worker stuck",
        started.elapsed()
    );
    assert_eq!(rpc.ctx.precompute.in_flight(), 1 + PRECOMPUTE_QUEUE);
    assert_eq!(
        rpc.ctx.stats.get("work", "precompute_dropped", ""),
        (BURST + SINGLES - 1 - PRECOMPUTE_QUEUE) as u64
    );
    drop(silent);
}
