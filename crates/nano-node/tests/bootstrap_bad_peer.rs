//! A serving peer whose blocks carry bad signatures, bad work or a wrong previous is
//! excluded by the syncing node and leaves nothing in its ledger; the sync completes
//! from an honest peer.

mod bootstrap_support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use bootstrap_support::*;
use nano_core::{Account, BlockHash, Network, Signature};
use nano_ledger::test_support::bad_work;
use nano_ledger::Ledger;

const DEADLINE: Duration = Duration::from_secs(120);

/// Rewrites the second block of most accounts in the ledger at `path`, under its
/// original hash: a flipped signature byte, work below the entry threshold, or a
/// different `previous`. Frontiers stay the same, so the peer looks like any other.
fn corrupt(path: &Path) -> HashSet<BlockHash> {
    let ledger = Ledger::open(path, Network::Dev).unwrap();
    let params = Network::Dev.params();
    let targets: Vec<BlockHash> = {
        let txn = ledger.read_txn().unwrap();
        let accounts: Vec<(Account, BlockHash)> = ledger
            .store()
            .accounts_from(&txn, &Account::ZERO)
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|(_, i)| i.block_count >= 3)
            .map(|(a, i)| (a, i.open_block))
            .collect();
        accounts
            .iter()
            .filter_map(|(_, open)| ledger.successor(&txn, open).unwrap())
            .collect()
    };
    let mut txn = ledger.write_txn().unwrap();
    for (i, h) in targets.iter().enumerate() {
        let mut sb = ledger.block(&txn, h).unwrap().unwrap();
        match i % 3 {
            0 => {
                let mut sig = sb.block.signature().0;
                sig[7] ^= 0x55;
                sb.block.set_signature(Signature(sig));
            }
            1 => {
                let w = bad_work(&sb.block.root(), params.work.entry);
                sb.block.set_work(w);
            }
            _ => {
                if let nano_core::Block::State(s) = &mut sb.block {
                    s.previous = params.genesis_hash;
                }
            }
        }
        txn.put_block(h, &sb).unwrap();
    }
    txn.commit().unwrap();
    targets.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peer_is_excluded_and_sync_finishes_from_honest_peer() {
    let t = template();
    let hdir = served_dir();
    let bdir = served_dir();
    let tampered = corrupt(&bdir.path().join("data.ldb"));
    assert!(tampered.len() > 100);
    let bad = start_server(bdir.path()).await;
    let honest = start_server(hdir.path()).await;
    let cdir = tempfile::tempdir().unwrap();
    let client = start_client(cdir.path(), &[&bad, &honest], true).await;
    let ok = wait_for(DEADLINE, || block_count(&client) == t.blocks).await;
    let status = client.bootstrap.as_ref().unwrap().status();
    assert!(
        ok,
        "synced {} of {}: {status:?}",
        block_count(&client),
        t.blocks
    );
    eprintln!(
        "bad peers {:?}; rejected {}; received {}",
        status.bad_peers, status.blocks_rejected, status.blocks_received
    );
    // The bad peer was excluded...
    let bad_port = bad.local_endpoint().unwrap().port();
    assert!(
        status
            .bad_peers
            .iter()
            .any(|p| p.ends_with(&format!(":{bad_port}"))),
        "bad peer not excluded: {:?}",
        status.bad_peers
    );
    let honest_port = honest.local_endpoint().unwrap().port();
    assert!(!status
        .bad_peers
        .iter()
        .any(|p| p.ends_with(&format!(":{honest_port}"))));
    // ...and left no trace: the ledger is the honest one, block for block.
    assert_same_ledger(&honest, &client);
    let ct = client.ledger.read_txn().unwrap();
    let ht = honest.ledger.read_txn().unwrap();
    for h in &tampered {
        let mine = client.ledger.block(&ct, h).unwrap().expect("block present");
        let theirs = honest.ledger.block(&ht, h).unwrap().unwrap();
        assert_eq!(mine.block, theirs.block);
    }
    drop((ct, ht));
    client.stop().await;
    bad.stop().await;
    honest.stop().await;
}
