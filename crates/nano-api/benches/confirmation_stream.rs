//! The confirmation stream's costs and rates, all in one run:
//! - the cementing writer (process + cement in write transactions of 256 blocks, one
//!   sequence per block) with the confirmation log turned off, on, and on while the HTTP
//!   callback delivers concurrently (its cursor written once a second) to an endpoint in
//!   this same process (so the endpoint's work shares the two cores too), three rounds in
//!   rotated order;
//! - WebSocket `from_sequence` replay of the whole log to one client;
//! - HTTP callback delivery to a local endpoint answering 200 at once.
//!
//! Blocks (a dev genesis chain of sends, one block cemented per confirm) are generated
//! before timing. Run: `cargo bench -p nano-api --bench confirmation_stream`
//! (`cargo test --benches` runs a quick smoke pass).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use nano_api::callback::{CallbackSettings, HttpCallbackClient, CURSOR_NAME};
use nano_api::websocket::{WebsocketServer, WebsocketSettings};
use nano_core::{Block, Network, PublicKey};
use nano_ledger::test_support::Chain;
use nano_ledger::{Ledger, StoreOptions};
use nano_node::config::HttpCallback;
use nano_node::confirmation_history::ConfirmationHistory;
use nano_node::events::EventBus;
use tokio_tungstenite::tungstenite::Message;

const BATCH: usize = 256;

fn blocks(n: usize) -> Vec<Block> {
    let mut g = Chain::dev_genesis();
    (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(i as u64 % 1024).to_be_bytes());
            g.send(&PublicKey::from_bytes(b), 1)
        })
        .collect()
}

fn open() -> (tempfile::TempDir, Arc<Ledger>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open_with(
        dir.path(),
        Network::Dev,
        &StoreOptions {
            map_size: 8 << 30,
            ..StoreOptions::default()
        },
    )
    .expect("open ledger");
    (dir, Arc::new(ledger))
}

/// Processes and cements every block, `BATCH` per write transaction; blocks/s.
fn cement_all(ledger: &Ledger, blocks: &[Block]) -> f64 {
    let start = Instant::now();
    for chunk in blocks.chunks(BATCH) {
        let mut txn = ledger.write_txn().expect("txn");
        for b in chunk {
            ledger.process_preverified(&mut txn, b).expect("process");
            ledger.confirm(&mut txn, &b.hash()).expect("confirm");
        }
        txn.commit().expect("commit");
    }
    blocks.len() as f64 / start.elapsed().as_secs_f64()
}

#[path = "../tests/ws_support/mod.rs"]
mod ws_support;

/// A local endpoint answering 200 to every request, keeping connections open.
async fn endpoint() -> (u16, ws_support::Shared<Vec<String>>) {
    let (port, bodies, _) = ws_support::keep_alive_server().await;
    (port, bodies)
}

fn callback_config(port: u16) -> HttpCallback {
    HttpCallback {
        address: "127.0.0.1".into(),
        port,
        target: "/".into(),
        request_timeout: 10_000,
        retry_max_backoff: 1_000,
    }
}

async fn wait_delivered(client: &HttpCallbackClient, upto: u64) {
    // Bounded: gives up after ten minutes.
    let deadline = Instant::now() + Duration::from_secs(600);
    while client.metrics().delivered < upto && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (n, callback_n) = if quick {
        (2_000, 500)
    } else {
        (100_000, 20_000)
    };
    let t = Instant::now();
    let blocks = blocks(n);
    println!(
        "generated {n} blocks in {:.1} s (not timed below)",
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // The cementing writer, alternating: log off, log on, log on + callback delivering.
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut keep = None;
    // Three rounds, each in a different order, so no mode always runs first.
    const ORDERS: [[usize; 3]; 3] = [[0, 1, 2], [2, 0, 1], [1, 2, 0]];
    for order in ORDERS.iter().take(if quick { 1 } else { 3 }) {
        for &mode in order {
            let rate = &mut rates[mode];
            let (dir, ledger) = open();
            ledger
                .store()
                .set_confirmation_log_enabled_for_benchmarks(mode != 0);
            let client = (mode == 2).then(|| {
                let history = ConfirmationHistory::new(ledger.clone());
                history.set_cursor(CURSOR_NAME, 0).unwrap();
                rt.block_on(async {
                    let (port, _) = endpoint().await;
                    HttpCallbackClient::start(
                        &callback_config(port),
                        &EventBus::new(16),
                        history,
                        CallbackSettings::default(),
                    )
                    .unwrap()
                })
            });
            let r = cement_all(&ledger, &blocks);
            if let Some(c) = client {
                rt.block_on(c.shutdown());
            }
            let label = ["log off", "log on", "log on + callback delivering"][mode];
            println!("cement {n} blocks, {label:<30} {r:>9.0} blocks/s");
            rate.push(r);
            if mode == 1 {
                keep = Some((dir, ledger));
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (off, on, cb) = (mean(&rates[0]), mean(&rates[1]), mean(&rates[2]));
    println!(
        "mean: off {off:.0}, on {on:.0} ({:+.1}%), on + callback {cb:.0} ({:+.1}%)",
        (on / off - 1.0) * 100.0,
        (cb / off - 1.0) * 100.0
    );
    let (_dir, ledger) = keep.expect("a run with the log");
    let history = ConfirmationHistory::new(ledger.clone());
    assert_eq!(history.head().unwrap(), n as u64);

    rt.block_on(async {
        // WebSocket replay of the whole log to one client.
        let mut settings = WebsocketSettings::new(Network::Dev.params());
        settings.history = Some(history.clone());
        let bus = EventBus::new(1024);
        let server = WebsocketServer::bind("127.0.0.1", 0, &bus, settings)
            .await
            .unwrap();
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
                .await
                .unwrap();
        let start = Instant::now();
        let req = serde_json::json!({"action": "subscribe", "topic": "confirmation",
                                     "options": {"from_sequence": "1"}});
        ws.send(Message::text(req.to_string())).await.unwrap();
        let mut got = 0usize;
        let mut last = 0u64;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    let s: u64 = v["message"]["sequence"].as_str().unwrap().parse().unwrap();
                    assert_eq!(s, last + 1, "replay out of order");
                    last = s;
                    got += 1;
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("replay stopped after {got}: {other:?}"),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "websocket from_sequence replay: {n} confirmations in {secs:.2} s = {:.0} /s",
            n as f64 / secs
        );
        server.shutdown().await;

        // Callback delivery of the last `callback_n` to a local endpoint.
        let (port, count) = endpoint().await;
        history
            .set_cursor(CURSOR_NAME, (n - callback_n) as u64)
            .unwrap();
        let start = Instant::now();
        let client = HttpCallbackClient::start(
            &callback_config(port),
            &bus,
            history.clone(),
            CallbackSettings::default(),
        )
        .unwrap();
        wait_delivered(&client, n as u64).await;
        let secs = start.elapsed().as_secs_f64();
        client.shutdown().await;
        assert_eq!(count.lock().unwrap().len(), callback_n);
        println!(
            "http callback delivery: {callback_n} confirmations in {secs:.2} s = {:.0} /s",
            callback_n as f64 / secs
        );
    });
}
