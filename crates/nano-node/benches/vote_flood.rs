//! Macro benchmark (prints figures; not a criterion bench): confirmed blocks per second
//! on a node whose representative is its peer, quiet and while a hostile peer floods it
//! with junk confirm_acks, in the same run.
//!
//! Two nodes on 127.0.0.1 over TCP, each on its own tokio runtime (two workers): R votes
//! with the dev genesis key, N does not vote.
//! Blocks (sends spread over accounts, dev proof of work generated before timing) are
//! submitted to N; the clock runs from the first submission until the last is cemented
//! on N. In the flooded run, four TCP connections, each handshaken as a distinct peer,
//! send confirm_acks with random accounts, random signatures and 12 random hashes, paced
//! to `VOTE_FLOOD_RATE` votes per second in total (default 120,000), from before the
//! first submission until the last block is cemented. The achieved flood rate is printed.
//!
//! Run: `cargo bench -p nano-node --bench vote_flood`. `VOTE_FLOOD_N` sets the number
//! of timed sends (default 20,000 over N/10 accounts), `VOTE_FLOOD_RATE` the flood,
//! `VOTE_FLOOD_ROUNDS` how many quiet/flooded pairs run, alternating (default 7); the
//! medians are compared. Each run also reports the CPU seconds the nodes and the flooder
//! used (from /proc); `VOTE_FLOOD_STATS=1` prints N's counters after every run.

#[path = "../tests/consensus_support/mod.rs"]
mod consensus_support;
#[path = "../tests/network_support/mod.rs"]
mod network_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consensus_support::start as dev_node;
use nano_core::{Block, BlockHash, Network, PublicKey, Signature};
use nano_ledger::test_support::{dev_genesis_key, test_key};
use nano_messages::{ConfirmAck, Message, Vote};
use nano_node::node::Node;
use network_support::{all_cemented, spread_sends, SpreadSends};
use tokio::io::AsyncWriteExt;

const FLOOD_CONNECTIONS: usize = 4;

async fn submit_all(n: &Node, blocks: &[Block]) {
    let futs: Vec<_> = blocks.iter().map(|b| n.process_local(b.clone())).collect();
    for f in futs {
        let r = f.await;
        assert!(
            matches!(r, Ok(nano_ledger::BlockStatus::Progress)),
            "submit: {r:?}"
        );
    }
}

async fn wait_cemented(n: &Node, heads: &[BlockHash], limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if all_cemented(&n.ledger, heads) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// A confirm_ack naming 12 hashes, encoded; its payload (account, signature, timestamp,
/// hashes) is what [`Junk`] randomises for every vote.
fn template() -> (Vec<u8>, usize) {
    let msg = Message::ConfirmAck(Box::new(ConfirmAck {
        vote: Vote {
            account: PublicKey([1; 32]),
            signature: Signature([2; 64]),
            timestamp: 3,
            hashes: vec![BlockHash([4; 32]); 12],
        },
        rebroadcast: false,
    }));
    let mut full = Vec::new();
    msg.encode(Network::Dev, &mut full).expect("encode");
    let mut payload = Vec::new();
    msg.encode_payload(&mut payload).expect("encode");
    let header = full.len() - payload.len();
    (full, header)
}

/// Cheap random bytes (xorshift64*): the flooder stands for another machine, so it
/// should take as little of this one's CPU as it can.
struct Junk(u64);

impl Junk {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Floods `port` from one handshaken connection at `rate` votes/s until `stop`: each
/// vote has a random account, signature, timestamp and 12 random hashes.
async fn flood(port: u16, id: u32, rate: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let key = test_key(90_000 + id);
    let genesis = Network::Dev.params().genesis_hash;
    let Some(conn) = network_support::raw_handshake(port, &key, genesis).await else {
        eprintln!("flood connection {id}: handshake refused");
        return;
    };
    // Whatever the node sends (publishes, confirm_reqs, keepalives) is read and thrown
    // away, as a real peer would, so the node never drops the connection as stalled.
    let (mut rd, mut stream) = conn.into_inner().into_split();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let (template, header) = template();
    let mut junk = Junk(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1));
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut buf: Vec<u8> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // Pace: keep the count at rate × elapsed, at most 256 votes per write.
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if n >= due {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let chunk = (due - n).min(256);
        buf.clear();
        for _ in 0..chunk {
            let at = buf.len();
            buf.extend_from_slice(&template);
            junk.fill(&mut buf[at + header..]);
        }
        if stream.write_all(&buf).await.is_err() {
            eprintln!("flood connection {id}: closed by the node after {n} votes");
            return;
        }
        n += chunk;
        sent.fetch_add(chunk, Ordering::Relaxed);
    }
}

/// (confirmed blocks/s, achieved flood votes/s) for one fresh pair of nodes.
/// One run: confirmed blocks/s, achieved junk votes/s, junk votes sent while timed, and
/// the CPU seconds the nodes used while timed.
struct Run {
    cps: f64,
    flood_rate: f64,
    junk: u64,
    cpu: f64,
    flood_cpu: f64,
    wall: f64,
}

/// Prefix of the flood threads' names; their CPU is not the nodes'.
const FLOOD_THREAD: &str = "flood-";

/// CPU seconds (user + system) used so far by this process's threads: (the nodes' and
/// the harness's, the flooder's), from /proc; zeros where /proc is missing. Threads
/// that ended are not counted (the nodes' threads live through a timed window).
fn cpu_seconds() -> (f64, f64) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    let tick = 100.0; // USER_HZ on Linux
    let (mut nodes, mut flood) = (0u64, 0u64);
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ...": fields after the closing parenthesis; utime and
        // stime are fields 14 and 15 of the whole line.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = &stat[stat.find('(').map_or(0, |o| o + 1)..close];
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let used = field(11) + field(12);
        if comm.starts_with(FLOOD_THREAD) {
            flood += used;
        } else {
            nodes += used;
        }
    }
    (nodes as f64 / tick, flood as f64 / tick)
}

