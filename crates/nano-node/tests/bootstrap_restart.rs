//! A fresh node stopped in the middle of a sync and started again on the same data
//! directory finishes the sync without downloading again what its ledger already held.

mod bootstrap_support;

use std::time::Duration;

use bootstrap_support::*;

const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_continues_without_refetching() {
    let t = template();
    let sdir = served_dir();
    let server = start_server(sdir.path()).await;
    let cdir = tempfile::tempdir().unwrap();

    // First run: stop once about a third has arrived.
    let client = start_client(cdir.path(), &[&server], true).await;
    let third = t.blocks / 3;
    assert!(
        wait_for(DEADLINE, || block_count(&client) >= third).await,
        "first run reached {} blocks",
        block_count(&client)
    );
    client.stop().await;
    let first = client.bootstrap.as_ref().unwrap().status();
    drop(client);

    // Second run on the same directory.
    let client = start_client(cdir.path(), &[&server], true).await;
    let had = block_count(&client);
    assert!(had < t.blocks, "the first run must stop mid-sync ({had})");
    let needed = t.blocks - had;
    assert!(
        wait_for(DEADLINE, || block_count(&client) == t.blocks).await,
        "second run reached {} of {}",
        block_count(&client),
        t.blocks
    );
    let second = client.bootstrap.as_ref().unwrap().status();
    eprintln!(
        "first run: received {} (ledger {had}); second run: needed {needed}, received {}, duplicates {}",
        first.blocks_received, second.blocks_received, second.blocks_duplicate
    );
    // What the ledger held is not fetched again: blocks that arrive and turn out to be
    // in the ledger already are counted as duplicates, and there are next to none.
    assert!(
        second.blocks_duplicate <= needed / 20 + 128,
        "{} duplicates for {needed} needed",
        second.blocks_duplicate
    );
    // Total traffic stays close to what was missing. Some blocks are pulled twice
    // within the second run: a chain whose receive waited in the in-memory gap table
    // for its source can be pulled again from the ledger head before the released block
    // lands (seen: up to ~8% over). The allowance covers that, not refetching the
    // ledger: a refetch of what the first run stored would exceed it by far (6k+ blocks).
    assert!(
        second.blocks_received <= needed + needed * 3 / 20 + 128,
        "received {} for {needed} needed",
        second.blocks_received
    );
    assert_same_ledger(&server, &client);
    client.stop().await;
    server.stop().await;
}
