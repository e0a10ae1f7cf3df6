//! Real dev nodes on loopback for consensus tests: start one voting with a given
//! representative key, peer it, submit blocks, ask what is cemented.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use nano_core::{Block, BlockHash, KeyPair, Network};
use nano_ledger::BlockStatus;
use nano_node::node::{Node, NodeOptions};
use nano_node::test_utils::dev_node_config;
pub use nano_node::test_utils::loopback_peer as peer_of;

/// A dev node on loopback voting with `rep` (if any).
pub async fn start(dir: &Path, peers: Vec<String>, rep: Option<&KeyPair>) -> Arc<Node> {
    let c = dev_node_config(peers, rep);
    Node::start_with(NodeOptions::new(c, Network::Dev, dir))
        .await
        .expect("node starts")
}

pub fn cemented(n: &Node, h: &BlockHash) -> bool {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger.block_exists(&txn, h).unwrap_or(false)
        && n.ledger.block_confirmed(&txn, h).unwrap_or(false)
}

pub fn exists(n: &Node, h: &BlockHash) -> bool {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger.block_exists(&txn, h).unwrap_or(false)
}

/// Submits `b` on `n` and expects the ledger to take it.
pub async fn submit(n: &Node, b: Block) -> BlockHash {
    let h = b.hash();
    assert_eq!(n.process_local(b).await, Ok(BlockStatus::Progress));
    h
}

/// Two nodes peered on loopback with two representatives of 50% each: genesis votes on
/// the first (in `da`), `k` (given half the supply, representing itself) on the second.
/// Returns both nodes and genesis's chain as it stands.
pub async fn half_and_half(
    da: &Path,
    db: &Path,
    k: &KeyPair,
    limit: std::time::Duration,
) -> (Arc<Node>, Arc<Node>, nano_ledger::test_support::Chain) {
    use nano_ledger::test_support::{dev_genesis_key, Chain};
    let a = start(da, vec![], Some(&dev_genesis_key())).await;
    let b = start(db, vec![peer_of(&a)], Some(k)).await;
    let peered = wait_for(limit, || !a.peers().is_empty() && !b.peers().is_empty()).await;
    assert!(peered, "the two nodes peer");
    let mut g = Chain::dev_genesis();
    let half = g.balance.0 / 2;
    let send = submit(&a, g.send(&k.public(), half)).await;
    assert!(wait_for(limit, || cemented(&a, &send) && cemented(&b, &send)).await);
    let mut kc = Chain::unopened(k.clone());
    let open = submit(&a, kc.receive(&send, half, nano_core::Epoch::Epoch0)).await;
    assert!(wait_for(limit, || cemented(&a, &open) && cemented(&b, &open)).await);
    (a, b, g)
}

async fn wait_for(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while !f() {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}
