//! WebSocket fan-out benchmark (prints its figures; `harness = false`):
//!
//! 1. throughput — confirmation notifications delivered per second to 100 subscribers
//!    (each client reads every message and extracts its hash);
//! 2. latency — the time from `EventBus::publish` (stand-in for cementing) to the client
//!    reading the frame, at a paced rate, p50 / p99 / max over all deliveries.
//!
//! Run: `cargo bench -p nano-api --bench websocket`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use futures::StreamExt;
use nano_api::websocket::{WebsocketServer, WebsocketSettings};
use nano_core::{Amount, BlockHash, Network, PublicKey};
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 100;

fn event(n: u64) -> NodeEvent {
    let account = PublicKey::from_bytes([7; 32]);
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&n.to_be_bytes());
    let block = json!({
        "type": "state",
        "account": account.encode_account(),
        "previous": "0".repeat(64),
        "representative": account.encode_account(),
        "balance": "1000000000000000000000000000000",
        "link": "0".repeat(64),
        "link_as_account": account.encode_account(),
        "signature": "A".repeat(128),
        "work": "0000000000000000",
        "subtype": "send",
    });
    NodeEvent::BlockConfirmed {
        hash: BlockHash::from_bytes(h),
        account,
        amount: Amount::raw(1),
        block,
        subtype: "send".into(),
        is_send: true,
        confirmation_type: ConfirmationType::ActiveQuorum,
        height: n,
        local_timestamp: 0,
        election: None,
        sequence: None,
    }
}

/// The sequence number a message carries in the first 8 bytes of its hash.
fn seq_of(text: &str) -> Option<u64> {
    let at = text.find("\"hash\":\"")? + 8;
    u64::from_str_radix(text.get(at..at + 16)?, 16).ok()
}

struct Client {
    done: tokio::task::JoinHandle<Vec<u64>>,
}

/// Connects, subscribes, and reads `want` confirmations, recording latency in ns against
/// `published` (ns since `base`, 0 = not yet recorded).
async fn client(
    addr: std::net::SocketAddr,
    want: usize,
    base: Instant,
    published: Arc<Vec<AtomicU64>>,
) -> Client {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("connect");
    let sub = json!({"action": "subscribe", "topic": "confirmation", "ack": true});
    ws.send(Message::text(sub.to_string())).await.expect("send");
    let _ack = ws.next().await;
    let done = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(want);
        while lat.len() < want {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                break;
            };
            let now = base.elapsed().as_nanos() as u64;
            if let Some(seq) = seq_of(t.as_str()) {
                let p = published[seq as usize % published.len()].load(Ordering::Acquire);
                lat.push(now.saturating_sub(p));
            }
        }
        lat
    });
    Client { done }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1e6
}

async fn run(events: u64, pace: Option<Duration>) -> (Duration, Vec<u64>, u64) {
    let bus = EventBus::new(1 << 17);
    let mut settings = WebsocketSettings::new(Network::Dev.params());
    settings.queue_capacity = 1 << 16;
    let server = WebsocketServer::bind("127.0.0.1", 0, &bus, settings)
        .await
        .expect("bind");
    let base = Instant::now();
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..events).map(|_| AtomicU64::new(0)).collect());
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            client(
                server.local_addr(),
                events as usize,
                base,
                published.clone(),
            )
            .await,
        );
    }
    let start = Instant::now();
    for n in 0..events {
        published[n as usize].store(base.elapsed().as_nanos() as u64, Ordering::Release);
        bus.publish(event(n));
        if let Some(p) = pace {
            tokio::time::sleep(p).await;
        }
    }
    let mut all = Vec::with_capacity(events as usize * CLIENTS);
    for c in clients {
        all.extend(c.done.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    let dropped = server.metrics().messages_dropped;
    server.shutdown().await;
    (elapsed, all, dropped)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!("websocket fan-out benchmark: {CLIENTS} subscribers on 127.0.0.1, {cores} cores");

        let events = 20_000u64;
        let (elapsed, lat, dropped) = run(events, None).await;
        let delivered = lat.len() as f64;
        println!(
            "throughput: {events} confirmations x {CLIENTS} clients: {} delivered in {:.2} s = {:.0} notifications/s ({:.0} confirmations/s fanned out), {dropped} dropped",
            lat.len(),
            elapsed.as_secs_f64(),
            delivered / elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64(),
        );

        for (events, pace_ms) in [(2_000u64, 1u64), (300, 10)] {
            let (_, mut lat, dropped) = run(events, Some(Duration::from_millis(pace_ms))).await;
            lat.sort_unstable();
            println!(
                "latency publish->client read ({events} confirmations paced 1 per {pace_ms} ms, x {CLIENTS} clients, {} samples, {dropped} dropped): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                lat.len(),
                percentile(&lat, 0.50),
                percentile(&lat, 0.99),
                percentile(&lat, 1.0),
            );
        }
    });
}
