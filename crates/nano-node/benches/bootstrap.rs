//! Bootstrap throughput over loopback with full validation: a serving node holding a
//! generated dev ledger, a fresh node syncing it (ascending, then legacy), blocks per
//! second until the fresh ledger has every block.
//!
//! `cargo bench -p nano-node --bench bootstrap` runs 50,000 and 1,000,000 blocks;
//! `NANO_BOOTSTRAP_BENCH_SIZES=50000` picks sizes, `NANO_BOOTSTRAP_BENCH_MODES=ascending`
//! picks modes. Generated ledgers are cached under `target/bootstrap-bench/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::Network;
use nano_ledger::{Ledger, StoreOptions};
use nano_node::bootstrap::test_ledger;
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;

fn cache_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bootstrap-bench")
}

fn store_options() -> StoreOptions {
    StoreOptions {
        map_size: 64 << 30,
        ..StoreOptions::default()
    }
}

/// The cached ledger of `blocks` blocks (generated on first use).
fn cached_ledger(blocks: u64) -> PathBuf {
    let dir = cache_dir().join(format!("ledger-{blocks}"));
    let done = dir.join("complete");
    let path = dir.join("data.ldb");
    if done.exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let ledger = Ledger::open_with(&path, Network::Dev, &store_options()).unwrap();
    let g = test_ledger::generate(&ledger, blocks, (blocks / 8).max(100) as u32, |n| {
        eprint!("\rgenerating: {n} blocks");
    })
    .unwrap();
    drop(ledger);
    eprintln!(
        "\rgenerated {} blocks / {} accounts in {:.1} s",
        g.blocks,
        g.accounts,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&done, format!("{} {}", g.blocks, g.accounts)).unwrap();
    path
}

fn copy_ledger(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().ends_with("lock.mdb") {
                continue;
            }
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

fn config(peers: Vec<String>) -> nano_node::NodeConfig {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.preconfigured_peers = peers;
    c.allow_local_peers = true;
    c.enable_udp = false;
    c.enable_voting = false;
    c.lmdb.map_size = 64 << 30;
    c
}

fn count(n: &Node) -> u64 {
    let t = n.ledger.read_txn().unwrap();
    n.ledger.block_count(&t).unwrap()
}

async fn run(blocks: u64, ascending: bool) {
    let cached = cached_ledger(blocks);
    let sdir = tempfile::tempdir().unwrap();
    copy_ledger(&cached, &sdir.path().join("data.ldb"));
    let mut so = NodeOptions::new(config(vec![]), Network::Dev, sdir.path());
    so.bootstrap.enable_client = false;
    let server: Arc<Node> = Node::start_with(so).await.unwrap();
    let total = count(&server);
    let cdir = tempfile::tempdir().unwrap();
    let peer = format!("127.0.0.1:{}", server.local_endpoint().unwrap().port());
    let mut co = NodeOptions::new(config(vec![peer]), Network::Dev, cdir.path());
    co.bootstrap.enable_ascending = ascending;
    co.bootstrap.interval = Duration::from_secs(1);
    let started = Instant::now();
    let client = Node::start_with(co).await.unwrap();
    let limit = Duration::from_secs(60) + Duration::from_millis(blocks); // 1 ms per block
    let mut last_print = Instant::now();
    while count(&client) < total && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_print.elapsed() > Duration::from_secs(10) {
            last_print = Instant::now();
            eprintln!("  ... {} / {total}", count(&client));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let got = count(&client);
    let st = client.bootstrap.as_ref().unwrap().status();
    println!(
        "bootstrap {:9} {:>8} blocks: {} synced in {:.2} s = {:.0} blocks/s (received {}, duplicates {}, rejected {}, processor overfill {}, gap_source {}){}",
        if ascending { "ascending" } else { "legacy" },
        total,
        got,
        secs,
        got.saturating_sub(1) as f64 / secs,
        st.blocks_received,
        st.blocks_duplicate,
        st.blocks_rejected,
        client.stats.get("blockprocessor", "overfill", "in"),
        client.stats.get("ledger", "gap_source", "in"),
        if got < total { " INCOMPLETE" } else { "" }
    );
    client.stop().await;
    server.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let sizes: Vec<u64> = std::env::var("NANO_BOOTSTRAP_BENCH_SIZES")
        .unwrap_or_else(|_| "50000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let modes =
        std::env::var("NANO_BOOTSTRAP_BENCH_MODES").unwrap_or_else(|_| "ascending,legacy".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        for m in modes.split(',') {
            let ascending = m.trim() != "legacy";
            rt.block_on(run(n, ascending));
        }
    }
}
