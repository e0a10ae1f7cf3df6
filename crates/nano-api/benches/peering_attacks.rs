//! Macro benchmark (prints figures; not a criterion bench): what the peering attacks of
//! issue 17 cost legitimate service, against a quiet run in the same process.
//!
//! One dev node on 127.0.0.1 voting with the dev genesis key (its elections confirm on
//! its own votes), serving RPC. In each run a chain of sends is submitted and timed until
//! cemented (sends spread over accounts opened before the clock starts: confirmed blocks
//! per second), while an RPC client on its own thread sends `block_count` over one
//! keep-alive connection 1,000 times a second (latency p50, and p99 with its 95% interval
//! per round and over the rounds' answers pooled). The node's CPU time in
//! that window (the process's, less the attacker's and the client's threads; the RPC
//! server's share is in it) is printed per confirmed block: on a shared machine it moves
//! far less than the rate, which depends on what CPU the other processes leave. Peak RSS
//! is the process's `VmHWM` after resetting it (`/proc/self/clear_refs`) at the start of
//! the run, and its growth over the RSS at that moment (the attacker's sockets and tasks
//! are in the same process and counted too; memory the allocator kept from earlier runs
//! raises later peaks, so the growth is the figure to compare). The runs:
//! - `quiet`: no attack;
//! - `idle`: 2,500 TCP connections from 127.0.0.2 that never send a byte, each renewed
//!   when the node closes it (after a 1 s pause when refused at once);
//! - `udp`: UDP on; 5,000 sockets on 127.0.0.3 (5,000 source ports), each completing the
//!   node_id handshake and then sending a keepalive every second (the clock starts once
//!   the attacker holds its address's channel cap, or after [`UDP_CHANNELS_WAIT`]);
//! - `udp-nobudget`: the same against a node with the UDP receive budget off
//!   (`NetworkFlags::udp_receive_budget`): the before/after of that change in one run;
//! - `udp-peers`: not an attack but its baseline: as many UDP peers from 127.0.0.3 as
//!   `udp` ends up holding (the address's channel cap), each completing the handshake
//!   and then sending one keepalive per keepalive period, as an honest peer does, and
//!   nothing else. The node owes these peers its floods, votes and telemetry by the
//!   reference's rules, so `udp` against `udp-peers` is what the attack's hostile part
//!   (the other ports' handshakes, a keepalive for every datagram received) costs beyond
//!   having that many peers;
//! - `junk`: 16 connections at a time sending unframeable headers as fast as the node
//!   reads them, each from the next of 254 addresses 127.0.1.x once the node closes it
//!   (or once its connect has waited [`JUNK_CONNECT_WAIT`]: a cooled-down address's SYNs
//!   are dropped by the node's kernel filter);
//! - `junk-nofilter`: the same with the node's kernel filter off
//!   (`NetworkFlags::kernel_filter`), so refusal happens at `accept` as before the filter:
//!   the before/after of that change in one run.
//!
//! Every attacker runs on a thread and runtime of its own (as another machine would).
//! On this bench's machine it shares the node's CPUs, which an attacker elsewhere on the
//! network would not: with `PEER_ATTACK_ISOLATED` set, every attack also runs a second
//! time with the attacker's thread at nice 19 (`setpriority` on the thread), labelled
//! `(nice 19)`, so the node gets the CPU first and what remains is the node's own cost
//! of the attack's packets. Both figures are printed; neither replaces the other (at
//! nice 19 the attacker also manages less, which its own line says).
//!
//! A second node, the **follower**, runs in a child process (this binary again, so its
//! CPU stays out of the attacked node's figures): a non-voting dev node that dials the
//! attacked node before the setup blocks and confirms what it floods, on its votes. Its
//! confirmed blocks/s is the timed blocks over the time from the first submission to the
//! attacked node until the follower has cemented them all (given up
//! [`FOLLOWER_GRACE`] after the attacked node finished: then the count it reached is
//! printed instead).
//! Run: `cargo bench -p nano-api --bench peering_attacks`; `PEER_ATTACK_BLOCKS` sets the
//! number of timed sends (default 12,000 over 1,200 accounts: a few seconds at the quiet
//! rate, so the RPC percentiles rest on thousands of requests), `PEER_ATTACK_ROUNDS` how often the runs repeat
//! (default 3; medians are printed at the end), `PEER_ATTACKS` which runs (comma-separated
//! names, default all seven; `quiet` always runs first, as every ratio is against it),
//! `PEER_ATTACK_STATS` (set) prints every node counter that moved in the timed window
//! and the CPU time of each thread name. The RPC server runs on a runtime of its own
//! with the daemon's default `server_threads`; `PEER_ATTACK_SHARED_RUNTIME` (set) runs it
//! on the node's runtime, as the reference does (and this bench did before).
//!
//! With `PEER_ATTACK_CEILINGS` set, every attack (but the niced runs) is paired with a
//! **ceiling** run in the same round: the same node configuration and workload with no
//! attacker, while spinning threads take the CPU the attacker's thread took in the
//! attack's timed window (cores, nice value, policy and slice length as measured;
//! `support/competing.rs`). On this bench's machine the attacker shares the node's two
//! cores; the ceiling is the node under that CPU competition without the attack's
//! packets, so "attack against its ceiling" is what the node's handling of the packets
//! costs. In odd rounds the attack runs first and its ceiling takes the load just
//! measured; in even rounds the ceiling runs first with the previous round's. The end of
//! the run prints, per attack, the medians of the per-round ratios attack/ceiling
//! (confirmed blocks/s, RPC p50 and p99) and the p99 over the rounds' answers pooled.
//!
//! `BENCH_AWAKE=1` keeps every CPU busy with a `SCHED_IDLE` spinner through all rounds and
//! phases (`support/awake.rs`): the quiet figure without the idle virtual CPUs' wake-ups.
//! Caution: on the 2-core VM it lowered this bench's confirmed blocks/s several times over
//! and raised the node's CPU per block (BENCHMARKS.md, "The peering attacks with every
//! phase awake"), for a reason not found; its figures are not the plain run's.

