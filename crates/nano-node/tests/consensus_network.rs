//! Consensus between real nodes on 127.0.0.1 (TCP peering, OS-assigned ports), the dev
//! genesis key voting on node A through `representative_key`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::{Block, BlockHash, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::BlockStatus;
use nano_node::node::{Node, NodeOptions};
use nano_node::test_utils::{dev_node_config, loopback_peer};
use nano_node::DaemonConfig;

const DEADLINE: Duration = Duration::from_secs(40);

async fn start(dir: &Path, peers: Vec<String>, voting: bool) -> Arc<Node> {
    let genesis = dev_genesis_key();
    let c = dev_node_config(peers, voting.then_some(&genesis));
    Node::start_with(NodeOptions::new(c, Network::Dev, dir))
        .await
        .expect("node starts")
}

async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn cemented(n: &Node, h: &BlockHash) -> bool {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger.block_exists(&txn, h).unwrap_or(false)
        && n.ledger.block_confirmed(&txn, h).unwrap_or(false)
}

fn exists(n: &Node, h: &BlockHash) -> bool {
    let txn = n.ledger.read_txn().unwrap();
    n.ledger.block_exists(&txn, h).unwrap_or(false)
}

/// A (voting), B and C, all peered with A and, through keepalives, with each other.
async fn cluster(dirs: &[tempfile::TempDir; 3]) -> Vec<Arc<Node>> {
    let a = start(dirs[0].path(), vec![], true).await;
    let b = start(dirs[1].path(), vec![loopback_peer(&a)], false).await;
    let c = start(
        dirs[2].path(),
        vec![loopback_peer(&a), loopback_peer(&b)],
        false,
    )
    .await;
    let nodes = vec![a, b, c];
    assert!(
        wait_for(DEADLINE, || nodes.iter().all(|n| n.peers().len() >= 2)).await,
        "mesh: {:?}",
        nodes.iter().map(|n| n.peers().len()).collect::<Vec<_>>()
    );
    nodes
}

fn dirs() -> [tempfile::TempDir; 3] {
    [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    ]
}

