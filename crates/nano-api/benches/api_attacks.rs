//! Legitimate RPC latency while the API servers are attacked, against the quiet figure of
//! the same run, and the process's memory:
//! - quiet: no attack;
//! - slow clients: 500 slow-loris connections each on HTTP RPC, WebSocket and IPC TCP
//!   (a partial request, one byte every 500 ms, reconnecting when closed);
//! - slow-action flood: 64 clients calling `receivable` on an account with 200,000
//!   receivables back to back.
//!
//! The legitimate client (from 127.0.0.2, another host than the attackers) alternates
//! `account_info` (answered inline) and `account_balance` (a slow action, on the pool),
//! one at a time. Server, attackers and client share this process and the machine's
//! cores, so RSS includes the attackers. Run: `cargo bench -p nano-api --bench api_attacks`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::websocket::{WebsocketServer, WebsocketSettings};
use nano_api::{ApiContext, RpcConfig};
use nano_core::{Network, PublicKey};
use nano_ledger::Ledger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLOW_CLIENTS: usize = 500;
const FLOODERS: usize = 64;
const RECEIVABLES: u64 = 200_000;
/// Legitimate requests per action per phase.
const PROBES: usize = 100;
/// Gap between two legitimate requests.
const PROBE_GAP: Duration = Duration::from_millis(10);
const TRICKLE: Duration = Duration::from_millis(500);

/// `VmRSS` or `VmHWM` of this process in MiB.
fn mem(field: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn post(addr: SocketAddr, body: &str) -> Option<String> {
    let s = tokio::net::TcpSocket::new_v4().ok()?;
    s.bind("127.0.0.2:0".parse().ok()?).ok()?;
    let mut c = s.connect(addr).await.ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

struct Figures {
    p50: Duration,
    p99: Duration,
    refused: usize,
}

fn figures(mut l: Vec<Duration>, refused: usize) -> Figures {
    l.sort();
    let at = |q: f64| {
        l.get(((l.len() as f64 * q) as usize).min(l.len() - 1))
            .copied()
    };
    Figures {
        p50: at(0.5).unwrap_or_default(),
        p99: at(0.99).unwrap_or_default(),
        refused,
    }
}

/// PROBES of each legitimate request, alternating; (inline, slow) figures.
async fn probe(rpc: SocketAddr, genesis: &str) -> (Figures, Figures) {
    let info = format!(r#"{{"action":"account_info","account":"{genesis}"}}"#);
    let balance = format!(r#"{{"action":"account_balance","account":"{genesis}"}}"#);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut refused_a, mut refused_b) = (0, 0);
    for _ in 0..PROBES {
        for (body, lat, refused, key) in [
            (&info, &mut a, &mut refused_a, "frontier"),
            (&balance, &mut b, &mut refused_b, "balance"),
        ] {
            let t0 = Instant::now();
            let answer = post(rpc, body).await.unwrap_or_default();
            lat.push(t0.elapsed());
            if !answer.contains(key) {
                *refused += 1;
            }
            tokio::time::sleep(PROBE_GAP).await;
        }
    }
    (figures(a, refused_a), figures(b, refused_b))
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

fn main() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let attack_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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

    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(ledger);
    let access = Arc::new(AccessControl::load(dir.path()).unwrap());
    let v2 = V2Service::new(Arc::new(ctx), access);
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
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
    println!(
        "setup: {RECEIVABLES} receivables; RSS {:.1} MiB",
        mem("VmRSS:")
    );

    let report = |phase: &str,
                  (inline, slow): (Figures, Figures),
                  quiet: Option<&(Figures, Figures)>| {
        let rel = |now: Duration, base: Option<Duration>| match base {
            Some(b) if !b.is_zero() => {
                format!(" ({:.2}x quiet)", now.as_secs_f64() / b.as_secs_f64())
            }
            _ => String::new(),
        };
        println!(
            "{phase}: account_info p50 {:?}{} p99 {:?}{} refused {}; account_balance p50 {:?}{} p99 {:?}{} refused {}; RSS {:.1} MiB",
            inline.p50, rel(inline.p50, quiet.map(|q| q.0.p50)),
            inline.p99, rel(inline.p99, quiet.map(|q| q.0.p99)),
            inline.refused,
            slow.p50, rel(slow.p50, quiet.map(|q| q.1.p50)),
            slow.p99, rel(slow.p99, quiet.map(|q| q.1.p99)),
            slow.refused,
            mem("VmRSS:"),
        );
        (inline, slow)
    };

    let quiet = report("quiet", probe_rt.block_on(probe(rpc, &genesis)), None);

    // Slow clients on the three listeners.
    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    attack_rt.block_on(async {
        for (addr, prefix) in [
            (rpc, &b"POST / HTTP/1.1\r\nHost: x"[..]),
            (
                ws_addr,
                &b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"[..],
            ),
            (ipc_addr, &b"N\x01\x00\x00\x00"[..]),
        ] {
            for _ in 0..SLOW_CLIENTS {
                tokio::spawn(slow_client(addr, prefix, stop.clone(), open.clone()));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while open.load(Ordering::Relaxed) < 3 * SLOW_CLIENTS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("slow clients connected: {}", open.load(Ordering::Relaxed));
    report(
        "500 slow clients each on RPC, WebSocket, IPC",
        probe_rt.block_on(probe(rpc, &genesis)),
        Some(&quiet),
    );
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(TRICKLE * 2);

    // Slow-action flood.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, busy) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let body: &'static str = Box::leak(
        format!(
            r#"{{"action":"receivable","account":"{}","include_only_confirmed":"false","include_active":"true"}}"#,
            target.encode_account()
        )
        .into_boxed_str(),
    );
    attack_rt.block_on(async {
        for _ in 0..FLOODERS {
            let (stop, answered, busy) = (stop.clone(), answered.clone(), busy.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut c) = tokio::net::TcpStream::connect(rpc).await else {
                        continue;
                    };
                    let req = format!(
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = c.write_all(req.as_bytes()).await;
                    // The answer is read and dropped, so the attackers' buffers do not
                    // count in this process's memory.
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut first = Vec::new();
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if first.len() < 512 {
                            first.extend_from_slice(&buf[..n.min(512)]);
                        }
                    }
                    if first.windows(12).any(|w| w == b"Too many slo") {
                        busy.fetch_add(1, Ordering::Relaxed);
                    } else {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    let (a0, b0) = (
        answered.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
    );
    report(
        "64 clients flooding receivable (200k)",
        probe_rt.block_on(probe(rpc, &genesis)),
        Some(&quiet),
    );
    println!(
        "flood: {} receivable answers, {} refused as busy in {:?}",
        answered.load(Ordering::Relaxed) - a0,
        busy.load(Ordering::Relaxed) - b0,
        t0.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    println!("peak RSS of the whole process: {:.1} MiB", mem("VmHWM:"));
    drop(attack_rt);
}