#[path = "support/awake.rs"]
mod awake;
#[path = "support/competing.rs"]
mod competing;
#[path = "../../nano-node/tests/network_support/mod.rs"]
mod network_support;
#[path = "support/tail.rs"]
mod tail;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_api::{ApiContext, RpcConfig};
use nano_core::{Block, Network};
use nano_messages::{Header, Keepalive, Message, MessageType};
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;
use network_support::{all_cemented, spread_sends, SpreadSends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDLE_CONNECTIONS: usize = 2_500;
const UDP_PORTS: usize = 5_000;
/// Longest wait, after the attack started, for the UDP attacker to hold its address's
/// channel cap before the clock starts (it is printed either way).
const UDP_CHANNELS_WAIT: Duration = Duration::from_secs(60);
/// How long an honest UDP peer waits, after its handshake, for the node's first
/// non-handshake datagram before it handshakes again: a few of the node's keepalive
/// and telemetry periods on dev (1 s and 0.5 s).
const HONEST_PEER_WAIT: Duration = Duration::from_secs(3);
const JUNK_CONNECTIONS: usize = 16;
/// How long a junk slot waits for its connection before moving to the next address.
/// Short, as an attacker would choose once its SYNs go unanswered.
const JUNK_CONNECT_WAIT: Duration = Duration::from_millis(100);
/// Junk connection attempts and the ones that completed (the attacker's own counters).
static JUNK_ATTEMPTS: AtomicU64 = AtomicU64::new(0);
static JUNK_CONNECTED: AtomicU64 = AtomicU64::new(0);
/// The nice value of the attacker's thread in the isolated runs.
const ISOLATED_NICE: i32 = 19;

/// Thread names that tell the attacker's and the RPC prober's CPU time apart from the
/// node's (everything else in the process).
const ATTACK_THREAD: &str = "attack";
/// The name `competing::spin` gives its threads: their CPU is not the node's either.
const SPINNER_THREAD: &str = "spinner";
/// A spinner stops by itself after this long (the longest timed window, 600 s, and the
/// setup around it), whatever happens to the run.
const SPINNER_LIFE: Duration = Duration::from_secs(660);
/// The legitimate RPC client's pace: a steady 1,000 requests a second. A client sending
/// back to back would take whatever CPU is free, so the confirmation rate would measure
/// how much the client got rather than what the attack costs.
const PROBE_INTERVAL: Duration = Duration::from_millis(1);
const PROBER_THREAD: &str = "rpc-prober";

/// How long the follower may take, after the attacked node has cemented everything, to
/// cement it too before its figure is given up.
const FOLLOWER_GRACE: Duration = Duration::from_secs(30);
/// Set in the follower child process: the attacked node's peering port.
const FOLLOWER_ENV: &str = "PEER_ATTACK_FOLLOWER";
/// Set in the follower child process: the cemented count at which it stops.
const FOLLOWER_TARGET_ENV: &str = "PEER_ATTACK_FOLLOWER_TARGET";

const ATTACKS: [Attack; 7] = [
    Attack::Quiet,
    Attack::Idle,
    Attack::Udp,
    Attack::UdpNoBudget,
    Attack::UdpPeers,
    Attack::Junk,
    Attack::JunkUnfiltered,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    Quiet,
    Idle,
    Udp,
    UdpNoBudget,
    UdpPeers,
    Junk,
    JunkUnfiltered,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Quiet => "quiet",
            Attack::Idle => "idle",
            Attack::Udp => "udp",
            Attack::UdpNoBudget => "udp-nobudget",
            Attack::UdpPeers => "udp-peers",
            Attack::Junk => "junk",
            Attack::JunkUnfiltered => "junk-nofilter",
        }
    }
}

/// One run of the bench: an attack, with the attacker at its normal priority or
/// niced (`PEER_ATTACK_ISOLATED`), or the attack's ceiling (`PEER_ATTACK_CEILINGS`): its
/// node configuration with spinners in the attacker's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase {
    attack: Attack,
    niced: bool,
    ceiling: bool,
}

impl Phase {
    fn label(self) -> String {
        if self.niced {
            format!("{} (nice {ISOLATED_NICE})", self.attack.name())
        } else if self.ceiling {
            format!("{} ceiling", self.attack.name())
        } else {
            self.attack.name().to_string()
        }
    }
}

/// Lowers the calling thread's priority (Linux: `setpriority` on a thread id applies
/// to that thread only).
fn nice_this_thread(nice: i32) {
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
    let r = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    assert_eq!(r, 0, "setpriority: {}", std::io::Error::last_os_error());
}

