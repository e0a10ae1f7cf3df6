//! Legitimate RPC latency while the API servers are attacked, against the quiet figure of
//! the same run, with the CPU time of server and attackers and the server's memory:
//! - quiet: no attack;
//! - slow clients: 500 slow-loris connections each on HTTP RPC, WebSocket and IPC TCP
//!   (a partial request, one byte every 500 ms, reconnecting when closed), once with the
//!   attackers on a runtime of this process and once in a child process, to tell the
//!   server's cost from the attackers' sharing this process;
//! - slow-action flood: 64 keep-alive clients calling `receivable` on an account with
//!   200,000 receivables back to back, all from one address (127.0.0.1), then from 64
//!   addresses (127.0.1.x); the attackers run in a child process, so this process's RSS
//!   is the server's (plus the one legitimate client).
//!
//! The one-address flood also runs with the pool's refusals unpaced (each answered at
//! once, as before [`nano_api::refusal_pace`]; the before/after of that change in one
//! run, unpaced-paced then paced-unpaced), and once with the attacker child at nice 19.
//! The machine this bench runs on has two cores shared by server and attackers, which
//! attackers elsewhere on the network would not share: at nice 19 the server gets the CPU first, so what remains is
//! closer to the server's own cost of the flood (the attackers also manage less, which
//! their counts show). Every phase also prints the server's CPU per legitimate request
//! (its CPU in the phase over the legitimate requests answered), which counts only the
//! server's threads whoever else runs. Both figures are printed; neither replaces the
//! other.
//!
//! Quiet is measured twice in a row (after a warm-up round) and again between the attacks,
//! so the report shows this machine's noise next to each attack's effect.
//!
//! The legitimate client (from 127.0.0.2, another host than the attackers) sends in turn
//! `account_info` (answered inline), `account_balance`, `accounts_balances` of three
//! accounts and `wallet_balances` of a three-account wallet (slow actions whose cheap
//! calls the front door may answer inline), one at a time [`PROBE_GAP`] apart,
//! [`PROBES`] of each per phase (`API_ATTACKS_PROBES`) or until [`PHASE_LIMIT`], each
//! request given [`PROBE_TIMEOUT`]; each p99 is printed with its 95% interval. Run: `cargo bench -p nano-api --bench api_attacks`;
//! `API_ATTACKS=pairs` runs only rounds of quiet, one-address flood and 64-address flood,
//! each flood once without and once with the slow pool's CPU-time budgets, each
//! against its own round's quiet phase, and prints the medians of the ratios
//! ([`API_ATTACKS_PAIRS`](PAIRS) rounds, 8 by default). The other phases run the pool as
//! the config's defaults set it, budgets included.
//!
//! `pairs` also measures each flood against a ceiling in the same round: the same prober
//! against bare servers on the node's stack replaying the node's answer to each probe
//! (`support/replay.rs`, as rpc_ceiling's replay ceilings), while spinning threads take
//! the CPU the flood's threads took (the attacker child's and the node's, each at its
//! nice value and policy, the node's runtime less what it used to serve the quiet
//! probes; `support/competing.rs`). On a machine where attacker, node and prober share
//! two cores, "within 10% of quiet" asks for more than any server gets; "within 10% of a
//! bare server under the same CPU competition" is what the node's own code can be held
//! to, and the bench prints both.
//!
//! `API_ATTACKS=slow` does the same for the slow-client phases: rounds of a quiet phase,
//! then the slow clients (in this process, then in a child process) each paired with a
//! ceiling phase under the CPU that attack's threads took, in the same alternating order
//! and with the same report (per-round ratios and their medians, peak RSS per phase).
//! `API_ATTACKS_SLOW_ON=rpc|ws|ipc` (comma-separated) puts the slow clients on those
//! listeners only (the phases keep their labels; the run prints the listeners).
//! `API_ATTACKS_SLOW_CEILING=readers` gives each slow phase a ceiling with the same slow
//! clients on bare readers (accept, read each byte, never answer or time out) beside the
//! replay servers, instead of spinners: the least any server pays for those bytes;
//! `readers-timed` makes each bare reader also close its connections after the node's
//! listener's timeout (RPC and WebSocket header timeouts, the IPC request deadline), so the
//! floor pays the reconnects the node's timeouts cause.
//! `API_ATTACKS_SPIN_CONTROL=<cores>` adds a control kind to it: no attack, only a
//! spinner of that many cores in this process while the node is probed, paired with a
//! ceiling without one (does a spinner's presence alone change a server's tail?).
//!
//! `API_ATTACKS=readers` runs a quiet phase, then slow readers: [`READERS`] connections
//! from 64 addresses (127.0.2.x) each asking `receivable` over the 200,000 receivables
//! (an answer of about 13 MB) and reading [`READ_CHUNK`] bytes a second of it, alternately
//! without and with the minimum read rate of held answers (both with the answer-memory
//! limits at the config's defaults: `nano_api::worker_pool::AnswerMemory::DEFAULT`), and
//! prints per phase the server's peak RSS, the bytes of answers it held at the end, and
//! what a legitimate client whose calls go to the slow pool ([`PooledCaller`]) got, next
//! to the legitimate latency; `API_ATTACKS_READERS=limits` alternates without and with the
//! memory limits instead, and `API_ATTACKS_READERS=front` sends the readers, the pooled
//! client and the probes through a `nano_rpc` front (`nano_api::ipc::forward`, over IPC
//! to this node) instead, after a quiet phase through it. Give the phases time (`API_ATTACKS_PROBES=4000`, about a minute
//! each): the default rate gives a 13 MB answer 35 s.
//!
//! Every mode runs the server process with the daemon's allocator setting
//! (`nano_node::heap_trim::start_heap_trimmer`: glibc's mmap threshold fixed and free
//! pages given back), so its RSS is what the daemon's would be.
//!
//! `API_ATTACKS_STAGES=1` splits each probe slower than a millisecond into stages inside
//! the node (`support/stages.rs`); `API_ATTACKS_LARGE_ANSWERS=runtime` writes the RPC's
//! large answers from the server's runtime instead of the large-answer thread
//! (`nano_http::LargeAnswer`), for a before/after in one binary.
//!
//! `API_ATTACKS_ATTACKERS_APART=1` keeps the attacker children off the first core, which
//! the node leaves to its request threads (its slow-action workers and large-answer
//! thread run on the others): attackers elsewhere on the network take none of the
//! node's CPU, and here they then take none of the core its requests are served on. The
//! ceiling phases' spinners are not moved, so their ratios do not apply to such a run.
//!
//! `BENCH_AWAKE=1` keeps every CPU busy with a `SCHED_IDLE` spinner through every phase
//! (`support/awake.rs`), so quiet, attack and ceiling phases pay no idle virtual CPU's
//! wake-up; each phase prints the cores the spinners took.

#[path = "support/awake.rs"]
mod awake;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/competing.rs"]
mod competing;
#[path = "support/replay.rs"]
mod replay;
#[path = "support/stages.rs"]
mod stages;
#[path = "support/tail.rs"]
mod tail;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::websocket::{WebsocketServer, WebsocketSettings};
use nano_api::worker_pool::Budgets;
use nano_api::{ApiContext, RpcConfig};
use nano_core::{Network, PublicKey};
use nano_ledger::Ledger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLOW_CLIENTS: usize = 500;
const FLOODERS: usize = 64;
/// Slow-reader connections of `API_ATTACKS=readers`, four per address: at 13 MB an
/// answer, what the node would hold if each kept its answer in memory is 3.3 GB.
const READERS: usize = 256;
/// Bytes a slow reader reads per [`READ_GAP`]: enough to keep its connection from the
/// idle timeout, far too little to drain an answer within the run.
const READ_CHUNK: usize = 1024;
const READ_GAP: Duration = Duration::from_secs(1);
const RECEIVABLES: u64 = 200_000;
/// Legitimate requests per action per phase by default (fewer if the phase runs out of
/// time): a p99 over 1,000 answers is the tenth slowest, where over 100 it was the
/// slowest one or two and moved 0.2–29x between rounds on a quiet machine.
const PROBES: usize = 1_000;
/// Environment variable giving the legitimate requests per action per phase.
const PROBES_ENV: &str = "API_ATTACKS_PROBES";
/// Gap between two legitimate requests: paced, so that the prober samples the server
/// rather than loading it (about 400 requests a second in all).
const PROBE_GAP: Duration = Duration::from_millis(2);
/// A legitimate request not answered by then counts as timed out.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The probes of one phase stop after this long, answered or not.
const PHASE_LIMIT: Duration = Duration::from_secs(60);
const TRICKLE: Duration = Duration::from_millis(500);
/// An attacker child process stops by itself after this long, whatever the parent does.
const CHILD_LIFE: Duration = Duration::from_secs(300);
/// Environment variable that makes this binary an attacker child: `slow RPC WS IPC` or
/// `flood RPC SOURCES ACCOUNT`.
const ROLE: &str = "API_ATTACKS_ROLE";
/// Threads of the server's runtime (tokio workers and blocking threads).
const SERVER_THREADS: &str = "srv";
/// Threads of the ceiling's runtime: the bare servers replaying the node's answers.
const CEILING_THREADS: &str = "ceiling";
/// Threads of the in-process attackers' runtime.
const ATTACKER_THREADS: &str = "attacker";
/// Environment variable giving an attacker child the nice value to run at.
const NICE: &str = "API_ATTACKS_NICE";
/// The attacker child's nice value in the isolated phase.
const ISOLATED_NICE: i32 = 19;
/// Environment variable: `1` keeps every attacker child off the cores the node leaves to
/// its request threads (the first `slow_action_spare_cores`, as the node's slow-action
/// workers are), as attackers on other machines would be; the prober and the server
/// keep every core. `both` makes `pairs` run each flood with the default budgets twice,
/// the attackers on every core and kept apart, for a comparison in one run.
const ATTACKERS_APART: &str = "API_ATTACKS_ATTACKERS_APART";

