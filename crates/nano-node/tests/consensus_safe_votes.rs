//! The vote rules between real nodes, watched from the wire: an independent peer (the
//! handshake and messages written here, not the node's network code) records every
//! confirm_ack a node sends.

mod consensus_support;
mod network_support;

use std::collections::HashSet;
use std::time::Duration;

use consensus_support::{cemented, exists, half_and_half, peer_of, start, submit};
use futures::{SinkExt, StreamExt};
use nano_core::{Amount, BlockHash, Epoch, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_messages::{ConfirmReq, Message, Vote};
use network_support::{raw_handshake, wait_until, RawConn};

const DEADLINE: Duration = Duration::from_secs(30);

/// Every vote read from `conn` for `duration`: (representative, hashes, final?).
async fn read_votes(
    conn: &mut RawConn,
    duration: Duration,
) -> Vec<(nano_core::Account, Vec<BlockHash>, bool)> {
    let end = tokio::time::Instant::now() + duration;
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(end, conn.next()).await {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => return out,
            Ok(Some(Ok(frame))) => {
                if let Ok(Message::ConfirmAck(a)) = frame.message {
                    let v = a.vote;
                    out.push((v.account, v.hashes, v.timestamp == Vote::FINAL_TIMESTAMP));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_weight_votes_only_for_the_first_block_of_a_chain() {
    let genesis = dev_genesis_key();
    let k = test_key(171);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two representatives of 50% each: genesis on A, K on B.
    let (a, b, mut g) = half_and_half(da.path(), db.path(), &k, DEADLINE).await;
    let half = a.ledger.weight(&k.public()).0;
    // A has heard K vote, so K counts online: genesis alone is below the quorum.
    assert!(
        wait_until(DEADLINE, || a.confirmation_quorum().online_stake_total.0
            > half)
        .await
    );

    // B stops; an independent peer connects to A and watches.
    b.stop().await;
    let b_dir = db;
    drop(b);
    let port = a.local_endpoint().unwrap().port();
    let mut watcher = raw_handshake(port, &test_key(172), Network::Dev.params().genesis_hash)
        .await
        .expect("watcher handshakes with A");
    assert!(wait_until(DEADLINE, || a.peers().len() == 1).await);

    // A 5-send chain on A.
    let chain: Vec<_> = (0..5)
        .map(|i| g.send(&test_key(180 + i).public(), 1))
        .collect();
    let hashes: Vec<BlockHash> = chain.iter().map(|b| b.hash()).collect();
    for blk in chain.clone() {
        submit(&a, blk).await;
    }
    // The watcher also asks A about every block of the chain.
    let pairs = chain.iter().map(|b| (b.hash(), b.root())).collect();
    watcher
        .send(Message::ConfirmReq(ConfirmReq { pairs }))
        .await
        .unwrap();
    let votes = read_votes(&mut watcher, Duration::from_secs(4)).await;
    let by_genesis: Vec<_> = votes
        .iter()
        .filter(|(r, _, _)| *r == genesis.public())
        .collect();
    let voted: HashSet<BlockHash> = by_genesis
        .iter()
        .flat_map(|(_, h, _)| h.iter().copied())
        .collect();
    assert_eq!(
        voted,
        HashSet::from([hashes[0]]),
        "A's representative votes for block 1 only"
    );
    assert!(
        by_genesis.iter().all(|(_, _, f)| !f),
        "no final vote without a quorum"
    );
    for h in &hashes {
        assert!(!cemented(&a, h), "nothing cemented with half the weight");
    }

    // B comes back: the chain is cemented on both, one block after another.
    let b = start(b_dir.path(), vec![peer_of(&a)], Some(&k)).await;
    let last = *hashes.last().unwrap();
    assert!(
        wait_until(DEADLINE, || cemented(&a, &last) && cemented(&b, &last)).await,
        "chain cemented on both nodes"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_published_to_four_nodes_ends_with_one_winner() {
    // Representatives 30/30/20/20: genesis keeps 30% and votes on node 0.
    let genesis = dev_genesis_key();
    let reps = [test_key(271), test_key(272), test_key(273)];
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let n0 = start(dirs[0].path(), vec![], Some(&genesis)).await;
    let mut nodes = vec![n0];
    for (i, k) in reps.iter().enumerate() {
        let peers = nodes.iter().map(|n| peer_of(n)).collect();
        nodes.push(start(dirs[i + 1].path(), peers, Some(k)).await);
    }
    assert!(
        wait_until(DEADLINE, || nodes.iter().all(|n| n.peers().len() >= 3)).await,
        "peers: {:?}",
        nodes.iter().map(|n| n.peers().len()).collect::<Vec<_>>()
    );
    let mut g = Chain::dev_genesis();
    let tenth = g.balance.0 / 10;
    for (k, share) in reps.iter().zip([3 * tenth, 2 * tenth, 2 * tenth]) {
        let s = submit(&nodes[0], g.send(&k.public(), share)).await;
        let o = submit(
            &nodes[0],
            Chain::unopened(k.clone()).receive(&s, share, Epoch::Epoch0),
        )
        .await;
        assert!(
            wait_until(DEADLINE, || nodes.iter().all(|n| cemented(n, &o))).await,
            "weight moved to {}",
            k.public()
        );
    }
    assert!(nodes[0].ledger.weight(&genesis.public()) < Amount(3 * tenth + tenth / 10));

    // Every node must count all four representatives online before the fork: with one
    // of them unheard, 60% is a quorum of the 80% online (the reference behaves the
    // same way; its online weight is the weight it has heard from).
    let marker = submit(&nodes[0], g.send(&test_key(280).public(), 1)).await;
    let supply = Amount::MAX;
    let all_online = |n: &nano_node::node::Node| {
        n.confirmation_quorum().online_stake_total.0 >= supply.0 / 100 * 99
    };
    assert!(
        wait_until(DEADLINE, || nodes
            .iter()
            .all(|n| cemented(n, &marker) && all_online(n)))
        .await,
        "online: {:?}",
        nodes
            .iter()
            .map(|n| n.confirmation_quorum().online_stake_total)
            .collect::<Vec<_>>()
    );

    // Two sends at one root, published at once to different nodes.
    let mut alt = g.clone();
    let x = g.send(&test_key(281).public(), 1);
    let y = alt.send(&test_key(282).public(), 1);
    let root = x.qualified_root();
    let (xh, yh) = (x.hash(), y.hash());
    let (n0, n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let _ = tokio::join!(
        n0.process_local(x.clone()),
        n1.process_local(x),
        n2.process_local(y.clone()),
        n3.process_local(y),
    );
    let settled =
        |w: &BlockHash, l: &BlockHash| nodes.iter().all(|n| cemented(n, w) && !exists(n, l));
    let ok = wait_until(DEADLINE, || settled(&xh, &yh) || settled(&yh, &xh)).await;
    if !ok {
        for (i, n) in nodes.iter().enumerate() {
            let txn = n.ledger.read_txn().unwrap();
            let fv = n.ledger.store().final_vote(&txn, &root).unwrap();
            eprintln!(
                "node {i}: x {} {} y {} {} final {fv:?} elections {:?}",
                exists(n, &xh),
                cemented(n, &xh),
                exists(n, &yh),
                cemented(n, &yh),
                n.active_elections()
                    .iter()
                    .map(|e| (e.winner, e.tallies.clone()))
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(ok, "one winner cemented everywhere, the loser gone");
    let winner = if settled(&xh, &yh) { xh } else { yh };
    for (i, n) in nodes.iter().enumerate() {
        let txn = n.ledger.read_txn().unwrap();
        let recorded = n.ledger.store().final_vote(&txn, &root).unwrap();
        assert!(
            recorded.is_none() || recorded == Some(winner),
            "node {i} final-voted {recorded:?}, the winner is {winner}"
        );
    }
    for n in &nodes {
        n.stop().await;
    }
}
