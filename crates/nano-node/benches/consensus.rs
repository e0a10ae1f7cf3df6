//! Macro benchmark of consensus throughput (prints figures; not a criterion bench):
//!
//! * confirmed blocks per second in a three-node cluster (A votes with the dev genesis
//!   key; blocks are submitted on B) for (a) 10,000 sends spread over 1,000 accounts
//!   and (b) a 2,000-block chain from one account — over real TCP peering on 127.0.0.1
//!   and over the in-memory loopback transport. A representative votes only for a
//!   block whose dependents are cemented, so a chain is confirmed one election after
//!   another;
//! * the single-node accept rate through the block processor (no voting).
//!
//! Blocks (with dev proof of work) are generated before timing starts. The clock runs
//! from the first submission until the last block is cemented on all three nodes.
//!
//! Run: `cargo bench -p nano-node --bench consensus` (`CONSENSUS_BENCH_N` changes the
//! spread block count, `CONSENSUS_BENCH_CHAIN` the chain length).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::{Block, BlockHash, Epoch, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;
use nano_node::consensus::loopback::LoopbackHub;
use nano_node::consensus::{
    dev_voting_config, wait_until, BlockSource, Consensus, ConsensusConfig,
};
use nano_node::events::EventBus;
use nano_node::node::{Node, NodeOptions};
use nano_node::stats::Stats;
use nano_node::test_utils::{dev_node_config, loopback_peer};

struct Workload {
    name: &'static str,
    setup: Vec<Block>,
    timed: Vec<Block>,
    /// Heads whose cementing means every timed block is cemented.
    heads: Vec<BlockHash>,
    total_blocks_after: u64,
}

fn chain_workload(n: usize) -> Workload {
    let mut g = Chain::dev_genesis();
    let dest = test_key(1).public();
    let timed: Vec<Block> = (0..n).map(|_| g.send(&dest, 1)).collect();
    Workload {
        name: "one-account chain",
        setup: vec![],
        heads: vec![g.head],
        total_blocks_after: 1 + n as u64,
        timed,
    }
}

fn spread_workload(n: usize, accounts: usize) -> Workload {
    let mut g = Chain::dev_genesis();
    let mut setup = Vec::new();
    let mut chains: Vec<Chain> = (0..accounts as u32)
        .map(|i| Chain::unopened(test_key(1000 + i)))
        .collect();
    for c in chains.iter_mut() {
        let s = g.send(&c.account, 1_000_000);
        let h = s.hash();
        setup.push(s);
        setup.push(c.receive(&h, 1_000_000, Epoch::Epoch0));
    }
    let dest = test_key(1).public();
    let mut timed = Vec::with_capacity(n);
    for i in 0..n {
        timed.push(chains[i % accounts].send(&dest, 1));
    }
    Workload {
        name: "sends over 1,000 accounts",
        total_blocks_after: 1 + setup.len() as u64 + n as u64,
        heads: chains.iter().map(|c| c.head).collect(),
        setup,
        timed,
    }
}

fn cemented(ledger: &Ledger, heads: &[BlockHash]) -> bool {
    let Ok(txn) = ledger.read_txn() else {
        return false;
    };
    heads.iter().all(|h| {
        ledger.block_confirmed(&txn, h).unwrap_or(false)
            && ledger.block_exists(&txn, h).unwrap_or(false)
    })
}

// ---------------------------------------------------------------- loopback

fn loopback_cluster(dir: &Path) -> Vec<(Arc<Ledger>, Arc<Consensus>)> {
    let hub = LoopbackHub::new();
    (0..3)
        .map(|i| {
            let ledger = Arc::new(Ledger::open(&dir.join(format!("n{i}")), Network::Dev).unwrap());
            let cfg = if i == 0 {
                dev_voting_config()
            } else {
                ConsensusConfig::for_network(Network::Dev)
            };
            let c = Consensus::new(
                ledger.clone(),
                cfg,
                Arc::new(Stats::new()),
                EventBus::default(),
            );
            let out = hub.join();
            let slot = out.slot();
            c.set_outbound(out);
            hub.attach(slot, c.clone());
            c.start().unwrap();
            (ledger, c)
        })
        .collect()
}

