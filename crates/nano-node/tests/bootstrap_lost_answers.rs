//! A serving node over its bootstrap bandwidth limit drops answers (the reference's
//! rule), and nothing tells the client: the ascending client presumes such a request
//! lost after a few of that channel's round trips and asks again, instead of holding the
//! slot for the whole `request_timeout`.

mod bootstrap_support;

use std::time::Duration;

use bootstrap_support::*;
use nano_core::Network;
use nano_node::node::{Node, NodeOptions};

/// Long enough for the sync to end many times over, unless dropped answers stall it.
const DEADLINE: Duration = Duration::from_secs(120);
/// The client's configured timeout: far past the deadline, so a sync that waits it out
/// even once cannot pass.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The server's bootstrap budget: above the largest answer (128 blocks, ~28 kB), far
/// below what a client with 16 requests in flight asks for over loopback.
const SERVER_BOOTSTRAP_BYTES_PER_S: u64 = 512 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_dropped_by_the_servers_bandwidth_limit_are_asked_again_long_before_the_timeout() {
    let t = template();
    let sdir = served_dir();
    let mut sc = config(vec![]);
    sc.bootstrap_bandwidth_limit = SERVER_BOOTSTRAP_BYTES_PER_S;
    sc.bootstrap_bandwidth_burst_ratio = 1.0;
    let mut so = NodeOptions::new(sc, Network::Dev, sdir.path());
    so.bootstrap.enable_client = false;
    let server = Node::start_with(so).await.expect("server starts");

    let cdir = tempfile::tempdir().unwrap();
    let mut co = NodeOptions::new(config(vec![peer_of(&server)]), Network::Dev, cdir.path());
    co.bootstrap.enable_ascending = true;
    co.bootstrap.interval = Duration::from_secs(2);
    co.bootstrap.request_timeout = REQUEST_TIMEOUT;
    let client = Node::start_with(co).await.expect("client starts");

    let synced = wait_for(DEADLINE, || block_count(&client) == t.blocks).await;
    let dropped = server.stats.get("drop", "bandwidth_limit", "out");
    let lost = client.stats.get("bootstrap_ascending", "presumed_lost", "");
    let status = client.bootstrap.as_ref().unwrap().status();
    assert!(
        synced,
        "synced {} of {} blocks; server dropped {dropped} answers, client presumed {lost} lost; {status:?}",
        block_count(&client),
        t.blocks
    );
    assert_same_ledger(&server, &client);
    // The limit did bite, and every request it cost was given up early, none by the
    // configured timeout.
    assert!(dropped > 0, "the server dropped nothing: no test");
    assert!(
        lost > 0,
        "server dropped {dropped}, client presumed none lost"
    );
    assert_eq!(status.requests_timed_out, lost, "{status:?}");
    client.stop().await;
    server.stop().await;
}