struct Report {
    cps: f64,
    /// The follower's confirmed blocks/s, if it cemented every timed block in time.
    follower_cps: Option<f64>,
    /// Timed blocks the follower had cemented when it was stopped.
    follower_timed: u64,
    p50_us: u64,
    p99_us: u64,
    /// Every answer's latency in µs, ascending: the p99's interval, and the rounds'
    /// answers pooled for one over all of them.
    latencies: Vec<u64>,
    requests: usize,
    peak_rss_mib: f64,
    /// Peak RSS minus the RSS when the run's attack started.
    growth_mib: f64,
    /// What the attack achieved, in words.
    attack: String,
    /// CPU seconds the node (everything but the attacker and the prober, so including
    /// the RPC server answering the prober) used during the timed window.
    node_cpu_s: f64,
    attack_cpu_s: f64,
    prober_cpu_s: f64,
    /// The attacker thread's use of the CPU in the timed window (what its ceiling's
    /// spinners reproduce); empty without an attacker.
    attack_load: Vec<competing::Use>,
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime in seconds from a `/proc/.../stat` line (fields 14 and 15, counted after
/// the parenthesised command name, which may hold spaces). `/proc` reports them in
/// USER_HZ, which Linux fixes at 100 for user space.
fn stat_cpu_s(stat: &str) -> f64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// CPU seconds used so far by the whole process (threads that have exited included)
/// and by each live thread name.
struct CpuSample {
    total: f64,
    by_thread: std::collections::BTreeMap<String, f64>,
}

impl CpuSample {
    fn now() -> CpuSample {
        let total = std::fs::read_to_string("/proc/self/stat")
            .map(|s| stat_cpu_s(&s))
            .unwrap_or(0.0);
        let mut by_thread = std::collections::BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for t in dir.flatten() {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                let cpu = std::fs::read_to_string(t.path().join("stat"))
                    .map(|s| stat_cpu_s(&s))
                    .unwrap_or(0.0);
                *by_thread.entry(comm.trim().to_string()).or_insert(0.0) += cpu;
            }
        }
        CpuSample { total, by_thread }
    }

    fn thread(&self, name: &str) -> f64 {
        self.by_thread.get(name).copied().unwrap_or(0.0)
    }
}

/// Resets the process's peak RSS to its current RSS (Linux `clear_refs` value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Starts the attacked node and its RPC server, on `api` when given (the daemon's own
/// runtime for the API servers, `server_threads`), else on the node's runtime.
async fn start_node(
    dir: &std::path::Path,
    udp: bool,
    kernel_filter: bool,
    udp_receive_budget: bool,
    api: Option<tokio::runtime::Handle>,
) -> (Arc<Node>, SocketAddr) {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.allow_local_peers = true;
    c.enable_udp = udp;
    c.enable_voting = true;
    c.representative_key = nano_core::network::DEV_GENESIS_PRIVATE_KEY.into();
    let mut options = NodeOptions::new(c, Network::Dev, dir);
    options.network_flags.kernel_filter = kernel_filter;
    options.network_flags.udp_receive_budget = udp_receive_budget;
    let node = Node::start_with(options).await.expect("node starts");
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(node.ledger.clone());
    ctx.wallets = Some(node.wallets.clone());
    ctx.stats = node.stats.clone();
    ctx.node = Some(Arc::new(nano_api::node_glue::NodeGlue(node.clone())));
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    let serve =
        async move { nano_api::http::serve(Arc::new(ctx), &cfg, std::future::pending()).await };
    let rpc = match api {
        Some(h) => h.spawn(serve).await.expect("rpc task"),
        None => serve.await,
    }
    .expect("rpc");
    (node, rpc)
}

/// `block_count` requests over one keep-alive connection, one every [`PROBE_INTERVAL`]
/// (at once when the previous answer came late), until `stop`; returns each latency in
/// microseconds.
fn rpc_prober(addr: SocketAddr, stop: Arc<AtomicBool>) -> Vec<u64> {
    let body = br#"{"action":"block_count"}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        std::str::from_utf8(body).unwrap_or_default()
    );
    let mut lat = Vec::new();
    let mut conn: Option<std::net::TcpStream> = None;
    let mut buf = vec![0u8; 4096];
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next = next.max(now) + PROBE_INTERVAL;
        let s = match conn.as_mut() {
            Some(s) => s,
            None => match std::net::TcpStream::connect(addr) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = s.set_nodelay(true);
                    conn.insert(s)
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let t = Instant::now();
        if s.write_all(req.as_bytes()).is_err() {
            conn = None;
            continue;
        }
        // Read until the whole body (Content-Length) is in.
        let mut got = Vec::new();
        let complete = loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&got);
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if rest.len() >= len {
                    break true;
                }
            }
        };
        if complete {
            lat.push(t.elapsed().as_micros() as u64);
        } else {
            conn = None;
        }
    }
    lat
}

async fn tcp_from(src: Ipv4Addr, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    s.connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
}

/// One idle slot: connect, send nothing, reconnect when the node closes it.
async fn idle_slot(port: u16, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(2),
            tcp_from(Ipv4Addr::new(127, 0, 0, 2), port),
        )
        .await
        {
            opened.fetch_add(1, Ordering::Relaxed);
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    _ => {}
                }
            }
        }
        if started.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// One UDP source port: handshake, then a keepalive every second.
async fn udp_peer(port: u16, stop: Arc<AtomicBool>, established: Arc<AtomicU64>) {
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.3:0").await else {
        return;
    };
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut buf = vec![0u8; 2048];
    let mut done = false;
    while !stop.load(Ordering::Relaxed) && !done {
        done = network_support::handshake_on(&sock, to).await;
    }
    if done {
        established.fetch_add(1, Ordering::Relaxed);
    }
    let keepalive = keepalive_datagram();
    while !stop.load(Ordering::Relaxed) {
        let _ = sock.send_to(&keepalive, to).await;
        // Drain what the node sends so the socket buffer does not fill.
        let _ = tokio::time::timeout(Duration::from_secs(1), sock.recv_from(&mut buf)).await;
    }
}

