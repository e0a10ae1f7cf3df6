//! The durable confirmation stream on a real `nano_node` process: 5,000 confirmations with
//! the node killed by SIGKILL in the middle; a WebSocket client resuming from its last
//! seen sequence receives exactly the ones it missed, then live ones, none twice; the
//! HTTP callback delivers every one in order, at least once, across the kill; and
//! `block_confirm` on a cemented block is announced again through both.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use nano_core::PublicKey;
use nano_ledger::test_support::Chain;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const TOTAL: usize = 5_000;
const KILL_AFTER: u64 = 2_000;
/// Blocks the first run is given: the kill comes while some of them are still being
/// processed or confirmed.
const FIRST_RUN: usize = 3_000;

/// A callback endpoint on 127.0.0.1 recording every body (a thread per connection).
fn callback_server() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let l = l.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Bounded by the read timeout and the request size.
                while buf.len() < 1 << 20 {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|x| x.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            if let Ok(v) = serde_json::from_slice(&buf[end + 4..end + 4 + len]) {
                                l.lock().unwrap().push(v);
                            }
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, log)
}

fn node_args(ws_port: u16, callback_port: u16) -> Vec<String> {
    [
        format!("node.representative_key=\"{DEV_KEY}\""),
        "node.peering_port=0".into(),
        "node.websocket.enable=true".into(),
        "node.websocket.address=\"127.0.0.1\"".into(),
        format!("node.websocket.port={ws_port}"),
        "node.httpcallback.address=\"127.0.0.1\"".into(),
        format!("node.httpcallback.port={callback_port}"),
        "node.httpcallback.target=\"/cb\"".into(),
        "node.httpcallback.retry_max_backoff=500".into(),
    ]
    .into_iter()
    .flat_map(|c| ["--config".to_string(), c])
    .collect()
}