/// `peer_rt` runs R, so N's network workers (which read the flood) are N's alone, as they
/// would be with R on another machine.
async fn run(w: &SpreadSends, flood_rate: u64, peer_rt: &tokio::runtime::Handle) -> Run {
    let (dr, dn) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dir = dr.path().to_path_buf();
    let r = peer_rt
        .spawn(async move { dev_node(&dir, vec![], Some(&dev_genesis_key())).await })
        .await
        .expect("R starts");
    let pr = format!("127.0.0.1:{}", r.local_endpoint().unwrap().port());
    let n = dev_node(dn.path(), vec![pr], None).await;
    let end = Instant::now() + Duration::from_secs(30);
    while n.peers().is_empty() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    submit_all(&n, &w.setup).await;
    let setup_heads: Vec<BlockHash> = w.setup.iter().map(|b| b.hash()).collect();
    assert!(
        wait_cemented(&n, &setup_heads, Duration::from_secs(300)).await,
        "setup cemented"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if flood_rate > 0 {
        let port = n.local_endpoint().unwrap().port();
        // Each connection on its own thread and runtime, as another machine would be:
        // the flooder does not take the nodes' runtime workers.
        for i in 0..FLOOD_CONNECTIONS {
            let (stop, sent) = (stop.clone(), sent.clone());
            let rate = flood_rate / FLOOD_CONNECTIONS as u64;
            let name = format!("{FLOOD_THREAD}{i}");
            tasks.push(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("flood runtime")
                            .block_on(flood(port, i as u32, rate, stop, sent))
                    })
                    .expect("flood thread"),
            );
        }
        // Let the flood reach its pace before the clock starts.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let sent_before = sent.load(Ordering::Relaxed);
    let cpu_before = cpu_seconds();
    let t = Instant::now();
    submit_all(&n, &w.timed).await;
    let ok = wait_cemented(&n, &w.heads, Duration::from_secs(600)).await;
    let el = t.elapsed();
    let cpu_after = cpu_seconds();
    let cpu = cpu_after.0 - cpu_before.0;
    let flood_cpu = cpu_after.1 - cpu_before.1;
    let flooded = sent.load(Ordering::Relaxed) - sent_before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.join();
    }
    assert!(ok, "not everything cemented");
    if std::env::var("VOTE_FLOOD_STATS").is_ok() {
        for (k, d, dir, v) in n.stats.snapshot() {
            println!("  N {k}.{d}.{dir} = {v}");
        }
    }
    let dropped = n.stats.get("drop", "vote_without_weight", "in");
    if flood_rate > 0 && dropped == 0 {
        eprintln!("the flood did not reach N's vote intake");
    }
    n.stop().await;
    peer_rt
        .spawn(async move { r.stop().await })
        .await
        .expect("R stops");
    Run {
        cps: w.timed.len() as f64 / el.as_secs_f64(),
        flood_rate: flooded as f64 / el.as_secs_f64(),
        junk: flooded,
        cpu,
        flood_cpu,
        wall: el.as_secs_f64(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let env = |k: &str, d: u64| -> u64 {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let n = env("VOTE_FLOOD_N", 20_000) as usize;
    let rate = env("VOTE_FLOOD_RATE", 120_000);
    let rounds = env("VOTE_FLOOD_ROUNDS", 7).max(1);
    let accounts = (n / 10).max(1);
    let w = spread_sends(n, accounts, 5000);
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let (rt, peer_rt) = (runtime(), runtime());
    // Quiet and flooded runs alternate, so load from elsewhere on the machine falls on
    // both alike; the medians are compared. The nodes' CPU time is measured too: the
    // same blocks are confirmed in both runs, so the difference is what the junk cost.
    let (mut quiet, mut flooded, mut achieved, mut cost) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let q = rt.block_on(run(&w, 0, peer_rt.handle()));
        let f = rt.block_on(run(&w, rate, peer_rt.handle()));
        let us_per_junk = (f.cpu - q.cpu) * 1e6 / f.junk.max(1) as f64;
        println!(
            "round {round}: quiet {:.0} confirmed blocks/s (nodes {:.2} CPU s in {:.2} s); flooded ({:.0} junk confirm_acks/s over {FLOOD_CONNECTIONS} connections) {:.0} confirmed blocks/s (nodes {:.2} CPU s, flooder {:.2} CPU s in {:.2} s); ratio {:.2}; nodes' extra CPU per junk vote {us_per_junk:.2} µs",
            q.cps, q.cpu, q.wall, f.flood_rate, f.cps, f.cpu, f.flood_cpu, f.wall, f.cps / q.cps
        );
        quiet.push(q.cps);
        flooded.push(f.cps);
        achieved.push(f.flood_rate);
        cost.push(us_per_junk);
    }
    let (q, f) = (median(quiet), median(flooded));
    println!(
        "{n} sends over {accounts} accounts, {rounds} rounds: median quiet {q:.0} confirmed blocks/s, median flooded {f:.0} confirmed blocks/s (median flood {:.0} junk confirm_acks/s); ratio of medians {:.2}; median node CPU per junk vote {:.2} µs",
        median(achieved),
        f / q,
        median(cost)
    );
}
