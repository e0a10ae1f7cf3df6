//! Test helpers: start the HTTP RPC on 127.0.0.1 with an OS-assigned port and post JSON to
//! it with a minimal HTTP/1.1 client over a plain TCP stream.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use serde_json::Value;

pub struct TestRpc {
    pub addr: SocketAddr,
    pub ctx: Arc<ApiContext>,
    _rt: tokio::runtime::Runtime,
}

pub fn start(control: bool) -> TestRpc {
    start_with(control, None)
}

pub fn start_with(control: bool, ledger: Option<Arc<nano_ledger::Ledger>>) -> TestRpc {
    start_full(control, ledger, None)
}

pub fn start_full(
    control: bool,
    ledger: Option<Arc<nano_ledger::Ledger>>,
    wallets: Option<Arc<nano_wallet::Wallets>>,
) -> TestRpc {
    start_node(control, ledger, wallets, None)
}

/// Like [`start_full`], with a node handle (a test double) attached.
pub fn start_node(
    control: bool,
    ledger: Option<Arc<nano_ledger::Ledger>>,
    wallets: Option<Arc<nano_wallet::Wallets>>,
    node: Option<Arc<dyn nano_api::context::NodeHandle>>,
) -> TestRpc {
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = ledger;
    ctx.wallets = wallets;
    ctx.node = node;
    start_ctx(control, ctx)
}

/// Serves a context the test built itself.
pub fn start_ctx(control: bool, ctx: ApiContext) -> TestRpc {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    cfg.enable_control = control;
    let ctx = Arc::new(ctx);
    let c2 = ctx.clone();
    let addr = rt
        .block_on(nano_api::http::serve(c2, &cfg, std::future::pending()))
        .unwrap();
    TestRpc { addr, ctx, _rt: rt }
}

/// POSTs raw bytes and returns (status, body).
pub fn post_raw(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

pub fn post(addr: SocketAddr, req: Value) -> Value {
    let (status, body) = post_raw(addr, req.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON {body:?}: {e}"))
}

/// How long a test waits for a condition on a loaded machine before failing.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `f` every 20 ms until it holds or [`WAIT`] passes; the last check decides.
pub fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f()
}