async fn stop_all(nodes: &[Arc<Node>]) {
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_burst_are_cemented_on_three_nodes() {
    let d = dirs();
    let nodes = cluster(&d).await;
    let mut g = Chain::dev_genesis();
    let dest = test_key(1).public();
    // One send on B.
    let s = g.send(&dest, 1);
    let h = s.hash();
    assert_eq!(nodes[1].process_local(s).await, Ok(BlockStatus::Progress));
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            wait_for(DEADLINE, || cemented(n, &h)).await,
            "send on node {i}"
        );
    }
    // A burst of 1,000 chained sends on B.
    let blocks: Vec<Block> = (0..1000).map(|_| g.send(&dest, 1)).collect();
    let head = blocks.last().unwrap().hash();
    let pending: Vec<_> = blocks
        .into_iter()
        .map(|b| nodes[1].process_local(b))
        .collect();
    for p in pending {
        assert_eq!(p.await, Ok(BlockStatus::Progress));
    }
    for (i, n) in nodes.iter().enumerate() {
        let ok = wait_for(DEADLINE, || cemented(n, &head)).await;
        assert!(
            ok,
            "burst on node {i}: cemented {}",
            n.ledger.cemented_count()
        );
        assert_eq!(n.ledger.cemented_count(), 1002);
    }
    stop_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_ends_with_one_winner_everywhere() {
    let d = dirs();
    let nodes = cluster(&d).await;
    let g = Chain::dev_genesis();
    let (mut g1, mut g2) = (g.clone(), g);
    let s1 = g1.send(&test_key(1).public(), 10);
    let s2 = g2.send(&test_key(2).public(), 20);
    let (h1, h2) = (s1.hash(), s2.hash());
    let (r1, r2) = tokio::join!(nodes[1].process_local(s1), nodes[2].process_local(s2));
    assert!(r1.is_ok() && r2.is_ok());
    let ok = wait_for(DEADLINE, || {
        nodes.iter().all(|n| cemented(n, &h1) && !exists(n, &h2))
            || nodes.iter().all(|n| cemented(n, &h2) && !exists(n, &h1))
    })
    .await;
    assert!(
        ok,
        "{:?}",
        nodes
            .iter()
            .map(|n| (exists(n, &h1), exists(n, &h2)))
            .collect::<Vec<_>>()
    );
    stop_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_catches_up_after_a_burst() {
    let d = dirs();
    let mut nodes = cluster(&d).await;
    let mut g = Chain::dev_genesis();
    let dest = test_key(1).public();
    let blocks: Vec<Block> = (0..400).map(|_| g.send(&dest, 1)).collect();
    let mut pending = Vec::new();
    for b in &blocks[..150] {
        pending.push(nodes[1].process_local(b.clone()));
    }
    // C goes down in the middle of the burst.
    let c = nodes.pop().unwrap();
    c.stop().await;
    drop(c);
    for b in &blocks[150..] {
        pending.push(nodes[1].process_local(b.clone()));
    }
    for p in pending {
        assert_eq!(p.await, Ok(BlockStatus::Progress));
    }
    let head = blocks.last().unwrap().hash();
    assert!(wait_for(DEADLINE, || cemented(&nodes[1], &head)).await);
    // C restarts on its ledger; the next block reveals the gap and it fetches the rest.
    let c = start(
        d[2].path(),
        vec![loopback_peer(&nodes[0]), loopback_peer(&nodes[1])],
        false,
    )
    .await;
    assert!(wait_for(DEADLINE, || c.peers().len() >= 2).await);
    let extra = g.send(&dest, 1);
    let eh = extra.hash();
    assert_eq!(
        nodes[1].process_local(extra).await,
        Ok(BlockStatus::Progress)
    );
    let ok = wait_for(DEADLINE, || cemented(&c, &eh)).await;
    assert!(ok, "restarted node: cemented {}", c.ledger.cemented_count());
    assert_eq!(c.ledger.cemented_count(), 402);
    nodes.push(c);
    stop_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_representative_votes_and_rpc_views_work() {
    let d = tempfile::tempdir().unwrap();
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.enable_voting = true;
    let mut opts = NodeOptions::new(c, Network::Dev, d.path());
    opts.enable_network = false;
    let node = Node::start_with(opts).await.expect("node starts");
    assert!(node.local_representatives().is_empty());
    // The genesis key in an unlocked wallet makes the node a voting representative.
    let genesis = dev_genesis_key();
    let id = node.wallets.create(genesis.public()).unwrap();
    node.wallets.insert_adhoc(id, genesis.private()).unwrap();
    let mut events = node.events.subscribe();
    let mut g = Chain::dev_genesis();
    let s = g.send(&test_key(1).public(), 1);
    let h = s.hash();
    assert_eq!(node.process_local(s).await, Ok(BlockStatus::Progress));
    // The election exists when the submitter hears back (no representative yet).
    assert!(node.active_elections().iter().any(|e| e.winner == h));
    // Wallet representatives are picked up within a few seconds.
    assert!(wait_for(DEADLINE, || cemented(&node, &h)).await);
    assert_eq!(node.local_representatives(), vec![genesis.public()]);
    let history = node.confirmation_history();
    assert!(history
        .iter()
        .any(|e| e.winner == h && e.final_tally > nano_core::Amount::ZERO));
    let q = node.confirmation_quorum();
    assert!(q.online_weight_minimum > nano_core::Amount::ZERO);
    let mut saw_quorum = false;
    let mut saw_vote = false;
    while let Ok(e) = events.try_recv() {
        match e {
            nano_node::events::NodeEvent::BlockConfirmed {
                hash,
                confirmation_type,
                election,
                ..
            } if hash == h => {
                saw_quorum = confirmation_type == nano_node::events::ConfirmationType::ActiveQuorum
                    && election.is_some();
            }
            nano_node::events::NodeEvent::Vote { kind, .. } if kind == "vote" => saw_vote = true,
            _ => {}
        }
    }
    assert!(saw_quorum && saw_vote);
    assert!(node.peers().is_empty());
    node.stop().await;
}