fn run_loopback(w: &Workload) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let nodes = loopback_cluster(dir.path());
    let submit = |blocks: &[Block]| {
        for b in blocks {
            while !nodes[1].1.submit(b.clone(), BlockSource::Local, None) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    if !w.setup.is_empty() {
        submit(&w.setup);
        let setup_heads: Vec<BlockHash> = vec![
            w.setup[w.setup.len() - 1].hash(),
            w.setup[w.setup.len() - 2].hash(),
        ];
        let total = 1 + w.setup.len() as u64;
        assert!(wait_until(Duration::from_secs(300), || nodes.iter().all(
            |(l, _)| cemented(l, &setup_heads) && l.cemented_count() == total
        )));
    }
    let t = Instant::now();
    submit(&w.timed);
    let ok = wait_until(Duration::from_secs(600), || {
        nodes
            .iter()
            .all(|(l, _)| cemented(l, &w.heads) && l.cemented_count() == w.total_blocks_after)
    });
    let el = t.elapsed();
    assert!(ok, "loopback {}: not everything cemented", w.name);
    for (_, c) in &nodes {
        c.stop();
    }
    w.timed.len() as f64 / el.as_secs_f64()
}

// ---------------------------------------------------------------- TCP

async fn tcp_node(dir: &Path, peers: Vec<String>, voting: bool) -> Arc<Node> {
    let genesis = nano_ledger::test_support::dev_genesis_key();
    let c = dev_node_config(peers, voting.then_some(&genesis));
    Node::start_with(NodeOptions::new(c, Network::Dev, dir))
        .await
        .unwrap()
}

async fn run_tcp(w: &Workload) -> f64 {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = tcp_node(dirs[0].path(), vec![], true).await;
    let pa = loopback_peer(&a);
    let b = tcp_node(dirs[1].path(), vec![pa.clone()], false).await;
    let pb = loopback_peer(&b);
    let c = tcp_node(dirs[2].path(), vec![pa, pb], false).await;
    let nodes = [a, b, c];
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes.iter().any(|n| n.peers().len() < 2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wait = |heads: Vec<BlockHash>, total: u64| {
        let nodes = nodes.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            while Instant::now() < deadline {
                if nodes
                    .iter()
                    .all(|n| cemented(&n.ledger, &heads) && n.ledger.cemented_count() == total)
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        }
    };
    if !w.setup.is_empty() {
        let futs: Vec<_> = w
            .setup
            .iter()
            .map(|b| nodes[1].process_local(b.clone()))
            .collect();
        for f in futs {
            f.await.unwrap();
        }
        let heads = vec![
            w.setup[w.setup.len() - 1].hash(),
            w.setup[w.setup.len() - 2].hash(),
        ];
        assert!(
            wait(heads, 1 + w.setup.len() as u64).await,
            "setup cemented"
        );
    }
    let t = Instant::now();
    let futs: Vec<_> = w
        .timed
        .iter()
        .map(|b| nodes[1].process_local(b.clone()))
        .collect();
    for f in futs {
        f.await.unwrap();
    }
    let ok = wait(w.heads.clone(), w.total_blocks_after).await;
    let el = t.elapsed();
    assert!(ok, "tcp {}: not everything cemented", w.name);
    for n in &nodes {
        n.stop().await;
    }
    w.timed.len() as f64 / el.as_secs_f64()
}

// ---------------------------------------------------------------- single node

fn run_single(w: &Workload) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&dir.path().join("data.ldb"), Network::Dev).unwrap());
    let c = Consensus::new(
        ledger,
        ConsensusConfig::for_network(Network::Dev),
        Arc::new(Stats::new()),
        EventBus::default(),
    );
    c.start().unwrap();
    let t = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    for b in &w.timed {
        let tx = tx.clone();
        // The local queue holds 64k blocks: no retry needed.
        c.submit(
            b.clone(),
            BlockSource::Local,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
    }
    for _ in 0..w.timed.len() {
        let r = rx.recv().unwrap();
        assert!(matches!(r, Ok(nano_ledger::BlockStatus::Progress)), "{r:?}");
    }
    let el = t.elapsed();
    c.stop();
    w.timed.len() as f64 / el.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let n = env("CONSENSUS_BENCH_N", 10_000);
    let chain_len = env("CONSENSUS_BENCH_CHAIN", 2_000);
    let t = Instant::now();
    let chain = chain_workload(chain_len);
    let spread = spread_workload(n, 1000);
    println!(
        "generated {} + {} blocks in {:.1?}",
        chain.timed.len(),
        spread.setup.len() + spread.timed.len(),
        t.elapsed()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "single node accept rate ({} chained blocks, process only): {:.0} blocks/s",
        n,
        run_single(&chain_workload(n))
    );
    for w in [&spread, &chain] {
        let cps = rt.block_on(run_tcp(w));
        println!(
            "three nodes, TCP loopback, {} ({} blocks): {:.0} confirmed blocks/s",
            w.name,
            w.timed.len(),
            cps
        );
        let cps = run_loopback(w);
        println!(
            "three nodes, in-memory transport, {} ({} blocks): {:.0} confirmed blocks/s",
            w.name,
            w.timed.len(),
            cps
        );
    }
}