/// Whether attacker children start apart ([`ATTACKERS_APART`] `1`).
fn attackers_apart() -> bool {
    std::env::var(ATTACKERS_APART).is_ok_and(|v| v == "1")
}
/// Environment variable choosing a shorter run: `pairs` runs only rounds of quiet and
/// the two `receivable` floods ([`flood_pairs`]), `slow` only rounds of quiet and the
/// slow-client phases ([`slow_pairs`]), each with its ceilings.
const MODE: &str = "API_ATTACKS";
/// Environment variable giving the rounds of `pairs` ([`DEFAULT_PAIRS`] by default).
const PAIRS: &str = "API_ATTACKS_PAIRS";
/// Environment variable: `runtime` writes the RPC's large answers from the server's
/// runtime, as before the large-answer thread (`nano_http::LargeAnswer`), for a
/// before/after in one binary.
const LARGE_ANSWERS: &str = "API_ATTACKS_LARGE_ANSWERS";
/// Rounds of `pairs` by default: enough for a median on a machine whose quiet rounds
/// differ by a third from each other.
const DEFAULT_PAIRS: usize = 8;

/// `VmRSS` or `VmHWM` of process `pid` ("self" for this one) in MiB.
fn mem(pid: &str, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// (name, user + system CPU seconds) from a `/proc/.../stat` text.
fn stat_cpu(text: &str) -> Option<(String, f64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux for every architecture this runs on.
    Some((name, ticks / 100.0))
}

/// CPU seconds of this process's threads, grouped: (server, in-process attackers, rest).
fn own_cpu() -> (f64, f64, f64) {
    let (mut server, mut attackers, mut rest) = (0.0, 0.0, 0.0);
    for entry in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some((name, s)) = stat_cpu(&text) {
            // The large-answer thread serves the node's moved connections (large answers,
            // trickling requests): the server's work too.
            if name.starts_with(SERVER_THREADS)
                || name.starts_with("rpc slow")
                || name.starts_with(nano_api::bounded_http::LARGE_ANSWER_THREAD_NAME)
                || name.starts_with(CEILING_THREADS)
            {
                server += s;
            } else if name.starts_with(ATTACKER_THREADS) {
                attackers += s;
            } else {
                rest += s;
            }
        }
    }
    (server, attackers, rest)
}

fn child_cpu(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat_cpu(&text).map_or(0.0, |(_, s)| s)
}