/// An empty keepalive as a dev-network datagram, what the UDP attackers and peers send.
fn keepalive_datagram() -> Vec<u8> {
    Message::Keepalive(Box::<Keepalive>::default())
        .to_bytes(Network::Dev)
        .unwrap_or_default()
}

/// One honest UDP peer of the `udp-peers` baseline: handshakes, then sends a keepalive
/// once per keepalive period and reads whatever the node sends (so its socket buffer
/// does not fill), answering nothing.
async fn udp_honest_peer(port: u16, stop: Arc<AtomicBool>, established: Arc<AtomicU64>) {
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.3:0").await else {
        return;
    };
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut buf = vec![0u8; 2048];
    let keepalive = keepalive_datagram();
    let period = Duration::from_millis(Network::Dev.params().keepalive_period_ms);
    // A sent handshake answer may still be refused (the node's handshake budget), so the
    // peer counts as established only once the node sends it something else (its
    // keepalives and telemetry go to every channel each period), and handshakes again
    // otherwise, as a peer that was not answered would.
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if !network_support::handshake_on(&sock, to).await {
            // A send that failed at once would otherwise retry in a busy loop.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let _ = sock.send_to(&keepalive, to).await;
        let heard = tokio::time::timeout(HONEST_PEER_WAIT, async {
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, _)) => {
                        if !matches!(
                            nano_messages::decode_datagram(&buf[..n], Some(Network::Dev)),
                            Ok((_, Message::NodeIdHandshake(_))) | Err(_)
                        ) {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        })
        .await
        .is_ok();
        if heard {
            break;
        }
    }
    established.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        let _ = sock.send_to(&keepalive, to).await;
        let next = tokio::time::Instant::now() + period;
        while tokio::time::timeout_at(next, sock.recv_from(&mut buf))
            .await
            .is_ok()
        {}
    }
}

/// One junk slot: from the next address, write unframeable headers until closed.
async fn junk_slot(port: u16, first: u8, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let mut bad = Header::new(Network::Dev, MessageType::Keepalive, 0).encode();
    bad[5] = 0x09;
    let chunk: Vec<u8> = std::iter::repeat_n(bad, 2048).flatten().collect();
    let mut x = first;
    while !stop.load(Ordering::Relaxed) {
        x = x % 254 + 1;
        JUNK_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let Ok(Ok(mut s)) = tokio::time::timeout(
            JUNK_CONNECT_WAIT,
            tcp_from(Ipv4Addr::new(127, 0, 1, x), port),
        )
        .await
        else {
            continue;
        };
        JUNK_CONNECTED.fetch_add(1, Ordering::Relaxed);
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(1), s.write_all(&chunk)).await {
                Ok(Ok(())) => sent.fetch_add(chunk.len() as u64, Ordering::Relaxed),
                _ => break,
            };
        }
    }
}

/// Starts `attack` against `port` on a thread of its own; returns the stop flag, the
/// thread, and the counter of what it achieved.
fn start_attack(
    phase: Phase,
    port: u16,
) -> (
    Arc<AtomicBool>,
    Option<std::thread::JoinHandle<()>>,
    Arc<AtomicU64>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let attack = phase.attack;
    if attack == Attack::Quiet {
        return (stop, None, count);
    }
    let (s, c) = (stop.clone(), count.clone());
    let spawned = std::thread::Builder::new()
        .name(ATTACK_THREAD.into())
        .spawn(move || {
            if phase.niced {
                nice_this_thread(ISOLATED_NICE);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("attack runtime");
            rt.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                match attack {
                    Attack::Quiet => {}
                    Attack::Idle => {
                        for _ in 0..IDLE_CONNECTIONS {
                            tasks.spawn(idle_slot(port, s.clone(), c.clone()));
                        }
                    }
                    Attack::Udp | Attack::UdpNoBudget => {
                        for _ in 0..UDP_PORTS {
                            tasks.spawn(udp_peer(port, s.clone(), c.clone()));
                        }
                    }
                    Attack::UdpPeers => {
                        for _ in 0..Network::Dev.params().max_peers_per_ip {
                            tasks.spawn(udp_honest_peer(port, s.clone(), c.clone()));
                        }
                    }
                    Attack::Junk | Attack::JunkUnfiltered => {
                        for i in 0..JUNK_CONNECTIONS {
                            let first = (i * 254 / JUNK_CONNECTIONS) as u8;
                            tasks.spawn(junk_slot(port, first, s.clone(), c.clone()));
                        }
                    }
                }
                while tasks.join_next().await.is_some() {}
            });
        });
    (stop, Some(spawned.expect("attack thread")), count)
}

