//! The memory bounds of sync are configuration, and they hold: a fresh node whose
//! ascending client may queue 64 accounts and block 32, whose gap table holds 512
//! blocks and whose block processor queues 256 bootstrap blocks (and holds at most one
//! write batch checked for the writer), syncs the generated
//! ledger (thousands of accounts, most of them receiving from accounts not pulled
//! yet) to the same ledger, and none of those structures is ever seen above its bound.

mod bootstrap_support;

use std::time::{Duration, Instant};

use bootstrap_support::*;
use nano_core::Network;
use nano_node::node::{Node, NodeOptions};

const DEADLINE: Duration = Duration::from_secs(240);
const PRIORITIES_MAX: u64 = 64;
const BLOCKING_MAX: u64 = 32;
const UNCHECKED_MAX: u64 = 512;
const SYSTEM_QUEUE_MAX: u64 = 256;

/// The count of a leaf of RPC `stats` `objects` (`node/<path>`), 0 when absent.
fn count(tree: &serde_json::Value, path: &[&str]) -> usize {
    let mut v = tree;
    for p in path {
        v = &v[*p];
    }
    v["count"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_sync_bounds_hold_through_a_whole_sync() {
    let t = template();
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    let cdir = tempfile::tempdir().unwrap();
    let mut c = config(vec![peer_of(&server)]);
    c.bootstrap_ascending.account_sets.priorities_max = PRIORITIES_MAX;
    c.bootstrap_ascending.account_sets.blocking_max = BLOCKING_MAX;
    c.max_unchecked_blocks = UNCHECKED_MAX;
    c.block_processor.max_system_queue = SYSTEM_QUEUE_MAX;
    let mut o = NodeOptions::new(c, Network::Dev, cdir.path());
    o.bootstrap.interval = Duration::from_secs(2);
    let client = Node::start_with(o).await.expect("client starts");
    let b = client.bootstrap.as_ref().unwrap();

    let started = Instant::now();
    let (mut peak_blocked, mut peak_unchecked, mut samples) = (0usize, 0usize, 0u32);
    while block_count(&client) < t.blocks && started.elapsed() < DEADLINE {
        let st = b.status();
        assert!(st.priorities <= PRIORITIES_MAX as usize, "{st:?}");
        assert!(st.blocked <= BLOCKING_MAX as usize, "{st:?}");
        for (name, n) in b.client_sets() {
            let bound = match name {
                "targets" | "pulled_to" | "tries" => PRIORITIES_MAX + BLOCKING_MAX,
                "done" => PRIORITIES_MAX,
                // Accounts looked at again after leaving the blocked set.
                "recheck" => BLOCKING_MAX,
                // The blocked accounts' look-up order: each blocked account once.
                "blocked_order" => BLOCKING_MAX,
                _ => continue,
            };
            assert!(n <= bound as usize, "{name} = {n}");
        }
        let tree = client.container_info().to_json();
        let unchecked = count(&tree, &["node", "consensus", "unchecked"]);
        assert!(
            unchecked <= UNCHECKED_MAX as usize,
            "unchecked = {unchecked}"
        );
        // Bootstrap's own sub-queue is bounded by max_system_queue; released gap
        // blocks queue under the gap table's bound.
        let queued = count(&tree, &["node", "consensus", "block_processor"]);
        assert!(
            queued <= (SYSTEM_QUEUE_MAX + UNCHECKED_MAX) as usize,
            "block processor queue = {queued}"
        );
        // Taken from that queue by the checker: at most one write batch waits checked.
        let checked = count(&tree, &["node", "consensus", "block_checked"]);
        assert!(
            checked <= nano_node::consensus::limits::BLOCK_BATCH_MAX,
            "checked, waiting for the writer = {checked}"
        );
        peak_blocked = peak_blocked.max(st.blocked);
        peak_unchecked = peak_unchecked.max(unchecked);
        samples += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = b.status();
    assert_eq!(
        block_count(&client),
        t.blocks,
        "synced within the bounds; {status:?}"
    );
    eprintln!(
        "synced {} blocks in {:.1} s within the bounds ({samples} samples; peak blocked \
         {peak_blocked}, peak unchecked {peak_unchecked}); received {}, duplicates {}",
        t.blocks,
        started.elapsed().as_secs_f64(),
        status.blocks_received,
        status.blocks_duplicate
    );
    // The bounds were reached, so the test saw them hold under pressure.
    assert!(peak_blocked > 0, "no account was ever blocked");
    assert_same_ledger(&server, &client);
    client.stop().await;
    server.stop().await;
}
