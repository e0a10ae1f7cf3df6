//! Test helpers: start the HTTP RPC on 127.0.0.1 with an OS-assigned port and post JSON to
//! it with a minimal HTTP/1.1 client over a plain TCP stream.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use nano_api::{ApiContext, RpcConfig};
use nano_core::{Epoch, Network};
use nano_ledger::test_support::{test_key, Chain};
use nano_ledger::Ledger;
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

/// Two dev nodes on 127.0.0.1 (OS-assigned ports, no UDP), B dialling A; A votes with the
/// dev genesis key when asked, so blocks B publishes get confirmed.
pub struct NodePair {
    pub a: Arc<nano_node::node::Node>,
    pub b: Arc<nano_node::node::Node>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Starts a [`NodePair`] on `rt` and waits until each has the other as a peer.
pub fn node_pair(rt: &tokio::runtime::Runtime, a_votes: bool) -> NodePair {
    use nano_node::node::{Node, NodeOptions};
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let genesis = nano_ledger::test_support::dev_genesis_key();
    let config = |peers: Vec<String>, voting: bool| {
        nano_node::test_utils::dev_node_config(peers, voting.then_some(&genesis))
    };
    let (pa, pb) = (dirs.0.path().to_path_buf(), dirs.1.path().to_path_buf());
    let (a, b) = rt.block_on(async move {
        let a = Node::start_with(NodeOptions::new(config(vec![], a_votes), Network::Dev, &pa))
            .await
            .expect("node A starts");
        let peer = nano_node::test_utils::loopback_peer(&a);
        let b = Node::start_with(NodeOptions::new(
            config(vec![peer], false),
            Network::Dev,
            &pb,
        ))
        .await
        .expect("node B starts");
        (a, b)
    });
    assert!(wait_until(|| !a.peers().is_empty() && !b.peers().is_empty()));
    NodePair { a, b, _dirs: dirs }
}

impl NodePair {
    /// Serves HTTP RPC for node A on 127.0.0.1 with its ledger, stats and node handle in
    /// the context, adjusted by `tweak`.
    pub fn serve_a(
        &self,
        rt: &tokio::runtime::Runtime,
        control: bool,
        tweak: impl FnOnce(&mut ApiContext),
    ) -> (SocketAddr, Arc<ApiContext>) {
        let mut ctx = ApiContext::new(Network::Dev);
        ctx.ledger = Some(self.a.ledger.clone());
        ctx.stats = self.a.stats.clone();
        ctx.node = Some(Arc::new(nano_api::node_glue::NodeGlue(self.a.clone())));
        tweak(&mut ctx);
        let mut cfg = RpcConfig::defaults(Network::Dev);
        cfg.address = "127.0.0.1".into();
        cfg.port = 0;
        cfg.enable_control = control;
        let ctx = Arc::new(ctx);
        let addr = rt
            .block_on(nano_api::http::serve(
                ctx.clone(),
                &cfg,
                std::future::pending(),
            ))
            .unwrap();
        (addr, ctx)
    }

    pub fn stop(self, rt: &tokio::runtime::Runtime) {
        let (a, b) = (self.a.clone(), self.b.clone());
        rt.block_on(async move {
            b.stop().await;
            a.stop().await;
        });
    }
}

/// Messages a node received (of one type, or all), from its stats.
pub fn messages_in(stats: &nano_node::stats::Stats, kind: Option<&str>) -> u64 {
    stats
        .snapshot()
        .iter()
        .filter(|(k, d, dir, _)| k == "message" && dir == "in" && kind.is_none_or(|x| d == x))
        .map(|(_, _, _, n)| n)
        .sum()
}

/// Writes `n` receivable rows of `account` (sends the ledger never saw: hashes and
/// sources 1..=n, 1 raw each) in one transaction: a large receivable set without
/// building blocks.
pub fn put_receivable_rows(ledger: &nano_ledger::Ledger, account: nano_core::PublicKey, n: u64) {
    let mut txn = ledger.write_txn().unwrap();
    for i in 0..n {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i + 1).to_be_bytes());
        let key = nano_ledger::PendingKey {
            account,
            hash: nano_core::BlockHash(h),
        };
        let info = nano_ledger::PendingInfo {
            source: nano_core::PublicKey(h),
            amount: nano_core::Amount::raw(1),
            epoch: nano_core::Epoch::Epoch0,
        };
        txn.put_pending(&key, &info).unwrap();
    }
    txn.commit().unwrap();
}

/// A populated dev ledger: genesis sends to A (cemented) and to B (not cemented, never
/// received); A opens with its send.
pub struct LedgerFixture {
    /// Holds the ledger's directory for the fixture's life.
    pub _dir: tempfile::TempDir,
    pub ledger: Arc<Ledger>,
    pub genesis: Chain,
    pub a: Chain,
    pub b_account: nano_core::PublicKey,
    pub send_a: nano_core::BlockHash,
    pub send_b: nano_core::BlockHash,
    pub open_a: nano_core::BlockHash,
}

pub fn ledger_fixture() -> LedgerFixture {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("data.ldb"), nano_core::Network::Dev).unwrap());
    let mut genesis = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let b = test_key(2);
    let s1 = genesis.send(&a.account, 1_000);
    let s2 = genesis.send(&b.public(), 500);
    let open_a = a.receive(&s1.hash(), 1_000, Epoch::Epoch0);
    let mut txn = ledger.write_txn().unwrap();
    for blk in [&s1, &s2, &open_a] {
        ledger.process(&mut txn, blk).unwrap();
    }
    // Cement the first send only.
    ledger.confirm(&mut txn, &s1.hash()).unwrap();
    txn.commit().unwrap();
    LedgerFixture {
        _dir: dir,
        ledger,
        genesis,
        a,
        b_account: b.public(),
        send_a: s1.hash(),
        send_b: s2.hash(),
        open_a: open_a.hash(),
    }
}

/// An `accounts_balances` call that always goes to the slow pool: `first` and
/// `INLINE_SCAN` unopened accounts, one more entry than is answered on the request
/// thread (`nano_api::actions::INLINE_SCAN`).
pub fn pooled_balances(first: &str) -> Value {
    let mut accounts = vec![first.to_string()];
    accounts.extend((0..nano_api::actions::INLINE_SCAN).map(|i| {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        nano_core::PublicKey::from_bytes(b).encode_account()
    }));
    serde_json::json!({"action": "accounts_balances", "accounts": accounts})
}