fn udp_channels(node: &Node) -> usize {
    node.peers()
        .iter()
        .filter(|p| p.transport == nano_node::network::Transport::Udp)
        .count()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn submit_all(node: &Node, blocks: &[Block]) {
    let futs: Vec<_> = blocks
        .iter()
        .map(|b| node.process_local(b.clone()))
        .collect();
    for f in futs {
        let _ = f.await;
    }
}

/// Submits `blocks` and waits (up to 600 s) until every one of `heads` is cemented.
/// It polls the ledger's cemented counter, a load, and reads the heads only once the
/// counter has moved by all the blocks: reading every head each poll took a third of the
/// process's CPU in a long run, on the cores the node needs.
async fn submit_and_wait(node: &Node, blocks: &[Block], heads: &[nano_core::BlockHash]) -> bool {
    let target = node.ledger.cemented_count() + blocks.len() as u64;
    submit_all(node, blocks).await;
    let end = Instant::now() + Duration::from_secs(600);
    while Instant::now() < end {
        if node.ledger.cemented_count() >= target && all_cemented(&node.ledger, heads) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Prints every node counter that moved during the timed window (`PEER_ATTACK_STATS`
/// set), to see what an attack makes the node do.
fn print_stats_delta(
    label: &str,
    before: &[(String, String, String, u64)],
    after: &[(String, String, String, u64)],
) {
    for (k, d, dir, n) in after {
        let was = before
            .iter()
            .find(|(k0, d0, dir0, _)| (k0, d0, dir0) == (k, d, dir))
            .map_or(0, |e| e.3);
        if *n > was {
            println!("  {label} stat {k}/{d}/{dir}: +{}", n - was);
        }
    }
}

/// Milliseconds since the Unix epoch: the clock shared with the follower process.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The follower process: a non-voting dev node peered with the attacked node at `port`;
/// prints `cemented <count> <unix ms>` each time its cemented count moves, until it
/// reaches `target` or 900 s pass.
fn follower_main(port: u16, target: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let mut c = DaemonConfig::defaults(Network::Dev).node;
        c.peering_port = 0;
        c.allow_local_peers = true;
        c.enable_udp = false;
        c.enable_voting = false;
        c.preconfigured_peers = vec![format!("[::1]:{port}")];
        let node = Node::start_with(NodeOptions::new(c, Network::Dev, dir.path()))
            .await
            .expect("follower starts");
        let mut last = 0;
        let end = Instant::now() + Duration::from_secs(900);
        while Instant::now() < end {
            let n = node.ledger.cemented_count();
            if n != last {
                last = n;
                println!("cemented {n} {}", unix_ms());
                if n >= target {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        node.stop().await;
    });
}

/// The follower child and what it has reported: (cemented count, unix ms) in order.
struct Follower {
    child: std::process::Child,
    seen: Arc<std::sync::Mutex<Vec<(u64, u64)>>>,
}

impl Follower {
    fn spawn(port: u16, target: u64) -> Follower {
        let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env(FOLLOWER_ENV, port.to_string())
            .env(FOLLOWER_TARGET_ENV, target.to_string())
            .env_remove("PEER_ATTACK_STATS")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("follower process");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("follower stdout");
        let s = seen.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut f = line.split_whitespace();
                if f.next() != Some("cemented") {
                    continue;
                }
                let (Some(n), Some(t)) = (
                    f.next().and_then(|v| v.parse().ok()),
                    f.next().and_then(|v| v.parse().ok()),
                ) else {
                    continue;
                };
                s.lock().unwrap_or_else(|e| e.into_inner()).push((n, t));
            }
        });
        Follower { child, seen }
    }

    fn cemented(&self) -> u64 {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.last().map_or(0, |e| e.0)
    }

    /// Waits until the follower has cemented `count` blocks or `limit` passes; when it
    /// got there, the unix ms at which it did.
    fn wait_for(&self, count: u64, limit: Duration) -> Option<u64> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.cemented() >= count {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().find(|e| e.0 >= count).map(|e| e.1)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run of `phase` over the workload `w`; a ceiling run reproduces `load` (the
/// attacker's measured use of the CPU) with spinners where the attack would run.
fn run(phase: Phase, w: &SpreadSends, load: &[competing::Use]) -> Report {
    let attack = phase.attack;
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The API servers' runtime as the daemon starts it by default (`server_threads`);
    // `PEER_ATTACK_SHARED_RUNTIME` serves the RPC on the node's runtime instead (as the
    // reference does, and as this bench did before).
    let threads = RpcConfig::defaults(Network::Dev).server_threads as usize;
    let api_rt =
        (std::env::var_os("PEER_ATTACK_SHARED_RUNTIME").is_none() && threads > 0).then(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .thread_name("nano api")
                .build()
                .expect("API runtime")
        });
    let (node, rpc) = rt.block_on(start_node(
        dir.path(),
        matches!(attack, Attack::Udp | Attack::UdpNoBudget | Attack::UdpPeers),
        attack != Attack::JunkUnfiltered,
        attack != Attack::UdpNoBudget,
        api_rt.as_ref().map(|r| r.handle().clone()),
    ));
    let port = node.local_endpoint().expect("peering").port();
    let setup_heads: Vec<_> = w.setup.iter().map(Block::hash).collect();
    let genesis_count = node.ledger.cemented_count();
    let setup_count = genesis_count + w.setup.len() as u64;
    let final_count = setup_count + w.timed.len() as u64;
    let follower = Follower::spawn(port, final_count);
    // The follower peers before the setup blocks, so it receives them as they are flooded.
    let peered = (0..1_000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !node.peers().is_empty()
    });
    assert!(peered, "the follower peers with the attacked node");
    let set_up = rt.block_on(submit_and_wait(&node, &w.setup, &setup_heads));
    assert!(set_up, "setup cemented");
    let follower_set_up = follower
        .wait_for(setup_count, Duration::from_secs(120))
        .is_some();
    assert!(
        follower_set_up,
        "the follower cemented {} of {setup_count} setup blocks",
        follower.cemented()
    );
    reset_peak_rss();
    let rss_at_start = proc_status_kib("VmRSS:") as f64 / 1024.0;
    let (stop_attack, attacker, achieved) = if phase.ceiling {
        start_attack(
            Phase {
                attack: Attack::Quiet,
                ..phase
            },
            port,
        )
    } else {
        start_attack(phase, port)
    };
    // The ceiling's spinners: every use of the attacker's (a thread that used less than
    // 0.1% of a core is left out).
    let spinners = phase
        .ceiling
        .then(|| competing::spin(load, 0.001, SPINNER_LIFE));
    // Let the attack reach its pace before the clock starts; the UDP attacker also gets
    // to hold all the channels its address may (its own handshake flood spends the
    // address's handshake budget, so they take a while to form), as an attacker would
    // before flooding.
    std::thread::sleep(Duration::from_secs(2));
    if !phase.ceiling && matches!(attack, Attack::Udp | Attack::UdpNoBudget | Attack::UdpPeers) {
        let cap = Network::Dev.params().max_peers_per_ip;
        let waited = Instant::now();
        while udp_channels(&node) < cap && waited.elapsed() < UDP_CHANNELS_WAIT {
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "  {}: the attacker held {} of {cap} UDP channels after {:.1} s more",
            phase.label(),
            udp_channels(&node),
            waited.elapsed().as_secs_f64()
        );
    }
    let udp_at_start = udp_channels(&node);
    let stop_probe = Arc::new(AtomicBool::new(false));
    let sp = stop_probe.clone();
    let prober = std::thread::Builder::new()
        .name(PROBER_THREAD.into())
        .spawn(move || rpc_prober(rpc, sp))
        .expect("prober thread");
    let achieved_before = achieved.load(Ordering::Relaxed);
    let junk_before = (
        JUNK_ATTEMPTS.load(Ordering::Relaxed),
        JUNK_CONNECTED.load(Ordering::Relaxed),
    );
    let stats_before = node.stats.snapshot();
    let threads_before = competing::threads("self");
    let cpu_before = CpuSample::now();
    let t = Instant::now();
    let t_unix = unix_ms();
    let cemented = rt.block_on(submit_and_wait(&node, &w.timed, &w.heads));
    let elapsed = t.elapsed().as_secs_f64();
    let cpu_after = CpuSample::now();
    let attack_threads: Vec<competing::ThreadStat> = competing::threads("self")
        .into_iter()
        .filter(|t| t.name == ATTACK_THREAD)
        .collect();
    let attack_load = competing::uses(
        "attacker",
        &threads_before,
        &attack_threads,
        Duration::from_secs_f64(elapsed),
    );
    let spinner_cpu_s = cpu_after.thread(SPINNER_THREAD) - cpu_before.thread(SPINNER_THREAD);
    let spun = spinners.map(|sp| {
        let (mut asked, mut got) = (0.0, 0.0);
        for (u, r) in sp.stop() {
            asked += u.cores.min(1.0);
            match r {
                Ok(c) => got += c,
                Err(e) => println!(
                    "  {}: a spinner could not take its priority: {e}",
                    phase.label()
                ),
            }
        }
        (asked, got)
    });
    let udp_at_end = udp_channels(&node);
    let junk_during = (
        JUNK_ATTEMPTS.load(Ordering::Relaxed) - junk_before.0,
        JUNK_CONNECTED.load(Ordering::Relaxed) - junk_before.1,
    );
    if std::env::var_os("PEER_ATTACK_STATS").is_some() {
        print_stats_delta(&phase.label(), &stats_before, &node.stats.snapshot());
        for (name, s) in &cpu_after.by_thread {
            let used = s - cpu_before.thread(name);
            if used > 0.0 {
                println!("  {} CPU {name}: {used:.2} s", phase.label());
            }
        }
    }
    stop_probe.store(true, Ordering::Relaxed);
    let (attack_cpu_s, prober_cpu_s) = (
        cpu_after.thread(ATTACK_THREAD) - cpu_before.thread(ATTACK_THREAD),
        cpu_after.thread(PROBER_THREAD) - cpu_before.thread(PROBER_THREAD),
    );
    let node_cpu_s =
        (cpu_after.total - cpu_before.total) - attack_cpu_s - prober_cpu_s - spinner_cpu_s;
    let mut lat = prober.join().unwrap_or_default();
    let during = achieved.load(Ordering::Relaxed) - achieved_before;
    // The follower catches up under the attack, which is still running.
    let follower_done = follower.wait_for(final_count, FOLLOWER_GRACE);
    let follower_cps = follower_done
        .map(|ms| w.timed.len() as f64 / (ms.saturating_sub(t_unix).max(1) as f64 / 1000.0));
    let follower_timed = follower.cemented().saturating_sub(setup_count);
    follower.stop();
    let peak_rss_mib = proc_status_kib("VmHWM:") as f64 / 1024.0;
    let st = &node.stats;
    let attack_words = match attack {
        _ if phase.ceiling => format!(
            "spinners in the attacker's place: {}; asked {:.3} cores, got {:.3}",
            competing::describe(load),
            spun.map_or(0.0, |s| s.0),
            spun.map_or(0.0, |s| s.1)
        ),
        Attack::Quiet => String::new(),
        Attack::Idle => format!(
            "{during} idle connections opened during the timed run; node refused {} at the per-IP cap, holds {} from 127.0.0.2",
            st.get("tcp", "refused_ip_limit", "in"),
            node.network
                .as_ref()
                .map(|n| n.inbound_connections_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))))
                .unwrap_or(0)
        ),
        Attack::UdpPeers => format!(
            "{} peers completed a handshake; node held {udp_at_start} UDP channels when the clock started, {udp_at_end} when it stopped",
            achieved.load(Ordering::Relaxed),
        ),
        Attack::Udp | Attack::UdpNoBudget => format!(
            "{} of {UDP_PORTS} ports completed a handshake; node held {udp_at_start} UDP channels when the clock started, {udp_at_end} when it stopped, {} now, refused {} at the per-IP cap, {} handshake answers rate-limited",
            achieved.load(Ordering::Relaxed),
            udp_channels(&node),
            st.get("udp", "refused_channel_ip_limit", "in"),
            st.get("drop", "udp_handshake_rate", "in"),
        ),
        Attack::Junk | Attack::JunkUnfiltered => format!(
            "{:.1} MB of junk written during the timed run; {} connects tried and {} completed in it ({:.0}/s, {:.0}/s); {} addresses cooled down, {} excluded, {} connections refused unread, {} listed in the kernel filter",
            during as f64 / 1e6,
            junk_during.0,
            junk_during.1,
            junk_during.0 as f64 / elapsed,
            junk_during.1 as f64 / elapsed,
            st.get("peer", "cooldown", "in"),
            st.get("peer", "excluded", "in"),
            st.get("tcp", "refused_excluded", "in"),
            node.network
                .as_ref()
                .map(|n| n.kernel_filtered(false).len())
                .unwrap_or(0),
        ),
    };
    stop_attack.store(true, Ordering::Relaxed);
    if let Some(a) = attacker {
        let _ = a.join();
    }
    rt.block_on(node.stop());
    drop(api_rt);
    assert!(cemented, "{}: not everything cemented", attack.name());
    lat.sort_unstable();
    Report {
        cps: w.timed.len() as f64 / elapsed,
        follower_cps,
        follower_timed,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        requests: lat.len(),
        latencies: lat,
        peak_rss_mib,
        growth_mib: peak_rss_mib - rss_at_start,
        attack: attack_words,
        node_cpu_s,
        attack_cpu_s,
        prober_cpu_s,
        attack_load,
    }
}

