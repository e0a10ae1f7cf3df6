//! Shared helpers of the bootstrap tests: a generated dev ledger (made once per test
//! binary, copied per node), nodes on 127.0.0.1, ledger comparisons.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nano_core::{Account, Amount, BlockHash, Network};
use nano_ledger::Ledger;
use nano_node::bootstrap::test_ledger;
use nano_node::node::{Node, NodeOptions};
/// The address by which a node reaches another on 127.0.0.1.
pub use nano_node::test_utils::loopback_peer as peer_of;

/// Blocks in the test ledger: 15,000 by default (`NANO_BOOTSTRAP_TEST_BLOCKS` = 50000
/// for the full size).
pub fn test_blocks() -> u64 {
    std::env::var("NANO_BOOTSTRAP_TEST_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000)
}

pub struct Template {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub blocks: u64,
    pub accounts: u64,
}

/// The generated ledger, once per test binary.
pub fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.ldb");
        let started = Instant::now();
        let blocks = test_blocks();
        let ledger = Ledger::open(&path, Network::Dev).unwrap();
        let g =
            test_ledger::generate(&ledger, blocks, (blocks / 8).max(100) as u32, |_| {}).unwrap();
        drop(ledger);
        eprintln!(
            "generated {} blocks / {} accounts in {:.1} s",
            g.blocks,
            g.accounts,
            started.elapsed().as_secs_f64()
        );
        Template {
            _dir: dir,
            path,
            blocks: g.blocks,
            accounts: g.accounts,
        }
    })
}

/// A data directory holding a copy of the generated ledger.
pub fn served_dir() -> tempfile::TempDir {
    let t = template();
    let dir = tempfile::tempdir().unwrap();
    copy_ledger(&t.path, &dir.path().join("data.ldb"));
    dir
}

/// Copies an LMDB environment (a directory or a single file).
pub fn copy_ledger(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().ends_with("lock.mdb") {
                continue;
            }
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// A non-voting dev node on 127.0.0.1 dialling `peers`.
pub fn config(peers: Vec<String>) -> nano_node::NodeConfig {
    nano_node::test_utils::dev_node_config(peers, None)
}

/// A serving node: answers, never bootstraps itself.
pub async fn start_server(dir: &Path) -> Arc<Node> {
    let mut o = NodeOptions::new(config(vec![]), Network::Dev, dir);
    o.bootstrap.enable_client = false;
    Node::start_with(o).await.expect("server starts")
}

/// A syncing node peered with `peers`.
pub async fn start_client(dir: &Path, peers: &[&Arc<Node>], ascending: bool) -> Arc<Node> {
    let peers = peers.iter().map(|n| peer_of(n)).collect();
    let mut o = NodeOptions::new(config(peers), Network::Dev, dir);
    o.bootstrap.enable_ascending = ascending;
    o.bootstrap.interval = Duration::from_secs(2);
    Node::start_with(o).await.expect("client starts")
}

pub fn block_count(n: &Node) -> u64 {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger.block_count(&txn).unwrap()
}

pub fn frontiers(l: &Ledger) -> BTreeMap<Account, BlockHash> {
    let txn = l.read_txn().unwrap();
    l.store()
        .accounts_from(&txn, &Account::ZERO)
        .unwrap()
        .map(|r| {
            let (a, i) = r.unwrap();
            (a, i.head)
        })
        .collect()
}

/// Every representative's weight, from the table (the cache holds only those at or
/// above the vote minimum).
pub fn weights(l: &Ledger) -> BTreeMap<Account, Amount> {
    let txn = l.read_txn().unwrap();
    l.store()
        .iter_rep_weights(&txn)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|(_, w)| !w.is_zero())
        .collect()
}

pub async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Asserts `a` and `b` hold the same ledger: counts, frontiers, weights.
pub fn assert_same_ledger(a: &Node, b: &Node) {
    assert_eq!(block_count(a), block_count(b), "block count");
    assert!(
        frontiers(&a.ledger) == frontiers(&b.ledger),
        "frontiers differ"
    );
    assert!(weights(&a.ledger) == weights(&b.ledger), "weights differ");
}
