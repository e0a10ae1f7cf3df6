//! Requests per second for one cheap action through each front door, 8 concurrent
//! clients on persistent connections: IPC over the Unix socket and TCP (encoding 1,
//! `account_key`), HTTP RPC v1 with keep-alive (`account_key`), and IPC 2.0 / `/api/v2`
//! (`IsAlive`). The server runs on its own 2-thread runtime, the clients on another.
//!
//! Run: `cargo bench -p nano-api --bench ipc` (env `IPC_BENCH_SECS`, default 3, per case).

#[path = "../tests/ipc_common/mod.rs"]
mod ipc_common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_api::ipc::client::IpcClient;
use nano_api::ipc::Encoding;

const CLIENTS: usize = 8;
const V1: &[u8] = br#"{"action":"account_key","account":"nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo"}"#;
const V2: &[u8] = br#"{"message_type":"IsAlive","message":{}}"#;

#[derive(Clone, Copy)]
enum Case {
    Unix(Encoding),
    Tcp(Encoding),
    Http(&'static str),
}

fn main() {
    let secs: u64 = std::env::var("IPC_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let node = server_rt.block_on(ipc_common::start(None, Duration::from_secs(15)));
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        (
            "IPC Unix socket, encoding 1, account_key",
            Case::Unix(Encoding::JsonV1),
        ),
        (
            "IPC TCP, encoding 1, account_key",
            Case::Tcp(Encoding::JsonV1),
        ),
        ("HTTP RPC v1, account_key", Case::Http("/")),
        (
            "IPC Unix socket, encoding 4, IsAlive",
            Case::Unix(Encoding::FlatBuffersJson),
        ),
        ("HTTP /api/v2/IsAlive", Case::Http("/api/v2/IsAlive")),
    ];
    println!("{CLIENTS} concurrent clients, {secs} s per case");
    let mut results = Vec::new();
    for (name, case) in cases {
        let rate = client_rt.block_on(run(&node, case, Duration::from_secs(secs)));
        println!("{name:<45} {rate:>10.0} req/s");
        results.push(rate);
    }
    println!(
        "Unix socket / HTTP (v1, account_key): {:.2}x",
        results[0] / results[2]
    );
}

async fn run(node: &ipc_common::Node, case: Case, dur: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (done, stop) = (done.clone(), stop.clone());
        let (tcp, unix, http) = (node.tcp, node.unix.clone(), node.http);
        tasks.push(tokio::spawn(async move {
            match case {
                Case::Unix(enc) | Case::Tcp(enc) => {
                    let mut c = match case {
                        Case::Unix(_) => IpcClient::connect_unix(&unix).await.unwrap(),
                        _ => IpcClient::connect_tcp("127.0.0.1", tcp.port())
                            .await
                            .unwrap(),
                    };
                    let body = if enc == Encoding::JsonV1 { V1 } else { V2 };
                    while !stop.load(Ordering::Relaxed) {
                        let r = c.request(enc, body).await.unwrap();
                        assert!(!r.is_empty());
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Case::Http(path) => {
                    let mut h = ipc_common::Http::connect(http).await;
                    let body = if path == "/" { V1 } else { b"{}" as &[u8] };
                    while !stop.load(Ordering::Relaxed) {
                        let a = h.post(path, &[], body).await;
                        assert_eq!(a.status, 200);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (n0, t0) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(dur).await;
    let (n1, t1) = (done.load(Ordering::Relaxed), t0.elapsed());
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    (n1 - n0) as f64 / t1.as_secs_f64()
}
