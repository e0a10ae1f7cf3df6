//! Network macro benchmarks, printing figures:
//! * realtime throughput: publish messages of distinct valid blocks over one TCP channel
//!   between two services, counted on arrival by an Inbound (not processed);
//! * convergence: time from start until 10 services on loopback (all given only the
//!   first as preconfigured peer) each have 9 TCP peers.
//!
//! Run: `cargo bench -p nano-node --bench network`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::{KeyPair, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;
use nano_messages::{Message, Publish};
use nano_node::config::DaemonConfig;
use nano_node::interfaces::{ChannelInfo, Inbound, Outbound, TrafficType};
use nano_node::network::{NetworkFlags, NetworkInit, NetworkService, Transport};
use nano_node::stats::Stats;

#[derive(Default)]
struct Counter(AtomicU64);
impl Inbound for Counter {
    fn on_message(&self, _: &ChannelInfo, msg: Message) {
        if matches!(msg, Message::Publish(_)) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn service(dir: &std::path::Path, peers: Vec<String>, udp: bool) -> NetworkService {
    let mut cfg = DaemonConfig::defaults(Network::Dev).node;
    cfg.peering_port = 0;
    cfg.preconfigured_peers = peers;
    cfg.enable_udp = udp;
    cfg.bandwidth_limit = 0;
    let net = NetworkService::new(NetworkInit {
        params: Network::Dev.params(),
        config: cfg,
        node_id: KeyPair::random(),
        ledger: Arc::new(Ledger::open(&dir.join("data.ldb"), Network::Dev).expect("ledger")),
        stats: Arc::new(Stats::new()),
        events: Default::default(),
        flags: NetworkFlags {
            inbound_messages_per_sec: 0,
            disable_rep_crawler: true,
            ..NetworkFlags::default()
        },
    });
    net.start().await.expect("start");
    net
}

fn tcp_peers(n: &NetworkService) -> usize {
    n.peers()
        .iter()
        .filter(|p| p.transport == Transport::Tcp)
        .count()
}

async fn wait(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

async fn throughput(count: usize) {
    print!("generating {count} blocks ... ");
    let t = Instant::now();
    let mut chain = Chain::dev_genesis();
    let dest = test_key(1).public();
    let msgs: Vec<Message> = (0..count)
        .map(|_| {
            Message::Publish(Box::new(Publish {
                block: chain.send(&dest, 1),
                originator: false,
            }))
        })
        .collect();
    println!("{:.1} s", t.elapsed().as_secs_f64());
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = service(da.path(), vec![], false).await;
    let b = service(db.path(), vec![format!("[::1]:{}", a.local_port())], false).await;
    let counter = Arc::new(Counter::default());
    a.set_inbound(counter.clone());
    assert!(wait(Duration::from_secs(20), || tcp_peers(&b) == 1).await);
    let ch = b.channels()[0].id;
    let start = Instant::now();
    let mut retries = 0u64;
    for m in &msgs {
        while !b.send(ch, m, TrafficType::Realtime) {
            retries += 1;
            tokio::task::yield_now().await;
        }
    }
    let queued = start.elapsed();
    assert!(
        wait(
            Duration::from_secs(120),
            || counter.0.load(Ordering::Relaxed) as usize == count
        )
        .await,
        "arrived {}",
        counter.0.load(Ordering::Relaxed)
    );
    let secs = start.elapsed().as_secs_f64();
    println!(
        "realtime throughput: {count} publish over one TCP channel in {secs:.3} s = {:.0} msg/s \
         ({:.1} MB/s of frames; queueing took {:.3} s, {retries} full-queue retries)",
        count as f64 / secs,
        count as f64 * 224.0 / secs / 1e6,
        queued.as_secs_f64()
    );
    a.stop().await;
    b.stop().await;
}

async fn convergence(n: usize) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let start = Instant::now();
    let first = service(dirs[0].path(), vec![], true).await;
    let seed = format!("[::1]:{}", first.local_port());
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(service(d.path(), vec![seed.clone()], true).await);
    }
    let ok = wait(Duration::from_secs(60), || {
        nodes.iter().all(|x| tcp_peers(x) == n - 1)
    })
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "convergence: {n} nodes on loopback fully connected (each {} TCP peers): {} in {secs:.3} s",
        n - 1,
        if ok { "yes" } else { "NO" }
    );
    for x in nodes {
        x.stop().await;
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        throughput(100_000).await;
        convergence(10).await;
    });
}
