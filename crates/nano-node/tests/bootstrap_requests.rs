//! Manual legacy bootstrap requests (RPC `bootstrap`, `bootstrap_any`) on nodes over
//! 127.0.0.1: the frontier scan starts at the requested account, a request with a peer
//! or `force` replaces the running attempt, one without is dropped while a legacy
//! attempt runs, and `bootstrap_status` counts the attempt's real connections.

mod bootstrap_support;

use std::sync::Arc;
use std::time::Duration;

use bootstrap_support::*;
use nano_core::Network;
use nano_node::bootstrap::{BootstrapStatus, LegacyRequest};
use nano_node::node::{Node, NodeOptions};

const DEADLINE: Duration = Duration::from_secs(60);

/// A legacy client peered with `server` that only bootstraps when asked (after the
/// round every client runs at start).
async fn start_manual_client(dir: &std::path::Path, server: &Arc<Node>) -> Arc<Node> {
    let mut o = NodeOptions::new(config(vec![peer_of(server)]), Network::Dev, dir);
    o.bootstrap.enable_ascending = false;
    o.bootstrap.interval = Duration::from_secs(3600);
    Node::start_with(o).await.expect("client starts")
}

fn status(n: &Node) -> BootstrapStatus {
    n.bootstrap.as_ref().unwrap().status()
}

/// Waits until `n` has run `attempts` attempts in all and none runs.
async fn wait_attempts(n: &Node, attempts: u64) -> BootstrapStatus {
    assert!(
        wait_for(DEADLINE, || {
            let s = status(n);
            s.attempts_total >= attempts && !s.running
        })
        .await,
        "{:?}",
        status(n)
    );
    status(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontier_scan_starts_at_the_requested_account() {
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    // The client holds the same ledger: every scan finds nothing to pull, and counts
    // the frontiers it received.
    let cdir = served_dir();
    let client = start_manual_client(cdir.path(), &server).await;
    assert!(wait_for(DEADLINE, || !client.peers().is_empty()).await);
    let first = wait_attempts(&client, 1).await;
    let accounts: Vec<_> = frontiers(&server.ledger).into_keys().collect();
    assert_eq!(first.frontiers_received, accounts.len() as u64);

    let start = accounts[accounts.len() / 3];
    let expected = accounts.iter().filter(|a| **a >= start).count() as u64;
    let b = client.bootstrap.as_ref().unwrap();
    assert!(b.bootstrap_legacy(LegacyRequest {
        id: Some("from-a-third".into()),
        start,
        ..LegacyRequest::default()
    }));
    let after = wait_attempts(&client, 2).await;
    assert_eq!(after.id.as_deref(), Some("from-a-third"));
    assert_eq!(
        after.frontiers_received - first.frontiers_received,
        expected,
        "only the accounts from the start account on"
    );
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_replaces_a_running_attempt_and_status_counts_its_connections() {
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    let cdir = served_dir();
    let client = start_manual_client(cdir.path(), &server).await;
    assert!(wait_for(DEADLINE, || !client.peers().is_empty()).await);
    wait_attempts(&client, 1).await;
    let b = client.bootstrap.as_ref().unwrap();

    // A peer that accepts and never answers keeps an attempt running.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            conns.push(s);
            if conns.len() > 64 {
                break;
            }
        }
    });
    assert!(b.bootstrap_legacy(LegacyRequest {
        peer: Some(silent_addr),
        id: Some("stuck".into()),
        ..LegacyRequest::default()
    }));
    assert!(
        wait_for(DEADLINE, || {
            let s = status(&client);
            s.running && s.id.as_deref() == Some("stuck") && s.clients == 1
        })
        .await,
        "{:?}",
        status(&client)
    );
    let s = status(&client);
    // One frontier connection open; the pull connections open with the first pull.
    assert_eq!((s.clients, s.connections, s.idle, s.pulls), (1, 1, 0, 0));
    assert_eq!(
        s.target_connections,
        1 + 4,
        "frontier scan + bootstrap_connections"
    );
    assert!(!s.frontiers_started);
    let json = s.to_json();
    assert_eq!(json["connections"]["clients"], "1");
    assert_eq!(json["connections"]["target_connections"], "5");
    assert_eq!(json["attempts"][0]["mode"], "legacy");
    assert_eq!(json["attempts"][0]["frontiers_received"], "false");
    assert_eq!(
        json["attempts"][0]["last_account"],
        nano_core::Account::ZERO.encode_account()
    );

    // Without force a request is dropped while a legacy attempt runs.
    assert!(b.bootstrap_legacy(LegacyRequest {
        id: Some("dropped".into()),
        ..LegacyRequest::default()
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = status(&client);
    assert!(s.running && s.id.as_deref() == Some("stuck"), "{s:?}");
    assert_eq!(s.attempts_total, 2);

    // With force the stuck attempt ends and the new one runs with the server.
    assert!(b.bootstrap_legacy(LegacyRequest {
        id: Some("forced".into()),
        force: true,
        ..LegacyRequest::default()
    }));
    let s = wait_attempts(&client, 3).await;
    assert_eq!(s.id.as_deref(), Some("forced"));
    assert_eq!(s.attempts_total, 3, "the dropped request never ran");
    assert!(s.frontiers_started);
    assert!(
        wait_for(DEADLINE, || status(&client).connections == 0).await,
        "every client connection closed: {:?}",
        status(&client)
    );
    let json = status(&client).to_json();
    assert_eq!(json["running_attempts_count"], "0");
    assert_eq!(json["attempts"], serde_json::json!([]));
    assert_eq!(json["connections"]["target_connections"], "0");
    held.abort();
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_info_shows_the_ascending_queue_in_pull_order() {
    let t = template();
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    let cdir = tempfile::tempdir().unwrap();
    let client = start_client(cdir.path(), &[&server], true).await;
    let b = client.bootstrap.as_ref().unwrap();
    let mut seen = None;
    let deadline = std::time::Instant::now() + DEADLINE;
    while seen.is_none() && std::time::Instant::now() < deadline {
        let (queued, _) = b.priority_info();
        if queued.len() >= 2 {
            seen = Some(queued);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let queued = seen.expect("the round queued accounts to pull");
    // Pulled in queue order: the priority is the rank, the next account the highest.
    for w in queued.windows(2) {
        assert_eq!(w[0].1, w[1].1 + 1, "{:?}", &queued[..2]);
    }
    assert!(queued.last().unwrap().1 >= 1);
    let served = frontiers(&server.ledger);
    assert!(queued.iter().all(|(a, _)| served.contains_key(a)));
    // Once synced and the round over, nothing is queued or blocked.
    assert!(wait_for(DEADLINE, || block_count(&client) == t.blocks).await);
    assert!(
        wait_for(DEADLINE, || {
            let (q, blocked) = b.priority_info();
            !b.is_running() && q.is_empty() && blocked.is_empty()
        })
        .await,
        "{:?}",
        b.priority_info()
    );
    client.stop().await;
    server.stop().await;
}