fn main() {
    if let Ok(port) = std::env::var(FOLLOWER_ENV) {
        let target = std::env::var(FOLLOWER_TARGET_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        follower_main(port.parse().expect("follower port"), target);
        return;
    }
    if awake::child_main() {
        return;
    }
    // Runs through every round and phase (`BENCH_AWAKE`).
    let keep_awake = awake::from_env();
    let setting = |k: &str, d: u64| std::env::var(k).map_or(d, |v| v.parse().unwrap_or(d));
    let n = setting("PEER_ATTACK_BLOCKS", 12_000) as usize;
    let rounds = setting("PEER_ATTACK_ROUNDS", 3).max(1);
    let chosen: Vec<Attack> = match std::env::var("PEER_ATTACKS") {
        Ok(list) => ATTACKS
            .into_iter()
            .filter(|a| *a == Attack::Quiet || list.split(',').any(|n| n.trim() == a.name()))
            .collect(),
        Err(_) => ATTACKS.to_vec(),
    };
    let isolated = std::env::var_os("PEER_ATTACK_ISOLATED").is_some();
    let ceilings = std::env::var_os("PEER_ATTACK_CEILINGS").is_some();
    let phases: Vec<Phase> = chosen
        .iter()
        .flat_map(|&attack| {
            let plain = Phase {
                attack,
                niced: false,
                ceiling: false,
            };
            let attacked = attack != Attack::Quiet;
            let ceiling = (ceilings && attacked).then_some(Phase {
                ceiling: true,
                ..plain
            });
            let niced = (isolated && attacked).then_some(Phase {
                niced: true,
                ..plain
            });
            std::iter::once(plain).chain(ceiling).chain(niced)
        })
        .collect();
    // Per attack, the attacker's use of the CPU in its latest run: what its ceiling
    // reproduces.
    let mut loads: Vec<(Attack, Vec<competing::Use>)> = Vec::new();
    let w = spread_sends(n, (n / 10).max(1), 5_000);
    // Per attack: [CPS, p50, p99, RSS growth, node CPU ms per block, follower CPS (0 when
    // it did not cement everything)] of every round, for the medians.
    let mut all: Vec<Vec<[f64; 6]>> = vec![Vec::new(); phases.len()];
    // Per attack: every round's answer latencies (µs), for a p99 over all of them.
    let mut pooled: Vec<Vec<u64>> = vec![Vec::new(); phases.len()];
    for round in 1..=rounds {
        let mut quiet: Option<Report> = None;
        // Even rounds run each ceiling before its attack, with the previous round's load.
        let mut order: Vec<usize> = (0..phases.len()).collect();
        if round % 2 == 0 {
            for i in 1..phases.len() {
                if phases[i].ceiling && order[i - 1] == i - 1 {
                    order.swap(i - 1, i);
                }
            }
        }
        for i in order {
            let phase = phases[i];
            let attack = phase.attack;
            let load = loads
                .iter()
                .find(|(a, _)| *a == attack)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            let r = run(phase, &w, &load);
            if !phase.ceiling && !phase.niced && attack != Attack::Quiet {
                loads.retain(|(a, _)| *a != attack);
                loads.push((attack, r.attack_load.clone()));
            }
            let node_ms_per_block = r.node_cpu_s * 1000.0 / w.timed.len() as f64;
            all[i].push([
                r.cps,
                r.p50_us as f64,
                r.p99_us as f64,
                r.growth_mib,
                node_ms_per_block,
                r.follower_cps.unwrap_or(0.0),
            ]);
            let vs = quiet
                .as_ref()
                .map(|q| {
                    format!(
                        " (vs quiet: CPS {:.2}x, follower CPS {}, p50 {:.2}x, p99 {:.2}x)",
                        r.cps / q.cps,
                        match (r.follower_cps, q.follower_cps) {
                            (Some(f), Some(fq)) => format!("{:.2}x", f / fq),
                            _ => "-".into(),
                        },
                        r.p50_us as f64 / q.p50_us.max(1) as f64,
                        r.p99_us as f64 / q.p99_us.max(1) as f64
                    )
                })
                .unwrap_or_default();
            let p99 = tail::quantile(&r.latencies, 0.99);
            pooled[i].extend_from_slice(&r.latencies);
            let follower = match r.follower_cps {
                Some(f) => format!("follower {f:.0} confirmed blocks/s"),
                None => format!(
                    "follower cemented {} of {} timed blocks by {} s after the node",
                    r.follower_timed,
                    w.timed.len(),
                    FOLLOWER_GRACE.as_secs()
                ),
            };
            println!(
                "round {round} {:>5}: {:.0} confirmed blocks/s, {follower}; CPU s node {:.2} ({node_ms_per_block:.3} ms/block), attacker {:.2}, prober {:.2}; RPC block_count p50 {} µs p99 {} µs [95% {}-{} µs, the slowest {}] over {} requests; peak RSS {:.1} MiB (+{:.1} MiB during the run){vs}{}{}",
                phase.label(),
                r.cps,
                r.node_cpu_s,
                r.attack_cpu_s,
                r.prober_cpu_s,
                r.p50_us,
                r.p99_us,
                p99.low,
                p99.high,
                p99.above,
                r.requests,
                r.peak_rss_mib,
                r.growth_mib,
                if r.attack.is_empty() { "" } else { "; " },
                r.attack
            );
            if attack == Attack::Quiet {
                quiet = Some(r);
            }
        }
    }
    // The median of each figure over the rounds.
    let medians = |rounds: &[[f64; 6]]| -> [f64; 6] {
        std::array::from_fn(|k| {
            let mut v: Vec<f64> = rounds.iter().map(|r| r[k]).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        })
    };
    let [qc, q50, q99, _, qcpu, qf] = medians(&all[0]);
    for lat in &mut pooled {
        lat.sort_unstable();
    }
    let pooled_p99: Vec<tail::Quantile<u64>> =
        pooled.iter().map(|l| tail::quantile(l, 0.99)).collect();
    let quiet_pooled = pooled_p99[0];
    for (i, phase) in phases.iter().enumerate() {
        if all[i].is_empty() {
            continue;
        }
        let [c, p50, p99, rss, cpu, f] = medians(&all[i]);
        println!(
            "median of {rounds} {:>5}: {c:.0} confirmed blocks/s ({:.2}x quiet); follower {f:.0} ({:.2}x; 0 = not all cemented); node CPU {cpu:.3} ms/block ({:.2}x); RPC p50 {p50:.0} µs ({:.2}x), p99 {p99:.0} µs ({:.2}x); RSS growth {rss:.1} MiB",
            phase.label(),
            c / qc,
            f / qf.max(1e-9),
            cpu / qcpu.max(1e-9),
            p50 / q50.max(1.0),
            p99 / q99.max(1.0)
        );
        let p99s: Vec<f64> = all[i].iter().map(|r| r[2]).collect();
        let (mid, low, high) = tail::spread(&p99s);
        let p = pooled_p99[i];
        println!(
            "  p99 across the {rounds} rounds: median {mid:.0} µs [{low:.0}-{high:.0}]; over the rounds' {} answers pooled: {} µs [95% {}-{}] ({:.2}x the quiet runs' pooled {} µs)",
            pooled[i].len(),
            p.value,
            p.low,
            p.high,
            p.value as f64 / quiet_pooled.value.max(1) as f64,
            quiet_pooled.value,
        );
    }
    // Each attack against its ceiling: medians of the per-round ratios.
    for (c, ceiling) in phases.iter().enumerate().filter(|(_, p)| p.ceiling) {
        let Some(a) = phases
            .iter()
            .position(|p| p.attack == ceiling.attack && !p.ceiling && !p.niced)
        else {
            continue;
        };
        let ratios = |k: usize| -> Vec<f64> {
            all[a]
                .iter()
                .zip(&all[c])
                .map(|(x, y)| x[k] / y[k].max(1e-9))
                .collect()
        };
        let show = |v: Vec<f64>| {
            let each: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
            format!("{:.2}x [{}]", tail::spread(&v).0, each.join(" "))
        };
        let cps = ratios(0);
        let (cps_median, ..) = tail::spread(&cps);
        let p99 = ratios(2);
        let (p99_median, ..) = tail::spread(&p99);
        let within = |m: f64, worse_above: bool| {
            let ok = if worse_above { m <= 1.10 } else { m >= 0.90 };
            if ok {
                "within 10%"
            } else {
                "not within 10%"
            }
        };
        println!(
            "{} against its ceiling (the same CPU competition without the attack's packets), medians of the per-round ratios: confirmed blocks/s {} ({}); node CPU per block {}; RPC p50 {}; p99 {} ({}); p99 pooled {} µs against {} µs ({:.2}x)",
            ceiling.attack.name(),
            show(cps),
            within(cps_median, false),
            show(ratios(4)),
            show(ratios(1)),
            show(p99),
            within(p99_median, true),
            pooled_p99[a].value,
            pooled_p99[c].value,
            pooled_p99[a].value as f64 / pooled_p99[c].value.max(1) as f64,
        );
    }
    if let Some(k) = keep_awake {
        k.stop();
    }
}
