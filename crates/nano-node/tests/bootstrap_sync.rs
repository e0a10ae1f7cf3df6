//! A fresh node syncs a generated dev ledger (thousands of accounts; sends, receives,
//! changes, epoch upgrades, legacy blocks) from a serving node over 127.0.0.1, in
//! ascending mode and in legacy mode, and ends with the same block count, frontiers and
//! representative weights.

mod bootstrap_support;

use std::time::{Duration, Instant};

use bootstrap_support::*;
use nano_node::events::NodeEvent;

const DEADLINE: Duration = Duration::from_secs(120);

async fn sync(ascending: bool) {
    let t = template();
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    assert_eq!(block_count(&server), t.blocks);
    let cdir = tempfile::tempdir().unwrap();
    let client = start_client(cdir.path(), &[&server], ascending).await;
    let mut events = client.events.subscribe();
    let started = Instant::now();
    let ok = wait_for(DEADLINE, || block_count(&client) == t.blocks).await;
    let secs = started.elapsed().as_secs_f64();
    let status = client.bootstrap.as_ref().unwrap().status();
    assert!(
        ok,
        "synced {} of {} blocks; {status:?}",
        block_count(&client),
        t.blocks
    );
    eprintln!(
        "{} sync: {} blocks in {secs:.1} s ({:.0} blocks/s); received {}, duplicates {}",
        if ascending { "ascending" } else { "legacy" },
        t.blocks,
        t.blocks as f64 / secs,
        status.blocks_received,
        status.blocks_duplicate
    );
    assert_same_ledger(&server, &client);
    if ascending {
        // Most accounts of the generated ledger receive before their source is synced:
        // answers were cut at such receives, the rest parked directly, and the chains
        // went in from there (the ledger is complete).
        let pulls = client.bootstrap.as_ref().unwrap().pull_counts();
        let cut: u64 = pulls
            .iter()
            .filter(|(k, _)| k.ends_with(".cut"))
            .map(|(_, v)| v)
            .sum();
        eprintln!("pulls by reason: {pulls:?}");
        assert!(cut > 0, "{pulls:?}");
    }
    assert_eq!(status.blocks_rejected, 0);
    assert!(status.bad_peers.is_empty());
    assert_eq!(
        status.mode.map(|m| m.as_str()),
        Some(if ascending { "ascending" } else { "legacy" })
    );
    // The attempt reports its end on the event bus with the reference fields.
    let mut exited = None;
    let deadline = Instant::now() + DEADLINE;
    while exited.is_none() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            Ok(Ok(NodeEvent::Bootstrap { message })) if message["reason"] == "exited" => {
                exited = Some(message)
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => break,
            _ => {}
        }
    }
    eprintln!(
        "exited event after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let m = exited.expect("an exited bootstrap event");
    assert_eq!(m["mode"], if ascending { "ascending" } else { "legacy" });
    assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(m["duration"].as_str().is_some());
    let total: u64 = m["total_blocks"].as_str().unwrap().parse().unwrap();
    assert!(total > 0);
    client.stop().await;
    eprintln!(
        "client stopped after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    server.stop().await;
    eprintln!(
        "server stopped after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascending_sync_reproduces_the_ledger() {
    sync(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sync_reproduces_the_ledger() {
    sync(false).await;
}