/// One request on a new connection from 127.0.0.2; the answer, or None on error or
/// after [`PROBE_TIMEOUT`].
/// With the exchange's time stamps ([`stages`]).
async fn post(addr: SocketAddr, body: &str) -> Option<(String, stages::Client)> {
    let exchange = async {
        let start = Instant::now();
        let s = tokio::net::TcpSocket::new_v4().ok()?;
        s.bind("127.0.0.2:0".parse().ok()?).ok()?;
        let mut c = s.connect(addr).await.ok()?;
        let connected = Instant::now();
        let req = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.ok()?;
        let sent = Instant::now();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.ok()?;
        let stamps = stages::Client {
            start,
            connected,
            sent,
            done: Instant::now(),
        };
        Some((String::from_utf8_lossy(&out).into_owned(), stamps))
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}

struct Figures {
    mean: Duration,
    p50: Duration,
    p99: tail::Quantile<Duration>,
    answered: usize,
    refused: usize,
    failed: usize,
}

fn figures(mut l: Vec<Duration>, refused: usize, failed: usize) -> Figures {
    l.sort();
    let total: Duration = l.iter().sum();
    Figures {
        mean: total / u32::try_from(l.len().max(1)).unwrap_or(u32::MAX),
        p50: tail::quantile(&l, 0.5).value,
        p99: tail::quantile(&l, 0.99),
        answered: l.len(),
        refused,
        failed,
    }
}

/// One kind of legitimate request: its action's name, its body, and a text every answer
/// that is not a refusal holds.
struct Probe {
    action: &'static str,
    body: String,
    key: &'static str,
}

/// Up to [`PROBES_ENV`] of each legitimate request, in turn, within PHASE_LIMIT, each
/// kind sent to its address in `at` (the node's RPC, or that kind's replay ceiling);
/// figures per kind over the answered ones (a refusal is an answer, counted apart too).
async fn probe(at: &[SocketAddr], kinds: &[Probe]) -> Vec<Figures> {
    let rounds: usize = std::env::var(PROBES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROBES)
        .max(1);
    let mut lat = vec![Vec::new(); kinds.len()];
    let (mut refused, mut failed) = (vec![0; kinds.len()], vec![0; kinds.len()]);
    let end = Instant::now() + PHASE_LIMIT;
    let mut split = stages::Split::default();
    for _ in 0..rounds {
        if Instant::now() >= end {
            break;
        }
        for (i, kind) in kinds.iter().enumerate() {
            let t0 = Instant::now();
            match post(at[i], &kind.body).await {
                Some((answer, stamps)) => {
                    lat[i].push(t0.elapsed());
                    if stages::on() {
                        split.add(&stamps);
                    }
                    if !answer.contains(kind.key) {
                        refused[i] += 1;
                    }
                }
                None => failed[i] += 1,
            }
            tokio::time::sleep(PROBE_GAP).await;
        }
    }
    let line = split.describe();
    if !line.is_empty() {
        println!("  {line}");
    }
    lat.into_iter()
        .zip(refused.into_iter().zip(failed))
        .map(|(l, (r, f))| figures(l, r, f))
        .collect()
}

/// One slow client: trickles `prefix` then filler, reconnecting when closed, until stop.
async fn slow_client(
    addr: SocketAddr,
    prefix: &'static [u8],
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(TRICKLE).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut sent = 0;
        let mut buf = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            let b = prefix.get(sent).copied().unwrap_or(b'a');
            if s.write_all(&[b]).await.is_err() {
                break;
            }
            sent += 1;
            match tokio::time::timeout(TRICKLE, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                _ => {}
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which listeners get slow clients: `API_ATTACKS_SLOW_ON` (a comma-separated subset of
/// `rpc`, `ws`, `ipc`; all three when unset), to tell apart what each server's slow
/// connections cost the probes.
fn slow_listeners() -> [bool; 3] {
    match std::env::var("API_ATTACKS_SLOW_ON") {
        Ok(list) => {
            let on = |n: &str| list.split(',').any(|x| x.trim() == n);
            [on("rpc"), on("ws"), on("ipc")]
        }
        Err(_) => [true; 3],
    }
}

/// How many slow clients [`spawn_slow_clients`] starts in all.
fn slow_client_count() -> usize {
    slow_listeners().iter().filter(|on| **on).count() * SLOW_CLIENTS
}

/// Starts SLOW_CLIENTS slow clients on each listener [`slow_listeners`] names.
fn spawn_slow_clients(
    rt: &tokio::runtime::Runtime,
    [rpc, ws, ipc]: [SocketAddr; 3],
    stop: &Arc<AtomicBool>,
    open: &Arc<AtomicUsize>,
) {
    let targets = [
        (rpc, &b"POST / HTTP/1.1\r\nHost: x"[..]),
        (ws, &b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"[..]),
        (ipc, &b"N\x01\x00\x00\x00"[..]),
    ];
    for ((addr, prefix), on) in targets.into_iter().zip(slow_listeners()) {
        if !on {
            continue;
        }
        for _ in 0..SLOW_CLIENTS {
            rt.spawn(slow_client(addr, prefix, stop.clone(), open.clone()));
        }
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body from a keep-alive connection,
/// keeping at most its first 512 bytes; None when the connection failed or closed.
async fn read_response(c: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = c.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    let mut first = buf[head_end..].to_vec();
    let mut have = buf.len() - head_end;
    buf.clear();
    first.truncate(512);
    // The body is read and dropped as it comes: the attackers hold no answers.
    let mut chunk = vec![0u8; 64 * 1024];
    while have < len {
        let n = c.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        let used = n.min(len - have);
        if first.len() < 512 {
            first.extend_from_slice(&chunk[..used.min(512 - first.len())]);
        }
        // Bytes past this body belong to the next response (none: one request at a time).
        have += used;
    }
    Some(first)
}

/// An HTTP/1.1 POST of `body` to `/`, kept alive.
fn keep_alive_post(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A connection to `rpc` from `source` (with a receive buffer of `recv_buffer` bytes if
/// given); None if it cannot be made.
async fn connect_from(
    rpc: SocketAddr,
    source: std::net::Ipv4Addr,
    recv_buffer: Option<u32>,
) -> Option<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4().ok()?;
    if let Some(n) = recv_buffer {
        s.set_recv_buffer_size(n).ok()?;
    }
    s.bind(SocketAddr::new(source.into(), 0)).ok()?;
    s.connect(rpc).await.ok()
}

/// One flooder: `receivable` back to back on a keep-alive connection from `source`.
async fn flooder(
    rpc: SocketAddr,
    source: std::net::Ipv4Addr,
    body: Arc<String>,
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 2]>,
) {
    let req = keep_alive_post(&body);
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = connect_from(rpc, source, None).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut buf = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if c.write_all(req.as_bytes()).await.is_err() {
                break;
            }
            let Some(first) = read_response(&mut c, &mut buf).await else {
                break;
            };
            let busy = first.windows(12).any(|w| w == b"Too many slo");
            counts[usize::from(busy)].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One slow reader: asks for the flood's `receivable` answer, then reads [`READ_CHUNK`]
/// bytes per [`READ_GAP`] until stopped; asks again on a new connection when refused or
/// closed. Counts the KiB read and the refusals.
async fn slow_reader(
    rpc: SocketAddr,
    source: std::net::Ipv4Addr,
    body: Arc<String>,
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 2]>,
) {
    let req = keep_alive_post(&body);
    while !stop.load(Ordering::Relaxed) {
        // A small receive buffer, so the kernel does not drain the answer for it.
        let Some(mut c) = connect_from(rpc, source, Some(4096)).await else {
            tokio::time::sleep(READ_GAP).await;
            continue;
        };
        if c.write_all(req.as_bytes()).await.is_err() {
            continue;
        }
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            let mut chunk = [0u8; READ_CHUNK];
            let n = match c.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if first && chunk[..n].windows(12).any(|w| w == b"Too many slo") {
                counts[1].fetch_add(1, Ordering::Relaxed);
                break;
            }
            first = false;
            counts[0].fetch_add(n as u64, Ordering::Relaxed);
            tokio::time::sleep(READ_GAP).await;
        }
        tokio::time::sleep(READ_GAP).await;
    }
}

/// The attacker child: runs its role until its stdin closes or CHILD_LIFE passes,
/// printing progress lines for the parent.
fn attacker_main(role: &str) {
    if let Some(n) = std::env::var(NICE).ok().and_then(|v| v.parse::<i32>().ok()) {
        // Before any other thread starts: threads inherit the nice value of their creator.
        // SAFETY: nice only changes this thread's scheduling priority.
        let r = unsafe { libc::nice(n) };
        assert!(r >= 0, "nice: {}", std::io::Error::last_os_error());
    }
    if attackers_apart() {
        // Before any other thread starts: threads inherit their creator's affinity.
        let spare = nano_http::background_cpus::DEFAULT_SPARE_CORES;
        let cores = nano_http::background_cpus::confine_current_thread(spare)
            .expect("attacker child's affinity");
        eprintln!("attacker child on cores {cores:?}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let words: Vec<&str> = role.split_whitespace().collect();
    let addr = |i: usize| -> SocketAddr { words[i].parse().expect("address") };
    let open = Arc::new(AtomicUsize::new(0));
    let counts: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    match words.first() {
        Some(&"slow") => spawn_slow_clients(&rt, [addr(1), addr(2), addr(3)], &stop, &open),
        Some(&"flood") => {
            let sources: usize = words[2].parse().expect("sources");
            let body = Arc::new(format!(
                r#"{{"action":"receivable","account":"{}","include_only_confirmed":"false","include_active":"true"}}"#,
                words[3]
            ));
            for i in 0..FLOODERS {
                let source = if sources <= 1 {
                    std::net::Ipv4Addr::LOCALHOST
                } else {
                    std::net::Ipv4Addr::new(127, 0, 1, (i % sources) as u8 + 1)
                };
                let (b, s, c) = (body.clone(), stop.clone(), counts.clone());
                rt.spawn(flooder(addr(1), source, b, s, c));
            }
        }
        Some(&"readers") => {
            let body = Arc::new(format!(
                r#"{{"action":"receivable","account":"{}","include_only_confirmed":"false","include_active":"true"}}"#,
                words[2]
            ));
            for i in 0..READERS {
                let source = std::net::Ipv4Addr::new(127, 0, 2, (i % 64) as u8 + 1);
                let (b, s, c) = (body.clone(), stop.clone(), counts.clone());
                rt.spawn(slow_reader(addr(1), source, b, s, c));
            }
        }
        _ => panic!("unknown role {role:?}"),
    }
    let started = Instant::now();
    let mut out = std::io::stdout();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < CHILD_LIFE {
        let _ = writeln!(
            out,
            "open {} answered {} busy {}",
            open.load(Ordering::Relaxed),
            counts[0].load(Ordering::Relaxed),
            counts[1].load(Ordering::Relaxed)
        );
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// A running attacker child and its latest progress line's numbers (open, answered, busy).
struct Attackers {
    child: Child,
    progress: Arc<[AtomicU64; 3]>,
}

impl Attackers {
    fn start(role: String, nice: i32) -> Attackers {
        Self::start_placed(role, nice, attackers_apart())
    }

    /// [`Self::start`], kept off the node's request core if `apart` ([`ATTACKERS_APART`]).
    fn start_placed(role: String, nice: i32, apart: bool) -> Attackers {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .env(NICE, nice.to_string())
            .env(ATTACKERS_APART, if apart { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("attacker child");
        let progress: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let stdout = child.stdout.take().unwrap();
        let p = progress.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let n: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                for (slot, v) in p.iter().zip(n) {
                    slot.store(v, Ordering::Relaxed);
                }
            }
        });
        Attackers { child, progress }
    }

    fn get(&self, i: usize) -> u64 {
        self.progress[i].load(Ordering::Relaxed)
    }

    fn cpu(&self) -> f64 {
        child_cpu(self.child.id())
    }

    fn threads(&self) -> Vec<competing::ThreadStat> {
        competing::threads(&self.child.id().to_string())
    }

    fn rss(&self) -> f64 {
        mem(&self.child.id().to_string(), "VmRSS:")
    }

    /// Closes the child's stdin (its signal to stop) and waits for it, killing it after
    /// ten seconds.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples this process's RSS every 100 ms until dropped; the peak seen.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl RssPeak {
    fn start() -> RssPeak {
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max((mem("self", "VmRSS:") * 1024.0) as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssPeak { stop, peak }
    }

    fn mib(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for RssPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One phase's figures.
struct PhaseFigures {
    /// Per kind of legitimate request, in [`Probe`] order: account_info, account_balance,
    /// then the others.
    figures: Vec<Figures>,
    /// Server CPU ms per legitimate request.
    cpu_per_request: f64,
    /// Server CPU seconds per second of the phase.
    cores: f64,
    /// Every thread's CPU use in the phase, this process's (labelled "node") and the
    /// attacker child's ("attacker"), but the prober's, the ceiling's and the spinners'.
    uses: Vec<competing::Use>,
    /// The machine's 1-minute load average when the phase ended.
    load: f64,
    /// This process's peak RSS during the phase, MiB (the server's, and the in-process
    /// attackers' when they run).
    rss_peak: f64,
}

/// How a phase is run: its name, the quiet figures it is compared with, the attacker
/// child whose CPU it counts, and where each kind of probe goes.
trait RunPhase:
    Fn(&str, Option<&[Figures]>, Option<&Attackers>, &[SocketAddr]) -> PhaseFigures
{
}
impl<F: Fn(&str, Option<&[Figures]>, Option<&Attackers>, &[SocketAddr]) -> PhaseFigures> RunPhase
    for F
{
}

/// The machine's 1-minute load average (0 where `/proc/loadavg` is missing).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs one flood phase: the attacker child flooding `receivable` from `sources`
/// addresses at `nice` (kept off the node's request core if `apart`), probed once it has
/// run for two seconds; the pool drained after.
#[allow(clippy::too_many_arguments)]
fn flood_phase(
    run_phase: &impl RunPhase,
    pool: &nano_api::worker_pool::WorkerPool,
    rpc: SocketAddr,
    target: &PublicKey,
    sources: usize,
    (nice, apart): (i32, bool),
    name: &str,
    quiet: &[Figures],
) -> PhaseFigures {
    let child = Attackers::start_placed(
        format!("flood {rpc} {sources} {}", target.encode_account()),
        nice,
        apart,
    );
    std::thread::sleep(Duration::from_secs(2));
    let (a0, b0, t0) = (child.get(1), child.get(2), Instant::now());
    let figures = run_phase(name, Some(quiet), Some(&child), &vec![rpc; quiet.len()]);
    println!(
        "  flood: {} receivable answers, {} refused as busy in {:.1?}",
        child.get(1) - a0,
        child.get(2) - b0,
        t0.elapsed()
    );
    child.stop();
    // Let the pool drain before the next phase, without the budgets (which would keep
    // the flood's queued scans for many seconds after it stopped).
    let budgets = pool.budgets();
    pool.set_budgets(Budgets::NONE);
    let deadline = Instant::now() + Duration::from_secs(60);
    while pool.in_flight() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    pool.set_budgets(budgets);
    figures
}

/// The legitimate client of the readers phases whose calls go to the slow pool (the
/// probes' actions are all answered inline): is the pool still serving anyone while the
/// readers hold the answer memory?
const POOLED_SOURCE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 3);
/// The pause between the pooled client's calls (one at a time).
const POOLED_GAP: Duration = Duration::from_millis(250);

/// [`POOLED_SOURCE`]'s calls through one phase, one at a time: each answered call's
/// latency, the refused ones, and whether one was still waiting when the phase ended.
struct PooledCaller {
    stop: tokio::sync::watch::Sender<bool>,
    thread: std::thread::JoinHandle<(Vec<Duration>, usize, Option<Duration>)>,
}

impl PooledCaller {
    fn start(rpc: SocketAddr, body: String) -> PooledCaller {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let req = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (mut answered, mut refused) = (Vec::new(), 0);
                loop {
                    let started = Instant::now();
                    let call = async {
                        let mut c = connect_from(rpc, POOLED_SOURCE, None).await?;
                        c.write_all(req.as_bytes()).await.ok()?;
                        let mut out = Vec::new();
                        c.read_to_end(&mut out).await.ok()?;
                        Some(out.windows(10).any(|w| w == b"\"balances\""))
                    };
                    tokio::select! {
                        r = call => match r {
                            Some(true) => answered.push(started.elapsed()),
                            _ => refused += 1,
                        },
                        _ = stopped.wait_for(|v| *v) => {
                            return (answered, refused, Some(started.elapsed()));
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(POOLED_GAP) => {}
                        _ = stopped.wait_for(|v| *v) => return (answered, refused, None),
                    }
                }
            })
        });
        PooledCaller { stop, thread }
    }

    /// Stops the client and prints what it got.
    fn finish(self) {
        let _ = self.stop.send(true);
        let (mut answered, refused, cut) = self.thread.join().unwrap();
        answered.sort();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        println!(
            "  pooled legitimate calls (accounts_balances from {POOLED_SOURCE}, one at a time): {} answered (p50 {:.1} ms, max {:.1} ms), {refused} refused or failed{}",
            answered.len(),
            ms(answered.get(answered.len().saturating_sub(1) / 2)),
            ms(answered.last()),
            cut.map_or(String::new(), |d| format!(
                ", one still waiting at the end after {:.1} s",
                d.as_secs_f64()
            )),
        );
    }
}

/// A phase of [`READERS`] slow readers (attackers in a child process), with the pool's
/// answer memory as `memory`; prints the bytes of answers the pool held at the end and
/// waits, after the readers are gone, until it holds none.
fn readers_phase(
    run_phase: &impl RunPhase,
    pool: &nano_api::worker_pool::WorkerPool,
    rpc: SocketAddr,
    target: &PublicKey,
    (memory, name): (nano_api::worker_pool::AnswerMemory, &str),
    quiet: &[Figures],
    pooled_body: &str,
) -> PhaseFigures {
    pool.set_answer_memory(memory);
    let child = Attackers::start(format!("readers {rpc} {}", target.encode_account()), 0);
    std::thread::sleep(Duration::from_secs(2));
    let (r0, b0) = (child.get(1), child.get(2));
    let pooled = PooledCaller::start(rpc, pooled_body.to_string());
    let figures = run_phase(name, Some(quiet), Some(&child), &vec![rpc; quiet.len()]);
    pooled.finish();
    let everyone = nano_api::worker_pool::Client::Unnamed;
    println!(
        "  readers: answer memory {memory:?}; held at the end {:.1} MiB of answers; read {:.1} MiB, {} refused as busy",
        pool.held_answer_bytes(&everyone).0 as f64 / MIB,
        (child.get(1) - r0) as f64 / MIB,
        child.get(2) - b0,
    );
    child.stop();
    let budgets = pool.budgets();
    pool.set_budgets(Budgets::NONE);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (pool.in_flight() > 0 || pool.held_answer_bytes(&everyone).0 > 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    pool.set_budgets(budgets);
    pool.set_answer_memory(nano_api::worker_pool::AnswerMemory::DEFAULT);
    figures
}

/// Threads of the `nano_rpc` fronts' runtime (`API_ATTACKS_READERS=front`).
const FRONT_THREADS: &str = "srv-front";

/// `API_ATTACKS_READERS=front`: the readers, the pooled client and the probes all go to
/// a `nano_rpc` front (on its own runtime, forwarding over IPC to this node as the
/// `nano_rpc` process does), which holds the answers until its connections take them: a
/// quiet phase through it, then the readers alternately without and with the minimum
/// read rate (two fronts, one per setting, the answer memory otherwise at its defaults).
fn front_phases(
    run_phase: &impl RunPhase,
    ipc: SocketAddr,
    cfg: &RpcConfig,
    target: &PublicKey,
    pooled_body: &str,
    no_rate: nano_api::worker_pool::AnswerMemory,
    kinds: usize,
) {
    use nano_api::ipc::client::{IpcPool, IpcTarget};
    use nano_api::ipc::front_memory::FrontMemory;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(FRONT_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let fronts = [no_rate, nano_api::worker_pool::AnswerMemory::DEFAULT].map(|limits| {
        let pool = Arc::new(IpcPool::new(
            IpcTarget::Tcp {
                host: "127.0.0.1".into(),
                port: ipc.port(),
            },
            cfg.process.num_ipc_connections as usize,
            Duration::from_secs(300),
        ));
        let memory = FrontMemory::new(limits, pool.size());
        let at = rt
            .block_on(nano_api::ipc::forward::serve_with_memory(
                pool,
                cfg,
                memory.clone(),
                std::future::pending(),
            ))
            .unwrap();
        (at, memory)
    });
    let quiet = run_phase(
        "quiet, through nano_rpc",
        None,
        None,
        &vec![fronts[1].0; kinds],
    )
    .figures;
    let phases = [
        (0, "256 slow readers through nano_rpc, memory limits, no minimum read rate"),
        (1, "256 slow readers through nano_rpc, memory limits and minimum read rate (defaults)"),
        (1, "256 slow readers through nano_rpc, memory limits and minimum read rate (defaults), again"),
        (0, "256 slow readers through nano_rpc, memory limits, no minimum read rate, again"),
    ];
    let everyone = nano_api::worker_pool::Client::Unnamed;
    for (i, name) in phases {
        let (at, memory) = &fronts[i];
        let child = Attackers::start(format!("readers {at} {}", target.encode_account()), 0);
        std::thread::sleep(Duration::from_secs(2));
        let (r0, b0) = (child.get(1), child.get(2));
        let pooled = PooledCaller::start(*at, pooled_body.to_string());
        run_phase(name, Some(&quiet), Some(&child), &vec![*at; kinds]);
        pooled.finish();
        println!(
            "  front: answer memory {:?}; held at the end {:.1} MiB of answers, {} requests in line; read {:.1} MiB, {} refused as busy",
            memory.limits(),
            memory.held_bytes(&everyone).1 as f64 / MIB,
            memory.waiting(),
            (child.get(1) - r0) as f64 / MIB,
            child.get(2) - b0,
        );
        child.stop();
        let deadline = Instant::now() + Duration::from_secs(60);
        while memory.held_bytes(&everyone).1 > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The median of `v` (the lower middle for an even count); zero when empty.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// Where the probes go: the node's RPC for every kind, or each kind's replay ceiling.
#[derive(Clone, Copy)]
struct Targets<'a> {
    node: &'a [SocketAddr],
    ceiling: &'a [SocketAddr],
}

/// Threads using less than this many cores in a flood phase are not reproduced in its
/// ceiling phase (the bench's own samplers and readers).
const SPIN_FLOOR: f64 = 0.005;

/// The competing load a flood put on the machine besides the probes' own service: every
/// thread of `flood.uses` (node and attacker child), the server runtime's threads less
/// what they used in the same round's `quiet` phase (serving the probes, which the
/// ceiling's own runtime does in its phase), scaled down in proportion.
fn competing_load(flood: &PhaseFigures, quiet: &PhaseFigures) -> Vec<competing::Use> {
    let runtime = format!("node {SERVER_THREADS}");
    let sum = |p: &PhaseFigures| -> f64 {
        p.uses
            .iter()
            .filter(|u| u.who == runtime)
            .map(|u| u.cores)
            .sum()
    };
    let (in_flood, in_quiet) = (sum(flood), sum(quiet));
    let keep = if in_flood > 0.0 {
        (1.0 - in_quiet / in_flood).max(0.0)
    } else {
        0.0
    };
    flood
        .uses
        .iter()
        .map(|u| {
            let mut u = u.clone();
            if u.who == runtime {
                u.cores *= keep;
            }
            u
        })
        .collect()
}

/// A ceiling phase: the probes against each kind's replay ceiling while spinners
/// reproduce `load` ([`competing`]); returns the figures and the cores the spinners
/// asked for and got.
fn ceiling_phase(
    run_phase: &impl RunPhase,
    at: &[SocketAddr],
    name: &str,
    quiet: &[Figures],
    load: &[competing::Use],
) -> (PhaseFigures, f64, f64) {
    // Bounded: the spinners stop by themselves after the longest phase.
    let spinners = competing::spin(load, SPIN_FLOOR, PHASE_LIMIT + Duration::from_secs(10));
    // The flood phases probe once the flood has run for a while; the spinners need only
    // to have started.
    std::thread::sleep(Duration::from_millis(200));
    let figures = run_phase(name, Some(quiet), None, at);
    let (mut asked, mut got, mut failed) = (0.0, 0.0, Vec::new());
    for (u, r) in spinners.stop() {
        asked += u.cores.min(1.0);
        match r {
            Ok(c) => got += c,
            Err(e) => failed.push(format!("{}: {e}", u.who)),
        }
    }
    println!(
        "  competing load reproduced by spinners: asked {asked:.3} cores, got {got:.3}{}",
        if failed.is_empty() {
            String::new()
        } else {
            format!("; could not take their priority: {}", failed.join(", "))
        }
    );
    (figures, asked, got)
}

/// One attack kind in one round of [`ceiling_pairs`]: the attack against the node, the
/// ceiling under the attack's competing load, the cores the spinners asked for and got,
/// and whether the ceiling ran first.
struct PairRow {
    flood: PhaseFigures,
    ceiling: PhaseFigures,
    asked: f64,
    got: f64,
    ceiling_first: bool,
}

/// How one phase of an attack runs against the node, given the phase's name and the
/// round's quiet figures.
type AttackPhase<'a> = Box<dyn Fn(&str, &[Figures]) -> PhaseFigures + 'a>;

/// One kind of attack paired with its ceiling by [`ceiling_pairs`]: its label (phase
/// names and the report), what the report adds after the label, and its phase.
struct AttackKind<'a> {
    label: String,
    note: String,
    phase: AttackPhase<'a>,
    /// When set, the ceiling phase runs this (the same attack aimed at bare servers
    /// beside the replay ceilings) instead of spinners reproducing the attack's CPU.
    ceiling_attack: Option<AttackPhase<'a>>,
}

/// What [`ceiling_pairs`] measured: per kind its rows, one a round; per round the node's
/// and the ceiling's quiet phase.
struct Pairs {
    rows: Vec<Vec<PairRow>>,
    quiets: Vec<PhaseFigures>,
    ceiling_quiets: Vec<PhaseFigures>,
}

/// [`PAIRS`] rounds of a quiet phase, a quiet phase of the ceiling (each probe against a
/// bare server on the same stack replaying the node's answer to it, [`replay`]), then
/// each of `kinds` against the node, paired with a ceiling phase under the same competing
/// CPU: the CPU the attack's threads (the node's, less its runtime's quiet share, and the
/// attacker child's) used per second, per thread with its nice value and policy,
/// reproduced by spinning threads ([`competing`]). In odd rounds the attack runs first
/// and its ceiling takes the load just measured; in even rounds the ceiling runs first
/// with the previous round's, and the kinds run in `even_order` (off/on and on/off pairs
/// cancel the machine's drift).
fn ceiling_pairs(
    run_phase: &impl RunPhase,
    at: Targets,
    kinds: &[AttackKind],
    even_order: &[usize],
) -> Pairs {
    let rounds: usize = std::env::var(PAIRS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PAIRS)
        .clamp(1, 50);
    let mut rows: Vec<Vec<PairRow>> = kinds.iter().map(|_| Vec::new()).collect();
    let mut loads: Vec<Option<Vec<competing::Use>>> = vec![None; kinds.len()];
    let (mut quiets, mut ceiling_quiets) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let quiet = run_phase(&format!("round {round} quiet"), None, None, at.node);
        let ceiling_quiet = run_phase(
            &format!("round {round} ceiling, quiet"),
            Some(&quiet.figures),
            None,
            at.ceiling,
        );
        let order: Vec<usize> = if round % 2 == 0 {
            even_order.to_vec()
        } else {
            (0..kinds.len()).collect()
        };
        for k in order {
            let kind = &kinds[k];
            let name = format!("round {round} {}", kind.label);
            let ceiling_name =
                format!("round {round} ceiling under the load of the {}", kind.label);
            let attack = |loads: &mut Vec<Option<Vec<competing::Use>>>| {
                let f = (kind.phase)(&name, &quiet.figures);
                let load = competing_load(&f, &quiet);
                println!("  competing load: {}", competing::describe(&load));
                loads[k] = Some(load);
                f
            };
            let ceiling = |load: &[competing::Use]| match &kind.ceiling_attack {
                Some(attack) => (attack(&ceiling_name, &ceiling_quiet.figures), 0.0, 0.0),
                None => ceiling_phase(
                    run_phase,
                    at.ceiling,
                    &ceiling_name,
                    &ceiling_quiet.figures,
                    load,
                ),
            };
            let row = match loads[k].clone() {
                Some(previous) if round % 2 == 0 => {
                    let (c, asked, got) = ceiling(&previous);
                    let f = attack(&mut loads);
                    PairRow {
                        flood: f,
                        ceiling: c,
                        asked,
                        got,
                        ceiling_first: true,
                    }
                }
                _ => {
                    let f = attack(&mut loads);
                    let load = loads[k].clone().unwrap_or_default();
                    let (c, asked, got) = ceiling(&load);
                    PairRow {
                        flood: f,
                        ceiling: c,
                        asked,
                        got,
                        ceiling_first: false,
                    }
                }
            };
            rows[k].push(row);
        }
        quiets.push(quiet);
        ceiling_quiets.push(ceiling_quiet);
    }
    Pairs {
        rows,
        quiets,
        ceiling_quiets,
    }
}

/// [`MODE`] `pairs`: [`ceiling_pairs`] of the one-address and the 64-address `receivable`
/// floods, each once without the pool's CPU-time budgets and once with the defaults
/// ([`Budgets::defaults`]; the order alternating between rounds). Prints per kind of
/// legitimate request the per-round ratios and their medians: each flood against its own
/// round's quiet phase, each ceiling against the round's quiet ceiling, and each flood
/// against its ceiling (the question: is the node's latency under attack within 10% of
/// what a bare server gets under the same CPU competition on this machine); the p99
/// itself across rounds (median and range), the server's CPU per second of each phase
/// (what the flood costs the node, which the budgets bound) and the load average.
fn flood_pairs(
    run_phase: &impl RunPhase,
    pool: &nano_api::worker_pool::WorkerPool,
    at: Targets,
    target: &PublicKey,
    actions: &[&str],
) {
    let rpc = at.node[0];
    let apart = attackers_apart();
    let floods = if std::env::var(ATTACKERS_APART).is_ok_and(|v| v == "both") {
        vec![
            (1, Budgets::defaults(), false, "1 address, budgets"),
            (
                1,
                Budgets::defaults(),
                true,
                "1 address, budgets, attackers apart",
            ),
            (
                FLOODERS,
                Budgets::defaults(),
                false,
                "64 addresses, budgets",
            ),
            (
                FLOODERS,
                Budgets::defaults(),
                true,
                "64 addresses, budgets, attackers apart",
            ),
        ]
    } else {
        vec![
            (1, Budgets::NONE, apart, "1 address, no budgets"),
            (1, Budgets::defaults(), apart, "1 address, budgets"),
            (FLOODERS, Budgets::NONE, apart, "64 addresses, no budgets"),
            (
                FLOODERS,
                Budgets::defaults(),
                apart,
                "64 addresses, budgets",
            ),
        ]
    };
    let kinds: Vec<AttackKind> = floods
        .into_iter()
        .map(|(sources, budgets, apart, label)| AttackKind {
            label: format!("flood from {label}"),
            note: format!(" ({budgets:?})"),
            phase: Box::new(move |name: &str, quiet: &[Figures]| {
                pool.set_budgets(budgets);
                let placed = (0, apart);
                flood_phase(run_phase, pool, rpc, target, sources, placed, name, quiet)
            }),
            ceiling_attack: None,
        })
        .collect();
    // Budgets first in even rounds.
    let pairs = ceiling_pairs(run_phase, at, &kinds, &[1, 0, 3, 2]);
    pool.set_budgets(Budgets::defaults());
    pairs_report(&kinds, &pairs, actions);
}

/// The slow-client phases' names.
const SLOW_IN_PROCESS: &str =
    "500 slow clients each on RPC, WebSocket, IPC (attackers in this process)";
const SLOW_IN_CHILD: &str =
    "500 slow clients each on RPC, WebSocket, IPC (attackers in a child process)";

/// Where the slow clients go: the node's RPC, WebSocket and IPC TCP listeners.
type Listeners = [SocketAddr; 3];

/// A phase of [`SLOW_CLIENTS`] slow clients on each listener, the attackers on `attack_rt`
/// in this process, while `probe_at` is probed; the probes start once they are connected
/// (or after 30 s).
fn slow_phase_in_process(
    run_phase: &impl RunPhase,
    attack_rt: &tokio::runtime::Runtime,
    listeners: Listeners,
    probe_at: &[SocketAddr],
    name: &str,
    quiet: &[Figures],
) -> PhaseFigures {
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    spawn_slow_clients(attack_rt, listeners, &stop, &open);
    let deadline = Instant::now() + Duration::from_secs(30);
    while open.load(Ordering::Relaxed) < slow_client_count() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slow clients connected: {}", open.load(Ordering::Relaxed));
    let figures = run_phase(name, Some(quiet), None, probe_at);
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(TRICKLE * 2);
    figures
}

/// The same with the slow clients in an attacker child process (its threads' CPU is
/// measured apart from the server's).
fn slow_phase_child(
    run_phase: &impl RunPhase,
    [rpc, ws, ipc]: Listeners,
    probe_at: &[SocketAddr],
    name: &str,
    quiet: &[Figures],
) -> PhaseFigures {
    let child = Attackers::start(format!("slow {rpc} {ws} {ipc}"), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.get(0) < slow_client_count() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slow clients connected: {}", child.get(0));
    let figures = run_phase(name, Some(quiet), Some(&child), probe_at);
    child.stop();
    std::thread::sleep(TRICKLE * 2);
    figures
}

/// [`MODE`] `slow`: [`ceiling_pairs`] of the slow-client phases (500 slow clients each on
/// RPC, WebSocket and IPC, the attackers in this process, then in a child process), each
/// against a replay ceiling under the CPU the attack's threads took (the slow clients
/// themselves and what the node spent on them beyond serving the probes; nice values,
/// policies and slice lengths as measured). The slow clients' cost to the node is held
/// connections and timers more than CPU; a ceiling under the same CPU asks whether that
/// costs the legitimate client anything a bare server on the same cores would not pay.
///
/// With `bare` (bare readers beside the replay ceilings, [`SLOW_CEILING`]), each ceiling
/// phase instead has the same slow clients on the bare readers while the replay ceilings
/// are probed: the ceiling pays for the same trickled bytes what holding a connection
/// costs at the least (a read of each byte as it comes), so "node against its ceiling"
/// is what the node's servers cost beyond that.
fn slow_pairs(
    run_phase: &impl RunPhase,
    attack_rt: &tokio::runtime::Runtime,
    at: Targets,
    listeners: Listeners,
    bare: Option<Listeners>,
    actions: &[&str],
) {
    let note = if bare.is_some() {
        " (ceiling: the same slow clients on bare readers, no spinners)".to_string()
    } else {
        String::new()
    };
    let kinds = [
        AttackKind {
            label: SLOW_IN_PROCESS.into(),
            note: note.clone(),
            phase: Box::new(|name: &str, quiet: &[Figures]| {
                slow_phase_in_process(run_phase, attack_rt, listeners, at.node, name, quiet)
            }),
            ceiling_attack: bare.map(|bare| -> AttackPhase {
                Box::new(move |name: &str, quiet: &[Figures]| {
                    slow_phase_in_process(run_phase, attack_rt, bare, at.ceiling, name, quiet)
                })
            }),
        },
        AttackKind {
            label: SLOW_IN_CHILD.into(),
            note,
            phase: Box::new(|name: &str, quiet: &[Figures]| {
                slow_phase_child(run_phase, listeners, at.node, name, quiet)
            }),
            ceiling_attack: bare.map(|bare| -> AttackPhase {
                Box::new(move |name: &str, quiet: &[Figures]| {
                    slow_phase_child(run_phase, bare, at.ceiling, name, quiet)
                })
            }),
        },
    ];
    let mut kinds = Vec::from(kinds);
    if let Some(cores) = std::env::var(SPIN_CONTROL)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        kinds.push(AttackKind {
            label: format!("no attack, a spinner of {cores} cores in this process"),
            note: String::new(),
            phase: Box::new(move |name: &str, quiet: &[Figures]| {
                spin_control_phase(run_phase, at.node, cores, name, quiet)
            }),
            ceiling_attack: None,
        });
    }
    let even: Vec<usize> = (0..kinds.len()).rev().collect();
    let pairs = ceiling_pairs(run_phase, at, &kinds, &even);
    pairs_report(&kinds, &pairs, actions);
}

/// Environment variable: `readers` makes `slow`'s ceiling phases run the same slow
/// clients against bare readers ([`start_bare_reader`]) instead of spinners;
/// `readers-timed` gives the readers the node's listeners' timeouts.
const SLOW_CEILING: &str = "API_ATTACKS_SLOW_CEILING";

/// Bytes a bare reader takes per read: more than a slow client ever has waiting.
const BARE_READ: usize = 4096;

/// The least a server can do for a connection that trickles a request: accept it and
/// read each byte as it comes (no parsing, no answer), holding the connection until the
/// client closes it or, with `hold`, until that long after it was accepted (as the
/// node's timeouts close a slow client, which then reconnects).
async fn start_bare_reader(hold: Option<Duration>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; BARE_READ];
                let read_all = async { while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {} };
                match hold {
                    Some(h) => drop(tokio::time::timeout(h, read_all).await),
                    None => read_all.await,
                }
            });
        }
    });
    addr
}

/// Environment variable that adds to `slow` a control kind: no attack, only a spinner
/// of that many cores in this process while the node is probed
/// ([`spin_control_phase`]).
const SPIN_CONTROL: &str = "API_ATTACKS_SPIN_CONTROL";

/// The control: the node probed while one spinner ([`competing::spin`], at this
/// process's nice value, 30 µs bursts like the slow clients' threads) takes `cores`, and
/// nothing else runs. The ceilings' spinners are left out of the competing load a phase
/// measures, so its ceiling runs without one: the pair asks whether a spinner taking a
/// few percent of a core changes a server's tail by its presence alone.
fn spin_control_phase(
    run_phase: &impl RunPhase,
    node: &[SocketAddr],
    cores: f64,
    name: &str,
    quiet: &[Figures],
) -> PhaseFigures {
    // SAFETY: getpriority only reads; PRIO_PROCESS 0 is this process.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let control = competing::Use {
        who: "control".into(),
        nice,
        policy: 0,
        cores,
        slice: Duration::from_micros(30),
    };
    let spinners = competing::spin(&[control], 0.0, PHASE_LIMIT + Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    let figures = run_phase(name, Some(quiet), None, node);
    for (_, r) in spinners.stop() {
        println!("  control spinner got {r:?} cores");
    }
    figures
}

/// Prints [`ceiling_pairs`]'s medians (see [`flood_pairs`]), and each kind's peak RSS
/// against the quiet phases'.
fn pairs_report(kinds: &[AttackKind], pairs: &Pairs, actions: &[&str]) {
    let Pairs {
        rows,
        quiets,
        ceiling_quiets,
    } = pairs;
    let rounds = quiets.len();
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let show = |(m, lo, hi): (f64, f64, f64)| format!("{m:.0} [{lo:.0}-{hi:.0}]");
    let each = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let of = |phases: &[&PhaseFigures], f: &dyn Fn(&PhaseFigures) -> f64| -> Vec<f64> {
        phases.iter().map(|p| f(p)).collect()
    };
    let loads: Vec<f64> = quiets
        .iter()
        .chain(ceiling_quiets)
        .chain(rows.iter().flatten().flat_map(|x| [&x.flood, &x.ceiling]))
        .map(|p| p.load)
        .collect();
    let (_, lo, hi) = tail::spread(&loads);
    println!("load average (1 min) at the phases' ends: {lo:.2}-{hi:.2}");
    let q: Vec<&PhaseFigures> = quiets.iter().collect();
    let cq: Vec<&PhaseFigures> = ceiling_quiets.iter().collect();
    println!(
        "quiet: server CPU per legitimate request, median {:.3} ms; server CPU {:.3} s per s",
        median(of(&q, &|p| p.cpu_per_request)),
        median(of(&q, &|p| p.cores))
    );
    for (j, action) in actions.iter().enumerate() {
        let col = |ps: &[&PhaseFigures], f: &dyn Fn(&Figures) -> Duration| -> Vec<f64> {
            ps.iter().map(|p| us(f(&p.figures[j]))).collect()
        };
        println!(
            "quiet {action}, median [range] of {rounds} rounds: node p50 {} us, p99 {} us; \
             ceiling p50 {} us, p99 {} us",
            show(tail::spread(&col(&q, &|f| f.p50))),
            show(tail::spread(&col(&q, &|f| f.p99.value))),
            show(tail::spread(&col(&cq, &|f| f.p50))),
            show(tail::spread(&col(&cq, &|f| f.p99.value))),
        );
    }
    let rss = |ps: &mut dyn Iterator<Item = &PhaseFigures>| {
        let v: Vec<f64> = ps.map(|p| p.rss_peak).collect();
        let (m, lo, hi) = tail::spread(&v);
        format!("{m:.1} [{lo:.1}-{hi:.1}]")
    };
    println!(
        "quiet: peak RSS of this process, median [range]: {} MiB",
        rss(&mut quiets.iter())
    );
    for (k, kind) in kinds.iter().enumerate() {
        let (label, note) = (&kind.label, &kind.note);
        let rows = &rows[k];
        println!(
            "{label}: peak RSS of this process, median [range]: {} MiB; in its ceiling \
             phases {} MiB",
            rss(&mut rows.iter().map(|x| &x.flood)),
            rss(&mut rows.iter().map(|x| &x.ceiling)),
        );
        let per_round = |f: &dyn Fn(&PairRow, usize) -> f64| -> Vec<f64> {
            rows.iter().enumerate().map(|(i, x)| f(x, i)).collect()
        };
        let cpu = per_round(&|x, i| x.flood.cpu_per_request / quiets[i].cpu_per_request.max(1e-9));
        let cores = per_round(&|x, _| x.flood.cores);
        let asked = per_round(&|x, _| x.asked);
        let got = per_round(&|x, _| x.got);
        println!(
            "{label}{note}, medians of {rounds} rounds against the same \
             round's quiet: server CPU per legitimate request {:.2}x [{}]; server CPU {:.3} s \
             per s [{}]; competing load reproduced for its ceiling: asked {:.3} cores [{}], \
             got {:.3} [{}]; ceiling first in rounds {:?}",
            median(cpu.clone()),
            each(&cpu),
            median(cores.clone()),
            each(&cores),
            median(asked.clone()),
            each(&asked),
            median(got.clone()),
            each(&got),
            rows.iter()
                .enumerate()
                .filter(|(_, x)| x.ceiling_first)
                .map(|(i, _)| i + 1)
                .collect::<Vec<_>>(),
        );
        for (j, action) in actions.iter().enumerate() {
            // (p50, p99) of the flood's and of the ceiling's phase.
            let fl = |x: &PairRow| {
                let f = &x.flood.figures[j];
                (f.p50, f.p99.value)
            };
            let ce = |x: &PairRow| {
                let f = &x.ceiling.figures[j];
                (f.p50, f.p99.value)
            };
            let p50 = per_round(&|x, i| r(fl(x).0, quiets[i].figures[j].p50));
            let p99 = per_round(&|x, i| r(fl(x).1, quiets[i].figures[j].p99.value));
            let c50 = per_round(&|x, i| r(ce(x).0, ceiling_quiets[i].figures[j].p50));
            let c99 = per_round(&|x, i| r(ce(x).1, ceiling_quiets[i].figures[j].p99.value));
            let fc50 = per_round(&|x, _| r(fl(x).0, ce(x).0));
            let fc99 = per_round(&|x, _| r(fl(x).1, ce(x).1));
            let abs =
                |f: &dyn Fn(&PairRow) -> Duration| show(tail::spread(&per_round(&|x, _| us(f(x)))));
            println!(
                "  {action}: node p50 {:.2}x [{}]; p99 {:.2}x [{}] of quiet; node p50 {} us, \
                 p99 {} us",
                median(p50.clone()),
                each(&p50),
                median(p99.clone()),
                each(&p99),
                abs(&|x| fl(x).0),
                abs(&|x| fl(x).1),
            );
            println!(
                "    ceiling under the same load: p50 {:.2}x [{}]; p99 {:.2}x [{}] of the quiet \
                 ceiling; ceiling p50 {} us, p99 {} us",
                median(c50.clone()),
                each(&c50),
                median(c99.clone()),
                each(&c99),
                abs(&|x| ce(x).0),
                abs(&|x| ce(x).1),
            );
            let m99 = median(fc99.clone());
            println!(
                "    node under attack against the ceiling under the same load: p50 {:.2}x [{}]; \
                 p99 {m99:.2}x [{}]: p99 {} 10% of the ceiling's",
                median(fc50.clone()),
                each(&fc50),
                each(&fc99),
                if m99 <= 1.10 { "within" } else { "not within" },
            );
        }
    }
}

fn ratio(now: Duration, base: Duration) -> String {
    if base.is_zero() {
        return String::new();
    }
    format!(" ({:.2}x)", now.as_secs_f64() / base.as_secs_f64())
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        attacker_main(&role);
        return;
    }
    if awake::child_main() {
        return;
    }
    // The daemon's allocator setting (`nano_daemon::daemon` starts it likewise).
    nano_node::heap_trim::start_heap_trimmer();
    // Started before the setup so that it runs through every phase (`BENCH_AWAKE`).
    let keep_awake = awake::from_env();
    let stamped = stages::enable_from_env();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .on_thread_park(stages::parked)
        .on_thread_unpark(stages::unparked)
        .enable_all()
        .build()
        .unwrap();
    let attack_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(ATTACKER_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let probe_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // A dev ledger (genesis) plus RECEIVABLES receivable rows of one account.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&dir.path().join("data.ldb"), Network::Dev).unwrap());
    let target = PublicKey([7u8; 32]);
    common::put_receivable_rows(&ledger, target, RECEIVABLES);
    let genesis = Network::Dev.params().genesis_account.encode_account();
    // A small wallet: the genesis account and two more (no receivables).
    let wallets = Arc::new(
        nano_wallet::Wallets::open(
            dir.path().join("wallets"),
            nano_wallet::WalletsConfig::dev(),
        )
        .unwrap(),
    );
    let wallet = wallets.create(PublicKey([0u8; 32])).unwrap();
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(
            wallets
                .deterministic_insert(wallet)
                .unwrap()
                .encode_account(),
        );
    }
    // The legitimate requests, in turn: a single-account lookup answered inline, the
    // same account's balance (a slow action answered inline when the account has few
    // receivables), and two more slow actions' cheap calls: the balances of three
    // accounts and of the three-account wallet.
    let probes = [
        Probe {
            action: "account_info",
            body: format!(r#"{{"action":"account_info","account":"{genesis}"}}"#),
            key: "frontier",
        },
        Probe {
            action: "account_balance",
            body: format!(r#"{{"action":"account_balance","account":"{genesis}"}}"#),
            key: "balance",
        },
        Probe {
            action: "accounts_balances",
            body: format!(
                r#"{{"action":"accounts_balances","accounts":["{genesis}","{}","{}"]}}"#,
                others[0], others[1]
            ),
            key: "balances",
        },
        Probe {
            action: "wallet_balances",
            body: format!(
                r#"{{"action":"wallet_balances","wallet":"{}"}}"#,
                wallet.encode_hex()
            ),
            key: "balances",
        },
    ];
    let actions: Vec<&str> = probes.iter().map(|p| p.action).collect();

    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(ledger);
    ctx.wallets = Some(wallets);
    let access = Arc::new(AccessControl::load(dir.path()).unwrap());
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    cfg.apply_to(&mut ctx);
    let v2 = V2Service::new(Arc::new(ctx), access);
    // `timeouts`: when each listener closes a slow client (for `readers-timed`).
    let (rpc, ws_addr, ipc_addr, _ws, _ipc, timeouts) = server_rt.block_on(async {
        // As `serve_with_v2`, with the stage stamps' layer inside the router if asked,
        // and large answers written from the listener's runtime if asked.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut app = nano_api::http::router_with_v2(v2.clone(), &cfg);
        if stamped {
            app = app.layer(axum::middleware::from_fn(stages::layer));
        }
        let mut limits = cfg.http_limits();
        if std::env::var(LARGE_ANSWERS).is_ok_and(|v| v == "runtime") {
            limits.large_answer = None;
        }
        println!(
            "RPC answers of {:?} bytes or more written from the large-answer thread; stage stamps {}",
            limits.large_answer,
            if stamped { "on" } else { "off" }
        );
        let rpc = listener.local_addr().unwrap();
        nano_api::bounded_http::spawn_serve(listener, app, limits, std::future::pending());
        let bus = nano_node::events::EventBus::default();
        let ws_settings = WebsocketSettings::new(Network::Dev.params());
        let ws_header = ws_settings.limits.header_timeout;
        let ws = WebsocketServer::bind("127.0.0.1", 0, &bus, ws_settings)
            .await
            .unwrap();
        let mut ipc = IpcServer::new(v2.clone());
        let opts = TransportOptions {
            io_timeout: Duration::from_secs(15),
            allow_unsafe: false,
            idle_timeout: Duration::from_secs(300),
        };
        let ipc_addr = ipc
            .bind_tcp("127.0.0.1:0".parse().unwrap(), opts)
            .await
            .unwrap();
        let timeouts = [limits.header_timeout, ws_header, opts.io_timeout];
        (rpc, ws.local_addr(), ipc_addr, ws, ipc, timeouts)
    });
    let listeners = [rpc, ws_addr, ipc_addr];
    println!(
        "slow clients (when a phase has them) on RPC, WebSocket, IPC: {:?}",
        slow_listeners()
    );
    let pool = &v2.ctx.slow_actions;
    println!(
        "setup: {RECEIVABLES} receivables; slow pool {} threads at nice +{} ({:?}), {} light-lane \
         threads, {} waiting, {} per client, budgets {:?}; {} cores; RSS {:.1} MiB",
        pool.threads(),
        pool.nice(),
        pool.lowering().policy(),
        pool.light_threads(),
        pool.queue(),
        pool.client_queue(),
        pool.budgets(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem("self", "VmRSS:")
    );

    // One phase: probes while `attack` runs; prints figures against `quiet`.
    let run_phase = |name: &str,
                     quiet: Option<&[Figures]>,
                     child: Option<&Attackers>,
                     at: &[SocketAddr]|
     -> PhaseFigures {
        let peak = RssPeak::start();
        let charged0 = pool.charged();
        let light0 = pool.light_served();
        let short0 = pool.short_jobs();
        let (s0, a0, r0) = own_cpu();
        let awake0 = keep_awake.as_ref().map(awake::KeepAwake::cpu);
        let c0 = child.map_or(0.0, |c| c.cpu());
        let (threads0, child_threads0) = (
            competing::threads("self"),
            child.map(|c| c.threads()).unwrap_or_default(),
        );
        let t0 = Instant::now();
        let figures = probe_rt.block_on(probe(at, &probes));
        let took = t0.elapsed();
        let (threads1, child_threads1) = (
            competing::threads("self"),
            child.map(|c| c.threads()).unwrap_or_default(),
        );
        let prober = std::process::id();
        let mut uses: Vec<competing::Use> = competing::uses(
            "node",
            &threads0,
            &threads1
                .into_iter()
                .filter(|t| {
                    t.tid != prober && t.name != "spinner" && !t.name.starts_with(CEILING_THREADS)
                })
                .collect::<Vec<_>>(),
            took,
        );
        uses.extend(competing::uses(
            "attacker",
            &child_threads0,
            &child_threads1,
            took,
        ));
        let load = load_average();
        let (s1, a1, r1) = own_cpu();
        let charged = (pool.charged() - charged0).as_secs_f64();
        let light = pool.light_served() - light0;
        let short = pool.short_jobs().since(&short0);
        let c1 = child.map_or(0.0, |c| c.cpu());
        let legit = figures.iter().map(|f| f.answered).sum::<usize>().max(1);
        println!(
            "{name}: {took:.1?}, load average {load:.2}; CPU s: server {:.2} ({:.2} ms per legitimate request, {:.3} s per s; \
             slow pool's jobs charged {:.3} s per s), in-process attackers {:.2}, child attackers {:.2}, rest {:.2}; server RSS peak \
             {:.1} MiB{}; {light} slow-pool jobs of the legitimate client on the light lane",
            s1 - s0,
            (s1 - s0) * 1000.0 / legit as f64,
            (s1 - s0) / took.as_secs_f64().max(1e-9),
            charged / took.as_secs_f64().max(1e-9),
            a1 - a0,
            c1 - c0,
            r1 - r0,
            peak.mib(),
            child.map_or(String::new(), |c| format!(
                "; attacker child RSS {:.1} MiB",
                c.rss()
            )),
        );
        if let (Some(k), Some(k0)) = (&keep_awake, awake0) {
            let cores = (k.cpu() - k0) / took.as_secs_f64().max(1e-9);
            println!("  keep-awake spinners took {cores:.3} cores");
        }
        for (i, (f, p)) in figures.iter().zip(&probes).enumerate() {
            let q = quiet.and_then(|q| q.get(i));
            println!(
                "  {}: p50 {:?}{} p99 {:?} [95% {:?}-{:?}, the slowest {}]{} mean {:?} (answered {} refused {} failed {})",
                p.action,
                f.p50,
                q.map_or(String::new(), |q| ratio(f.p50, q.p50)),
                f.p99.value,
                f.p99.low,
                f.p99.high,
                f.p99.above,
                q.map_or(String::new(), |q| ratio(f.p99.value, q.p99.value)),
                f.mean,
                f.answered,
                f.refused,
                f.failed,
            );
        }
        let n = u32::try_from(short.count.max(1)).unwrap_or(u32::MAX);
        let (waited, ran) = (short.waited / n, short.ran / n);
        println!(
            "  pool's short jobs: {} ({} on the light lane), mean queue wait {waited:?} \
             (<=100us/1ms/10ms/more: {:?}), mean run {ran:?}, jobs running at start {:.2}",
            short.count,
            short.on_lane,
            short.waits,
            short.busy_at_start as f64 / f64::from(n),
        );
        PhaseFigures {
            figures,
            cpu_per_request: (s1 - s0) * 1000.0 / legit as f64,
            cores: (s1 - s0) / took.as_secs_f64().max(1e-9),
            uses,
            load,
            rss_peak: peak.mib(),
        }
    };

    // A first round warms the server up (connections, caches, pool threads) unreported.
    let node_at = vec![rpc; probes.len()];
    probe_rt.block_on(probe(&node_at, &probes));
    let mode = std::env::var(MODE).unwrap_or_default();
    if mode == "readers" {
        use nano_api::worker_pool::AnswerMemory;
        let quiet = run_phase("quiet", None, None, &node_at).figures;
        let mut accounts = vec![genesis.clone()];
        accounts.extend((0..=nano_api::actions::INLINE_SCAN).map(|i| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            PublicKey::from_bytes(b).encode_account()
        }));
        let pooled_body =
            serde_json::json!({"action": "accounts_balances", "accounts": accounts}).to_string();
        let no_rate = AnswerMemory {
            min_rate: None,
            ..AnswerMemory::DEFAULT
        };
        // API_ATTACKS_READERS=limits: the phases without limits at all (the node's memory
        // then the attacker's to set) and with the limits but no minimum read rate.
        let phases: &[(AnswerMemory, &str)] =
            if std::env::var("API_ATTACKS_READERS").as_deref() == Ok("limits") {
                &[
                    (
                        AnswerMemory::NONE,
                        "256 slow readers, no answer-memory limits",
                    ),
                    (
                        AnswerMemory::DEFAULT,
                        "256 slow readers, answer-memory limits (defaults)",
                    ),
                    (
                        AnswerMemory::DEFAULT,
                        "256 slow readers, answer-memory limits (defaults), again",
                    ),
                    (
                        AnswerMemory::NONE,
                        "256 slow readers, no answer-memory limits, again",
                    ),
                ]
            } else {
                &[
                    (
                        no_rate,
                        "256 slow readers, memory limits, no minimum read rate",
                    ),
                    (
                        AnswerMemory::DEFAULT,
                        "256 slow readers, memory limits and minimum read rate (defaults)",
                    ),
                    (
                        AnswerMemory::DEFAULT,
                        "256 slow readers, memory limits and minimum read rate (defaults), again",
                    ),
                    (
                        no_rate,
                        "256 slow readers, memory limits, no minimum read rate, again",
                    ),
                ]
            };
        if std::env::var("API_ATTACKS_READERS").as_deref() == Ok("front") {
            front_phases(
                &run_phase,
                ipc_addr,
                &cfg,
                &target,
                &pooled_body,
                no_rate,
                probes.len(),
            );
            if let Some(k) = keep_awake {
                k.stop();
            }
            return;
        }
        // Without, with, with, without: the machine's drift falls on both sides.
        for &(memory, name) in phases {
            readers_phase(
                &run_phase,
                pool,
                rpc,
                &target,
                (memory, name),
                &quiet,
                &pooled_body,
            );
        }
        if let Some(k) = keep_awake {
            k.stop();
        }
        return;
    }
    if mode == "pairs" || mode == "slow" {
        // Each probe's replay ceiling: a bare server on the node's stack, on a runtime
        // like the node's, answering a constant copy of the answer the node gave it.
        let ceiling_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(CEILING_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let ceiling_at: Vec<SocketAddr> = probes
            .iter()
            .map(|p| {
                let answer = replay::capture(&rpc.to_string(), "/", &p.body);
                println!(
                    "{}: replay ceiling answers {} bytes of body",
                    p.action,
                    answer.body.len()
                );
                ceiling_rt.block_on(replay::start_replay(&answer))
            })
            .collect();
        let at = Targets {
            node: &node_at,
            ceiling: &ceiling_at,
        };
        if mode == "pairs" {
            flood_pairs(&run_phase, pool, at, &target, &actions);
        } else {
            let bare = match std::env::var(SLOW_CEILING).as_deref() {
                Ok("readers") => Some([None; 3]),
                Ok("readers-timed") => Some(timeouts.map(Some)),
                Ok(other) => panic!("{SLOW_CEILING}={other}: expected readers or readers-timed"),
                Err(_) => None,
            }
            .map(|holds| {
                ceiling_rt.block_on(async {
                    [
                        start_bare_reader(holds[0]).await,
                        start_bare_reader(holds[1]).await,
                        start_bare_reader(holds[2]).await,
                    ]
                })
            });
            if let Some(b) = bare {
                println!("slow clients of the ceiling phases on bare readers at {b:?}");
            }
            slow_pairs(&run_phase, &attack_rt, at, listeners, bare, &actions);
        }
        drop(ceiling_rt);
        if let Some(k) = keep_awake {
            k.stop();
        }
        return;
    }
    let quiet = run_phase("quiet", None, None, &node_at).figures;
    // The same again: how far two quiet rounds differ on this machine (its noise).
    run_phase("quiet again", Some(quiet.as_slice()), None, &node_at);
    slow_phase_in_process(
        &run_phase,
        &attack_rt,
        listeners,
        &node_at,
        SLOW_IN_PROCESS,
        &quiet,
    );
    slow_phase_child(&run_phase, listeners, &node_at, SLOW_IN_CHILD, &quiet);
    run_phase(
        "quiet after the slow clients",
        Some(quiet.as_slice()),
        None,
        &node_at,
    );

    // Slow-action floods, attackers in a child process: (sources, refusals paced,
    // attackers' nice value, name).
    let paced = pool.refusal_spacing();
    for (sources, spacing, nice, name) in [
        (
            1,
            Duration::ZERO,
            0,
            "64 clients from one address flooding receivable (200k), refusals unpaced",
        ),
        (
            1,
            paced,
            0,
            "64 clients from one address flooding receivable (200k)",
        ),
        (
            1,
            paced,
            ISOLATED_NICE,
            "64 clients from one address flooding receivable (200k), attackers at nice 19",
        ),
        // The pair again in the other order: phases run one after another, and the
        // load other processes put on a shared machine drifts between them.
        (
            1,
            paced,
            0,
            "64 clients from one address flooding receivable (200k), again",
        ),
        (
            1,
            Duration::ZERO,
            0,
            "64 clients from one address flooding receivable (200k), refusals unpaced, again",
        ),
        (
            FLOODERS,
            paced,
            0,
            "64 clients from 64 addresses flooding receivable (200k)",
        ),
    ] {
        pool.set_refusal_spacing(spacing);
        flood_phase(
            &run_phase,
            pool,
            rpc,
            &target,
            sources,
            (nice, attackers_apart()),
            name,
            &quiet,
        );
    }
    pool.set_refusal_spacing(paced);
    println!(
        "peak RSS of this process since start (server, ledger setup, in-process attackers): {:.1} MiB",
        mem("self", "VmHWM:")
    );
    drop(attack_rt);
    if let Some(k) = keep_awake {
        k.stop();
    }
}
