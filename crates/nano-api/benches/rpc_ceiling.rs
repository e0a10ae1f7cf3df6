//! The RPC front doors against their ceiling, in one run: a running dev node's HTTP RPC
//! (`block_count`, `account_info`), `/api/v2` (`AccountWeight`) and IPC over the Unix
//! socket (`block_count`), next to a bare server on the same stack (axum + hyper under
//! the node's connection limits) answering a constant body of the size of a
//! `block_count` answer. HTTP load comes from `wrk -t2 -c8 -d<secs>s` (Debian package
//! `wrk`), IPC load from 8 persistent connections of this bench's own client; the cases
//! alternate, round after round, so every figure is compared with the ceiling measured
//! next to it. Prints each figure and its fraction of the ceiling of the same round.
//!
//! Run: `cargo bench -p nano-api --bench rpc_ceiling` (env `API_BENCH_SECS`, default 8,
//! per case; `API_BENCH_ROUNDS`, default 3).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::any;
use axum::Router;
use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::client::IpcClient;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::ipc::Encoding;
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;

/// Concurrent connections of every case: wrk's `-c8`, and the IPC client's.
const CONNECTIONS: usize = 8;

/// What the ceiling answers: a `block_count` answer of a small ledger.
const CONSTANT_BODY: &str = r#"{"count":"1","unchecked":"0","cemented":"1"}"#;

enum Load {
    /// wrk POSTs `body` to `path`.
    Wrk { path: &'static str, body: String },
    /// The IPC client sends `body` (encoding 1) over the Unix socket.
    Ipc { body: String },
}

struct Case {
    name: &'static str,
    /// The ceiling's own row (its fraction is 1 by definition).
    ceiling: bool,
    port: u16,
    load: Load,
}

fn main() {
    let secs: u64 = env_or("API_BENCH_SECS", 8);
    let rounds: usize = env_or("API_BENCH_ROUNDS", 3);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (Debian: apt-get install wrk)");
        std::process::exit(2);
    }
    // The server side: a runtime like the daemon's on this machine (one worker per core).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rpc, ceiling, unix, _node, _ipc) = server_rt.block_on(start_servers(dir.path()));
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let genesis = nano_core::Network::Dev
        .params()
        .genesis_account
        .encode_account();
    let cases = [
        Case {
            name: "ceiling: bare axum/hyper, constant body",
            ceiling: true,
            port: ceiling.port(),
            load: Load::Wrk {
                path: "/",
                body: r#"{"action":"block_count"}"#.into(),
            },
        },
        Case {
            name: "HTTP RPC block_count",
            ceiling: false,
            port: rpc.port(),
            load: Load::Wrk {
                path: "/",
                body: r#"{"action":"block_count"}"#.into(),
            },
        },
        Case {
            name: "HTTP RPC account_info",
            ceiling: false,
            port: rpc.port(),
            load: Load::Wrk {
                path: "/",
                body: format!(r#"{{"action":"account_info","account":"{genesis}"}}"#),
            },
        },
        Case {
            name: "HTTP /api/v2/AccountWeight",
            ceiling: false,
            port: rpc.port(),
            load: Load::Wrk {
                path: "/api/v2/AccountWeight",
                body: format!(r#"{{"account":"{genesis}"}}"#),
            },
        },
        Case {
            name: "IPC Unix socket block_count (enc. 1)",
            ceiling: false,
            port: 0,
            load: Load::Ipc {
                body: r#"{"action":"block_count"}"#.into(),
            },
        },
    ];
    println!(
        "{CONNECTIONS} connections, {secs} s per case, {rounds} rounds alternating; \
         wrk -t2 -c{CONNECTIONS}; machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut figures = vec![Vec::new(); cases.len()];
    for c in &cases {
        if let Load::Wrk { path, body } = &c.load {
            probe(c.port, path, body);
        }
    }
    for round in 1..=rounds {
        let mut ceiling_rate = f64::NAN;
        for (i, c) in cases.iter().enumerate() {
            let rate = match &c.load {
                Load::Wrk { path, body } => wrk(dir.path(), c.port, path, body, secs),
                Load::Ipc { body } => client_rt.block_on(ipc_load(&unix, body, secs)),
            };
            if c.ceiling {
                ceiling_rate = rate;
            }
            println!(
                "round {round}  {:<40} {rate:>9.0} req/s  {:>5.1}% of ceiling",
                c.name,
                100.0 * rate / ceiling_rate
            );
            figures[i].push((rate, rate / ceiling_rate));
        }
    }
    println!("\nsummary (per round: req/s, fraction of that round's ceiling)");
    for (c, f) in cases.iter().zip(&figures) {
        let rates: Vec<String> = f.iter().map(|(r, _)| format!("{r:.0}")).collect();
        let fractions: Vec<String> = f
            .iter()
            .map(|(_, x)| format!("{:.0}%", x * 100.0))
            .collect();
        println!(
            "{:<40} {}  ({})",
            c.name,
            rates.join(" / "),
            fractions.join(" / ")
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A dev node with RPC (and `/api/v2`) on 127.0.0.1 and IPC on a Unix socket, and the
/// bare ceiling server.
async fn start_servers(dir: &Path) -> (SocketAddr, SocketAddr, PathBuf, Arc<Node>, IpcServer) {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.enable_udp = false;
    let node = Node::start_with(NodeOptions::new(c, Network::Dev, &dir.join("node")))
        .await
        .expect("node starts");
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.attach(&node);
    let access = Arc::new(AccessControl::load(dir).unwrap());
    let v2 = V2Service::new(Arc::new(ctx), access);
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    let rpc = nano_api::http::serve_with_v2(v2.clone(), &cfg, std::future::pending())
        .await
        .unwrap();
    let mut ipc = IpcServer::new(v2);
    let unix = dir.join("node.sock");
    ipc.bind_unix(
        &unix,
        TransportOptions {
            io_timeout: Duration::from_secs(15),
            allow_unsafe: false,
            idle_timeout: Duration::from_secs(300),
        },
    )
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ceiling = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/",
        any(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                CONSTANT_BODY,
            )
        }),
    );
    nano_api::bounded_http::spawn_serve(listener, app, cfg.http_limits(), std::future::pending());
    (rpc, ceiling, unix, node, ipc)
}

/// Checks once that `path` answers `body` with a 200 and no error (wrk only sees
/// status codes, and the RPC answers errors with 200).
fn probe(port: u16, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200")
            && !answer.contains("\"error\"")
            && !answer.contains("\"Error\""),
        "{path} {body}: {answer}"
    );
}

/// Requests per second wrk reports for POSTs of `body` to `path`.
fn wrk(dir: &Path, port: u16, path: &str, body: &str, secs: u64) -> f64 {
    let script = dir.join("post.lua");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    std::fs::write(&script, lua).unwrap();
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{secs}s"),
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        panic!("wrk saw failures:\n{text}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"))
}

/// Requests per second of 8 IPC clients on persistent Unix socket connections.
async fn ipc_load(unix: &Path, body: &str, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (done, stop) = (done.clone(), stop.clone());
        let (unix, body) = (unix.to_path_buf(), body.as_bytes().to_vec());
        tasks.push(tokio::spawn(async move {
            let mut c = IpcClient::connect_unix(&unix).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let r = c.request(Encoding::JsonV1, &body).await.unwrap();
                assert!(r.starts_with(b"{") && !r.windows(7).any(|w| w == b"\"error\""));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / elapsed.as_secs_f64()
}
