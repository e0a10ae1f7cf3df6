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

#[path = "../tests/common/mod.rs"]
mod common;
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
/// Threads of the in-process attackers' runtime.
const ATTACKER_THREADS: &str = "attacker";
/// Environment variable giving an attacker child the nice value to run at.
const NICE: &str = "API_ATTACKS_NICE";
/// The attacker child's nice value in the isolated phase.
const ISOLATED_NICE: i32 = 19;
/// Environment variable choosing a shorter run: `pairs` runs only rounds of quiet and
/// the two `receivable` floods ([`flood_pairs`]).
const MODE: &str = "API_ATTACKS";
/// Environment variable giving the rounds of `pairs` ([`DEFAULT_PAIRS`] by default).
const PAIRS: &str = "API_ATTACKS_PAIRS";
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
            if name.starts_with(SERVER_THREADS) || name.starts_with("rpc slow") {
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
async fn post(addr: SocketAddr, body: &str) -> Option<String> {
    let exchange = async {
        let s = tokio::net::TcpSocket::new_v4().ok()?;
        s.bind("127.0.0.2:0".parse().ok()?).ok()?;
        let mut c = s.connect(addr).await.ok()?;
        let req = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.ok()?;
        Some(String::from_utf8_lossy(&out).into_owned())
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

/// Up to [`PROBES_ENV`] of each legitimate request, in turn, within PHASE_LIMIT; figures
/// per kind over the answered ones (a refusal is an answer, counted apart too).
async fn probe(rpc: SocketAddr, kinds: &[Probe]) -> Vec<Figures> {
    let rounds: usize = std::env::var(PROBES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROBES)
        .max(1);
    let mut lat = vec![Vec::new(); kinds.len()];
    let (mut refused, mut failed) = (vec![0; kinds.len()], vec![0; kinds.len()]);
    let end = Instant::now() + PHASE_LIMIT;
    for _ in 0..rounds {
        if Instant::now() >= end {
            break;
        }
        for (i, kind) in kinds.iter().enumerate() {
            let t0 = Instant::now();
            match post(rpc, &kind.body).await {
                Some(answer) => {
                    lat[i].push(t0.elapsed());
                    if !answer.contains(kind.key) {
                        refused[i] += 1;
                    }
                }
                None => failed[i] += 1,
            }
            tokio::time::sleep(PROBE_GAP).await;
        }
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

/// Starts SLOW_CLIENTS slow clients on each of the three listeners.
fn spawn_slow_clients(
    rt: &tokio::runtime::Runtime,
    [rpc, ws, ipc]: [SocketAddr; 3],
    stop: &Arc<AtomicBool>,
    open: &Arc<AtomicUsize>,
) {
    for (addr, prefix) in [
        (rpc, &b"POST / HTTP/1.1\r\nHost: x"[..]),
        (ws, &b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"[..]),
        (ipc, &b"N\x01\x00\x00\x00"[..]),
    ] {
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

/// One flooder: `receivable` back to back on a keep-alive connection from `source`.
async fn flooder(
    rpc: SocketAddr,
    source: std::net::Ipv4Addr,
    body: Arc<String>,
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 2]>,
) {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    while !stop.load(Ordering::Relaxed) {
        let connected = async {
            let s = tokio::net::TcpSocket::new_v4().ok()?;
            s.bind(SocketAddr::new(source.into(), 0)).ok()?;
            s.connect(rpc).await.ok()
        };
        let Some(mut c) = connected.await else {
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

/// The attacker child: runs its role until its stdin closes or CHILD_LIFE passes,
/// printing progress lines for the parent.
fn attacker_main(role: &str) {
    if let Some(n) = std::env::var(NICE).ok().and_then(|v| v.parse::<i32>().ok()) {
        // Before any other thread starts: threads inherit the nice value of their creator.
        // SAFETY: nice only changes this thread's scheduling priority.
        let r = unsafe { libc::nice(n) };
        assert!(r >= 0, "nice: {}", std::io::Error::last_os_error());
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
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .env(NICE, nice.to_string())
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

/// One phase's figures: (per kind of legitimate request, in [`Probe`] order: account_info,
/// account_balance, then the others; server CPU ms per legitimate request, server CPU
/// seconds per second of the phase).
type PhaseFigures = (Vec<Figures>, f64, f64);

/// Runs one flood phase: the attacker child flooding `receivable` from `sources`
/// addresses at `nice`, probed once it has run for two seconds; the pool drained after.
#[allow(clippy::too_many_arguments)]
fn flood_phase(
    run_phase: &impl Fn(&str, Option<&[Figures]>, Option<&Attackers>) -> PhaseFigures,
    pool: &nano_api::worker_pool::WorkerPool,
    rpc: SocketAddr,
    target: &PublicKey,
    sources: usize,
    nice: i32,
    name: &str,
    quiet: &[Figures],
) -> PhaseFigures {
    let child = Attackers::start(
        format!("flood {rpc} {sources} {}", target.encode_account()),
        nice,
    );
    std::thread::sleep(Duration::from_secs(2));
    let (a0, b0, t0) = (child.get(1), child.get(2), Instant::now());
    let figures = run_phase(name, Some(quiet), Some(&child));
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

/// The median of `v` (the lower middle for an even count); zero when empty.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// One flood phase of [`flood_pairs`]: per action (p50 ratio, p99 ratio, p99 in µs), then
/// the server's CPU per legitimate request as a ratio to quiet and its CPU per second.
type PairRow = (Vec<[f64; 3]>, f64, f64);

/// [`MODE`] `pairs`: [`PAIRS`] rounds of a quiet phase then the one-address and the
/// 64-address `receivable` floods, each once without the pool's CPU-time budgets and
/// once with the defaults ([`Budgets::defaults`]; the order alternating between rounds),
/// each flood against its own round's quiet phase (the load of other processes drifts
/// between rounds); prints per kind of legitimate request the per-round ratios and their
/// medians, the p99 itself across rounds (median and range, the quiet phases' too: the
/// figure's confidence), and the server's CPU per second of each phase (what the flood
/// costs the node, which the budgets bound).
fn flood_pairs(
    run_phase: &impl Fn(&str, Option<&[Figures]>, Option<&Attackers>) -> PhaseFigures,
    pool: &nano_api::worker_pool::WorkerPool,
    rpc: SocketAddr,
    target: &PublicKey,
    actions: &[&str],
) {
    let rounds: usize = std::env::var(PAIRS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PAIRS)
        .clamp(1, 50);
    let kinds = [
        (1, Budgets::NONE, "1 address, no budgets"),
        (1, Budgets::defaults(), "1 address, budgets"),
        (FLOODERS, Budgets::NONE, "64 addresses, no budgets"),
        (FLOODERS, Budgets::defaults(), "64 addresses, budgets"),
    ];
    let mut rows: Vec<Vec<PairRow>> = vec![Vec::new(); kinds.len()];
    let (mut quiet_cpu, mut quiet_cores) = (Vec::new(), Vec::new());
    // Per action, each round's quiet p50 and p99 in µs.
    let mut quiet_tail: Vec<Vec<[f64; 2]>> = vec![Vec::new(); actions.len()];
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for round in 1..=rounds {
        let (quiet, qcpu, qcores) = run_phase(&format!("round {round} quiet"), None, None);
        quiet_cpu.push(qcpu);
        quiet_cores.push(qcores);
        for (j, f) in quiet.iter().enumerate() {
            quiet_tail[j].push([us(f.p50), us(f.p99.value)]);
        }
        let mut order: Vec<usize> = (0..kinds.len()).collect();
        if round % 2 == 0 {
            // Budgets first in even rounds: off/on and on/off pairs cancel the drift.
            order = vec![1, 0, 3, 2];
        }
        for k in order {
            let (sources, budgets, label) = kinds[k];
            pool.set_budgets(budgets);
            let name = format!("round {round} flood from {label}");
            let (f, cpu, cores) =
                flood_phase(run_phase, pool, rpc, target, sources, 0, &name, &quiet);
            let per_action = f
                .iter()
                .zip(&quiet)
                .map(|(f, q)| {
                    [
                        r(f.p50, q.p50),
                        r(f.p99.value, q.p99.value),
                        us(f.p99.value),
                    ]
                })
                .collect();
            rows[k].push((per_action, cpu / qcpu.max(1e-9), cores));
        }
    }
    pool.set_budgets(Budgets::defaults());
    let show = |(m, lo, hi): (f64, f64, f64)| format!("{m:.0} [{lo:.0}-{hi:.0}]");
    println!(
        "quiet: server CPU per legitimate request, median {:.3} ms; server CPU {:.3} s per s",
        median(quiet_cpu),
        median(quiet_cores)
    );
    for (j, action) in actions.iter().enumerate() {
        let col = |c: usize| quiet_tail[j].iter().map(|x| x[c]).collect::<Vec<_>>();
        println!(
            "quiet {action}, median [range] of {rounds} rounds: p50 {} us, p99 {} us",
            show(tail::spread(&col(0))),
            show(tail::spread(&col(1))),
        );
    }
    for (k, (_, budgets, label)) in kinds.iter().enumerate() {
        let each = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let cpu: Vec<f64> = rows[k].iter().map(|x| x.1).collect();
        let cores: Vec<f64> = rows[k].iter().map(|x| x.2).collect();
        println!(
            "flood from {label} ({budgets:?}), medians of {rounds} rounds against the same \
             round's quiet: server CPU per legitimate request {:.2}x [{}]; server CPU {:.3} s \
             per s [{}]",
            median(cpu.clone()),
            each(&cpu),
            median(cores.clone()),
            each(&cores),
        );
        for (j, action) in actions.iter().enumerate() {
            let col = |c: usize| rows[k].iter().map(|x| x.0[j][c]).collect::<Vec<_>>();
            println!(
                "  {action}: p50 {:.2}x [{}]; p99 {:.2}x [{}]; p99 {} us",
                median(col(0)),
                each(&col(0)),
                median(col(1)),
                each(&col(1)),
                show(tail::spread(&col(2))),
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
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
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
    let (rpc, ws_addr, ipc_addr, _ws, _ipc) = server_rt.block_on(async {
        let rpc = nano_api::http::serve_with_v2(v2.clone(), &cfg, std::future::pending())
            .await
            .unwrap();
        let bus = nano_node::events::EventBus::default();
        let ws = WebsocketServer::bind(
            "127.0.0.1",
            0,
            &bus,
            WebsocketSettings::new(Network::Dev.params()),
        )
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
        (rpc, ws.local_addr(), ipc_addr, ws, ipc)
    });
    let listeners = [rpc, ws_addr, ipc_addr];
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
                     child: Option<&Attackers>|
     -> PhaseFigures {
        let peak = RssPeak::start();
        let charged0 = pool.charged();
        let light0 = pool.light_served();
        let short0 = pool.short_jobs();
        let (s0, a0, r0) = own_cpu();
        let c0 = child.map_or(0.0, |c| c.cpu());
        let t0 = Instant::now();
        let figures = probe_rt.block_on(probe(rpc, &probes));
        let took = t0.elapsed();
        let (s1, a1, r1) = own_cpu();
        let charged = (pool.charged() - charged0).as_secs_f64();
        let light = pool.light_served() - light0;
        let short = pool.short_jobs().since(&short0);
        let c1 = child.map_or(0.0, |c| c.cpu());
        let legit = figures.iter().map(|f| f.answered).sum::<usize>().max(1);
        println!(
            "{name}: {took:.1?}; CPU s: server {:.2} ({:.2} ms per legitimate request, {:.3} s per s; \
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
        (
            figures,
            (s1 - s0) * 1000.0 / legit as f64,
            (s1 - s0) / took.as_secs_f64().max(1e-9),
        )
    };

    // A first round warms the server up (connections, caches, pool threads) unreported.
    probe_rt.block_on(probe(rpc, &probes));
    if std::env::var(MODE).is_ok_and(|m| m == "pairs") {
        flood_pairs(&run_phase, pool, rpc, &target, &actions);
        return;
    }
    let (quiet, _, _) = run_phase("quiet", None, None);
    // The same again: how far two quiet rounds differ on this machine (its noise).
    run_phase("quiet again", Some(quiet.as_slice()), None);

    // Slow clients, attackers on a runtime of this process.
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    spawn_slow_clients(&attack_rt, listeners, &stop, &open);
    let deadline = Instant::now() + Duration::from_secs(30);
    while open.load(Ordering::Relaxed) < 3 * SLOW_CLIENTS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slow clients connected: {}", open.load(Ordering::Relaxed));
    run_phase(
        "500 slow clients each on RPC, WebSocket, IPC (attackers in this process)",
        Some(quiet.as_slice()),
        None,
    );
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(TRICKLE * 2);

    // The same, attackers in a child process.
    let child = Attackers::start(format!("slow {rpc} {ws_addr} {ipc_addr}"), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.get(0) < 3 * SLOW_CLIENTS as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slow clients connected: {}", child.get(0));
    run_phase(
        "500 slow clients each on RPC, WebSocket, IPC (attackers in a child process)",
        Some(quiet.as_slice()),
        Some(&child),
    );
    child.stop();
    std::thread::sleep(TRICKLE * 2);

    run_phase("quiet after the slow clients", Some(quiet.as_slice()), None);

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
        flood_phase(&run_phase, pool, rpc, &target, sources, nice, name, &quiet);
    }
    pool.set_refusal_spacing(paced);
    println!(
        "peak RSS of this process since start (server, ledger setup, in-process attackers): {:.1} MiB",
        mem("self", "VmHWM:")
    );
    drop(attack_rt);
}
