//! A fresh node syncing from a peer is killed with SIGKILL mid-sync and restarted on the
//! same data directory: it finishes with the server's ledger and does not download again
//! what it already had.

mod common;

use common::*;
use serde_json::json;

fn count(d: &Daemon) -> u64 {
    post(d.rpc, r#"{"action":"block_count"}"#)
        .and_then(|v| v["count"].as_str().and_then(|c| c.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn killed_mid_sync_resumes_without_refetching() {
    let server_dir = tempfile::tempdir().unwrap();
    let total = {
        let ledger =
            nano_ledger::Ledger::open(&server_dir.path().join("data.ldb"), nano_core::Network::Dev)
                .unwrap();
        nano_node::bootstrap::test_ledger::generate(&ledger, 12_000, 1_500, |_| {})
            .unwrap()
            .blocks
    };
    let peering = free_port();
    let server = start_daemon(
        server_dir.path(),
        false,
        &["--config".into(), format!("node.peering_port={peering}")],
    );
    assert_eq!(count(&server), total);
    let client_dir = tempfile::tempdir().unwrap();
    let peer = vec![
        "--config".into(),
        "node.peering_port=0".into(),
        "--config".into(),
        format!("node.preconfigured_peers=[\"[::1]:{peering}\"]"),
    ];
    // First run, throttled so it is still syncing when killed.
    let mut slow = peer.clone();
    slow.extend([
        "--config".into(),
        "node.bootstrap_ascending.max_pull_count=4".into(),
        "--config".into(),
        "node.bootstrap_ascending.channel_limit=1".into(),
    ]);
    let mut client = start_daemon(client_dir.path(), false, &slow);
    assert!(
        wait_until(120, || count(&client) >= total / 4),
        "first run reached {}",
        count(&client)
    );
    // SAFETY: killing the child we spawned, by its PID.
    unsafe { libc::kill(client.child.id() as i32, libc::SIGKILL) };
    let _ = client.child.wait();
    drop(client);

    let client = start_daemon(client_dir.path(), false, &peer);
    let had = count(&client);
    assert!(
        had >= total / 4 && had < total,
        "kept {had} of {total} after the kill"
    );
    assert!(
        wait_until(120, || count(&client) == total),
        "second run reached {} of {total}",
        count(&client)
    );
    let needed = total - had;
    let status = rpc(client.rpc, json!({"action": "bootstrap_status"}));
    let received: u64 = status["blocks_received"].as_str().unwrap().parse().unwrap();
    let duplicate: u64 = status["blocks_duplicate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    eprintln!("kept {had} of {total}; second run needed {needed}, received {received}, duplicates {duplicate}");
    assert!(
        received <= needed + needed / 20 + 10,
        "received {received} for {needed} needed"
    );
    assert!(duplicate <= needed / 20 + 10, "{duplicate} duplicates");
    // Same frontiers as the server.
    let all = json!({"action": "frontiers", "account": "nano_1111111111111111111111111111111111111111111111111111hifc8npp", "count": "100000"});
    assert_eq!(
        rpc(client.rpc, all.clone())["frontiers"],
        rpc(server.rpc, all)["frontiers"]
    );
}
