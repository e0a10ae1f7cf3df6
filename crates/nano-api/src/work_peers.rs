//! Work generation across `work_peers`: each peer (another node or a work server) gets
//! the RPC `work_generate` request over HTTP while the local CPU works too; the first
//! valid answer wins and the others are cancelled (`work_cancel` to peers, the local
//! cancel flag here). An invalid answer from a peer is ignored and logged.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nano_core::work::work_value;
use nano_core::Root;

fn post(host: &str, port: u16, body: &str, timeout: Duration) -> Option<serde_json::Value> {
    let addr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    // Bounded: a work answer is tiny; refuse anything larger than 64 KiB.
    s.take(64 * 1024).read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()
}

/// Asks one peer; `Some(work)` only when the answer is valid for `difficulty`.
fn ask(host: &str, port: u16, root: Root, difficulty: u64, timeout: Duration) -> Option<u64> {
    let body = serde_json::json!({
        "action": "work_generate",
        "hash": root.encode_hex(),
        "difficulty": format!("{difficulty:016x}"),
    })
    .to_string();
    let v = post(host, port, &body, timeout)?;
    let w = nano_core::blocks::parse_work_hex(v["work"].as_str()?).ok()?;
    if work_value(&root, w) >= difficulty {
        Some(w)
    } else {
        tracing::warn!("work peer {host}:{port} returned invalid work");
        None
    }
}

/// Generates work with the local CPU and every peer at once; returns the first valid
/// result, or `None` when `cancel` is set first.
pub fn generate(
    root: Root,
    difficulty: u64,
    threads: usize,
    peers: &[(String, u16)],
    cancel: Arc<AtomicBool>,
    peer_timeout: Duration,
) -> Option<u64> {
    let (tx, rx) = mpsc::channel::<Option<u64>>();
    let local_cancel = cancel.clone();
    let ltx = tx.clone();
    let local = std::thread::spawn(move || {
        let _ = ltx.send(nano_core::work::generate(
            &root,
            difficulty,
            threads,
            &local_cancel,
        ));
    });
    for (host, port) in peers.iter().cloned() {
        let ptx = tx.clone();
        std::thread::spawn(move || {
            let _ = ptx.send(ask(&host, port, root, difficulty, peer_timeout));
        });
    }
    drop(tx);
    let mut found = None;
    // Every sender answers exactly once, so this ends after at most peers + 1 messages.
    for r in rx.iter() {
        if let Some(w) = r {
            found = Some(w);
            break;
        }
        if cancel.load(Ordering::Relaxed) && found.is_none() {
            // Local generation was cancelled; peers may still answer, but the caller
            // asked to stop.
            break;
        }
    }
    cancel.store(true, Ordering::Relaxed);
    let _ = local.join();
    for (host, port) in peers {
        let body =
            serde_json::json!({"action": "work_cancel", "hash": root.encode_hex()}).to_string();
        let (h, p) = (host.clone(), *port);
        std::thread::spawn(move || {
            let _ = post(&h, p, &body, Duration::from_secs(2));
        });
    }
    found
}