fn dest(i: usize) -> PublicKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i as u64).to_be_bytes());
    b[31] = 0xc5;
    PublicKey::from_bytes(b)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(ws_port: u16, from: u64) -> Ws {
    let url = format!("ws://127.0.0.1:{ws_port}/");
    let mut ws = None;
    for _ in 0..100 {
        if let Ok((w, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
            ws = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ws = ws.expect("websocket up");
    let req = json!({"action": "subscribe", "topic": "confirmation", "ack": true,
                     "options": {"from_sequence": from.to_string()}});
    ws.send(Message::text(req.to_string())).await.unwrap();
    let ack = next_json(&mut ws, 30).await.expect("ack");
    assert_eq!(ack["ack"], "subscribe", "{ack}");
    ws
}

async fn next_json(ws: &mut Ws, secs: u64) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Confirmation messages as (sequence, hash, confirmation_type) until the stream ends or
/// `stop` says enough.
async fn collect(
    ws: &mut Ws,
    out: &mut Vec<(u64, String, String)>,
    secs: u64,
    stop: impl Fn(&[(u64, String, String)]) -> bool,
) {
    while !stop(out) {
        let Some(m) = next_json(ws, secs).await else {
            return;
        };
        if m["topic"] != "confirmation" {
            continue;
        }
        let msg = &m["message"];
        out.push((
            msg["sequence"].as_str().unwrap().parse().unwrap(),
            msg["hash"].as_str().unwrap().to_string(),
            msg["confirmation_type"].as_str().unwrap().to_string(),
        ));
    }
}

/// Publishes `blocks[from..]` through RPC `process`; stops at the first failure (the
/// node was killed) and returns how far it got.
fn submit(rpc_addr: std::net::SocketAddr, blocks: &[Value], from: usize) -> usize {
    for (i, b) in blocks.iter().enumerate().skip(from) {
        let req = json!({"action": "process", "json_block": "true", "block": b});
        let hash = nano_core::Block::from_json(b).unwrap().hash().encode_hex();
        match post(rpc_addr, &req.to_string()) {
            // Taken (the answer names this block) or already taken before the kill.
            Some(r) if r["hash"] == hash.as_str() || r["error"] == "Old block" => {}
            _ => return i,
        }
    }
    blocks.len()
}

#[test]
fn resume_after_sigkill_gets_exactly_the_missed_confirmations_then_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (cb_port, callbacks) = callback_server();
    let ws_port = free_port();
    let rpc_port = free_port();
    let mut genesis = Chain::dev_genesis();
    let blocks: Vec<nano_core::Block> = (0..TOTAL).map(|i| genesis.send(&dest(i), 1)).collect();
    let hashes: Vec<String> = blocks.iter().map(|b| b.hash().encode_hex()).collect();
    let json_blocks: Vec<Value> = blocks.iter().map(|b| b.to_json()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // First run: a client follows from the start; the node is killed mid-stream.
    let mut node = start_daemon_on(dir.path(), true, rpc_port, &node_args(ws_port, cb_port));
    let mut ws = rt.block_on(subscribe(ws_port, 1));
    let submitter = {
        let addr = node.rpc;
        let blocks = json_blocks[..FIRST_RUN].to_vec();
        std::thread::spawn(move || submit(addr, &blocks, 0))
    };
    let mut seen = Vec::new();
    rt.block_on(collect(&mut ws, &mut seen, 120, |s| {
        s.len() as u64 >= KILL_AFTER
    }));
    assert!(
        seen.len() as u64 >= KILL_AFTER,
        "only {} confirmations",
        seen.len()
    );
    // SIGKILL (Child::kill), by PID, while blocks are still arriving.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    submitter.join().unwrap();
    // What the client saw before the kill, in order from 1.
    rt.block_on(collect(&mut ws, &mut seen, 5, |_| false));
    drop(ws);
    let last_seen = seen.last().unwrap().0;
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=last_seen).collect::<Vec<_>>()
    );

    // Second run on the same ledger: resume from the next sequence, submit the rest.
    let node = start_daemon_on(dir.path(), true, rpc_port, &node_args(ws_port, cb_port));
    let mut ws = rt.block_on(subscribe(ws_port, last_seen + 1));
    let submitter = {
        let addr = node.rpc;
        let blocks = json_blocks.clone();
        std::thread::spawn(move || submit(addr, &blocks, 0))
    };
    rt.block_on(collect(&mut ws, &mut seen, 300, |s| s.len() >= TOTAL));
    assert_eq!(submitter.join().unwrap(), TOTAL);
    // Exactly 1..=TOTAL across the kill, each block once, in cementing order; nothing
    // more arrives.
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=TOTAL as u64).collect::<Vec<_>>()
    );
    let mut got: Vec<&String> = seen.iter().map(|s| &s.1).collect();
    got.sort();
    let mut want: Vec<&String> = hashes.iter().collect();
    want.sort();
    assert_eq!(got, want);
    rt.block_on(collect(&mut ws, &mut seen, 2, |_| false));
    assert_eq!(seen.len(), TOTAL);

    // block_confirm on a cemented block: announced again as active_confirmation_height,
    // with the next sequence, to WebSocket and callback.
    let r = rpc(
        node.rpc,
        json!({"action": "block_confirm", "hash": hashes[0]}),
    );
    assert_eq!(r["started"], "1", "{r}");
    rt.block_on(collect(&mut ws, &mut seen, 30, |s| s.len() > TOTAL));
    let again = seen.last().unwrap();
    assert_eq!(
        (again.0, again.1.as_str(), again.2.as_str()),
        (
            TOTAL as u64 + 1,
            hashes[0].as_str(),
            "active_confirmation_height"
        )
    );

    // The callback got every sequence in order, at least once, across the kill.
    assert!(wait_until(120, || {
        callbacks
            .lock()
            .unwrap()
            .last()
            .is_some_and(|v| v["sequence"].as_str().and_then(|s| s.parse().ok()) == Some(TOTAL + 1))
    }));
    let seqs: Vec<u64> = callbacks
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["sequence"].as_str().unwrap().parse().unwrap())
        .collect();
    // At least once and in order: each delivery is the next sequence, or (after the
    // SIGKILL lost the last cursor update) a replay that restarts at or below what was
    // already delivered; never a gap, and every sequence up to the last one arrives.
    let mut highest = 0u64;
    let mut previous = 0u64;
    for &s in &seqs {
        assert!(
            s == previous + 1 || (s <= previous && s >= 1),
            "delivery {s} after {previous} is neither the next sequence nor a replay"
        );
        highest = highest.max(s);
        previous = s;
    }
    assert_eq!(highest, TOTAL as u64 + 1);
    let last = callbacks.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["hash"], hashes[0]);
    // The callback's lag is on /metrics.
    let metrics = metrics_text(node.rpc);
    assert!(
        metrics.contains("nano_confirmation_sequence_head 5001"),
        "{metrics}"
    );
    assert!(metrics.contains("nano_http_callback_lag "), "{metrics}");
}

fn metrics_text(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
